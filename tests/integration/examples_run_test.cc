// The runnable examples, run as a user would, on a copy in a temporary
// directory with this build's minisupd: examples/harness-shell (its run.sh,
// passing and failing), examples/container (SIGTERM, a failing main
// program, a failed job), examples/harness-pytest (when Debian's
// python3-pytest is installed; skipped otherwise) and examples/deploy (its
// Python and Node.js servers deployed with restart --rolling under a client
// loop; each skipped when python3 or node is not installed).
//
// Suites: HarnessShellExample, ContainerExample, HarnessPytestExample,
// DeployExample.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/held_sockets_util.h"

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

// ---------------------------------------------------------------------------
// examples/deploy: a Python and a Node.js server on a held socket, deployed
// with restart --rolling under a client loop: nothing refused or failed
// ---------------------------------------------------------------------------

/// One HTTP/1.0 GET of / on 127.0.0.1:`port`: the whole answer, or "" when
/// the connection was refused, reset or closed without one.
std::string http_get(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string request = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

/// examples/deploy/`config` as `d`'s config, on a free port and d's socket.
void deploy_example(Daemon& d, const std::string& config, const std::string& port_text) {
  copy_example("deploy", d);
  std::string text = read_file(d.dir() / config);
  const int port = free_port();
  text.replace(text.find(port_text), port_text.size(), "127.0.0.1:" + std::to_string(port));
  const std::string socket_line = text.substr(text.find("socket = \""));
  text.replace(text.find("socket = \""), socket_line.find('\n'), "socket = \"minisup.sock\"");
  d.write_config(text);
}

/// Deploys with restart --rolling (both processes) while a client keeps
/// asking.
void expect_rolling_deploys_serve_every_request(Daemon& d) {
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "20"}).code, 0) << d.log();
  const std::string config = read_file(d.config_path());
  const auto at = config.find("tcp://127.0.0.1:") + std::string("tcp://127.0.0.1:").size();
  const int port = std::stoi(config.substr(at));
  ASSERT_THAT(http_get(port), HasSubstr(" 200 OK\r\n"));
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> failed{0};
  std::thread client([&] {
    while (!stop) {
      const std::string answer = http_get(port);
      (answer.find(" 200 OK\r\n") != std::string::npos ? served : failed)++;
    }
  });
  const int before = d.process("web:0").value("pid", 0);
  const CommandResult r = d.ctl({"restart", "--rolling", "web"});
  EXPECT_EQ(r.code, 0) << r.out << r.err << d.log();
  stop = true;
  client.join();
  EXPECT_EQ(failed, 0) << "of " << served + failed;
  EXPECT_GT(served, 0);
  EXPECT_NE(d.process("web:0").value("pid", 0), before);
  EXPECT_EQ(d.stop(), 0);
}

TEST(DeployExample, PythonServerIsDeployedWithoutAFailedRequest) {
  if (run_command({"/bin/sh", "-c", "command -v python3"}).code != 0)
    GTEST_SKIP() << "python3 is not installed (apt-get install python3)";
  Daemon d;
  deploy_example(d, "python.toml", "127.0.0.1:8081");
  expect_rolling_deploys_serve_every_request(d);
}

TEST(DeployExample, NodeServerIsDeployedWithoutAFailedRequest) {
  if (run_command({"/bin/sh", "-c", "command -v node"}).code != 0)
    GTEST_SKIP() << "node is not installed (apt-get install nodejs)";
  Daemon d;
  deploy_example(d, "node.toml", "127.0.0.1:8080");
  expect_rolling_deploys_serve_every_request(d);
}

}  // namespace
}  // namespace minisup::testing
