// sd_notify for minisupd itself: readiness and status for the service
// manager that started it (systemd `Type=notify`), over the datagram socket
// named by NOTIFY_SOCKET.
//
// Model: the Daemon takes NOTIFY_SOCKET out of its environment at start
// (children must never get minisupd's own socket, nor LISTEN_*) and keeps a
// NotifySocket. After state changes it asks notify_state() what to say:
//   READY=1     once, when every autostart process is RUNNING or has
//               settled without running (FATAL, EXITED, STOPPED);
//   STOPPING=1  once, when the shutdown has begun;
//   STATUS=...  a short summary ("5 running, 1 starting"), when it changed.
// The protocol is systemd's sd_notify(3): one datagram of NEWLINE-separated
// KEY=VALUE lines; a path, or an abstract name written `@name`.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <string>
#include <string_view>

#include "supervisor/core/supervisor.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

/// The environment variables of minisupd's own service manager, never
/// passed to children: NOTIFY_SOCKET, LISTEN_PID, LISTEN_FDS,
/// LISTEN_FDNAMES.
inline constexpr std::string_view kServiceManagerVariables[] = {"NOTIFY_SOCKET", "LISTEN_PID",
                                                                "LISTEN_FDS", "LISTEN_FDNAMES"};

/// A datagram socket that sends to the service manager's NOTIFY_SOCKET.
class NotifySocket {
 public:
  /// Reads NOTIFY_SOCKET and removes it (and the LISTEN_* variables, see
  /// kServiceManagerVariables) from the process environment. Returns
  /// nullopt when it was unset or empty; a value that is not a usable
  /// address (relative, too long) gives nullopt and `*error` says why.
  static std::optional<NotifySocket> take_from_environment(std::string* error);

  /// For `address` (an absolute path or `@abstract`); nullopt when it is
  /// not usable (`*error` says why).
  static std::optional<NotifySocket> open(std::string_view address, std::string* error);

  /// Sends `message` (e.g. "READY=1\nSTATUS=5 running") as one datagram,
  /// without blocking. Returns false and sets `*error` when it failed.
  bool send(std::string_view message, std::string* error);

  /// The address as given (`/run/systemd/notify`, `@name`).
  const std::string& address() const { return address_; }

 private:
  NotifySocket() = default;

  sys::UniqueFd fd_;
  sockaddr_un addr_{};
  socklen_t addr_length_ = 0;
  std::string address_;
};

/// What to tell the service manager, decided from the supervisor's states.
struct NotifyState {
  /// Every autostart process is RUNNING or settled (FATAL, EXITED, STOPPED).
  bool ready = false;
  /// The shutdown has begun.
  bool stopping = false;
  /// "5 running, 1 starting", "shutting down: 2 stopping, 4 stopped",
  /// "no processes".
  std::string status;
};

/// Looks at every process of `supervisor` (O(processes)).
NotifyState notify_state(const core::Supervisor& supervisor);

/// The message that tells what changed since `sent` (READY=1 and STOPPING=1
/// once each, STATUS= when the text changed), and records it in `sent`.
/// Empty when nothing changed.
std::string notify_message(const NotifyState& now, NotifyState& sent);

}  // namespace minisup::daemon
