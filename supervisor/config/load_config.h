// Loading minisup.toml: TOML -> validated Config.
//
// The pipeline reads top to bottom: read and size-check the file, parse with
// toml++, validate [supervisor], expand includes (globs relative to the
// including file), validate every [program.NAME], expand variables and
// numprocs, then check cross-file facts (duplicate names). Every error of
// every file is collected, each with file:line:col; nothing stops at the
// first. This module reads files and nothing else: no other syscalls.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/config/config_error.h"
#include "supervisor/config/program_config.h"

namespace minisup::config {

/// The variables `${VAR}` may name: minisupd's environment (the
/// [supervisor] environment is added by the loader itself).
using Environment = std::map<std::string, std::string>;

/// Returns minisupd's own environment (environ) as an Environment.
Environment process_environment();

/// What load_config() found: a Config when `errors` is empty.
struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;    ///< every error, in file order
  std::vector<std::string> warnings;  ///< also copied into config->warnings
};

/// Loads and validates the config file `file` (and what it includes),
/// expanding `${VAR}` from `env` plus [supervisor] environment.
/// Never throws for bad input: problems are returned in `errors`.
LoadResult load_config(const std::filesystem::path& file, const Environment& env);

/// The config file to use: `explicit_file` when given, else ./minisup.toml
/// when it exists, else /etc/minisup/minisup.toml when it exists; nullopt
/// when none exists.
std::optional<std::filesystem::path> find_config_file(
    const std::optional<std::filesystem::path>& explicit_file);

/// Worst-case graceful shutdown time: the sum over priority levels of the
/// largest stopwaitsecs in that level.
Duration worst_case_shutdown(const Config& config);

/// The text `minisupd --check` prints for a valid config: programs,
/// processes, start order by priority, `worst-case shutdown: 35.0 s`, and a
/// `warning:` line when that exceeds 30 s; warnings are included.
std::string check_summary(const Config& config);

}  // namespace minisup::config
