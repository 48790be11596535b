// The real System: see real_system.h.
#include "supervisor/daemon/real_system.h"

#include <spdlog/spdlog.h>

#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"

namespace minisup::daemon {

RealSystem::RealSystem(loop::EventLoop& loop, std::shared_ptr<logging::ConsoleWriter> console)
    : loop_(loop), console_(std::move(console)) {}

RealSystem::~RealSystem() { drop_process_table(); }

std::unique_ptr<logging::ProcessOutput> RealSystem::make_output(
    const config::ProgramConfig& program, const config::ProcessConfig& process) {
  return std::make_unique<logging::ProcessOutput>(program, process, console_);
}

void RealSystem::outputs_configured(const std::vector<config::ProgramConfig>& programs) {
  console_->set_name_width(logging::console_name_width(programs));
}

std::variant<int, std::string> RealSystem::spawn(const SpawnPlan& plan,
                                                 logging::ProcessOutput& output) {
  drop_process_table();  // the snapshot would miss the new child
  sys::SpawnRequest request;
  request.argv = plan.argv;
  request.envp = plan.envp;
  request.directory = plan.directory;
  request.umask = plan.umask;
  request.death_signal = plan.death_signal;
  request.rlimits = plan.rlimits;
  if (plan.user) {
    auto user = sys::resolve_user(*plan.user);
    if (auto* error = std::get_if<std::string>(&user)) return *error;
    request.user = std::get<sys::UserIds>(std::move(user));
  }
  logging::OutputPipes pipes;
  try {
    pipes = output.create_pipes();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
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

bool RealSystem::signal_group(int pgid, int signal) { return sys::signal_group(pgid, signal); }

bool RealSystem::group_alive(int pgid) { return sys::group_alive(pgid); }

std::vector<sys::Reaped> RealSystem::reap() {
  std::vector<sys::Reaped> reaped = sys::reap_all();
  for (const sys::Reaped& child : reaped) pidfds_.erase(child.pid);
  return reaped;
}

std::optional<sys::TreeUsage> RealSystem::tree_usage(const std::string& /*process*/, int pgid) {
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
