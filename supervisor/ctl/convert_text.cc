// Text helpers of minisupctl convert: Python-like values, TOML keys and
// arrays, and the `%(...)` pieces left for minisupd (see convert_internal.h).
#include <cctype>
#include <charconv>

#include "supervisor/ctl/convert_internal.h"

namespace minisup::ctl::convert_detail {

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

/// A comment's text on one line: newlines of a multi-line value shown as
/// `\n`.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

/// Python's int(): blanks around, an optional sign, digits (and `_`
/// between digits).
std::optional<long long> python_int(std::string_view text) {
  std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  bool negative = false;
  std::size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return std::nullopt;
  long long value = 0;
  bool digit_before = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && digit_before && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    if (value > 100000000000000LL) return std::nullopt;  // far beyond any real value
    value = value * 10 + (s[i] - '0');
    digit_before = true;
  }
  return negative ? -value : value;
}

std::optional<bool> python_boolean(std::string_view text) {
  const std::string s = lower(text);
  if (s == "yes" || s == "true" || s == "on" || s == "1") return true;
  if (s == "no" || s == "false" || s == "off" || s == "0") return false;
  return std::nullopt;
}

/// `value` formatted by Python's `%FLAGSd` (width, `0` padding, `-`).
std::string format_int(long long value, std::string_view flags) {
  bool zero = false, left = false;
  std::size_t i = 0;
  for (; i < flags.size() && std::string_view("#0- +").find(flags[i]) != std::string_view::npos;
       ++i) {
    if (flags[i] == '0') zero = true;
    if (flags[i] == '-') left = true;
  }
  std::size_t width = 0;
  for (; i < flags.size() && std::isdigit(static_cast<unsigned char>(flags[i])); ++i) {
    width = width * 10 + static_cast<std::size_t>(flags[i] - '0');
  }
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string sign = value < 0 ? "-" : "";
  const std::size_t length = digits.size() + sign.size();
  if (width <= length) return sign + digits;
  if (left) return sign + digits + std::string(width - length, ' ');
  if (zero) return sign + std::string(width - length, '0') + digits;
  return std::string(width - length, ' ') + sign + digits;
}

/// True when `flags` asks for a width (`02` of `%(process_num)02d`).
bool has_width(std::string_view flags) {
  return std::any_of(flags.begin(), flags.end(), [](char c) { return c >= '1' && c <= '9'; });
}

bool is_variable_name(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool is_minisup_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

/// A TOML key: bare when it can be, else quoted.
std::string toml_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? std::string(key) : toml_string(key);
}

std::string toml_array(const std::vector<std::string>& words) {
  std::string out = "[";
  for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : ", ") + words[i];
  return out + "]";
}

/// `process_num` and unknown `ENV_X` are the pieces left for minisupd to
/// expand: `${MINISUP_PROCESS_NUM}` and `${X}`.
std::string runtime_variable(const Piece& piece) {
  if (piece.text == "process_num") return "MINISUP_PROCESS_NUM";
  return piece.text.substr(4);  // ENV_X
}

/// The pieces as minisup text: literal text with `$` doubled where minisup
/// would read it as `${` or `$$`, runtime pieces as `${VAR}`. Sets
/// `padded` when a `%(process_num)02d` loses its padding.
std::string render(const Pieces& pieces, bool* padded) {
  std::vector<std::pair<char, bool>> chars;  // (character, from literal text)
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) {
      for (char c : piece.text) chars.emplace_back(c, true);
      continue;
    }
    if (padded != nullptr && piece.text == "process_num" && has_width(piece.flags)) *padded = true;
    for (char c : "${" + runtime_variable(piece) + "}") chars.emplace_back(c, false);
  }
  std::string out;
  for (std::size_t i = 0; i < chars.size(); ++i) {
    out += chars[i].first;
    if (chars[i].first == '$' && chars[i].second && i + 1 < chars.size() &&
        (chars[i + 1].first == '{' || chars[i + 1].first == '$')) {
      out += '$';
    }
  }
  return out;
}

bool has_runtime(const Pieces& pieces) {
  return std::any_of(pieces.begin(), pieces.end(), [](const Piece& p) { return p.is_expansion; });
}

std::string literal_text(const Pieces& pieces) {
  std::string out;
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) out += piece.text;
  }
  return out;
}

/// The pieces written as text with each runtime piece as a marker
/// `\x01N\x02` (N its index in `runtime`), so that a splitter that treats
/// markers as letters splits as supervisord splits the expanded value.
std::string with_markers(const Pieces& pieces, Pieces& runtime) {
  std::string out;
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) {
      out += piece.text;
      continue;
    }
    out += fmt::format("\x01{}\x02", runtime.size());
    runtime.push_back(piece);
  }
  return out;
}

/// The inverse of with_markers() for one word.
Pieces from_markers(std::string_view word, const Pieces& runtime) {
  Pieces out;
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t start = word.find('\x01', i);
    const std::size_t end = start == std::string_view::npos ? start : word.find('\x02', start);
    if (start == std::string_view::npos || end == std::string_view::npos) {
      out.push_back(Piece{false, std::string(word.substr(i)), {}, 's'});
      break;
    }
    if (start > i) out.push_back(Piece{false, std::string(word.substr(i, start - i)), {}, 's'});
    const std::size_t index = std::stoul(std::string(word.substr(start + 1, end - start - 1)));
    out.push_back(runtime.at(index));
    i = end + 1;
  }
  return out;
}

/// Words that only mean something to a shell, as whole words.
bool is_shell_word(std::string_view word) {
  static const std::set<std::string_view> kOperators{"|",    "||", "&&",  ";",  "&",   ">",
                                                     ">>",   "<",  "<<",  "2>", "2>>", "2>&1",
                                                     "1>&2", "&>", ">&2", "|&", "(",   ")"};
  if (kOperators.count(word) != 0) return true;
  if (word.size() > 1 &&
      (word[0] == '>' || word.substr(0, 2) == "2>" || word.substr(0, 2) == "1>" ||
       word.substr(0, 2) == "&>" || word[0] == '<')) {
    return true;
  }
  // `a; b` (a quoted word with blanks, such as nginx's 'daemon off;', is
  // an argument that means it).
  if (word.size() > 1 && word.back() == ';' && word.find(' ') == std::string_view::npos) {
    return true;
  }
  if (word.find('`') != std::string_view::npos) return true;
  if (word.find("$(") != std::string_view::npos) return true;
  if (word.size() > 1 && word[0] == '$' &&
      (std::isalpha(static_cast<unsigned char>(word[1])) || word[1] == '{' || word[1] == '_')) {
    return true;
  }
  if (word.find("=$") != std::string_view::npos) return true;  // --opt=$VAR
  return word.substr(0, 2) == "~/";
}

}  // namespace minisup::ctl::convert_detail
