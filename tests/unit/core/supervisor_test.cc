// Supervisor: start order, name resolution, ordered shutdown and reload,
// driven through a tiny fake runtime (FakeRuntime, core_test_support.h:
// spawns succeed at once with increasing pids, deadlines fire when the fake
// clock passes them, every fact is reported for its incarnation).
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <set>
#include <tuple>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::make_config;
using testing_support::make_program;
using testing_support::names_with;
using testing_support::only;
using testing_support::Signal;
using testing_support::state_of;
using S = ProcessState;

std::vector<std::string> process_names(const Supervisor& supervisor) {
  std::vector<std::string> names;
  for (const ManagedProcess* process : supervisor.processes()) names.push_back(process->name());
  return names;
}

// ---- Construction, start order ----

TEST(Supervisor, HoldsOneStoppedMachinePerProcessInStartOrder) {
  Supervisor supervisor{make_config(
      {make_program("web", 999, 2), make_program("db", 10), make_program("cache", 10)})};
  EXPECT_EQ(process_names(supervisor), (std::vector<std::string>{"cache", "db", "web:0", "web:1"}));
  const ManagedProcess* web1 = supervisor.find("web:1");
  ASSERT_NE(web1, nullptr);
  EXPECT_EQ(web1->name(), "web:1");
  EXPECT_EQ(web1->program_name(), "web");
  EXPECT_EQ(web1->process_config().process_num, 1);
  EXPECT_EQ(web1->program_config().numprocs, 2);
  EXPECT_EQ(web1->priority(), 999);
  EXPECT_EQ(web1->machine().state(), S::Stopped);
  EXPECT_FALSE(web1->is_leaving());
  EXPECT_EQ(supervisor.find("web"), nullptr);
  EXPECT_EQ(supervisor.find("nope"), nullptr);
}

TEST(Supervisor, PolicyComesFromTheProgram) {
  config::ProgramConfig program = make_program("web");
  program.stopsignal = SIGINT;
  program.stopwaitsecs = 3s;
  Supervisor supervisor{make_config({program})};
  EXPECT_EQ(supervisor.find("web")->machine().policy().stopsignal, SIGINT);
  EXPECT_EQ(supervisor.find("web")->machine().policy().stopwaitsecs, 3s);
}

TEST(StartAutostart, AscendingPriorityThenNameWithoutWaitingPerLevel) {
  Supervisor supervisor{
      make_config({make_program("alpha", 999), make_program("zeta", 1), make_program("beta", 5, 2),
                   make_program("off", 1, 1, /*autostart=*/false)})};
  const auto actions = supervisor.start_autostart(kT0);
  // Every Spawn in the one batch: no level waits for the one before.
  EXPECT_EQ(names_with<Spawn>(actions),
            (std::vector<std::string>{"zeta", "beta:0", "beta:1", "alpha"}));
  EXPECT_EQ(state_of(supervisor, "off"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "alpha"), S::Starting);
}

TEST(StartAutostart, AllRunAfterStartsecs) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  EXPECT_EQ(state_of(supervisor, "a"), S::Running);
  EXPECT_EQ(state_of(supervisor, "b"), S::Running);
  EXPECT_EQ(supervisor.find("a")->machine().pid(), runtime.pids_["a"]);
}

TEST(Supervisor, EventForAnUnknownProcessIsIgnored) {
  Supervisor supervisor{make_config({make_program("web")})};
  EXPECT_TRUE(supervisor.handle("ghost", StartRequest{}, kT0).empty());
  EXPECT_TRUE(supervisor.handle("ghost", ChildExited{0, std::nullopt}, kT0).empty());
  EXPECT_TRUE(supervisor.request_start({"ghost"}, kT0).empty());
}

TEST(Supervisor, RequestStartAndStopAreThinWrappers) {
  Supervisor supervisor{make_config({make_program("web", 1, 2, false)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.request_start({"web:0", "web:1"}, kT0));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web:0", "web:1"}));
  runtime.advance(1s);
  EXPECT_TRUE(supervisor.request_start({"web:0"}, runtime.now_).empty());  // already started
  runtime.clear();
  runtime.run(supervisor.request_stop({"web:1"}, runtime.now_));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"web:1", SIGTERM, false}}));
  EXPECT_EQ(state_of(supervisor, "web:1"), S::Stopping);
  EXPECT_TRUE(supervisor.can_start("web:0"));
  EXPECT_FALSE(supervisor.can_start("ghost"));
}

// ---- Names ----

TEST(ResolveNames, AcceptsAllProgramsGroupsAndExactNames) {
  Supervisor supervisor{
      make_config({make_program("web", 10, 3), make_program("db", 1), make_program("worker", 20)})};
  auto resolve = [&](std::vector<std::string> names) {
    const NameResolution r = supervisor.resolve_names(names);
    EXPECT_TRUE(r.ok());
    return r.processes;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(resolve({"all"}), (V{"db", "web:0", "web:1", "web:2", "worker"}));
  EXPECT_EQ(resolve({"web"}), (V{"web:0", "web:1", "web:2"}));
  EXPECT_EQ(resolve({"web:*"}), (V{"web:0", "web:1", "web:2"}));
  EXPECT_EQ(resolve({"web:2"}), (V{"web:2"}));
  EXPECT_EQ(resolve({"db"}), (V{"db"}));
  EXPECT_EQ(resolve({"db:*"}), (V{"db"}));
  // Start order and no duplicates, whatever the order given.
  EXPECT_EQ(resolve({"worker", "web:1", "db", "web:*", "db"}),
            (V{"db", "web:0", "web:1", "web:2", "worker"}));
  EXPECT_EQ(resolve({}), V{});
}

TEST(ResolveNames, NamesTheFirstUnknownName) {
  Supervisor supervisor{make_config({make_program("web", 10, 3), make_program("db")})};
  for (const auto& [names, unknown] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"nope"}, "nope"},
           {{"db", "nope", "also-nope"}, "nope"},
           {{"web:3"}, "web:3"},
           {{"nope:*"}, "nope:*"},
           {{"db:0"}, "db:0"},
           {{"web:"}, "web:"},
           {{"ALL"}, "ALL"},
           {{":*"}, ":*"},
       }) {
    const NameResolution r = supervisor.resolve_names(names);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.unknown, unknown);
    EXPECT_TRUE(r.processes.empty());
  }
}

// ---- Ordered shutdown ----

TEST(Shutdown, StopsLevelsFromTheHighestPriorityDownWaitingForTheSlowest) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b1", 500),
                                     make_program("b2", 500), make_program("c", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();

  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_TRUE(supervisor.shutting_down());
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"c", SIGTERM, false}}));
  EXPECT_FALSE(supervisor.shutdown_complete());

  runtime.clear();
  runtime.advance(100ms);
  runtime.exit("c", 0);
  // The whole next level, together.
  EXPECT_EQ(runtime.signals_,
            (std::vector<Signal>{{"b1", SIGTERM, false}, {"b2", SIGTERM, false}}));

  runtime.clear();
  runtime.advance(100ms);
  runtime.exit("b1", 0);
  EXPECT_TRUE(runtime.signals_.empty()) << "level 1 must wait for b2";
  EXPECT_EQ(state_of(supervisor, "a"), S::Running);

  // b2 ignores SIGTERM: SIGKILL at stopwaitsecs (10 s after its SIGTERM).
  runtime.advance(9800ms);
  EXPECT_TRUE(runtime.signals_.empty());
  runtime.advance(100ms);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"b2", SIGKILL, false}}));
  runtime.clear();
  runtime.exit("b2", std::nullopt, SIGKILL);
  EXPECT_TRUE(supervisor.find("b2")->machine().last_exit()->needed_sigkill());
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"a", SIGTERM, false}}));
  EXPECT_FALSE(supervisor.shutdown_complete());

  runtime.exit("a", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
  EXPECT_TRUE(supervisor.begin_shutdown(runtime.now_).empty());  // a second call is a no-op
}

TEST(Shutdown, SkipsProcessesAndLevelsThatAreNotRunning) {
  Supervisor supervisor{make_config({make_program("low", 1), make_program("idle", 500, 2, false),
                                     make_program("top", 999), make_program("gone", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"gone"}, runtime.now_));
  runtime.exit("gone", 0);
  runtime.clear();

  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"top", SIGTERM, false}}));
  runtime.clear();
  runtime.exit("top", 0);
  // Level 500 has nothing running: straight to level 1.
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"low", SIGTERM, false}}));
  runtime.exit("low", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
  EXPECT_EQ(state_of(supervisor, "idle:0"), S::Stopped);
}

TEST(Shutdown, WithNothingRunningIsCompleteAtOnce) {
  Supervisor supervisor{make_config({make_program("a", 1, 1, false)})};
  EXPECT_FALSE(supervisor.shutdown_complete());
  EXPECT_TRUE(supervisor.begin_shutdown(kT0).empty());
  EXPECT_TRUE(supervisor.shutdown_complete());
}

TEST(Shutdown, BackoffProcessesStopAtOnceAtAnyLevel) {
  Supervisor supervisor{make_config({make_program("flaky", 1), make_program("web", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.start_autostart(runtime.now_));
  runtime.advance(100ms);
  runtime.exit("flaky", 1);  // exits before startsecs: BACKOFF
  runtime.advance(900ms);    // web is RUNNING; flaky's retry is due at +1.1 s
  ASSERT_EQ(state_of(supervisor, "flaky"), S::Backoff);
  runtime.clear();

  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_EQ(state_of(supervisor, "flaky"), S::Stopped);
  EXPECT_EQ(only<CancelDeadline>(runtime.log_),
            (std::vector<std::pair<std::string, CancelDeadline>>{
                {"flaky", CancelDeadline{DeadlineKind::Backoff}}}));
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"web", SIGTERM, false}}));
  runtime.advance(5s);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
}

TEST(Shutdown, NothingIsStartedOrRestartedMeanwhile) {
  config::ProgramConfig low = make_program("low", 1);
  low.autorestart = config::AutoRestart::Always;
  Supervisor supervisor{
      make_config({low, make_program("top", 999), make_program("manual", 1, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  runtime.clear();

  // A user start is refused.
  EXPECT_FALSE(supervisor.can_start("manual"));
  EXPECT_TRUE(supervisor.request_start({"manual"}, runtime.now_).empty());
  EXPECT_TRUE(supervisor.handle("manual", StartRequest{}, runtime.now_).empty());
  EXPECT_TRUE(supervisor.start_autostart(runtime.now_).empty());
  // A lower level that crashes meanwhile is not restarted.
  runtime.exit("low", 1);
  EXPECT_EQ(state_of(supervisor, "low"), S::Exited);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());

  runtime.exit("top", 0);
  EXPECT_TRUE(supervisor.shutdown_complete());
  EXPECT_TRUE(runtime.signals_.empty());  // low had already exited when its level came
}

TEST(Shutdown, FailedStartOfALowerLevelIsNotRetried) {
  Supervisor supervisor{make_config({make_program("slow", 1), make_program("top", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"slow"}, runtime.now_));
  runtime.exit("slow", 0);
  runtime.run(supervisor.request_start({"slow"}, runtime.now_));  // STARTING again
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  runtime.clear();
  runtime.exit("slow", 1);  // fails before startsecs
  EXPECT_EQ(state_of(supervisor, "slow"), S::Stopped);
  runtime.advance(10s);
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
}

TEST(Shutdown, LevelIncludesProcessesAUserWasAlreadyStopping) {
  Supervisor supervisor{make_config({make_program("a", 1), make_program("b", 999)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.request_stop({"b"}, runtime.now_));
  runtime.clear();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  EXPECT_TRUE(runtime.signals_.empty());  // b already got its SIGTERM; a waits for b
  runtime.exit("b", 0);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"a", SIGTERM, false}}));
}

// ---- Reload ----

TEST(Reload, UnchangedProgramsAreNotTouched) {
  config::Config old_config = make_config({make_program("web"), make_program("db", 1)});
  Supervisor supervisor{old_config};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  const ManagedProcess* web = supervisor.find("web");
  const int pid = web->machine().pid();

  config::Config new_config = old_config;
  new_config.programs[0].where = config::SourceLocation{"/etc/minisup/conf.d/web.toml", 1, 1};
  const ReloadResult result = supervisor.apply_config(new_config, runtime.now_);
  EXPECT_TRUE(result.applied);
  EXPECT_TRUE(result.added.empty());
  EXPECT_TRUE(result.changed.empty());
  EXPECT_TRUE(result.removed.empty());
  EXPECT_TRUE(result.actions.empty());
  EXPECT_EQ(supervisor.find("web"), web);  // same machine
  EXPECT_EQ(web->machine().pid(), pid);
  EXPECT_EQ(web->machine().state(), S::Running);
  EXPECT_EQ(web->program_config().where.file, "/etc/minisup/conf.d/web.toml");
}

TEST(Reload, AddedProgramsAreCreatedAndStartedIfAutostart) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const ReloadResult result =
      supervisor.apply_config(make_config({make_program("web"), make_program("new", 5, 2),
                                           make_program("manual", 1, 1, false)}),
                              runtime.now_);
  EXPECT_EQ(result.added, (std::vector<std::string>{"manual", "new"}));
  EXPECT_EQ(names_with<AddProcess>(result.actions),
            (std::vector<std::string>{"new:0", "new:1", "manual"}));
  EXPECT_EQ(names_with<Spawn>(result.actions), (std::vector<std::string>{"new:0", "new:1"}));
  // AddProcess comes before anything else for that process.
  EXPECT_TRUE(std::holds_alternative<AddProcess>(result.actions.front().action));
  runtime.run(result.actions);
  EXPECT_EQ(process_names(supervisor),
            (std::vector<std::string>{"manual", "new:0", "new:1", "web"}));
  EXPECT_EQ(state_of(supervisor, "manual"), S::Stopped);
  EXPECT_EQ(state_of(supervisor, "new:1"), S::Starting);
}

TEST(Reload, RemovedProgramsStopGracefullyThenAreForgotten) {
  Supervisor supervisor{make_config({make_program("web"), make_program("old", 1, 2)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  const ReloadResult result =
      supervisor.apply_config(make_config({make_program("web")}), runtime.now_);
  EXPECT_EQ(result.removed, (std::vector<std::string>{"old"}));
  runtime.run(result.actions);
  EXPECT_EQ(runtime.signals_,
            (std::vector<Signal>{{"old:0", SIGTERM, false}, {"old:1", SIGTERM, false}}));
  ASSERT_NE(supervisor.find("old:0"), nullptr);  // still there while stopping
  EXPECT_TRUE(supervisor.find("old:0")->is_leaving());
  EXPECT_FALSE(supervisor.can_start("old:0"));
  EXPECT_TRUE(supervisor.resolve_names({"old"}).ok());

  runtime.clear();
  runtime.exit("old:0", 0);
  EXPECT_TRUE(names_with<RemoveProcess>(runtime.log_).empty());  // waits for the whole program
  EXPECT_TRUE(supervisor.request_start({"old:0"}, runtime.now_).empty());  // refused meanwhile
  runtime.advance(10s);                                                    // old:1 ignores SIGTERM
  runtime.exit("old:1", std::nullopt, SIGKILL);
  EXPECT_EQ(names_with<RemoveProcess>(runtime.log_), (std::vector<std::string>{"old:0", "old:1"}));
  EXPECT_EQ(supervisor.find("old:0"), nullptr);
  EXPECT_EQ(process_names(supervisor), (std::vector<std::string>{"web"}));
  EXPECT_FALSE(supervisor.resolve_names({"old"}).ok());
  // A late event for the forgotten process is harmless.
  EXPECT_TRUE(supervisor.handle("old:1", DeadlineExpired{DeadlineKind::Stopwaitsecs}, runtime.now_)
                  .empty());
}

TEST(Reload, RemovedIdleProgramIsForgottenAtOnce) {
  Supervisor supervisor{make_config({make_program("web"), make_program("off", 1, 1, false)})};
  const ReloadResult result = supervisor.apply_config(make_config({make_program("web")}), kT0);
  EXPECT_EQ(result.removed, (std::vector<std::string>{"off"}));
  EXPECT_EQ(result.actions, (std::vector<ProcessAction>{{"off", RemoveProcess{}}}));
  EXPECT_EQ(supervisor.find("off"), nullptr);
}

TEST(Reload, ChangedRunningProgramIsStoppedThenStartedWithTheNewConfig) {
  Supervisor supervisor{make_config({make_program("web"), make_program("db", 1)})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  const int old_pid = supervisor.find("web")->machine().pid();
  runtime.clear();

  config::ProgramConfig web = make_program("web");
  web.processes[0].command = {"/bin/web", "--port", "8080"};
  const ReloadResult result =
      supervisor.apply_config(make_config({web, make_program("db", 1)}), runtime.now_);
  EXPECT_EQ(result.changed, (std::vector<std::string>{"web"}));
  runtime.run(result.actions);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"web", SIGTERM, false}}));
  // Until it is stopped it keeps its old definition.
  EXPECT_EQ(supervisor.find("web")->process_config().command,
            (std::vector<std::string>{"/bin/web"}));
  EXPECT_TRUE(supervisor.find("web")->is_leaving());

  runtime.clear();
  runtime.advance(300ms);
  runtime.exit("web", 0);
  // The old process goes, the new one comes and is spawned, in that order.
  std::vector<std::string> kinds;
  for (const ProcessAction& a : runtime.log_) {
    if (std::holds_alternative<RemoveProcess>(a.action)) kinds.push_back("remove");
    if (std::holds_alternative<AddProcess>(a.action)) kinds.push_back("add");
    if (std::holds_alternative<Spawn>(a.action)) kinds.push_back("spawn");
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"remove", "add", "spawn"}));
  const ManagedProcess* now_web = supervisor.find("web");
  ASSERT_NE(now_web, nullptr);
  EXPECT_EQ(now_web->process_config().command,
            (std::vector<std::string>{"/bin/web", "--port", "8080"}));
  EXPECT_FALSE(now_web->is_leaving());
  EXPECT_EQ(now_web->machine().state(), S::Starting);
  EXPECT_NE(now_web->machine().pid(), old_pid);
  EXPECT_EQ(state_of(supervisor, "db"), S::Running);  // untouched
}

TEST(Reload, ChangedRunningProgramRestartsEvenWithoutAutostart) {
  Supervisor supervisor{make_config({make_program("web", 999, 1, false)})};
  FakeRuntime runtime{supervisor};
  runtime.run(supervisor.request_start({"web"}, runtime.now_));
  runtime.advance(1s);
  config::ProgramConfig web = make_program("web", 999, 1, false);
  web.stopwaitsecs = 20s;
  runtime.run(supervisor.apply_config(make_config({web}), runtime.now_).actions);
  runtime.exit("web", 0);
  EXPECT_EQ(state_of(supervisor, "web"), S::Starting);
  EXPECT_EQ(supervisor.find("web")->machine().policy().stopwaitsecs, 20s);
}

TEST(Reload, ChangedIdleProgramIsReplacedAtOnceAndStartedOnlyIfAutostart) {
  Supervisor supervisor{
      make_config({make_program("manual", 1, 1, false), make_program("auto", 2, 1, false)})};
  config::ProgramConfig manual = make_program("manual", 1, 1, false);
  manual.startretries = 9;
  config::ProgramConfig automatic = make_program("auto", 2, 1, true);  // autostart changed
  const ReloadResult result = supervisor.apply_config(make_config({manual, automatic}), kT0);
  EXPECT_EQ(result.changed, (std::vector<std::string>{"auto", "manual"}));
  EXPECT_TRUE(only<SendSignal>(result.actions).empty());
  EXPECT_EQ(names_with<RemoveProcess>(result.actions),
            (std::vector<std::string>{"auto", "manual"}));
  EXPECT_EQ(names_with<Spawn>(result.actions), (std::vector<std::string>{"auto"}));
  EXPECT_EQ(state_of(supervisor, "manual"), S::Stopped);
  EXPECT_EQ(supervisor.find("manual")->machine().policy().startretries, 9);
}

TEST(Reload, ChangedNumprocsReplacesTheProcesses) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  runtime.run(
      supervisor.apply_config(make_config({make_program("web", 999, 2)}), runtime.now_).actions);
  runtime.exit("web", 0);
  EXPECT_EQ(names_with<RemoveProcess>(runtime.log_), (std::vector<std::string>{"web"}));
  EXPECT_EQ(names_with<AddProcess>(runtime.log_), (std::vector<std::string>{"web:0", "web:1"}));
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web:0", "web:1"}));
  EXPECT_EQ(process_names(supervisor), (std::vector<std::string>{"web:0", "web:1"}));
}

TEST(Reload, TouchesOnlyTheProcessesOfItsOwnProgramAmongSimilarNames) {
  // A program's processes are found by name (`a`, `a:0` ... `a:11`), not by
  // a scan: `a2`, `a-b` and `b` sort among or next to them and must be left
  // alone; processes come in process_num order (a:2 before a:10).
  config::Config old_config = make_config(
      {make_program("a", 999, 12), make_program("a2"), make_program("a-b"), make_program("b")});
  Supervisor supervisor{old_config};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.clear();
  runtime.run(
      supervisor
          .apply_config(make_config({make_program("a2"), make_program("a-b"), make_program("b")}),
                        runtime.now_)
          .actions);
  std::vector<Signal> expected;
  for (int i = 0; i < 12; ++i) expected.push_back({"a:" + std::to_string(i), SIGTERM, false});
  EXPECT_EQ(runtime.signals_, expected);
  for (int i = 0; i < 12; ++i) runtime.exit("a:" + std::to_string(i), 0);
  EXPECT_EQ(process_names(supervisor), (std::vector<std::string>{"a-b", "a2", "b"}));
  EXPECT_EQ(state_of(supervisor, "a2"), S::Running);
  EXPECT_EQ(state_of(supervisor, "a-b"), S::Running);

  // Changing `a2` leaves the others running.
  runtime.clear();
  config::ProgramConfig changed = make_program("a2");
  changed.stopwaitsecs = std::chrono::seconds(3);
  runtime.run(supervisor
                  .apply_config(make_config({changed, make_program("a-b"), make_program("b")}),
                                runtime.now_)
                  .actions);
  EXPECT_EQ(runtime.signals_, (std::vector<Signal>{{"a2", SIGTERM, false}}));
}

/// `count` programs p00, p01 ... with priorities from `priority(i)`; p03
/// has three processes.
config::Config numbered_programs(int count, int (*priority)(int), const char* flag) {
  std::vector<config::ProgramConfig> programs;
  for (int i = 0; i < count; ++i) {
    const std::string name = (i < 10 ? "p0" : "p") + std::to_string(i);
    config::ProgramConfig program = make_program(name, priority(i), i == 3 ? 3 : 1);
    for (auto& process : program.processes) process.command.push_back(flag);
    programs.push_back(std::move(program));
  }
  return make_config(std::move(programs));
}

TEST(Reload, ReplacesEachProgramWhenItsOwnProcessesStopAndKeepsStartOrder) {
  // Each exit completes only its own program's replacement (the pending
  // programs are not all looked at per event), and processes() stays in
  // start order for the new priorities: updated in place when one program
  // changes, sorted again when many do.
  auto ascending = [](int i) { return (i % 4) * 10; };
  auto descending = [](int i) { return 100 - i; };
  Supervisor supervisor{numbered_programs(20, ascending, "a")};
  FakeRuntime runtime{supervisor};
  runtime.start_all();

  // One program changed, to a new priority: in place.
  config::Config one = numbered_programs(20, ascending, "a");
  one.programs[5].priority = 35;
  one.programs[5].processes[0].command.push_back("b");
  runtime.run(supervisor.apply_config(one, runtime.now_).actions);
  runtime.clear();
  runtime.exit("p05", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"p05"}));
  EXPECT_EQ(process_names(supervisor), process_names(Supervisor{one}));

  // Every program changed: each exit replaces exactly its own program.
  const config::Config all = numbered_programs(20, descending, "c");
  runtime.run(supervisor.apply_config(all, runtime.now_).actions);
  for (int i = 19; i >= 0; --i) {
    const std::string name = (i < 10 ? "p0" : "p") + std::to_string(i);
    std::vector<std::string> processes{name};
    if (i == 3) processes = {"p03:0", "p03:1", "p03:2"};
    for (std::size_t k = 0; k < processes.size(); ++k) {
      runtime.clear();
      runtime.exit(processes[k], 0);
      // Nothing until the last process of the program is idle.
      EXPECT_EQ(names_with<Spawn>(runtime.log_),
                k + 1 < processes.size() ? std::vector<std::string>{} : processes)
          << processes[k];
    }
    EXPECT_FALSE(supervisor.find(processes[0])->is_leaving()) << name;
  }
  runtime.advance(1s);
  EXPECT_EQ(process_names(supervisor), process_names(Supervisor{all}));
  for (const ManagedProcess* process : supervisor.processes()) {
    EXPECT_EQ(process->machine().state(), S::Running) << process->name();
    EXPECT_EQ(process->process_config().command.back(), "c") << process->name();
  }
}

TEST(Reload, RemovedThenAddedBackBeforeItStoppedIsReplaced) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.apply_config(make_config({}), runtime.now_).actions);
  const ReloadResult back =
      supervisor.apply_config(make_config({make_program("web")}), runtime.now_);
  EXPECT_EQ(back.added, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(back.actions.empty());  // it is still stopping
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_EQ(names_with<Spawn>(runtime.log_), (std::vector<std::string>{"web"}));
  EXPECT_EQ(state_of(supervisor, "web"), S::Starting);
}

TEST(Reload, ChangedTwiceWhileStoppingUsesTheLatestDefinition) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  config::ProgramConfig second = make_program("web");
  second.startretries = 5;
  config::ProgramConfig third = make_program("web");
  third.startretries = 6;
  runtime.run(supervisor.apply_config(make_config({second}), runtime.now_).actions);
  EXPECT_TRUE(supervisor.apply_config(make_config({second}), runtime.now_).changed.empty());
  const ReloadResult result = supervisor.apply_config(make_config({third}), runtime.now_);
  EXPECT_EQ(result.changed, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(result.actions.empty());  // already stopping
  runtime.exit("web", 0);
  EXPECT_EQ(supervisor.find("web")->machine().policy().startretries, 6);
  EXPECT_EQ(state_of(supervisor, "web"), S::Starting);  // it was running at the first reload
}

TEST(Reload, IsRefusedDuringShutdown) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  const ReloadResult result = supervisor.apply_config(make_config({}), runtime.now_);
  EXPECT_FALSE(result.applied);
  EXPECT_TRUE(result.removed.empty());
  EXPECT_TRUE(result.actions.empty());
  EXPECT_NE(supervisor.find("web"), nullptr);
}

TEST(Reload, ReplacementDuringShutdownIsNotStarted) {
  Supervisor supervisor{make_config({make_program("web")})};
  FakeRuntime runtime{supervisor};
  runtime.start_all();
  config::ProgramConfig web = make_program("web");
  web.startsecs = 2s;
  runtime.run(supervisor.apply_config(make_config({web}), runtime.now_).actions);
  runtime.run(supervisor.begin_shutdown(runtime.now_));
  runtime.clear();
  runtime.exit("web", 0);
  EXPECT_EQ(names_with<AddProcess>(runtime.log_), (std::vector<std::string>{"web"}));
  EXPECT_TRUE(names_with<Spawn>(runtime.log_).empty());
  EXPECT_TRUE(supervisor.shutdown_complete());
  EXPECT_TRUE(supervisor.find("web")->machine().restarts_inhibited());
}

// ---- Definition comparison ----

TEST(EqualsDefinition, IgnoresWhereButSeesEveryKey) {
  const config::ProgramConfig base = make_program("web", 10, 2);
  config::ProgramConfig moved = base;
  moved.where = config::SourceLocation{"/elsewhere.toml", 7, 1};
  EXPECT_TRUE(base.equals_definition(moved));

  std::vector<std::function<void(config::ProgramConfig&)>> edits = {
      [](auto& p) { p.user = "www-data"; },
      [](auto& p) { p.umask = 022; },
      [](auto& p) { p.autostart = false; },
      [](auto& p) { p.autorestart = config::AutoRestart::Always; },
      [](auto& p) {
        p.exitcodes = {0, 2};
      },
      [](auto& p) { p.startsecs = 2s; },
      [](auto& p) { p.startretries = 4; },
      [](auto& p) { p.stopsignal = SIGINT; },
      [](auto& p) { p.stopwaitsecs = 11s; },
      [](auto& p) { p.stopasgroup = true; },
      [](auto& p) { p.killasgroup = true; },
      [](auto& p) { p.priority = 11; },
      [](auto& p) { p.stdout_logfile_settings.maxbytes = 1; },
      [](auto& p) { p.stderr_logfile_settings.backups = 1; },
      [](auto& p) { p.redirect_stderr = true; },
      [](auto& p) { p.rlimit_nofile = 256; },
      [](auto& p) { p.rlimit_nproc = 64; },
      [](auto& p) { p.rlimit_core = 0; },
      [](auto& p) { p.rlimit_as = RLIM_INFINITY; },
      [](auto& p) { p.processes[1].environment["A"] = "1"; },
      [](auto& p) { p.processes[0].directory = "/tmp"; },
      [](auto& p) { p.processes[0].stdout_logfile.kind = config::LogTarget::Kind::Console; },
      [](auto& p) { p = make_program("web", 10, 3); },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    config::ProgramConfig edited = base;
    edits[i](edited);
    EXPECT_FALSE(base.equals_definition(edited)) << "edit #" << i;
  }
}

}  // namespace
}  // namespace minisup::core
