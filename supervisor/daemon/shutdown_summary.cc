// ShutdownTally: see shutdown_summary.h.
#include "supervisor/daemon/shutdown_summary.h"

#include <fmt/format.h>

namespace minisup::daemon {

void ShutdownTally::note(const std::string& process, const core::StateChanged& change) {
  if (change.to != core::ProcessState::Stopped || change.from == core::ProcessState::Stopped)
    return;
  ++stopped_;
  if (change.exit && change.exit->needed_sigkill()) needed_sigkill_.push_back(process);
}

std::string ShutdownTally::line(TimePoint now) const {
  const std::chrono::duration<double> took = now - began_;
  std::string text = fmt::format("shutdown complete: {} process{} stopped in {:.2f} s; ", stopped_,
                                 stopped_ == 1 ? "" : "es", took.count());
  if (needed_sigkill_.empty()) return text + "none needed SIGKILL";
  text += fmt::format("{} needed SIGKILL (", needed_sigkill_.size());
  for (std::size_t i = 0; i < needed_sigkill_.size(); ++i) {
    if (i > 0) text += ", ";
    text += needed_sigkill_[i];
  }
  return text + ")";
}

}  // namespace minisup::daemon
