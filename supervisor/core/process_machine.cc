// ProcessMachine: see process_machine.h for the model and the transitions.
//
// Each state has one function below listing the transitions out of it, each
// marked `// FROM -> TO: why`. Anything not listed is ignored.
#include "supervisor/core/process_machine.h"

#include <algorithm>
#include <csignal>
#include <type_traits>
#include <utility>

#include "supervisor/config/signal_names.h"
#include "supervisor/core/text.h"

namespace minisup::core {
namespace {

// Appends one action, constructed in place: pushing a temporary Action makes
// g++ 12 report a false -Wmaybe-uninitialized inside std::variant's move.
template <class T>
void emit(std::vector<Action>& out, T action) {
  out.emplace_back(std::in_place_type<T>, std::move(action));
}

std::size_t index_of(DeadlineKind kind) { return static_cast<std::size_t>(kind); }

std::string retries_text(int retries) {
  return std::to_string(retries) + (retries == 1 ? " retry" : " retries");
}

}  // namespace

ProcessPolicy ProcessPolicy::from(const config::ProgramConfig& program, TreeTracking trees) {
  const bool whole_tree = trees == TreeTracking::Cgroup;
  ProcessPolicy policy;
  policy.startsecs = program.startsecs;
  policy.startretries = program.startretries;
  policy.autorestart = program.autorestart;
  policy.exitcodes = program.exitcodes;
  policy.stopsignal = program.stopsignal;
  policy.stopwaitsecs = program.stopwaitsecs;
  policy.stopasgroup = program.stopasgroup;
  policy.killasgroup = program.killasgroup || program.stopasgroup || whole_tree;
  policy.whole_tree = whole_tree;
  policy.follow_strays = trees == TreeTracking::Strays;
  if (program.ready) {
    policy.ready_probe = true;
    policy.ready_timeout = program.ready->timeout;
  }
  if (program.health) {
    policy.health_probe = true;
    policy.health_failures = program.health->failures;
  }
  if (program.job) {
    // A job is RUNNING at its spawn and is never restarted after its exit
    // (DESIGN.md, "Readiness, dependencies and harness mode").
    policy.job = true;
    policy.startsecs = config::Duration::zero();
    policy.autorestart = config::AutoRestart::Never;
    policy.ready_probe = false;
  }
  return policy;
}

std::string describe(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, StartRequest>) {
          return e.waiting_for.empty() ? "StartRequest"
                                       : "StartRequest(waiting for " + e.waiting_for + ")";
        } else if constexpr (std::is_same_v<T, StopRequest>) {
          return e.kill_by ? "StopRequest(kill by)" : "StopRequest";
        } else if constexpr (std::is_same_v<T, DependenciesMet>) {
          return "DependenciesMet";
        } else if constexpr (std::is_same_v<T, DependencyFailed>) {
          return "DependencyFailed(" + e.why + ")";
        } else if constexpr (std::is_same_v<T, ProbeSucceeded>) {
          return "ProbeSucceeded(" + e.detail + ")";
        } else if constexpr (std::is_same_v<T, ProbeFailed>) {
          return "ProbeFailed(" + e.detail + ")";
        } else if constexpr (std::is_same_v<T, HealthChecked>) {
          return std::string(e.ok ? "HealthChecked(ok" : "HealthChecked(failed") +
                 (e.detail.empty() ? ")" : ": " + e.detail + ")");
        } else if constexpr (std::is_same_v<T, Spawned>) {
          return "Spawned(pid " + std::to_string(e.pid) + ")";
        } else if constexpr (std::is_same_v<T, SpawnFailed>) {
          return "SpawnFailed(" + e.message + ")";
        } else if constexpr (std::is_same_v<T, ChildExited>) {
          return "ChildExited(" + exit_text(e.exit_code, e.exit_signal, e.core_dumped) + ")";
        } else if constexpr (std::is_same_v<T, GroupProbed>) {
          return e.alive ? "GroupProbed(alive)" : "GroupProbed(empty)";
        } else {
          static_assert(std::is_same_v<T, DeadlineExpired>);
          return "DeadlineExpired(" + std::string(to_string(e.kind)) + ")";
        }
      },
      event);
}

ProcessMachine::ProcessMachine(ProcessPolicy policy) : policy_(std::move(policy)) {
  // stopasgroup implies killasgroup, whoever built the policy.
  policy_.killasgroup = policy_.killasgroup || policy_.stopasgroup;
}

std::vector<Action> ProcessMachine::handle(const Event& event, TimePoint now) {
  Actions out;
  if (const auto* expired = std::get_if<DeadlineExpired>(&event)) {
    // A deadline fires once: forget it, and ignore one that is not armed
    // (cancelled, or never armed) so that a late timer does no harm.
    std::optional<TimePoint>& slot = deadlines_[index_of(expired->kind)];
    if (!slot) return out;
    slot.reset();
  }
  switch (state_) {
    case ProcessState::Stopped:
    case ProcessState::Exited:
    case ProcessState::Fatal:
      on_idle(event, now, out);
      break;
    case ProcessState::Starting:
      on_starting(event, now, out);
      break;
    case ProcessState::Running:
      on_running(event, now, out);
      break;
    case ProcessState::Backoff:
      on_backoff(event, now, out);
      break;
    case ProcessState::Stopping:
      on_stopping(event, now, out);
      break;
  }
  return out;
}

// ---- Transitions, one function per state ----

void ProcessMachine::on_idle(const Event& event, TimePoint now, Actions& out) {
  if (const auto* start = std::get_if<StartRequest>(&event)) {
    // STOPPED/EXITED/FATAL -> STARTING: start requested; a new series of
    // tries (held without a spawn while dependencies are not met).
    failed_starts_ = 0;
    quick_exits_ = 0;
    last_error_.clear();
    if (!start->waiting_for.empty()) {
      waiting_for_ = start->waiting_for;
      change_state(ProcessState::Starting, "start requested; waiting for " + waiting_for_, out);
      return;
    }
    change_state(ProcessState::Starting, "start requested", out);
    spawn(now, out);
  }
}

void ProcessMachine::on_starting(const Event& event, TimePoint now, Actions& out) {
  if (!waiting_for_.empty()) {
    // STARTING, held: no process yet, only dependencies to wait for.
    if (const auto* start = std::get_if<StartRequest>(&event)) {
      if (!start->waiting_for.empty()) waiting_for_ = start->waiting_for;  // now waits for another
    } else if (std::holds_alternative<StopRequest>(event)) {
      // STARTING -> STOPPED: stop requested while waiting for dependencies.
      const std::string what = std::exchange(waiting_for_, {});
      change_state(ProcessState::Stopped, "stop requested while waiting for " + what, out);
    } else if (std::holds_alternative<DependenciesMet>(event)) {
      // STARTING -> STARTING: the dependencies are met; spawn now.
      waiting_for_.clear();
      spawn(now, out);
    } else if (const auto* failed = std::get_if<DependencyFailed>(&event)) {
      // STARTING -> FATAL: a dependency failed; never spawned.
      waiting_for_.clear();
      ExitRecord record;
      record.reason = ExitReason::DependencyFailed;
      record.message = failed->why;
      record.incarnation = incarnation_;
      record.when = now;
      last_exit_ = record;
      last_error_ = "not started: " + failed->why;
      emit<RecordExit>(out, {record});
      change_state(ProcessState::Fatal, last_error_, out, std::move(record));
    }
    return;
  }
  if (const auto* stop = std::get_if<StopRequest>(&event)) {
    kill_by_ = stop->kill_by;
    stop_probe(ProbeRole::Ready, out);
    cancel(DeadlineKind::Ready, out);
    if (pid_ == 0) {
      // STARTING -> STOPPING: stop requested before Spawned; the stop signal
      // goes out when Spawned arrives.
      change_state(ProcessState::Stopping, "stop requested before the spawn completed", out);
    } else {
      // STARTING -> STOPPING: stop requested.
      begin_stop(now, out);
    }
  } else if (const auto* spawned = std::get_if<Spawned>(&event)) {
    // STARTING -> STARTING (or RUNNING when startsecs = 0): the child runs.
    if (pid_ == 0 && spawned->pid > 0) on_spawned(spawned->pid, now, out);
  } else if (const auto* failed = std::get_if<SpawnFailed>(&event)) {
    // STARTING -> BACKOFF or FATAL: the spawn failed.
    last_error_ = failed->message;
    stop_probe(ProbeRole::Ready, out);
    cancel(DeadlineKind::Ready, out);
    ExitRecord record = spawn_failed_record(now, failed->message);
    fail_start(failed->message, now, out, std::move(record));
  } else if (const auto* exited = std::get_if<ChildExited>(&event)) {
    if (pid_ == 0) return;  // nothing was spawned yet: not ours
    // STARTING -> BACKOFF or FATAL: exited before startsecs (or before its
    // ready probe succeeded).
    cancel(DeadlineKind::Startsecs, out);
    stop_probe(ProbeRole::Ready, out);
    cancel(DeadlineKind::Ready, out);
    ExitRecord record = make_exit_record(*exited, now);
    last_exit_ = record;
    emit<RecordExit>(out, {record});
    std::string what = record.text() + " after " + seconds_text(now - started_at_);
    if (policy_.ready_probe) what += " before it was ready";
    fail_start(std::move(what), now, out, record);
  } else if (const auto* ready = std::get_if<ProbeSucceeded>(&event)) {
    if (!probing_ready_) return;
    // STARTING -> RUNNING: the ready probe succeeded; the retry count
    // starts over.
    stop_probe(ProbeRole::Ready, out);
    cancel(DeadlineKind::Ready, out);
    become_running("ready after " + seconds_text(now - started_at_) +
                       (ready->detail.empty() ? "" : ": " + ready->detail),
                   now, out);
  } else if (const auto* probe_failed = std::get_if<ProbeFailed>(&event)) {
    if (probing_ready_) probe_detail_ = probe_failed->detail;
  } else if (const auto* expired = std::get_if<DeadlineExpired>(&event)) {
    if (expired->kind == DeadlineKind::Ready) {
      // STARTING -> STOPPING: not ready in time; the stop ends in a failed
      // start (BACKOFF or FATAL).
      stop_probe(ProbeRole::Ready, out);
      stop_purpose_ = StopPurpose::NotReady;
      stop_why_ = "not ready after " + seconds_text(now - started_at_) +
                  (probe_detail_.empty() ? "" : ": " + probe_detail_);
      begin_stop(now, out);
      return;
    }
    if (expired->kind != DeadlineKind::Startsecs) return;
    // STARTING -> RUNNING: up for startsecs; the retry count starts over.
    become_running("up for " + seconds_text(now - started_at_), now, out);
  }
}

void ProcessMachine::become_running(std::string reason, TimePoint now, Actions& out) {
  failed_starts_ = 0;
  running_since_ = now;
  health_failures_ = 0;
  change_state(ProcessState::Running, std::move(reason), out);
  start_health(out);
}

void ProcessMachine::start_health(Actions& out) {
  if (!policy_.health_probe) return;
  probing_health_ = true;
  health_failures_ = 0;
  probe_detail_.clear();
  emit<StartProbe>(out, {ProbeRole::Health, incarnation_});
}

void ProcessMachine::on_running(const Event& event, TimePoint now, Actions& out) {
  if (const auto* stop = std::get_if<StopRequest>(&event)) {
    // RUNNING -> STOPPING: stop requested.
    kill_by_ = stop->kill_by;
    stop_probe(ProbeRole::Health, out);
    begin_stop(now, out);
  } else if (const auto* checked = std::get_if<HealthChecked>(&event)) {
    if (!probing_health_) return;
    if (checked->ok) {
      health_failures_ = 0;
      return;
    }
    probe_detail_ = checked->detail;
    if (++health_failures_ < policy_.health_failures) return;
    // RUNNING -> STOPPING: unhealthy; the stop ends in a restart.
    stop_probe(ProbeRole::Health, out);
    stop_purpose_ = StopPurpose::Unhealthy;
    stop_why_ = "unhealthy: " + std::to_string(health_failures_) + " health check" +
                (health_failures_ == 1 ? "" : "s") + " failed in a row" +
                (checked->detail.empty() ? "" : ", the last: " + checked->detail);
    emit<Notice>(out, {stop_why_ + "; restarting"});
    begin_stop(now, out);
  } else if (const auto* exited = std::get_if<ChildExited>(&event)) {
    // RUNNING -> EXITED: the process ended on its own.
    stop_probe(ProbeRole::Health, out);
    ExitRecord record = make_exit_record(*exited, now);
    last_exit_ = record;
    pid_ = 0;
    process_group_ = 0;
    failed_starts_ = 0;  // it did run (matters with startsecs = 0)
    emit<RecordExit>(out, {record});
    std::string reason = record.text();
    if (record.exit_code) reason += record.expected ? " (expected)" : " (not expected)";
    change_state(ProcessState::Exited, std::move(reason), out, record);

    const bool restart =
        policy_.autorestart == config::AutoRestart::Always ||
        (policy_.autorestart == config::AutoRestart::Unexpected && !record.expected);
    if (restart && !restarts_inhibited_) restart_after_exit(now, out);
  } else if (const auto* failed = std::get_if<SpawnFailed>(&event)) {
    // RUNNING -> BACKOFF or FATAL: with startsecs = 0 the process was RUNNING
    // at Spawned, and only now did the exec turn out to have failed.
    last_error_ = failed->message;
    stop_probe(ProbeRole::Health, out);
    ExitRecord record = spawn_failed_record(now, failed->message);
    fail_start(failed->message, now, out, std::move(record));
  }
}

void ProcessMachine::on_backoff(const Event& event, TimePoint now, Actions& out) {
  if (const auto* start = std::get_if<StartRequest>(&event)) {
    // BACKOFF -> STARTING: start requested; retry now (the count of failed
    // starts goes on; a crash loop's count starts over).
    cancel(DeadlineKind::Backoff, out);
    retry_at_.reset();
    if (restart_delayed_) quick_exits_ = 0;
    restart_delayed_ = false;
    last_error_.clear();
    if (!start->waiting_for.empty()) {
      waiting_for_ = start->waiting_for;
      change_state(ProcessState::Starting, "start requested; waiting for " + waiting_for_, out);
      return;
    }
    change_state(ProcessState::Starting, "start requested", out);
    spawn(now, out);
  } else if (std::holds_alternative<StopRequest>(event)) {
    // BACKOFF -> STOPPED: stop requested; nothing runs, so at once.
    cancel(DeadlineKind::Backoff, out);
    retry_at_.reset();
    restart_delayed_ = false;
    change_state(ProcessState::Stopped, "stop requested while waiting to retry", out);
  } else if (const auto* expired = std::get_if<DeadlineExpired>(&event)) {
    if (expired->kind != DeadlineKind::Backoff) return;
    retry_at_.reset();
    if (restarts_inhibited_) return;  // armed before inhibit_restarts(): no retry
    if (restart_delayed_) {
      // BACKOFF -> STARTING: a crash loop's restart delay is over.
      restart_delayed_ = false;
      change_state(ProcessState::Starting,
                   "restart after " + std::to_string(quick_exits_) + " quick exits in a row", out);
      respawn(now, out);
      return;
    }
    // BACKOFF -> STARTING: time to retry.
    change_state(
        ProcessState::Starting,
        "retry " + std::to_string(failed_starts_) + "/" + std::to_string(policy_.startretries),
        out);
    respawn(now, out);
  }
}

void ProcessMachine::on_stopping(const Event& event, TimePoint now, Actions& out) {
  if (const auto* stop = std::get_if<StopRequest>(&event)) {
    // STOPPING -> STOPPING: a requested stop wins over the machine's own
    // (the process ends STOPPED, not restarted or retried); a kill_by
    // earlier than the SIGKILL deadline brings SIGKILL forward.
    stop_purpose_ = StopPurpose::None;
    if (!stop->kill_by || (kill_by_ && *kill_by_ <= *stop->kill_by)) return;
    kill_by_ = stop->kill_by;
    if (sigkill_sent_ || !stop_requested_at_) return;  // not signalled yet: Spawned arms it
    if (*kill_by_ <= now) {
      escalate_stop(now, out);
    } else if (const auto& due = deadline(DeadlineKind::Stopwaitsecs); !due || *kill_by_ < *due) {
      arm(DeadlineKind::Stopwaitsecs, *kill_by_, out);
    }
  } else if (const auto* spawned = std::get_if<Spawned>(&event)) {
    // STOPPING -> STOPPING: the stop was requested before Spawned; send the
    // stop signal now.
    if (pid_ != 0 || process_group_ != 0 || spawned->pid <= 0) return;
    pid_ = spawned->pid;
    process_group_ = spawned->pid;
    started_at_ = now;
    send_stop_signal(now, out);
  } else if (const auto* failed = std::get_if<SpawnFailed>(&event)) {
    if (leader_exit_) return;  // the leader already ended with ChildExited
    // STOPPING -> STOPPED: the spawn failed, so nothing is left to stop.
    ExitRecord record = spawn_failed_record(now, failed->message);  // names the forked pid, if any
    cancel(DeadlineKind::Stopwaitsecs, out);
    pid_ = 0;
    process_group_ = 0;
    stop_requested_at_.reset();
    last_error_ = failed->message;
    change_state(ProcessState::Stopped, failed->message, out, std::move(record));
  } else if (const auto* exited = std::get_if<ChildExited>(&event)) {
    if (pid_ == 0) return;  // no leader to reap (not spawned, or reaped)
    ExitRecord record = make_exit_record(*exited, now);
    pid_ = 0;
    if (policy_.killasgroup || policy_.follow_strays) {
      // STOPPING -> STOPPING: the leader is gone; is its group? Wait for the
      // probe (and, while the group lingers, for stopwaitsecs: SIGKILL to
      // the group).
      leader_exit_ = std::move(record);
      group_seen_alive_ = false;
      emit<ProbeGroup>(out, {});
      return;
    }
    // STOPPING -> STOPPED: exited after the stop signal.
    finish_stop(std::move(record), false, now, out);
  } else if (const auto* probed = std::get_if<GroupProbed>(&event)) {
    if (!leader_exit_) return;
    if (probed->alive) {
      // STOPPING -> STOPPING: lingering; a later probe or the deadline ends
      // it. A whole tree's other members get the stop signal now, once.
      if (policy_.whole_tree && !policy_.stopasgroup && !sigkill_sent_ && !group_seen_alive_)
        emit<SendSignal>(out, {policy_.stopsignal, true});
      group_seen_alive_ = true;
      return;
    }
    // STOPPING -> STOPPED: the leader's group is empty (at once, or after
    // it lingered).
    ExitRecord record = std::move(*leader_exit_);
    leader_exit_.reset();
    finish_stop(std::move(record), std::exchange(group_seen_alive_, false), now, out);
  } else if (const auto* expired = std::get_if<DeadlineExpired>(&event)) {
    if (expired->kind != DeadlineKind::Stopwaitsecs) return;
    if (!sigkill_sent_) {
      // STOPPING -> STOPPING: stopwaitsecs passed; SIGKILL.
      escalate_stop(now, out);
    } else if (leader_exit_) {
      // STOPPING -> STOPPED: the leader was reaped, but members of its tree
      // are still there kSigkillGrace after SIGKILL (uninterruptible
      // sleep): reported, and the stop ends without them.
      const std::string who = policy_.whole_tree ? "cgroup" : "process group";
      emit<Notice>(out, {"processes of its " + who + " still alive " + seconds_text(kSigkillGrace) +
                         " after SIGKILL; the stop ends without them"});
      ExitRecord record = std::move(*leader_exit_);
      leader_exit_.reset();
      finish_stop(std::move(record), std::exchange(group_seen_alive_, false), now, out);
    } else {
      // STOPPING -> STOPPING: still not reaped kSigkillGrace after SIGKILL
      // (e.g. stuck in uninterruptible sleep). Reported once, not re-killed.
      emit<Notice>(out, {"process still alive " + seconds_text(kSigkillGrace) + " after SIGKILL"});
    }
  }
}

// ---- Steps shared by several transitions ----

void ProcessMachine::change_state(ProcessState to, std::string reason, Actions& out,
                                  std::optional<ExitRecord> exit) {
  const ProcessState from = state_;
  state_ = to;
  // Every end of a run reaches exactly one change of state with its record:
  // the one place to count it.
  if (exit) ++counters_.exits[static_cast<std::size_t>(exit->reason)];
  emit<StateChanged>(out, {from, to, std::move(reason), std::move(exit)});
}

void ProcessMachine::arm(DeadlineKind kind, TimePoint at, Actions& out) {
  deadlines_[index_of(kind)] = at;
  emit<ArmDeadline>(out, {kind, at, incarnation_});
}

void ProcessMachine::cancel(DeadlineKind kind, Actions& out) {
  std::optional<TimePoint>& slot = deadlines_[index_of(kind)];
  if (!slot) return;
  slot.reset();
  emit<CancelDeadline>(out, {kind});
}

void ProcessMachine::spawn(TimePoint now, Actions& out) {
  pid_ = 0;
  process_group_ = 0;
  started_at_ = now;
  sigkill_sent_ = false;
  stop_requested_at_.reset();
  leader_exit_.reset();
  group_seen_alive_ = false;
  stop_purpose_ = StopPurpose::None;
  kill_by_.reset();
  probe_detail_.clear();
  health_failures_ = 0;
  ++incarnation_;
  emit<Spawn>(out, {incarnation_});
}

void ProcessMachine::respawn(TimePoint now, Actions& out) {
  ++counters_.restarts;
  spawn(now, out);
}

void ProcessMachine::on_spawned(int pid, TimePoint now, Actions& out) {
  pid_ = pid;
  process_group_ = pid;
  started_at_ = now;
  last_error_.clear();
  if (policy_.ready_probe) {
    // The probe decides; its timeout counts from the spawn.
    probing_ready_ = true;
    emit<StartProbe>(out, {ProbeRole::Ready, incarnation_});
    arm(DeadlineKind::Ready, now + policy_.ready_timeout, out);
    return;
  }
  if (policy_.startsecs <= config::Duration::zero()) {
    running_since_ = now;
    // STARTING -> RUNNING: startsecs = 0 means up at once. (failed_starts_
    // is reset when this run ends with an exit, so that an exec failure
    // reported after Spawned still counts towards FATAL.)
    change_state(ProcessState::Running,
                 "spawned with pid " + std::to_string(pid) + " (startsecs is 0)", out);
    start_health(out);
    return;
  }
  arm(DeadlineKind::Startsecs, now + policy_.startsecs, out);
}

void ProcessMachine::fail_start(std::string what, TimePoint now, Actions& out, ExitRecord ended) {
  cancel(DeadlineKind::Startsecs, out);
  pid_ = 0;
  process_group_ = 0;
  ++failed_starts_;
  if (failed_starts_ > policy_.startretries) {
    retry_at_.reset();
    last_error_ = what + "; gave up after " + retries_text(policy_.startretries);
    change_state(ProcessState::Fatal, last_error_, out, ended);
    return;
  }
  if (restarts_inhibited_) {
    retry_at_.reset();
    change_state(ProcessState::Backoff, what + "; no retry (restarts are inhibited)", out, ended);
    return;
  }
  const config::Duration delay = std::chrono::seconds(failed_starts_);
  retry_at_ = now + delay;
  change_state(ProcessState::Backoff,
               what + "; retry " + std::to_string(failed_starts_) + "/" +
                   std::to_string(policy_.startretries) + " in " + seconds_text(delay),
               out, std::move(ended));
  arm(DeadlineKind::Backoff, *retry_at_, out);
}

void ProcessMachine::restart_after_exit(TimePoint now, Actions& out) {
  const std::string why = policy_.autorestart == config::AutoRestart::Always
                              ? "autorestart is true"
                              : "autorestart after an unexpected exit";
  if (now - running_since_ < kQuickExitWindow) {
    ++quick_exits_;
  } else {
    quick_exits_ = 0;  // it stayed up: a new series
  }
  if (quick_exits_ <= 1) {
    // EXITED -> STARTING: autorestart (the first quick exit restarts at once).
    change_state(ProcessState::Starting, why, out);
    respawn(now, out);
    return;
  }
  // EXITED -> BACKOFF: it keeps dying soon after it started; wait 1 s, 2 s,
  // 4 s ... (at most kMaxRestartDelay) before the restart. Never FATAL.
  const int doublings = std::min(quick_exits_ - 2, 16);
  const config::Duration delay =
      std::min<config::Duration>(std::chrono::seconds(1LL << doublings), kMaxRestartDelay);
  restart_delayed_ = true;
  retry_at_ = now + delay;
  change_state(ProcessState::Backoff,
               why + "; exited " + std::to_string(quick_exits_) + " times in a row within " +
                   seconds_text(kQuickExitWindow) + " of starting, restart in " +
                   seconds_text(delay),
               out);
  arm(DeadlineKind::Backoff, *retry_at_, out);
}

void ProcessMachine::begin_stop(TimePoint now, Actions& out) {
  cancel(DeadlineKind::Startsecs, out);
  std::string reason = "sent " + config::signal_name(policy_.stopsignal);
  if (stop_purpose_ != StopPurpose::None) reason = stop_why_ + "; " + reason;
  if (policy_.stopasgroup) reason += " to its process group";
  if (policy_.stopwaitsecs <= config::Duration::zero()) {
    reason += ", then SIGKILL (stopwaitsecs is 0)";
  }
  change_state(ProcessState::Stopping, std::move(reason), out);
  send_stop_signal(now, out);
}

void ProcessMachine::send_stop_signal(TimePoint now, Actions& out) {
  stop_requested_at_ = now;
  emit<SendSignal>(out, {policy_.stopsignal, policy_.stopasgroup});
  if (policy_.stopwaitsecs <= config::Duration::zero()) {
    // stopwaitsecs = 0: no grace period; SIGKILL in the same step (the stop
    // signal still goes first, so a handler can at least see it).
    emit<SendSignal>(out, {SIGKILL, policy_.killasgroup});
    sigkill_sent_ = true;
    arm(DeadlineKind::Stopwaitsecs, now + kSigkillGrace, out);
    return;
  }
  arm(DeadlineKind::Stopwaitsecs, kill_deadline(now), out);
}

TimePoint ProcessMachine::kill_deadline(TimePoint now) const {
  const TimePoint at = now + policy_.stopwaitsecs;
  return kill_by_ && *kill_by_ < at ? *kill_by_ : at;
}

void ProcessMachine::stop_probe(ProbeRole role, Actions& out) {
  bool& probing = role == ProbeRole::Ready ? probing_ready_ : probing_health_;
  if (!probing) return;
  probing = false;
  emit<StopProbe>(out, {role});
}

void ProcessMachine::escalate_stop(TimePoint now, Actions& out) {
  // Once the leader is reaped only its group may be signalled (its pid may
  // already belong to a stranger).
  const bool to_group = policy_.killasgroup || leader_exit_.has_value();
  emit<SendSignal>(out, {SIGKILL, to_group});
  sigkill_sent_ = true;
  const std::string waited = seconds_text(now - stop_requested_at_.value_or(now)) + " after " +
                             config::signal_name(policy_.stopsignal);
  const std::string group = policy_.whole_tree ? "cgroup" : "process group";
  if (leader_exit_) {
    emit<Notice>(out, {group + " still alive " + waited + " (its leader exited); sent SIGKILL to " +
                       (policy_.whole_tree ? "every process in it" : "the group")});
  } else {
    emit<Notice>(out, {"did not exit " + waited + "; sent SIGKILL" +
                       (to_group ? " to its " + group : std::string())});
  }
  arm(DeadlineKind::Stopwaitsecs, now + kSigkillGrace, out);
}

void ProcessMachine::finish_stop(ExitRecord record, bool group_lingered, TimePoint now,
                                 Actions& out) {
  cancel(DeadlineKind::Stopwaitsecs, out);
  if (stop_requested_at_) record.stop_duration = now - *stop_requested_at_;
  if (sigkill_sent_) {
    record.reason = ExitReason::NeededSigkill;
    ++counters_.sigkills;
  }
  // A stop the machine began itself records why (whether SIGKILL was needed
  // then shows in the state change's text only).
  if (stop_purpose_ == StopPurpose::NotReady) record.reason = ExitReason::NotReady;
  if (stop_purpose_ == StopPurpose::Unhealthy) record.reason = ExitReason::Unhealthy;
  pid_ = 0;
  process_group_ = 0;
  last_exit_ = record;
  if (record.stop_duration) last_stop_duration_ = record.stop_duration;
  emit<RecordExit>(out, {record});

  std::string reason = record.text();
  if (record.stop_duration) {
    const std::string after =
        seconds_text(*record.stop_duration) + " after " + config::signal_name(policy_.stopsignal);
    reason += group_lingered ? "; its process group was gone " + after : " " + after;
  }
  if (record.needed_sigkill()) reason += " (needed SIGKILL)";
  stop_requested_at_.reset();
  kill_by_.reset();
  switch (std::exchange(stop_purpose_, StopPurpose::None)) {
    case StopPurpose::None:
      change_state(ProcessState::Stopped, std::move(reason), out, record);
      return;
    case StopPurpose::NotReady:
      // STOPPING -> BACKOFF or FATAL: stopped because it was not ready in
      // time; a failed start.
      last_error_ = stop_why_;
      fail_start(stop_why_, now, out, std::move(record));
      return;
    case StopPurpose::Unhealthy:
      if (restarts_inhibited_) {
        change_state(ProcessState::Stopped, stop_why_ + "; " + reason, out, std::move(record));
        return;
      }
      // STOPPING -> STARTING: stopped because it was unhealthy; start again.
      change_state(ProcessState::Starting, stop_why_ + "; " + reason + "; restarting", out,
                   std::move(record));
      respawn(now, out);
      return;
  }
}

ExitRecord ProcessMachine::make_exit_record(const ChildExited& exit, TimePoint now) const {
  ExitRecord record;
  record.pid = pid_;
  record.exit_code = exit.exit_code;
  record.exit_signal = exit.exit_signal;
  record.core_dumped = exit.core_dumped && exit.exit_signal.has_value();
  record.reason = exit.exit_signal ? ExitReason::Killed : ExitReason::Exited;
  record.incarnation = incarnation_;
  record.when = now;
  record.expected =
      exit.exit_code.has_value() && std::find(policy_.exitcodes.begin(), policy_.exitcodes.end(),
                                              *exit.exit_code) != policy_.exitcodes.end();
  return record;
}

ExitRecord ProcessMachine::spawn_failed_record(TimePoint now, const std::string& message) const {
  ExitRecord record;
  record.reason = ExitReason::SpawnFailed;
  record.message = message;
  record.incarnation = incarnation_;
  record.pid = process_group_;  // nonzero when it failed after the fork
  record.when = now;
  return record;
}

}  // namespace minisup::core
