// Helpers shared by the files that implement Supervisor (supervisor.cc,
// supervisor_dependencies.cc, supervisor_shutdown.cc). Internal to core/:
// nothing outside those files includes it.
#pragma once

#include <cstddef>
#include <string>

#include "supervisor/config/program_config.h"
#include "supervisor/core/exit_record.h"

namespace minisup::core::detail {

/// The index of a condition in a DependencyStatuses array and in a
/// program's met/failed counters.
inline std::size_t index_of(config::DependencyCondition condition) {
  return static_cast<std::size_t>(condition);
}

/// Every dependency condition, in index_of() order.
inline constexpr config::DependencyCondition kConditions[] = {
    config::DependencyCondition::Started, config::DependencyCondition::Ready,
    config::DependencyCondition::Completed};

/// "exited with status 1", "was killed by SIGTERM".
inline std::string ended_text(const ExitRecord& exit) {
  std::string text = exit.text();
  if (text.rfind("killed", 0) == 0) text = "was " + text;
  return text;
}

}  // namespace minisup::core::detail
