// Process states: see process_state.h.
#include "supervisor/core/process_state.h"

#include "supervisor/config/process_state_names.h"

namespace minisup::core {

static_assert(kAllProcessStates.size() == config::kProcessStateNames.size(),
              "every ProcessState needs a name in config::kProcessStateNames, in enum order");
static_assert(static_cast<std::size_t>(kAllProcessStates.back()) + 1 ==
                  config::kProcessStateNames.size(),
              "kAllProcessStates lists every state, in declaration order");

std::string_view to_string(ProcessState state) {
  const auto index = static_cast<std::size_t>(state);
  if (index >= config::kProcessStateNames.size()) return "UNKNOWN";  // not a declared value
  return config::kProcessStateNames[index];
}

bool is_idle(ProcessState state) {
  return state == ProcessState::Stopped || state == ProcessState::Exited ||
         state == ProcessState::Fatal;
}

std::optional<ProcessState> parse_process_state(std::string_view text) {
  if (auto index = config::find_process_state_name(text)) return kAllProcessStates[*index];
  return std::nullopt;
}

}  // namespace minisup::core
