// How config values are shown in messages: `got "ten"`, `got 0o22`,
// `got an array`; and the case-insensitive comparison the keywords use
// ("AUTO", "unexpected", "info"). Pure: no TOML parsing, no positions.
#pragma once

#include <toml++/toml.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace minisup::config::detail {

/// `text`, cut at `limit` characters with "..." appended when longer.
std::string truncate(std::string_view text, std::size_t limit = 60);

/// `"text"` with TOML-style escapes, truncated (inside the quotes) after
/// 60 characters.
std::string quote(std::string_view text);

/// A TOML value as shown after "got" in messages: `"ten"`, `2.5`, `true`,
/// `0o22` (octal as written), `an array`, `a table`.
std::string describe(const toml::node& node);

/// True when `a` and `b` are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

}  // namespace minisup::config::detail
