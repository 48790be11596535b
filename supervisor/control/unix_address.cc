// make_unix_address (see unix_address.h).
#include "supervisor/control/unix_address.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "supervisor/sys/sys_error.h"

namespace minisup::control {

UnixAddress make_unix_address(const std::filesystem::path& path) {
  UnixAddress result;
  result.addr.sun_family = AF_UNIX;
  std::string text = path.string();
  if (text.size() >= sizeof(result.addr.sun_path)) {
    // Too long for sun_path: go through an O_PATH descriptor of the directory.
    std::filesystem::path parent = path.parent_path();
    if (parent.empty()) parent = ".";
    int dir = ::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) throw sys::SysError("open", parent.string(), errno);
    result.directory.reset(dir);
    text = fmt::format("/proc/self/fd/{}/{}", dir, path.filename().string());
    if (text.size() >= sizeof(result.addr.sun_path)) {
      throw std::runtime_error(fmt::format("socket path too long: {}", path.string()));
    }
  }
  std::memcpy(result.addr.sun_path, text.data(), text.size());
  result.addr.sun_path[text.size()] = '\0';
  result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
  return result;
}

}  // namespace minisup::control
