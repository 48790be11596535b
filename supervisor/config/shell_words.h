// Splitting a string `command` into argv words the way a POSIX shell splits
// words, and nothing more: no globbing, no redirection, no pipes, no `~`,
// no `$` expansion (the loader expands `${VAR}` in each word afterwards).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minisup::config {

/// The words of a command, or why it could not be split.
struct ShellWords {
  std::vector<std::string> words;
  /// Empty on success, else e.g. "has an unterminated double quote".
  std::string error;
};

/// Splits `text` into words. Blanks (space, tab, newline) separate words.
/// Outside quotes a backslash takes the next character literally (a
/// backslash-newline pair is removed). Inside '...' every character is
/// literal. Inside "..." a backslash escapes only `$`, backquote, `"`, `\`
/// and newline, and is kept before any other character. Quotes may join
/// parts into one word (`a'b c'd` is one word) and `""` is an empty word.
/// Every other character (`>`, `|`, `*`, `~`, `;`, `&`, `$`) is literal.
/// Errors: an unterminated quote, a trailing backslash.
ShellWords split_shell_words(std::string_view text);

}  // namespace minisup::config
