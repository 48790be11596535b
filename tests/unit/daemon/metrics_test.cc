// Runtime::metrics_text(): the Prometheus text of /metrics, through the
// fakes: the exact samples of a process after its start, after a crash and
// its autorestart, after a stop that needed SIGKILL, during a rolling
// restart (old="true"); label values escaped; minisupd's own facts. And the
// whole text of a realistic state read by a real parser (Debian's
// python3-prometheus-client, through tests/http/parse_metrics.py).
#include "supervisor/daemon/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "supervisor/sys/proc_tree.h"
#include "supervisor/version.h"
#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// Facts fixed for the tests (the real ones vary).
const MetricsFacts kFacts{std::uint64_t{4096000}, 9, "0.1.0-test"};

/// Every sample line of `text` (comments left out): series -> value text.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    EXPECT_TRUE(result.emplace(line.substr(0, space), line.substr(space + 1)).second)
        << "duplicate series: " << line;
  }
  return result;
}

/// The samples whose labels contain `labels` (e.g. `process="web",group="web"}`
/// or `process="web",group="web",`), with the start time left out (it is
/// wall-clock time; see StartTimeIsTheSpawnsWallClockTime).
std::map<std::string, std::string> samples_of(const std::string& text, const std::string& labels) {
  std::map<std::string, std::string> result;
  for (auto& [series, value] : samples(text)) {
    if (series.find("{" + labels) == std::string::npos) continue;
    if (series.rfind("minisup_process_start_time_seconds", 0) == 0) continue;
    result.emplace(series, value);
  }
  return result;
}

/// The samples every process has, for labels `l` (`process="web",group="web"`),
/// with the given state, counters and readiness; further samples are added
/// by the tests.
std::map<std::string, std::string> base_samples(const std::string& l, const std::string& state,
                                                int restarts,
                                                const std::map<std::string, int>& exits,
                                                int sigkills, bool ready) {
  std::map<std::string, std::string> m;
  for (const char* s :
       {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"}) {
    m["minisup_process_state{" + l + ",state=\"" + s + "\"}"] = s == state ? "1" : "0";
  }
  m["minisup_process_restarts_total{" + l + "}"] = std::to_string(restarts);
  for (const char* r : {"exited", "killed", "needed_sigkill", "spawn_failed", "unhealthy",
                        "not_ready", "dependency_failed"}) {
    auto it = exits.find(r);
    m["minisup_process_exits_total{" + l + ",reason=\"" + r + "\"}"] =
        std::to_string(it == exits.end() ? 0 : it->second);
  }
  m["minisup_process_sigkill_total{" + l + "}"] = std::to_string(sigkills);
  m["minisup_process_ready{" + l + "}"] = ready ? "1" : "0";
  return m;
}

/// The value of `series` as a number (NaN when absent).
double value_of(const std::string& text, const std::string& series) {
  auto all = samples(text);
  auto it = all.find(series);
  return it == all.end() ? std::nan("") : std::stod(it->second);
}

class Metrics : public RuntimeTest {};

const std::string kWeb = R"(process="web",group="web")";

TEST_F(Metrics, EveryFamilyHasHelpAndTypeOnceInTheContractOrder) {
  make_started(config_of({program("web")}));
  const std::string text = runtime->metrics_text(kFacts);
  const std::vector<std::pair<std::string, std::string>> families = {
      {"minisup_process_state", "gauge"},
      {"minisup_process_restarts_total", "counter"},
      {"minisup_process_exits_total", "counter"},
      {"minisup_process_sigkill_total", "counter"},
      {"minisup_process_last_exit_code", "gauge"},
      {"minisup_process_stop_duration_seconds", "gauge"},
      {"minisup_process_start_time_seconds", "gauge"},
      {"minisup_process_ready", "gauge"},
      {"minisup_resident_memory_bytes", "gauge"},
      {"minisup_open_fds", "gauge"},
      {"minisup_build_info", "gauge"},
  };
  std::size_t at = 0;
  for (const auto& [name, type] : families) {
    const std::string help = "# HELP " + name + " ";
    const std::string type_line = "\n# TYPE " + name + " " + type + "\n";
    const std::size_t found = text.find(help, at);
    ASSERT_NE(found, std::string::npos) << name << " after offset " << at << ":\n" << text;
    EXPECT_EQ(text.find(help, found + 1), std::string::npos) << name << " twice";
    const std::size_t type_at = text.find(type_line, found);
    ASSERT_NE(type_at, std::string::npos) << name;
    EXPECT_EQ(text.find('\n', found), type_at) << "TYPE right after HELP: " << name;
    at = type_at;
  }
  EXPECT_EQ(text.back(), '\n');
}

TEST_F(Metrics, ARunningProcessAfterItsStart) {
  make_started(config_of({program("web")}));
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb),
            base_samples(kWeb, "STARTING", 0, {}, 0, false));
  timers.advance(1s);  // startsecs
  ASSERT_EQ(state("web"), ProcessState::Running);
  const std::string text = runtime->metrics_text(kFacts);
  // No exit yet: no exit code, no stop duration.
  EXPECT_EQ(samples_of(text, kWeb), base_samples(kWeb, "RUNNING", 0, {}, 0, true));
  EXPECT_EQ(status_of("web")["restarts"], 0);
  EXPECT_EQ(status_of("web")["ready"], true);
}

TEST_F(Metrics, StartTimeIsTheSpawnsWallClockTime) {
  make(config_of({program("web", 999, 1, false)}));
  const std::string never = runtime->metrics_text(kFacts);
  EXPECT_THAT(never, Not(HasSubstr("minisup_process_start_time_seconds{")));  // never spawned
  timers.advance(5s);
  runtime->start();
  request(1, {{"cmd", "start"}, {"names", {"web"}}});
  const std::string series = "minisup_process_start_time_seconds{" + kWeb + "}";
  const double first = value_of(runtime->metrics_text(kFacts), series);
  EXPECT_DOUBLE_EQ(first, status_of("web")["started_at"].get<double>());
  EXPECT_GT(first, 1.7e9);  // Unix seconds, not the steady clock
  timers.advance(3s);
  exit_child(pid("web"), 1);  // crash at +3 s: restarted at once
  const double second = value_of(runtime->metrics_text(kFacts), series);
  EXPECT_NEAR(second - first, 3.0, 1e-6);
}

TEST_F(Metrics, ACrashAndItsAutorestart) {
  make_started(config_of({program("web")}));
  timers.advance(1s);
  exit_child(pid("web"), 3);  // unexpected: restarted at once, STARTING
  const std::string text = runtime->metrics_text(kFacts);
  auto expected = base_samples(kWeb, "STARTING", 1, {{"exited", 1}}, 0, false);
  expected["minisup_process_last_exit_code{" + kWeb + "}"] = "3";
  EXPECT_EQ(samples_of(text, kWeb), expected);

  timers.advance(1s);
  ASSERT_EQ(state("web"), ProcessState::Running);
  expected = base_samples(kWeb, "RUNNING", 1, {{"exited", 1}}, 0, true);
  expected["minisup_process_last_exit_code{" + kWeb + "}"] = "3";
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb), expected);
  const json status = status_of("web");
  EXPECT_EQ(status["restarts"], 1);
  EXPECT_EQ(status["ready"], true);

  // Killed by a signal soon after: counted as killed, no exit code to show,
  // and a crash loop's delay (BACKOFF): the restart counts at its spawn.
  kill_child(pid("web"), SIGSEGV);
  ASSERT_EQ(state("web"), ProcessState::Backoff);
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb),
            base_samples(kWeb, "BACKOFF", 1, {{"exited", 1}, {"killed", 1}}, 0, false));
  timers.advance(1s);
  ASSERT_EQ(state("web"), ProcessState::Starting);
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb),
            base_samples(kWeb, "STARTING", 2, {{"exited", 1}, {"killed", 1}}, 0, false));
  EXPECT_EQ(status_of("web")["restarts"], 2);
}

TEST_F(Metrics, AStopThatNeededSigkill) {
  make_started(config_of({program("web")}));  // stopwaitsecs = 10 s
  timers.advance(1s);
  const int child = pid("web");
  request(1, {{"cmd", "stop"}, {"names", {"web"}}});
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb),
            base_samples(kWeb, "STOPPING", 0, {}, 0, false));
  timers.advance(10s);
  ASSERT_TRUE(sys.sent(child, SIGKILL));
  timers.advance(250ms);
  kill_child(child, SIGKILL);
  ASSERT_EQ(state("web"), ProcessState::Stopped);
  auto expected = base_samples(kWeb, "STOPPED", 0, {{"needed_sigkill", 1}}, 1, false);
  expected["minisup_process_stop_duration_seconds{" + kWeb + "}"] = "10.25";
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb), expected);

  // A user start is no restart; the last stop's duration stays.
  request(2, {{"cmd", "start"}, {"names", {"web"}}});
  timers.advance(1s);
  expected = base_samples(kWeb, "RUNNING", 0, {{"needed_sigkill", 1}}, 1, true);
  expected["minisup_process_stop_duration_seconds{" + kWeb + "}"] = "10.25";
  EXPECT_EQ(samples_of(runtime->metrics_text(kFacts), kWeb), expected);
}

TEST_F(Metrics, AFailedHealthCheckIsNotReady) {
  config::ProgramConfig web = program("web");
  config::Probe health;
  health.kind = config::Probe::Kind::Tcp;
  health.host = health.address = "127.0.0.1";
  health.port = 1;
  health.timeout = 2s;
  health.interval = 10s;
  health.failures = 3;
  web.health = health;
  make_started(config_of({web}));
  timers.advance(1s);
  ASSERT_EQ(state("web"), ProcessState::Running);
  EXPECT_EQ(status_of("web")["ready"], true);
  timers.advance(health.interval);
  probes.answer(false, "connect 127.0.0.1:1: Connection refused");
  ASSERT_EQ(state("web"), ProcessState::Running);
  EXPECT_EQ(status_of("web")["ready"], false);
  EXPECT_EQ(value_of(runtime->metrics_text(kFacts), "minisup_process_ready{" + kWeb + "}"), 0);
}

TEST_F(Metrics, OldProcessOfARollingRestartHasOldTrue) {
  config::ProgramConfig web = program("web");
  config::SocketConfig http;
  http.name = "http";
  web.sockets = {http};
  make_started(config_of({web}));
  timers.advance(1s);
  exit_child(pid("web"), 1);  // one restart, counted for "web"
  timers.advance(1s);
  ASSERT_EQ(state("web"), ProcessState::Running);
  request(1, {{"cmd", "restart"}, {"names", {"web"}}, {"rolling", true}});
  timers.advance(0s);
  ASSERT_NE(runtime->supervisor().find("web (old)"), nullptr);
  const std::string text = runtime->metrics_text(kFacts);
  // The new process goes on with the name's counters; the old one counts
  // from zero what is left of its life. Label sets stay unique.
  const std::string old = kWeb + R"(,old="true")";
  // (The last exit is the old machine's: the new one has not exited yet.)
  auto expected_new = base_samples(kWeb, "STARTING", 1, {{"exited", 1}}, 0, false);
  std::map<std::string, std::string> got_new;
  for (auto& [series, value] : samples_of(text, kWeb + "}")) got_new.emplace(series, value);
  for (auto& [series, value] : samples_of(text, kWeb + ",")) {
    if (series.find("old=") == std::string::npos) got_new.emplace(series, value);
  }
  EXPECT_EQ(got_new, expected_new);
  auto expected_old = base_samples(old, "RUNNING", 0, {}, 0, true);
  expected_old["minisup_process_last_exit_code{" + old + "}"] = "1";
  EXPECT_EQ(samples_of(text, old), expected_old);
  EXPECT_THAT(text, HasSubstr("minisup_process_start_time_seconds{" + old + "} "));
}

TEST_F(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value(R"(plain web:0)"), "plain web:0");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), R"(a\"b\\c\nd)");
  EXPECT_EQ(escape_label_value("\\n"), R"(\\n)");  // a backslash and an n, not a newline
  EXPECT_EQ(escape_label_value("tab\tand é"), "tab\tand é");

  make_started(config_of({program("we\"b\\x\ny")}));
  MetricsFacts facts = kFacts;
  facts.version = "1.0\"\n";
  const std::string text = runtime->metrics_text(facts);
  EXPECT_THAT(
      text,
      HasSubstr(R"(minisup_process_restarts_total{process="we\"b\\x\ny",group="we\"b\\x\ny"} 0)"
                "\n"));
  EXPECT_THAT(text, HasSubstr(R"(minisup_build_info{version="1.0\"\n"} 1)"
                              "\n"));
}

TEST_F(Metrics, MinisupdsOwnFacts) {
  make_started(config_of({program("web")}));
  std::string text = runtime->metrics_text(kFacts);
  EXPECT_THAT(text, HasSubstr("\nminisup_resident_memory_bytes 4096000\n"));
  EXPECT_THAT(text, HasSubstr("\nminisup_open_fds 9\n"));
  EXPECT_THAT(text, HasSubstr("\nminisup_build_info{version=\"0.1.0-test\"} 1\n"));
  // What could not be read has no sample (the family is still declared).
  text = runtime->metrics_text(MetricsFacts{std::nullopt, std::nullopt, "0.1.0"});
  EXPECT_THAT(text, Not(HasSubstr("\nminisup_resident_memory_bytes ")));
  EXPECT_THAT(text, Not(HasSubstr("\nminisup_open_fds ")));
  EXPECT_THAT(text, HasSubstr("# TYPE minisup_open_fds gauge\n"));
}

TEST(MetricsFacts, ReadsThisProcesssOwnFigures) {
  const MetricsFacts facts = read_own_metrics_facts();
  EXPECT_EQ(facts.version, std::string(kVersion));
  ASSERT_TRUE(facts.rss_bytes);
  EXPECT_GT(*facts.rss_bytes, 1024u * 1024u);  // a test binary resides in more than 1 MiB
  ASSERT_TRUE(facts.open_fds);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const auto more = sys::count_own_fds();
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(more);
  EXPECT_EQ(*more, *facts.open_fds + 2);
  EXPECT_EQ(sys::count_own_fds(), facts.open_fds);
}

TEST(MetricsFacts, ParsesStatm) {
  EXPECT_EQ(sys::parse_statm_resident_pages("5000 1234 300 20 0 900 0\n"), 1234u);
  EXPECT_EQ(sys::parse_statm_resident_pages("5000 1234"), 1234u);
  EXPECT_FALSE(sys::parse_statm_resident_pages(""));
  EXPECT_FALSE(sys::parse_statm_resident_pages("5000"));
  EXPECT_FALSE(sys::parse_statm_resident_pages("5000 x 300"));
}

// ---- a real parser ----

const std::string kPython = "/usr/bin/python3";  // Debian's, with its modules
const std::string kScript = std::string(MINISUP_SOURCE_DIR) + "/tests/http/parse_metrics.py";

/// Runs `command` through the shell; its exit status and its output
/// (stdout and stderr together).
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

/// Skips the test when Debian's prometheus_client cannot be imported.
#define SKIP_WITHOUT_PROMETHEUS_CLIENT()                                                \
  do {                                                                                  \
    if (run(kPython + " -c 'import prometheus_client'").first != 0)                     \
      GTEST_SKIP() << kPython                                                           \
                   << " cannot import prometheus_client: install Debian's "             \
                      "python3-prometheus-client to check /metrics with a real parser"; \
  } while (false)

class MetricsParser : public RuntimeTest {
 protected:
  /// Runs parse_metrics.py on `text`.
  std::pair<int, std::string> parse(const std::string& text) {
    const auto file = dir_.write("metrics.txt", text);
    return run(kPython + " " + kScript + " " + file.string());
  }
  TempDir dir_;
};

TEST_F(MetricsParser, ARealisticStateParses) {
  SKIP_WITHOUT_PROMETHEUS_CLIENT();
  config::ProgramConfig web = program("web", 10, 2);
  config::SocketConfig http;
  http.name = "http";
  web.sockets = {http};
  config::ProgramConfig crashing = program("crashing", 20);
  config::ProgramConfig slow = program("slow", 20);
  config::ProgramConfig broken = program("broken", 30, 1, false);
  broken.startretries = 0;
  config::ProgramConfig manual = program("manual", 40, 1, false);
  config::ProgramConfig odd = program("odd \"name\\ \nhere", 50);
  make_started(config_of({web, crashing, slow, broken, manual, odd}));
  timers.advance(1s);
  sys.fail_next_spawn("exec /bin/broken: No such file or directory");
  request(3, {{"cmd", "start"}, {"names", {"broken"}}});  // FATAL at once (no retries)
  ASSERT_EQ(state("broken"), ProcessState::Fatal);
  exit_child(pid("crashing"), 2);  // restarted
  request(1, {{"cmd", "stop"}, {"names", {"slow"}}});
  timers.advance(10s);
  kill_child(pid("slow"), SIGKILL);  // needed SIGKILL
  request(2, {{"cmd", "restart"}, {"names", {"web"}}, {"rolling", true}});
  timers.advance(0s);
  ASSERT_NE(runtime->supervisor().find("web:0 (old)"), nullptr);  // an old process
  const std::string text = runtime->metrics_text(read_own_metrics_facts());

  const auto [status, output] = parse(text);
  EXPECT_EQ(status, 0) << output << "\n---- the text:\n" << text;
  EXPECT_THAT(output, HasSubstr("ok:"));
}

TEST_F(MetricsParser, TheScriptRejectsWhatBreaksTheContract) {
  SKIP_WITHOUT_PROMETHEUS_CLIENT();
  make_started(config_of({program("web")}));
  const std::string good = runtime->metrics_text(kFacts);
  ASSERT_EQ(parse(good).first, 0) << parse(good).second;

  // `good` with every `from` replaced by `to` (there must be one).
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    EXPECT_NE(text.find(from), std::string::npos) << from;
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
    return text;
  };
  // A duplicate sample (same label set twice).
  const std::string ready = "minisup_process_ready{" + kWeb + "} 0\n";
  auto [dup, dup_out] = parse(replaced(ready, ready + ready));
  EXPECT_EQ(dup, 1) << dup_out;
  EXPECT_THAT(dup_out, HasSubstr("duplicate"));
  // A family of the contract missing.
  auto [missing, missing_out] = parse(replaced("minisup_open_fds", "minisup_spare_fds"));
  EXPECT_EQ(missing, 1) << missing_out;
  EXPECT_THAT(missing_out, HasSubstr("minisup_open_fds"));
  // The wrong type.
  auto [typed, typed_out] = parse(replaced("# TYPE minisup_process_restarts_total counter",
                                           "# TYPE minisup_process_restarts_total gauge"));
  EXPECT_EQ(typed, 1) << typed_out;
  // Two states at 1 for one process.
  auto [two, two_out] = parse(replaced(R"(state="STOPPED"} 0)", R"(state="STOPPED"} 1)"));
  EXPECT_EQ(two, 1) << two_out;
  // Not the text format at all.
  auto [garbage, garbage_out] =
      parse(replaced("minisup_process_ready{", "minisup_process_ready{{"));
  EXPECT_EQ(garbage, 1) << garbage_out;
}

}  // namespace
}  // namespace minisup::daemon::testing
