// The top level of a config file and its [program.NAME] tables
// (Loader::read_top_level and what it calls, loader.h): each table is
// checked key by key into a ProgramDraft (types and ranges, `user` looked
// up, `rlimit_*` within what minisupd can grant, strings that may hold
// `${VAR}` kept unexpanded with their positions);
// expand_programs.cc turns the drafts into processes.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <tuple>
#include <utility>

#include "supervisor/config/loader.h"
#include "supervisor/config/rlimits.h"
#include "supervisor/config/shell_words.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/config/user_lookup.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

constexpr std::array<std::string_view, 33> kProgramKeys{
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
    "numprocs_start",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "redirect_stderr",
    "ready",
    "health",
    "depends_on",
    "shutdown_on",
    "rlimit_nofile",
    "rlimit_nproc",
    "rlimit_core",
    "rlimit_as",
    "sockets",
};
constexpr std::array<std::string_view, 5> kTopLevelTables{"supervisor", "program", "group",
                                                          "socket", "http"};

/// Largest `numprocs`: beyond this a typo (100000) would exhaust memory.
constexpr std::int64_t kMaxNumprocs = 10000;
/// Largest `numprocs_start`: process numbers stay well inside an int.
constexpr std::int64_t kMaxNumprocsStart = 1000000;
/// Largest `*_logfile_backups`: each rotation renames every backup.
constexpr std::int64_t kMaxBackups = 1000;
}  // namespace

bool is_valid_program_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

void Loader::read_top_level(const toml::table& root, const SourceFile& file, bool is_main) {
  for (auto&& [key, value] : root) {
    const std::string name(key.str());
    if (name == "program") {
      read_programs(value, key, file);
    } else if (name == "socket") {
      read_sockets(value, key, file);
    } else if (name == "group") {
      read_groups(value, key, file);
    } else if (name == "http") {
      if (!is_main) {
        error(location(file, key.source()),
              fmt::format("[http] is only allowed in the main config file {}",
                          files_.front().shown.string()));
      } else {
        read_http(value, key, file);
      }
    } else if (name == "supervisor") {
      if (!is_main) {
        error(location(file, key.source()),
              fmt::format(
                  "[supervisor] is only allowed in the main config file {}; an included file holds "
                  "[program.NAME], [group.NAME] and [socket.NAME] tables only",
                  files_.front().shown.string()));
      }
    } else if (value.is_table()) {
      std::string message = fmt::format("unknown table [{}]", truncate(name));
      if (auto suggestion = closest_match(name, kTopLevelTables)) {
        message += fmt::format("; did you mean [{}]?", *suggestion);
      } else {
        message += is_main ? "; a config holds [supervisor], [program.NAME], [group.NAME], "
                             "[socket.NAME] and [http] tables"
                           : "; an included file holds [program.NAME], [group.NAME] and "
                             "[socket.NAME] tables only";
      }
      error(location(file, key.source()), std::move(message));
    } else {
      error(location(file, key.source()),
            fmt::format("unknown key `{}` at the top level; {}", truncate(name),
                        is_main ? "a config holds [supervisor], [program.NAME], [group.NAME], "
                                  "[socket.NAME] and [http] tables"
                                : "an included file holds [program.NAME], [group.NAME] and "
                                  "[socket.NAME] tables only"));
    }
  }
}

void Loader::read_programs(const toml::node& node, const toml::key& key, const SourceFile& file) {
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

void Loader::read_program(const toml::key& key, const toml::node& node, const SourceFile& file) {
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
    error(location(file, key.source()), fmt::format("program name {} is longer than {} characters",
                                                    quote(name), kMaxProgramNameLength));
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
      draft.sets_priority = true;
    } else if (key_name == "numprocs") {
      if (auto n = as_int(f, 1, kMaxNumprocs)) p.numprocs = static_cast<int>(*n);
    } else if (key_name == "numprocs_start") {
      if (auto n = as_int(f, 0, kMaxNumprocsStart)) p.numprocs_start = static_cast<int>(*n);
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
    } else if (key_name == "ready") {
      draft.ready_where = f.where;
      p.ready = read_probe(f, /*is_health=*/false, file, draft.ready_exec);
    } else if (key_name == "health") {
      draft.health_where = f.where;
      p.health = read_probe(f, /*is_health=*/true, file, draft.health_exec);
    } else if (key_name == "sockets") {
      read_program_sockets(f, draft);
    } else if (key_name == "depends_on") {
      read_depends_on(f, draft);
    } else if (key_name == "shutdown_on") {
      read_shutdown_on(f, p);
    } else if (const auto limit =
                   std::find_if(kRlimitKeys.begin(), kRlimitKeys.end(),
                                [&](const RlimitKey& r) { return r.key == key_name; });
               limit != kRlimitKeys.end()) {
      read_rlimit(f, *limit, p);
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

void Loader::read_command(const Field& f, ProgramDraft& draft) {
  if (auto words = read_argv(f, *draft.file)) draft.command = std::move(*words);
}

std::optional<std::vector<Located>> Loader::read_argv(const Field& f, const SourceFile& file) {
  if (const auto* string = f.node.as_string()) {
    const std::string& text = string->get();
    if (text.find('\0') != std::string::npos) {
      error(f.where, fmt::format("{} must not contain a NUL character", f.key));
      return std::nullopt;
    }
    ShellWords split = split_shell_words(text);
    if (!split.error.empty()) {
      error(f.where, fmt::format("{} {}: {}", f.key, split.error, quote(text)));
      return std::nullopt;
    }
    if (split.words.empty()) {
      error(f.where, fmt::format("{} must not be empty", f.key));
      return std::nullopt;
    }
    std::vector<Located> words;
    for (auto& word : split.words) words.push_back(Located{std::move(word), f.where});
    return words;
  }
  if (const auto* array = f.node.as_array()) {
    if (array->empty()) {
      error(f.where, fmt::format("{} must not be empty", f.key));
      return std::nullopt;
    }
    std::vector<Located> words;
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      auto word =
          as_string({fmt::format("{}[{}]", f.key, i), element, location(file, element.source())},
                    /*allow_empty=*/i > 0);
      if (!word) {
        ok = false;
        continue;
      }
      words.push_back(Located{std::move(*word), location(file, element.source())});
    }
    if (!ok) return std::nullopt;
    return words;
  }
  error(f.where,
        fmt::format("{} must be a string or an array of strings, got {}", f.key, describe(f.node)));
  return std::nullopt;
}

void Loader::read_autorestart(const Field& f, ProgramConfig& p) {
  if (const auto* b = f.node.as_boolean()) {
    p.autorestart = b->get() ? AutoRestart::Always : AutoRestart::Never;
    return;
  }
  if (const auto* s = f.node.as_string(); s != nullptr && iequals(s->get(), "unexpected")) {
    p.autorestart = AutoRestart::Unexpected;
    return;
  }
  error(f.where,
        fmt::format("autorestart must be true, false or \"unexpected\", got {}", describe(f.node)));
}

void Loader::read_exitcodes(const Field& f, ProgramConfig& p, const SourceFile& file) {
  std::vector<int> codes;
  bool ok = true;
  auto add = [&](const toml::node& element, const std::string& key) {
    const auto* integer = element.as_integer();
    if (integer == nullptr || integer->get() < 0 || integer->get() > 255) {
      error(location(file, element.source()),
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

void Loader::read_stopsignal(const Field& f, ProgramConfig& p) {
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
    error(f.where,
          fmt::format("stopsignal names an unknown signal {}; expected one of {} (with or without "
                      "SIG), or a number",
                      quote(string->get()), known_signal_names()));
    return;
  }
  error(f.where, fmt::format("stopsignal must be a signal name like \"TERM\" or a number, got {}",
                             describe(f.node)));
}

void Loader::read_shutdown_on(const Field& f, ProgramConfig& p) {
  static constexpr std::array<std::pair<std::string_view, ShutdownOn>, 3> kValues{{
      {"exit", ShutdownOn::Exit},
      {"failure", ShutdownOn::Failure},
      {"fatal", ShutdownOn::Fatal},
  }};
  if (const auto* string = f.node.as_string()) {
    for (const auto& [name, value] : kValues) {
      if (iequals(string->get(), name)) {
        p.shutdown_on = value;
        return;
      }
    }
  }
  error(f.where, fmt::format("shutdown_on must be \"exit\", \"failure\" or \"fatal\", got {}",
                             describe(f.node)));
}

void Loader::read_rlimit(const Field& f, const RlimitKey& limit, ProgramConfig& p) {
  const std::optional<rlim_t> value = as_rlimit(f);
  if (!value) return;
  auto [it, inserted] = rlimit_ceilings_.try_emplace(limit.resource);
  if (inserted) it->second = rlimit_ceiling(limit.resource);
  if (auto problem = rlimit_problem(limit.key, limit.resource, *value, it->second)) {
    error(f.where, std::move(*problem));
    return;
  }
  p.*limit.member = *value;
}

/// An unknown user is an error at the key (user_lookup.h); each name is
/// looked up once per load, however many programs use it.
void Loader::check_user(const Field& f, const std::string& user) {
  auto [it, inserted] = user_checks_.try_emplace(user);
  if (inserted) it->second = check_user_exists(user);
  if (it->second) error(f.where, fmt::format("user {} {}", quote(user), *it->second));
}

}  // namespace minisup::config::detail
