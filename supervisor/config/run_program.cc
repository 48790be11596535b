// apply_run() of load_config.h: what `minisupd --run NAME [-- ARGS...]`
// changes in a loaded config before the daemon starts.
#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "supervisor/config/load_config.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config {

std::optional<std::string> apply_run(Config& config, const std::string& name,
                                     const std::vector<std::string>& args) {
  const auto it =
      std::find_if(config.programs.begin(), config.programs.end(),
                   [&name](const ProgramConfig& program) { return program.name == name; });
  if (it == config.programs.end()) {
    std::string message = fmt::format("--run: no program named {}", detail::quote(name));
    std::vector<std::string_view> names;
    for (const ProgramConfig& program : config.programs) names.push_back(program.name);
    if (auto suggestion = closest_match(name, names)) {
      message += fmt::format("; did you mean {}?", detail::quote(*suggestion));
    }
    return message;
  }
  ProgramConfig& program = *it;
  if (program.numprocs > 1) {
    return fmt::format(
        "--run {}: the program has numprocs = {}; --run runs a program of one process", name,
        program.numprocs);
  }
  program.job = true;
  program.autostart = true;
  program.startretries = 0;
  program.autorestart = AutoRestart::Never;
  program.shutdown_on = ShutdownOn::Exit;
  for (ProcessConfig& process : program.processes) {
    process.command.insert(process.command.end(), args.begin(), args.end());
    process.stdout_logfile = LogTarget{LogTarget::Kind::Passthrough, {}};
    process.stderr_logfile = LogTarget{LogTarget::Kind::Passthrough, {}};
  }
  return std::nullopt;
}

}  // namespace minisup::config
