// SysError: a failed system call, as an exception.
//
// Model: used on the paths where exceptions are allowed (start-up, set-up of
// the event loop). It keeps the call name and the errno so callers can react
// to a specific error, and its message follows the project's format
// `<call>: <object>: <strerror>` (`open: /var/log/web.log: Permission denied`),
// or `<call>: <strerror>` when there is no object.
#pragma once

#include <stdexcept>
#include <string>

namespace minisup::sys {

/// The text of an errno value (strerror), safe to call from any thread.
std::string error_text(int err);

class SysError : public std::runtime_error {
 public:
  /// `call` is the failing call ("epoll_ctl"), `object` what it acted on
  /// ("fd 7", a path; may be empty), `err` the errno saved right after it.
  SysError(std::string call, const std::string& object, int err);

  /// The name of the failing call.
  const std::string& call() const noexcept { return call_; }
  /// The saved errno value.
  int error() const noexcept { return error_; }

 private:
  std::string call_;
  int error_;
};

}  // namespace minisup::sys
