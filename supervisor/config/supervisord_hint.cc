// Recognising a supervisord config: see supervisord_hint.h.
#include "supervisor/config/supervisord_hint.h"

#include <array>

namespace minisup::config {
namespace {

/// supervisord's sections that stand alone, and those named `KIND:NAME`.
constexpr std::array<std::string_view, 5> kPlainSections{
    "supervisord", "supervisorctl", "unix_http_server", "inet_http_server", "include"};
constexpr std::array<std::string_view, 5> kNamedSections{"program", "group", "eventlistener",
                                                         "fcgi-program", "rpcinterface"};

std::string_view trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

/// True when `line` is one of supervisord's section headers.
bool is_supervisord_header(std::string_view line) {
  line = trim(line);
  if (line.size() < 3 || line.front() != '[' || line.back() != ']') return false;
  const std::string_view inside = trim(line.substr(1, line.size() - 2));
  const std::size_t colon = inside.find(':');
  if (colon == std::string_view::npos) {
    for (std::string_view name : kPlainSections) {
      if (inside == name) return true;
    }
    return false;
  }
  const std::string_view kind = trim(inside.substr(0, colon));
  if (trim(inside.substr(colon + 1)).empty()) return false;
  for (std::string_view name : kNamedSections) {
    if (kind == name) return true;
  }
  return false;
}

}  // namespace

bool looks_like_supervisord_config(std::string_view text) {
  // Only a line whose first non-blank is '[' can be a header: the '['s are
  // found (memchr), not every line (`minisupctl -c` of 10,000 programs
  // reads 60,000 lines for one socket path).
  for (std::size_t bracket = text.find('['); bracket != std::string_view::npos;
       bracket = text.find('[', bracket + 1)) {
    std::size_t start = bracket;
    while (start > 0 &&
           (text[start - 1] == ' ' || text[start - 1] == '\t' || text[start - 1] == '\r'))
      --start;
    if (start > 0 && text[start - 1] != '\n') continue;  // not the line's first non-blank
    const std::size_t end = text.find('\n', bracket);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end;
    if (is_supervisord_header(text.substr(start, stop - start))) return true;
  }
  return false;
}

std::string supervisord_hint(const std::filesystem::path& file) {
  return "this looks like a supervisord config; convert it with minisupctl convert " +
         file.string();
}

}  // namespace minisup::config
