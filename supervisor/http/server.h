// Server: minisupd's HTTP listener (DESIGN.md, "HTTP: dashboard, JSON API,
// metrics"), libmicrohttpd run inside minisupd's own epoll loop.
//
// Why libmicrohttpd: it runs in an external event loop (its epoll
// descriptor is watched by ours, MHD_run() is called when it is ready and
// when its timeout is due), so minisupd stays single-threaded and costs no
// wakeup while idle. It is loaded with dlopen() only when `[http]` is
// configured: Debian's build links GnuTLS, whose libraries would otherwise
// be mapped (and their constructors run) in every minisupd.
//
// A request becomes a control request line handed to the same dispatcher
// the control socket uses (Handlers::on_request); its reply lines come back
// through send() and become the HTTP response. Requests that take time
// (start, stop, restart) suspend their connection until answered; events
// (SSE) and a followed log are chunked responses fed as lines arrive, their
// connection suspended while there is nothing to send.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "supervisor/config/program_config.h"
#include "supervisor/loop/event_loop.h"

namespace minisup::http {

class Server {
 public:
  using ClientId = std::uint64_t;
  /// HTTP clients get ids from here on; the control socket's stay below.
  static constexpr ClientId kFirstClient = ClientId{1} << 62;

  struct Handlers {
    /// A control request line (with its newline) of `client`.
    std::function<void(ClientId client, std::string_view line)> on_request;
    /// The client's request ended (answered, or the peer went away).
    std::function<void(ClientId client)> on_disconnect;
    /// The text of GET /metrics.
    std::function<std::string()> metrics;
  };
  struct Limits {
    unsigned connections = 256;           ///< open connections at most
    std::size_t memory = 32 * 1024;       ///< per connection: caps the request headers
    unsigned idle_timeout_s = 60;         ///< an idle (not streaming) connection is closed
    std::size_t stream_buffer = 1 << 20;  ///< unsent bytes of a stream before it is dropped
  };

  /// Loads libmicrohttpd, binds `config.listen` (a unix socket file with
  /// `unix_mode`) and starts serving. Throws std::runtime_error naming what
  /// failed (the library missing, the address in use).
  Server(loop::EventLoop& loop, const config::HttpConfig& config, mode_t unix_mode,
         Handlers handlers, Limits limits);
  Server(loop::EventLoop& loop, const config::HttpConfig& config, mode_t unix_mode,
         Handlers handlers)
      : Server(loop, config, unix_mode, std::move(handlers), Limits{}) {}
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// "http://127.0.0.1:9001", "unix:/run/minisup-http.sock".
  std::string address_text() const;

  // The dispatcher's side (daemon::Clients), for ids >= kFirstClient.
  void send(ClientId client, std::string&& line);
  bool connected(ClientId client) const;
  void close_after_flush(ClientId client);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace minisup::http
