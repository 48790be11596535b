// ProcessMachine: a process that keeps dying soon after it started
// (DESIGN.md, Process states): the first restart is immediate, each further
// quick exit waits 1 s, 2 s, 4 s ... (at most 60 s) in BACKOFF, never FATAL;
// staying up 10 s, or a start request, starts the count over.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::only;
using S = ProcessState;

ProcessPolicy crash_policy() {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  policy.startsecs = config::Duration::zero();  // `command = "false"`, startsecs = 0
  return policy;
}

/// Spawned(pid) at `t`: RUNNING at once (startsecs = 0).
void spawn_at(ProcessMachine& m, int pid, TimePoint t) {
  m.handle(Spawned{pid}, t);
  ASSERT_EQ(m.state(), S::Running);
}

TEST(CrashLoop, FirstQuickExitRestartsAtOnceThenOneTwoFourSeconds) {
  ProcessMachine m{crash_policy()};
  TimePoint t = kT0;
  m.handle(StartRequest{}, t);
  spawn_at(m, 100, t);

  // 1st quick exit: immediate restart.
  auto actions = m.handle(ChildExited{1, std::nullopt}, t + 10ms);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(only<Spawn>(actions), (std::vector<Spawn>{{2}}));
  EXPECT_TRUE(only<ArmDeadline>(actions).empty());
  t += 10ms;

  const config::Duration expected[] = {1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s, 60s};
  int pid = 101;
  Incarnation incarnation = 2;  // the one spawned by the immediate restart
  for (config::Duration delay : expected) {
    SCOPED_TRACE(std::chrono::duration<double>(delay).count());
    spawn_at(m, pid++, t);
    actions = m.handle(ChildExited{1, std::nullopt}, t + 10ms);
    t += 10ms;
    EXPECT_EQ(m.state(), S::Backoff);
    EXPECT_TRUE(m.restart_delayed());
    EXPECT_TRUE(only<Spawn>(actions).empty());
    const auto armed = only<ArmDeadline>(actions);
    ASSERT_EQ(armed.size(), 1u);
    EXPECT_EQ(armed[0], (ArmDeadline{DeadlineKind::Backoff, t + delay, incarnation}));
    ASSERT_TRUE(m.retry_at().has_value());
    EXPECT_EQ(*m.retry_at(), t + delay);
    // Nothing happens before the delay; a stale timer of another kind is ignored.
    EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Startsecs}, t + delay / 2).empty());
    t += delay;
    actions = m.handle(DeadlineExpired{DeadlineKind::Backoff}, t);
    EXPECT_EQ(m.state(), S::Starting);
    EXPECT_FALSE(m.restart_delayed());
    EXPECT_FALSE(m.retry_at().has_value());
    EXPECT_EQ(only<Spawn>(actions), (std::vector<Spawn>{{++incarnation}}));
    EXPECT_EQ(m.incarnation(), incarnation);
  }
  EXPECT_EQ(m.quick_exits(), 10);
  EXPECT_EQ(m.failed_starts(), 0);  // never counts towards FATAL
}

TEST(CrashLoop, BackoffReasonSaysWhyAndWhen) {
  ProcessMachine m{crash_policy()};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);
  spawn_at(m, 101, kT0 + 1s);
  const auto actions = m.handle(ChildExited{std::nullopt, SIGABRT, /*core_dumped=*/true}, kT0 + 2s);
  const auto changes = only<StateChanged>(actions);
  ASSERT_EQ(changes.size(), 2u);
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(changes[0], (StateChanged{S::Running, S::Exited, "killed by SIGABRT (core dumped)",
                                      m.last_exit()}));
  EXPECT_EQ(changes[1].from, S::Exited);
  EXPECT_EQ(changes[1].to, S::Backoff);
  EXPECT_EQ(changes[1].reason,
            "autorestart is true; exited 2 times in a row within 10.0 s of starting, restart in "
            "1.0 s");
  EXPECT_TRUE(m.last_exit()->core_dumped);
  EXPECT_EQ(m.last_exit()->exit_signal, SIGABRT);
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Killed);
}

TEST(CrashLoop, StayingUpTheWindowStartsTheCountOver) {
  ProcessMachine m{crash_policy()};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);  // quick 1: at once
  spawn_at(m, 101, kT0 + 1s);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);  // quick 2: 1 s
  ASSERT_EQ(m.state(), S::Backoff);
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 3s);
  spawn_at(m, 102, kT0 + 3s);
  // Up for exactly the window: not a quick exit; restarted at once, count 0.
  auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 3s + kQuickExitWindow);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(only<Spawn>(actions).size(), 1u);
  EXPECT_EQ(m.quick_exits(), 0);
  // The next quick exit is again the first of a series: at once.
  spawn_at(m, 103, kT0 + 20s);
  actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 21s);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(m.quick_exits(), 1);
}

TEST(CrashLoop, WindowCountsFromRunningNotFromTheSpawn) {
  ProcessPolicy policy = crash_policy();
  policy.startsecs = 5s;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 5s);  // RUNNING at +5 s
  m.handle(ChildExited{1, std::nullopt}, kT0 + 14s);             // 9 s after: quick
  EXPECT_EQ(m.quick_exits(), 1);
  EXPECT_EQ(m.state(), S::Starting);
}

TEST(CrashLoop, StopInRestartDelayStopsAtOnceAndStartBeginsANewSeries) {
  ProcessMachine m{crash_policy()};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);
  spawn_at(m, 101, kT0 + 1s);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);
  ASSERT_EQ(m.state(), S::Backoff);
  auto actions = m.handle(StopRequest{}, kT0 + 2500ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(only<CancelDeadline>(actions),
            (std::vector<CancelDeadline>{CancelDeadline{DeadlineKind::Backoff}}));
  EXPECT_FALSE(m.restart_delayed());
  // A late timer does nothing.
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 3s).empty());
  m.handle(StartRequest{}, kT0 + 4s);
  EXPECT_EQ(m.quick_exits(), 0);
  EXPECT_EQ(m.state(), S::Starting);
}

TEST(CrashLoop, StartRequestInRestartDelaySpawnsNow) {
  ProcessMachine m{crash_policy()};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);
  spawn_at(m, 101, kT0 + 1s);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);
  ASSERT_EQ(m.state(), S::Backoff);
  auto actions = m.handle(StartRequest{}, kT0 + 2100ms);
  EXPECT_EQ(m.state(), S::Starting);
  EXPECT_EQ(only<Spawn>(actions).size(), 1u);
  EXPECT_FALSE(m.restart_delayed());
  EXPECT_EQ(m.quick_exits(), 0);
}

TEST(CrashLoop, InhibitedRestartsEndTheLoop) {
  ProcessMachine m{crash_policy()};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);
  spawn_at(m, 101, kT0 + 1s);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);
  ASSERT_EQ(m.state(), S::Backoff);
  m.inhibit_restarts();
  EXPECT_TRUE(only<Spawn>(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 3s)).empty());
  EXPECT_EQ(m.state(), S::Backoff);
  m.handle(StopRequest{}, kT0 + 3s);
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(CrashLoop, ExpectedExitWithUnexpectedModeIsNotRestartedAtAll) {
  ProcessPolicy policy = crash_policy();
  policy.autorestart = config::AutoRestart::Unexpected;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  spawn_at(m, 100, kT0);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Exited);
  EXPECT_EQ(m.quick_exits(), 0);
}

}  // namespace
}  // namespace minisup::core
