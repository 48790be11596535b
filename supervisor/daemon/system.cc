// The seam's few shared helpers: see system.h.
#include "supervisor/daemon/system.h"

namespace minisup::daemon {

std::string describe_members(const std::vector<TreeMember>& members) {
  std::string text;
  for (const TreeMember& member : members) {
    if (!text.empty()) text += ", ";
    text += std::to_string(member.pid);
    text += " (";
    text += member.command;
    text += ')';
  }
  return text;
}

}  // namespace minisup::daemon
