// start_steps(), start_order(), the start order and shutdown_timeout in
// check_summary(), apply_run() (minisupd --run), and the new keys in
// diff_configs().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supervisor/config/config_diff.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using StartOrder = ConfigTest;
using ApplyRun = ConfigTest;
using ReadinessDiff = ConfigTest;

std::vector<std::string> names(const std::vector<const ProgramConfig*>& programs) {
  std::vector<std::string> out;
  for (const ProgramConfig* p : programs) out.push_back(p->name);
  return out;
}

/// The lines of `text` from the one starting with `first` up to the first
/// that does not start with two blanks.
std::string section(const std::string& text, const std::string& first) {
  const std::size_t at = text.find(first);
  if (at == std::string::npos) return "";
  std::size_t end = text.find('\n', at) + 1;
  while (end < text.size() && text.compare(end, 2, "  ") == 0) end = text.find('\n', end) + 1;
  return text.substr(at, end - at);
}

TEST_F(StartOrder, DependenciesFirstThenPriority) {
  const Config c = load_ok(
      "[program.app]\ncommand = \"a\"\npriority = 1\ndepends_on = { db = \"ready\", migrate = "
      "\"completed\" }\n"
      "[program.db]\ncommand = \"d\"\n"
      "[program.migrate]\ncommand = \"m\"\ndepends_on = [\"db\"]\n"
      "[program.cache]\ncommand = \"c\"\n"
      "[program.early]\ncommand = \"e\"\npriority = 1\n");
  EXPECT_THAT(names(start_order(c)), ElementsAre("early", "cache", "db", "migrate", "app"));
  const auto steps = start_steps(c);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_THAT(names(steps[1]), ElementsAre("cache", "db"));
  EXPECT_EQ(section(check_summary(c), "start order"),
            "start order (dependencies first, then by priority, lowest first):\n"
            "  1: early\n"
            "  999: cache, db\n"
            "  999: migrate (job) (after db: ready)\n"
            "  1: app (after db: ready, migrate: completed)\n");
}

TEST_F(StartOrder, WithoutDependenciesStepsArePriorityLevels) {
  const Config c = load_ok(
      "[program.b]\ncommand = \"b\"\n[program.a]\ncommand = \"a\"\n"
      "[program.z]\ncommand = \"z\"\npriority = 5\n");
  EXPECT_THAT(names(start_order(c)), ElementsAre("z", "a", "b"));
  EXPECT_EQ(section(check_summary(c), "start order"),
            "start order (by priority, lowest first):\n"
            "  5: z\n"
            "  999: a, b\n");
}

TEST_F(StartOrder, WorstCaseShutdownCountsDependencyChains) {
  const Config c = load_ok(
      "[program.a]\ncommand = \"a\"\nstopwaitsecs = 10\n"
      "[program.b]\ncommand = \"b\"\nstopwaitsecs = 10\ndepends_on = [\"a\"]\n"
      "[program.c]\ncommand = \"c\"\nstopwaitsecs = 5\n");
  // Steps [a, c] and [b]: b stops before a.
  EXPECT_EQ(worst_case_shutdown(c), 20s);
}

TEST_F(StartOrder, CycleInAHandBuiltConfigKeepsEveryProgram) {
  Config c;
  ProgramConfig a;
  a.name = "a";
  a.depends_on = {{"b", DependencyCondition::Ready}};
  ProgramConfig b;
  b.name = "b";
  b.depends_on = {{"a", DependencyCondition::Ready}, {"nope", DependencyCondition::Ready}};
  ProgramConfig x;
  x.name = "x";
  c.programs = {a, b, x};
  EXPECT_THAT(names(start_order(c)), ElementsAre("x", "a", "b"));
}

TEST_F(StartOrder, ShutdownTimeoutInTheSummary) {
  const std::string programs =
      "[program.db]\ncommand = \"db\"\npriority = 1\nstopwaitsecs = 25\n"
      "[program.web]\ncommand = \"w\"\nstopwaitsecs = 10\n";
  const std::string over =
      check_summary(load_ok("[supervisor]\nshutdown_timeout = 20\n" + programs));
  EXPECT_THAT(over, HasSubstr("worst-case shutdown: 35.0 s\n"
                              "shutdown_timeout: 20.0 s\n"
                              "warning: worst-case shutdown of 35.0 s exceeds shutdown_timeout "
                              "(20.0 s); processes still running 20.0 s after the shutdown began "
                              "get SIGKILL then\n"));
  EXPECT_THAT(over, Not(HasSubstr("Kubernetes")));

  const std::string fits =
      check_summary(load_ok("[supervisor]\nshutdown_timeout = 35\n" + programs));
  EXPECT_THAT(fits, HasSubstr("worst-case shutdown: 35.0 s\nshutdown_timeout: 35.0 s\n"
                              "warning: shutdown_timeout of 35.0 s exceeds 30 s, the default "
                              "Kubernetes terminationGracePeriodSeconds; raise the grace period "
                              "to match\n"));
  EXPECT_THAT(fits, Not(HasSubstr("SIGKILL")));

  const std::string small =
      check_summary(load_ok("[supervisor]\nshutdown_timeout = 2.5\n" + web("stopwaitsecs = 2")));
  EXPECT_THAT(small, HasSubstr("worst-case shutdown: 2.0 s\nshutdown_timeout: 2.5 s\n"));
  EXPECT_THAT(small, Not(HasSubstr("warning")));
}

// ---- apply_run ----

TEST_F(ApplyRun, MakesTheProgramAOneShotPassthroughJob) {
  Config c = load_ok(
      "[program.tests]\ncommand = \"pytest -x\"\nautostart = false\nautorestart = true\n"
      "startretries = 5\nstdout_logfile = \"console\"\n"
      "[program.db]\ncommand = \"d\"\n");
  const ProgramConfig db_before = *c.find_program("db");
  EXPECT_EQ(apply_run(c, "tests", {"-k", "slow tests"}), std::nullopt);
  const ProgramConfig& p = *c.find_program("tests");
  EXPECT_TRUE(p.job);
  EXPECT_TRUE(p.autostart);
  EXPECT_EQ(p.startretries, 0);
  EXPECT_EQ(p.autorestart, AutoRestart::Never);
  EXPECT_EQ(p.shutdown_on, ShutdownOn::Exit);
  EXPECT_THAT(p.processes.at(0).command, ElementsAre("pytest", "-x", "-k", "slow tests"));
  EXPECT_EQ(p.processes.at(0).stdout_logfile, (LogTarget{LogTarget::Kind::Passthrough, {}}));
  EXPECT_EQ(p.processes.at(0).stderr_logfile, (LogTarget{LogTarget::Kind::Passthrough, {}}));
  EXPECT_EQ(*c.find_program("db"), db_before);
}

TEST_F(ApplyRun, Errors) {
  Config c = load_ok(
      "[program.tests]\ncommand = \"t\"\n[program.pool]\ncommand = \"p\"\nnumprocs = 2\n"
      "stdout_logfile = \"p-${MINISUP_PROCESS_NUM}.log\"\n");
  const Config before = c;
  EXPECT_EQ(apply_run(c, "test", {}), "--run: no program named \"test\"; did you mean \"tests\"?");
  EXPECT_EQ(apply_run(c, "zzzzzz", {}), "--run: no program named \"zzzzzz\"");
  EXPECT_EQ(apply_run(c, "pool", {}),
            "--run pool: the program has numprocs = 2; --run runs a program of one process");
  EXPECT_EQ(c.programs, before.programs);
}

// ---- reread ----

TEST_F(ReadinessDiff, NewKeysMakeAProgramChanged) {
  const std::string base = "[program.db]\ncommand = \"d\"\n[program.web]\ncommand = \"w\"\n";
  const Config old_config = load_ok(base);
  for (const std::string extra :
       {"ready = { tcp = \"127.0.0.1:1\" }", "ready = { tcp = \"127.0.0.1:1\", timeout = 3 }",
        "health = { exec = \"check\" }", "depends_on = [\"db\"]",
        "depends_on = { db = \"started\" }", "shutdown_on = \"exit\""}) {
    const Config new_config = load_ok(base + extra + "\n");
    EXPECT_EQ(diff_configs(old_config, new_config), (ConfigDiff{{}, {"web"}, {}})) << extra;
  }
  // A program that becomes a job (named by a `completed` condition) changes too.
  const Config jobs = load_ok(base + "depends_on = { db = \"completed\" }\n");
  EXPECT_EQ(diff_configs(old_config, jobs), (ConfigDiff{{}, {"db", "web"}, {}}));
  EXPECT_TRUE(diff_configs(jobs, load_ok(base + "depends_on = { db = \"completed\" }\n")).empty());
}

}  // namespace
}  // namespace minisup::config::testing
