// Recognising a supervisord config given to minisup.
//
// Someone coming from supervisord first points minisupd at their
// supervisord.conf, and toml++ answers `expected ']', saw ':'` at
// `[program:web]`. The loader therefore checks each file it reads with
// looks_like_supervisord_config() and, when loading fails, adds
// supervisord_hint() for it to LoadResult::hints (and
// SocketLookup::hints), which minisupd, `minisupd --check` and
// `minisupctl -c` print after the errors as `hint: ...`.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace minisup::config {

/// True when `text` has a section header of supervisord's INI format:
/// `[supervisord]`, `[supervisorctl]`, `[unix_http_server]`,
/// `[inet_http_server]`, `[include]`, or `[program:NAME]`,
/// `[group:NAME]`, `[eventlistener:NAME]`, `[fcgi-program:NAME]`,
/// `[rpcinterface:NAME]` (spaces inside the brackets allowed), on a line
/// of its own.
bool looks_like_supervisord_config(std::string_view text);

/// The hint for such a file, without the `hint: ` prefix: `this looks like
/// a supervisord config; convert it with minisupctl convert FILE`.
std::string supervisord_hint(const std::filesystem::path& file);

}  // namespace minisup::config
