// Listening sockets that minisupd holds for its programs ([socket.NAME],
// DESIGN.md "Held sockets and zero-downtime restarts"): the raw calls.
//
// A held socket is shared with every process of the programs that name it:
// each child gets a copy of the descriptor, and every copy refers to the
// same open file description. So the socket stays blocking (O_NONBLOCK is
// a property of that description: setting it here would make a child's
// blocking accept() fail with EAGAIN), and minisupd never accepts on it;
// it only keeps it open, close-on-exec, so that connections wait in its
// backlog while no process accepts (a restart).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "supervisor/sys/socket.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::sys {

/// A bound and listening socket, or the errno and call that failed.
struct ListenResult {
  UniqueFd fd;
  int error = 0;          ///< 0 on success
  const char* call = "";  ///< "socket", "setsockopt", "bind", "chown", "chmod", "listen"
};

/// A TCP socket (SOCK_STREAM | SOCK_CLOEXEC, blocking) with SO_REUSEADDR
/// (a restarted minisupd can bind again while old connections linger in
/// TIME_WAIT), bound to `address` and listening with `backlog`.
ListenResult listen_tcp(const IpAddress& address, int backlog) noexcept;

/// A Unix stream socket (SOCK_CLOEXEC, blocking) bound to `address` (the
/// path's sockaddr; the file must not exist), the file created with
/// exactly `mode` (the umask is narrowed around bind(), as for the control
/// socket: never looser, not even for an instant), then `uid`/`gid` when
/// set (chown), then listening with `backlog`. On failure after bind() the
/// file `path` is removed again.
ListenResult listen_unix(const sockaddr* address, socklen_t length, const std::string& path,
                         mode_t mode, std::optional<uid_t> uid, std::optional<gid_t> gid,
                         int backlog) noexcept;

/// listen() again on a listening socket: a new backlog. 0 or the errno.
int relisten(int fd, int backlog) noexcept;

}  // namespace minisup::sys
