// The runtime answering requests through the fakes: wait (timeout,
// success, unexpected state), clients that leave while waiting, signal,
// pid, status, tail, clear, events, version, bad lines, unknown names.
#include <signal.h>
#include <sys/stat.h>

#include <ctime>

#include "supervisor/control/protocol.h"
#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using SignalCall = FakeSystem::SignalCall;

/// `a` with a long startsecs, not started: STARTING lasts 10 s.
config::ProgramConfig slow(const std::string& name) {
  config::ProgramConfig p = program(name, 999, 1, false);
  p.startsecs = 10s;
  return p;
}

// ---- wait ----

class Wait : public RuntimeTest {};

TEST_F(Wait, AllMeansTheAutostartProcesses) {
  config::ProgramConfig on = slow("on");
  on.autostart = true;
  make_started(config_of({on, slow("off")}));
  // `off` does not autostart: `wait all` does not wait for it.
  request(1, {{"cmd", "wait"}, {"id", 1}, {"names", {"all"}}, {"timeout", 20}});
  timers.advance(10s);
  EXPECT_EQ(reply(1), json::parse(R"({"id": 1, "ok": true,
      "results": [{"name": "on", "state": "RUNNING"}]})"));
  // Named next to all, it counts.
  request(2, {{"cmd", "wait"}, {"id", 2}, {"names", {"all", "off"}}, {"timeout", 1}});
  EXPECT_EQ(reply(2)["error"]["code"], "unexpected_state");
}

TEST_F(Wait, TimesOutWithTheCurrentStatesWhenTheClockPassesIt) {
  make(config_of({slow("a")}));
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  request(2, {{"cmd", "wait"}, {"id", "w"}, {"names", {"a"}}, {"timeout", 2.5}});
  EXPECT_TRUE(runtime->holds_answer(2));

  timers.advance(2500ms - 1ns);
  EXPECT_TRUE(silent(2));
  timers.advance(1ns);
  json r = reply(2);
  EXPECT_EQ(r, json::parse(R"({"id": "w", "ok": false,
      "error": {"code": "timeout", "message": "timed out before every process was RUNNING"},
      "results": [{"name": "a", "state": "STARTING"}]})"));
  EXPECT_FALSE(runtime->holds_answer(2));

  // Reaching the state later answers nobody.
  timers.advance(10s);
  EXPECT_EQ(state("a"), ProcessState::Running);
  EXPECT_TRUE(silent(2));
}

TEST_F(Wait, SucceedsWhenTheStateIsReachedAndItsTimeoutIsDisarmed) {
  make(config_of({slow("a"), slow("b")}));
  request(1, {{"cmd", "start"}, {"names", {"a", "b"}}});
  request(
      2,
      {{"cmd", "wait"}, {"id", 3}, {"names", {"a", "b"}}, {"state", "running"}, {"timeout", 20}});
  timers.advance(10s - 1ns);
  EXPECT_TRUE(silent(2));
  timers.advance(1ns);
  EXPECT_EQ(reply(2), json::parse(R"({"id": 3, "ok": true,
      "results": [{"name": "a", "state": "RUNNING"}, {"name": "b", "state": "RUNNING"}]})"));
  timers.advance(1h);
  EXPECT_TRUE(silent(2));
}

TEST_F(Wait, ThatAlreadyHoldsIsAnsweredAtOnce) {
  make(config_of({program("a", 999, 1, false)}));
  json r = ask(2, {{"cmd", "wait"}, {"names", {"a"}}, {"state", "STOPPED"}, {"timeout", 1}});
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "state": "STOPPED"}])"));
  EXPECT_FALSE(runtime->holds_answer(2));
  timers.advance(1h);
  EXPECT_TRUE(silent(2));
}

TEST_F(Wait, ForStoppedIsAnsweredWhenTheStopEnds) {
  make_started(config_of({program("a")}));
  timers.advance(1s);
  request(1, {{"cmd", "stop"}, {"names", {"a"}}});
  request(2, {{"cmd", "wait"}, {"names", {"a"}}, {"state", "stopped"}});
  EXPECT_TRUE(silent(2));
  exit_child(1000, 0);
  EXPECT_EQ(reply(2)["results"], json::parse(R"([{"name": "a", "state": "STOPPED"}])"));
}

TEST_F(Wait, FatalIsAnUnexpectedState) {
  make(config_of({program("a", 999, 1, false)}));
  sys.fail_every_spawn("exec /bin/a: No such file or directory");
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  request(2, {{"cmd", "wait"}, {"id", "w"}, {"names", {"a"}}});
  timers.advance(5s);
  EXPECT_TRUE(silent(2));  // BACKOFF may still get there
  timers.advance(1s);
  ASSERT_EQ(state("a"), ProcessState::Fatal);
  json r = reply(2);
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"]["code"], "unexpected_state");
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "state": "FATAL"}])"));
}

TEST_F(Wait, ForRunningOfAStoppedProcessIsUnexpectedAtOnce) {
  make(config_of({program("a", 999, 1, false)}));
  json r = ask(2, {{"cmd", "wait"}, {"names", {"a"}}});
  EXPECT_EQ(r["error"]["code"], "unexpected_state");
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "state": "STOPPED"}])"));
}

TEST_F(Wait, FatalIsUnexpectedWhateverTheTarget) {
  make(config_of({program("a", 999, 1, false)}));
  sys.fail_every_spawn("nope");
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(10s);
  ASSERT_EQ(state("a"), ProcessState::Fatal);
  json r = ask(2, {{"cmd", "wait"}, {"names", {"a"}}, {"state", "EXITED"}});
  EXPECT_EQ(r["error"]["code"], "unexpected_state");
  EXPECT_EQ(r["results"], json::parse(R"([{"name": "a", "state": "FATAL"}])"));
}

TEST_F(Wait, WithoutTimeoutWaitsForEver) {
  make(config_of({slow("b")}));
  request(1, {{"cmd", "start"}, {"names", {"b"}}});
  request(3, {{"cmd", "wait"}, {"names", {"b"}}, {"state", "EXITED"}, {"timeout", nullptr}});
  timers.advance(1h);
  EXPECT_EQ(state("b"), ProcessState::Running);
  EXPECT_TRUE(silent(3));
  EXPECT_TRUE(runtime->holds_answer(3));
  exit_child(1000, 0);  // expected: EXITED, not restarted
  EXPECT_EQ(reply(3)["results"], json::parse(R"([{"name": "b", "state": "EXITED"}])"));
}

TEST_F(Wait, UnknownStateIsABadRequest) {
  make(config_of({program("a")}));
  json r = ask(2, {{"cmd", "wait"}, {"names", {"a"}}, {"state", "SLEEPING"}});
  EXPECT_EQ(r["error"]["code"], "bad_request");
  r = ask(2, {{"cmd", "wait"}, {"names", {"a"}}, {"timeout", -1}});
  EXPECT_EQ(r["error"]["code"], "bad_request");
}

// ---- clients that leave ----

class Leaving : public RuntimeTest {};

TEST_F(Leaving, ClientThatDisconnectsWhileWaitingGetsNoReplyAndIsDropped) {
  make(config_of({slow("a")}));
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  request(4, {{"cmd", "wait"}, {"names", {"a"}}, {"timeout", 5}});
  request(4, {{"cmd", "stop"}, {"names", {"a"}}});  // pipelined; waits too
  EXPECT_TRUE(runtime->holds_answer(4));
  EXPECT_TRUE(runtime->holds_answer(1));

  clients.disconnect(4);
  runtime->on_disconnect(4);
  EXPECT_FALSE(runtime->holds_answer(4));
  EXPECT_TRUE(runtime->holds_answer(1));

  timers.advance(1h);  // the wait's timeout passes
  exit_child(1000, 0);
  EXPECT_TRUE(silent(4));
  EXPECT_EQ(reply(1)["results"][0]["result"], "failed");  // the stop overtook it
}

TEST_F(Leaving, WaiterOfAClientGoneUnnoticedIsDroppedAtTheNextSettle) {
  make(config_of({slow("a")}));
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  request(4, {{"cmd", "wait"}, {"names", {"a"}}});
  clients.disconnect(4);  // on_disconnect not called (yet)
  timers.advance(10s);
  EXPECT_EQ(state("a"), ProcessState::Running);
  EXPECT_TRUE(silent(4));
  EXPECT_FALSE(runtime->holds_answer(4));
  EXPECT_EQ(reply(1)["results"][0]["result"], "started");
}

// ---- signal ----

class SignalRequest : public RuntimeTest {};

TEST_F(SignalRequest, GoesToTheLivePidAndNotRunningOtherwise) {
  make_started(config_of({program("a"), program("b", 999, 1, false)}));
  timers.advance(1s);
  json r = ask(1, {{"cmd", "signal"}, {"id", 1}, {"signal", "HUP"}, {"names", {"a", "b"}}});
  EXPECT_EQ(r, json::parse(R"({"id": 1, "ok": true, "results": [
      {"name": "a", "result": "signalled"}, {"name": "b", "result": "not_running"}]})"));
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1000, SIGHUP, false, true}));

  r = ask(1, {{"cmd", "signal"}, {"signal", 10}, {"names", {"all"}}});
  EXPECT_EQ(r["results"][0]["result"], "signalled");
  EXPECT_EQ(sys.signals().back(), (SignalCall{1000, SIGUSR1, false, true}));
  EXPECT_EQ(state("a"), ProcessState::Running);  // a signal is not a stop

  // Once a has exited, it is not running either.
  exit_child(1000, 0);
  sys.clear_calls();
  r = ask(1, {{"cmd", "signal"}, {"signal", "SIGTERM"}, {"names", {"a"}}});
  EXPECT_EQ(r["results"][0]["result"], "not_running");
  EXPECT_TRUE(sys.signals().empty());
}

TEST_F(SignalRequest, UnknownSignalIsBadSignal) {
  make(config_of({program("a")}));
  json r = ask(1, {{"cmd", "signal"}, {"id", 2}, {"signal", "NOPE"}, {"names", {"a"}}});
  EXPECT_EQ(r["id"], 2);
  EXPECT_EQ(r["error"]["code"], "bad_signal");
  EXPECT_TRUE(sys.signals().empty());
}

// ---- pid ----

class PidRequest : public RuntimeTest {};

TEST_F(PidRequest, MinisupdsOwnOrAProcesss) {
  Runtime::Options options;
  options.pid = 4321;
  make_started(config_of({program("a"), program("b", 999, 1, false), program("w", 999, 2, false)}),
               std::move(options));
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"id", 1}}),
            json::parse(R"({"id": 1, "ok": true, "pid": 4321})"));
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"name", nullptr}})["pid"], 4321);
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"name", "a"}})["pid"], 1000);
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"name", "b"}})["pid"], 0);
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"name", "w:1"}})["pid"], 0);
  json several = ask(1, {{"cmd", "pid"}, {"name", "w"}});
  EXPECT_EQ(several["error"]["code"], "bad_request");
  EXPECT_EQ(several["error"]["message"], "w names several processes; name one (w:0)");
  EXPECT_EQ(ask(1, {{"cmd", "pid"}, {"name", "nope"}})["error"]["code"], "no_such_program");
}

// ---- status ----

class Status : public RuntimeTest {};

TEST_F(Status, EveryProcessInStartOrderWithEveryKey) {
  make_started(config_of({program("w", 999, 2, false), program("a", 5)}));
  timers.advance(5s);
  json r = ask(1, {{"cmd", "status"}, {"id", "st"}});
  EXPECT_EQ(r["id"], "st");
  ASSERT_EQ(r["processes"].size(), 3u);
  const std::vector<std::string> keys = {"name",          "group",         "state",
                                         "pid",           "uptime",        "started_at",
                                         "exit_code",     "exit_signal",   "exit_signal_name",
                                         "core_dumped",   "exited_at",     "needed_sigkill",
                                         "stop_duration", "description",   "spawn_error",
                                         "retry",         "dropped_bytes", "exit_reason",
                                         "old",           "restarts",      "ready"};
  for (const json& p : r["processes"]) {
    for (const auto& key : keys) EXPECT_TRUE(p.contains(key)) << key << " missing in " << p.dump();
  }
  const json& a = r["processes"][0];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["group"], "a");
  EXPECT_EQ(a["state"], "RUNNING");
  EXPECT_EQ(a["pid"], 1000);
  EXPECT_EQ(a["uptime"], 5.0);
  EXPECT_EQ(a["description"], "pid 1000, uptime 0:00:05");
  EXPECT_EQ(a["exit_code"], nullptr);
  EXPECT_EQ(a["exited_at"], nullptr);
  EXPECT_EQ(a["retry"], nullptr);
  EXPECT_EQ(a["dropped_bytes"], 0);
  EXPECT_EQ(a["restarts"], 0);
  EXPECT_EQ(a["ready"], true);
  EXPECT_EQ(r["processes"][1]["ready"], false);  // w:0, not started
  // started_at is wall-clock time (Unix seconds): about now.
  EXPECT_NEAR(a["started_at"].get<double>(), static_cast<double>(std::time(nullptr)), 60.0);

  const json& w1 = r["processes"][2];
  EXPECT_EQ(w1["name"], "w:1");
  EXPECT_EQ(w1["group"], "w");
  EXPECT_EQ(w1["state"], "STOPPED");
  EXPECT_EQ(w1["pid"], 0);
  EXPECT_EQ(w1["uptime"], nullptr);
  EXPECT_EQ(w1["started_at"], nullptr);
  EXPECT_EQ(w1["description"], "Not started");

  // By program, by process.
  r = ask(1, {{"cmd", "status"}, {"names", {"w"}}});
  ASSERT_EQ(r["processes"].size(), 2u);
  EXPECT_EQ(r["processes"][1]["name"], "w:1");
  r = ask(1, {{"cmd", "status"}, {"names", {"w:0", "a"}}});
  ASSERT_EQ(r["processes"].size(), 2u);
  EXPECT_EQ(r["processes"][0]["name"], "a");  // start order, not request order
}

TEST_F(Status, ExitFieldsAfterACrashWithACoreDump) {
  config::ProgramConfig a = program("a");
  a.autorestart = config::AutoRestart::Never;
  make_started(config_of({a}));
  timers.advance(20s);
  sys.kill(1000, SIGSEGV, /*core_dumped=*/true);
  runtime->children_exited();
  json s = status_of("a");
  EXPECT_EQ(s["state"], "EXITED");
  EXPECT_EQ(s["pid"], 0);
  EXPECT_EQ(s["exit_code"], nullptr);
  EXPECT_EQ(s["exit_signal"], SIGSEGV);
  EXPECT_EQ(s["exit_signal_name"], "SIGSEGV");
  EXPECT_EQ(s["core_dumped"], true);
  EXPECT_EQ(s["needed_sigkill"], nullptr);  // not a stop
  EXPECT_EQ(s["stop_duration"], nullptr);
  // exited_at - started_at is the 20 s it ran.
  EXPECT_NEAR(s["exited_at"].get<double>() - s["started_at"].get<double>(), 20.0, 1e-6);
  EXPECT_THAT(s["description"].get<std::string>(), StartsWith("killed by SIGSEGV (core dumped)"));
}

// ---- tail and clear ----

class Logs : public RuntimeTest {
 protected:
  /// `name` writing stdout to `dir_/name.log`, stderr discarded.
  config::ProgramConfig logged(const std::string& name) {
    config::ProgramConfig p = program(name, 999, 1, false);
    p.processes[0].stdout_logfile = {config::LogTarget::Kind::File,
                                     (dir_.path() / (name + ".log")).string()};
    return p;
  }
  TempDir dir_;
};

TEST_F(Logs, TailReadsTheLastLinesOfTheLogFile) {
  make(config_of({logged("a"), logged("b"), program("w", 999, 2)}));
  dir_.write("a.log", "one\ntwo\nthree\n");
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"id", 1}, {"name", "a"}, {"lines", 2}}),
            json::parse(R"({"id": 1, "ok": true, "data": "two\nthree\n"})"));
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "a"}})["data"], "one\ntwo\nthree\n");
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "a"}, {"lines", 0}})["data"], "");
  // No output yet: no file, no error.
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "b"}})["data"], "");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "b.log"));

  json r = ask(1, {{"cmd", "tail"}, {"name", "a"}, {"stream", "stderr"}});
  EXPECT_EQ(r["error"]["code"], "no_log_file");
  EXPECT_EQ(r["error"]["message"], "a: stderr is not kept (NONE); tail -f shows what it writes");
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "w"}})["error"]["code"], "bad_request");
  EXPECT_FALSE(runtime->holds_answer(1));
}

TEST_F(Logs, TailFollowStreamsWhatTheSinkIsGivenUntilTheClientLeaves) {
  make(config_of({logged("a")}));
  dir_.write("a.log", "one\ntwo\n");
  json first =
      ask(2, {{"cmd", "tail"}, {"id", "f"}, {"name", "a"}, {"lines", 1}, {"follow", true}});
  EXPECT_EQ(first["data"], "two\n");
  EXPECT_TRUE(runtime->holds_answer(2));

  ASSERT_NE(sys.output("a"), nullptr);
  sys.output("a")->sink(logging::StreamKind::Stdout)->write("three\n");
  EXPECT_EQ(reply(2), json::parse(R"({"id": "f", "ok": true, "data": "three\n"})"));
  EXPECT_EQ(dir_.read("a.log"), "one\ntwo\nthree\n");

  runtime->on_disconnect(2);
  EXPECT_FALSE(runtime->holds_answer(2));
  sys.output("a")->sink(logging::StreamKind::Stdout)->write("four\n");
  EXPECT_TRUE(silent(2));
}

TEST_F(Logs, TailFollowOfADiscardedStreamIsAllowed) {
  make(config_of({program("a")}));
  json first = ask(2, {{"cmd", "tail"}, {"name", "a"}, {"follow", true}});
  EXPECT_EQ(first["data"], "");
  EXPECT_TRUE(runtime->holds_answer(2));
}

TEST_F(Logs, ClearTruncatesTheLogFile) {
  make(config_of({logged("a"), program("quiet")}));
  dir_.write("a.log", "one\ntwo\n");
  json r = ask(1, {{"cmd", "clear"}, {"id", 5}, {"names", {"a"}}});
  EXPECT_EQ(
      r, json::parse(R"({"id": 5, "ok": true, "results": [{"name": "a", "result": "cleared"}]})"));
  EXPECT_EQ(dir_.read("a.log"), "");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "a.log"));
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "a"}})["data"], "");
}

TEST_F(Logs, ClearThatFailsIsAnInternalError) {
  config::ProgramConfig bad = logged("bad");
  std::filesystem::create_directory(dir_.path() / "bad.log");  // not a file
  make(config_of({bad}));
  json r = ask(1, {{"cmd", "clear"}, {"names", {"bad"}}});
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"]["code"], "internal");
  EXPECT_THAT(r["error"]["message"].get<std::string>(), StartsWith("bad: "));
}

// ---- events ----

class Events : public RuntimeTest {};

TEST_F(Events, SubscriberReceivesEveryStateChange) {
  config::ProgramConfig a = program("a", 999, 1, false);
  a.autorestart = config::AutoRestart::Never;
  make(config_of({a}));
  json sub = ask(6, {{"cmd", "events"}, {"id", "e"}});
  EXPECT_EQ(sub, json::parse(R"({"id": "e", "ok": true, "subscribed": true, "seq": 0})"));
  EXPECT_TRUE(runtime->holds_answer(6));

  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(1s);
  exit_child(1000, 3);
  std::vector<json> events = clients.take(6);
  ASSERT_EQ(events.size(), 3u) << json(events).dump();
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["id"], "e");
    EXPECT_EQ(events[i]["ok"], true);
    EXPECT_EQ(events[i]["event"], "state");
    EXPECT_EQ(events[i]["seq"], i + 1);
    EXPECT_EQ(events[i]["process"], "a");
    EXPECT_EQ(events[i]["group"], "a");
    EXPECT_TRUE(events[i]["time"].is_number());
  }
  EXPECT_EQ(events[0]["from"], "STOPPED");
  EXPECT_EQ(events[0]["to"], "STARTING");
  EXPECT_EQ(events[0]["reason"], "start requested");
  EXPECT_EQ(events[1]["from"], "STARTING");
  EXPECT_EQ(events[1]["to"], "RUNNING");
  EXPECT_EQ(events[1]["pid"], 1000);
  EXPECT_EQ(events[1]["exit_code"], nullptr);
  EXPECT_EQ(events[2]["from"], "RUNNING");
  EXPECT_EQ(events[2]["to"], "EXITED");
  EXPECT_EQ(events[2]["pid"], 1000);  // the child that exited
  EXPECT_EQ(events[2]["exit_code"], 3);
  EXPECT_EQ(events[2]["exit_signal"], nullptr);
  EXPECT_EQ(events[2]["reason"], "exited with status 3 (not expected)");
}

TEST_F(Events, ReplayAfterSinceAndNothingAfterLeaving) {
  make(config_of({program("a", 999, 1, false)}));
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(1s);  // events 1, 2
  request(7, {{"cmd", "events"}, {"id", 7}, {"since", 1}});
  std::vector<json> lines = clients.take(7);
  ASSERT_EQ(lines.size(), 2u) << json(lines).dump();
  EXPECT_EQ(lines[0]["subscribed"], true);
  EXPECT_EQ(lines[0]["seq"], 2);
  EXPECT_EQ(lines[1]["seq"], 2);
  EXPECT_EQ(lines[1]["to"], "RUNNING");

  runtime->on_disconnect(7);
  EXPECT_FALSE(runtime->holds_answer(7));
  request(1, {{"cmd", "stop"}, {"names", {"a"}}});
  EXPECT_TRUE(silent(7));
}

// ---- version, bad lines, unknown names ----

class Misc : public RuntimeTest {};

TEST_F(Misc, Version) {
  make(config_of({program("a")}));
  json r = ask(1, {{"cmd", "version"}, {"id", 1}});
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["version"], std::string(control::kMinisupVersion));
  EXPECT_EQ(r["protocol"], control::kProtocolVersion);
}

TEST_F(Misc, BadRequestLinesAreAnsweredAndTheDaemonGoesOn) {
  make(config_of({program("a", 999, 1, false)}));
  runtime->on_request(1, 1000, 1, "this is not json");
  json r = reply(1);
  EXPECT_EQ(r["id"], nullptr);
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"]["code"], "bad_json");

  runtime->on_request(1, 1000, 1, "[1, 2]");
  EXPECT_EQ(reply(1)["error"]["code"], "bad_request");
  r = ask(1, {{"cmd", "fly"}, {"id", 3}});
  EXPECT_EQ(r["id"], 3);
  EXPECT_EQ(r["error"]["code"], "unknown_command");
  EXPECT_EQ(ask(1, {{"cmd", "start"}, {"id", 4}})["error"]["code"], "bad_request");
  EXPECT_EQ(ask(1, {{"cmd", "start"}, {"names", json::array()}})["error"]["code"], "bad_request");
  EXPECT_EQ(ask(1, {{"cmd", "tail"}, {"name", "a"}, {"lines", -1}})["error"]["code"],
            "bad_request");
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_FALSE(runtime->holds_answer(1));

  EXPECT_EQ(ask(1, {{"cmd", "version"}})["ok"], true);
  request(1, {{"cmd", "start"}, {"names", {"a"}}});
  timers.advance(1s);
  EXPECT_EQ(reply(1)["results"][0]["result"], "started");
}

TEST_F(Misc, UnknownNameIsNoSuchProgramForEveryCommandAndNothingIsDone) {
  make_started(config_of({program("a")}));
  timers.advance(1s);
  sys.clear_calls();
  const std::vector<json> requests = {
      {{"cmd", "status"}, {"names", {"a", "nope"}}},
      {{"cmd", "start"}, {"names", {"a", "nope"}}},
      {{"cmd", "stop"}, {"names", {"a", "nope"}}},
      {{"cmd", "restart"}, {"names", {"a", "nope"}}},
      {{"cmd", "signal"}, {"signal", "TERM"}, {"names", {"a", "nope"}}},
      {{"cmd", "clear"}, {"names", {"a", "nope"}}},
      {{"cmd", "wait"}, {"names", {"a", "nope"}}},
      {{"cmd", "tail"}, {"name", "nope"}},
      {{"cmd", "pid"}, {"name", "nope"}},
  };
  for (json req : requests) {
    req["id"] = req["cmd"];
    json r = ask(1, req);
    EXPECT_EQ(r, json::parse(R"({"id": )" + req["cmd"].dump() + R"(, "ok": false,
        "error": {"code": "no_such_program", "message": "no such process: nope"},
        "names": ["nope"]})"))
        << req.dump();
  }
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_TRUE(sys.signals().empty());
  EXPECT_EQ(state("a"), ProcessState::Running);
  EXPECT_FALSE(runtime->holds_answer(1));
}

}  // namespace
}  // namespace minisup::daemon::testing
