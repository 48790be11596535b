// control/control_server with a real EventLoop and real Unix sockets: framing,
// limits, slow and silent clients, the socket file's life cycle.
//
// Everything runs in the test's thread: clients are non-blocking sockets
// that run_until() pumps (writes what they still have to send, reads what
// arrived) between rounds of the loop.
#include "supervisor/control/control_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "supervisor/control/unix_address.h"

namespace minisup::control {
namespace {

using namespace std::chrono_literals;
using ClientId = ControlServer::ClientId;

/// A test client: a non-blocking connected socket with an outgoing queue.
struct TestClient {
  int fd = -1;
  std::string to_send;
  std::string received;
  bool eof = false;     ///< read() returned 0 or ECONNRESET
  bool reading = true;  ///< false: leave incoming bytes in the socket

  ~TestClient() {
    if (fd >= 0) ::close(fd);
  }

  void pump() {
    while (!to_send.empty()) {
      ssize_t n = ::send(fd, to_send.data(), to_send.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      to_send.erase(0, static_cast<std::size_t>(n));
    }
    if (!reading) return;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        received.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (n < 0 && errno == ECONNRESET)) eof = true;
      break;
    }
  }

  /// Complete lines received so far.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = received.find('\n', start)) != std::string::npos; start = nl + 1) {
      out.push_back(received.substr(start, nl - start));
    }
    return out;
  }
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/minisup-control-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    socket_ = dir_ / "minisup.sock";
  }

  void TearDown() override {
    clients_.clear();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// Starts a server whose default handler answers each line with
  /// "reply:" + line.
  void start(ControlServer::Limits limits = {}, mode_t mode = 0700) {
    ControlServer::Handlers handlers;
    handlers.on_line = [this](ClientId id, const ControlServer::Peer& peer, std::string_view line) {
      in_handler_ = true;
      lines_.emplace_back(id, std::string(line));
      peers_.push_back(peer);
      if (on_line_) {
        on_line_(id, line);
      } else {
        server_->send(id, "reply:" + std::string(line));
      }
      in_handler_ = false;
    };
    handlers.on_disconnect = [this](ClientId id) {
      EXPECT_FALSE(in_handler_) << "on_disconnect must not run inside a handler's send()";
      disconnects_.push_back(id);
    };
    handlers.on_log = [this](std::string_view message) { log_.emplace_back(message); };
    server_ = std::make_unique<ControlServer>(loop_, socket_, mode, std::move(handlers), limits);
  }

  TestClient& connect() {
    auto client = std::make_unique<TestClient>();
    client->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(client->fd, 0);
    UnixAddress address = make_unix_address(socket_);
    EXPECT_EQ(::connect(client->fd, address.get(), address.length), 0) << std::strerror(errno);
    clients_.push_back(std::move(client));
    return *clients_.back();
  }

  /// Runs the loop until `done` holds (checked every millisecond, after
  /// pumping every client) or `timeout` passes; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = loop::EventLoop::now() + timeout;
    loop::EventLoop::TimerId timer = 0;
    std::function<void()> tick = [&] {
      for (auto& c : clients_) c->pump();
      if (done() || loop::EventLoop::now() >= deadline) {
        loop_.stop();
        return;
      }
      timer = loop_.add_timer(loop::EventLoop::now() + 1ms, tick);
    };
    timer = loop_.add_timer(loop::EventLoop::now(), tick);
    loop_.run();
    loop_.cancel_timer(timer);
    for (auto& c : clients_) c->pump();
    return done();
  }

  void run_for(std::chrono::milliseconds duration) {
    const auto until = loop::EventLoop::now() + duration;
    run_until([&] { return loop::EventLoop::now() >= until; }, duration + 1000ms);
  }

  std::size_t lines_from(ClientId id) const {
    std::size_t n = 0;
    for (const auto& [from, line] : lines_) n += from == id;
    return n;
  }

  std::filesystem::path dir_;
  std::filesystem::path socket_;
  loop::EventLoop loop_;
  std::unique_ptr<ControlServer> server_;
  std::vector<std::unique_ptr<TestClient>> clients_;
  std::vector<std::pair<ClientId, std::string>> lines_;
  std::vector<ControlServer::Peer> peers_;
  std::vector<ClientId> disconnects_;
  std::vector<std::string> log_;
  std::function<void(ClientId, std::string_view)> on_line_;
  bool in_handler_ = false;
};

TEST_F(ControlServerTest, PipelinedRequestsAreDeliveredInOrder) {
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"a\"}\n{\"cmd\":\"b\"}\r\n\n   \n{\"cmd\":\"c\"}\n";
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 3; }));
  EXPECT_EQ(c.lines(), (std::vector<std::string>{"reply:{\"cmd\":\"a\"}", "reply:{\"cmd\":\"b\"}",
                                                 "reply:{\"cmd\":\"c\"}"}));
  ASSERT_EQ(lines_.size(), 3u) << "blank lines are not delivered";
  EXPECT_EQ(lines_[1].second, "{\"cmd\":\"b\"}") << "a trailing \\r is removed";
  EXPECT_EQ(peers_[0].pid, ::getpid());
  EXPECT_EQ(peers_[0].uid, ::getuid());
  EXPECT_EQ(peers_[0].gid, ::getgid());
}

TEST_F(ControlServerTest, RequestSplitAcrossWritesIsOneLine) {
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":";
  run_for(20ms);
  EXPECT_TRUE(lines_.empty());
  c.to_send = "\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return lines_.size() == 1; }));
  EXPECT_EQ(lines_[0].second, "{\"cmd\":\"status\"}");
}

TEST_F(ControlServerTest, LineOfExactlyTheLimitIsAccepted) {
  start();
  TestClient& c = connect();
  c.to_send = std::string(kMaxRequestBytes, 'x') + "\n";
  ASSERT_TRUE(run_until([&] { return lines_.size() == 1; }));
  EXPECT_EQ(lines_[0].second.size(), kMaxRequestBytes);
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  EXPECT_TRUE(server_->connected(lines_[0].first));
}

TEST_F(ControlServerTest, OverlongLineGetsTooLargeAndIsClosed) {
  start();
  TestClient& c = connect();
  c.to_send = std::string(kMaxRequestBytes + 1, 'x') + "\n{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return c.eof; }));
  EXPECT_TRUE(lines_.empty()) << "neither the long line nor what follows is delivered";
  auto replies = c.lines();
  ASSERT_EQ(replies.size(), 1u);
  auto reply = parse_reply(replies[0]);
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->ok);
  EXPECT_EQ(reply->error_code, "too_large");
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
  EXPECT_EQ(server_->client_count(), 0u);
}

TEST_F(ControlServerTest, OverlongPartialLineIsRefusedWithoutWaitingForTheRest) {
  start();
  TestClient& c = connect();
  c.to_send = std::string(kMaxRequestBytes + 100, 'x');  // no newline, ever
  ASSERT_TRUE(run_until([&] { return c.eof; }));
  ASSERT_EQ(c.lines().size(), 1u);
  EXPECT_EQ(parse_reply(c.lines()[0])->error_code, "too_large");
}

TEST_F(ControlServerTest, HalfLineThenSilenceBlocksNobody) {
  start();
  TestClient& silent = connect();
  silent.to_send = "{\"cmd\":\"sta";
  TestClient& idle = connect();  // connects and never sends anything
  (void)idle;
  run_for(10ms);
  TestClient& other = connect();
  other.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return other.lines().size() == 1; }, 1000ms));
  EXPECT_EQ(lines_.size(), 1u);
  EXPECT_EQ(server_->client_count(), 3u);
}

TEST_F(ControlServerTest, RepliesCanBeSentLaterAndBigRepliesAreFlushedInOrder) {
  // 3 MiB of replies to a client that reads: buffered, then drained on EPOLLOUT.
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"start\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  loop_.add_timer(loop::EventLoop::now() + 5ms, [&] {
    for (int i = 0; i < 48; ++i)
      server_->send(waiting[0], std::to_string(i) + ":" + std::string(65536, 'a' + i % 26));
  });
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 48; }));
  auto got = c.lines();
  for (int i = 0; i < 48; ++i) {
    EXPECT_EQ(got[i].size(), std::to_string(i).size() + 1 + 65536);
    EXPECT_EQ(got[i].substr(0, got[i].find(':')), std::to_string(i));
  }
  EXPECT_TRUE(server_->connected(waiting[0]));
  EXPECT_TRUE(disconnects_.empty());
}

TEST_F(ControlServerTest, ClientThatNeverReadsIsDisconnectedAtTheCap) {
  ControlServer::Limits limits;
  limits.max_output_bytes = 256 * 1024;
  on_line_ = [&](ClientId id, std::string_view) {
    // Flood: far more than the kernel buffer plus the cap.
    for (int i = 0; i < 200 && server_->connected(id); ++i)
      server_->send(id, std::string(16 * 1024, 'z'));
    EXPECT_FALSE(server_->connected(id));
  };
  start(limits);
  TestClient& deaf = connect();
  deaf.reading = false;
  deaf.to_send = "{\"cmd\":\"tail\"}\n";
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
  EXPECT_EQ(server_->client_count(), 0u);
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_.back().find("does not read its replies"), std::string::npos) << log_.back();
  // Others are still served.
  on_line_ = nullptr;
  TestClient& other = connect();
  other.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return other.lines().size() == 1; }));
}

TEST_F(ControlServerTest, TooManyClientsAreToldAndClosed) {
  ControlServer::Limits limits;
  limits.max_clients = 2;
  start(limits);
  TestClient& a = connect();
  TestClient& b = connect();
  ASSERT_TRUE(run_until([&] { return server_->client_count() == 2; }));
  TestClient& c = connect();
  ASSERT_TRUE(run_until([&] { return c.eof; }));
  ASSERT_EQ(c.lines().size(), 1u);
  auto reply = parse_reply(c.lines()[0]);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->error_code, "too_many_clients");
  EXPECT_EQ(server_->client_count(), 2u);
  a.to_send = "x\n";
  b.to_send = "y\n";
  ASSERT_TRUE(run_until([&] { return a.lines().size() == 1 && b.lines().size() == 1; }));
  // A slot frees up when a client leaves.
  ::close(a.fd);
  a.fd = -1;
  ASSERT_TRUE(run_until([&] { return server_->client_count() == 1; }));
  TestClient& d = connect();
  d.to_send = "z\n";
  ASSERT_TRUE(run_until([&] { return d.lines().size() == 1; }));
  EXPECT_EQ(d.lines()[0], "reply:z");
}

TEST_F(ControlServerTest, ServesAtLeast128ClientsAtOnce) {
  start();
  for (int i = 0; i < 130; ++i) connect().to_send = "ping" + std::to_string(i) + "\n";
  ASSERT_TRUE(run_until([&] {
    for (auto& c : clients_)
      if (c->lines().size() != 1) return false;
    return true;
  }));
  EXPECT_EQ(server_->client_count(), 130u);
}

TEST_F(ControlServerTest, CloseAfterFlushDeliversTheReplyThenCloses) {
  on_line_ = [&](ClientId id, std::string_view) {
    server_->send(id, "bye");
    server_->close_after_flush(id);
  };
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"shutdown\"}\n{\"cmd\":\"never delivered\"}\n";
  ASSERT_TRUE(run_until([&] { return c.eof; }));
  EXPECT_EQ(c.lines().front(), "bye");
  EXPECT_EQ(lines_.size(), 1u);
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
}

TEST_F(ControlServerTest, HalfClosedClientStillGetsItsLateReply) {
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"start\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  ::shutdown(c.fd, SHUT_WR);
  run_for(20ms);
  ASSERT_TRUE(server_->connected(waiting[0]));
  server_->send(waiting[0], "started");
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  EXPECT_EQ(c.lines()[0], "started");
  ::close(c.fd);
  c.fd = -1;
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
  EXPECT_EQ(disconnects_[0], waiting[0]);
}

TEST_F(ControlServerTest, RequestsOfAClientThatClosedAreStillDelivered) {
  // Fire-and-forget: the requests are delivered (until a reply to the
  // vanished peer fails, which is why this handler does not reply).
  on_line_ = [](ClientId, std::string_view) {};
  start();
  TestClient& c = connect();
  ASSERT_EQ(::send(c.fd, "one\ntwo\n", 8, 0), 8);
  ::close(c.fd);
  c.fd = -1;
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1].second, "two");
  EXPECT_FALSE(server_->connected(lines_[0].first));
  server_->send(lines_[0].first, "to nobody");  // harmless
}

TEST_F(ControlServerTest, DisconnectIsReportedOncePerClient) {
  start();
  TestClient& a = connect();
  TestClient& b = connect();
  a.to_send = "x\n";
  b.to_send = "y\n";
  ASSERT_TRUE(run_until([&] { return lines_.size() == 2; }));
  ::close(a.fd);
  a.fd = -1;
  ::close(b.fd);
  b.fd = -1;
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 2; }));
  run_for(10ms);
  EXPECT_EQ(disconnects_.size(), 2u);
  EXPECT_NE(disconnects_[0], disconnects_[1]);
}

TEST_F(ControlServerTest, StaleSocketFileIsReplaced) {
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    UnixAddress address = make_unix_address(socket_);
    ASSERT_EQ(::bind(fd, address.get(), address.length), 0);
    ::close(fd);  // the file stays; nobody listens
  }
  ASSERT_TRUE(std::filesystem::exists(socket_));
  start();
  TestClient& c = connect();
  c.to_send = "hello\n";
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
}

TEST_F(ControlServerTest, LiveSocketIsRefused) {
  start();
  ControlServer::Handlers handlers;
  try {
    ControlServer second(loop_, socket_, 0700, handlers);
    FAIL() << "a second server on a live socket must be refused";
  } catch (const SocketInUseError& e) {
    EXPECT_EQ(std::string(e.what()), "another minisupd is running on " + socket_.string());
  }
  // The first server still owns and serves the socket.
  TestClient& c = connect();
  c.to_send = "still here\n";
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
}

TEST_F(ControlServerTest, ExistingNonSocketFileIsNotTouched) {
  { std::ofstream(socket_) << "precious"; }
  ControlServer::Handlers handlers;
  EXPECT_THROW(ControlServer(loop_, socket_, 0700, handlers), std::runtime_error);
  std::ifstream in(socket_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlServerTest, SocketModeIsAppliedWhateverTheUmask) {
  const mode_t old = ::umask(077);
  start({}, 0660);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(::umask(old), old) << "the process umask is restored";
  server_.reset();
  const mode_t old2 = ::umask(0);
  start({}, 0600);
  ::umask(old2);
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ControlServerTest, DestructorRemovesOnlyItsOwnSocketFile) {
  start();
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(socket_));
  start();
  // Someone replaced the file (e.g. a newer minisupd after ours was told to go).
  std::filesystem::remove(socket_);
  { std::ofstream(socket_) << "new"; }
  server_.reset();
  EXPECT_TRUE(std::filesystem::exists(socket_));
}

TEST_F(ControlServerTest, LongSocketPathWorks) {
  std::filesystem::path deep = dir_;
  while (deep.string().size() < 150) deep /= "a-rather-long-directory-name";
  std::filesystem::create_directories(deep);
  socket_ = deep / "minisup.sock";
  start();
  EXPECT_TRUE(std::filesystem::exists(socket_));
  TestClient& c = connect();
  c.to_send = "deep\n";
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(ControlServerTest, AcceptAtTheDescriptorLimitDoesNotSpin) {
  start();
  TestClient& before = connect();  // served normally
  before.to_send = "a\n";
  ASSERT_TRUE(run_until([&] { return before.lines().size() == 1; }));

  // The victim's socket exists before the table fills up; connect() needs
  // no new descriptor.
  auto victim = std::make_unique<TestClient>();
  victim->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(victim->fd, 0);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int highest = ::fcntl(victim->fd, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(highest, 0);
  ::close(highest);
  rlimit lowered = saved;
  lowered.rlim_cur = static_cast<rlim_t>(highest + 16);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::vector<int> fillers;
  for (;;) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);

  UnixAddress address = make_unix_address(socket_);
  ASSERT_EQ(::connect(victim->fd, address.get(), address.length), 0);
  clients_.push_back(std::move(victim));
  TestClient& v = *clients_.back();
  ASSERT_TRUE(run_until([&] { return v.eof; }, 2000ms));
  const auto wakeups = loop_.wakeups();
  run_for(50ms);
  // run_for's 1 ms tick costs ~50 wakeups; a spinning accept would be thousands.
  EXPECT_LT(loop_.wakeups() - wakeups, 200u);

  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(v.lines().size(), 1u);
  EXPECT_EQ(parse_reply(v.lines()[0])->error_code, "too_many_clients");
  ASSERT_FALSE(log_.empty());
  EXPECT_EQ(log_.front(), "control socket: accept: Too many open files");

  // Served again once descriptors are available.
  TestClient& after = connect();
  after.to_send = "b\n";
  ASSERT_TRUE(run_until([&] { return after.lines().size() == 1; }));
}

}  // namespace
}  // namespace minisup::control
