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
// Regions are whole lines (a header's region starts at the start of its
// line). The kept regions are returned one after the other, with where
// each began in the whole text: toml++ then reads only the few kept lines,
// and a line of the cut text is mapped back (KeptLines::original_line) to
// report errors at the same file:line:col as in the whole file (a kept
// line keeps its text, so its columns).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minisup::config::detail {

/// Where runs of kept lines began: {line in the cut text, line in the whole
/// text} (1-based), in order, the first being {1, 1}.
using LineStarts = std::vector<std::pair<int, int>>;

/// The line in the whole text of line `line` (1-based) of a cut text whose
/// runs began at `starts`; `line` itself when `starts` is empty (no cut)
/// or `line` is 0 (the file as a whole).
int original_line(const LineStarts& starts, int line);

/// What keep_tables_under() keeps.
struct KeptLines {
  std::string text;
  LineStarts starts;
};

/// The lines of `text`'s root table and of the tables whose headers' first
/// key is `root_key` (`[supervisor]`, `[supervisor.environment]`,
/// `["supervisor"]`...), the rest dropped. Returns nullopt when the lexer
/// is not sure of the structure: a string, array or inline table left open
/// at the end of the text or (for one-line strings) of the line, a header
/// it cannot read (a quoted key with escapes, text after the `]`), a `]`
/// or `}` with nothing to close. Such text is not valid TOML; the caller
/// then reads the whole file, whose parser reports the problem.
std::optional<KeptLines> keep_tables_under(std::string_view text, std::string_view root_key);

}  // namespace minisup::config::detail
