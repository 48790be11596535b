#include "supervisor/sys/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <string>

#include "supervisor/sys/sys_error.h"

namespace minisup::sys {

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", "", errno);
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  set_nonblocking(p.read.get());
  return p;
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw SysError("fcntl(F_GETFL)", "fd " + std::to_string(fd), errno);
  if ((flags & O_NONBLOCK) != 0) return;
  if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    throw SysError("fcntl(F_SETFL)", "fd " + std::to_string(fd), errno);
}

long set_pipe_size(int fd, std::size_t bytes) noexcept {
  long size = ::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(bytes > INT_MAX ? INT_MAX : bytes));
  if (size >= 0) return size;
  // Over the limit for unprivileged users (EPERM) or invalid (EINVAL): keep
  // the current size and report it.
  return ::fcntl(fd, F_GETPIPE_SZ);
}

}  // namespace minisup::sys
