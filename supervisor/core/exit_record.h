// How a process ended: kept apart from where it is (its state).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace minisup::core {

/// The end of one run of a process.
struct ExitRecord {
  std::optional<int> exit_code;    ///< set when it exited normally
  std::optional<int> exit_signal;  ///< set when a signal killed it
  bool core_dumped = false;        ///< the signal left a core dump (WCOREDUMP)
  int pid = 0;
  bool needed_sigkill = false;  ///< SIGKILL had to be sent at stopwaitsecs
  bool expected = false;        ///< exit code in exitcodes (never for a signal)
  /// When it was reaped (monotonic clock; the runtime converts for display).
  std::chrono::steady_clock::time_point when{};
  /// When a stop was requested, how long from the stop signal to the exit.
  std::optional<std::chrono::nanoseconds> stop_duration;
  bool operator==(const ExitRecord&) const = default;
};

}  // namespace minisup::core
