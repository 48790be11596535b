// Supervisor: shutdown_on (a program's own end shuts minisupd down, with
// its status) and shutdown_timeout (kill_by on every stop of the shutdown,
// levels collapsed when time is short). DESIGN.md, "Readiness, dependencies
// and harness mode".
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;
using testing_support::only;
using testing_support::Signal;
using testing_support::state_of;
using S = ProcessState;
using config::ShutdownOn;

config::ProgramConfig with_shutdown_on(const std::string& name, ShutdownOn mode) {
  config::ProgramConfig program = make_program(name, 10);
  program.shutdown_on = mode;
  program.startretries = 0;
  return program;
}

struct Harness {
  explicit Harness(std::vector<config::ProgramConfig> programs)
      : supervisor(make_config(std::move(programs))), runtime(supervisor) {}
  Supervisor supervisor;
  FakeRuntime runtime;
};

// ---- shutdown_on ----

TEST(ShutdownOn, ExitWithACodeShutsDownWithThatCode) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit), make_program("db", 5)}};
  h.runtime.start_all();
  EXPECT_FALSE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), std::nullopt);
  h.runtime.exit("web", 3);
  EXPECT_TRUE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), 3);
  EXPECT_EQ(h.supervisor.shutdown_cause(), "web exited with status 3 (shutdown_on = exit)");
  // The graceful shutdown is under way; web, whose exit ended the run, is
  // not respawned (autorestart "unexpected" would have), so db is the only
  // one left to stop.
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Exited);
  EXPECT_EQ(h.runtime.signals_, (std::vector<Signal>{{"db", SIGTERM, false}}));
  h.runtime.exit("db", 0);
  EXPECT_EQ(h.supervisor.exit_status(), 3) << "the first status is kept";
  EXPECT_TRUE(h.supervisor.shutdown_complete());
}

TEST(ShutdownOn, ExitCountsAnExpectedExitToo) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit)}};
  h.runtime.start_all();
  h.runtime.exit("web", 0);
  EXPECT_TRUE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), 0);
}

TEST(ShutdownOn, ASignalGivesOneHundredTwentyEightPlusItsNumber) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit)}};
  h.runtime.start_all();
  h.runtime.exit("web", std::nullopt, SIGTERM);
  EXPECT_EQ(h.supervisor.exit_status(), 128 + SIGTERM);
  EXPECT_EQ(h.supervisor.shutdown_cause(), "web was killed by SIGTERM (shutdown_on = exit)");
}

TEST(ShutdownOn, CommandNotFoundGivesOneHundredTwentySeven) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit)}};
  h.runtime.spawn_failures_["web"] = "exec /usr/bin/nope: No such file or directory";
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Fatal);
  EXPECT_EQ(h.supervisor.exit_status(), 127);
  EXPECT_EQ(h.supervisor.shutdown_cause(),
            "web is FATAL: exec /usr/bin/nope: No such file or directory; gave up after 0 "
            "retries (shutdown_on = exit)");
}

TEST(ShutdownOn, AnotherSpawnFailureGivesOneHundredTwentySix) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Fatal)}};
  h.runtime.spawn_failures_["web"] = "chdir /srv/web: No such file or directory";
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  EXPECT_EQ(h.supervisor.exit_status(), 126);
}

TEST(ShutdownOn, ExecPermissionDeniedGivesOneHundredTwentySix) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Failure)}};
  h.runtime.spawn_failures_["web"] = "exec /srv/web: Permission denied";
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  EXPECT_EQ(h.supervisor.exit_status(), 126);
}

TEST(ShutdownOn, AFailedDependencyGivesOneHundredTwentyFive) {
  config::ProgramConfig db = make_program("db", 5);
  db.startretries = 0;
  config::ProgramConfig web = with_shutdown_on("web", ShutdownOn::Fatal);
  web.depends_on = {{"db", config::DependencyCondition::Ready}};
  Harness h{{db, web}};
  h.runtime.spawn_failures_["db"] = "exec /bin/db: No such file or directory";
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Fatal);
  EXPECT_EQ(h.supervisor.exit_status(), 125);
  EXPECT_EQ(h.supervisor.shutdown_cause(),
            "web is FATAL: not started: db is FATAL (shutdown_on = fatal)");
  EXPECT_TRUE(h.supervisor.shutdown_complete());
}

TEST(ShutdownOn, FatalWithoutAnExitCodeGivesOne) {
  config::ProgramConfig web = with_shutdown_on("web", ShutdownOn::Fatal);
  config::Probe probe;
  probe.timeout = 2s;
  web.ready = probe;
  web.stopwaitsecs = 1s;
  Harness h{{web}};
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  h.runtime.advance(2s);  // not ready: stopped
  ASSERT_EQ(state_of(h.supervisor, "web"), S::Stopping);
  h.runtime.exit("web", std::nullopt, SIGTERM);
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Fatal);
  EXPECT_EQ(h.supervisor.exit_status(), 1);
}

TEST(ShutdownOn, FatalAfterFailedStartsGivesTheLastExitCode) {
  config::ProgramConfig web = with_shutdown_on("web", ShutdownOn::Fatal);
  web.startretries = 1;
  Harness h{{web}};
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  h.runtime.exit("web", 4);
  EXPECT_FALSE(h.supervisor.shutting_down()) << "BACKOFF: it is retried";
  h.runtime.advance(1s);
  h.runtime.exit("web", 5);
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Fatal);
  EXPECT_EQ(h.supervisor.exit_status(), 5);
}

TEST(ShutdownOn, FailureIgnoresAnExpectedExit) {
  config::ProgramConfig web = with_shutdown_on("web", ShutdownOn::Failure);
  web.autorestart = config::AutoRestart::Never;
  Harness h{{web}};
  h.runtime.start_all();
  h.runtime.exit("web", 0);
  EXPECT_FALSE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), std::nullopt);
}

TEST(ShutdownOn, FailureCountsAnUnexpectedExit) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Failure)}};
  h.runtime.start_all();
  h.runtime.exit("web", 2);
  EXPECT_TRUE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), 2);
  EXPECT_EQ(h.supervisor.shutdown_cause(), "web exited with status 2 (shutdown_on = failure)");
  // Not respawned by autorestart: the run is over.
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Exited);
}

TEST(ShutdownOn, FatalIgnoresAnExitFromRunning) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Fatal)}};
  h.runtime.start_all();
  h.runtime.exit("web", 2);
  EXPECT_FALSE(h.supervisor.shutting_down());
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Starting) << "restarted as usual";
}

TEST(ShutdownOn, AClientStopDoesNotCount) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit)}};
  h.runtime.start_all();
  h.runtime.run(h.supervisor.request_stop({"web"}, h.runtime.now_));
  h.runtime.exit("web", std::nullopt, SIGTERM);
  EXPECT_EQ(state_of(h.supervisor, "web"), S::Stopped);
  EXPECT_FALSE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), std::nullopt);
}

TEST(ShutdownOn, AnExitDuringAShutdownDoesNotCount) {
  Harness h{{with_shutdown_on("web", ShutdownOn::Exit)}};
  h.runtime.start_all();
  h.runtime.run(h.supervisor.begin_shutdown(h.runtime.now_));
  h.runtime.exit("web", 3);
  EXPECT_EQ(h.supervisor.exit_status(), std::nullopt);
  EXPECT_EQ(h.supervisor.shutdown_cause(), std::nullopt);
}

TEST(ShutdownOn, AJobExitingEndsTheRun) {
  config::ProgramConfig tests = with_shutdown_on("tests", ShutdownOn::Exit);
  tests.job = true;
  Harness h{{tests, make_program("db", 5)}};
  h.runtime.run(h.supervisor.start_autostart(h.runtime.now_));
  h.runtime.exit("tests", 0);
  EXPECT_TRUE(h.supervisor.shutting_down());
  EXPECT_EQ(h.supervisor.exit_status(), 0);
}

// ---- shutdown_timeout ----

config::Config timed(std::vector<config::ProgramConfig> programs, config::Duration timeout) {
  config::Config config = make_config(std::move(programs));
  config.supervisor.shutdown_timeout = timeout;
  return config;
}

config::ProgramConfig waiting(const std::string& name, int priority, config::Duration stopwait) {
  config::ProgramConfig program = make_program(name, priority);
  program.stopwaitsecs = stopwait;
  return program;
}

std::vector<std::pair<std::string, TimePoint>> stop_deadlines(const FakeRuntime& runtime) {
  std::vector<std::pair<std::string, TimePoint>> result;
  for (const auto& [process, arm] : only<ArmDeadline>(runtime.log_)) {
    if (arm.kind == DeadlineKind::Stopwaitsecs) result.emplace_back(process, arm.at);
  }
  return result;
}

TEST(ShutdownTimeout, NoDeadlineWithoutIt) {
  Supervisor supervisor{make_config({make_program("web")})};
  supervisor.begin_shutdown(kT0);
  EXPECT_EQ(supervisor.shutdown_deadline(), std::nullopt);
}

TEST(ShutdownTimeout, SigkillComesNoLaterThanTheDeadline) {
  Supervisor supervisor{timed({waiting("web", 10, 60s)}, 25s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));
  EXPECT_EQ(supervisor.shutdown_deadline(), begun + 25s);
  EXPECT_EQ(stop_deadlines(runtime),
            (std::vector<std::pair<std::string, TimePoint>>{{"web", begun + 25s}}));
  runtime.advance(25s);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"web", SIGKILL, false}));
}

TEST(ShutdownTimeout, LevelsStayInOrderWhileTimeSuffices) {
  Supervisor supervisor{timed({waiting("a", 1, 10s), waiting("b", 2, 10s)}, 25s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"b", SIGTERM, false}}));
  EXPECT_EQ(stop_deadlines(runtime),
            (std::vector<std::pair<std::string, TimePoint>>{{"b", begun + 10s}}));
  runtime.advance(2s);
  runtime.exit("b", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"a", SIGTERM, false}));
}

TEST(ShutdownTimeout, LevelsCollapseWhenTimeIsShort) {
  Supervisor supervisor{timed({waiting("a", 1, 10s), waiting("b", 2, 10s)}, 15s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"a", SIGTERM, false}, {"b", SIGTERM, false}}));
  EXPECT_EQ(stop_deadlines(runtime), (std::vector<std::pair<std::string, TimePoint>>{
                                         {"a", begun + 10s}, {"b", begun + 10s}}));
  runtime.exit("a", 0);
  runtime.exit("b", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(ShutdownTimeout, LaterLevelsCollapseWhenALevelTookLong) {
  Supervisor supervisor{
      timed({waiting("a", 1, 5s), waiting("b", 2, 10s), waiting("c", 3, 10s)}, 26s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));  // 25 s worst case: in order
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"c", SIGTERM, false}}));
  runtime.advance(10s);  // c ignores SIGTERM: SIGKILL at +10 s
  EXPECT_EQ(runtime.signals_.back(), (Signal{"c", SIGKILL, false}));
  runtime.advance(2s);
  runtime.exit("c", std::nullopt, SIGKILL);  // +12 s: 14 s left < 15 s for b and a
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"c", SIGTERM, false},
                                                   {"c", SIGKILL, false},
                                                   {"a", SIGTERM, false},
                                                   {"b", SIGTERM, false}}));
  EXPECT_EQ(stop_deadlines(runtime).back(), (std::pair<std::string, TimePoint>{"b", begun + 22s}));
}

TEST(ShutdownTimeout, AProcessAlreadyStoppingIsBroughtForward) {
  Supervisor supervisor{timed({waiting("web", 10, 60s)}, 10s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.advance(1s);
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));
  EXPECT_EQ(stop_deadlines(runtime),
            (std::vector<std::pair<std::string, TimePoint>>{{"web", begun + 10s}}));
}

TEST(ShutdownTimeout, WithDependenciesTheDeadlineHoldsToo) {
  config::ProgramConfig app = waiting("app", 5, 60s);
  app.depends_on = {{"db", config::DependencyCondition::Ready}};
  Supervisor supervisor{timed({app, waiting("db", 10, 2s)}, 100s)};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.clear();
  const TimePoint begun = runtime.now_;
  runtime.run(supervisor.begin_shutdown(begun));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"app", SIGTERM, false}}));
  EXPECT_EQ(stop_deadlines(runtime),
            (std::vector<std::pair<std::string, TimePoint>>{{"app", begun + 60s}}));
  runtime.advance(60s);  // SIGKILL at +60 s
  runtime.exit("app", std::nullopt, SIGKILL);
  // 40 s left, 2 s needed: db in order, its SIGKILL at +62 s.
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
}

TEST(ShutdownTimeout, AReloadKeepsTheReloadedValue) {
  Supervisor supervisor{timed({make_program("web")}, 25s)};
  config::Config reloaded = timed({make_program("web")}, 5s);
  supervisor.apply_config(reloaded, kT0);
  supervisor.begin_shutdown(kT0 + 1s);
  EXPECT_EQ(supervisor.shutdown_deadline(), kT0 + 6s);
}

}  // namespace
}  // namespace minisup::core
