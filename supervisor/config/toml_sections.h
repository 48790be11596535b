// Cutting a TOML file down to the tables under one top-level key, without
// parsing the rest: what config::find_socket() (load_config.h) reads.
//
// A small lexer walks the text once, skipping strings (basic, literal and
// both multi-line forms, with their escapes) and comments exactly as TOML
// defines them, and tracking the nesting of `[`/`{` inside values, so that
// it knows which lines are table headers (`[a.b]`, `[[a.b]]`). Each header
// opens a region that lasts until the next header; the text before the
// first header (the root table) is a region too. A TOML table header can
// only define keys under its own path, and a key/value line only keys under
// its table's path, so every definition of `root.*` is in the root region
// or in a region whose header's first key is `root`; the other regions
// cannot change it and are dropped.
//
// Dropped regions are replaced by their newlines only: every kept line
// keeps its line number and its text (so its columns), and toml++ reports
// errors in the cut text at the same file:line:col as in the whole file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minisup::config::detail {

/// `text` with every region dropped but the root table's and those of the
/// headers whose first key is `root_key` (`[supervisor]`,
/// `[supervisor.environment]`, `["supervisor"]`...), each dropped region
/// reduced to its newlines. Returns nullopt when the lexer is not sure of
/// the structure: a string, array or inline table left open at the end of
/// the text or (for one-line strings) of the line, a header it cannot read
/// (a quoted key with escapes, text after the `]`), a `]` or `}` with
/// nothing to close. Such text is not valid TOML; the caller then reads
/// the whole file, whose parser reports the problem.
std::optional<std::string> keep_tables_under(std::string_view text, std::string_view root_key);

}  // namespace minisup::config::detail
