// Shared helpers for the sys/ unit tests: spawning with a captured stdout,
// reading a pipe to EOF, waiting for a child through its pidfd.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/spawn.h"

namespace minisup::sys::testing {

/// A request with a small fixed environment.
inline SpawnRequest request(std::vector<std::string> argv) {
  SpawnRequest r;
  r.argv = std::move(argv);
  r.envp = {"PATH=/usr/bin:/bin"};
  return r;
}

/// Reads `fd` until EOF (or 10 s pass); works on non-blocking descriptors.
inline std::string read_all(int fd) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// Waits (up to 10 s) for the child behind `pidfd` to exit, without reaping.
inline bool wait_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 10000) == 1;
}

/// Reaps `pid` and returns its raw wait status.
inline int reap(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

/// Result of running a child to completion with stdout+stderr captured.
struct RunResult {
  std::string output;
  int status = -1;    ///< raw wait status
  std::string error;  ///< spawn error, empty when it spawned
};

/// Spawns `r` with stdout and stderr into one pipe, reads it to EOF and
/// reaps the child.
inline RunResult run(SpawnRequest r) {
  RunResult result;
  Pipe p = make_pipe();
  r.stdout_fd = p.write.get();
  r.stderr_fd = p.write.get();
  auto spawned = spawn_process(r);
  p.write.reset();
  if (auto* err = std::get_if<std::string>(&spawned)) {
    result.error = *err;
    return result;
  }
  auto& child = std::get<SpawnedChild>(spawned);
  result.output = read_all(p.read.get());
  result.status = reap(child.pid);
  return result;
}

}  // namespace minisup::sys::testing
