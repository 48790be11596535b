// What the pure state machine (and the Supervisor) asks the runtime to do.
//
// Actions are imperatives, carried out by daemon/runtime in the order they
// are returned. None of them reports back except Spawn (Spawned or
// SpawnFailed) and ArmDeadline (DeadlineExpired); the others are fire and
// forget.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "supervisor/core/exit_record.h"
#include "supervisor/core/process_state.h"

namespace minisup::core {

using TimePoint = std::chrono::steady_clock::time_point;

/// One spawn of a process: each Spawn gets the next number (the first is 1).
/// Facts the runtime reports and the deadlines it arms name the incarnation
/// they belong to, so a late fact or timer of an earlier run can never touch
/// a newer one (Supervisor::report drops them). 0 means "none yet".
using Incarnation = std::uint64_t;

/// The purpose of a deadline; at most one of each kind is armed per process.
enum class DeadlineKind {
  Startsecs,     ///< STARTING -> RUNNING
  Backoff,       ///< BACKOFF -> retry spawn
  Stopwaitsecs,  ///< STOPPING -> SIGKILL
  Ready,         ///< STARTING with a `ready` probe: not ready in time
};
/// How many DeadlineKinds there are (the size of per-kind arrays).
inline constexpr std::size_t kDeadlineKinds = 4;

/// Which of a program's probes an action is about.
enum class ProbeRole {
  Ready,   ///< `ready`: STARTING -> RUNNING when it first succeeds
  Health,  ///< `health`: while RUNNING, failures in a row make it unhealthy
};

/// Fork/exec the process as incarnation `incarnation`. The runtime answers
/// with Spawned or SpawnFailed for it.
struct Spawn {
  Incarnation incarnation = 0;
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
/// DeadlineExpired{kind} then, reported for `incarnation` (the one current
/// when it was armed).
struct ArmDeadline {
  DeadlineKind kind;
  TimePoint at;
  Incarnation incarnation = 0;
  bool operator==(const ArmDeadline&) const = default;
};

/// Find out whether the process group (ProcessMachine::process_group()) of
/// a leader that was reaped while stopping still has members; the runtime
/// answers with GroupProbed{alive}. Emitted by the machine when the leader
/// of a killasgroup process exits during a stop, and by the Supervisor for
/// every lingering group after an orphan was reaped.
struct ProbeGroup {
  bool operator==(const ProbeGroup&) const = default;
};

/// Begin probing (the program's `ready` or `health` probe) for incarnation
/// `incarnation`: the runtime tries every `interval` and reports each
/// outcome (ProbeSucceeded/ProbeFailed for ready, HealthChecked for
/// health) until StopProbe or the end of the run.
struct StartProbe {
  ProbeRole role = ProbeRole::Ready;
  Incarnation incarnation = 0;
  bool operator==(const StartProbe&) const = default;
};

/// Stop probing (an attempt in progress is cancelled).
struct StopProbe {
  ProbeRole role = ProbeRole::Ready;
  bool operator==(const StopProbe&) const = default;
};

/// Disarm the deadline of `kind` (no-op when not armed).
struct CancelDeadline {
  DeadlineKind kind;
  bool operator==(const CancelDeadline&) const = default;
};

/// The state changed: the runtime logs it and tells subscribers. `reason` is
/// a human sentence, e.g. "exited with status 3 (not expected)",
/// "sent SIGTERM", "exec /x: No such file or directory; retry 1/3 in 1.0 s".
/// `exit` is set when the change was caused by the end of a run (an exit,
/// or a failed spawn: reason SpawnFailed); events read it.
struct StateChanged {
  ProcessState from;
  ProcessState to;
  std::string reason;
  std::optional<ExitRecord> exit;
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

/// Emitted by Supervisor only (a rolling restart, Supervisor::request_rolling
/// _restart): the current run of this process goes on as the *old* process
/// `as` ("web:0 (old)"): its child, its deadlines, its output and its tree
/// are `as`'s from now on (facts about it are reported for `as`). This
/// name gets fresh handles (as for AddProcess) for a new run that follows
/// in the same batch.
struct ProcessRetired {
  std::string as;
  bool operator==(const ProcessRetired&) const = default;
};

using Action =
    std::variant<Spawn, SendSignal, ArmDeadline, CancelDeadline, ProbeGroup, StartProbe, StopProbe,
                 StateChanged, RecordExit, Notice, AddProcess, RemoveProcess, ProcessRetired>;

/// A one-line description of an action for logs and test failures, e.g.
/// "SendSignal(SIGTERM, group)", "ArmDeadline(stopwaitsecs, +10.000 s)" (times
/// are shown relative to `origin`).
std::string describe(const Action& action, TimePoint origin = TimePoint{});

/// "startsecs", "backoff", "stopwaitsecs" or "ready".
std::string_view to_string(DeadlineKind kind);

}  // namespace minisup::core
