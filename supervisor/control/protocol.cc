// Implementation of the control protocol (see protocol.h for the model):
// the names of error codes, commands, outcomes, signals and states. The
// other parts live by role: protocol_request.cc (request lines),
// protocol_reply.cc (reply lines and descriptions), protocol_reply_decode.cc
// (reading reply lines back), protocol_json_writer.{h,cc} (the JSON writer).
#include "supervisor/control/protocol.h"

#include <fmt/format.h>
#include <signal.h>

#include <array>
#include <cctype>
#include <charconv>

#include "supervisor/config/value_parsers.h"
#include "supervisor/control/protocol_tables.h"

namespace minisup::control {

namespace {

using namespace detail;

std::optional<int> parse_int(std::string_view text) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

std::string_view to_string(ErrorCode code) {
  return kErrorCodeNames.at(static_cast<std::size_t>(code));
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
  return lookup<ErrorCode>(kErrorCodeNames, text);
}

std::string_view to_string(CommandKind kind) {
  return kCommandNames.at(static_cast<std::size_t>(kind));
}

std::optional<CommandKind> parse_command_kind(std::string_view text) {
  return lookup<CommandKind>(kCommandNames, text);
}

std::string_view to_string(Stream stream) {
  switch (stream) {
    case Stream::Stdout:
      return "stdout";
    case Stream::Stderr:
      return "stderr";
  }
  return "stdout";
}

std::string_view to_string(StartOutcome outcome) {
  return kStartOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(StopOutcome outcome) {
  return kStopOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(RestartOutcome outcome) {
  return kRestartOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(SignalOutcome outcome) {
  return kSignalOutcomeNames.at(static_cast<std::size_t>(outcome));
}

std::optional<int> parse_signal(std::string_view text) {
  // Names and numbers 1..64 as in the config (one table, config/); plus
  // the real-time forms a client may send: RTMIN, RTMIN+n, RTMAX, RTMAX-n.
  if (auto n = config::parse_signal(text)) return n;
  std::string upper;
  upper.reserve(text.size());
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view name = upper;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  auto realtime = [&](std::string_view base, int value, int sign) -> std::optional<int> {
    if (!name.starts_with(base)) return std::nullopt;
    std::string_view rest = name.substr(base.size());
    if (rest.empty()) return value;
    if (rest[0] != (sign > 0 ? '+' : '-')) return std::nullopt;
    auto offset = parse_int(rest.substr(1));
    if (!offset || *offset < 0) return std::nullopt;
    const int n = value + sign * *offset;
    if (n < SIGRTMIN || n > SIGRTMAX) return std::nullopt;
    return n;
  };
  if (auto n = realtime("RTMIN", SIGRTMIN, +1)) return n;
  if (auto n = realtime("RTMAX", SIGRTMAX, -1)) return n;
  return std::nullopt;
}

std::string signal_name(int signal) {
  if (signal == SIGRTMIN) return "SIGRTMIN";
  if (signal > SIGRTMIN && signal <= SIGRTMAX) return fmt::format("SIGRTMIN+{}", signal - SIGRTMIN);
  return "SIG" + config::signal_name(signal);  // "SIGTERM", or "SIG200" for no name
}

std::optional<std::string> normalize_state_name(std::string_view text) {
  std::string upper;
  upper.reserve(text.size());
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view state : kStateNames) {
    if (state == upper) return upper;
  }
  return std::nullopt;
}

}  // namespace minisup::control
