// The runtime carrying out a process's life through the fakes: start,
// the spawn plan, failed spawns, stop, escalation to SIGKILL, process
// groups, crashes, backoff, FATAL, crash loops, stale deadlines, slices.
#include <signal.h>
#include <sys/resource.h>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using SignalCall = FakeSystem::SignalCall;

class Lifecycle : public RuntimeTest {};

// ---- start ----

TEST_F(Lifecycle, NothingStartsBeforeStart) {
  make(config_of({program("a"), program("b")}));
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_EQ(state("a"), ProcessState::Stopped);
  EXPECT_EQ(sys.outputs_made(), 2);
  EXPECT_EQ(sys.outputs_configured_calls(), 1);
  EXPECT_EQ(sys.last_configured_programs(), 2u);
}

TEST_F(Lifecycle, AutostartSpawnsInPriorityOrderAndSkipsTheOthers) {
  make_started(config_of({program("late", 10), program("manual", 1, 1, false), program("early", 1),
                          program("mid", 5, 2)}));
  EXPECT_THAT(sys.spawned_names(), ElementsAre("early", "mid:0", "mid:1", "late"));
  EXPECT_EQ(state("manual"), ProcessState::Stopped);
  EXPECT_EQ(state("early"), ProcessState::Starting);
  EXPECT_EQ(pid("early"), FakeSystem::kFirstPid);
}

TEST_F(Lifecycle, StartIsAnsweredOnceStartsecsHavePassed) {
  make(config_of({program("a", 999, 1, false)}));
  request(1, {{"cmd", "start"}, {"id", 7}, {"names", {"a"}}});
  ASSERT_THAT(sys.spawned_names(), ElementsAre("a"));
  EXPECT_EQ(state("a"), ProcessState::Starting);
  EXPECT_EQ(pid("a"), 1000);
  EXPECT_TRUE(runtime->holds_answer(1));

  timers.advance(1s - 1ns);
  EXPECT_TRUE(silent(1));
  EXPECT_EQ(state("a"), ProcessState::Starting);

  timers.advance(1ns);
  EXPECT_EQ(state("a"), ProcessState::Running);
  json r = reply(1);
  EXPECT_EQ(r["id"], 7);
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "result": "started", "message": ""}])"));
  EXPECT_FALSE(runtime->holds_answer(1));
}

TEST_F(Lifecycle, StartOfAStartedProcessIsAlreadyStarted) {
  make_started(config_of({program("a")}));
  json r = ask(1, {{"cmd", "start"}, {"id", "x"}, {"names", {"a"}}});
  EXPECT_EQ(r["results"],
            json::parse(R"([{"name": "a", "result": "already_started", "message": ""}])"));
  EXPECT_EQ(sys.spawns().size(), 1u);
}

TEST_F(Lifecycle, StartsecsZeroIsRunningAtOnce) {
  config::ProgramConfig a = program("a", 999, 1, false);
  a.startsecs = 0s;
  make(config_of({a}));
  json r = ask(1, {{"cmd", "start"}, {"names", {"a"}}});
  EXPECT_EQ(r["id"], nullptr);
  EXPECT_EQ(r["results"][0]["result"], "started");
  EXPECT_EQ(state("a"), ProcessState::Running);
}

TEST_F(Lifecycle, StartOfAGroupStartsEveryProcessOfIt) {
  make(config_of({program("w", 999, 3, false), program("other", 999, 1, false)}));
  request(1, {{"cmd", "start"}, {"names", {"w:*"}}});
  EXPECT_THAT(sys.spawned_names(), ElementsAre("w:0", "w:1", "w:2"));
  timers.advance(1s);
  json r = reply(1);
  ASSERT_EQ(r["results"].size(), 3u);
  EXPECT_EQ(r["results"][2], json::parse(R"({"name": "w:2", "result": "started", "message": ""})"));
}

TEST_F(Lifecycle, SpawnPlanCarriesArgvEnvironmentAndOptions) {
  config::ProgramConfig web = program("web", 999, 2, false);
  web.processes[1].command = {"/usr/bin/web", "--port", "8081"};
  web.processes[1].environment = {{"C", "proc"}, {"MINISUP_PROGRAM", "spoofed"}};
  web.processes[1].directory = "/srv/web";
  web.umask = 022;
  web.user = "nobody";
  web.stopsignal = SIGINT;
  config::Config config = config_of({web});
  config.supervisor.environment = {{"B", "sup"}, {"C", "sup"}};
  Runtime::Options options;
  options.environment = {{"A", "base"}, {"B", "base"}, {"PATH", "/bin"}};
  options.child_rlimits = {{RLIMIT_NOFILE, 1024, 4096}};
  make(std::move(config), std::move(options));

  request(1, {{"cmd", "start"}, {"names", {"web:1"}}});
  ASSERT_EQ(sys.spawns().size(), 1u);
  SpawnPlan expected;
  expected.process = "web:1";
  expected.argv = {"/usr/bin/web", "--port", "8081"};
  // minisupd's, then [supervisor]'s, then the process's, then MINISUP_*.
  expected.envp = {"A=base",
                   "B=sup",
                   "C=proc",
                   "MINISUP_PROCESS_NAME=web:1",
                   "MINISUP_PROCESS_NUM=1",
                   "MINISUP_PROGRAM=web",
                   "PATH=/bin"};
  expected.directory = "/srv/web";
  expected.umask = 022;
  expected.user = "nobody";
  expected.user_variables = {"HOME", "USER", "LOGNAME"};  // from nobody's passwd entry
  expected.death_signal = SIGINT;
  expected.rlimits = {{RLIMIT_NOFILE, 1024, 4096}};
  EXPECT_EQ(sys.spawns()[0].plan, expected);
  EXPECT_THAT(sys.spawns()[0].plan.envp, ::testing::ContainerEq(expected.envp));

  request(1, {{"cmd", "start"}, {"names", {"web:0"}}});
  ASSERT_EQ(sys.spawns().size(), 2u);
  const SpawnPlan& first = sys.spawns()[1].plan;
  EXPECT_EQ(first.argv, std::vector<std::string>{"/bin/web"});
  EXPECT_THAT(first.envp, ::testing::Contains("MINISUP_PROCESS_NUM=0"));
  EXPECT_THAT(first.envp, ::testing::Contains("MINISUP_PROCESS_NAME=web:0"));
  EXPECT_THAT(first.envp, ::testing::Contains("C=sup"));
  EXPECT_EQ(first.directory, std::nullopt);
}

// ---- failed spawns ----

TEST_F(Lifecycle, FailingSpawnBacksOffOnTheClockThenIsFatal) {
  const std::string error = "exec /bin/a: No such file or directory";
  make(config_of({program("a", 999, 1, false)}));
  sys.fail_every_spawn(error);
  request(1, {{"cmd", "start"}, {"id", 1}, {"names", {"a"}}});
  EXPECT_EQ(sys.spawns().size(), 1u);
  EXPECT_EQ(state("a"), ProcessState::Backoff);
  EXPECT_TRUE(silent(1));

  json s = status_of("a");
  EXPECT_EQ(s["state"], "BACKOFF");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(s["spawn_error"], error);
  EXPECT_EQ(s["retry"],
            json::parse(R"({"attempt": 1, "of": 3, "in_seconds": 1, "restart": false})"));
  EXPECT_EQ(s["description"], "retry 1/3 in 1.0s (" + error + ")");

  // Retries after 1 s, 2 s, 3 s; the fourth failure is one too many.
  timers.advance(1s - 1ns);
  EXPECT_EQ(sys.spawns().size(), 1u);
  timers.advance(1ns);
  EXPECT_EQ(sys.spawns().size(), 2u);
  EXPECT_EQ(status_of("a")["retry"]["attempt"], 2);
  EXPECT_EQ(status_of("a")["retry"]["in_seconds"], 2.0);
  timers.advance(2s);
  EXPECT_EQ(sys.spawns().size(), 3u);
  EXPECT_TRUE(silent(1));
  timers.advance(3s - 1ns);
  EXPECT_EQ(sys.spawns().size(), 3u);
  EXPECT_TRUE(silent(1));
  timers.advance(1ns);
  EXPECT_EQ(sys.spawns().size(), 4u);
  EXPECT_EQ(state("a"), ProcessState::Fatal);

  json r = reply(1);
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "result": "failed", "message": ")" + error +
                                      R"(; gave up after 3 retries"}])"));
  s = status_of("a");
  EXPECT_EQ(s["state"], "FATAL");
  EXPECT_EQ(s["retry"], nullptr);
  EXPECT_EQ(s["description"], error + "; gave up after 3 retries");

  // FATAL stays FATAL.
  timers.advance(1h);
  EXPECT_EQ(sys.spawns().size(), 4u);
}

TEST_F(Lifecycle, SpawnThatFailsOnceIsStartedByItsRetry) {
  make(config_of({program("a", 999, 1, false)}));
  sys.fail_next_spawn("fork: Resource temporarily unavailable");
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  EXPECT_EQ(state("a"), ProcessState::Backoff);
  timers.advance(1s);
  EXPECT_EQ(state("a"), ProcessState::Starting);
  EXPECT_EQ(pid("a"), 1000);
  EXPECT_TRUE(silent(1));
  timers.advance(1s);
  EXPECT_EQ(reply(1)["results"][0]["result"], "started");
  EXPECT_EQ(status_of("a")["spawn_error"], nullptr);
}

// ---- stop ----

TEST_F(Lifecycle, StopSendsStopSignalThenSigcontAndIsAnsweredOnTheExit) {
  make_started(config_of({program("a")}));
  timers.advance(6s);
  ASSERT_EQ(state("a"), ProcessState::Running);

  request(2, {{"cmd", "stop"}, {"id", "s"}, {"names", {"a"}}});
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGTERM, false, true},
                                         SignalCall{1000, SIGCONT, false, true}));
  EXPECT_EQ(state("a"), ProcessState::Stopping);
  EXPECT_TRUE(silent(2));

  timers.advance(2s);
  exit_child(1000, 0);
  EXPECT_EQ(state("a"), ProcessState::Stopped);
  json r = reply(2);
  EXPECT_EQ(r["id"], "s");
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "result": "stopped",
      "needed_sigkill": false, "stop_duration": 2, "exit_code": 0, "exit_signal": null,
      "expected": true, "verdict": "graceful"}])"));

  json s = status_of("a");
  EXPECT_EQ(s["state"], "STOPPED");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(s["exit_code"], 0);
  EXPECT_EQ(s["needed_sigkill"], false);
  EXPECT_EQ(s["stop_duration"], 2.0);
  EXPECT_THAT(s["description"].get<std::string>(), StartsWith("exited with status 0 after 2.0 s"));
  // Nothing restarts it, nothing else was sent.
  timers.advance(1h);
  EXPECT_EQ(sys.spawns().size(), 1u);
  EXPECT_EQ(sys.signals().size(), 2u);
}

TEST_F(Lifecycle, StopUsesTheProgramsStopsignal) {
  config::ProgramConfig a = program("a");
  a.stopsignal = SIGQUIT;
  make_started(config_of({a}));
  timers.advance(1s);
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGQUIT, false, true},
                                         SignalCall{1000, SIGCONT, false, true}));
  kill_child(1000, SIGQUIT);
  json r = reply(2);
  EXPECT_EQ(r["results"][0]["exit_signal"], SIGQUIT);
  EXPECT_EQ(r["results"][0]["exit_code"], nullptr);
}

TEST_F(Lifecycle, StopOfAStoppedProcessIsNotRunning) {
  make(config_of({program("a")}));
  json r = ask(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "result": "not_running",
      "needed_sigkill": false, "stop_duration": null, "exit_code": null, "exit_signal": null,
      "expected": null, "verdict": null}])"));
  EXPECT_TRUE(sys.signals().empty());
}

TEST_F(Lifecycle, StopOvertakingAStartAnswersTheStartFailed) {
  make(config_of({program("a", 999, 1, false)}));
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(500ms);
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_TRUE(sys.sent(1000, SIGTERM));
  kill_child(1000, SIGTERM);
  json started = reply(1);
  EXPECT_EQ(started["results"][0]["result"], "failed");
  EXPECT_EQ(started["results"][0]["message"], "killed by SIGTERM");
  EXPECT_EQ(reply(2)["results"][0]["result"], "stopped");
  // The startsecs deadline was disarmed: it never makes it RUNNING.
  timers.advance(10s);
  EXPECT_EQ(state("a"), ProcessState::Stopped);
}

TEST_F(Lifecycle, EscalatesToSigkillExactlyAtStopwaitsecs) {
  config::ProgramConfig a = program("a");
  a.stopwaitsecs = 10s;
  make_started(config_of({a}));
  timers.advance(1s);
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});

  timers.advance(10s - 1ns);
  EXPECT_FALSE(sys.sent(1000, SIGKILL));
  EXPECT_EQ(sys.signals().size(), 2u);  // SIGTERM, SIGCONT

  timers.advance(1ns);
  EXPECT_TRUE(sys.sent(1000, SIGKILL));
  EXPECT_EQ(sys.signals().back(), (SignalCall{1000, SIGKILL, false, true}));
  EXPECT_EQ(sys.signals().size(), 3u);  // no SIGCONT after SIGKILL
  EXPECT_EQ(state("a"), ProcessState::Stopping);
  EXPECT_TRUE(silent(2));

  kill_child(1000, SIGKILL);
  json r = reply(2);
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "result": "stopped",
      "needed_sigkill": true, "stop_duration": 10, "exit_code": null, "exit_signal": 9,
      "expected": false, "verdict": "killed"}])"));
  json s = status_of("a");
  EXPECT_EQ(s["needed_sigkill"], true);
  EXPECT_EQ(s["exit_signal_name"], "SIGKILL");
  EXPECT_THAT(s["description"].get<std::string>(), StartsWith("needed SIGKILL after 10.0 s"));
}

TEST_F(Lifecycle, StopwaitsecsZeroSendsSigkillWithTheStopSignal) {
  config::ProgramConfig a = program("a");
  a.stopwaitsecs = 0s;
  make_started(config_of({a}));
  timers.advance(1s);
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGTERM, false, true},
                                         SignalCall{1000, SIGCONT, false, true},
                                         SignalCall{1000, SIGKILL, false, true}));
  kill_child(1000, SIGKILL);
  EXPECT_EQ(reply(2)["results"][0]["needed_sigkill"], true);
}

TEST_F(Lifecycle, KillasgroupLingeringGroupGetsGroupSigkillAndTheOrphanEndsTheStop) {
  config::ProgramConfig a = program("a");
  a.killasgroup = true;
  a.stopwaitsecs = 10s;
  make_started(config_of({a}));
  timers.advance(1s);
  sys.set_group_members(1000, 1);  // a grandchild in the leader's group

  request(2, {{"cmd", "stop"}, {"id", 1}, {"names", {"a"}}});
  // killasgroup without stopasgroup: the stop signal goes to the leader.
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGTERM, false, true},
                                         SignalCall{1000, SIGCONT, false, true}));
  timers.advance(1s);
  exit_child(1000, 0);
  EXPECT_THAT(sys.probes(), ElementsAre(1000));
  EXPECT_EQ(state("a"), ProcessState::Stopping);
  EXPECT_EQ(pid("a"), 0);
  EXPECT_EQ(machine("a").process_group(), 1000);
  EXPECT_TRUE(machine("a").group_lingering());
  EXPECT_TRUE(silent(2));

  // Another orphan is reaped while the group still has a member: probed
  // again, still lingering.
  timers.advance(3s);
  sys.orphan_exit(7000);
  runtime->children_exited();
  EXPECT_THAT(sys.probes(), ElementsAre(1000, 1000));
  EXPECT_EQ(state("a"), ProcessState::Stopping);

  // stopwaitsecs after the stop signal: SIGKILL to the group, not before.
  timers.advance(6s - 1ns);
  EXPECT_EQ(sys.signals().size(), 2u);
  timers.advance(1ns);
  ASSERT_EQ(sys.signals().size(), 3u);
  EXPECT_EQ(sys.signals().back(), (SignalCall{1000, SIGKILL, true, true}));

  timers.advance(100ms);
  sys.set_group_members(1000, 0);
  sys.orphan_killed(5555, SIGKILL);
  runtime->children_exited();
  EXPECT_THAT(sys.probes(), ElementsAre(1000, 1000, 1000));
  EXPECT_EQ(state("a"), ProcessState::Stopped);
  EXPECT_EQ(machine("a").process_group(), 0);
  json r = reply(2);
  ASSERT_EQ(r["results"].size(), 1u);
  EXPECT_EQ(r["results"][0]["needed_sigkill"], true);
  EXPECT_EQ(r["results"][0]["exit_code"], 0);  // the leader's own exit
  EXPECT_DOUBLE_EQ(r["results"][0]["stop_duration"].get<double>(), 10.1);
  // The grace notice timer went with the stop.
  timers.advance(1h);
  EXPECT_EQ(sys.signals().size(), 3u);
  EXPECT_EQ(sys.probes().size(), 3u);
}

TEST_F(Lifecycle, StopasgroupSignalsTheGroupAndAnEmptyGroupEndsTheStopAtOnce) {
  config::ProgramConfig a = program("a");
  a.stopasgroup = true;
  make_started(config_of({a}));
  timers.advance(1s);
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGTERM, true, true},
                                         SignalCall{1000, SIGCONT, true, true}));
  timers.advance(250ms);
  exit_child(1000, 0);
  EXPECT_THAT(sys.probes(), ElementsAre(1000));
  EXPECT_EQ(state("a"), ProcessState::Stopped);
  json r = reply(2);
  EXPECT_EQ(r["results"][0]["needed_sigkill"], false);
  EXPECT_EQ(r["results"][0]["stop_duration"], 0.25);
}

TEST_F(Lifecycle, LeftoverGroupsAreKilledAtExit) {
  make_started(config_of({program("a"), program("b")}));
  timers.advance(1s);
  sys.set_group_members(1001, 2);  // b's grandchildren outlive it
  runtime->begin_shutdown("test");
  exit_child(1000, 0);
  exit_child(1001, 0);
  ASSERT_TRUE(runtime->finished());
  sys.clear_calls();
  EXPECT_EQ(runtime->kill_leftover_trees(), 1);
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1001, SIGKILL, true, true}));
}

// ---- crashes ----

TEST_F(Lifecycle, CrashesWhileStartingBackOffThenFatal) {
  make_started(config_of({program("a")}));
  timers.advance(500ms);
  exit_child(1000, 1);
  EXPECT_EQ(state("a"), ProcessState::Backoff);
  json s = status_of("a");
  EXPECT_EQ(s["exit_code"], 1);
  EXPECT_EQ(s["retry"],
            json::parse(R"({"attempt": 1, "of": 3, "in_seconds": 1, "restart": false})"));

  timers.advance(1s);
  ASSERT_EQ(pid("a"), 1001);
  exit_child(1001, 2);
  EXPECT_EQ(status_of("a")["retry"]["in_seconds"], 2.0);
  timers.advance(2s);
  ASSERT_EQ(pid("a"), 1002);
  kill_child(1002, SIGSEGV);
  EXPECT_EQ(status_of("a")["exit_signal_name"], "SIGSEGV");
  timers.advance(3s);
  ASSERT_EQ(pid("a"), 1003);
  exit_child(1003, 1);
  EXPECT_EQ(state("a"), ProcessState::Fatal);
  s = status_of("a");
  EXPECT_EQ(s["state"], "FATAL");
  EXPECT_EQ(s["exit_code"], 1);
  EXPECT_EQ(s["retry"], nullptr);
  timers.advance(1h);
  EXPECT_EQ(sys.spawns().size(), 4u);
}

TEST_F(Lifecycle, ExitFromRunningRestartsOnlyWhenUnexpected) {
  config::ProgramConfig a = program("a");  // autorestart = unexpected
  config::ProgramConfig b = program("b");
  b.autorestart = config::AutoRestart::Never;
  make_started(config_of({a, b}));
  timers.advance(20s);
  exit_child(1000, 0);  // expected: stays EXITED
  EXPECT_EQ(state("a"), ProcessState::Exited);
  json s = status_of("a");
  EXPECT_EQ(s["exit_code"], 0);
  EXPECT_THAT(s["description"].get<std::string>(), StartsWith("exited with status 0"));

  exit_child(1001, 3);  // autorestart false: stays EXITED
  EXPECT_EQ(state("b"), ProcessState::Exited);
  EXPECT_EQ(sys.spawns().size(), 2u);

  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(20s);
  exit_child(1002, 3);  // unexpected: restarted at once
  EXPECT_EQ(state("a"), ProcessState::Starting);
  EXPECT_EQ(pid("a"), 1003);
}

TEST_F(Lifecycle, CrashLoopWaitsLongerBeforeEachRestart) {
  make_started(config_of({program("a")}));
  timers.advance(1s);
  ASSERT_EQ(state("a"), ProcessState::Running);

  // The first quick exit restarts at once.
  timers.advance(2s);
  exit_child(1000, 1);
  EXPECT_EQ(state("a"), ProcessState::Starting);
  EXPECT_EQ(pid("a"), 1001);
  timers.advance(1s);
  ASSERT_EQ(state("a"), ProcessState::Running);

  // The second in a row waits 1 s, in BACKOFF.
  timers.advance(1s);
  exit_child(1001, 1);
  EXPECT_EQ(state("a"), ProcessState::Backoff);
  json s = status_of("a");
  EXPECT_EQ(s["retry"],
            json::parse(R"({"attempt": 2, "of": 0, "in_seconds": 1, "restart": true})"));
  EXPECT_THAT(s["description"].get<std::string>(), StartsWith("restart in 1.0s (2 quick exits"));
  timers.advance(1s - 1ns);
  EXPECT_EQ(sys.spawns().size(), 2u);
  timers.advance(1ns);
  EXPECT_EQ(sys.spawns().size(), 3u);
  timers.advance(1s);
  ASSERT_EQ(state("a"), ProcessState::Running);

  // The third waits 2 s.
  exit_child(1002, 1);
  EXPECT_EQ(status_of("a")["retry"]["in_seconds"], 2.0);
  timers.advance(2s - 1ns);
  EXPECT_EQ(sys.spawns().size(), 3u);
  timers.advance(1ns);
  EXPECT_EQ(sys.spawns().size(), 4u);

  // A start request during a restart delay starts at once (a new series).
  timers.advance(1s);
  exit_child(1003, 1);
  ASSERT_EQ(state("a"), ProcessState::Backoff);
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  EXPECT_EQ(sys.spawns().size(), 5u);
  timers.advance(1s);
  EXPECT_EQ(reply(1)["results"][0]["result"], "started");
}

// ---- deadlines of earlier incarnations ----

/// The id of the timer armed (now or earlier) for `at`.
Timers::TimerId timer_at(const FakeTimers& timers, Timers::TimePoint at) {
  Timers::TimerId found = 0;
  for (const auto& [id, timer] : timers.history()) {
    if (timer.at == at) found = id;
  }
  return found;
}

TEST_F(Lifecycle, StaleDeadlineOfAnEarlierIncarnationDoesNothing) {
  make_started(config_of({program("a")}));
  const Timers::TimerId first_startsecs = timer_at(timers, kT0 + 1s);
  ASSERT_NE(first_startsecs, 0u);
  timers.advance(500ms);
  exit_child(1000, 1);  // incarnation 1 ends; its startsecs is cancelled
  EXPECT_EQ(timers.history().at(first_startsecs).status, FakeTimers::Armed::Status::Cancelled);
  timers.advance(1s);  // the retry: incarnation 2, startsecs at +2.5 s
  ASSERT_EQ(pid("a"), 1001);
  ASSERT_EQ(machine("a").incarnation(), 2u);

  request(3, {{"cmd", "events"}});
  clients.take(3);
  timers.fire_late(first_startsecs);  // as if a loop delivered it late
  EXPECT_EQ(state("a"), ProcessState::Starting);
  EXPECT_TRUE(silent(3));  // no state change at all

  timers.advance_to(kT0 + 2500ms - 1ns);
  EXPECT_EQ(state("a"), ProcessState::Starting);
  timers.advance(1ns);
  EXPECT_EQ(state("a"), ProcessState::Running);
}

TEST_F(Lifecycle, StaleDeadlineLeavesTheCurrentTimerCancellable) {
  make_started(config_of({program("a")}));
  const Timers::TimerId first_startsecs = timer_at(timers, kT0 + 1s);
  timers.advance(500ms);
  exit_child(1000, 1);
  timers.advance(1s);
  const Timers::TimerId second_startsecs = timer_at(timers, kT0 + 2500ms);
  ASSERT_NE(second_startsecs, 0u);
  timers.fire_late(first_startsecs);

  // A stop disarms the current incarnation's startsecs deadline.
  request(2, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_EQ(timers.history().at(second_startsecs).status, FakeTimers::Armed::Status::Cancelled)
      << "the late timer of incarnation 1 made the runtime forget incarnation 2's timer";
  exit_child(1001, 0);
  timers.advance(1h);
  EXPECT_EQ(state("a"), ProcessState::Stopped);
}

// ---- slices ----

TEST_F(Lifecycle, ActionsBeyondTheSliceBudgetWaitForTheNextRound) {
  Runtime::Options options;
  options.slice_budget = 0ns;  // one action per round
  make_started(config_of({program("w", 999, 3)}), std::move(options));
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_EQ(timers.next_deadline(), kT0);  // the next slice, this round

  // The socket is served in between.
  json v = ask(1, {{"cmd", "version"}});
  EXPECT_EQ(v["ok"], true);

  timers.advance(0ns);
  EXPECT_THAT(sys.spawned_names(), ElementsAre("w:0", "w:1", "w:2"));
  EXPECT_EQ(timers.now(), kT0);
  timers.advance(1s);
  EXPECT_EQ(state("w:2"), ProcessState::Running);
}

}  // namespace
}  // namespace minisup::daemon::testing
