#include "supervisor/daemon/command_line.h"

#include "supervisor/config/load_config.h"

namespace minisup::daemon {

std::optional<std::string> CommandLine::apply(config::Config& config) const {
  if (socket) config.supervisor.socket = *socket;
  if (run) return config::apply_run(config, *run, run_args);
  return std::nullopt;
}

}  // namespace minisup::daemon
