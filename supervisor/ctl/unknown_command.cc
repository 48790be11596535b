// minisupctl's answer to an unknown command: see unknown_command.h.
#include "supervisor/ctl/unknown_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace minisup::ctl {

const std::vector<SupervisorctlCommand> kSupervisorctlCommands{
    {"add", "update", "update starts the programs added to the config"},
    {"avail", "status", "status lists every configured process, running or not"},
    {"exit", "", "minisupctl has no interactive shell: each run is one command"},
    {"fg", "tail", "tail -f NAME follows a process's output"},
    {"help", "--help", "minisupctl --help lists the commands, minisupctl COMMAND --help one"},
    {"maintail", "events",
     "minisupd's own log is its stderr or [supervisor] logfile; events prints the state "
     "changes as they happen"},
    {"open", "-s", "minisupctl -s SOCKET COMMAND talks to another minisupd"},
    {"quit", "", "minisupctl has no interactive shell: each run is one command"},
    {"reload", "update",
     "supervisorctl's reload restarts supervisord; update applies the config's changes, "
     "restart all restarts every process"},
    {"remove", "update", "update stops and removes the programs removed from the config"},
};

std::optional<std::string> command_word(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return i + 1 < argc ? std::optional<std::string>(argv[i + 1]) : std::nullopt;
    // The options before the command that take a value as the next word.
    if (arg == "-c" || arg == "--config" || arg == "-s" || arg == "--socket") {
      ++i;
      continue;
    }
    if (arg.size() > 1 && arg.front() == '-') continue;  // --json, -cFILE, --config=FILE, ...
    return std::string(arg);
  }
  return std::nullopt;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rows of the dynamic programme: the two before the current one
  // (the swap looks two back).
  std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::vector<std::string> close_commands(std::string_view word,
                                        const std::vector<std::string>& commands) {
  std::vector<std::string> found;
  if (word.size() >= 2) {
    for (const std::string& command : commands) {
      if (command.starts_with(word)) found.push_back(command);
    }
  }
  if (found.empty()) {
    const std::size_t limit = word.size() <= 4 ? 1 : 2;
    std::size_t best = std::numeric_limits<std::size_t>::max();
    for (const std::string& command : commands) {
      const std::size_t distance = edit_distance(word, command);
      if (distance > limit || distance > best) continue;
      if (distance < best) found.clear();
      best = distance;
      found.push_back(command);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string unknown_command_message(std::string_view word,
                                    const std::vector<std::string>& commands) {
  for (const SupervisorctlCommand& known : kSupervisorctlCommands) {
    if (known.name != word) continue;
    if (known.ours.empty()) return fmt::format("unknown command {} ({})", word, known.because);
    return fmt::format("unknown command {}; did you mean {}? (supervisorctl's {}: {})", word,
                       known.ours, word, known.because);
  }
  const std::vector<std::string> close = close_commands(word, commands);
  if (close.empty())
    return fmt::format("unknown command {} (minisupctl --help lists the commands)", word);
  std::string list = close.front();
  for (std::size_t i = 1; i < close.size(); ++i)
    list += (i + 1 == close.size() ? " or " : ", ") + close[i];
  return fmt::format("unknown command {}; did you mean {}?", word, list);
}

}  // namespace minisup::ctl
