// SHA-256 (FIPS 180-4), for `minisupctl convert`: supervisord's plain-text
// [inet_http_server] password becomes minisup's `[http] password_sha256`.
#pragma once

#include <string>
#include <string_view>

namespace minisup::ctl {

/// The SHA-256 digest of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace minisup::ctl
