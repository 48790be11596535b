// The Loader behind load_config() (load_config.h): internal to the config
// module.
//
// A Loader lives for one call and collects every error. Its pipeline reads
// top to bottom in load(); the steps live in one file each, by role:
//   load_config.cc         the pipeline, diagnostics, files and includes;
//   loader_values.cc       value checks: one TOML value of one type each;
//   supervisor_section.cc  [supervisor] (defaults, paths, socket access);
//   program_section.cc     the top level and each [program.NAME] table
//                          (rlimits.h: what minisupd can grant);
//   probe_section.cc       `ready` and `health` of a program;
//   socket_section.cc      [socket.NAME] tables and a program's `sockets`;
//   dependencies.cc        `depends_on`: names, cycles, jobs;
//   expand_programs.cc     drafts -> processes (numprocs, ${VAR}, AUTO logs).
// Helpers that know no Loader (reading a file, quoting values, NSS
// lookups) are in config_file.h, value_text.h and user_lookup.h.
// find_socket.cc runs a Loader on the [supervisor] part alone.
#pragma once

#include <toml++/toml.h>

#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/config/config_error.h"
#include "supervisor/config/expand_vars.h"
#include "supervisor/config/load_config.h"
#include "supervisor/config/program_config.h"
#include "supervisor/config/rlimits.h"
#include "supervisor/config/toml_sections.h"

namespace minisup::config::detail {

namespace fs = std::filesystem;

/// A port 1..65535 from decimal digits; nullopt otherwise.
std::optional<int> parse_listen_port(std::string_view text);
/// The canonical text of a numeric address, or nullopt when `text` is not
/// one of `family` (AF_INET, AF_INET6).
std::optional<std::string> canonical_address(const std::string& text, int family);

/// One config file being loaded.
struct SourceFile {
  fs::path shown;      ///< as given to load_config() or as found by a glob
  fs::path directory;  ///< absolute: relative paths in the file resolve here
  int index = 0;       ///< 0 = the main file, then include order
  /// When what toml++ read is a cut of the file (find_socket()): where its
  /// lines are in the file (see toml_sections.h). Empty: the file itself.
  LineStarts line_starts;
};

/// A position in a SourceFile. Cheap to copy, unlike SourceLocation (whose
/// std::filesystem::path allocates): it becomes one only for an error.
struct Pos {
  const SourceFile* file = nullptr;
  int line = 0;  ///< 0 = the file as a whole
  int column = 0;
};

/// A string value and where it was written.
struct Located {
  std::string text;
  Pos where;
};

/// Longest program (and group) name (it becomes part of log file names).
constexpr std::size_t kMaxProgramNameLength = 128;

/// A program or group name: letters, digits, `_`, `.`, `-`, not empty.
bool is_valid_program_name(std::string_view name);

/// A [program.NAME] table between validation and expansion.
struct ProgramDraft {
  ProgramConfig program;
  const SourceFile* file = nullptr;
  Pos header;  ///< the [program.NAME] header
  /// Split words (string form) or elements (array form), unexpanded.
  std::vector<Located> command;
  std::optional<Located> directory;
  std::vector<std::pair<std::string, Located>> environment;
  std::optional<Located> stdout_logfile;  ///< nullopt = AUTO by default
  std::optional<Located> stderr_logfile;
  /// The words of an exec `ready` / `health` probe, unexpanded.
  std::vector<Located> ready_exec;
  std::vector<Located> health_exec;
  /// Where each `depends_on` entry names its program (parallel to
  /// program.depends_on once sorted), and the `depends_on` value itself.
  std::vector<Pos> depends_on_where;
  /// `sockets`: the names as written, resolved by check_sockets().
  std::vector<Located> sockets;
  /// Where `ready` and `health` are written (a tcp/http probe on a held
  /// socket's address is an error there).
  std::optional<Pos> ready_where;
  std::optional<Pos> health_where;
  /// True when the table sets `priority` (a group's priority then does not
  /// apply to it).
  bool sets_priority = false;
};

/// A [group.NAME] table, checked against the programs once every file is
/// read (check_groups).
struct GroupDraft {
  GroupConfig group;
  Pos header;  ///< the [group.NAME] header
  Pos key;     ///< the NAME key (errors about the name point here)
  /// Where each entry of `programs` is written (parallel to group.programs).
  std::vector<Pos> program_where;
};

/// A [socket.NAME] table being loaded.
struct SocketDraft {
  SocketConfig socket;
  Pos header;  ///< the [socket.NAME] header
  Pos listen;  ///< the `listen` value (the header when missing)
};

/// A value to validate: the key as shown in messages, the node, and where
/// the value was written (errors point at the value).
struct Field {
  std::string key;
  const toml::node& node;
  Pos where;
};

/// The position of `region`'s beginning in `file`.
inline Pos location(const SourceFile& file, const toml::source_region& region) {
  return Pos{&file, original_line(file.line_starts, static_cast<int>(region.begin.line)),
             static_cast<int>(region.begin.column)};
}

/// `pos` as the SourceLocation of an error (the file as shown).
inline SourceLocation to_location(const Pos& pos) {
  return SourceLocation{pos.file->shown.string(), pos.line, pos.column};
}

/// Loads one config.
class Loader {
 public:
  explicit Loader(const Environment& env) : env_(env) {}

  /// The whole pipeline of load_config().
  LoadResult load(const fs::path& file);

  /// find_socket()'s fast path (find_socket.cc): the main file cut down to
  /// its root table and [supervisor] (toml_sections.h), guarded, parsed,
  /// and read by read_socket_settings(). nullopt when the cut is not sure
  /// of the file's structure: the caller loads the whole config instead.
  std::optional<SocketLookup> find_socket(const fs::path& file);

 private:
  // ---- diagnostics and files (load_config.cc) ----

  /// Records an error once (the same error of each numprocs process is one).
  void error(const Pos& where, std::string message);
  /// Records a warning once; warnings have the errors' form.
  void warn(const Pos& where, std::string message);
  /// Sorts the errors by file and position; builds the Config if none.
  LoadResult finish();
  const SourceFile& add_file(const fs::path& shown, const fs::path& absolute_file);
  /// Reads, guards (toml_guard.h) and parses `file`. `include_pattern`:
  /// the glob that found an included file (named in the error when that
  /// file is a FIFO, a directory...).
  std::optional<toml::table> read_and_parse(const SourceFile& file,
                                            std::string_view include_pattern = {});
  /// Expands the `include` globs and reads each file found.
  void read_includes(const SourceFile& main);
  Config build_config();

  // ---- value checks (loader_values.cc): each returns nullopt after
  // reporting an error ----

  std::optional<bool> as_bool(const Field& f);
  std::optional<std::int64_t> as_int(const Field& f, std::int64_t min, std::int64_t max);
  std::optional<Duration> as_seconds(const Field& f);
  std::optional<std::string> as_string(const Field& f, bool allow_empty = false);
  /// A log file value: a path, "AUTO", "NONE" or "console".
  std::optional<std::string> as_logfile(const Field& f);
  std::optional<mode_t> as_mode(const Field& f, std::string_view example);
  std::optional<std::uint64_t> as_size(const Field& f);
  /// A resource limit: a non-negative integer, or "unlimited" (RLIM_INFINITY).
  std::optional<rlim_t> as_rlimit(const Field& f);
  /// An environment table: keys are names without `=`, values strings.
  std::vector<std::pair<std::string, Located>> as_environment(const Field& f,
                                                              const SourceFile& file);
  void unknown_key(const toml::key& key, const SourceFile& file, std::string_view table,
                   std::span<const std::string_view> known);
  /// Expands `${VAR}` in a value, reporting `KEY uses ${X}, which is not set`.
  std::optional<std::string> expand(const Located& value, std::string_view key,
                                    const VariableLookup& lookup);
  /// A path value: a non-empty string, `${VAR}` expanded, made absolute
  /// against the directory of `file`.
  std::optional<fs::path> as_path(const Field& f, const SourceFile& file,
                                  const VariableLookup& lookup);

  // ---- [supervisor] (supervisor_section.cc) ----

  /// Reads [supervisor] into supervisor_ and variables_.
  void read_supervisor(const toml::table& root, const SourceFile& file);
  /// What decides the socket: the default next to `file`, [supervisor]
  /// environment (into supervisor_ and variables_), `socket`, the path's
  /// length. Returns the [supervisor] table (nullptr when there is none or
  /// it is not a table).
  const toml::table* read_socket_settings(const toml::table& root, const SourceFile& file);
  /// `${VAR}` lookups in variables_.
  VariableLookup variable_lookup() const;
  void read_socket_uids(const Field& f, const SourceFile& file);
  void read_socket_group(const Field& f);
  void read_loglevel(const Field& f);
  void read_process_tree(const Field& f);
  void read_include_list(const Field& f, const SourceFile& file);

  // ---- top level and [program.NAME] (program_section.cc) ----

  void read_top_level(const toml::table& root, const SourceFile& file, bool is_main);
  void read_programs(const toml::node& node, const toml::key& key, const SourceFile& file);
  void read_program(const toml::key& key, const toml::node& node, const SourceFile& file);
  void read_command(const Field& f, ProgramDraft& draft);
  void read_autorestart(const Field& f, ProgramConfig& p);
  void read_exitcodes(const Field& f, ProgramConfig& p, const SourceFile& file);
  void read_stopsignal(const Field& f, ProgramConfig& p);
  void read_shutdown_on(const Field& f, ProgramConfig& p);
  /// An `rlimit_*` key (rlimits.h): its value, and whether minisupd can
  /// grant it (the ceilings are read once per resource and load).
  void read_rlimit(const Field& f, const RlimitKey& limit, ProgramConfig& p);
  /// An argv value (`command`, `ready.exec`): a string split like a shell
  /// or a non-empty array of strings; words kept unexpanded with their
  /// positions. nullopt after reporting an error.
  std::optional<std::vector<Located>> read_argv(const Field& f, const SourceFile& file);

  // ---- [socket.NAME] and `sockets` (socket_section.cc) ----

  void read_sockets(const toml::node& node, const toml::key& key, const SourceFile& file);
  void read_socket(const toml::key& key, const toml::node& node, const SourceFile& file);
  void read_listen(const Field& f, SocketConfig& socket, const SourceFile& file);
  /// A numeric address and port of a `listen`.
  struct ListenAddress {
    std::string address;  ///< canonical text
    bool ipv6 = false;
    int port = 0;
  };
  /// The address part of `listen` = `value` (for [socket.NAME] and [http]):
  /// `rest` is HOST:PORT or [IPV6]:PORT, HOST numeric (names are not
  /// resolved). Each error opens with `forms` and shows the fix: `v6_example`
  /// for an IPv6 address without brackets, `name_example` for a name.
  /// nullopt after reporting.
  std::optional<ListenAddress> read_host_port(const Field& f, std::string_view rest,
                                              const std::string& value, std::string_view forms,
                                              std::string_view v6_example,
                                              std::string_view name_example);
  void read_socket_owner(const Field& f, SocketConfig& socket);
  /// A program's `sockets`: an array of socket names (checked later).
  void read_program_sockets(const Field& f, ProgramDraft& draft);
  /// Across files: two sockets on one address; each program's `sockets`
  /// resolved (unknown names, duplicates); tcp/http probes aimed at a held
  /// socket's address.
  void check_sockets();

  // ---- [http] (http_section.cc) ----

  void read_http(const toml::node& node, const toml::key& key, const SourceFile& file);
  void read_http_listen(const Field& f, HttpConfig& http, const SourceFile& file);
  void read_http_token_file(const Field& f, HttpConfig& http, const SourceFile& file);

  // ---- [group.NAME] (group_section.cc) ----

  void read_groups(const toml::node& node, const toml::key& key, const SourceFile& file);
  void read_group(const toml::key& key, const toml::node& node, const SourceFile& file);
  /// Across files: a group's programs exist, a program is in one group at
  /// most, a group and a program do not share a name; applies the groups'
  /// priorities to their programs that set none.
  void check_groups();

  // ---- ready, health (probe_section.cc) ----

  /// `ready` (is_health false) or `health`: an inline table with one probe
  /// kind. The exec words go to `exec_words`.
  std::optional<Probe> read_probe(const Field& f, bool is_health, const SourceFile& file,
                                  std::vector<Located>& exec_words);
  /// tcp/http: HOST resolved to a numeric address (getaddrinfo), once per
  /// host and load. Returns the error text, or nullopt.
  std::optional<std::string> resolve_host(const std::string& host, std::string& address);

  // ---- depends_on (dependencies.cc) ----

  void read_depends_on(const Field& f, ProgramDraft& draft);
  /// Across programs: unknown names, cycles; marks the jobs.
  void check_dependencies();
  /// An unknown user is an error at the key (user_lookup.h); each name is
  /// looked up once per load, however many programs use it.
  void check_user(const Field& f, const std::string& user);

  // ---- expansion into processes (expand_programs.cc) ----

  std::optional<LogTarget> log_target(const std::optional<Located>& value, std::string_view key,
                                      std::string_view stream, const ProgramDraft& draft,
                                      const ProcessConfig& process, const VariableLookup& lookup);
  void expand_program(ProgramDraft& draft);
  /// `${VAR}` expanded in each word of an argv (`command`, `ready.exec`);
  /// an empty first word is an error.
  std::vector<std::string> expand_words(const std::vector<Located>& words, std::string_view key,
                                        const VariableLookup& lookup);
  /// An explicit log path of a numprocs program must differ per process.
  void check_numprocs_log(const ProgramDraft& draft, const std::optional<Located>& value,
                          std::string_view key, LogTarget ProcessConfig::*member);
  /// Two streams writing (and rotating) one file interfere: warn.
  void check_shared_logs();

  const Environment& env_;
  fs::path main_file_;
  std::deque<SourceFile> files_;  // a deque: drafts point into it
  SupervisorConfig supervisor_;
  std::vector<Pos> include_where_;                // parallel to supervisor_.include
  std::map<std::string, std::string> variables_;  // env + [supervisor] environment
  std::vector<ProgramDraft> drafts_;
  std::map<std::string, std::size_t> program_index_;
  std::vector<SocketDraft> sockets_;
  std::map<std::string, std::size_t> socket_index_;
  std::vector<GroupDraft> groups_;
  std::optional<HttpConfig> http_;
  std::map<std::string, std::optional<std::string>> user_checks_;  // user -> problem
  std::map<int, RlimitCeiling> rlimit_ceilings_;  // resource -> what minisupd can grant
  /// host -> (address, problem): each host is resolved once per load.
  std::map<std::string, std::pair<std::string, std::optional<std::string>>> host_checks_;
  std::vector<std::pair<int, ConfigError>> errors_;  // with the file's index
  std::set<std::string> seen_errors_;
  std::vector<std::string> warnings_;
  std::set<std::string> seen_warnings_;
  /// supervisord_hint() of each file read that looks like supervisord's
  /// INI: LoadResult::hints when the load fails.
  std::vector<std::string> hints_;
};

}  // namespace minisup::config::detail
