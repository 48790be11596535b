// Incarnations: each Spawn of a process is numbered (1, 2, ...), deadlines
// carry the incarnation current when armed, and Supervisor::report drops
// facts of any other incarnation (a late timer, an exit reported after a
// respawn).
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
using testing_support::only;
using testing_support::state_of;
using S = ProcessState;

// ---- The machine numbers its spawns ----

TEST(Incarnation, ZeroBeforeTheFirstSpawnThenOneMoreEachSpawn) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  ProcessMachine m{policy};
  EXPECT_EQ(m.incarnation(), 0u);

  // A start request: incarnation 1; its startsecs deadline is armed for 1.
  EXPECT_EQ(only<Spawn>(m.handle(StartRequest{}, kT0)), (std::vector<Spawn>{{1}}));
  EXPECT_EQ(m.incarnation(), 1u);
  EXPECT_EQ(only<ArmDeadline>(m.handle(Spawned{100}, kT0)),
            (std::vector<ArmDeadline>{{DeadlineKind::Startsecs, kT0 + 1s, 1}}));

  // A failed start: the backoff deadline belongs to incarnation 1, the retry is 2.
  EXPECT_EQ(only<ArmDeadline>(m.handle(ChildExited{1, std::nullopt}, kT0 + 100ms)),
            (std::vector<ArmDeadline>{{DeadlineKind::Backoff, kT0 + 1100ms, 1}}));
  EXPECT_EQ(m.incarnation(), 1u);
  EXPECT_EQ(only<Spawn>(m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1100ms)),
            (std::vector<Spawn>{{2}}));
  EXPECT_EQ(only<ArmDeadline>(m.handle(Spawned{101}, kT0 + 1100ms)),
            (std::vector<ArmDeadline>{{DeadlineKind::Startsecs, kT0 + 2100ms, 2}}));
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 2100ms);
  ASSERT_EQ(m.state(), S::Running);

  // An autorestart: 3.
  EXPECT_EQ(only<Spawn>(m.handle(ChildExited{0, std::nullopt}, kT0 + 30s)),
            (std::vector<Spawn>{{3}}));
  m.handle(Spawned{102}, kT0 + 30s);
  // A stop: the stop deadline is armed for 3; the number stays after the stop.
  m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 31s);
  EXPECT_EQ(only<ArmDeadline>(m.handle(StopRequest{}, kT0 + 32s)),
            (std::vector<ArmDeadline>{{DeadlineKind::Stopwaitsecs, kT0 + 42s, 3}}));
  m.handle(ChildExited{std::nullopt, SIGTERM}, kT0 + 33s);
  ASSERT_EQ(m.state(), S::Stopped);
  EXPECT_EQ(m.incarnation(), 3u);
  // A user start: 4.
  EXPECT_EQ(only<Spawn>(m.handle(StartRequest{}, kT0 + 40s)), (std::vector<Spawn>{{4}}));
  EXPECT_EQ(m.incarnation(), 4u);
}

TEST(Incarnation, FailedSpawnsCountToo) {
  ProcessMachine m{ProcessPolicy{}};
  m.handle(StartRequest{}, kT0);
  m.handle(SpawnFailed{"exec /x: No such file or directory"}, kT0);
  const auto actions = m.handle(DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1s);
  EXPECT_EQ(only<Spawn>(actions), (std::vector<Spawn>{{2}}));
}

TEST(Incarnation, CrashLoopDelayIsArmedForTheRunThatEnded) {
  ProcessPolicy policy;
  policy.autorestart = config::AutoRestart::Always;
  policy.startsecs = 0s;
  ProcessMachine m{policy};
  m.handle(StartRequest{}, kT0);
  m.handle(Spawned{100}, kT0);
  m.handle(ChildExited{1, std::nullopt}, kT0 + 1s);  // 1st quick exit: Spawn 2 at once
  m.handle(Spawned{101}, kT0 + 1s);
  const auto actions = m.handle(ChildExited{1, std::nullopt}, kT0 + 2s);
  ASSERT_TRUE(m.restart_delayed());
  EXPECT_EQ(only<ArmDeadline>(actions),
            (std::vector<ArmDeadline>{{DeadlineKind::Backoff, kT0 + 3s, 2}}));
}

// ---- Supervisor::report drops facts of other incarnations ----

TEST(Report, ForwardsFactsOfTheCurrentIncarnation) {
  Supervisor supervisor{make_config({make_program("web")})};
  const auto start = supervisor.start_autostart(kT0);
  EXPECT_EQ(only<Spawn>(start), (std::vector<std::pair<std::string, Spawn>>{{"web", Spawn{1}}}));
  const auto actions = supervisor.report("web", 1, Spawned{100}, kT0);
  EXPECT_EQ(
      actions,
      (std::vector<ProcessAction>{{"web", ArmDeadline{DeadlineKind::Startsecs, kT0 + 1s, 1}}}));
  EXPECT_EQ(supervisor.find("web")->machine().pid(), 100);
}

TEST(Report, StaleStartsecsDeadlineAfterARespawnDoesNothing) {
  Supervisor supervisor{make_config({make_program("web")})};
  supervisor.start_autostart(kT0);
  supervisor.report("web", 1, Spawned{100}, kT0);  // startsecs armed for kT0 + 1 s, incarnation 1
  // It exits before startsecs, and is retried 1 s later as incarnation 2.
  supervisor.report("web", 1, ChildExited{1, std::nullopt}, kT0 + 500ms);
  const auto retry =
      supervisor.report("web", 1, DeadlineExpired{DeadlineKind::Backoff}, kT0 + 1500ms);
  EXPECT_EQ(only<Spawn>(retry), (std::vector<std::pair<std::string, Spawn>>{{"web", Spawn{2}}}));
  supervisor.report("web", 2, Spawned{101}, kT0 + 1500ms);  // startsecs armed for kT0 + 2.5 s
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);

  // The first incarnation's startsecs timer (cancelled, but already fired
  // in the runtime) arrives now: incarnation 2 is up for only 0.1 s, and
  // must not become RUNNING.
  EXPECT_TRUE(
      supervisor.report("web", 1, DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1600ms).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Starting);
  EXPECT_EQ(supervisor.find("web")->machine().deadline(DeadlineKind::Startsecs), kT0 + 2500ms);

  // Its own timer does.
  supervisor.report("web", 2, DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 2500ms);
  EXPECT_EQ(state_of(supervisor, "web"), S::Running);
}

TEST(Report, LateExitOfAnEarlierIncarnationDoesNothing) {
  config::ProgramConfig web = make_program("web");
  web.autorestart = config::AutoRestart::Always;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  ASSERT_EQ(runtime.incarnations_["web"], 1u);
  runtime.advance(20s);
  runtime.exit("web", 0);  // autorestart: incarnation 2
  ASSERT_EQ(runtime.incarnations_["web"], 2u);
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "web"), S::Running);
  const int pid = supervisor.find("web")->machine().pid();

  // The same exit, reported twice (or late): it belongs to incarnation 1.
  EXPECT_TRUE(supervisor.report("web", 1, ChildExited{0, std::nullopt}, runtime.now_).empty());
  EXPECT_TRUE(
      supervisor.report("web", 1, ChildExited{std::nullopt, SIGKILL}, runtime.now_).empty());
  EXPECT_TRUE(supervisor.report("web", 1, SpawnFailed{"exec: late"}, runtime.now_).empty());
  EXPECT_TRUE(supervisor.report("web", 1, Spawned{999}, runtime.now_).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Running);
  EXPECT_EQ(supervisor.find("web")->machine().pid(), pid);

  // Nor does a fact about an incarnation not spawned yet.
  EXPECT_TRUE(supervisor.report("web", 3, ChildExited{0, std::nullopt}, runtime.now_).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Running);
}

TEST(Report, LateExitAfterAStopAndAStartDoesNothing) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.exit("web", std::nullopt, SIGTERM);
  runtime.run(supervisor.request_start({"web"}, runtime.now_));
  ASSERT_EQ(runtime.incarnations_["web"], 2u);
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);
  EXPECT_TRUE(
      supervisor.report("web", 1, ChildExited{std::nullopt, SIGTERM}, runtime.now_).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Starting);
  // The record is still that of the stop.
  ASSERT_TRUE(supervisor.find("web")->machine().last_exit().has_value());
  EXPECT_TRUE(supervisor.find("web")->machine().last_exit()->stop_duration.has_value());
}

TEST(Report, StaleStopwaitsecsDeadlineDoesNotKillTheNextRun) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));  // stopwaitsecs for incarnation 1
  runtime.exit("web", 0);
  runtime.run(supervisor.request_start({"web"}, runtime.now_));
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));  // stopwaitsecs for incarnation 2
  runtime.clear();
  EXPECT_TRUE(supervisor.report("web", 1, DeadlineExpired{DeadlineKind::Stopwaitsecs}, runtime.now_)
                  .empty());
  EXPECT_FALSE(supervisor.find("web")->machine().sigkill_sent());
}

TEST(Report, UnknownProcessIsIgnored) {
  Supervisor supervisor{make_config({make_program("web")})};
  EXPECT_TRUE(supervisor.report("ghost", 1, Spawned{100}, kT0).empty());
  EXPECT_TRUE(supervisor.report("ghost", 0, ChildExited{0, std::nullopt}, kT0).empty());
}

TEST(Report, OldGroupProbeAnswerDoesNotEndTheNextStop) {
  config::ProgramConfig web = make_program("web");
  web.killasgroup = true;
  Supervisor supervisor{make_config({web})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.exit("web", 0);  // probed: empty at once
  ASSERT_EQ(state_of(supervisor, "web"), S::Stopped);
  runtime.run(supervisor.request_start({"web"}, runtime.now_));
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.lingering_.insert("web");
  runtime.exit("web", 0);  // incarnation 2's leader; its group lingers
  ASSERT_TRUE(supervisor.find("web")->machine().group_lingering());
  // A late "empty" answer for incarnation 1 is not about this group.
  EXPECT_TRUE(supervisor.report("web", 1, GroupProbed{false}, runtime.now_).empty());
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopping);
  EXPECT_TRUE(supervisor.find("web")->machine().group_lingering());
}

}  // namespace
}  // namespace minisup::core
