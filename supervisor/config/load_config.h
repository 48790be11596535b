// Loading minisup.toml: TOML -> validated Config.
//
// The pipeline reads top to bottom: read and size-check the file, parse with
// toml++, validate [supervisor], expand includes (globs relative to the
// including file), validate every [program.NAME], expand variables and
// numprocs, then check cross-file facts (duplicate names). Every error of
// every file is collected, each with file:line:col; nothing stops at the
// first. This module reads files, looks up `user` names (NSS,
// user_lookup.h), resolves the hosts of tcp/http probes (getaddrinfo,
// probe_section.cc) and reads what resource limits minisupd can grant
// (geteuid, getrlimit, /proc/sys/fs/nr_open: rlimits.h), and nothing else:
// no other syscalls. Only regular files are
// read: a FIFO (even one an include glob matches) is opened without blocking
// and refused, never waited on.
//
// Error positions point at the offending value (at the key for an unknown
// key, at the `[program.NAME]` header for a missing command); the file is
// named as given to load_config() or as found by an include glob. Hostile
// input is refused before toml++ sees it (toml_guard.h): anything but a
// regular file, files over 4 MiB, dotted keys over 32 parts, nesting over
// 32 levels. man/minisup.toml.5
// documents every key and rule.
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
  /// Every error: the main file first, then the included files in include
  /// order; inside a file by line and column.
  std::vector<ConfigError> errors;
  /// `file:line:col: message` (or `file: message`), e.g. an include glob
  /// that matches nothing; also copied into config->warnings.
  std::vector<std::string> warnings;
  /// When `errors` is not empty: a hint for each file that looks like a
  /// supervisord config (supervisord_hint.h), to print after the errors
  /// as `hint: ...`.
  std::vector<std::string> hints;
};

/// Loads and validates the config file `file` (and what it includes),
/// expanding `${VAR}` from `env` plus [supervisor] environment.
/// Never throws for bad input: problems are returned in `errors`.
LoadResult load_config(const std::filesystem::path& file, const Environment& env);

/// What find_socket() found: the socket when `errors` is empty.
struct SocketLookup {
  std::filesystem::path socket;
  /// The errors in what decides the socket (or, when the whole config had
  /// to be read, in the whole config), each at file:line:col.
  std::vector<ConfigError> errors;
  /// True when the file could not be cut down (see find_socket()) and the
  /// whole config was loaded.
  bool loaded_whole_config = false;
  /// As LoadResult::hints.
  std::vector<std::string> hints;
};

/// The control socket that load_config(file, env) would give, without
/// reading the programs (minisupctl -c FILE). Only the main file can set
/// it ([supervisor] is not allowed in included files), so includes are
/// not read. The main file is read, its regions other than the root table
/// and [supervisor] (and `[supervisor.*]` subtables) are dropped without
/// being parsed (toml_sections.h), and what is left is guarded, parsed and
/// read by the same code as in load_config(): the default (`minisup.sock`
/// next to the file), [supervisor] environment, `socket` with `${VAR}`
/// expanded and resolved against the file's directory, the length check.
/// So whenever load_config() succeeds, this gives the same socket; it also
/// gives one when only other parts are broken (a program, an include, an
/// unknown [supervisor] key: minisupd reports those). Errors in what
/// decides the socket (a syntax error in the kept part, `socket` not a
/// string, an unset `${VAR}`, a path too long) are returned at
/// file:line:col. A file whose structure the cut is not sure of (a string
/// or array left open: not valid TOML) is loaded whole with load_config(),
/// whose errors are then returned. Never throws for bad input.
SocketLookup find_socket(const std::filesystem::path& file, const Environment& env);

/// The config file to use: `explicit_file` when given, else ./minisup.toml
/// when it exists, else /etc/minisup/minisup.toml when it exists; nullopt
/// when none exists.
std::optional<std::filesystem::path> find_config_file(
    const std::optional<std::filesystem::path>& explicit_file);

/// The programs of `config` in the order minisupd starts them: every
/// program after the programs it depends on (`depends_on`), and otherwise
/// by (priority, name). Each step is a group that starts together: the
/// programs of one priority level with no dependency between them; a
/// program that depends on a program of the current step begins a new one.
/// Without any depends_on, the steps are the priority levels. Names that
/// are not programs are ignored, and a cycle (never in a loaded config)
/// leaves its programs at the end in (priority, name) order. The pointers
/// point into `config.programs`.
std::vector<std::vector<const ProgramConfig*>> start_steps(const Config& config);

/// start_steps() flattened: the programs in start order.
std::vector<const ProgramConfig*> start_order(const Config& config);

/// Worst-case graceful shutdown time: the steps of start_steps() stop in
/// reverse order, the programs of a step together, so the sum over the
/// steps of the largest stopwaitsecs in each. Without depends_on this is
/// the sum over priority levels of the largest stopwaitsecs in that level.
/// shutdown_timeout is not applied (check_summary() compares the two).
Duration worst_case_shutdown(const Config& config);

/// The text `minisupd --check` prints for a valid config: programs,
/// processes, the held sockets (`  http: tcp://0.0.0.0:3000 (backlog
/// 4096) -> web`), the start order (one line per step of start_steps(), a
/// program with dependencies marked `app (after db: ready)`, a job marked
/// `(job)`), `worst-case shutdown: 35.0 s`, and a `warning:` line when that
/// exceeds shutdown_timeout (SIGKILL comes at the timeout) or, when that is
/// not set, 30 s; warnings are included.
std::string check_summary(const Config& config);

/// `minisupd --run NAME [-- ARGS...]`: makes program `name` of `config` a
/// one-shot harness run: job = true, autostart = true, startretries = 0,
/// autorestart = Never, shutdown_on = Exit, `args` appended to its command,
/// and its stdout and stderr log targets Passthrough (minisupd's own
/// stdout and stderr, unprefixed; with redirect_stderr its stderr goes with
/// its stdout). Returns an error text (and changes nothing) when there is
/// no such program or it has numprocs > 1; nullopt on success.
std::optional<std::string> apply_run(Config& config, const std::string& name,
                                     const std::vector<std::string>& args);

}  // namespace minisup::config
