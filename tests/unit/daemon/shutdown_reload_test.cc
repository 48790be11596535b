// The runtime's multi-process work through the fakes: the ordered
// shutdown, `shutdown`, reload (`update`, `reread`, SIGHUP) touching only
// changed programs, and `restart` keeping priority order.
#include <signal.h>

#include <functional>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using SignalCall = FakeSystem::SignalCall;

class Shutdown : public RuntimeTest {};

// ---- ordered shutdown ----

TEST_F(Shutdown, HigherPriorityNumberStopsFirstAndTheNextLevelWaitsForItsExits) {
  make_started(config_of({program("a", 1), program("b", 2), program("c", 3, 2)}));
  timers.advance(1s);
  // Start order: a 1000, b 1001, c:0 1002, c:1 1003.
  ASSERT_THAT(sys.spawned_names(), ElementsAre("a", "b", "c:0", "c:1"));

  runtime->begin_shutdown("SIGTERM from pid 1");
  EXPECT_THAT(
      sys.signals(),
      ElementsAre(SignalCall{1002, SIGTERM, false, true}, SignalCall{1002, SIGCONT, false, true},
                  SignalCall{1003, SIGTERM, false, true}, SignalCall{1003, SIGCONT, false, true}));
  EXPECT_FALSE(runtime->finished());

  exit_child(1002, 0);
  EXPECT_EQ(sys.signals().size(), 4u);  // c:1 still runs: b waits
  EXPECT_EQ(state("b"), ProcessState::Running);

  exit_child(1003, 0);
  EXPECT_EQ(sys.signals().size(), 6u);
  EXPECT_TRUE(sys.sent(1001, SIGTERM));
  EXPECT_FALSE(sys.sent(1000, SIGTERM));

  // A level that needs SIGKILL holds the next one until its exit.
  timers.advance(10s);
  EXPECT_TRUE(sys.sent(1001, SIGKILL));
  EXPECT_FALSE(sys.sent(1000, SIGTERM));
  kill_child(1001, SIGKILL);
  EXPECT_TRUE(sys.sent(1000, SIGTERM));
  EXPECT_EQ(finished_calls, 0);

  exit_child(1000, 0);
  EXPECT_TRUE(runtime->finished());
  EXPECT_EQ(finished_calls, 1);
  // Nothing was restarted on the way down.
  EXPECT_EQ(sys.spawns().size(), 4u);
  timers.advance(1h);
  EXPECT_EQ(sys.spawns().size(), 4u);
  EXPECT_EQ(finished_calls, 1);
}

TEST_F(Shutdown, BackoffStopsAtOnceAndIdleProgramsAreSkipped) {
  make(config_of({program("flaky", 1, 1, false), program("web", 2), program("idle", 3, 1, false)}));
  sys.fail_next_spawn("exec /bin/flaky: Permission denied");
  request(1, {{"cmd", "start"}, {"names", {"flaky"}}});
  runtime->start();
  timers.advance(500ms);
  ASSERT_EQ(state("flaky"), ProcessState::Backoff);

  runtime->begin_shutdown("test");
  EXPECT_EQ(state("flaky"), ProcessState::Stopped);
  EXPECT_EQ(state("web"), ProcessState::Stopping);
  // The start that was waiting for the retry is answered: it failed.
  EXPECT_EQ(reply(1)["results"][0]["result"], "failed");
  exit_child(1000, 0);  // web
  EXPECT_TRUE(runtime->finished());
  EXPECT_EQ(finished_calls, 1);
  timers.advance(1h);
  EXPECT_EQ(sys.spawns().size(), 2u);  // flaky's retry never came
}

TEST_F(Shutdown, WithNothingRunningFinishesAtOnce) {
  make(config_of({program("a", 999, 1, false)}));
  runtime->begin_shutdown("test");
  EXPECT_TRUE(runtime->finished());
  EXPECT_EQ(finished_calls, 1);
  runtime->begin_shutdown("again");  // ignored
  EXPECT_EQ(finished_calls, 1);
}

TEST_F(Shutdown, ShutdownRequestIsAnsweredHeldAndRefusesLaterStarts) {
  make_started(config_of({program("a"), program("b", 999, 1, false)}));
  timers.advance(1s);
  json r = ask(5, {{"cmd", "shutdown"}, {"id", "bye"}});
  EXPECT_EQ(r, json::parse(R"({"id": "bye", "ok": true})"));
  EXPECT_TRUE(clients.held_until_exit(5));
  EXPECT_TRUE(sys.sent(1000, SIGTERM));

  json refused = ask(6, {{"cmd", "start"}, {"id", 2}, {"names", {"b"}}});
  EXPECT_EQ(refused["ok"], false);
  EXPECT_EQ(refused["error"]["code"], "shutting_down");
  json restart = ask(6, {{"cmd", "restart"}, {"names", {"a"}}});
  EXPECT_EQ(restart["error"]["code"], "shutting_down");
  EXPECT_EQ(sys.spawns().size(), 1u);

  EXPECT_EQ(finished_calls, 0);
  exit_child(1000, 0);
  EXPECT_EQ(finished_calls, 1);
  EXPECT_TRUE(silent(5));  // nothing more: the connection closes when minisupd exits
}

// ---- restart ----

class Restart : public RuntimeTest {};

TEST_F(Restart, RestartAllSpawnsNothingUntilTheRunningOnesExitedThenInPriorityOrder) {
  make_started(config_of({program("a", 1), program("b", 2), program("c", 3, 1, false)}));
  timers.advance(1s);
  sys.clear_calls();

  request(4, {{"cmd", "restart"}, {"id", "r"}, {"names", {"all"}}});
  EXPECT_TRUE(sys.sent(1000, SIGTERM));
  EXPECT_TRUE(sys.sent(1001, SIGTERM));
  EXPECT_TRUE(sys.spawns().empty());

  exit_child(1000, 0);
  EXPECT_TRUE(sys.spawns().empty()) << "c (priority 3) or a started while b was stopping";

  // b needs SIGKILL; still nothing starts before its exit.
  timers.advance(10s);
  EXPECT_TRUE(sys.sent(1001, SIGKILL));
  EXPECT_TRUE(sys.spawns().empty());
  kill_child(1001, SIGKILL);
  EXPECT_THAT(sys.spawned_names(), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(silent(4));

  timers.advance(1s);
  json r = reply(4);
  EXPECT_EQ(r["id"], "r");
  EXPECT_EQ(r["results"], json::parse(R"([
      {"name": "a", "result": "started", "message": "", "needed_sigkill": false},
      {"name": "b", "result": "started", "message": "", "needed_sigkill": true},
      {"name": "c", "result": "started", "message": "", "needed_sigkill": false}])"));
}

TEST_F(Restart, RestartOfAStoppedProcessStartsIt) {
  make(config_of({program("a", 999, 1, false)}));
  request(4, {{"cmd", "restart"}, {"names", {"a"}}});
  EXPECT_THAT(sys.spawned_names(), ElementsAre("a"));
  timers.advance(1s);
  EXPECT_EQ(reply(4)["results"][0]["result"], "started");
}

TEST_F(Restart, RestartWhoseClientLeftBeforeTheStopsEndedStartsNothing) {
  // supervisor.h: a restart forgotten before its start half is abandoned.
  make_started(config_of({program("a")}));
  timers.advance(1s);
  request(4, {{"cmd", "restart"}, {"names", {"a"}}});
  clients.disconnect(4);
  runtime->on_disconnect(4);
  EXPECT_FALSE(runtime->holds_answer(4));
  exit_child(1000, 0);
  EXPECT_EQ(sys.spawns().size(), 1u);
  EXPECT_EQ(state("a"), ProcessState::Stopped);
  EXPECT_TRUE(silent(4));
}

// ---- reload ----

std::string program_toml(const std::string& name, const std::string& command,
                         const std::string& extra = "") {
  return "[program." + name + "]\ncommand = \"" + command +
         "\"\nstdout_logfile = \"NONE\"\nstderr_logfile = \"NONE\"\n" + extra + "\n";
}

class Reload : public RuntimeTest {
 protected:
  /// Writes `text` as the config file (replacing it).
  void write_config(const std::string& text) { file_ = dir_.write("minisup.toml", text); }
  /// Writes `text` and starts a runtime with it, as minisupd would.
  void start_with(const std::string& text) {
    write_config(text);
    config::LoadResult loaded = config::load_config(file_, config::process_environment());
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors.front().to_string();
    ASSERT_TRUE(loaded.config);
    make_started(std::move(*loaded.config));
  }

  TempDir dir_;
  std::filesystem::path file_;
};

TEST_F(Reload, UpdateTouchesOnlyChangedProgramsAndAnswersOnceTheyAreDone) {
  start_with(program_toml("a", "/bin/a") + program_toml("b", "/bin/b") +
             program_toml("d", "/bin/d"));
  timers.advance(1s);
  ASSERT_THAT(sys.spawned_names(), ElementsAre("a", "b", "d"));  // 1000, 1001, 1002
  logging::ProcessOutput* a_output = sys.output("a");
  const int outputs_before = sys.outputs_made();
  sys.clear_calls();

  // b changed, c added, d removed, a as it was.
  write_config(program_toml("a", "/bin/a") + program_toml("b", "/bin/b --new") +
               program_toml("c", "/bin/c"));
  request(3, {{"cmd", "update"}, {"id", "u"}});
  EXPECT_THAT(sys.signals(),
              ::testing::UnorderedElementsAre(
                  SignalCall{1001, SIGTERM, false, true}, SignalCall{1001, SIGCONT, false, true},
                  SignalCall{1002, SIGTERM, false, true}, SignalCall{1002, SIGCONT, false, true}));
  EXPECT_THAT(sys.spawned_names(), ElementsAre("c"));  // added with autostart: at once
  EXPECT_TRUE(silent(3));
  EXPECT_TRUE(runtime->holds_answer(3));

  exit_child(1002, 0);  // d is gone
  EXPECT_EQ(runtime->supervisor().find("d"), nullptr);
  EXPECT_TRUE(silent(3));

  exit_child(1001, 0);  // b is replaced and, as it was running, started
  EXPECT_THAT(sys.spawned_names(), ElementsAre("c", "b"));
  EXPECT_EQ(sys.spawns().back().plan.argv, (std::vector<std::string>{"/bin/b", "--new"}));
  EXPECT_EQ(pid("b"), 1004);
  EXPECT_TRUE(silent(3)) << "answered while b and c were still STARTING";

  timers.advance(1s);
  json r = reply(3);
  EXPECT_EQ(r, json::parse(R"({"id": "u", "ok": true, "added": ["c"], "changed": ["b"],
                               "removed": ["d"]})"));
  // a was not touched: same pid, same output, not a single signal.
  EXPECT_EQ(pid("a"), 1000);
  EXPECT_EQ(state("a"), ProcessState::Running);
  EXPECT_TRUE(sys.signals_to(1000).empty());
  EXPECT_EQ(sys.output("a"), a_output);
  EXPECT_EQ(sys.outputs_made(), outputs_before + 2);  // c, and b's new definition
  EXPECT_EQ(ask(kPeek, {{"cmd", "status"}, {"names", {"d"}}})["error"]["code"], "no_such_program");
}

TEST_F(Reload, UpdateWithNothingChangedIsAnsweredAtOnce) {
  start_with(program_toml("a", "/bin/a"));
  timers.advance(1s);
  json r = ask(3, {{"cmd", "update"}});
  EXPECT_EQ(r["added"], json::array());
  EXPECT_EQ(r["changed"], json::array());
  EXPECT_EQ(r["removed"], json::array());
  EXPECT_TRUE(sys.signals().empty());
}

TEST_F(Reload, UpdateOfAStoppedChangedProgramDoesNotStartIt) {
  start_with(program_toml("a", "/bin/a", "autostart = false"));
  write_config(program_toml("a", "/bin/a2", "autostart = false"));
  json r = ask(3, {{"cmd", "update"}});
  EXPECT_EQ(r["changed"], json::parse(R"(["a"])"));
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_EQ(runtime->supervisor().find("a")->process_config().command,
            std::vector<std::string>{"/bin/a2"});
}

TEST_F(Reload, UpdateRestartsAProgramWhoseLimitChangedWithTheNewLimit) {
  start_with(program_toml("a", "/bin/a") + program_toml("b", "/bin/b"));
  timers.advance(1s);
  ASSERT_THAT(sys.spawned_names(), ElementsAre("a", "b"));  // 1000, 1001
  EXPECT_TRUE(sys.spawns()[0].plan.rlimits.empty());
  sys.clear_calls();

  write_config(program_toml("a", "/bin/a", "rlimit_core = 0") + program_toml("b", "/bin/b"));
  request(3, {{"cmd", "update"}, {"id", "u"}});
  EXPECT_THAT(sys.signals_to(1000), ::testing::Contains(SignalCall{1000, SIGTERM, false, true}));
  EXPECT_TRUE(sys.signals_to(1001).empty());
  exit_child(1000, 0);
  ASSERT_THAT(sys.spawned_names(), ElementsAre("a"));
  EXPECT_EQ(sys.spawns().back().plan.rlimits, (std::vector<sys::SpawnRlimit>{{RLIMIT_CORE, 0, 0}}));
  timers.advance(1s);
  EXPECT_EQ(reply(3)["changed"], json::parse(R"(["a"])"));
}

TEST_F(Reload, RereadReportsTheChangesAndAppliesNothing) {
  start_with(program_toml("a", "/bin/a") + program_toml("b", "/bin/b") +
             program_toml("d", "/bin/d"));
  timers.advance(1s);
  sys.clear_calls();
  write_config(program_toml("a", "/bin/a") + program_toml("b", "/bin/b", "priority = 5") +
               program_toml("c", "/bin/c"));
  json r = ask(3, {{"cmd", "reread"}, {"id", 9}});
  EXPECT_EQ(r, json::parse(R"({"id": 9, "ok": true, "added": ["c"], "changed": ["b"],
                               "removed": ["d"]})"));
  EXPECT_TRUE(sys.signals().empty());
  EXPECT_TRUE(sys.spawns().empty());
  EXPECT_NE(runtime->supervisor().find("d"), nullptr);
  EXPECT_EQ(runtime->supervisor().find("c"), nullptr);
}

TEST_F(Reload, RereadAndUpdateSayThatHttpChangesWaitForTheNextStart) {
  start_with(program_toml("a", "/bin/a"));
  timers.advance(1s);
  write_config("[http]\nlisten = \"127.0.0.1:9001\"\n" + program_toml("a", "/bin/a"));
  const char* note =
      "[http] changed; the HTTP listener keeps its settings until minisupd starts again";
  json r = ask(3, {{"cmd", "reread"}});
  EXPECT_EQ(r["notes"], json::array({note})) << r.dump();
  EXPECT_EQ(r["changed"], json::array());
  r = ask(3, {{"cmd", "update"}});
  EXPECT_EQ(r["notes"], json::array({note})) << r.dump();
  EXPECT_EQ(pid("a"), 1000) << "a is not touched";
  // Nothing about [http] when it is as minisupd runs with.
  write_config(program_toml("a", "/bin/a"));
  EXPECT_FALSE(ask(3, {{"cmd", "reread"}}).contains("notes"));
}

TEST_F(Reload, SubscribersHearOnceThatProcessesWereAddedOrRemoved) {
  start_with(program_toml("a", "/bin/a") + program_toml("d", "/bin/d"));
  timers.advance(1s);
  ASSERT_EQ(ask(6, {{"cmd", "events"}, {"id", "e"}})["subscribed"], true);
  auto changed_events = [&] {
    int n = 0;
    for (const json& line : clients.take(6)) n += line["event"] == "processes_changed";
    return n;
  };
  // c added (numprocs 3), d removed: told once c is set up and once d is gone.
  write_config(program_toml("a", "/bin/a") + program_toml("c", "/bin/c", "numprocs = 3"));
  request(3, {{"cmd", "update"}});
  EXPECT_EQ(changed_events(), 1) << "three processes added: one event";
  exit_child(1001, 0);  // d stops and goes
  EXPECT_EQ(runtime->supervisor().find("d"), nullptr);
  EXPECT_EQ(changed_events(), 1);
  // A state change alone says nothing of the kind.
  exit_child(1000, 1);
  EXPECT_EQ(changed_events(), 0);
}

TEST_F(Reload, InvalidConfigChangesNothing) {
  start_with(program_toml("a", "/bin/a"));
  timers.advance(1s);
  write_config("[program.a]\ncommand = \"/bin/a\"\nstartsecs = \"soon\"\n[program.b]\n");
  for (const char* cmd : {"update", "reread"}) {
    json r = ask(3, {{"cmd", cmd}, {"id", cmd}});
    EXPECT_EQ(r["ok"], false);
    EXPECT_EQ(r["error"]["code"], "invalid_config");
    EXPECT_THAT(r["error"]["message"].get<std::string>(),
                HasSubstr("error(s) in the config; nothing changed"));
    ASSERT_TRUE(r["errors"].is_array());
    EXPECT_EQ(r["errors"].size(), 2u) << r.dump();
  }
  EXPECT_TRUE(sys.signals().empty());
  EXPECT_EQ(state("a"), ProcessState::Running);
}

TEST_F(Reload, UpdateDuringShutdownIsRefused) {
  start_with(program_toml("a", "/bin/a"));
  timers.advance(1s);
  runtime->begin_shutdown("test");
  write_config(program_toml("a", "/bin/a") + program_toml("c", "/bin/c"));
  json r = ask(3, {{"cmd", "update"}});
  EXPECT_EQ(r["error"]["code"], "shutting_down");
  EXPECT_EQ(runtime->supervisor().find("c"), nullptr);
}

TEST_F(Reload, TailFollowerOfARemovedProgramIsClosedAfterFlush) {
  const std::string log = (dir_.path() / "a.log").string();
  start_with("[program.a]\ncommand = \"/bin/a\"\nstdout_logfile = \"" + log +
             "\"\nstderr_logfile = \"NONE\"\n" + program_toml("b", "/bin/b"));
  timers.advance(1s);
  ASSERT_EQ(pid("a"), 1000);
  EXPECT_EQ(ask(2, {{"cmd", "tail"}, {"name", "a"}, {"follow", true}})["data"], "");
  write_config(program_toml("b", "/bin/b"));
  request(3, {{"cmd", "update"}});
  EXPECT_FALSE(clients.closed_after_flush(2));
  exit_child(1000, 0);
  EXPECT_TRUE(clients.closed_after_flush(2));
  EXPECT_EQ(reply(3)["removed"], json::parse(R"(["a"])"));
  EXPECT_TRUE(silent(2));
}

TEST_F(Reload, SighupReloadsOnTheNextRoundAndFoldsTheOnesBeforeIt) {
  start_with(program_toml("a", "/bin/a") + program_toml("b", "/bin/b"));
  timers.advance(1s);
  ASSERT_EQ(sys.outputs_configured_calls(), 1);
  write_config(program_toml("a", "/bin/a") + program_toml("b", "/bin/b -v"));
  sys.clear_calls();

  runtime->request_reload("SIGHUP");
  runtime->request_reload("SIGHUP");
  runtime->request_reload("SIGHUP");
  EXPECT_TRUE(sys.signals().empty()) << "reloaded before the next round";
  EXPECT_EQ(sys.outputs_configured_calls(), 1);

  timers.advance(0ns);
  EXPECT_EQ(sys.outputs_configured_calls(), 2) << "one reload for three SIGHUPs";
  EXPECT_THAT(sys.signals(), ElementsAre(SignalCall{1001, SIGTERM, false, true},
                                         SignalCall{1001, SIGCONT, false, true}));
  exit_child(1001, 0);
  EXPECT_EQ(sys.spawns().back().plan.argv, (std::vector<std::string>{"/bin/b", "-v"}));
  timers.advance(1h);
  EXPECT_EQ(sys.outputs_configured_calls(), 2);

  // A SIGHUP after it is a reload of its own.
  runtime->request_reload("SIGHUP");
  timers.advance(0ns);
  EXPECT_EQ(sys.outputs_configured_calls(), 3);
}

// ---- [http] in a reload ----

TEST(HttpChangeNote, OnlyWhatTheListenerDoesCounts) {
  config::HttpConfig running;
  running.listen = "127.0.0.1:9001";
  running.token = "t0k";
  running.hosts = {"box.example"};
  running.where = {"m.toml", 1, 1};
  config::HttpConfig loaded = running;
  loaded.where = {"m.toml", 40, 1};  // [http] moved further down the file
  EXPECT_EQ(http_change_note(running, loaded), std::nullopt);
  EXPECT_EQ(http_change_note(std::nullopt, std::nullopt), std::nullopt);
  const std::string note =
      "[http] changed; the HTTP listener keeps its settings until minisupd starts again";
  for (auto change : std::vector<std::function<void(config::HttpConfig&)>>{
           [](auto& h) { h.listen = "127.0.0.1:9002"; }, [](auto& h) { h.token = "other"; },
           [](auto& h) { h.username = "ops"; },
           [](auto& h) { h.password_sha256 = std::string(64, 'a'); },
           [](auto& h) { h.read_only = true; },
           [](auto& h) { h.hosts.push_back("other.example"); }}) {
    config::HttpConfig changed = running;
    change(changed);
    EXPECT_EQ(http_change_note(running, changed), note);
  }
  EXPECT_EQ(http_change_note(running, std::nullopt), note);
  EXPECT_EQ(http_change_note(std::nullopt, running), note);
}

}  // namespace
}  // namespace minisup::daemon::testing
