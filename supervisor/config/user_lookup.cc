#include "supervisor/config/user_lookup.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>
#include <vector>

namespace minisup::config {

std::optional<std::string> check_user_exists(const std::string& user) {
  uid_t uid = 0;
  const char* end = user.data() + user.size();
  const auto [ptr, ec] = std::from_chars(user.data(), end, uid);
  const bool is_uid = !user.empty() && ec == std::errc() && ptr == end;

  const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 16384);
  struct passwd entry;
  struct passwd* found = nullptr;
  for (;;) {
    const int err = is_uid ? ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)
                           : ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // glibc documents these as other ways of saying "not found".
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) break;
    return "cannot be looked up: " + std::system_category().message(err);
  }
  if (found != nullptr) return std::nullopt;
  if (is_uid) return fmt::format("does not exist (no passwd entry for uid {})", uid);
  return "does not exist";
}

}  // namespace minisup::config
