// ProcessMachine: readiness probes, health checks, waiting for
// dependencies, jobs and a shutdown's kill_by (DESIGN.md, "Readiness,
// dependencies and harness mode"), with a fake clock.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::only;
using S = ProcessState;

ProcessPolicy ready_policy() {
  ProcessPolicy p;
  p.ready_probe = true;
  p.ready_timeout = 5s;
  p.startretries = 1;
  p.stopwaitsecs = 2s;
  return p;
}

ProcessPolicy health_policy() {
  ProcessPolicy p;
  p.health_probe = true;
  p.health_failures = 3;
  p.stopwaitsecs = 2s;
  return p;
}

template <class T>
bool has(const std::vector<Action>& actions, const T& wanted) {
  for (const Action& a : actions) {
    if (const T* t = std::get_if<T>(&a); t != nullptr && *t == wanted) return true;
  }
  return false;
}

std::string last_reason(const std::vector<Action>& actions) {
  const auto changes = only<StateChanged>(actions);
  return changes.empty() ? "" : changes.back().reason;
}

// ---- ready ----

TEST(Readiness, SpawnedStartsTheProbeAndArmsTheTimeoutFromTheSpawn) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  const auto actions = m.handle(Spawned{100}, kT0 + 10ms);
  EXPECT_EQ(actions, (std::vector<Action>{
                         StartProbe{ProbeRole::Ready, 1},
                         ArmDeadline{DeadlineKind::Ready, kT0 + 10ms + 5s, 1},
                     }));
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.deadline(DeadlineKind::Startsecs), std::nullopt) << "startsecs is not used";
}

TEST(Readiness, StartsecsPassingDoesNotMakeItRunning) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s).empty());
  EXPECT_EQ(m.state(), S::Starting);
}

TEST(Readiness, ProbeSuccessMakesItRunningAndStopsTheProbe) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ProbeFailed{"connect 127.0.0.1:5432: Connection refused"}, kT0 + 200ms);
  const auto actions = m.handle(ProbeSucceeded{"tcp 127.0.0.1:5432"}, kT0 + 400ms);
  EXPECT_EQ(m.state(), S::Running);
  EXPECT_TRUE(has(actions, StopProbe{ProbeRole::Ready}));
  EXPECT_TRUE(has(actions, CancelDeadline{DeadlineKind::Ready}));
  EXPECT_EQ(last_reason(actions), "ready after 0.40 s: tcp 127.0.0.1:5432");
  EXPECT_EQ(m.failed_starts(), 0);
}

TEST(Readiness, ProbeSuccessAfterStopProbeIsIgnored) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(StopRequest{}, kT0 + 1s);
  EXPECT_TRUE(m.handle(ProbeSucceeded{}, kT0 + 1s).empty());
  EXPECT_EQ(m.state(), S::Stopping);
}

TEST(Readiness, TimeoutStopsTheProcessAndEndsInAFailedStart) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ProbeFailed{"connect 127.0.0.1:5432: Connection refused"}, kT0 + 4s);
  const auto stop = m.handle(DeadlineExpired{DeadlineKind::Ready}, kT0 + 5s);
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(has(stop, StopProbe{ProbeRole::Ready}));
  EXPECT_TRUE(has(stop, SendSignal{SIGTERM, false}));
  EXPECT_EQ(last_reason(stop),
            "not ready after 5.0 s: connect 127.0.0.1:5432: Connection refused; sent SIGTERM");

  const auto exit = m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 5s + 10ms);
  EXPECT_EQ(m.state(), S::Backoff) << "a failed start, retried";
  EXPECT_EQ(m.failed_starts(), 1);
  ASSERT_TRUE(m.last_exit());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NotReady);
  EXPECT_EQ(last_reason(exit),
            "not ready after 5.0 s: connect 127.0.0.1:5432: Connection refused; retry 1/1 in "
            "1.0 s");

  // The retry fails the same way: FATAL, and status says why.
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 7s);
  m.handle(Spawned{101}, kT0 + 7s);
  m.handle(DeadlineExpired{DeadlineKind::Ready}, kT0 + 12s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 12s);
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.last_error(), "not ready after 5.0 s; gave up after 1 retry");
}

TEST(Readiness, ProcessThatIgnoresTheStopIsKilledThenFailsTheStart) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Ready}, kT0 + 5s);
  const auto kill = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 7s);
  EXPECT_TRUE(has(kill, SendSignal{SIGKILL, false}));
  m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 7s);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NotReady);
}

TEST(Readiness, ExitBeforeReadyIsAFailedStart) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 300ms);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_TRUE(has(actions, StopProbe{ProbeRole::Ready}));
  EXPECT_TRUE(has(actions, CancelDeadline{DeadlineKind::Ready}));
  EXPECT_EQ(last_reason(actions),
            "exited with status 1 after 0.30 s before it was ready; retry 1/1 in 1.0 s");
}

TEST(Readiness, UserStopDuringANotReadyStopEndsStopped) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Ready}, kT0 + 5s);
  m.handle(StopRequest{}, kT0 + 5s + 1ms);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 2ms);
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(Readiness, StaleProbeFailureDoesNotLeakIntoTheNextStart) {
  ProcessMachine m{ready_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ProbeFailed{"old"}, kT0 + 1s);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 3s);
  EXPECT_EQ(m.probe_detail(), "");
}

// ---- health ----

TEST(Health, StartsWhenRunningAndRestartsAfterFailuresInARow) {
  ProcessMachine m{health_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto up = m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
  EXPECT_TRUE(has(up, StartProbe{ProbeRole::Health, 1}));

  EXPECT_TRUE(m.handle(HealthChecked{false, "status 503"}, kT0 + 10s).empty());
  EXPECT_TRUE(m.handle(HealthChecked{true, ""}, kT0 + 20s).empty()) << "a success resets";
  m.handle(HealthChecked{false, "status 503"}, kT0 + 30s);
  m.handle(HealthChecked{false, "status 503"}, kT0 + 40s);
  EXPECT_EQ(m.state(), S::Running);
  EXPECT_EQ(m.health_failures(), 2);
  const auto stop = m.handle(HealthChecked{false, "status 500"}, kT0 + 50s);
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(has(stop, StopProbe{ProbeRole::Health}));
  EXPECT_TRUE(has(stop, SendSignal{SIGTERM, false}));
  EXPECT_TRUE(has(stop, Notice{"unhealthy: 3 health checks failed in a row, the last: status 500; "
                               "restarting"}));

  const auto restart = m.handle(ChildExited{0, std::nullopt}, kT0 + 51s);
  EXPECT_EQ(m.state(), S::Starting) << "restarted whatever autorestart says";
  EXPECT_TRUE(has(restart, Spawn{2}));
  ASSERT_TRUE(m.last_exit());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Unhealthy);
  const auto changes = only<StateChanged>(restart);
  ASSERT_EQ(changes.size(), 1u);
  ASSERT_TRUE(changes[0].exit);
  EXPECT_EQ(changes[0].exit->reason, ExitReason::Unhealthy);
}

TEST(Health, ChecksOutsideRunningAreIgnored) {
  ProcessMachine m{health_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  EXPECT_TRUE(m.handle(HealthChecked{false, "x"}, kT0 + 100ms).empty());
  EXPECT_EQ(m.health_failures(), 0);
}

TEST(Health, ExitOrStopEndsTheProbe) {
  ProcessMachine m{health_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
  EXPECT_TRUE(has(m.handle(StopRequest{}, kT0 + 2s), StopProbe{ProbeRole::Health}));
}

TEST(Health, UnhealthyDuringShutdownEndsStopped) {
  ProcessMachine m{health_policy()};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
  for (int i = 0; i < 3; ++i) m.handle(HealthChecked{false, "x"}, kT0 + 2s);
  m.inhibit_restarts();
  m.handle(ChildExited{0, std::nullopt}, kT0 + 3s);
  EXPECT_EQ(m.state(), S::Stopped);
}

// ---- waiting for dependencies ----

TEST(Dependencies, StartWaitsWithoutASpawn) {
  ProcessMachine m{ProcessPolicy{}};
  const auto actions = m.handle(StartRequest{"db"}, kT0);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.pid(), 0);
  EXPECT_EQ(m.waiting_for(), "db");
  EXPECT_TRUE(only<Spawn>(actions).empty());
  EXPECT_EQ(last_reason(actions), "start requested; waiting for db");

  const auto met = m.handle(DependenciesMet{}, kT0 + 1s);
  EXPECT_EQ(met, (std::vector<Action>{Spawn{1}}));
  EXPECT_EQ(m.waiting_for(), "");
  EXPECT_EQ(m.started_at(), kT0 + 1s);
}

TEST(Dependencies, AFailedDependencyMakesItFatalUnspawned) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{"db"}, kT0);
  const auto actions = m.handle(DependencyFailed{"db is FATAL"}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.last_error(), "not started: db is FATAL");
  ASSERT_TRUE(m.last_exit());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::DependencyFailed);
  EXPECT_EQ(m.last_exit()->message, "db is FATAL");
  EXPECT_TRUE(only<Spawn>(actions).empty());
}

TEST(Dependencies, StopWhileWaitingIsImmediate) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{"db"}, kT0);
  const auto actions = m.handle(StopRequest{}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_TRUE(only<SendSignal>(actions).empty());
  EXPECT_EQ(last_reason(actions), "stop requested while waiting for db");
  EXPECT_TRUE(m.handle(DependenciesMet{}, kT0 + 2s).empty()) << "no longer waiting";
}

TEST(Dependencies, DependencyEventsOutsideWaitingAreIgnored) {
  ProcessMachine m{ProcessPolicy{}};
  EXPECT_TRUE(m.handle(DependenciesMet{}, kT0).empty());
  EXPECT_TRUE(m.handle(DependencyFailed{"x"}, kT0).empty());
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  EXPECT_TRUE(m.handle(DependencyFailed{"x"}, kT0).empty());
  EXPECT_EQ(m.state(), S::Starting);
}

// ---- jobs ----

TEST(Job, RunningAtOnceAndNeverRestarted) {
  config::ProgramConfig program;
  program.name = "migrate";
  program.job = true;
  program.autorestart = config::AutoRestart::Always;
  ProcessMachine m{ProcessPolicy::from(program)};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  EXPECT_EQ(m.state(), S::Running);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Exited);
  EXPECT_FALSE(m.last_exit()->expected);
}

// ---- kill_by (shutdown_timeout) ----

TEST(KillBy, StopArmsSigkillNoLaterThanKillBy) {
  ProcessPolicy p;
  p.stopwaitsecs = 10s;
  ProcessMachine m{p};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(StopRequest{kT0 + 3s}, kT0 + 1s);
  EXPECT_TRUE(has(actions, ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 3s, 1}));
}

TEST(KillBy, LaterKillByBringsAnOngoingStopForward) {
  ProcessPolicy p;
  p.stopwaitsecs = 10s;
  ProcessMachine m{p};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(StopRequest{}, kT0 + 1s);
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), kT0 + 11s);
  const auto actions = m.handle(StopRequest{kT0 + 4s}, kT0 + 2s);
  EXPECT_EQ(actions, (std::vector<Action>{ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 4s, 1}}));
  EXPECT_TRUE(m.handle(StopRequest{kT0 + 8s}, kT0 + 3s).empty()) << "never pushed back";
  const auto kill = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 4s);
  EXPECT_TRUE(has(kill, SendSignal{SIGKILL, false}));
}

TEST(KillBy, KillByInThePastKillsAtOnce) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(StopRequest{}, kT0 + 1s);
  const auto actions = m.handle(StopRequest{kT0 + 2s}, kT0 + 2s);
  EXPECT_TRUE(has(actions, SendSignal{SIGKILL, false}));
  EXPECT_TRUE(m.sigkill_sent());
}

TEST(KillBy, StopBeforeSpawnedKeepsKillByForTheSignal) {
  ProcessPolicy p;
  p.stopwaitsecs = 10s;
  ProcessMachine m{p};
  m.handle(StartRequest{}, kT0);
  m.handle(StopRequest{kT0 + 2s}, kT0);
  const auto actions = m.handle(Spawned{100}, kT0 + 1ms);
  EXPECT_TRUE(has(actions, ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 2s, 1}));
}

}  // namespace
}  // namespace minisup::core
