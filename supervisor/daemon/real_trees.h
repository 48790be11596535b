// Whole process trees, the real way (DESIGN.md, "Whole process trees"):
// choosing between cgroups and the process-group fallback at start, the
// cgroup of each process (CgroupTrees), and the fallback's strays.
//
// Layout: <minisupd's cgroup>/minisup-<id>/proc-<process name>, one cgroup
// per process, made at its first spawn and removed when the process is
// idle and the cgroup empty; `<id>` comes from the socket path
// (sys/cgroup.h), so the next minisupd on the same socket finds, kills and
// removes what one that was killed outright left behind. Emptiness is
// watched through one inotify descriptor for all of them (IN_MODIFY of
// each cgroup.events), never polled.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/daemon/system.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

/// How trees are kept, as decided at start.
struct TreeChoice {
  TreeMode mode = TreeMode::Group;
  /// Cgroup mode: the directory minisupd keeps its cgroups in.
  std::filesystem::path base;
  /// For the start line and `minisupd --check`: "process trees: cgroup v2
  /// (/sys/fs/cgroup/unified/minisup-0123456789abcdef)", "process trees:
  /// process groups only (no writable cgroup v2: mkdir ...: Read-only file
  /// system)", "process trees: process groups (process_tree = \"group\")".
  std::string description;
};

/// Decides how trees are kept for `wanted` and the socket `socket`. With
/// `create`, the base directory is made (or taken over: see
/// clean_stale_cgroups); without, it is only tried (a scratch directory
/// made and removed again: `minisupd --check`). process_tree = "cgroup"
/// without a usable cgroup v2 throws std::runtime_error saying why.
TreeChoice choose_trees(config::ProcessTree wanted, const std::filesystem::path& socket,
                        bool create);

/// Kills (cgroup.kill) and removes every cgroup below `base` that an
/// earlier minisupd on the same socket left behind, logging each with what
/// it held; waits at most `timeout` for them to empty. Returns how many
/// processes were killed.
int clean_stale_cgroups(const std::filesystem::path& base, std::chrono::milliseconds timeout);

/// The fallback's strays of `process`: children of minisupd (re-parented
/// to it as a subreaper) that are not in `known` and carry
/// MINISUP_PROCESS_NAME=`process` in their environment, and all their
/// descendants.
std::vector<pid_t> find_strays(const std::string& process, const std::vector<pid_t>& known);

/// The MINISUP_PROCESS_NAME of each child of minisupd that is not in
/// `known` (the programs whose strays exist now).
std::vector<std::string> stray_owners(const std::vector<pid_t>& known);

/// One cgroup per process below a base directory.
class CgroupTrees {
 public:
  CgroupTrees(loop::EventLoop& loop, std::filesystem::path base);
  ~CgroupTrees();
  CgroupTrees(const CgroupTrees&) = delete;
  CgroupTrees& operator=(const CgroupTrees&) = delete;

  /// The cgroup of `process`, made if needed, opened for a spawn into it
  /// (O_PATH); or why that failed.
  std::variant<sys::UniqueFd, std::string> open_for_spawn(const std::string& process);
  /// `signal` to every member (SIGKILL: cgroup.kill); false when empty.
  bool signal(const std::string& process, int signal);
  /// Whether the cgroup has members; from then on its emptying is reported
  /// to the on_changed callback.
  bool alive(const std::string& process);
  std::vector<pid_t> members(const std::string& process) const;
  /// The cgroup of `from` is `to`'s from now on (a rolling restart's old
  /// process); the next spawn of `from` makes a cgroup of its own
  /// (`proc-web:0~1`: its usual name is taken).
  void rename(const std::string& from, const std::string& to);
  /// Removes the cgroup of `process` if it is empty (else later, when it
  /// empties).
  void release(const std::string& process);
  /// `callback(process)` whenever the cgroup.events of `process` changed
  /// (populated or emptied: the callback reads which, when it cares).
  void set_on_changed(std::function<void(const std::string&)> callback) {
    on_changed_ = std::move(callback);
  }
  /// At exit, after everything was killed: removes every cgroup and the
  /// base, waiting at most `timeout` for them to empty; logs what stayed.
  void remove_all(std::chrono::milliseconds timeout);

  /// The directory of `process`'s cgroup.
  std::filesystem::path dir_of(const std::string& process) const;

 private:
  void on_inotify();
  /// Watches the cgroup.events of `process` (once); false when it is gone.
  bool watch(const std::string& process);
  void unwatch(const std::string& process);
  /// The directory name of `process`'s cgroup (below the base).
  std::string name_of(const std::string& process) const;

  loop::EventLoop& loop_;
  std::filesystem::path base_;
  sys::UniqueFd inotify_;
  sys::UniqueFd base_fd_;                            ///< O_PATH
  std::unordered_map<std::string, int> watch_of_;    ///< process -> wd
  std::unordered_map<int, std::string> process_of_;  ///< wd -> process
  /// Released while not empty: removed when they empty.
  std::unordered_map<std::string, bool> release_pending_;
  /// Processes whose cgroup is not at its usual name (`proc-NAME`): after
  /// a rename, the old process keeps the directory and the new one gets
  /// another.
  std::unordered_map<std::string, std::string> dir_names_;
  unsigned next_dir_suffix_ = 1;
  std::function<void(const std::string&)> on_changed_;
};

}  // namespace minisup::daemon
