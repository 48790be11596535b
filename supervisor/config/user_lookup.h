// Does a program's `user` exist? Checked when the config is loaded.
//
// A `user` that names no passwd entry is a config error at its key
// (`conf.d/web.toml:4:8: user "nosuchuser" does not exist`), so that
// `minisupd --check` reports it, minisupd refuses to start with it and
// `update`/SIGHUP keep the running config instead of taking it. The lookup
// goes through NSS (getpwnam_r/getpwuid_r: /etc/passwd, systemd, LDAP, ...),
// as the spawn-time lookup does (sys::resolve_user, which also resolves
// the ids and groups; a user deleted after the load fails the spawn there).
//
// The value is read as sys::resolve_user reads it: all digits = a uid,
// anything else = a name. A numeric uid must have a passwd entry too, as in
// supervisord: the spawn needs the entry's primary group and name (for
// the supplementary groups), so a bare uid could never be started anyway.
//
// Also the lookups of [supervisor] `socket_uids` and `socket_group`: names
// are resolved when the config is loaded, once, so that the control socket
// compares numbers only (an NSS lookup per connection could block the loop).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace minisup::config {

/// nullopt when `user` resolves to a passwd entry; otherwise what is wrong,
/// worded to follow `user "NAME" ` in a message: `does not exist`, `does
/// not exist (no passwd entry for uid 4242)`, or, when the lookup itself
/// failed (an NSS source that is down), `cannot be looked up: <strerror>`.
std::optional<std::string> check_user_exists(const std::string& user);

/// Largest uid/gid: (uid_t)-1 means "no change" to chown and is no one's.
inline constexpr std::int64_t kMaxId = std::numeric_limits<std::uint32_t>::max() - 1;

/// A user name (or, when no user has that name, a number) to a uid;
/// nullopt with `problem` ("does not exist", "cannot be looked up: ...").
std::optional<uid_t> lookup_uid(const std::string& name, std::string& problem);

/// A group name (or number) to a gid, with the names its entry lists as
/// members appended to `members`; nullopt with `problem` as lookup_uid.
std::optional<gid_t> lookup_gid(const std::string& name, std::vector<std::string>& members,
                                std::string& problem);

/// The uids of group `gid`'s users: `member_names` (its entry's list; for
/// a gid given as a number, null: looked up here) that name a user, plus
/// every user whose primary group it is. Sorted, unique.
std::vector<uid_t> group_members(gid_t gid, const std::vector<std::string>* member_names);

}  // namespace minisup::config
