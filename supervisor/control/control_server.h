// ControlServer: the control socket of minisupd. It moves bytes only.
//
// Model: a listening Unix stream socket registered with the EventLoop, and
// per client a non-blocking connection with an input buffer (bytes up to the
// next '\n') and an output buffer (replies not yet taken by the kernel).
// Complete request lines are handed to Handlers::on_line in arrival order;
// the server knows nothing of their meaning (protocol.h parses them, the
// daemon's dispatcher executes them). Replies go out with send(), at any
// time while the client is connected: a `start` may be answered seconds
// after its line arrived.
//
// Nothing here ever blocks the loop (PITFALL 12) and every resource is
// bounded:
//   - a request line over Limits::max_request_bytes gets a `too_large` error
//     and the connection is closed once it is flushed;
//   - a half line followed by silence costs one buffer, nothing else;
//   - a client whose unsent replies exceed Limits::max_output_bytes (it does
//     not read) is disconnected;
//   - idle connections cannot lock anyone out (see "Idle clients" below);
//   - accept() at the descriptor limit (EMFILE, ENFILE) neither locks clients
//     out nor spins (PITFALL 11): a reserve of Limits::reserve_fds /dev/null
//     descriptors is given up one at a time to accept and serve a client
//     (taken back when descriptors free up, e.g. when a client leaves); with
//     the reserve used up, an idle connection is evicted as at the client
//     cap (below) and its descriptor serves the newcomer; with none to
//     evict, one last spare descriptor is closed to accept the connection,
//     tell it "out of file descriptors" and close it; without even that,
//     the socket is not watched for 100 ms.
//
// Idle clients. A connection's *request clock* runs while it owes the server
// a complete request: from connect until its first complete request line,
// and from the first byte of each later request until that request's '\n'.
// A connection whose clock has run Limits::idle_timeout (10 s) is closed.
// Once a request is complete the clock stops and stays stopped while the
// client sends nothing more, however long the answer takes: `wait
// --timeout 60`, `start`, `tail -f` and event subscriptions are never closed
// by it. Blank lines complete no request. One loop timer per running clock,
// armed at connect or at the first byte and cancelled by the '\n': no
// periodic tick, no wakeup while nobody is connected.
// At Limits::max_clients connections a newcomer evicts (error line
// `too_many_clients`, then closed, logged) the connection whose clock has
// run longest; if no clock runs, the connection that has waited longest
// since its last activity while the daemon holds no answer for it
// (Handlers::holds_answer, nothing unsent, not hold_until_exit). Only when
// every connection has a request in progress is the newcomer refused with
// `too_many_clients`. So an operator's `minisupctl` is always served.
//
// Peer credentials (PITFALL 7). Each connection's SO_PEERCRED is checked at
// accept: uid 0, the server's own effective uid, Access::uids, and
// Access::gid (the peer's gid, or its uid among Access::group_members) are
// allowed; anyone else gets one `permission_denied` error line and is
// closed, and the refusal is logged with the peer's uid and pid. So a
// `socket_mode` of 0777 does not hand the socket to every local user.
//
// Repeated log messages (accept failures, evictions, refusals, idle
// closes) are logged once, then counted for Limits::log_repeat_window and
// summarized as "... (repeated N times)": a flood of connections cannot
// flood minisupd's log.
//
// Disconnection is reported through Handlers::on_disconnect, exactly once per
// accepted client and always from the loop, never from inside send() or
// close_after_flush(): a handler may send to many clients in a loop without
// its containers changing under it.
//
// The socket file: stale files (connect() refused) are replaced, a live one
// is refused (SocketInUseError); the file is created with the configured
// mode (never looser, not even for an instant: the umask is narrowed around
// bind()) and group (Access::gid) before listen(), and removed by the
// destructor if it is still ours.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "supervisor/control/protocol.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::control {

/// Another process listens on the socket path: "another minisupd is running
/// on /run/minisup.sock". minisupd exits 1 with this message.
class SocketInUseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Makes room for a control socket at `path`: nothing there is fine; a
/// socket nobody listens on (connect() refused: its minisupd died) is
/// removed. Throws SocketInUseError when a live server answers there,
/// std::runtime_error when `path` is not a socket, sys::SysError otherwise.
/// The ControlServer constructor calls it; minisupd --daemon calls it before
/// detaching so that the error still reaches the terminal.
void remove_stale_socket(const std::filesystem::path& path);

class ControlServer {
 public:
  /// Names one connection for the server's lifetime; never reused.
  using ClientId = std::uint64_t;

  /// The connecting process, from SO_PEERCRED at accept time.
  struct Peer {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
  };

  struct Handlers {
    /// One complete request line, without '\n' (and without a trailing
    /// '\r'); empty and whitespace-only lines are not delivered. The view is
    /// valid during the call only.
    std::function<void(ClientId, const Peer&, std::string_view line)> on_line;
    /// The client is gone (peer closed, error, cap exceeded, or closed after
    /// close_after_flush). Called once per accepted client, from the loop.
    std::function<void(ClientId)> on_disconnect;
    /// Optional: notable events for minisupd's log (a client dropped for not
    /// reading, accept() failures, EMFILE, evictions, refused peers). May be
    /// empty.
    std::function<void(std::string_view message)> on_log;
    /// Optional: true while the daemon still owes `client` an answer to a
    /// complete request (a pending `start`/`wait`, a `tail -f`, an event
    /// subscription). Asked only when the client cap is reached, to choose
    /// whom to evict; without it, a client that completed a request is
    /// never evicted.
    std::function<bool(ClientId)> holds_answer;
    /// Optional: output of at least kLargeOutputBytes has gone out whole
    /// and its buffer is freed (not kept for the next reply): a moment to
    /// give memory back to the system (a status of 10,000 processes as
    /// JSON is 4.7 MB).
    std::function<void(ClientId)> on_large_output_sent;
  };
  static constexpr std::size_t kLargeOutputBytes = 64 * 1024;

  /// Bounds on what one client can make the server hold (tests lower them).
  struct Limits {
    std::size_t max_request_bytes = kMaxRequestBytes;
    std::size_t max_clients = kMaxClients;
    std::size_t max_output_bytes = kMaxClientOutputBytes;
    /// A connection whose request clock (see "Idle clients") has run this
    /// long is closed.
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(10);
    /// /dev/null descriptors held back to serve clients at EMFILE.
    std::size_t reserve_fds = 8;
    /// A repeated log message is summarized at most this often.
    std::chrono::milliseconds log_repeat_window = std::chrono::seconds(5);
  };

  /// Who may use the socket besides uid 0 and the server's own euid. The
  /// names of `socket_uids`/`socket_group` are resolved when the config is
  /// loaded: nothing here looks a name up (NSS may block the loop).
  struct Access {
    std::vector<uid_t> uids;           ///< allowed users
    std::optional<gid_t> gid;          ///< allowed group; the socket file's group
    std::vector<uid_t> group_members;  ///< members of `gid` (also by primary group)
  };

  /// Creates the socket file at `socket` with permissions `mode` (e.g.
  /// 0700), listens, and registers with `loop` (which must outlive the
  /// server). Handlers must not throw. A stale socket file is
  /// replaced. Throws SocketInUseError when a live server answers on
  /// `socket`, std::runtime_error when `socket` exists and is not a socket,
  /// sys::SysError for failing system calls.
  ControlServer(loop::EventLoop& loop, std::filesystem::path socket, mode_t mode, Handlers handlers,
                Limits limits, Access access);
  ControlServer(loop::EventLoop& loop, std::filesystem::path socket, mode_t mode, Handlers handlers,
                Limits limits)
      : ControlServer(loop, std::move(socket), mode, std::move(handlers), limits, Access{}) {}
  ControlServer(loop::EventLoop& loop, std::filesystem::path socket, mode_t mode, Handlers handlers)
      : ControlServer(loop, std::move(socket), mode, std::move(handlers), Limits{}) {}
  /// Closes every connection (without on_disconnect calls), stops
  /// listening and unlinks the socket file if it is still the one created.
  /// Do not destroy the server from inside one of its handlers.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Queues `line` plus '\n' for `client` and writes what the socket takes
  /// now; the rest goes out when the socket is writable. Does nothing when
  /// the client is gone. Disconnects the client when its unsent output would
  /// exceed Limits::max_output_bytes.
  void send(ClientId client, std::string_view line);
  /// The same; when nothing is pending for `client`, `line` itself becomes
  /// the output buffer (no copy of a big reply).
  void send(ClientId client, std::string&& line);
  void send(ClientId client, const char* line) { send(client, std::string_view(line)); }
  /// Queues `bytes`, the start of a line (no '\n' is added), and writes
  /// what the socket takes now, as send() does: a large reply goes out in
  /// parts while the rest is written, and a later send() ends the line.
  void send_part(ClientId client, std::string_view bytes);
  /// Stops reading from `client` and closes it once its output is flushed.
  void close_after_flush(ClientId client);
  /// Keeps `client`'s connection open past the server's destruction: the
  /// descriptor is left for the kernel to close when the process exits.
  /// For `shutdown`, whose client waits for EOF as "minisupd has exited".
  void hold_until_exit(ClientId client);
  /// True while `client` is connected (false once it was dropped, even
  /// before on_disconnect ran).
  bool connected(ClientId client) const;
  /// The peer credentials of a connected client; nullptr when gone.
  const Peer* peer(ClientId client) const;

  /// True when `peer` may use the socket (see "Peer credentials").
  bool allowed(const Peer& peer) const;

  /// Number of connected clients.
  std::size_t client_count() const { return clients_.size(); }
  /// Descriptors currently held in the EMFILE reserve (for tests).
  std::size_t reserve_count() const { return reserve_.size(); }
  /// The socket path as given.
  const std::filesystem::path& socket_path() const { return socket_path_; }

 private:
  struct Client;

  void on_listen_ready();
  /// Accepts one connection with a descriptor given up from the reserve:
  /// the descriptor, kNothingPending (no connection was waiting; the
  /// reserve is unchanged) or kReserveEmpty.
  static constexpr int kNothingPending = -1;
  static constexpr int kReserveEmpty = -2;
  int accept_from_reserve();
  /// Opens /dev/null descriptors until the reserve is full or open() fails.
  void refill_reserve();
  enum class SpareOutcome {
    Refused,         ///< a connection was accepted, told and closed
    NothingPending,  ///< no connection was waiting
    Paused,          ///< no spare descriptor: the socket is unwatched for a while
  };
  SpareOutcome accept_one_spare();
  /// A newly accepted connection: checks the peer, the cap, and registers it.
  void add_client(sys::UniqueFd fd);
  /// At the cap (or out of descriptors): the connection to evict for a
  /// newcomer, or nullptr.
  Client* eviction_candidate();
  /// Tells `victim` why (best effort), logs and drops it.
  void evict(Client& victim, std::string_view reason);
  /// True when a connection waits on the listening socket.
  bool connection_pending() const;
  void start_request_clock(Client& client);
  void stop_request_clock(Client& client);
  void on_idle_timeout(ClientId id);
  /// Sends `line` (an error, without '\n') best effort and closes `fd`.
  void reject_connection(int fd, std::string line);
  void on_client_ready(ClientId id, std::uint32_t events);
  /// Reads once; returns false when the client was dropped.
  bool read_client(Client& client, bool peer_gone);
  /// Hands complete lines to on_line; returns false when the client was dropped.
  bool deliver_lines(ClientId id);
  /// After output was queued: writes what the socket takes now, and drops a
  /// client whose unsent output is over the limit.
  void output_queued(Client& client);
  /// Writes pending output; returns false when the client was dropped.
  bool flush(Client& client);
  void update_interest(Client& client);
  void drop(ClientId id, std::string_view why);
  void run_pending_disconnects();
  void log(std::string_view message);
  /// Logs `message` unless a message of the same `kind` was logged within
  /// the last Limits::log_repeat_window; those are counted and summarized
  /// as "KIND (repeated N times)" at the end of the window.
  void log_repeated(const std::string& kind, std::string_view message);
  void end_repeat_window(const std::string& kind);

  loop::EventLoop& loop_;
  std::filesystem::path socket_path_;
  Handlers handlers_;
  Limits limits_;
  Access access_;
  uid_t own_uid_ = 0;  ///< the server's effective uid, always allowed
  sys::UniqueFd listen_fd_;
  std::vector<sys::UniqueFd> reserve_;  ///< /dev/null, given up to serve at EMFILE
  sys::UniqueFd spare_fd_;              ///< /dev/null, given up to accept-and-close at EMFILE
  dev_t socket_dev_ = 0;                ///< identity of the socket file we created
  ino_t socket_ino_ = 0;
  bool listening_ = false;  ///< listen_fd_ is registered with the loop
  loop::EventLoop::TimerId relisten_timer_ = 0;
  ClientId next_id_ = 1;
  std::unordered_map<ClientId, std::unique_ptr<Client>> clients_;
  /// Dropped clients: kept alive until the loop's next timer round, so a
  /// handler's line view or loop callback never sees freed memory.
  std::vector<std::unique_ptr<Client>> dropped_;
  std::vector<ClientId> pending_disconnects_;
  loop::EventLoop::TimerId disconnect_timer_ = 0;
  bool disconnect_timer_armed_ = false;
  /// log_repeated(): per kind, the occurrences not logged in the open window.
  struct RepeatWindow {
    std::size_t suppressed = 0;
    loop::EventLoop::TimerId timer = 0;
  };
  std::map<std::string, RepeatWindow> repeat_windows_;
};

}  // namespace minisup::control
