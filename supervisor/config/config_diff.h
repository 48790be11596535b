// What changed between two configs, by program name: the basis of
// `minisupctl reread` (show) and `update` / SIGHUP (apply). Only added,
// changed and removed programs are touched; an unchanged program keeps its
// processes, pids and states.
#pragma once

#include <string>
#include <vector>

#include "supervisor/config/program_config.h"

namespace minisup::config {

/// Program names, each list sorted by name.
struct ConfigDiff {
  std::vector<std::string> added;    ///< only in the new config
  std::vector<std::string> changed;  ///< in both, !equals_definition()
  std::vector<std::string> removed;  ///< only in the old config

  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
  bool operator==(const ConfigDiff&) const = default;
};

/// Compares the programs of `old_config` and `new_config` by name. A
/// program is changed when any key of its own definition differs after
/// defaults and expansion (ProgramConfig::equals_definition); where it is
/// written (file, line) does not count. [supervisor] settings are not
/// compared.
ConfigDiff diff_configs(const Config& old_config, const Config& new_config);

}  // namespace minisup::config
