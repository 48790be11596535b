#include "supervisor/config/config_error.h"

#include <fmt/format.h>

namespace minisup::config {

std::string ConfigError::to_string() const {
  if (where.file.empty()) return message;
  if (where.line <= 0) return fmt::format("{}: {}", where.file, message);
  return fmt::format("{}:{}:{}: {}", where.file, where.line, where.column, message);
}

}  // namespace minisup::config
