// Supervisor: see supervisor.h for the model.
#include "supervisor/core/supervisor.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <tuple>

namespace minisup::core {
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

std::size_t index_of(config::DependencyCondition condition) {
  return static_cast<std::size_t>(condition);
}

constexpr config::DependencyCondition kConditions[] = {config::DependencyCondition::Started,
                                                       config::DependencyCondition::Ready,
                                                       config::DependencyCondition::Completed};

/// The run a record describes did run (it was not a failed spawn or a
/// dependency's failure).
bool did_run(const std::optional<ExitRecord>& exit) {
  return exit && exit->reason != ExitReason::SpawnFailed &&
         exit->reason != ExitReason::DependencyFailed;
}

/// "exited with status 1", "was killed by SIGTERM".
std::string ended_text(const ExitRecord& exit) {
  std::string text = exit.text();
  if (text.rfind("killed", 0) == 0) text = "was " + text;
  return text;
}

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

/// Start order: ascending (priority, program name, process number).
bool starts_before(const ManagedProcess* a, const ManagedProcess* b) {
  return std::forward_as_tuple(a->priority(), a->program_name(), a->process_config().process_num) <
         std::forward_as_tuple(b->priority(), b->program_name(), b->process_config().process_num);
}

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

std::vector<ProcessAction> Supervisor::begin_shutdown(TimePoint now) {
  std::vector<ProcessAction> out;
  if (shutting_down_) return out;
  start_shutdown(now, out);
  advance(now, out);
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
  std::set<std::string> in_new_config;
  std::set<std::string> to_start;  // added processes with autostart

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
  if (!result.changed.empty() && !dependents_.empty()) {
    RestartProgress progress;
    progress.forget_when_started = true;
    for (const std::string& program : dependents_closure(result.changed)) {
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

NameResolution Supervisor::resolve_names(const std::vector<std::string>& names) const {
  NameResolution resolution;
  std::set<std::string> programs;   // every process of these
  std::set<std::string> processes;  // exactly these
  bool all = false;
  for (const std::string& name : names) {
    if (name == "all") {
      all = true;
      continue;
    }
    std::string program = name;
    if (name.size() > 2 && name.compare(name.size() - 2, 2, ":*") == 0) {
      program = name.substr(0, name.size() - 2);
    } else if (processes_.count(name) != 0) {
      processes.insert(name);
      continue;
    }
    if (programs_.count(program) == 0) {
      resolution.unknown = name;
      return resolution;
    }
    programs.insert(program);
  }
  for (const ManagedProcess* process : order_) {
    if (all || programs.count(process->program_name()) != 0 ||
        processes.count(process->name()) != 0) {
      resolution.processes.push_back(process->name());
    }
  }
  return resolution;
}

bool Supervisor::shutdown_complete() const { return shutting_down_ && not_idle_ == 0; }

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
      process->machine_.continue_incarnations_from(retired->second);
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
    retired_incarnations_[name] = process->machine_.incarnation();
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
    if (process->program_name() == program) result.push_back(process);
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

// ---- Shutdown ----

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
        const ProcessState state = process->machine_.state();
        if (state == ProcessState::Starting || state == ProcessState::Running)
          feed(*process, shutdown_stop(), now, out);
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
