// ctl/unknown_command: the command word of argv and the did-you-mean.
#include "supervisor/ctl/unknown_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace minisup::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::vector<std::string> kCommands{"status", "start",    "stop",    "restart", "signal",
                                         "pid",    "tail",     "clear",   "reread",  "update",
                                         "wait",   "shutdown", "version", "events"};

std::optional<std::string> word_of(std::vector<const char*> args) {
  args.insert(args.begin(), "minisupctl");
  return command_word(static_cast<int>(args.size()), args.data());
}

TEST(CommandWord, SkipsTheOptionsBeforeTheCommandAndTheirValues) {
  EXPECT_EQ(word_of({"status"}), "status");
  EXPECT_EQ(word_of({"-c", "x.toml", "avail"}), "avail");
  EXPECT_EQ(word_of({"--config", "x.toml", "--json", "stop", "web"}), "stop");
  EXPECT_EQ(word_of({"-s", "/run/m.sock", "pid"}), "pid");
  EXPECT_EQ(word_of({"--socket=/run/m.sock", "-cx.toml", "tail", "web"}), "tail");
  EXPECT_EQ(word_of({"--", "reload"}), "reload");
  EXPECT_EQ(word_of({}), std::nullopt);
  EXPECT_EQ(word_of({"--json"}), std::nullopt);
  EXPECT_EQ(word_of({"-c"}), std::nullopt);
}

TEST(EditDistance, CountsASwapOfNeighboursAsOne) {
  EXPECT_EQ(edit_distance("status", "status"), 0u);
  EXPECT_EQ(edit_distance("stauts", "status"), 1u);
  EXPECT_EQ(edit_distance("stp", "stop"), 1u);
  EXPECT_EQ(edit_distance("", "pid"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(CloseCommands, PrefixesFirstThenTheNearest) {
  EXPECT_THAT(close_commands("st", kCommands), ElementsAre("start", "status", "stop"));
  EXPECT_THAT(close_commands("res", kCommands), ElementsAre("restart"));
  EXPECT_THAT(close_commands("stauts", kCommands), ElementsAre("status"));
  EXPECT_THAT(close_commands("strat", kCommands), ElementsAre("start"));
  EXPECT_THAT(close_commands("tial", kCommands), ElementsAre("tail"));
  EXPECT_THAT(close_commands("shutdwon", kCommands), ElementsAre("shutdown"));
  EXPECT_THAT(close_commands("frobnicate", kCommands), IsEmpty());
  EXPECT_THAT(close_commands("x", kCommands), IsEmpty());
}

TEST(UnknownCommandMessage, SupervisorctlsCommandsPointAtOurs) {
  EXPECT_EQ(unknown_command_message("avail", kCommands),
            "unknown command avail; did you mean status? (supervisorctl's avail: status lists "
            "every configured process, running or not)");
  EXPECT_THAT(unknown_command_message("reload", kCommands),
              ::testing::StartsWith("unknown command reload; did you mean update?"));
  EXPECT_THAT(unknown_command_message("maintail", kCommands),
              ::testing::StartsWith("unknown command maintail; did you mean events?"));
  EXPECT_THAT(unknown_command_message("help", kCommands),
              ::testing::StartsWith("unknown command help; did you mean --help?"));
  EXPECT_EQ(unknown_command_message("quit", kCommands),
            "unknown command quit (minisupctl has no interactive shell: each run is one command)");
  // Every one points at something minisupctl has (a command or an option).
  for (const SupervisorctlCommand& known : kSupervisorctlCommands) {
    if (known.ours.empty() || known.ours.starts_with("-")) continue;
    EXPECT_NE(std::find(kCommands.begin(), kCommands.end(), known.ours), kCommands.end())
        << known.name << " -> " << known.ours;
  }
}

TEST(UnknownCommandMessage, TyposGetTheClosestCommands) {
  EXPECT_EQ(unknown_command_message("stauts", kCommands),
            "unknown command stauts; did you mean status?");
  EXPECT_EQ(unknown_command_message("st", kCommands),
            "unknown command st; did you mean start, status or stop?");
  EXPECT_EQ(unknown_command_message("frobnicate", kCommands),
            "unknown command frobnicate (minisupctl --help lists the commands)");
}

}  // namespace
}  // namespace minisup::ctl
