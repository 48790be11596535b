#include "supervisor/sys/sys_error.h"

#include <string.h>

#include <utility>

namespace minisup::sys {

std::string error_text(int err) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the text (maybe a static string,
  // maybe `buf`), never fails.
  return ::strerror_r(err, buf, sizeof buf);
}

namespace {

std::string format_message(const std::string& call, const std::string& object, int err) {
  std::string message = call;
  message += ": ";
  if (!object.empty()) {
    message += object;
    message += ": ";
  }
  message += error_text(err);
  return message;
}

}  // namespace

SysError::SysError(std::string call, const std::string& object, int err)
    : std::runtime_error(format_message(call, object, err)), call_(std::move(call)), error_(err) {}

}  // namespace minisup::sys
