// The states of one supervised process, as supervisord names them.
#pragma once

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

/// "STOPPED", "STARTING", ... (upper case, as shown by status).
std::string_view to_string(ProcessState state);

/// Parses "RUNNING", "running", ...; nullopt when unknown.
std::optional<ProcessState> parse_process_state(std::string_view text);

}  // namespace minisup::core
