// check_summary(), worst_case_shutdown(), diff_configs() and
// equals_definition(), find_config_file(), process_environment(), and the
// configs shipped in conf/ and examples/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "supervisor/config/config_diff.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using Summary = ConfigTest;
using Diff = ConfigTest;
using FindConfigFile = ConfigTest;

TEST_F(Summary, WorstCaseShutdownSumsTheSlowestOfEachLevel) {
  const Config c = load_ok(
      "[program.db]\ncommand = \"db\"\npriority = 1\nstopwaitsecs = 25\n"
      "[program.web]\ncommand = \"w\"\nnumprocs = 2\nstopwaitsecs = 10\n"
      "[program.worker]\ncommand = \"k\"\nstopwaitsecs = 2.5\nautostart = false\n");
  EXPECT_EQ(worst_case_shutdown(c), 35s);
  EXPECT_EQ(check_summary(c),
            "config: " + (dir_ / "minisup.toml").string() +
                "\n"
                "programs: 3\n"
                "processes: 4\n"
                "start order (by priority, lowest first):\n"
                "  1: db\n"
                "  999: web (2 processes), worker (autostart = false)\n"
                "worst-case shutdown: 35.0 s\n"
                "warning: worst-case shutdown of 35.0 s exceeds 30 s, the default Kubernetes "
                "terminationGracePeriodSeconds; lower stopwaitsecs or raise the grace period\n");
}

TEST_F(Summary, NoWarningWithinThirtySecondsAndConfigWarningsListed) {
  const Config c = load_ok(
      "[supervisor]\ninclude = [\"none/*.toml\"]\n"
      "[program.a]\ncommand = \"a\"\nstopwaitsecs = 0.25\n"
      "[program.b]\ncommand = \"b\"\npriority = 5\nstopwaitsecs = 29.75\n");
  EXPECT_EQ(worst_case_shutdown(c), 30s);
  const std::string summary = strip(check_summary(c));
  EXPECT_THAT(summary, HasSubstr("worst-case shutdown: 30.0 s\n"));
  EXPECT_THAT(summary, Not(HasSubstr("exceeds")));
  EXPECT_THAT(summary,
              ::testing::EndsWith(
                  "warning: minisup.toml:2:12: include pattern \"none/*.toml\" matches no file\n"));
  EXPECT_EQ(worst_case_shutdown(Config{}), 0s);
}

ProgramConfig program(const std::string& name) {
  ProgramConfig p;
  p.name = name;
  ProcessConfig proc;
  proc.name = name;
  proc.command = {"/bin/" + name};
  p.processes.push_back(proc);
  return p;
}

TEST(EqualsDefinition, IgnoresWhereOnly) {
  ProgramConfig a = program("web");
  ProgramConfig b = a;
  b.where = SourceLocation{"other.toml", 7, 1};
  EXPECT_TRUE(a.equals_definition(b));
  EXPECT_FALSE(a == b);
  b.stopwaitsecs = 11s;
  EXPECT_FALSE(a.equals_definition(b));
  b = a;
  b.processes[0].environment["X"] = "1";
  EXPECT_FALSE(a.equals_definition(b));
  b = a;
  b.stderr_logfile_settings.backups = 3;
  EXPECT_FALSE(a.equals_definition(b));
}

TEST(DiffConfigs, AddedChangedRemovedSorted) {
  Config old_config;
  old_config.programs = {program("keep"), program("zgone"), program("change"), program("agone")};
  Config new_config;
  new_config.programs = {program("new2"), program("keep"), program("change"), program("new1")};
  new_config.programs[2].priority = 5;
  new_config.programs[1].where = SourceLocation{"moved.toml", 3, 1};
  const ConfigDiff diff = diff_configs(old_config, new_config);
  EXPECT_THAT(diff.added, ElementsAre("new1", "new2"));
  EXPECT_THAT(diff.changed, ElementsAre("change"));
  EXPECT_THAT(diff.removed, ElementsAre("agone", "zgone"));
  EXPECT_FALSE(diff.empty());
  EXPECT_TRUE(diff_configs(old_config, old_config).empty());
}

TEST_F(Diff, ExpansionAndDefaultsDecideWhatChanged) {
  const std::string text =
      "[program.a]\ncommand = \"a ${V}\"\n"
      "[program.b]\ncommand = \"b\"\n"
      "[program.c]\ncommand = \"c\"\nstopwaitsecs = 10\n";
  const Config before = load_ok(text, {{"V", "1"}});
  // Same definitions written differently and moved around: unchanged.
  const Config same = load_ok(
      "\n\n[program.c]\ncommand = [\"c\"]\n[program.b]\ncommand = \"b\"\nautorestart = "
      "\"unexpected\"\n"
      "[program.a]\ncommand = \"a 1\"\n");
  EXPECT_TRUE(diff_configs(before, same).empty());
  // A different value of ${V} changes a.
  const Config after = load_ok(text, {{"V", "2"}});
  EXPECT_THAT(diff_configs(before, after).changed, ElementsAre("a"));
  // A different childlogdir changes every program with AUTO logs.
  const Config moved_logs =
      load_ok("[supervisor]\nchildlogdir = \"/elsewhere\"\n" + text, {{"V", "1"}});
  EXPECT_THAT(diff_configs(before, moved_logs).changed, ElementsAre("a", "b", "c"));
}

TEST_F(FindConfigFile, ExplicitThenCurrentDirectory) {
  EXPECT_EQ(find_config_file(std::filesystem::path("/x/y.toml")),
            std::filesystem::path("/x/y.toml"));
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  const bool etc_exists = std::filesystem::exists("/etc/minisup/minisup.toml");
  const auto without = find_config_file(std::nullopt);
  write("minisup.toml", "");
  const auto with = find_config_file(std::nullopt);
  std::filesystem::current_path(cwd);
  if (etc_exists) {
    EXPECT_EQ(without, std::filesystem::path("/etc/minisup/minisup.toml"));
  } else {
    EXPECT_EQ(without, std::nullopt);
  }
  EXPECT_EQ(with, std::filesystem::path("minisup.toml"));
}

TEST(ProcessEnvironment, ReadsEnviron) {
  ::setenv("MINISUP_CONFIG_TEST_VAR", "a=b", 1);
  const Environment env = process_environment();
  ::unsetenv("MINISUP_CONFIG_TEST_VAR");
  ASSERT_TRUE(env.contains("MINISUP_CONFIG_TEST_VAR"));
  EXPECT_EQ(env.at("MINISUP_CONFIG_TEST_VAR"), "a=b");
}

// The shipped configs must stay valid.
TEST(ShippedConfigs, SampleConfigLoadsWithoutErrors) {
  const LoadResult result =
      load_config(std::filesystem::path(MINISUP_SOURCE_DIR) / "conf/minisup.toml", {});
  std::vector<std::string> messages;
  for (const auto& e : result.errors) messages.push_back(e.to_string());
  EXPECT_THAT(messages, IsEmpty());
  ASSERT_TRUE(result.config.has_value());
  EXPECT_GE(result.config->programs.size(), 2u);
}

TEST(ShippedConfigs, ExampleConfigLoadsWithoutErrorsOrWarnings) {
  const LoadResult result = load_config(
      std::filesystem::path(MINISUP_SOURCE_DIR) / "examples/minisup.toml", process_environment());
  std::vector<std::string> messages;
  for (const auto& e : result.errors) messages.push_back(e.to_string());
  EXPECT_THAT(messages, IsEmpty());
  EXPECT_THAT(result.warnings, IsEmpty());
  ASSERT_TRUE(result.config.has_value());
  EXPECT_GE(result.config->programs.size(), 2u);
  EXPECT_LE(worst_case_shutdown(*result.config), 30s);
}

}  // namespace
}  // namespace minisup::config::testing
