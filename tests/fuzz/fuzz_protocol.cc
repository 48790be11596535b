// libFuzzer target: the control socket as minisupd sees it. A real
// control::ControlServer on a real EventLoop, fed over a real connected
// Unix socket, in chunks the input chooses.
//
// Input layout:
//   byte 0      flags: bit 0 close early (mid-stream, maybe mid-line);
//               bit 1 small request limit (100 bytes, to reach too_large);
//               bit 2 run no loop round between the last chunk and close;
//               bits 3-7 after how many chunks to close (bit 0 set).
//   byte 1      k = byte % 8 chunk sizes follow
//   k bytes     chunk sizes, used in turn (0 = all the rest; the 16th chunk
//               takes the rest too)
//   the rest    the byte stream written to the socket
// Between chunks the loop runs one round, so the server's reads split the
// stream where the chunks do.
//
// The handler parses every line with control::parse_request (checks of
// request_model.h), replies, and closes after `shutdown` like the daemon.
// Checked per input:
//   - the lines delivered are exactly the model's (request_model.h): every
//     complete line once, in order; with an early close, a prefix of them;
//   - one reply per delivered line, in order, plus the too_large error;
//   - the server notices the disconnect (on_disconnect once) and holds no
//     client afterwards, so the next input's connection is served.
// The server, loop and socket are made once per process (speed).
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/control/control_server.h"
#include "supervisor/control/unix_address.h"
#include "tests/fuzz/request_model.h"

namespace fs = std::filesystem;
using namespace minisup;
using minisup::fuzz::fail;

namespace {

constexpr const char* kTarget = "fuzz_protocol";
constexpr std::size_t kSmallLimit = 100;
constexpr int kMaxRounds = 10000;
/// Chunks written one loop round apart; the rest goes in the last (speed:
/// a round is a handful of system calls).
constexpr std::size_t kMaxChunks = 16;

struct Harness {
  std::string dir;
  fs::path socket;
  loop::EventLoop loop;
  std::unique_ptr<control::ControlServer> servers[2];  ///< [small limit?]
  control::ControlServer* server = nullptr;            ///< the one in use
  std::vector<std::string> delivered;
  std::vector<control::ControlServer::ClientId> disconnects;
  std::vector<control::ControlServer::ClientId> ids;

  Harness() {
    char pattern[] = "/tmp/minisup-fuzz-protocol-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) std::abort();
    dir = pattern;
    for (int small = 0; small < 2; ++small) {
      control::ControlServer::Limits limits;
      if (small) limits.max_request_bytes = kSmallLimit;
      control::ControlServer::Handlers handlers;
      control::ControlServer** current = &server;
      handlers.on_line = [this, current](control::ControlServer::ClientId id,
                                         const control::ControlServer::Peer&,
                                         std::string_view line) {
        if (line.find('\n') != std::string_view::npos) fail(kTarget, "line holds '\\n'", line);
        delivered.emplace_back(line);
        ids.push_back(id);
        const bool shutdown = fuzz::is_shutdown(line);
        (*current)->send(id, fuzz::check_request(kTarget, line));
        if (shutdown) (*current)->close_after_flush(id);
      };
      handlers.on_disconnect = [this](control::ControlServer::ClientId id) {
        disconnects.push_back(id);
      };
      servers[small] = std::make_unique<control::ControlServer>(
          loop, fs::path(dir) / (small ? "small.sock" : "default.sock"), 0700,
          std::move(handlers), limits);
    }
  }
  ~Harness() {
    servers[0].reset();
    servers[1].reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// One round of the loop (the timer makes it return at once).
  void round() {
    loop.add_timer(loop::EventLoop::now(), [this] { loop.stop(); });
    loop.run();
  }
};

Harness& harness() {
  static Harness* h = new Harness();  // never destroyed: libFuzzer exits anywhere
  return *h;
}

struct Client {
  int fd = -1;
  std::string received;
  bool eof = false;

  void read_all() {
    char buf[65536];
    while (fd >= 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        received.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) eof = true;
      break;
    }
  }
  /// Bytes written but not yet read by the server.
  int unread() const {
    int n = 0;
    if (::ioctl(fd, SIOCOUTQ, &n) < 0) return 0;
    return n;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return -1;
  Harness& h = harness();
  const std::uint8_t flags = data[0];
  const bool close_early = flags & 1;
  const bool small = flags & 2;
  const bool no_round_before_close = flags & 4;
  const std::size_t close_after = flags >> 3;
  const std::size_t k = data[1] % 8;
  if (size < 2 + k) return -1;
  const std::vector<std::uint8_t> sizes(data + 2, data + 2 + k);
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2 + k, size - 2 - k);
  const std::size_t max_request = small ? kSmallLimit : control::kMaxRequestBytes;

  h.server = h.servers[small].get();
  h.delivered.clear();
  h.disconnects.clear();
  h.ids.clear();

  Client c;
  c.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const auto address = control::make_unix_address(h.server->socket_path());
  if (c.fd < 0 || ::connect(c.fd, address.get(), address.length) != 0) {
    fail(kTarget, "cannot connect to the server", std::strerror(errno));
  }

  // Write the chunks, one loop round after each.
  std::size_t written = 0;
  std::size_t chunks = 0;
  bool broken = false;  // the server closed (too_large, shutdown): EPIPE
  while (written < stream.size() && !broken) {
    if (close_early && chunks == close_after) break;
    std::size_t len = stream.size() - written;
    if (k > 0 && sizes[chunks % k] != 0 && chunks + 1 < kMaxChunks)
      len = std::min<std::size_t>(len, sizes[chunks % k]);
    const std::size_t end = written + len;
    while (written < end) {
      const ssize_t n = ::send(c.fd, stream.data() + written, end - written, MSG_NOSIGNAL);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        h.round();
        c.read_all();
      } else {
        broken = true;
        break;
      }
    }
    ++chunks;
    h.round();
    c.read_all();
  }

  const fuzz::Framing model = fuzz::frame(stream.substr(0, written), max_request);
  const bool early = close_early && written < stream.size() && !broken;
  if (early) {
    if (!no_round_before_close) {
      h.round();
      c.read_all();
    }
  } else {
    // All sent: EOF, then run until the server has read everything and
    // answered.
    ::shutdown(c.fd, SHUT_WR);
    std::size_t seen_lines = ~std::size_t{0};
    std::size_t seen_bytes = ~std::size_t{0};
    for (int i = 0;; ++i) {
      if (i == kMaxRounds) fail(kTarget, "the server never went idle", stream);
      h.round();
      c.read_all();
      const bool quiet = h.delivered.size() == seen_lines && c.received.size() == seen_bytes;
      if (quiet && c.unread() == 0) break;
      seen_lines = h.delivered.size();
      seen_bytes = c.received.size();
    }
  }
  ::close(c.fd);
  c.fd = -1;
  for (int i = 0; h.disconnects.empty(); ++i) {
    if (i == kMaxRounds) fail(kTarget, "the server never noticed the disconnect", stream);
    h.round();
  }
  if (h.disconnects.size() != 1) fail(kTarget, "on_disconnect more than once", stream);
  for (auto id : h.ids) {
    if (id != h.disconnects[0]) fail(kTarget, "a line from another client", stream);
  }
  if (h.server->client_count() != 0) fail(kTarget, "a client left behind", stream);

  // Delivery against the model.
  if (h.delivered.size() > model.lines.size()) fail(kTarget, "more lines than sent", stream);
  for (std::size_t i = 0; i < h.delivered.size(); ++i) {
    if (h.delivered[i] != model.lines[i]) fail(kTarget, "a line changed in transit", stream);
  }
  if (early) return 0;
  if (h.delivered.size() != model.lines.size()) fail(kTarget, "a line was not delivered", stream);

  // Replies: one per line, in order, then too_large.
  std::vector<std::string_view> replies;
  std::string_view rest = c.received;
  for (std::size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
    replies.push_back(rest.substr(0, nl));
  }
  if (!rest.empty()) fail(kTarget, "a reply without '\\n'", c.received);
  const std::size_t expected = model.lines.size() + (model.too_large ? 1 : 0);
  if (replies.size() != expected) fail(kTarget, "reply count", c.received);
  for (std::size_t i = 0; i < model.lines.size(); ++i) {
    auto reply = control::parse_reply(replies[i]);
    if (!reply) fail(kTarget, "a reply does not parse", replies[i]);
    const bool ok = std::holds_alternative<control::Request>(control::parse_request(model.lines[i]));
    if (reply->ok != ok) fail(kTarget, "reply ok differs from parse_request", replies[i]);
  }
  if (model.too_large) {
    auto reply = control::parse_reply(replies.back());
    if (!reply || reply->ok || reply->error_code != "too_large")
      fail(kTarget, "no too_large error", replies.back());
  }
  if ((model.too_large || model.shutdown) && !c.eof) {
    // The server closes after too_large and (our handler) after shutdown.
    fail(kTarget, "connection not closed", stream);
  }
  return 0;
}
