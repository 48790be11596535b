// Connection implementation (see client.h).
#include "supervisor/ctl/client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>

namespace minisup::ctl {
namespace {

/// Past this, the connection's buffer moves into BulkMemory.
constexpr std::size_t kSmallLimit = 64 * 1024;

/// The text of an errno value (GNU strerror_r, which never fails).
std::string error_text(int err) {
  char buf[256];
  return ::strerror_r(err, buf, sizeof buf);
}

/// connect()s `fd` to the Unix socket at `path`; returns 0 or the errno
/// (ENAMETOOLONG when even the detour below is too long). Throws
/// ConnectError when the directory of a long path cannot be opened.
/// A path too long for sun_path (107 bytes) is reached through its
/// directory, opened O_PATH: /proc/self/fd/N/NAME resolves like the real
/// path (as control/unix_address does for minisupd's bind()).
int connect_unix(int fd, const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string text = path.string();
  Fd directory;
  if (text.size() >= sizeof(addr.sun_path)) {
    std::filesystem::path parent = path.parent_path();
    if (parent.empty()) parent = ".";
    directory = Fd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!directory) {
      const int err = errno;
      if (err == ENOENT) return err;  // no directory, so no socket: minisupd is not running
      throw ConnectError(fmt::format("open: {}: {}", parent.string(), error_text(err)), false);
    }
    text = fmt::format("/proc/self/fd/{}/{}", directory.get(), path.filename().string());
    if (text.size() >= sizeof(addr.sun_path)) return ENAMETOOLONG;
  }
  std::memcpy(addr.sun_path, text.data(), text.size());
  addr.sun_path[text.size()] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), length) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

}  // namespace

Connection Connection::open(const std::filesystem::path& socket) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw ConnectError(fmt::format("socket: {}", error_text(errno)), false);
  const int err = connect_unix(fd.get(), socket);
  if (err == 0) return Connection(std::move(fd));
  if (err == ENOENT) {
    throw ConnectError(fmt::format("minisupd is not running (no socket at {})", socket.string()),
                       true);
  }
  if (err == ECONNREFUSED) {
    throw ConnectError(
        fmt::format("minisupd is not running (connection refused at {})", socket.string()), true);
  }
  if (err == ENAMETOOLONG) {
    throw ConnectError(fmt::format("socket path too long: {}", socket.string()), false);
  }
  throw ConnectError(fmt::format("connect: {}: {}", socket.string(), error_text(err)), false);
}

void Connection::send_line(std::string_view line) {
  std::string data(line);
  data += '\n';
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("write to minisupd: {}", error_text(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> Connection::read_line(std::optional<std::chrono::milliseconds> timeout) {
  std::optional<std::string_view> line = read_line_view(timeout);
  if (!line) return std::nullopt;
  return std::string(*line);
}

std::optional<std::string_view> Connection::read_line_view(
    std::optional<std::chrono::milliseconds> timeout) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  for (;;) {
    const std::string_view bytes = pending();
    const std::size_t newline = bytes.find('\n', scanned_);
    if (newline != std::string_view::npos) {
      // Taken; its bytes stay where they are until the next read.
      start_ += newline + 1;
      scanned_ = 0;
      return bytes.substr(0, newline);
    }
    scanned_ = bytes.size();
    // (a last line without '\n' is incomplete: dropped)
    if (!receive(deadline)) return std::nullopt;
  }
}

void Connection::make_room(std::size_t bytes) {
  if (capacity_ - end_ >= bytes) return;
  const std::size_t kept = end_ - start_;
  if (start_ > 0 && capacity_ - kept >= bytes && kept <= capacity_ / 2) {
    std::memmove(data_, data_ + start_, kept);  // (lines read made the room)
  } else {
    const std::size_t wanted = std::max(2 * capacity_, kept + bytes);
    if (!bulk_.data() && wanted <= kSmallLimit) {
      auto bigger = std::make_unique_for_overwrite<char[]>(wanted);
      if (kept > 0) std::memcpy(bigger.get(), data_ + start_, kept);
      small_ = std::move(bigger);
      data_ = small_.get();
      capacity_ = wanted;
    } else {
      BulkMemory bigger(std::max({wanted, 4 * capacity_, expected_}));
      if (kept > 0) std::memcpy(bigger.data(), data_ + start_, kept);
      bulk_ = std::move(bigger);
      small_.reset();
      data_ = bulk_.data();
      capacity_ = bulk_.size();
    }
  }
  end_ = kept;
  start_ = 0;
}

bool Connection::receive(std::optional<std::chrono::steady_clock::time_point> deadline) {
  for (;;) {
    if (eof_) return false;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw ReadTimeout("no reply from minisupd in time");
      pollfd pfd{fd_.get(), POLLIN, 0};
      const int ready =
          ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
      if (ready < 0 && errno != EINTR)
        throw std::runtime_error(fmt::format("poll: {}", error_text(errno)));
      if (ready <= 0) continue;
    }
    // Straight into the buffer: no copy through the stack.
    constexpr std::size_t kRead = 64 * 1024;
    make_room(kRead);
    const ssize_t n = ::read(fd_.get(), data_ + end_, capacity_ - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0 || errno == ECONNRESET) {
      eof_ = true;  // (ECONNRESET: minisupd closed with our unread bytes pending: same as EOF)
      return false;
    }
    if (errno != EINTR)
      throw std::runtime_error(fmt::format("read from minisupd: {}", error_text(errno)));
  }
}

}  // namespace minisup::ctl
