#include "supervisor/config/program_config.h"

#include <algorithm>

namespace minisup::config {

bool ProgramConfig::equals_definition(const ProgramConfig& other) const {
  // Compare a copy whose `where` is the other's, so that every other field
  // (including any added later) takes part through the defaulted ==.
  ProgramConfig mine = *this;
  mine.where = other.where;
  // Where a named [socket.NAME] is written does not count either.
  if (mine.sockets.size() == other.sockets.size()) {
    for (std::size_t i = 0; i < mine.sockets.size(); ++i)
      mine.sockets[i].where = other.sockets[i].where;
  }
  return mine == other;
}

std::string SocketConfig::address_text() const {
  if (kind == Kind::Unix) return "unix:" + path;
  return ipv6 ? "tcp://[" + address + "]:" + std::to_string(port)
              : "tcp://" + address + ":" + std::to_string(port);
}

const ProgramConfig* Config::find_program(const std::string& name) const {
  const auto it =
      std::find_if(programs.begin(), programs.end(),
                   [&name](const ProgramConfig& program) { return program.name == name; });
  return it == programs.end() ? nullptr : &*it;
}

const GroupConfig* Config::find_group(const std::string& name) const {
  const auto it = std::find_if(groups.begin(), groups.end(),
                               [&name](const GroupConfig& group) { return group.name == name; });
  return it == groups.end() ? nullptr : &*it;
}

}  // namespace minisup::config
