// UnixAddress: a sockaddr_un for any socket path, however long.
//
// sun_path holds 107 bytes; deep temporary directories exceed that. A longer
// path is reached through its directory: the directory is opened (O_PATH)
// and the address becomes /proc/self/fd/N/NAME, which bind() and connect()
// resolve like the real path. The directory descriptor lives in the
// UnixAddress, so keep the object alive until bind/connect returned.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>

#include "supervisor/sys/unique_fd.h"

namespace minisup::control {

struct UnixAddress {
  sockaddr_un addr{};
  socklen_t length = 0;
  sys::UniqueFd directory;  ///< set when the /proc/self/fd detour is used

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

/// The address of the Unix socket at `path`. Throws sys::SysError when the
/// directory of a long path cannot be opened, and std::runtime_error when
/// the file name alone is too long for sun_path.
UnixAddress make_unix_address(const std::filesystem::path& path);

}  // namespace minisup::control
