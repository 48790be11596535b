// Runtime: the lifecycle half (spawn, signals, deadlines, reaping, reload,
// shutdown). The request half is in dispatch.cc.
#include "supervisor/daemon/runtime.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "supervisor/config/load_config.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/core/text.h"
#include "supervisor/logging/daemon_log.h"

namespace minisup::daemon {

namespace {

/// Heap trimming: after a batch of this many actions (a start or stop of
/// many processes), at once; after a big reply (dispatch.cc), this long
/// after it, once the reply has gone out (schedule_trim()).
constexpr std::size_t kTrimAfterActions = 64;
constexpr auto kTrimDelay = std::chrono::milliseconds(100);

std::string describe_pid(const std::string& process, int pid) {
  return pid > 0 ? fmt::format("{} (pid {})", process, pid) : process;
}

std::size_t index_of(core::DeadlineKind kind) { return static_cast<std::size_t>(kind); }

}  // namespace

Runtime::Runtime(config::Config config, System& system, Timers& timers, Clients& clients,
                 Probes& probes, Options options)
    : config_(std::move(config)),
      system_(system),
      timers_(timers),
      clients_(clients),
      probes_(probes),
      options_(std::move(options)),
      steady_origin_(timers.now()),
      wall_origin_(std::chrono::system_clock::now()) {
  system_.outputs_configured(config_.programs);
  supervisor_ = std::make_unique<core::Supervisor>(config_, system_.tree_mode() == TreeMode::Cgroup
                                                                ? core::TreeTracking::Cgroup
                                                                : core::TreeTracking::Strays);
  system_.set_on_tree_emptied([this](const std::string& process) { tree_emptied(process); });
  for (const core::ManagedProcess* process : supervisor_->processes()) setup_process(*process);
  drop_program_copies();
}

Runtime::~Runtime() {
  tail_followers_.clear();
  for (const Waiter& waiter : waiters_) {
    if (waiter.timeout != 0) timers_.cancel(waiter.timeout);
  }
  waiters_.clear();
  for (auto& [name, handles] : handles_) release_handles(handles);
  handles_.clear();
  for (auto timer : {trim_timer_, slice_timer_, reload_timer_}) {
    if (timer != 0) timers_.cancel(timer);
  }
}

void Runtime::start() {
  std::vector<core::ProcessAction> autostart = supervisor_->start_autostart(timers_.now());
  // The config's parse tree and loading scratch are gone: trim, unless the
  // batch is big enough for run_slice() to do it anyway.
  const bool trims_itself = autostart.size() >= kTrimAfterActions;
  execute(std::move(autostart));
  if (!trims_itself) ::malloc_trim(0);
}

bool Runtime::finished() const {
  return supervisor_->shutting_down() && supervisor_->shutdown_complete() &&
         pending_actions_.empty();
}

int Runtime::kill_leftover_trees() {
  int leftovers = 0;
  for (const core::ManagedProcess* process : supervisor_->processes()) {
    const std::string& name = process->name();
    // The group id is the last leader's pid (the core keeps it in the exit
    // record once the leader is gone).
    const auto& exit = process->machine().last_exit();
    const int pgid = process->machine().process_group() != 0 ? process->machine().process_group()
                     : exit                                  ? exit->pid
                                                             : 0;
    // has_strays() scans once for all processes; kill_strays() scans again
    // only for a process that has some.
    std::vector<TreeMember> killed;
    if (system_.has_strays(name)) killed = system_.kill_strays(name);
    if ((pgid > 0 || system_.tree_mode() == TreeMode::Cgroup) && system_.tree_alive(name, pgid)) {
      std::vector<TreeMember> members = system_.tree_members(name, pgid);
      system_.signal_tree(name, pgid, SIGKILL);
      killed.insert(killed.begin(), members.begin(), members.end());
      if (members.empty()) killed.push_back({pgid, "?"});
    }
    if (killed.empty()) continue;
    spdlog::warn("{}: SIGKILL to {} leftover process{} at exit: {}", name, killed.size(),
                 killed.size() == 1 ? "" : "es", describe_members(killed));
    ++leftovers;
  }
  return leftovers;
}

void Runtime::tree_emptied(const std::string& name) {
  const core::ManagedProcess* process = supervisor_->find(name);
  if (process == nullptr) {
    system_.release_tree(name);  // removed by a reload: its cgroup goes
    return;
  }
  // The notice only says that cgroup.events changed: whether the cgroup is
  // empty is read here, and only when that matters (a running process's
  // cgroup becoming populated at its spawn costs no read).
  const core::ProcessMachine& machine = process->machine();
  if (machine.group_lingering()) {
    if (system_.tree_alive(name, machine.process_group())) return;
    report(name, machine.incarnation(), core::GroupProbed{false});
    execute({});
  } else if (core::is_idle(machine.state())) {
    system_.release_tree(name);
  }
}

void Runtime::setup_process(const core::ManagedProcess& process) {
  Handles& handles = handles_[process.name()];
  handles.output = system_.make_output(process.program_config(), process.process_config());
  const auto& ready = process.program_config().ready;
  if (ready && ready->kind == config::Probe::Kind::Log) {
    try {
      handles.ready_pattern = std::make_shared<const std::regex>(
          ready->pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      // The loader compiled it already; this cannot fail for a loaded
      // config, but a process without its pattern just never gets ready.
      spdlog::error("{}: ready.log pattern: {}", process.name(), e.what());
    }
  }
}

void Runtime::retire_handles(const std::string& name, const std::string& as) {
  auto it = handles_.find(name);
  const core::ManagedProcess* old = supervisor_->find(as);
  if (it == handles_.end() || old == nullptr) return;
  Handles moved = std::move(it->second);
  handles_.erase(it);
  const core::ProcessMachine& machine = old->machine();
  // Its callbacks name `name`: the probes (it was ready already; a health
  // check of a process on its way out is of no use), the ready log
  // watcher and the notify socket end here; its deadlines are armed again
  // under its new name.
  for (ProbeRun& run : moved.probes) {
    if (run.attempt != 0) probes_.cancel(run.attempt);
    if (run.timer != 0) timers_.cancel(run.timer);
    run = ProbeRun{};
  }
  close_notify(moved);
  if (moved.output) moved.output->set_line_watcher({});
  std::array<bool, core::kDeadlineKinds> armed{};
  for (std::size_t k = 0; k < core::kDeadlineKinds; ++k) {
    if (moved.deadlines[k] == 0) continue;
    timers_.cancel(moved.deadlines[k]);
    moved.deadlines[k] = 0;
    armed[k] = true;
  }
  handles_[as] = std::move(moved);
  for (std::size_t k = 0; k < core::kDeadlineKinds; ++k) {
    const auto kind = static_cast<core::DeadlineKind>(k);
    if (armed[k] && machine.deadline(kind))
      arm_deadline(as, core::ArmDeadline{kind, *machine.deadline(kind), machine.incarnation()});
  }
  for (auto& [pid, child] : children_) {
    if (child.process == name && child.incarnation == machine.incarnation()) child.process = as;
  }
  system_.rename_tree(name, as);
  spdlog::info("{}: replaced by a new process; the old one (pid {}) goes on as {}", name,
               machine.pid(), as);
  // The new run gets handles of its own (its output: the same log files).
  if (const core::ManagedProcess* process = supervisor_->find(name)) setup_process(*process);
}

void Runtime::release_handles(Handles& handles) {
  for (auto timer : handles.deadlines) {
    if (timer != 0) timers_.cancel(timer);
  }
  for (ProbeRun& run : handles.probes) {
    if (run.attempt != 0) probes_.cancel(run.attempt);
    if (run.timer != 0) timers_.cancel(run.timer);
    run = ProbeRun{};
  }
  close_notify(handles);
}

void Runtime::execute(std::vector<core::ProcessAction> actions) {
  if (actions.empty() && (running_slice_ || slice_timer_ != 0)) return;
  for (core::ProcessAction& action : actions) pending_actions_.push_back(std::move(action));
  std::vector<core::ProcessAction>().swap(actions);
  // Inside a slice, or with a rest waiting for the next slice: those take
  // the new actions in turn.
  if (running_slice_ || slice_timer_ != 0) return;
  run_slice();
}

void Runtime::run_slice() {
  running_slice_ = true;
  const auto slice_end = timers_.now() + options_.slice_budget;
  std::size_t performed = 0;
  while (!pending_actions_.empty()) {
    if (performed > 0 && timers_.now() >= slice_end) break;
    core::ProcessAction action = std::move(pending_actions_.front());
    pending_actions_.pop_front();
    ++performed;
    perform(action);  // what it feeds back joins the end of the queue
  }
  running_slice_ = false;
  // Settling only answers; it decides nothing, so it adds no action.
  if (settle_needed_) settle_requests();
  if (processes_changed_ && pending_actions_.empty()) publish_processes_changed();
  if (!pending_actions_.empty()) {
    // The rest waits for the next loop round: clients are served first.
    slice_timer_ = timers_.arm(timers_.now(), [this] {
      slice_timer_ = 0;
      run_slice();
    });
    return;
  }
  std::deque<core::ProcessAction>().swap(pending_actions_);
  // A big batch (a start or stop of many processes) and the replies it
  // completed have just freed their actions, queue and scratch: give the
  // pages back now.
  if (performed >= kTrimAfterActions) ::malloc_trim(0);
  if (finished() && !finished_reported_) report_finished();
}

void Runtime::report_finished() {
  finished_reported_ = true;
  if (shutdown_tally_) spdlog::info("{}", shutdown_tally_->line(timers_.now()));
  if (on_finished_) on_finished_();
}

void Runtime::schedule_trim() {
  if (trim_timer_ != 0) return;
  trim_timer_ = timers_.arm(timers_.now() + kTrimDelay, [this] {
    trim_timer_ = 0;
    ::malloc_trim(0);
  });
}

void Runtime::report(const std::string& process, core::Incarnation incarnation,
                     const core::Event& fact) {
  for (auto& next : supervisor_->report(process, incarnation, fact, timers_.now()))
    pending_actions_.push_back(std::move(next));
}

void Runtime::perform(const core::ProcessAction& action) {
  const std::string& name = action.process;
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, core::Spawn>) {
          perform_spawn(name, a);
        } else if constexpr (std::is_same_v<T, core::SendSignal>) {
          send_signal(name, a);
        } else if constexpr (std::is_same_v<T, core::ArmDeadline>) {
          arm_deadline(name, a);
        } else if constexpr (std::is_same_v<T, core::CancelDeadline>) {
          cancel_deadline(name, a.kind);
        } else if constexpr (std::is_same_v<T, core::StartProbe>) {
          start_probe(name, a);
        } else if constexpr (std::is_same_v<T, core::StopProbe>) {
          stop_probe(name, a);
        } else if constexpr (std::is_same_v<T, core::ProbeGroup>) {
          const core::ManagedProcess* process = supervisor_->find(name);
          if (process == nullptr || process->machine().process_group() <= 0) return;
          // The leader's group counts with killasgroup (always with
          // cgroups); strays of the fallback count in any case.
          const core::ProcessMachine& machine = process->machine();
          bool alive =
              machine.policy().killasgroup && system_.tree_alive(name, machine.process_group());
          if (!alive && system_.tree_mode() == TreeMode::Group) alive = system_.has_strays(name);
          report(name, process->machine().incarnation(), core::GroupProbed{alive});
        } else if constexpr (std::is_same_v<T, core::StateChanged>) {
          on_state_changed(name, a);
        } else if constexpr (std::is_same_v<T, core::RecordExit>) {
          spdlog::debug("{}: exit recorded: {} ({})", describe_pid(name, a.record.pid),
                        a.record.text(), core::to_string(a.record.reason));
        } else if constexpr (std::is_same_v<T, core::Notice>) {
          const core::ManagedProcess* process = supervisor_->find(name);
          int pid = process ? process->machine().pid() : 0;
          spdlog::warn("{} {}", describe_pid(name, pid), a.message);
        } else if constexpr (std::is_same_v<T, core::AddProcess>) {
          if (const core::ManagedProcess* process = supervisor_->find(name))
            setup_process(*process);
          processes_changed_ = true;
        } else if constexpr (std::is_same_v<T, core::ProcessRetired>) {
          retire_handles(name, a.as);
          processes_changed_ = true;  // the old run shows under its new name
        } else if constexpr (std::is_same_v<T, core::RemoveProcess>) {
          auto it = handles_.find(name);
          if (it != handles_.end()) {
            release_handles(it->second);
            handles_.erase(it);
          }
          system_.release_tree(name);
          for (Waiter& waiter : waiters_) waiter.request.note_removed(name);
          settle_needed_ = true;
          processes_changed_ = true;
        }
      },
      action.action);
}

void Runtime::perform_spawn(const std::string& name, const core::Spawn& spawn) {
  const core::ManagedProcess* process = supervisor_->find(name);
  auto handles = handles_.find(name);
  if (process == nullptr || handles == handles_.end()) return;
  // A Spawn decided for an incarnation the machine has left behind (it was
  // stopped while the spawn waited in the queue) is not carried out.
  if (process->machine().incarnation() != spawn.incarnation) return;
  SpawnPlan plan =
      plan_spawn(process->program_config(), process->process_config(),
                 config_.supervisor.environment, options_.environment, options_.child_rlimits);
  prepare_probes(*process, spawn.incarnation, handles->second, plan);
  auto result = system_.spawn(plan, *handles->second.output);
  if (auto* error = std::get_if<std::string>(&result)) {
    report(name, spawn.incarnation, core::SpawnFailed{*error});
    return;
  }
  const int pid = std::get<int>(result);
  children_[pid] = Child{name, spawn.incarnation};
  spdlog::debug("{}: spawned {}", describe_pid(name, pid), plan.argv.front());
  report(name, spawn.incarnation, core::Spawned{pid});
}

void Runtime::send_signal(const std::string& name, const core::SendSignal& signal) {
  const core::ManagedProcess* process = supervisor_->find(name);
  if (process == nullptr) return;
  const core::ProcessMachine& machine = process->machine();
  const int pid = machine.pid();
  const int pgid = machine.process_group();
  bool sent = false;
  try {
    // SIGKILL at a stop deadline: say which processes besides the leader
    // it had to kill (cgroup members, or strays of the fallback).
    std::vector<TreeMember> leftovers;
    if (signal.signal == SIGKILL) {
      if (signal.to_group && pgid > 0 && (pid > 0 || machine.group_lingering())) {
        for (TreeMember& member : system_.tree_members(name, pgid)) {
          if (member.pid != pid) leftovers.push_back(std::move(member));
        }
      }
      if (system_.has_strays(name)) {
        for (TreeMember& stray : system_.kill_strays(name)) leftovers.push_back(std::move(stray));
      }
    }
    if (signal.to_group) {
      // The group id is the leader's pid; it cannot be reused while the
      // group has members, and the core keeps it only while the leader is
      // unreaped or its group lingers.
      if (pgid > 0 && (pid > 0 || machine.group_lingering()))
        sent = system_.signal_tree(name, pgid, signal.signal);
    } else if (pid > 0) {
      sent = system_.signal_process(pid, signal.signal);
    }
    if (!leftovers.empty()) {
      spdlog::warn("{}: SIGKILL to {} leftover process{}: {}", name, leftovers.size(),
                   leftovers.size() == 1 ? "" : "es", describe_members(leftovers));
    }
    // A process that was stopped (SIGSTOP, a debugger) cannot act on its
    // stop signal until it is continued; s6 does the same.
    if (sent && signal.signal != SIGKILL && signal.signal != SIGCONT) {
      if (signal.to_group) {
        system_.signal_tree(name, pgid, SIGCONT);
      } else {
        system_.signal_process(pid, SIGCONT);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: send {}: {}", name, config::signal_name(signal.signal), e.what());
    return;
  }
  spdlog::debug("{}: sent {}{}{}", describe_pid(name, pid > 0 ? pid : pgid),
                config::signal_name(signal.signal), signal.to_group ? " to its process group" : "",
                sent ? "" : " (already gone)");
}

void Runtime::arm_deadline(const std::string& name, const core::ArmDeadline& deadline) {
  cancel_deadline(name, deadline.kind);
  auto it = handles_.find(name);
  if (it == handles_.end()) return;
  const core::DeadlineKind kind = deadline.kind;
  const core::Incarnation incarnation = deadline.incarnation;
  // The callback learns its own id once armed: a late callback of a timer
  // that was replaced must not clear the slot of the one that replaced it.
  auto self = std::make_shared<Timers::TimerId>(0);
  *self = timers_.arm(deadline.at, [this, name, kind, incarnation, self] {
    auto handles = handles_.find(name);
    if (handles != handles_.end() && handles->second.deadlines[index_of(kind)] == *self)
      handles->second.deadlines[index_of(kind)] = 0;
    report(name, incarnation, core::DeadlineExpired{kind});
    execute({});
  });
  it->second.deadlines[index_of(kind)] = *self;
}

void Runtime::cancel_deadline(const std::string& name, core::DeadlineKind kind) {
  auto it = handles_.find(name);
  if (it == handles_.end()) return;
  auto& timer = it->second.deadlines[index_of(kind)];
  if (timer == 0) return;
  timers_.cancel(timer);
  timer = 0;
}

void Runtime::on_state_changed(const std::string& name, const core::StateChanged& change) {
  const core::ManagedProcess* process = supervisor_->find(name);
  int pid = 0;
  if (process) pid = process->machine().pid();
  if (pid == 0 && change.exit) pid = change.exit->pid;
  auto level = change.to == core::ProcessState::Fatal || change.to == core::ProcessState::Backoff
                   ? spdlog::level::warn
                   : spdlog::level::info;
  spdlog::log(level, "{}: {} -> {}{}{}", describe_pid(name, pid), core::to_string(change.from),
              core::to_string(change.to), change.reason.empty() ? "" : ": ", change.reason);
  publish_event(name, change);
  settle_needed_ = true;
  // Idle: its cgroup goes, now if empty, else when it becomes so.
  if (core::is_idle(change.to)) system_.release_tree(name);
  if (!shutdown_tally_ && supervisor_->shutting_down()) {
    // The core began the shutdown itself (a program's shutdown_on).
    spdlog::info("graceful shutdown ({})", supervisor_->shutdown_cause().value_or("shutdown_on"));
    shutdown_tally_.emplace(timers_.now());
  }
  if (shutdown_tally_) shutdown_tally_->note(name, change);
  if (on_state_change_) on_state_change_();
}

void Runtime::children_exited() {
  bool orphan_reaped = false;
  for (const sys::Reaped& reaped : system_.reap()) {
    auto it = children_.find(reaped.pid);
    if (it == children_.end()) {
      if (probes_.child_reaped(reaped)) {  // an exec probe's
        orphan_reaped = true;              // it may have counted as a stray
        continue;
      }
      spdlog::debug("reaped pid {} ({}), not a supervised process", reaped.pid,
                    core::exit_text(reaped.exit_code, reaped.exit_signal, reaped.core_dumped));
      orphan_reaped = true;
      continue;
    }
    Child child = std::move(it->second);
    children_.erase(it);
    // What it wrote before it exited is in its pipes: into the logs first,
    // so whoever hears of the exit (a `stop` reply, `wait`, a test reading
    // the log next) finds its last lines there.
    auto handles = handles_.find(child.process);
    if (handles != handles_.end() && handles->second.output)
      handles->second.output->read_buffered();
    report(child.process, child.incarnation,
           core::ChildExited{reaped.exit_code, reaped.exit_signal, reaped.core_dumped});
  }
  // A lingering group's last member may have been the orphan.
  if (orphan_reaped) execute(supervisor_->orphan_reaped());
  execute({});
}

void Runtime::begin_shutdown(const std::string& why) {
  if (supervisor_->shutting_down()) {
    spdlog::info("{} during shutdown: ignored (shutdown already in progress)", why);
    return;
  }
  spdlog::info("graceful shutdown ({})", why);
  shutdown_tally_.emplace(timers_.now());
  execute(supervisor_->begin_shutdown(timers_.now()));
  if (on_state_change_) on_state_change_();
  if (finished() && !finished_reported_ && !running_slice_ && slice_timer_ == 0) report_finished();
}

config::LoadResult Runtime::load_again(const std::string& why) {
  config::LoadResult loaded = config::load_config(config_.file, config::process_environment());
  schedule_trim();  // the parse tree of the whole config has come and gone
  if (loaded.config) {
    if (auto error = options_.command_line.apply(*loaded.config)) {
      loaded.errors.push_back(config::ConfigError{{}, *error});
    }
  }
  if (!loaded.errors.empty() || !loaded.config) {
    spdlog::error("{}: {} error(s) in {}; keeping the running config", why, loaded.errors.size(),
                  config_.file.string());
    for (const auto& error : loaded.errors) spdlog::error("  {}", error.to_string());
  }
  return loaded;
}

std::optional<core::ReloadResult> Runtime::apply_new_config(config::Config new_config,
                                                            const std::string& why,
                                                            std::string* refused) {
  if (supervisor_->shutting_down()) {
    spdlog::warn("{}: refused during shutdown", why);
    return std::nullopt;
  }
  // The new sockets are bound (and the old ones kept) before any process
  // of the new config may need them; a failure keeps the running config.
  if (auto error = system_.hold_sockets(new_config.sockets)) {
    spdlog::error("{}: {}; keeping the running config", why, *error);
    if (refused != nullptr) *refused = *error;
    return std::nullopt;
  }
  core::ReloadResult result = supervisor_->apply_config(new_config, timers_.now());
  if (!result.applied) {
    spdlog::warn("{}: refused during shutdown", why);
    return std::nullopt;
  }
  spdlog::info("{}: {} added, {} changed, {} removed", why, result.added.size(),
               result.changed.size(), result.removed.size());
  for (const auto& name : result.added) spdlog::info("{}: added", name);
  for (const auto& name : result.changed) spdlog::info("{}: changed", name);
  for (const auto& name : result.removed) spdlog::info("{}: removed", name);
  if (new_config.supervisor.socket != config_.supervisor.socket) {
    spdlog::warn("{}: a new socket path takes effect when minisupd restarts", why);
    new_config.supervisor.socket = config_.supervisor.socket;
  }
  // The HTTP listener keeps the settings it started with (handle_reread()
  // said so): the next reread compares against those.
  new_config.http = config_.http;
  config_ = std::move(new_config);
  logging::set_daemon_log_level(config_.supervisor.loglevel);
  system_.outputs_configured(config_.programs);
  drop_program_copies();
  return result;
}

void Runtime::drop_program_copies() {
  // The Supervisor keeps every definition in force; a second copy here
  // would cost kilobytes per program (see current_config()).
  config_.programs.clear();
  config_.programs.shrink_to_fit();
}

config::Config Runtime::current_config() const {
  config::Config current;
  current.file = config_.file;
  current.supervisor = config_.supervisor;
  std::set<std::string> seen;
  for (const core::ManagedProcess* process : supervisor_->processes()) {
    if (seen.insert(process->program_name()).second)
      current.programs.push_back(process->program_config());
  }
  return current;
}

std::optional<std::string> http_change_note(const std::optional<config::HttpConfig>& running,
                                            const std::optional<config::HttpConfig>& loaded) {
  // What the listener does; not where [http] is written.
  auto settings = [](const config::HttpConfig& h) {
    return std::tie(h.listen, h.token, h.username, h.password_sha256, h.read_only, h.hosts);
  };
  if (running.has_value() == loaded.has_value() &&
      (!running || settings(*running) == settings(*loaded))) {
    return std::nullopt;
  }
  return "[http] changed; the HTTP listener keeps its settings until minisupd starts again";
}

void Runtime::reload(const std::string& why) {
  config::LoadResult loaded = load_again("reload (" + why + ")");
  if (!loaded.config || !loaded.errors.empty()) return;
  if (auto note = http_change_note(config_.http, loaded.config->http))
    spdlog::warn("reload ({}): {}", why, *note);
  if (auto result = apply_new_config(std::move(*loaded.config), "reload (" + why + ")")) {
    execute(std::move(result->actions));
  }
}

void Runtime::request_reload(const std::string& why) {
  if (reload_timer_ != 0) {
    ++reloads_folded_;
    return;
  }
  reload_timer_ = timers_.arm(timers_.now(), [this, why] {
    reload_timer_ = 0;
    const int folded = std::exchange(reloads_folded_, 0);
    if (folded > 0) spdlog::info("{}: {} more signal(s) folded into this reload", why, folded);
    reload(why);
  });
}

void Runtime::reopen_logs() {
  spdlog::info("SIGUSR2: reopening log files");
  std::string error;
  if (!logging::reopen_daemon_log(&error)) spdlog::error("reopen the daemon log: {}", error);
  for (auto& [name, handles] : handles_) handles.output->reopen();
}

std::chrono::system_clock::time_point Runtime::to_wall(TimePoint t) const {
  return wall_origin_ +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady_origin_);
}

}  // namespace minisup::daemon
