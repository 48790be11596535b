// minisupctl convert: [program:x] -> [program.x], and the sections it does
// not convert (see convert_internal.h).
#include <fmt/format.h>

#include "supervisor/config/signal_names.h"
#include "supervisor/ctl/convert_internal.h"

namespace minisup::ctl::convert_detail {

// ---- [program:x] -> [program.x] ----

void Converter::convert_program(const Section& s) {
  const std::string program = trim(s.name.substr(s.name.find(':') + 1));
  const std::string name = program_names_.at(program);
  std::vector<std::string> lines;
  if (name != program) {
    note(lines, fmt::format("the program {} is called {} here: minisup names take letters, "
                            "digits, _, . and - only",
                            toml_string(program), toml_string(name)));
  }
  const auto group = group_of_.find(program);
  Scope scope;
  scope.program_name = program;
  scope.group_name = group == group_of_.end() ? program : group->second;

  auto integer = [&](const Option& o, long long min) -> std::optional<long long> {
    auto text = plain(o, s, scope, lines);
    if (!text) return std::nullopt;
    auto number = python_int(*text);
    if (!number) {
      error(o, s, fmt::format("not an integer: {} (supervisord refuses it too)", *text));
      return std::nullopt;
    }
    if (*number < min) {
      error(o, s, fmt::format("must be at least {}, got {}", min, *number));
      return std::nullopt;
    }
    return number;
  };
  auto boolean = [&](const Option& o) -> std::optional<bool> {
    auto text = plain(o, s, scope, lines);
    if (!text) return std::nullopt;
    auto value = python_boolean(trim(*text));
    if (!value)
      error(o, s, fmt::format("not a valid boolean value: {} (supervisord refuses it too)", *text));
    return value;
  };

  // What other options depend on: numprocs, redirect_stderr, process_name,
  // stopasgroup / killasgroup, the environment (ENV_X of its names).
  // Lines of this first pass are dropped; the loop below writes them.
  long long numprocs = 1;
  bool redirect_stderr = false;
  {
    std::vector<std::string> saved;
    std::swap(saved, lines);
    const int not_converted_before = result_.not_converted, notes_before = result_.notes;
    if (const Option* o = s.find("numprocs")) numprocs = integer(*o, 1).value_or(1);
    if (const Option* o = s.find("redirect_stderr")) redirect_stderr = boolean(*o).value_or(false);
    bool stopasgroup = false;
    if (const Option* o = s.find("stopasgroup")) stopasgroup = boolean(*o).value_or(false);
    if (const Option* o = s.find("killasgroup");
        o != nullptr && stopasgroup && boolean(*o) == std::optional<bool>(false)) {
      error(*o, s, "stopasgroup = true needs killasgroup = true (supervisord refuses it too)");
    }
    std::swap(saved, lines);
    result_.not_converted = not_converted_before;
    result_.notes = notes_before;
  }
  // stdout and stderr written to one file: supervisord keeps two writers
  // (and two rotations) on it; redirect_stderr = true gives the same file
  // with one.
  const Option* stdout_option = s.find("stdout_logfile");
  const Option* stderr_option = s.find("stderr_logfile");
  const bool merge_stderr =
      !redirect_stderr && s.find("redirect_stderr") == nullptr && stdout_option != nullptr &&
      stderr_option != nullptr && trim(stdout_option->value) == trim(stderr_option->value) &&
      lower(trim(stdout_option->value)) != "auto" && lower(trim(stdout_option->value)) != "none";
  scope.numprocs = numprocs;
  scope.process_num = true;
  std::map<std::string, Pieces> program_env;
  std::optional<std::vector<std::pair<std::string, Pieces>>> env;
  if (const Option* o = s.find("environment")) {
    Scope env_scope = scope;  // ENV_X here: supervisord's environment only
    env = environment(*o, s, env_scope);
    if (env) {
      for (const auto& [key, value] : *env) program_env[key] = value;
    }
    for (const std::string& text : odd_separators_) note(lines, text);
    odd_separators_.clear();
  }
  scope.known_env = &program_env;
  const Option* process_name = s.find("process_name");
  if (numprocs > 1 && (process_name == nullptr ||
                       process_name->value.find("%(process_num)") == std::string::npos)) {
    error(s.file, process_name ? process_name->line : s.line,
          fmt::format("[{}] %(process_num) must be present within process_name when numprocs > 1 "
                      "(supervisord refuses it too)",
                      s.name));
  }
  if (s.find("command") == nullptr) {
    error(s.file, s.line, fmt::format("[{}] has no command (supervisord refuses it too)", s.name));
    return;
  }

  bool padded = false;
  auto logfile = [&](const Option& o, bool is_stderr) {
    auto pieces = resolve(o, s, scope);
    if (!pieces) return;
    const std::string text =
        has_runtime(*pieces) ? std::string() : lower(trim(literal_text(*pieces)));
    if (text == "auto") {
      lines.push_back(fmt::format("{} = \"AUTO\"", o.key));
      return;
    }
    if (text == "none" || text == "off") {
      lines.push_back(fmt::format("{} = \"NONE\"", o.key));
      return;
    }
    if (text == "syslog") {
      not_converted(
          lines, o,
          "minisup writes to files or its own stdout (console), which journald or syslog can take");
      return;
    }
    if (is_stderr && merge_stderr) {
      note(lines, fmt::format("stderr_logfile = {} is stdout's file too: redirect_stderr = true "
                              "writes both streams there, through one writer",
                              one_line(o.value)));
      lines.push_back("redirect_stderr = true");
      return;
    }
    if (is_stderr && redirect_stderr) {
      not_converted(
          lines, o,
          "redirect_stderr = true sends stderr to the stdout log; supervisord ignores this too");
      return;
    }
    if (text == "/dev/stdout" || text == "/dev/stderr") {
      note(lines, fmt::format("{} = {}: \"console\" writes each line to minisupd's stdout, "
                              "prefixed with the process name",
                              o.key, text));
      lines.push_back(fmt::format("{} = \"console\"", o.key));
      return;
    }
    const bool per_process = std::any_of(pieces->begin(), pieces->end(), [](const Piece& p) {
      return p.is_expansion && p.text == "process_num";
    });
    if (numprocs > 1 && !per_process) {
      // Each process gets a file of its own: minisup refuses one file for
      // several processes (their rotations would fight).
      const std::string path = literal_text(*pieces);
      const fs::path p(path);
      const std::string stem = p.extension().empty()
                                   ? path
                                   : path.substr(0, path.size() - p.extension().string().size());
      Pieces split;
      split.push_back(Piece{false, stem + "-", {}, 's'});
      split.push_back(Piece{true, "process_num", {}, 'd'});
      split.push_back(Piece{false, p.extension().string(), {}, 's'});
      if (!has_runtime(*pieces)) {
        *pieces = split;
      } else {
        pieces->push_back(Piece{false, "-", {}, 's'});
        pieces->push_back(Piece{true, "process_num", {}, 'd'});
      }
      note(lines, fmt::format("supervisord's {} processes all wrote to {}; here each has its own "
                              "file",
                              numprocs, one_line(o.value)));
    }
    const std::string rendered = render(*pieces, &padded);
    if (!rendered.empty() && rendered[0] != '/' && rendered[0] != '$') {
      note(lines, fmt::format("{} is relative: minisup resolves it against this file's directory "
                              "(supervisord: its working directory)",
                              o.key));
    }
    lines.push_back(fmt::format("{} = {}", o.key, toml_string(rendered)));
  };

  for (const Option& o : s.options) {
    const std::string& key = o.key;
    if (key == "command") {
      auto pieces = resolve(o, s, scope);
      if (!pieces) continue;
      Pieces runtime;
      const std::string marked = with_markers(*pieces, runtime);
      std::string message;
      auto words = ini::shlex_split(marked, message);
      if (!words) {
        error(o, s, fmt::format("cannot be split as supervisord splits it: {}", message));
        continue;
      }
      if (words->empty()) {
        error(o, s, "is empty");
        continue;
      }
      std::vector<std::string> argv;
      std::vector<std::string> shell_words;
      bool env_in_command = false;
      for (const std::string& word : *words) {
        const Pieces word_pieces = from_markers(word, runtime);
        argv.push_back(toml_string(render(word_pieces, &padded)));
        for (const Piece& p : word_pieces) {
          if (p.is_expansion && p.text != "process_num") env_in_command = true;
        }
        const std::string literal = literal_text(word_pieces);
        if (is_shell_word(literal)) shell_words.push_back(literal);
      }
      const std::string first = lower(literal_text(from_markers(words->front(), runtime)));
      const bool is_shell = (first == "sh" || first == "bash" || first.ends_with("/sh") ||
                             first.ends_with("/bash")) &&
                            words->size() > 1 && (*words)[1] == "-c";
      static const std::set<std::string> kBuiltins{"cd",   "export", "source", ".",
                                                   "exec", "ulimit", "set"};
      if (!is_shell && kBuiltins.count(first) != 0) shell_words.insert(shell_words.begin(), first);
      if (!shell_words.empty() && !is_shell) {
        std::string listed;
        for (std::size_t i = 0; i < shell_words.size() && i < 3; ++i) {
          listed += (i == 0 ? "" : ", ") + toml_string(shell_words[i]);
        }
        note(lines, fmt::format("supervisord runs a command without a shell, so {} reached the "
                                "program as plain arguments, and still do here. If it relied on a "
                                "shell, write (stopasgroup = true lets the stop signal reach the "
                                "program, not only the shell):",
                                listed));
        lines.push_back(
            fmt::format("# command = [\"/bin/sh\", \"-c\", {}]", toml_string(render(*pieces))));
      }
      if (env_in_command) {
        note(lines,
             "supervisord split what a %(ENV_X)s gave at its blanks into words; minisup's "
             "${X} stays one word (the same unless the value holds blanks)");
      }
      lines.push_back("command = " + toml_array(argv));
    } else if (key == "process_name") {
      if (o.value != "%(program_name)s") {
        not_converted(lines, o,
                      fmt::format("minisup names the processes {}",
                                  numprocs > 1 ? name + ":N (N from numprocs_start)" : name));
      }
    } else if (key == "numprocs" || key == "numprocs_start" || key == "priority" ||
               key == "startsecs" || key == "startretries" || key == "stopwaitsecs") {
      const long long min = key == "numprocs" ? 1 : key == "priority" ? -2147483647 : 0;
      if (auto number = integer(o, min)) lines.push_back(fmt::format("{} = {}", key, *number));
    } else if (key == "autostart" || key == "stopasgroup" || key == "killasgroup" ||
               key == "redirect_stderr") {
      if (auto value = boolean(o)) lines.push_back(fmt::format("{} = {}", key, *value));
    } else if (key == "autorestart") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string value = lower(trim(*text));
      if (value == "unexpected") {
        lines.push_back("autorestart = \"unexpected\"");
      } else if (auto b = python_boolean(value)) {
        lines.push_back(fmt::format("autorestart = {}", *b));
      } else {
        error(o, s,
              fmt::format("invalid 'autorestart' value {} (supervisord refuses it too)", *text));
      }
    } else if (key == "exitcodes") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      std::vector<std::string> codes;
      std::string item;
      std::istringstream list(*text);
      bool ok = true;
      while (!trim(*text).empty() && std::getline(list, item, ',')) {
        auto code = python_int(item);
        if (!code || *code < 0 || *code > 255) {
          error(o, s, fmt::format("not a valid list of exit codes: {}", *text));
          ok = false;
          break;
        }
        codes.push_back(std::to_string(*code));
      }
      if (ok) lines.push_back("exitcodes = " + toml_array(codes));
    } else if (key == "stopsignal") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      auto signo = config::parse_signal(trim(*text));
      if (!signo) {
        error(o, s, fmt::format("value {} is not a valid signal name", *text));
        continue;
      }
      std::string signal = config::signal_name(*signo);
      if (signal.rfind("SIG", 0) == 0) signal = signal.substr(3);
      lines.push_back(fmt::format("stopsignal = {}", toml_string(signal)));
    } else if (key == "user") {
      if (auto text = plain(o, s, scope, lines)) {
        lines.push_back(fmt::format("user = {}", toml_string(trim(*text))));
      }
    } else if (key == "umask") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string digits = trim(*text);
      if (digits.empty() || digits.find_first_not_of("01234567") != std::string::npos ||
          digits.size() > 4 || std::stoi(digits, nullptr, 8) > 0777) {
        error(o, s, fmt::format("{} can not be converted to an octal type", *text));
        continue;
      }
      lines.push_back(fmt::format("umask = \"{:03o}\"", std::stoi(digits, nullptr, 8)));
    } else if (key == "directory") {
      auto pieces = resolve(o, s, scope);
      if (!pieces) continue;
      const std::string rendered = render(*pieces, &padded);
      if (!rendered.empty() && rendered[0] != '/' && rendered[0] != '$') {
        note(lines,
             "directory is relative: minisup resolves it against this file's directory "
             "(supervisord: its working directory)");
      }
      lines.push_back(fmt::format("directory = {}", toml_string(rendered)));
    } else if (key == "environment") {
      if (env) lines.push_back("environment = " + environment_table(*env, &padded));
    } else if (key == "stdout_logfile" || key == "stderr_logfile") {
      logfile(o, key == "stderr_logfile");
    } else if (key == "stdout_logfile_maxbytes" || key == "stderr_logfile_maxbytes") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string value = lower(trim(*text));
      std::string unit;
      if (value.size() > 2 &&
          (value.ends_with("kb") || value.ends_with("mb") || value.ends_with("gb"))) {
        unit = value.substr(value.size() - 2);
      }
      auto number = python_int(value.substr(0, value.size() - unit.size()));
      if (!number || *number < 0) {
        error(o, s, fmt::format("not a valid size: {}", *text));
        continue;
      }
      if (unit.empty()) {
        lines.push_back(fmt::format("{} = {}", key, *number));
      } else {
        std::string upper = unit;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        lines.push_back(fmt::format("{} = \"{}{}\"", key, *number, upper));
      }
    } else if (key == "stdout_logfile_backups" || key == "stderr_logfile_backups") {
      if (auto number = integer(o, 0)) lines.push_back(fmt::format("{} = {}", key, *number));
    } else if (key == "stdout_capture_maxbytes" || key == "stderr_capture_maxbytes") {
      auto text = plain(o, s, scope, lines);
      if (text && trim(*text) != "0") {
        not_converted(lines, o, "capture mode feeds event listeners, which minisup does not have");
      }
    } else if (key == "stdout_events_enabled" || key == "stderr_events_enabled") {
      if (boolean(o).value_or(false)) {
        not_converted(lines, o,
                      "minisup has no event listeners; `minisupctl events` streams state changes");
      }
    } else if (key == "stdout_syslog" || key == "stderr_syslog") {
      if (boolean(o).value_or(false)) {
        not_converted(lines, o,
                      "minisup writes to files or its own stdout (console), which journald or "
                      "syslog can take");
      }
    } else if (key == "serverurl") {
      if (lower(trim(o.value)) != "auto") {
        not_converted(lines, o, "minisup has no XML-RPC server for programs to call back into");
      }
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  if (padded) {
    note(lines,
         "%(process_num)02d-style padding is not kept: ${MINISUP_PROCESS_NUM} is 0, 1, ... "
         "(not 00, 01, ...)");
  }
  ++result_.programs;
  emit(&s, fmt::format("[program.{}]", toml_key(name)), lines);
}

void Converter::convert_other(const Section& s, std::string_view why) {
  std::vector<std::string> lines{fmt::format("# not converted: [{}] ({})", s.name, why)};
  ++result_.not_converted;
  for (const Option& o : s.options) {
    lines.push_back(fmt::format("#   {} = {}", o.key, one_line(o.value)));
  }
  emit(&s, "", lines);
}

}  // namespace minisup::ctl::convert_detail
