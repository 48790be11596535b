// ProcessMachine: scripted scenarios with a fake clock, named after the
// config key or behaviour they pin down.
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

std::string last_reason(const std::vector<Action>& actions) {
  const auto changes = only<StateChanged>(actions);
  return changes.empty() ? "" : changes.back().reason;
}

// ---- stopwaitsecs and SIGKILL ----

TEST(StopWaitSecs, StopFromRunningSendsStopSignalAndArmsDeadline) {
  ProcessMachine m = running_machine();
  const auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(actions, (std::vector<Action>{
                         StateChanged{S::Running, S::Stopping, "sent SIGTERM", std::nullopt},
                         SendSignal{SIGTERM, false},
                         ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 15s, 1},
                     }));
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_EQ(m.pid(), 100);
  EXPECT_EQ(m.stop_requested_at(), kT0 + 5s);
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), kT0 + 15s);
}

TEST(StopWaitSecs, EscalatesToSigkillAtTheDeadline) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(actions, (std::vector<Action>{
                         SendSignal{SIGKILL, false},
                         Notice{"did not exit 10.0 s after SIGTERM; sent SIGKILL"},
                         ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 20s, 1},
                     }));
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(m.sigkill_sent());

  const auto exit = m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 15s + 2ms);
  EXPECT_EQ(m.state(), S::Stopped);
  ASSERT_TRUE(m.last_exit().has_value());
  const ExitRecord& record = *m.last_exit();
  EXPECT_EQ(record.pid, 100);
  EXPECT_EQ(record.exit_signal, SIGKILL);
  EXPECT_EQ(record.exit_code, std::nullopt);
  EXPECT_TRUE(record.needed_sigkill());
  EXPECT_EQ(record.reason, ExitReason::NeededSigkill);
  EXPECT_FALSE(record.expected);
  EXPECT_EQ(record.stop_duration, 10s + 2ms);
  EXPECT_EQ(record.when, kT0 + 15s + 2ms);
  EXPECT_EQ(exit,
            (std::vector<Action>{
                CancelDeadline{DeadlineKind::Stopwaitsecs},
                RecordExit{record},
                StateChanged{S::Stopping, S::Stopped,
                             "killed by SIGKILL 10.0 s after SIGTERM (needed SIGKILL)", record},
            }));
  EXPECT_EQ(m.pid(), 0);
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), std::nullopt);
}

TEST(StopWaitSecs, GracefulExitCancelsTheDeadline) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  const auto actions = m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 120ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(only<CancelDeadline>(actions),
            (std::vector<CancelDeadline>{{DeadlineKind::Stopwaitsecs}}));
  EXPECT_EQ(last_reason(actions), "exited with status 0 0.12 s after SIGTERM");
  EXPECT_FALSE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Exited);
  EXPECT_TRUE(m.last_exit()->expected);
  EXPECT_EQ(m.last_exit()->stop_duration, 120ms);
  // The deadline, had it been fired late anyway, does nothing.
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s).empty());
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(StopWaitSecs, StillAliveAfterSigkillIsReportedOnceNotKilledAgain) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 20s);
  EXPECT_EQ(actions, (std::vector<Action>{Notice{"process still alive 5.0 s after SIGKILL"}}));
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), std::nullopt);  // no more reminders
  EXPECT_EQ(m.state(), S::Stopping);
  // When it is finally reaped, it is STOPPED with needed_sigkill.
  const auto exit = m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 60s);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_TRUE(only<CancelDeadline>(exit).empty());  // nothing armed any more
  EXPECT_TRUE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->stop_duration, 55s);
}

TEST(StopWaitSecs, ZeroSendsSigkillRightAfterTheStopSignal) {
  ProcessPolicy policy;
  policy.stopwaitsecs = 0s;
  ProcessMachine m = running_machine(policy);
  const auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(actions,
            (std::vector<Action>{
                StateChanged{S::Running, S::Stopping,
                             "sent SIGTERM, then SIGKILL (stopwaitsecs is 0)", std::nullopt},
                SendSignal{SIGTERM, false},
                SendSignal{SIGKILL, false},
                ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 10s, 1},
            }));
  EXPECT_TRUE(m.sigkill_sent());
  m.handle(ChildExited{std::nullopt, SIGKILL}, kT0 + 5s + 1ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_TRUE(m.last_exit()->needed_sigkill());
}

TEST(StopSignal, ConfiguredSignalIsSentAndNamedInReasons) {
  ProcessPolicy policy;
  policy.stopsignal = SIGINT;
  policy.stopwaitsecs = 2500ms;
  ProcessMachine m = running_machine(policy);
  auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGINT, false}}));
  EXPECT_EQ(last_reason(actions), "sent SIGINT");
  actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 7500ms);
  EXPECT_EQ(only<Notice>(actions),
            (std::vector<Notice>{{"did not exit 2.5 s after SIGINT; sent SIGKILL"}}));
}

// ---- stopasgroup / killasgroup ----

TEST(StopAsGroup, SignalsGoToTheGroup) {
  ProcessPolicy policy;
  policy.stopasgroup = true;
  ProcessMachine m = running_machine(policy);
  EXPECT_TRUE(m.policy().killasgroup);  // implied
  auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGTERM, true}}));
  EXPECT_EQ(last_reason(actions), "sent SIGTERM to its process group");
  actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGKILL, true}}));
}

TEST(KillAsGroup, OnlySigkillGoesToTheGroup) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGTERM, false}}));
  actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGKILL, true}}));
  EXPECT_EQ(only<Notice>(actions),
            (std::vector<Notice>{{"did not exit 10.0 s after SIGTERM; sent SIGKILL to its "
                                  "process group"}}));
}

TEST(KillAsGroup, LeaderExitWhileStoppingProbesTheGroup) {
  ProcessPolicy policy;
  policy.stopasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  const auto actions = m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 100ms);
  EXPECT_EQ(actions, (std::vector<Action>{ProbeGroup{}}));
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(m.group_lingering());  // until the probe answers
  EXPECT_EQ(m.pid(), 0);             // the leader is reaped: never signal its pid again
  EXPECT_EQ(m.process_group(), 100);
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), kT0 + 15s);
  EXPECT_EQ(m.last_exit(), std::nullopt);  // recorded when the stop ends
  // A second report of the leader's exit cannot happen; if it did, it is ignored.
  EXPECT_TRUE(m.handle(ChildExited{0, std::nullopt}, kT0 + 6s).empty());
  // So is a late SpawnFailed for the leader (its run already ended).
  EXPECT_TRUE(m.handle(SpawnFailed{"exec /x: Permission denied"}, kT0 + 6s).empty());
  EXPECT_EQ(m.state(), S::Stopping);
}

TEST(KillAsGroup, GroupFoundEmptyAtOnceEndsTheStopWithoutLingering) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 100ms);
  const auto actions = m.handle(GroupProbed{false}, kT0 + 5s + 100ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_FALSE(m.group_lingering());
  EXPECT_EQ(m.process_group(), 0);
  ASSERT_TRUE(m.last_exit().has_value());
  const ExitRecord& record = *m.last_exit();
  EXPECT_EQ(record.exit_code, 0);
  EXPECT_EQ(record.pid, 100);
  EXPECT_EQ(record.reason, ExitReason::Exited);
  EXPECT_EQ(record.stop_duration, 100ms);
  EXPECT_EQ(actions, (std::vector<Action>{
                         CancelDeadline{DeadlineKind::Stopwaitsecs},
                         RecordExit{record},
                         StateChanged{S::Stopping, S::Stopped,
                                      "exited with status 0 0.10 s after SIGTERM", record},
                     }));
}

TEST(KillAsGroup, LingeringGroupKeepsTheProcessStoppingUntilProbedEmpty) {
  ProcessPolicy policy;
  policy.stopasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  // The leader exits on SIGTERM; a worker of its group does not (yet).
  EXPECT_EQ(m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 100ms),
            (std::vector<Action>{ProbeGroup{}}));
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 5s + 100ms).empty());
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(m.group_lingering());
  EXPECT_EQ(m.pid(), 0);
  EXPECT_EQ(m.process_group(), 100);
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), kT0 + 15s);
  // Another probe (after an orphan was reaped) finds it still alive.
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 6s).empty());
  EXPECT_EQ(m.state(), S::Stopping);

  const auto actions = m.handle(GroupProbed{false}, kT0 + 7s);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_FALSE(m.group_lingering());
  ASSERT_TRUE(m.last_exit().has_value());
  EXPECT_EQ(m.last_exit()->exit_code, 0);  // the leader's status
  EXPECT_EQ(m.last_exit()->pid, 100);
  EXPECT_EQ(m.last_exit()->when, kT0 + 5s + 100ms);
  EXPECT_EQ(m.last_exit()->stop_duration, 2s);  // until the group was gone
  EXPECT_FALSE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::Exited);
  EXPECT_EQ(actions, (std::vector<Action>{
                         CancelDeadline{DeadlineKind::Stopwaitsecs},
                         RecordExit{*m.last_exit()},
                         StateChanged{S::Stopping, S::Stopped,
                                      "exited with status 0; its process group was gone 2.0 s "
                                      "after SIGTERM",
                                      m.last_exit()},
                     }));
  EXPECT_EQ(m.process_group(), 0);
  // A late answer changes nothing.
  EXPECT_TRUE(m.handle(GroupProbed{false}, kT0 + 8s).empty());
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 8s).empty());
}

TEST(KillAsGroup, LingeringIsForgottenByTheNextStop) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 5s + 100ms);
  m.handle(GroupProbed{true}, kT0 + 5s + 100ms);
  m.handle(GroupProbed{false}, kT0 + 6s);
  ASSERT_EQ(m.state(), S::Stopped);
  // A new run whose group is gone with its leader: no "process group" in the reason.
  m.handle(StartRequest{}, kT0 + 10s);
  m.handle(Spawned{200}, kT0 + 10s);
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 11s);
  m.handle(StopRequest{}, kT0 + 12s);
  EXPECT_EQ(m.handle(ChildExited{0, std::nullopt}, kT0 + 12s + 500ms),
            (std::vector<Action>{ProbeGroup{}}));
  const auto actions = m.handle(GroupProbed{false}, kT0 + 12s + 500ms);
  EXPECT_EQ(last_reason(actions), "exited with status 0 0.50 s after SIGTERM");
  EXPECT_EQ(m.last_exit()->pid, 200);
}

TEST(KillAsGroup, LingeringGroupGetsSigkillAtTheDeadline) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  m.handle(GroupProbed{true}, kT0 + 6s);
  auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(actions,
            (std::vector<Action>{
                SendSignal{SIGKILL, true},
                Notice{"process group still alive 10.0 s after SIGTERM (its leader exited); sent "
                       "SIGKILL to the group"},
                ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 20s, 1},
            }));
  EXPECT_EQ(m.state(), S::Stopping);
  EXPECT_TRUE(m.sigkill_sent());
  actions = m.handle(GroupProbed{false}, kT0 + 15s + 3ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(m.last_exit()->exit_code, 0);
  EXPECT_TRUE(m.last_exit()->needed_sigkill());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NeededSigkill);
  EXPECT_EQ(last_reason(actions),
            "exited with status 0; its process group was gone 10.0 s after SIGTERM (needed "
            "SIGKILL)");
}

TEST(KillAsGroup, DeadlineBeforeTheProbeAnswersKillsTheGroupNotThePid) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 14s);  // probe not answered yet
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGKILL, true}}));
}

TEST(KillAsGroup, GroupStillAliveAfterSigkillIsReportedAndTheStopEnds) {
  // A member stuck in uninterruptible sleep never goes: the stop is bounded.
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  m.handle(GroupProbed{true}, kT0 + 6s);
  m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 20s);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.front(), Action{Notice{"processes of its process group still alive 5.0 s after "
                                           "SIGKILL; the stop ends without them"}});
  EXPECT_EQ(m.deadline(DeadlineKind::Stopwaitsecs), std::nullopt);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_FALSE(m.group_lingering());
  EXPECT_EQ(m.last_exit()->reason, ExitReason::NeededSigkill);
  EXPECT_EQ(m.process_group(), 0);
}

TEST(WholeTree, LeftoversGetTheStopSignalWhenTheLeaderExits) {
  config::ProgramConfig program;
  program.stopsignal = SIGINT;
  ProcessPolicy policy = ProcessPolicy::from(program, TreeTracking::Cgroup);
  EXPECT_TRUE(policy.killasgroup);
  ProcessMachine m = running_machine(policy);
  auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGINT, false}}));
  EXPECT_EQ(m.handle(ChildExited{0, std::nullopt}, kT0 + 6s), (std::vector<Action>{ProbeGroup{}}));
  actions = m.handle(GroupProbed{true}, kT0 + 6s);
  EXPECT_EQ(actions, (std::vector<Action>{SendSignal{SIGINT, true}}));
  // Asked again (the cgroup changed, not empty yet): no second signal.
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 7s).empty());
  // At the deadline the whole tree gets SIGKILL.
  actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGKILL, true}}));
  EXPECT_EQ(only<Notice>(actions),
            (std::vector<Notice>{{"cgroup still alive 10.0 s after SIGINT (its leader exited); "
                                  "sent SIGKILL to every process in it"}}));
  m.handle(GroupProbed{false}, kT0 + 15s + 1ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_TRUE(m.last_exit()->needed_sigkill());
}

TEST(WholeTree, StopasgroupSendsTheStopSignalOnlyOnce) {
  config::ProgramConfig program;
  program.stopasgroup = true;
  ProcessMachine m = running_machine(ProcessPolicy::from(program, TreeTracking::Cgroup));
  auto actions = m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGTERM, true}}));
  m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 6s).empty());
}

TEST(WholeTree, StraysAreAskedForEvenWithoutKillasgroup) {
  ProcessMachine m = running_machine(ProcessPolicy::from({}, TreeTracking::Strays));
  EXPECT_FALSE(m.policy().killasgroup);
  m.handle(StopRequest{}, kT0 + 5s);
  EXPECT_EQ(m.handle(ChildExited{0, std::nullopt}, kT0 + 6s), (std::vector<Action>{ProbeGroup{}}));
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 6s).empty());  // no stop signal to strays
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Stopwaitsecs}, kT0 + 15s);
  EXPECT_EQ(only<SendSignal>(actions), (std::vector<SendSignal>{{SIGKILL, true}}));
  m.handle(GroupProbed{false}, kT0 + 15s);
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(WholeTree, WithoutCgroupsLeftoversWaitForTheDeadline) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m = running_machine(policy);
  m.handle(StopRequest{}, kT0 + 5s);
  m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 6s).empty());
}

TEST(KillAsGroup, NoProbeWithoutGroupSignals) {
  ProcessMachine m = running_machine();
  m.handle(StopRequest{}, kT0 + 5s);
  const auto actions = m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_TRUE(only<ProbeGroup>(actions).empty());
  EXPECT_FALSE(m.group_lingering());
  EXPECT_TRUE(m.handle(GroupProbed{false}, kT0 + 7s).empty());
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 7s).empty());
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(KillAsGroup, NoProbeOutsideStopping) {
  ProcessPolicy policy;
  policy.stopasgroup = true;
  policy.autorestart = config::AutoRestart::Never;
  ProcessMachine m = running_machine(policy);
  const auto actions = m.handle(ChildExited{0, std::nullopt}, kT0 + 6s);
  EXPECT_EQ(m.state(), S::Exited);
  EXPECT_TRUE(only<ProbeGroup>(actions).empty());
  EXPECT_FALSE(m.group_lingering());
  EXPECT_EQ(m.process_group(), 0);
  EXPECT_TRUE(m.handle(GroupProbed{true}, kT0 + 7s).empty());
  EXPECT_EQ(m.state(), S::Exited);
}

TEST(KillAsGroup, NoProbeWhenStartingFails) {
  ProcessPolicy policy;
  policy.killasgroup = true;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_TRUE(only<ProbeGroup>(actions).empty());
  EXPECT_FALSE(m.group_lingering());
}

// ---- Stop in other states ----

TEST(Stop, InBackoffStopsAtOnce) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 200ms);
  ASSERT_EQ(m.state(), S::Backoff);
  const auto actions = m.handle(StopRequest{}, kT0 + 500ms);
  EXPECT_EQ(actions, (std::vector<Action>{
                         CancelDeadline{DeadlineKind::Backoff},
                         StateChanged{S::Backoff, S::Stopped,
                                      "stop requested while waiting to retry", std::nullopt},
                     }));
  EXPECT_EQ(m.retry_at(), std::nullopt);
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1200ms).empty());
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(Stop, InStartingCancelsStartsecs) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(StopRequest{}, kT0 + 300ms);
  EXPECT_EQ(only<CancelDeadline>(actions),
            (std::vector<CancelDeadline>{{DeadlineKind::Startsecs}}));
  EXPECT_EQ(m.state(), S::Stopping);
  // A startsecs timer that fires anyway does not make it RUNNING.
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s).empty());
  m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 400ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(m.failed_starts(), 0);  // a requested stop is no failed start
}

TEST(Stop, BeforeSpawnedSignalsAsSoonAsThePidIsKnown) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  auto actions = m.handle(StopRequest{}, kT0 + 1ms);
  EXPECT_EQ(actions, (std::vector<Action>{
                         StateChanged{S::Starting, S::Stopping,
                                      "stop requested before the spawn completed", std::nullopt},
                     }));
  actions = m.handle(Spawned{321}, kT0 + 2ms);
  EXPECT_EQ(actions, (std::vector<Action>{
                         SendSignal{SIGTERM, false},
                         ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 10s + 2ms, 1},
                     }));
  EXPECT_EQ(m.pid(), 321);
  m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 5ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(m.last_exit()->pid, 321);
  EXPECT_EQ(m.last_exit()->stop_duration, 3ms);
}

TEST(Stop, BeforeSpawnedThenSpawnFailedIsStopped) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(StopRequest{}, kT0);
  const auto actions = m.handle(SpawnFailed{"exec /nope: No such file or directory"}, kT0 + 1ms);
  EXPECT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(last_reason(actions), "exec /nope: No such file or directory");
  EXPECT_EQ(m.last_error(), "exec /nope: No such file or directory");
}

// ---- startretries and BACKOFF ----

TEST(StartRetries, BackoffOneTwoThreeSecondsThenFatalAfterStartretriesPlusOneSpawns) {
  ProcessMachine m{ProcessPolicy{}};  // startretries = 3
  int spawns = 0;
  std::vector<std::chrono::nanoseconds> delays;
  TimePoint t = kT0;
  std::vector<Action> actions = m.handle(StartRequest{}, t);
  for (int attempt = 1; m.state() == S::Starting; ++attempt) {
    spawns += static_cast<int>(only<Spawn>(actions).size());
    m.handle(Spawned{1000 + attempt}, t);
    t += 200ms;
    actions = m.handle(ChildExited{1, std::nullopt}, t);
    for (const ArmDeadline& arm : only<ArmDeadline>(actions)) {
      EXPECT_EQ(arm.kind, DeadlineKind::Backoff);
      delays.push_back(arm.at - t);
      EXPECT_EQ(m.retry_at(), arm.at);
      t = arm.at;
      actions = m.handle(DeadlineExpired{DeadlineKind::Backoff}, t);
    }
    ASSERT_LE(attempt, 10) << "never became FATAL";
  }
  EXPECT_EQ(spawns, 4);
  EXPECT_EQ(delays, (std::vector<std::chrono::nanoseconds>{1s, 2s, 3s}));
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.failed_starts(), 4);
  EXPECT_EQ(m.retry_at(), std::nullopt);
  EXPECT_EQ(m.last_error(), "exited with status 1 after 0.20 s; gave up after 3 retries");
  EXPECT_EQ(last_reason(actions), m.last_error());
}

TEST(StartRetries, BackoffReasonShowsTheRetrySchedule) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 200ms);
  EXPECT_EQ(last_reason(actions), "exited with status 1 after 0.20 s; retry 1/3 in 1.0 s");
  actions = m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1200ms);
  EXPECT_EQ(last_reason(actions), "retry 1/3");
  m.handle(Spawned{101}, kT0 + 1200ms);
  actions = m.handle(ChildExited{std::nullopt, SIGSEGV}, kT0 + 1250ms);
  EXPECT_EQ(last_reason(actions), "killed by SIGSEGV after 0.050 s; retry 2/3 in 2.0 s");
  EXPECT_EQ(m.last_error(), "");  // an exit is no spawn error
}

TEST(StartRetries, ZeroMeansFatalAtTheFirstFailedStart) {
  ProcessPolicy policy;
  policy.startretries = 0;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  const auto actions = m.handle(ChildExited{2, std::nullopt}, kT0 + 1ms);
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_TRUE(only<ArmDeadline>(actions).empty());
  EXPECT_EQ(m.last_error(), "exited with status 2 after 0.001 s; gave up after 0 retries");
}

TEST(StartRetries, SpawnFailedCountsAsAFailedStartAndKeepsTheErrnoText) {
  ProcessPolicy policy;
  policy.startretries = 1;
  ProcessMachine m{policy};
  const std::string error = "exec /usr/bin/nope: No such file or directory";
  m.handle(StartRequest{}, kT0);
  auto actions = m.handle(SpawnFailed{error}, kT0);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_EQ(m.last_error(), error);
  EXPECT_EQ(last_reason(actions), error + "; retry 1/1 in 1.0 s");
  EXPECT_TRUE(only<RecordExit>(actions).empty());  // no exit to record
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1s);
  actions = m.handle(SpawnFailed{error}, kT0 + 1s);
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.last_error(), error + "; gave up after 1 retry");
}

TEST(StartRetries, ExecFailureAfterSpawnedStillCountsWithStartsecsZero) {
  // A runtime that reports Spawned at fork time learns of the exec failure
  // later; with startsecs = 0 the machine is RUNNING by then.
  ProcessPolicy policy;
  policy.startsecs = 0s;
  policy.startretries = 2;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  TimePoint t = kT0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    m.handle(Spawned{100 + attempt}, t);
    EXPECT_EQ(m.state(), S::Running);
    m.handle(SpawnFailed{"exec /x: Permission denied"}, t + 1ms);
    t += 1ms + std::chrono::seconds(attempt);
    m.handle(DeadlineExpired{DeadlineKind::Backoff}, t);
  }
  EXPECT_EQ(m.state(), S::Fatal);
  EXPECT_EQ(m.failed_starts(), 3);
}

TEST(StartRetries, ReachingRunningResetsTheCount) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  EXPECT_EQ(m.failed_starts(), 1);
  m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms);
  m.handle(Spawned{101}, kT0 + 1100ms);
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 2100ms);
  EXPECT_EQ(m.state(), S::Running);
  EXPECT_EQ(m.failed_starts(), 0);
  EXPECT_EQ(last_reason(actions), "up for 1.0 s");
}

TEST(StartRetries, UserStartFromFatalBeginsANewSeries) {
  ProcessPolicy policy;
  policy.startretries = 0;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(SpawnFailed{"exec /x: No such file or directory"}, kT0);
  ASSERT_EQ(m.state(), S::Fatal);
  const auto actions = m.handle(StartRequest{}, kT0 + 10s);
  EXPECT_EQ(actions,
            (std::vector<Action>{
                StateChanged{S::Fatal, S::Starting, "start requested", std::nullopt}, Spawn{2}}));
  EXPECT_EQ(m.failed_starts(), 0);
  EXPECT_EQ(m.last_error(), "");
}

TEST(StartRetries, UserStartInBackoffSpawnsNowAndKeepsCounting) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  const auto actions = m.handle(StartRequest{}, kT0 + 300ms);
  EXPECT_EQ(actions,
            (std::vector<Action>{
                CancelDeadline{DeadlineKind::Backoff},
                StateChanged{S::Backoff, S::Starting, "start requested", std::nullopt}, Spawn{2}}));
  EXPECT_EQ(m.failed_starts(), 1);
  EXPECT_EQ(m.retry_at(), std::nullopt);
  // The cancelled retry timer, fired late, is ignored.
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms).empty());
}

// ---- startsecs ----

TEST(StartSecs, ZeroIsRunningAtSpawned) {
  ProcessPolicy policy;
  policy.startsecs = 0s;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  const auto actions = m.handle(Spawned{77}, kT0 + 1ms);
  EXPECT_EQ(actions,
            (std::vector<Action>{StateChanged{
                S::Starting, S::Running, "spawned with pid 77 (startsecs is 0)", std::nullopt}}));
  EXPECT_EQ(m.pid(), 77);
  EXPECT_EQ(m.started_at(), kT0 + 1ms);
  // An exit is then an exit from RUNNING: EXITED (and autorestart), not BACKOFF.
  m.handle(ChildExited{0, std::nullopt}, kT0 + 2ms);
  EXPECT_EQ(m.state(), S::Exited);
}

TEST(StartSecs, FractionsAreArmedExactly) {
  ProcessPolicy policy;
  policy.startsecs = 250ms;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  const auto actions = m.handle(Spawned{5}, kT0 + 3ms);
  EXPECT_EQ(actions, (std::vector<Action>{ArmDeadline{DeadlineKind::Startsecs, kT0 + 253ms, 1}}));
  EXPECT_EQ(m.process_group(), 5);
}

// ---- autorestart and exitcodes ----

struct RestartCase {
  config::AutoRestart autorestart;
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  bool restarted;
  const char* reason;
};

TEST(AutoRestart, EachModeAndExitKind) {
  const RestartCase cases[] = {
      {config::AutoRestart::Never, 3, std::nullopt, false, "exited with status 3 (not expected)"},
      {config::AutoRestart::Never, std::nullopt, SIGSEGV, false, "killed by SIGSEGV"},
      {config::AutoRestart::Always, 0, std::nullopt, true, "exited with status 0 (expected)"},
      {config::AutoRestart::Always, 3, std::nullopt, true, "exited with status 3 (not expected)"},
      {config::AutoRestart::Unexpected, 0, std::nullopt, false, "exited with status 0 (expected)"},
      {config::AutoRestart::Unexpected, 2, std::nullopt, false, "exited with status 2 (expected)"},
      {config::AutoRestart::Unexpected, 3, std::nullopt, true,
       "exited with status 3 (not expected)"},
      {config::AutoRestart::Unexpected, std::nullopt, SIGSEGV, true, "killed by SIGSEGV"},
  };
  for (const RestartCase& c : cases) {
    SCOPED_TRACE(c.reason);
    ProcessPolicy policy;
    policy.autorestart = c.autorestart;
    policy.exitcodes = {0, 2};
    ProcessMachine m = running_machine(policy);
    const auto actions = m.handle(ChildExited{c.exit_code, c.exit_signal}, kT0 + 9s);
    const auto changes = only<StateChanged>(actions);
    ASSERT_GE(changes.size(), 1u);
    ASSERT_TRUE(m.last_exit().has_value());
    EXPECT_EQ(changes[0], (StateChanged{S::Running, S::Exited, c.reason, m.last_exit()}));
    EXPECT_EQ(m.last_exit()->reason, c.exit_signal ? ExitReason::Killed : ExitReason::Exited);
    EXPECT_EQ(m.last_exit()->expected, c.exit_code && (*c.exit_code == 0 || *c.exit_code == 2));
    EXPECT_EQ(m.last_exit()->exit_signal, c.exit_signal);
    EXPECT_EQ(m.last_exit()->stop_duration, std::nullopt);
    if (c.restarted) {
      EXPECT_EQ(m.state(), S::Starting);
      ASSERT_EQ(changes.size(), 2u);
      EXPECT_EQ(changes[1].from, S::Exited);
      EXPECT_EQ(changes[1].to, S::Starting);
      EXPECT_EQ(only<Spawn>(actions).size(), 1u);
      EXPECT_TRUE(std::holds_alternative<Spawn>(actions.back()));
      EXPECT_EQ(m.pid(), 0);
    } else {
      EXPECT_EQ(m.state(), S::Exited);
      EXPECT_EQ(changes.size(), 1u);
      EXPECT_TRUE(only<Spawn>(actions).empty());
    }
  }
}

TEST(AutoRestart, RecordExitComesBeforeTheStateChange) {
  ProcessMachine m = running_machine();
  const auto actions = m.handle(ChildExited{3, std::nullopt}, kT0 + 9s);
  ASSERT_GE(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<RecordExit>(actions[0]));
  EXPECT_EQ(std::get<RecordExit>(actions[0]).record.pid, 100);
  EXPECT_EQ(std::get<RecordExit>(actions[0]).record.when, kT0 + 9s);
}

TEST(AutoRestart, InhibitedRestartsLeaveTheProcessExited) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  ProcessMachine m = running_machine(policy);
  m.inhibit_restarts();
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 9s);
  EXPECT_EQ(m.state(), S::Exited);
  EXPECT_TRUE(only<Spawn>(actions).empty());
}

TEST(AutoRestart, InhibitedRestartsMeanNoRetryAfterAFailedStart) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.inhibit_restarts();
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_TRUE(only<ArmDeadline>(actions).empty());
  EXPECT_EQ(m.retry_at(), std::nullopt);
  EXPECT_EQ(last_reason(actions),
            "exited with status 1 after 0.10 s; no retry (restarts are inhibited)");
  // A stop ends it.
  m.handle(StopRequest{}, kT0 + 200ms);
  EXPECT_EQ(m.state(), S::Stopped);
}

TEST(AutoRestart, RetryArmedBeforeInhibitionDoesNotSpawn) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms);
  m.inhibit_restarts();
  EXPECT_TRUE(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms).empty());
  EXPECT_EQ(m.state(), S::Backoff);
  EXPECT_EQ(m.retry_at(), std::nullopt);
}

// ---- Policy and descriptions ----

TEST(ProcessPolicy, FromProgramConfig) {
  config::ProgramConfig program;
  program.startsecs = 1500ms;
  program.startretries = 7;
  program.autorestart = config::AutoRestart::Always;
  program.exitcodes = {0, 42};
  program.stopsignal = SIGQUIT;
  program.stopwaitsecs = 30s;
  program.stopasgroup = true;
  program.killasgroup = false;
  const ProcessPolicy policy = ProcessPolicy::from(program);
  EXPECT_EQ(policy.startsecs, 1500ms);
  EXPECT_EQ(policy.startretries, 7);
  EXPECT_EQ(policy.autorestart, config::AutoRestart::Always);
  EXPECT_EQ(policy.exitcodes, (std::vector<int>{0, 42}));
  EXPECT_EQ(policy.stopsignal, SIGQUIT);
  EXPECT_EQ(policy.stopwaitsecs, 30s);
  EXPECT_TRUE(policy.stopasgroup);
  EXPECT_TRUE(policy.killasgroup);  // implied by stopasgroup
}

TEST(Describe, ActionsAndEventsReadWell) {
  EXPECT_EQ(describe(Action{SendSignal{SIGTERM, true}}), "SendSignal(SIGTERM, group)");
  EXPECT_EQ(describe(Action{ArmDeadline{DeadlineKind::Stopwaitsecs, kT0 + 10s, 3}}, kT0),
            "ArmDeadline(stopwaitsecs, +10.0 s)");
  EXPECT_EQ(describe(Action{Spawn{3}}), "Spawn(#3)");
  EXPECT_EQ(describe(Action{ProbeGroup{}}), "ProbeGroup");
  EXPECT_EQ(describe(Action{StateChanged{S::Running, S::Stopping, "sent SIGTERM", std::nullopt}}),
            "StateChanged(RUNNING -> STOPPING: sent SIGTERM)");
  EXPECT_EQ(describe(Event{ChildExited{std::nullopt, SIGKILL}}), "ChildExited(killed by SIGKILL)");
  EXPECT_EQ(describe(Event{ChildExited{std::nullopt, SIGABRT, /*core_dumped=*/true}}),
            "ChildExited(killed by SIGABRT (core dumped))");
  EXPECT_EQ(describe(Event{ChildExited{3, std::nullopt}}), "ChildExited(exited with status 3)");
  EXPECT_EQ(describe(Event{GroupProbed{true}}), "GroupProbed(alive)");
  EXPECT_EQ(describe(Event{GroupProbed{false}}), "GroupProbed(empty)");
  EXPECT_EQ(describe(Event{Spawned{12}}), "Spawned(pid 12)");
  EXPECT_EQ(describe(Event{DeadlineExpired{DeadlineKind::Backoff}}), "DeadlineExpired(backoff)");
}

}  // namespace
}  // namespace minisup::core
