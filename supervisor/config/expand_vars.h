// `${VAR}` expansion in config values.
//
// The syntax is deliberately tiny so that nothing surprises: `${NAME}` is
// replaced by the variable's value (NAME: a letter or `_`, then letters,
// digits, `_`), `$$` is one literal `$`, and a `$` followed by anything else
// (a bare `$NAME`, `$1`, a lone `$`) is kept literally. An unset variable is
// an error, never an empty string: a typo must not silently start a program
// with a missing argument.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace minisup::config {

/// Looks a variable up: its value, or nullptr when it is not set.
using VariableLookup = std::function<const std::string*(std::string_view name)>;

/// The result of expand_variables(): `text` when `error` is empty.
struct Expansion {
  std::string text;
  /// Empty on success, else e.g. "${PORT} is not set" or
  /// "has an unterminated ${".
  std::string error;
  /// The first unset variable's name, when that is the error.
  std::string unset_variable;
};

/// Expands `${NAME}` and `$$` in `text` using `lookup`. A `${` without a
/// closing `}`, or with an invalid name inside, is an error.
Expansion expand_variables(std::string_view text, const VariableLookup& lookup);

/// A VariableLookup over `overlay` first, then `base` (both must outlive
/// the returned function).
VariableLookup layered_lookup(const std::map<std::string, std::string>& overlay,
                              const std::map<std::string, std::string>& base);

}  // namespace minisup::config
