// supervisord's config syntax, read as supervisord 4.2 reads it (see
// supervisord_ini.h): Python's configparser, `%` expansion, shlex.
#include "supervisor/ctl/supervisord_ini.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace minisup::ctl::ini {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Where an inline comment starts in `line` (a `;` or `#` at the start or
/// after a blank), or npos.
std::size_t inline_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((line[i] == ';' || line[i] == '#') && (i == 0 || is_blank(line[i - 1]))) return i;
  }
  return std::string_view::npos;
}

/// The offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80           ? 1
                         : (c >> 5) == 0x6  ? 2
                         : (c >> 4) == 0xe  ? 3
                         : (c >> 3) == 0x1e ? 4
                                            : 0;
    if (length == 0 || i + length > text.size() || (length == 2 && c < 0xc2)) return i;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    }
    const auto c1 = static_cast<unsigned char>(text[i + 1 < text.size() ? i + 1 : i]);
    if ((length == 3 && c == 0xe0 && c1 < 0xa0) || (length == 3 && c == 0xed && c1 >= 0xa0) ||
        (length == 4 && c == 0xf0 && c1 < 0x90) ||
        (length == 4 && (c > 0xf4 || (c == 0xf4 && c1 >= 0x90)))) {
      return i;  // overlong, a surrogate, or beyond U+10FFFF
    }
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace

const Option* Section::find(std::string_view key) const {
  for (const Option& option : options) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

const Section* Document::find(std::string_view name) const {
  for (const Section& section : sections) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

std::optional<ParseError> parse_ini(std::string_view text, Document& out) {
  if (text.find('\0') != std::string_view::npos) {
    const auto before = text.substr(0, text.find('\0'));
    return ParseError{static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1,
                      "contains a NUL byte: not a text file"};
  }
  if (const std::size_t bad = invalid_utf8(text); bad != std::string_view::npos) {
    const auto before = text.substr(0, bad);
    return ParseError{static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1,
                      "is not valid UTF-8 text"};
  }
  Section* section = nullptr;
  Option* option = nullptr;                // the option continuation lines extend
  std::size_t option_indent = 0;           // its line's indentation
  std::vector<std::string> pending_blank;  // blank lines inside a value
  int number = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    const bool last = end == text.size();
    at = end + 1;
    ++number;
    if (number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a BOM
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const std::string_view stripped = trim(line);
    if (stripped.empty() || stripped.front() == '#' || stripped.front() == ';') {
      // A blank line may sit inside a multi-line value; a comment line
      // neither ends nor extends one.
      if (stripped.empty() && option != nullptr) pending_blank.emplace_back();
      if (last) break;
      continue;
    }
    const std::size_t comment = inline_comment(line);
    const std::string_view content = trim(line.substr(0, comment));
    const std::size_t indent = line.find_first_not_of(" \t");
    if (content.empty()) {  // only a comment after blanks
      if (last) break;
      continue;
    }
    if (option != nullptr && indent > option_indent) {
      for (const auto& blank : pending_blank) option->value += "\n" + blank;
      pending_blank.clear();
      option->value += "\n" + std::string(content);
      if (last) break;
      continue;
    }
    pending_blank.clear();
    option = nullptr;
    if (content.front() == '[') {
      const std::size_t close = content.rfind(']');
      if (close == std::string_view::npos || close < 2) {
        return ParseError{number, fmt::format("a section header needs a name and its closing ]: {}",
                                              std::string(content))};
      }
      std::string name(content.substr(1, close - 1));
      auto found = std::find_if(out.sections.begin(), out.sections.end(),
                                [&](const Section& s) { return s.name == name; });
      if (found == out.sections.end()) {
        out.sections.push_back(Section{name, number, {}});
        section = &out.sections.back();
      } else {
        section = &*found;  // written twice: merged (strict = False)
      }
      if (last) break;
      continue;
    }
    if (section == nullptr) {
      return ParseError{number,
                        "a key outside any section; the file must start with a "
                        "[section] header such as [program:NAME]"};
    }
    const std::size_t delimiter = content.find_first_of("=:");
    if (delimiter == std::string_view::npos) {
      return ParseError{number,
                        fmt::format("expected `key = value`, got {}", std::string(content))};
    }
    std::string key = lower(trim(content.substr(0, delimiter)));
    if (key.empty()) {
      return ParseError{number, fmt::format("a value without a key: {}", std::string(content))};
    }
    std::string value(trim(content.substr(delimiter + 1)));
    auto found = std::find_if(section->options.begin(), section->options.end(),
                              [&](const Option& o) { return o.key == key; });
    if (found == section->options.end()) {
      section->options.push_back(Option{key, value, number});
      option = &section->options.back();
    } else {
      found->value = value;  // the later value wins
      found->line = number;
      option = &*found;
    }
    option_indent = indent;
    if (last) break;
  }
  return std::nullopt;
}

std::optional<std::vector<Piece>> parse_template(std::string_view text, std::string& error) {
  std::vector<Piece> pieces;
  auto literal = [&](std::string_view s) {
    if (s.empty()) return;
    if (pieces.empty() || pieces.back().is_expansion) pieces.push_back(Piece{});
    pieces.back().text += s;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t percent = text.find('%', i);
    if (percent == std::string_view::npos) {
      literal(text.substr(i));
      break;
    }
    literal(text.substr(i, percent - i));
    if (percent + 1 < text.size() && text[percent + 1] == '%') {
      literal("%");
      i = percent + 2;
      continue;
    }
    if (percent + 1 >= text.size() || text[percent + 1] != '(') {
      error = "has a % that starts no %(name)s expansion (write %% for a literal %)";
      return std::nullopt;
    }
    const std::size_t close = text.find(')', percent + 2);
    if (close == std::string_view::npos) {
      error = "has an unclosed %( expansion";
      return std::nullopt;
    }
    Piece piece;
    piece.is_expansion = true;
    piece.text = std::string(text.substr(percent + 2, close - percent - 2));
    std::size_t j = close + 1;
    while (j < text.size() && (std::string_view("#0- +.").find(text[j]) != std::string_view::npos ||
                               std::isdigit(static_cast<unsigned char>(text[j])))) {
      piece.flags += text[j++];
    }
    while (j < text.size() && (text[j] == 'h' || text[j] == 'l' || text[j] == 'L')) ++j;
    if (j >= text.size() ||
        std::string_view("diouxXeEfFgGcrsa").find(text[j]) == std::string_view::npos) {
      error = fmt::format("has %({}) without a conversion such as s or d after it", piece.text);
      return std::nullopt;
    }
    piece.conversion = text[j];
    pieces.push_back(std::move(piece));
    i = j + 1;
  }
  return pieces;
}

std::optional<std::vector<std::string>> shlex_split(std::string_view text, std::string& error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word (maybe empty, from "") is open
  std::size_t i = 0;
  auto whitespace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < text.size()) {
    const char c = text[i];
    if (whitespace(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) {
        error = "No escaped character";
        return std::nullopt;
      }
      word += text[i + 1];
      in_word = true;
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        error = "No closing quotation";
        return std::nullopt;
      }
      word += text.substr(i + 1, close - i - 1);
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) {
          error = "No closing quotation";
          return std::nullopt;
        }
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        word += text[i++];
      }
      in_word = true;
      ++i;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_key_value_pairs(
    std::string_view text, std::string& error, std::vector<std::string>* odd_separators) {
  // shlex.shlex(text) (not POSIX) with wordchars += '/.+-():'.
  auto word_char = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || u >= 0x80 || c == '\x01' || c == '\x02' ||
           std::string_view("/.+-():").find(c) != std::string_view::npos;
  };
  auto whitespace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::vector<std::string> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (whitespace(c)) {
      ++i;
    } else if (c == '#') {  // a comment to the end of the line
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '\'' || c == '"') {
      const std::size_t close = text.find(c, i + 1);
      if (close == std::string_view::npos) {
        error = "has a quote without its closing quote";
        return std::nullopt;
      }
      tokens.emplace_back(text.substr(i, close - i + 1));
      i = close + 1;
    } else if (word_char(c)) {
      // A word goes on through word characters and quotes (non-POSIX
      // shlex keeps a quote inside a word as a character).
      std::size_t j = i;
      while (j < text.size() && (word_char(text[j]) || text[j] == '\'' || text[j] == '"')) ++j;
      tokens.emplace_back(text.substr(i, j - i));
      i = j;
    } else {
      tokens.emplace_back(1, c);
      ++i;
    }
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t k = 0; k < tokens.size(); k += 4) {
    // As supervisord: whatever token follows a pair separates it from the
    // next one (usually `,`).
    if (k + 2 >= tokens.size() || tokens[k + 1] != "=") {
      error =
          "is not KEY=\"value\",KEY2=\"value\" pairs (quote a value that holds blanks, "
          "commas or characters other than letters, digits and _/.+-():)";
      return std::nullopt;
    }
    if (odd_separators != nullptr && k + 3 < tokens.size() && tokens[k + 3] != ",") {
      odd_separators->push_back(tokens[k + 3]);
    }
    std::string value = tokens[k + 2];
    const std::size_t first = value.find_first_not_of("'\"");
    const std::size_t last = value.find_last_not_of("'\"");
    value = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
    auto found = std::find_if(pairs.begin(), pairs.end(),
                              [&](const auto& p) { return p.first == tokens[k]; });
    if (found == pairs.end()) {
      pairs.emplace_back(tokens[k], std::move(value));
    } else {
      found->second = std::move(value);
    }
  }
  return pairs;
}

}  // namespace minisup::ctl::ini
