// The runnable examples, run as a user would, on a copy in a temporary
// directory with this build's minisupd: examples/harness-shell (its run.sh,
// passing and failing), examples/container (SIGTERM, a failing main
// program, a failed job) and examples/harness-pytest (when Debian's
// python3-pytest is installed; skipped otherwise).
//
// Suites: HarnessShellExample, ContainerExample, HarnessPytestExample.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// examples/NAME copied into `d`'s temporary directory (its config becomes
/// d.config_path() when the example's is minisup.toml).
void copy_example(const std::string& name, const Daemon& d) {
  fs::copy(fs::path(MINISUP_SOURCE_DIR) / "examples" / name, d.dir(),
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

// ---------------------------------------------------------------------------
// examples/harness-shell: minisupd --run tests
// ---------------------------------------------------------------------------

CommandResult run_harness_shell(const Daemon& d, const std::vector<std::string>& args = {},
                                const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{"/bin/sh", (d.dir() / "run.sh").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> extra_env{std::string("MINISUPD=") + MINISUPD_PATH};
  extra_env.insert(extra_env.end(), env.begin(), env.end());
  return run_command(argv, extra_env);
}

TEST(HarnessShellExample, RunsTheSuiteAfterItsDependenciesAndExitsZero) {
  Daemon d;
  copy_example("harness-shell", d);
  const auto start = Clock::now();
  CommandResult r = run_harness_shell(d);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_LT(seconds_since(start), 10.0) << "a few seconds at most";
  // The services' output is prefixed; the tests' own is not.
  EXPECT_THAT(r.out, HasSubstr("db      | ready\n"));
  EXPECT_THAT(r.out, HasSubstr("migrate | schema at version 2, 2 users seeded\n"));
  EXPECT_THAT(r.out, HasSubstr("\nok   test_db_is_ready\n"));
  EXPECT_THAT(r.out, HasSubstr("\nok   test_insert\n"));
  EXPECT_THAT(r.out, HasSubstr("\n4 passed, 0 failed\n"));
  EXPECT_THAT(r.out, HasSubstr("db      | shut down cleanly\n"));
  EXPECT_THAT(r.out, HasSubstr("minisupd --run tests exited with status 0\n"));
  // The migration ran before the tests, and the db stopped after them.
  EXPECT_LT(r.out.find("migrate | schema"), r.out.find("ok   test_db_is_ready"));
  EXPECT_LT(r.out.find("4 passed"), r.out.find("db      | shut down cleanly"));
  EXPECT_TRUE(fs::exists(d.dir() / "state/data/clean-shutdown"));
  EXPECT_FALSE(fs::exists(d.dir() / "state/db.ready"));
  EXPECT_FALSE(fs::exists(d.dir() / "minisup.sock")) << "removed at exit";
}

TEST(HarnessShellExample, ArgumentsAfterTheNameReachTheTests) {
  Daemon d;
  copy_example("harness-shell", d);
  CommandResult r = run_harness_shell(d, {"test_insert"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nok   test_insert\n1 passed, 0 failed\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("test_db_is_ready")));
}

TEST(HarnessShellExample, AFailingTestIsTheExitStatus) {
  Daemon d;
  copy_example("harness-shell", d);
  CommandResult r = run_harness_shell(d, {}, {"HARNESS_BREAK=tests"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("FAIL test_deliberately_broken\n4 passed, 1 failed\n"));
  EXPECT_THAT(r.out, HasSubstr("minisupd --run tests exited with status 1\n"));
  EXPECT_THAT(r.out, HasSubstr("db      | shut down cleanly\n")) << "a graceful end all the same";
}

TEST(HarnessShellExample, AFailedMigrationIs125AndTheTestsNeverRun) {
  Daemon d;
  copy_example("harness-shell", d);
  CommandResult r = run_harness_shell(d, {}, {"HARNESS_BREAK=migrate"});
  EXPECT_EQ(r.code, 125) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("migrate ! migration 2 failed"));
  EXPECT_THAT(r.err,
              HasSubstr("tests: STARTING -> FATAL: not started: migrate exited with status 3"));
  EXPECT_THAT(r.out, Not(HasSubstr("passed")));
  EXPECT_THAT(r.out, HasSubstr("minisupd --run tests exited with status 125\n"));
}

// ---------------------------------------------------------------------------
// examples/container: SIGTERM, shutdown_on = "failure", console logs
// ---------------------------------------------------------------------------

TEST(ContainerExample, SigtermIsAGracefulShutdownThatExitsZero) {
  Daemon d;
  copy_example("container", d);
  d.start({"--socket", d.socket_path().string()});
  CommandResult wait = d.ctl({"wait", "all", "--timeout", "20"});
  ASSERT_EQ(wait.code, 0) << wait.out << wait.err << d.log();
  EXPECT_EQ(wait.out, "api: RUNNING\nmigrate: EXITED\nworker:0: RUNNING\nworker:1: RUNNING\n");
  const auto start = Clock::now();
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_LT(seconds_since(start), 20.0) << "within shutdown_timeout (25 s)";
  const std::string out = read_file(d.stdout_path());
  EXPECT_THAT(out, HasSubstr("migrate  | schema up to date\n"));
  EXPECT_THAT(out, HasSubstr("worker:0 | worker 0: SIGTERM after"));
  EXPECT_THAT(out, HasSubstr("worker:1 | worker 1: SIGTERM after"));
  EXPECT_THAT(out, HasSubstr("api      | stopped cleanly\n"));
  // Dependents first: the workers were done before api began to drain.
  EXPECT_LT(out.find("worker:0 | worker 0: SIGTERM"), out.find("api      | SIGTERM: draining"));
  EXPECT_THAT(d.log(), HasSubstr("none needed SIGKILL"));
}

TEST(ContainerExample, AFailingMainProgramEndsMinisupdWithItsStatus) {
  Daemon d;
  copy_example("container", d);
  CommandResult r = run_command(
      {MINISUPD_PATH, "-c", d.config_path().string(), "--socket", d.socket_path().string()},
      {"API_CRASH_AFTER=1"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("api      ! fatal: lost the connection to the database\n"));
  EXPECT_THAT(r.err, HasSubstr("exit status 3 (api exited with status 3 (shutdown_on = failure))"));
  // Not restarted in the meantime: that is the orchestrator's job.
  EXPECT_EQ(r.out.find("api      | starting"), r.out.rfind("api      | starting"));
  // The rest was stopped gracefully, not left to a SIGKILL from outside.
  EXPECT_THAT(r.out, HasSubstr("worker:0 | worker 0: SIGTERM after"));
  EXPECT_THAT(r.err, HasSubstr("none needed SIGKILL"));
}

TEST(ContainerExample, AFailedJobBeforeTheMainProgramIs125) {
  Daemon d;
  copy_example("container", d);
  CommandResult r = run_command(
      {MINISUPD_PATH, "-c", d.config_path().string(), "--socket", d.socket_path().string()},
      {"MIGRATE_FAIL=1"});
  EXPECT_EQ(r.code, 125) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("migrate  ! migration failed"));
  EXPECT_THAT(r.out, Not(HasSubstr("api      |")));
}

// ---------------------------------------------------------------------------
// examples/harness-pytest: the conftest.py fixture
// ---------------------------------------------------------------------------

TEST(HarnessPytestExample, PassesUnderPytest) {
  if (run_command({"/usr/bin/python3", "-c", "import pytest"}).code != 0) {
    GTEST_SKIP() << "python3-pytest is not installed (apt-get install python3-pytest)";
  }
  Daemon d;
  copy_example("harness-pytest", d);
  CommandResult r = run_command(
      {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", d.dir().string()},
      {std::string("MINISUPD=") + MINISUPD_PATH, std::string("MINISUPCTL=") + MINISUPCTL_PATH,
       "PYTHONDONTWRITEBYTECODE=1"},
      120s);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("4 passed"));
}

TEST(HarnessPytestExample, AServiceThatDoesNotStopCleanlyFailsTheSession) {
  if (run_command({"/usr/bin/python3", "-c", "import pytest"}).code != 0) {
    GTEST_SKIP() << "python3-pytest is not installed (apt-get install python3-pytest)";
  }
  Daemon d;
  copy_example("harness-pytest", d);
  // app.py without its SIGTERM handler: the stop signal kills it.
  std::string app = read_file(d.dir() / "app.py");
  const std::string handler = "signal.signal(signal.SIGTERM, on_term)";
  ASSERT_NE(app.find(handler), std::string::npos);
  app.replace(app.find(handler), handler.size(), "pass");
  write_file(d.dir() / "app.py", app);
  CommandResult r = run_command(
      {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", d.dir().string()},
      {std::string("MINISUPD=") + MINISUPD_PATH, std::string("MINISUPCTL=") + MINISUPCTL_PATH,
       "PYTHONDONTWRITEBYTECODE=1"},
      120s);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("4 passed, 1 error"));
  EXPECT_THAT(r.out, HasSubstr("app: not a clean stop: killed by SIGTERM (--require-clean)"));
}

}  // namespace
}  // namespace minisup::testing
