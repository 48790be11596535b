// ProcessMachine::counters() and is_ready(): restarts count only the spawns
// the machine makes by itself after a run ended; every end of a run counts
// once under its ExitReason; stops that needed SIGKILL count in sigkills.
// And the Supervisor keeps a name's counters when a machine replaces another.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::only;
using S = ProcessState;

/// A machine RUNNING with pid `pid` (spawned at `at`, up 1 s later).
void bring_up(ProcessMachine& m, TimePoint at, int pid = 100) {
  m.handle(StartRequest{}, at);
  m.handle(Spawned{pid}, at);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, at + 1s);
  ASSERT_EQ(m.state(), S::Running);
}

/// counters.exits as {reason: count} for the nonzero ones, for readable
/// comparisons.
std::map<std::string, std::uint64_t> exits(const ProcessMachine& m) {
  std::map<std::string, std::uint64_t> result;
  for (ExitReason reason : kAllExitReasons) {
    if (m.counters().exits_for(reason) != 0)
      result[std::string(to_string(reason))] = m.counters().exits_for(reason);
  }
  return result;
}

using Exits = std::map<std::string, std::uint64_t>;

TEST(ProcessCounters, ANewMachineHasCountedNothing) {
  ProcessMachine m{ProcessPolicy{}};
  EXPECT_EQ(m.counters(), ProcessCounters{});
  EXPECT_FALSE(m.is_ready());
  EXPECT_FALSE(m.last_stop_duration());
}

TEST(ProcessCounters, ACrashAndItsAutorestartCountOneRestart) {
  ProcessMachine m{ProcessPolicy{}};  // autorestart = unexpected, exitcodes = [0]
  bring_up(m, kT0);
  EXPECT_TRUE(m.is_ready());
  m.handle(ChildExited{1, std::nullopt}, kT0 + 30s);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 1u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 1}}));
  EXPECT_FALSE(m.is_ready());  // STARTING again

  m.handle(Spawned{101}, kT0 + 30s);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 31s);
  m.handle(ChildExited{std::nullopt, SIGSEGV}, kT0 + 60s);  // death by a signal: unexpected
  EXPECT_EQ(m.counters().restarts, 2u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 1}, {"killed", 1}}));
  EXPECT_EQ(m.counters().sigkills, 0u);
}

TEST(ProcessCounters, AnExpectedExitWithoutRestartCountsNoRestart) {
  ProcessMachine m{ProcessPolicy{}};
  bring_up(m, kT0);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 30s);
  EXPECT_EQ(m.state(), S::Exited);
  EXPECT_EQ(m.counters().restarts, 0u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 1}}));
}

TEST(ProcessCounters, AUserRestartIsNoRestart) {
  ProcessMachine m{ProcessPolicy{}};
  bring_up(m, kT0);
  // restart = stop, then start: both requested.
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 5s + 200ms);
  ASSERT_EQ(m.state(), S::Stopped);
  m.handle(StartRequest{}, kT0 + 6s);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 0u);
  EXPECT_EQ(exits(m), (Exits{{"killed", 1}}));
  EXPECT_EQ(m.last_stop_duration(), std::chrono::nanoseconds(200ms));

  // A start requested after an exit (EXITED -> STARTING) is no restart either.
  m.handle(Spawned{101}, kT0 + 6s);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 7s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 8s);
  ASSERT_EQ(m.state(), S::Exited);
  m.handle(StartRequest{}, kT0 + 9s);
  EXPECT_EQ(m.counters().restarts, 0u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 1}, {"killed", 1}}));
  // The last stop's duration outlives a later run that ended otherwise.
  EXPECT_EQ(m.last_stop_duration(), std::chrono::nanoseconds(200ms));
}

TEST(ProcessCounters, BackoffRetriesCountUntilFatal) {
  ProcessPolicy policy;
  policy.startretries = 2;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);  // requested: not counted
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  ASSERT_EQ(m.state(), S::Backoff);
  EXPECT_EQ(m.counters().restarts, 0u);  // counted at the spawn, not in BACKOFF

  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms);  // retry 1/2
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 1u);
  m.handle(SpawnFailed{"exec /x: No such file or directory"}, kT0 + 1100ms);
  ASSERT_EQ(m.state(), S::Backoff);
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 3100ms);  // retry 2/2
  EXPECT_EQ(m.counters().restarts, 2u);
  m.handle(Spawned{101}, kT0 + 3100ms);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 3200ms);
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.counters().restarts, 2u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 2}, {"spawn_failed", 1}}));
}

TEST(ProcessCounters, AStartRequestInBackoffIsNoRestart) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(SpawnFailed{"exec /x: Permission denied"}, kT0);
  ASSERT_EQ(m.state(), S::Backoff);
  m.handle(StartRequest{}, kT0 + 100ms);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 0u);
  EXPECT_EQ(exits(m), (Exits{{"spawn_failed", 1}}));
}

TEST(ProcessCounters, ACrashLoopsDelayedRestartCountsAtItsSpawn) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  ProcessMachine m{policy};
  bring_up(m, kT0);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 2s);  // quick exit 1: at once
  EXPECT_EQ(m.counters().restarts, 1u);
  m.handle(Spawned{101}, kT0 + 2s);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 3s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 4s);  // quick exit 2: BACKOFF 1 s
  ASSERT_EQ(m.state(), S::Backoff);
  ASSERT_TRUE(m.restart_delayed());
  EXPECT_EQ(m.counters().restarts, 1u);
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 5s);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 2u);
  EXPECT_EQ(exits(m), (Exits{{"exited", 2}}));
}

TEST(ProcessCounters, AStopThatReachedStopwaitsecsCountsNeededSigkill) {
  ProcessMachine m{ProcessPolicy{}};  // stopwaitsecs = 10 s
  bring_up(m, kT0);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 15s + 3ms);
  ASSERT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(exits(m), (Exits{{"needed_sigkill", 1}}));
  EXPECT_EQ(m.counters().sigkills, 1u);
  EXPECT_EQ(m.counters().restarts, 0u);
  EXPECT_EQ(m.last_stop_duration(), std::chrono::nanoseconds(10s + 3ms));
}

TEST(ProcessCounters, HealthCheckRestartCountsAndTheFailedCheckIsNotReady) {
  ProcessPolicy policy;
  policy.health_probe = true;
  policy.health_failures = 2;
  ProcessMachine m{policy};
  bring_up(m, kT0);
  EXPECT_TRUE(m.is_ready());
  m.handle(HealthChecked{false, "connect: Connection refused"}, kT0 + 10s);
  EXPECT_EQ(m.state(), S::Running);
  EXPECT_FALSE(m.is_ready());  // RUNNING, but its last health check failed
  m.handle(HealthChecked{true, ""}, kT0 + 20s);
  EXPECT_TRUE(m.is_ready());
  m.handle(HealthChecked{false, ""}, kT0 + 30s);
  m.handle(HealthChecked{false, ""}, kT0 + 40s);  // 2 in a row: stop, then start again
  ASSERT_EQ(m.state(), S::Stopping);
  EXPECT_FALSE(m.is_ready());
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 50s);  // needed SIGKILL too
  m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 50s);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.counters().restarts, 1u);
  EXPECT_EQ(exits(m), (Exits{{"unhealthy", 1}}));  // the reason says unhealthy ...
  EXPECT_EQ(m.counters().sigkills, 1u);            // ... and SIGKILL is still counted
}

TEST(ProcessCounters, NotReadyAndDependencyFailedAreCounted) {
  ProcessPolicy policy;
  policy.ready_probe = true;
  policy.ready_timeout = 5s;
  policy.stopwaitsecs = 1s;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  EXPECT_FALSE(m.is_ready());  // STARTING until the probe succeeds
  m.handle(DeadlineExpired{DeadlineKind::Ready}, kT0 + 5s);
  m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 5s + 10ms);
  ASSERT_EQ(m.state(), S::Backoff);
  EXPECT_EQ(exits(m), (Exits{{"not_ready", 1}}));

  ProcessMachine waiting{ProcessPolicy{}};
  waiting.handle(StartRequest{"db"}, kT0);
  waiting.handle(DependencyFailed{"db is FATAL"}, kT0 + 1s);
  ASSERT_EQ(waiting.state(), S::Fatal);
  EXPECT_EQ(exits(waiting), (Exits{{"dependency_failed", 1}}));
  EXPECT_EQ(waiting.counters().restarts, 0u);
}

TEST(ProcessCounters, AReadyProbeMakesItReadyWhenRunning) {
  ProcessPolicy policy;
  policy.ready_probe = true;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ProbeFailed{"connect: Connection refused"}, kT0 + 200ms);
  EXPECT_FALSE(m.is_ready());
  m.handle(ProbeSucceeded{"connected"}, kT0 + 400ms);
  EXPECT_EQ(m.state(), S::Running);
  EXPECT_TRUE(m.is_ready());
}

// ---- the Supervisor keeps a name's counters ----

using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;

TEST(ProcessCounters, AReloadKeepsTheCountersOfUnchangedAndChangedPrograms) {
  config::ProgramConfig a = make_program("a");
  config::ProgramConfig b = make_program("b");
  Supervisor supervisor{make_config({a, b})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance_to(runtime.now_ + 1s);
  runtime.exit("a", 1);  // a crash each: restarted
  runtime.exit("b", 1);
  ASSERT_EQ(supervisor.find("a")->machine().counters().restarts, 1u);
  ASSERT_EQ(supervisor.find("b")->machine().counters().restarts, 1u);

  config::ProgramConfig b2 = b;
  b2.processes[0].command = {"/bin/b", "--new"};
  runtime.run(supervisor.apply_config(make_config({a, b2}), runtime.now_).actions);
  runtime.exit("b", std::nullopt, SIGTERM);  // its stop; then the new b starts
  runtime.advance(1s);
  ASSERT_EQ(supervisor.find("b")->process_config().command.back(), "--new");
  EXPECT_EQ(supervisor.find("a")->machine().counters().restarts, 1u);
  EXPECT_EQ(supervisor.find("b")->machine().counters().restarts, 1u);
  // The replaced run's stop was counted before the new machine took over.
  EXPECT_EQ(supervisor.find("b")->machine().counters().exits_for(ExitReason::Exited), 1u);
  EXPECT_EQ(supervisor.find("b")->machine().counters().exits_for(ExitReason::Killed), 1u);
}

}  // namespace
}  // namespace minisup::core
