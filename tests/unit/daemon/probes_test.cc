// The runtime carrying out readiness and health probes through the fakes:
// when attempts are made, how their answers reach the core, the ready
// timeout, notify sockets, log lines, status texts, and that nothing of an
// earlier run touches a newer one.
#include <signal.h>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::HasSubstr;

class Probing : public RuntimeTest {};

config::Probe tcp_probe(std::chrono::nanoseconds timeout = 5s,
                        std::chrono::nanoseconds interval = 200ms) {
  config::Probe probe;
  probe.kind = config::Probe::Kind::Tcp;
  probe.host = "127.0.0.1";
  probe.address = "127.0.0.1";
  probe.port = 5432;
  probe.timeout = timeout;
  probe.interval = interval;
  return probe;
}

config::ProgramConfig with_ready(config::ProgramConfig p, config::Probe probe) {
  p.ready = std::move(probe);
  p.startretries = 1;
  p.stopwaitsecs = 2s;
  return p;
}

TEST_F(Probing, ReadyProbeIsTriedAtOnceThenEveryIntervalUntilItSucceeds) {
  make(config_of({with_ready(program("db", 999, 1, false), tcp_probe())}));
  request(1, {{"cmd", "start"}, {"names", {"db"}}});
  ASSERT_EQ(probes.open_attempts().size(), 1u) << "the first attempt right after the spawn";
  EXPECT_EQ(probes.open_attempts()[0]->bound, 1s) << "max(interval, 1 s)";

  probes.answer(false, "connect 127.0.0.1:5432: Connection refused");
  EXPECT_EQ(state("db"), ProcessState::Starting);
  EXPECT_TRUE(probes.open_attempts().empty());
  EXPECT_THAT(status_of("db")["description"].get<std::string>(),
              HasSubstr("waiting for tcp 127.0.0.1:5432"));
  EXPECT_THAT(status_of("db")["description"].get<std::string>(), HasSubstr("Connection refused"));
  timers.advance(200ms - 1ns);
  EXPECT_TRUE(probes.open_attempts().empty());
  timers.advance(1ns);
  ASSERT_EQ(probes.open_attempts().size(), 1u);
  EXPECT_TRUE(silent(1));

  probes.answer(true);
  EXPECT_EQ(state("db"), ProcessState::Running);
  json r = reply(1);
  EXPECT_EQ(r["results"][0]["result"], "started");
  timers.advance(10s);
  EXPECT_TRUE(probes.open_attempts().empty()) << "no probing once ready";
  EXPECT_EQ(probes.attempts(), 2u);
}

TEST_F(Probing, NotReadyInTimeIsStoppedAndRetriedThenFatal) {
  make(config_of({with_ready(program("db", 999, 1, false), tcp_probe(1s, 500ms))}));
  request(1, {{"cmd", "start"}, {"names", {"db"}}});
  const int first = pid("db");
  probes.answer(false, "connect 127.0.0.1:5432: Connection refused");
  timers.advance(500ms);
  probes.answer(false, "connect 127.0.0.1:5432: Connection refused");
  timers.advance(500ms);  // the ready timeout: stop signal
  EXPECT_EQ(state("db"), ProcessState::Stopping);
  EXPECT_TRUE(probes.open_attempts().empty()) << "probing ends with the timeout";
  const auto sent = sys.signals_to(first);
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.front().signal, SIGTERM);
  kill_child(first, SIGTERM);
  EXPECT_EQ(state("db"), ProcessState::Backoff);
  EXPECT_EQ(machine("db").last_exit()->reason, core::ExitReason::NotReady);

  timers.advance(1s);  // retry 1/1
  EXPECT_EQ(state("db"), ProcessState::Starting);
  const int second = pid("db");
  EXPECT_NE(second, first);
  probes.answer(false, "connect 127.0.0.1:5432: Connection refused");
  timers.advance(500ms);
  probes.answer(false, "connect 127.0.0.1:5432: Connection refused");
  timers.advance(500ms);
  kill_child(second, SIGTERM);
  EXPECT_EQ(state("db"), ProcessState::Fatal);
  json r = reply(1);
  EXPECT_EQ(r["results"][0]["result"], "failed");
  EXPECT_THAT(r["results"][0]["message"].get<std::string>(), HasSubstr("not ready after 1.0 s"));
  EXPECT_THAT(status_of("db")["description"].get<std::string>(),
              HasSubstr("not ready after 1.0 s: connect 127.0.0.1:5432: Connection refused"));
}

TEST_F(Probing, AnAnswerAboutAnEarlierRunIsIgnored) {
  make(config_of({with_ready(program("db", 999, 1, false), tcp_probe())}));
  request(1, {{"cmd", "start"}, {"names", {"db"}}});
  auto* old_attempt = probes.open_attempts().at(0);
  auto done = old_attempt->done;
  exit_child(pid("db"), 1);  // exits before ready: BACKOFF
  EXPECT_TRUE(old_attempt->cancelled);
  timers.advance(1s);  // the retry
  ASSERT_EQ(state("db"), ProcessState::Starting);
  done(Probes::Result{true, ""});  // a late success of the first run's attempt
  EXPECT_EQ(state("db"), ProcessState::Starting);
}

TEST_F(Probing, HealthChecksEveryIntervalAndRestartsAfterFailuresInARow) {
  config::ProgramConfig web = program("web");
  config::Probe health = tcp_probe(2s, 10s);
  health.failures = 2;
  web.health = health;
  web.startsecs = 0s;
  web.stopwaitsecs = 1s;
  make_started(config_of({web}));
  ASSERT_EQ(state("web"), ProcessState::Running);
  EXPECT_TRUE(probes.open_attempts().empty()) << "the first check comes after interval";
  timers.advance(10s);
  ASSERT_EQ(probes.open_attempts().size(), 1u);
  EXPECT_EQ(probes.open_attempts()[0]->bound, 2s) << "health attempts are bounded by timeout";
  probes.answer(false, "connect: refused");
  timers.advance(10s);
  const int first = pid("web");
  probes.answer(false, "connect: refused");
  EXPECT_EQ(state("web"), ProcessState::Stopping);
  exit_child(first, 0);
  EXPECT_EQ(state("web"), ProcessState::Running) << "restarted (startsecs 0)";
  EXPECT_NE(pid("web"), first);
  EXPECT_EQ(machine("web").last_exit()->reason, core::ExitReason::Unhealthy);
}

TEST_F(Probing, NotifyReadyMakesItRunningAndStatusShowsItsStatusText) {
  config::Probe notify;
  notify.kind = config::Probe::Kind::Notify;
  make_started(config_of({with_ready(program("svc"), notify)}));
  ASSERT_EQ(sys.spawns().size(), 1u);
  const auto& env = sys.spawns()[0].plan.envp;
  auto it = std::find_if(env.begin(), env.end(),
                         [](const std::string& kv) { return kv.starts_with("NOTIFY_SOCKET="); });
  ASSERT_NE(it, env.end());
  ASSERT_EQ(probes.open_notify_ids().size(), 1u);
  const auto id = probes.open_notify_ids()[0];
  EXPECT_EQ(*it, "NOTIFY_SOCKET=@fake-notify-" + std::to_string(id));

  probes.notify(id, {false, std::string("loading")});
  EXPECT_THAT(status_of("svc")["description"].get<std::string>(), HasSubstr("status: loading"));
  probes.notify(id, {true, std::nullopt});
  EXPECT_EQ(state("svc"), ProcessState::Starting) << "reported on the next round";
  timers.advance(0s);
  EXPECT_EQ(state("svc"), ProcessState::Running);

  // The next run gets a socket of its own; the old one is closed.
  exit_child(pid("svc"), 1);
  timers.advance(0s);
  ASSERT_EQ(probes.open_notify_ids().size(), 1u);
  EXPECT_NE(probes.open_notify_ids()[0], id);
}

TEST_F(Probing, ExecProbeChildrenAreHandedToTheProbes) {
  make(config_of({program("a", 999, 1, false)}));
  probes.add_probe_pid(4242);
  sys.orphan_exit(4242, 0);
  runtime->children_exited();
  EXPECT_EQ(probes.unreaped_probe_children(), 0u) << "the reaped probe child went to the probes";
  EXPECT_EQ(state("a"), ProcessState::Stopped);
}

TEST_F(Probing, RemovedProcessReleasesItsProbes) {
  make(config_of({with_ready(program("db", 999, 1, false), tcp_probe())}));
  request(1, {{"cmd", "start"}, {"names", {"db"}}});
  ASSERT_EQ(probes.open_attempts().size(), 1u);
  runtime.reset();
  EXPECT_TRUE(probes.open_attempts().empty());
}

}  // namespace
}  // namespace minisup::daemon::testing
