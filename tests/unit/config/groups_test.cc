// [group.NAME] tables and numprocs_start (DESIGN.md "Coming from
// supervisord"): what a group holds, the checks across files, and process
// numbers that start elsewhere than 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Groups = ConfigTest;

const std::string kPrograms =
    "[program.queue]\ncommand = \"q\"\n[program.mail]\ncommand = \"m\"\npriority = 5\n";

TEST_F(Groups, AGroupListsItsProgramsAndAppliesItsPriority) {
  const Config config =
      load_ok(kPrograms + "[group.workers]\nprograms = [\"queue\", \"mail\"]\npriority = 20\n");
  ASSERT_EQ(config.groups.size(), 1u);
  const GroupConfig& group = config.groups.front();
  EXPECT_EQ(group.name, "workers");
  EXPECT_THAT(group.programs, ElementsAre("queue", "mail"));
  EXPECT_EQ(group.priority, 20);
  EXPECT_EQ(group.where, (SourceLocation{(dir_ / "minisup.toml").string(), 6, 1}));
  // queue sets no priority: the group's; mail keeps its own.
  EXPECT_EQ(config.find_program("queue")->priority, 20);
  EXPECT_EQ(config.find_program("mail")->priority, 5);
  EXPECT_EQ(config.find_group("workers"), &group);
  EXPECT_EQ(config.find_group("queue"), nullptr);
}

TEST_F(Groups, WithoutPriorityTheProgramsKeepTheirs) {
  const Config config = load_ok(kPrograms + "[group.workers]\nprograms = [\"queue\"]\n");
  EXPECT_EQ(config.find_program("queue")->priority, 999);
  EXPECT_EQ(config.groups.front().priority, std::nullopt);
}

TEST_F(Groups, AnUnknownProgramIsAnErrorAtItsName) {
  EXPECT_EQ(only_error(kPrograms + "[group.workers]\nprograms = [\"queue\", \"mial\"]\n"),
            "minisup.toml:7:22: group \"workers\": programs names \"mial\", which is not a "
            "program; did you mean \"mail\"?");
}

TEST_F(Groups, AGroupAndAProgramMayNotShareAName) {
  EXPECT_EQ(only_error(kPrograms + "[group.queue]\nprograms = [\"mail\"]\n"),
            "minisup.toml:6:8: group \"queue\" has the name of program \"queue\" (at "
            "minisup.toml:1:1); a group and a program may not share a name");
}

TEST_F(Groups, AProgramBelongsToOneGroupAtMost) {
  EXPECT_EQ(
      only_error(kPrograms + "[group.a]\nprograms = [\"queue\"]\n[group.b]\nprograms = [\"mail\", "
                             "\"queue\"]\n"),
      "minisup.toml:9:21: program \"queue\" is in group \"a\" (at minisup.toml:6:1) and in "
      "group \"b\"; a program belongs to one group at most");
}

TEST_F(Groups, ShapeErrors) {
  EXPECT_EQ(only_error(kPrograms + "[group.workers]\npriority = 1\n"),
            "minisup.toml:6:1: [group.workers] has no programs; programs = [\"NAME\", ...] is "
            "required");
  EXPECT_EQ(only_error(kPrograms + "[group.workers]\nprograms = []\n"),
            "minisup.toml:7:12: programs must be a non-empty array of program names, got an array");
  EXPECT_EQ(
      only_error(kPrograms + "[group.workers]\nprograms = \"queue\"\n"),
      "minisup.toml:7:12: programs must be a non-empty array of program names, got \"queue\"");
  EXPECT_EQ(only_error(kPrograms + "[group.workers]\nprograms = [\"queue\", \"queue\"]\n"),
            "minisup.toml:7:22: programs[1]: \"queue\" is listed twice");
  EXPECT_EQ(only_error(kPrograms + "[group.workers]\nprograms = [\"queue\"]\nprogram = 1\n"),
            "minisup.toml:8:1: unknown key `program` in [group.workers]; did you mean `programs`?");
  EXPECT_EQ(only_error(kPrograms + "[group.\"a b\"]\nprograms = [\"queue\"]\n"),
            "minisup.toml:6:8: group name \"a b\" may only contain letters, digits, \"_\", \".\" "
            "and \"-\"");
  EXPECT_EQ(only_error(kPrograms + "[[group.workers]]\nprograms = [\"queue\"]\n"),
            "minisup.toml:6:9: group.workers must be a table, got an array (write [group.NAME], "
            "not [[group.NAME]])");
  EXPECT_EQ(only_error("group = 1\n" + kPrograms),
            "minisup.toml:1:1: group must hold [group.NAME] tables, got 1");
}

TEST_F(Groups, IncludedFilesMayHoldGroupsAndTheirChecksSpanFiles) {
  write("conf.d/workers.toml", "[group.workers]\nprograms = [\"queue\", \"mail\"]\n");
  write("conf.d/z.toml", "[group.workers]\nprograms = [\"queue\"]\n");
  const LoadResult result = load("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n" + kPrograms);
  EXPECT_THAT(errors(result),
              ElementsAre("conf.d/z.toml:1:8: group \"workers\" is defined twice: at "
                          "conf.d/workers.toml:1:1 and at conf.d/z.toml:1:1"));
  write("conf.d/z.toml", "[program.extra]\ncommand = \"x\"\n");
  const Config config = load_ok("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n" + kPrograms);
  EXPECT_THAT(config.groups.front().programs, ElementsAre("queue", "mail"));
}

TEST_F(Groups, TheCheckSummaryListsTheGroups) {
  const Config config = load_ok(kPrograms + "[group.workers]\nprograms = [\"queue\", \"mail\"]\n");
  EXPECT_THAT(check_summary(config), HasSubstr("\ngroups: workers (queue, mail)\n"));
  EXPECT_THAT(check_summary(load_ok(kPrograms)), ::testing::Not(HasSubstr("groups:")));
}

using NumprocsStart = ConfigTest;

TEST_F(NumprocsStart, OffsetsProcessNumbersNamesAndLogs) {
  const Config config = load_ok(
      web("numprocs = 3\nnumprocs_start = 5\nenvironment = { N = \"${MINISUP_PROCESS_NUM}\" }\n"
          "stderr_logfile = \"err-${MINISUP_PROCESS_NUM}.log\""));
  const ProgramConfig& web = config.programs.front();
  EXPECT_EQ(web.numprocs_start, 5);
  ASSERT_EQ(web.processes.size(), 3u);
  std::vector<std::string> names;
  for (const ProcessConfig& p : web.processes) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("web:5", "web:6", "web:7"));
  EXPECT_EQ(web.processes[0].process_num, 5);
  EXPECT_EQ(web.processes[2].environment.at("N"), "7");
  EXPECT_EQ(web.processes[1].stdout_logfile.path, (dir_ / "logs/web_6-stdout.log").string());
  EXPECT_EQ(web.processes[1].stderr_logfile.path, (dir_ / "err-6.log").string());
}

TEST_F(NumprocsStart, WithOneProcessTheNameStaysAndTheNumberMoves) {
  const Config config =
      load_ok(web("numprocs_start = 2\nenvironment = { N = \"${MINISUP_PROCESS_NUM}\" }"));
  const ProcessConfig& process = config.programs.front().processes.front();
  EXPECT_EQ(process.name, "web");
  EXPECT_EQ(process.process_num, 2);
  EXPECT_EQ(process.environment.at("N"), "2");
}

TEST_F(NumprocsStart, MustBeANonNegativeInteger) {
  EXPECT_EQ(only_error(web("numprocs_start = -1")),
            "minisup.toml:3:18: numprocs_start must be between 0 and 1000000, got -1");
  EXPECT_EQ(only_error(web("numprocs_start = \"1\"")),
            "minisup.toml:3:18: numprocs_start must be an integer, got \"1\"");
}

TEST_F(NumprocsStart, ItIsPartOfTheDefinition) {
  const Config a = load_ok(web("numprocs = 2"));
  const Config b = load_ok(web("numprocs = 2\nnumprocs_start = 1"));
  EXPECT_FALSE(a.programs.front().equals_definition(b.programs.front()));
}

}  // namespace
}  // namespace minisup::config::testing
