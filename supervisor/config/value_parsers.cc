#include "supervisor/config/value_parsers.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <vector>

namespace minisup::config {
namespace {

char to_lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_lower(x) == to_lower(y);
         });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses decimal digits into a uint64; nullopt on overflow or non-digits.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Optimal string alignment distance, case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
          to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits_end = 0;
  while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9')
    ++digits_end;
  const auto number = parse_decimal(text.substr(0, digits_end));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits_end);
  while (!unit.empty() && (unit.front() == ' ' || unit.front() == '\t')) unit.remove_prefix(1);
  std::uint64_t multiplier = 1;
  if (unit.empty() || iequals(unit, "B")) {
    multiplier = 1;
  } else if (iequals(unit, "KB")) {
    multiplier = 1024;
  } else if (iequals(unit, "MB")) {
    multiplier = 1024 * 1024;
  } else if (iequals(unit, "GB")) {
    multiplier = 1024 * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (*number > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
  return *number * multiplier;
}

std::optional<mode_t> parse_octal_mode(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'o' || text[1] == 'O'))
    text.remove_prefix(2);
  if (text.empty() || text.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<mode_t>(c - '0');
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string_view> candidates) {
  const std::size_t limit = word.size() < 4 ? 1 : 2;
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (std::string_view candidate : candidates) {
    // Words far apart in length cannot be close; skip the quadratic work.
    const std::size_t length_gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                                  : candidate.size() - word.size();
    if (length_gap > limit) continue;
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best;
}

}  // namespace minisup::config
