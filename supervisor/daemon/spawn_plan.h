// What a child gets, built in one place: argv, environment, working
// directory, umask, user, resource limits, death signal, held sockets.
// Later features extend the plan, not the spawn code.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/sys/spawn.h"

namespace minisup::daemon {

/// What `user` sets in the child's environment from the user's passwd
/// entry: HOME (its home directory), USER and LOGNAME (its name).
inline constexpr std::array<std::string_view, 3> kUserVariables{"HOME", "USER", "LOGNAME"};

struct SpawnPlan {
  std::string process;            ///< the process name, for messages
  std::vector<std::string> argv;  ///< never empty
  std::vector<std::string> envp;  ///< "KEY=VALUE", the complete environment
  std::optional<std::string> directory;
  std::optional<mode_t> umask;
  std::optional<std::string> user;  ///< resolved by the System at spawn
  /// With `user`: the kUserVariables that the System sets from the passwd
  /// entry it resolves at spawn (child_environment()), i.e. those that
  /// neither [supervisor] environment nor the program's environment sets:
  /// a configured value wins. Empty without `user`.
  std::vector<std::string> user_variables;
  /// Signal the child gets should minisupd die without stopping it.
  int death_signal = 0;
  /// Set in the child, in order, before the user switch: minisupd's
  /// original RLIMIT_NOFILE when it raised its own, then the program's
  /// `rlimit_*` (soft = hard), a program's rlimit_nofile replacing the
  /// inherited entry.
  std::vector<sys::SpawnRlimit> rlimits;
  /// Held sockets ([socket.NAME] names, the program's `sockets`): the
  /// child gets their descriptors as 3, 4, ... in this order (the System
  /// looks them up by name at the spawn).
  std::vector<std::string> sockets;
  /// The environment entry ("LISTEN_PID") whose value is the child's own
  /// pid, written by the child itself before exec (envp holds it with an
  /// empty value); empty: none.
  std::string own_pid_variable;
  bool operator==(const SpawnPlan&) const = default;
};

/// The variable the child's own pid goes into when it gets held sockets.
inline constexpr std::string_view kListenPid = "LISTEN_PID";

/// The plan for one process of `program`. Environment: `base` (minisupd's
/// own, without its service manager's NOTIFY_SOCKET, LISTEN_PID, LISTEN_FDS
/// and LISTEN_FDNAMES), then [supervisor] environment, then the process's,
/// then MINISUP_PROGRAM, MINISUP_PROCESS_NAME and MINISUP_PROCESS_NUM: later
/// ones win. A program with `sockets` gets them (`plan.sockets`) with
/// LISTEN_FDS (their number), LISTEN_FDNAMES (their names, joined by ':')
/// and LISTEN_PID (empty here: the child writes its pid), as systemd's
/// socket activation sets them. Resource limits: `rlimits` (what minisupd hands down), with
/// the program's `rlimit_*` keys replacing or adding entries.
/// With `user`, the user's HOME, USER and LOGNAME come after `base` and
/// before [supervisor] environment: see SpawnPlan::user_variables.
SpawnPlan plan_spawn(const config::ProgramConfig& program, const config::ProcessConfig& process,
                     const std::map<std::string, std::string>& supervisor_environment,
                     const std::map<std::string, std::string>& base,
                     const std::vector<sys::SpawnRlimit>& rlimits);

/// The environment a child of `plan` is started with once its user is
/// resolved: plan.envp with each of plan.user_variables set from `user`
/// (HOME = user.home, USER = LOGNAME = user.name), replacing what minisupd's
/// own environment had (HOME=/root when it runs as root).
std::vector<std::string> child_environment(const SpawnPlan& plan, const sys::UserIds& user);

}  // namespace minisup::daemon
