#include "supervisor/config/toml_sections.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace minisup::config::detail {
namespace {

/// The bytes skip_statement() must look at; it passes over any other.
constexpr std::array<bool, 256> kStatementStops = [] {
  std::array<bool, 256> stops{};
  for (const char c : std::string_view("\n#\"'[]{}")) stops[static_cast<unsigned char>(c)] = true;
  return stops;
}();

/// The number of '\n' in `text`, eight bytes at a time.
std::size_t count_newlines(std::string_view text) {
  std::size_t count = 0;
  std::size_t i = 0;
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    const std::uint64_t x = word ^ (kOnes * '\n');  // a zero byte where '\n' was
    // The high bit of each byte of `zero` is set exactly where x has a zero
    // byte (no carries across bytes).
    const std::uint64_t zero = ~(((x & kLow7) + kLow7) | x | kLow7);
    // One 0x01 per such byte, summed into the top byte by the multiply.
    count += static_cast<std::size_t>(((zero >> 7) * kOnes) >> 56);
  }
  for (; i < text.size(); ++i) count += text[i] == '\n';
  return count;
}

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

class SectionCutter {
 public:
  SectionCutter(std::string_view text, std::string_view root_key)
      : text_(text), root_key_(root_key) {}

  std::optional<KeptLines> run() {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 BOM: the root region
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        skip_comment();
      } else if (c == '[') {
        // The region before the header ends where the header's line starts.
        std::size_t line_start = pos_;
        while (line_start > emitted_ &&
               (text_[line_start - 1] == ' ' || text_[line_start - 1] == '\t' ||
                text_[line_start - 1] == '\r')) {
          --line_start;
        }
        emit_to(line_start);
        std::optional<bool> kept = read_header();
        if (!kept) return std::nullopt;
        keep_ = *kept;
      } else if (!skip_statement()) {
        return std::nullopt;
      }
    }
    emit_to(pos_);
    return std::move(out_);
  }

 private:
  /// The region text_[emitted_, end) ends: appended to the output when it
  /// is kept, with where it began when that is not where the output is.
  void emit_to(std::size_t end) {
    const std::string_view region = text_.substr(emitted_, end - emitted_);
    const int lines = static_cast<int>(count_newlines(region));
    if (keep_ && !region.empty()) {
      if (out_.starts.back().second - out_.starts.back().first != line_ - out_line_)
        out_.starts.emplace_back(out_line_, line_);
      out_.text.append(region);
      out_line_ += lines;
    }
    line_ += lines;
    emitted_ = end;
  }

  void skip_comment() { pos_ = std::min(text_.find('\n', pos_), text_.size()); }

  bool at(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  /// Skips the string opening at pos_; false when it is not closed (a
  /// one-line string at the end of its line, a multi-line one at the end
  /// of the text).
  bool skip_string() {
    const char quote = text_[pos_];
    const bool escapes = quote == '"';
    const std::string_view triple = quote == '"' ? "\"\"\"" : "'''";
    if (at(triple)) {
      pos_ += 3;
      while (pos_ < text_.size()) {
        if (escapes && text_[pos_] == '\\') {
          pos_ += 2;
        } else if (at(triple)) {
          pos_ += 3;
          // Up to two more quotes belong to the content: `""""` ends with `"`.
          for (int i = 0; i < 2 && pos_ < text_.size() && text_[pos_] == quote; ++i) ++pos_;
          return true;
        } else {
          ++pos_;
        }
      }
      return false;
    }
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') return false;
      if (escapes && c == '\\') {
        ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '\n') return false;
        ++pos_;
      } else {
        ++pos_;
        if (c == quote) return true;
      }
    }
    return false;
  }

  /// Skips a key/value line (or whatever else is there) up to the newline
  /// that ends it at nesting depth 0; false when the lexer is not sure.
  bool skip_statement() {
    int depth = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (!kStatementStops[static_cast<unsigned char>(c)]) {
        ++pos_;
      } else if (c == '\n') {
        if (depth == 0) return true;
        ++pos_;
      } else if (c == '#') {
        skip_comment();
      } else if (c == '"' || c == '\'') {
        if (!skip_string()) return false;
      } else if (c == '[' || c == '{') {
        ++depth;
        ++pos_;
      } else if (c == ']' || c == '}') {
        if (--depth < 0) return false;
        ++pos_;
      } else {
        ++pos_;
      }
    }
    return depth == 0;
  }

  void skip_blanks() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  /// Reads the header at pos_ (`[a.b]` or `[[a.b]]`, then blanks, maybe a
  /// comment, the end of the line). Returns whether its first key is
  /// root_key_; nullopt when it cannot read it.
  std::optional<bool> read_header() {
    ++pos_;
    const bool is_array = pos_ < text_.size() && text_[pos_] == '[';
    if (is_array) ++pos_;
    std::optional<bool> first_is_root;
    for (;;) {
      skip_blanks();
      if (pos_ >= text_.size()) return std::nullopt;
      const char c = text_[pos_];
      std::string_view key;
      if (c == '"' || c == '\'') {
        const std::size_t start = pos_ + 1;
        const std::size_t end = text_.find_first_of(c == '"' ? "\"\\\n" : "'\n", start);
        if (end == std::string_view::npos || text_[end] != c) return std::nullopt;
        key = text_.substr(start, end - start);
        pos_ = end + 1;
      } else {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && is_bare_key_char(text_[pos_])) ++pos_;
        if (pos_ == start) return std::nullopt;
        key = text_.substr(start, pos_ - start);
      }
      if (!first_is_root) first_is_root = key == root_key_;
      skip_blanks();
      if (pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        continue;
      }
      if (!at(is_array ? "]]" : "]")) return std::nullopt;
      pos_ += is_array ? 2 : 1;
      break;
    }
    skip_blanks();
    if (pos_ < text_.size() && text_[pos_] == '#') skip_comment();
    if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] != '\n') return std::nullopt;
    return first_is_root;
  }

  std::string_view text_;
  std::string_view root_key_;
  std::size_t pos_ = 0;
  std::size_t emitted_ = 0;
  bool keep_ = true;  // the root region is kept
  int line_ = 1;      ///< the line of text_ at emitted_
  int out_line_ = 1;  ///< the line of out_.text at its end
  KeptLines out_{{}, {{1, 1}}};
};

}  // namespace

std::optional<KeptLines> keep_tables_under(std::string_view text, std::string_view root_key) {
  return SectionCutter(text, root_key).run();
}

int original_line(const LineStarts& starts, int line) {
  if (starts.empty() || line <= 0) return line;
  // The last run that began at or before `line`.
  auto run =
      std::upper_bound(starts.begin(), starts.end(), line,
                       [](int l, const std::pair<int, int>& start) { return l < start.first; });
  if (run == starts.begin()) return line;
  --run;
  return run->second + (line - run->first);
}

}  // namespace minisup::config::detail
