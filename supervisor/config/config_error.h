// A configuration error: where (file:line:col) and what.
#pragma once

#include <string>

#include "supervisor/config/program_config.h"

namespace minisup::config {

/// One problem found in a config file. `message` names the key and says what
/// was found and what was expected, e.g. `stopwaitsecs must be a
/// non-negative number, got "ten"`.
struct ConfigError {
  SourceLocation where;
  std::string message;

  /// `conf.d/web.toml:4:16: stopwaitsecs must be ...` (the file as given to
  /// the loader, or as found by an include glob).
  std::string to_string() const;
};

}  // namespace minisup::config
