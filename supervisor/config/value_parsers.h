// Small, pure parsers for the textual forms of config values: sizes
// ("50MB"), octal modes ("022"), and the "did you mean" suggestion for
// misspelt keys (signals: signal_names.h). They know nothing of TOML or of
// source positions: the loader (loader.h) adds the key and the
// file:line:col to the message they return.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace minisup::config {

/// Parses a byte size: digits, optionally followed by a unit B, KB, MB or GB
/// (case-insensitive, 1024-based, optional blanks before the unit), e.g.
/// "50MB" = 52428800, "512kb", "10B", "1024". Returns nullopt for anything
/// else ("50XB", "1.5GB", "", "-1") or when the result overflows 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// Parses an octal permission mode written as a string: 1 to 4 octal digits
/// with an optional "0o" prefix ("022", "0022", "0700", "0o755"), at most
/// 0777. Returns nullopt otherwise.
std::optional<mode_t> parse_octal_mode(std::string_view text);

/// The candidate closest to `word` by case-insensitive edit distance
/// (insertions, deletions, substitutions, adjacent transpositions), when it
/// is close enough to be a likely typo (distance <= 2, or <= 1 for words of
/// fewer than 4 characters); nullopt otherwise.
std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string_view> candidates);

}  // namespace minisup::config
