// ProbeGroup / GroupProbed through the Supervisor: a killasgroup process
// whose leader is reaped while STOPPING asks whether its group is gone, stays
// STOPPING while the group lingers, and every reaped orphan asks again
// (Supervisor::orphan_reaped).
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
using testing_support::Signal;
using testing_support::state_of;
using S = ProcessState;

config::ProgramConfig grouped(const std::string& name, int priority = 999,
                              bool stopasgroup = false) {
  config::ProgramConfig program = make_program(name, priority);
  program.killasgroup = !stopasgroup;
  program.stopasgroup = stopasgroup;
  return program;
}

TEST(ProbeGroup, OnlyForKillasgroupProcessesWhoseLeaderExitsWhileStopping) {
  config::ProgramConfig never = grouped("crashy");
  never.autorestart = config::AutoRestart::Never;
  Supervisor supervisor{make_config(
      {grouped("killgroup"), grouped("stopgroup", 999, true), make_program("plain"), never})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();

  // An exit from RUNNING: no probe, even with killasgroup.
  runtime.exit("crashy", 1);
  EXPECT_EQ(state_of(supervisor, "crashy"), S::Exited);
  EXPECT_TRUE(names_with<ProbeGroup>(runtime.log_).empty());

  runtime.run(supervisor.request_stop({"killgroup", "stopgroup", "plain"}, runtime.now_));
  EXPECT_TRUE(names_with<ProbeGroup>(runtime.log_).empty());  // not before the exit
  runtime.clear();
  runtime.exit("plain", 0);
  runtime.exit("killgroup", 0);
  runtime.exit("stopgroup", std::nullopt, SIGTERM);
  EXPECT_EQ(names_with<ProbeGroup>(runtime.log_),
            (std::vector<std::string>{"killgroup", "stopgroup"}));
  // The fake runtime found both groups empty: all STOPPED.
  EXPECT_EQ(state_of(supervisor, "killgroup"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "stopgroup"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "plain"), S::Stopped);
}

TEST(ProbeGroup, NoProbeForAFailedStart) {
  Supervisor supervisor{make_config({grouped("web")})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance(100ms);
  runtime.clear();
  runtime.exit("web", 1);  // before startsecs
  EXPECT_EQ(state_of(supervisor, "web"), S::Backoff);
  EXPECT_TRUE(names_with<ProbeGroup>(runtime.log_).empty());
}

TEST(ProbeGroup, LingeringGroupStaysStoppingUntilAnOrphanProbeFindsItEmpty) {
  Supervisor supervisor{make_config({grouped("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.lingering_.insert("web");
  runtime.advance(1s);
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_EQ(runtime.probes_, (std::vector<std::string>{"web"}));
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopping);
  EXPECT_TRUE(supervisor.find("web")->machine().group_lingering());
  EXPECT_EQ(supervisor.find("web")->machine().pid(), 0);

  // An orphan is reaped while a worker still lives: asked again, still alive.
  runtime.clear();
  runtime.advance(1s);
  runtime.orphan_reaped();
  EXPECT_EQ(runtime.probes_, (std::vector<std::string>{"web"}));
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopping);

  // The last worker is reaped: the next probe finds the group gone.
  runtime.lingering_.erase("web");
  runtime.clear();
  runtime.advance(1s);
  runtime.orphan_reaped();
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopped);
  ASSERT_TRUE(supervisor.find("web")->machine().last_exit().has_value());
  EXPECT_EQ(supervisor.find("web")->machine().last_exit()->stop_duration, 3s);
  EXPECT_FALSE(supervisor.find("web")->machine().last_exit()->needed_sigkill());
  EXPECT_TRUE(runtime.signals_.empty());  // no SIGKILL: within stopwaitsecs
  const auto changes = testing_support::only<StateChanged>(runtime.log_);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].second.reason,
            "exited with status 0; its process group was gone 3.0 s after SIGTERM");
  EXPECT_TRUE(supervisor.orphan_reaped().empty());
}

TEST(ProbeGroup, LingeringGroupGetsSigkillAtStopwaitsecs) {
  Supervisor supervisor{make_config({grouped("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.lingering_.insert("web");
  runtime.exit("web", 0);
  runtime.clear();
  runtime.advance(10s);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"web", SIGKILL, true}}));
  runtime.lingering_.clear();
  runtime.orphan_reaped();
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopped);
  EXPECT_TRUE(supervisor.find("web")->machine().last_exit()->needed_sigkill());
}

TEST(OrphanReaped, ProbesEveryLingeringGroupInStartOrderAndNothingElse) {
  Supervisor supervisor{make_config({grouped("b", 2), grouped("a", 1), grouped("c", 3),
                                     grouped("idle", 4), make_program("plain", 5)})};
  FakeRuntime runtime{supervisor};
  EXPECT_TRUE(supervisor.orphan_reaped().empty());  // nothing lingers
  runtime.start_all();
  runtime.run(supervisor.request_stop({"idle"}, runtime.now_));
  runtime.exit("idle", 0);  // its group was gone at once
  EXPECT_TRUE(supervisor.orphan_reaped().empty());

  runtime.run(supervisor.request_stop({"a", "b", "c", "plain"}, runtime.now_));
  EXPECT_TRUE(supervisor.orphan_reaped().empty());  // STOPPING, leaders not reaped yet
  runtime.lingering_ = {"a", "c"};
  runtime.exit("c", 0);
  runtime.exit("b", 0);
  runtime.exit("a", 0);
  runtime.exit("plain", 0);
  EXPECT_EQ(supervisor.orphan_reaped(),
            (std::vector<ProcessAction>{{"a", ProbeGroup{}}, {"c", ProbeGroup{}}}));
  EXPECT_EQ(state_of(supervisor, "b"), S::Stopped);
  // orphan_reaped() itself changes nothing.
  EXPECT_EQ(state_of(supervisor, "a"), S::Stopping);
  EXPECT_EQ(state_of(supervisor, "c"), S::Stopping);

  runtime.lingering_.erase("c");
  runtime.orphan_reaped();
  EXPECT_EQ(state_of(supervisor, "c"), S::Stopped);
  EXPECT_EQ(supervisor.orphan_reaped(), (std::vector<ProcessAction>{{"a", ProbeGroup{}}}));
}

TEST(OrphanReaped, AlsoAsksWhileTheFirstProbeIsUnanswered) {
  Supervisor supervisor{make_config({grouped("web")})};
  supervisor.start_autostart(kT0);
  supervisor.report("web", 1, Spawned{100}, kT0);
  supervisor.report("web", 1, DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
  supervisor.request_stop({"web"}, kT0 + 2s);
  EXPECT_EQ(supervisor.report("web", 1, ChildExited{0, std::nullopt}, kT0 + 3s),
            (std::vector<ProcessAction>{{"web", ProbeGroup{}}}));
  EXPECT_EQ(supervisor.orphan_reaped(), (std::vector<ProcessAction>{{"web", ProbeGroup{}}}));
  // Two "empty" answers: the first ends the stop, the second is ignored.
  supervisor.report("web", 1, GroupProbed{false}, kT0 + 3s);
  EXPECT_EQ(state_of(supervisor, "web"), S::Stopped);
  EXPECT_TRUE(supervisor.report("web", 1, GroupProbed{false}, kT0 + 3s).empty());
}

TEST(ProbeGroup, ShutdownLevelWaitsForALingeringGroup) {
  Supervisor supervisor{make_config({make_program("low", 1), grouped("top", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  runtime.lingering_.insert("top");
  runtime.clear();
  runtime.exit("top", 0);
  EXPECT_EQ(state_of(supervisor, "top"), S::Stopping);
  EXPECT_TRUE(runtime.signals_.empty()) << "the next level waits for top's group";
  EXPECT_FALSE(supervisor.shutdown_complete());

  runtime.lingering_.clear();
  runtime.orphan_reaped();
  EXPECT_EQ(state_of(supervisor, "top"), S::Stopped);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"low", SIGTERM, false}}));
  runtime.exit("low", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
}

}  // namespace
}  // namespace minisup::core
