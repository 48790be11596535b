// A guard in front of toml++ against hostile input (doc/pitfalls.md §8).
//
// toml++ 3.3.0 recurses per part of a dotted key and crashes (stack
// overflow) on a key with 100,000 parts; deep nesting of arrays and inline
// tables is similarly costly. Before a file reaches the parser, a small
// lexer walks it once, skipping strings and comments exactly as TOML
// defines them, and measures two things: the longest chain of dotted parts
// (`a.b."c".d`, also counted inside values, where a float like `1.5` is a
// chain of 2) and the deepest nesting of `[`/`{`. A file over either limit
// is refused with the position where the chain or nesting began. The file
// size cap (kMaxConfigBytes) is applied when reading, in config_file.cc
// (to the size fstat reports, and again while reading).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace minisup::config {

/// Largest config file read, in bytes (4 MiB): more is refused unread.
inline constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;
/// Most parts in one dotted key (`program.web.environment.X` has 4).
inline constexpr int kMaxDottedKeyParts = 32;
/// Deepest nesting of arrays and inline tables (including `[[`).
inline constexpr int kMaxNesting = 32;

/// Why a file was refused before parsing: where (1-based) and what.
struct GuardProblem {
  int line = 0;
  int column = 0;
  std::string message;
};

/// Scans `text` and returns the first limit it exceeds, or nullopt when it
/// is safe to hand to toml++. Text that is not valid TOML passes when it is
/// within the limits: the parser reports it properly.
std::optional<GuardProblem> check_toml_limits(std::string_view text);

}  // namespace minisup::config
