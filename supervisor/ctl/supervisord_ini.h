// Reading supervisord's configuration format, as supervisord 4.2 reads it:
// the pure pieces `minisupctl convert` (convert.h) is built from.
//
// - parse_ini(): Python's RawConfigParser as supervisord sets it up
//   (UnhosedConfigParser: `=` or `:` between key and value, keys
//   lower-cased, full-line comments `#` / `;`, inline comments ` ;` / ` #`
//   after a blank, indented lines continue a value, strict = False: a
//   section or key given twice merges, the later value wins).
// - parse_template(): supervisord's `%` expansion (Python's `s % dict`):
//   `%(name)s`, `%(process_num)02d`, `%%`.
// - shlex_split(): how supervisord splits `command` (shlex.split, POSIX
//   mode: quotes and backslashes, nothing else; `>` and `|` are words).
// - parse_key_value_pairs(): how it reads `environment` (KEY="v",K2=v2:
//   a non-POSIX shlex whose words are letters, digits and `_/.+-():`).
// Nothing here touches a file: text in, values or an error out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minisup::ctl::ini {

/// One `key = value` of a section (the value with continuation lines
/// joined by '\n', inline comments and surrounding blanks removed).
struct Option {
  std::string key;  ///< lower-cased, as configparser's optionxform
  std::string value;
  int line = 0;  ///< 1-based line of the key
};

/// One `[name]` section, its options in the order first written.
struct Section {
  std::string name;  ///< as written between the brackets, blanks trimmed
  int line = 0;      ///< the header's line
  std::vector<Option> options;

  /// The option `key` (lower-case), or nullptr.
  const Option* find(std::string_view key) const;
};

/// A whole file: its sections in the order first written.
struct Document {
  std::vector<Section> sections;
  const Section* find(std::string_view name) const;
};

/// Why a text is not an INI file supervisord would read.
struct ParseError {
  int line = 0;
  std::string message;
};

/// Parses `text`. A section or key written twice is merged (the later
/// value wins, in the place of the first), as supervisord's parser does.
/// Errors: a line outside any section, a line that is neither a section
/// header, a comment, `key = value` nor a continuation, a header without
/// its `]`, NUL bytes.
std::optional<ParseError> parse_ini(std::string_view text, Document& out);

/// One piece of a `%`-template: literal text, or a named expansion.
struct Piece {
  bool is_expansion = false;
  std::string text;       ///< the literal text, or the expansion's name
  std::string flags;      ///< e.g. "02" of `%(process_num)02d`; empty for `%(x)s`
  char conversion = 's';  ///< s, d, i, r, ... of the expansion
};

/// Splits a value into pieces: `%%` is a literal `%`, `%(name)FLAGSc` an
/// expansion. nullopt with `error` set for a `%` that starts neither (as
/// Python's "unsupported format character"), or an unclosed `%(`.
std::optional<std::vector<Piece>> parse_template(std::string_view text, std::string& error);

/// shlex.split(text) in POSIX mode: blanks separate words; '...' is
/// literal; in "..." a backslash escapes only `"` and `\`; elsewhere a
/// backslash makes the next character literal; quotes join parts of one
/// word; `""` is an empty word. nullopt with `error` ("No closing
/// quotation", "No escaped character") otherwise. Bytes 0x01 and 0x02 are
/// ordinary characters (convert.cc marks expansions with them).
std::optional<std::vector<std::string>> shlex_split(std::string_view text, std::string& error);

/// supervisord's dict_of_key_value_pairs(): `KEY=val,KEY2="v, 2"` as
/// (key, value) pairs in order (a key given twice keeps its first place
/// and its last value). Tokens are words of letters, digits, `_` and
/// `/.+-():` (bytes 0x01, 0x02 and >= 0x80 count as letters), or quoted
/// strings, whose quotes are then stripped; `#` starts a comment. As in
/// supervisord, whatever single token follows a pair separates it from the
/// next; the separators other than `,` go to `odd_separators` (supervisord
/// drops them silently: `A=two words` is A="two"). nullopt with `error`
/// when the tokens are not KEY = VALUE ...
std::optional<std::vector<std::pair<std::string, std::string>>> parse_key_value_pairs(
    std::string_view text, std::string& error, std::vector<std::string>* odd_separators = nullptr);

}  // namespace minisup::ctl::ini
