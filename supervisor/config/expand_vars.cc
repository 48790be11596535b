#include "supervisor/config/expand_vars.h"

namespace minisup::config {
namespace {

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

bool is_valid_name(std::string_view name) {
  if (name.empty() || !is_name_start(name.front())) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

}  // namespace

Expansion expand_variables(std::string_view text, const VariableLookup& lookup) {
  Expansion result;
  result.text.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      result.text.append(text.substr(i));
      break;
    }
    result.text.append(text.substr(i, dollar - i));
    if (dollar + 1 < text.size() && text[dollar + 1] == '$') {  // `$$` -> `$`
      result.text += '$';
      i = dollar + 2;
      continue;
    }
    if (dollar + 1 >= text.size() || text[dollar + 1] != '{') {  // bare `$X`: literal
      result.text += '$';
      i = dollar + 1;
      continue;
    }
    const std::size_t close = text.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      result.error = "has an unterminated ${";
      return result;
    }
    const std::string_view name = text.substr(dollar + 2, close - dollar - 2);
    if (!is_valid_name(name)) {
      const std::string shown =
          name.size() > 40 ? std::string(name.substr(0, 40)) + "..." : std::string(name);
      result.error =
          "has an invalid variable name in ${" + shown +
          "} (a name is a letter or _ followed by letters, digits or _; write $$ for a literal $)";
      return result;
    }
    const std::string* value = lookup(name);
    if (value == nullptr) {
      result.unset_variable = std::string(name);
      result.error = "uses ${" + std::string(name) + "}, which is not set";
      return result;
    }
    result.text += *value;
    i = close + 1;
  }
  return result;
}

VariableLookup layered_lookup(const std::map<std::string, std::string>& overlay,
                              const std::map<std::string, std::string>& base) {
  return [&overlay, &base](std::string_view name) -> const std::string* {
    // std::map<std::string, ...> has no heterogeneous find without a
    // transparent comparator; the names are short, so build the key.
    const std::string key(name);
    if (auto it = overlay.find(key); it != overlay.end()) return &it->second;
    if (auto it = base.find(key); it != base.end()) return &it->second;
    return nullptr;
  };
}

}  // namespace minisup::config
