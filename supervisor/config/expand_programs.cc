// From drafts to processes (Loader::expand_program, loader.h): each
// [program.NAME] becomes its numprocs processes, with `${VAR}` expanded in
// every word of the command, the directory, the environment and the log
// paths and the exec probes' words (MINISUP_PROGRAM, MINISUP_PROCESS_NAME and MINISUP_PROCESS_NUM
// set per process), AUTO log names made in childlogdir; then the log files that processes would
// share are reported.
#include <fmt/format.h>

#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "supervisor/config/config_file.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {

std::optional<LogTarget> Loader::log_target(const std::optional<Located>& value,
                                            std::string_view key, std::string_view stream,
                                            const ProgramDraft& draft, const ProcessConfig& process,
                                            const VariableLookup& lookup) {
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
  return LogTarget{LogTarget::Kind::File, resolve_path(draft.file->directory, *expanded).string()};
}

std::vector<std::string> Loader::expand_words(const std::vector<Located>& words,
                                              std::string_view key, const VariableLookup& lookup) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    auto word = expand(words[i], key, lookup);
    if (!word) continue;
    if (i == 0 && word->empty()) {
      error(words[i].where, fmt::format("{}: the program to run is empty after expansion", key));
    }
    out.push_back(std::move(*word));
  }
  return out;
}

void Loader::expand_program(ProgramDraft& draft) {
  ProgramConfig& p = draft.program;
  std::map<std::string, std::string> overlay;
  const VariableLookup lookup = layered_lookup(overlay, variables_);
  for (int n = p.numprocs_start; n < p.numprocs_start + p.numprocs; ++n) {
    ProcessConfig process;
    process.process_num = n;
    process.name = p.numprocs == 1 ? p.name : fmt::format("{}:{}", p.name, n);
    overlay["MINISUP_PROGRAM"] = p.name;
    overlay["MINISUP_PROCESS_NAME"] = process.name;
    overlay["MINISUP_PROCESS_NUM"] = std::to_string(n);

    process.command = expand_words(draft.command, "command", lookup);
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
    if (auto target =
            log_target(draft.stdout_logfile, "stdout_logfile", "stdout", draft, process, lookup)) {
      process.stdout_logfile = *target;
    }
    // stderr follows stdout to the console unless set: in a container
    // everything then reaches `kubectl logs`.
    const bool stdout_to_console =
        draft.stdout_logfile && iequals(draft.stdout_logfile->text, "console");
    if (!draft.stderr_logfile && stdout_to_console) {
      process.stderr_logfile = LogTarget{LogTarget::Kind::Console, {}};
    } else if (auto target = log_target(draft.stderr_logfile, "stderr_logfile", "stderr", draft,
                                        process, lookup)) {
      process.stderr_logfile = *target;
    }
    process.ready_exec = expand_words(draft.ready_exec, "ready.exec", lookup);
    process.health_exec = expand_words(draft.health_exec, "health.exec", lookup);
    p.processes.push_back(std::move(process));
  }
  if (p.ready && p.ready->kind == Probe::Kind::Exec) p.ready->exec = p.processes.front().ready_exec;
  if (p.health && p.health->kind == Probe::Kind::Exec) {
    p.health->exec = p.processes.front().health_exec;
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
void Loader::check_numprocs_log(const ProgramDraft& draft, const std::optional<Located>& value,
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
void Loader::check_shared_logs() {
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
        if (p.numprocs > 1 && it->second.starts_with(p.name + ":")) return;  // reported as an error
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

}  // namespace minisup::config::detail
