// cgroup v2: the calls minisupd needs to keep each program's whole process
// tree in a cgroup of its own (DESIGN.md, "Whole process trees").
//
// Model: minisupd finds the cgroup2 mount and its own cgroup in it
// (/proc/self/mountinfo, /proc/self/cgroup), and keeps every cgroup it makes
// below one directory of its own, `<own cgroup>/minisup-<id>`, where `<id>`
// is derived from the control socket's path: two minisupd serving different
// sockets never share it, and a minisupd started again on the same socket
// finds what a predecessor that was killed outright left behind. A child
// is created directly inside its cgroup (clone3 with CLONE_INTO_CGROUP,
// sys/spawn.h), so nothing it forks can escape in between. Emptiness is
// read from `cgroup.events` (`populated 0`), whose changes inotify reports;
// `cgroup.kill` SIGKILLs every member at once, including processes that
// fork while it runs.
//
// No controller is enabled: the hierarchy is used for membership only (on
// a hybrid layout such as this project's CI machines, cgroup v2 has no
// memory controller; usage figures come from /proc).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace minisup::sys {

/// The cgroup2 mount point and this process's cgroup directory in it
/// (e.g. /sys/fs/cgroup/unified and /sys/fs/cgroup/unified/system.slice/
/// minisup.service), or why there is none: "no cgroup2 file system is
/// mounted", "minisupd's cgroup /foo is not below the cgroup2 mount".
struct CgroupHome {
  std::filesystem::path mount;
  std::filesystem::path own;
};
std::variant<CgroupHome, std::string> find_cgroup_home();

/// Parses /proc/self/mountinfo text: the mount point of the cgroup2 file
/// system and its root within the hierarchy; /sys/fs/cgroup is preferred,
/// then /sys/fs/cgroup/unified, then the first one listed. For tests.
std::optional<std::pair<std::string, std::string>> parse_cgroup2_mount(std::string_view mountinfo);
/// Parses /proc/self/cgroup text: the path of the "0::" line. For tests.
std::optional<std::string> parse_cgroup2_path(std::string_view proc_self_cgroup);

/// The name of the directory minisupd keeps its cgroups in, for `socket`:
/// "minisup-" and 16 hex digits of a hash of the path.
std::string cgroup_base_name(const std::filesystem::path& socket);

/// Makes sure `dir` exists as a cgroup that minisupd can use: created (or
/// already there), writable, and with `cgroup.kill` and `cgroup.events`
/// (kernel 5.14 or later). Returns why not, e.g. "mkdir /sys/fs/cgroup/x:
/// Read-only file system", "/sys/fs/cgroup/x has no cgroup.kill (kernel
/// older than 5.14)".
std::optional<std::string> prepare_cgroup(const std::filesystem::path& dir);

/// A cgroup directory's `cgroup.events` says `populated 1` (a member in it
/// or below it). A missing directory is not populated.
bool cgroup_populated(const std::filesystem::path& dir);

/// The pids in `dir`'s cgroup.procs and in every cgroup below it (in the
/// order read; empty when the directory is missing).
std::vector<pid_t> cgroup_members(const std::filesystem::path& dir);

/// SIGKILLs every process in `dir` and below (writes "1" to cgroup.kill).
/// False (errno set) when the write failed; a missing directory is ENOENT.
bool cgroup_kill(const std::filesystem::path& dir);

/// Removes `dir` and every cgroup below it (children first; rmdir, which
/// succeeds only for an empty cgroup). False when something stayed (busy).
bool remove_cgroup(const std::filesystem::path& dir);

/// The whole text of a small /proc or cgroup file; nullopt when it cannot
/// be read.
std::optional<std::string> read_text(const std::filesystem::path& path);

/// The pids of a blank- or newline-separated list (cgroup.procs,
/// /proc/PID/task/TID/children); stops at the first thing that is not one.
std::vector<pid_t> parse_pids(std::string_view text);

/// The cgroup directories directly below `dir` (names only).
std::vector<std::string> child_cgroups(const std::filesystem::path& dir);

}  // namespace minisup::sys
