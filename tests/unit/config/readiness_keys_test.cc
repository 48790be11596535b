// The keys of DESIGN.md "Readiness, dependencies and harness mode":
// `ready`, `health`, `depends_on`, `shutdown_on` (programs),
// `shutdown_timeout` ([supervisor]) and the stderr console default: their
// defaults, valid forms, and each invalid form with its exact
// file:line:col message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using Ready = ConfigTest;
using Health = ConfigTest;
using DependsOn = ConfigTest;
using ShutdownOnKey = ConfigTest;
using ShutdownTimeout = ConfigTest;
using StderrDefault = ConfigTest;

TEST_F(Ready, DefaultsToNoProbesNoDependenciesNoShutdown) {
  const Config c = load_ok(web(""));
  const ProgramConfig& p = c.programs.at(0);
  EXPECT_EQ(p.ready, std::nullopt);
  EXPECT_EQ(p.health, std::nullopt);
  EXPECT_TRUE(p.depends_on.empty());
  EXPECT_EQ(p.shutdown_on, ShutdownOn::None);
  EXPECT_FALSE(p.job);
  EXPECT_TRUE(p.processes.at(0).ready_exec.empty());
  EXPECT_EQ(c.supervisor.shutdown_timeout, std::nullopt);
}

// ---- ready ----

TEST_F(Ready, TcpWithDefaults) {
  const Config c = load_ok(web("ready = { tcp = \"127.0.0.1:5432\" }"));
  const Probe& probe = c.programs.at(0).ready.value();
  EXPECT_EQ(probe.kind, Probe::Kind::Tcp);
  EXPECT_EQ(probe.host, "127.0.0.1");
  EXPECT_EQ(probe.address, "127.0.0.1");
  EXPECT_EQ(probe.port, 5432);
  EXPECT_EQ(probe.timeout, 60s);
  EXPECT_EQ(probe.interval, 200ms);
}

TEST_F(Ready, TcpIpv6AndNamesResolveAtLoad) {
  const Probe v6 = load_ok(web("ready = { tcp = \"[::1]:8080\" }")).programs.at(0).ready.value();
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.address, "::1");
  EXPECT_EQ(v6.port, 8080);
  const Probe named =
      load_ok(web("ready = { tcp = \"localhost:80\" }")).programs.at(0).ready.value();
  EXPECT_EQ(named.host, "localhost");
  EXPECT_TRUE(named.address == "127.0.0.1" || named.address == "::1") << named.address;
}

TEST_F(Ready, TimeoutAndIntervalTakeFractions) {
  const Probe probe =
      load_ok(web("ready = { tcp = \"127.0.0.1:1\", timeout = 2.5, interval = 0.05 }"))
          .programs.at(0)
          .ready.value();
  EXPECT_EQ(probe.timeout, 2500ms);
  EXPECT_EQ(probe.interval, 50ms);
}

TEST_F(Ready, TcpErrors) {
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1\" }")),
            "minisup.toml:3:17: ready.tcp must be \"HOST:PORT\" like \"127.0.0.1:5432\"; "
            "\"127.0.0.1\" has no port");
  EXPECT_EQ(only_error(web("ready = { tcp = \"::1:80\" }")),
            "minisup.toml:3:17: ready.tcp must be \"HOST:PORT\" like \"127.0.0.1:5432\"; "
            "\"::1:80\" has an IPv6 address without brackets (write [::1]:PORT)");
  EXPECT_EQ(only_error(web("ready = { tcp = \":80\" }")),
            "minisup.toml:3:17: ready.tcp must be \"HOST:PORT\" like \"127.0.0.1:5432\"; "
            "\":80\" has no host");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:70000\" }")),
            "minisup.toml:3:17: ready.tcp port must be between 1 and 65535, got \"70000\"");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:0\" }")),
            "minisup.toml:3:17: ready.tcp port must be between 1 and 65535, got \"0\"");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:http\" }")),
            "minisup.toml:3:17: ready.tcp port must be between 1 and 65535, got \"http\"");
  EXPECT_EQ(only_error(web("ready = { tcp = 5432 }")),
            "minisup.toml:3:17: ready.tcp must be a string, got 5432");
}

TEST_F(Ready, UnresolvableHostIsAnErrorAtTheKey) {
  EXPECT_THAT(only_error(web("ready = { tcp = \"no-such-host.invalid:5432\" }")),
              StartsWith("minisup.toml:3:17: ready.tcp: cannot resolve host "
                         "\"no-such-host.invalid\": "));
}

TEST_F(Ready, Http) {
  const Probe probe = load_ok(web("ready = { http = \"http://127.0.0.1:8080/healthz?full=1\" }"))
                          .programs.at(0)
                          .ready.value();
  EXPECT_EQ(probe.kind, Probe::Kind::Http);
  EXPECT_EQ(probe.host, "127.0.0.1");
  EXPECT_EQ(probe.address, "127.0.0.1");
  EXPECT_EQ(probe.port, 8080);
  EXPECT_EQ(probe.path, "/healthz?full=1");
  EXPECT_EQ(probe.url, "http://127.0.0.1:8080/healthz?full=1");

  const Probe bare =
      load_ok(web("ready = { http = \"http://[::1]\" }")).programs.at(0).ready.value();
  EXPECT_EQ(bare.address, "::1");
  EXPECT_EQ(bare.port, 80);
  EXPECT_EQ(bare.path, "/");
}

TEST_F(Ready, HttpErrors) {
  EXPECT_EQ(only_error(web("ready = { http = \"https://127.0.0.1/\" }")),
            "minisup.toml:3:18: ready.http must be a plain-HTTP URL like "
            "\"http://127.0.0.1:8080/healthz\" (https is not supported), got "
            "\"https://127.0.0.1/\"");
  EXPECT_EQ(only_error(web("ready = { http = \"127.0.0.1:80\" }")),
            "minisup.toml:3:18: ready.http must be a plain-HTTP URL like "
            "\"http://127.0.0.1:8080/healthz\", got \"127.0.0.1:80\"");
  EXPECT_EQ(only_error(web("ready = { http = \"http://127.0.0.1:99999/\" }")),
            "minisup.toml:3:18: ready.http port must be between 1 and 65535, got \"99999\"");
  EXPECT_EQ(only_error(web("ready = { http = \"http:///x\" }")),
            "minisup.toml:3:18: ready.http must be a URL like \"http://HOST[:PORT]/PATH\"; "
            "\"http:///x\" has no host");
  EXPECT_EQ(only_error(web("ready = { http = \"http://u@h/\" }")),
            "minisup.toml:3:18: ready.http must be a URL like \"http://HOST[:PORT]/PATH\" "
            "without user info or blanks, got \"http://u@h/\"");
}

TEST_F(Ready, ExecStringIsSplitLikeCommandAndExpanded) {
  const Config c = load_ok(
      web("numprocs = 2\nready = { exec = \"check --port '${BASE}${MINISUP_PROCESS_NUM}'\" }"),
      {{"BASE", "80"}});
  const ProgramConfig& p = c.programs.at(0);
  EXPECT_EQ(p.ready->kind, Probe::Kind::Exec);
  EXPECT_THAT(p.ready->exec, ElementsAre("check", "--port", "800"));
  EXPECT_THAT(p.processes.at(0).ready_exec, ElementsAre("check", "--port", "800"));
  EXPECT_THAT(p.processes.at(1).ready_exec, ElementsAre("check", "--port", "801"));
  EXPECT_TRUE(p.processes.at(1).health_exec.empty());
}

TEST_F(Ready, ExecArray) {
  const Config c = load_ok(web("ready = { exec = [\"pg_isready\", \"-q\", \"\"] }"));
  EXPECT_THAT(c.programs.at(0).ready->exec, ElementsAre("pg_isready", "-q", ""));
}

TEST_F(Ready, ExecErrors) {
  EXPECT_EQ(only_error(web("ready = { exec = [] }")),
            "minisup.toml:3:18: ready.exec must not be empty");
  EXPECT_EQ(only_error(web("ready = { exec = \"check 'x\" }")),
            "minisup.toml:3:18: ready.exec has an unterminated single quote: \"check 'x\"");
  EXPECT_EQ(only_error(web("ready = { exec = [\"check\", 1] }")),
            "minisup.toml:3:28: ready.exec[1] must be a string, got 1");
  EXPECT_EQ(only_error(web("ready = { exec = true }")),
            "minisup.toml:3:18: ready.exec must be a string or an array of strings, got true");
  EXPECT_EQ(only_error(web("ready = { exec = \"check ${NOPE}\" }")),
            "minisup.toml:3:18: ready.exec uses ${NOPE}, which is not set");
}

TEST_F(Ready, Log) {
  const Config c = load_ok(web("ready = { log = 'listening on port [0-9]+' }"));
  EXPECT_EQ(c.programs.at(0).ready->kind, Probe::Kind::Log);
  EXPECT_EQ(c.programs.at(0).ready->pattern, "listening on port [0-9]+");
  // The reason after the pattern is the standard library's text.
  EXPECT_THAT(only_error(web("ready = { log = 'port [0-9' }")),
              StartsWith("minisup.toml:3:17: ready.log is not a valid regular expression "
                         "(ECMAScript): \"port [0-9\": "));
  EXPECT_THAT(only_error(web("ready = { log = '(a' }")),
              StartsWith("minisup.toml:3:17: ready.log is not a valid regular expression "
                         "(ECMAScript): \"(a\": "));
  EXPECT_EQ(only_error(web("ready = { log = '' }")),
            "minisup.toml:3:17: ready.log must not be empty");
}

TEST_F(Ready, Notify) {
  const Config c = load_ok(web("ready = { notify = true, timeout = 5 }"));
  EXPECT_EQ(c.programs.at(0).ready->kind, Probe::Kind::Notify);
  EXPECT_EQ(c.programs.at(0).ready->timeout, 5s);
  EXPECT_EQ(only_error(web("ready = { notify = false }")),
            "minisup.toml:3:20: ready.notify must be true (leave ready out to go by startsecs), "
            "got false");
  EXPECT_EQ(only_error(web("ready = { notify = \"yes\" }")),
            "minisup.toml:3:20: ready.notify must be true or false, got \"yes\"");
}

TEST_F(Ready, TableErrors) {
  EXPECT_EQ(only_error(web("ready = \"tcp\"")),
            "minisup.toml:3:9: ready must be a table like { tcp = \"127.0.0.1:5432\" }, got "
            "\"tcp\"");
  EXPECT_EQ(only_error(web("ready = {}")),
            "minisup.toml:3:9: ready needs one probe: tcp, http, exec, log or notify");
  EXPECT_EQ(only_error(web("ready = { timeout = 3 }")),
            "minisup.toml:3:9: ready needs one probe: tcp, http, exec, log or notify");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", http = \"http://127.0.0.1/\" }")),
            "minisup.toml:3:32: ready has more than one probe kind (tcp, http); give exactly one");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", timout = 3 }")),
            "minisup.toml:3:32: unknown key `timout` in ready; did you mean `timeout`?");
  EXPECT_EQ(only_error(web("ready = { tpc = \"127.0.0.1:1\" }")),
            "minisup.toml:3:11: unknown key `tpc` in ready; did you mean `tcp`?");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", failures = 3 }")),
            "minisup.toml:3:32: unknown key `failures` in ready");
  EXPECT_EQ(only_error(web("[program.web.ready]\ntcp = \"127.0.0.1:1\"\nintervall = 1")),
            "minisup.toml:5:1: unknown key `intervall` in ready; did you mean `interval`?");
}

TEST_F(Ready, DurationErrors) {
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", timeout = 0 }")),
            "minisup.toml:3:42: ready.timeout must be greater than 0, got 0");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", interval = \"1s\" }")),
            "minisup.toml:3:43: ready.interval must be a non-negative number, got \"1s\"");
  EXPECT_EQ(only_error(web("ready = { tcp = \"127.0.0.1:1\", interval = -1 }")),
            "minisup.toml:3:43: ready.interval must be a non-negative number, got -1");
}

// ---- health ----

TEST_F(Health, DefaultsAndForms) {
  const Probe tcp =
      load_ok(web("health = { tcp = \"127.0.0.1:5432\" }")).programs.at(0).health.value();
  EXPECT_EQ(tcp.kind, Probe::Kind::Tcp);
  EXPECT_EQ(tcp.timeout, 2s);
  EXPECT_EQ(tcp.interval, 10s);
  EXPECT_EQ(tcp.failures, 3);
  const Probe http = load_ok(web("health = { http = \"http://localhost:8080/up\", interval = 1.5, "
                                 "timeout = 0.5, failures = 1 }"))
                         .programs.at(0)
                         .health.value();
  EXPECT_EQ(http.kind, Probe::Kind::Http);
  EXPECT_EQ(http.port, 8080);
  EXPECT_EQ(http.path, "/up");
  EXPECT_EQ(http.interval, 1500ms);
  EXPECT_EQ(http.timeout, 500ms);
  EXPECT_EQ(http.failures, 1);
  const Config c = load_ok(web("health = { exec = \"check\" }\nready = { notify = true }"));
  EXPECT_THAT(c.programs.at(0).health->exec, ElementsAre("check"));
  EXPECT_THAT(c.programs.at(0).processes.at(0).health_exec, ElementsAre("check"));
  EXPECT_EQ(c.programs.at(0).ready->kind, Probe::Kind::Notify);
}

TEST_F(Health, Errors) {
  EXPECT_EQ(only_error(web("health = { log = \"up\" }")),
            "minisup.toml:3:12: health cannot use log; a health check is tcp, http or exec (log "
            "works for ready only)");
  EXPECT_EQ(only_error(web("health = { notify = true }")),
            "minisup.toml:3:12: health cannot use notify; a health check is tcp, http or exec "
            "(notify works for ready only)");
  EXPECT_EQ(only_error(web("health = { tcp = \"127.0.0.1:1\", failures = 0 }")),
            "minisup.toml:3:44: health.failures must be at least 1, got 0");
  EXPECT_EQ(only_error(web("health = { tcp = \"127.0.0.1:1\", failures = 1.5 }")),
            "minisup.toml:3:44: health.failures must be an integer, got 1.5");
  EXPECT_EQ(only_error(web("health = { interval = 5 }")),
            "minisup.toml:3:10: health needs one check: tcp, http or exec");
  EXPECT_EQ(only_error(web("health = { tcp = \"127.0.0.1:1\", failure = 2 }")),
            "minisup.toml:3:33: unknown key `failure` in health; did you mean `failures`?");
  EXPECT_EQ(only_error(web("health = 10")),
            "minisup.toml:3:10: health must be a table like { tcp = \"127.0.0.1:5432\" }, got 10");
}

// ---- depends_on ----

TEST_F(DependsOn, ArrayAndTableFormsSortedByName) {
  const Config c = load_ok(
      "[program.web]\ncommand = \"w\"\ndepends_on = [\"migrate\", \"db\"]\n"
      "[program.api]\ncommand = \"a\"\n"
      "depends_on = { migrate = \"completed\", db = \"started\", web = \"ready\" }\n"
      "[program.db]\ncommand = \"d\"\n[program.migrate]\ncommand = \"m\"\n");
  const ProgramConfig& web = *c.find_program("web");
  EXPECT_THAT(web.depends_on, ElementsAre(Dependency{"db", DependencyCondition::Ready},
                                          Dependency{"migrate", DependencyCondition::Ready}));
  const ProgramConfig& api = *c.find_program("api");
  EXPECT_THAT(api.depends_on, ElementsAre(Dependency{"db", DependencyCondition::Started},
                                          Dependency{"migrate", DependencyCondition::Completed},
                                          Dependency{"web", DependencyCondition::Ready}));
  // A program named by a `completed` condition is a job; its own startsecs
  // and autorestart stay as written.
  EXPECT_TRUE(c.find_program("migrate")->job);
  EXPECT_EQ(c.find_program("migrate")->startsecs, 1s);
  EXPECT_EQ(c.find_program("migrate")->autorestart, AutoRestart::Unexpected);
  EXPECT_FALSE(c.find_program("db")->job);
  EXPECT_FALSE(c.find_program("web")->job);
}

TEST_F(DependsOn, AcrossIncludedFiles) {
  write("conf.d/db.toml", "[program.db]\ncommand = \"d\"\n");
  const Config c = load_ok(
      "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"
      "[program.web]\ncommand = \"w\"\ndepends_on = { db = \"completed\" }\n");
  EXPECT_TRUE(c.find_program("db")->job);
}

TEST_F(DependsOn, UnknownProgramAndSelf) {
  EXPECT_EQ(only_error("[program.db]\ncommand = \"d\"\n"
                       "[program.web]\ncommand = \"w\"\ndepends_on = [\"dbb\"]\n"),
            "minisup.toml:5:15: depends_on names \"dbb\", which is not a program; did you mean "
            "\"db\"?");
  EXPECT_EQ(only_error(web("depends_on = { cache = \"ready\" }")),
            "minisup.toml:3:16: depends_on names \"cache\", which is not a program");
  EXPECT_EQ(only_error(web("depends_on = [\"web\"]")),
            "minisup.toml:3:15: depends_on: \"web\" cannot depend on itself");
}

TEST_F(DependsOn, FormErrors) {
  EXPECT_EQ(only_error(web("depends_on = \"db\"")),
            "minisup.toml:3:14: depends_on must be an array of program names like [\"db\"] or a "
            "table like { db = \"ready\" }, got \"db\"");
  EXPECT_EQ(only_error(web("depends_on = [1]")),
            "minisup.toml:3:15: depends_on[0] must be a string, got 1");
  EXPECT_EQ(only_error(web("depends_on = [\"\"]")),
            "minisup.toml:3:15: depends_on[0] must name a program, got \"\"");
  EXPECT_EQ(only_error("[program.db]\ncommand = \"d\"\n" + web("depends_on = [\"db\", \"db\"]")),
            "minisup.toml:5:21: depends_on names \"db\" twice");
  EXPECT_EQ(only_error("[program.db]\ncommand = \"d\"\n" + web("depends_on = { db = \"done\" }")),
            "minisup.toml:5:21: depends_on.db must be \"started\", \"ready\" or \"completed\", got "
            "\"done\"");
  EXPECT_EQ(only_error("[program.db]\ncommand = \"d\"\n" + web("depends_on = { db = true }")),
            "minisup.toml:5:21: depends_on.db must be \"started\", \"ready\" or \"completed\", got "
            "true");
}

TEST_F(DependsOn, TwoProgramCycle) {
  EXPECT_EQ(only_error("[program.b]\ncommand = \"b\"\ndepends_on = [\"a\"]\n"
                       "[program.a]\ncommand = \"a\"\ndepends_on = [\"b\"]\n"),
            "minisup.toml:6:15: depends_on makes a cycle: a -> b -> a");
}

TEST_F(DependsOn, ThreeProgramCycleAcrossConditions) {
  const LoadResult r = load(
      "[program.c]\ncommand = \"c\"\ndepends_on = { a = \"started\" }\n"
      "[program.b]\ncommand = \"b\"\ndepends_on = [\"c\"]\n"
      "[program.a]\ncommand = \"a\"\ndepends_on = { b = \"completed\" }\n"
      "[program.x]\ncommand = \"x\"\ndepends_on = [\"a\"]\n");
  EXPECT_THAT(errors(r), ElementsAre("minisup.toml:9:16: depends_on makes a cycle: a -> b -> c "
                                     "-> a"));
}

// ---- shutdown_on ----

TEST_F(ShutdownOnKey, Values) {
  EXPECT_EQ(load_ok(web("shutdown_on = \"exit\"")).programs.at(0).shutdown_on, ShutdownOn::Exit);
  EXPECT_EQ(load_ok(web("shutdown_on = \"failure\"")).programs.at(0).shutdown_on,
            ShutdownOn::Failure);
  EXPECT_EQ(load_ok(web("shutdown_on = \"FATAL\"")).programs.at(0).shutdown_on, ShutdownOn::Fatal);
  EXPECT_EQ(only_error(web("shutdown_on = \"crash\"")),
            "minisup.toml:3:15: shutdown_on must be \"exit\", \"failure\" or \"fatal\", got "
            "\"crash\"");
  EXPECT_EQ(only_error(web("shutdown_on = true")),
            "minisup.toml:3:15: shutdown_on must be \"exit\", \"failure\" or \"fatal\", got true");
  EXPECT_EQ(only_error(web("shutdown_of = \"exit\"")),
            "minisup.toml:3:1: unknown key `shutdown_of` in [program.web]; did you mean "
            "`shutdown_on`?");
}

// ---- [supervisor] shutdown_timeout ----

TEST_F(ShutdownTimeout, Values) {
  EXPECT_EQ(load_ok("[supervisor]\nshutdown_timeout = 25\n" + web("")).supervisor.shutdown_timeout,
            25s);
  EXPECT_EQ(load_ok("[supervisor]\nshutdown_timeout = 2.5\n" + web("")).supervisor.shutdown_timeout,
            2500ms);
  EXPECT_EQ(only_error("[supervisor]\nshutdown_timeout = 0\n" + web("")),
            "minisup.toml:2:20: shutdown_timeout must be greater than 0, got 0");
  EXPECT_EQ(only_error("[supervisor]\nshutdown_timeout = \"25s\"\n" + web("")),
            "minisup.toml:2:20: shutdown_timeout must be a non-negative number, got \"25s\"");
  EXPECT_EQ(only_error("[supervisor]\nshutdown_timout = 25\n" + web("")),
            "minisup.toml:2:1: unknown key `shutdown_timout` in [supervisor]; did you mean "
            "`shutdown_timeout`?");
}

// ---- stderr follows stdout to the console ----

TEST_F(StderrDefault, ConsoleStdoutTakesStderrAlong) {
  const Config c = load_ok(web("stdout_logfile = \"console\""));
  const ProcessConfig& p = c.programs.at(0).processes.at(0);
  EXPECT_EQ(p.stdout_logfile, (LogTarget{LogTarget::Kind::Console, {}}));
  EXPECT_EQ(p.stderr_logfile, (LogTarget{LogTarget::Kind::Console, {}}));
}

TEST_F(StderrDefault, ExplicitStderrAndOtherStdoutUnchanged) {
  const Config c =
      load_ok(web("stdout_logfile = \"console\"\nstderr_logfile = \"NONE\"\n"
                  "[program.f]\ncommand = \"f\"\nstdout_logfile = \"f.log\"\n"
                  "[program.r]\ncommand = \"r\"\nstdout_logfile = \"CONSOLE\"\nredirect_stderr = "
                  "true\n"));
  EXPECT_EQ(c.find_program("web")->processes.at(0).stderr_logfile.kind, LogTarget::Kind::None);
  EXPECT_EQ(c.find_program("f")->processes.at(0).stderr_logfile,
            (LogTarget{LogTarget::Kind::File, dir_ / "logs/f-stderr.log"}));
  const ProgramConfig& r = *c.find_program("r");
  EXPECT_TRUE(r.redirect_stderr);
  EXPECT_EQ(r.processes.at(0).stdout_logfile.kind, LogTarget::Kind::Console);
}

}  // namespace
}  // namespace minisup::config::testing
