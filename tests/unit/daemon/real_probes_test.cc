// RealProbes with real sockets, real children and a real EventLoop: tcp,
// http and exec attempts (success, failure, bound, cancel, no child left
// behind) and notify sockets (READY=1, STATUS=, size and sender checks).
#include "supervisor/daemon/real_probes.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {
namespace {

using namespace std::chrono_literals;
using Result = Probes::Result;

/// A listening TCP socket on 127.0.0.1 (or ::1), on a free port.
struct Listener {
  sys::UniqueFd fd;
  int port = 0;

  explicit Listener(int family = AF_INET) {
    fd.reset(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd);
    sockaddr_storage storage{};
    socklen_t length;
    if (family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
      v4->sin_family = AF_INET;
      v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(sockaddr_in);
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
      v6->sin6_family = AF_INET6;
      v6->sin6_addr = in6addr_loopback;
      length = sizeof(sockaddr_in6);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
        ::listen(fd.get(), 16) != 0) {
      fd.reset();
      return;
    }
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length);
    port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port)
                             : ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  }
};

/// A one-connection HTTP server on a thread: reads the request head,
/// writes `response` and closes; with nullopt it answers nothing and holds
/// the connection until the client closes it.
class TinyHttp {
 public:
  explicit TinyHttp(std::optional<std::string> response) : response_(std::move(response)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttp() {
    ::shutdown(listener_.fd.get(), SHUT_RDWR);  // unblocks accept()
    thread_.join();
  }
  int port() const { return listener_.port; }
  /// The request head as received (valid after the probe finished).
  std::string request() {
    std::lock_guard lock(mutex_);
    return request_;
  }

 private:
  void serve() {
    sys::UniqueFd client(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) return;
    std::string head;
    char buffer[1024];
    while (head.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(client.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      request_ = head;
    }
    if (!response_) {
      // Hold the connection until the client closes it.
      while (::read(client.get(), buffer, sizeof buffer) > 0) {
      }
      return;
    }
    (void)!::write(client.get(), response_->data(), response_->size());
  }

  Listener listener_;
  std::optional<std::string> response_;
  std::mutex mutex_;
  std::string request_;
  std::thread thread_;
};

config::Probe tcp_probe(const std::string& address, int port) {
  config::Probe probe;
  probe.kind = config::Probe::Kind::Tcp;
  probe.host = address;
  probe.address = address;
  probe.port = port;
  return probe;
}

config::Probe http_probe(int port, const std::string& path) {
  config::Probe probe;
  probe.kind = config::Probe::Kind::Http;
  probe.host = "127.0.0.1";
  probe.address = "127.0.0.1";
  probe.port = port;
  probe.path = path;
  probe.url = "http://127.0.0.1:" + std::to_string(port) + path;
  return probe;
}

config::Probe exec_probe(std::vector<std::string> argv) {
  config::Probe probe;
  probe.kind = config::Probe::Kind::Exec;
  probe.exec = std::move(argv);
  return probe;
}

SpawnPlan plain_plan() {
  SpawnPlan plan;
  plan.process = "web";
  plan.argv = {"/bin/true"};
  plan.envp = {"PATH=/usr/bin:/bin"};
  return plan;
}

/// Sends `payload` to the abstract socket `name` ("@..."); returns errno.
int send_notify(const std::string& name, const std::string& payload) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
  auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (::sendto(fd.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr),
               length) < 0) {
    return errno;
  }
  return 0;
}

class RealProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    // The daemon's reap loop, in small: every reaped child goes to
    // child_reaped(); the others are strangers.
    loop_.watch_signals(set, [this](const signalfd_siginfo&) {
      for (const sys::Reaped& reaped : sys::reap_all()) {
        if (probes_ && probes_->child_reaped(reaped)) {
          ++probe_reaps_;
        } else {
          strangers_.push_back(reaped);
        }
      }
    });
    probes_ = std::make_unique<RealProbes>(loop_);
  }

  /// Runs the loop until `done()` or `timeout`; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    if (done()) return true;
    const auto deadline = loop::EventLoop::now() + timeout;
    std::function<void()> check = [&] {
      if (done() || loop::EventLoop::now() >= deadline) {
        loop_.stop();
        return;
      }
      loop_.add_timer(loop::EventLoop::now() + 1ms, check);
    };
    loop_.add_timer(loop::EventLoop::now(), check);
    loop_.run();
    return done();
  }

  /// Starts an attempt and runs the loop until its one result. Checks that
  /// `done` was not called from inside attempt().
  Result run_attempt(const config::Probe& probe, std::chrono::nanoseconds bound = 5s,
                     const SpawnPlan& plan = plain_plan()) {
    std::vector<Result> results;
    probes_->attempt(probe, plan, bound, [&](Result r) { results.push_back(std::move(r)); });
    EXPECT_TRUE(results.empty()) << "done() called from inside attempt()";
    EXPECT_TRUE(run_until([&] { return !results.empty(); }));
    // Exactly once: a few more rounds bring no second call.
    run_until([] { return false; }, 20ms);
    EXPECT_EQ(results.size(), 1u);
    EXPECT_EQ(probes_->active_attempts(), 0u);
    return results.empty() ? Result{false, "no result"} : results.front();
  }

  loop::EventLoop loop_;
  std::unique_ptr<RealProbes> probes_;
  int probe_reaps_ = 0;
  std::vector<sys::Reaped> strangers_;
};

// ---- tcp

TEST_F(RealProbesTest, TcpSucceedsOnAListeningPort) {
  Listener listener;
  ASSERT_TRUE(listener.fd);
  Result result = run_attempt(tcp_probe("127.0.0.1", listener.port));
  EXPECT_TRUE(result.ok) << result.detail;
}

TEST_F(RealProbesTest, TcpSucceedsOverIpv6) {
  Listener listener(AF_INET6);
  if (!listener.fd) GTEST_SKIP() << "no IPv6 loopback";
  Result result = run_attempt(tcp_probe("::1", listener.port));
  EXPECT_TRUE(result.ok) << result.detail;
}

TEST_F(RealProbesTest, TcpRefusedSaysWhere) {
  int port;
  {
    Listener closed;  // a port that was free a moment ago, closed again
    port = closed.port;
  }
  Result result = run_attempt(tcp_probe("127.0.0.1", port));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_F(RealProbesTest, TcpNonNumericAddressFailsWithoutBlocking) {
  Result result = run_attempt(tcp_probe("db.example", 5432));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "connect db.example:5432: not a numeric address");
}

// ---- http

TEST_F(RealProbesTest, HttpOkOn2xxAndSendsAProperRequest) {
  TinyHttp server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  Result result = run_attempt(http_probe(server.port(), "/healthz?x=1"));
  EXPECT_TRUE(result.ok) << result.detail;
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(server.request(), "GET /healthz?x=1 HTTP/1.1\r\nHost: " + host +
                                  "\r\nConnection: close\r\nUser-Agent: minisup\r\n\r\n");
}

TEST_F(RealProbesTest, HttpFailsOnOtherStatusesWithTheUrl) {
  TinyHttp server("HTTP/1.0 503 Service Unavailable\r\n\r\nbusy");
  Result result = run_attempt(http_probe(server.port(), "/healthz"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail,
            "GET http://127.0.0.1:" + std::to_string(server.port()) + "/healthz: status 503");
}

TEST_F(RealProbesTest, HttpRejectsWhatIsNoHttpResponse) {
  TinyHttp server("SSH-2.0-OpenSSH_9.2\r\n");
  Result result = run_attempt(http_probe(server.port(), "/"));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.detail.find(": not an HTTP response"), std::string::npos) << result.detail;
}

TEST_F(RealProbesTest, HttpConnectionClosedWithoutAnswer) {
  TinyHttp server("");
  Result result = run_attempt(http_probe(server.port(), "/"));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.detail.find("connection closed without a response"), std::string::npos)
      << result.detail;
}

TEST_F(RealProbesTest, HttpSilentServerTimesOutAtTheBound) {
  TinyHttp server(std::nullopt);
  const auto start = loop::EventLoop::now();
  Result result = run_attempt(http_probe(server.port(), "/"), 200ms);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "timed out after 0.2 s");
  EXPECT_LT(loop::EventLoop::now() - start, 3s);
}

TEST_F(RealProbesTest, HttpConnectRefused) {
  int port;
  {
    Listener closed;
    port = closed.port;
  }
  Result result = run_attempt(http_probe(port, "/"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

// ---- exec

TEST_F(RealProbesTest, ExecZeroIsSuccessAndTheChildIsReapedAsAProbe) {
  Result result = run_attempt(exec_probe({"/bin/true"}));
  EXPECT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(probe_reaps_, 1);
  EXPECT_TRUE(strangers_.empty());
  EXPECT_EQ(probes_->unreaped_children(), 0u);
}

TEST_F(RealProbesTest, ExecNonZeroSaysTheStatus) {
  Result result = run_attempt(exec_probe({"sh", "-c", "exit 2"}));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "exec sh: exited with status 2");
}

TEST_F(RealProbesTest, ExecKilledBySignalSaysWhich) {
  Result result = run_attempt(exec_probe({"sh", "-c", "kill -SEGV $$"}));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "exec sh: killed by SIGSEGV");
}

TEST_F(RealProbesTest, ExecThatCannotStartFailsLater) {
  Result result = run_attempt(exec_probe({"/nonexistent/probe"}));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "exec /nonexistent/probe: No such file or directory");
}

TEST_F(RealProbesTest, ExecRunsWithThePlansDirectoryAndEnvironment) {
  SpawnPlan plan = plain_plan();
  plan.directory = "/tmp";
  plan.envp.push_back("PROBE_VALUE=yes");
  Result result = run_attempt(
      exec_probe({"sh", "-c", "test \"$(pwd)\" = /tmp && test \"$PROBE_VALUE\" = yes"}), 5s, plan);
  EXPECT_TRUE(result.ok) << result.detail;
}

TEST_F(RealProbesTest, ExecPastTheBoundIsKilledWithItsGroupAndItsExitSwallowed) {
  const std::string pid_file =
      "/tmp/minisup-probe-" + std::to_string(::getpid()) + "-grandchild.pid";
  std::filesystem::remove(pid_file);
  const auto start = loop::EventLoop::now();
  Result result =
      run_attempt(exec_probe({"sh", "-c", "sleep 30 & echo $! > " + pid_file + "; wait"}), 300ms);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "timed out after 0.3 s");
  EXPECT_LT(loop::EventLoop::now() - start, 3s);
  // The killed child is reaped as the probe's (swallowed), no stranger.
  EXPECT_TRUE(run_until([&] { return probes_->unreaped_children() == 0; }));
  EXPECT_EQ(probe_reaps_, 1);
  EXPECT_TRUE(strangers_.empty());
  // The grandchild (same process group) got SIGKILL too.
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  std::filesystem::remove(pid_file);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(run_until([&] { return ::kill(grandchild, 0) != 0; }, 5s))
      << "grandchild " << grandchild << " survived";
}

TEST_F(RealProbesTest, CancelKillsTheChildAndNeverCallsDone) {
  bool called = false;
  auto id = probes_->attempt(exec_probe({"sleep", "30"}), plain_plan(), 30s,
                             [&](Result) { called = true; });
  EXPECT_EQ(probes_->unreaped_children(), 1u);
  probes_->cancel(id);
  probes_->cancel(id);  // twice: ignored
  EXPECT_EQ(probes_->active_attempts(), 0u);
  EXPECT_TRUE(run_until([&] { return probes_->unreaped_children() == 0; }, 5s));
  run_until([] { return false; }, 20ms);
  EXPECT_FALSE(called);
  EXPECT_EQ(probe_reaps_, 1);
  EXPECT_TRUE(strangers_.empty());
}

TEST_F(RealProbesTest, CancelBeforeAnImmediateResultIsDeliveredSuppressesIt) {
  bool called = false;
  auto id = probes_->attempt(exec_probe({"/nonexistent/probe"}), plain_plan(), 5s,
                             [&](Result) { called = true; });
  probes_->cancel(id);
  run_until([] { return false; }, 20ms);
  EXPECT_FALSE(called);
}

TEST_F(RealProbesTest, CancelOfATcpAttemptNeverCallsDone) {
  Listener listener;
  bool called = false;
  auto id = probes_->attempt(tcp_probe("127.0.0.1", listener.port), plain_plan(), 5s,
                             [&](Result) { called = true; });
  probes_->cancel(id);
  run_until([] { return false; }, 20ms);
  EXPECT_FALSE(called);
}

TEST_F(RealProbesTest, DestructorKillsRunningProbeChildren) {
  probes_->attempt(exec_probe({"sleep", "30"}), plain_plan(), 30s, [](Result) {});
  probes_.reset();
  // The child is a stranger now (no probes to claim it), killed by SIGKILL.
  EXPECT_TRUE(run_until([&] { return !strangers_.empty(); }, 5s));
  ASSERT_EQ(strangers_.size(), 1u);
  EXPECT_EQ(strangers_[0].exit_signal, std::optional<int>(SIGKILL));
}

TEST_F(RealProbesTest, DoneMayStartTheNextAttempt) {
  Listener listener;
  std::vector<Result> results;
  std::function<void(Result)> again = [&](Result r) {
    results.push_back(r);
    if (results.size() < 3) {
      probes_->attempt(tcp_probe("127.0.0.1", listener.port), plain_plan(), 5s, again);
    }
  };
  probes_->attempt(tcp_probe("127.0.0.1", listener.port), plain_plan(), 5s, again);
  EXPECT_TRUE(run_until([&] { return results.size() == 3; }));
  for (const auto& r : results) EXPECT_TRUE(r.ok) << r.detail;
}

// ---- notify

TEST_F(RealProbesTest, NotifyDeliversReadyAndStatus) {
  std::vector<Probes::NotifyMessage> messages;
  auto opened = probes_->open_notify(
      std::nullopt, [&](const Probes::NotifyMessage& m) { messages.push_back(m); });
  ASSERT_EQ(opened.index(), 0u) << std::get<std::string>(opened);
  auto [id, name] = std::get<std::pair<Probes::NotifyId, std::string>>(opened);
  EXPECT_EQ(name.rfind("@minisup-" + std::to_string(::getpid()) + "-", 0), 0u) << name;

  ASSERT_EQ(send_notify(name, "STATUS=loading\x01 data"), 0);
  ASSERT_TRUE(run_until([&] { return messages.size() == 1; }));
  EXPECT_FALSE(messages[0].ready);
  EXPECT_EQ(messages[0].status, std::optional<std::string>("loading  data"));

  ASSERT_EQ(send_notify(name, "MAINPID=1\nREADY=1\nSTATUS=up\n"), 0);
  ASSERT_TRUE(run_until([&] { return messages.size() == 2; }));
  EXPECT_TRUE(messages[1].ready);
  EXPECT_EQ(messages[1].status, std::optional<std::string>("up"));

  // READY=0 or READY=10 is no readiness.
  ASSERT_EQ(send_notify(name, "READY=10"), 0);
  ASSERT_TRUE(run_until([&] { return messages.size() == 3; }));
  EXPECT_FALSE(messages[2].ready);
  EXPECT_FALSE(messages[2].status);

  probes_->close_notify(id);
  EXPECT_EQ(probes_->open_notifies(), 0u);
  EXPECT_EQ(send_notify(name, "READY=1"), ECONNREFUSED);
}

TEST_F(RealProbesTest, NotifyIgnoresOversizedDatagramsAndCutsLongStatus) {
  std::vector<Probes::NotifyMessage> messages;
  auto opened = probes_->open_notify(
      std::nullopt, [&](const Probes::NotifyMessage& m) { messages.push_back(m); });
  auto name = std::get<std::pair<Probes::NotifyId, std::string>>(opened).second;
  ASSERT_EQ(send_notify(name, "READY=1\n" + std::string(RealProbes::kMaxDatagram, 'x')), 0);
  ASSERT_EQ(send_notify(name, "STATUS=" + std::string(2000, 's')), 0);
  ASSERT_TRUE(run_until([&] { return !messages.empty(); }));
  run_until([] { return false; }, 20ms);
  ASSERT_EQ(messages.size(), 1u);  // the oversized one was dropped whole
  EXPECT_FALSE(messages[0].ready);
  EXPECT_EQ(messages[0].status,
            std::optional<std::string>(std::string(RealProbes::kMaxStatus, 's')));
}

TEST_F(RealProbesTest, NotifySocketsAreDistinctAndCloseFromTheirOwnCallback) {
  int calls = 0;
  Probes::NotifyId first_id = 0;
  auto first = probes_->open_notify(std::nullopt, [&](const Probes::NotifyMessage&) {
    ++calls;
    probes_->close_notify(first_id);  // from inside its own callback
  });
  auto second = probes_->open_notify(std::nullopt, [](const Probes::NotifyMessage&) {});
  first_id = std::get<0>(first).first;
  const std::string first_name = std::get<0>(first).second;
  EXPECT_NE(first_name, std::get<0>(second).second);
  EXPECT_NE(first_id, std::get<0>(second).first);
  // Two queued datagrams: the first closes the socket, the second is never
  // delivered.
  ASSERT_EQ(send_notify(first_name, "READY=1"), 0);
  ASSERT_EQ(send_notify(first_name, "READY=1"), 0);
  EXPECT_TRUE(run_until([&] { return calls > 0; }));
  run_until([] { return false; }, 20ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(probes_->open_notifies(), 1u);
}

TEST_F(RealProbesTest, NotifyDropsMessagesOfOtherUsers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to send as another user";
  std::vector<Probes::NotifyMessage> messages;
  auto opened = probes_->open_notify(
      std::string("nobody"), [&](const Probes::NotifyMessage& m) { messages.push_back(m); });
  auto name = std::get<std::pair<Probes::NotifyId, std::string>>(opened).second;
  // A child that becomes uid 4242 (not root, not ours, not nobody's), sends,
  // then one that becomes nobody (65534, the program's user) and sends.
  auto send_as = [&](uid_t uid, const std::string& payload) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(65534) != 0 || ::setuid(uid) != 0) ::_exit(10);
      ::_exit(send_notify(name, payload) == 0 ? 0 : 11);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  // The SIGCHLD of these children is reaped by waitpid above; reap_all()
  // in the loop then finds nothing.
  EXPECT_EQ(send_as(4242, "STATUS=stranger"), 0);
  EXPECT_EQ(send_as(65534, "STATUS=owner"), 0);
  ASSERT_TRUE(run_until([&] { return !messages.empty(); }));
  run_until([] { return false; }, 20ms);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].status, std::optional<std::string>("owner"));
}

TEST_F(RealProbesTest, NotifyFromSystemdNotify) {
  const char* tool = nullptr;
  for (const char* path : {"/usr/bin/systemd-notify", "/bin/systemd-notify"}) {
    if (::access(path, X_OK) == 0) tool = path;
  }
  if (tool == nullptr) GTEST_SKIP() << "systemd-notify not installed";
  std::vector<Probes::NotifyMessage> messages;
  auto opened = probes_->open_notify(
      std::nullopt, [&](const Probes::NotifyMessage& m) { messages.push_back(m); });
  auto name = std::get<std::pair<Probes::NotifyId, std::string>>(opened).second;
  // An exec probe is a convenient way to run it with an environment.
  SpawnPlan plan = plain_plan();
  plan.envp.push_back("NOTIFY_SOCKET=" + name);
  Result result = run_attempt(exec_probe({tool, "--ready", "--status=serving"}), 5s, plan);
  EXPECT_TRUE(result.ok) << result.detail;
  ASSERT_TRUE(run_until([&] { return !messages.empty(); }));
  EXPECT_TRUE(messages[0].ready);
  EXPECT_EQ(messages[0].status, std::optional<std::string>("serving"));
}

}  // namespace
}  // namespace minisup::daemon
