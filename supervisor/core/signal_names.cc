// Signal names: see signal_names.h. The table of names lives once, in
// config/value_parsers (the lowest layer); this adds the SIG prefix and the
// wording used in state-change reasons.
#include "supervisor/core/signal_names.h"

#include <cctype>

#include "supervisor/config/value_parsers.h"

namespace minisup::core {

std::string signal_name(int signal) {
  std::string name = config::signal_name(signal);
  if (!name.empty() && std::isalpha(static_cast<unsigned char>(name.front()))) return "SIG" + name;
  return "signal " + std::to_string(signal);
}

std::optional<int> parse_signal(std::string_view text) { return config::parse_signal(text); }

}  // namespace minisup::core
