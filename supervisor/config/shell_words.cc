#include "supervisor/config/shell_words.h"

namespace minisup::config {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

ShellWords split_shell_words(std::string_view text) {
  ShellWords result;
  std::string word;
  bool in_word = false;  // a word has begun (possibly empty, as with "")
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (is_blank(c)) {
      if (in_word) {
        result.words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= n) {
        result.error = "ends with a lone backslash";
        return result;
      }
      if (text[i + 1] != '\n') {  // backslash-newline: a line continuation
        word += text[i + 1];
        in_word = true;
      }
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        result.error = "has an unterminated single quote";
        return result;
      }
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      in_word = true;
      ++i;
      bool closed = false;
      while (i < n) {
        const char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < n) {
          const char e = text[i + 1];
          if (e == '$' || e == '`' || e == '"' || e == '\\') {
            word += e;
          } else if (e != '\n') {
            word += '\\';
            word += e;
          }
          i += 2;
          continue;
        }
        word += d;
        ++i;
      }
      if (!closed) {
        result.error = "has an unterminated double quote";
        return result;
      }
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) result.words.push_back(std::move(word));
  return result;
}

}  // namespace minisup::config
