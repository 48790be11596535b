// Integration tests of depends_on, shutdown_on, shutdown_timeout and
// `minisupd --run` (DESIGN.md, "Readiness, dependencies and harness mode"):
// the real minisupd with real children.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// Where `needle` first appears in `text` (npos when absent).
std::size_t at(const std::string& text, const std::string& needle) { return text.find(needle); }

/// Runs `minisupd -c CONFIG ARGS...` in the foreground until it exits.
CommandResult run_minisupd(const Daemon& d, const std::vector<std::string>& args) {
  std::vector<std::string> argv{MINISUPD_PATH, "-c", d.config_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {}, 60s);
}

TEST(DependsOn, AppWaitsForItsDependencyToBeReady) {
  Daemon d;
  const fs::path flag = d.dir() / "db.ready";
  d.write_config(
      fmt::format("[program.db]\n{}startsecs = 1.2\n"
                  "[program.app]\n{}startsecs = 0\ndepends_on = [\"db\"]\n",
                  child_cmd(fmt::format("--after 60 --ready-file {} ", flag.string())),
                  child_cmd("--after 60")));
  d.start();
  ASSERT_TRUE(d.wait_state("db", "STARTING"));
  auto app = d.process("app");
  EXPECT_EQ(app["state"], "STARTING");
  EXPECT_EQ(app["pid"], 0) << "not spawned while db is not ready";
  EXPECT_THAT(app["description"].get<std::string>(), HasSubstr("waiting for db"));
  ASSERT_TRUE(d.wait_state("app", "RUNNING"));
  EXPECT_EQ(d.state("db"), "RUNNING");
  const std::string log = d.log();
  EXPECT_LT(at(log, "db (pid"), at(log, "app (pid")) << log;
  EXPECT_LT(at(log, "STARTING -> RUNNING: up for"), at(log, "app (pid")) << log;
  EXPECT_EQ(d.stop(), 0);
}

TEST(DependsOn, StartPullsDependenciesInAndStopTakesDependentsDownFirst) {
  Daemon d("[program.db]\n" + child_cmd("--after 60 --term-delay 0.2") +
           "startsecs = 0\nautostart = false\n"
           "[program.app]\n" +
           child_cmd("--after 60 --term-delay 0.2") +
           "startsecs = 0\nautostart = false\ndepends_on = { db = \"started\" }\n");
  d.start();
  CommandResult start = d.ctl({"start", "app"});
  EXPECT_EQ(start.code, 0) << start.out << start.err;
  EXPECT_EQ(d.state("db"), "RUNNING") << "started as app's dependency";
  EXPECT_EQ(d.state("app"), "RUNNING");

  CommandResult stop = d.ctl({"stop", "db"});
  EXPECT_EQ(stop.code, 0) << stop.out << stop.err;
  EXPECT_EQ(d.state("app"), "STOPPED") << "its dependent was stopped, and stays stopped";
  EXPECT_EQ(d.state("db"), "STOPPED");
  // app was gone before db got its stop signal.
  const std::string log = d.log();
  std::size_t first_db_stop = std::string::npos;
  std::size_t last_app_stopped = std::string::npos;
  std::istringstream lines(log);
  std::size_t offset = 0;
  for (std::string line; std::getline(lines, line); offset += line.size() + 1) {
    if (line.find("db (pid") != std::string::npos &&
        line.find("RUNNING -> STOPPING") != std::string::npos && first_db_stop == std::string::npos)
      first_db_stop = offset;
    if (line.find("app") != std::string::npos && line.find("-> STOPPED") != std::string::npos)
      last_app_stopped = offset;
  }
  ASSERT_NE(first_db_stop, std::string::npos) << log;
  ASSERT_NE(last_app_stopped, std::string::npos) << log;
  EXPECT_LT(last_app_stopped, first_db_stop) << log;
  EXPECT_EQ(d.stop(), 0);
}

TEST(DependsOn, FailedDependencyMakesTheDependentFatalUnspawned) {
  Daemon d(
      "[program.db]\ncommand = \"/nonexistent/db\"\nstartretries = 0\n"
      "[program.app]\n" +
      child_cmd("--after 60") + "depends_on = [\"db\"]\n");
  d.start();
  ASSERT_TRUE(d.wait_state("app", "FATAL"));
  auto app = d.process("app");
  EXPECT_EQ(app["pid"], 0);
  EXPECT_THAT(app["description"].get<std::string>(), HasSubstr("not started: db is FATAL"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(DependsOn, CompletedWaitsForAJobToSucceed) {
  Daemon d("[program.migrate]\n" + child_cmd("--after 0.4 --exit 0") + "[program.app]\n" +
           child_cmd("--after 60") + "startsecs = 0\ndepends_on = { migrate = \"completed\" }\n");
  d.start();
  ASSERT_TRUE(d.wait_state("app", "RUNNING"));
  EXPECT_EQ(d.state("migrate"), "EXITED") << "a job is not restarted";
  EXPECT_EQ(d.process("migrate")["exit_code"], 0);
  EXPECT_EQ(d.stop(), 0);
}

TEST(DependsOn, CompletedWithAnotherCodeFailsTheDependent) {
  Daemon d("[program.migrate]\n" + child_cmd("--after 0.2 --exit 1") + "[program.app]\n" +
           child_cmd("--after 60") + "depends_on = { migrate = \"completed\" }\n");
  d.start();
  ASSERT_TRUE(d.wait_state("app", "FATAL"));
  EXPECT_THAT(d.process("app")["description"].get<std::string>(),
              HasSubstr("migrate exited with status 1"));
  EXPECT_EQ(d.state("migrate"), "EXITED");
  EXPECT_EQ(d.stop(), 0);
}

TEST(DependsOn, ACycleIsAConfigErrorAtItsPosition) {
  Daemon d(
      "[program.a]\ncommand = \"/bin/true\"\ndepends_on = [\"b\"]\n"
      "[program.b]\ncommand = \"/bin/true\"\ndepends_on = [\"a\"]\n");
  CommandResult r = run_minisupd(d, {"--check"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisup.toml:3:"));
  EXPECT_THAT(r.err, HasSubstr("a -> b -> a"));
}

TEST(DependsOn, CheckPrintsTheStartOrder) {
  Daemon d(
      "[program.app]\ncommand = \"/bin/true\"\npriority = 1\ndepends_on = [\"db\"]\n"
      "[program.db]\ncommand = \"/bin/true\"\npriority = 5\n");
  CommandResult r = run_minisupd(d, {"--check"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_LT(r.out.find("db"), r.out.find("app (after db: ready)")) << r.out;
}

// ---- minisupd --run ----

TEST(Run, ExitsWithTheProgramsExitCodeAndPassesItsOutputThrough) {
  Daemon d("[program.helper]\n" + child_cmd("--after 60") +
           "startsecs = 0\n"
           "[program.tests]\n" +
           child_cmd("--print from-tests --stderr err-tests") + "autostart = false\n");
  CommandResult r = run_minisupd(d, {"--run", "tests", "--", "--exit", "3"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-tests\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("tests |"))) << "unprefixed";
  EXPECT_THAT(r.err, HasSubstr("err-tests\n"));
  EXPECT_THAT(r.err, HasSubstr("shutdown"));
}

TEST(Run, ExitCodeZeroIsSuccess) {
  Daemon d("[program.tests]\n" + child_cmd("--exit 0") + "autostart = false\n");
  CommandResult r = run_minisupd(d, {"--run", "tests"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(Run, DeathBySignalIs128PlusN) {
  Daemon d("[program.tests]\n" + child_cmd("--raise 6") + "autostart = false\n");
  CommandResult r = run_minisupd(d, {"--run", "tests"});
  EXPECT_EQ(r.code, 128 + 6) << r.out << r.err;
}

TEST(Run, MissingCommandIs127AndUnknownNameIsAUsageError) {
  Daemon d("[program.tests]\ncommand = \"/nonexistent/tests\"\nautostart = false\n");
  CommandResult r = run_minisupd(d, {"--run", "tests"});
  EXPECT_EQ(r.code, 127) << r.out << r.err;
  CommandResult unknown = run_minisupd(d, {"--run", "nope"});
  EXPECT_EQ(unknown.code, 2) << unknown.out << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("nope"));
}

TEST(Run, StartsDependenciesFirstAndAFailedOneIs125) {
  Daemon d(
      "[program.db]\ncommand = \"/nonexistent/db\"\nautostart = false\nstartretries = 0\n"
      "[program.tests]\n" +
      child_cmd("--exit 0") + "autostart = false\ndepends_on = [\"db\"]\n");
  CommandResult r = run_minisupd(d, {"--run", "tests"});
  EXPECT_EQ(r.code, 125) << r.out << r.err;
}

// ---- shutdown_on, shutdown_timeout ----

TEST(ShutdownOn, FatalEndsMinisupdWithTheStatus) {
  Daemon d("[program.other]\n" + child_cmd("--after 60") +
           "startsecs = 0\n"
           "[program.main]\ncommand = \"/nonexistent/main\"\nstartretries = 0\n"
           "shutdown_on = \"fatal\"\n");
  d.launch();  // main fails at once, so minisupd may end before it answers
  EXPECT_EQ(d.wait_exit(20s), 127);
  EXPECT_THAT(d.log(), HasSubstr("shutdown_on"));
}

TEST(ShutdownOn, ExitEndsMinisupdWithTheExitCode) {
  Daemon d("[program.main]\n" + child_cmd("--after 0.5 --exit 4") +
           "startsecs = 0.1\nautorestart = false\nshutdown_on = \"exit\"\n");
  d.start();
  EXPECT_EQ(d.wait_exit(20s), 4);
}

TEST(ShutdownOn, AClientStopDoesNotCount) {
  Daemon d("[program.main]\n" + child_cmd("--after 60") +
           "startsecs = 0\nshutdown_on = \"exit\"\n");
  d.start();
  ASSERT_TRUE(d.wait_state("main", "RUNNING"));
  CommandResult r = d.ctl({"stop", "main"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(d.running());
  EXPECT_EQ(d.stop(), 0);
}

TEST(ShutdownTimeout, BoundsTheShutdownEvenForAProgramThatIgnoresTERM) {
  Daemon d(
      "[supervisor]\nshutdown_timeout = 1\n"
      "[program.stubborn]\n" +
      child_cmd("--ignore-term") + "startsecs = 0\nstopwaitsecs = 30\n");
  d.start();
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  const int pid = d.process("stubborn")["pid"];
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(d.stop(20s), 0);
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_GE(took, 900ms) << "SIGKILL no earlier than the timeout";
  EXPECT_LT(took, 10s) << "stopwaitsecs = 30 was cut to shutdown_timeout";
  EXPECT_FALSE(process_alive(pid));
}

}  // namespace
}  // namespace minisup::testing
