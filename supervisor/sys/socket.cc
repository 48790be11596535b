// Sockets for probes and sd_notify: see socket.h.
#include "supervisor/sys/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace minisup::sys {

std::optional<IpAddress> parse_ip_address(std::string_view address, int port) {
  if (port < 1 || port > 65535) return std::nullopt;
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (address.empty() || address.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string text(address);
  IpAddress result;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    result.length = sizeof(sockaddr_in);
    result.family = AF_INET;
    return result;
  }
  result.storage = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    result.length = sizeof(sockaddr_in6);
    result.family = AF_INET6;
    return result;
  }
  return std::nullopt;
}

std::string format_host_port(std::string_view host, int port) {
  std::string text;
  const bool bracket = host.find(':') != std::string_view::npos && host.front() != '[';
  if (bracket) text += '[';
  text += host;
  if (bracket) text += ']';
  text += ':';
  text += std::to_string(port);
  return text;
}

ConnectStart start_connect(const IpAddress& address) noexcept {
  ConnectStart start;
  int fd = ::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    start.error = errno;
    start.call = "socket";
    return start;
  }
  start.fd.reset(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) == 0) {
    start.error = 0;
    return start;
  }
  // EINTR on a non-blocking connect: the connect goes on in the
  // background, exactly as with EINPROGRESS.
  start.error = errno == EINTR ? EINPROGRESS : errno;
  return start;
}

int connect_result(int fd) noexcept {
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

long send_some(int fd, std::string_view data) noexcept {
  for (;;) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

long recv_some(int fd, char* buffer, std::size_t capacity) noexcept {
  for (;;) {
    ssize_t n = ::recv(fd, buffer, capacity, MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

ConnectStart bind_abstract_datagram(std::string_view name) noexcept {
  ConnectStart start;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Abstract: sun_path[0] is NUL and the name is the rest, not
  // NUL-terminated; the length passed to bind() delimits it.
  if (name.empty() || name.size() > sizeof(addr.sun_path) - 1) {
    start.error = ENAMETOOLONG;
    start.call = "bind";
    return start;
  }
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    start.error = errno;
    start.call = "socket";
    return start;
  }
  UniqueFd owned(fd);
  // SO_PASSCRED before bind: no datagram can arrive without credentials.
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) {
    start.error = errno;
    start.call = "setsockopt SO_PASSCRED";
    return start;
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), length) != 0) {
    start.error = errno;
    start.call = "bind";
    return start;
  }
  start.fd = std::move(owned);
  start.error = 0;
  return start;
}

int recv_datagram(int fd, char* buffer, std::size_t capacity, Datagram& out) noexcept {
  // Room for the credentials and for a few passed descriptors (sd_notify's
  // FDSTORE=1): those are closed below; any beyond this room the kernel
  // discards itself (MSG_CTRUNC).
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
  iovec iov{buffer, capacity};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  for (;;) {
    n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? EAGAIN : errno;
  }
  out = Datagram{};
  out.size = static_cast<std::size_t>(n) > capacity ? capacity : static_cast<std::size_t>(n);
  out.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      out.has_credentials = true;
      out.pid = cred.pid;
      out.uid = cred.uid;
      out.gid = cred.gid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        ::close(passed);
      }
    }
  }
  return 0;
}

}  // namespace minisup::sys
