// The fixture of the runtime's unit tests: a Runtime wired to the fakes of
// fakes.h, configs built in code, requests fed as protocol lines.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "supervisor/config/load_config.h"
#include "supervisor/daemon/runtime.h"
#include "tests/unit/core/core_test_support.h"
#include "tests/unit/daemon/fakes.h"

namespace minisup::daemon::testing {

using json = nlohmann::json;
using core::ProcessState;
using namespace std::chrono_literals;
using ClientId = Clients::ClientId;

/// A program as load_config would give it (see core's make_program), with
/// both streams discarded (NONE): nothing is opened.
inline config::ProgramConfig program(const std::string& name, int priority = 999, int numprocs = 1,
                                     bool autostart = true) {
  config::ProgramConfig p =
      core::testing_support::make_program(name, priority, numprocs, autostart);
  for (auto& process : p.processes) {
    process.stdout_logfile = {config::LogTarget::Kind::None, ""};
    process.stderr_logfile = {config::LogTarget::Kind::None, ""};
  }
  return p;
}

/// A config of `programs`, sorted into start order as load_config does.
inline config::Config config_of(std::vector<config::ProgramConfig> programs) {
  std::sort(programs.begin(), programs.end(), [](const auto& a, const auto& b) {
    return std::tie(a.priority, a.name) < std::tie(b.priority, b.name);
  });
  return core::testing_support::make_config(std::move(programs));
}

/// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "minisup-daemon-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// Writes `text` to `relative`; returns the absolute path.
  std::filesystem::path write(const std::string& relative, const std::string& text) const {
    const auto file = path_ / relative;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    return file;
  }
  std::string read(const std::string& relative) const {
    std::ifstream in(path_ / relative, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::filesystem::path path_;
};

class RuntimeTest : public ::testing::Test {
 protected:
  /// The client whose requests tests make for a look (status).
  static constexpr ClientId kPeek = 999;

  void SetUp() override {
    // The runtime logs every transition; MINISUP_TEST_LOG=1 shows them.
    if (::getenv("MINISUP_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  }
  void TearDown() override {
    runtime.reset();
    if (::getenv("MINISUP_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  }

  /// Builds the runtime (nothing starts until start()).
  void make(config::Config config, Runtime::Options options = {}) {
    runtime = std::make_unique<Runtime>(std::move(config), sys, timers, clients, probes,
                                        std::move(options));
    runtime->set_on_finished([this] { ++finished_calls; });
  }
  /// Builds the runtime and starts the autostart programs.
  void make_started(config::Config config, Runtime::Options options = {}) {
    make(std::move(config), std::move(options));
    runtime->start();
  }

  /// A request line from `client`.
  void request(ClientId client, const json& request) {
    runtime->on_request(client, 1000, 4242, request.dump());
  }
  /// The one line sent to `client` since the last take (a test failure
  /// when there is not exactly one).
  json reply(ClientId client) {
    std::vector<json> lines = clients.take(client);
    EXPECT_EQ(lines.size(), 1u) << json(lines).dump();
    return lines.empty() ? json() : lines.back();
  }
  /// `request`, then its immediate single reply.
  json ask(ClientId client, const json& req) {
    clients.take(client);
    request(client, req);
    return reply(client);
  }
  /// Nothing was sent to `client` since the last take.
  bool silent(ClientId client) { return clients.lines(client).empty(); }

  /// The status object of one process (a `status` request on kPeek).
  json status_of(const std::string& name) {
    json r = ask(kPeek, {{"cmd", "status"}, {"names", {name}}});
    if (!r.value("ok", false) || r["processes"].size() != 1) {
      ADD_FAILURE() << "status " << name << ": " << r.dump();
      return json();
    }
    return r["processes"][0];
  }

  /// The child `pid` exited with `code`; SIGCHLD reaches the runtime.
  void exit_child(int pid, int code) {
    sys.exit(pid, code);
    runtime->children_exited();
  }
  /// The child `pid` was killed by `signal`; SIGCHLD reaches the runtime.
  void kill_child(int pid, int signal) {
    sys.kill(pid, signal);
    runtime->children_exited();
  }

  const core::ProcessMachine& machine(const std::string& name) const {
    const core::ManagedProcess* process = runtime->supervisor().find(name);
    if (process == nullptr) throw std::runtime_error("no process " + name);
    return process->machine();
  }
  ProcessState state(const std::string& name) const { return machine(name).state(); }
  /// The pid the core knows for `name` (0: none).
  int pid(const std::string& name) const { return machine(name).pid(); }

  FakeSystem sys;
  FakeTimers timers;
  FakeClients clients;
  FakeProbes probes;
  std::unique_ptr<Runtime> runtime;
  int finished_calls = 0;
};

}  // namespace minisup::daemon::testing
