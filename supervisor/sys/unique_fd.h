// UniqueFd: sole ownership of one file descriptor.
//
// Model: like std::unique_ptr for an int. The descriptor is closed when the
// owner is destroyed or reset; ownership moves, never copies. -1 means
// "empty". Every descriptor minisupd opens lives in a UniqueFd (or is handed
// to the kernel, e.g. dup2'ed in a child), so none leaks on an error path.
#pragma once

#include <unistd.h>

#include <utility>

namespace minisup::sys {

class UniqueFd {
 public:
  /// An empty owner (get() == -1).
  UniqueFd() noexcept = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  /// The descriptor, still owned (-1 when empty).
  int get() const noexcept { return fd_; }
  /// Gives up ownership without closing; returns the descriptor.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the owned descriptor (if any) and takes ownership of `fd`.
  /// The close() result is ignored: on Linux the descriptor is released
  /// even when close reports an error, and retrying could close a stranger.
  void reset(int fd = -1) noexcept {
    int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }
  /// True when a descriptor is owned.
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace minisup::sys
