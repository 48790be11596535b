// Requests that take time: see requests.h.
#include "supervisor/core/requests.h"

#include <iterator>

#include "supervisor/core/text.h"

namespace minisup::core {
namespace {

bool is_up(ProcessState state) {
  return state == ProcessState::Starting || state == ProcessState::Running ||
         state == ProcessState::Stopping;
}

/// A job whose last run exited with a code in its exitcodes: it did what a
/// start (or a wait for RUNNING) asked.
bool job_succeeded(const ProcessMachine& machine) {
  return machine.policy().job && machine.state() == ProcessState::Exited && machine.last_exit() &&
         machine.last_exit()->expected;
}

std::string exit_or(const std::optional<ExitRecord>& exit, const std::string& otherwise) {
  return exit ? exit->text() : otherwise;
}

/// start/restart: one process's outcome, or nullopt while undecided.
std::optional<ProcessOutcome> start_outcome(const PendingRequest& request, const std::string& name,
                                            const Supervisor& supervisor) {
  ProcessOutcome result;
  result.name = name;
  if (auto preset = request.preset.find(name); preset != request.preset.end()) {
    result.outcome = preset->second;
    if (preset->second == Outcome::Failed)
      result.message = supervisor.shutting_down() ? "shutting down" : "being removed";
    return result;
  }
  const ManagedProcess* process = supervisor.find(name);
  if (process == nullptr) {
    result.outcome = Outcome::Failed;
    result.message = "removed";
    return result;
  }
  const ProcessMachine& machine = process->machine();
  if (job_succeeded(machine)) {
    result.outcome = Outcome::Started;
    return result;
  }
  switch (machine.state()) {
    case ProcessState::Running:
      result.outcome = Outcome::Started;
      return result;
    case ProcessState::Fatal:
      result.outcome = Outcome::Failed;
      result.message = machine.last_error().empty() ? "FATAL" : machine.last_error();
      return result;
    case ProcessState::Stopped:
    case ProcessState::Exited:
      result.outcome = Outcome::Failed;
      result.message = exit_or(machine.last_exit(), "stopped before it was running");
      return result;
    case ProcessState::Backoff:
      if (machine.restart_delayed()) {
        // It was RUNNING and died soon after: a crash loop that may go on
        // for ever; the start has failed (the restarts go on).
        result.outcome = Outcome::Failed;
        result.message = exit_or(machine.last_exit(), "exited") +
                         " soon after it started; restarting with a delay";
        return result;
      }
      return std::nullopt;  // a failed start's retry: not decided yet
    case ProcessState::Starting:
    case ProcessState::Stopping:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Settlement> settle_rolling(const PendingRequest& request,
                                         const Supervisor& supervisor) {
  const RollingProgress* progress = supervisor.rolling_progress(request.restart);
  if (progress != nullptr && !progress->done) return std::nullopt;
  Settlement settlement;
  for (const std::string& name : request.processes) {
    ProcessOutcome result;
    result.name = name;
    if (auto preset = request.preset.find(name); preset != request.preset.end()) {
      result.outcome = preset->second;
      result.message = supervisor.shutting_down() ? "shutting down" : "being removed";
    } else if (progress == nullptr) {
      result.outcome = Outcome::Failed;
      result.message = "forgotten";
    } else if (auto failed = progress->failed.find(name); failed != progress->failed.end()) {
      result.outcome = Outcome::Failed;
      result.message = failed->second;
    } else {
      result.outcome = Outcome::Started;
      auto sigkill = progress->needed_sigkill.find(name);
      result.needed_sigkill = sigkill != progress->needed_sigkill.end() && sigkill->second;
    }
    settlement.results.push_back(std::move(result));
  }
  return settlement;
}

std::optional<Settlement> settle_start(const PendingRequest& request,
                                       const Supervisor& supervisor) {
  if (request.rolling) return settle_rolling(request, supervisor);
  const RestartProgress* progress = nullptr;
  if (request.kind == PendingRequest::Kind::Restart) {
    progress = supervisor.restart_progress(request.restart);
    if (progress != nullptr && !progress->started) return std::nullopt;  // still stopping
  }
  Settlement settlement;
  for (const std::string& name : request.processes) {
    std::optional<ProcessOutcome> result = start_outcome(request, name, supervisor);
    if (!result) return std::nullopt;
    if (progress != nullptr) {
      auto sigkill = progress->needed_sigkill.find(name);
      result->needed_sigkill = sigkill != progress->needed_sigkill.end() && sigkill->second;
    }
    settlement.results.push_back(std::move(*result));
  }
  return settlement;
}

std::optional<Settlement> settle_stop(const PendingRequest& request, const Supervisor& supervisor) {
  Settlement settlement;
  for (const std::string& name : request.processes) {
    ProcessOutcome result;
    result.name = name;
    result.outcome = Outcome::Stopped;
    const ManagedProcess* process = supervisor.find(name);
    // A process a reload replaced or removed has stopped; its name may
    // already stand for the new definition's process.
    if (process != nullptr && request.removed.count(name) == 0) {
      const ProcessMachine& machine = process->machine();
      if (!is_idle(machine.state())) return std::nullopt;
      if (request.not_running.count(name) != 0) {
        result.outcome = Outcome::NotRunning;
      } else if (const auto& exit = machine.last_exit();
                 exit && exit->stop_duration &&
                 exit->incarnation == request.incarnation_when_asked.at(name)) {
        // Stopped on this request: the machine recorded how the stop went
        // (a process stopped in BACKOFF has no child and no record).
        result.exit = exit;
      }
    }
    settlement.results.push_back(std::move(result));
  }
  return settlement;
}

std::optional<Settlement> settle_wait(const PendingRequest& request, const Supervisor& supervisor) {
  Settlement settlement;
  for (const std::string& name : request.processes) {
    ProcessOutcome result;
    result.name = name;
    const ManagedProcess* process = supervisor.find(name);
    if (process == nullptr) {
      result.state = "REMOVED";
      result.outcome = Outcome::Unexpected;
      settlement.unexpected = true;
      settlement.results.push_back(std::move(result));
      continue;
    }
    const ProcessState state = process->machine().state();
    result.state = std::string(to_string(state));
    if (state == request.target ||
        (request.target == ProcessState::Running && job_succeeded(process->machine()))) {
      result.outcome = Outcome::Reached;
    } else if (state == ProcessState::Fatal ||
               (request.target == ProcessState::Running &&
                (state == ProcessState::Exited || state == ProcessState::Stopped))) {
      result.outcome = Outcome::Unexpected;  // a state it cannot leave by itself
      settlement.unexpected = true;
    } else {
      return std::nullopt;
    }
    settlement.results.push_back(std::move(result));
  }
  return settlement;
}

/// The processes of program `program`, found by name (`P`, or `P:0` and
/// its siblings) rather than by resolve_names(), which scans every process;
/// empty when there is no such program.
std::vector<const ManagedProcess*> processes_of_program(const Supervisor& supervisor,
                                                        const std::string& program) {
  const ManagedProcess* any = supervisor.find(program);
  if (any == nullptr) any = supervisor.find(program + ":0");
  std::vector<const ManagedProcess*> processes;
  if (any == nullptr || any->program_name() != program) return processes;
  for (const config::ProcessConfig& process : any->program_config().processes) {
    if (const ManagedProcess* found = supervisor.find(process.name)) processes.push_back(found);
  }
  return processes;
}

std::optional<Settlement> settle_update(const PendingRequest& request,
                                        const Supervisor& supervisor) {
  for (RestartId id : request.rollings) {
    const RollingProgress* progress = supervisor.rolling_progress(id);
    if (progress != nullptr && !progress->done) return std::nullopt;
  }
  const std::size_t removed = request.removed_programs.size();
  const std::size_t added = request.added.size();
  const std::size_t total = removed + added + request.changed.size();
  for (std::size_t& done = request.update_settled; done < total; ++done) {
    if (done < removed) {
      if (!processes_of_program(supervisor, request.removed_programs[done]).empty())
        return std::nullopt;  // still stopping
      continue;
    }
    const std::string& name = done < removed + added ? request.added[done - removed]
                                                     : request.changed[done - removed - added];
    const std::vector<const ManagedProcess*> processes = processes_of_program(supervisor, name);
    if (processes.empty()) return std::nullopt;  // being replaced
    for (const ManagedProcess* process : processes) {
      const ProcessState state = process->machine().state();
      if (process->is_leaving() || state == ProcessState::Starting ||
          state == ProcessState::Backoff || state == ProcessState::Stopping) {
        return std::nullopt;
      }
    }
  }
  return Settlement{};
}

}  // namespace

Opened open_start(Supervisor& supervisor, const std::vector<std::string>& processes,
                  TimePoint now) {
  Opened opened;
  opened.request.kind = PendingRequest::Kind::Start;
  opened.request.processes = processes;
  std::vector<std::string> to_start;
  for (const std::string& name : processes) {
    const ManagedProcess* process = supervisor.find(name);
    if (!supervisor.can_start(name)) {
      opened.request.preset[name] = Outcome::Failed;
    } else if (is_up(process->machine().state())) {
      opened.request.preset[name] = Outcome::AlreadyStarted;
    } else {
      to_start.push_back(name);
    }
  }
  opened.actions = supervisor.request_start(to_start, now);
  return opened;
}

Opened open_restart(Supervisor& supervisor, const std::vector<std::string>& processes,
                    TimePoint now) {
  Opened opened;
  opened.request.kind = PendingRequest::Kind::Restart;
  opened.request.processes = processes;
  std::vector<std::string> to_restart;
  for (const std::string& name : processes) {
    if (supervisor.can_start(name)) {
      to_restart.push_back(name);
    } else {
      opened.request.preset[name] = Outcome::Failed;
    }
  }
  auto [id, actions] = supervisor.request_restart(to_restart, now);
  opened.request.restart = id;
  opened.actions = std::move(actions);
  return opened;
}

Opened open_rolling_restart(Supervisor& supervisor, const std::vector<std::string>& processes,
                            TimePoint now) {
  Opened opened;
  opened.request.kind = PendingRequest::Kind::Restart;
  opened.request.rolling = true;
  opened.request.processes = processes;
  std::vector<std::string> to_restart;
  for (const std::string& name : processes) {
    if (supervisor.can_start(name)) {
      to_restart.push_back(name);
    } else {
      opened.request.preset[name] = Outcome::Failed;
    }
  }
  auto [id, actions] = supervisor.request_rolling_restart(to_restart, now);
  opened.request.restart = id;
  opened.actions = std::move(actions);
  return opened;
}

Opened open_stop(Supervisor& supervisor, const std::vector<std::string>& processes, TimePoint now) {
  Opened opened;
  opened.request.kind = PendingRequest::Kind::Stop;
  opened.request.processes = processes;
  for (const std::string& name : processes) {
    const ManagedProcess* process = supervisor.find(name);
    if (process == nullptr) continue;
    if (is_idle(process->machine().state())) opened.request.not_running.insert(name);
    opened.request.incarnation_when_asked[name] = process->machine().incarnation();
  }
  opened.actions = supervisor.request_stop(processes, now);
  return opened;
}

PendingRequest open_wait(const std::vector<std::string>& processes, ProcessState target) {
  PendingRequest request;
  request.kind = PendingRequest::Kind::Wait;
  request.processes = processes;
  request.target = target;
  return request;
}

PendingRequest open_update(const ReloadResult& reload) {
  PendingRequest request;
  request.kind = PendingRequest::Kind::Update;
  request.added = reload.added;
  request.changed = reload.changed;
  request.removed_programs = reload.removed;
  request.rollings = reload.rolling;
  return request;
}

std::optional<Settlement> settle(const PendingRequest& request, const Supervisor& supervisor) {
  switch (request.kind) {
    case PendingRequest::Kind::Start:
    case PendingRequest::Kind::Restart:
      return settle_start(request, supervisor);
    case PendingRequest::Kind::Stop:
      return settle_stop(request, supervisor);
    case PendingRequest::Kind::Wait:
      return settle_wait(request, supervisor);
    case PendingRequest::Kind::Update:
      return settle_update(request, supervisor);
  }
  return std::nullopt;
}

std::vector<ProcessOutcome> current_states(const PendingRequest& request,
                                           const Supervisor& supervisor) {
  std::vector<ProcessOutcome> states;
  for (const std::string& name : request.processes) {
    ProcessOutcome result;
    result.name = name;
    const ManagedProcess* process = supervisor.find(name);
    result.state = process ? std::string(to_string(process->machine().state())) : "REMOVED";
    result.outcome = process && process->machine().state() == request.target ? Outcome::Reached
                                                                             : Outcome::Unexpected;
    states.push_back(std::move(result));
  }
  return states;
}

void close_request(const PendingRequest& request, Supervisor& supervisor) {
  if (request.kind == PendingRequest::Kind::Restart) {
    if (request.rolling) {
      supervisor.forget_rolling(request.restart);
    } else {
      supervisor.forget_restart(request.restart);
    }
  }
}

}  // namespace minisup::core
