#include "supervisor/config/value_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace minisup::config::detail {

std::string truncate(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

/// `"text"` with TOML-style escapes, truncated when long.
std::string quote(std::string_view text) {
  std::string out = "\"";
  const bool long_text = text.size() > 60;
  for (char c : text.substr(0, 60)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += long_text ? "...\"" : "\"";
  return out;
}

/// A TOML value as shown after "got" in messages: `"ten"`, `2.5`, `true`,
/// `an array`.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer: {
      const auto* integer = node.as_integer();
      if ((integer->flags() & toml::value_flags::format_as_octal) != toml::value_flags::none) {
        return fmt::format("0o{:o}", integer->get());
      }
      return std::to_string(integer->get());
    }
    case toml::node_type::floating_point: {
      // As TOML writes it: 2.0 stays a float in the message, not "2".
      std::string text = fmt::format("{}", node.as_floating_point()->get());
      if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
      return text;
    }
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      return "nothing";
  }
  return "a value";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace minisup::config::detail
