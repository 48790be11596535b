// Runtime: the request half. A request line is parsed by control/protocol,
// carried out on the core, and answered with the protocol's encoders.
// Requests that take time are opened on the core (core/requests.h) and kept
// as Waiters until core::settle() says they are settled.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include "supervisor/config/config_diff.h"
#include "supervisor/config/load_config.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/core/text.h"
#include "supervisor/daemon/runtime.h"

namespace minisup::daemon {

namespace {

using core::ProcessState;

/// Replies this big count as a burst for schedule_trim() (a status of a
/// few hundred processes).
constexpr std::size_t kTrimAfterBytes = 64 * 1024;

/// A status of this many processes or more goes out in parts
/// (Clients::send_part) of about kStatusPartBytes.
constexpr std::size_t kStatusPartProcesses = 256;
constexpr std::size_t kStatusPartBytes = 32 * 1024;

control::Seconds to_seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<control::Seconds>(d);
}

control::UnixTime to_unix(std::chrono::system_clock::time_point t) {
  return control::UnixTime(std::chrono::duration_cast<control::Seconds>(t.time_since_epoch()));
}

control::StartOutcome to_start_outcome(core::Outcome outcome) {
  switch (outcome) {
    case core::Outcome::Started:
      return control::StartOutcome::Started;
    case core::Outcome::AlreadyStarted:
      return control::StartOutcome::AlreadyStarted;
    default:
      return control::StartOutcome::Failed;
  }
}

/// wait's names: `all` (or no name) means the processes minisupd starts by
/// itself (autostart), not every process: `wait all` must not wait for a
/// program that only starts on request. Other names in the same request
/// count as given. `resolved` is what resolve_names() made of `requested`.
std::vector<std::string> wait_names(const core::Supervisor& supervisor,
                                    const std::vector<std::string>& requested,
                                    std::vector<std::string> resolved) {
  std::vector<std::string> others;
  for (const auto& name : requested) {
    if (name != "all") others.push_back(name);
  }
  if (!requested.empty() && others.size() == requested.size()) return resolved;
  std::set<std::string> named;
  if (!others.empty()) {
    for (auto& name : supervisor.resolve_names(others).processes) named.insert(std::move(name));
  }
  std::vector<std::string> names;
  for (auto& name : resolved) {
    const core::ManagedProcess* process = supervisor.find(name);
    if (named.count(name) != 0 || (process && process->program_config().autostart))
      names.push_back(std::move(name));
  }
  return names;
}

control::WaitReply wait_reply(const std::vector<core::ProcessOutcome>& results) {
  control::WaitReply reply;
  for (const auto& r : results) reply.results.push_back({r.name, r.state});
  return reply;
}

}  // namespace

void Runtime::send(ClientId client, std::string&& line) {
  if (line.size() >= kTrimAfterBytes) schedule_trim();
  clients_.send(client, std::move(line));
}

void Runtime::on_request(ClientId client, int uid, int pid, std::string_view line) {
  auto parsed = control::parse_request(line);
  if (auto* error = std::get_if<control::ProtocolError>(&parsed)) {
    spdlog::info("control: rejected request from uid {} pid {}: {}", uid, pid, error->message);
    send(client, control::encode_error(*error));
    return;
  }
  const auto& request = std::get<control::Request>(parsed);
  if (uid < 0) {
    // From the HTTP listener, which logs each request itself.
    spdlog::debug("control: {} over HTTP", control::to_string(request.kind()));
  } else {
    spdlog::info("control: {} from uid {} pid {}", control::to_string(request.kind()), uid, pid);
  }
  try {
    dispatch(client, request);
  } catch (const std::exception& e) {
    spdlog::error("control: {} failed: {}", control::to_string(request.kind()), e.what());
    send(client, control::encode_error(request.id, control::ErrorCode::Internal, e.what()));
  }
}

void Runtime::on_disconnect(ClientId client) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto next = std::next(it);
    if (it->client == client) forget_waiter(it);
    it = next;
  }
  tail_followers_.erase(client);
  event_subscribers_.erase(client);
}

bool Runtime::holds_answer(ClientId client) const {
  if (tail_followers_.count(client) != 0 || event_subscribers_.count(client) != 0) return true;
  for (const Waiter& waiter : waiters_) {
    if (waiter.client == client) return true;
  }
  return false;
}

std::optional<std::vector<std::string>> Runtime::resolve(ClientId client, const nlohmann::json& id,
                                                         const std::vector<std::string>& names,
                                                         bool include_old) {
  core::NameResolution resolution = supervisor_->resolve_names(
      names.empty() ? std::vector<std::string>{"all"} : names, include_old);
  if (!resolution.ok()) {
    send(client, control::encode_no_such_program(id, {*resolution.unknown}));
    return std::nullopt;
  }
  return resolution.processes;
}

void Runtime::dispatch(ClientId client, const control::Request& request) {
  const nlohmann::json& id = request.id;
  const auto now = timers_.now();
  std::visit(
      [&](const auto& cmd) {
        using T = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<T, control::StatusCommand>) {
          // Its vectors are kept from one status to the next: fresh pages
          // cost a fault each (~10 us on a VM) after a trim.
          core::ProcessResolution found = supervisor_->resolve_processes(
              cmd.names.empty() ? std::vector<std::string>{"all"} : cmd.names,
              /*include_old=*/true, std::move(status_processes_));
          if (!found.ok()) {
            send(client, control::encode_no_such_program(id, {*found.unknown}));
            return;
          }
          // Written as it is read: no copy of 10,000 processes' facts. A
          // large reply goes out in parts as it is written: the client
          // decodes the first processes while the rest are encoded (two
          // cores at work instead of one after the other), and the buffer
          // stays the size of a part.
          bool in_parts = found.processes.size() >= kStatusPartProcesses;
          control::StatusReplyWriter reply(id, cmd.fields, found.processes.size(), cmd.rows,
                                           in_parts ? kStatusPartBytes : 0);
          // The trees are read only when asked for (and sent): /proc is
          // never read for a plain status.
          const bool tree = cmd.tree && control::status_sends_tree(cmd.fields);
          // Each process's handles first, in a loop of their own: each
          // lookup in a map of 10,000 scattered nodes misses the cache, and
          // lookups that do not wait for one another overlap their misses.
          std::vector<const Handles*>& handles = status_handles_;
          handles.assign(found.processes.size(), nullptr);
          for (std::size_t i = 0; i < found.processes.size(); ++i) {
            if (auto it = handles_.find(found.processes[i]->name()); it != handles_.end())
              handles[i] = &it->second;
          }
          control::ProcessInfo info;  // reused: its strings keep their buffers
          bool part_sent = false;
          try {
            for (std::size_t i = 0; i < found.processes.size(); ++i) {
              process_info(*found.processes[i], handles[i], info);
              if (tree) add_tree_usage(*found.processes[i], info);
              reply.add(info);
              if (in_parts && reply.written().size() >= kStatusPartBytes) {
                in_parts = clients_.send_part(client, reply.written());
                if (in_parts) {
                  reply.forget_written();
                  part_sent = true;
                }
              }
            }
          } catch (const std::exception& e) {
            if (!part_sent) throw;  // answered with an error line
            // The line is half sent: no error line can follow it.
            spdlog::error("control: status failed: {}", e.what());
            clients_.close_after_flush(client);
            return;
          }
          send(client, reply.finish());
          status_processes_ = std::move(found.processes);
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
          core::Opened opened;
          if constexpr (restart) {
            opened = cmd.rolling ? core::open_rolling_restart(*supervisor_, *names, now)
                                 : core::open_restart(*supervisor_, *names, now);
          } else {
            opened = core::open_start(*supervisor_, *names, now);
          }
          add_waiter(client, id, std::move(opened.request));
          execute(std::move(opened.actions));
        } else if constexpr (std::is_same_v<T, control::StopCommand>) {
          auto names = resolve(client, id, cmd.names, /*include_old=*/true);
          if (!names) return;
          core::Opened opened = core::open_stop(*supervisor_, *names, now);
          add_waiter(client, id, std::move(opened.request));
          execute(std::move(opened.actions));
        } else if constexpr (std::is_same_v<T, control::WaitCommand>) {
          auto names = resolve(client, id, cmd.names);
          if (!names) return;
          names = wait_names(*supervisor_, cmd.names, std::move(*names));
          auto state = core::parse_process_state(cmd.state);
          if (!state) {
            send(client, control::encode_error(id, control::ErrorCode::BadRequest,
                                               "state: unknown state " + cmd.state));
            return;
          }
          std::optional<std::chrono::nanoseconds> timeout;
          if (cmd.timeout)
            timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(*cmd.timeout);
          add_waiter(client, id, core::open_wait(*names, *state), timeout);
        } else if constexpr (std::is_same_v<T, control::SignalCommand>) {
          handle_signal(client, id, cmd);
        } else if constexpr (std::is_same_v<T, control::PidCommand>) {
          control::PidReply reply{options_.pid};
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
            if (handles_.at(name).output->clear(&error)) {
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
          clients_.hold_until_exit(client);
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

void Runtime::handle_signal(ClientId client, const nlohmann::json& id,
                            const control::SignalCommand& command) {
  auto names = resolve(client, id, command.names, /*include_old=*/true);
  if (!names) return;
  control::SignalReply reply;
  for (const auto& name : *names) {
    const int pid = supervisor_->find(name)->machine().pid();
    const bool sent = pid > 0 && system_.signal_process(pid, command.signal);
    reply.results.push_back(
        {name, sent ? control::SignalOutcome::Signalled : control::SignalOutcome::NotRunning});
    if (sent) spdlog::info("{}: sent {} on request", name, config::signal_name(command.signal));
  }
  send(client, control::encode_reply(id, reply));
}

void Runtime::add_tree_usage(const core::ManagedProcess& process, control::ProcessInfo& info) {
  const core::ProcessMachine& machine = process.machine();
  if (machine.pid() <= 0) return;  // no child runs: no tree (null)
  const std::optional<sys::TreeUsage> usage =
      system_.tree_usage(process.name(), machine.process_group());
  if (!usage) return;
  info.tree_processes = usage->processes;
  info.tree_rss_bytes = usage->rss_bytes;
  info.tree_cpu_seconds = control::Seconds(usage->cpu_seconds);
}

void Runtime::process_info(const core::ManagedProcess& process, const Handles* handles,
                           control::ProcessInfo& info) const {
  const core::ProcessMachine& machine = process.machine();
  const auto now = timers_.now();
  info = control::ProcessInfo{};
  info.name = process.process_config().name;  // "web:0" also for "web:0 (old)"
  info.old = process.is_old();
  info.group = process.program_name();
  info.state = std::string(core::to_string(machine.state()));
  info.pid = machine.pid();
  info.restarts = static_cast<int>(
      std::min<std::uint64_t>(machine.counters().restarts, std::numeric_limits<int>::max()));
  info.ready = machine.is_ready();
  if (machine.started_at() != TimePoint{}) info.started_at = to_unix(to_wall(machine.started_at()));
  if (info.pid > 0) {  // STARTING and STOPPING too: time since the spawn
    info.uptime = to_seconds(now - machine.started_at());
  }
  if (const auto& exit = machine.last_exit()) {
    info.exit_code = exit->exit_code;
    info.exit_signal = exit->exit_signal;
    info.core_dumped = exit->core_dumped;
    info.exited_at = to_unix(to_wall(exit->when));
    info.exit_reason = std::string(core::to_string(exit->reason));
    if (exit->stop_duration) {
      info.needed_sigkill = exit->needed_sigkill();
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
  if (machine.state() == ProcessState::Starting) {
    std::string waiting = starting_description(process);
    if (!waiting.empty())
      info.description = info.pid > 0 ? fmt::format("pid {}, {}", info.pid, waiting) : waiting;
  }
  if (handles != nullptr && handles->output) {
    info.dropped_bytes = handles->output->dropped_bytes();
    const std::string& status = handles->notify_status;
    if (!status.empty() &&
        (machine.state() == ProcessState::Starting || machine.state() == ProcessState::Running)) {
      if (info.description.empty()) info.description = control::describe(info);
      info.description += ", status: " + status;
    }
  }
}

void Runtime::add_waiter(ClientId client, const nlohmann::json& id, core::PendingRequest request,
                         std::optional<std::chrono::nanoseconds> timeout,
                         std::vector<std::string> notes) {
  if (auto settlement = core::settle(request, *supervisor_)) {
    // Settled already (a stop of stopped processes, a wait that holds).
    Waiter waiter{client, id, std::move(request), 0, std::move(notes)};
    answer(waiter, *settlement);
    core::close_request(waiter.request, *supervisor_);
    return;
  }
  waiters_.push_back(Waiter{client, id, std::move(request), 0, std::move(notes)});
  if (timeout) {
    auto it = std::prev(waiters_.end());
    it->timeout = timers_.arm(timers_.now() + *timeout, [this, it] {
      it->timeout = 0;
      answer_wait_timeout(*it);
      forget_waiter(it);
    });
  }
}

void Runtime::forget_waiter(std::list<Waiter>::iterator it) {
  if (it->timeout != 0) timers_.cancel(it->timeout);
  core::close_request(it->request, *supervisor_);
  waiters_.erase(it);
}

void Runtime::settle_requests() {
  settle_needed_ = false;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto next = std::next(it);
    if (!clients_.connected(it->client)) {
      forget_waiter(it);
    } else if (auto settlement = core::settle(it->request, *supervisor_)) {
      answer(*it, *settlement);
      forget_waiter(it);
    }
    it = next;
  }
}

void Runtime::answer(const Waiter& waiter, const core::Settlement& settlement) {
  using Kind = core::PendingRequest::Kind;
  switch (waiter.request.kind) {
    case Kind::Start: {
      control::StartReply reply;
      for (const auto& r : settlement.results)
        reply.results.push_back({r.name, to_start_outcome(r.outcome), r.message});
      send(waiter.client, control::encode_reply(waiter.id, reply));
      return;
    }
    case Kind::Restart: {
      control::RestartReply reply;
      for (const auto& r : settlement.results) {
        reply.results.push_back({r.name,
                                 r.outcome == core::Outcome::Failed
                                     ? control::RestartOutcome::Failed
                                     : control::RestartOutcome::Started,
                                 r.message, r.needed_sigkill});
      }
      send(waiter.client, control::encode_reply(waiter.id, reply));
      return;
    }
    case Kind::Stop: {
      control::StopReply reply;
      for (const auto& r : settlement.results) {
        control::StopResult result;
        result.name = r.name;
        result.result = r.outcome == core::Outcome::NotRunning ? control::StopOutcome::NotRunning
                                                               : control::StopOutcome::Stopped;
        if (r.exit && r.exit->stop_duration) {
          result.needed_sigkill = r.exit->needed_sigkill();
          result.stop_duration = to_seconds(*r.exit->stop_duration);
          result.exit_code = r.exit->exit_code;
          result.exit_signal = r.exit->exit_signal;
          result.expected = r.exit->expected;
        }
        reply.results.push_back(std::move(result));
      }
      send(waiter.client, control::encode_reply(waiter.id, reply));
      return;
    }
    case Kind::Wait:
      if (settlement.unexpected) {
        send(waiter.client,
             control::encode_wait_error(waiter.id, control::ErrorCode::UnexpectedState,
                                        "a process reached a state it cannot leave by itself",
                                        wait_reply(settlement.results)));
      } else {
        send(waiter.client, control::encode_reply(waiter.id, wait_reply(settlement.results)));
      }
      return;
    case Kind::Update:
      send(waiter.client,
           control::encode_reply(
               waiter.id, control::ConfigChanges{waiter.request.added, waiter.request.changed,
                                                 waiter.request.removed_programs, waiter.notes}));
      return;
  }
}

void Runtime::answer_wait_timeout(const Waiter& waiter) {
  send(waiter.client,
       control::encode_wait_error(waiter.id, control::ErrorCode::Timeout,
                                  "timed out before every process was " +
                                      std::string(core::to_string(waiter.request.target)),
                                  wait_reply(core::current_states(waiter.request, *supervisor_))));
}

void Runtime::publish_event(const std::string& process, const core::StateChanged& change) {
  control::StateEvent event;
  const core::ManagedProcess* managed = supervisor_->find(process);
  event.process = process;
  event.group = managed ? managed->program_name() : process;
  event.from = std::string(core::to_string(change.from));
  event.to = std::string(core::to_string(change.to));
  if (managed) event.pid = managed->machine().pid();
  // The end of a run that caused the change (not a failed spawn: nothing ran).
  if (change.exit && change.exit->reason != core::ExitReason::SpawnFailed && event.pid == 0) {
    event.pid = change.exit->pid;
    event.exit_code = change.exit->exit_code;
    event.exit_signal = change.exit->exit_signal;
  }
  event.reason = change.reason;
  event.time = to_unix(std::chrono::system_clock::now());
  events_.push(event);
  if (event_subscribers_.empty()) return;
  for (const auto& [client, id] : event_subscribers_)
    send(client, control::encode_event(id, event));
}

void Runtime::publish_processes_changed() {
  processes_changed_ = false;
  for (const auto& [client, id] : event_subscribers_)
    send(client, control::encode_event(id, control::ProcessesChangedEvent{}));
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
  const logging::ProcessOutput& output = *handles_.at(name).output;
  const auto& sink =
      output.sink(tail.stream == control::Stream::Stdout ? logging::StreamKind::Stdout
                                                         : logging::StreamKind::Stderr);
  auto path = sink->file_path();
  std::string data;
  if (const logging::RecentOutput* recent = sink->recent_output()) {
    // console: its last bytes, kept in memory.
    if (tail.lines > 0) {
      const std::string kept = recent->text();
      data = logging::last_lines(kept, static_cast<std::size_t>(tail.lines));
    }
  } else if (path.empty()) {
    if (!tail.follow) {
      send(client,
           control::encode_error(id, control::ErrorCode::NoLogFile,
                                 name + ": " + std::string(control::to_string(tail.stream)) +
                                     " is not kept (NONE); tail -f shows what it writes"));
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
      [this, client] { clients_.close_after_flush(client); });
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
  std::vector<std::string> notes;
  if (auto note = http_change_note(config_.http, loaded.config->http)) {
    spdlog::warn("{}: {}", what, *note);
    notes.push_back(std::move(*note));
  }
  if (!apply) {
    config::ConfigDiff diff = config::diff_configs(current_config(), *loaded.config);
    send(client, control::encode_reply(
                     id, control::ConfigChanges{diff.added, diff.changed, diff.removed, notes}));
    return;
  }
  std::string refused;
  auto result = apply_new_config(std::move(*loaded.config), what, &refused);
  if (!result && !refused.empty()) {
    send(client,
         control::encode_error(id, control::ErrorCode::InvalidConfig, refused + "; nothing changed",
                               nlohmann::json{{"errors", {refused}}}));
    return;
  }
  if (!result) {
    send(client,
         control::encode_error(id, control::ErrorCode::ShuttingDown, "minisupd is shutting down"));
    return;
  }
  // Answered once the changes are done (removed programs stopped, changed
  // ones restarted), like stop: the script that runs `update` can go on.
  core::PendingRequest request = core::open_update(*result);
  std::vector<core::ProcessAction> actions = std::move(result->actions);
  execute(std::move(actions));
  add_waiter(client, id, std::move(request), std::nullopt, std::move(notes));
}

}  // namespace minisup::daemon
