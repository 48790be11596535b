#include "supervisor/sys/listen_socket.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

namespace minisup::sys {

namespace {

ListenResult failed(const char* call, int error) {
  ListenResult result;
  result.error = error;
  result.call = call;
  return result;
}

}  // namespace

ListenResult listen_tcp(const IpAddress& address, int backlog) noexcept {
  UniqueFd fd(::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failed("socket", errno);
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
    return failed("setsockopt", errno);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0)
    return failed("bind", errno);
  if (::listen(fd.get(), backlog) != 0) return failed("listen", errno);
  ListenResult result;
  result.fd = std::move(fd);
  return result;
}

ListenResult listen_unix(const sockaddr* address, socklen_t length, const std::string& path,
                         mode_t mode, std::optional<uid_t> uid, std::optional<gid_t> gid,
                         int backlog) noexcept {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failed("socket", errno);
  // bind() creates the file with 0777 & ~umask: narrow the umask so that it
  // is never more open than `mode` (minisupd has one thread here).
  const mode_t old_umask = ::umask(~mode & 0777);
  const int bound = ::bind(fd.get(), address, length);
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) return failed("bind", bind_errno);
  auto undo = [&](const char* call) {
    const int error = errno;
    ::unlink(path.c_str());
    return failed(call, error);
  };
  if ((uid || gid) && ::chown(path.c_str(), uid.value_or(static_cast<uid_t>(-1)),
                              gid.value_or(static_cast<gid_t>(-1))) != 0)
    return undo("chown");
  if (::chmod(path.c_str(), mode & 07777) != 0) return undo("chmod");
  if (::listen(fd.get(), backlog) != 0) return undo("listen");
  ListenResult result;
  result.fd = std::move(fd);
  return result;
}

int relisten(int fd, int backlog) noexcept { return ::listen(fd, backlog) == 0 ? 0 : errno; }

}  // namespace minisup::sys
