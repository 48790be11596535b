#include "supervisor/config/toml_guard.h"

namespace minisup::config {
namespace {

bool is_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '+';
}

// Walks the text keeping a 1-based line and a column in code points (as
// toml++ reports them: UTF-8 continuation bytes do not advance it).
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  std::optional<GuardProblem> run() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '#') {
        skip_comment();
        reset_chain();
      } else if (c == '"' || c == '\'') {
        note_chain_element();
        skip_string(c);
      } else if (is_key_char(c)) {
        note_chain_element();
        advance();
      } else if (c == '.') {
        if (chain_parts_ == 0) start_chain();
        ++chain_parts_;
        if (chain_parts_ > kMaxDottedKeyParts) {
          return GuardProblem{chain_line_, chain_column_,
                              "dotted key has more than " + std::to_string(kMaxDottedKeyParts) +
                                  " parts; refused before parsing"};
        }
        advance();
      } else if (c == ' ' || c == '\t') {
        advance();  // `a . b` is still one dotted key
      } else if (c == '[' || c == '{') {
        reset_chain();
        if (depth_ == 0) {
          nest_line_ = line_;
          nest_column_ = column_;
        }
        ++depth_;
        if (depth_ > kMaxNesting) {
          return GuardProblem{nest_line_, nest_column_,
                              "arrays or tables nested more than " + std::to_string(kMaxNesting) +
                                  " deep; refused before parsing"};
        }
        advance();
      } else if (c == ']' || c == '}') {
        reset_chain();
        if (depth_ > 0) --depth_;
        advance();
      } else {
        reset_chain();
        advance();
      }
    }
    return std::nullopt;
  }

 private:
  void advance() {
    const char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column_;
    }
  }

  void start_chain() {
    chain_line_ = line_;
    chain_column_ = column_;
    chain_parts_ = 1;
  }
  void note_chain_element() {
    if (chain_parts_ == 0) start_chain();
  }
  void reset_chain() { chain_parts_ = 0; }

  bool at(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  void skip_comment() {
    while (pos_ < text_.size() && text_[pos_] != '\n') advance();
  }

  // Skips a basic, literal or multi-line string starting at pos_. An
  // unterminated one ends at the end of its line (or of the text for
  // multi-line strings): the parser reports it.
  void skip_string(char quote) {
    const std::string_view triple = quote == '"' ? "\"\"\"" : "'''";
    const bool escapes = quote == '"';
    if (at(triple)) {
      for (int i = 0; i < 3; ++i) advance();
      while (pos_ < text_.size()) {
        if (escapes && text_[pos_] == '\\') {
          advance();
          if (pos_ < text_.size()) advance();
        } else if (at(triple)) {
          for (int i = 0; i < 3; ++i) advance();
          // Up to two more quotes belong to the content: `""""` ends with `"`.
          for (int i = 0; i < 2 && pos_ < text_.size() && text_[pos_] == quote; ++i) advance();
          return;
        } else {
          advance();
        }
      }
      return;
    }
    advance();
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') return;
      if (escapes && c == '\\') {
        advance();
        if (pos_ < text_.size() && text_[pos_] != '\n') advance();
      } else if (c == quote) {
        advance();
        return;
      } else {
        advance();
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
  int chain_parts_ = 0;  // 0: no chain in progress
  int chain_line_ = 0;
  int chain_column_ = 0;
  int depth_ = 0;
  int nest_line_ = 0;
  int nest_column_ = 0;
};

}  // namespace

std::optional<GuardProblem> check_toml_limits(std::string_view text) { return Scanner(text).run(); }

}  // namespace minisup::config
