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
//      (only [program.NAME], [group.NAME] and [socket.NAME] tables allowed
//      there); check the groups against the programs (group_section.cc);
//   5. check `depends_on` across programs (unknown names, cycles) and mark
//      the jobs (programs named by a `completed` condition); check the
//      [socket.NAME] tables and each program's `sockets` (socket_section.cc);
//   6. expand every draft into its processes (numprocs, `${VAR}`, AUTO log
//      names, exec probes) and check cross-program facts (shared log files);
//   7. sort programs by (priority, name) and errors by file and position.
// A Loader (loader.h) lives for one load_config() call and collects every
// error. This file holds the pipeline, the diagnostics and the files (the
// main one and the includes); each step has a file of its own (loader.h).
#include "supervisor/config/load_config.h"

#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "supervisor/config/config_file.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/supervisord_hint.h"
#include "supervisor/config/toml_guard.h"
#include "supervisor/config/value_text.h"

extern char** environ;

namespace minisup::config {
namespace detail {
namespace {

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

}  // namespace

LoadResult Loader::load(const fs::path& file) {
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
  check_groups();
  check_dependencies();
  check_sockets();
  for (ProgramDraft& draft : drafts_) expand_program(draft);
  check_shared_logs();
  if (drafts_.empty()) warn({&main, 0, 0}, "no programs defined");
  return finish();
}

void Loader::error(const Pos& where, std::string message) {
  std::string identity =
      fmt::format("{}:{}:{}:{}", where.file->index, where.line, where.column, message);
  if (!seen_errors_.insert(std::move(identity)).second) return;  // e.g. once per numprocs process
  errors_.emplace_back(where.file->index, ConfigError{to_location(where), std::move(message)});
}

/// Warnings have the errors' form: `file:line:col: message`.
void Loader::warn(const Pos& where, std::string message) {
  std::string text = ConfigError{to_location(where), std::move(message)}.to_string();
  if (seen_warnings_.insert(text).second) warnings_.push_back(std::move(text));
}

LoadResult Loader::finish() {
  // File order: the main file, then the includes in order; inside a file,
  // by position.
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second.where.line, a.second.where.column) <
           std::tie(b.first, b.second.where.line, b.second.where.column);
  });
  LoadResult result;
  for (auto& [index, e] : errors_) result.errors.push_back(std::move(e));
  result.warnings = warnings_;
  if (result.errors.empty()) {
    result.config = build_config();
  } else {
    result.hints = hints_;
  }
  return result;
}

const SourceFile& Loader::add_file(const fs::path& shown, const fs::path& absolute_file) {
  files_.push_back(
      SourceFile{shown, absolute_file.parent_path(), static_cast<int>(files_.size()), {}});
  return files_.back();
}

std::optional<toml::table> Loader::read_and_parse(const SourceFile& file,
                                                  std::string_view include_pattern) {
  std::string read_error;
  bool not_regular = false;
  const std::string text = read_file_capped(file.shown, read_error, not_regular);
  if (!read_error.empty()) {
    if (not_regular && !include_pattern.empty()) {
      read_error = fmt::format("matched by include {}, but {}", quote(include_pattern), read_error);
    }
    error({&file, 0, 0}, read_error);
    return std::nullopt;
  }
  if (looks_like_supervisord_config(text)) hints_.push_back(supervisord_hint(file.shown));
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

void Loader::read_includes(const SourceFile& main) {
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

Config Loader::build_config() {
  Config config;
  config.file = main_file_;
  config.supervisor = supervisor_;
  config.programs.reserve(drafts_.size());
  for (ProgramDraft& draft : drafts_) config.programs.push_back(std::move(draft.program));
  std::sort(config.programs.begin(), config.programs.end(),
            [](const ProgramConfig& a, const ProgramConfig& b) {
              return std::tie(a.priority, a.name) < std::tie(b.priority, b.name);
            });
  for (SocketDraft& draft : sockets_) config.sockets.push_back(std::move(draft.socket));
  std::sort(config.sockets.begin(), config.sockets.end(),
            [](const SocketConfig& a, const SocketConfig& b) { return a.name < b.name; });
  for (GroupDraft& draft : groups_) config.groups.push_back(std::move(draft.group));
  std::sort(config.groups.begin(), config.groups.end(),
            [](const GroupConfig& a, const GroupConfig& b) { return a.name < b.name; });
  config.http = http_;
  config.warnings = warnings_;
  return config;
}

}  // namespace detail

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
  return detail::Loader(env).load(file);
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
