// Runtime: the probes half. Readiness (`ready`) and liveness (`health`)
// checks are decided by the core (StartProbe/StopProbe, the ready deadline,
// failures in a row); here they are carried out: tcp, http and exec
// attempts through the Probes seam, one at a time, every `interval`; `log`
// through the output's line watcher; `notify` through a datagram socket per
// incarnation. Every outcome goes back to the core with the incarnation it
// belongs to, so a late answer about an earlier run does nothing.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>

#include "supervisor/core/text.h"
#include "supervisor/daemon/runtime.h"

namespace minisup::daemon {
namespace {

std::size_t index_of(core::ProbeRole role) { return static_cast<std::size_t>(role); }

/// Each attempt of a `ready` probe is bounded by max(interval, 1 s).
constexpr auto kMinReadyAttempt = std::chrono::seconds(1);

const config::Probe* probe_of(const config::ProgramConfig& program, core::ProbeRole role) {
  const auto& probe = role == core::ProbeRole::Ready ? program.ready : program.health;
  return probe ? &*probe : nullptr;
}

}  // namespace

std::string describe_probe(const config::Probe& probe) {
  switch (probe.kind) {
    case config::Probe::Kind::Tcp:
      return "tcp " + probe.host + ":" + std::to_string(probe.port);
    case config::Probe::Kind::Http:
      return "http " + probe.url;
    case config::Probe::Kind::Exec: {
      std::string text = "exec";
      for (const std::string& word : probe.exec) text += " " + word;
      return text;
    }
    case config::Probe::Kind::Log:
      return "log /" + probe.pattern + "/";
    case config::Probe::Kind::Notify:
      return "READY=1";
  }
  return "probe";
}

void Runtime::prepare_probes(const core::ManagedProcess& process, core::Incarnation incarnation,
                             Handles& handles, SpawnPlan& plan) {
  const config::ProgramConfig& program = process.program_config();
  close_notify(handles);
  handles.notify_status.clear();
  handles.early_ready.reset();
  if (!program.ready) return;
  const std::string name = process.name();
  if (program.ready->kind == config::Probe::Kind::Log && handles.ready_pattern) {
    // Lines are matched for this incarnation; a match is reported on the
    // next round, outside the output's own callback. A line read before
    // the ready probe started (the spawn's actions may wait for the next
    // slice while the loop reads the pipe) is kept for it.
    handles.output->set_line_watcher([this, name, incarnation, pattern = handles.ready_pattern](
                                         logging::StreamKind, std::string_view line) {
      auto it = handles_.find(name);
      if (it == handles_.end()) return;
      const bool running =
          it->second.probes[index_of(core::ProbeRole::Ready)].incarnation == incarnation;
      if (!running && it->second.early_ready) return;
      if (!std::regex_search(line.begin(), line.end(), *pattern)) return;
      std::string detail = "log line matched: " + std::string(line.substr(0, 200));
      if (!running) {
        it->second.early_ready.emplace(incarnation, std::move(detail));
        return;
      }
      defer_probe_success(name, incarnation, std::move(detail));
    });
  }
  if (program.ready->kind == config::Probe::Kind::Notify) {
    auto opened = probes_.open_notify(
        plan.user, [this, name, incarnation](const Probes::NotifyMessage& message) {
          auto it = handles_.find(name);
          if (it == handles_.end()) return;
          if (message.status) it->second.notify_status = *message.status;
          if (message.ready) {
            if (it->second.probes[index_of(core::ProbeRole::Ready)].incarnation == incarnation) {
              defer_probe_success(name, incarnation, "READY=1");
            } else if (!it->second.early_ready) {
              it->second.early_ready.emplace(incarnation, "READY=1");  // before the probe started
            }
          }
        });
    if (auto* error = std::get_if<std::string>(&opened)) {
      // The process still starts; without its socket it cannot become
      // ready, so the ready timeout ends the start and says why.
      spdlog::error("{}: cannot open its NOTIFY_SOCKET: {}", name, *error);
      return;
    }
    auto& [id, address] = std::get<std::pair<Probes::NotifyId, std::string>>(opened);
    handles.notify = id;
    std::erase_if(plan.envp,
                  [](const std::string& kv) { return kv.starts_with("NOTIFY_SOCKET="); });
    plan.envp.push_back("NOTIFY_SOCKET=" + address);
  }
}

void Runtime::close_notify(Handles& handles) {
  if (handles.notify == 0) return;
  probes_.close_notify(handles.notify);
  handles.notify = 0;
}

void Runtime::defer_probe_success(const std::string& name, core::Incarnation incarnation,
                                  std::string detail) {
  timers_.arm(timers_.now(), [this, name, incarnation, detail = std::move(detail)] {
    report(name, incarnation, core::ProbeSucceeded{detail});
    execute({});
  });
}

void Runtime::start_probe(const std::string& name, const core::StartProbe& start) {
  const core::ManagedProcess* process = supervisor_->find(name);
  auto it = handles_.find(name);
  if (process == nullptr || it == handles_.end()) return;
  const config::Probe* probe = probe_of(process->program_config(), start.role);
  if (probe == nullptr) return;
  ProbeRun& run = it->second.probes[index_of(start.role)];
  stop_probe(name, core::StopProbe{start.role});
  run.incarnation = start.incarnation;
  if (probe->kind == config::Probe::Kind::Log || probe->kind == config::Probe::Kind::Notify) {
    // Event-driven: the line watcher or the notify socket answers; an
    // answer that came before this start is given now.
    auto& early = it->second.early_ready;
    if (start.role == core::ProbeRole::Ready && early && early->first == start.incarnation)
      defer_probe_success(name, start.incarnation, std::move(early->second));
    early.reset();
    return;
  }
  if (start.role == core::ProbeRole::Ready) {
    probe_attempt(name, start.role);
  } else {
    schedule_probe_attempt(name, start.role, probe->interval);  // the first check after interval
  }
}

void Runtime::stop_probe(const std::string& name, const core::StopProbe& stop) {
  auto it = handles_.find(name);
  if (it == handles_.end()) return;
  ProbeRun& run = it->second.probes[index_of(stop.role)];
  if (run.attempt != 0) probes_.cancel(run.attempt);
  if (run.timer != 0) timers_.cancel(run.timer);
  run = ProbeRun{};
}

void Runtime::schedule_probe_attempt(const std::string& name, core::ProbeRole role,
                                     std::chrono::nanoseconds after) {
  auto it = handles_.find(name);
  if (it == handles_.end()) return;
  ProbeRun& run = it->second.probes[index_of(role)];
  const core::Incarnation incarnation = run.incarnation;
  run.timer = timers_.arm(timers_.now() + after, [this, name, role, incarnation] {
    auto handles = handles_.find(name);
    if (handles == handles_.end()) return;
    ProbeRun& current = handles->second.probes[index_of(role)];
    if (current.incarnation != incarnation) return;
    current.timer = 0;
    probe_attempt(name, role);
  });
}

void Runtime::probe_attempt(const std::string& name, core::ProbeRole role) {
  const core::ManagedProcess* process = supervisor_->find(name);
  auto it = handles_.find(name);
  if (process == nullptr || it == handles_.end()) return;
  const config::Probe* probe = probe_of(process->program_config(), role);
  ProbeRun& run = it->second.probes[index_of(role)];
  if (probe == nullptr || run.incarnation == 0) return;
  const std::chrono::nanoseconds bound =
      role == core::ProbeRole::Ready
          ? std::max<std::chrono::nanoseconds>(probe->interval, kMinReadyAttempt)
          : std::chrono::nanoseconds(probe->timeout);
  const SpawnPlan plan =
      plan_spawn(process->program_config(), process->process_config(),
                 config_.supervisor.environment, options_.environment, options_.child_rlimits);
  const core::Incarnation incarnation = run.incarnation;
  // An exec probe's argv is expanded per process (${MINISUP_PROCESS_NUM}).
  config::Probe attempt = *probe;
  if (attempt.kind == config::Probe::Kind::Exec) {
    const auto& argv = role == core::ProbeRole::Ready ? process->process_config().ready_exec
                                                      : process->process_config().health_exec;
    if (!argv.empty()) attempt.exec = argv;
  }
  run.attempt =
      probes_.attempt(attempt, plan, bound, [this, name, role, incarnation](Probes::Result result) {
        on_probe_result(name, role, incarnation, std::move(result));
      });
}

void Runtime::on_probe_result(const std::string& name, core::ProbeRole role,
                              core::Incarnation incarnation, Probes::Result result) {
  auto it = handles_.find(name);
  if (it == handles_.end()) return;
  ProbeRun& run = it->second.probes[index_of(role)];
  if (run.incarnation != incarnation) return;
  run.attempt = 0;
  const core::ManagedProcess* process = supervisor_->find(name);
  if (process == nullptr) return;
  const config::Probe* probe = probe_of(process->program_config(), role);
  if (probe == nullptr) return;
  if (role == core::ProbeRole::Ready) {
    if (result.ok) {
      report(name, incarnation, core::ProbeSucceeded{describe_probe(*probe)});
    } else {
      spdlog::debug("{}: not ready yet: {}", name, result.detail);
      report(name, incarnation, core::ProbeFailed{result.detail});
      schedule_probe_attempt(name, role, probe->interval);
    }
  } else {
    if (!result.ok) spdlog::warn("{}: health check failed: {}", name, result.detail);
    report(name, incarnation, core::HealthChecked{result.ok, result.detail});
    schedule_probe_attempt(name, role, probe->interval);
  }
  // A StopProbe decided by what was just reported cancels the attempt
  // scheduled above when it is carried out.
  execute({});
}

std::string Runtime::starting_description(const core::ManagedProcess& process) const {
  const core::ProcessMachine& machine = process.machine();
  if (!machine.waiting_for().empty()) return "waiting for " + machine.waiting_for();
  const auto& ready = process.program_config().ready;
  if (!ready || machine.pid() == 0 || process.program_config().job) return {};
  std::string text = "waiting for " + describe_probe(*ready) + ", " +
                     core::seconds_text(timers_.now() - machine.started_at());
  if (!machine.probe_detail().empty()) text += " (" + machine.probe_detail() + ")";
  return text;
}

}  // namespace minisup::daemon
