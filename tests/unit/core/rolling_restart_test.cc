// Rolling restarts (DESIGN.md "Held sockets and zero-downtime restarts"):
// each process is replaced new before old: the running one goes on as
// "NAME (old)", a new one is started under NAME, the old one gets its stop
// signal only once the new one is RUNNING, and the next process is
// replaced once the previous old one has exited. Never fewer RUNNING than
// before; the first new process that fails stops it, the old one serving.
// Also: `update` of a changed program with sockets, a shutdown meanwhile,
// and the old process of a failed step stopped by the next good start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "supervisor/core/requests.h"
#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;
using testing_support::names_with;
using testing_support::only;
using testing_support::Signal;
using testing_support::state_of;
using S = ProcessState;

config::ProgramConfig web_program(int numprocs, const std::string& binary = "/bin/web") {
  config::ProgramConfig program = make_program("web", 999, numprocs);
  program.autorestart = config::AutoRestart::Always;
  program.startretries = 1;
  config::SocketConfig http;
  http.name = "http";
  http.address = "0.0.0.0";
  http.port = 3000;
  program.sockets = {http};
  for (auto& process : program.processes) process.command = {binary};
  return program;
}

/// RUNNING processes, old ones included.
int running(const Supervisor& supervisor) {
  int n = 0;
  for (const ManagedProcess* process : supervisor.processes())
    n += process->machine().state() == S::Running ? 1 : 0;
  return n;
}

struct Rolling : ::testing::Test {
  void SetUp() override {}
  void make(int numprocs) {
    supervisor = std::make_unique<Supervisor>(make_config({web_program(numprocs)}));
    rt = std::make_unique<FakeRuntime>(*supervisor);
    rt->start_all();
    ASSERT_EQ(running(*supervisor), numprocs);
  }
  /// Begins a rolling restart of `names`; returns its id.
  RestartId roll(const std::vector<std::string>& names) {
    auto [id, actions] = supervisor->request_rolling_restart(names, rt->now_);
    rt->run(actions);
    return id;
  }
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<FakeRuntime> rt;
};

TEST_F(Rolling, OneProcessNewIsReadyBeforeTheOldGetsItsStopSignal) {
  make(1);
  const int old_pid = rt->pids_["web"];
  rt->clear();
  const RestartId id = roll({"web"});
  ASSERT_NE(id, 0u);
  // The old run goes on as "web (old)"; a new one is spawned as "web".
  EXPECT_THAT(names_with<ProcessRetired>(rt->log_), ElementsAre("web"));
  EXPECT_EQ(only<ProcessRetired>(rt->log_).at(0).second.as, "web (old)");
  EXPECT_THAT(names_with<Spawn>(rt->log_), ElementsAre("web"));
  const ManagedProcess* old = supervisor->find("web (old)");
  ASSERT_NE(old, nullptr);
  EXPECT_TRUE(old->is_old());
  EXPECT_EQ(old->process_config().name, "web");
  EXPECT_EQ(old->machine().pid(), old_pid);
  EXPECT_EQ(state_of(*supervisor, "web (old)"), S::Running);
  EXPECT_EQ(state_of(*supervisor, "web"), S::Starting);
  EXPECT_TRUE(rt->signals_.empty());  // not before the new one is ready
  EXPECT_FALSE(supervisor->rolling_progress(id)->done);

  // startsecs passes: the new one is RUNNING, the old one gets SIGTERM.
  rt->advance(1s);
  EXPECT_EQ(state_of(*supervisor, "web"), S::Running);
  EXPECT_THAT(rt->signals_, ElementsAre(Signal{"web (old)", SIGTERM, false}));
  EXPECT_EQ(state_of(*supervisor, "web (old)"), S::Stopping);
  EXPECT_FALSE(supervisor->rolling_progress(id)->done);  // until it has exited

  // It drains and exits: forgotten, and the rolling restart is done.
  rt->exit("web (old)", 0);
  EXPECT_EQ(supervisor->find("web (old)"), nullptr);
  EXPECT_THAT(names_with<RemoveProcess>(rt->log_), ElementsAre("web (old)"));
  const RollingProgress* progress = supervisor->rolling_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->done);
  EXPECT_TRUE(progress->failed.empty());
  EXPECT_EQ(supervisor->processes().size(), 1u);
}

TEST_F(Rolling, ThreeProcessesOneAtATimeNeverFewerRunning) {
  make(3);
  rt->clear();
  const RestartId id = roll({"web:0", "web:1", "web:2"});
  for (const std::string name : {"web:0", "web:1", "web:2"}) {
    // Only this one is being replaced: the others are not touched yet.
    EXPECT_NE(supervisor->find(name + " (old)"), nullptr) << name;
    EXPECT_EQ(supervisor->processes().size(), 4u) << name;
    EXPECT_GE(running(*supervisor), 3) << name;
    rt->advance(500ms);
    EXPECT_GE(running(*supervisor), 3) << name;
    rt->advance(500ms);  // ready: the old one is told to stop
    EXPECT_EQ(state_of(*supervisor, name + " (old)"), S::Stopping) << name;
    EXPECT_GE(running(*supervisor), 3) << name;
    rt->exit(name + " (old)", 0);
    EXPECT_EQ(supervisor->find(name + " (old)"), nullptr) << name;
    EXPECT_GE(running(*supervisor), 3) << name;
  }
  EXPECT_TRUE(supervisor->rolling_progress(id)->done);
  // Old ones were stopped in order, each after its new one was RUNNING.
  EXPECT_THAT(rt->signals_, ElementsAre(Signal{"web:0 (old)", SIGTERM, false},
                                        Signal{"web:1 (old)", SIGTERM, false},
                                        Signal{"web:2 (old)", SIGTERM, false}));
}

TEST_F(Rolling, ANewProcessThatNeverGetsReadyStopsItWithTheOldOnesServing) {
  make(3);
  rt->clear();
  Opened opened = open_rolling_restart(*supervisor, {"web:0", "web:1", "web:2"}, rt->now_);
  rt->run(opened.actions);
  // The new web:0 dies before startsecs, twice (startretries = 1): FATAL.
  rt->exit("web:0", 1);
  rt->advance(1s);  // the retry
  rt->exit("web:0", 1);
  EXPECT_EQ(state_of(*supervisor, "web:0"), S::Fatal);
  const auto settled = settle(opened.request, *supervisor);
  ASSERT_TRUE(settled.has_value());
  ASSERT_EQ(settled->results.size(), 3u);
  EXPECT_EQ(settled->results[0].outcome, Outcome::Failed);
  EXPECT_THAT(settled->results[0].message, ::testing::HasSubstr("exited with status 1"));
  EXPECT_EQ(settled->results[1].outcome, Outcome::Failed);
  EXPECT_EQ(settled->results[1].message, "not replaced: the rolling restart stopped at web:0");
  // The old ones keep serving: nobody got a stop signal.
  EXPECT_TRUE(rt->signals_.empty());
  EXPECT_EQ(state_of(*supervisor, "web:0 (old)"), S::Running);
  EXPECT_EQ(state_of(*supervisor, "web:1"), S::Running);
  EXPECT_EQ(supervisor->find("web:1 (old)"), nullptr);
  EXPECT_EQ(running(*supervisor), 3);
  close_request(opened.request, *supervisor);

  // A later start of web:0 that gets RUNNING stops the old one left over.
  rt->run(supervisor->request_start({"web:0"}, rt->now_));
  rt->advance(1s);
  EXPECT_EQ(state_of(*supervisor, "web:0"), S::Running);
  EXPECT_THAT(rt->signals_, ElementsAre(Signal{"web:0 (old)", SIGTERM, false}));
  rt->exit("web:0 (old)", 0);
  EXPECT_EQ(supervisor->find("web:0 (old)"), nullptr);
}

TEST_F(Rolling, OldProcessesAreNamedOnlyForStopStatusAndSignal) {
  make(1);
  roll({"web"});
  EXPECT_THAT(supervisor->resolve_names({"web"}).processes, ElementsAre("web"));
  EXPECT_THAT(supervisor->resolve_names({"all"}).processes, ElementsAre("web"));
  EXPECT_THAT(supervisor->resolve_names({"web"}, true).processes, ElementsAre("web", "web (old)"));
  EXPECT_THAT(supervisor->resolve_names({"web (old)"}).processes, ElementsAre("web (old)"));
  EXPECT_FALSE(supervisor->can_start("web (old)"));
  // Its run never restarts: it exits (it crashed) and is forgotten.
  rt->exit("web (old)", 1);
  EXPECT_EQ(supervisor->find("web (old)"), nullptr);
  EXPECT_EQ(names_with<Spawn>(rt->log_).size(), 2u);  // the first start and the new one
}

TEST_F(Rolling, AShutdownStopsTheOldOnesToo) {
  make(2);
  const RestartId id = roll({"web:0", "web:1"});
  rt->clear();
  rt->run(supervisor->begin_shutdown(rt->now_));
  EXPECT_THAT(names_with<SendSignal>(rt->log_),
              ::testing::UnorderedElementsAre("web:0", "web:0 (old)", "web:1"));
  for (const std::string name : {"web:0", "web:0 (old)", "web:1"}) rt->exit(name, 0);
  EXPECT_TRUE(supervisor->shutdown_complete());
  const RollingProgress* progress = supervisor->rolling_progress(id);
  ASSERT_NE(progress, nullptr);
  EXPECT_TRUE(progress->done);
  EXPECT_EQ(progress->failed.at("web:0"), "shutting down");
}

TEST_F(Rolling, UpdateOfAChangedProgramWithSocketsRollsToTheNewDefinition) {
  make(2);
  rt->clear();
  ReloadResult reload =
      supervisor->apply_config(make_config({web_program(2, "/bin/web-v2")}), rt->now_);
  EXPECT_THAT(reload.changed, ElementsAre("web"));
  ASSERT_EQ(reload.rolling.size(), 1u);
  PendingRequest update = open_update(reload);
  rt->run(reload.actions);
  // web:0 first: the new process runs the new command, the old one the old.
  EXPECT_EQ(supervisor->find("web:0")->program_config().processes.at(0).command.at(0),
            "/bin/web-v2");
  EXPECT_EQ(supervisor->find("web:0 (old)")->program_config().processes.at(0).command.at(0),
            "/bin/web");
  EXPECT_EQ(supervisor->find("web:1 (old)"), nullptr);
  EXPECT_TRUE(rt->signals_.empty());
  EXPECT_FALSE(settle(update, *supervisor).has_value());
  for (const std::string name : {"web:0", "web:1"}) {
    rt->advance(1s);
    ASSERT_EQ(state_of(*supervisor, name + " (old)"), S::Stopping) << name;
    rt->exit(name + " (old)", 0);
  }
  EXPECT_EQ(supervisor->find("web:1")->program_config().processes.at(1).command.at(0),
            "/bin/web-v2");
  EXPECT_EQ(running(*supervisor), 2);
  EXPECT_TRUE(settle(update, *supervisor).has_value());
  // Forgotten once done (a reload's).
  EXPECT_EQ(supervisor->rolling_progress(reload.rolling[0]), nullptr);
}

TEST_F(Rolling, AProcessThatIsNotRunningIsStartedInPlace) {
  make(1);
  rt->run(supervisor->request_stop({"web"}, rt->now_));
  rt->exit("web", 0);
  ASSERT_EQ(state_of(*supervisor, "web"), S::Stopped);
  rt->clear();
  const RestartId id = roll({"web"});
  EXPECT_TRUE(names_with<ProcessRetired>(rt->log_).empty());
  EXPECT_EQ(state_of(*supervisor, "web"), S::Starting);
  rt->advance(1s);
  EXPECT_TRUE(supervisor->rolling_progress(id)->done);
  EXPECT_TRUE(supervisor->rolling_progress(id)->failed.empty());
}

}  // namespace
}  // namespace minisup::core
