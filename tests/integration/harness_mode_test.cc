// Integration tests of what test suites and service managers rely on when
// they drive minisupd from a script (DESIGN "Readiness, dependencies and
// harness mode"): `wait` that waits for minisupd to listen, `wait all` (the
// autostart processes), `stop --require-clean` and the stop's verdict, the
// shutdown summary line, sd_notify to NOTIFY_SOCKET, and `minisupd
// --socket`.
//
// Suites: CtlWaitForDaemon, CtlWaitAll, CtlStopClean, ShutdownSummary,
// SdNotify, DaemonSocketOption.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <thread>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------
// wait --timeout waits for minisupd to listen
// ---------------------------------------------------------------------------

TEST(CtlWaitForDaemon, WaitStartedBeforeMinisupdSucceeds) {
  Daemon d(sleeper("web"));
  CommandResult wait;
  std::thread waiter([&] { wait = d.ctl({"wait", "web", "--timeout", "10"}); });
  std::this_thread::sleep_for(300ms);  // minisupctl is retrying by now
  d.start();
  waiter.join();
  EXPECT_EQ(wait.code, 0) << wait.out << wait.err;
  EXPECT_EQ(wait.out, "web: RUNNING\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlWaitForDaemon, WaitAllStartedBeforeMinisupdSucceeds) {
  // The intended start of a test script: minisupd & minisupctl wait all.
  Daemon d(sleeper("a") + sleeper("b"));
  CommandResult wait;
  std::thread waiter([&] { wait = d.ctl({"wait", "all", "--timeout", "10"}); });
  std::this_thread::sleep_for(300ms);
  d.start();
  waiter.join();
  EXPECT_EQ(wait.code, 0) << wait.out << wait.err;
  EXPECT_EQ(wait.out, "a: RUNNING\nb: RUNNING\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlWaitForDaemon, ExitsSevenWhenMinisupdNeverAnswers) {
  Daemon d(sleeper("web"));  // never started: no socket file
  auto start = Clock::now();
  CommandResult r = d.ctl({"wait", "web", "--timeout", "0.5"});
  const double took = seconds_since(start);
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisupd did not answer within 0.5 s"));
  EXPECT_THAT(r.err, HasSubstr(d.socket_path().string()));
  EXPECT_GE(took, 0.45);
  EXPECT_LT(took, 5.0);
}

TEST(CtlWaitForDaemon, ExitsSevenOnAStaleSocketFile) {
  Daemon d(sleeper("web"));
  // A socket file nobody listens on (minisupd was killed): connection refused.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, d.socket_path().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  auto start = Clock::now();
  CommandResult r = d.ctl({"wait", "web", "--timeout", "0.3"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("connection refused"));
  EXPECT_GE(seconds_since(start), 0.25);
}

TEST(CtlWaitForDaemon, WithoutTimeoutFailsAtOnce) {
  Daemon d(sleeper("web"));
  auto start = Clock::now();
  CommandResult r = d.ctl({"wait", "web"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisupd is not running"));
  EXPECT_LT(seconds_since(start), 2.0);
}

// ---------------------------------------------------------------------------
// wait all = the autostart processes
// ---------------------------------------------------------------------------

TEST(CtlWaitAll, MeansTheProcessesMinisupdStartsByItself) {
  Daemon d(sleeper("a") + sleeper("off", "autostart = false\n") +
           sleeper("pool", "numprocs = 2\n"));
  d.start();
  CommandResult r = d.ctl({"wait", "all", "--timeout", "5"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "a: RUNNING\npool:0: RUNNING\npool:1: RUNNING\n");
  EXPECT_EQ(d.state("off"), "STOPPED");

  // Named next to all, a program that does not autostart is waited for.
  r = d.ctl({"wait", "all", "off", "--timeout", "0.2"});
  EXPECT_EQ(r.code, 3) << "STOPPED cannot become RUNNING by itself: " << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("off: STOPPED"));
  ASSERT_EQ(d.ctl({"start", "off"}).code, 0);
  r = d.ctl({"wait", "all", "off", "--timeout", "5"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("off: RUNNING"));
  // Other commands keep `all` = every process.
  r = d.ctl({"stop", "all"});
  EXPECT_THAT(r.out, HasSubstr("off: stopped"));
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// stop --require-clean and the verdict
// ---------------------------------------------------------------------------

TEST(CtlStopClean, AProgramKilledByItsStopSignalIsGracefulButNotClean) {
  Daemon d(sleeper("noterm"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  CommandResult r = d.ctl({"stop", "--require-graceful", "noterm"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "noterm: stopped\n");

  ASSERT_EQ(d.ctl({"start", "noterm"}).code, 0);
  r = d.ctl({"stop", "--require-clean", "noterm"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "noterm: stopped\n");
  EXPECT_THAT(r.err, HasSubstr("noterm: not a clean stop: killed by SIGTERM (--require-clean)"));

  ASSERT_EQ(d.ctl({"start", "noterm"}).code, 0);
  r = d.ctl({"--json", "stop", "noterm"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  json reply = json::parse(r.out);
  const json& result = reply["results"][0];
  EXPECT_EQ(result["verdict"], "graceful");
  EXPECT_EQ(result["expected"], false);
  EXPECT_EQ(result["exit_signal"], SIGTERM);
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStopClean, AProgramThatExitsZeroOnTermIsClean) {
  // startsecs = 0.5: RUNNING (and so the replies of `wait` and `start`)
  // only once the helper has blocked SIGTERM to wait for it; stopped before
  // that, it would die of SIGTERM, which is not clean.
  Daemon d("[program.clean]\n" + child_cmd("--after 60 --term-delay 0") +
           "startsecs = 0.5\nstopwaitsecs = 2\n" + "[program.odd]\n" +
           child_cmd("--after 60 --term-delay 0") +
           "startsecs = 0.5\nstopwaitsecs = 2\nexitcodes = [3]\n");
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  CommandResult r = d.ctl({"stop", "--require-graceful", "clean"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_EQ(d.ctl({"start", "clean"}).code, 0);
  r = d.ctl({"stop", "--require-clean", "clean"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "clean: stopped\n");

  // Exit 0 is not clean for a program whose exitcodes are [3].
  r = d.ctl({"stop", "--require-clean", "odd"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("odd: not a clean stop: exit code 0 is not in its exitcodes"));

  // Not running is no failure.
  r = d.ctl({"stop", "--require-clean", "clean"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(d.stop(), 0);
}

TEST(CtlStopClean, NeededSigkillIsNeitherGracefulNorClean) {
  Daemon d("[program.stubborn]\n" + child_cmd("--ignore-term") +
           "startsecs = 0\nstopwaitsecs = 0.2\n");
  d.start();
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  CommandResult r = d.ctl({"--json", "stop", "--require-clean", "stubborn"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  json reply = json::parse(r.out);
  EXPECT_EQ(reply["results"][0]["verdict"], "killed");
  EXPECT_EQ(reply["results"][0]["needed_sigkill"], true);
  EXPECT_THAT(r.err, HasSubstr("stubborn: needed SIGKILL after"));
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// The shutdown summary
// ---------------------------------------------------------------------------

TEST(ShutdownSummary, NamesTheProcessesThatNeededSigkill) {
  Daemon d("[program.stubborn]\n" + child_cmd("--ignore-term") +
           "startsecs = 0\nstopwaitsecs = 0.2\n" + sleeper("a") + sleeper("b") +
           sleeper("off", "autostart = false\n"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  EXPECT_EQ(d.stop(), 0);
  const std::string log = d.log();
  EXPECT_THAT(log, HasSubstr("shutdown complete: 3 processes stopped in 0."));
  EXPECT_THAT(log, HasSubstr(" s; 1 needed SIGKILL (stubborn)"));
}

TEST(ShutdownSummary, SaysWhenNoneNeededSigkill) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  ASSERT_EQ(d.ctl({"shutdown"}).code, 0);
  EXPECT_EQ(d.wait_exit(), 0);
  EXPECT_THAT(d.log(), HasSubstr("shutdown complete: 1 process stopped in 0."));
  EXPECT_THAT(d.log(), HasSubstr(" s; none needed SIGKILL"));
}

// ---------------------------------------------------------------------------
// sd_notify
// ---------------------------------------------------------------------------

/// A datagram socket standing in for systemd's notify socket.
class NotifyListener {
 public:
  explicit NotifyListener(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("bind " + path.string() + ": " + std::strerror(errno));
  }
  ~NotifyListener() { ::close(fd_); }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  /// The next datagram; nullopt after `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 10s) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  /// Receives until a datagram contains `text`; every datagram seen, in
  /// order, goes to `seen`. False after `timeout`.
  bool receive_until(const std::string& text, std::vector<std::string>& seen,
                     std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto message = receive(left);
      if (!message) return false;
      seen.push_back(*message);
      if (message->find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

/// Sets an environment variable for the minisupd a test starts (it
/// inherits the test's environment), and removes it again.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

TEST(SdNotify, ReadyAfterTheProgramsRunStoppingOnSigterm) {
  Daemon d("[program.slow]\n" +
           child_cmd("--print-env NOTIFY_SOCKET --print-env LISTEN_FDS --after 60") +
           "startsecs = 0.3\nstdout_logfile = \"slow.out\"\n" + sleeper("quick") +
           sleeper("off", "autostart = false\n"));
  NotifyListener listener(d.dir() / "notify.sock");
  std::optional<ScopedEnv> notify_socket, listen_fds;
  notify_socket.emplace("NOTIFY_SOCKET", (d.dir() / "notify.sock").string());
  listen_fds.emplace("LISTEN_FDS", "3");
  const auto start = Clock::now();
  d.start();
  notify_socket.reset();
  listen_fds.reset();

  std::vector<std::string> seen;
  ASSERT_TRUE(listener.receive_until("READY=1", seen)) << d.log();
  // slow needs startsecs (0.3 s) to be RUNNING: READY=1 cannot come sooner.
  EXPECT_GE(seconds_since(start), 0.29);
  EXPECT_EQ(d.state("slow"), "RUNNING");
  EXPECT_EQ(d.state("quick"), "RUNNING");
  EXPECT_THAT(seen.back(), HasSubstr("STATUS=2 running, 1 stopped"));
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_THAT(seen[i], Not(HasSubstr("READY=1")));
    EXPECT_THAT(seen[i], HasSubstr("STATUS="));
  }
  EXPECT_THAT(seen.front(), HasSubstr("starting"));

  // The child got neither minisupd's NOTIFY_SOCKET nor LISTEN_*.
  ASSERT_TRUE(eventually([&] { return read_file(d.dir() / "slow.out").size() > 0; }));
  EXPECT_TRUE(eventually([&] {
    return read_file(d.dir() / "slow.out") == "NOTIFY_SOCKET unset\nLISTEN_FDS unset\n";
  })) << read_file(d.dir() / "slow.out");

  seen.clear();
  d.signal(SIGTERM);
  ASSERT_TRUE(listener.receive_until("STOPPING=1", seen)) << d.log();
  EXPECT_THAT(seen.back(), HasSubstr("STATUS=shutting down"));
  EXPECT_EQ(d.wait_exit(), 0);
}

TEST(SdNotify, ReadyAtOnceWhenNothingAutostartsAndAfterAFailure) {
  Daemon d("[program.broken]\ncommand = \"/nonexistent/program\"\nstartretries = 0\n" +
           sleeper("off", "autostart = false\n"));
  NotifyListener listener(d.dir() / "notify.sock");
  std::optional<ScopedEnv> notify_socket;
  notify_socket.emplace("NOTIFY_SOCKET", (d.dir() / "notify.sock").string());
  d.start();
  notify_socket.reset();
  std::vector<std::string> seen;
  ASSERT_TRUE(listener.receive_until("READY=1", seen)) << d.log();
  EXPECT_EQ(d.state("broken"), "FATAL");
  EXPECT_THAT(seen.back(), HasSubstr("1 fatal"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(SdNotify, WithoutNotifySocketNothingChanges) {
  ASSERT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  Daemon d(sleeper("a"));
  d.start();
  EXPECT_EQ(d.ctl({"wait", "all", "--timeout", "5"}).code, 0);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_THAT(d.log(), Not(HasSubstr("sd_notify")));
}

// ---------------------------------------------------------------------------
// minisupd --socket
// ---------------------------------------------------------------------------

TEST(DaemonSocketOption, OneConfigRunsTwiceInParallel) {
  Daemon d(sleeper("a"));
  d.start();  // on the config's socket
  const fs::path other = d.dir() / "other.sock";
  CommandResult second;
  std::thread runner([&] {
    second =
        run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--socket", other.string()});
  });
  auto ctl_other = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{MINISUPCTL_PATH, "-s", other.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  };
  CommandResult wait = ctl_other({"wait", "all", "--timeout", "10"});
  EXPECT_EQ(wait.code, 0) << wait.out << wait.err;
  const int first_pid = d.process("a").value("pid", 0);
  CommandResult pid = ctl_other({"pid", "a"});
  EXPECT_EQ(pid.code, 0);
  EXPECT_NE(std::atoi(pid.out.c_str()), first_pid) << "two minisupd, two children";
  EXPECT_EQ(d.state("a"), "RUNNING");
  // A reload keeps the socket of the command line (no warning about it).
  EXPECT_EQ(ctl_other({"update"}).code, 0);
  EXPECT_EQ(ctl_other({"shutdown"}).code, 0);
  runner.join();
  EXPECT_EQ(second.code, 0) << second.err;
  EXPECT_THAT(second.err, HasSubstr("socket " + other.string()));
  EXPECT_THAT(second.err, Not(HasSubstr("a new socket path")));
  EXPECT_FALSE(fs::exists(other));
  EXPECT_EQ(d.state("a"), "RUNNING");
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
