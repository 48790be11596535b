// Wire-name tables of the control protocol (internal to control/protocol*):
// the names of error codes, commands and outcomes, in enum order, shared by
// the to_string()/parse functions (protocol.cc) and the reply decoders.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <variant>

#include "supervisor/control/protocol.h"

namespace minisup::control::detail {

/// Looks `text` up in `names` (the wire names of enum E, in enum order).
template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::string_view, N>& names, std::string_view text) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 13> kErrorCodeNames = {
    "bad_json",        "bad_request", "unknown_command", "too_large",        "too_many_clients",
    "no_such_program", "bad_signal",  "timeout",         "unexpected_state", "shutting_down",
    "invalid_config",  "internal",    "no_log_file"};
constexpr std::array<std::string_view, 14> kCommandNames = {
    "status", "start",  "stop",   "restart", "signal",   "pid",     "tail",
    "clear",  "reread", "update", "wait",    "shutdown", "version", "events"};
constexpr std::array<std::string_view, 3> kStartOutcomeNames = {"started", "already_started",
                                                                "failed"};
constexpr std::array<std::string_view, 2> kStopOutcomeNames = {"stopped", "not_running"};
constexpr std::array<std::string_view, 2> kRestartOutcomeNames = {"started", "failed"};
constexpr std::array<std::string_view, 2> kSignalOutcomeNames = {"signalled", "not_running"};

static_assert(std::variant_size_v<Command> == kCommandNames.size(),
              "every Command alternative needs a wire name, in CommandKind order");

}  // namespace minisup::control::detail
