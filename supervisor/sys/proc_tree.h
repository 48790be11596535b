// Process trees as /proc shows them: who belongs to a program's tree, and
// what the tree uses (process count, resident memory, CPU time).
//
// Model (DESIGN.md, "Whole process trees"): a program is every process it
// starts, not only its first one. With cgroups the member list is the
// cgroup's (cgroup.procs) and read_tree_usage() sums it. Without cgroups
// the tree of a process is its process group (every supervised child leads
// one, see spawn.h) plus every descendant of a member: a grandchild that
// called setsid() left the group but still has a parent in it, so it
// counts. Descendants re-parented to minisupd (their parent died) are not
// found this way.
//
// Everything here is read on request (`status --tree`), never on a timer.
// /proc is a moving target: a process may exit between the directory
// listing and the read of its stat file, and one forked meanwhile may be
// missed. A process that is gone, or a zombie (exited, not yet reaped: no
// memory, no longer running), is skipped, never an error. No function here
// throws anything but std::bad_alloc: an unreadable /proc gives empty
// answers.
//
// /proc/PID/stat is `PID (COMM) STATE PPID PGRP ...`; COMM is the
// program's short name, which may hold spaces and ')' ("(sd-pam)", "a) b"),
// so the fields are found after the *last* ')' (proc(5)).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minisup::sys {

/// What a set of processes uses, summed.
struct TreeUsage {
  int processes = 0;            ///< live (non-zombie) processes counted
  std::uint64_t rss_bytes = 0;  ///< resident set size (rss pages * page size)
  /// utime + stime + cutime + cstime, in seconds: the CPU time of the
  /// processes and of their children that they have waited for.
  double cpu_seconds = 0;
  bool operator==(const TreeUsage&) const = default;
};

/// One member of a tree, as the log names it: `4250 (sleep)`.
struct TreeMember {
  pid_t pid = 0;
  std::string command;  ///< `comm`: the short command name (at most 15 bytes)
  bool operator==(const TreeMember&) const = default;
};

/// One process's line of /proc/PID/stat, the fields used here. CPU times
/// are in clock ticks (sysconf(_SC_CLK_TCK)), rss in pages.
struct ProcStat {
  pid_t pid = 0;
  std::string command;  ///< comm, without its parentheses
  char state = '?';     ///< R, S, D, Z, T, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  std::int64_t cutime = 0;
  std::int64_t cstime = 0;
  std::int64_t rss_pages = 0;
  bool operator==(const ProcStat&) const = default;
};

/// Parses the text of a /proc/PID/stat file; nullopt when it is not one
/// (truncated, no parentheses, a field that is not a number).
std::optional<ProcStat> parse_proc_stat(std::string_view text);

/// Reads /proc/PID/stat; nullopt when the process is gone (or /proc is
/// unreadable).
std::optional<ProcStat> read_proc_stat(pid_t pid);

/// Reads /proc/PID/stat of each of `pids` and sums them. A pid that is
/// gone or a zombie is skipped; a pid listed twice counts once.
TreeUsage read_tree_usage(const std::vector<pid_t>& pids);

/// The live members of process group `pgid`, in pid order (one scan of
/// /proc).
std::vector<pid_t> process_group_members(pid_t pgid);

/// Every live descendant of `roots` (children, their children, ...), not
/// the roots themselves, in pid order (one scan of /proc).
std::vector<pid_t> descendants_of(const std::vector<pid_t>& roots);

/// The tree of a process in process-group mode: the members of process
/// group `pgid` and all their descendants, in pid order (one scan of /proc).
std::vector<pid_t> group_tree(pid_t pgid);

/// Each of `pids` that is still alive, with its command, in the order
/// given: for the log line that names what a stop had to kill.
std::vector<TreeMember> tree_members(const std::vector<pid_t>& pids);

/// minisupd's own figures for /metrics.
/// Parses the text of a /proc/PID/statm file: its second field, the
/// resident set size in pages; nullopt when it is not one.
std::optional<std::uint64_t> parse_statm_resident_pages(std::string_view text);
/// The calling process's resident memory in bytes (/proc/self/statm);
/// nullopt when it cannot be read.
std::optional<std::uint64_t> read_own_rss_bytes();
/// How many file descriptors the calling process has open (the entries of
/// /proc/self/fd, not counting the one this listing itself uses); nullopt
/// when /proc cannot be read.
std::optional<int> count_own_fds();

/// Every live process of /proc read once, with indexes by process group
/// and by parent: the snapshot behind the functions above, and what a
/// caller asking for many trees at once (a status of every program) reads
/// /proc once for.
class ProcessTable {
 public:
  /// Reads /proc/N/stat of every process listed in /proc. Empty when /proc
  /// cannot be read.
  static ProcessTable scan();
  /// A table of the given processes (tests; zombies are dropped as scan()
  /// drops them).
  static ProcessTable of(std::vector<ProcStat> processes);

  /// The members of process group `pgid`, in pid order.
  std::vector<pid_t> group_members(pid_t pgid) const;
  /// Every descendant of `roots` (not the roots themselves), in pid order.
  std::vector<pid_t> descendants_of(const std::vector<pid_t>& roots) const;
  /// group_members(pgid) and all their descendants, in pid order.
  std::vector<pid_t> group_tree(pid_t pgid) const;
  /// The sum over those of `pids` that are in the table (each once).
  TreeUsage usage_of(const std::vector<pid_t>& pids) const;
  /// The process `pid`, or nullptr.
  const ProcStat* find(pid_t pid) const;
  /// Every process, in pid order.
  const std::vector<ProcStat>& processes() const { return processes_; }

 private:
  std::vector<ProcStat> processes_;                 ///< by pid
  std::vector<std::pair<pid_t, pid_t>> by_group_;   ///< (pgrp, pid), sorted
  std::vector<std::pair<pid_t, pid_t>> by_parent_;  ///< (ppid, pid), sorted
};

}  // namespace minisup::sys
