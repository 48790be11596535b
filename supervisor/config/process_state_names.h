// Process state names: the one table of them, for core (to_string,
// parse_process_state), the control protocol (`state` fields, `wait`) and
// minisupctl. It lives in config/, the lowest layer, so that core, control
// and ctl can all use it without breaking the dependency rule (STYLE.md §1).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace minisup::config {

/// The names of the process states, upper case as status shows them, in the
/// order of core::ProcessState's values (core static_asserts the count).
inline constexpr std::array<std::string_view, 7> kProcessStateNames = {
    "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"};

/// The index in kProcessStateNames of `text`, compared without regard to
/// case ("running", "Fatal"); nullopt when it names no state.
constexpr std::optional<std::size_t> find_process_state_name(std::string_view text) {
  for (std::size_t i = 0; i < kProcessStateNames.size(); ++i) {
    const std::string_view name = kProcessStateNames[i];
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t k = 0; k < name.size() && same; ++k) {
      const char c = text[k];
      same = name[k] == (c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    }
    if (same) return i;
  }
  return std::nullopt;
}

}  // namespace minisup::config
