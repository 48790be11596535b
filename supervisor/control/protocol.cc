// Implementation of the control protocol (see protocol.h for the model):
// the names of error codes, commands, outcomes and states. The other parts
// live by role: protocol_request.cc (request lines),
// protocol_reply.cc (reply lines and descriptions), protocol_reply_decode.cc
// (reading reply lines back), protocol_json_writer.{h,cc} (the JSON writer).
#include "supervisor/control/protocol.h"

#include <array>

#include "supervisor/control/protocol_tables.h"

namespace minisup::control {

using namespace detail;

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

std::optional<std::string> normalize_state_name(std::string_view text) {
  if (auto index = config::find_process_state_name(text)) {
    return std::string(config::kProcessStateNames[*index]);
  }
  return std::nullopt;
}

}  // namespace minisup::control
