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
//   - at most Limits::max_clients connections; one more gets a
//     `too_many_clients` error line and is closed at once;
//   - a client whose unsent replies exceed Limits::max_output_bytes (it does
//     not read) is disconnected;
//   - accept() at the descriptor limit (EMFILE) does not spin: a spare
//     descriptor is closed to accept and close the connection (PITFALL 11).
//
// Disconnection is reported through Handlers::on_disconnect, exactly once per
// accepted client and always from the loop, never from inside send() or
// close_after_flush(): a handler may send to many clients in a loop without
// its containers changing under it.
//
// The socket file: stale files (connect() refused) are replaced, a live one
// is refused (SocketInUseError); the file is created with the configured
// mode before listen(), and removed by the destructor if it is still ours.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
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
    /// reading, accept() failures, EMFILE). May be empty.
    std::function<void(std::string_view message)> on_log;
  };

  /// Bounds on what one client can make the server hold (tests lower them).
  struct Limits {
    std::size_t max_request_bytes = kMaxRequestBytes;
    std::size_t max_clients = kMaxClients;
    std::size_t max_output_bytes = kMaxClientOutputBytes;
  };

  /// Creates the socket file at `socket` with permissions `mode` (e.g.
  /// 0700), listens, and registers with `loop` (which must outlive the
  /// server). Handlers must not throw. A stale socket file is
  /// replaced. Throws SocketInUseError when a live server answers on
  /// `socket`, std::runtime_error when `socket` exists and is not a socket,
  /// sys::SysError for failing system calls.
  ControlServer(loop::EventLoop& loop, std::filesystem::path socket, mode_t mode, Handlers handlers,
                Limits limits);
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

  /// Number of connected clients.
  std::size_t client_count() const { return clients_.size(); }
  /// The socket path as given.
  const std::filesystem::path& socket_path() const { return socket_path_; }

 private:
  struct Client;

  void on_listen_ready();
  void accept_one_spare();
  void reject_connection(int fd, ErrorCode code, std::string_view message);
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

  loop::EventLoop& loop_;
  std::filesystem::path socket_path_;
  Handlers handlers_;
  Limits limits_;
  sys::UniqueFd listen_fd_;
  sys::UniqueFd spare_fd_;  ///< /dev/null, given up to accept at EMFILE
  dev_t socket_dev_ = 0;    ///< identity of the socket file we created
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
};

}  // namespace minisup::control
