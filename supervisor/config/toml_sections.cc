#include "supervisor/config/toml_sections.h"

#include <algorithm>

namespace minisup::config::detail {
namespace {

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

class SectionCutter {
 public:
  SectionCutter(std::string_view text, std::string_view root_key)
      : text_(text), root_key_(root_key) {
    out_.reserve(text.size() / 8);
  }

  std::optional<std::string> run() {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 BOM: the root region
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        skip_comment();
      } else if (c == '[') {
        emit_to(pos_);  // the region before the header
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
  /// Appends text_[emitted_, end) to the output, whole when the region is
  /// kept, its newlines only when it is dropped.
  void emit_to(std::size_t end) {
    if (keep_) {
      out_.append(text_.substr(emitted_, end - emitted_));
    } else {
      const std::string_view region = text_.substr(emitted_, end - emitted_);
      out_.append(static_cast<std::size_t>(std::count(region.begin(), region.end(), '\n')), '\n');
    }
    emitted_ = end;
  }

  void skip_comment() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }

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
      if (c == '\n') {
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
  std::string out_;
};

}  // namespace

std::optional<std::string> keep_tables_under(std::string_view text, std::string_view root_key) {
  return SectionCutter(text, root_key).run();
}

}  // namespace minisup::config::detail
