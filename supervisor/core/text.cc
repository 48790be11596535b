// Text helpers: see text.h.
#include "supervisor/core/text.h"

#include <cstdio>

#include "supervisor/config/signal_names.h"

namespace minisup::core {

std::string seconds_text(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  const int precision = seconds >= 1.0 ? 1 : seconds >= 0.1 ? 2 : 3;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f s", precision, seconds);
  return buffer;
}

std::string exit_text(const std::optional<int>& exit_code, const std::optional<int>& exit_signal,
                      bool core_dumped) {
  if (exit_code) return "exited with status " + std::to_string(*exit_code);
  if (exit_signal)
    return "killed by " + config::signal_name(*exit_signal) + (core_dumped ? " (core dumped)" : "");
  return "exited";
}

}  // namespace minisup::core
