// Sockets for probes and sd_notify: the raw calls behind the tcp and http
// readiness/health probes (a non-blocking TCP connect, then send/recv) and
// behind NOTIFY_SOCKET (a datagram socket in the abstract Unix namespace,
// read with the sender's credentials).
//
// Model: nothing here blocks and nothing throws for a system error; each
// call returns the errno it saved (0 = success), so the caller can build
// its `<what> <object>: <strerror>` message (sys_error.h's error_text).
// Every descriptor is created SOCK_NONBLOCK | SOCK_CLOEXEC and owned by a
// UniqueFd from the start.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/sys/unique_fd.h"

namespace minisup::sys {

/// An IPv4 or IPv6 socket address.
struct IpAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = 0;  ///< AF_INET or AF_INET6
};

/// Parses a numeric address ("127.0.0.1", "::1", "[::1]") with `port`
/// (1..65535). Returns nullopt for anything else (names are resolved when
/// the config is loaded, never here: resolving would block).
std::optional<IpAddress> parse_ip_address(std::string_view address, int port);

/// "127.0.0.1:5432" or "[::1]:5432": an address as it appears in messages.
std::string format_host_port(std::string_view host, int port);

/// The start of a non-blocking connect.
struct ConnectStart {
  UniqueFd fd;    ///< the socket (empty when socket() itself failed)
  int error = 0;  ///< 0: connected at once; EINPROGRESS: wait for EPOLLOUT; else failed
  const char* call = "connect";  ///< the call that failed ("socket" or "connect")
};

/// Creates a TCP socket (SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC) and
/// starts connecting it to `address`.
ConnectStart start_connect(const IpAddress& address) noexcept;

/// The outcome of a pending connect once the socket is writable (SO_ERROR):
/// 0 when connected, else the errno of the failure.
int connect_result(int fd) noexcept;

/// Sends what the socket takes now (MSG_NOSIGNAL | MSG_DONTWAIT). Returns
/// the bytes sent (>= 0), or -errno (-EAGAIN: nothing could be sent now).
long send_some(int fd, std::string_view data) noexcept;

/// Receives up to `capacity` bytes (MSG_DONTWAIT). Returns the bytes read,
/// 0 at end of stream, or -errno (-EAGAIN: nothing to read now).
long recv_some(int fd, char* buffer, std::size_t capacity) noexcept;

/// Creates a datagram Unix socket (SOCK_DGRAM | SOCK_NONBLOCK |
/// SOCK_CLOEXEC) bound to `name` in the abstract namespace (no file; `name`
/// without the leading NUL or '@'), with SO_PASSCRED on so every datagram
/// carries its sender's credentials. On failure `fd` is empty and `error`
/// holds the errno (EADDRINUSE: the name is taken), `call` the failed call.
ConnectStart bind_abstract_datagram(std::string_view name) noexcept;

/// One datagram read by recv_datagram().
struct Datagram {
  std::size_t size = 0;    ///< bytes stored in the buffer
  bool truncated = false;  ///< it was longer than the buffer (MSG_TRUNC)
  bool has_credentials = false;
  pid_t pid = 0;  ///< the sender's, from SCM_CREDENTIALS
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Reads one datagram (MSG_DONTWAIT) into `buffer` with the sender's
/// credentials. Descriptors passed along (SCM_RIGHTS, e.g. sd_notify's
/// FDSTORE=1) are closed at once: minisupd keeps none. Returns 0 and fills
/// `out`, or the errno (EAGAIN: nothing queued).
int recv_datagram(int fd, char* buffer, std::size_t capacity, Datagram& out) noexcept;

}  // namespace minisup::sys
