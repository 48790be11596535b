// Per-program resource limits: `rlimit_nofile`, `rlimit_nproc`,
// `rlimit_core`, `rlimit_as` (DESIGN.md, "Whole process trees"). Each sets
// the soft and the hard limit of its resource in the child before exec
// (daemon/spawn_plan.cc), as systemd's LimitNOFILE=N does.
//
// A value minisupd cannot grant is a config error at the value, so that
// `minisupd --check`, `update` and SIGHUP report it instead of every start
// of the program failing in setrlimit. What minisupd can grant
// (rlimit_ceiling()) is read from the system when the config is loaded;
// rlimit_problem() only compares, so tests give it any ceiling.
#pragma once

#include <sys/resource.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/config/program_config.h"

namespace minisup::config {

/// One `rlimit_*` key: its name, its resource and its ProgramConfig member.
struct RlimitKey {
  std::string_view key;  ///< "rlimit_nofile"
  int resource;          ///< RLIMIT_NOFILE
  std::optional<rlim_t> ProgramConfig::*member;
};

/// Every `rlimit_*` key, in the order a child gets them.
inline constexpr std::array<RlimitKey, 4> kRlimitKeys{{
    {"rlimit_nofile", RLIMIT_NOFILE, &ProgramConfig::rlimit_nofile},
    {"rlimit_nproc", RLIMIT_NPROC, &ProgramConfig::rlimit_nproc},
    {"rlimit_core", RLIMIT_CORE, &ProgramConfig::rlimit_core},
    {"rlimit_as", RLIMIT_AS, &ProgramConfig::rlimit_as},
}};

/// The kernel's default /proc/sys/fs/nr_open (NR_OPEN), used when that file
/// cannot be read.
inline constexpr rlim_t kDefaultNrOpen = 1024 * 1024;

/// How high minisupd may set one resource limit of a child.
struct RlimitCeiling {
  /// minisupd runs as root (geteuid() == 0): it may raise a hard limit.
  bool is_root = false;
  /// minisupd's own hard limit of the resource (getrlimit): a non-root
  /// minisupd can grant up to this.
  rlim_t hard = RLIM_INFINITY;
  /// /proc/sys/fs/nr_open: the kernel's cap on RLIMIT_NOFILE, for
  /// everyone, root included ("unlimited" is never possible there).
  rlim_t nr_open = kDefaultNrOpen;
};

/// This process's ceiling for `resource`: geteuid(), getrlimit() and, for
/// RLIMIT_NOFILE, /proc/sys/fs/nr_open (kDefaultNrOpen when unreadable).
RlimitCeiling rlimit_ceiling(int resource);

/// nullopt when a child can get `value` (RLIM_INFINITY = "unlimited") as
/// the soft and hard limit of `resource` under `ceiling`; otherwise the
/// whole message, starting with `key`: `rlimit_nofile = 2000000 is above
/// the hard limit 1048576 that minisupd can grant`.
std::optional<std::string> rlimit_problem(std::string_view key, int resource, rlim_t value,
                                          const RlimitCeiling& ceiling);

/// A limit as written in the config: `256`, or `"unlimited"`.
std::string rlimit_text(rlim_t value);

}  // namespace minisup::config
