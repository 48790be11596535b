// ControlServer implementation (see control_server.h for the model).
#include "supervisor/control/control_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "supervisor/control/unix_address.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::control {

namespace {

/// Connections accepted per wakeup of the listening socket, so a burst of
/// connects cannot starve the clients already connected.
constexpr int kAcceptBurst = 64;
/// Bytes read from one client per wakeup (level-triggered epoll comes back).
constexpr std::size_t kReadChunk = 64 * 1024;
/// How long to stop accepting when accept() fails and no spare descriptor
/// is left to get rid of the pending connection.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
/// The error code of a refused peer. A wire string only: clients treat an
/// unknown code as a generic failure (exit 1) and print its message.
constexpr std::string_view kPermissionDenied = "permission_denied";

sys::UniqueFd make_socket(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys::SysError("socket", path.string(), errno);
  return sys::UniqueFd(fd);
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

sys::UniqueFd open_dev_null() { return sys::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

/// An error line with a code protocol.h may not know (e.g. permission_denied).
std::string error_line(std::string_view code, std::string_view message) {
  nlohmann::ordered_json line;
  line["id"] = nullptr;
  line["ok"] = false;
  line["error"] = {{"code", code}, {"message", message}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

double seconds(loop::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void remove_stale_socket(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return;
    throw sys::SysError("stat", path.string(), errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(fmt::format("{}: exists and is not a socket", path.string()));
  }
  // Non-blocking so that a live server with a full backlog (EAGAIN) cannot
  // block us; that, too, means "live".
  sys::UniqueFd probe = make_socket(path);
  UnixAddress address = make_unix_address(path);
  if (::connect(probe.get(), address.get(), address.length) == 0 || errno == EAGAIN ||
      errno == EINPROGRESS) {
    throw SocketInUseError(fmt::format("another minisupd is running on {}", path.string()));
  }
  const int err = errno;
  if (err == ENOENT) return;  // removed meanwhile
  if (err != ECONNREFUSED) throw sys::SysError("connect", path.string(), err);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT)
    throw sys::SysError("unlink", path.string(), errno);
}

struct ControlServer::Client {
  ClientId id = 0;
  sys::UniqueFd fd;
  Peer peer;
  std::string in;                    ///< received bytes not yet consumed
  std::size_t in_start = 0;          ///< in[0, in_start) was delivered already
  std::size_t scan_from = 0;         ///< no '\n' in in[in_start, scan_from)
  std::string out;                   ///< replies not yet written
  std::size_t out_start = 0;         ///< out[0, out_start) was written already
  bool reading = true;               ///< false after EOF or close_after_flush
  bool closing = false;              ///< close_after_flush was called
  bool held_until_exit = false;      ///< hold_until_exit was called
  std::uint32_t interest = EPOLLIN;  ///< events registered with the loop
  /// The request clock (see "Idle clients" in the header): its timer while
  /// it runs (0 when stopped) and when it started.
  loop::EventLoop::TimerId idle_timer = 0;
  loop::Clock::time_point clock_started{};
  bool completed_request = false;  ///< at least one request was delivered
  /// The last request delivered or reply queued (eviction order when no
  /// request clock runs).
  loop::Clock::time_point last_activity{};

  std::size_t pending_output() const { return out.size() - out_start; }
};

ControlServer::ControlServer(loop::EventLoop& loop, std::filesystem::path socket, mode_t mode,
                             Handlers handlers, Limits limits, Access access)
    : loop_(loop),
      socket_path_(std::move(socket)),
      handlers_(std::move(handlers)),
      limits_(limits),
      access_(std::move(access)),
      own_uid_(::geteuid()) {
  remove_stale_socket(socket_path_);
  listen_fd_ = make_socket(socket_path_);
  UnixAddress address = make_unix_address(socket_path_);

  // The socket file must never be more open than `mode`, not even for an
  // instant. On Linux the file bind() creates gets 0777 & ~umask, and
  // fchmod() on the socket descriptor changes the socket inode, not that
  // file; so the umask is narrowed around bind() (minisupd is one thread
  // here, nothing else creates files meanwhile). The chmod() afterwards makes
  // the mode exact, and listen() comes last: until then connect() is
  // refused anyway. The group (socket_group) is set before the mode, so
  // that 0770 never applies to minisupd's own group with listen() done.
  const mode_t old_umask = ::umask(~mode & 0777);
  const int bound = ::bind(listen_fd_.get(), address.get(), address.length);
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound < 0) {
    if (bind_errno == EADDRINUSE) {
      // Another server bound the path between our check and our bind.
      throw SocketInUseError(
          fmt::format("another minisupd is running on {}", socket_path_.string()));
    }
    throw sys::SysError("bind", socket_path_.string(), bind_errno);
  }
  try {
    if (access_.gid && ::chown(socket_path_.c_str(), static_cast<uid_t>(-1), *access_.gid) < 0)
      throw sys::SysError("chown", socket_path_.string(), errno);
    if (::chmod(socket_path_.c_str(), mode & 07777) < 0)
      throw sys::SysError("chmod", socket_path_.string(), errno);
    struct stat st {};
    if (::lstat(socket_path_.c_str(), &st) < 0)
      throw sys::SysError("stat", socket_path_.string(), errno);
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
    if (::listen(listen_fd_.get(), SOMAXCONN) < 0)
      throw sys::SysError("listen", socket_path_.string(), errno);
    // The spare descriptor of PITFALL 11 (see accept_one_spare) and the
    // reserve that serves clients at EMFILE (accept_from_reserve).
    spare_fd_ = open_dev_null();
    if (!spare_fd_) throw sys::SysError("open", "/dev/null", errno);
    refill_reserve();
    loop_.add_fd(listen_fd_.get(), EPOLLIN, [this](std::uint32_t) { on_listen_ready(); });
    listening_ = true;
  } catch (...) {
    ::unlink(socket_path_.c_str());
    throw;
  }
}

ControlServer::~ControlServer() {
  if (disconnect_timer_armed_) loop_.cancel_timer(disconnect_timer_);
  if (relisten_timer_ != 0) loop_.cancel_timer(relisten_timer_);
  for (auto& [kind, window] : repeat_windows_) loop_.cancel_timer(window.timer);
  for (auto& [id, client] : clients_) {
    if (client->idle_timer != 0) loop_.cancel_timer(client->idle_timer);
    loop_.remove_fd(client->fd.get());
    // The kernel closes it when we exit. (Its replies went out when they
    // were sent: a shutdown reply is one short line.)
    if (client->held_until_exit) (void)client->fd.release();
  }
  clients_.clear();
  dropped_.clear();
  if (listening_) loop_.remove_fd(listen_fd_.get());
  listen_fd_.reset();
  // Remove the file only if it is still ours: a successor minisupd may
  // have replaced it already.
  struct stat st {};
  if (::lstat(socket_path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    ::unlink(socket_path_.c_str());
  }
}

void ControlServer::hold_until_exit(ClientId client) {
  auto it = clients_.find(client);
  if (it != clients_.end()) it->second->held_until_exit = true;
}

void ControlServer::log(std::string_view message) {
  if (handlers_.on_log) handlers_.on_log(message);
}

void ControlServer::log_repeated(const std::string& kind, std::string_view message) {
  auto [it, first] = repeat_windows_.try_emplace(kind);
  if (!first) {
    ++it->second.suppressed;
    return;
  }
  log(message);
  // One timer per open window: nothing is armed while nothing happens.
  it->second.timer = loop_.add_timer(loop::EventLoop::now() + limits_.log_repeat_window,
                                     [this, kind] { end_repeat_window(kind); });
}

void ControlServer::end_repeat_window(const std::string& kind) {
  auto it = repeat_windows_.find(kind);
  if (it == repeat_windows_.end()) return;
  const std::size_t suppressed = it->second.suppressed;
  if (suppressed == 0) {
    repeat_windows_.erase(it);
    return;
  }
  // Still happening: summarize, and keep counting for one more window.
  log(fmt::format("{} (repeated {} times)", kind, suppressed));
  it->second.suppressed = 0;
  it->second.timer = loop_.add_timer(loop::EventLoop::now() + limits_.log_repeat_window,
                                     [this, kind] { end_repeat_window(kind); });
}

bool ControlServer::allowed(const Peer& peer) const {
  // SO_PEERCRED failed: uid stays -1, which nothing below matches.
  if (peer.uid == static_cast<uid_t>(-1)) return false;
  if (peer.uid == 0 || peer.uid == own_uid_) return true;
  if (std::find(access_.uids.begin(), access_.uids.end(), peer.uid) != access_.uids.end())
    return true;
  if (access_.gid) {
    if (peer.gid == *access_.gid) return true;
    if (std::find(access_.group_members.begin(), access_.group_members.end(), peer.uid) !=
        access_.group_members.end())
      return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Accepting
// ---------------------------------------------------------------------------

void ControlServer::on_listen_ready() {
  for (int i = 0; i < kAcceptBurst && listening_; ++i) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      const std::string what = fmt::format("control socket: accept: {}", sys::error_text(err));
      if (err == EMFILE || err == ENFILE) {
        // accept() fails with EMFILE before it looks at the queue: is a
        // client waiting at all?
        if (!connection_pending()) return;
        log_repeated(what, what);
        fd = accept_from_reserve();
        if (fd == kNothingPending) return;
        if (fd == kReserveEmpty) {
          // Idle connections must not hold the last descriptors either:
          // evicting one gives its descriptor to the reserve (drop()), and
          // the next round serves the newcomer with it.
          if (Client* victim = eviction_candidate()) {
            evict(*victim, "minisupd is out of file descriptors");
            continue;
          }
          log_repeated("control socket: descriptor reserve used up",
                       fmt::format("control socket: descriptor reserve used up ({} descriptors) "
                                   "and no idle client to evict; refusing clients until "
                                   "descriptors are freed",
                                   limits_.reserve_fds));
          if (accept_one_spare() != SpareOutcome::Refused) return;
          continue;
        }
        // Served normally, with a descriptor from the reserve.
      } else {
        log_repeated(what, what);
        const SpareOutcome outcome = accept_one_spare();
        if (outcome != SpareOutcome::Refused) return;
        if (err != ENOBUFS && err != ENOMEM) return;
        continue;
      }
    }
    add_client(sys::UniqueFd(fd));
  }
}

bool ControlServer::connection_pending() const {
  // A listening socket polls readable while a connection waits to be
  // accepted; poll() needs no new descriptor.
  pollfd pfd{listen_fd_.get(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

int ControlServer::accept_from_reserve() {
  while (!reserve_.empty()) {
    reserve_.pop_back();  // closed: one descriptor free for accept()
    const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const int err = errno;
    if (err != EMFILE && err != ENFILE) {
      refill_reserve();  // take the descriptor back
      return err == EAGAIN || err == EWOULDBLOCK ? kNothingPending : kReserveEmpty;
    }
  }
  return kReserveEmpty;
}

void ControlServer::refill_reserve() {
  // The spare first: it is what keeps accept() from spinning.
  if (!spare_fd_) spare_fd_ = open_dev_null();
  while (spare_fd_ && reserve_.size() < limits_.reserve_fds) {
    sys::UniqueFd fd = open_dev_null();
    if (!fd) return;
    reserve_.push_back(std::move(fd));
  }
}

ControlServer::SpareOutcome ControlServer::accept_one_spare() {
  // At the descriptor limit the pending connection keeps the listening
  // socket readable, and level-triggered epoll would wake us for ever
  // (PITFALL 11). Give up the spare descriptor, accept the connection, tell
  // it why and close it, then take the spare back.
  SpareOutcome outcome = SpareOutcome::NothingPending;
  if (spare_fd_) {
    spare_fd_.reset();
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      reject_connection(fd, encode_error(nullptr, ErrorCode::TooManyClients,
                                         "minisupd is out of file descriptors"));
      outcome = SpareOutcome::Refused;
    }
    spare_fd_ = open_dev_null();
    if (spare_fd_) return outcome;
  }
  // No spare: stop watching the socket for a moment instead of spinning.
  if (!listening_) return SpareOutcome::Paused;
  loop_.remove_fd(listen_fd_.get());
  listening_ = false;
  relisten_timer_ = loop_.add_timer(loop::EventLoop::now() + kAcceptPause, [this] {
    relisten_timer_ = 0;
    refill_reserve();
    loop_.add_fd(listen_fd_.get(), EPOLLIN, [this](std::uint32_t) { on_listen_ready(); });
    listening_ = true;
  });
  return SpareOutcome::Paused;
}

void ControlServer::add_client(sys::UniqueFd owned) {
  const int fd = owned.get();
  Peer peer{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0) {
    peer = Peer{cred.pid, cred.uid, cred.gid};
  }
  if (!allowed(peer)) {
    // Before the cap: a refused peer must not evict anyone.
    log_repeated(fmt::format("control socket: refused uid {}", peer.uid),
                 fmt::format("control socket: refused a client (pid {}, uid {}, gid {}): not root, "
                             "not minisupd's uid {}, not in socket_uids or socket_group",
                             peer.pid, peer.uid, peer.gid, own_uid_));
    reject_connection(owned.release(),
                      error_line(kPermissionDenied,
                                 fmt::format("permission denied: uid {} is not root, not "
                                             "minisupd's uid {}, not in [supervisor] socket_uids "
                                             "or socket_group",
                                             peer.uid, own_uid_)));
    return;
  }
  if (clients_.size() >= limits_.max_clients) {
    Client* victim = eviction_candidate();
    if (victim == nullptr) {
      log_repeated("control socket: refused a client: too many clients",
                   fmt::format("control socket: refused a client (pid {}, uid {}): already {} "
                               "clients, each with a request in progress",
                               peer.pid, peer.uid, clients_.size()));
      reject_connection(
          owned.release(),
          encode_error(nullptr, ErrorCode::TooManyClients,
                       fmt::format("too many clients (at most {} at once)", limits_.max_clients)));
      return;
    }
    evict(*victim, fmt::format("at most {} clients at once", limits_.max_clients));
  }
  auto client = std::make_unique<Client>();
  client->id = next_id_++;
  client->fd = std::move(owned);
  client->peer = peer;
  client->last_activity = loop::EventLoop::now();
  const ClientId id = client->id;
  loop_.add_fd(client->fd.get(), EPOLLIN,
               [this, id](std::uint32_t events) { on_client_ready(id, events); });
  Client& added = *clients_.emplace(id, std::move(client)).first->second;
  start_request_clock(added);
}

void ControlServer::evict(Client& victim, std::string_view reason) {
  // OPEN -> EVICTED: a newcomer takes the place of a connection that is not
  // waiting for anything from us.
  const auto now = loop::EventLoop::now();
  const std::string why =
      victim.idle_timer != 0
          ? fmt::format("no complete request for {:.1f} s", seconds(now - victim.clock_started))
          : fmt::format("idle for {:.1f} s after its last request",
                        seconds(now - victim.last_activity));
  log_repeated("control socket: evicted an idle client to serve a new one",
               fmt::format("control socket: evicted client {} (pid {}, uid {}) to make room for "
                           "a new client ({}): {}",
                           victim.id, victim.peer.pid, victim.peer.uid, reason, why));
  // Best effort, like reject_connection: it may tell a human why.
  std::string line =
      encode_error(nullptr, ErrorCode::TooManyClients,
                   fmt::format("closed to make room for a new client ({}): {}", reason, why));
  line += '\n';
  if (victim.pending_output() == 0) {
    [[maybe_unused]] ssize_t n =
        ::send(victim.fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  drop(victim.id, {});
}

ControlServer::Client* ControlServer::eviction_candidate() {
  // First choice: the connection whose request clock has run longest (it
  // has sent nothing complete since connecting or since it began its
  // current request).
  Client* best = nullptr;
  for (auto& [id, client] : clients_) {
    if (client->idle_timer == 0 || client->held_until_exit) continue;
    if (best == nullptr || client->clock_started < best->clock_started) best = client.get();
  }
  if (best != nullptr || !handlers_.holds_answer) return best;
  // Else: a connection whose requests are all answered, idle longest.
  for (auto& [id, client] : clients_) {
    if (client->held_until_exit || client->closing || client->pending_output() != 0) continue;
    if (best != nullptr && client->last_activity >= best->last_activity) continue;
    if (handlers_.holds_answer(id)) continue;
    best = client.get();
  }
  return best;
}

void ControlServer::start_request_clock(Client& client) {
  if (client.idle_timer != 0) return;
  const ClientId id = client.id;
  client.clock_started = loop::EventLoop::now();
  client.idle_timer = loop_.add_timer(client.clock_started + limits_.idle_timeout,
                                      [this, id] { on_idle_timeout(id); });
}

void ControlServer::stop_request_clock(Client& client) {
  if (client.idle_timer == 0) return;
  loop_.cancel_timer(client.idle_timer);
  client.idle_timer = 0;
}

void ControlServer::on_idle_timeout(ClientId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  client.idle_timer = 0;
  // OPEN -> CLOSED: no complete request within idle_timeout.
  log_repeated("control socket: closed a client that sent no complete request in time",
               fmt::format("control client {} (pid {}, uid {}): no complete request within {:.1f} "
                           "s; closed",
                           id, client.peer.pid, client.peer.uid, seconds(limits_.idle_timeout)));
  drop(id, {});
}

void ControlServer::reject_connection(int fd, std::string line) {
  sys::UniqueFd owned(fd);
  // Best effort: a fresh socket's buffer takes this short line at once.
  line += '\n';
  [[maybe_unused]] ssize_t n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

void ControlServer::on_client_ready(ClientId id, std::uint32_t events) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  if (events & EPOLLERR) {
    drop(id, {});
    return;
  }
  // EPOLLHUP: the peer closed both directions. Requests it sent before are
  // still delivered (e.g. `shutdown` from a fire-and-forget client), until a
  // reply to it fails.
  const bool peer_gone = (events & EPOLLHUP) != 0;
  if (events & EPOLLOUT) {
    if (!flush(client)) return;
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && client.reading) {
    if (!read_client(client, peer_gone)) return;
  }
  if (peer_gone) drop(id, {});
}

bool ControlServer::read_client(Client& client, bool peer_gone) {
  const ClientId id = client.id;
  std::array<char, kReadChunk> buffer;
  // Read once per wakeup (fairness); when the peer is gone, drain what it sent.
  do {
    const ssize_t n = ::read(client.fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      client.in.append(buffer.data(), static_cast<std::size_t>(n));
      if (!deliver_lines(id)) return false;
      if (!client.reading) return true;
      continue;
    }
    if (n == 0) {
      // EOF: the peer shut down its sending side. It may still read our
      // replies (e.g. `echo '{"cmd":"status"}' | socat - UNIX:...`), so keep
      // the connection until it closes or the dispatcher closes it.
      client.reading = false;
      client.in.clear();
      client.in_start = client.scan_from = 0;
      // A discarded partial request owes nothing any more; a client that
      // never completed a request keeps its clock (it is closed on time).
      if (client.completed_request) stop_request_clock(client);
      update_interest(client);
      return true;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return true;
    drop(id, peer_gone ? std::string_view{}
                       : std::string_view(fmt::format("read: {}", sys::error_text(err))));
    return false;
  } while (peer_gone);
  return true;
}

bool ControlServer::deliver_lines(ClientId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  Client& client = *it->second;
  bool too_large = false;
  while (client.reading && !client.closing) {
    const std::size_t newline = client.in.find('\n', client.scan_from);
    if (newline == std::string::npos) {
      client.scan_from = client.in.size();
      // A partial line already past the cap: no need to wait for the rest.
      too_large = client.in.size() - client.in_start > limits_.max_request_bytes;
      break;
    }
    std::string_view line(client.in.data() + client.in_start, newline - client.in_start);
    // Consume before the handler runs: a handler that throws must not see
    // the same line again.
    client.in_start = client.scan_from = newline + 1;
    if (line.size() > limits_.max_request_bytes) {
      too_large = true;
      break;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;
    // A complete request: its clock stops (whatever the answer takes).
    stop_request_clock(client);
    client.completed_request = true;
    client.last_activity = loop::EventLoop::now();
    if (handlers_.on_line) handlers_.on_line(id, client.peer, line);
    if (!connected(id)) return false;
  }
  client.in.erase(0, client.in_start);
  client.scan_from -= client.in_start;
  client.in_start = 0;
  // The first bytes of the next request start its clock.
  if (!client.in.empty()) start_request_clock(client);
  if (too_large) {
    log(fmt::format("control client {} (pid {}): request line over {} bytes; closing", id,
                    client.peer.pid, limits_.max_request_bytes));
    client.in.clear();
    client.scan_from = 0;
    send(id,
         encode_error(nullptr, ErrorCode::TooLarge,
                      fmt::format("request line longer than {} bytes", limits_.max_request_bytes)));
    close_after_flush(id);
    return connected(id);
  }
  return true;
}

bool ControlServer::flush(Client& client) {
  const ClientId id = client.id;
  while (client.out_start < client.out.size()) {
    const ssize_t n = ::send(client.fd.get(), client.out.data() + client.out_start,
                             client.out.size() - client.out_start, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      client.out_start += static_cast<std::size_t>(n);
      continue;
    }
    const int err = errno;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) break;
    // EPIPE / ECONNRESET: the peer is gone.
    drop(id, {});
    return false;
  }
  if (client.out_start == client.out.size()) {
    const bool large = client.out.capacity() >= kLargeOutputBytes;
    if (large) {
      std::string().swap(client.out);  // its pages are not kept for later
    } else {
      client.out.clear();
    }
    client.out_start = 0;
    if (large && handlers_.on_large_output_sent) handlers_.on_large_output_sent(id);
    if (client.closing) {
      drop(id, {});
      return false;
    }
  } else if (client.out_start > 1024 * 1024 && client.out_start * 2 > client.out.size()) {
    client.out.erase(0, client.out_start);
    client.out_start = 0;
  }
  update_interest(client);
  return true;
}

void ControlServer::update_interest(Client& client) {
  std::uint32_t want = 0;
  if (client.reading && !client.closing) want |= EPOLLIN;
  if (client.pending_output() > 0) want |= EPOLLOUT;
  if (want == client.interest) return;
  client.interest = want;
  loop_.modify_fd(client.fd.get(), want);
}

void ControlServer::send(ClientId id, std::string_view line) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  client.out.reserve(client.out.size() + line.size() + 1);
  client.out.append(line);
  client.out += '\n';
  output_queued(client);
}

void ControlServer::send_part(ClientId id, std::string_view bytes) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  client.out.append(bytes);
  output_queued(client);
}

void ControlServer::send(ClientId id, std::string&& line) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  if (client.pending_output() != 0) {
    send(id, std::string_view(line));  // behind what is pending, in order
    return;
  }
  line += '\n';
  client.out = std::move(line);
  client.out_start = 0;
  output_queued(client);
}

void ControlServer::output_queued(Client& client) {
  const ClientId id = client.id;
  client.last_activity = loop::EventLoop::now();
  // Write at once unless already waiting for the socket to drain (then the
  // loop's EPOLLOUT does it, in order).
  if (!(client.interest & EPOLLOUT)) {
    if (!flush(client)) return;
  }
  if (client.pending_output() > limits_.max_output_bytes) {
    const std::size_t pending = client.pending_output();
    drop(
        id,
        fmt::format(
            "control client {} (pid {}): does not read its replies ({} bytes unsent); disconnected",
            id, client.peer.pid, pending));
  }
}

void ControlServer::close_after_flush(ClientId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  client.closing = true;
  client.reading = false;
  if (client.pending_output() == 0) {
    drop(id, {});
    return;
  }
  update_interest(client);
}

bool ControlServer::connected(ClientId id) const { return clients_.find(id) != clients_.end(); }

const ControlServer::Peer* ControlServer::peer(ClientId id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second->peer;
}

void ControlServer::drop(ClientId id, std::string_view why) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  std::unique_ptr<Client> client = std::move(it->second);
  clients_.erase(it);
  stop_request_clock(*client);
  loop_.remove_fd(client->fd.get());
  client->fd.reset();
  // A descriptor is free again: take back what EMFILE cost the reserve.
  if (reserve_.size() < limits_.reserve_fds || !spare_fd_) refill_reserve();
  if (!why.empty()) log(why);
  // Keep the object until the loop comes back: the caller (a handler's
  // send, our own read path) may still hold a reference to it.
  dropped_.push_back(std::move(client));
  pending_disconnects_.push_back(id);
  if (!disconnect_timer_armed_) {
    disconnect_timer_armed_ = true;
    disconnect_timer_ =
        loop_.add_timer(loop::EventLoop::now(), [this] { run_pending_disconnects(); });
  }
}

void ControlServer::run_pending_disconnects() {
  disconnect_timer_armed_ = false;
  std::vector<ClientId> ids;
  ids.swap(pending_disconnects_);
  dropped_.clear();
  for (ClientId id : ids) {
    if (handlers_.on_disconnect) handlers_.on_disconnect(id);
  }
}

}  // namespace minisup::control
