// Fd: minisupctl's owner of one file descriptor (its socket).
//
// minisupctl keeps to control/protocol and config (STYLE.md §1), so it has
// this small holder rather than sys::UniqueFd: the descriptor is closed when
// the owner is destroyed; ownership moves, never copies; -1 means "empty".
#pragma once

#include <unistd.h>

#include <utility>

namespace minisup::ctl {

class Fd {
 public:
  Fd() noexcept = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);  // the result does not matter: it is released either way
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  /// The descriptor, still owned (-1 when empty).
  int get() const noexcept { return fd_; }
  /// True when a descriptor is owned.
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace minisup::ctl
