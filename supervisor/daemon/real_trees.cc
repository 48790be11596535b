// Whole process trees: see real_trees.h.
#include "supervisor/daemon/real_trees.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "supervisor/sys/cgroup.h"
#include "supervisor/sys/proc_tree.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::daemon {

namespace {

constexpr auto kPollStep = std::chrono::milliseconds(5);

/// A small /proc file's text; empty when it cannot be read.
std::string read_small(const std::string& path) { return sys::read_text(path).value_or(""); }

/// The children of `pid`, of all its threads (/proc/PID/task/TID/children).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return children;
  while (const struct dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    for (pid_t child : sys::parse_pids(read_small(tasks + "/" + entry->d_name + "/children")))
      children.push_back(child);
  }
  ::closedir(dir);
  return children;
}

/// The MINISUP_PROCESS_NAME in the environment of `pid`, if any.
std::optional<std::string> process_name_of(pid_t pid) {
  const std::string environ = read_small("/proc/" + std::to_string(pid) + "/environ");
  constexpr std::string_view kKey = "MINISUP_PROCESS_NAME=";
  std::size_t at = 0;
  while (at < environ.size()) {
    std::size_t end = environ.find('\0', at);
    if (end == std::string::npos) end = environ.size();
    const std::string_view var = std::string_view(environ).substr(at, end - at);
    if (var.starts_with(kKey)) return std::string(var.substr(kKey.size()));
    at = end + 1;
  }
  return std::nullopt;
}

bool has_process_name(pid_t pid, const std::string& process) {
  const auto name = process_name_of(pid);
  return name && *name == process;
}

bool wait_until_empty(const std::filesystem::path& dir, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (sys::cgroup_populated(dir)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollStep);
  }
  return true;
}

}  // namespace

std::vector<std::string> stray_owners(const std::vector<pid_t>& known) {
  const std::unordered_set<pid_t> skip(known.begin(), known.end());
  std::vector<std::string> owners;
  for (pid_t child : children_of(::getpid())) {
    if (skip.count(child) != 0) continue;
    if (auto name = process_name_of(child)) owners.push_back(std::move(*name));
  }
  return owners;
}

std::vector<pid_t> find_strays(const std::string& process, const std::vector<pid_t>& known) {
  const std::unordered_set<pid_t> skip(known.begin(), known.end());
  std::vector<pid_t> strays;
  for (pid_t child : children_of(::getpid())) {
    if (skip.count(child) == 0 && has_process_name(child, process)) strays.push_back(child);
  }
  // Their descendants, whatever their environment.
  for (std::size_t i = 0; i < strays.size() && strays.size() < 100000; ++i) {
    for (pid_t grandchild : children_of(strays[i])) strays.push_back(grandchild);
  }
  return strays;
}

TreeChoice choose_trees(config::ProcessTree wanted, const std::filesystem::path& socket,
                        bool create) {
  TreeChoice choice;
  if (wanted == config::ProcessTree::Group) {
    choice.description = "process trees: process groups (process_tree = \"group\")";
    return choice;
  }
  std::string why;
  auto home = sys::find_cgroup_home();
  if (auto* error = std::get_if<std::string>(&home)) {
    why = *error;
  } else {
    const auto& found = std::get<sys::CgroupHome>(home);
    const std::filesystem::path base = found.own / sys::cgroup_base_name(socket);
    if (create) {
      if (auto error = sys::prepare_cgroup(base)) why = *error;
    } else {
      // --check: try without leaving anything behind (a running minisupd
      // may own `base`).
      const auto scratch = found.own / ("minisup-check-" + std::to_string(::getpid()));
      if (auto error = sys::prepare_cgroup(scratch)) why = *error;
      ::rmdir(scratch.c_str());
    }
    if (why.empty()) {
      choice.mode = TreeMode::Cgroup;
      choice.base = base;
      choice.description = "process trees: cgroup v2 (" + base.string() + ")";
      return choice;
    }
  }
  if (wanted == config::ProcessTree::Cgroup)
    throw std::runtime_error("process_tree = \"cgroup\", but no writable cgroup v2: " + why);
  choice.description = "process trees: process groups only (no writable cgroup v2: " + why + ")";
  return choice;
}

int clean_stale_cgroups(const std::filesystem::path& base, std::chrono::milliseconds timeout) {
  int killed = 0;
  for (const std::string& name : sys::child_cgroups(base)) {
    const std::filesystem::path dir = base / name;
    const std::vector<TreeMember> members = sys::tree_members(sys::cgroup_members(dir));
    if (!members.empty()) {
      sys::cgroup_kill(dir);
      killed += static_cast<int>(members.size());
      spdlog::warn(
          "stale cgroup {} left by an earlier minisupd on this socket: SIGKILL to {} "
          "process{}: {}",
          dir.string(), members.size(), members.size() == 1 ? "" : "es", describe_members(members));
      if (!wait_until_empty(dir, timeout)) {
        spdlog::error("stale cgroup {}: still not empty {} ms after SIGKILL: {}", dir.string(),
                      timeout.count(),
                      describe_members(sys::tree_members(sys::cgroup_members(dir))));
        continue;
      }
    }
    if (!sys::remove_cgroup(dir))
      spdlog::warn("stale cgroup {}: rmdir: {}", dir.string(), sys::error_text(errno));
  }
  return killed;
}

CgroupTrees::CgroupTrees(loop::EventLoop& loop, std::filesystem::path base)
    : loop_(loop), base_(std::move(base)) {
  inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) throw sys::SysError("inotify_init1", "", errno);
  base_fd_.reset(::open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!base_fd_) throw sys::SysError("open", base_.string(), errno);
  loop_.add_fd(inotify_.get(), EPOLLIN, [this](std::uint32_t) { on_inotify(); });
}

CgroupTrees::~CgroupTrees() {
  if (inotify_) loop_.remove_fd(inotify_.get());
}

namespace {

std::string usual_dir_name(const std::string& process) {
  std::string name = "proc-" + process;
  for (char& c : name) {
    if (c == '/' || c == ' ') c = '_';
  }
  return name;
}

}  // namespace

std::string CgroupTrees::name_of(const std::string& process) const {
  auto found = dir_names_.find(process);
  return found != dir_names_.end() ? found->second : usual_dir_name(process);
}

std::filesystem::path CgroupTrees::dir_of(const std::string& process) const {
  return base_ / name_of(process);
}

void CgroupTrees::rename(const std::string& from, const std::string& to) {
  dir_names_[to] = name_of(from);
  dir_names_.erase(from);
  if (auto watch = watch_of_.find(from); watch != watch_of_.end()) {
    const int wd = watch->second;
    watch_of_.erase(watch);
    watch_of_[to] = wd;
    process_of_[wd] = to;
  }
  if (release_pending_.erase(from) != 0) release_pending_[to] = true;
}

std::variant<sys::UniqueFd, std::string> CgroupTrees::open_for_spawn(const std::string& process) {
  if (!dir_names_.empty() && dir_names_.count(process) == 0) {
    // Its usual directory may be an old process's (rename()): another one.
    const std::string usual = usual_dir_name(process);
    auto taken = [&](const std::string& name) {
      for (const auto& [other, dir] : dir_names_) {
        if (dir == name) return true;
      }
      return false;
    };
    if (taken(usual)) {
      std::string name;
      do {
        name = usual + "~" + std::to_string(next_dir_suffix_++);
      } while (taken(name));
      dir_names_[process] = name;
    }
  }
  // Relative to the base's descriptor: no walk of the whole path per spawn.
  // No inotify watch yet: a running process's cgroup events matter to
  // nobody; alive() and release() add the watch once they do.
  const std::string name = name_of(process);
  if (::mkdirat(base_fd_.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
    return "mkdir " + (base_ / name).string() + ": " + sys::error_text(errno);
  release_pending_.erase(process);
  // O_PATH is all CLONE_INTO_CGROUP needs, and opens no kernfs file state.
  sys::UniqueFd fd(::openat(base_fd_.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return "open " + (base_ / name).string() + ": " + sys::error_text(errno);
  return fd;
}

bool CgroupTrees::watch(const std::string& process) {
  if (watch_of_.count(process) != 0) return true;
  const std::filesystem::path events = dir_of(process) / "cgroup.events";
  const int wd = ::inotify_add_watch(inotify_.get(), events.c_str(), IN_MODIFY);
  if (wd < 0) {
    if (errno != ENOENT)
      spdlog::warn("inotify_add_watch {}: {}", events.string(), sys::error_text(errno));
    return false;
  }
  watch_of_[process] = wd;
  process_of_[wd] = process;
  return true;
}

bool CgroupTrees::signal(const std::string& process, int signal) {
  const std::filesystem::path dir = dir_of(process);
  if (signal == SIGKILL) return sys::cgroup_populated(dir) && sys::cgroup_kill(dir);
  bool delivered = false;
  for (pid_t pid : sys::cgroup_members(dir)) delivered |= ::kill(pid, signal) == 0;
  return delivered;
}

bool CgroupTrees::alive(const std::string& process) {
  // Watched before it is read: an emptying after the read is reported.
  if (!watch(process)) return false;
  return sys::cgroup_populated(dir_of(process));
}

std::vector<pid_t> CgroupTrees::members(const std::string& process) const {
  return sys::cgroup_members(dir_of(process));
}

void CgroupTrees::release(const std::string& process) {
  const std::filesystem::path dir = dir_of(process);
  if (::access(dir.c_str(), F_OK) != 0) {
    unwatch(process);
    release_pending_.erase(process);
    dir_names_.erase(process);
    return;
  }
  watch(process);  // before the read: its emptying is then reported
  if (sys::cgroup_populated(dir) || ::rmdir(dir.c_str()) != 0) {
    release_pending_[process] = true;  // removed when it empties
    return;
  }
  release_pending_.erase(process);
  unwatch(process);
  dir_names_.erase(process);
}

void CgroupTrees::unwatch(const std::string& process) {
  auto it = watch_of_.find(process);
  if (it == watch_of_.end()) return;
  // The directory may be gone already (the kernel dropped the watch then).
  ::inotify_rm_watch(inotify_.get(), it->second);
  process_of_.erase(it->second);
  watch_of_.erase(it);
}

void CgroupTrees::on_inotify() {
  std::vector<std::string> changed;
  alignas(struct inotify_event) char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + event->len;
      auto found = process_of_.find(event->wd);
      if (found == process_of_.end()) continue;
      if (event->mask & IN_IGNORED) {
        watch_of_.erase(found->second);
        process_of_.erase(found);
        continue;
      }
      changed.push_back(found->second);
    }
  }
  for (const std::string& process : changed) {
    if (release_pending_.count(process) != 0) release(process);
    if (on_changed_) on_changed_(process);
  }
}

void CgroupTrees::remove_all(std::chrono::milliseconds timeout) {
  if (!wait_until_empty(base_, timeout)) {
    spdlog::error("cgroup {}: still not empty {} ms after SIGKILL: {}", base_.string(),
                  timeout.count(), describe_members(sys::tree_members(sys::cgroup_members(base_))));
  }
  for (auto& [process, wd] : watch_of_) ::inotify_rm_watch(inotify_.get(), wd);
  watch_of_.clear();
  process_of_.clear();
  release_pending_.clear();
  if (!sys::remove_cgroup(base_))
    spdlog::warn("cgroup {}: rmdir: {}", base_.string(), sys::error_text(errno));
}

}  // namespace minisup::daemon
