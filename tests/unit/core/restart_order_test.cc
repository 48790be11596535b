// Supervisor::request_restart: the STARTING/RUNNING/STOPPING processes are
// stopped first; only once all of them are idle does every named process get
// its StartRequest, in start order, in one step.
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

/// "one" (priority 1, autostart, RUNNING) and "two" (priority 2, STOPPED).
struct OneRunningTwoStopped : ::testing::Test {
  Supervisor supervisor{
      make_config({make_program("two", 2, 1, /*autostart=*/false), make_program("one", 1)})};
  FakeRuntime runtime{supervisor};
  void SetUp() override {
    runtime.start_all();
    ASSERT_EQ(state_of(supervisor, "one"), S::Running);
    ASSERT_EQ(state_of(supervisor, "two"), S::Stopped);
    runtime.clear();
  }
};

TEST_F(OneRunningTwoStopped, RestartAllStartsNothingUntilTheRunningOneIsIdle) {
  const NameResolution all = supervisor.resolve_names({"all"});
  ASSERT_EQ(all.processes, (std::vector<std::string>{"one", "two"}));
  auto [id, actions] = supervisor.request_restart(all.processes, runtime.now_);
  EXPECT_NE(id, 0u);
  runtime.run(actions);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"one", SIGTERM, false}}));
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty()) << "two must wait for one";
  EXPECT_EQ(state_of(supervisor, "two"), S::Stopped);

  const RestartProgress* progress = supervisor.restart_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_EQ(progress->processes, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(progress->stopping, (std::vector<std::string>{"one"}));
  EXPECT_EQ(progress->stopped, 0u);
  EXPECT_FALSE(progress->started);
  EXPECT_TRUE(progress->needed_sigkill.empty());

  // Time passes: still nothing.
  runtime.advance(2s);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());

  runtime.clear();
  runtime.exit("one", std::nullopt, SIGTERM);
  // Both, in start order, in the one step that made "one" idle.
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(state_of(supervisor, "one"), S::Starting);
  EXPECT_EQ(state_of(supervisor, "two"), S::Starting);
  progress = supervisor.restart_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->started);
  EXPECT_EQ(progress->stopped, 1u);
  EXPECT_EQ(progress->needed_sigkill, (std::map<std::string, bool>{{"one", false}}));

  // Later exits do not start anything again.
  runtime.clear();
  runtime.advance(1s);
  runtime.run(supervisor.request_stop({"one", "two"}, runtime.now_));
  runtime.exit("one", 0);
  runtime.exit("two", 0);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
}

TEST_F(OneRunningTwoStopped, StartOrderWhateverTheOrderOfTheNames) {
  const NameResolution names = supervisor.resolve_names({"two", "one"});
  ASSERT_EQ(names.processes, (std::vector<std::string>{"one", "two"}));
  runtime.run(supervisor.request_restart(names.processes, runtime.now_).second);
  runtime.clear();
  runtime.exit("one", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"one", "two"}));
}

TEST(RestartOrder, AnIdleFirstLevelWaitsForARunningLaterLevel) {
  Supervisor supervisor{
      make_config({make_program("first", 1, 1, false), make_program("second", 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  runtime.run(supervisor.request_restart({"first", "second"}, runtime.now_).second);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"second", SIGTERM, false}}));
  EXPECT_EQ(state_of(supervisor, "first"), S::Stopped);
  runtime.clear();
  runtime.exit("second", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"first", "second"}));
}

TEST(RestartOrder, WaitsForEveryStopIncludingTheSlowest) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 1, 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  auto [id, actions] = supervisor.request_restart({"a", "b:0", "b:1"}, runtime.now_);
  runtime.run(actions);
  EXPECT_EQ(runtime.signals_,
            (std::vector<Signal>{
                {"a", SIGTERM, false}, {"b:0", SIGTERM, false}, {"b:1", SIGTERM, false}}));
  runtime.exit("b:1", 0);
  runtime.exit("a", 0);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_EQ(supervisor.restart_progress(id)->stopped, 1u);  // a; the cursor waits at b:0
  runtime.clear();
  runtime.exit("b:0", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"a", "b:0", "b:1"}));
  EXPECT_EQ(supervisor.restart_progress(id)->stopped, 3u);
}

TEST(RestartOrder, NeededSigkillIsRecordedPerProcess) {
  Supervisor supervisor{make_config({make_program("quick", 1), make_program("stubborn", 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"quick", "stubborn"}, runtime.now_);
  runtime.run(actions);
  runtime.advance(100ms);
  runtime.exit("quick", 0);
  runtime.clear();
  runtime.advance(10s);  // stubborn ignores SIGTERM
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"stubborn", SIGKILL, false}}));
  runtime.exit("stubborn", std::nullopt, SIGKILL);
  const RestartProgress* progress = supervisor.restart_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->started);
  EXPECT_EQ(progress->needed_sigkill,
            (std::map<std::string, bool>{{"quick", false}, {"stubborn", true}}));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"quick", "stubborn"}));
}

TEST(RestartOrder, AProcessAlreadyStoppingIsWaitedFor) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"web"}, runtime.now_));
  runtime.clear();
  auto [id, actions] = supervisor.request_restart({"web"}, runtime.now_);
  runtime.run(actions);
  EXPECT_TRUE(runtime.signals_.empty());  // it already got its SIGTERM
  EXPECT_EQ(supervisor.restart_progress(id)->stopping, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  runtime.exit("web", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web"}));
}

TEST(RestartOrder, OnlyIdleOrBackoffProcessesStartAtOnce) {
  Supervisor supervisor{make_config({make_program("flaky", 1), make_program("off", 2, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance(100ms);
  runtime.exit("flaky", 1);  // before startsecs: BACKOFF
  ASSERT_EQ(state_of(supervisor, "flaky"), S::Backoff);
  runtime.clear();
  auto [id, actions] = supervisor.request_restart({"flaky", "off"}, runtime.now_);
  runtime.run(actions);
  EXPECT_TRUE(runtime.signals_.empty());
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"flaky", "off"}));
  const RestartProgress* progress = supervisor.restart_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->stopping.empty());
  EXPECT_TRUE(progress->started);
}

TEST(RestartOrder, ForgottenBeforeTheStartHalfStartsNothing) {
  Supervisor supervisor{
      make_config({make_program("one", 1), make_program("two", 2, 1, /*autostart=*/false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"one", "two"}, runtime.now_);
  runtime.run(actions);
  supervisor.forget_restart(id);  // its client went away
  EXPECT_EQ(supervisor.restart_progress(id), nullptr);
  runtime.clear();
  runtime.exit("one", std::nullopt, SIGTERM);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_EQ(state_of(supervisor, "one"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "two"), S::Stopped);
}

TEST(RestartOrder, ForgettingAfterTheStartHalfChangesNothing) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"web"}, runtime.now_);
  runtime.run(actions);
  runtime.exit("web", 0);
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);
  supervisor.forget_restart(id);
  runtime.advance(1s);
  EXPECT_EQ(state_of(supervisor, "web"), S::Running);
  supervisor.forget_restart(id);    // twice: harmless
  supervisor.forget_restart(1234);  // unknown: harmless
}

TEST(RestartOrder, TwoRestartsAreIndependent) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [first, first_actions] = supervisor.request_restart({"a"}, runtime.now_);
  runtime.run(first_actions);
  auto [second, second_actions] = supervisor.request_restart({"b"}, runtime.now_);
  runtime.run(second_actions);
  EXPECT_NE(first, second);
  runtime.clear();
  runtime.exit("b", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"b"}));
  EXPECT_FALSE(supervisor.restart_progress(first)->started);
  EXPECT_TRUE(supervisor.restart_progress(second)->started);
}

TEST(RestartOrder, RefusedDuringShutdown) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  auto [id, actions] = supervisor.request_restart({"web"}, runtime.now_);
  EXPECT_EQ(id, 0u);
  EXPECT_TRUE(actions.empty());
  EXPECT_EQ(supervisor.restart_progress(0), nullptr);
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(RestartOrder, AShutdownBegunMidRestartCancelsTheStartHalf) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"web"}, runtime.now_);
  runtime.run(actions);
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(RestartOrder, SkipsUnknownAndLeavingProcesses) {
  Supervisor supervisor{make_config({make_program("web"), make_program("old", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.apply_config(make_config({make_program("web")}), runtime.now_).actions);
  ASSERT_TRUE(supervisor.find("old")->is_leaving());
  auto [id, actions] = supervisor.request_restart({"old", "ghost", "web"}, runtime.now_);
  runtime.run(actions);
  EXPECT_EQ(supervisor.restart_progress(id)->processes, (std::vector<std::string>{"web"}));
  runtime.clear();
  runtime.exit("old", 0);  // removed
  runtime.exit("web", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web"}));
}

TEST(RestartOrder, AProcessRemovedByAReloadWhileStoppingCountsAsStopped) {
  Supervisor supervisor{make_config({make_program("web", 2), make_program("old", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"old", "web"}, runtime.now_);
  runtime.run(actions);
  runtime.run(supervisor.apply_config(make_config({make_program("web", 2)}), runtime.now_).actions);
  runtime.exit("old", 0);  // and forgotten
  ASSERT_EQ(supervisor.find("old"), nullptr);
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_TRUE(supervisor.restart_progress(id)->started);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web"}));
}

TEST(RestartOrder, AProcessReplacedByAReloadWhileStoppingDoesNotHoldTheRestart) {
  // web is being restarted; a reload changes it meanwhile. Once the old web
  // is idle the reload replaces and starts the new one: the restart's stop
  // half is over (the old process stopped) and must not wait for the new
  // process to stop.
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  auto [id, actions] = supervisor.request_restart({"web"}, runtime.now_);
  runtime.run(actions);
  config::ProgramConfig changed = make_program("web");
  changed.startretries = 7;
  runtime.run(supervisor.apply_config(make_config({changed}), runtime.now_).actions);
  runtime.exit("web", 0);
  ASSERT_EQ(supervisor.find("web")->machine().policy().startretries, 7);
  ASSERT_EQ(state_of(supervisor, "web"), S::Starting);  // the reload started the new web
  runtime.advance(1s);
  ASSERT_EQ(state_of(supervisor, "web"), S::Running);
  const RestartProgress* progress = supervisor.restart_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->started) << "the restart waits for the replacement to stop";
}

}  // namespace
}  // namespace minisup::core
