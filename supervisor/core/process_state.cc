// Process states: see process_state.h.
#include "supervisor/core/process_state.h"

#include <algorithm>
#include <cctype>

namespace minisup::core {

std::string_view to_string(ProcessState state) {
  // No default: -Wswitch flags a state added to the enum but not named here.
  switch (state) {
    case ProcessState::Stopped:
      return "STOPPED";
    case ProcessState::Starting:
      return "STARTING";
    case ProcessState::Running:
      return "RUNNING";
    case ProcessState::Backoff:
      return "BACKOFF";
    case ProcessState::Stopping:
      return "STOPPING";
    case ProcessState::Exited:
      return "EXITED";
    case ProcessState::Fatal:
      return "FATAL";
  }
  return "UNKNOWN";  // not reached: an enum value outside the declared ones
}

bool is_idle(ProcessState state) {
  return state == ProcessState::Stopped || state == ProcessState::Exited ||
         state == ProcessState::Fatal;
}

std::optional<ProcessState> parse_process_state(std::string_view text) {
  for (ProcessState state : kAllProcessStates) {
    std::string_view name = to_string(state);
    if (name.size() == text.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [](char n, char t) {
          return n == std::toupper(static_cast<unsigned char>(t));
        })) {
      return state;
    }
  }
  return std::nullopt;
}

}  // namespace minisup::core
