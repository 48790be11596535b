// Process trees from /proc: see proc_tree.h.
#include "supervisor/sys/proc_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_set>

namespace minisup::sys {

namespace {

/// Room for one stat line: ~300 bytes with a 15-byte comm; kernel threads
/// may have a comm of up to 64 bytes.
constexpr std::size_t kStatBufferBytes = 2048;

/// Fields after "(comm) ", counted from 0: proc(5) numbers them from 3.
constexpr int kStateField = 0;
constexpr int kPpidField = 1;
constexpr int kPgrpField = 2;
constexpr int kUtimeField = 11;
constexpr int kStimeField = 12;
constexpr int kCutimeField = 13;
constexpr int kCstimeField = 14;
constexpr int kRssField = 21;

/// Reads the file `name` relative to `dir_fd` (AT_FDCWD: `name` is a path)
/// into `buffer`; the bytes read, or nullopt when it cannot be opened or
/// read (the process is gone). A file larger than the buffer is cut.
std::optional<std::string_view> read_small_file(int dir_fd, const char* name, char* buffer,
                                                std::size_t size) {
  const int fd = ::openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::size_t used = 0;
  bool ok = true;
  while (used < size) {
    const ssize_t n = ::read(fd, buffer + used, size - used);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;  // ESRCH: it exited between the open and the read
      break;
    }
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return std::string_view(buffer, used);
}

template <typename Int>
bool parse_number(std::string_view text, Int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// A process that has exited (a zombie waiting to be reaped, or dead).
bool has_exited(const ProcStat& stat) { return stat.state == 'Z' || stat.state == 'X'; }

/// Clock ticks per second and bytes per page, read once.
long clock_ticks() {
  static const long ticks = [] {
    const long value = ::sysconf(_SC_CLK_TCK);
    return value > 0 ? value : 100;
  }();
  return ticks;
}
std::uint64_t page_bytes() {
  static const std::uint64_t bytes = [] {
    const long value = ::sysconf(_SC_PAGESIZE);
    return static_cast<std::uint64_t>(value > 0 ? value : 4096);
  }();
  return bytes;
}

/// Adds one process to `usage`.
void add(TreeUsage& usage, const ProcStat& stat) {
  ++usage.processes;
  if (stat.rss_pages > 0)
    usage.rss_bytes += static_cast<std::uint64_t>(stat.rss_pages) * page_bytes();
  const std::uint64_t ticks = stat.utime + stat.stime +
                              static_cast<std::uint64_t>(std::max<std::int64_t>(0, stat.cutime)) +
                              static_cast<std::uint64_t>(std::max<std::int64_t>(0, stat.cstime));
  usage.cpu_seconds += static_cast<double>(ticks) / static_cast<double>(clock_ticks());
}

/// `pids` sorted, each once.
std::vector<pid_t> sorted_unique(std::vector<pid_t> pids) {
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

/// The pids that `index` (sorted (key, pid) pairs) lists under `key`.
template <typename Fn>
void for_each_under(const std::vector<std::pair<pid_t, pid_t>>& index, pid_t key, Fn fn) {
  auto it = std::lower_bound(index.begin(), index.end(), std::pair<pid_t, pid_t>{key, 0});
  for (; it != index.end() && it->first == key; ++it) fn(it->second);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  ProcStat stat;
  std::string_view pid_text = text.substr(0, open);
  while (!pid_text.empty() && pid_text.back() == ' ') pid_text.remove_suffix(1);
  if (!parse_number(pid_text, stat.pid)) return std::nullopt;
  stat.command = std::string(text.substr(open + 1, close - open - 1));

  std::string_view rest = text.substr(close + 1);
  int field = 0;
  while (field <= kRssField) {
    const std::size_t begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) return std::nullopt;  // too few fields
    rest.remove_prefix(begin);
    const std::size_t length = std::min(rest.find_first_of(" \n"), rest.size());
    const std::string_view token = rest.substr(0, length);
    rest.remove_prefix(length);
    bool ok = true;
    switch (field) {
      case kStateField:
        ok = token.size() == 1;
        stat.state = token.front();
        break;
      case kPpidField:
        ok = parse_number(token, stat.ppid);
        break;
      case kPgrpField:
        ok = parse_number(token, stat.pgrp);
        break;
      case kUtimeField:
        ok = parse_number(token, stat.utime);
        break;
      case kStimeField:
        ok = parse_number(token, stat.stime);
        break;
      case kCutimeField:
        ok = parse_number(token, stat.cutime);
        break;
      case kCstimeField:
        ok = parse_number(token, stat.cstime);
        break;
      case kRssField:
        ok = parse_number(token, stat.rss_pages);
        break;
      default:
        break;
    }
    if (!ok) return std::nullopt;
    ++field;
  }
  return stat;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  char buffer[kStatBufferBytes];
  const std::optional<std::string_view> text =
      read_small_file(AT_FDCWD, path, buffer, sizeof buffer);
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

TreeUsage read_tree_usage(const std::vector<pid_t>& pids) {
  TreeUsage usage;
  for (const pid_t pid : sorted_unique(pids)) {
    const std::optional<ProcStat> stat = read_proc_stat(pid);
    if (stat && !has_exited(*stat)) add(usage, *stat);
  }
  return usage;
}

std::vector<pid_t> process_group_members(pid_t pgid) {
  return ProcessTable::scan().group_members(pgid);
}

std::vector<pid_t> descendants_of(const std::vector<pid_t>& roots) {
  return ProcessTable::scan().descendants_of(roots);
}

std::vector<pid_t> group_tree(pid_t pgid) { return ProcessTable::scan().group_tree(pgid); }

std::vector<TreeMember> tree_members(const std::vector<pid_t>& pids) {
  std::vector<TreeMember> members;
  members.reserve(pids.size());
  for (const pid_t pid : pids) {
    std::optional<ProcStat> stat = read_proc_stat(pid);
    if (stat && !has_exited(*stat)) members.push_back({pid, std::move(stat->command)});
  }
  return members;
}

// ---------------------------------------------------------------------------
// ProcessTable
// ---------------------------------------------------------------------------

std::optional<std::uint64_t> parse_statm_resident_pages(std::string_view text) {
  // "size resident shared text lib data dt\n" (proc(5)), in pages.
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const std::size_t first = text.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(first + 1);
  rest = rest.substr(0, rest.find(' '));
  std::uint64_t pages = 0;
  std::uint64_t size = 0;
  if (!parse_number(text.substr(0, first), size) || !parse_number(rest, pages)) return std::nullopt;
  return pages;
}

std::optional<std::uint64_t> read_own_rss_bytes() {
  char buffer[256];
  const auto text = read_small_file(AT_FDCWD, "/proc/self/statm", buffer, sizeof buffer);
  if (!text) return std::nullopt;
  const auto pages = parse_statm_resident_pages(*text);
  if (!pages) return std::nullopt;
  return *pages * page_bytes();
}

std::optional<int> count_own_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  // The listing's own descriptor shows up in it: not one of ours to count.
  const int own = ::dirfd(dir);
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    int fd = -1;
    if (!parse_number(std::string_view(entry->d_name), fd)) continue;  // "." and ".."
    if (fd != own) ++count;
  }
  ::closedir(dir);
  return count;
}

ProcessTable ProcessTable::scan() {
  std::vector<ProcStat> processes;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return of({});
  const int proc_fd = ::dirfd(proc);
  char path[32];
  char buffer[kStatBufferBytes];
  while (const dirent* entry = ::readdir(proc)) {
    const std::string_view name = entry->d_name;
    pid_t pid = 0;
    if (!parse_number(name, pid) || pid <= 0) continue;  // not a process
    std::snprintf(path, sizeof path, "%d/stat", static_cast<int>(pid));
    const std::optional<std::string_view> text =
        read_small_file(proc_fd, path, buffer, sizeof buffer);
    if (!text) continue;  // exited since the listing
    if (std::optional<ProcStat> stat = parse_proc_stat(*text))
      processes.push_back(std::move(*stat));
  }
  ::closedir(proc);
  return of(std::move(processes));
}

ProcessTable ProcessTable::of(std::vector<ProcStat> processes) {
  ProcessTable table;
  std::erase_if(processes, [](const ProcStat& stat) { return has_exited(stat); });
  std::sort(processes.begin(), processes.end(),
            [](const ProcStat& a, const ProcStat& b) { return a.pid < b.pid; });
  processes.erase(std::unique(processes.begin(), processes.end(),
                              [](const ProcStat& a, const ProcStat& b) { return a.pid == b.pid; }),
                  processes.end());
  table.by_group_.reserve(processes.size());
  table.by_parent_.reserve(processes.size());
  for (const ProcStat& stat : processes) {
    table.by_group_.emplace_back(stat.pgrp, stat.pid);
    table.by_parent_.emplace_back(stat.ppid, stat.pid);
  }
  std::sort(table.by_group_.begin(), table.by_group_.end());
  std::sort(table.by_parent_.begin(), table.by_parent_.end());
  table.processes_ = std::move(processes);
  return table;
}

std::vector<pid_t> ProcessTable::group_members(pid_t pgid) const {
  std::vector<pid_t> members;
  if (pgid <= 0) return members;  // 0: kernel threads, not a group of ours
  for_each_under(by_group_, pgid, [&](pid_t pid) { members.push_back(pid); });
  return members;  // by_group_ is sorted by (pgrp, pid): in pid order
}

std::vector<pid_t> ProcessTable::descendants_of(const std::vector<pid_t>& roots) const {
  // Breadth first over the parent index. `seen` guards against a cycle,
  // which a snapshot taken while pids are reused could show.
  std::unordered_set<pid_t> seen(roots.begin(), roots.end());
  std::vector<pid_t> found;
  std::vector<pid_t> frontier(roots.begin(), roots.end());
  while (!frontier.empty()) {
    std::vector<pid_t> next;
    for (const pid_t parent : frontier) {
      if (parent <= 0) continue;  // 0: the parent of init and kthreadd
      for_each_under(by_parent_, parent, [&](pid_t child) {
        if (seen.insert(child).second) {
          found.push_back(child);
          next.push_back(child);
        }
      });
    }
    frontier = std::move(next);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<pid_t> ProcessTable::group_tree(pid_t pgid) const {
  std::vector<pid_t> tree = group_members(pgid);
  std::vector<pid_t> below = descendants_of(tree);
  tree.insert(tree.end(), below.begin(), below.end());
  return sorted_unique(std::move(tree));
}

TreeUsage ProcessTable::usage_of(const std::vector<pid_t>& pids) const {
  TreeUsage usage;
  for (const pid_t pid : sorted_unique(pids)) {
    if (const ProcStat* stat = find(pid)) add(usage, *stat);
  }
  return usage;
}

const ProcStat* ProcessTable::find(pid_t pid) const {
  auto it = std::lower_bound(processes_.begin(), processes_.end(), pid,
                             [](const ProcStat& stat, pid_t key) { return stat.pid < key; });
  return it != processes_.end() && it->pid == pid ? &*it : nullptr;
}

}  // namespace minisup::sys
