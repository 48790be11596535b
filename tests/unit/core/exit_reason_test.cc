// ExitRecord::reason, and the exit record StateChanged carries: set when
// the change was caused by the end of a run (an exit, or a failed spawn),
// absent otherwise.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::only;
using S = ProcessState;

/// A machine already RUNNING with pid 100 (spawned at kT0, up at kT0 + 1 s).
ProcessMachine running_machine(ProcessPolicy policy = {}) {
  ProcessMachine m{std::move(policy)};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Running);
  return m;
}

/// The one StateChanged of `actions` (a test failure if there is not exactly one).
StateChanged the_change(const std::vector<Action>& actions) {
  const auto changes = only<StateChanged>(actions);
  EXPECT_EQ(changes.size(), 1u) << testing_support::describe_all(actions);
  return changes.empty() ? StateChanged{} : changes.front();
}

TEST(ExitReason, Names) {
  EXPECT_EQ(to_string(ExitReason::Exited), "exited");
  EXPECT_EQ(to_string(ExitReason::Killed), "killed");
  EXPECT_EQ(to_string(ExitReason::NeededSigkill), "needed_sigkill");
  EXPECT_EQ(to_string(ExitReason::SpawnFailed), "spawn_failed");
  EXPECT_EQ(to_string(ExitReason::Unhealthy), "unhealthy");
  EXPECT_EQ(to_string(ExitReason::NotReady), "not_ready");
}

TEST(ExitReason, TextAndNeededSigkillFollowTheReason) {
  ExitRecord record;
  record.exit_code = 3;
  EXPECT_EQ(record.reason, ExitReason::Exited);  // the default
  EXPECT_EQ(record.text(), "exited with status 3");
  EXPECT_FALSE(record.needed_sigkill());

  record = ExitRecord{};
  record.reason = ExitReason::Killed;
  record.exit_signal = SIGABRT;
  record.core_dumped = true;
  EXPECT_EQ(record.text(), "killed by SIGABRT (core dumped)");
  EXPECT_FALSE(record.needed_sigkill());

  record = ExitRecord{};
  record.reason = ExitReason::NeededSigkill;
  record.exit_signal = SIGKILL;
  EXPECT_EQ(record.text(), "killed by SIGKILL");
  EXPECT_TRUE(record.needed_sigkill());

  record = ExitRecord{};
  record.reason = ExitReason::SpawnFailed;
  EXPECT_EQ(record.text(), "spawn failed");
  EXPECT_FALSE(record.needed_sigkill());
}

TEST(ExitReason, RecordExitDescriptionNamesTheReason) {
  ExitRecord record;
  record.reason = ExitReason::NeededSigkill;
  record.exit_signal = SIGKILL;
  record.pid = 100;
  record.stop_duration = 10s;
  EXPECT_EQ(describe(Action{RecordExit{record}}),
            "RecordExit(pid 100, killed by SIGKILL, needed_sigkill, stop took 10.0 s, not "
            "expected)");
}

// ---- Each reason, as the machine records it ----

TEST(ExitReason, ExitedOnItsOwn) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Never;
  ProcessMachine m = running_machine(policy);
  const auto actions = m.handle(ChildExited{3, std::nullopt}, kT0 + 5s);
  ASSERT_TRUE(m.last_exit().has_value());
  const ExitRecord& record = *m.last_exit();
  EXPECT_EQ(record.reason, ExitReason::Exited);
  EXPECT_EQ(record.exit_code, 3);
  EXPECT_EQ(record.exit_signal, std::nullopt);
  EXPECT_EQ(record.pid, 100);
  EXPECT_EQ(record.when, kT0 + 5s);
  EXPECT_EQ(record.text(), "exited with status 3");
  EXPECT_EQ(only<RecordExit>(actions), (std::vector<RecordExit>{{record}}));
  EXPECT_EQ(the_change(actions),
            (StateChanged{S::Running, S::Exited, "exited with status 3 (not expected)", record}));
}

TEST(ExitReason, KilledByASignal) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Never;
  ProcessMachine m = running_machine(policy);
  const auto actions = m.handle(ChildExited{std::nullopt, SIGSEGV, true}, kT0 + 5s);
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Killed);
  EXPECT_EQ(m.last_exit()->exit_signal, SIGSEGV);
  EXPECT_TRUE(m.last_exit()->core_dumped);
  EXPECT_FALSE(m.last_exit()->expected);
  EXPECT_EQ(the_change(actions).exit, m.last_exit());
}

TEST(ExitReason, CoreDumpedIsOnlyForASignal) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Never;
  ProcessMachine m = running_machine(policy);
  m.handle(ChildExited{0, std::nullopt, true}, kT0 + 5s);
  EXPECT_FALSE(m.last_exit()->core_dumped);
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Exited);
}

TEST(ExitReason, KilledByTheStopSignalDidNotNeedSigkill) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  const auto actions = m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 5s + 10ms);
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Killed);
  EXPECT_FALSE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->stop_duration, 10ms);
  EXPECT_EQ(the_change(actions),
            (StateChanged{S::Stopping, S::Stopped, "killed by SIGTERM 0.010 s after SIGTERM",
                          m.last_exit()}));
}

TEST(ExitReason, NeededSigkill) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  const auto actions = m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 15s);
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NeededSigkill);
  EXPECT_TRUE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->exit_signal, SIGKILL);
  EXPECT_EQ(the_change(actions).exit, m.last_exit());
  EXPECT_EQ(only<RecordExit>(actions), (std::vector<RecordExit>{{*m.last_exit()}}));
}

TEST(ExitReason, NeededSigkillEvenWhenItExitedWithAStatusAfterward) {
  // It finally exited on its own, but only after SIGKILL was sent.
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 15s + 1ms);
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NeededSigkill);
  EXPECT_EQ(m.last_exit()->exit_code, 0);
  EXPECT_EQ(m.last_exit()->text(), "exited with status 0");
}

TEST(ExitReason, NeededSigkillWithStopwaitsecsZero) {
  ProcessPolicy policy;
  policy.stopwaitsecs = 0s;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 5s);
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NeededSigkill);
}

TEST(ExitReason, ExitBeforeStartsecsIsAFailedStartWithItsRecord) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 200ms);
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Exited);
  const StateChanged change = the_change(actions);
  EXPECT_EQ(change.from, S::Starting);
  EXPECT_EQ(change.to, S::Backoff);
  EXPECT_EQ(change.exit, m.last_exit());
}

// ---- A failed spawn ----

TEST(ExitReason, SpawnFailedBeforeTheForkIsCarriedButNotStored) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  const auto actions = m.handle(SpawnFailed{"fork: Resource temporarily unavailable"}, kT0 + 1ms);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_TRUE(only<RecordExit>(actions).empty());
  EXPECT_EQ(m.last_exit(), std::nullopt);  // nothing ran: no exit to keep
  const StateChanged change = the_change(actions);
  ASSERT_TRUE(change.exit.has_value());
  EXPECT_EQ(change.exit->reason, ExitReason::SpawnFailed);
  EXPECT_EQ(change.exit->pid, 0);  // nothing was forked
  EXPECT_EQ(change.exit->when, kT0 + 1ms);
  EXPECT_EQ(change.exit->exit_code, std::nullopt);
  EXPECT_EQ(change.exit->exit_signal, std::nullopt);
  EXPECT_FALSE(change.exit->expected);
  EXPECT_EQ(change.exit->text(), "spawn failed");
}

TEST(ExitReason, SpawnFailedKeepsTheLastRealExit) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Never;
  ProcessMachine m = running_machine(policy);
  m.handle(ChildExited{3, std::nullopt}, kT0 + 5s);
  const std::optional<ExitRecord> exited = m.last_exit();
  m.handle(StartRequest{}, kT0 + 6s);
  const auto actions = m.handle(SpawnFailed{"exec /bin/x: Permission denied"}, kT0 + 6s);
  EXPECT_EQ(m.last_exit(), exited);
  EXPECT_EQ(the_change(actions).exit->reason, ExitReason::SpawnFailed);
}

TEST(ExitReason, ExecFailureAfterTheForkNamesThePid) {
  // startsecs = 0: RUNNING at Spawned; the exec failure is known later.
  ProcessPolicy policy;
  policy.startsecs = 0s;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  ASSERT_EQ(m.state(), S::Running);
  const auto actions = m.handle(SpawnFailed{"exec /bin/x: Permission denied"}, kT0 + 1ms);
  const StateChanged change = the_change(actions);
  EXPECT_EQ(change.from, S::Running);
  EXPECT_EQ(change.to, S::Backoff);
  ASSERT_TRUE(change.exit.has_value());
  EXPECT_EQ(change.exit->reason, ExitReason::SpawnFailed);
  EXPECT_EQ(change.exit->pid, 100);
}

TEST(ExitReason, SpawnFailedThatMakesItFatalIsCarried) {
  ProcessPolicy policy;
  policy.startretries = 0;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  const auto actions = m.handle(SpawnFailed{"exec /bin/x: No such file or directory"}, kT0);
  const StateChanged change = the_change(actions);
  EXPECT_EQ(change.to, S::Fatal);
  ASSERT_TRUE(change.exit.has_value());
  EXPECT_EQ(change.exit->reason, ExitReason::SpawnFailed);
}

TEST(ExitReason, SpawnFailedWhileStoppingBeforeTheFork) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(StopRequest{}, kT0);
  const auto actions = m.handle(SpawnFailed{"exec /bin/x: No such file or directory"}, kT0);
  const StateChanged change = the_change(actions);
  EXPECT_EQ(change.to, S::Stopped);
  ASSERT_TRUE(change.exit.has_value());
  EXPECT_EQ(change.exit->reason, ExitReason::SpawnFailed);
  EXPECT_EQ(change.exit->pid, 0);
  EXPECT_EQ(m.last_exit(), std::nullopt);
}

TEST(ExitReason, SpawnFailedWhileStoppingAfterTheForkNamesThePid) {
  // Spawned (fork done), a stop, then the exec-status pipe reports the
  // exec failure: the record names the forked child, as it does in
  // STARTING and RUNNING.
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(StopRequest{}, kT0 + 1ms);
  const auto actions = m.handle(SpawnFailed{"exec /bin/x: Permission denied"}, kT0 + 2ms);
  const StateChanged change = the_change(actions);
  EXPECT_EQ(change.to, S::Stopped);
  ASSERT_TRUE(change.exit.has_value());
  EXPECT_EQ(change.exit->reason, ExitReason::SpawnFailed);
  EXPECT_EQ(change.exit->pid, 100);
}

// ---- Changes that are not the end of a run carry no record ----

TEST(ExitReason, NoRecordOnStartRunningStopOrRetry) {
  ProcessMachine m{ProcessPolicy{}};
  auto changes_of = [](const std::vector<Action>& actions) {
    const auto changes = only<StateChanged>(actions);
    EXPECT_EQ(changes.size(), 1u) << testing_support::describe_all(actions);
    return changes;
  };
  // STOPPED -> STARTING (a start request).
  for (const StateChanged& c : changes_of(m.handle(StartRequest{}, kT0))) {
    EXPECT_EQ(c.exit, std::nullopt) << c.reason;
  }
  m.handle(Spawned{100}, kT0);
  // STARTING -> BACKOFF carries the exit; BACKOFF -> STARTING (the retry) does not.
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  for (const StateChanged& c :
       changes_of(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms))) {
    EXPECT_EQ(c.exit, std::nullopt) << c.reason;
  }
  m.handle(Spawned{101}, kT0 + 1100ms);
  // STARTING -> RUNNING.
  for (const StateChanged& c :
       changes_of(m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 2100ms))) {
    EXPECT_EQ(c.exit, std::nullopt) << c.reason;
  }
  // RUNNING -> STOPPING (a stop request).
  for (const StateChanged& c : changes_of(m.handle(StopRequest{}, kT0 + 3s))) {
    EXPECT_EQ(c.exit, std::nullopt) << c.reason;
  }
}

TEST(ExitReason, NoRecordWhenBackoffIsStopped) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  const auto actions = m.handle(StopRequest{}, kT0 + 200ms);
  EXPECT_EQ(the_change(actions),
            (StateChanged{S::Backoff, S::Stopped, "stop requested while waiting to retry",
                          std::nullopt}));
}

TEST(ExitReason, AutorestartCarriesTheRecordOnlyOnTheExit) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  ProcessMachine m = running_machine(policy);
  const auto changes = only<StateChanged>(m.handle(ChildExited{0, std::nullopt}, kT0 + 30s));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].to, S::Exited);
  EXPECT_EQ(changes[0].exit, m.last_exit());
  EXPECT_EQ(changes[1].to, S::Starting);
  EXPECT_EQ(changes[1].exit, std::nullopt);
}

}  // namespace
}  // namespace minisup::core
