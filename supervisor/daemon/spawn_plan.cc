// The spawn plan: see spawn_plan.h.
#include "supervisor/daemon/spawn_plan.h"

#include <algorithm>
#include <optional>

#include "supervisor/config/rlimits.h"
#include "supervisor/daemon/sd_notify.h"

namespace minisup::daemon {

SpawnPlan plan_spawn(const config::ProgramConfig& program, const config::ProcessConfig& process,
                     const std::map<std::string, std::string>& supervisor_environment,
                     const std::map<std::string, std::string>& base,
                     const std::vector<sys::SpawnRlimit>& rlimits) {
  SpawnPlan plan;
  plan.process = process.name;
  plan.argv = process.command;
  std::map<std::string, std::string> env = base;
  // minisupd's own service manager talks to minisupd, not to its children.
  for (std::string_view name : kServiceManagerVariables) env.erase(std::string(name));
  for (const auto& [key, value] : supervisor_environment) env[key] = value;
  for (const auto& [key, value] : process.environment) env[key] = value;
  env["MINISUP_PROGRAM"] = program.name;
  env["MINISUP_PROCESS_NAME"] = process.name;
  env["MINISUP_PROCESS_NUM"] = std::to_string(process.process_num);
  if (!program.sockets.empty()) {
    std::string names;
    for (const config::SocketConfig& socket : program.sockets) {
      names += (names.empty() ? "" : ":") + socket.name;
      plan.sockets.push_back(socket.name);
    }
    env["LISTEN_FDS"] = std::to_string(program.sockets.size());
    env["LISTEN_FDNAMES"] = std::move(names);
    env[std::string(kListenPid)] = "";  // the child's own pid, written by the child
    plan.own_pid_variable = std::string(kListenPid);
  }
  plan.envp.reserve(env.size());
  for (const auto& [key, value] : env) plan.envp.push_back(key + "=" + value);
  if (process.directory) plan.directory = *process.directory;
  plan.umask = program.umask;
  plan.user = program.user;
  if (program.user) {
    for (std::string_view name : kUserVariables) {
      const std::string key(name);
      if (supervisor_environment.count(key) == 0 && process.environment.count(key) == 0)
        plan.user_variables.push_back(key);
    }
  }
  plan.death_signal = program.stopsignal;
  // The program's own limits, soft = hard; each replaces what minisupd
  // would otherwise hand down for that resource (its original
  // RLIMIT_NOFILE).
  plan.rlimits = rlimits;
  for (const config::RlimitKey& limit : config::kRlimitKeys) {
    const std::optional<rlim_t>& value = program.*limit.member;
    if (!value) continue;
    std::erase_if(plan.rlimits, [&limit](const sys::SpawnRlimit& inherited) {
      return inherited.resource == limit.resource;
    });
    plan.rlimits.push_back({limit.resource, *value, *value});
  }
  return plan;
}

std::vector<std::string> child_environment(const SpawnPlan& plan, const sys::UserIds& user) {
  std::vector<std::string> envp = plan.envp;
  for (const std::string& name : plan.user_variables) {
    const std::string value = name == "HOME" ? user.home : user.name;
    const std::string prefix = name + "=";
    auto it = std::find_if(envp.begin(), envp.end(),
                           [&prefix](const std::string& var) { return var.starts_with(prefix); });
    if (it != envp.end()) {
      *it = prefix + value;
    } else {
      envp.push_back(prefix + value);
    }
  }
  return envp;
}

}  // namespace minisup::daemon
