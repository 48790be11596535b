// The load pipeline of load_config.h, top to bottom:
//   1. read the main file (regular files only, opened without blocking,
//      size-capped), guard it (toml_guard.h), parse it;
//   2. read [supervisor]: defaults, paths resolved against the file's
//      directory, `${VAR}` expanded from the environment, socket_uids and
//      socket_group looked up;
//   3. read the main file's [program.NAME] tables into drafts (types and
//      ranges checked, `user` looked up, unexpanded strings kept with
//      their positions);
//   4. expand `include` globs and read each included file the same way
//      (only [program.NAME] tables allowed there);
//   5. expand every draft into its processes (numprocs, `${VAR}`, AUTO log
//      names) and check cross-program facts (shared log files);
//   6. sort programs by (priority, name) and errors by file and position.
// A Loader lives for one load_config() call and collects every error.
#include "supervisor/config/load_config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <deque>
#include <limits>
#include <set>
#include <span>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "supervisor/config/expand_vars.h"
#include "supervisor/config/shell_words.h"
#include "supervisor/config/toml_guard.h"
#include "supervisor/config/user_lookup.h"
#include "supervisor/config/value_parsers.h"

extern char** environ;

namespace minisup::config {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 23> kProgramKeys{
    "command",
    "directory",
    "environment",
    "user",
    "umask",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "priority",
    "numprocs",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "redirect_stderr",
};
constexpr std::array<std::string_view, 10> kSupervisorKeys{
    "socket",  "socket_mode", "logfile",     "loglevel",    "childlogdir",
    "pidfile", "include",     "environment", "socket_uids", "socket_group",
};
constexpr std::array<std::string_view, 2> kTopLevelTables{"supervisor", "program"};

/// Largest `numprocs`: beyond this a typo (100000) would exhaust memory.
constexpr std::int64_t kMaxNumprocs = 10000;
/// Largest `*_logfile_backups`: each rotation renames every backup.
constexpr std::int64_t kMaxBackups = 1000;
/// Longest program name (it becomes part of log file names).
constexpr std::size_t kMaxProgramNameLength = 128;
/// Largest startsecs/stopwaitsecs, in seconds: one year.
constexpr double kMaxSeconds = 365.0 * 24 * 3600;
/// Longest Unix socket path: sun_path holds 108 bytes with the NUL.
constexpr std::size_t kMaxSocketPath = 107;

/// One config file being loaded.
struct SourceFile {
  fs::path shown;      ///< as given to load_config() or as found by a glob
  fs::path directory;  ///< absolute: relative paths in the file resolve here
  int index = 0;       ///< 0 = the main file, then include order
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
};

/// A value to validate: the key as shown in messages, the node, and where
/// the value was written (errors point at the value).
struct Field {
  std::string key;
  const toml::node& node;
  Pos where;
};

Pos location(const SourceFile& file, const toml::source_region& region) {
  return Pos{&file, static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

SourceLocation to_location(const Pos& pos) {
  return SourceLocation{pos.file->shown.string(), pos.line, pos.column};
}

std::string truncate(std::string_view text, std::size_t limit = 60) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

/// `"text"` with TOML-style escapes, truncated when long.
std::string quote(std::string_view text) {
  std::string out = "\"";
  const bool long_text = text.size() > 60;
  for (char c : text.substr(0, 60)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += long_text ? "...\"" : "\"";
  return out;
}

/// A TOML value as shown after "got" in messages: `"ten"`, `2.5`, `true`,
/// `an array`.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer: {
      const auto* integer = node.as_integer();
      if ((integer->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none) {
        return fmt::format("0o{:o}", integer->get());
      }
      return std::to_string(integer->get());
    }
    case toml::node_type::floating_point: {
      // As TOML writes it: 2.0 stays a float in the message, not "2".
      std::string text = fmt::format("{}", node.as_floating_point()->get());
      if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
      return text;
    }
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      return "nothing";
  }
  return "a value";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_valid_program_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

/// `dir/text` for a relative `text`, normalized; `text` itself when absolute.
fs::path resolve_path(const fs::path& dir, const std::string& text) {
  fs::path path(text);
  if (path.is_relative()) path = dir / path;
  return path.lexically_normal();
}

/// Escapes glob(3) metacharacters so that a directory name is matched
/// literally when a pattern is appended to it.
std::string escape_glob(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

/// What a file is, for "not a regular file (a FIFO)".
std::string_view file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

/// Reads a whole regular file, refusing more than kMaxConfigBytes. Returns
/// the text, or an error message in `error` (and `not_regular` set when
/// the path is a FIFO, a directory, a device...).
///
/// The open never blocks: O_NONBLOCK makes opening a FIFO return at once
/// (a blocking open would wait for a writer, and a reload with it, forever),
/// and fstat on the open descriptor (no stat-then-open race) refuses it.
/// For a regular file O_NONBLOCK changes nothing.
std::string read_file_capped(const fs::path& path, std::string& error, bool& not_regular) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    error = "cannot open: " + std::system_category().message(errno);
    return {};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = "cannot stat: " + std::system_category().message(errno);
    ::close(fd);
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    error = fmt::format("not a regular file ({})", file_kind(st.st_mode));
    not_regular = true;
    ::close(fd);
    return {};
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes) {
    error = fmt::format("file is larger than {} bytes (4 MiB), refused", kMaxConfigBytes);
    ::close(fd);
    return {};
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot read: " + std::system_category().message(errno);
      break;
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxConfigBytes) {
      error = fmt::format("file is larger than {} bytes (4 MiB), refused", kMaxConfigBytes);
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return error.empty() ? text : std::string{};
}

/// Largest uid/gid: (uid_t)-1 means "no change" to chown and is no one's.
constexpr std::int64_t kMaxId = std::numeric_limits<std::uint32_t>::max() - 1;

/// Buffer size for the *_r lookups of pwd.h/grp.h; grown on ERANGE.
std::size_t lookup_buffer_size() {
  const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  return suggested > 0 ? static_cast<std::size_t>(suggested) : 16384;
}

/// glibc's documented ways of saying "no such entry".
bool not_found(int err) {
  return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

/// A user name (or, when no user has that name, a number) to a uid;
/// nullopt with `problem` ("does not exist", "cannot be looked up: ...").
std::optional<uid_t> lookup_uid(const std::string& name, std::string& problem) {
  std::vector<char> buffer(lookup_buffer_size());
  struct passwd entry;
  struct passwd* found = nullptr;
  int err = 0;
  while ((err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) return found->pw_uid;
  if (!not_found(err)) {
    problem = "cannot be looked up: " + std::system_category().message(err);
    return std::nullopt;
  }
  std::uint32_t number = 0;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc() && ptr == name.data() + name.size() && number <= kMaxId) return number;
  problem = "does not exist";
  return std::nullopt;
}

/// A group name (or number) to a gid, with the names its entry lists as
/// members; nullopt with `problem` as lookup_uid.
std::optional<gid_t> lookup_gid(const std::string& name, std::vector<std::string>& members,
                                std::string& problem) {
  std::vector<char> buffer(lookup_buffer_size());
  struct group entry;
  struct group* found = nullptr;
  int err = 0;
  while ((err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) {
    for (char** member = found->gr_mem; member != nullptr && *member != nullptr; ++member)
      members.emplace_back(*member);
    return found->gr_gid;
  }
  if (!not_found(err)) {
    problem = "cannot be looked up: " + std::system_category().message(err);
    return std::nullopt;
  }
  std::uint32_t number = 0;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc() && ptr == name.data() + name.size() && number <= kMaxId) return number;
  problem = "does not exist";
  return std::nullopt;
}

/// The uids of group `gid`'s users: `member_names` (its entry's list; for
/// a gid given as a number, looked up here) that name a user, plus every
/// user whose primary group it is. Sorted, unique.
std::vector<uid_t> group_members(gid_t gid, const std::vector<std::string>* member_names) {
  std::vector<std::string> names;
  if (member_names != nullptr) {
    names = *member_names;
  } else {
    std::vector<char> buffer(lookup_buffer_size());
    struct group entry;
    struct group* found = nullptr;
    while (::getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
           buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
    }
    for (char** member = found ? found->gr_mem : nullptr; member != nullptr && *member != nullptr;
         ++member)
      names.emplace_back(*member);
  }
  std::vector<uid_t> uids;
  for (const std::string& name : names) {
    std::string problem;
    if (auto uid = lookup_uid(name, problem)) uids.push_back(*uid);  // a stale member: skipped
  }
  // Users whose primary group it is (their processes usually run with that
  // gid, which the server checks anyway; this covers `newgrp` and the like).
  std::vector<char> buffer(lookup_buffer_size());
  struct passwd entry;
  struct passwd* found = nullptr;
  ::setpwent();
  for (;;) {
    const int err = ::getpwent_r(&entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (err != 0 || found == nullptr) break;
    if (found->pw_gid == gid) uids.push_back(found->pw_uid);
  }
  ::endpwent();
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  return uids;
}

class Loader {
 public:
  explicit Loader(const Environment& env) : env_(env) {}

  LoadResult load(const fs::path& file) {
    std::error_code ec;
    const fs::path absolute_file = fs::absolute(file, ec).lexically_normal();
    main_file_ = absolute_file;
    const SourceFile& main = add_file(file, absolute_file);
    if (ec) {
      error({&main, 0, 0}, "cannot resolve the path: " + ec.message());
      return finish();
    }
    std::optional<toml::table> root = read_and_parse(main);
    if (!root) return finish();

    read_supervisor(*root, main);
    read_top_level(*root, main, /*is_main=*/true);
    read_includes(main);
    for (ProgramDraft& draft : drafts_) expand_program(draft);
    check_shared_logs();
    if (drafts_.empty()) warn({&main, 0, 0}, "no programs defined");
    return finish();
  }

 private:
  // ---- diagnostics ----

  void error(const Pos& where, std::string message) {
    std::string identity =
        fmt::format("{}:{}:{}:{}", where.file->index, where.line, where.column, message);
    if (!seen_errors_.insert(std::move(identity)).second) return;  // e.g. once per numprocs process
    errors_.emplace_back(where.file->index, ConfigError{to_location(where), std::move(message)});
  }

  /// Warnings have the errors' form: `file:line:col: message`.
  void warn(const Pos& where, std::string message) {
    std::string text = ConfigError{to_location(where), std::move(message)}.to_string();
    if (seen_warnings_.insert(text).second) warnings_.push_back(std::move(text));
  }

  LoadResult finish() {
    // File order: the main file, then the includes in order; inside a file,
    // by position.
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first, a.second.where.line, a.second.where.column) <
             std::tie(b.first, b.second.where.line, b.second.where.column);
    });
    LoadResult result;
    for (auto& [index, e] : errors_) result.errors.push_back(std::move(e));
    result.warnings = warnings_;
    if (result.errors.empty()) result.config = build_config();
    return result;
  }

  // ---- files ----

  const SourceFile& add_file(const fs::path& shown, const fs::path& absolute_file) {
    files_.push_back(
        SourceFile{shown, absolute_file.parent_path(), static_cast<int>(files_.size())});
    return files_.back();
  }

  /// `include_pattern`: the glob that found an included file (named in
  /// the error when that file is a FIFO, a directory...).
  std::optional<toml::table> read_and_parse(const SourceFile& file,
                                            std::string_view include_pattern = {}) {
    std::string read_error;
    bool not_regular = false;
    const std::string text = read_file_capped(file.shown, read_error, not_regular);
    if (!read_error.empty()) {
      if (not_regular && !include_pattern.empty()) {
        read_error = fmt::format("matched by include {}, but {}", quote(include_pattern),
                                 read_error);
      }
      error({&file, 0, 0}, read_error);
      return std::nullopt;
    }
    if (auto problem = check_toml_limits(text)) {
      error({&file, problem->line, problem->column}, problem->message);
      return std::nullopt;
    }
    try {
      return toml::parse(std::string_view(text), std::string_view(file.shown.native()));
    } catch (const toml::parse_error& e) {
      error(location(file, e.source()), std::string(e.description()));
      return std::nullopt;
    }
  }

  // ---- value checks: each returns nullopt after reporting an error ----

  std::optional<bool> as_bool(const Field& f) {
    if (const auto* b = f.node.as_boolean()) return b->get();
    error(f.where, fmt::format("{} must be true or false, got {}", f.key, describe(f.node)));
    return std::nullopt;
  }

  std::optional<std::int64_t> as_int(const Field& f, std::int64_t min, std::int64_t max) {
    const auto* integer = f.node.as_integer();
    if (integer == nullptr) {
      error(f.where, fmt::format("{} must be an integer, got {}", f.key, describe(f.node)));
      return std::nullopt;
    }
    const std::int64_t value = integer->get();
    if (value < min || value > max) {
      if (value < min && max == std::numeric_limits<int>::max()) {
        error(f.where, fmt::format("{} must be at least {}, got {}", f.key, min, value));
      } else {
        error(f.where, fmt::format("{} must be between {} and {}, got {}", f.key, min, max, value));
      }
      return std::nullopt;
    }
    return value;
  }

  std::optional<Duration> as_seconds(const Field& f) {
    double seconds = -1;
    if (const auto* integer = f.node.as_integer()) {
      seconds = static_cast<double>(integer->get());
    } else if (const auto* floating = f.node.as_floating_point()) {
      seconds = floating->get();
    }
    if (!(seconds >= 0)) {  // also NaN, and every non-number
      error(f.where,
            fmt::format("{} must be a non-negative number, got {}", f.key, describe(f.node)));
      return std::nullopt;
    }
    if (seconds > kMaxSeconds) {
      error(f.where, fmt::format("{} must be at most {} seconds (one year), got {}", f.key,
                                 static_cast<std::int64_t>(kMaxSeconds), describe(f.node)));
      return std::nullopt;
    }
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }

  std::optional<std::string> as_string(const Field& f, bool allow_empty = false) {
    const auto* string = f.node.as_string();
    if (string == nullptr) {
      error(f.where, fmt::format("{} must be a string, got {}", f.key, describe(f.node)));
      return std::nullopt;
    }
    const std::string& value = string->get();
    if (!allow_empty && value.empty()) {
      error(f.where, fmt::format("{} must not be empty", f.key));
      return std::nullopt;
    }
    if (value.find('\0') != std::string::npos) {
      error(f.where, fmt::format("{} must not contain a NUL character", f.key));
      return std::nullopt;
    }
    return value;
  }

  /// A log file value: a path, "AUTO", "NONE" or "console".
  std::optional<std::string> as_logfile(const Field& f) {
    if (!f.node.is_string()) {
      error(f.where, fmt::format("{} must be a path, \"AUTO\", \"NONE\" or \"console\", got {}",
                                 f.key, describe(f.node)));
      return std::nullopt;
    }
    if (f.node.as_string()->get().empty()) {
      error(f.where,
            fmt::format("{} must not be empty (write \"NONE\" to discard the output)", f.key));
      return std::nullopt;
    }
    return as_string(f);
  }

  std::optional<mode_t> as_mode(const Field& f, std::string_view example) {
    if (const auto* integer = f.node.as_integer()) {
      // TOML's own octal literal (0o022) is accepted; 22 is not, since
      // its decimal reading would be a different mode.
      const bool is_octal =
          (integer->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none;
      if (is_octal && integer->get() >= 0 && integer->get() <= 0777)
        return static_cast<mode_t>(integer->get());
    } else if (const auto* string = f.node.as_string()) {
      if (auto mode = parse_octal_mode(string->get())) return mode;
    }
    error(f.where, fmt::format("{} must be an octal string like \"{}\" (at most \"0777\"), got {}",
                               f.key, example, describe(f.node)));
    return std::nullopt;
  }

  std::optional<std::uint64_t> as_size(const Field& f) {
    if (const auto* integer = f.node.as_integer(); integer != nullptr && integer->get() >= 0) {
      return static_cast<std::uint64_t>(integer->get());
    }
    if (const auto* string = f.node.as_string()) {
      if (auto size = parse_size(string->get())) return size;
    }
    error(f.where, fmt::format("{} must be a size in bytes: an integer or a string like \"50MB\" "
                               "(units B, KB, MB, GB), got {}",
                               f.key, describe(f.node)));
    return std::nullopt;
  }

  /// An environment table: keys are names without `=`, values strings.
  std::vector<std::pair<std::string, Located>> as_environment(const Field& f,
                                                              const SourceFile& file) {
    std::vector<std::pair<std::string, Located>> entries;
    const auto* table = f.node.as_table();
    if (table == nullptr) {
      error(f.where, fmt::format("{} must be a table of strings like {{ TZ = \"UTC\" }}, got {}",
                                 f.key, describe(f.node)));
      return entries;
    }
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      const std::string shown_key = f.key + "." + truncate(name);
      if (name.empty() || name.find('=') != std::string::npos ||
          name.find('\0') != std::string::npos) {
        error(location(file, key.source()),
              fmt::format(
                  "{} key {} is not a valid variable name (it must be non-empty, without \"=\")",
                  f.key, quote(name)));
        continue;
      }
      if (const auto* string = value.as_string()) {
        if (string->get().find('\0') != std::string::npos) {
          error(location(file, value.source()),
                fmt::format("{} must not contain a NUL character", shown_key));
          continue;
        }
        if (name == "MINISUP_PROGRAM" || name == "MINISUP_PROCESS_NAME" ||
            name == "MINISUP_PROCESS_NUM") {
          error(location(file, value.source()),
                fmt::format("{} is set by minisup itself and cannot be changed", shown_key));
          continue;
        }
        entries.emplace_back(name, Located{string->get(), location(file, value.source())});
      } else if (value.is_integer() || value.is_floating_point() || value.is_boolean()) {
        error(location(file, value.source()),
              fmt::format("{} must be a string, got {} (quote it: \"{}\")", shown_key,
                          describe(value), describe(value)));
      } else {
        error(location(file, value.source()),
              fmt::format("{} must be a string, got {}", shown_key, describe(value)));
      }
    }
    return entries;
  }

  void unknown_key(const toml::key& key, const SourceFile& file, std::string_view table,
                   std::span<const std::string_view> known) {
    std::string message = fmt::format("unknown key `{}` in {}", truncate(key.str()), table);
    if (auto suggestion = closest_match(key.str(), known))
      message += fmt::format("; did you mean `{}`?", *suggestion);
    error(location(file, key.source()), std::move(message));
  }

  /// Expands `${VAR}` in a value, reporting `KEY uses ${X}, which is not set`.
  std::optional<std::string> expand(const Located& value, std::string_view key,
                                    const VariableLookup& lookup) {
    Expansion expansion = expand_variables(value.text, lookup);
    if (!expansion.error.empty()) {
      error(value.where, fmt::format("{} {}", key, expansion.error));
      return std::nullopt;
    }
    return std::move(expansion.text);
  }

  /// A path value: a non-empty string, `${VAR}` expanded, made absolute
  /// against the directory of `file`.
  std::optional<fs::path> as_path(const Field& f, const SourceFile& file,
                                  const VariableLookup& lookup) {
    auto text = as_string(f);
    if (!text) return std::nullopt;
    auto expanded = expand({*text, f.where}, f.key, lookup);
    if (!expanded) return std::nullopt;
    if (expanded->empty()) {
      error(f.where, fmt::format("{} is empty after expansion", f.key));
      return std::nullopt;
    }
    return resolve_path(file.directory, *expanded);
  }

  // ---- [supervisor] ----

  void read_supervisor(const toml::table& root, const SourceFile& file) {
    SupervisorConfig& sup = supervisor_;
    sup.socket = file.directory / "minisup.sock";
    sup.childlogdir = file.directory / "logs";
    Pos socket_where{&file, 1, 1};

    const toml::node* node = root.get("supervisor");
    const toml::table* table = node ? node->as_table() : nullptr;
    if (node != nullptr && table == nullptr) {
      error(location(file, node->source()),
            fmt::format("supervisor must be a table ([supervisor]), got {}", describe(*node)));
    }
    if (table != nullptr) socket_where = location(file, table->source());

    // The environment first: the other values may use its variables.
    if (table != nullptr) {
      if (const toml::node* env_node = table->get("environment")) {
        const VariableLookup from_env = [this](std::string_view name) -> const std::string* {
          auto it = env_.find(std::string(name));
          return it == env_.end() ? nullptr : &it->second;
        };
        for (auto& [name, value] :
             as_environment({"environment", *env_node, location(file, env_node->source())}, file)) {
          if (auto expanded = expand(value, "environment." + truncate(name), from_env)) {
            sup.environment[name] = std::move(*expanded);
          }
        }
      }
    }
    variables_ = env_;
    for (const auto& [name, value] : sup.environment) variables_[name] = value;
    const VariableLookup lookup = [this](std::string_view name) -> const std::string* {
      auto it = variables_.find(std::string(name));
      return it == variables_.end() ? nullptr : &it->second;
    };

    if (table != nullptr) {
      for (auto&& [key, value] : *table) {
        const std::string name(key.str());
        const Field f{name, value, location(file, value.source())};
        if (name == "environment") {
          continue;
        } else if (name == "socket") {
          if (auto path = as_path(f, file, lookup)) {
            sup.socket = *path;
            socket_where = f.where;
          }
        } else if (name == "socket_mode") {
          if (auto mode = as_mode(f, "0700")) sup.socket_mode = *mode;
        } else if (name == "logfile") {
          if (auto text = as_string(f)) {
            if (*text == "-") {
              sup.logfile = "-";
            } else if (auto path = as_path(f, file, lookup)) {
              sup.logfile = path->string();
            }
          }
        } else if (name == "loglevel") {
          read_loglevel(f);
        } else if (name == "childlogdir") {
          if (auto path = as_path(f, file, lookup)) sup.childlogdir = *path;
        } else if (name == "pidfile") {
          if (auto text = as_string(f, /*allow_empty=*/true); text && !text->empty()) {
            sup.pidfile = as_path(f, file, lookup);
          }
        } else if (name == "include") {
          read_include_list(f, file);
        } else if (name == "socket_uids") {
          read_socket_uids(f, file);
        } else if (name == "socket_group") {
          read_socket_group(f);
        } else {
          unknown_key(key, file, "[supervisor]", kSupervisorKeys);
        }
      }
    }

    const std::string socket = sup.socket.string();
    if (socket.size() > kMaxSocketPath) {
      error(socket_where,
            fmt::format(
                "socket path is {} bytes long, more than the {} a Unix socket allows: {}; set "
                "[supervisor] socket to a shorter path",
                socket.size(), kMaxSocketPath, truncate(socket, 200)));
    }
  }

  // `socket_uids` / `socket_group`: names are resolved here, once, so that
  // the control socket compares numbers only (an NSS lookup per connection
  // could block the loop). A number is taken as it is; a name must exist.

  void read_socket_uids(const Field& f, const SourceFile& file) {
    const auto* array = f.node.as_array();
    if (array == nullptr) {
      error(f.where, fmt::format("socket_uids must be an array of user names or uids, got {}",
                                 describe(f.node)));
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const Field e{fmt::format("socket_uids[{}]", i), element, location(file, element.source())};
      if (element.is_integer()) {
        if (auto n = as_int(e, 0, kMaxId))
          supervisor_.socket_uids.push_back(static_cast<uid_t>(*n));
        continue;
      }
      const auto* name = element.as_string();
      if (name == nullptr || name->get().empty()) {
        error(e.where,
              fmt::format("{} must be a user name or a uid, got {}", e.key, describe(element)));
        continue;
      }
      std::string problem;
      if (auto uid = lookup_uid(name->get(), problem)) {
        supervisor_.socket_uids.push_back(*uid);
      } else {
        error(e.where, fmt::format("{}: user {} {}", e.key, quote(name->get()), problem));
      }
    }
  }

  void read_socket_group(const Field& f) {
    if (f.node.is_integer()) {
      if (auto n = as_int(f, 0, kMaxId)) {
        supervisor_.socket_group = static_cast<gid_t>(*n);
        supervisor_.socket_group_members = group_members(*supervisor_.socket_group, nullptr);
      }
      return;
    }
    const auto* name = f.node.as_string();
    if (name == nullptr || name->get().empty()) {
      error(f.where,
            fmt::format("socket_group must be a group name or a gid, got {}", describe(f.node)));
      return;
    }
    std::string problem;
    std::vector<std::string> member_names;
    if (auto gid = lookup_gid(name->get(), member_names, problem)) {
      supervisor_.socket_group = *gid;
      supervisor_.socket_group_members = group_members(*gid, &member_names);
    } else {
      error(f.where, fmt::format("socket_group: group {} {}", quote(name->get()), problem));
    }
  }

  void read_loglevel(const Field& f) {
    static constexpr std::array<std::pair<std::string_view, LogLevel>, 6> kLevels{{
        {"trace", LogLevel::Trace},
        {"debug", LogLevel::Debug},
        {"info", LogLevel::Info},
        {"warn", LogLevel::Warn},
        {"warning", LogLevel::Warn},
        {"error", LogLevel::Error},
    }};
    if (const auto* string = f.node.as_string()) {
      for (const auto& [name, level] : kLevels) {
        if (iequals(string->get(), name)) {
          supervisor_.loglevel = level;
          return;
        }
      }
    }
    error(f.where,
          fmt::format(
              "loglevel must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", got {}",
              describe(f.node)));
  }

  void read_include_list(const Field& f, const SourceFile& file) {
    auto add = [&](const toml::node& element, const std::string& key) {
      if (auto pattern = as_string({key, element, location(file, element.source())})) {
        supervisor_.include.push_back(*pattern);
        include_where_.push_back(location(file, element.source()));
      }
    };
    if (f.node.is_string()) {
      add(f.node, "include");
    } else if (const auto* array = f.node.as_array()) {
      for (std::size_t i = 0; i < array->size(); ++i)
        add(*array->get(i), fmt::format("include[{}]", i));
    } else {
      error(
          f.where,
          fmt::format("include must be an array of glob patterns like [\"conf.d/*.toml\"], got {}",
                      describe(f.node)));
    }
  }

  // ---- top level and [program.NAME] ----

  void read_top_level(const toml::table& root, const SourceFile& file, bool is_main) {
    for (auto&& [key, value] : root) {
      const std::string name(key.str());
      if (name == "program") {
        read_programs(value, key, file);
      } else if (name == "supervisor") {
        if (!is_main) {
          error(
              location(file, key.source()),
              fmt::format(
                  "[supervisor] is only allowed in the main config file {}; an included file holds "
                  "[program.NAME] tables only",
                  files_.front().shown.string()));
        }
      } else if (value.is_table()) {
        std::string message = fmt::format("unknown table [{}]", truncate(name));
        if (auto suggestion = closest_match(name, kTopLevelTables)) {
          message += fmt::format("; did you mean [{}]?", *suggestion);
        } else {
          message += is_main ? "; a config holds [supervisor] and [program.NAME] tables"
                             : "; an included file holds [program.NAME] tables only";
        }
        error(location(file, key.source()), std::move(message));
      } else {
        error(location(file, key.source()),
              fmt::format("unknown key `{}` at the top level; {}", truncate(name),
                          is_main ? "a config holds [supervisor] and [program.NAME] tables"
                                  : "an included file holds [program.NAME] tables only"));
      }
    }
  }

  void read_programs(const toml::node& node, const toml::key& key, const SourceFile& file) {
    const auto* programs = node.as_table();
    if (programs == nullptr) {
      error(location(file, key.source()),
            fmt::format("program must hold [program.NAME] tables, got {}", describe(node)));
      return;
    }
    // toml++ keeps keys sorted; visit the programs in file order so that
    // "defined twice" points at the later one.
    std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
    for (auto&& [name, value] : *programs) ordered.emplace_back(&name, &value);
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.second->source().begin;
      const auto& pb = b.second->source().begin;
      return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
    });
    for (const auto& [name, value] : ordered) read_program(*name, *value, file);
  }

  void read_program(const toml::key& key, const toml::node& node, const SourceFile& file) {
    const std::string name(key.str());
    const Pos header = location(file, node.source());
    const auto* table = node.as_table();
    if (table == nullptr) {
      std::string hint =
          node.is_array_of_tables() ? " (write [program.NAME], not [[program.NAME]])" : "";
      error(location(file, key.source()), fmt::format("program.{} must be a table, got {}{}",
                                                      truncate(name), describe(node), hint));
      return;
    }
    bool name_ok = true;
    if (!is_valid_program_name(name)) {
      error(location(file, key.source()),
            fmt::format("program name {} may only contain letters, digits, \"_\", \".\" and \"-\"",
                        quote(name)));
      name_ok = false;
    } else if (name.size() > kMaxProgramNameLength) {
      error(location(file, key.source()),
            fmt::format("program name {} is longer than {} characters", quote(name),
                        kMaxProgramNameLength));
      name_ok = false;
    }

    ProgramDraft draft;
    draft.file = &file;
    ProgramConfig& p = draft.program;
    p.name = name;
    p.where = to_location(header);
    draft.header = header;
    const std::string table_name = "[program." + truncate(name) + "]";

    for (auto&& [k, value] : *table) {
      const std::string key_name(k.str());
      const Field f{key_name, value, location(file, value.source())};
      if (key_name == "command") {
        read_command(f, draft);
      } else if (key_name == "directory") {
        if (auto text = as_string(f)) draft.directory = Located{*text, f.where};
      } else if (key_name == "environment") {
        draft.environment = as_environment(f, file);
      } else if (key_name == "user") {
        if (auto text = as_string(f)) {
          check_user(f, *text);
          p.user = *text;
        }
      } else if (key_name == "umask") {
        if (auto mode = as_mode(f, "022")) p.umask = *mode;
      } else if (key_name == "autostart") {
        if (auto b = as_bool(f)) p.autostart = *b;
      } else if (key_name == "autorestart") {
        read_autorestart(f, p);
      } else if (key_name == "exitcodes") {
        read_exitcodes(f, p, file);
      } else if (key_name == "startsecs") {
        if (auto d = as_seconds(f)) p.startsecs = *d;
      } else if (key_name == "startretries") {
        if (auto n = as_int(f, 0, std::numeric_limits<int>::max()))
          p.startretries = static_cast<int>(*n);
      } else if (key_name == "stopsignal") {
        read_stopsignal(f, p);
      } else if (key_name == "stopwaitsecs") {
        if (auto d = as_seconds(f)) p.stopwaitsecs = *d;
      } else if (key_name == "stopasgroup") {
        if (auto b = as_bool(f)) p.stopasgroup = *b;
      } else if (key_name == "killasgroup") {
        if (auto b = as_bool(f)) p.killasgroup = *b;
      } else if (key_name == "priority") {
        if (auto n = as_int(f, std::numeric_limits<int>::min(), std::numeric_limits<int>::max())) {
          p.priority = static_cast<int>(*n);
        }
      } else if (key_name == "numprocs") {
        if (auto n = as_int(f, 1, kMaxNumprocs)) p.numprocs = static_cast<int>(*n);
      } else if (key_name == "stdout_logfile" || key_name == "stderr_logfile") {
        if (auto text = as_logfile(f)) {
          (key_name == "stdout_logfile" ? draft.stdout_logfile : draft.stderr_logfile) =
              Located{*text, f.where};
        }
      } else if (key_name == "stdout_logfile_maxbytes") {
        if (auto size = as_size(f)) p.stdout_logfile_settings.maxbytes = *size;
      } else if (key_name == "stderr_logfile_maxbytes") {
        if (auto size = as_size(f)) p.stderr_logfile_settings.maxbytes = *size;
      } else if (key_name == "stdout_logfile_backups") {
        if (auto n = as_int(f, 0, kMaxBackups))
          p.stdout_logfile_settings.backups = static_cast<int>(*n);
      } else if (key_name == "stderr_logfile_backups") {
        if (auto n = as_int(f, 0, kMaxBackups))
          p.stderr_logfile_settings.backups = static_cast<int>(*n);
      } else if (key_name == "redirect_stderr") {
        if (auto b = as_bool(f)) p.redirect_stderr = *b;
      } else {
        unknown_key(k, file, table_name, kProgramKeys);
      }
    }
    // stopasgroup implies killasgroup (supervisord): a group that got the
    // stop signal must also get the SIGKILL, or its members outlive it.
    if (p.stopasgroup) p.killasgroup = true;

    if (!table->contains("command")) {
      error(header, fmt::format("{} has no command; command is required", table_name));
    }
    if (!name_ok) return;

    if (auto it = program_index_.find(name); it != program_index_.end()) {
      const SourceLocation& first = drafts_[it->second].program.where;
      error(header, fmt::format("program {} is defined twice: at {}:{}:{} and at {}:{}:{}",
                                quote(name), first.file, first.line, first.column,
                                file.shown.string(), header.line, header.column));
      return;
    }
    program_index_.emplace(name, drafts_.size());
    drafts_.push_back(std::move(draft));
  }

  void read_command(const Field& f, ProgramDraft& draft) {
    if (const auto* string = f.node.as_string()) {
      const std::string& text = string->get();
      if (text.find('\0') != std::string::npos) {
        error(f.where, "command must not contain a NUL character");
        return;
      }
      ShellWords split = split_shell_words(text);
      if (!split.error.empty()) {
        error(f.where, fmt::format("command {}: {}", split.error, quote(text)));
        return;
      }
      if (split.words.empty()) {
        error(f.where, "command must not be empty");
        return;
      }
      for (auto& word : split.words) draft.command.push_back(Located{std::move(word), f.where});
      return;
    }
    if (const auto* array = f.node.as_array()) {
      if (array->empty()) {
        error(f.where, "command must not be empty");
        return;
      }
      std::vector<Located> words;
      bool ok = true;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        auto word = as_string(
            {fmt::format("command[{}]", i), element, location(*draft.file, element.source())},
            /*allow_empty=*/i > 0);
        if (!word) {
          ok = false;
          continue;
        }
        words.push_back(Located{std::move(*word), location(*draft.file, element.source())});
      }
      if (ok) draft.command = std::move(words);
      return;
    }
    error(f.where,
          fmt::format("command must be a string or an array of strings, got {}", describe(f.node)));
  }

  void read_autorestart(const Field& f, ProgramConfig& p) {
    if (const auto* b = f.node.as_boolean()) {
      p.autorestart = b->get() ? AutoRestart::Always : AutoRestart::Never;
      return;
    }
    if (const auto* s = f.node.as_string(); s != nullptr && iequals(s->get(), "unexpected")) {
      p.autorestart = AutoRestart::Unexpected;
      return;
    }
    error(f.where, fmt::format("autorestart must be true, false or \"unexpected\", got {}",
                               describe(f.node)));
  }

  void read_exitcodes(const Field& f, ProgramConfig& p, const SourceFile& file) {
    std::vector<int> codes;
    bool ok = true;
    auto add = [&](const toml::node& element, const std::string& key) {
      const auto* integer = element.as_integer();
      if (integer == nullptr || integer->get() < 0 || integer->get() > 255) {
        error(
            location(file, element.source()),
            fmt::format("{} must be an integer between 0 and 255, got {}", key, describe(element)));
        ok = false;
        return;
      }
      codes.push_back(static_cast<int>(integer->get()));
    };
    if (f.node.is_integer()) {
      add(f.node, "exitcodes");
    } else if (const auto* array = f.node.as_array()) {
      for (std::size_t i = 0; i < array->size(); ++i)
        add(*array->get(i), fmt::format("exitcodes[{}]", i));
    } else {
      error(f.where, fmt::format("exitcodes must be an array of integers between 0 and 255, got {}",
                                 describe(f.node)));
      return;
    }
    if (!ok) return;
    std::sort(codes.begin(), codes.end());
    codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
    p.exitcodes = std::move(codes);
  }

  void read_stopsignal(const Field& f, ProgramConfig& p) {
    if (const auto* integer = f.node.as_integer()) {
      if (auto signo = parse_signal(std::to_string(integer->get())); signo && integer->get() > 0) {
        p.stopsignal = *signo;
        return;
      }
      error(f.where, fmt::format("stopsignal must be a signal number between 1 and 64, got {}",
                                 integer->get()));
      return;
    }
    if (const auto* string = f.node.as_string()) {
      if (auto signo = parse_signal(string->get())) {
        p.stopsignal = *signo;
        return;
      }
      error(
          f.where,
          fmt::format("stopsignal names an unknown signal {}; expected one of {} (with or without "
                      "SIG), or a number",
                      quote(string->get()), known_signal_names()));
      return;
    }
    error(f.where, fmt::format("stopsignal must be a signal name like \"TERM\" or a number, got {}",
                               describe(f.node)));
  }

  /// An unknown user is an error at the key (user_lookup.h); each name is
  /// looked up once per load, however many programs use it.
  void check_user(const Field& f, const std::string& user) {
    auto [it, inserted] = user_checks_.try_emplace(user);
    if (inserted) it->second = check_user_exists(user);
    if (it->second) error(f.where, fmt::format("user {} {}", quote(user), *it->second));
  }

  // ---- includes ----

  void read_includes(const SourceFile& main) {
    std::set<fs::path> seen{main_file_};
    // Copy: reading a file appends to files_, but never to the patterns.
    const std::vector<std::string> patterns = supervisor_.include;
    const fs::path base = main.shown.parent_path();
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      const std::string& pattern = patterns[i];
      const std::string full = fs::path(pattern).is_absolute() || base.empty()
                                   ? pattern
                                   : (fs::path(escape_glob(base.string())) / pattern).string();
      glob_t matches{};
      const int rc = ::glob(full.c_str(), 0, nullptr, &matches);
      std::vector<std::string> paths;
      if (rc == 0) {
        for (std::size_t j = 0; j < matches.gl_pathc; ++j) paths.emplace_back(matches.gl_pathv[j]);
      }
      ::globfree(&matches);
      if (rc == GLOB_NOMATCH) {
        warn(include_where_[i], fmt::format("include pattern {} matches no file", quote(pattern)));
        continue;
      }
      if (rc != 0) {
        error(include_where_[i], fmt::format("include pattern {}: {}", quote(pattern),
                                             rc == GLOB_NOSPACE ? "out of memory" : "read error"));
        continue;
      }
      std::sort(paths.begin(), paths.end());
      for (const std::string& path : paths) {
        std::error_code ec;
        const fs::path absolute_file = fs::absolute(path, ec).lexically_normal();
        if (!seen.insert(absolute_file).second) continue;  // the main file, or matched twice
        const SourceFile& file = add_file(path, absolute_file);
        if (auto root = read_and_parse(file, pattern)) {
          read_top_level(*root, file, /*is_main=*/false);
        }
      }
    }
  }

  // ---- expansion into processes ----

  std::optional<LogTarget> log_target(const std::optional<Located>& value, std::string_view key,
                                      std::string_view stream, const ProgramDraft& draft,
                                      const ProcessConfig& process, const VariableLookup& lookup) {
    const std::string text = value ? value->text : "AUTO";
    if (iequals(text, "AUTO")) {
      const std::string base = draft.program.numprocs == 1
                                   ? draft.program.name
                                   : fmt::format("{}_{}", draft.program.name, process.process_num);
      return LogTarget{LogTarget::Kind::File,
                       supervisor_.childlogdir / fmt::format("{}-{}.log", base, stream)};
    }
    if (iequals(text, "NONE")) return LogTarget{LogTarget::Kind::None, {}};
    if (iequals(text, "console")) return LogTarget{LogTarget::Kind::Console, {}};
    auto expanded = expand(*value, key, lookup);
    if (!expanded) return std::nullopt;
    if (expanded->empty()) {
      error(value->where, fmt::format("{} is empty after expansion", key));
      return std::nullopt;
    }
    return LogTarget{LogTarget::Kind::File,
                     resolve_path(draft.file->directory, *expanded).string()};
  }

  void expand_program(ProgramDraft& draft) {
    ProgramConfig& p = draft.program;
    std::map<std::string, std::string> overlay;
    const VariableLookup lookup = layered_lookup(overlay, variables_);
    for (int n = 0; n < p.numprocs; ++n) {
      ProcessConfig process;
      process.process_num = n;
      process.name = p.numprocs == 1 ? p.name : fmt::format("{}:{}", p.name, n);
      overlay["MINISUP_PROGRAM"] = p.name;
      overlay["MINISUP_PROCESS_NAME"] = process.name;
      overlay["MINISUP_PROCESS_NUM"] = std::to_string(n);

      for (std::size_t i = 0; i < draft.command.size(); ++i) {
        auto word = expand(draft.command[i], "command", lookup);
        if (!word) continue;
        if (i == 0 && word->empty()) {
          error(draft.command[i].where, "command: the program to run is empty after expansion");
        }
        process.command.push_back(std::move(*word));
      }
      if (draft.directory) {
        if (auto dir = expand(*draft.directory, "directory", lookup)) {
          if (dir->empty()) {
            error(draft.directory->where, "directory is empty after expansion");
          } else {
            process.directory = resolve_path(draft.file->directory, *dir).string();
          }
        }
      }
      for (const auto& [name, value] : draft.environment) {
        if (auto expanded = expand(value, "environment." + truncate(name), lookup)) {
          process.environment[name] = std::move(*expanded);
        }
      }
      if (auto target = log_target(draft.stdout_logfile, "stdout_logfile", "stdout", draft, process,
                                   lookup)) {
        process.stdout_logfile = *target;
      }
      if (auto target = log_target(draft.stderr_logfile, "stderr_logfile", "stderr", draft, process,
                                   lookup)) {
        process.stderr_logfile = *target;
      }
      p.processes.push_back(std::move(process));
    }
    if (p.numprocs > 1) {
      check_numprocs_log(draft, draft.stdout_logfile, "stdout_logfile",
                         &ProcessConfig::stdout_logfile);
      if (!p.redirect_stderr) {
        check_numprocs_log(draft, draft.stderr_logfile, "stderr_logfile",
                           &ProcessConfig::stderr_logfile);
      }
    }
  }

  /// An explicit log path of a numprocs program must differ per process.
  void check_numprocs_log(const ProgramDraft& draft, const std::optional<Located>& value,
                          std::string_view key, LogTarget ProcessConfig::*member) {
    if (!value) return;
    std::set<std::string> paths;
    std::size_t files = 0;
    for (const ProcessConfig& process : draft.program.processes) {
      const LogTarget& target = process.*member;
      if (target.kind != LogTarget::Kind::File || target.path.empty()) continue;
      ++files;
      paths.insert(target.path);
    }
    if (paths.size() < files) {
      error(value->where,
            fmt::format("{} {} would be shared by the {} processes of {}; put "
                        "${{MINISUP_PROCESS_NUM}} in it, e.g. \"{}-${{MINISUP_PROCESS_NUM}}.log\"",
                        key, quote(value->text), draft.program.numprocs, draft.program.name,
                        fs::path(value->text).replace_extension().string()));
    }
  }

  /// Two streams writing (and rotating) one file interfere: warn.
  void check_shared_logs() {
    std::unordered_map<std::string, std::string> owners;
    for (const ProgramDraft& draft : drafts_) {
      const ProgramConfig& p = draft.program;
      for (const ProcessConfig& process : p.processes) {
        auto note = [&](const LogTarget& target, std::string_view stream,
                        const std::optional<Located>& value) {
          if (target.kind != LogTarget::Kind::File || target.path.empty()) return;
          const std::string owner = fmt::format("{} {}", process.name, stream);
          auto [it, inserted] = owners.emplace(target.path, owner);
          if (inserted) return;
          if (p.numprocs > 1 && it->second.starts_with(p.name + ":"))
            return;  // reported as an error
          const Pos where = value ? value->where : draft.header;
          warn(where,
               fmt::format(
                   "{} writes to {}, as {} does; both would rotate the same file{}", owner,
                   target.path, it->second,
                   it->second == process.name + " stdout" ? " (use redirect_stderr = true)" : ""));
        };
        note(process.stdout_logfile, "stdout", draft.stdout_logfile);
        if (!p.redirect_stderr) note(process.stderr_logfile, "stderr", draft.stderr_logfile);
      }
    }
  }

  Config build_config() {
    Config config;
    config.file = main_file_;
    config.supervisor = supervisor_;
    config.programs.reserve(drafts_.size());
    for (ProgramDraft& draft : drafts_) config.programs.push_back(std::move(draft.program));
    std::sort(config.programs.begin(), config.programs.end(),
              [](const ProgramConfig& a, const ProgramConfig& b) {
                return std::tie(a.priority, a.name) < std::tie(b.priority, b.name);
              });
    config.warnings = warnings_;
    return config;
  }

  const Environment& env_;
  fs::path main_file_;
  std::deque<SourceFile> files_;  // a deque: drafts point into it
  SupervisorConfig supervisor_;
  std::vector<Pos> include_where_;                // parallel to supervisor_.include
  std::map<std::string, std::string> variables_;  // env + [supervisor] environment
  std::vector<ProgramDraft> drafts_;
  std::map<std::string, std::size_t> program_index_;
  std::map<std::string, std::optional<std::string>> user_checks_;  // user -> problem
  std::vector<std::pair<int, ConfigError>> errors_;  // with the file's index
  std::set<std::string> seen_errors_;
  std::vector<std::string> warnings_;
  std::set<std::string> seen_warnings_;
};

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(text.substr(0, eq)),
                std::string(text.substr(eq + 1)));  // the first one wins, as getenv
  }
  return env;
}

LoadResult load_config(const std::filesystem::path& file, const Environment& env) {
  return Loader(env).load(file);
}

std::optional<std::filesystem::path> find_config_file(
    const std::optional<std::filesystem::path>& explicit_file) {
  if (explicit_file) return explicit_file;
  for (const char* candidate : {"minisup.toml", "/etc/minisup/minisup.toml"}) {
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) return std::filesystem::path(candidate);
  }
  return std::nullopt;
}

}  // namespace minisup::config
