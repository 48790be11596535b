// HeldSockets: see held_sockets.h.
#include "supervisor/daemon/held_sockets.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <exception>
#include <utility>

#include "supervisor/control/control_server.h"
#include "supervisor/control/unix_address.h"
#include "supervisor/sys/listen_socket.h"
#include "supervisor/sys/socket.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::daemon {

namespace {

std::string label(const config::SocketConfig& socket) {
  return fmt::format("socket \"{}\" ({})", socket.name, socket.address_text());
}

}  // namespace

HeldSockets::~HeldSockets() {
  for (Held& held : held_) release(held);
}

std::optional<std::string> HeldSockets::bind_one(const config::SocketConfig& socket, Held& out) {
  out.config = socket;
  if (socket.kind == config::SocketConfig::Kind::Tcp) {
    auto address = sys::parse_ip_address(socket.address, socket.port);
    if (!address) return fmt::format("{}: not a numeric address", label(socket));
    sys::ListenResult result = sys::listen_tcp(*address, socket.backlog);
    if (result.error != 0)
      return fmt::format("{}: {}: {}", label(socket), result.call, sys::error_text(result.error));
    out.fd = std::move(result.fd);
    return std::nullopt;
  }
  try {
    // A file nobody listens on is stale (a minisupd that was killed): it is
    // replaced, as the control socket's is. A live one is someone else's.
    control::remove_stale_socket(socket.path);
  } catch (const control::SocketInUseError&) {
    return fmt::format("{}: another process listens on it", label(socket));
  } catch (const std::exception& e) {
    return fmt::format("{}: {}", label(socket), e.what());
  }
  try {
    const control::UnixAddress address = control::make_unix_address(socket.path);
    sys::ListenResult result =
        sys::listen_unix(address.get(), address.length, socket.path, socket.mode, socket.owner_uid,
                         socket.owner_gid, socket.backlog);
    if (result.error != 0)
      return fmt::format("{}: {}: {}", label(socket), result.call, sys::error_text(result.error));
    out.fd = std::move(result.fd);
  } catch (const std::exception& e) {
    return fmt::format("{}: {}", label(socket), e.what());
  }
  struct stat st {};
  if (::lstat(socket.path.c_str(), &st) == 0) {
    out.dev = st.st_dev;
    out.ino = st.st_ino;
  }
  return std::nullopt;
}

void HeldSockets::update_attributes(Held& held, const config::SocketConfig& wanted) {
  const config::SocketConfig& had = held.config;
  if (wanted.backlog != had.backlog) {
    if (int err = sys::relisten(held.fd.get(), wanted.backlog); err != 0)
      spdlog::error("{}: listen (backlog {}): {}", label(wanted), wanted.backlog,
                    sys::error_text(err));
  }
  if (wanted.kind == config::SocketConfig::Kind::Unix) {
    if (wanted.owner_uid != had.owner_uid || wanted.owner_gid != had.owner_gid) {
      if (::chown(wanted.path.c_str(), wanted.owner_uid.value_or(static_cast<uid_t>(-1)),
                  wanted.owner_gid.value_or(static_cast<gid_t>(-1))) != 0)
        spdlog::error("{}: chown: {}", label(wanted), sys::error_text(errno));
    }
    if (wanted.mode != had.mode && ::chmod(wanted.path.c_str(), wanted.mode & 07777) != 0)
      spdlog::error("{}: chmod: {}", label(wanted), sys::error_text(errno));
  }
  held.config = wanted;
}

void HeldSockets::release(Held& held) {
  if (held.config.kind == config::SocketConfig::Kind::Unix && held.fd) {
    struct stat st {};
    if (::lstat(held.config.path.c_str(), &st) == 0 && st.st_dev == held.dev &&
        st.st_ino == held.ino)
      ::unlink(held.config.path.c_str());
  }
  held.fd.reset();
}

std::optional<std::string> HeldSockets::hold(const std::vector<config::SocketConfig>& sockets) {
  // First every new socket is bound; a failure undoes those and keeps
  // everything that is held.
  std::vector<std::optional<std::size_t>> kept(sockets.size());
  std::vector<bool> taken(held_.size(), false);
  std::vector<Held> bound(sockets.size());
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    for (std::size_t j = 0; j < held_.size(); ++j) {
      if (!taken[j] && held_[j].config.same_address(sockets[i])) {
        kept[i] = j;
        taken[j] = true;
        break;
      }
    }
    if (kept[i]) continue;
    if (auto error = bind_one(sockets[i], bound[i])) {
      for (Held& undo : bound) release(undo);
      return error;
    }
  }
  std::vector<Held> next;
  next.reserve(sockets.size());
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    if (kept[i]) {
      Held& held = held_[*kept[i]];
      update_attributes(held, sockets[i]);
      next.push_back(std::move(held));
    } else {
      spdlog::info("{}: bound and held", label(sockets[i]));
      next.push_back(std::move(bound[i]));
    }
  }
  // Then those no longer named are closed.
  for (std::size_t j = 0; j < held_.size(); ++j) {
    if (taken[j]) continue;
    spdlog::info("{}: closed (no longer in the config)", label(held_[j].config));
    release(held_[j]);
  }
  held_ = std::move(next);
  return std::nullopt;
}

int HeldSockets::fd(const std::string& name) const {
  for (const Held& held : held_) {
    if (held.config.name == name) return held.fd.get();
  }
  return -1;
}

}  // namespace minisup::daemon
