// The seam between the runtime and the world: what the runtime does to the
// system (System), to time (Timers) and to its clients (Clients). The real
// ones (real_system.h, Daemon) wrap sys/, loop/, logging/ and the control
// server; the fakes under tests/unit/daemon/ record calls and let a test
// move time, so every decision of the runtime is tested without a process
// (in the style of dinit's bp_sys and its fake event loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/daemon/spawn_plan.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/sys/signals.h"

namespace minisup::daemon {

/// What the runtime does to processes and their output.
class System {
 public:
  virtual ~System() = default;

  /// The output (log files, console) of one process: created when the
  /// process is set up, kept until it is removed.
  virtual std::unique_ptr<logging::ProcessOutput> make_output(
      const config::ProgramConfig& program, const config::ProcessConfig& process) = 0;
  /// The programs in force changed (start or reload): e.g. the console's
  /// name column width.
  virtual void outputs_configured(const std::vector<config::ProgramConfig>& programs) = 0;

  /// Forks and execs `plan`, its stdout and stderr going to pipes of
  /// `output` (opened here, captured once the child runs). Returns the
  /// child's pid (also its process group) or why it failed, e.g.
  /// "exec /usr/bin/nope: No such file or directory".
  virtual std::variant<int, std::string> spawn(const SpawnPlan& plan,
                                               logging::ProcessOutput& output) = 0;
  /// Sends `signal` to the child `pid` unless it was reaped already (then
  /// false: nothing is sent, the pid may belong to a stranger by now).
  virtual bool signal_process(int pid, int signal) = 0;
  /// Sends `signal` to process group `pgid`; false when it has no member.
  virtual bool signal_group(int pgid, int signal) = 0;
  /// Process group `pgid` still has a member.
  virtual bool group_alive(int pgid) = 0;
  /// Reaps every child that has exited (supervised or not).
  virtual std::vector<sys::Reaped> reap() = 0;
};

/// Time and timers (the monotonic clock).
class Timers {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using TimerId = std::uint64_t;  ///< never 0

  virtual ~Timers() = default;
  virtual TimePoint now() const = 0;
  /// Calls `callback` once at `at` (a time in the past: the next round).
  virtual TimerId arm(TimePoint at, std::function<void()> callback) = 0;
  /// Cancels a timer; unknown or fired ids are ignored.
  virtual void cancel(TimerId id) = 0;
};

/// The clients of the control socket, as the runtime answers them.
class Clients {
 public:
  using ClientId = std::uint64_t;

  virtual ~Clients() = default;
  /// Queues a line (a reply or an event, with its newline) for `client`.
  virtual void send(ClientId client, std::string&& line) = 0;
  /// The client is still connected.
  virtual bool connected(ClientId client) const = 0;
  /// Closes the connection once everything queued has gone out.
  virtual void close_after_flush(ClientId client) = 0;
  /// Keeps the connection open until minisupd exits (shutdown's client).
  virtual void hold_until_exit(ClientId client) = 0;
};

}  // namespace minisup::daemon
