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
#pragma once

#include <optional>
#include <string>

namespace minisup::config {

/// nullopt when `user` resolves to a passwd entry; otherwise what is wrong,
/// worded to follow `user "NAME" ` in a message: `does not exist`, `does
/// not exist (no passwd entry for uid 4242)`, or, when the lookup itself
/// failed (an NSS source that is down), `cannot be looked up: <strerror>`.
std::optional<std::string> check_user_exists(const std::string& user);

}  // namespace minisup::config
