// Supervisor: depends_on (DESIGN.md, "Readiness, dependencies and harness
// mode"): start order per condition, pulling dependencies in, failures,
// stopping dependents first, restart and update, the shutdown order, and a
// 10,000-process fan-in that must stay linear.
#include <gtest/gtest.h>

#include <csignal>

#include "supervisor/core/requests.h"
#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;
using testing_support::names_with;
using testing_support::Signal;
using testing_support::state_of;
using S = ProcessState;
using C = config::DependencyCondition;

config::ProgramConfig depending(config::ProgramConfig program,
                                std::vector<config::Dependency> depends_on) {
  std::sort(depends_on.begin(), depends_on.end(),
            [](const auto& a, const auto& b) { return a.program < b.program; });
  program.depends_on = std::move(depends_on);
  return program;
}

config::ProgramConfig job(const std::string& name, int priority = 999) {
  config::ProgramConfig program = make_program(name, priority);
  program.job = true;
  return program;
}

const ProcessMachine& machine_of(const Supervisor& supervisor, const std::string& name) {
  return supervisor.find(name)->machine();
}

bool spawned(const FakeRuntime& runtime, const std::string& name) {
  for (const std::string& process : names_with<Spawn>(runtime.log_)) {
    if (process == name) return true;
  }
  return false;
}

// ---- Start order per condition ----

TEST(DependsOn, ReadyWaitsUntilTheDependencyIsRunning) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  EXPECT_EQ(state_of(supervisor, "app"), S::Starting);
  EXPECT_EQ(machine_of(supervisor, "app").pid(), 0);
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "db");

  runtime.clear();
  runtime.advance(1s);  // db: up for startsecs
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"app"}));
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "");
  runtime.advance(1s);
  EXPECT_EQ(state_of(supervisor, "app"), S::Running);
}

TEST(DependsOn, ADependencyWithAHigherPriorityNumberStillStartsFirst) {
  // app sorts first (priority 1) but waits for db (priority 50).
  Supervisor supervisor{
      make_config({depending(make_program("app", 1), {{"db", C::Ready}}), make_program("db", 50)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  runtime.advance(1s);
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, StartedNeedsOnlyTheSpawn) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Started}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  // db's Spawned came in: app is spawned without waiting for startsecs.
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db", "app"}));
  EXPECT_EQ(state_of(supervisor, "db"), S::Starting);
}

TEST(DependsOn, CompletedWaitsForTheJobToExitSuccessfully) {
  Supervisor supervisor{make_config(
      {job("migrate", 10), depending(make_program("app", 20), {{"migrate", C::Completed}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(state_of(supervisor, "migrate"), S::Running) << "a job is RUNNING at its spawn";
  EXPECT_FALSE(spawned(runtime, "app"));
  runtime.advance(5s);
  EXPECT_FALSE(spawned(runtime, "app"));
  runtime.exit("migrate", 0);
  EXPECT_EQ(state_of(supervisor, "migrate"), S::Exited);
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, ReadyOnAJobIsMetByItsSuccessfulExitToo) {
  Supervisor supervisor{
      make_config({job("seed", 10), make_program("other", 10),
                   depending(make_program("app", 20), {{"other", C::Ready}, {"seed", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("seed", 0);  // seed RUNNING -> EXITED before other is ready
  EXPECT_FALSE(spawned(runtime, "app"));
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "other");
  runtime.advance(1s);
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, WaitingForNamesTheUnmetDependencies) {
  config::ProgramConfig slow = make_program("cache", 10);
  slow.startsecs = 5s;
  Supervisor supervisor{
      make_config({slow, make_program("db", 10),
                   depending(make_program("app", 20), {{"db", C::Ready}, {"cache", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "cache, db");
  runtime.advance(1s);
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "cache");
  EXPECT_FALSE(spawned(runtime, "app"));
  runtime.advance(4s);
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, EveryProcessOfANumprocsDependencyMustMeetIt) {
  Supervisor supervisor{make_config(
      {make_program("db", 10, 2), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance(500ms);
  runtime.exit("db:1", 1);  // a failed start: BACKOFF, retried in 1 s
  EXPECT_EQ(state_of(supervisor, "db:1"), S::Backoff);
  runtime.advance(500ms);  // db:0 RUNNING, db:1 not
  EXPECT_EQ(state_of(supervisor, "db:0"), S::Running);
  EXPECT_FALSE(spawned(runtime, "app"));
  EXPECT_EQ(state_of(supervisor, "app"), S::Starting) << "BACKOFF may still make it";
  runtime.advance(2s);  // retry at +1.5 s, RUNNING at +2.5 s
  EXPECT_EQ(state_of(supervisor, "db:1"), S::Running);
  EXPECT_TRUE(spawned(runtime, "app"));
}

// ---- Starting pulls dependencies in ----

TEST(DependsOn, StartingAProgramStartsItsDependenciesEvenWithoutAutostart) {
  Supervisor supervisor{make_config({make_program("db", 10, 1, /*autostart=*/false),
                                     depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, TransitiveDependenciesStartInOrder) {
  Supervisor supervisor{
      make_config({make_program("db", 999, 1, false),
                   depending(make_program("api", 999, 1, false), {{"db", C::Ready}}),
                   depending(make_program("app", 999, 1, false), {{"api", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.request_start({"app"}, runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  EXPECT_EQ(machine_of(supervisor, "api").waiting_for(), "db");
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "api");
  runtime.advance(1s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db", "api"}));
  runtime.advance(1s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db", "api", "app"}));
}

TEST(DependsOn, ACompletedJobIsNotRunAgainWhenADependentStarts) {
  Supervisor supervisor{
      make_config({job("migrate", 10),
                   depending(make_program("app", 20, 1, false), {{"migrate", C::Completed}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", 0);
  runtime.clear();
  runtime.run(supervisor.request_start({"app"}, runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"app"}));
}

TEST(DependsOn, AFailedJobIsRunAgainWhenADependentStarts) {
  Supervisor supervisor{
      make_config({job("migrate", 10),
                   depending(make_program("app", 20, 1, false), {{"migrate", C::Completed}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", 2);
  runtime.clear();
  runtime.run(supervisor.request_start({"app"}, runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"migrate"}));
  runtime.exit("migrate", 0);
  EXPECT_TRUE(spawned(runtime, "app"));
}

// ---- Failures ----

TEST(DependsOn, AFatalDependencyMakesTheDependentFatalUnspawned) {
  config::ProgramConfig db = make_program("db", 10);
  db.startretries = 0;
  Supervisor supervisor{make_config({db, depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["db"] = "exec /bin/db: No such file or directory";
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(state_of(supervisor, "db"), S::Fatal);
  EXPECT_EQ(state_of(supervisor, "app"), S::Fatal);
  EXPECT_FALSE(spawned(runtime, "app"));
  EXPECT_EQ(machine_of(supervisor, "app").last_error(), "not started: db is FATAL");
  ASSERT_TRUE(machine_of(supervisor, "app").last_exit());
  EXPECT_EQ(machine_of(supervisor, "app").last_exit()->reason, ExitReason::DependencyFailed);
}

TEST(DependsOn, FailureCascadesThroughTransitiveDependents) {
  config::ProgramConfig db = make_program("db", 10);
  db.startretries = 0;
  Supervisor supervisor{make_config({db, depending(make_program("api", 20), {{"db", C::Ready}}),
                                     depending(make_program("app", 30), {{"api", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["db"] = "exec /bin/db: Permission denied";
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(machine_of(supervisor, "api").last_error(), "not started: db is FATAL");
  EXPECT_EQ(machine_of(supervisor, "app").last_error(), "not started: api is FATAL");
}

TEST(DependsOn, ACompletedJobExitingWithAnotherCodeFailsTheDependent) {
  Supervisor supervisor{make_config(
      {job("migrate", 10), depending(make_program("app", 20), {{"migrate", C::Completed}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", 1);
  EXPECT_EQ(state_of(supervisor, "app"), S::Fatal);
  EXPECT_FALSE(spawned(runtime, "app"));
  EXPECT_EQ(machine_of(supervisor, "app").last_error(),
            "not started: migrate exited with status 1");
}

TEST(DependsOn, ACompletedJobKilledByASignalFailsTheDependent) {
  Supervisor supervisor{make_config(
      {job("migrate", 10), depending(make_program("app", 20), {{"migrate", C::Completed}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", std::nullopt, SIGKILL);
  EXPECT_EQ(machine_of(supervisor, "app").last_error(),
            "not started: migrate was killed by SIGKILL");
}

TEST(DependsOn, ADependencyThatExitsBeforeItIsReadyIsRetriedNotFailed) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("db", 1);
  EXPECT_EQ(state_of(supervisor, "db"), S::Backoff);
  EXPECT_EQ(state_of(supervisor, "app"), S::Starting);
  runtime.advance(2s);  // retry at +1 s, RUNNING at +2 s
  EXPECT_TRUE(spawned(runtime, "app"));
}

TEST(DependsOn, StopWhileWaitingLeavesTheDependencyAlone) {
  config::ProgramConfig db = make_program("db", 10);
  db.startsecs = 5s;
  Supervisor supervisor{make_config({db, depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.run(supervisor.request_stop({"app"}, runtime.now_));
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped);
  runtime.advance(5s);
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  EXPECT_FALSE(spawned(runtime, "app"));
}

// ---- Stop, restart, update ----

TEST(DependsOn, StoppingADependencyStopsItsDependentsFirst) {
  Supervisor supervisor{
      make_config({make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}}),
                   depending(make_program("worker", 20), {{"app", C::Started}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "worker"), S::Running);
  runtime.run(supervisor.request_stop({"db"}, runtime.now_));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"worker", SIGTERM, false}}));
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  runtime.exit("worker", std::nullopt, SIGTERM);
  EXPECT_EQ(runtime.signals_,
            (std::vector<Signal>{{"worker", SIGTERM, false}, {"app", SIGTERM, false}}));
  runtime.exit("app", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
  runtime.exit("db", 0);
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "worker"), S::Stopped);
  runtime.advance(30s);
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped) << "dependents stay stopped";
}

TEST(DependsOn, TheStopRequestSettlesOnceTheDependencyItselfStopped) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  Opened stop = open_stop(supervisor, {"db"}, runtime.now_);
  runtime.run(stop.actions);
  EXPECT_FALSE(settle(stop.request, supervisor));
  runtime.exit("app", 0);
  EXPECT_FALSE(settle(stop.request, supervisor));
  runtime.exit("db", 0);
  const auto settled = settle(stop.request, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->results.at(0).outcome, Outcome::Stopped);
}

TEST(DependsOn, StartingADependentCancelsAHeldStopOfItsDependency) {
  Supervisor supervisor{
      make_config({make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}}),
                   depending(make_program("worker", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"db"}, runtime.now_));  // app, worker first; db held
  runtime.exit("worker", 0);
  runtime.clear();
  runtime.run(supervisor.request_start({"worker"}, runtime.now_));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"worker"}))
      << "db still RUNNING: worker starts at once";
  runtime.exit("app", 0);
  EXPECT_TRUE(runtime.signals_.empty()) << "db's held stop was cancelled by the start";
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped);
}

TEST(DependsOn, RestartingADependencyRestartsItsDependentsAfterIt) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.clear();
  auto [id, actions] = supervisor.request_restart({"db"}, runtime.now_);
  runtime.run(actions);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"app", SIGTERM, false}}));
  runtime.exit("app", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  runtime.exit("db", 0);
  // The start half: db spawned, app waits for db to be ready.
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  EXPECT_EQ(machine_of(supervisor, "app").waiting_for(), "db");
  runtime.advance(1s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db", "app"}));
  ASSERT_NE(supervisor.restart_progress(id), nullptr);
  EXPECT_TRUE(supervisor.restart_progress(id)->started);
}

TEST(DependsOn, RestartLeavesStoppedDependentsStopped) {
  Supervisor supervisor{make_config(
      {make_program("db", 10), depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"app"}, runtime.now_));
  runtime.exit("app", 0);
  runtime.clear();
  runtime.run(supervisor.request_restart({"db"}, runtime.now_).second);
  runtime.exit("db", 0);
  runtime.advance(2s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped);
}

TEST(DependsOn, AnUpdateThatChangesADependencyRestartsItsDependents) {
  config::ProgramConfig db = make_program("db", 10);
  const config::ProgramConfig app = depending(make_program("app", 20), {{"db", C::Ready}});
  Supervisor supervisor{make_config({db, app})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.clear();
  db.stopwaitsecs = 3s;
  const ReloadResult reload = supervisor.apply_config(make_config({db, app}), runtime.now_);
  EXPECT_EQ(reload.changed, (std::vector<std::string>{"db"}));
  runtime.run(reload.actions);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"app", SIGTERM, false}}))
      << "app is stopped before db";
  EXPECT_TRUE(supervisor.find("db")->is_leaving());
  runtime.exit("app", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
  runtime.exit("db", 0);
  // db replaced and started (it was running); app waits for it.
  EXPECT_EQ(supervisor.find("db")->machine().policy().stopwaitsecs, 3s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db"}));
  EXPECT_EQ(state_of(supervisor, "app"), S::Starting);
  runtime.advance(1s);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"db", "app"}));
  runtime.advance(1s);
  EXPECT_EQ(state_of(supervisor, "app"), S::Running);
}

TEST(DependsOn, AnUpdateThatChangesOnlyTheDependentLeavesTheDependencyAlone) {
  const config::ProgramConfig db = make_program("db", 10);
  config::ProgramConfig app = depending(make_program("app", 20), {{"db", C::Ready}});
  Supervisor supervisor{make_config({db, app})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.clear();
  app.stopwaitsecs = 3s;
  runtime.run(supervisor.apply_config(make_config({db, app}), runtime.now_).actions);
  runtime.exit("app", 0);
  runtime.advance(1s);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"app", SIGTERM, false}}));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"app"}));
}

// ---- Shutdown order ----

TEST(DependsOn, ShutdownStopsDependentsBeforeDependenciesThenByPriority) {
  // Without depends_on the order would be misc (20), db (10), app (5).
  Supervisor supervisor{make_config({depending(make_program("app", 5), {{"db", C::Ready}}),
                                     make_program("db", 10), make_program("misc", 20)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"misc", SIGTERM, false}}));
  runtime.exit("misc", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"app", SIGTERM, false}));
  runtime.exit("app", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
  EXPECT_FALSE(supervisor.shutdown_complete());
  runtime.exit("db", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(DependsOn, ShutdownStopsEligibleProgramsOfOneLevelTogether) {
  Supervisor supervisor{
      make_config({make_program("db", 10), depending(make_program("api", 10), {{"db", C::Ready}}),
                   make_program("cache", 10), make_program("low", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.advance(1s);
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_EQ(runtime.signals_,
            (std::vector<Signal>{{"api", SIGTERM, false}, {"cache", SIGTERM, false}}));
  runtime.exit("cache", 0);
  EXPECT_EQ(runtime.signals_.size(), 2u) << "the step waits for api too";
  runtime.exit("api", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"db", SIGTERM, false}));
  runtime.exit("db", 0);
  EXPECT_EQ(runtime.signals_.back(), (Signal{"low", SIGTERM, false}));
  runtime.exit("low", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(DependsOn, ShutdownStopsAWaitingDependentAtOnce) {
  config::ProgramConfig db = make_program("db", 10);
  db.startsecs = 10s;
  Supervisor supervisor{make_config({db, depending(make_program("app", 20), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_EQ(state_of(supervisor, "app"), S::Stopped);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"db", SIGTERM, false}}));
  runtime.exit("db", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
  EXPECT_FALSE(spawned(runtime, "app"));
}

// ---- Requests ----

TEST(DependsOnRequests, AStartWaitingForDependenciesIsNotSettled) {
  Supervisor supervisor{
      make_config({make_program("db", 10, 1, false),
                   depending(make_program("app", 20, 1, false), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  Opened start = open_start(supervisor, {"app"}, runtime.now_);
  runtime.run(start.actions);
  EXPECT_FALSE(settle(start.request, supervisor));
  runtime.advance(1s);
  EXPECT_FALSE(settle(start.request, supervisor));
  runtime.advance(1s);
  const auto settled = settle(start.request, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->results.at(0).outcome, Outcome::Started);
}

TEST(DependsOnRequests, AFailedDependencySettlesTheStartAsFailed) {
  config::ProgramConfig db = make_program("db", 10, 1, false);
  db.startretries = 0;
  Supervisor supervisor{
      make_config({db, depending(make_program("app", 20, 1, false), {{"db", C::Ready}})})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["db"] = "exec /bin/db: No such file or directory";
  Opened start = open_start(supervisor, {"app"}, runtime.now_);
  runtime.run(start.actions);
  const auto settled = settle(start.request, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->results.at(0).outcome, Outcome::Failed);
  EXPECT_EQ(settled->results.at(0).message, "not started: db is FATAL");
}

TEST(DependsOnRequests, WaitForRunningIsReachedByAJobThatSucceeded) {
  Supervisor supervisor{make_config({job("migrate")})};
  FakeRuntime runtime{supervisor};
  const PendingRequest wait = open_wait({"migrate"}, ProcessState::Running);
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", 0);
  const auto settled = settle(wait, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_FALSE(settled->unexpected);
  EXPECT_EQ(settled->results.at(0).outcome, Outcome::Reached);
}

TEST(DependsOnRequests, WaitForRunningFailsForAJobThatFailed) {
  Supervisor supervisor{make_config({job("migrate")})};
  FakeRuntime runtime{supervisor};
  const PendingRequest wait = open_wait({"migrate"}, ProcessState::Running);
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.exit("migrate", 1);
  const auto settled = settle(wait, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_TRUE(settled->unexpected);
}

TEST(DependsOnRequests, AStartOfAJobIsSettledByItsSuccessfulExit) {
  Supervisor supervisor{make_config({job("migrate", 999)})};
  FakeRuntime runtime{supervisor};
  // Answer nothing yet: the job is still STARTING when the exit comes in.
  Opened start = open_start(supervisor, {"migrate"}, runtime.now_);
  runtime.run(start.actions);
  runtime.exit("migrate", 0);
  const auto settled = settle(start.request, supervisor);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->results.at(0).outcome, Outcome::Started);
}

// ---- Scale ----

std::size_t count_of(const std::vector<ProcessAction>& actions, auto predicate) {
  std::size_t n = 0;
  for (const ProcessAction& a : actions) n += predicate(a) ? 1 : 0;
  return n;
}

TEST(DependsOnScale, TenThousandDependentsOfOneProgramStartAndStopInLinearTime) {
  // No timing assertion: an O(N^2) implementation makes this test take
  // seconds instead of milliseconds.
  constexpr int kDependents = 10000;
  std::vector<config::ProgramConfig> programs;
  config::ProgramConfig db = make_program("db", 10);
  db.startsecs = 0s;
  programs.push_back(db);
  for (int i = 0; i < kDependents; ++i) {
    config::ProgramConfig app = make_program("app" + std::to_string(i), 20);
    app.startsecs = 0s;
    programs.push_back(depending(app, {{"db", C::Ready}}));
  }
  Supervisor supervisor{make_config(programs)};
  TimePoint now = kT0;
  const auto start = supervisor.start_autostart(now);
  EXPECT_EQ(names_with<Spawn>(start), (std::vector<std::string>{"db"}));

  const auto met = supervisor.report("db", 1, Spawned{100}, now);  // db RUNNING at once
  EXPECT_EQ(names_with<Spawn>(met).size(), static_cast<std::size_t>(kDependents));
  int pid = 101;
  for (int i = 0; i < kDependents; ++i) {
    supervisor.report("app" + std::to_string(i), 1, Spawned{pid++}, now);
  }
  EXPECT_EQ(state_of(supervisor, "app9999"), S::Running);

  now += 1s;
  const auto stop = supervisor.request_stop({"db"}, now);
  EXPECT_EQ(
      count_of(stop,
               [](const ProcessAction& a) { return std::holds_alternative<SendSignal>(a.action); }),
      static_cast<std::size_t>(kDependents));
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);
  for (int i = 0; i < kDependents; ++i) {
    const auto exited =
        supervisor.report("app" + std::to_string(i), 1, ChildExited{0, std::nullopt}, now);
    if (i + 1 < kDependents) {
      EXPECT_TRUE(names_with<SendSignal>(exited).empty()) << i;
    } else {
      EXPECT_EQ(names_with<SendSignal>(exited), (std::vector<std::string>{"db"}));
    }
  }
}

TEST(DependsOnScale, TenThousandProcessesOfOneDependentAndAShutdown) {
  constexpr int kProcesses = 10000;
  config::ProgramConfig db = make_program("db", 10);
  db.startsecs = 0s;
  config::ProgramConfig app = make_program("app", 20, kProcesses);
  app.startsecs = 0s;
  Supervisor supervisor{make_config({db, depending(app, {{"db", C::Ready}})})};
  TimePoint now = kT0;
  supervisor.start_autostart(now);
  EXPECT_EQ(names_with<Spawn>(supervisor.report("db", 1, Spawned{100}, now)).size(),
            static_cast<std::size_t>(kProcesses));
  for (int i = 0; i < kProcesses; ++i) {
    supervisor.report("app:" + std::to_string(i), 1, Spawned{101 + i}, now);
  }
  const auto shutdown = supervisor.begin_shutdown(now);
  EXPECT_EQ(names_with<SendSignal>(shutdown).size(), static_cast<std::size_t>(kProcesses));
  for (int i = 0; i < kProcesses; ++i) {
    supervisor.report("app:" + std::to_string(i), 1, ChildExited{0, std::nullopt}, now);
  }
  EXPECT_EQ(state_of(supervisor, "db"), S::Stopping);
  supervisor.report("db", 1, ChildExited{0, std::nullopt}, now);
  EXPECT_TRUE(supervisor.shutdown_complete());
}

}  // namespace
}  // namespace minisup::core
