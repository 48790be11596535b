// How a process ended: kept apart from where it is (its state).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minisup::core {

/// Why a run ended. Status, events and logs read this instead of deriving
/// it from pairs of states (dinit's stopped_reason_t).
enum class ExitReason {
  Exited,            ///< it exited on its own (exit_code is set)
  Killed,            ///< a signal killed it (exit_signal is set), SIGKILL not needed
  NeededSigkill,     ///< a stop had to send SIGKILL at stopwaitsecs
  SpawnFailed,       ///< nothing ran: fork, set-up or exec failed
  Unhealthy,         ///< failed health checks made minisupd stop (and restart) it
  NotReady,          ///< it did not become ready in time and was stopped
  DependencyFailed,  ///< never spawned: a dependency failed
};

/// Every reason, in declaration order (for per-reason counters and tables).
inline constexpr std::array kAllExitReasons{
    ExitReason::Exited,           ExitReason::Killed,    ExitReason::NeededSigkill,
    ExitReason::SpawnFailed,      ExitReason::Unhealthy, ExitReason::NotReady,
    ExitReason::DependencyFailed,
};
/// How many ExitReasons there are (the size of per-reason arrays).
inline constexpr std::size_t kExitReasons = kAllExitReasons.size();
static_assert(static_cast<std::size_t>(kAllExitReasons.back()) + 1 == kExitReasons,
              "kAllExitReasons lists every ExitReason, in declaration order");

/// "exited", "killed", "needed_sigkill", "spawn_failed", "unhealthy",
/// "not_ready", "dependency_failed".
std::string_view to_string(ExitReason reason);

/// The end of one run of a process.
struct ExitRecord {
  ExitReason reason = ExitReason::Exited;
  std::optional<int> exit_code;    ///< set when it exited normally
  std::optional<int> exit_signal;  ///< set when a signal killed it
  bool core_dumped = false;        ///< the signal left a core dump (WCOREDUMP)
  int pid = 0;                     ///< also its process group id
  /// The run (incarnation, see action.h) that ended.
  std::uint64_t incarnation = 0;
  bool expected = false;  ///< exit code in exitcodes (never for a signal)
  /// When it was reaped (monotonic clock; the runtime converts for display).
  std::chrono::steady_clock::time_point when{};
  /// When a stop was requested, how long from the stop signal to the exit.
  std::optional<std::chrono::nanoseconds> stop_duration;

  /// SIGKILL had to be sent at stopwaitsecs.
  bool needed_sigkill() const { return reason == ExitReason::NeededSigkill; }
  /// spawn_failed: the spawn error ("exec /x: No such file or directory");
  /// dependency_failed: why ("db is FATAL").
  std::string message;

  /// "exited with status 3", "killed by SIGABRT (core dumped)", or for a
  /// failed spawn "spawn failed".
  std::string text() const;
  bool operator==(const ExitRecord&) const = default;
};

}  // namespace minisup::core
