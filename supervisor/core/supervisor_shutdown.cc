// Supervisor, the ordered shutdown (see supervisor.h, "Ordered shutdown",
// shutdown_timeout and shutdown_on): beginning it, stopping one priority level
// (or, with dependencies, one step of programs) at a time, collapsing the
// remaining levels when the deadline is short, and the end of a shutdown_on
// program that begins the shutdown by itself.
#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include "supervisor/core/supervisor.h"
#include "supervisor/core/supervisor_internal.h"

namespace minisup::core {

using detail::ended_text;

namespace {

std::string_view to_string(config::ShutdownOn shutdown_on) {
  switch (shutdown_on) {
    case config::ShutdownOn::None:
      return "none";
    case config::ShutdownOn::Exit:
      return "exit";
    case config::ShutdownOn::Failure:
      return "failure";
    case config::ShutdownOn::Fatal:
      return "fatal";
  }
  return "none";
}

/// The status minisupd exits with for a run that ended with `exit` (see
/// Supervisor::exit_status).
int exit_status_of(const std::optional<ExitRecord>& exit) {
  if (!exit) return 1;
  switch (exit->reason) {
    case ExitReason::DependencyFailed:
      return 125;
    case ExitReason::SpawnFailed: {
      const std::string& m = exit->message;
      const std::string_view missing = ": No such file or directory";
      const bool not_found = m.rfind("exec ", 0) == 0 && m.size() >= missing.size() &&
                             m.compare(m.size() - missing.size(), missing.size(), missing) == 0;
      return not_found ? 127 : 126;
    }
    case ExitReason::Exited:
    case ExitReason::Killed:
    case ExitReason::NeededSigkill:
      if (exit->exit_code) return *exit->exit_code;
      if (exit->exit_signal) return 128 + *exit->exit_signal;
      return 1;
    case ExitReason::Unhealthy:
    case ExitReason::NotReady:
      return 1;
  }
  return 1;
}

}  // namespace

// ---- Inputs and queries ----

std::vector<ProcessAction> Supervisor::begin_shutdown(TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) return out;
  start_shutdown(now, out);
  advance(now, out);
  return out;
}

bool Supervisor::shutdown_complete() const { return shutting_down_ && not_idle_ == 0; }

// ---- Shutdown ----

void Supervisor::advance_shutdown(TimePoint now, std::vector<ProcessAction>& out) {
  // BACKOFF counts as stopping at once, whatever its level.
  for (const std::string& name : std::exchange(backoff_in_shutdown_, {})) {
    ManagedProcess* process = find_mutable(name);
    if (process != nullptr && process->machine_.state() == ProcessState::Backoff)
      feed(*process, shutdown_stop(), now, out);
  }
  if (shutdown_collapsed_) return;  // every stop went out
  if (shutdown_by_dependencies_) {
    advance_shutdown_by_dependencies(now, out);
    return;
  }
  // The current level: the highest priority still STARTING/RUNNING/STOPPING.
  while (!busy_at_level_.empty() && busy_at_level_.rbegin()->second == 0)
    busy_at_level_.erase(std::prev(busy_at_level_.end()));
  if (busy_at_level_.empty()) return;
  const int level = busy_at_level_.rbegin()->first;
  if (stopped_level_ == level) return;  // its stops went out; waiting for the exits
  if (shutdown_deadline_) {
    config::Duration worst_case{0};
    for (const auto& [busy_level, count] : busy_at_level_) {
      if (count == 0) continue;
      if (auto found = level_stopwait_.find(busy_level); found != level_stopwait_.end())
        worst_case += found->second;
    }
    if (shutdown_time_short(worst_case, now)) {
      collapse_shutdown(now, out);
      return;
    }
  }
  // Stop everything that still runs there, together. (A StopRequest never
  // makes a process idle at once, and nothing starts during a shutdown, so
  // this level stays current until the runtime reports the exits.)
  stopped_level_ = level;
  for (const ManagedProcess* view : order_) {
    if (view->priority() != level) continue;
    const ProcessState state = view->machine().state();
    if (state == ProcessState::Starting || state == ProcessState::Running) {
      // order_ holds const views of the processes_ we own: casting the const
      // away is cheaper than a lookup by name.
      feed(const_cast<ManagedProcess&>(*view), shutdown_stop(), now, out);
    }
  }
}

void Supervisor::start_shutdown(TimePoint now, std::vector<ProcessAction>& out) {
  shutting_down_ = true;
  if (shutdown_timeout_) shutdown_deadline_ = now + *shutdown_timeout_;
  pending_stops_.clear();  // the shutdown stops everything, in its own order
  start_after_reload_.clear();
  for (auto& [name, process] : processes_) {
    process->machine_.inhibit_restarts();
    const ProcessState state = process->machine_.state();
    if (state == ProcessState::Backoff) backoff_in_shutdown_.push_back(name);
    if (!is_idle(state)) {
      config::Duration& worst = level_stopwait_[process->priority()];
      worst = std::max(worst, process->machine_.policy().stopwaitsecs);
    }
    // Already stopping: SIGKILL no later than the deadline.
    if (state == ProcessState::Stopping && shutdown_deadline_)
      feed(*process, shutdown_stop(), now, out);
  }
  if (dependents_.empty()) return;
  // With dependencies: a program may stop once its dependents are idle.
  shutdown_by_dependencies_ = true;
  for (const auto& [name, entry] : programs_) {
    if (entry.not_idle == 0) continue;
    shutdown_unstopped_.insert(name);
    ++unstopped_at_level_[entry.current->priority];
    std::size_t blockers = 0;
    for (const std::string& dependent : dependents(name)) {
      auto found = programs_.find(dependent);
      if (found != programs_.end() && found->second.not_idle > 0) ++blockers;
    }
    shutdown_blockers_[name] = blockers;
    if (blockers == 0) shutdown_eligible_[entry.current->priority].push_back(name);
  }
}

void Supervisor::advance_shutdown_by_dependencies(TimePoint now, std::vector<ProcessAction>& out) {
  if (!shutdown_step_.empty()) return;  // the current step's exits are not all in
  while (!shutdown_eligible_.empty()) {
    auto highest = std::prev(shutdown_eligible_.end());
    const int level = highest->first;
    std::vector<std::string> step;
    for (const std::string& program : highest->second) {
      if (shutdown_unstopped_.count(program) != 0) step.push_back(program);
    }
    shutdown_eligible_.erase(highest);
    if (step.empty()) continue;
    if (shutdown_deadline_) {
      config::Duration worst_case{0};
      for (const auto& [unstopped_level, count] : unstopped_at_level_) {
        if (auto found = level_stopwait_.find(unstopped_level); found != level_stopwait_.end())
          worst_case += found->second;
      }
      if (shutdown_time_short(worst_case, now)) {
        collapse_shutdown(now, out);
        return;
      }
    }
    for (const std::string& program : step) {
      shutdown_unstopped_.erase(program);
      shutdown_step_.insert(program);
    }
    if ((unstopped_at_level_[level] -= step.size()) == 0) unstopped_at_level_.erase(level);
    for (const std::string& program : step) {
      for (ManagedProcess* process : processes_of(program)) {
        // With the old process of a rolling restart, if any.
        ManagedProcess* old = find_mutable(process->name() + std::string(kOldSuffix));
        for (ManagedProcess* target : {process, old}) {
          if (target == nullptr) continue;
          const ProcessState state = target->machine_.state();
          if (state == ProcessState::Starting || state == ProcessState::Running)
            feed(*target, shutdown_stop(), now, out);
        }
      }
    }
    return;
  }
}

bool Supervisor::shutdown_time_short(config::Duration worst_case, TimePoint now) const {
  return shutdown_deadline_ && *shutdown_deadline_ - now < worst_case;
}

void Supervisor::collapse_shutdown(TimePoint now, std::vector<ProcessAction>& out) {
  shutdown_collapsed_ = true;
  for (const ManagedProcess* view : order_) {
    const ProcessState state = view->machine().state();
    if (state == ProcessState::Starting || state == ProcessState::Running) {
      feed(const_cast<ManagedProcess&>(*view), shutdown_stop(), now, out);
    }
  }
}

void Supervisor::check_shutdown_on(const ManagedProcess& process,
                                   const std::vector<Action>& actions) {
  const config::ShutdownOn mode = process.program_config().shutdown_on;
  for (const Action& action : actions) {
    const auto* changed = std::get_if<StateChanged>(&action);
    if (changed == nullptr) continue;
    std::string cause;
    if (changed->to == ProcessState::Fatal) {
      const std::string& error = process.machine().last_error();
      cause = process.name() + " is FATAL" + (error.empty() ? "" : ": " + error);
    } else if (changed->from == ProcessState::Running && changed->to == ProcessState::Exited &&
               changed->exit && mode != config::ShutdownOn::Fatal &&
               (mode == config::ShutdownOn::Exit || !changed->exit->expected)) {
      cause = process.name() + " " + ended_text(*changed->exit);
    } else {
      continue;
    }
    exit_status_ = exit_status_of(changed->exit);
    shutdown_cause_ = cause + " (shutdown_on = " + std::string(to_string(mode)) + ")";
    return;  // advance() begins the shutdown
  }
}

}  // namespace minisup::core
