// SHA-256 (FIPS 180-4): `minisupctl convert` turns supervisord's plain-text
// [inet_http_server] password into `[http] password_sha256`, and minisupd
// checks a Basic password against it.
#pragma once

#include <string>
#include <string_view>

namespace minisup::config {

/// The SHA-256 digest of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace minisup::config
