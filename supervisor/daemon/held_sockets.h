// HeldSockets: the listening sockets of [socket.NAME] (DESIGN.md "Held
// sockets and zero-downtime restarts"), bound by minisupd before any
// program starts and held for its whole life.
//
// Every process of a program that names a socket gets a copy of its
// descriptor (3, 4, ...: spawn_plan.h, sys/spawn.h); minisupd keeps its own
// copy open meanwhile, so connections that arrive while no process accepts
// (between an old process's exit and a new one's first accept()) wait in
// the kernel's backlog instead of being refused. minisupd never accepts on
// them and never makes them non-blocking (the open file description is the
// children's too: sys/listen_socket.h). Its copies are close-on-exec; the
// spawn clears that flag in the child only.
//
// A reload (hold() with the new config's sockets) keeps each held socket
// whose address did not change (applying a new backlog, mode or owner),
// binds the new ones first, and only then closes those no longer named:
// a failed bind leaves everything as it was.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

class HeldSockets {
 public:
  HeldSockets() = default;
  /// Removes the unix socket files it made (when they are still ours).
  ~HeldSockets();
  HeldSockets(const HeldSockets&) = delete;
  HeldSockets& operator=(const HeldSockets&) = delete;

  /// Holds exactly `sockets` from now on (see the top of this file). A
  /// stale unix socket file (nobody listening) is replaced, as the control
  /// socket's is; a live one, or an address in use, is an error. Returns
  /// nullopt on success, else what failed, naming the socket: `socket
  /// "http" (tcp://0.0.0.0:3000): bind: Address already in use`; then
  /// nothing changed.
  std::optional<std::string> hold(const std::vector<config::SocketConfig>& sockets);

  /// The descriptor held for socket `name`, or -1.
  int fd(const std::string& name) const;
  /// How many sockets are held.
  std::size_t size() const { return held_.size(); }

 private:
  struct Held {
    config::SocketConfig config;
    sys::UniqueFd fd;
    dev_t dev = 0;  ///< unix: the socket file's identity, to remove only ours
    ino_t ino = 0;
  };
  /// Binds one socket; the error text when it fails.
  std::optional<std::string> bind_one(const config::SocketConfig& socket, Held& out);
  /// Applies a changed backlog, mode or owner to a kept socket; logs failures.
  void update_attributes(Held& held, const config::SocketConfig& wanted);
  /// Closes one held socket, removing its file when it is still ours.
  static void release(Held& held);

  std::vector<Held> held_;
};

}  // namespace minisup::daemon
