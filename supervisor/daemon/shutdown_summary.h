// ShutdownTally: the one summary line minisupd logs at the end of a
// graceful shutdown:
//   shutdown complete: 5 processes stopped in 1.23 s; 1 needed SIGKILL (worker:1)
//   shutdown complete: 2 processes stopped in 0.05 s; none needed SIGKILL
// The Runtime starts a tally when the shutdown begins, shows it every state
// change, and logs line() when the shutdown is complete.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "supervisor/core/action.h"

namespace minisup::daemon {

class ShutdownTally {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  /// A tally for a shutdown that began at `began`.
  explicit ShutdownTally(TimePoint began) : began_(began) {}

  /// A state change of `process` during the shutdown: a move to STOPPED
  /// counts as a process stopped, and as one that needed SIGKILL when its
  /// exit record says so.
  void note(const std::string& process, const core::StateChanged& change);

  /// The summary line, the shutdown having completed at `now`.
  std::string line(TimePoint now) const;

 private:
  TimePoint began_;
  std::size_t stopped_ = 0;
  std::vector<std::string> needed_sigkill_;
};

}  // namespace minisup::daemon
