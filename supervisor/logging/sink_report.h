// Fault reports of the output sinks (child_log.h): shared by the log file
// and the console writer, internal to the logging module.
#pragma once

#include <string>

#include "supervisor/logging/child_log.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::logging::detail {

/// Calls a report hook, never letting an exception escape.
inline void call_report(const ReportHook& hook, ReportKind kind,
                        const std::string& message) noexcept {
  if (!hook) return;
  try {
    hook(kind, message);
  } catch (...) {
    // A failing reporter must not take the log writer down with it.
  }
}

/// `<what> <object>: <strerror(err)>`, e.g. `open /var/log/web.log:
/// Permission denied`.
inline std::string errno_message(const char* what, const std::string& object, int err) {
  std::string message = what;
  message += ' ';
  message += object;
  message += ": ";
  message += sys::error_text(err);
  return message;
}

}  // namespace minisup::logging::detail
