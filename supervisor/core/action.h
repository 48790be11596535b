// What the pure state machine asks the runtime to do.
#pragma once

#include <chrono>
#include <string>
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

/// Send `signal` to the process (to its process group when `to_group`).
/// ESRCH is normal: the exit is on its way.
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
/// "did not exit 10.0 s after SIGTERM; sent SIGKILL", "exec /x: No such file
/// or directory".
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

using Action = std::variant<Spawn, SendSignal, ArmDeadline, CancelDeadline, StateChanged, RecordExit>;

}  // namespace minisup::core
