// The real System: see real_system.h.
#include "supervisor/daemon/real_system.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"

namespace minisup::daemon {

RealSystem::RealSystem(loop::EventLoop& loop, std::shared_ptr<logging::ConsoleWriter> console,
                       TreeChoice trees)
    : loop_(loop), console_(std::move(console)), trees_choice_(std::move(trees)) {
  if (trees_choice_.mode == TreeMode::Cgroup)
    cgroups_ = std::make_unique<CgroupTrees>(loop_, trees_choice_.base);
}

RealSystem::~RealSystem() { drop_process_table(); }

std::unique_ptr<logging::ProcessOutput> RealSystem::make_output(
    const config::ProgramConfig& program, const config::ProcessConfig& process) {
  return std::make_unique<logging::ProcessOutput>(program, process, console_);
}

void RealSystem::outputs_configured(const std::vector<config::ProgramConfig>& programs) {
  console_->set_name_width(logging::console_name_width(programs));
}

std::optional<std::string> RealSystem::hold_sockets(
    const std::vector<config::SocketConfig>& sockets) {
  return held_sockets_.hold(sockets);
}

std::variant<int, std::string> RealSystem::spawn(const SpawnPlan& plan,
                                                 logging::ProcessOutput& output) {
  drop_process_table();  // the snapshot would miss the new child
  sys::SpawnRequest request;
  request.argv = plan.argv;
  request.envp = plan.envp;
  for (const std::string& name : plan.sockets) {
    const int fd = held_sockets_.fd(name);
    if (fd < 0) return "held socket \"" + name + "\" is not bound";
    request.listen_fds.push_back(fd);
  }
  if (!plan.own_pid_variable.empty()) {
    const std::string prefix = plan.own_pid_variable + "=";
    for (std::size_t i = 0; i < request.envp.size(); ++i) {
      if (request.envp[i].starts_with(prefix)) request.own_pid_env = static_cast<int>(i);
    }
  }
  request.directory = plan.directory;
  request.umask = plan.umask;
  request.death_signal = plan.death_signal;
  request.rlimits = plan.rlimits;
  if (plan.user) {
    auto user = sys::resolve_user(*plan.user);
    if (auto* error = std::get_if<std::string>(&user)) return *error;
    request.user = std::get<sys::UserIds>(std::move(user));
    request.envp = child_environment(plan, *request.user);
  }
  logging::OutputPipes pipes;
  try {
    pipes = output.create_pipes();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  sys::UniqueFd cgroup;
  if (cgroups_) {
    auto opened = cgroups_->open_for_spawn(plan.process);
    if (auto* error = std::get_if<std::string>(&opened)) return *error;
    cgroup = std::get<sys::UniqueFd>(std::move(opened));
    request.cgroup_fd = cgroup.get();
  }
  auto result = sys::spawn_process(request);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  auto& child = std::get<sys::SpawnedChild>(result);
  try {
    output.start_capture(loop_, std::move(pipes));
  } catch (const std::exception& e) {
    spdlog::error("{}: capture output: {}", plan.process, e.what());
  }
  const int pid = child.pid;
  pidfds_[pid] = std::move(child.pidfd);
  return pid;
}

bool RealSystem::signal_process(int pid, int signal) {
  auto found = pidfds_.find(pid);
  if (found == pidfds_.end()) return false;
  return sys::send_signal(found->second.get(), signal);
}

bool RealSystem::signal_tree(const std::string& process, int pgid, int signal) {
  if (cgroups_) return cgroups_->signal(process, signal);
  return pgid > 0 && sys::signal_group(pgid, signal);
}

bool RealSystem::tree_alive(const std::string& process, int pgid) {
  if (cgroups_) return cgroups_->alive(process);
  return pgid > 0 && sys::group_alive(pgid);
}

std::vector<TreeMember> RealSystem::tree_members(const std::string& process, int pgid) {
  if (cgroups_) return sys::tree_members(cgroups_->members(process));
  return sys::tree_members(pgid > 0 ? sys::process_group_members(pgid) : std::vector<pid_t>{});
}

std::vector<TreeMember> RealSystem::kill_strays(const std::string& process) {
  if (cgroups_) return {};
  std::vector<pid_t> known;
  known.reserve(pidfds_.size());
  for (const auto& [pid, fd] : pidfds_) known.push_back(pid);
  std::vector<TreeMember> strays = sys::tree_members(find_strays(process, known));
  for (const TreeMember& stray : strays) ::kill(stray.pid, SIGKILL);
  if (!strays.empty()) strays_scanned_at_.reset();
  return strays;
}

bool RealSystem::has_strays(const std::string& process) {
  if (cgroups_) return false;
  // One scan serves a whole stop-all: each leader's exit asks, and reading
  // minisupd's children list costs O(children). A stray re-parented within
  // the 100 ms of a scan is not seen by this stop; minisupd's exit kills it.
  // Reaping an orphan (possibly a stray) makes the next call scan again.
  const auto now = loop::EventLoop::now();
  if (!strays_scanned_at_ || now - *strays_scanned_at_ > std::chrono::milliseconds(100)) {
    std::vector<pid_t> known;
    known.reserve(pidfds_.size());
    for (const auto& [pid, fd] : pidfds_) known.push_back(pid);
    stray_owners_.clear();
    for (std::string& owner : stray_owners(known)) stray_owners_.insert(std::move(owner));
    strays_scanned_at_ = now;
  }
  return stray_owners_.count(process) != 0;
}

void RealSystem::rename_tree(const std::string& from, const std::string& to) {
  if (cgroups_) cgroups_->rename(from, to);
}

void RealSystem::release_tree(const std::string& process) {
  if (cgroups_) cgroups_->release(process);
}

void RealSystem::set_on_tree_emptied(std::function<void(const std::string&)> callback) {
  if (cgroups_) cgroups_->set_on_changed(std::move(callback));
}

void RealSystem::remove_trees(std::chrono::milliseconds timeout) {
  if (cgroups_) cgroups_->remove_all(timeout);
}

std::vector<sys::Reaped> RealSystem::reap() {
  std::vector<sys::Reaped> reaped = sys::reap_all();
  for (const sys::Reaped& child : reaped) {
    if (pidfds_.erase(child.pid) == 0) strays_scanned_at_.reset();
  }
  return reaped;
}

std::optional<sys::TreeUsage> RealSystem::tree_usage(const std::string& process, int pgid) {
  if (cgroups_) {
    // The cgroup's members, whoever their parents are (no memory
    // controller is needed: RSS and CPU come from /proc).
    const sys::TreeUsage usage = sys::read_tree_usage(cgroups_->members(process));
    if (usage.processes == 0) return std::nullopt;
    return usage;
  }
  if (pgid <= 0) return std::nullopt;
  const sys::ProcessTable& table = process_table();
  const sys::TreeUsage usage = table.usage_of(table.group_tree(pgid));
  if (usage.processes == 0) return std::nullopt;
  return usage;
}

const sys::ProcessTable& RealSystem::process_table() {
  if (!process_table_) {
    process_table_ = sys::ProcessTable::scan();
    drop_table_timer_ = loop_.add_timer(loop::EventLoop::now(), [this] {
      drop_table_timer_ = 0;
      process_table_.reset();
    });
  }
  return *process_table_;
}

void RealSystem::drop_process_table() {
  if (drop_table_timer_ != 0) loop_.cancel_timer(drop_table_timer_);
  drop_table_timer_ = 0;
  process_table_.reset();
}

}  // namespace minisup::daemon
