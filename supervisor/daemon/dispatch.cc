// Runtime: the control half. A request line from the ControlServer is
// parsed by control/protocol, carried out on the core, and answered with
// the protocol's encoders. Requests that take time become Waiters, answered
// from check_waiters() after the state changes they wait for.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "supervisor/config/config_diff.h"
#include "supervisor/config/load_config.h"
#include "supervisor/core/signal_names.h"
#include "supervisor/core/text.h"
#include "supervisor/daemon/runtime.h"
#include "supervisor/sys/signals.h"

namespace minisup::daemon {

namespace {

using core::ProcessState;

using core::is_idle;

/// Replies this big count as a burst for schedule_trim() (a status of a
/// few hundred processes).
constexpr std::size_t kTrimAfterBytes = 64 * 1024;

control::Seconds to_seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<control::Seconds>(d);
}

control::UnixTime to_unix(std::chrono::system_clock::time_point t) {
  return control::UnixTime(std::chrono::duration_cast<control::Seconds>(t.time_since_epoch()));
}

}  // namespace

Runtime::Waiter make_waiter(Runtime::Waiter::Kind kind, control::ControlServer::ClientId client,
                            const nlohmann::json& id, std::vector<std::string> processes) {
  Runtime::Waiter waiter;
  waiter.kind = kind;
  waiter.client = client;
  waiter.id = id;
  waiter.processes = std::move(processes);
  return waiter;
}

void Runtime::send(ClientId client, std::string&& line) {
  if (line.size() >= kTrimAfterBytes) schedule_trim();
  server_->send(client, std::move(line));
}

void Runtime::on_client_line(ClientId client, const control::ControlServer::Peer& peer,
                             std::string_view line) {
  auto parsed = control::parse_request(line);
  if (auto* error = std::get_if<control::ProtocolError>(&parsed)) {
    spdlog::info("control: rejected request from uid {} pid {}: {}", peer.uid, peer.pid,
                 error->message);
    send(client, control::encode_error(*error));
    return;
  }
  const auto& request = std::get<control::Request>(parsed);
  spdlog::info("control: {} from uid {} pid {}", control::to_string(request.kind()), peer.uid,
               peer.pid);
  try {
    dispatch(client, request);
  } catch (const std::exception& e) {
    spdlog::error("control: {} failed: {}", control::to_string(request.kind()), e.what());
    send(client, control::encode_error(request.id, control::ErrorCode::Internal, e.what()));
  }
}

void Runtime::on_client_disconnect(ClientId client) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->client == client) {
      if (it->timeout) loop_.cancel_timer(*it->timeout);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  tail_followers_.erase(client);
  event_subscribers_.erase(client);
}

std::optional<std::vector<std::string>> Runtime::resolve(ClientId client, const nlohmann::json& id,
                                                         const std::vector<std::string>& names) {
  core::NameResolution resolution =
      supervisor_->resolve_names(names.empty() ? std::vector<std::string>{"all"} : names);
  if (!resolution.ok()) {
    send(client, control::encode_no_such_program(id, {*resolution.unknown}));
    return std::nullopt;
  }
  return resolution.processes;
}

void Runtime::dispatch(ClientId client, const control::Request& request) {
  const nlohmann::json& id = request.id;
  const auto now = loop_.now();
  std::visit(
      [&](const auto& cmd) {
        using T = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<T, control::StatusCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          control::StatusReply reply;
          for (const auto& name : *names)
            reply.processes.push_back(process_info(*supervisor_->find(name)));
          send(client, control::encode_reply(id, reply));
        } else if constexpr (std::is_same_v<T, control::StartCommand> ||
                             std::is_same_v<T, control::RestartCommand>) {
          constexpr bool restart = std::is_same_v<T, control::RestartCommand>;
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          if (supervisor_->shutting_down()) {
            send(client, control::encode_error(id, control::ErrorCode::ShuttingDown,
                                               "minisupd is shutting down"));
            return;
          }
          Waiter waiter = make_waiter(restart ? Waiter::Kind::Restart : Waiter::Kind::Start, client,
                                      id, *names);
          std::vector<std::string> to_start, to_stop;
          for (const auto& name : *names) {
            const core::ManagedProcess* process = supervisor_->find(name);
            ProcessState state = process->machine().state();
            if (!supervisor_->can_start(name)) {
              waiter.preset[name] = control::StartOutcome::Failed;
            } else if (restart && !is_idle(state) && state != ProcessState::Backoff) {
              to_stop.push_back(name);
            } else if (!restart &&
                       (state == ProcessState::Starting || state == ProcessState::Running ||
                        state == ProcessState::Stopping)) {
              waiter.preset[name] = control::StartOutcome::AlreadyStarted;
            } else {
              waiter.restarted.insert(name);
              to_start.push_back(name);
            }
          }
          add_waiter(std::move(waiter));
          execute(supervisor_->request_stop(to_stop, now));
          execute(supervisor_->request_start(to_start, now));
          check_waiters();
        } else if constexpr (std::is_same_v<T, control::StopCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          Waiter waiter = make_waiter(Waiter::Kind::Stop, client, id, *names);
          for (const auto& name : *names) {
            if (is_idle(supervisor_->find(name)->machine().state()))
              waiter.not_running.insert(name);
          }
          add_waiter(std::move(waiter));
          execute(supervisor_->request_stop(*names, now));
          check_waiters();
        } else if constexpr (std::is_same_v<T, control::WaitCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          auto state = core::parse_process_state(cmd.state);
          if (!state) {
            send(client, control::encode_error(id, control::ErrorCode::BadRequest,
                                               "state: unknown state " + cmd.state));
            return;
          }
          Waiter waiter = make_waiter(Waiter::Kind::Wait, client, id, *names);
          waiter.target = *state;
          add_waiter(std::move(waiter));
          Waiter& added = waiters_.back();
          if (cmd.timeout) {
            auto at = now + std::chrono::duration_cast<std::chrono::nanoseconds>(*cmd.timeout);
            Waiter* target = &added;
            added.timeout = loop_.add_timer(at, [this, target] {
              for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                if (&*it == target) {
                  it->timeout.reset();
                  answer_wait_timeout(*it);
                  waiters_.erase(it);
                  return;
                }
              }
            });
          }
          check_waiters();
        } else if constexpr (std::is_same_v<T, control::SignalCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          control::SignalReply reply;
          for (const auto& name : *names) {
            auto& rt = runtimes_[name];
            bool sent = false;
            if (rt.pidfd) sent = sys::send_signal(rt.pidfd.get(), cmd.signal);
            reply.results.push_back({name, sent ? control::SignalOutcome::Signalled
                                                : control::SignalOutcome::NotRunning});
            if (sent) spdlog::info("{}: sent {} on request", name, core::signal_name(cmd.signal));
          }
          send(client, control::encode_reply(id, reply));
        } else if constexpr (std::is_same_v<T, control::PidCommand>) {
          control::PidReply reply{static_cast<int>(getpid())};
          if (cmd.name) {
            auto names = resolve(client, id, {*cmd.name});
            if (!names) return;
            if (names->size() != 1) {
              send(client,
                   control::encode_error(
                       id, control::ErrorCode::BadRequest,
                       *cmd.name + " names several processes; name one (" + names->front() + ")"));
              return;
            }
            reply.pid = supervisor_->find(names->front())->machine().pid();
          }
          send(client, control::encode_reply(id, reply));
        } else if constexpr (std::is_same_v<T, control::TailCommand>) {
          handle_tail(client, id, cmd);
        } else if constexpr (std::is_same_v<T, control::ClearCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          control::ClearReply reply;
          std::string errors;
          for (const auto& name : *names) {
            std::string error;
            if (runtimes_[name].output->clear(&error)) {
              reply.names.push_back(name);
            } else if (!error.empty()) {
              errors += (errors.empty() ? "" : "; ") + name + ": " + error;
            }
          }
          if (!errors.empty() && reply.names.empty()) {
            send(client, control::encode_error(id, control::ErrorCode::Internal, errors));
          } else {
            send(client, control::encode_reply(id, reply));
          }
        } else if constexpr (std::is_same_v<T, control::RereadCommand>) {
          handle_reread(client, id, false);
        } else if constexpr (std::is_same_v<T, control::UpdateCommand>) {
          handle_reread(client, id, true);
        } else if constexpr (std::is_same_v<T, control::ShutdownCommand>) {
          send(client, control::encode_reply(id, control::ShutdownReply{}));
          server_->hold_until_exit(client);
          begin_shutdown("minisupctl shutdown");
        } else if constexpr (std::is_same_v<T, control::VersionCommand>) {
          send(client, control::encode_reply(id, control::VersionReply{}));
        } else if constexpr (std::is_same_v<T, control::EventsCommand>) {
          send(client, control::encode_reply(id, control::SubscribedReply{events_.last_seq()}));
          if (cmd.since) {
            auto replay = events_.since(*cmd.since);
            if (replay.gap) send(client, control::encode_event(id, *replay.gap));
            for (const auto& event : replay.events) send(client, control::encode_event(id, event));
          }
          event_subscribers_[client] = id;
        }
      },
      request.command);
}

control::ProcessInfo Runtime::process_info(const core::ManagedProcess& process) const {
  const core::ProcessMachine& machine = process.machine();
  const auto now = loop_.now();
  control::ProcessInfo info;
  info.name = process.name();
  info.group = process.program_name();
  info.state = std::string(core::to_string(machine.state()));
  info.pid = machine.pid();
  if (machine.started_at() != TimePoint{}) info.started_at = to_unix(to_wall(machine.started_at()));
  if (info.pid > 0) {  // STARTING and STOPPING too: time since the spawn
    info.uptime = to_seconds(now - machine.started_at());
  }
  if (const auto& exit = machine.last_exit()) {
    info.exit_code = exit->exit_code;
    info.exit_signal = exit->exit_signal;
    info.core_dumped = exit->core_dumped;
    info.exited_at = to_unix(to_wall(exit->when));
    if (exit->stop_duration) {
      info.needed_sigkill = exit->needed_sigkill;
      info.stop_duration = to_seconds(*exit->stop_duration);
    }
  }
  if (!machine.last_error().empty() &&
      (machine.state() == ProcessState::Fatal || machine.state() == ProcessState::Backoff)) {
    info.spawn_error = machine.last_error();
  }
  if (machine.state() == ProcessState::Backoff && machine.retry_at()) {
    control::RetryInfo retry;
    if (machine.restart_delayed()) {
      retry.attempt = machine.quick_exits();
      retry.restart = true;
    } else {
      retry.attempt = machine.failed_starts();
      retry.of = machine.policy().startretries;
    }
    retry.in = to_seconds(std::max(std::chrono::nanoseconds(0), *machine.retry_at() - now));
    info.retry = retry;
  }
  if (auto it = runtimes_.find(process.name()); it != runtimes_.end() && it->second.output) {
    info.dropped_bytes = it->second.output->dropped_bytes();
  }
  return info;
}

void Runtime::add_waiter(Waiter waiter) { waiters_.push_back(std::move(waiter)); }

void Runtime::check_waiters() {
  if (checking_waiters_) return;  // answered by the outer call's next round
  checking_waiters_ = true;
  bool again = true;
  while (again) {
    again = false;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (!server_->connected(it->client)) {
        if (it->timeout) loop_.cancel_timer(*it->timeout);
        it = waiters_.erase(it);
        continue;
      }
      // Restart: a process whose stop part is done is started now.
      if (it->kind == Waiter::Kind::Restart) {
        std::vector<std::string> start_now;
        for (const auto& name : it->processes) {
          const core::ManagedProcess* process = supervisor_->find(name);
          if (!process || it->restarted.count(name) || it->preset.count(name)) continue;
          if (is_idle(process->machine().state())) {
            it->restarted.insert(name);
            const auto& exit = process->machine().last_exit();
            it->needed_sigkill[name] = exit && exit->needed_sigkill;
            start_now.push_back(name);
          }
        }
        if (!start_now.empty()) {
          // Nested check_waiters() calls return at once; `again` makes this
          // loop look at every waiter once more afterwards.
          execute(supervisor_->request_start(start_now, loop_.now()));
          again = true;
        }
      }
      if (try_answer(*it)) {
        if (it->timeout) loop_.cancel_timer(*it->timeout);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  checking_waiters_ = false;
}

bool Runtime::try_answer(Waiter& waiter) {
  using Kind = Waiter::Kind;
  switch (waiter.kind) {
    case Kind::Start:
    case Kind::Restart: {
      // Every process must have reached RUNNING, or failed.
      std::vector<control::StartResult> results;
      for (const auto& name : waiter.processes) {
        const core::ManagedProcess* process = supervisor_->find(name);
        auto preset = waiter.preset.find(name);
        if (preset != waiter.preset.end()) {
          std::string message =
              preset->second == control::StartOutcome::Failed
                  ? (supervisor_->shutting_down() ? "shutting down" : "being removed")
                  : "";
          results.push_back({name, preset->second, message});
          continue;
        }
        if (!process) {
          results.push_back({name, control::StartOutcome::Failed, "removed"});
          continue;
        }
        const core::ProcessMachine& machine = process->machine();
        if (waiter.kind == Kind::Restart && !waiter.restarted.count(name)) return false;
        switch (machine.state()) {
          case ProcessState::Running:
            results.push_back({name, control::StartOutcome::Started, ""});
            break;
          case ProcessState::Fatal:
            results.push_back({name, control::StartOutcome::Failed,
                               machine.last_error().empty() ? "FATAL" : machine.last_error()});
            break;
          case ProcessState::Stopped:
          case ProcessState::Exited: {
            const auto& exit = machine.last_exit();
            results.push_back({name, control::StartOutcome::Failed,
                               exit ? core::exit_text(exit->exit_code, exit->exit_signal, exit->core_dumped)
                                    : "stopped before it was running"});
            break;
          }
          case ProcessState::Backoff:
            if (machine.restart_delayed()) {
              // It was RUNNING and died soon after: a crash loop that may
              // go on for ever; the start has failed (the restarts go on).
              const auto& exit = machine.last_exit();
              results.push_back(
                  {name, control::StartOutcome::Failed,
                   (exit ? core::exit_text(exit->exit_code, exit->exit_signal, exit->core_dumped)
                         : std::string("exited")) +
                       " soon after it started; restarting with a delay"});
              break;
            }
            return false;  // a failed start's retry: not decided yet
          default:
            return false;  // STARTING, STOPPING: not decided yet
        }
      }
      if (waiter.kind == Kind::Start) {
        send(waiter.client, control::encode_reply(waiter.id, control::StartReply{results}));
      } else {
        control::RestartReply reply;
        for (const auto& r : results) {
          reply.results.push_back({r.name,
                                   r.result == control::StartOutcome::Failed
                                       ? control::RestartOutcome::Failed
                                       : control::RestartOutcome::Started,
                                   r.message, waiter.needed_sigkill[r.name]});
        }
        send(waiter.client, control::encode_reply(waiter.id, reply));
      }
      return true;
    }
    case Kind::Stop: {
      control::StopReply reply;
      for (const auto& name : waiter.processes) {
        const core::ManagedProcess* process = supervisor_->find(name);
        control::StopResult result;
        result.name = name;
        // A process a reload replaced or removed has stopped; its name may
        // already stand for the new definition's process.
        if (!process || waiter.removed.count(name)) {
          result.result = control::StopOutcome::Stopped;
          reply.results.push_back(result);
          continue;
        }
        const core::ProcessMachine& machine = process->machine();
        if (!is_idle(machine.state())) return false;
        const auto& exit = machine.last_exit();
        if (waiter.not_running.count(name)) {
          result.result = control::StopOutcome::NotRunning;
        } else {
          // Stopped on this request: the machine recorded how the stop went
          // (a process stopped in BACKOFF has no child and no record).
          result.result = control::StopOutcome::Stopped;
          if (exit && exit->stop_duration) {
            result.needed_sigkill = exit->needed_sigkill;
            result.stop_duration = to_seconds(*exit->stop_duration);
            result.exit_code = exit->exit_code;
            result.exit_signal = exit->exit_signal;
          }
        }
        reply.results.push_back(result);
      }
      send(waiter.client, control::encode_reply(waiter.id, reply));
      return true;
    }
    case Kind::Update: {
      for (const auto& name : waiter.changes.removed) {
        if (supervisor_->resolve_names({name}).ok()) return false;  // still stopping
      }
      for (const auto* list : {&waiter.changes.added, &waiter.changes.changed}) {
        for (const auto& name : *list) {
          core::NameResolution resolution = supervisor_->resolve_names({name});
          if (!resolution.ok()) return false;  // being replaced
          for (const auto& process_name : resolution.processes) {
            const core::ManagedProcess* process = supervisor_->find(process_name);
            ProcessState state = process->machine().state();
            if (process->is_leaving() || state == ProcessState::Starting ||
                state == ProcessState::Backoff || state == ProcessState::Stopping) {
              return false;
            }
          }
        }
      }
      send(waiter.client, control::encode_reply(waiter.id, waiter.changes));
      return true;
    }
    case Kind::Wait: {
      control::WaitReply reply;
      bool unexpected = false;
      for (const auto& name : waiter.processes) {
        const core::ManagedProcess* process = supervisor_->find(name);
        if (!process) {
          reply.results.push_back({name, "REMOVED"});
          unexpected = true;
          continue;
        }
        ProcessState state = process->machine().state();
        reply.results.push_back({name, std::string(core::to_string(state))});
        if (state == waiter.target) continue;
        bool dead_end = state == ProcessState::Fatal ||
                        (waiter.target == ProcessState::Running &&
                         (state == ProcessState::Exited || state == ProcessState::Stopped));
        if (dead_end) {
          unexpected = true;
        } else {
          return false;
        }
      }
      if (unexpected) {
        send(waiter.client, control::encode_wait_error(
                                waiter.id, control::ErrorCode::UnexpectedState,
                                "a process reached a state it cannot leave by itself", reply));
      } else {
        send(waiter.client, control::encode_reply(waiter.id, reply));
      }
      return true;
    }
  }
  return false;
}

void Runtime::answer_wait_timeout(Waiter& waiter) {
  control::WaitReply current;
  for (const auto& name : waiter.processes) {
    const core::ManagedProcess* process = supervisor_->find(name);
    current.results.push_back(
        {name, process ? std::string(core::to_string(process->machine().state())) : "REMOVED"});
  }
  send(waiter.client, control::encode_wait_error(waiter.id, control::ErrorCode::Timeout,
                                                 "timed out before every process was " +
                                                     std::string(core::to_string(waiter.target)),
                                                 current));
}

void Runtime::publish_event(const std::string& process, const core::StateChanged& change) {
  control::StateEvent event;
  const core::ManagedProcess* managed = supervisor_->find(process);
  event.process = process;
  event.group = managed ? managed->program_name() : process;
  event.from = std::string(core::to_string(change.from));
  event.to = std::string(core::to_string(change.to));
  if (managed) {
    event.pid = managed->machine().pid();
    const auto& exit = managed->machine().last_exit();
    bool caused_by_exit =
        change.from == ProcessState::Running || change.from == ProcessState::Stopping ||
        (change.from == ProcessState::Starting && change.to != ProcessState::Running &&
         change.to != ProcessState::Stopping);
    if (caused_by_exit && exit && event.pid == 0) {
      event.pid = exit->pid;
      event.exit_code = exit->exit_code;
      event.exit_signal = exit->exit_signal;
    }
  }
  event.reason = change.reason;
  event.time = to_unix(std::chrono::system_clock::now());
  events_.push(event);
  if (event_subscribers_.empty()) return;
  for (const auto& [client, id] : event_subscribers_)
    send(client, control::encode_event(id, event));
}

void Runtime::handle_tail(ClientId client, const nlohmann::json& id,
                          const control::TailCommand& tail) {
  auto names = resolve(client, id, {tail.name});
  if (!names) return;
  if (names->size() != 1) {
    send(client, control::encode_error(
                     id, control::ErrorCode::BadRequest,
                     tail.name + " names several processes; name one (" + names->front() + ")"));
    return;
  }
  const std::string& name = names->front();
  const logging::ProcessOutput& output = *runtimes_.at(name).output;
  const auto& sink =
      output.sink(tail.stream == control::Stream::Stdout ? logging::StreamKind::Stdout
                                                         : logging::StreamKind::Stderr);
  auto path = sink->file_path();
  std::string data;
  if (path.empty()) {
    if (!tail.follow) {
      send(client,
           control::encode_error(id, control::ErrorCode::BadRequest,
                                 name + ": " + std::string(control::to_string(tail.stream)) +
                                     " is not written to a log file (console or NONE)"));
      return;
    }
  } else if (tail.lines > 0) {
    logging::TailResult result =
        logging::read_last_lines(path, static_cast<std::size_t>(tail.lines));
    if (!result.ok() && result.error != ENOENT) {
      send(client, control::encode_error(id, control::ErrorCode::Internal, result.message));
      return;
    }
    data = std::move(result.text);
  }
  send(client, control::encode_reply(id, control::TailReply{data}));
  if (!tail.follow) return;
  tail_followers_[client] = std::make_unique<logging::TailFollower>(
      *sink,
      [this, client, id](std::string_view chunk) {
        send(client, control::encode_reply(id, control::TailReply{std::string(chunk)}));
      },
      [this, client] { server_->close_after_flush(client); });
}

void Runtime::handle_reread(ClientId client, const nlohmann::json& id, bool apply) {
  const char* what = apply ? "update" : "reread";
  config::LoadResult loaded = load_again(what);
  if (!loaded.errors.empty() || !loaded.config) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& error : loaded.errors) errors.push_back(error.to_string());
    std::string message = config_.file.string() + ": " + std::to_string(loaded.errors.size()) +
                          " error(s) in the config; nothing changed";
    send(client, control::encode_error(id, control::ErrorCode::InvalidConfig, message,
                                       nlohmann::json{{"errors", errors}}));
    return;
  }
  if (!apply) {
    config::ConfigDiff diff = config::diff_configs(current_config(), *loaded.config);
    send(client,
         control::encode_reply(id, control::ConfigChanges{diff.added, diff.changed, diff.removed}));
    return;
  }
  auto result = apply_new_config(std::move(*loaded.config), what);
  if (!result) {
    send(client,
         control::encode_error(id, control::ErrorCode::ShuttingDown, "minisupd is shutting down"));
    return;
  }
  // Answered once the changes are done (removed programs stopped, changed
  // ones restarted), like stop: the script that runs `update` can go on.
  Waiter waiter = make_waiter(Waiter::Kind::Update, client, id, {});
  waiter.changes = control::ConfigChanges{result->added, result->changed, result->removed};
  add_waiter(std::move(waiter));
  execute(std::move(result->actions));
  check_waiters();
}

}  // namespace minisup::daemon
