// Supervisor: see supervisor.h for the model. This file holds construction,
// the inputs (requests, reports, reload), the queries, and the bookkeeping
// every input goes through (feed, advance, restarts, completing reloads).
// Dependencies and start order are in supervisor_dependencies.cc, the
// ordered shutdown (shutdown_timeout, shutdown_on) in supervisor_shutdown.cc.
#include "supervisor/core/supervisor.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <tuple>
#include <utility>

#include "supervisor/core/supervisor_internal.h"

namespace minisup::core {

using detail::index_of;
using detail::kConditions;

namespace {

/// STARTING, RUNNING or STOPPING: what keeps a shutdown level current.
bool is_busy(ProcessState state) {
  return state == ProcessState::Starting || state == ProcessState::Running ||
         state == ProcessState::Stopping;
}

bool is_active(ProcessState state) {
  return state == ProcessState::Starting || state == ProcessState::Running ||
         state == ProcessState::Backoff;
}

/// Start order: ascending (priority, program name, process number); an old
/// process of a rolling restart right after its new one.
bool starts_before(const ManagedProcess* a, const ManagedProcess* b) {
  return std::forward_as_tuple(a->priority(), a->program_name(), a->process_config().process_num,
                               a->is_old()) <
         std::forward_as_tuple(b->priority(), b->program_name(), b->process_config().process_num,
                               b->is_old());
}

std::string old_name(const std::string& process) { return process + std::string(kOldSuffix); }

}  // namespace

ManagedProcess::ManagedProcess(std::shared_ptr<const config::ProgramConfig> program,
                               std::size_t index, TreeTracking trees)
    : program_(std::move(program)),
      index_(static_cast<std::uint32_t>(index)),
      machine_(ProcessPolicy::from(*program_, trees)) {}

Supervisor::Supervisor(const config::Config& config, TreeTracking trees)
    : shutdown_timeout_(config.supervisor.shutdown_timeout), trees_(trees) {
  for (const config::ProgramConfig& program : config.programs) {
    add_program(std::make_shared<const config::ProgramConfig>(program), nullptr);
  }
  for (const config::GroupConfig& group : config.groups) groups_[group.name] = group.programs;
  rebuild_order();
}

// ---- Inputs ----

std::vector<ProcessAction> Supervisor::start_autostart(TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) return out;
  // Copy: feeding events may not change the set of processes, but keep the
  // loop independent of order_ anyway.
  const std::vector<const ManagedProcess*> order = order_;
  for (const ManagedProcess* process : order) {
    if (!process->program_config().autostart || process->is_leaving()) continue;
    start_process(*find_mutable(process->name()), now, out);
  }
  advance(now, out);
  return out;
}

std::vector<ProcessAction> Supervisor::handle(const std::string& process, const Event& event,
                                              TimePoint now) {
  std::vector<ProcessAction> out;
  ManagedProcess* target = find_mutable(process);
  if (target == nullptr) return out;
  if (const auto* start = std::get_if<StartRequest>(&event)) {
    if (!can_start(process)) return out;
    if (start->waiting_for.empty()) {
      start_process(*target, now, out);
      advance(now, out);
      return out;
    }
  }
  if (std::holds_alternative<StopRequest>(event) && !shutting_down_) {
    stop_with_dependents({process}, now, out);
    advance(now, out);
    return out;
  }
  feed(*target, event, now, out);
  advance(now, out);
  return out;
}

std::vector<ProcessAction> Supervisor::request_start(const std::vector<std::string>& processes,
                                                     TimePoint now) {
  std::vector<ProcessAction> out;
  for (const std::string& name : processes) {
    ManagedProcess* process = find_mutable(name);
    if (process == nullptr || !can_start(name)) continue;
    start_process(*process, now, out);
  }
  advance(now, out);
  return out;
}

std::vector<ProcessAction> Supervisor::request_stop(const std::vector<std::string>& processes,
                                                    TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) {
    for (const std::string& name : processes) {
      if (ManagedProcess* process = find_mutable(name)) feed(*process, shutdown_stop(), now, out);
    }
  } else {
    stop_with_dependents(processes, now, out);
  }
  advance(now, out);
  return out;
}

std::pair<RestartId, std::vector<ProcessAction>> Supervisor::request_restart(
    const std::vector<std::string>& processes, TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) return {0, std::move(out)};
  const RestartId id = next_restart_++;
  RestartProgress& progress = restarts_[id];
  std::set<std::string> named;
  std::vector<std::string> programs;
  for (const std::string& name : processes) {
    ManagedProcess* process = find_mutable(name);
    if (process == nullptr || process->is_leaving()) continue;
    progress.processes.push_back(name);
    named.insert(name);
    if (programs.empty() || programs.back() != process->program_name())
      programs.push_back(process->program_name());
    const ProcessState state = process->machine_.state();
    if (state == ProcessState::Starting || state == ProcessState::Running ||
        state == ProcessState::Stopping) {
      progress.stopping.push_back(name);
      progress.incarnation_when_asked[name] = process->machine_.incarnation();
    }
  }
  // The dependents' active processes are restarted too: stopped before,
  // started after (BACKOFF ones are stopped as well, or a retry could
  // spawn one while its dependency is down).
  for (const std::string& program : dependents_closure(programs)) {
    for (ManagedProcess* process : processes_of(program)) {
      const std::string& name = process->name();
      if (named.count(name) != 0 || process->is_leaving()) continue;
      if (!is_active(process->machine_.state())) continue;
      progress.processes.push_back(name);
      progress.stopping.push_back(name);
      progress.incarnation_when_asked[name] = process->machine_.incarnation();
    }
  }
  stop_with_dependents(progress.stopping, now, out);
  advance(now, out);
  return {id, std::move(out)};
}

const RestartProgress* Supervisor::restart_progress(RestartId id) const {
  auto found = restarts_.find(id);
  return found == restarts_.end() ? nullptr : &found->second;
}

void Supervisor::forget_restart(RestartId id) { restarts_.erase(id); }

std::pair<RestartId, std::vector<ProcessAction>> Supervisor::request_rolling_restart(
    const std::vector<std::string>& processes, TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) return {0, std::move(out)};
  const RestartId id = next_restart_++;
  RollingProgress& progress = rollings_[id];
  for (const std::string& name : processes) {
    const ManagedProcess* process = find(name);
    if (process == nullptr || process->is_old() || process->is_leaving()) continue;
    progress.processes.push_back(name);
  }
  advance(now, out);
  return {id, std::move(out)};
}

const RollingProgress* Supervisor::rolling_progress(RestartId id) const {
  auto found = rollings_.find(id);
  return found == rollings_.end() ? nullptr : &found->second;
}

void Supervisor::forget_rolling(RestartId id) {
  auto found = rollings_.find(id);
  if (found == rollings_.end()) return;
  if (found->second.done) {
    rollings_.erase(found);
  } else {
    found->second.forget_when_done = true;  // it goes on; nobody waits for it
  }
}

const ManagedProcess* Supervisor::old_of(const std::string& process) const {
  return find(old_name(process));
}

std::vector<ProcessAction> Supervisor::report(const std::string& process, Incarnation incarnation,
                                              const Event& fact, TimePoint now) {
  const ManagedProcess* target = find(process);
  if (target == nullptr || target->machine().incarnation() != incarnation) return {};
  return handle(process, fact, now);
}

std::vector<ProcessAction> Supervisor::orphan_reaped() {
  std::vector<ProcessAction> out;
  for (const ManagedProcess* process : order_) {
    if (process->machine().group_lingering()) out.push_back({process->name(), ProbeGroup{}});
  }
  return out;
}

ReloadResult Supervisor::apply_config(const config::Config& new_config, TimePoint now) {
  ReloadResult result;
  if (shutting_down_) {
    result.applied = false;
    return result;
  }
  std::vector<ProcessAction>& out = result.actions;
  shutdown_timeout_ = new_config.supervisor.shutdown_timeout;
  groups_.clear();
  for (const config::GroupConfig& group : new_config.groups) groups_[group.name] = group.programs;
  std::set<std::string> in_new_config;
  std::set<std::string> to_start;          // added processes with autostart
  std::set<std::string> rolling_programs;  // changed, replaced by a rolling restart

  for (const config::ProgramConfig& program : new_config.programs) {
    in_new_config.insert(program.name);
    auto found = programs_.find(program.name);
    auto definition = std::make_shared<const config::ProgramConfig>(program);

    if (found == programs_.end()) {
      // Added.
      result.added.push_back(program.name);
      add_program(definition, &out);
      if (program.autostart) {
        for (const config::ProcessConfig& process : program.processes) {
          to_start.insert(process.name);
        }
      }
      continue;
    }

    Program& entry = found->second;
    if (entry.pending == Pending::Remove) {
      // Being removed and back again: replace it once stopped (its processes
      // already are stopping); started again only by autostart.
      result.added.push_back(program.name);
      entry.pending = Pending::Replace;
      entry.replacement = definition;
      entry.was_active = false;
      reload_candidates_.push_back(program.name);
      continue;
    }

    const config::ProgramConfig& in_force =
        entry.pending == Pending::Replace ? *entry.replacement : *entry.current;
    if (in_force.equals_definition(program)) {
      // Unchanged: keep the machines; take the new object anyway, so that
      // `where` is up to date.
      if (entry.pending == Pending::Replace) {
        entry.replacement = definition;
      } else {
        entry.current = definition;
        for (ManagedProcess* process : processes_of(program.name)) process->program_ = definition;
      }
      continue;
    }

    // Changed.
    result.changed.push_back(program.name);
    if (entry.pending == Pending::None && !program.sockets.empty() &&
        !entry.current->sockets.empty() && program.numprocs == entry.current->numprocs) {
      // With held sockets: replaced one process at a time, new before old
      // (a rolling restart); the program's definition is the new one at
      // once, each process switches to it when it is replaced.
      update_dependents(program.name, entry.current->depends_on, program.depends_on);
      entry.current = definition;
      dependency_changed_.push_back(program.name);
      RollingProgress progress;
      progress.forget_when_done = true;
      progress.replacement[program.name] = definition;
      for (ManagedProcess* process : processes_of(program.name))
        progress.processes.push_back(process->name());
      const RestartId id = next_restart_++;
      rollings_[id] = std::move(progress);
      result.rolling.push_back(id);
      rolling_programs.insert(program.name);
      continue;
    }
    if (entry.pending == Pending::None) {
      entry.was_active = false;
      for (ManagedProcess* process : processes_of(program.name)) {
        entry.was_active = entry.was_active || is_active(process->machine_.state());
      }
    }
    entry.pending = Pending::Replace;
    entry.replacement = definition;
    dependency_changed_.push_back(program.name);
    reload_candidates_.push_back(program.name);
    stop_leaving(program.name, now, out);
  }

  for (auto& [name, entry] : programs_) {
    if (in_new_config.count(name) != 0) continue;
    if (entry.pending == Pending::Remove) continue;  // already on its way out
    // Removed.
    result.removed.push_back(name);
    entry.pending = Pending::Remove;
    entry.replacement.reset();
    reload_candidates_.push_back(name);
    stop_leaving(name, now, out);
  }

  // The active dependents of changed programs are restarted (stopped now,
  // started once all of them are idle; they then wait for the new
  // definition's processes). Those being replaced or removed themselves
  // are not.
  std::vector<std::string> stopped_changed;
  for (const std::string& name : result.changed) {
    if (rolling_programs.count(name) == 0) stopped_changed.push_back(name);
  }
  if (!stopped_changed.empty() && !dependents_.empty()) {
    RestartProgress progress;
    progress.forget_when_started = true;
    for (const std::string& program : dependents_closure(stopped_changed)) {
      for (ManagedProcess* process : processes_of(program)) {
        if (process->is_leaving() || !is_active(process->machine_.state())) continue;
        progress.processes.push_back(process->name());
        progress.stopping.push_back(process->name());
        progress.incarnation_when_asked[process->name()] = process->machine_.incarnation();
      }
    }
    if (!progress.processes.empty()) {
      stop_with_dependents(progress.stopping, now, out);
      restarts_[next_restart_++] = std::move(progress);
    }
  }

  rebuild_order();
  for (const ManagedProcess* process : order_) {
    if (to_start.count(process->name()) != 0) {
      start_process(*find_mutable(process->name()), now, out);
    }
  }
  advance(now, out);

  std::sort(result.added.begin(), result.added.end());
  std::sort(result.changed.begin(), result.changed.end());
  std::sort(result.removed.begin(), result.removed.end());
  return result;
}

// ---- Queries ----

ProcessResolution Supervisor::resolve_processes(const std::vector<std::string>& names,
                                                bool include_old,
                                                std::vector<const ManagedProcess*> storage) const {
  ProcessResolution resolution;
  resolution.processes = std::move(storage);
  resolution.processes.clear();
  std::set<std::string> programs;   // every process of these
  std::set<std::string> processes;  // exactly these
  bool all = false;
  // A program name, or a process name; false when it is neither.
  auto select = [&](const std::string& name) {
    if (processes_.count(name) != 0) {
      processes.insert(name);
      // Its old process too (a rolling restart's), for stop, status, signal.
      if (include_old) processes.insert(old_name(name));
    } else if (programs_.count(name) != 0) {
      programs.insert(name);
    } else {
      return false;
    }
    return true;
  };
  for (const std::string& name : names) {
    if (name == "all") {
      all = true;
      continue;
    }
    if (select(name)) continue;  // `web`, `web:3`
    const std::size_t colon = name.find(':');
    const std::string head = name.substr(0, colon);
    const std::string rest = colon == std::string::npos ? "" : name.substr(colon + 1);
    if (auto group = groups_.find(head); group != groups_.end()) {
      if (colon == std::string::npos || rest == "*") {  // `workers`, `workers:*`
        programs.insert(group->second.begin(), group->second.end());
        continue;
      }
      // `workers:queue`, `workers:queue:2`: a member program or its process.
      const std::string program = rest.substr(0, rest.find(':'));
      if (std::find(group->second.begin(), group->second.end(), program) != group->second.end() &&
          select(rest)) {
        continue;
      }
    } else if (rest == "*" && programs_.count(head) != 0) {  // `web:*`
      programs.insert(head);
      continue;
    }
    resolution.unknown = name;
    return resolution;
  }
  // (`all` first: a status of every process reads no process's names.)
  resolution.processes.reserve(all ? order_.size() : 0);
  for (const ManagedProcess* process : order_) {
    const bool listed =
        (all || (!programs.empty() && programs.count(process->program_name()) != 0)) &&
        (include_old || !process->is_old());
    if (listed || (!processes.empty() && processes.count(process->name()) != 0)) {
      resolution.processes.push_back(process);
    }
  }
  return resolution;
}

NameResolution Supervisor::resolve_names(const std::vector<std::string>& names,
                                         bool include_old) const {
  ProcessResolution found = resolve_processes(names, include_old);
  NameResolution resolution;
  resolution.unknown = std::move(found.unknown);
  resolution.processes.reserve(found.processes.size());
  for (const ManagedProcess* process : found.processes)
    resolution.processes.push_back(process->name());
  return resolution;
}

bool Supervisor::can_start(const std::string& process) const {
  const ManagedProcess* target = find(process);
  return target != nullptr && !shutting_down_ && !target->is_leaving();
}

const ManagedProcess* Supervisor::find(const std::string& name) const {
  auto found = processes_.find(name);
  return found == processes_.end() ? nullptr : found->second.get();
}

// ---- Internals ----

ManagedProcess* Supervisor::find_mutable(const std::string& name) {
  auto found = processes_.find(name);
  return found == processes_.end() ? nullptr : found->second.get();
}

void Supervisor::add_program(std::shared_ptr<const config::ProgramConfig> program,
                             std::vector<ProcessAction>* out) {
  Program& entry = programs_[program->name];
  entry = Program{};
  entry.current = program;
  for (std::size_t i = 0; i < program->processes.size(); ++i) {
    auto process = std::unique_ptr<ManagedProcess>(new ManagedProcess(program, i, trees_));
    if (shutting_down_) process->machine_.inhibit_restarts();
    if (auto retired = retired_incarnations_.find(process->name());
        retired != retired_incarnations_.end()) {
      process->machine_.continue_incarnations_from(retired->second.incarnation);
      process->machine_.continue_counters_from(retired->second.counters);
    }
    const DependencyStatuses statuses = dependency_statuses(*process);
    for (config::DependencyCondition condition : kConditions) {
      const std::size_t i = index_of(condition);
      if (statuses[i] == DependencyStatus::Met) ++entry.met[i];
      if (statuses[i] == DependencyStatus::Failed) ++entry.failed[i];
    }
    const std::string name = process->name();
    processes_[name] = std::move(process);
    if (out != nullptr) out->push_back(ProcessAction{name, AddProcess{}});
  }
  // A replacement changes what its dependents see.
  if (out != nullptr) dependency_changed_.push_back(program->name);
}

void Supervisor::remove_processes_of(const std::string& program, std::vector<ProcessAction>& out) {
  for (ManagedProcess* process : processes_of(program)) {
    const std::string name = process->name();
    retired_incarnations_[name] = {process->machine_.incarnation(), process->machine_.counters()};
    out.push_back(ProcessAction{name, RemoveProcess{}});
    processes_.erase(name);
  }
}

std::vector<ManagedProcess*> Supervisor::processes_of(const std::string& program) {
  // A program's processes are named `P` (numprocs 1) or `P:N`: in the
  // name-ordered map, `P` itself and the range [`P:`, `P;`) (';' follows
  // ':'). Looked up, not scanned: a scan of every process per program made
  // a reload of N unchanged programs O(N^2) (1.5 s of CPU at 10,000).
  std::vector<ManagedProcess*> result;
  auto take = [&](ManagedProcess* process) {
    if (process->program_name() == program && !process->is_old()) result.push_back(process);
  };
  if (auto it = processes_.find(program); it != processes_.end()) take(it->second.get());
  for (auto it = processes_.lower_bound(program + ':'), end = processes_.lower_bound(program + ';');
       it != end; ++it) {
    take(it->second.get());
  }
  std::sort(result.begin(), result.end(), [](const ManagedProcess* a, const ManagedProcess* b) {
    return a->process_config().process_num < b->process_config().process_num;
  });
  return result;
}

void Supervisor::rebuild_order() {
  order_.clear();
  order_.reserve(processes_.size());
  for (const auto& [name, process] : processes_) order_.push_back(process.get());
  std::sort(order_.begin(), order_.end(), starts_before);
  rebuild_dependents();
}

void Supervisor::feed(ManagedProcess& process, const Event& event, TimePoint now,
                      std::vector<ProcessAction>& out) {
  const ProcessState before = process.machine_.state();
  if (process.is_old()) {
    // An old process of a rolling restart counts for the shutdown only.
    std::vector<Action> actions = process.machine_.handle(event, now);
    const ProcessState after = process.machine_.state();
    if (before != after) {
      if (is_busy(before)) --busy_at_level_[process.priority()];
      if (is_busy(after)) ++busy_at_level_[process.priority()];
      if (is_idle(before)) ++not_idle_;
      if (is_idle(after)) --not_idle_;
      if (is_idle(after)) old_idle_.push_back(process.name());
    }
    for (Action& action : actions) out.push_back(ProcessAction{process.name(), std::move(action)});
    return;
  }
  const DependencyStatuses statuses_before = dependency_statuses(process);
  if (before == ProcessState::Running && !shutting_down_ && !exit_status_) {
    // An exit that will end the run (shutdown_on exit, or failure with an
    // unexpected status) must not be followed by an autorestart that the
    // shutdown would only stop again.
    if (const auto* exited = std::get_if<ChildExited>(&event)) {
      const config::ShutdownOn mode = process.program_config().shutdown_on;
      const auto& codes = process.machine_.policy().exitcodes;
      const bool expected = exited->exit_code && std::find(codes.begin(), codes.end(),
                                                           *exited->exit_code) != codes.end();
      if (mode == config::ShutdownOn::Exit || (mode == config::ShutdownOn::Failure && !expected))
        process.machine_.inhibit_restarts();
    }
  }
  std::vector<Action> actions = process.machine_.handle(event, now);
  const ProcessState after = process.machine_.state();
  if (before != after) {
    if (is_busy(before)) --busy_at_level_[process.priority()];
    if (is_busy(after)) ++busy_at_level_[process.priority()];
    if (is_idle(before)) ++not_idle_;
    if (is_idle(after)) --not_idle_;
    if (shutting_down_ && after == ProcessState::Backoff)
      backoff_in_shutdown_.push_back(process.name());
    // Its program waits for a removal or replacement: it may be ready now.
    if (process.leaving_ && is_idle(after)) reload_candidates_.push_back(process.program_name());
  }
  const DependencyStatuses statuses_after = dependency_statuses(process);
  if (is_idle(before) != is_idle(after) || statuses_before != statuses_after) {
    note_change(process, is_idle(before), is_idle(after), statuses_before, statuses_after);
  }
  if (process.program_config().shutdown_on != config::ShutdownOn::None && !shutting_down_ &&
      !exit_status_) {
    check_shutdown_on(process, actions);
  }
  for (Action& action : actions) out.push_back(ProcessAction{process.name(), std::move(action)});
  // Ready: its old process (a rolling restart's) has been replaced.
  if (before != ProcessState::Running && after == ProcessState::Running && !shutting_down_) {
    if (ManagedProcess* old = find_mutable(old_name(process.name()))) {
      const ProcessState state = old->machine_.state();
      if (state == ProcessState::Running || state == ProcessState::Starting)
        feed(*old, StopRequest{}, now, out);
    }
  }
}

void Supervisor::retire(ManagedProcess& process,
                        std::shared_ptr<const config::ProgramConfig> definition, TimePoint now,
                        std::vector<ProcessAction>& out) {
  const DependencyStatuses statuses_before = dependency_statuses(process);
  // An earlier old process of this name that is idle but not yet forgotten
  // goes first.
  if (auto earlier = processes_.find(old_name(process.name())); earlier != processes_.end()) {
    const ManagedProcess* gone = earlier->second.get();
    auto at = std::lower_bound(order_.begin(), order_.end(), gone, starts_before);
    if (at != order_.end() && *at == gone) order_.erase(at);
    out.push_back(ProcessAction{earlier->first, RemoveProcess{}});
    processes_.erase(earlier);
  }
  // The old process: the running machine, under its own name, never to
  // restart, refused any start, forgotten once idle.
  auto old =
      std::unique_ptr<ManagedProcess>(new ManagedProcess(process.program_, process.index_, trees_));
  old->machine_ = std::move(process.machine_);
  old->machine_.inhibit_restarts();
  old->old_name_ = old_name(process.name());
  old->leaving_ = true;
  ++busy_at_level_[old->priority()];  // RUNNING
  ++not_idle_;
  out.push_back(ProcessAction{process.name(), ProcessRetired{old->name()}});
  // The new one: a fresh machine of `definition`, started at once (its
  // dependencies were met a moment ago: the old one was RUNNING).
  process.program_ = std::move(definition);
  process.machine_ = ProcessMachine(ProcessPolicy::from(*process.program_, trees_));
  process.machine_.continue_incarnations_from(old->machine_.incarnation());
  // The name's counters go on with the new machine; the old process counts
  // from zero what is left of its life (its stop), so that no restart or
  // exit is counted twice.
  process.machine_.continue_counters_from(old->machine_.counters());
  old->machine_.continue_counters_from(ProcessCounters{});
  std::vector<Action> actions = process.machine_.handle(StartRequest{}, now);
  // RUNNING -> (STOPPED) -> STARTING: busy all along, never idle.
  note_change(process, false, is_idle(process.machine_.state()), statuses_before,
              dependency_statuses(process));
  const ManagedProcess* old_ptr = old.get();
  processes_[old->name()] = std::move(old);
  order_.insert(std::upper_bound(order_.begin(), order_.end(), old_ptr, starts_before), old_ptr);
  for (Action& action : actions) out.push_back(ProcessAction{process.name(), std::move(action)});
}

void Supervisor::remove_idle_olds(std::vector<ProcessAction>& out) {
  for (const std::string& name : std::exchange(old_idle_, {})) {
    auto found = processes_.find(name);
    if (found == processes_.end() || !is_idle(found->second->machine().state())) continue;
    const ManagedProcess* process = found->second.get();
    auto at = std::lower_bound(order_.begin(), order_.end(), process, starts_before);
    if (at != order_.end() && *at == process) order_.erase(at);
    out.push_back(ProcessAction{name, RemoveProcess{}});
    processes_.erase(found);
  }
}

void Supervisor::advance_rollings(TimePoint now, std::vector<ProcessAction>& out) {
  for (auto it = rollings_.begin(); it != rollings_.end();) {
    RollingProgress& progress = it->second;
    if (!progress.done) advance_rolling(progress, now, out);
    it = progress.done && progress.forget_when_done ? rollings_.erase(it) : std::next(it);
  }
}

void Supervisor::advance_rolling(RollingProgress& progress, TimePoint now,
                                 std::vector<ProcessAction>& out) {
  auto stop_here = [&](const std::string& name, std::string why) {
    progress.failed[name] = std::move(why);
    for (std::size_t i = progress.current + 1; i < progress.processes.size(); ++i)
      progress.failed[progress.processes[i]] =
          "not replaced: the rolling restart stopped at " + name;
    progress.done = true;
  };
  while (progress.current < progress.processes.size()) {
    const std::string& name = progress.processes[progress.current];
    ManagedProcess* process = find_mutable(name);
    if (process == nullptr) {  // removed by a reload meanwhile
      progress.failed[name] = "removed";
      ++progress.current;
      progress.started = false;
      continue;
    }
    if (shutting_down_) {
      stop_here(name, "shutting down");
      return;
    }
    const ProcessState state = process->machine_.state();
    ManagedProcess* old = find_mutable(old_name(name));
    if (!progress.started && old != nullptr && is_idle(old->machine_.state())) old = nullptr;
    if (!progress.started) {
      if (process->is_leaving()) {
        stop_here(name, "being removed");
        return;
      }
      if (state == ProcessState::Running && old != nullptr) {
        // A lingering old process: it is stopped (now RUNNING has come
        // again); replace this one once it is gone.
        const ProcessState old_state = old->machine_.state();
        if (old_state == ProcessState::Running || old_state == ProcessState::Starting)
          feed(*old, StopRequest{}, now, out);
        return;
      }
      auto definition = process->program_;
      if (auto found = progress.replacement.find(process->program_name());
          found != progress.replacement.end())
        definition = found->second;
      if (state == ProcessState::Running) {
        retire(*process, definition, now, out);
      } else if (state == ProcessState::Starting || state == ProcessState::Backoff) {
        feed(*process, StopRequest{}, now, out);  // not serving: (re)started in place
        return;
      } else if (state == ProcessState::Stopping) {
        return;  // once idle
      } else {
        // Idle: started in place (with the new definition on a reload).
        if (definition != process->program_) {
          const Incarnation last = process->machine_.incarnation();
          const ProcessCounters counters = process->machine_.counters();
          process->program_ = definition;
          process->machine_ = ProcessMachine(ProcessPolicy::from(*definition, trees_));
          process->machine_.continue_incarnations_from(last);
          process->machine_.continue_counters_from(counters);
        }
        start_process(*process, now, out);
      }
      progress.started = true;
      continue;
    }
    // Started: wait for RUNNING (its old one then gets its stop), then for
    // the old one to be gone.
    if (state == ProcessState::Running) {
      if (old != nullptr) {
        if (!is_idle(old->machine_.state())) return;  // draining
        const auto& exit = old->machine_.last_exit();
        progress.needed_sigkill[name] = exit && exit->needed_sigkill();
      }
      ++progress.current;
      progress.started = false;
      continue;
    }
    if (state == ProcessState::Starting || state == ProcessState::Backoff ||
        state == ProcessState::Stopping) {
      if (!(state == ProcessState::Backoff && process->machine_.restart_delayed())) return;
    }
    // It did not get to RUNNING: FATAL, stopped, exited.
    std::string why = process->machine_.last_error();
    if (why.empty() && process->machine_.last_exit()) why = process->machine_.last_exit()->text();
    if (why.empty()) why = std::string(to_string(state));
    stop_here(name, std::move(why));
    return;
  }
  progress.done = true;
}

void Supervisor::stop_leaving(const std::string& program, TimePoint now,
                              std::vector<ProcessAction>& out) {
  // Leaving at once (start requests are refused); stopped once its
  // dependents are idle.
  std::vector<std::string> names;
  for (ManagedProcess* process : processes_of(program)) {
    process->leaving_ = true;
    names.push_back(process->name());
  }
  stop_after_dependents(program, names, now, out);
}

void Supervisor::advance(TimePoint now, std::vector<ProcessAction>& out) {
  // Each round may make more progress possible (a dependency failing makes
  // its dependent FATAL, which may let a held stop go out ...): go on until
  // nothing is queued.
  for (;;) {
    // A shutdown_on program ended: the shutdown begins.
    if (exit_status_ && !shutting_down_) start_shutdown(now, out);
    // The shutdown first: stopping a BACKOFF process may let a removal or a
    // replacement complete.
    if (shutting_down_) advance_shutdown(now, out);
    // Restarts before reloads: a process that a reload replaces once it is
    // stopped must count as stopped for a restart waiting for it, not be
    // waited for again as the replacement.
    if (!restarts_.empty()) advance_restarts(now, out);
    if (!rollings_.empty()) advance_rollings(now, out);
    if (!old_idle_.empty()) remove_idle_olds(out);
    complete_reloads(now, out);
    auto queued = [this] {
      return !became_idle_.empty() || !dependency_changed_.empty() || !newly_waiting_.empty();
    };
    const bool had_work = queued();
    if (!had_work && start_after_reload_.empty()) return;
    const std::size_t actions_before = out.size();
    advance_dependencies(now, out);
    // Another round when something was handled or changed (a program became
    // idle: the shutdown's next step; a held stop went out ...);
    // start_after_reload_ alone may wait for a reload not complete yet.
    if (!had_work && out.size() == actions_before && !queued()) return;
  }
}

void Supervisor::advance_restarts(TimePoint now, std::vector<ProcessAction>& out) {
  for (auto it = restarts_.begin(); it != restarts_.end();) {
    auto& progress = it->second;
    if (progress.started || !advance_restart(progress, now, out)) {
      ++it;
      continue;
    }
    it = progress.forget_when_started ? restarts_.erase(it) : std::next(it);
  }
}

bool Supervisor::advance_restart(RestartProgress& progress, TimePoint now,
                                 std::vector<ProcessAction>& out) {
  // A process that became idle stays counted (a cursor, not a rescan: a
  // restart of thousands costs linear time over all its exits).
  while (progress.stopped < progress.stopping.size()) {
    const ManagedProcess* process = find(progress.stopping[progress.stopped]);
    if (process != nullptr && !is_idle(process->machine().state())) break;
    ++progress.stopped;
  }
  if (progress.stopped < progress.stopping.size()) return false;
  // Every stop is done: the start half, in start order, in one step.
  progress.started = true;
  for (const std::string& name : progress.stopping) {
    const ManagedProcess* process = find(name);
    const auto& exit = process ? process->machine().last_exit() : std::nullopt;
    progress.needed_sigkill[name] = exit && exit->needed_sigkill() &&
                                    exit->incarnation == progress.incarnation_when_asked[name];
  }
  if (shutting_down_) return true;
  for (const std::string& name : progress.processes) {
    ManagedProcess* process = find_mutable(name);
    if (process != nullptr && !process->is_leaving()) start_process(*process, now, out);
  }
  return true;
}

void Supervisor::complete_reloads(TimePoint now, std::vector<ProcessAction>& out) {
  if (reload_candidates_.empty()) return;  // the common case: nothing to look at
  // Only the candidates: a pending program becomes ready only when one of
  // its (leaving) processes becomes idle, and feed() notes each such change.
  std::vector<std::string> candidates = std::exchange(reload_candidates_, {});
  std::sort(candidates.begin(), candidates.end());  // name order, as before
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  std::vector<std::string> ready;
  std::size_t leaving_processes = 0;  // of the ready programs
  for (const std::string& name : candidates) {
    auto found = programs_.find(name);
    if (found == programs_.end() || found->second.pending == Pending::None) continue;
    const std::vector<ManagedProcess*> processes = processes_of(name);
    const bool all_idle =
        std::all_of(processes.begin(), processes.end(),
                    [](const ManagedProcess* p) { return is_idle(p->machine().state()); });
    if (!all_idle) continue;  // a later exit of one of them makes it a candidate again
    ready.push_back(name);
    leaving_processes += processes.size();
  }
  if (ready.empty()) return;

  // order_ is updated in place when few processes change (each erase or
  // insert moves pointers, O(N)), else sorted again once (O(N log N)).
  const bool rebuild = leaving_processes * 8 > order_.size();
  std::vector<ManagedProcess*> to_start;
  for (const std::string& name : ready) {
    Program& entry = programs_.at(name);
    if (!rebuild) {
      for (const ManagedProcess* process : processes_of(name)) {
        auto at = std::lower_bound(order_.begin(), order_.end(), process, starts_before);
        if (at != order_.end() && *at == process) order_.erase(at);
      }
    }
    remove_processes_of(name, out);
    const std::vector<config::Dependency> old_dependencies = entry.current->depends_on;
    if (entry.pending == Pending::Remove) {
      programs_.erase(name);
      update_dependents(name, old_dependencies, {});
      continue;
    }
    std::shared_ptr<const config::ProgramConfig> replacement = entry.replacement;
    update_dependents(name, old_dependencies, replacement->depends_on);
    const bool start = replacement->autostart || entry.was_active;
    add_program(replacement, &out);  // resets the entry (pending = None)
    for (ManagedProcess* process : processes_of(name)) {
      if (!rebuild) {
        order_.insert(std::upper_bound(order_.begin(), order_.end(), process, starts_before),
                      process);
      }
      if (start && !shutting_down_) to_start.push_back(process);
    }
  }
  if (rebuild) rebuild_order();
  std::sort(to_start.begin(), to_start.end(), starts_before);
  for (ManagedProcess* process : to_start) start_process(*process, now, out);
}

}  // namespace minisup::core
