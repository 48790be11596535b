// What the pure state machine (and the Supervisor) asks the runtime to do.
//
// Actions are imperatives, carried out by daemon/runtime in the order they
// are returned. None of them reports back except Spawn (Spawned or
// SpawnFailed) and ArmDeadline (DeadlineExpired); the others are fire and
// forget.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

#include "supervisor/core/exit_record.h"
#include "supervisor/core/process_state.h"

namespace minisup::core {

using TimePoint = std::chrono::steady_clock::time_point;

/// The purpose of a deadline; at most one of each kind is armed per process.
enum class DeadlineKind {
  Startsecs,     ///< STARTING -> RUNNING
  Backoff,       ///< BACKOFF -> retry spawn
  Stopwaitsecs,  ///< STOPPING -> SIGKILL
};

/// Fork/exec the process. The runtime answers with Spawned or SpawnFailed.
struct Spawn {
  bool operator==(const Spawn&) const = default;
};

/// Send `signal` to the process (ProcessMachine::pid()), or to its process
/// group (-ProcessMachine::process_group()) when `to_group`. ESRCH is normal:
/// the exit is on its way. Never emitted for a reaped leader unless
/// `to_group` (the group may outlive its leader).
struct SendSignal {
  int signal = 0;
  bool to_group = false;
  bool operator==(const SendSignal&) const = default;
};

/// Arm (or re-arm) the deadline of `kind` at `at`; the runtime answers with
/// DeadlineExpired{kind} then.
struct ArmDeadline {
  DeadlineKind kind;
  TimePoint at;
  bool operator==(const ArmDeadline&) const = default;
};

/// Disarm the deadline of `kind` (no-op when not armed).
struct CancelDeadline {
  DeadlineKind kind;
  bool operator==(const CancelDeadline&) const = default;
};

/// The state changed: the runtime logs it and tells subscribers. `reason` is
/// a human sentence, e.g. "exited with status 3 (not expected)",
/// "sent SIGTERM", "exec /x: No such file or directory; retry 1/3 in 1.0 s".
struct StateChanged {
  ProcessState from;
  ProcessState to;
  std::string reason;
  bool operator==(const StateChanged&) const = default;
};

/// A run ended; the record is also kept by the machine (last_exit()).
struct RecordExit {
  ExitRecord record;
  bool operator==(const RecordExit&) const = default;
};

/// Something went wrong without a state change: the runtime writes
/// `message` to its log at warn level, e.g. "did not exit 10.0 s after
/// SIGTERM; sent SIGKILL" or "still alive 5.0 s after SIGKILL".
struct Notice {
  std::string message;
  bool operator==(const Notice&) const = default;
};

/// Emitted by Supervisor only (reload): the process now exists, with the
/// config Supervisor::find(name) returns; set up what the runtime keeps per
/// process (log files). Processes present at construction get no AddProcess:
/// the runtime sets them up from Supervisor::processes().
struct AddProcess {
  bool operator==(const AddProcess&) const = default;
};

/// Emitted by Supervisor only (reload): the process is gone for good (it is
/// idle: no child, no deadline armed); release what the runtime keeps for it.
/// The same name may be added again in the same batch (a changed program).
struct RemoveProcess {
  bool operator==(const RemoveProcess&) const = default;
};

using Action = std::variant<Spawn, SendSignal, ArmDeadline, CancelDeadline, StateChanged,
                            RecordExit, Notice, AddProcess, RemoveProcess>;

/// A one-line description of an action for logs and test failures, e.g.
/// "SendSignal(SIGTERM, group)", "ArmDeadline(stopwaitsecs, +10.000 s)" (times
/// are shown relative to `origin`).
std::string describe(const Action& action, TimePoint origin = TimePoint{});

/// "startsecs", "backoff" or "stopwaitsecs".
std::string_view to_string(DeadlineKind kind);

}  // namespace minisup::core
