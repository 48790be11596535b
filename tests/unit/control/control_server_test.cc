// control/control_server with a real EventLoop and real Unix sockets: framing,
// limits, slow and silent clients, idle timeouts and eviction, descriptor
// exhaustion, peer credentials, the socket file's life cycle.
//
// Everything runs in the test's thread: clients are non-blocking sockets
// that run_until() pumps (writes what they still have to send, reads what
// arrived) between rounds of the loop.
#include "supervisor/control/control_server.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

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
  void start(ControlServer::Limits limits = {}, mode_t mode = 0700,
             ControlServer::Access access = {}) {
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
    if (holds_answer_) {
      handlers.holds_answer = [this](ClientId id) { return holds_answer_(id); };
    }
    handlers.on_large_output_sent = [this](ClientId id) { large_sent_.push_back(id); };
    server_ = std::make_unique<ControlServer>(loop_, socket_, mode, std::move(handlers), limits,
                                              std::move(access));
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

  /// Log lines containing `text`.
  std::size_t log_count(std::string_view text) const {
    std::size_t n = 0;
    for (const auto& line : log_) n += line.find(text) != std::string::npos;
    return n;
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
  std::function<bool(ClientId)> holds_answer_;
  std::vector<ClientId> large_sent_;  ///< on_large_output_sent's calls
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

TEST_F(ControlServerTest, ALargeReplyThatWentOutWholeIsReportedOnce) {
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  server_->send(waiting[0], std::string("small"));
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  run_for(20ms);
  EXPECT_TRUE(large_sent_.empty()) << "a small reply is nothing to report";
  // 1 MiB: more than the socket takes at once, so it goes out over several
  // rounds of the loop; reported once it is all out.
  server_->send(waiting[0], std::string(1 << 20, 'x'));
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 2; }));
  ASSERT_TRUE(run_until([&] { return !large_sent_.empty(); }));
  EXPECT_EQ(large_sent_, std::vector<ClientId>{waiting[0]});
  EXPECT_EQ(c.lines()[1].size(), std::size_t{1} << 20);
  // The client is still served after its buffer was given up.
  server_->send(waiting[0], std::string("after"));
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 3; }));
  EXPECT_EQ(c.lines()[2], "after");
  EXPECT_EQ(large_sent_.size(), 1u);
}

TEST_F(ControlServerTest, PartsOfALineGoOutAtOnceAndSendEndsTheLine) {
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  start();
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  // A part is written at once: the client has its bytes before the line ends.
  server_->send_part(waiting[0], "{\"ok\":true,");
  ASSERT_TRUE(run_until([&] { return c.received == "{\"ok\":true,"; }));
  EXPECT_TRUE(c.lines().empty());
  // Parts larger than the socket takes queue up in order behind one another.
  const std::string big(400 * 1024, 'p');
  server_->send_part(waiting[0], big);
  server_->send_part(waiting[0], big);
  server_->send(waiting[0], std::string("}"));
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  EXPECT_EQ(c.lines()[0], "{\"ok\":true," + big + big + "}");
  // The next reply is a line of its own.
  server_->send(waiting[0], "next");
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 2; }));
  EXPECT_EQ(c.lines()[1], "next");
  // A part for a client that is gone is dropped.
  server_->send_part(ClientId{12345}, "nobody");
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
  // Both connections have completed a request (and no holds_answer hook
  // says they are done): neither may be evicted, so the newcomer is refused.
  ControlServer::Limits limits;
  limits.max_clients = 2;
  start(limits);
  TestClient& a = connect();
  TestClient& b = connect();
  a.to_send = "x\n";
  b.to_send = "y\n";
  ASSERT_TRUE(run_until([&] { return a.lines().size() == 1 && b.lines().size() == 1; }));
  TestClient& c = connect();
  ASSERT_TRUE(run_until([&] { return c.eof; }));
  ASSERT_EQ(c.lines().size(), 1u);
  auto reply = parse_reply(c.lines()[0]);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->error_code, "too_many_clients");
  EXPECT_EQ(server_->client_count(), 2u);
  EXPECT_FALSE(a.eof);
  EXPECT_FALSE(b.eof);
  a.to_send = "x2\n";
  b.to_send = "y2\n";
  ASSERT_TRUE(run_until([&] { return a.lines().size() == 2 && b.lines().size() == 2; }));
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
  // No reserve: the last resort (accept with the spare, tell, close).
  ControlServer::Limits limits;
  limits.reserve_fds = 0;
  start(limits);
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

// ---------------------------------------------------------------------------
// Idle clients: the request clock, eviction at the cap
// ---------------------------------------------------------------------------

ControlServer::Limits short_idle(std::chrono::milliseconds timeout) {
  ControlServer::Limits limits;
  limits.idle_timeout = timeout;
  limits.log_repeat_window = 100ms;
  return limits;
}

TEST_F(ControlServerTest, SilentConnectionIsClosedAtTheIdleTimeout) {
  start(short_idle(300ms));
  const auto connected_at = loop::EventLoop::now();
  TestClient& silent = connect();
  ASSERT_TRUE(run_until([&] { return silent.eof; }, 3000ms));
  const auto after = loop::EventLoop::now() - connected_at;
  EXPECT_GE(after, 290ms) << "not before the timeout";
  EXPECT_LT(after, 2000ms);
  EXPECT_TRUE(silent.lines().empty());
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
  EXPECT_EQ(server_->client_count(), 0u);
  EXPECT_EQ(log_count("no complete request within 0.3 s; closed"), 1u);
}

TEST_F(ControlServerTest, TricklingHalfRequestIsClosedOnTimeAnyway) {
  // Bytes that never complete a line do not restart the clock (slowloris).
  start(short_idle(400ms));
  TestClient& slow = connect();
  const auto connected_at = loop::EventLoop::now();
  for (int i = 0; i < 40 && !slow.eof; ++i) {
    slow.to_send = "x";
    run_for(25ms);
  }
  ASSERT_TRUE(run_until([&] { return slow.eof; }, 2000ms));
  EXPECT_LT(loop::EventLoop::now() - connected_at, 900ms);
  EXPECT_TRUE(lines_.empty());
}

TEST_F(ControlServerTest, BlankLinesCompleteNoRequest) {
  start(short_idle(300ms));
  TestClient& c = connect();
  for (int i = 0; i < 40 && !c.eof; ++i) {
    c.to_send = "\n";
    run_for(25ms);
  }
  EXPECT_TRUE(c.eof) << "blank lines do not keep a connection open";
}

TEST_F(ControlServerTest, ClientWaitingForAnAnswerIsNeverClosed) {
  // start/wait/tail -f: the answer takes longer than the idle timeout.
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  start(short_idle(100ms));
  TestClient& c = connect();
  c.to_send = "{\"cmd\":\"wait\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  run_for(600ms);  // six timeouts
  ASSERT_TRUE(server_->connected(waiting[0]));
  EXPECT_FALSE(c.eof);
  server_->send(waiting[0], "done");
  run_for(400ms);  // answered, still nothing new sent: the clock stays stopped
  ASSERT_TRUE(server_->connected(waiting[0]));
  EXPECT_EQ(c.lines(), std::vector<std::string>{"done"});
  // A half-closed waiting client keeps its connection too.
  ::shutdown(c.fd, SHUT_WR);
  run_for(300ms);
  EXPECT_TRUE(server_->connected(waiting[0]));
  EXPECT_TRUE(disconnects_.empty());
}

TEST_F(ControlServerTest, NextRequestStartsTheClockAgain) {
  start(short_idle(200ms));
  TestClient& c = connect();
  c.to_send = "first\n";
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 1; }));
  run_for(500ms);
  ASSERT_FALSE(c.eof) << "between requests, with nothing sent, the clock is stopped";
  c.to_send = "second\nthi";  // a complete request, then the start of another
  ASSERT_TRUE(run_until([&] { return c.lines().size() == 2; }));
  const auto started = loop::EventLoop::now();
  ASSERT_TRUE(run_until([&] { return c.eof; }, 2000ms)) << "the half request is timed";
  EXPECT_GE(loop::EventLoop::now() - started, 150ms);
  EXPECT_EQ(lines_.size(), 2u);
}

TEST_F(ControlServerTest, NoTimersAndNoWakeupsWithoutClients) {
  start(short_idle(50ms));
  for (int i = 0; i < 5; ++i) connect().to_send = "x\n";
  connect();  // silent: closed by its timer
  ASSERT_TRUE(run_until([&] { return lines_.size() == 5; }));
  clients_.clear();  // the others hang up
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 6; }));
  run_for(200ms);  // lets the log window (100 ms) end
  // Now idle: a lone timer stops the loop 1 s later; nothing else may wake it.
  const auto before = loop_.wakeups();
  loop_.add_timer(loop::EventLoop::now() + 1000ms, [&] { loop_.stop(); });
  loop_.run();
  EXPECT_LE(loop_.wakeups() - before, 2u);
}

TEST_F(ControlServerTest, AtTheCapTheOldestIdleConnectionIsEvicted) {
  std::vector<ClientId> waiting;
  on_line_ = [&](ClientId id, std::string_view) { waiting.push_back(id); };
  ControlServer::Limits limits;
  limits.max_clients = 3;
  start(limits);
  TestClient& busy = connect();  // a request in progress: never evicted
  busy.to_send = "{\"cmd\":\"wait\"}\n";
  ASSERT_TRUE(run_until([&] { return waiting.size() == 1; }));
  TestClient& old_idle = connect();
  ASSERT_TRUE(run_until([&] { return server_->client_count() == 2; }));
  run_for(5ms);
  TestClient& young_half = connect();
  young_half.to_send = "{\"cmd\":";
  ASSERT_TRUE(run_until([&] { return server_->client_count() == 3; }));
  run_for(5ms);

  on_line_ = nullptr;
  TestClient& operator_client = connect();
  operator_client.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return operator_client.lines().size() == 1; }));
  EXPECT_EQ(operator_client.lines()[0], "reply:{\"cmd\":\"status\"}");
  ASSERT_TRUE(run_until([&] { return old_idle.eof; }));
  ASSERT_EQ(old_idle.lines().size(), 1u) << "the evicted client is told why";
  EXPECT_EQ(parse_reply(old_idle.lines()[0])->error_code, "too_many_clients");
  EXPECT_FALSE(busy.eof);
  EXPECT_FALSE(young_half.eof);
  EXPECT_TRUE(server_->connected(waiting[0]));
  ASSERT_EQ(log_count("evicted client"), 1u);
  EXPECT_EQ(log_count("no complete request for"), 1u);

  // Next newcomer: the half request is the oldest clock now.
  TestClient& second = connect();
  second.to_send = "again\n";
  ASSERT_TRUE(run_until([&] { return second.lines().size() == 1 && young_half.eof; }));
  EXPECT_FALSE(busy.eof);
}

TEST_F(ControlServerTest, AnsweredClientsAreEvictableOnlyWhenTheDaemonHoldsNothing) {
  std::set<ClientId> holding;  // what the daemon still owes an answer to
  holds_answer_ = [&](ClientId id) { return holding.count(id) != 0; };
  on_line_ = [&](ClientId id, std::string_view line) {
    if (line == "wait") {
      holding.insert(id);
    } else {
      server_->send(id, "answered");
    }
  };
  ControlServer::Limits limits;
  limits.max_clients = 2;
  start(limits);
  TestClient& waiter = connect();
  waiter.to_send = "wait\n";
  TestClient& done = connect();
  done.to_send = "status\n";
  ASSERT_TRUE(run_until([&] { return holding.size() == 1 && done.lines().size() == 1; }));

  TestClient& newcomer = connect();
  newcomer.to_send = "status\n";
  ASSERT_TRUE(run_until([&] { return newcomer.lines().size() == 1 && done.eof; }));
  EXPECT_EQ(newcomer.lines()[0], "answered");
  EXPECT_FALSE(waiter.eof) << "a client the daemon owes an answer is not evicted";
  EXPECT_EQ(log_count("idle for"), 1u);

  // Both remaining connections are waiting now: a newcomer is refused.
  newcomer.to_send = "wait\n";
  ASSERT_TRUE(run_until([&] { return holding.size() == 2; }));
  TestClient& refused = connect();
  ASSERT_TRUE(run_until([&] { return refused.eof; }));
  ASSERT_EQ(refused.lines().size(), 1u);
  EXPECT_EQ(parse_reply(refused.lines()[0])->error_code, "too_many_clients");
  EXPECT_FALSE(waiter.eof);
  EXPECT_FALSE(newcomer.eof);
}

TEST_F(ControlServerTest, ThousandIdleClientsDoNotLockAnyoneOut) {
  ControlServer::Limits limits;  // default cap (256) and timeout (10 s)
  limits.log_repeat_window = 60s;
  start(limits);
  for (int i = 0; i < 1000; ++i) {
    connect();
    if (i % 10 == 9) run_for(1ms);  // let the server accept (and evict) as they come
  }
  ASSERT_TRUE(run_until([&] { return server_->client_count() == kMaxClients; }));
  TestClient& operator_client = connect();
  operator_client.to_send = "{\"cmd\":\"status\"}\n";
  const auto asked = loop::EventLoop::now();
  ASSERT_TRUE(run_until([&] { return operator_client.lines().size() == 1; }, 2000ms));
  EXPECT_LT(loop::EventLoop::now() - asked, 1000ms);
  EXPECT_EQ(server_->client_count(), kMaxClients);
  // 745 evictions, one log line (the rest is summarized when the window ends).
  EXPECT_EQ(log_count("evicted"), 1u);
}

// ---------------------------------------------------------------------------
// Descriptor exhaustion
// ---------------------------------------------------------------------------

/// Fills this process's descriptor table (which the server shares): lowers
/// the soft RLIMIT_NOFILE to a little above the descriptors in use and opens
/// /dev/null until EMFILE. Undone by the destructor.
class DescriptorsExhausted {
 public:
  DescriptorsExhausted() {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    const int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    EXPECT_GE(lowest_free, 0);
    ::close(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free + 16);
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
    for (;;) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fillers_.push_back(fd);
    }
    EXPECT_EQ(errno, EMFILE);
  }
  ~DescriptorsExhausted() {
    for (int fd : fillers_) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  DescriptorsExhausted(const DescriptorsExhausted&) = delete;
  DescriptorsExhausted& operator=(const DescriptorsExhausted&) = delete;

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

TEST_F(ControlServerTest, ReserveServesClientsAtTheDescriptorLimit) {
  ControlServer::Limits limits;
  limits.reserve_fds = 2;
  limits.log_repeat_window = 2000ms;  // longer than the part under EMFILE
  start(limits);
  EXPECT_EQ(server_->reserve_count(), 2u);
  // Client sockets exist before the table fills up; connect() needs none.
  std::vector<TestClient*> victims;
  for (int i = 0; i < 4; ++i) {
    auto client = std::make_unique<TestClient>();
    client->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client->fd, 0);
    victims.push_back(client.get());
    clients_.push_back(std::move(client));
  }
  UnixAddress address = make_unix_address(socket_);
  auto connect_victim = [&](TestClient& v) {
    ASSERT_EQ(::connect(v.fd, address.get(), address.length), 0) << std::strerror(errno);
  };
  {
    DescriptorsExhausted exhausted;
    // Two clients are served normally, each with a descriptor of the reserve.
    for (int i = 0; i < 2; ++i) {
      connect_victim(*victims[i]);
      victims[i]->to_send = "{\"cmd\":\"status\"}\n";
      ASSERT_TRUE(run_until([&] { return victims[i]->lines().size() == 1; }));
      EXPECT_EQ(victims[i]->lines()[0], "reply:{\"cmd\":\"status\"}");
      EXPECT_EQ(server_->reserve_count(), 1u - i);
    }
    // The reserve is used up: the third is told and closed, without spinning.
    connect_victim(*victims[2]);
    ASSERT_TRUE(run_until([&] { return victims[2]->eof; }));
    ASSERT_EQ(victims[2]->lines().size(), 1u);
    EXPECT_EQ(parse_reply(victims[2]->lines()[0])->error_code, "too_many_clients");
    EXPECT_NE(victims[2]->lines()[0].find("out of file descriptors"), std::string::npos);
    const auto wakeups = loop_.wakeups();
    run_for(50ms);
    EXPECT_LT(loop_.wakeups() - wakeups, 200u);  // ~50 from run_for's tick

    // A served client leaves: its descriptor goes back to the reserve, and
    // the next client is served again.
    ::close(victims[0]->fd);
    victims[0]->fd = -1;
    ASSERT_TRUE(run_until([&] { return disconnects_.size() == 1; }));
    EXPECT_GE(server_->reserve_count(), 1u);
    connect_victim(*victims[3]);
    victims[3]->to_send = "again\n";
    ASSERT_TRUE(run_until([&] { return victims[3]->lines().size() == 1; }));
    EXPECT_EQ(victims[3]->lines()[0], "reply:again");
    EXPECT_EQ(log_count("control socket: accept: Too many open files"), 1u) << "no flood";
  }
  // At the end of the window the repeats are summarized in one line.
  // (Four accept() failures: three victims and the one after the reserve
  // was taken back.)
  ASSERT_TRUE(run_until(
      [&] { return log_count("control socket: accept: Too many open files (repeated") == 1; },
      5000ms));
  EXPECT_EQ(log_count("control socket: accept: Too many open files (repeated 3 times)"), 1u)
      << ::testing::PrintToString(log_);
  // Descriptors are back: the reserve fills up again with the next drop.
  victims[1]->to_send = "";
  ::close(victims[1]->fd);
  victims[1]->fd = -1;
  ASSERT_TRUE(run_until([&] { return disconnects_.size() == 2; }));
  EXPECT_EQ(server_->reserve_count(), 2u);
}

TEST_F(ControlServerTest, IdleClientsDoNotHoldTheLastDescriptors) {
  // Out of descriptors, reserve used up: an idle connection is evicted and
  // its descriptor serves the newcomer.
  ControlServer::Limits limits;
  limits.reserve_fds = 1;
  start(limits);
  std::vector<TestClient*> sockets;
  for (int i = 0; i < 3; ++i) {
    auto client = std::make_unique<TestClient>();
    client->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client->fd, 0);
    sockets.push_back(client.get());
    clients_.push_back(std::move(client));
  }
  UnixAddress address = make_unix_address(socket_);
  DescriptorsExhausted exhausted;
  TestClient& idle = *sockets[0];
  ASSERT_EQ(::connect(idle.fd, address.get(), address.length), 0);
  ASSERT_TRUE(run_until([&] { return server_->client_count() == 1; }));
  EXPECT_EQ(server_->reserve_count(), 0u) << "the idle client took the reserve";
  TestClient& operator_client = *sockets[1];
  ASSERT_EQ(::connect(operator_client.fd, address.get(), address.length), 0);
  operator_client.to_send = "{\"cmd\":\"status\"}\n";
  ASSERT_TRUE(run_until([&] { return operator_client.lines().size() == 1; }));
  EXPECT_EQ(operator_client.lines()[0], "reply:{\"cmd\":\"status\"}");
  ASSERT_TRUE(run_until([&] { return idle.eof; }));
  ASSERT_EQ(idle.lines().size(), 1u);
  EXPECT_NE(idle.lines()[0].find("out of file descriptors"), std::string::npos) << idle.lines()[0];
  // Nobody idle is left: the next newcomer is told and closed, and the
  // client that completed a request keeps its connection.
  TestClient& late = *sockets[2];
  ASSERT_EQ(::connect(late.fd, address.get(), address.length), 0);
  ASSERT_TRUE(run_until([&] { return late.eof; }));
  ASSERT_EQ(late.lines().size(), 1u);
  EXPECT_NE(late.lines()[0].find("out of file descriptors"), std::string::npos);
  EXPECT_FALSE(operator_client.eof);
  EXPECT_TRUE(server_->connected(lines_.back().first));
  EXPECT_EQ(log_count("evicted client"), 1u);
}

// ---------------------------------------------------------------------------
// Peer credentials
// ---------------------------------------------------------------------------

TEST_F(ControlServerTest, PeerRules) {
  ControlServer::Access access;
  access.uids = {1234};
  access.gid = 4321;
  access.group_members = {555};
  start({}, 0700, access);
  const uid_t me = ::geteuid();
  using Peer = ControlServer::Peer;
  EXPECT_TRUE(server_->allowed(Peer{1, 0, 0})) << "root";
  EXPECT_TRUE(server_->allowed(Peer{1, me, 9999})) << "minisupd's own uid";
  EXPECT_TRUE(server_->allowed(Peer{1, 1234, 9999})) << "socket_uids";
  EXPECT_TRUE(server_->allowed(Peer{1, 7777, 4321})) << "the peer's gid is socket_group";
  EXPECT_TRUE(server_->allowed(Peer{1, 555, 9999})) << "a member of socket_group";
  if (me != 7777) {
    EXPECT_FALSE(server_->allowed(Peer{1, 7777, 9999}));
  }
  EXPECT_FALSE(server_->allowed(Peer{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)}))
      << "unknown credentials";
  server_.reset();
  start();  // no socket_uids, no socket_group: only root and our own uid
  if (me != 1234) {
    EXPECT_FALSE(server_->allowed(Peer{1, 1234, 4321}));
  }
  EXPECT_TRUE(server_->allowed(Peer{1, me, 4321}));
}

/// In a child: become uid/gid 65534 (nobody), connect to `socket`, send a
/// status request and return what came back (up to EOF), or "connect: ..." .
std::string exchange_as_nobody(loop::EventLoop& loop, const std::filesystem::path& socket) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    gid_t none[1] = {65534};
    if (::setgroups(1, none) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(2);
    std::string out;
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    UnixAddress address = make_unix_address(socket);
    if (::connect(fd, address.get(), address.length) != 0) {
      out = std::string("connect: ") + std::strerror(errno);
    } else {
      const char request[] = "{\"cmd\":\"status\"}\n";
      [[maybe_unused]] ssize_t sent = ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
    [[maybe_unused]] ssize_t w = ::write(pipe_fds[1], out.data(), out.size());
    _exit(0);
  }
  ::close(pipe_fds[1]);
  // Serve while the child talks to us; it is done when the pipe reaches EOF.
  std::string result;
  bool done = false;
  loop.add_fd(pipe_fds[0], EPOLLIN, [&](std::uint32_t) {
    char buf[4096];
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n > 0) {
      result.append(buf, static_cast<std::size_t>(n));
    } else {
      done = true;
      loop.stop();
    }
  });
  const auto guard = loop.add_timer(loop::EventLoop::now() + 5s, [&] { loop.stop(); });
  loop.run();
  loop.cancel_timer(guard);
  loop.remove_fd(pipe_fds[0]);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return done ? result : "child timed out";
}

TEST_F(ControlServerTest, PeerThatIsNotAllowedIsRefusedAndLogged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  ::chmod(dir_.c_str(), 0711);
  start({}, 0777);  // the file mode lets anyone connect: SO_PEERCRED decides
  const std::string refused = exchange_as_nobody(loop_, socket_);
  auto reply = parse_reply(refused.substr(0, refused.find('\n')));
  ASSERT_TRUE(reply) << refused;
  EXPECT_FALSE(reply->ok);
  EXPECT_EQ(reply->error_code, "permission_denied");
  EXPECT_NE(reply->error_message.find("uid 65534"), std::string::npos) << reply->error_message;
  EXPECT_TRUE(lines_.empty()) << "the request is never delivered";
  ASSERT_EQ(log_count("refused a client"), 1u);
  EXPECT_EQ(log_count("uid 65534"), 1u);
  EXPECT_EQ(server_->client_count(), 0u);

  // Allowed by socket_uids, and by socket_group.
  for (int rule = 0; rule < 2; ++rule) {
    server_.reset();
    ControlServer::Access access;
    if (rule == 0) access.uids = {65534};
    if (rule == 1) access.gid = 65534;
    lines_.clear();
    start({}, 0777, access);
    on_line_ = [&](ClientId id, std::string_view) {
      server_->send(id, "welcome");
      server_->close_after_flush(id);
    };
    EXPECT_EQ(exchange_as_nobody(loop_, socket_), "welcome\n") << "rule " << rule;
    ASSERT_EQ(lines_.size(), 1u);
    EXPECT_EQ(peers_.back().uid, 65534u);
    on_line_ = nullptr;
  }
}

TEST_F(ControlServerTest, SocketGroupOwnsTheSocketFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the socket to another group";
  ControlServer::Access access;
  access.gid = 65534;
  const mode_t old = ::umask(0);
  start({}, 0770, access);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0770u);
}

}  // namespace
}  // namespace minisup::control
