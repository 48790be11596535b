// core/requests: when a start, stop, restart, wait or update is settled,
// and what each process's outcome is, as a pure function of the
// Supervisor's state.
#include "supervisor/core/requests.h"

#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;
using testing_support::names_with;
using testing_support::state_of;
using S = ProcessState;

const char* name_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::Started:
      return "Started";
    case Outcome::AlreadyStarted:
      return "AlreadyStarted";
    case Outcome::Failed:
      return "Failed";
    case Outcome::Stopped:
      return "Stopped";
    case Outcome::NotRunning:
      return "NotRunning";
    case Outcome::Reached:
      return "Reached";
    case Outcome::Unexpected:
      return "Unexpected";
  }
  return "?";
}

/// "name: Outcome [message] [state]" per process, for readable comparisons.
std::vector<std::string> summary(const Settlement& settlement) {
  std::vector<std::string> lines;
  for (const ProcessOutcome& result : settlement.results) {
    std::string line = result.name + ": " + name_of(result.outcome);
    if (!result.message.empty()) line += " (" + result.message + ")";
    if (!result.state.empty()) line += " [" + result.state + "]";
    lines.push_back(line);
  }
  return lines;
}

using Lines = std::vector<std::string>;

/// The settlement, which must be there.
Settlement settled(const PendingRequest& request, const Supervisor& supervisor) {
  std::optional<Settlement> settlement = settle(request, supervisor);
  EXPECT_TRUE(settlement.has_value()) << "not settled";
  return settlement.value_or(Settlement{});
}

// ---- start ----

TEST(SettleStart, StartedOnceRunning) {
  Supervisor supervisor{make_config({make_program("web", 1, 1, false)})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  EXPECT_EQ(opened.request.kind, PendingRequest::Kind::Start);
  EXPECT_EQ(names_with<Spawn>(opened.actions), (Lines{"web"}));
  runtime.run(opened.actions);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // STARTING
  runtime.advance(900ms);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);
  runtime.advance(100ms);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Started"}));
  EXPECT_FALSE(settlement.unexpected);
}

TEST(SettleStart, AlreadyStartedWhenStartingRunningOrStopping) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 2),
                                     make_program("c", 3), make_program("d", 4, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.request_start({"a", "c"}, runtime.now_));
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"c"}, runtime.now_));
  runtime.run(supervisor.request_start({"b"}, runtime.now_));
  ASSERT_EQ(state_of(supervisor, "a"), S::Running);
  ASSERT_EQ(state_of(supervisor, "b"), S::Starting);
  ASSERT_EQ(state_of(supervisor, "c"), S::Stopping);
  ASSERT_EQ(state_of(supervisor, "d"), S::Stopped);

  Opened opened = open_start(supervisor, {"a", "b", "c", "d"}, runtime.now_);
  EXPECT_EQ(names_with<Spawn>(opened.actions), (Lines{"d"}));  // only the idle one
  runtime.run(opened.actions);
  EXPECT_EQ(opened.request.preset,
            (std::map<std::string, Outcome>{{"a", Outcome::AlreadyStarted},
                                            {"b", Outcome::AlreadyStarted},
                                            {"c", Outcome::AlreadyStarted}}));
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // d is STARTING
  runtime.advance(1s);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"a: AlreadyStarted", "b: AlreadyStarted", "c: AlreadyStarted", "d: Started"}));
}

TEST(SettleStart, FatalFailsWithTheLastError) {
  config::ProgramConfig web = make_program("web", 1, 1, false);
  web.startretries = 1;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["web"] = "exec /bin/web: No such file or directory";
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  ASSERT_EQ(state_of(supervisor, "web"), S::Backoff);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // a retry is due
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "web"), S::Fatal);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"web: Failed (exec /bin/web: No such file or directory; gave up after 1 "
                   "retry)"}));
}

TEST(SettleStart, ExitsBeforeStartsecsAreRetriedBeforeItFails) {
  config::ProgramConfig web = make_program("web", 1, 1, false);
  web.startretries = 1;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.advance(100ms);
  runtime.exit("web", 2);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // BACKOFF
  runtime.advance(1s);
  runtime.advance(200ms);
  runtime.exit("web", 2);
  ASSERT_EQ(state_of(supervisor, "web"), S::Fatal);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"web: Failed (exited with status 2 after 0.20 s; gave up after 1 retry)"}));
}

TEST(SettleStart, StoppedMeanwhileFailsWithTheExit) {
  Supervisor supervisor{make_config({make_program("web", 1, 1, false)})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // STOPPING
  runtime.exit("web", std::nullopt, SIGTERM);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"web: Failed (killed by SIGTERM)"}));
}

TEST(SettleStart, StoppedBeforeItWasSpawnedFails) {
  Supervisor supervisor{make_config({make_program("web", 1, 1, false)})};
  Opened opened = open_start(supervisor, {"web"}, kT0);
  supervisor.request_stop({"web"}, kT0);
  supervisor.report("web", 1, SpawnFailed{"exec /bin/web: Permission denied"}, kT0);
  ASSERT_EQ(state_of(supervisor, "web"), S::Stopped);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"web: Failed (stopped before it was running)"}));
}

TEST(SettleStart, CrashLoopRestartDelayFails) {
  config::ProgramConfig web = make_program("web", 1, 1, false);
  web.startsecs = 0s;
  web.autorestart = config::AutoRestart::Always;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  // Up at once, down at once, twice, before anyone asks: a crash loop.
  runtime.run(opened.actions);
  runtime.exit("web", 1);
  runtime.exit("web", 1);
  ASSERT_EQ(state_of(supervisor, "web"), S::Backoff);
  ASSERT_TRUE(supervisor.find("web")->machine().restart_delayed());
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"web: Failed (exited with status 1 soon after it started; restarting with a "
                   "delay)"}));
}

TEST(SettleStart, RemovedMeanwhileFails) {
  Supervisor supervisor{make_config({make_program("web", 1, 1, false), make_program("db", 2)})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.run(supervisor.apply_config(make_config({make_program("db", 2)}), runtime.now_).actions);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // STOPPING
  runtime.exit("web", std::nullopt, SIGTERM);
  ASSERT_EQ(supervisor.find("web"), nullptr);
  EXPECT_EQ(summary(settled(opened.request, supervisor)), (Lines{"web: Failed (removed)"}));
}

TEST(SettleStart, RefusedDuringShutdownFailsWithShuttingDown) {
  Supervisor supervisor{make_config({make_program("web"), make_program("off", 1, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  Opened opened = open_start(supervisor, {"off", "web"}, runtime.now_);
  EXPECT_TRUE(opened.actions.empty());
  EXPECT_EQ(opened.request.preset,
            (std::map<std::string, Outcome>{{"off", Outcome::Failed}, {"web", Outcome::Failed}}));
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"off: Failed (shutting down)", "web: Failed (shutting down)"}));
}

TEST(SettleStart, RefusedForALeavingProcessFailsWithBeingRemoved) {
  Supervisor supervisor{make_config({make_program("web"), make_program("old", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.apply_config(make_config({make_program("web")}), runtime.now_).actions);
  Opened opened = open_start(supervisor, {"old"}, runtime.now_);
  EXPECT_TRUE(opened.actions.empty());
  EXPECT_EQ(summary(settled(opened.request, supervisor)), (Lines{"old: Failed (being removed)"}));
}

TEST(SettleStart, WaitsForEveryProcess) {
  config::ProgramConfig slow = make_program("slow", 2, 1, false);
  slow.startsecs = 5s;
  Supervisor supervisor{make_config({make_program("fast", 1, 1, false), slow})};
  FakeRuntime runtime{supervisor};
  Opened opened = open_start(supervisor, {"fast", "slow"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.advance(1s);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);
  runtime.advance(4s);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"fast: Started", "slow: Started"}));
}

// ---- stop ----

TEST(SettleStop, NotRunningWhenIdleWhenAsked) {
  Supervisor supervisor{make_config({make_program("web", 1, 1, false)})};
  Opened opened = open_stop(supervisor, {"web"}, kT0);
  EXPECT_TRUE(opened.actions.empty());
  EXPECT_EQ(opened.request.not_running, (std::set<std::string>{"web"}));
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: NotRunning"}));
  EXPECT_EQ(settlement.results[0].exit, std::nullopt);
}

TEST(SettleStop, StoppedWithTheExitRecord) {
  Supervisor supervisor{make_config({make_program("web"), make_program("off", 2, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_stop(supervisor, {"web", "off"}, runtime.now_);
  runtime.run(opened.actions);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // STOPPING
  runtime.advance(250ms);
  runtime.exit("web", std::nullopt, SIGTERM);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Stopped", "off: NotRunning"}));
  ASSERT_TRUE(settlement.results[0].exit.has_value());
  EXPECT_EQ(settlement.results[0].exit, supervisor.find("web")->machine().last_exit());
  EXPECT_EQ(settlement.results[0].exit->stop_duration, 250ms);
  EXPECT_EQ(settlement.results[0].exit->reason, ExitReason::Killed);
  EXPECT_FALSE(settlement.results[0].exit->needed_sigkill());
}

TEST(SettleStop, StoppedWithNeededSigkill) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_stop(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.advance(10s);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // SIGKILL sent, not reaped
  runtime.exit("web", std::nullopt, SIGKILL);
  const Settlement settlement = settled(opened.request, supervisor);
  ASSERT_TRUE(settlement.results[0].exit.has_value());
  EXPECT_TRUE(settlement.results[0].exit->needed_sigkill());
}

TEST(SettleStop, StoppedInBackoffHasNoRecord) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance(100ms);
  runtime.exit("web", 1);  // BACKOFF: the record of that exit has no stop_duration
  Opened opened = open_stop(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Stopped"}));
  EXPECT_EQ(settlement.results[0].exit, std::nullopt);
}

TEST(SettleStop, StoppedInBackoffDoesNotReportAnEarlierStop) {
  // An earlier stop left a record with a stop_duration; then a start failed
  // to spawn (no new record) and the process waits in BACKOFF. Stopping it
  // there ends no run: the earlier stop's record is not this stop's.
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.exit("web", std::nullopt, SIGTERM);
  ASSERT_TRUE(supervisor.find("web")->machine().last_exit()->stop_duration.has_value());
  runtime.spawn_failures_["web"] = "exec /bin/web: Permission denied";
  runtime.run(supervisor.request_start({"web"}, runtime.now_));
  ASSERT_EQ(state_of(supervisor, "web"), S::Backoff);
  Opened opened = open_stop(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Stopped"}));
  EXPECT_EQ(settlement.results[0].exit, std::nullopt);
}

TEST(SettleStop, RemovedByAReloadCountsAsStopped) {
  Supervisor supervisor{make_config({make_program("web"), make_program("db", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_stop(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  const ReloadResult reload =
      supervisor.apply_config(make_config({make_program("db", 1)}), runtime.now_);
  runtime.run(reload.actions);
  runtime.clear();
  runtime.exit("web", 0);
  for (const std::string& name : names_with<RemoveProcess>(runtime.log_)) {
    opened.request.note_removed(name);
  }
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Stopped"}));
  EXPECT_EQ(settlement.results[0].exit, std::nullopt);
}

TEST(SettleStop, ReplacedByAReloadCountsAsStoppedThoughTheNameRunsAgain) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_stop(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  config::ProgramConfig changed = make_program("web");
  changed.stopwaitsecs = 30s;
  runtime.run(supervisor.apply_config(make_config({changed}), runtime.now_).actions);
  runtime.clear();
  runtime.exit("web", 0);
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);  // the new definition (autostart)
  // Without being told, the request cannot know the name is a new process.
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);
  for (const std::string& name : names_with<RemoveProcess>(runtime.log_)) {
    opened.request.note_removed(name);
  }
  EXPECT_EQ(summary(settled(opened.request, supervisor)), (Lines{"web: Stopped"}));
}

// ---- wait ----

TEST(SettleWait, ReachedOnceEveryProcessIsInTheTargetState) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 2)})};
  FakeRuntime runtime{supervisor};
  const PendingRequest request = open_wait({"a", "b"}, S::Running);
  EXPECT_EQ(request.kind, PendingRequest::Kind::Wait);
  runtime.run(supervisor.start_autostart(runtime.now_));
  EXPECT_EQ(settle(request, supervisor), std::nullopt);  // STARTING
  runtime.advance(1s);
  const Settlement settlement = settled(request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"a: Reached [RUNNING]", "b: Reached [RUNNING]"}));
  EXPECT_FALSE(settlement.unexpected);
}

TEST(SettleWait, NotSettledWhileAProcessMayStillGetThere) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  // Waiting for RUNNING: STOPPED is unexpected, but STARTING and BACKOFF may get there.
  runtime.run(supervisor.start_autostart(runtime.now_));
  const PendingRequest running = open_wait({"web"}, S::Running);
  EXPECT_EQ(settle(running, supervisor), std::nullopt);
  runtime.advance(100ms);
  runtime.exit("web", 1);
  ASSERT_EQ(state_of(supervisor, "web"), S::Backoff);
  EXPECT_EQ(settle(running, supervisor), std::nullopt);
  // Waiting for STOPPED: RUNNING, STOPPING and EXITED are not settled.
  runtime.advance(1s);
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "web"), S::Running);
  const PendingRequest stopped = open_wait({"web"}, S::Stopped);
  EXPECT_EQ(settle(stopped, supervisor), std::nullopt);
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  EXPECT_EQ(settle(stopped, supervisor), std::nullopt);
  runtime.exit("web", 0);
  EXPECT_EQ(summary(settled(stopped, supervisor)), (Lines{"web: Reached [STOPPED]"}));
}

TEST(SettleWait, WaitingForStoppedIsNotSettledByExited) {
  config::ProgramConfig web = make_program("web");
  web.autorestart = config::AutoRestart::Never;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.exit("web", 0);
  ASSERT_EQ(state_of(supervisor, "web"), S::Exited);
  EXPECT_EQ(settle(open_wait({"web"}, S::Stopped), supervisor), std::nullopt);
  EXPECT_EQ(summary(settled(open_wait({"web"}, S::Exited), supervisor)),
            (Lines{"web: Reached [EXITED]"}));
}

TEST(SettleWait, FatalIsUnexpected) {
  config::ProgramConfig web = make_program("web");
  web.startretries = 0;
  Supervisor supervisor{make_config({web, make_program("ok", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["web"] = "exec /bin/web: No such file or directory";
  runtime.start_all();
  ASSERT_EQ(state_of(supervisor, "web"), S::Fatal);
  const Settlement settlement = settled(open_wait({"ok", "web"}, S::Running), supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"ok: Reached [RUNNING]", "web: Unexpected [FATAL]"}));
  EXPECT_TRUE(settlement.unexpected);
  // Waiting for STOPPED: FATAL will not leave by itself either.
  EXPECT_EQ(summary(settled(open_wait({"web"}, S::Stopped), supervisor)),
            (Lines{"web: Unexpected [FATAL]"}));
}

TEST(SettleWait, ExitedOrStoppedIsUnexpectedWhenWaitingForRunning) {
  config::ProgramConfig exits = make_program("exits");
  exits.autorestart = config::AutoRestart::Never;
  Supervisor supervisor{make_config({exits, make_program("off", 1, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.exit("exits", 0);
  const PendingRequest request = open_wait({"off", "exits"}, S::Running);
  const Settlement settlement = settled(request, supervisor);
  EXPECT_EQ(summary(settlement),
            (Lines{"off: Unexpected [STOPPED]", "exits: Unexpected [EXITED]"}));
  EXPECT_TRUE(settlement.unexpected);
}

TEST(SettleWait, RemovedIsUnexpected) {
  Supervisor supervisor{make_config({make_program("web"), make_program("db", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  const PendingRequest request = open_wait({"db", "web"}, S::Running);
  runtime.run(supervisor.apply_config(make_config({make_program("db", 1)}), runtime.now_).actions);
  runtime.exit("web", 0);
  ASSERT_EQ(supervisor.find("web"), nullptr);
  const Settlement settlement = settled(request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"db: Reached [RUNNING]", "web: Unexpected [REMOVED]"}));
  EXPECT_TRUE(settlement.unexpected);
}

TEST(SettleWait, CurrentStatesOnTimeout) {
  Supervisor supervisor{make_config({make_program("web"), make_program("db", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  const PendingRequest request = open_wait({"db", "web", "ghost"}, S::Running);
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  Settlement states;
  states.results = current_states(request, supervisor);
  EXPECT_EQ(summary(states), (Lines{"db: Reached [RUNNING]", "web: Unexpected [STOPPING]",
                                    "ghost: Unexpected [REMOVED]"}));
}

// ---- update ----

TEST(SettleUpdate, NothingChangedIsSettledAtOnce) {
  Supervisor supervisor{make_config({make_program("web")})};
  const ReloadResult reload = supervisor.apply_config(make_config({make_program("web")}), kT0);
  EXPECT_TRUE(settled(open_update(reload), supervisor).results.empty());
}

TEST(SettleUpdate, WaitsForChangedProgramsToLeaveAndStart) {
  Supervisor supervisor{make_config({make_program("web"), make_program("db", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  config::ProgramConfig web = make_program("web");
  web.stopsignal = SIGINT;
  const ReloadResult reload =
      supervisor.apply_config(make_config({web, make_program("db", 1)}), runtime.now_);
  const PendingRequest request = open_update(reload);
  EXPECT_EQ(request.kind, PendingRequest::Kind::Update);
  EXPECT_EQ(request.changed, (Lines{"web"}));
  runtime.run(reload.actions);
  EXPECT_EQ(settle(request, supervisor), std::nullopt);  // leaving (STOPPING)
  runtime.exit("web", 0);
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);  // the new one
  EXPECT_EQ(settle(request, supervisor), std::nullopt);
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "web"), S::Running);
  EXPECT_TRUE(settle(request, supervisor).has_value());
}

TEST(SettleUpdate, WaitsForRemovedProgramsToGoAndAddedOnesToStart) {
  Supervisor supervisor{make_config({make_program("old", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  const ReloadResult reload = supervisor.apply_config(
      make_config({make_program("new", 2), make_program("manual", 3, 1, false)}), runtime.now_);
  const PendingRequest request = open_update(reload);
  EXPECT_EQ(request.added, (Lines{"manual", "new"}));
  EXPECT_EQ(request.removed_programs, (Lines{"old"}));
  runtime.run(reload.actions);
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "new"), S::Running);
  EXPECT_EQ(settle(request, supervisor), std::nullopt);  // old is still stopping
  runtime.exit("old", 0);
  ASSERT_EQ(supervisor.find("old"), nullptr);
  EXPECT_TRUE(settle(request, supervisor).has_value());  // manual stays STOPPED: fine
}

TEST(SettleUpdate, NotSettledWhileAnAddedProgramIsInBackoff) {
  Supervisor supervisor{make_config({})};
  FakeRuntime runtime{supervisor};
  runtime.spawn_failures_["new"] = "exec /bin/new: No such file or directory";
  const ReloadResult reload =
      supervisor.apply_config(make_config({make_program("new")}), runtime.now_);
  const PendingRequest request = open_update(reload);
  runtime.run(reload.actions);
  ASSERT_EQ(state_of(supervisor, "new"), S::Backoff);
  EXPECT_EQ(settle(request, supervisor), std::nullopt);
  runtime.advance(10s);  // retries exhausted
  ASSERT_EQ(state_of(supervisor, "new"), S::Fatal);
  EXPECT_TRUE(settle(request, supervisor).has_value());
}

// ---- restart ----

TEST(SettleRestart, NotSettledBeforeTheStartHalf) {
  Supervisor supervisor{make_config({make_program("web"), make_program("off", 2, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_restart(supervisor, {"off", "web"}, runtime.now_);  // start order
  EXPECT_EQ(opened.request.kind, PendingRequest::Kind::Restart);
  EXPECT_NE(opened.request.restart, 0u);
  runtime.run(opened.actions);
  // "off" is STOPPED (a start would call it Failed), but the start half has not come.
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);
  runtime.advance(5s);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);
  runtime.exit("web", std::nullopt, SIGTERM);
  ASSERT_TRUE(supervisor.restart_progress(opened.request.restart)->started);
  EXPECT_EQ(settle(opened.request, supervisor), std::nullopt);  // both STARTING
  runtime.advance(1s);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"off: Started", "web: Started"}));
  EXPECT_FALSE(settlement.results[0].needed_sigkill);
  EXPECT_FALSE(settlement.results[1].needed_sigkill);

  close_request(opened.request, supervisor);
  EXPECT_EQ(supervisor.restart_progress(opened.request.restart), nullptr);
}

TEST(SettleRestart, ReportsNeededSigkill) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_restart(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.advance(10s);
  runtime.exit("web", std::nullopt, SIGKILL);
  runtime.advance(1s);
  const Settlement settlement = settled(opened.request, supervisor);
  EXPECT_EQ(summary(settlement), (Lines{"web: Started"}));
  EXPECT_TRUE(settlement.results[0].needed_sigkill);
}

TEST(SettleRestart, ClosedBeforeTheStartHalfStartsNothing) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  Opened opened = open_restart(supervisor, {"web"}, runtime.now_);
  runtime.run(opened.actions);
  close_request(opened.request, supervisor);
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopped);
}

TEST(SettleRestart, RefusedDuringShutdown) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  Opened opened = open_restart(supervisor, {"web"}, runtime.now_);
  EXPECT_TRUE(opened.actions.empty());
  EXPECT_EQ(opened.request.restart, 0u);
  EXPECT_EQ(summary(settled(opened.request, supervisor)), (Lines{"web: Failed (shutting down)"}));
}

TEST(SettleRestart, ALeavingProcessFailsWhileTheOthersRestart) {
  Supervisor supervisor{make_config({make_program("web", 2), make_program("old", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.apply_config(make_config({make_program("web", 2)}), runtime.now_).actions);
  Opened opened = open_restart(supervisor, {"old", "web"}, runtime.now_);
  runtime.run(opened.actions);
  runtime.exit("web", 0);
  runtime.advance(1s);
  EXPECT_EQ(summary(settled(opened.request, supervisor)),
            (Lines{"old: Failed (being removed)", "web: Started"}));
}

}  // namespace
}  // namespace minisup::core
