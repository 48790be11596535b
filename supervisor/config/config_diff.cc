#include "supervisor/config/config_diff.h"

#include <map>

namespace minisup::config {

ConfigDiff diff_configs(const Config& old_config, const Config& new_config) {
  std::map<std::string, const ProgramConfig*> old_programs;
  for (const auto& program : old_config.programs) old_programs.emplace(program.name, &program);
  std::map<std::string, const ProgramConfig*> new_programs;
  for (const auto& program : new_config.programs) new_programs.emplace(program.name, &program);

  ConfigDiff diff;  // maps iterate in name order, so every list is sorted
  for (const auto& [name, program] : new_programs) {
    const auto it = old_programs.find(name);
    if (it == old_programs.end()) {
      diff.added.push_back(name);
    } else if (!it->second->equals_definition(*program)) {
      diff.changed.push_back(name);
    }
  }
  for (const auto& [name, program] : old_programs) {
    if (!new_programs.contains(name)) diff.removed.push_back(name);
  }
  return diff;
}

}  // namespace minisup::config
