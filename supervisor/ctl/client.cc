// Connection implementation (see client.h).
#include "supervisor/ctl/client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/control/unix_address.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::ctl {

Connection Connection::open(const std::filesystem::path& socket) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw ConnectError(fmt::format("socket: {}", sys::error_text(errno)), false);
  control::UnixAddress address;
  try {
    address = control::make_unix_address(socket);
  } catch (const sys::SysError& e) {
    if (e.error() == ENOENT) {
      throw ConnectError(fmt::format("minisupd is not running (no socket at {})", socket.string()),
                         true);
    }
    throw ConnectError(e.what(), false);
  } catch (const std::exception& e) {
    throw ConnectError(e.what(), false);
  }
  while (::connect(fd.get(), address.get(), address.length) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ENOENT) {
      throw ConnectError(fmt::format("minisupd is not running (no socket at {})", socket.string()),
                         true);
    }
    if (err == ECONNREFUSED) {
      throw ConnectError(
          fmt::format("minisupd is not running (connection refused at {})", socket.string()), true);
    }
    throw ConnectError(fmt::format("connect: {}: {}", socket.string(), sys::error_text(err)),
                       false);
  }
  return Connection(std::move(fd));
}

void Connection::send_line(std::string_view line) {
  std::string data(line);
  data += '\n';
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("write to minisupd: {}", sys::error_text(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> Connection::read_line(std::optional<std::chrono::milliseconds> timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  for (;;) {
    const std::size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      scanned_ = 0;
      return line;
    }
    scanned_ = buffer_.size();
    if (eof_) return std::nullopt;  // a last line without '\n' is incomplete: dropped
    if (timeout) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw ReadTimeout("no reply from minisupd in time");
      pollfd pfd{fd_.get(), POLLIN, 0};
      const int ready =
          ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
      if (ready < 0 && errno != EINTR)
        throw std::runtime_error(fmt::format("poll: {}", sys::error_text(errno)));
      if (ready <= 0) continue;
    }
    char chunk[65536];
    const ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof_ = true;
    } else if (errno == ECONNRESET) {
      eof_ = true;  // minisupd closed with our unread bytes pending: same as EOF
    } else if (errno != EINTR) {
      throw std::runtime_error(fmt::format("read from minisupd: {}", sys::error_text(errno)));
    }
  }
}

}  // namespace minisup::ctl
