// The states of one supervised process, as supervisord names them.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace minisup::core {

enum class ProcessState {
  Stopped,   ///< not running, never started or stopped on request
  Starting,  ///< spawned, not yet up for startsecs
  Running,   ///< up for at least startsecs
  Backoff,   ///< exited while STARTING; a retry is scheduled
  Stopping,  ///< stop signal sent; waiting for exit (SIGKILL at stopwaitsecs)
  Exited,    ///< exited from RUNNING (expectedly or not)
  Fatal,     ///< could not be started (startretries exhausted)
};

/// Every state, in declaration order (for tables and tests).
inline constexpr std::array kAllProcessStates{
    ProcessState::Stopped,  ProcessState::Starting, ProcessState::Running, ProcessState::Backoff,
    ProcessState::Stopping, ProcessState::Exited,   ProcessState::Fatal,
};

/// True for the states without a child and without anything pending:
/// STOPPED, EXITED and FATAL. (BACKOFF has no child but a retry pending.)
bool is_idle(ProcessState state);

/// "STOPPED", "STARTING", ... (upper case, as shown by status): the entry of
/// config::kProcessStateNames, the one table of state names.
std::string_view to_string(ProcessState state);

/// Parses "RUNNING", "running", ...; nullopt when unknown.
std::optional<ProcessState> parse_process_state(std::string_view text);

}  // namespace minisup::core
