// Shared helpers for the logging unit tests: a temporary directory, whole
// file reads, and a collecting ReportHook.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "supervisor/logging/child_log.h"

namespace minisup::logging::testing {

/// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/minisup-logging-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// The whole content of a file ("" if it does not exist).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Writes `content` to `path`, replacing it.
inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

/// Collects the reports a LogFile or ConsoleWriter makes.
struct Reports {
  std::vector<std::pair<ReportKind, std::string>> items;

  ReportHook hook() {
    return
        [this](ReportKind kind, const std::string& message) { items.emplace_back(kind, message); };
  }
  std::size_t count(ReportKind kind) const {
    std::size_t n = 0;
    for (const auto& item : items) n += item.first == kind ? 1 : 0;
    return n;
  }
};

}  // namespace minisup::logging::testing

#include <chrono>
#include <functional>

#include "supervisor/loop/event_loop.h"

namespace minisup::logging::testing {

/// Runs `loop` until `done()` is true or `timeout` passes; returns done().
/// A 1 ms timer checks the condition (tests only: the daemon never polls).
inline bool run_until(loop::EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  if (done()) return true;
  const auto deadline = loop::EventLoop::now() + timeout;
  std::function<void()> check;
  check = [&] {
    if (done() || loop::EventLoop::now() >= deadline) {
      loop.stop();
      return;
    }
    loop.add_timer(loop::EventLoop::now() + std::chrono::milliseconds(1), check);
  };
  loop.add_timer(loop::EventLoop::now(), check);
  loop.run();
  return done();
}

}  // namespace minisup::logging::testing
