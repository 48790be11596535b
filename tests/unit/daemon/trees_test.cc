// The runtime and whole process trees (DESIGN.md, "Whole process trees"),
// through the fake System: with cgroups a stop ends when the cgroup is
// empty, leftovers get the stop signal when the leader exits and SIGKILL at
// the deadline; without, strays are killed at the deadline and at exit;
// idle processes' cgroups are released.
#include <signal.h>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using SignalCall = FakeSystem::SignalCall;

class Trees : public RuntimeTest {};

config::ProgramConfig stoppable(const std::string& name) {
  config::ProgramConfig p = program(name);
  p.startsecs = config::Duration::zero();
  p.stopwaitsecs = std::chrono::seconds(10);
  return p;
}

TEST_F(Trees, WithCgroupsAStopEndsOnlyWhenTheCgroupIsEmpty) {
  sys.set_tree_mode(TreeMode::Cgroup);
  make_started(config_of({stoppable("web")}));
  ASSERT_TRUE(machine("web").policy().whole_tree);
  sys.set_group_members(1000, 2);  // a setsid grandchild and its child
  request(1, {{"cmd", "stop"}, {"names", {"web"}}});
  EXPECT_TRUE(sys.sent(1000, SIGTERM, false));
  sys.clear_calls();
  exit_child(1000, 0);
  // The leader is gone, the rest of the cgroup gets SIGTERM at once.
  EXPECT_EQ(state("web"), ProcessState::Stopping);
  EXPECT_TRUE(sys.sent(1000, SIGTERM, true));
  EXPECT_TRUE(silent(1));
  // inotify: populated 0.
  sys.set_group_members(1000, 0);
  timers.advance(1s);
  sys.tree_emptied("web");
  EXPECT_EQ(state("web"), ProcessState::Stopped);
  json r = reply(1);
  EXPECT_EQ(r["results"][0]["needed_sigkill"], false);
  EXPECT_THAT(sys.released(), Contains("web"));
}

TEST_F(Trees, WithCgroupsLeftoversGetSigkillAtTheDeadline) {
  sys.set_tree_mode(TreeMode::Cgroup);
  make_started(config_of({stoppable("web")}));
  sys.set_group_members(1000, 1);
  request(1, {{"cmd", "stop"}, {"names", {"web"}}});
  exit_child(1000, 0);
  sys.clear_calls();
  timers.advance(10s);
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGKILL, true, true}));
  sys.set_group_members(1000, 0);
  sys.tree_emptied("web");
  EXPECT_EQ(state("web"), ProcessState::Stopped);
  EXPECT_EQ(reply(1)["results"][0]["needed_sigkill"], true);
}

TEST_F(Trees, AnEmptiedCgroupOfARunningProcessChangesNothing) {
  sys.set_tree_mode(TreeMode::Cgroup);
  make_started(config_of({stoppable("web")}));
  sys.tree_emptied("web");
  EXPECT_EQ(state("web"), ProcessState::Running);
  EXPECT_TRUE(sys.released().empty());
}

TEST_F(Trees, WithoutCgroupsTheMachineIsAsBefore) {
  make_started(config_of({stoppable("web")}));
  EXPECT_FALSE(machine("web").policy().whole_tree);
  request(1, {{"cmd", "stop"}, {"names", {"web"}}});
  exit_child(1000, 0);
  EXPECT_EQ(state("web"), ProcessState::Stopped);
}

TEST_F(Trees, StraysAreKilledAtTheStopDeadline) {
  config::ProgramConfig web = stoppable("web");
  web.stopwaitsecs = std::chrono::seconds(2);
  make_started(config_of({web}));
  sys.set_strays("web", {{4242, "worker"}});
  request(1, {{"cmd", "stop"}, {"names", {"web"}}});
  timers.advance(1s);
  // Not before the deadline: strays are looked for only with SIGKILL.
  EXPECT_FALSE(sys.sent(1000, SIGKILL, false));
  timers.advance(1s);
  EXPECT_TRUE(sys.sent(1000, SIGKILL, false));
  // The strays were taken (killed) by the runtime at the deadline.
  EXPECT_TRUE(sys.kill_strays("web").empty());
  kill_child(1000, SIGKILL);
  EXPECT_EQ(state("web"), ProcessState::Stopped);
}

TEST_F(Trees, LeftoversAndStraysAreKilledAtExit) {
  make_started(config_of({stoppable("a"), stoppable("b")}));
  runtime->begin_shutdown("test");
  exit_child(1000, 0);
  exit_child(1001, 0);
  ASSERT_TRUE(runtime->finished());
  sys.set_strays("a", {{4242, "daemon"}});
  sys.clear_calls();
  EXPECT_EQ(runtime->kill_leftover_trees(), 1);
  EXPECT_TRUE(sys.signals().empty());  // groups are empty; the stray was killed by kill_strays
  EXPECT_TRUE(sys.kill_strays("a").empty());
}

TEST_F(Trees, WithCgroupsWhatADeadProgramLeftIsKilledAtExit) {
  sys.set_tree_mode(TreeMode::Cgroup);
  config::ProgramConfig once = stoppable("once");
  once.autorestart = config::AutoRestart::Never;
  make_started(config_of({once}));
  sys.set_group_members(1000, 1);  // it double-forked a daemon
  exit_child(1000, 0);
  EXPECT_EQ(state("once"), ProcessState::Exited);
  runtime->begin_shutdown("test");
  ASSERT_TRUE(runtime->finished());
  sys.clear_calls();
  EXPECT_EQ(runtime->kill_leftover_trees(), 1);
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGKILL, true, true}));
}

}  // namespace
}  // namespace minisup::daemon::testing
