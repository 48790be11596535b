// `minisupctl restart --rolling` and `update` of a program with held
// sockets, with the real minisupd (DESIGN.md "Held sockets and
// zero-downtime restarts"): the order of the state changes (each new
// process RUNNING before its old one gets its stop signal; the next one
// only after the old one has exited) with numprocs = 1 and 3, clients
// served throughout (none refused), status listing the old process marked
// old, a new process that never gets ready (the old ones keep serving,
// exit 1), and `update` of a changed program.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/held_sockets_util.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

/// Connects again and again (every 2 ms) while alive, counting answers by
/// pid and connections refused or reset.
class Clients {
 public:
  explicit Clients(int port)
      : thread_([this, port] {
          while (!stop_) {
            const std::optional<std::string> answer = ask(port, 5s);
            {
              std::lock_guard lock(mutex_);
              if (!answer || answer->empty()) {
                ++failed_;
              } else {
                pids_.insert(*answer);
                ++served_;
              }
            }
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~Clients() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  int served() {
    std::lock_guard lock(mutex_);
    return served_;
  }
  std::set<std::string> pids() {
    std::lock_guard lock(mutex_);
    return pids_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  int failed_ = 0;
  int served_ = 0;
  std::set<std::string> pids_;
  std::thread thread_;
};

/// "web:0 STARTING->RUNNING": the state events of a subscription, in order.
class Transitions {
 public:
  explicit Transitions(const Daemon& d) : client_(d.socket_path()) {
    client_.call({{"cmd", "events"}});
  }
  /// Reads events for `for_how_long`.
  std::vector<std::string> read(std::chrono::milliseconds for_how_long) {
    const auto deadline = std::chrono::steady_clock::now() + for_how_long;
    while (std::chrono::steady_clock::now() < deadline) {
      nlohmann::json event = client_.read_json(50ms);
      if (event.is_null() || event.value("event", "") != "state") continue;
      lines_.push_back(event.value("process", "") + " " + event.value("from", "") + "->" +
                       event.value("to", ""));
    }
    return lines_;
  }

 private:
  RawClient client_;
  std::vector<std::string> lines_;
};

std::size_t index_of(const std::vector<std::string>& lines, const std::string& line) {
  const auto it = std::find(lines.begin(), lines.end(), line);
  return it == lines.end() ? std::string::npos : static_cast<std::size_t>(it - lines.begin());
}

std::string config(int port, int numprocs, const std::string& command) {
  return fmt::format(
      "[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n"
      "[program.web]\n{}numprocs = {}\nsockets = [\"http\"]\nready = {{ log = \"listening\" }}\n"
      "stopwaitsecs = 5\nstartretries = 1\n",
      port, command, numprocs);
}

TEST(RollingRestart, OneProcessNewReadyBeforeOldStopsNoClientRefused) {
  const int port = free_port();
  // The old server drains for 0.3 s after SIGTERM; the new one takes 0.2 s
  // to come up: both windows are covered by the held socket.
  Daemon d(config(port, 1, server_cmd("--term-delay 0.3 --start-delay 0.2")));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  const int old_pid = d.process("web").value("pid", 0);
  Transitions events(d);
  Clients clients(port);
  auto restart = std::async(std::launch::async, [&] {
    return d.ctl({"restart", "--rolling", "web"});
  });
  // During the switch: the old one on a line of its own, marked old.
  ASSERT_TRUE(eventually([&] {
    for (const auto& p : d.status_json()) {
      if (p.value("old", false) && p.value("pid", 0) == old_pid) return true;
    }
    return false;
  })) << d.log();
  const CommandResult table = d.ctl({"status"});
  EXPECT_THAT(table.out, HasSubstr("web (old)"));
  const CommandResult r = restart.get();
  EXPECT_EQ(r.code, 0) << r.out << r.err << d.log();
  EXPECT_EQ(r.out, "web: started\n");
  const std::vector<std::string> lines = events.read(300ms);
  const std::size_t new_running = index_of(lines, "web STARTING->RUNNING");
  const std::size_t old_stopping = index_of(lines, "web (old) RUNNING->STOPPING");
  const std::size_t old_stopped = index_of(lines, "web (old) STOPPING->STOPPED");
  ASSERT_NE(new_running, std::string::npos) << ::testing::PrintToString(lines);
  ASSERT_NE(old_stopping, std::string::npos) << ::testing::PrintToString(lines);
  ASSERT_NE(old_stopped, std::string::npos) << ::testing::PrintToString(lines);
  EXPECT_LT(new_running, old_stopping);
  EXPECT_LT(old_stopping, old_stopped);
  // Clients were served throughout, by the old and then the new process.
  std::this_thread::sleep_for(50ms);
  clients.finish();
  EXPECT_EQ(clients.failed(), 0);
  const int new_pid = d.process("web").value("pid", 0);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_TRUE(clients.pids().count("pid " + std::to_string(old_pid) + "\n"));
  EXPECT_TRUE(clients.pids().count("pid " + std::to_string(new_pid) + "\n"));
  EXPECT_EQ(d.status_json().size(), 1u);  // the old one is gone
  EXPECT_EQ(d.stop(), 0);
}

TEST(RollingRestart, ThreeProcessesReplacedOneAfterAnother) {
  const int port = free_port();
  Daemon d(config(port, 3, server_cmd("--term-delay 0.1")));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  Transitions events(d);
  Clients clients(port);
  const CommandResult r = d.ctl({"restart", "--rolling", "web"});
  EXPECT_EQ(r.code, 0) << r.out << r.err << d.log();
  EXPECT_EQ(r.out, "web:0: started\nweb:1: started\nweb:2: started\n");
  const std::vector<std::string> lines = events.read(300ms);
  clients.finish();
  EXPECT_EQ(clients.failed(), 0);
  std::optional<std::size_t> previous_old_stopped;
  for (const std::string name : {"web:0", "web:1", "web:2"}) {
    const std::size_t starting = index_of(lines, name + " STOPPED->STARTING");
    const std::size_t running = index_of(lines, name + " STARTING->RUNNING");
    const std::size_t stopping = index_of(lines, name + " (old) RUNNING->STOPPING");
    const std::size_t stopped = index_of(lines, name + " (old) STOPPING->STOPPED");
    ASSERT_NE(stopped, std::string::npos) << name << ::testing::PrintToString(lines);
    EXPECT_LT(running, stopping) << name;
    EXPECT_LT(stopping, stopped) << name;
    // The next one is replaced once the previous old one has exited.
    ASSERT_NE(starting, std::string::npos) << name << ::testing::PrintToString(lines);
    if (previous_old_stopped) {
      EXPECT_GT(starting, *previous_old_stopped) << name << ::testing::PrintToString(lines);
    }
    previous_old_stopped = stopped;
  }
  EXPECT_EQ(d.status_json().size(), 3u);
  EXPECT_EQ(d.stop(), 0);
}

TEST(RollingRestart, ANewProcessThatNeverGetsReadyLeavesTheOldOnesServing) {
  const int port = free_port();
  Daemon d;
  // The next version fails when the file `broken` exists.
  d.write_config(
      config(port, 2,
             sh_cmd(fmt::format("if [ -e {}/broken ]; then exec {} --fail; else exec "
                                "{}; fi",
                                d.dir().string(), helper("fd_server"), helper("fd_server")))));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  const int pid0 = d.process("web:0").value("pid", 0);
  const int pid1 = d.process("web:1").value("pid", 0);
  write_file(d.dir() / "broken", "");
  const CommandResult r = d.ctl({"restart", "--rolling", "web"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("web:0: ERROR ("));
  EXPECT_THAT(r.out,
              HasSubstr("web:1: ERROR (not replaced: the rolling restart stopped at web:0)"));
  // The old processes serve on: web:0's as "web:0 (old)", web:1 untouched.
  bool old_serves = false;
  for (const auto& p : d.status_json()) {
    if (p.value("name", "") == "web:0" && p.value("old", false)) {
      old_serves = p.value("state", "") == "RUNNING" && p.value("pid", 0) == pid0;
    }
  }
  EXPECT_TRUE(old_serves) << d.ctl({"status"}).out;
  EXPECT_EQ(d.state("web:0"), "FATAL");
  EXPECT_EQ(d.process("web:1").value("pid", 0), pid1);
  std::set<std::string> answers;
  for (int i = 0; i < 20; ++i) {
    const auto answer = ask(port);
    ASSERT_TRUE(answer && !answer->empty());
    answers.insert(*answer);
  }
  for (const std::string& answer : answers) {
    EXPECT_TRUE(answer == fmt::format("pid {}\n", pid0) || answer == fmt::format("pid {}\n", pid1))
        << answer;
  }
  // Fixed: a good start of web:0 replaces the old one left over.
  fs::remove(d.dir() / "broken");
  EXPECT_EQ(d.ctl({"start", "web:0"}).code, 0);
  EXPECT_TRUE(eventually([&] { return d.status_json().size() == 2u; })) << d.ctl({"status"}).out;
  EXPECT_EQ(d.stop(), 0);
}

TEST(RollingRestart, UpdateReplacesAChangedProgramWithSocketsOneByOne) {
  const int port = free_port();
  Daemon d(config(port, 2, server_cmd("--term-delay 0.1")));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  const std::set<int> before{d.process("web:0").value("pid", 0),
                             d.process("web:1").value("pid", 0)};
  Transitions events(d);
  Clients clients(port);
  d.write_config(config(port, 2, server_cmd("--term-delay 0.1")) +
                 "environment = { VERSION = \"2\" }\n");
  const CommandResult r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err << d.log();
  EXPECT_THAT(r.out, HasSubstr("web: updated"));
  const std::vector<std::string> lines = events.read(300ms);
  clients.finish();
  EXPECT_EQ(clients.failed(), 0);
  // Rolled: each new one RUNNING before its old one was stopped.
  for (const std::string name : {"web:0", "web:1"}) {
    const std::size_t running = index_of(lines, name + " STARTING->RUNNING");
    const std::size_t stopping = index_of(lines, name + " (old) RUNNING->STOPPING");
    ASSERT_NE(stopping, std::string::npos) << name << ::testing::PrintToString(lines);
    EXPECT_LT(running, stopping) << name;
    const int pid = d.process(name).value("pid", 0);
    EXPECT_EQ(before.count(pid), 0u) << name;
    EXPECT_THAT(read_file("/proc/" + std::to_string(pid) + "/environ"), HasSubstr("VERSION=2"));
  }
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
