// Value checks of the Loader (loader.h): one TOML value, one expected type
// each. Every check reports its own error (at the value, naming the key,
// saying what was found and what was expected) and returns nullopt; the
// callers only decide what to do with a good value.
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <limits>

#include "supervisor/config/config_file.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

/// Largest startsecs/stopwaitsecs, in seconds: one year.
constexpr double kMaxSeconds = 365.0 * 24 * 3600;

}  // namespace

std::optional<bool> Loader::as_bool(const Field& f) {
  if (const auto* b = f.node.as_boolean()) return b->get();
  error(f.where, fmt::format("{} must be true or false, got {}", f.key, describe(f.node)));
  return std::nullopt;
}

std::optional<std::int64_t> Loader::as_int(const Field& f, std::int64_t min, std::int64_t max) {
  const auto* integer = f.node.as_integer();
  if (integer == nullptr) {
    error(f.where, fmt::format("{} must be an integer, got {}", f.key, describe(f.node)));
    return std::nullopt;
  }
  const std::int64_t value = integer->get();
  if (value < min || value > max) {
    if (value < min && max == std::numeric_limits<int>::max()) {
      error(f.where, fmt::format("{} must be at least {}, got {}", f.key, min, value));
    } else {
      error(f.where, fmt::format("{} must be between {} and {}, got {}", f.key, min, max, value));
    }
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> Loader::as_seconds(const Field& f) {
  double seconds = -1;
  if (const auto* integer = f.node.as_integer()) {
    seconds = static_cast<double>(integer->get());
  } else if (const auto* floating = f.node.as_floating_point()) {
    seconds = floating->get();
  }
  if (!(seconds >= 0)) {  // also NaN, and every non-number
    error(f.where,
          fmt::format("{} must be a non-negative number, got {}", f.key, describe(f.node)));
    return std::nullopt;
  }
  if (seconds > kMaxSeconds) {
    error(f.where, fmt::format("{} must be at most {} seconds (one year), got {}", f.key,
                               static_cast<std::int64_t>(kMaxSeconds), describe(f.node)));
    return std::nullopt;
  }
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

std::optional<std::string> Loader::as_string(const Field& f, bool allow_empty) {
  const auto* string = f.node.as_string();
  if (string == nullptr) {
    error(f.where, fmt::format("{} must be a string, got {}", f.key, describe(f.node)));
    return std::nullopt;
  }
  const std::string& value = string->get();
  if (!allow_empty && value.empty()) {
    error(f.where, fmt::format("{} must not be empty", f.key));
    return std::nullopt;
  }
  if (value.find('\0') != std::string::npos) {
    error(f.where, fmt::format("{} must not contain a NUL character", f.key));
    return std::nullopt;
  }
  return value;
}

/// A log file value: a path, "AUTO", "NONE" or "console".
std::optional<std::string> Loader::as_logfile(const Field& f) {
  if (!f.node.is_string()) {
    error(f.where, fmt::format("{} must be a path, \"AUTO\", \"NONE\" or \"console\", got {}",
                               f.key, describe(f.node)));
    return std::nullopt;
  }
  if (f.node.as_string()->get().empty()) {
    error(f.where,
          fmt::format("{} must not be empty (write \"NONE\" to discard the output)", f.key));
    return std::nullopt;
  }
  return as_string(f);
}

std::optional<mode_t> Loader::as_mode(const Field& f, std::string_view example) {
  if (const auto* integer = f.node.as_integer()) {
    // TOML's own octal literal (0o022) is accepted; 22 is not, since
    // its decimal reading would be a different mode.
    const bool is_octal =
        (integer->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none;
    if (is_octal && integer->get() >= 0 && integer->get() <= 0777)
      return static_cast<mode_t>(integer->get());
  } else if (const auto* string = f.node.as_string()) {
    if (auto mode = parse_octal_mode(string->get())) return mode;
  }
  error(f.where, fmt::format("{} must be an octal string like \"{}\" (at most \"0777\"), got {}",
                             f.key, example, describe(f.node)));
  return std::nullopt;
}

std::optional<std::uint64_t> Loader::as_size(const Field& f) {
  if (const auto* integer = f.node.as_integer(); integer != nullptr && integer->get() >= 0) {
    return static_cast<std::uint64_t>(integer->get());
  }
  if (const auto* string = f.node.as_string()) {
    if (auto size = parse_size(string->get())) return size;
  }
  error(f.where, fmt::format("{} must be a size in bytes: an integer or a string like \"50MB\" "
                             "(units B, KB, MB, GB), got {}",
                             f.key, describe(f.node)));
  return std::nullopt;
}

std::optional<rlim_t> Loader::as_rlimit(const Field& f) {
  if (const auto* integer = f.node.as_integer(); integer != nullptr && integer->get() >= 0) {
    return static_cast<rlim_t>(integer->get());
  }
  if (const auto* string = f.node.as_string();
      string != nullptr && iequals(string->get(), "unlimited")) {
    return RLIM_INFINITY;
  }
  error(f.where, fmt::format("{} must be a non-negative integer or \"unlimited\", got {}", f.key,
                             describe(f.node)));
  return std::nullopt;
}

/// An environment table: keys are names without `=`, values strings.
std::vector<std::pair<std::string, Located>> Loader::as_environment(const Field& f,
                                                                    const SourceFile& file) {
  std::vector<std::pair<std::string, Located>> entries;
  const auto* table = f.node.as_table();
  if (table == nullptr) {
    error(f.where, fmt::format("{} must be a table of strings like {{ TZ = \"UTC\" }}, got {}",
                               f.key, describe(f.node)));
    return entries;
  }
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    const std::string shown_key = f.key + "." + truncate(name);
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      error(location(file, key.source()),
            fmt::format(
                "{} key {} is not a valid variable name (it must be non-empty, without \"=\")",
                f.key, quote(name)));
      continue;
    }
    if (const auto* string = value.as_string()) {
      if (string->get().find('\0') != std::string::npos) {
        error(location(file, value.source()),
              fmt::format("{} must not contain a NUL character", shown_key));
        continue;
      }
      if (name == "MINISUP_PROGRAM" || name == "MINISUP_PROCESS_NAME" ||
          name == "MINISUP_PROCESS_NUM") {
        error(location(file, value.source()),
              fmt::format("{} is set by minisup itself and cannot be changed", shown_key));
        continue;
      }
      entries.emplace_back(name, Located{string->get(), location(file, value.source())});
    } else if (value.is_integer() || value.is_floating_point() || value.is_boolean()) {
      error(location(file, value.source()),
            fmt::format("{} must be a string, got {} (quote it: \"{}\")", shown_key,
                        describe(value), describe(value)));
    } else {
      error(location(file, value.source()),
            fmt::format("{} must be a string, got {}", shown_key, describe(value)));
    }
  }
  return entries;
}

void Loader::unknown_key(const toml::key& key, const SourceFile& file, std::string_view table,
                         std::span<const std::string_view> known) {
  std::string message = fmt::format("unknown key `{}` in {}", truncate(key.str()), table);
  if (auto suggestion = closest_match(key.str(), known))
    message += fmt::format("; did you mean `{}`?", *suggestion);
  error(location(file, key.source()), std::move(message));
}

/// Expands `${VAR}` in a value, reporting `KEY uses ${X}, which is not set`.
std::optional<std::string> Loader::expand(const Located& value, std::string_view key,
                                          const VariableLookup& lookup) {
  Expansion expansion = expand_variables(value.text, lookup);
  if (!expansion.error.empty()) {
    error(value.where, fmt::format("{} {}", key, expansion.error));
    return std::nullopt;
  }
  return std::move(expansion.text);
}

/// A path value: a non-empty string, `${VAR}` expanded, made absolute
/// against the directory of `file`.
std::optional<fs::path> Loader::as_path(const Field& f, const SourceFile& file,
                                        const VariableLookup& lookup) {
  auto text = as_string(f);
  if (!text) return std::nullopt;
  auto expanded = expand({*text, f.where}, f.key, lookup);
  if (!expanded) return std::nullopt;
  if (expanded->empty()) {
    error(f.where, fmt::format("{} is empty after expansion", f.key));
    return std::nullopt;
  }
  return resolve_path(file.directory, *expanded);
}

}  // namespace minisup::config::detail
