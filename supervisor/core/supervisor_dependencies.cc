// Supervisor, dependencies and start order (see supervisor.h, "Dependencies"):
// the dependents of each program, the per-program dependency status, starting
// a process after (and pulling in) its dependencies, holding the stops of a
// program until its dependents are idle, and what a change of status lets go.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "supervisor/core/supervisor.h"
#include "supervisor/core/supervisor_internal.h"

namespace minisup::core {

using detail::ended_text;
using detail::index_of;
using detail::kConditions;

namespace {

/// The run a record describes did run (it was not a failed spawn or a
/// dependency's failure).
bool did_run(const std::optional<ExitRecord>& exit) {
  return exit && exit->reason != ExitReason::SpawnFailed &&
         exit->reason != ExitReason::DependencyFailed;
}

}  // namespace

// ---- Dependencies ----

void Supervisor::rebuild_dependents() {
  dependents_.clear();
  for (const auto& [name, entry] : programs_) {
    for (const config::Dependency& dependency : entry.current->depends_on) {
      dependents_[dependency.program].push_back(name);  // programs_ is sorted: so is each list
    }
  }
}

void Supervisor::update_dependents(const std::string& program,
                                   const std::vector<config::Dependency>& before,
                                   const std::vector<config::Dependency>& after) {
  // Only `program`'s own entries change: a reload completing one program at
  // a time must not rebuild the whole map each time.
  for (const config::Dependency& dependency : before) {
    auto found = dependents_.find(dependency.program);
    if (found == dependents_.end()) continue;
    std::erase(found->second, program);
    if (found->second.empty()) dependents_.erase(found);
  }
  for (const config::Dependency& dependency : after) {
    std::vector<std::string>& list = dependents_[dependency.program];
    auto at = std::lower_bound(list.begin(), list.end(), program);
    if (at == list.end() || *at != program) list.insert(at, program);
  }
}

const std::vector<std::string>& Supervisor::dependents(const std::string& program) const {
  static const std::vector<std::string> kNone;
  auto found = dependents_.find(program);
  return found == dependents_.end() ? kNone : found->second;
}

Supervisor::DependencyStatuses Supervisor::dependency_statuses(
    const ManagedProcess& process) const {
  using St = DependencyStatus;
  const ProcessMachine& machine = process.machine();
  const bool job = machine.policy().job;
  switch (machine.state()) {
    case ProcessState::Starting:
      return {machine.pid() != 0 ? St::Met : St::Pending, St::Pending, St::Pending};
    case ProcessState::Running:
      return {St::Met, St::Met, St::Pending};
    case ProcessState::Backoff:
    case ProcessState::Stopping:
      return {St::Pending, St::Pending, St::Pending};
    case ProcessState::Exited: {
      // EXITED is only reached from RUNNING: it ran.
      const bool success = machine.last_exit() && machine.last_exit()->expected;
      const St done = success ? St::Met : St::Failed;
      return {job && did_run(machine.last_exit()) ? St::Met : St::Failed,
              job && success ? St::Met : St::Failed, done};
    }
    case ProcessState::Stopped:
    case ProcessState::Fatal:
      return {St::Failed, St::Failed, St::Failed};
  }
  return {St::Pending, St::Pending, St::Pending};
}

Supervisor::DependencyStatus Supervisor::program_status(
    const std::string& program, config::DependencyCondition condition) const {
  auto found = programs_.find(program);
  if (found == programs_.end()) return DependencyStatus::Failed;
  const Program& entry = found->second;
  if (entry.pending != Pending::None) return DependencyStatus::Pending;  // being replaced
  const std::size_t i = index_of(condition);
  if (entry.failed[i] > 0) return DependencyStatus::Failed;
  if (entry.met[i] == entry.current->processes.size()) return DependencyStatus::Met;
  return DependencyStatus::Pending;
}

std::string Supervisor::failure_of(const std::string& program,
                                   config::DependencyCondition condition) {
  if (programs_.count(program) == 0) return program + " was removed";
  for (const ManagedProcess* process : processes_of(program)) {
    if (dependency_statuses(*process)[index_of(condition)] != DependencyStatus::Failed) continue;
    const ProcessMachine& machine = process->machine();
    switch (machine.state()) {
      case ProcessState::Fatal:
        return process->name() + " is FATAL";
      case ProcessState::Exited:
        if (machine.last_exit()) return process->name() + " " + ended_text(*machine.last_exit());
        return process->name() + " exited";
      default:
        return process->name() + " was stopped";
    }
  }
  return program + " failed";
}

void Supervisor::start_process(ManagedProcess& process, TimePoint now,
                               std::vector<ProcessAction>& out, std::set<std::string>* visited) {
  const ProcessState state = process.machine_.state();
  if (!is_idle(state) && state != ProcessState::Backoff) return;  // already on its way
  const config::ProgramConfig& program = process.program_config();
  if (program.depends_on.empty()) {
    feed(process, StartRequest{}, now, out);
    return;
  }
  std::set<std::string> own_visited;
  if (visited == nullptr) visited = &own_visited;
  visited->insert(program.name);
  pull_in(program, now, out, *visited);
  std::string unmet;
  for (const config::Dependency& dependency : program.depends_on) {
    if (program_status(dependency.program, dependency.condition) == DependencyStatus::Met) continue;
    unmet += (unmet.empty() ? "" : ", ") + dependency.program;
  }
  if (unmet.empty()) {
    feed(process, StartRequest{}, now, out);
    return;
  }
  // Held until advance() finds the dependencies met (or failed).
  feed(process, StartRequest{unmet}, now, out);
  newly_waiting_.push_back(process.name());
}

void Supervisor::pull_in(const config::ProgramConfig& program, TimePoint now,
                         std::vector<ProcessAction>& out, std::set<std::string>& visited) {
  for (const config::Dependency& dependency : program.depends_on) {
    if (!visited.insert(dependency.program).second) continue;
    auto found = programs_.find(dependency.program);
    if (found == programs_.end()) continue;
    if (found->second.pending != Pending::None) {
      // Being replaced or removed: started once replaced.
      start_after_reload_.insert(dependency.program);
      continue;
    }
    pending_stops_.erase(dependency.program);  // a start wins over a held stop
    const std::size_t i = index_of(dependency.condition);
    for (ManagedProcess* process : processes_of(dependency.program)) {
      // One that meets the condition is left alone (a job that completed is
      // not run again).
      if (dependency_statuses(*process)[i] == DependencyStatus::Met) continue;
      start_process(*process, now, out, &visited);
    }
  }
}

std::vector<std::string> Supervisor::dependents_closure(
    const std::vector<std::string>& programs) const {
  std::vector<std::string> closure;
  if (dependents_.empty()) return closure;
  std::set<std::string> seen(programs.begin(), programs.end());
  std::vector<std::string> queue(programs.begin(), programs.end());
  while (!queue.empty()) {
    const std::string program = std::move(queue.back());
    queue.pop_back();
    for (const std::string& dependent : dependents(program)) {
      if (!seen.insert(dependent).second) continue;
      closure.push_back(dependent);
      queue.push_back(dependent);
    }
  }
  std::sort(closure.begin(), closure.end());
  return closure;
}

void Supervisor::stop_with_dependents(const std::vector<std::string>& processes, TimePoint now,
                                      std::vector<ProcessAction>& out) {
  // Group by program, keeping the given order.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  std::map<std::string, std::size_t> group_of;
  auto add = [&](const std::string& program, const std::string& process) {
    auto [it, inserted] = group_of.emplace(program, groups.size());
    if (inserted) groups.emplace_back(program, std::vector<std::string>{});
    groups[it->second].second.push_back(process);
  };
  std::vector<std::string> programs;
  for (const std::string& name : processes) {
    const ManagedProcess* process = find(name);
    if (process == nullptr) continue;
    if (group_of.count(process->program_name()) == 0) programs.push_back(process->program_name());
    add(process->program_name(), name);
  }
  // Every process of the dependents, named or not (once).
  std::set<std::string> named(processes.begin(), processes.end());
  for (const std::string& program : dependents_closure(programs)) {
    for (const ManagedProcess* process : processes_of(program)) {
      if (named.insert(process->name()).second) add(program, process->name());
    }
  }
  for (const auto& [program, names] : groups) stop_after_dependents(program, names, now, out);
}

void Supervisor::stop_after_dependents(const std::string& program,
                                       const std::vector<std::string>& processes, TimePoint now,
                                       std::vector<ProcessAction>& out) {
  std::set<std::string> blockers;
  for (const std::string& dependent : dependents(program)) {
    auto found = programs_.find(dependent);
    if (found != programs_.end() && found->second.not_idle > 0) blockers.insert(dependent);
  }
  if (blockers.empty()) {
    for (const std::string& name : processes) {
      if (ManagedProcess* process = find_mutable(name)) feed(*process, StopRequest{}, now, out);
    }
    return;
  }
  PendingStop& held = pending_stops_[program];
  held.processes.insert(held.processes.end(), processes.begin(), processes.end());
  held.blockers.insert(blockers.begin(), blockers.end());
}

void Supervisor::note_change(const ManagedProcess& process, bool was_idle, bool is_idle_now,
                             const DependencyStatuses& before, const DependencyStatuses& after) {
  auto found = programs_.find(process.program_name());
  if (found == programs_.end()) return;
  Program& entry = found->second;
  const bool watched = dependents_.count(process.program_name()) != 0;
  DependencyStatuses program_before{};
  if (watched) {
    for (config::DependencyCondition c : kConditions)
      program_before[index_of(c)] = program_status(process.program_name(), c);
  }
  for (config::DependencyCondition c : kConditions) {
    const std::size_t i = index_of(c);
    if (before[i] == after[i]) continue;
    if (before[i] == DependencyStatus::Met) --entry.met[i];
    if (before[i] == DependencyStatus::Failed) --entry.failed[i];
    if (after[i] == DependencyStatus::Met) ++entry.met[i];
    if (after[i] == DependencyStatus::Failed) ++entry.failed[i];
  }
  if (was_idle && !is_idle_now) ++entry.not_idle;
  if (!was_idle && is_idle_now && --entry.not_idle == 0) became_idle_.push_back(entry.current);
  if (watched) {
    for (config::DependencyCondition c : kConditions) {
      if (program_before[index_of(c)] != program_status(process.program_name(), c)) {
        dependency_changed_.push_back(process.program_name());
        break;
      }
    }
  }
}

void Supervisor::evaluate_waiting(ManagedProcess& process, TimePoint now,
                                  std::vector<ProcessAction>& out) {
  if (process.machine_.state() != ProcessState::Starting || process.machine_.waiting_for().empty())
    return;
  std::string unmet;
  for (const config::Dependency& dependency : process.program_config().depends_on) {
    switch (program_status(dependency.program, dependency.condition)) {
      case DependencyStatus::Met:
        break;
      case DependencyStatus::Failed:
        feed(process, DependencyFailed{failure_of(dependency.program, dependency.condition)}, now,
             out);
        return;
      case DependencyStatus::Pending:
        unmet += (unmet.empty() ? "" : ", ") + dependency.program;
        break;
    }
  }
  if (unmet.empty()) {
    feed(process, DependenciesMet{}, now, out);
  } else if (unmet != process.machine_.waiting_for()) {
    feed(process, StartRequest{unmet}, now, out);  // now waits for fewer
  }
}

void Supervisor::advance_dependencies(TimePoint now, std::vector<ProcessAction>& out) {
  // Programs that became idle: held stops waiting for them, shutdown steps.
  for (const auto& definition : std::exchange(became_idle_, {})) {
    const std::string& program = definition->name;
    if (shutdown_by_dependencies_) {
      if (shutdown_step_.erase(program) == 0 && shutdown_unstopped_.erase(program) != 0) {
        // Idle before its step: one program fewer to stop at its level.
        if (--unstopped_at_level_[definition->priority] == 0)
          unstopped_at_level_.erase(definition->priority);
      }
    }
    for (const config::Dependency& dependency : definition->depends_on) {
      if (shutdown_by_dependencies_) {
        auto blockers = shutdown_blockers_.find(dependency.program);
        if (blockers != shutdown_blockers_.end() && blockers->second > 0 &&
            --blockers->second == 0 && shutdown_unstopped_.count(dependency.program) != 0) {
          if (auto found = programs_.find(dependency.program); found != programs_.end())
            shutdown_eligible_[found->second.current->priority].push_back(dependency.program);
        }
      }
      auto held = pending_stops_.find(dependency.program);
      if (held == pending_stops_.end()) continue;
      held->second.blockers.erase(program);
      if (!held->second.blockers.empty()) continue;
      const std::vector<std::string> names = std::move(held->second.processes);
      pending_stops_.erase(held);
      for (const std::string& name : names) {
        if (ManagedProcess* process = find_mutable(name)) feed(*process, StopRequest{}, now, out);
      }
    }
  }

  std::vector<std::string> changed = std::exchange(dependency_changed_, {});
  std::vector<std::string> waiting = std::exchange(newly_waiting_, {});
  if (shutting_down_) {
    start_after_reload_.clear();
    return;  // nothing starts: waiting processes are stopped by the shutdown
  }
  // Dependencies a start wanted while a reload replaced them.
  for (auto it = start_after_reload_.begin(); it != start_after_reload_.end();) {
    auto found = programs_.find(*it);
    if (found != programs_.end() && found->second.pending != Pending::None) {
      ++it;
      continue;
    }
    const std::string program = *it;
    it = start_after_reload_.erase(it);
    for (ManagedProcess* process : processes_of(program)) start_process(*process, now, out);
  }
  for (const std::string& name : waiting) {
    if (ManagedProcess* process = find_mutable(name)) evaluate_waiting(*process, now, out);
  }
  // Once per program per round, however many of its processes changed.
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  for (const std::string& program : changed) {
    const std::vector<std::string> dependent_programs = dependents(program);  // copy: may change
    for (const std::string& dependent : dependent_programs) {
      for (ManagedProcess* process : processes_of(dependent)) evaluate_waiting(*process, now, out);
    }
  }
}

}  // namespace minisup::core
