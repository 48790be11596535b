// ProcessMachine: the pure state machine of one supervised process.
//
// Model: events go in (requests from users, facts from the kernel reported
// by the runtime, deadlines that expired), actions come out (spawn, signal,
// arm/cancel a deadline, state changed, exit recorded). The machine makes no
// system calls and reads no clock: `now` is an argument, so every
// transition is unit-tested with a fake clock. The runtime (daemon/) carries
// the actions out and feeds the answers back as events.
//
// Transitions (supervisord's semantics, see DESIGN.md "Process states"):
//   STOPPED/EXITED/FATAL/BACKOFF --start--> STARTING (Spawn)
//   STARTING --Spawned--> STARTING (arm startsecs; startsecs = 0: RUNNING)
//   STARTING --startsecs expired--> RUNNING (retry count reset)
//   STARTING --exit or SpawnFailed--> BACKOFF (retry after 1 s, 2 s, 3 s ...)
//                                  or FATAL after startretries failed retries
//   BACKOFF --backoff expired--> STARTING (Spawn)
//   RUNNING --exit--> EXITED, then STARTING at once when autorestart says so
//   STARTING/RUNNING --stop--> STOPPING (stopsignal; arm stopwaitsecs)
//   STOPPING --stopwaitsecs expired--> STOPPING (SIGKILL, needed_sigkill)
//   STOPPING --exit--> STOPPED
//   BACKOFF --stop--> STOPPED at once
// An event that does not fit the current state is ignored (no actions).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/core/action.h"

namespace minisup::core {

/// The part of a program's config that drives its state machine.
struct ProcessPolicy {
  config::Duration startsecs = std::chrono::seconds(1);
  int startretries = 3;
  config::AutoRestart autorestart = config::AutoRestart::Unexpected;
  std::vector<int> exitcodes{0};
  int stopsignal = 15;
  config::Duration stopwaitsecs = std::chrono::seconds(10);
  bool stopasgroup = false;
  bool killasgroup = false;  ///< also true when stopasgroup is

  static ProcessPolicy from(const config::ProgramConfig& program);
};

// ---- Requests (imperatives) ----
struct StartRequest {};
struct StopRequest {};

// ---- Facts (past tense), reported by the runtime ----
/// The Spawn action succeeded: the child runs with this pid.
struct Spawned {
  int pid = 0;
};
/// The Spawn action failed; `message` is e.g.
/// "exec /usr/bin/nope: No such file or directory".
struct SpawnFailed {
  std::string message;
};
/// The process (the group leader) was reaped.
struct ChildExited {
  std::optional<int> exit_code;    ///< normal exit
  std::optional<int> exit_signal;  ///< killed by this signal
  /// Other members of its process group are still alive (the runtime checks
  /// with kill(-pgid, 0)). Matters only while STOPPING with killasgroup.
  bool group_alive = false;
};
/// The last member of the process group of a leader that already exited
/// is gone (only reported after ChildExited{group_alive = true}).
struct GroupEmptied {};
/// The deadline of `kind` armed earlier has been reached.
struct DeadlineExpired {
  DeadlineKind kind;
};

using Event = std::variant<StartRequest, StopRequest, Spawned, SpawnFailed, ChildExited,
                           GroupEmptied, DeadlineExpired>;

class ProcessMachine {
 public:
  explicit ProcessMachine(ProcessPolicy policy);

  /// Feeds one event at time `now`; returns what the runtime must do, in
  /// order. Never throws.
  std::vector<Action> handle(const Event& event, TimePoint now);

  ProcessState state() const { return state_; }
  /// The running child's pid; 0 when there is none.
  int pid() const { return pid_; }
  /// When the current (or last) child was spawned.
  TimePoint started_at() const { return started_at_; }
  /// The end of the last run, if any.
  const std::optional<ExitRecord>& last_exit() const { return last_exit_; }
  /// Failed starts in a row so far (shown as `retry N/startretries`).
  int failed_starts() const { return failed_starts_; }
  /// When the next retry is due (BACKOFF only).
  std::optional<TimePoint> retry_at() const { return retry_at_; }
  /// The last spawn error, or why the process is FATAL; empty otherwise.
  const std::string& last_error() const { return last_error_; }
  /// SIGKILL has been sent during the current stop.
  bool sigkill_sent() const { return sigkill_sent_; }
  const ProcessPolicy& policy() const { return policy_; }

 private:
  ProcessPolicy policy_;
  ProcessState state_ = ProcessState::Stopped;
  int pid_ = 0;
  TimePoint started_at_{};
  std::optional<TimePoint> stop_requested_at_;
  std::optional<TimePoint> retry_at_;
  std::optional<ExitRecord> last_exit_;
  int failed_starts_ = 0;
  bool sigkill_sent_ = false;
  std::string last_error_;
  // Implementation details may add members here.
};

}  // namespace minisup::core
