// What minisupd's command line changes in every config it loads: the first
// one and each reload (SIGHUP, reread, update), so that a reload never
// undoes `--socket` or `--run`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/config/program_config.h"

namespace minisup::daemon {

struct CommandLine {
  /// `--socket PATH` (absolute): replaces [supervisor] socket.
  std::optional<std::filesystem::path> socket;
  /// `--run NAME [-- ARGS...]`: the harness (config::apply_run).
  std::optional<std::string> run;
  std::vector<std::string> run_args;

  /// Applies them to `config`; the error when `--run` names no program
  /// that can run (unknown, or numprocs > 1).
  std::optional<std::string> apply(config::Config& config) const;
};

}  // namespace minisup::daemon
