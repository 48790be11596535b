// Runtime: the lifecycle half (spawn, signals, deadlines, reaping, reload,
// shutdown). The control half is in dispatch.cc.
#include "supervisor/daemon/runtime.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <type_traits>

#include "supervisor/config/load_config.h"
#include "supervisor/core/signal_names.h"
#include "supervisor/core/text.h"
#include "supervisor/logging/daemon_log.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::daemon {

namespace {

/// How long minisupd waits, at exit, for leftover group members it sent
/// SIGKILL to (they die at once; this only bounds a kernel that is slow).
constexpr auto kLeftoverReapTimeout = std::chrono::seconds(2);

/// Heap trimming: after a batch of this many actions (a start or stop of
/// many processes), at once; after a big reply (dispatch.cc), this long
/// after it, once the reply has gone out (schedule_trim()).
constexpr std::size_t kTrimAfterActions = 64;
constexpr auto kTrimDelay = std::chrono::milliseconds(100);

/// How long execute() works before it lets the loop serve others (a spawn
/// waits for its child's exec: about 1 ms each).
constexpr auto kSliceBudget = std::chrono::milliseconds(20);

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

std::string describe_pid(const std::string& process, int pid) {
  return pid > 0 ? fmt::format("{} (pid {})", process, pid) : process;
}

}  // namespace

Runtime::Runtime(config::Config config)
    : config_(std::move(config)),
      steady_origin_(std::chrono::steady_clock::now()),
      wall_origin_(std::chrono::system_clock::now()) {
  logging::setup_daemon_log(config_.supervisor.logfile, config_.supervisor.loglevel);
  for (const auto& warning : config_.warnings) spdlog::warn("config: {}", warning);

  // A closed pipe or an over-large file must become an error return, not
  // minisupd's death (PITFALLS 9). Children get default dispositions back.
  sys::ignore_signal(SIGPIPE);
  sys::ignore_signal(SIGXFSZ);
  // Timer slack defaults to 50 us and grows with load; deadlines such as
  // stopwaitsecs should fire as close to the instant as the kernel can.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  // Many programs need many descriptors (pipes, pidfds, log files); the soft
  // limit (often 1024) is raised to the hard one. Children get the limit
  // minisupd was started with back (spawn()).
  original_nofile_ = sys::raise_nofile_limit();
  if (struct rlimit now{}; getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_cur != original_nofile_.rlim_cur)
    spdlog::debug("descriptor limit raised from {} to {}", original_nofile_.rlim_cur, now.rlim_cur);

  loop_.set_error_hook([](const char* what) { spdlog::error("internal error: {}", what); });
  loop_.watch_signals(handled_signals(), [this](const signalfd_siginfo& info) { on_signal(info); });

  // The socket is checked (and a live one refused) before any program starts.
  control::ControlServer::Handlers handlers;
  handlers.on_line = [this](ClientId client, const control::ControlServer::Peer& peer,
                            std::string_view line) { on_client_line(client, peer, line); };
  handlers.on_disconnect = [this](ClientId client) { on_client_disconnect(client); };
  handlers.on_log = [](std::string_view message) { spdlog::warn("control: {}", message); };
  // Whom the server may evict at its client cap: not a client still waiting
  // for an answer (start/stop/restart/wait/update, tail -f, events).
  handlers.holds_answer = [this](ClientId client) {
    if (tail_followers_.count(client) != 0 || event_subscribers_.count(client) != 0) return true;
    for (const Waiter& waiter : waiters_) {
      if (waiter.client == client) return true;
    }
    return false;
  };
  control::ControlServer::Access access;
  access.uids = config_.supervisor.socket_uids;
  access.gid = config_.supervisor.socket_group;
  access.group_members = config_.supervisor.socket_group_members;
  server_ = std::make_unique<control::ControlServer>(
      loop_, config_.supervisor.socket, config_.supervisor.socket_mode, std::move(handlers),
      control::ControlServer::Limits{}, std::move(access));

  console_ = std::make_shared<logging::ConsoleWriter>(loop_);
  console_->set_name_width(logging::console_name_width(config_.programs));
  supervisor_ = std::make_unique<core::Supervisor>(config_);
  for (const core::ManagedProcess* process : supervisor_->processes()) setup_process(*process);
  drop_program_copies();
}

Runtime::~Runtime() {
  // Remove waiters' timers and followers before the loop goes away.
  tail_followers_.clear();
  waiters_.clear();
  runtimes_.clear();
  server_.reset();
}

int Runtime::run() {
  // Orphaned descendants of our children are handed to us, so that we reap
  // them (as PID 1 the kernel hands us everything anyway). Set here, not in
  // the constructor: the flag is not inherited across --daemon's fork.
  sys::set_child_subreaper();
  if (config_.supervisor.pidfile) {
    std::ofstream out(*config_.supervisor.pidfile, std::ios::trunc);
    out << getpid() << '\n';
    if (!out) {
      spdlog::error("write pidfile {}: {}", config_.supervisor.pidfile->string(),
                    std::strerror(errno));
    } else {
      pidfile_written_ = true;
    }
  }
  spdlog::info("minisupd {} started (pid {}), config {}, socket {}, {} process(es)",
               MINISUP_VERSION, getpid(), config_.file.string(), config_.supervisor.socket.string(),
               supervisor_->processes().size());
  std::vector<core::ProcessAction> autostart = supervisor_->start_autostart(loop_.now());
  // The config's parse tree and loading scratch are gone: trim, unless the
  // batch is big enough for execute() to do it anyway.
  const bool trims_itself = autostart.size() >= kTrimAfterActions;
  execute(std::move(autostart));
  if (!trims_itself) ::malloc_trim(0);
  if (!supervisor_->shutting_down() || !supervisor_->shutdown_complete()) loop_.run();

  // Every program is down. Members of their groups that outlived them (a
  // leader that did not use stopasgroup) must not outlive minisupd: they
  // would be orphaned or, under PID 1, killed uncleanly by the kernel.
  int leftovers = 0;
  for (auto& [name, rt] : runtimes_) {
    if (rt.pgid > 0 && sys::group_alive(rt.pgid)) {
      spdlog::warn("{}: processes of its group (pgid {}) outlived it; sent SIGKILL", name, rt.pgid);
      sys::signal_group(rt.pgid, SIGKILL);
      ++leftovers;
    }
  }
  if (leftovers > 0) {
    auto deadline = std::chrono::steady_clock::now() + kLeftoverReapTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid < 0) break;  // ECHILD: nothing left
      if (pid == 0) usleep(1000);
    }
  }
  sys::reap_all();
  console_->flush(std::chrono::milliseconds(500));
  if (pidfile_written_) {
    std::error_code ignored;
    std::filesystem::remove(*config_.supervisor.pidfile, ignored);
  }
  spdlog::info("minisupd stopped");
  spdlog::default_logger()->flush();
  return 0;
}

void Runtime::setup_process(const core::ManagedProcess& process) {
  ProcessRuntime& rt = runtimes_[process.name()];
  rt.output = std::make_unique<logging::ProcessOutput>(process.program_config(),
                                                       process.process_config(), console_);
}

void Runtime::execute(std::vector<core::ProcessAction> actions) {
  if (actions.empty() && (running_slice_ || slice_timer_ != 0)) return;
  for (core::ProcessAction& action : actions) pending_actions_.push_back(std::move(action));
  std::vector<core::ProcessAction>().swap(actions);
  // Inside a slice (a waiter answered from it started something), or with a
  // rest waiting for the next slice: those take the new actions in turn.
  if (running_slice_ || slice_timer_ != 0) return;
  run_slice();
}

void Runtime::run_slice() {
  running_slice_ = true;
  const auto slice_end = std::chrono::steady_clock::now() + kSliceBudget;
  bool changed = false;
  std::size_t performed = 0;
  for (;;) {
    while (!pending_actions_.empty()) {
      if (performed > 0 && std::chrono::steady_clock::now() >= slice_end) break;
      core::ProcessAction action = std::move(pending_actions_.front());
      pending_actions_.pop_front();
      ++performed;
      changed |= std::holds_alternative<core::StateChanged>(action.action) ||
                 std::holds_alternative<core::RemoveProcess>(action.action);
      perform(action);  // what it feeds back joins the end of the queue
    }
    // Answering waiters may decide more actions (a restart's start half).
    if (changed) {
      changed = false;
      check_waiters();
    }
    if (pending_actions_.empty() || std::chrono::steady_clock::now() >= slice_end) break;
  }
  running_slice_ = false;
  if (!pending_actions_.empty()) {
    // The rest waits for the next loop round: clients are served first.
    slice_timer_ = loop_.add_timer(loop_.now(), [this] {
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
  if (supervisor_->shutting_down() && supervisor_->shutdown_complete()) loop_.stop();
}

void Runtime::schedule_trim() {
  if (trim_timer_ != 0) return;
  trim_timer_ = loop_.add_timer(loop_.now() + kTrimDelay, [this] {
    trim_timer_ = 0;
    ::malloc_trim(0);
  });
}

void Runtime::perform(const core::ProcessAction& action) {
  const std::string& name = action.process;
  auto feed = [&](const core::Event& event) {
    for (auto& next : supervisor_->handle(name, event, loop_.now()))
      pending_actions_.push_back(std::move(next));
  };
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, core::Spawn>) {
          const core::ManagedProcess* process = supervisor_->find(name);
          if (process) feed(spawn(*process));
        } else if constexpr (std::is_same_v<T, core::SendSignal>) {
          send_signal(name, a);
        } else if constexpr (std::is_same_v<T, core::ArmDeadline>) {
          arm_deadline(name, a.kind, a.at);
        } else if constexpr (std::is_same_v<T, core::CancelDeadline>) {
          cancel_deadline(name, a.kind);
        } else if constexpr (std::is_same_v<T, core::StateChanged>) {
          on_state_changed(name, a);
        } else if constexpr (std::is_same_v<T, core::RecordExit>) {
          spdlog::debug("{}: exit recorded: {}", describe_pid(name, a.record.pid),
                        core::exit_text(a.record.exit_code, a.record.exit_signal,
                                        a.record.core_dumped));
        } else if constexpr (std::is_same_v<T, core::Notice>) {
          const core::ManagedProcess* process = supervisor_->find(name);
          int pid = process ? process->machine().pid() : 0;
          spdlog::warn("{} {}", describe_pid(name, pid), a.message);
        } else if constexpr (std::is_same_v<T, core::AddProcess>) {
          if (const core::ManagedProcess* process = supervisor_->find(name))
            setup_process(*process);
        } else if constexpr (std::is_same_v<T, core::RemoveProcess>) {
          auto it = runtimes_.find(name);
          if (it != runtimes_.end()) {
            for (auto timer : it->second.deadlines) {
              if (timer != 0) loop_.cancel_timer(timer);
            }
            runtimes_.erase(it);
          }
          for (Waiter& waiter : waiters_) waiter.removed.insert(name);
        }
      },
      action.action);
}

std::vector<std::string> Runtime::child_environment(const core::ManagedProcess& process) const {
  // minisupd's environment, then [supervisor] environment, then the
  // program's, then the MINISUP_* variables: later ones win.
  std::map<std::string, std::string> env = config::process_environment();
  for (const auto& [key, value] : config_.supervisor.environment) env[key] = value;
  const config::ProcessConfig& pc = process.process_config();
  for (const auto& [key, value] : pc.environment) env[key] = value;
  env["MINISUP_PROGRAM"] = process.program_name();
  env["MINISUP_PROCESS_NAME"] = pc.name;
  env["MINISUP_PROCESS_NUM"] = std::to_string(pc.process_num);
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

core::Event Runtime::spawn(const core::ManagedProcess& process) {
  ProcessRuntime& rt = runtimes_[process.name()];
  const config::ProgramConfig& program = process.program_config();
  const config::ProcessConfig& pc = process.process_config();

  sys::SpawnRequest request;
  request.argv = pc.command;
  request.envp = child_environment(process);
  if (pc.directory) request.directory = *pc.directory;
  request.umask = program.umask;
  // Should minisupd be killed outright, its children get their stop signal
  // rather than living on unsupervised next to a restarted minisupd's.
  request.death_signal = program.stopsignal;
  if (original_nofile_.rlim_cur != RLIM_INFINITY) {
    struct rlimit now {};
    if (getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_cur != original_nofile_.rlim_cur)
      request.rlimits.push_back({RLIMIT_NOFILE, original_nofile_.rlim_cur, now.rlim_max});
  }
  if (program.user) {
    auto user = sys::resolve_user(*program.user);
    if (auto* error = std::get_if<std::string>(&user)) return core::SpawnFailed{*error};
    request.user = std::get<sys::UserIds>(std::move(user));
  }
  logging::OutputPipes pipes;
  try {
    pipes = rt.output->create_pipes();
  } catch (const std::exception& e) {
    return core::SpawnFailed{e.what()};
  }
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  auto result = sys::spawn_process(request);
  if (auto* error = std::get_if<std::string>(&result)) {
    rt.last_spawn_error = *error;
    return core::SpawnFailed{*error};
  }
  auto& child = std::get<sys::SpawnedChild>(result);
  try {
    rt.output->start_capture(loop_, std::move(pipes));
  } catch (const std::exception& e) {
    spdlog::error("{}: capture output: {}", process.name(), e.what());
  }
  rt.pidfd = std::move(child.pidfd);
  rt.pgid = child.pid;
  rt.group_lingering = false;
  rt.last_spawn_error.clear();
  by_pid_[child.pid] = process.name();
  spdlog::debug("{}: spawned {}", describe_pid(process.name(), child.pid), pc.command.front());
  return core::Spawned{child.pid};
}

void Runtime::send_signal(const std::string& process, const core::SendSignal& signal) {
  auto it = runtimes_.find(process);
  if (it == runtimes_.end()) return;
  ProcessRuntime& rt = it->second;
  bool sent = false;
  try {
    if (signal.to_group) {
      // The group id is the leader's pid; it cannot be reused while the
      // group has members, and we only get here while the leader is unreaped
      // or the group is known to linger.
      if (rt.pgid > 0 && (rt.pidfd || rt.group_lingering))
        sent = sys::signal_group(rt.pgid, signal.signal);
    } else if (rt.pidfd) {
      sent = sys::send_signal(rt.pidfd.get(), signal.signal);
    }
    // A process that was stopped (SIGSTOP, a debugger) cannot act on its
    // stop signal until it is continued; s6 does the same.
    if (sent && signal.signal != SIGKILL && signal.signal != SIGCONT) {
      if (signal.to_group) {
        sys::signal_group(rt.pgid, SIGCONT);
      } else if (rt.pidfd) {
        sys::send_signal(rt.pidfd.get(), SIGCONT);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: send {}: {}", process, core::signal_name(signal.signal), e.what());
    return;
  }
  spdlog::debug("{}: sent {}{}{}", describe_pid(process, rt.pgid), core::signal_name(signal.signal),
                signal.to_group ? " to its process group" : "", sent ? "" : " (already gone)");
}

void Runtime::arm_deadline(const std::string& process, core::DeadlineKind kind, TimePoint at) {
  cancel_deadline(process, kind);
  auto it = runtimes_.find(process);
  if (it == runtimes_.end()) return;
  it->second.deadlines[static_cast<std::size_t>(kind)] = loop_.add_timer(at, [this, process, kind] {
    auto rt = runtimes_.find(process);
    if (rt != runtimes_.end()) rt->second.deadlines[static_cast<std::size_t>(kind)] = 0;
    execute(supervisor_->handle(process, core::DeadlineExpired{kind}, loop_.now()));
  });
}

void Runtime::cancel_deadline(const std::string& process, core::DeadlineKind kind) {
  auto it = runtimes_.find(process);
  if (it == runtimes_.end()) return;
  auto& timer = it->second.deadlines[static_cast<std::size_t>(kind)];
  if (timer == 0) return;
  loop_.cancel_timer(timer);
  timer = 0;
}

void Runtime::on_state_changed(const std::string& process, const core::StateChanged& change) {
  const core::ManagedProcess* managed = supervisor_->find(process);
  int pid = 0;
  if (managed) pid = managed->machine().pid();
  if (pid == 0) {
    auto it = runtimes_.find(process);
    if (it != runtimes_.end()) pid = it->second.pgid;
  }
  auto level = change.to == core::ProcessState::Fatal || change.to == core::ProcessState::Backoff
                   ? spdlog::level::warn
                   : spdlog::level::info;
  spdlog::log(level, "{}: {} -> {}{}{}", describe_pid(process, pid), core::to_string(change.from),
              core::to_string(change.to), change.reason.empty() ? "" : ": ", change.reason);
  publish_event(process, change);
}

void Runtime::on_signal(const signalfd_siginfo& info) {
  switch (static_cast<int>(info.ssi_signo)) {
    case SIGCHLD:
      reap_children();
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      begin_shutdown(fmt::format(
          "{} from pid {}", core::signal_name(static_cast<int>(info.ssi_signo)), info.ssi_pid));
      break;
    case SIGHUP:
      request_reload("SIGHUP");
      break;
    case SIGUSR2:
      reopen_logs();
      break;
    default:
      break;
  }
}

void Runtime::reap_children() {
  bool orphan_reaped = false;
  for (const sys::Reaped& reaped : sys::reap_all()) {
    auto it = by_pid_.find(reaped.pid);
    if (it == by_pid_.end()) {
      spdlog::debug("reaped pid {} ({}), not a supervised process", reaped.pid,
                    core::exit_text(reaped.exit_code, reaped.exit_signal, reaped.core_dumped));
      orphan_reaped = true;
      continue;
    }
    std::string name = it->second;
    by_pid_.erase(it);
    auto rt_it = runtimes_.find(name);
    if (rt_it == runtimes_.end()) continue;
    ProcessRuntime& rt = rt_it->second;
    rt.pidfd.reset();
    core::ChildExited exited{reaped.exit_code, reaped.exit_signal, false, reaped.core_dumped};
    const core::ManagedProcess* process = supervisor_->find(name);
    if (process && process->machine().policy().killasgroup &&
        process->machine().state() == core::ProcessState::Stopping) {
      exited.group_alive = sys::group_alive(rt.pgid);
      rt.group_lingering = exited.group_alive;
    }
    execute(supervisor_->handle(name, exited, loop_.now()));
  }
  if (orphan_reaped) {
    // A lingering group member may have been the last one.
    std::vector<std::string> emptied;
    for (auto& [name, rt] : runtimes_) {
      if (rt.group_lingering && !sys::group_alive(rt.pgid)) {
        rt.group_lingering = false;
        emptied.push_back(name);
      }
    }
    for (const auto& name : emptied)
      execute(supervisor_->handle(name, core::GroupEmptied{}, loop_.now()));
  }
}

void Runtime::begin_shutdown(const std::string& why) {
  if (supervisor_->shutting_down()) {
    spdlog::info("{} during shutdown: ignored (shutdown already in progress)", why);
    return;
  }
  spdlog::info("graceful shutdown ({})", why);
  execute(supervisor_->begin_shutdown(loop_.now()));
  if (supervisor_->shutdown_complete() && pending_actions_.empty()) loop_.stop();
}

config::LoadResult Runtime::load_again(const std::string& why) {
  config::LoadResult loaded = config::load_config(config_.file, config::process_environment());
  schedule_trim();  // the parse tree of the whole config has come and gone
  if (!loaded.errors.empty() || !loaded.config) {
    spdlog::error("{}: {} error(s) in {}; keeping the running config", why, loaded.errors.size(),
                  config_.file.string());
    for (const auto& error : loaded.errors) spdlog::error("  {}", error.to_string());
  }
  return loaded;
}

std::optional<core::ReloadResult> Runtime::apply_new_config(config::Config new_config,
                                                            const std::string& why) {
  core::ReloadResult result = supervisor_->apply_config(new_config, loop_.now());
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
  config_ = std::move(new_config);
  logging::set_daemon_log_level(config_.supervisor.loglevel);
  console_->set_name_width(logging::console_name_width(config_.programs));
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

void Runtime::reload(const std::string& why) {
  config::LoadResult loaded = load_again("reload (" + why + ")");
  if (!loaded.config || !loaded.errors.empty()) return;
  if (auto result = apply_new_config(std::move(*loaded.config), "reload (" + why + ")")) {
    execute(std::move(result->actions));
  }
}

void Runtime::request_reload(const std::string& why) {
  if (reload_timer_ != 0) {
    ++reloads_folded_;
    return;
  }
  reload_timer_ = loop_.add_timer(loop_.now(), [this, why] {
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
  for (auto& [name, rt] : runtimes_) rt.output->reopen();
}

std::chrono::system_clock::time_point Runtime::to_wall(TimePoint t) const {
  return wall_origin_ +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady_origin_);
}

}  // namespace minisup::daemon
