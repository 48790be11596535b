// minisupctl convert: see convert.h for the model. This file reads the
// files (main + [include]), merges their sections as supervisord's parser
// does, and writes each section's TOML: [supervisor] (from [supervisord]
// and [unix_http_server]), the [http] of [inet_http_server], then every
// [program:x] / [group:x] / other section in the order read.
#include "supervisor/ctl/convert.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "supervisor/config/sha256.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/ctl/convert_internal.h"

namespace minisup::ctl::convert_detail {

/// Largest file read: a supervisord config is a few kilobytes.
constexpr std::size_t kMaxFileSize = 4 * 1024 * 1024;

const File* Converter::read(const std::string& shown, const std::string& absolute, bool is_main) {
  std::string read_error;
  std::optional<std::string> text = source_.read(absolute, read_error);
  if (!text) {
    errors_.push_back(fmt::format("{}: {}", shown, read_error));
    return nullptr;
  }
  files_.push_back(File{shown, fs::path(absolute).parent_path().string(), {}, is_main});
  File& file = files_.back();
  if (auto problem = ini::parse_ini(*text, file.doc)) {
    error(&file, problem->line, problem->message);
    return nullptr;
  }
  return &file;
}

void Converter::merge(const File& file) {
  for (const ini::Section& in : file.doc.sections) {
    auto found = std::find_if(sections_.begin(), sections_.end(),
                              [&](const Section& s) { return s.name == in.name; });
    if (found == sections_.end()) {
      sections_.push_back(Section{in.name, in.line, &file, {}});
      found = std::prev(sections_.end());
    }
    for (const ini::Option& o : in.options) {
      auto existing = std::find_if(found->options.begin(), found->options.end(),
                                   [&](const Option& x) { return x.key == o.key; });
      if (existing == found->options.end()) {
        found->options.push_back(Option{o.key, o.value, o.line, &file});
      } else {
        *existing = Option{o.key, o.value, o.line, &file};  // the later file wins
      }
    }
  }
}

void Converter::follow_includes(const File& main) {
  const ini::Section* include = main.doc.find("include");
  if (include == nullptr) return;
  const ini::Option* files = include->find("files");
  if (files == nullptr) {
    error(&main, include->line, "[include] has no files = ... (supervisord refuses it too)");
    return;
  }
  // supervisord expands %(here)s and %(ENV_X)s here, from its own
  // environment: the include is followed now, with minisupctl's.
  std::string message;
  auto pieces = ini::parse_template(files->value, message);
  if (!pieces) {
    error(&main, files->line, "[include] files " + message);
    return;
  }
  std::string text;
  for (const Piece& piece : *pieces) {
    if (!piece.is_expansion) {
      text += piece.text;
    } else if (piece.text == "here") {
      text += main.dir;
    } else if (piece.text == "host_node_name") {
      text += options_.hostname;
    } else if (piece.text.rfind("ENV_", 0) == 0) {
      auto it = options_.environment.find(piece.text.substr(4));
      if (it == options_.environment.end()) {
        error(&main, files->line,
              fmt::format("[include] files uses %({})s, and {} is not set", piece.text,
                          piece.text.substr(4)));
        return;
      }
      text += it->second;
    } else {
      error(&main, files->line,
            fmt::format("[include] files uses %({})s, which supervisord cannot expand there",
                        piece.text));
      return;
    }
  }
  std::string pattern;
  std::istringstream words(text);
  while (words >> pattern) {
    const bool absolute = fs::path(pattern).is_absolute();
    const std::string full = absolute ? pattern : (fs::path(main.dir) / pattern).string();
    for (const std::string& path : source_.glob(full)) {
      const std::string normal = fs::path(path).lexically_normal().string();
      if (!read_paths_.insert(normal).second) continue;
      std::string shown = path;
      if (!absolute) {
        // Shown relative to the main file, as the user wrote the pattern.
        const fs::path main_parent = fs::path(main.shown).parent_path();
        shown = (main_parent / fs::path(path).lexically_relative(main.dir)).string();
      }
      if (const File* file = read(shown, normal, false)) merge(*file);
    }
  }
}

std::optional<Pieces> Converter::resolve_text(std::string_view text, const Option& o,
                                              const Section& s, const Scope& scope) {
  std::string message;
  auto pieces = ini::parse_template(text, message);
  if (!pieces) {
    error(o, s, message);
    return std::nullopt;
  }
  Pieces out;
  auto add_text = [&](const std::string& t) { out.push_back(Piece{false, t, {}, 's'}); };
  for (const Piece& piece : *pieces) {
    if (!piece.is_expansion) {
      if (piece.text.find_first_of("\x01\x02") != std::string::npos) {
        error(o, s, "contains control characters \\x01 or \\x02");
        return std::nullopt;
      }
      out.push_back(piece);
      continue;
    }
    const std::string& name = piece.text;
    if (name == "here") {
      add_text(o.file->dir);
    } else if (name == "program_name" && scope.program_name) {
      add_text(*scope.program_name);
    } else if (name == "group_name" && scope.group_name) {
      add_text(*scope.group_name);
    } else if (name == "host_node_name") {
      add_text(options_.hostname);
    } else if (name == "numprocs" && scope.numprocs) {
      add_text(format_int(*scope.numprocs, piece.flags));
    } else if (name == "process_num" && scope.process_num) {
      out.push_back(piece);
    } else if (name.rfind("ENV_", 0) == 0) {
      const std::string variable = name.substr(4);
      if (scope.known_env != nullptr) {
        if (auto it = scope.known_env->find(variable); it != scope.known_env->end()) {
          out.insert(out.end(), it->second.begin(), it->second.end());
          continue;
        }
      }
      if (auto it = global_env_.find(variable); it != global_env_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
      if (!is_variable_name(variable)) {
        error(o, s,
              fmt::format("%({})s: minisup's ${{VAR}} takes letters, digits and _ only", name));
        return std::nullopt;
      }
      out.push_back(piece);
    } else {
      error(o, s,
            fmt::format("%({}){} names nothing supervisord can expand here (supervisord refuses "
                        "it too)",
                        name, piece.conversion));
      return std::nullopt;
    }
  }
  return out;
}

std::optional<Pieces> Converter::resolve(const Option& o, const Section& s, const Scope& scope) {
  return resolve_text(o.value, o, s, scope);
}

std::optional<std::string> Converter::plain(const Option& o, const Section& s, const Scope& scope,
                                            std::vector<std::string>& lines) {
  auto pieces = resolve(o, s, scope);
  if (!pieces) return std::nullopt;
  if (has_runtime(*pieces)) {
    not_converted(lines, o,
                  "it needs a variable of minisupd's environment, and minisup expands ${VAR} only "
                  "in command, directory, environment and log paths");
    return std::nullopt;
  }
  return literal_text(*pieces);
}

std::optional<std::vector<std::pair<std::string, Pieces>>> Converter::environment(
    const Option& o, const Section& s, const Scope& scope) {
  auto pieces = resolve(o, s, scope);
  if (!pieces) return std::nullopt;
  Pieces runtime;
  const std::string marked = with_markers(*pieces, runtime);
  std::string message;
  std::vector<std::string> odd;
  auto pairs = ini::parse_key_value_pairs(marked, message, &odd);
  if (!pairs) {
    error(o, s, message);
    return std::nullopt;
  }
  for (const std::string& separator : odd) {
    odd_separators_.push_back(fmt::format(
        "environment: supervisord took {} between two pairs for a separator and dropped it (quote "
        "a value that holds blanks)",
        toml_string(literal_text(from_markers(separator, runtime)))));
  }
  std::vector<std::pair<std::string, Pieces>> out;
  for (auto& [key, value] : *pairs) {
    if (key.find('\x01') != std::string::npos || key.empty()) {
      error(o, s, "a variable's name must not come from an expansion");
      return std::nullopt;
    }
    out.emplace_back(key, from_markers(value, runtime));
  }
  return out;
}

std::string Converter::environment_table(const std::vector<std::pair<std::string, Pieces>>& env,
                                         bool* padded) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < env.size(); ++i) {
    out += fmt::format("{}{} = {}", i == 0 ? "" : ", ", toml_key(env[i].first),
                       toml_string(render(env[i].second, padded)));
  }
  return out + (env.empty() ? "}" : " }");
}

void Converter::emit(const Section* s, const std::string& header,
                     const std::vector<std::string>& lines) {
  if (s != nullptr && s->file != last_file_ && s->file != nullptr) {
    out_ += fmt::format("\n# ---- from {} ----\n", s->file->shown);
    last_file_ = s->file;
  }
  out_ += "\n";
  if (!header.empty()) out_ += header + "\n";
  for (const std::string& line : lines) out_ += line + "\n";
}

// ---- [supervisord] and [unix_http_server] -> [supervisor] ----

void Converter::convert_supervisor() {
  auto find = [&](std::string_view name) -> const Section* {
    for (const Section& s : sections_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  const Section* supervisord = find("supervisord");
  const Section* unix_server = find("unix_http_server");
  if (supervisord == nullptr && unix_server == nullptr) return;
  std::vector<std::string> lines;
  Scope scope;

  if (supervisord != nullptr) {
    const Section& s = *supervisord;
    // The environment first: ENV_X of its names is known to every other
    // value (supervisord adds them to its expansions).
    std::optional<std::vector<std::pair<std::string, Pieces>>> env;
    if (const Option* o = s.find("environment")) {
      env = environment(*o, s, scope);
      if (env) {
        for (const auto& [name, value] : *env) global_env_[name] = value;
      }
      for (const std::string& text : odd_separators_) note(lines, text);
      odd_separators_.clear();
    }
    for (const Option& o : s.options) {
      const std::string& key = o.key;
      if (key == "logfile" || key == "pidfile" || key == "childlogdir") {
        auto pieces = resolve(o, s, scope);
        if (!pieces) continue;
        std::string value = render(*pieces);
        if (key == "logfile" && (value == "/dev/stdout" || value == "/dev/stderr")) {
          if (value == "/dev/stdout")
            note(lines, "logfile = /dev/stdout: minisupd logs to its stderr (\"-\")");
          value = "-";
        } else if (key == "logfile" && lower(value) == "syslog") {
          not_converted(
              lines, o,
              "minisupd logs to a file or its stderr; journald or syslog can take stderr");
          continue;
        }
        if (value.rfind("~/", 0) == 0)
          value = "${HOME}" + value.substr(1);  // supervisord: expanduser
        if (!value.empty() && value[0] != '/' && value != "-" && value[0] != '$') {
          note(lines, fmt::format("{} is relative: minisup resolves it against this file's "
                                  "directory (supervisord: its working directory)",
                                  key));
        }
        lines.push_back(fmt::format("{} = {}", key, toml_string(value)));
      } else if (key == "loglevel") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        static const std::map<std::string, std::string> kLevels{
            {"critical", "error"}, {"error", "error"}, {"warn", "warn"},    {"info", "info"},
            {"debug", "debug"},    {"trace", "trace"}, {"blather", "trace"}};
        auto it = kLevels.find(lower(trim(*text)));
        if (it == kLevels.end()) {
          error(o, s, fmt::format("bad logging level name {} (supervisord refuses it too)", *text));
          continue;
        }
        lines.push_back(fmt::format("loglevel = {}", toml_string(it->second)));
      } else if (key == "environment") {
        if (env) lines.push_back("environment = " + environment_table(*env, nullptr));
      } else if (key == "nodaemon") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        auto value = python_boolean(*text);
        if (!value) {
          error(o, s, fmt::format("not a valid boolean value: {}", *text));
        } else if (!*value) {
          not_converted(lines, o,
                        "minisupd runs in the foreground; start it with --daemon to detach");
        }
      } else if (key == "umask") {
        not_converted(lines, o,
                      "supervisord applies it when it daemonizes; set umask per program, or UMask= "
                      "in minisupd's systemd unit");
      } else if (key == "user") {
        not_converted(lines, o,
                      "minisupd does not switch users itself; run it as that user (User= in its "
                      "systemd unit) or set user per program");
      } else if (key == "directory") {
        not_converted(lines, o,
                      "minisupd does not change its directory; set directory per program, or "
                      "WorkingDirectory= in its systemd unit");
      } else if (key == "logfile_maxbytes" || key == "logfile_backups") {
        not_converted(lines, o,
                      "minisupd does not rotate its own log; rotate it with logrotate, which sends "
                      "SIGUSR2 (conf/logrotate.minisup)");
      } else if (key == "minfds" || key == "minprocs") {
        not_converted(lines, o,
                      "set rlimit_nofile / rlimit_nproc per program, or LimitNOFILE= / LimitNPROC= "
                      "in minisupd's systemd unit");
      } else if (key == "nocleanup") {
        not_converted(lines, o, "minisup never deletes AUTO child logs at start");
      } else if (key == "silent") {
        not_converted(lines, o,
                      "minisupd's log goes where logfile says; logfile = \"-\" is stderr");
      } else if (key == "strip_ansi") {
        not_converted(lines, o, "minisup writes children's output unchanged");
      } else if (key == "identifier") {
        not_converted(lines, o, "minisup has no XML-RPC identifier");
      } else {
        not_converted(lines, o, "supervisord does not know this option either");
      }
    }
  }

  if (unix_server != nullptr) {
    const Section& s = *unix_server;
    lines.push_back("# from [unix_http_server]: minisupctl's control socket");
    for (const Option& o : s.options) {
      if (o.key == "file") {
        auto pieces = resolve(o, s, scope);
        if (!pieces) continue;
        lines.push_back(fmt::format("socket = {}", toml_string(render(*pieces))));
      } else if (o.key == "chmod") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        std::string digits = trim(*text);
        if (digits.rfind("0o", 0) == 0) digits = digits.substr(2);
        if (digits.empty() || digits.size() > 4 ||
            digits.find_first_not_of("01234567") != std::string::npos ||
            std::stoi(digits, nullptr, 8) > 0777) {
          error(o, s, fmt::format("invalid chmod value {}", *text));
          continue;
        }
        lines.push_back(fmt::format("socket_mode = \"{:04o}\"", std::stoi(digits, nullptr, 8)));
      } else if (o.key == "chown") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        const std::string value = trim(*text);
        const std::size_t colon = value.find(':');
        const std::string user = value.substr(0, colon);
        note(lines, "chown = " + value +
                        ": minisup lets these in by their uid (SO_PEERCRED) besides root and "
                        "minisupd's own user; the file stays minisupd's");
        if (!user.empty()) lines.push_back(fmt::format("socket_uids = [{}]", toml_string(user)));
        if (colon != std::string::npos && colon + 1 < value.size()) {
          lines.push_back(fmt::format("socket_group = {}", toml_string(value.substr(colon + 1))));
        }
      } else if (o.key == "username" || o.key == "password") {
        not_converted(lines, o,
                      "the control socket takes no password: its file mode and the peer's uid "
                      "guard it");
      } else {
        not_converted(lines, o, "supervisord does not know this option either");
      }
    }
  }
  emit(nullptr, "[supervisor]", lines);
}

// ---- [inet_http_server] -> [http] ----

void Converter::convert_http(const Section& s) {
  std::vector<std::string> lines;
  std::vector<std::string> table;  // the [http] table's lines
  Scope scope;
  std::string username;
  for (const Option& o : s.options) {
    if (o.key == "port") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      std::string value = trim(*text);
      std::string host = "0.0.0.0";
      std::string port = value;
      if (const std::size_t colon = value.rfind(':'); colon != std::string::npos) {
        host = lower(value.substr(0, colon));
        port = value.substr(colon + 1);
      }
      if (host.empty() || host == "*") host = "0.0.0.0";
      auto number = python_int(port);
      if (!number || *number < 1 || *number > 65535) {
        error(o, s, fmt::format("not a valid port number: {}", value));
        continue;
      }
      if (host == "localhost") host = "127.0.0.1";
      const bool loopback = host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]";
      if (!loopback && s.find("password") == nullptr) {
        // supervisord serves anyone who reaches the port, controls included;
        // minisup refuses a non-loopback listener without credentials.
        table.push_back(fmt::format(
            "# note: port = {} had no password: anyone reaching it could stop your programs. "
            "minisup refuses that, so this listens on loopback only; set token_file (or "
            "username and password_sha256) to listen on {} again",
            value, host));
        host = "127.0.0.1";
      }
      const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
      const std::string address =
          ipv6 ? fmt::format("[{}]:{}", host, *number) : fmt::format("{}:{}", host, *number);
      table.push_back(fmt::format("listen = {}", toml_string(address)));
    } else if (o.key == "username") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      username = *text;
      table.push_back(fmt::format("username = {}", toml_string(*text)));
    } else if (o.key == "password") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      if (text->rfind("{SHA}", 0) == 0) {
        not_converted(
            lines, o,
            "a SHA-1 digest cannot become minisup's password_sha256; write the password's "
            "SHA-256 (sha256sum) there");
        continue;
      }
      table.push_back(fmt::format("password_sha256 = {}  # SHA-256 of the password",
                                  toml_string(config::sha256_hex(*text))));
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  lines.insert(lines.end(), table.begin(), table.end());
  emit(&s, "[http]", lines);
}

// ---- [group:x] -> [group.x] ----

void Converter::convert_group(const Section& s) {
  const std::string group = trim(s.name.substr(s.name.find(':') + 1));
  std::vector<std::string> lines;
  std::vector<std::string> members;
  Scope scope;
  std::string name = group;
  for (char& c : name) {
    if (!is_minisup_name_char(c)) c = '_';
  }
  if (name != group) {
    note(lines, fmt::format("the group {} is called {} here: minisup names take letters, digits, "
                            "_, . and - only",
                            toml_string(group), toml_string(name)));
  }
  const Option* programs = s.find("programs");
  if (programs == nullptr) {
    error(s.file, s.line, fmt::format("[{}] has no programs (supervisord refuses it too)", s.name));
    return;
  }
  for (const Option& o : s.options) {
    if (o.key == "programs") {
      auto text = plain(o, s, scope, lines);
      if (!text) return;
      std::string item;
      std::istringstream list(*text);
      while (std::getline(list, item, ',')) {
        const std::string program = trim(item);
        const bool is_program =
            std::any_of(sections_.begin(), sections_.end(),
                        [&](const Section& x) { return x.name == "program:" + program; });
        const bool is_fcgi = std::any_of(sections_.begin(), sections_.end(), [&](const Section& x) {
          return x.name == "fcgi-program:" + program;
        });
        if (!is_program && !is_fcgi) {
          error(o, s,
                fmt::format("names unknown program {} (supervisord refuses it too)",
                            toml_string(program)));
          return;
        }
        if (!is_program) {
          note(lines,
               fmt::format("{} is an [fcgi-program], which is not converted: left out of the group",
                           program));
          continue;
        }
        const auto member_of = group_of_.find(program);
        const auto minisup_name = program_names_.find(program);
        if (member_of == group_of_.end() || minisup_name == program_names_.end()) continue;
        if (member_of->second != group) {
          note(lines,
               fmt::format("{} is also in [group:{}]: a minisup program belongs to one group, "
                           "so it is left out of this one (supervisord ran it once per group)",
                           program, member_of->second));
          continue;
        }
        members.push_back(toml_string(minisup_name->second));
      }
      if (!members.empty()) lines.push_back("programs = " + toml_array(members));
    } else if (o.key == "priority") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      auto number = python_int(*text);
      if (!number) {
        error(o, s, fmt::format("not an integer: {}", *text));
        continue;
      }
      lines.push_back(
          fmt::format("priority = {}  # for its programs that set no priority", *number));
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  if (members.empty()) {
    std::vector<std::string> commented{
        fmt::format("# not converted: [{}] (none of its programs is converted)", s.name)};
    ++result_.not_converted;
    commented.insert(commented.end(), lines.begin(), lines.end());
    emit(&s, "", commented);
    return;
  }
  if (program_names_.count(group) != 0 ||
      std::any_of(program_names_.begin(), program_names_.end(),
                  [&](const auto& p) { return p.second == name; })) {
    if (members.size() == 1 && members.front() == toml_string(name)) {
      std::vector<std::string> commented{fmt::format(
          "# not converted: [{}] (its only program has the group's name; minisup selects the "
          "program's processes as {}:* already)",
          s.name, name)};
      ++result_.not_converted;
      emit(&s, "", commented);
      return;
    }
    const std::string renamed = name + "-group";
    note(lines, fmt::format("the group is called {} here: a minisup group and a program may not "
                            "share a name",
                            renamed));
    name = renamed;
  }
  ++result_.groups;
  emit(&s, fmt::format("[group.{}]", toml_key(name)), lines);
}

ConvertResult Converter::run(const std::string& main_file) {
  std::error_code ec;
  const std::string absolute = fs::absolute(main_file, ec).lexically_normal().string();
  read_paths_.insert(absolute);
  const File* main = read(main_file, absolute, true);
  if (main == nullptr) {
    result_.errors = std::move(errors_);
    return result_;
  }
  last_file_ = main;  // `# ---- from FILE ----` only for included files
  merge(*main);
  follow_includes(*main);

  // Names first: a program's minisup name, and its group.
  for (const Section& s : sections_) {
    const std::size_t colon = s.name.find(':');
    if (colon == std::string::npos) continue;
    const std::string kind = s.name.substr(0, colon);
    const std::string name = trim(s.name.substr(colon + 1));
    if (kind != "program" && kind != "group") continue;
    if (name.empty() || name.find_first_of(" :/") != std::string::npos) {
      error(s.file, s.line,
            fmt::format("[{}]: invalid name {} (supervisord refuses it too)", s.name,
                        toml_string(name)));
      continue;
    }
    if (kind == "program") {
      std::string minisup = name;
      for (char& c : minisup) {
        if (!is_minisup_name_char(c)) c = '_';
      }
      program_names_[name] = minisup.substr(0, 128);
    }
  }
  for (const Section& s : sections_) {
    if (s.name.rfind("group:", 0) != 0) continue;
    const Option* programs = s.find("programs");
    if (programs == nullptr) continue;
    std::string item;
    std::istringstream list(programs->value);
    while (std::getline(list, item, ',')) {
      const std::string program = trim(item);
      if (program_names_.count(program) != 0) group_of_.emplace(program, trim(s.name.substr(6)));
    }
  }

  convert_supervisor();
  for (const Section& s : sections_) {
    const std::string& n = s.name;
    if (n == "supervisord" || n == "unix_http_server") continue;
    if (n == "include") {
      if (s.file != nullptr && !s.file->is_main) {
        convert_other(s, "an included file's [include] is not followed, by supervisord either");
      }
      continue;
    }
    if (n == "inet_http_server") {
      convert_http(s);
    } else if (n.rfind("program:", 0) == 0) {
      if (program_names_.count(trim(n.substr(8))) != 0) convert_program(s);
    } else if (n.rfind("group:", 0) == 0) {
      convert_group(s);
    } else if (n == "supervisorctl") {
      convert_other(s,
                    "minisupctl finds minisupd's socket in this file (-c), or takes -s SOCKET "
                    "or MINISUP_SOCKET");
    } else if (n.rfind("eventlistener:", 0) == 0) {
      convert_other(s,
                    "minisup has no event listeners; `minisupctl events` streams every state "
                    "change, with the exit code or signal");
    } else if (n.rfind("fcgi-program:", 0) == 0) {
      convert_other(s,
                    "minisup has no FastCGI programs; a [program] with a held socket "
                    "([socket.*]) takes its place");
    } else if (n.rfind("rpcinterface:", 0) == 0) {
      convert_other(s,
                    "minisup has no XML-RPC interface; minisupctl's JSON control protocol "
                    "(minisup-protocol(7)) takes its place");
    } else if (n.rfind("ctlplugin:", 0) == 0) {
      convert_other(s, "minisupctl has no plugins");
    } else {
      convert_other(s, "not a section supervisord reads");
    }
  }

  if (!errors_.empty()) {
    result_.errors = std::move(errors_);
    return result_;
  }
  result_.toml = fmt::format(
      "# minisup config converted from {} by `minisupctl convert`.\n"
      "# Review each \"# not converted:\" and \"# note:\" line, then check it with\n"
      "# `minisupd -c FILE --check`.\n",
      main_file);
  result_.toml += out_;
  return result_;
}

}  // namespace minisup::ctl::convert_detail

namespace minisup::ctl {

using convert_detail::Converter;
using convert_detail::kMaxFileSize;

std::optional<std::string> FileSystemSource::read(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return std::nullopt;
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxFileSize) {
    ::close(fd);
    error = "larger than 4 MiB: not a supervisord config";
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileSize) {
      ::close(fd);
      error = "larger than 4 MiB: not a supervisord config";
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

std::vector<std::string> FileSystemSource::glob(const std::string& pattern) {
  glob_t matches{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) out.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  std::sort(out.begin(), out.end());
  return out;
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
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
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04X}", u);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

ConvertResult convert_supervisord(const std::string& main_file, ConvertSource& source,
                                  const ConvertOptions& options) {
  return Converter(source, options).run(main_file);
}

}  // namespace minisup::ctl
