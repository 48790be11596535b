// minisupctl's answer to a command it does not know.
//
// Model: before CLI11 parses the command line (which would only say "A
// subcommand is required"), main() takes the command word out of argv
// (command_word()) and, when it names no command, prints
// unknown_command_message() and exits 2. The suggestion comes from two
// places: supervisorctl's commands that minisupctl calls differently or
// does without (kSupervisorctlCommands: `avail` -> status, `reload` ->
// update, ...), then the commands minisupctl has, by prefix and by edit
// distance (`stauts` -> status, `st` -> start, status or stop).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minisup::ctl {

/// A supervisorctl command minisupctl has no command of that name for.
struct SupervisorctlCommand {
  std::string_view name;     ///< supervisorctl's: `avail`
  std::string_view ours;     ///< what to use instead: `status`, `--help`
  std::string_view because;  ///< why, one clause
};

/// supervisorctl 4.2's commands that minisupctl does not have under the
/// same name (see minisupctl(1), "Coming from supervisorctl").
extern const std::vector<SupervisorctlCommand> kSupervisorctlCommands;

/// The command word of minisupctl's argv: the first argument that is
/// neither an option before the command (-c FILE, --config=FILE, -s
/// SOCKET, --json, --help, ...) nor an option's value; nullopt when there
/// is none (CLI11 then says a command is required).
std::optional<std::string> command_word(int argc, const char* const* argv);

/// The optimal string alignment distance between `a` and `b`: insertions,
/// deletions, substitutions and swaps of two neighbours count 1 each.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The commands `word` may have been meant as, among `commands`: those it
/// is a prefix of (at least two letters), else those at the smallest edit
/// distance when that is at most 1 (words up to 4 letters) or 2. Sorted;
/// empty when nothing is close.
std::vector<std::string> close_commands(std::string_view word,
                                        const std::vector<std::string>& commands);

/// The line minisupctl prints (after `minisupctl: `) for `word`, which is
/// none of `commands`: `unknown command avail; did you mean status?
/// (supervisorctl's avail: ...)`, `unknown command stauts; did you mean
/// status?`, `unknown command st; did you mean start, status or stop?`, or
/// `unknown command frobnicate (minisupctl --help lists the commands)`.
std::string unknown_command_message(std::string_view word,
                                    const std::vector<std::string>& commands);

}  // namespace minisup::ctl
