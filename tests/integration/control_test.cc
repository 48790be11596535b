// Integration tests of the control socket and minisupctl: the real minisupd
// with real children (tests/helpers/test_child), driven through the real
// minisupctl (outputs AND exit codes, as scripts rely on both) and through
// raw protocol lines on the socket (robustness: garbage, oversized lines,
// half lines, clients that never read, many clients at once).
//
// Suites: Ctl* (minisupctl commands), Reload* (reread/update/SIGHUP),
// Socket* (the raw protocol and its robustness).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <thread>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

/// The lines of `text` (without their newlines).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// The JSON objects of a JSON-lines text (unparsable lines are skipped).
std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  for (const auto& line : lines_of(text)) {
    auto parsed = json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) out.push_back(parsed);
  }
  return out;
}

/// True when `line` is `prefix` followed by exactly one digit (a status
/// line whose uptime is under 10 s: prefix "... uptime 0:00:0").
bool is_prefix_then_digit(const std::string& line, const std::string& prefix) {
  return line.size() == prefix.size() + 1 && line.compare(0, prefix.size(), prefix) == 0 &&
         std::isdigit(static_cast<unsigned char>(line.back()));
}

/// True for "X.Y.Z\n" with X, Y, Z decimal numbers.
bool is_version_line(const std::string& text) {
  if (text.empty() || text.back() != '\n') return false;
  int parts = 1;
  bool digit_before = false;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      digit_before = true;
    } else if (text[i] == '.' && digit_before) {
      ++parts;
      digit_before = false;
    } else {
      return false;
    }
  }
  return parts == 3 && digit_before;
}

/// How many times `needle` occurs in `text`.
int count_of(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

/// The pid of a process as `--json status` reports it (0 when absent).
int pid_of(const Daemon& d, const std::string& name) {
  auto p = d.process(name);
  return p.is_null() ? 0 : p.value("pid", 0);
}

/// The sorted process names `--json status` lists.
std::vector<std::string> process_names(const Daemon& d) {
  std::vector<std::string> names;
  for (const auto& p : d.status_json()) names.push_back(p.value("name", ""));
  std::sort(names.begin(), names.end());
  return names;
}

/// Seconds elapsed since `since`, as a double.
double seconds_since(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

/// Asserts that minisupd is up and promptly (< 2 s) answers a fresh raw
/// client and a fresh `minisupctl status` (every process must be running).
void expect_responsive(Daemon& d) {
  ASSERT_TRUE(d.running()) << "minisupd died; log:\n" << d.log();
  auto before = Clock::now();
  RawClient probe(d.socket_path());
  json reply = probe.call({{"cmd", "status"}, {"id", "probe"}}, 2s);
  ASSERT_TRUE(reply.is_object()) << "no status reply within 2 s";
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["id"], "probe");
  EXPECT_LT(seconds_since(before), 2.0) << "raw status took too long";
  before = Clock::now();
  CommandResult r = d.ctl({"status"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_LT(seconds_since(before), 2.0) << "minisupctl status took too long";
}

/// A command running in the background (e.g. `minisupctl events`), its
/// stdout and stderr going to files. Killed on destruction if still running.
class Background {
 public:
  Background(const std::vector<std::string>& argv, fs::path out)
      : out_(std::move(out)), err_(out_.string() + ".err") {
    pid_ = fork();
    if (pid_ == 0) {
      int out_fd = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err_fd = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null_fd = open("/dev/null", O_RDONLY);
      dup2(null_fd, 0);
      dup2(out_fd, 1);
      dup2(err_fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !code_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  /// The exit code once it has ended (128 + signal), else nullopt.
  std::optional<int> exit_code() {
    if (code_ || pid_ <= 0) return code_;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return code_;
  }
  /// Waits up to `timeout` for the end; the exit code or -1.
  int wait_exit(std::chrono::milliseconds timeout = 10s) {
    eventually([&] { return exit_code().has_value(); }, timeout);
    return exit_code().value_or(-1);
  }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
  std::optional<int> code_;
};

/// argv of `minisupctl -s SOCKET ARGS...` for a Background.
std::vector<std::string> ctl_argv(const Daemon& d, const std::vector<std::string>& args) {
  std::vector<std::string> argv{MINISUPCTL_PATH, "-s", d.socket_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// Sets a send timeout on a raw client, so a test never hangs on a server
/// that stopped reading.
void set_send_timeout(RawClient& client, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// ===========================================================================
// status
// ===========================================================================

TEST(CtlStatus, TableIsAlignedLikeSupervisorctl) {
  Daemon d(sleeper("a") + sleeper("longer_name") + sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "longer_name", "--timeout", "5"}).code, 0);
  CommandResult r = d.ctl({"status"});
  EXPECT_EQ(r.code, 3) << "off is STOPPED: exit 3\n" << r.out << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  // Names padded to the longest (11) plus two spaces, states to 10 columns.
  EXPECT_TRUE(is_prefix_then_digit(lines[0], fmt::format("a{}RUNNING   pid {}, uptime 0:00:0",
                                                         std::string(12, ' '), pid_of(d, "a"))))
      << "[" << lines[0] << "]";
  EXPECT_TRUE(is_prefix_then_digit(
      lines[1],
      fmt::format("longer_name  RUNNING   pid {}, uptime 0:00:0", pid_of(d, "longer_name"))))
      << "[" << lines[1] << "]";
  EXPECT_EQ(lines[2], "off          STOPPED   Not started");
  EXPECT_TRUE(r.err.empty()) << r.err;

  // Named processes only; the padding follows the names listed.
  r = d.ctl({"status", "a"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_TRUE(
      is_prefix_then_digit(r.out.substr(0, r.out.size() - 1),
                           fmt::format("a  RUNNING   pid {}, uptime 0:00:0", pid_of(d, "a"))))
      << "[" << r.out << "]";
  r = d.ctl({"status", "a", "longer_name"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u);
  r = d.ctl({"status", "off"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_EQ(r.out, "off  STOPPED   Not started\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStatus, UnknownNameExitsFour) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  CommandResult r = d.ctl({"status", "nope"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_EQ(r.out, "nope: ERROR (no such process)\n");
  r = d.ctl({"status", "a", "nope"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("nope: ERROR (no such process)"));
  r = d.ctl({"--json", "status", "nope"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  json body = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.out;
  EXPECT_EQ(body["error"]["code"], "no_such_program");
  EXPECT_EQ(body["names"], json::array({"nope"}));
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStatus, ExitsThreeForStoppedExitedOrFatal) {
  Daemon d(sleeper("a") + "[program.quitter]\n" + child_cmd("--exit 3") +
           "startsecs = 0\nautorestart = false\n"
           "[program.broken]\ncommand = \"/nonexistent/minisup-test-binary\"\n"
           "startsecs = 0\nstartretries = 0\n");
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING"));
  ASSERT_TRUE(d.wait_state("quitter", "EXITED")) << d.log();
  ASSERT_TRUE(d.wait_state("broken", "FATAL")) << d.log();
  EXPECT_EQ(d.ctl({"status", "a"}).code, 0);
  CommandResult r = d.ctl({"status", "quitter"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, AllOf(StartsWith("quitter  EXITED    "), HasSubstr("exited with status 3")));
  r = d.ctl({"status", "broken"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out,
              AllOf(StartsWith("broken  FATAL     "),
                    HasSubstr("exec /nonexistent/minisup-test-binary: No such file or directory")));
  EXPECT_EQ(d.ctl({"status", "a", "broken"}).code, 3);
  EXPECT_EQ(d.ctl({"status"}).code, 3);
  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  r = d.ctl({"status", "a"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, AllOf(StartsWith("a  STOPPED   "), HasSubstr("killed by SIGTERM")));
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStatus, JsonHasEveryKeyWithNullsWhereTheyDoNotApply) {
  Daemon d(sleeper("a") + sleeper("b") + sleeper("off", "autostart = false\n") +
           "[program.quitter]\n" + child_cmd("--exit 3") + "startsecs = 0\nautorestart = false\n");
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "b", "--timeout", "5"}).code, 0);
  ASSERT_TRUE(d.wait_state("quitter", "EXITED")) << d.log();
  ASSERT_EQ(d.ctl({"stop", "b"}).code, 0);

  const std::vector<std::string> keys{"name",        "group",          "state",
                                      "pid",         "uptime",         "started_at",
                                      "exit_code",   "exit_signal",    "exit_signal_name",
                                      "exited_at",   "needed_sigkill", "stop_duration",
                                      "description", "spawn_error",    "retry",
                                      "core_dumped", "dropped_bytes",  "exit_reason",
                                      "old",         "restarts",       "ready"};
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--json", "status"},
                                               std::vector<std::string>{"status", "--json"}}) {
    CommandResult r = d.ctl(args);
    EXPECT_EQ(r.code, 3) << r.out << r.err;  // b, off, quitter are not running
    json all = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(all.is_array()) << r.out;
    ASSERT_EQ(all.size(), 4u) << r.out;
    for (const auto& p : all) {
      for (const auto& key : keys)
        EXPECT_TRUE(p.contains(key)) << key << " missing in " << p.dump();
    }
  }
  json a = d.process("a");
  EXPECT_EQ(a["group"], "a");
  EXPECT_EQ(a["state"], "RUNNING");
  EXPECT_GT(a["pid"].get<int>(), 0);
  EXPECT_TRUE(a["uptime"].is_number()) << a.dump();
  EXPECT_TRUE(a["started_at"].is_number()) << a.dump();
  EXPECT_TRUE(a["exit_code"].is_null());
  EXPECT_TRUE(a["exit_signal"].is_null());
  EXPECT_TRUE(a["needed_sigkill"].is_null());
  EXPECT_THAT(a["description"].get<std::string>(), StartsWith("pid "));
  EXPECT_EQ(a["restarts"], 0);
  EXPECT_EQ(a["ready"], true);

  json b = d.process("b");
  EXPECT_EQ(b["state"], "STOPPED");
  EXPECT_EQ(b["pid"], 0);
  EXPECT_TRUE(b["uptime"].is_null()) << b.dump();
  EXPECT_TRUE(b["exit_code"].is_null()) << b.dump();
  EXPECT_EQ(b["exit_signal"], SIGTERM);
  EXPECT_EQ(b["exit_signal_name"], "SIGTERM");
  EXPECT_EQ(b["needed_sigkill"], false);
  EXPECT_TRUE(b["stop_duration"].is_number()) << b.dump();
  EXPECT_EQ(b["restarts"], 0);  // a requested stop is no restart
  EXPECT_EQ(b["ready"], false);

  json off = d.process("off");
  EXPECT_EQ(off["state"], "STOPPED");
  EXPECT_EQ(off["pid"], 0);
  for (const char* key : {"uptime", "started_at", "exit_code", "exit_signal", "exited_at",
                          "needed_sigkill", "stop_duration", "spawn_error", "retry"}) {
    EXPECT_TRUE(off[key].is_null()) << key << " in " << off.dump();
  }
  EXPECT_EQ(off["description"], "Not started");

  json q = d.process("quitter");
  EXPECT_EQ(q["state"], "EXITED");
  EXPECT_EQ(q["exit_code"], 3);
  EXPECT_TRUE(q["exit_signal"].is_null());
  EXPECT_TRUE(q["needed_sigkill"].is_null()) << "not stopped on request: " << q.dump();

  // --json works for the other commands too, before or after the command.
  CommandResult r = d.ctl({"--json", "start", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  json started = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(started.is_object()) << r.out;
  EXPECT_EQ(started["ok"], true);
  EXPECT_EQ(started["results"][0]["name"], "off");
  EXPECT_EQ(started["results"][0]["result"], "started");
  r = d.ctl({"stop", "off", "--json"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  json stopped = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(stopped.is_object()) << r.out;
  EXPECT_EQ(stopped["results"][0]["result"], "stopped");
  EXPECT_EQ(stopped["results"][0]["needed_sigkill"], false);
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStatus, JsonUptimeWhileStarting) {
  // protocol(7): uptime is "seconds the current child has run (STARTING,
  // RUNNING, STOPPING), else null".
  Daemon d("[program.slow]\n" + child_cmd("--after 60") + "startsecs = 5\nstopwaitsecs = 1\n");
  d.start();
  ASSERT_TRUE(d.wait_state("slow", "STARTING"));
  json slow = d.process("slow");
  EXPECT_GT(slow["pid"].get<int>(), 0);
  EXPECT_TRUE(slow["uptime"].is_number()) << slow.dump();
  EXPECT_EQ(slow["description"], fmt::format("pid {}", slow["pid"].get<int>()));
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// start / stop / restart
// ===========================================================================

TEST(CtlStartStop, MessagesAndExitCodes) {
  Daemon d(sleeper("a") + sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);

  CommandResult r = d.ctl({"start", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "off: started\n");
  EXPECT_EQ(d.state("off"), "RUNNING") << "start returns once RUNNING";
  int pid = pid_of(d, "off");
  EXPECT_TRUE(process_alive(pid));

  r = d.ctl({"start", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "off: ERROR (already started)\n");
  EXPECT_EQ(pid_of(d, "off"), pid);

  r = d.ctl({"stop", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "off: stopped\n");
  EXPECT_FALSE(process_alive(pid)) << "stop returns once the process is gone";
  EXPECT_EQ(d.state("off"), "STOPPED");

  r = d.ctl({"stop", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "off: ERROR (not running)\n");

  // Unknown names: exit 1, and nothing is done for the known ones either.
  for (const char* cmd : {"start", "stop", "restart"}) {
    r = d.ctl({cmd, "nope"});
    EXPECT_EQ(r.code, 1) << cmd << ": " << r.out << r.err;
    EXPECT_EQ(r.out, "nope: ERROR (no such process)\n") << cmd;
  }
  r = d.ctl({"start", "off", "nope"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("off: started")));
  EXPECT_EQ(d.state("off"), "STOPPED");
  int a_pid = pid_of(d, "a");
  r = d.ctl({"stop", "a", "nope"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(pid_of(d, "a"), a_pid);
  EXPECT_EQ(d.state("a"), "RUNNING");

  // Bad arguments: exit 2.
  EXPECT_EQ(d.ctl({"start"}).code, 2);
  EXPECT_EQ(d.ctl({"frobnicate"}).code, 2);
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStart, ProgramThatCannotStartExitsSeven) {
  Daemon d(
      "[program.missing]\ncommand = \"/nonexistent/minisup-test-binary\"\n"
      "startsecs = 0\nstartretries = 0\nautostart = false\n"
      "[program.crasher]\ncommand = [\"/bin/sh\", \"-c\", \"exit 1\"]\n"
      "startsecs = 1\nstartretries = 0\nautostart = false\n" +
      sleeper("ok", "autostart = false\n"));
  d.start();
  CommandResult r = d.ctl({"start", "missing"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out,
              AllOf(StartsWith("missing: ERROR ("),
                    HasSubstr("exec /nonexistent/minisup-test-binary: No such file or directory")));
  EXPECT_EQ(d.state("missing"), "FATAL");

  r = d.ctl({"start", "crasher"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("crasher: ERROR ("));
  EXPECT_EQ(d.state("crasher"), "FATAL");

  // One failure among several: the others still start, the exit code is 7.
  r = d.ctl({"start", "ok", "missing"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok: started\n"));
  EXPECT_THAT(r.out, HasSubstr("missing: ERROR ("));
  EXPECT_EQ(d.state("ok"), "RUNNING");

  r = d.ctl({"restart", "missing"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("missing: ERROR ("));
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlRestart, GivesANewPid) {
  Daemon d(sleeper("a") + sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  int old_pid = pid_of(d, "a");
  CommandResult r = d.ctl({"restart", "a"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "a: started\n");
  int new_pid = pid_of(d, "a");
  EXPECT_GT(new_pid, 0);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_FALSE(process_alive(old_pid));
  EXPECT_TRUE(process_alive(new_pid));
  EXPECT_EQ(d.state("a"), "RUNNING");
  // Restarting a stopped program starts it.
  r = d.ctl({"restart", "off"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "off: started\n");
  EXPECT_EQ(d.state("off"), "RUNNING");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlRestart, AllStartsNothingBeforeEveryStopIsDone) {
  // "slow" (priority 1) takes a second to stop; "off" (priority 2) is
  // stopped. `restart all` must not start "off" while "slow" is still
  // stopping: the start half comes after every stop, in priority order.
  Daemon d("[program.slow]\n" + child_cmd("--after 60 --term-delay 1") +
           "startsecs = 0\nstopwaitsecs = 5\npriority = 1\n" +
           sleeper("off", "autostart = false\npriority = 2\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "slow", "--timeout", "5"}).code, 0);
  const int old_pid = pid_of(d, "slow");
  CommandResult r = d.ctl({"restart", "all"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "slow: started\noff: started\n");
  const json slow = d.process("slow");
  const json off = d.process("off");
  const double slow_exited = slow.value("exited_at", 0.0);
  const double slow_started = slow.value("started_at", 0.0);
  const double off_started = off.value("started_at", 0.0);
  EXPECT_NE(pid_of(d, "slow"), old_pid);
  EXPECT_FALSE(process_alive(old_pid));
  // The stop took about a second (--term-delay 1); both starts came after it.
  EXPECT_GT(slow_exited, 0.0) << slow.dump();
  EXPECT_GE(off_started, slow_exited) << slow.dump() << off.dump();
  EXPECT_GE(slow_started, slow_exited) << slow.dump();
  EXPECT_EQ(d.state("off"), "RUNNING");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlGroups, AllGroupStarAndGroupN) {
  Daemon d(sleeper("web", "numprocs = 3\n") + sleeper("solo"));
  d.start();
  CommandResult r = d.ctl({"wait", "all", "--timeout", "5"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "solo: RUNNING\nweb:0: RUNNING\nweb:1: RUNNING\nweb:2: RUNNING\n");

  r = d.ctl({"status", "web"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 3u) << r.out;
  EXPECT_EQ(d.ctl({"status", "web:*"}).out.size(), r.out.size());

  // group:N touches that one process only.
  int web0 = pid_of(d, "web:0"), web1 = pid_of(d, "web:1"), web2 = pid_of(d, "web:2");
  r = d.ctl({"stop", "web:1"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "web:1: stopped\n");
  EXPECT_FALSE(process_alive(web1));
  EXPECT_EQ(d.state("web:1"), "STOPPED");
  EXPECT_EQ(pid_of(d, "web:0"), web0);
  EXPECT_EQ(pid_of(d, "web:2"), web2);
  EXPECT_EQ(d.ctl({"status", "web"}).code, 3);
  EXPECT_EQ(d.ctl({"status", "web:0"}).code, 0);

  // group:* names every process of the group.
  r = d.ctl({"start", "web:*"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            "web:0: ERROR (already started)\nweb:1: started\nweb:2: ERROR (already started)\n");

  // A program name restarts all of its processes.
  web0 = pid_of(d, "web:0"), web1 = pid_of(d, "web:1"), web2 = pid_of(d, "web:2");
  int solo = pid_of(d, "solo");
  r = d.ctl({"restart", "web"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "web:0: started\nweb:1: started\nweb:2: started\n");
  EXPECT_NE(pid_of(d, "web:0"), web0);
  EXPECT_NE(pid_of(d, "web:1"), web1);
  EXPECT_NE(pid_of(d, "web:2"), web2);
  EXPECT_EQ(pid_of(d, "solo"), solo);

  // all
  std::vector<int> pids;
  for (const auto& p : d.status_json()) pids.push_back(p["pid"]);
  r = d.ctl({"stop", "all"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "solo: stopped\nweb:0: stopped\nweb:1: stopped\nweb:2: stopped\n");
  for (int pid : pids) EXPECT_FALSE(process_alive(pid)) << pid;
  EXPECT_EQ(d.ctl({"status"}).code, 3);
  r = d.ctl({"start", "all"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "solo: started\nweb:0: started\nweb:1: started\nweb:2: started\n");
  EXPECT_EQ(d.ctl({"status"}).code, 0);

  // A process number that does not exist.
  r = d.ctl({"stop", "web:7"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "web:7: ERROR (no such process)\n");
  EXPECT_EQ(d.ctl({"status", "web:7"}).code, 4);
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStop, RequireGracefulFailsOnlyWhenSigkillWasNeeded) {
  Daemon d("[program.stubborn]\n" + child_cmd("--ignore-term") +
           "startsecs = 0\nstopwaitsecs = 0.2\n" + sleeper("polite"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  CommandResult r = d.ctl({"stop", "--require-graceful", "polite"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "polite: stopped\n");
  r = d.ctl({"stop", "--require-graceful", "polite"});
  EXPECT_EQ(r.code, 0) << "not running is no failure: " << r.out << r.err;

  r = d.ctl({"stop", "--require-graceful", "stubborn"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  // stopwaitsecs 0.2, printed with one decimal (0.3 allows for a loaded machine).
  EXPECT_TRUE(r.out == "stubborn: stopped (needed SIGKILL after 0.2 s)\n" ||
              r.out == "stubborn: stopped (needed SIGKILL after 0.3 s)\n")
      << r.out;

  // Without the flag the same stop is a success.
  ASSERT_EQ(d.ctl({"start", "stubborn", "polite"}).code, 0);
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  r = d.ctl({"stop", "stubborn"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("needed SIGKILL"));

  // One SIGKILL among several processes is enough to fail.
  ASSERT_EQ(d.ctl({"start", "stubborn"}).code, 0);
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  r = d.ctl({"stop", "--require-graceful", "all"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("polite: stopped\n"));
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// signal / pid / version
// ===========================================================================

TEST(CtlSignal, DeliversSignalsToTheProcess) {
  Daemon d;
  fs::path got = d.dir() / "got";
  d.write_config(fmt::format("[program.trapper]\n"
                             "command = [\"/bin/sh\", \"-c\", \"trap 'echo usr1 >> {}' USR1; while "
                             ":; do sleep 0.05; done\"]\n"
                             "startsecs = 0\nstopasgroup = true\nstopwaitsecs = 2\n",
                             got.string()) +
                 "[program.victim]\n" + child_cmd("--after 60") +
                 "startsecs = 0\nautorestart = false\n" + sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "trapper", "victim", "--timeout", "5"}).code, 0);
  int trapper = pid_of(d, "trapper");

  CommandResult r = d.ctl({"signal", "USR1", "trapper"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "trapper: signalled\n");
  EXPECT_TRUE(eventually([&] { return read_file(got) == "usr1\n"; }, 5s)) << read_file(got);
  // Every spelling of the signal is accepted. (One at a time: signals of
  // the same number sent before the shell ran its trap would merge.)
  size_t expected_lines = 1;
  for (const char* sig : {"SIGUSR1", "usr1", "10"}) {
    r = d.ctl({"signal", sig, "trapper"});
    EXPECT_EQ(r.code, 0) << sig << ": " << r.out << r.err;
    ++expected_lines;
    EXPECT_TRUE(eventually([&] { return lines_of(read_file(got)).size() == expected_lines; }, 5s))
        << sig << ": " << read_file(got);
  }
  EXPECT_EQ(pid_of(d, "trapper"), trapper);
  EXPECT_EQ(d.state("trapper"), "RUNNING");

  // HUP kills a child with the default action: observed as its exit.
  int victim = pid_of(d, "victim");
  r = d.ctl({"signal", "HUP", "victim"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "victim: signalled\n");
  ASSERT_TRUE(d.wait_state("victim", "EXITED")) << d.log();
  EXPECT_EQ(d.process("victim")["exit_signal"], SIGHUP);
  EXPECT_FALSE(process_alive(victim));

  r = d.ctl({"signal", "HUP", "off"});
  EXPECT_EQ(r.out, "off: ERROR (not running)\n") << r.err;
  r = d.ctl({"signal", "BOGUS", "trapper"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("BOGUS"));
  r = d.ctl({"signal", "HUP", "nope"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "nope: ERROR (no such process)\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlPid, DaemonProgramAndZero) {
  Daemon d(sleeper("a") + sleeper("web", "numprocs = 2\n") + sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "web", "--timeout", "5"}).code, 0);
  CommandResult r = d.ctl({"pid"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, fmt::format("{}\n", d.pid()));
  r = d.ctl({"pid", "a"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, fmt::format("{}\n", pid_of(d, "a")));
  EXPECT_GT(pid_of(d, "a"), 0);
  r = d.ctl({"pid", "web:1"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, fmt::format("{}\n", pid_of(d, "web:1")));
  r = d.ctl({"pid", "off"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;  // not running: supervisorctl's NOT_RUNNING
  EXPECT_EQ(r.out, "0\n");
  r = d.ctl({"--json", "pid", "a"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out, nullptr, false).value("pid", -1), pid_of(d, "a"));
  r = d.ctl({"pid", "nope"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlVersion, PrintsTheDaemonVersion) {
  Daemon d(sleeper("a"));
  d.start();
  CommandResult r = d.ctl({"version"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(is_version_line(r.out)) << r.out;
  CommandResult j = d.ctl({"version", "--json"});
  EXPECT_EQ(j.code, 0) << j.out << j.err;
  json body = json::parse(j.out, nullptr, false);
  ASSERT_TRUE(body.is_object()) << j.out;
  EXPECT_EQ(body["version"].get<std::string>() + "\n", r.out);
  EXPECT_EQ(body["protocol"], 1);
  // minisupctl's own version needs no daemon.
  CommandResult own = run_command({MINISUPCTL_PATH, "--version"});
  EXPECT_EQ(own.code, 0) << own.out << own.err;
  EXPECT_THAT(own.out, HasSubstr(body["version"].get<std::string>()));
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// wait
// ===========================================================================

TEST(CtlWait, RunningStoppedTimeoutAndFatal) {
  Daemon d(sleeper("a") + "[program.slow]\n" + child_cmd("--after 60") +
           "startsecs = 5\nstopwaitsecs = 1\n" +
           "[program.doomed]\ncommand = [\"/bin/sh\", \"-c\", \"sleep 0.3; exit 1\"]\n"
           "startsecs = 1\nstartretries = 0\n");
  d.start();
  CommandResult r = d.ctl({"wait", "a", "--timeout", "5"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "a: RUNNING\n");

  // FATAL instead of RUNNING: exit 3 (doomed is STARTING when the wait begins).
  auto before = Clock::now();
  r = d.ctl({"wait", "doomed", "--timeout", "10"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_EQ(r.out, "doomed: FATAL\n");
  EXPECT_LT(seconds_since(before), 5.0) << "answered when FATAL, not at the timeout";

  // Timeout with fractions: exit 99, not before the timeout.
  before = Clock::now();
  r = d.ctl({"wait", "slow", "--timeout", "0.3"});
  double took = seconds_since(before);
  EXPECT_EQ(r.code, 99) << r.out << r.err;
  EXPECT_EQ(r.out, "slow: STARTING\n");
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 2.5);

  // --state, in any case.
  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  r = d.ctl({"wait", "a", "--state", "STOPPED", "--timeout", "5"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "a: STOPPED\n");
  EXPECT_EQ(d.ctl({"wait", "a", "--state", "stopped", "--timeout", "5"}).code, 0);
  // STOPPED while waiting for RUNNING is a dead end: exit 3 at once.
  r = d.ctl({"wait", "a", "--timeout", "5"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;

  // A wait in progress is answered when the state is reached.
  ASSERT_EQ(d.ctl({"start", "a"}).code, 0);
  const int waits_so_far = count_of(d.log(), "control: wait");
  Background waiter(ctl_argv(d, {"wait", "a", "--state", "STOPPED", "--timeout", "10"}),
                    d.dir() / "waiter.out");
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), "control: wait") > waits_so_far; }, 5s));
  EXPECT_FALSE(waiter.exit_code().has_value()) << waiter.out() << waiter.err();
  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  EXPECT_EQ(waiter.wait_exit(), 0) << waiter.out() << waiter.err();
  EXPECT_EQ(waiter.out(), "a: STOPPED\n");

  EXPECT_EQ(d.ctl({"wait", "a", "--state", "BOGUS"}).code, 2);
  EXPECT_EQ(d.ctl({"wait", "nope", "--timeout", "1"}).code, 1);
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// shutdown
// ===========================================================================

TEST(CtlShutdown, ReturnsOnlyOnceMinisupdHasExited) {
  Daemon d;
  fs::path lock = d.dir() / "worker.lock";
  d.write_config("[program.worker]\n" +
                 child_cmd("--lockfile " + lock.string() + " --term-delay 0.3") +
                 "startsecs = 0\nstopwaitsecs = 5\n" + sleeper("other"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  ASSERT_TRUE(eventually([&] { return fs::exists(lock); }));
  int worker = pid_of(d, "worker"), other = pid_of(d, "other");
  pid_t daemon_pid = d.pid();

  auto before = Clock::now();
  CommandResult r = d.ctl({"shutdown"});
  double took = seconds_since(before);
  // Checked at once: "shutdown waits until minisupd has exited" means the
  // daemon is gone (a zombie at most) when the command returns, so minisupd
  // must not close the requester's connection before its process exits.
  // A process in the kernel's exit path has closed all its descriptors
  // (that is how the client saw EOF) a moment before it turns into a
  // zombie: count it as gone once it holds no descriptor at all. Before
  // that, minisupd always holds some (epoll, signalfd, its log...).
  auto holds_descriptors = [](pid_t pid) {
    std::error_code ec;
    fs::directory_iterator it(fs::path("/proc") / std::to_string(pid) / "fd", ec);
    return !ec && it != fs::directory_iterator();
  };
  bool daemon_alive = process_alive(daemon_pid) && holds_descriptors(daemon_pid);
  bool worker_alive = process_alive(worker);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_FALSE(daemon_alive) << "minisupctl shutdown returned while minisupd still ran";
  EXPECT_FALSE(worker_alive);
  EXPECT_FALSE(process_alive(other));
  EXPECT_GE(took, 0.29) << "the worker's 0.3 s of graceful work were not waited for";
  EXPECT_FALSE(fs::exists(lock)) << "the worker was cut off";
  EXPECT_EQ(d.wait_exit(), 0) << d.log();
  CommandResult after = d.ctl({"status"});
  EXPECT_EQ(after.code, 4) << after.out << after.err;
  EXPECT_THAT(after.err, HasSubstr("minisupd is not running"));
}

// ===========================================================================
// events
// ===========================================================================

TEST(CtlEvents, StreamsStateChangesAndReplaysSince) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  int old_pid = pid_of(d, "a");

  Background json_events(ctl_argv(d, {"--json", "events"}), d.dir() / "events.json");
  Background text_events(ctl_argv(d, {"events"}), d.dir() / "events.txt");
  ASSERT_TRUE(eventually(
      [&] { return json_events.out().find("\"subscribed\":true") != std::string::npos; }, 5s))
      << json_events.out() << json_events.err();
  // The text client prints nothing until a change: wait until subscribed.
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), "control: events") >= 2; }, 5s)) << d.log();
  json subscribed = json_lines(json_events.out()).at(0);
  EXPECT_EQ(subscribed["ok"], true);
  std::int64_t base = subscribed["seq"].get<std::int64_t>();
  EXPECT_GE(base, 2) << "a went STOPPED -> STARTING -> RUNNING already";

  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  ASSERT_EQ(d.ctl({"start", "a"}).code, 0);
  ASSERT_TRUE(eventually([&] { return json_lines(json_events.out()).size() >= 5; }, 5s))
      << json_events.out();
  auto events = json_lines(json_events.out());
  ASSERT_EQ(events.size(), 5u) << json_events.out();
  const std::vector<std::pair<std::string, std::string>> expected{{"RUNNING", "STOPPING"},
                                                                  {"STOPPING", "STOPPED"},
                                                                  {"STOPPED", "STARTING"},
                                                                  {"STARTING", "RUNNING"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& e = events[i + 1];
    EXPECT_EQ(e["event"], "state") << e.dump();
    EXPECT_EQ(e["seq"], base + static_cast<std::int64_t>(i) + 1) << e.dump();
    EXPECT_EQ(e["process"], "a");
    EXPECT_EQ(e["group"], "a");
    EXPECT_EQ(e["from"], expected[i].first) << e.dump();
    EXPECT_EQ(e["to"], expected[i].second) << e.dump();
    EXPECT_TRUE(e["time"].is_number());
  }
  EXPECT_EQ(events[2]["pid"], old_pid) << "the exit names the child that ended";
  EXPECT_EQ(events[2]["exit_signal"], SIGTERM);
  EXPECT_EQ(events[4]["pid"], pid_of(d, "a"));

  ASSERT_TRUE(eventually([&] { return lines_of(text_events.out()).size() >= 4; }, 5s))
      << text_events.out();
  auto text = lines_of(text_events.out());
  EXPECT_THAT(text[0], HasSubstr(" a RUNNING -> STOPPING"));
  EXPECT_THAT(text[1], HasSubstr(" a STOPPING -> STOPPED"));
  EXPECT_THAT(text[3], HasSubstr(" a STARTING -> RUNNING"));

  // --since replays what minisupd still buffers, from seq 1 without gaps.
  Background replay(ctl_argv(d, {"events", "--json", "--since", "0"}), d.dir() / "replay.json");
  ASSERT_TRUE(eventually(
      [&] { return json_lines(replay.out()).size() >= static_cast<size_t>(base) + 5; }, 5s))
      << replay.out() << replay.err();
  auto replayed = json_lines(replay.out());
  EXPECT_EQ(replayed[0]["subscribed"], true);
  EXPECT_EQ(replayed[0]["seq"], base + 4);
  for (size_t i = 1; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i]["seq"], static_cast<std::int64_t>(i)) << replayed[i].dump();
  }

  // The same on the raw socket: the id on every line, and the connection
  // still answers requests while it streams.
  RawClient raw(d.socket_path());
  json first = raw.call({{"cmd", "events"}, {"since", base + 2}, {"id", "ev"}});
  EXPECT_EQ(first["ok"], true) << first.dump();
  EXPECT_EQ(first["id"], "ev");
  EXPECT_EQ(first["subscribed"], true);
  EXPECT_EQ(first["seq"], base + 4);
  for (std::int64_t seq = base + 3; seq <= base + 4; ++seq) {
    json e = raw.read_json(5s);
    EXPECT_EQ(e["id"], "ev") << e.dump();
    EXPECT_EQ(e["seq"], seq) << e.dump();
  }
  json pid_reply = raw.call({{"cmd", "pid"}, {"id", "p"}});
  EXPECT_EQ(pid_reply["id"], "p") << pid_reply.dump();
  EXPECT_EQ(pid_reply["pid"], d.pid());
  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  json live = raw.read_json(5s);
  EXPECT_EQ(live["id"], "ev") << live.dump();
  EXPECT_EQ(live["seq"], base + 5);
  EXPECT_EQ(live["to"], "STOPPING");

  // The streams end, with success, when minisupd exits.
  EXPECT_EQ(d.ctl({"shutdown"}).code, 0);
  EXPECT_EQ(json_events.wait_exit(), 0) << json_events.err();
  EXPECT_EQ(text_events.wait_exit(), 0) << text_events.err();
  EXPECT_EQ(replay.wait_exit(), 0) << replay.err();
  EXPECT_EQ(d.wait_exit(), 0);
}

// ===========================================================================
// minisupd unreachable; finding the socket
// ===========================================================================

TEST(CtlUnreachable, StatusExitsFourOthersSeven) {
  Daemon d(sleeper("a"));  // never started: no socket
  const std::string message =
      fmt::format("minisupd is not running (no socket at {})", d.socket_path().string());
  CommandResult r = d.ctl({"status"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(message));
  EXPECT_EQ(d.ctl({"status", "a"}).code, 4);
  const std::vector<std::vector<std::string>> others{
      {"start", "a"}, {"stop", "a"}, {"restart", "a"}, {"signal", "HUP", "a"},
      {"pid"},        {"version"},   {"reread"},       {"update"},
      {"wait", "a"},  {"shutdown"},  {"events"}};
  for (const auto& args : others) {
    r = d.ctl(args);
    EXPECT_EQ(r.code, 7) << args[0] << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(message)) << args[0];
  }

  // A stale socket file nobody listens on: connection refused.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, d.socket_path().c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    close(fd);
  }
  r = d.ctl({"status"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(fmt::format("minisupd is not running (connection refused at {})",
                                           d.socket_path().string())));
  r = d.ctl({"start", "a"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisupd is not running"));

  // A daemon that was up and is gone again.
  d.start();  // replaces the stale socket
  EXPECT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  EXPECT_EQ(d.stop(), 0);
  r = d.ctl({"status"});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisupd is not running"));
}

TEST(CtlSocketLookup, EnvironmentVariableAndConfigFile) {
  // The socket named relative to the config file: -c must resolve it there.
  Daemon d("[supervisor]\nsocket = \"minisup.sock\"\n\n" + sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  const std::string expected = fmt::format("{}\n", d.pid());

  CommandResult r =
      run_command({MINISUPCTL_PATH, "pid"}, {"MINISUP_SOCKET=" + d.socket_path().string()});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, expected);

  r = run_command({MINISUPCTL_PATH, "-c", d.config_path().string(), "pid"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, expected);
  r = run_command({MINISUPCTL_PATH, "--config", d.config_path().string(), "status"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("a  RUNNING   pid "));

  // -s and -c come before the environment.
  const std::string bogus = "MINISUP_SOCKET=" + (d.dir() / "nothing-here.sock").string();
  r = run_command({MINISUPCTL_PATH, "-s", d.socket_path().string(), "pid"}, {bogus});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, expected);
  r = run_command({MINISUPCTL_PATH, "-c", d.config_path().string(), "pid"}, {bogus});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, expected);
  // The environment is used: a wrong one is reported with its path.
  r = run_command({MINISUPCTL_PATH, "status"}, {bogus});
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("nothing-here.sock"));

  // -c and -s together are a usage error; so is a config that does not load.
  r = run_command(
      {MINISUPCTL_PATH, "-c", d.config_path().string(), "-s", d.socket_path().string(), "pid"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  r = run_command({MINISUPCTL_PATH, "-c", (d.dir() / "missing.toml").string(), "pid"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// reread / update / SIGHUP
// ===========================================================================

/// The first config of the reload tests.
std::string reload_config_v1() { return sleeper("keep") + sleeper("change") + sleeper("gone"); }

/// The second: keep unchanged, change's command differs, gone removed,
/// fresh added.
std::string reload_config_v2() {
  return sleeper("keep") + "[program.change]\n" + child_cmd("--after 61") +
         "startsecs = 0\nstopwaitsecs = 2\n" + sleeper("fresh");
}

TEST(ReloadUpdate, RereadShowsAndUpdateAppliesOnlyWhatChanged) {
  Daemon d(reload_config_v1());
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  int keep = pid_of(d, "keep"), change = pid_of(d, "change"), gone = pid_of(d, "gone");

  CommandResult r = d.ctl({"reread"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "No config updates to processes\n");

  d.write_config(reload_config_v2());
  r = d.ctl({"reread"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "fresh: added\nchange: changed\ngone: removed\n");
  r = d.ctl({"--json", "reread"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  json changes = json::parse(r.out, nullptr, false);
  EXPECT_EQ(changes["added"], json::array({"fresh"})) << r.out;
  EXPECT_EQ(changes["changed"], json::array({"change"})) << r.out;
  EXPECT_EQ(changes["removed"], json::array({"gone"})) << r.out;
  // reread applies nothing.
  EXPECT_EQ(process_names(d), (std::vector<std::string>{"change", "gone", "keep"}));
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(pid_of(d, "change"), change);
  EXPECT_EQ(pid_of(d, "gone"), gone);

  r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("fresh: added\n"));
  EXPECT_THAT(r.out, HasSubstr("change: "));
  EXPECT_THAT(r.out, HasSubstr("gone: removed\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("keep")));
  EXPECT_TRUE(eventually(
      [&] {
        return process_names(d) == std::vector<std::string>{"change", "fresh", "keep"} &&
               d.state("fresh") == "RUNNING" && d.state("change") == "RUNNING" &&
               pid_of(d, "change") != change;
      },
      5s))
      << d.ctl({"status"}).out;
  EXPECT_EQ(pid_of(d, "keep"), keep) << "an unchanged program keeps its process";
  EXPECT_TRUE(process_alive(keep));
  EXPECT_TRUE(eventually([&] { return !process_alive(change) && !process_alive(gone); }, 5s));
  EXPECT_TRUE(process_alive(pid_of(d, "change")));
  EXPECT_EQ(d.ctl({"status", "gone"}).code, 4);

  r = d.ctl({"reread"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "No config updates to processes\n");
  r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(d.stop(), 0);
}

TEST(ReloadUpdate, AnswersOnlyWhenTheChangesAreDone) {
  // protocol(7): update "is answered when done", as stop is: changed and
  // removed programs that take 0.3 s to stop must be gone (and the changed
  // one running again) when minisupctl update returns.
  Daemon d;
  auto slow = [&](const std::string& name, const std::string& after) {
    return fmt::format("[program.{}]\n{}startsecs = 0\nstopwaitsecs = 5\n", name,
                       child_cmd("--term-delay 0.3 --after " + after));
  };
  d.write_config(sleeper("keep") + slow("change", "60") + slow("gone", "60"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  int change = pid_of(d, "change"), gone = pid_of(d, "gone");
  d.write_config(sleeper("keep") + slow("change", "61") + sleeper("fresh"));
  CommandResult r = d.ctl({"update"});
  bool change_alive = process_alive(change), gone_alive = process_alive(gone);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_FALSE(gone_alive) << "update returned before the removed program had stopped";
  EXPECT_FALSE(change_alive) << "update returned before the changed program had stopped";
  EXPECT_EQ(d.state("change"), "RUNNING");
  EXPECT_NE(pid_of(d, "change"), change);
  EXPECT_EQ(d.state("fresh"), "RUNNING");
  EXPECT_EQ(d.process("gone"), nullptr);
  EXPECT_EQ(d.stop(), 0);
}

TEST(ReloadUpdate, InvalidConfigIsReportedAndChangesNothing) {
  Daemon d(reload_config_v1());
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  auto names = process_names(d);
  int keep = pid_of(d, "keep"), change = pid_of(d, "change"), gone = pid_of(d, "gone");

  // v2 (which would add, change and remove) plus an error at a known place.
  std::string text = reload_config_v2();
  size_t error_line = lines_of(text).size() + 3;
  text += "[program.broken]\ncommand = \"/bin/true\"\nstartsecs = \"ten\"\n";
  d.write_config(text);
  const std::string where =
      fmt::format("minisup.toml:{}:13: startsecs must be a non-negative number", error_line);
  for (const char* cmd : {"reread", "update"}) {
    CommandResult r = d.ctl({cmd});
    EXPECT_EQ(r.code, 1) << cmd << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(where)) << cmd;
    EXPECT_THAT(r.out, Not(HasSubstr("added"))) << cmd;
  }
  CommandResult r = d.ctl({"--json", "update"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  json body = json::parse(r.out, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "invalid_config") << r.out;
  ASSERT_TRUE(body["errors"].is_array()) << r.out;
  ASSERT_EQ(body["errors"].size(), 1u) << r.out;
  EXPECT_THAT(body["errors"][0].get<std::string>(), HasSubstr(where));

  // Also through SIGHUP: logged, nothing changes.
  const int reported = count_of(d.log(), where);
  d.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), where) > reported; }, 5s)) << d.log();
  EXPECT_TRUE(d.running());

  EXPECT_EQ(process_names(d), names);
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(pid_of(d, "change"), change);
  EXPECT_EQ(pid_of(d, "gone"), gone);
  for (const char* name : {"keep", "change", "gone"}) EXPECT_EQ(d.state(name), "RUNNING") << name;

  // Once fixed, the same changes apply.
  d.write_config(reload_config_v2());
  r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(eventually(
      [&] {
        return process_names(d) == std::vector<std::string>{"change", "fresh", "keep"};
      },
      5s));
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(d.stop(), 0);
}

TEST(ReloadSighup, AppliesLikeUpdate) {
  Daemon d(reload_config_v1());
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  int keep = pid_of(d, "keep"), change = pid_of(d, "change"), gone = pid_of(d, "gone");
  d.write_config(reload_config_v2());
  d.signal(SIGHUP);
  EXPECT_TRUE(eventually(
      [&] {
        return process_names(d) == std::vector<std::string>{"change", "fresh", "keep"} &&
               d.state("fresh") == "RUNNING" && d.state("change") == "RUNNING" &&
               pid_of(d, "change") != change;
      },
      5s))
      << d.ctl({"status"}).out << d.log();
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_TRUE(eventually([&] { return !process_alive(change) && !process_alive(gone); }, 5s));
  EXPECT_TRUE(d.running());
  EXPECT_EQ(d.ctl({"reread"}).out, "No config updates to processes\n");
  EXPECT_EQ(d.stop(), 0);
}

// ===========================================================================
// The raw socket: protocol details and robustness
// ===========================================================================

TEST(SocketProtocol, IdsAreEchoedAndUnknownCommandsRejected) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  RawClient c(d.socket_path());
  json reply = c.call({{"cmd", "frobnicate"}, {"id", "x1"}});
  EXPECT_EQ(reply["ok"], false) << reply.dump();
  EXPECT_EQ(reply["id"], "x1");
  EXPECT_EQ(reply["error"]["code"], "unknown_command");
  EXPECT_TRUE(reply["error"]["message"].is_string());

  for (const json& id :
       {json(42), json("text"), json::parse(R"({"a":[1,2]})"), json(1.5), json(true)}) {
    reply = c.call({{"cmd", "version"}, {"id", id}});
    EXPECT_EQ(reply["ok"], true) << reply.dump();
    EXPECT_EQ(reply["id"], id) << reply.dump();
  }
  reply = c.call({{"cmd", "version"}});
  ASSERT_TRUE(reply.contains("id")) << reply.dump();
  EXPECT_TRUE(reply["id"].is_null());

  reply = c.call({{"cmd", "stop"}, {"names", json::array({"nope"})}, {"id", 9}});
  EXPECT_EQ(reply["id"], 9);
  EXPECT_EQ(reply["error"]["code"], "no_such_program") << reply.dump();
  EXPECT_EQ(reply["names"], json::array({"nope"}));
  reply = c.call({{"cmd", "start"}, {"id", 10}});
  EXPECT_EQ(reply["id"], 10);
  EXPECT_EQ(reply["error"]["code"], "bad_request") << reply.dump();
  reply =
      c.call({{"cmd", "signal"}, {"signal", "NOPE"}, {"names", json::array({"a"})}, {"id", 11}});
  EXPECT_EQ(reply["error"]["code"], "bad_signal") << reply.dump();

  // Pipelined requests that complete at once are answered in order; blank
  // lines and a trailing \r are ignored.
  ASSERT_TRUE(
      c.send_raw("{\"cmd\":\"status\",\"id\":1}\n\n   \n{\"cmd\":\"version\",\"id\":2}\r\n"
                 "{\"cmd\":\"pid\",\"id\":3}\n"));
  for (int id = 1; id <= 3; ++id) {
    reply = c.read_json(5s);
    EXPECT_EQ(reply["id"], id) << reply.dump();
    EXPECT_EQ(reply["ok"], true) << reply.dump();
  }
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, GarbageGetsAnErrorAndTheConnectionStaysUsable) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  RawClient c(d.socket_path());
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  static constexpr char kBinary[] = "\x00\x01\x02\xff\xfe\x7f garbage\n";
  const std::vector<std::pair<std::string, std::string>> garbage{
      {"hello world\n", "bad_json"},
      {std::string(kBinary, sizeof(kBinary) - 1), "bad_json"},
      {"{\"cmd\":\"status\",\"id\":\"\xff\xfe\xc3\"}\n", "bad_json"},  // invalid UTF-8
      {"{\"cmd\":\"status\"\n", "bad_json"},                           // truncated object
      {"{\"cmd\":\"status\",\"x\":" + deep + "}\n", "bad_json"},       // nests too deep
      {"[1,2,3]\n", "bad_request"},
      {"\"status\"\n", "bad_request"},
      {"{}\n", "bad_request"},
      {"{\"cmd\":42}\n", "bad_request"},
  };
  int id = 0;
  for (const auto& [bytes, code] : garbage) {
    ASSERT_TRUE(c.send_raw(bytes));
    json reply = c.read_json(2s);
    ASSERT_TRUE(reply.is_object())
        << "no reply to " << json(bytes).dump(-1, ' ', false, json::error_handler_t::replace);
    EXPECT_EQ(reply["ok"], false) << reply.dump();
    EXPECT_EQ(reply["error"]["code"], code) << reply.dump();
    // The same connection still works.
    reply = c.call({{"cmd", "version"}, {"id", ++id}}, 2s);
    EXPECT_EQ(reply["ok"], true) << reply.dump();
    EXPECT_EQ(reply["id"], id) << reply.dump();
    expect_responsive(d);
  }

  // Garbage, then an abrupt close (dinit#354).
  for (int i = 0; i < 5; ++i) {
    RawClient bad(d.socket_path());
    bad.send_raw(std::string("\xff\xfe{{{\x00\"cmd", 10));
  }
  expect_responsive(d);
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, OverlongLineIsRefusedAndClosed) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);

  // Exactly 1 MiB (newline not counted) is accepted.
  {
    RawClient c(d.socket_path());
    set_send_timeout(c, 5s);
    std::string line = R"({"cmd":"version","id":"big","pad":")";
    line += std::string(1048576 - line.size() - 2, 'x');
    line += "\"}";
    ASSERT_EQ(line.size(), 1048576u);
    ASSERT_TRUE(c.send_raw(line + "\n"));
    json reply = c.read_json(5s);
    EXPECT_EQ(reply["ok"], true) << reply.dump().substr(0, 300);
    EXPECT_EQ(reply["id"], "big");
    reply = c.call({{"cmd", "version"}, {"id", 2}}, 2s);
    EXPECT_EQ(reply["id"], 2);
  }

  // A 2 MiB line: too_large, then the connection is closed.
  {
    RawClient c(d.socket_path());
    set_send_timeout(c, 5s);
    std::string line(2 * 1048576, 'a');
    line += "\n";
    c.send_raw(line);  // may fail half-way: minisupd closes without reading the rest
    json reply = c.read_json(5s);
    ASSERT_TRUE(reply.is_object()) << "no too_large reply";
    EXPECT_EQ(reply["ok"], false);
    EXPECT_EQ(reply["error"]["code"], "too_large") << reply.dump();
    EXPECT_TRUE(c.closed_by_peer());
  }
  expect_responsive(d);

  // Over 1 MiB without a newline: minisupd does not wait for the rest.
  {
    RawClient c(d.socket_path());
    set_send_timeout(c, 5s);
    c.send_raw(std::string(1048576 + 4096, '{'));
    json reply = c.read_json(5s);
    ASSERT_TRUE(reply.is_object()) << "no too_large reply before the line ended";
    EXPECT_EQ(reply["error"]["code"], "too_large") << reply.dump();
    EXPECT_TRUE(c.closed_by_peer());
  }
  expect_responsive(d);
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, HalfLineThenSilenceDelaysNoOne) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  RawClient half(d.socket_path());
  ASSERT_TRUE(half.send_raw(R"({"cmd":"sta)"));
  std::vector<std::unique_ptr<RawClient>> more;
  for (int i = 0; i < 20; ++i) {
    more.push_back(std::make_unique<RawClient>(d.socket_path()));
    more.back()->send_raw(R"({"cmd":"version","id":)");
  }
  expect_responsive(d);
  ASSERT_EQ(d.ctl({"stop", "a"}).code, 0);
  ASSERT_EQ(d.ctl({"start", "a"}).code, 0);
  expect_responsive(d);
  // The half line is kept: completing it gets the answer.
  ASSERT_TRUE(half.send_raw(R"(tus","id":"late"})"
                            "\n"));
  json reply = half.read_json(2s);
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["id"], "late");
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, ClientThatNeverReadsDelaysNoOneAndIsDropped) {
  // 20 processes: each status reply is several KiB, so the unread replies
  // pass minisupd's 8 MiB limit quickly.
  Daemon d(sleeper("web", "numprocs = 20\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "10"}).code, 0);
  RawClient greedy(d.socket_path());
  set_send_timeout(greedy, 2s);
  std::string batch;
  for (int i = 0; i < 500; ++i) batch += fmt::format("{{\"cmd\":\"status\",\"id\":{}}}\n", i);

  std::thread blaster([&] {
    // Up to 5000 requests (~35 MB of replies) or until minisupd cuts us off.
    for (int round = 0; round < 10 && greedy.send_raw(batch); ++round) {
    }
  });
  // Others are served while the greedy client is being handled.
  for (int i = 0; i < 5 && !::testing::Test::HasFatalFailure(); ++i) expect_responsive(d);
  blaster.join();
  expect_responsive(d);
  EXPECT_TRUE(greedy.closed_by_peer(5s)) << "a client over the unread-reply limit must be dropped";
  expect_responsive(d);
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, ManyClientsAtOnceAreAllAnswered) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  // 128 is the contract's minimum of clients served at once.
  constexpr int kClients = 128;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i)
    clients.push_back(std::make_unique<RawClient>(d.socket_path()));
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(clients[i]->send({{"cmd", "status"}, {"id", i}}));
  int answered = 0;
  for (int i = 0; i < kClients; ++i) {
    json reply = clients[i]->read_json(5s);
    if (!reply.is_object()) continue;
    EXPECT_EQ(reply["id"], i);
    EXPECT_EQ(reply["ok"], true) << reply.dump();
    EXPECT_EQ(reply["processes"][0]["name"], "a");
    ++answered;
  }
  EXPECT_EQ(answered, kClients);
  // Still all connected and served, with a minisupctl on top.
  for (int i = 0; i < kClients; ++i) {
    json reply = clients[i]->call({{"cmd", "pid"}, {"id", i}}, 5s);
    EXPECT_EQ(reply["pid"], d.pid()) << i << ": " << reply.dump();
  }
  expect_responsive(d);
  EXPECT_EQ(d.stop(), 0);
}

TEST(SocketRobustness, SilentClientsDelayNoOne) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "a", "--timeout", "5"}).code, 0);
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 10; ++i) silent.push_back(std::make_unique<RawClient>(d.socket_path()));
  expect_responsive(d);
  CommandResult r = d.ctl({"restart", "a"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  expect_responsive(d);
  // A silent client that speaks up later is served.
  json reply = silent[3]->call({{"cmd", "version"}, {"id", "late"}}, 2s);
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["id"], "late");
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
