#include "supervisor/config/user_lookup.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>
#include <vector>

namespace minisup::config {
namespace {

/// Buffer size for the *_r lookups of pwd.h/grp.h; grown on ERANGE.
std::size_t lookup_buffer_size() {
  const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  return suggested > 0 ? static_cast<std::size_t>(suggested) : 16384;
}

/// glibc's documented ways of saying "no such entry".
bool not_found(int err) {
  return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

}  // namespace

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
    const int err = is_uid
                        ? ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)
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

std::optional<uid_t> lookup_uid(const std::string& name, std::string& problem) {
  std::vector<char> buffer(lookup_buffer_size());
  struct passwd entry;
  struct passwd* found = nullptr;
  int err = 0;
  while ((err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) return found->pw_uid;
  if (!not_found(err)) {
    problem = "cannot be looked up: " + std::system_category().message(err);
    return std::nullopt;
  }
  std::uint32_t number = 0;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc() && ptr == name.data() + name.size() && number <= kMaxId) return number;
  problem = "does not exist";
  return std::nullopt;
}

std::optional<gid_t> lookup_gid(const std::string& name, std::vector<std::string>& members,
                                std::string& problem) {
  std::vector<char> buffer(lookup_buffer_size());
  struct group entry;
  struct group* found = nullptr;
  int err = 0;
  while ((err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
             ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) {
    for (char** member = found->gr_mem; member != nullptr && *member != nullptr; ++member)
      members.emplace_back(*member);
    return found->gr_gid;
  }
  if (!not_found(err)) {
    problem = "cannot be looked up: " + std::system_category().message(err);
    return std::nullopt;
  }
  std::uint32_t number = 0;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc() && ptr == name.data() + name.size() && number <= kMaxId) return number;
  problem = "does not exist";
  return std::nullopt;
}

std::vector<uid_t> group_members(gid_t gid, const std::vector<std::string>* member_names) {
  std::vector<std::string> names;
  if (member_names != nullptr) {
    names = *member_names;
  } else {
    std::vector<char> buffer(lookup_buffer_size());
    struct group entry;
    struct group* found = nullptr;
    while (::getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
           buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
    }
    for (char** member = found ? found->gr_mem : nullptr; member != nullptr && *member != nullptr;
         ++member)
      names.emplace_back(*member);
  }
  std::vector<uid_t> uids;
  for (const std::string& name : names) {
    std::string problem;
    if (auto uid = lookup_uid(name, problem)) uids.push_back(*uid);  // a stale member: skipped
  }
  // Users whose primary group it is (their processes usually run with that
  // gid, which the server checks anyway; this covers `newgrp` and the like).
  std::vector<char> buffer(lookup_buffer_size());
  struct passwd entry;
  struct passwd* found = nullptr;
  ::setpwent();
  for (;;) {
    const int err = ::getpwent_r(&entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (err != 0 || found == nullptr) break;
    if (found->pw_gid == gid) uids.push_back(found->pw_uid);
  }
  ::endpwent();
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  return uids;
}

}  // namespace minisup::config
