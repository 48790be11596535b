// ProcessMachine: the pure state machine of one supervised process.
//
// Model: events go in (requests from users, facts from the kernel reported
// by the runtime, deadlines that expired), actions come out (spawn, signal,
// arm/cancel a deadline, state changed, exit recorded). The machine makes no
// system calls and reads no clock: `now` is an argument, so every
// transition is unit-tested with a fake clock. The runtime (daemon/) carries
// the actions out and feeds the answers back as events.
//
// Transitions (supervisord's semantics, see DESIGN.md "Process states"):
//   STOPPED/EXITED/FATAL/BACKOFF --start--> STARTING (Spawn)
//   STARTING --Spawned--> STARTING (arm startsecs; startsecs = 0: RUNNING)
//   STARTING --startsecs expired--> RUNNING (retry count reset)
//   STARTING --exit or SpawnFailed--> BACKOFF (retry after 1 s, 2 s, 3 s ...)
//                                  or FATAL after startretries failed retries
//   BACKOFF --backoff expired--> STARTING (Spawn)
//   RUNNING --exit--> EXITED, then STARTING at once when autorestart says so,
//                     or BACKOFF (restart delay) when it keeps dying quickly
//   BACKOFF (restart delay) --expired--> STARTING (Spawn)
//   STARTING/RUNNING --stop--> STOPPING (stopsignal; arm stopwaitsecs)
//   STOPPING --stopwaitsecs expired--> STOPPING (SIGKILL, needed_sigkill)
//   STOPPING --exit--> STOPPED
//   BACKOFF --stop--> STOPPED at once
// An event that does not fit the current state is ignored (no actions).
//
// Details the runtime relies on:
// - Spawn is answered by Spawned{pid} (fork done) and the run ends with
//   exactly one of ChildExited or SpawnFailed. SpawnFailed may come before
//   Spawned (nothing was forked) or after it (exec failed in the child, known
//   through the exec-status pipe); it then replaces ChildExited for that
//   child. SpawnFailed in STARTING, or in RUNNING (startsecs = 0 makes a
//   process RUNNING at Spawned), counts as a failed start.
// - A stop requested in STARTING before Spawned goes to STOPPING at once
//   with no signal; Spawned then sends the stop signal and arms stopwaitsecs
//   (SpawnFailed goes to STOPPED).
// - stopwaitsecs = 0: the stop signal and SIGKILL are sent in the same step.
// - SIGKILL is sent once. Five seconds later (kSigkillGrace), if the process
//   has still not been reaped, a Notice reports it; it is not killed again.
//   If the leader was reaped and only its group (or cgroup) lingers, e.g. a
//   member stuck in uninterruptible sleep, the Notice reports it and the
//   stop ends (STOPPED) without it: a stop never waits forever for
//   processes minisupd cannot reap.
// - follow_strays (process groups only): ChildExited in STOPPING always
//   asks ProbeGroup, whose answer also counts strays; a lingering tree
//   then ends as with killasgroup.
// - whole_tree (cgroups): as killasgroup, and when the leader exits during
//   a stop while other members remain (GroupProbed{alive}), they get the
//   stop signal at once (unless stopasgroup sent it to them already).
// - With killasgroup (stopasgroup implies it), ChildExited in STOPPING
//   leaves pid() 0 but keeps process_group(), and asks whether the group
//   still has members (ProbeGroup). GroupProbed{alive = false} ends the stop
//   (-> STOPPED, with the leader's exit record); GroupProbed{alive = true}
//   makes the group "lingering" (group_lingering()): stopwaitsecs stays
//   armed, and the machine stays STOPPING until a later GroupProbed{false}
//   (the Supervisor asks for one whenever an orphan is reaped) or the
//   deadline (SIGKILL to the group).
// - Each Spawn is a new incarnation (incarnation()); Spawn and ArmDeadline
//   carry it. The machine itself does not check it: Supervisor::report
//   drops facts and deadlines of an incarnation that is not the current one.
// - DeadlineExpired for a deadline the machine has not armed (or has
//   cancelled) is ignored, so a late timer can do no harm.
// - Crash loops (DESIGN.md, Process states): an autorestart after an exit
//   within kQuickExitWindow of becoming RUNNING is a quick exit. The first
//   one in a row restarts at once; the n-th (n >= 2) waits 2^(n-2) s, at
//   most kMaxRestartDelay, in BACKOFF (restart_delayed() is true, retry_at()
//   says when). Such delays never lead to FATAL; an exit after the process
//   stayed up kQuickExitWindow starts the count over, as does a start
//   request.
// - inhibit_restarts() (graceful shutdown): no more spawns on the machine's
//   own initiative; user StartRequests still work (Supervisor refuses them).
// - Counters (counters(), for status and /metrics): `restarts` counts the
//   spawns the machine makes on its own after a run ended (autorestart after
//   an exit, a crash loop's delayed restart, a BACKOFF retry, a restart after
//   failed health checks), like Kubernetes' restartCount; spawns asked for by
//   a StartRequest (start, restart, update) or DependenciesMet do not count.
//   Every end of a run counts once under its ExitReason (the change of state
//   that carries its ExitRecord), and a stop that needed SIGKILL also counts
//   in `sigkills` whatever its reason (a not_ready or unhealthy stop may
//   have needed it too).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/core/action.h"

namespace minisup::core {

/// How long after SIGKILL a process that is still not reaped is reported.
inline constexpr std::chrono::seconds kSigkillGrace{5};
/// Crash loops: an exit from RUNNING within this long of becoming RUNNING
/// counts as a quick exit; a process that stays up this long starts over.
inline constexpr std::chrono::seconds kQuickExitWindow{10};
/// The longest delay before restarting a process that keeps dying quickly.
inline constexpr std::chrono::seconds kMaxRestartDelay{60};

/// What happened to one process, counted over its life (see "Counters"
/// above); never reset by the machine.
struct ProcessCounters {
  /// Spawns the machine made on its own after a run ended.
  std::uint64_t restarts = 0;
  /// Ends of runs, indexed by ExitReason.
  std::array<std::uint64_t, kExitReasons> exits{};
  /// Stops that had to send SIGKILL (whatever the exit's reason).
  std::uint64_t sigkills = 0;

  /// The ends of runs for `reason`.
  std::uint64_t exits_for(ExitReason reason) const {
    return exits[static_cast<std::size_t>(reason)];
  }
  bool operator==(const ProcessCounters&) const = default;
};

/// What a process's tree is to its machine: its leader (and its process
/// group with killasgroup), the same plus strays (process groups only), or
/// its cgroup.
enum class TreeTracking : unsigned char { LeaderOnly, Strays, Cgroup };

/// The part of a program's config that drives its state machine.
struct ProcessPolicy {
  config::Duration startsecs = std::chrono::seconds(1);
  int startretries = 3;
  config::AutoRestart autorestart = config::AutoRestart::Unexpected;
  std::vector<int> exitcodes{0};
  int stopsignal = 15;
  config::Duration stopwaitsecs = std::chrono::seconds(10);
  bool stopasgroup = false;
  bool killasgroup = false;  ///< also true when stopasgroup is
  /// A `ready` probe decides STARTING -> RUNNING (startsecs is not used);
  /// not ready `ready_timeout` after the spawn is a failed start.
  bool ready_probe = false;
  config::Duration ready_timeout = std::chrono::seconds(60);
  /// A `health` probe runs while RUNNING; `health_failures` failures in a
  /// row restart the process (ExitReason::Unhealthy).
  bool health_probe = false;
  int health_failures = 3;
  /// A job (config::ProgramConfig::job): startsecs 0, never restarted.
  bool job = false;
  /// The process's tree is a cgroup (DESIGN.md, "Whole process trees"): a
  /// stop ends only when the whole tree is gone (killasgroup is on, and
  /// SendSignal{to_group} reaches the whole cgroup); members left when the
  /// leader exits during a stop get the stop signal at once.
  bool whole_tree = false;
  /// Process groups only (the fallback of DESIGN.md "Whole process trees"):
  /// when the leader exits during a stop, ask (ProbeGroup) whether strays
  /// (descendants re-parented to minisupd) remain, even without
  /// killasgroup; the stop then waits for them until its deadline (SIGKILL).
  bool follow_strays = false;

  /// The policy of `program` under `trees` (killasgroup is set when
  /// stopasgroup is, or with cgroups; a job gets startsecs 0 and
  /// autorestart false).
  static ProcessPolicy from(const config::ProgramConfig& program,
                            TreeTracking trees = TreeTracking::LeaderOnly);
  bool operator==(const ProcessPolicy&) const = default;
};

// ---- Requests (imperatives) ----
/// Start. With `waiting_for` set (the Supervisor's dependencies are not met
/// yet, e.g. "db"), the process goes to STARTING without a spawn and waits
/// for DependenciesMet or DependencyFailed.
struct StartRequest {
  std::string waiting_for;
};
/// Stop. `kill_by` (a shutdown's shutdown_timeout): SIGKILL no later than
/// this, even if stopwaitsecs would end later; sent to a process already
/// STOPPING, it brings its SIGKILL forward.
struct StopRequest {
  std::optional<TimePoint> kill_by;
};
/// The Supervisor found the dependencies of a process that waits for them
/// met: spawn it.
struct DependenciesMet {};
/// A dependency failed (`why`: "db is FATAL"): the waiting process goes
/// FATAL without being spawned.
struct DependencyFailed {
  std::string why;
};

// ---- Facts (past tense), reported by the runtime ----
/// The Spawn action succeeded: the child runs with this pid (which is also
/// its process group id).
struct Spawned {
  int pid = 0;
};
/// The Spawn action failed; `message` is e.g.
/// "exec /usr/bin/nope: No such file or directory".
struct SpawnFailed {
  std::string message;
};
/// The process (the group leader) was reaped.
struct ChildExited {
  std::optional<int> exit_code;    ///< normal exit
  std::optional<int> exit_signal;  ///< killed by this signal
  bool core_dumped = false;        ///< the killing signal left a core dump
};
/// The answer to ProbeGroup: whether the process group of the reaped leader
/// still has members.
struct GroupProbed {
  bool alive = false;
};
/// The deadline of `kind` armed earlier has been reached.
struct DeadlineExpired {
  DeadlineKind kind;
};
/// The `ready` probe succeeded (`detail`: what it saw, for the log).
struct ProbeSucceeded {
  std::string detail;
};
/// An attempt of the `ready` probe failed; the last one's `detail` ends up
/// in the failed start's message.
struct ProbeFailed {
  std::string detail;
};
/// One attempt of the `health` probe ended.
struct HealthChecked {
  bool ok = false;
  std::string detail;
};

using Event = std::variant<StartRequest, StopRequest, DependenciesMet, DependencyFailed, Spawned,
                           SpawnFailed, ChildExited, GroupProbed, DeadlineExpired, ProbeSucceeded,
                           ProbeFailed, HealthChecked>;

/// "StartRequest", "Spawned(pid 12)", "ChildExited(status 1)", ... for logs
/// and test names.
std::string describe(const Event& event);

class ProcessMachine {
 public:
  explicit ProcessMachine(ProcessPolicy policy);

  /// Feeds one event at time `now`; returns what the runtime must do, in
  /// order. An event that does not fit the current state returns nothing.
  /// Never throws (but for std::bad_alloc).
  std::vector<Action> handle(const Event& event, TimePoint now);

  /// From now on the machine never spawns on its own initiative: an exit
  /// from RUNNING ends in EXITED whatever autorestart says, and a failed
  /// start goes to BACKOFF without a retry deadline (retry_at() empty) until
  /// a stop or a start request. Used by the graceful shutdown. Irreversible.
  void inhibit_restarts() { restarts_inhibited_ = true; }
  bool restarts_inhibited() const { return restarts_inhibited_; }

  ProcessState state() const { return state_; }
  /// The running child's pid; 0 when there is none (not spawned yet, or
  /// reaped).
  int pid() const { return pid_; }
  /// The process group of the current (or last) child (= its pid); nonzero
  /// from Spawned until the stop or exit is complete, also after the leader
  /// was reaped while its group lingers (SendSignal{to_group} targets it).
  int process_group() const { return process_group_; }
  /// STOPPING, the leader was reaped and its group still has members (or
  /// the probe has not answered yet).
  bool group_lingering() const { return leader_exit_.has_value(); }
  /// The current (or last) spawn's number; 0 before the first Spawn.
  Incarnation incarnation() const { return incarnation_; }
  /// A machine that replaces another of the same name (a reload) goes on
  /// counting from that one's last incarnation, so that no fact about the
  /// old process can pass for one about the new.
  void continue_incarnations_from(Incarnation last) { incarnation_ = last; }
  /// What happened to this process so far (see "Counters" above).
  const ProcessCounters& counters() const { return counters_; }
  /// A machine that replaces another of the same name (a reload, a rolling
  /// restart) goes on counting from `counters` (its predecessor's).
  void continue_counters_from(const ProcessCounters& counters) { counters_ = counters; }
  /// Ready, as status and /metrics report it: RUNNING (which a `ready`
  /// probe, if any, decided) and, with a `health` probe, the last health
  /// check did not fail.
  bool is_ready() const { return state_ == ProcessState::Running && health_failures_ == 0; }
  /// When the current (or last) child was spawned (Spawned, or the Spawn
  /// request until Spawned arrives).
  TimePoint started_at() const { return started_at_; }
  /// The end of the last run, if any.
  const std::optional<ExitRecord>& last_exit() const { return last_exit_; }
  /// How long the last stop took, from the stop signal to the exit (also
  /// when later runs ended otherwise); nullopt before the first such stop.
  std::optional<std::chrono::nanoseconds> last_stop_duration() const { return last_stop_duration_; }
  /// Failed starts in a row so far (shown as `retry N/startretries`).
  int failed_starts() const { return failed_starts_; }
  /// Quick exits from RUNNING in a row (see "Crash loops" above).
  int quick_exits() const { return quick_exits_; }
  /// BACKOFF because of a crash loop's restart delay (not a failed start).
  bool restart_delayed() const { return restart_delayed_; }
  /// When the next retry is due (BACKOFF only, unless restarts are
  /// inhibited).
  std::optional<TimePoint> retry_at() const { return retry_at_; }
  /// When the stop signal was sent (STOPPING only).
  std::optional<TimePoint> stop_requested_at() const { return stop_requested_at_; }
  /// The last spawn error, or why the process is FATAL; empty otherwise
  /// (cleared by a start request and by a successful Spawned).
  const std::string& last_error() const { return last_error_; }
  /// SIGKILL has been sent during the current stop.
  bool sigkill_sent() const { return sigkill_sent_; }
  /// STARTING without a spawn: what it waits for ("db"); empty otherwise.
  const std::string& waiting_for() const { return waiting_for_; }
  /// The last failed attempt of the running probe (ready: this start;
  /// health: the current run), empty when none failed.
  const std::string& probe_detail() const { return probe_detail_; }
  /// Health checks failed in a row so far (RUNNING with `health`).
  int health_failures() const { return health_failures_; }
  /// Whether the deadline of `kind` is armed, and when it is due.
  std::optional<TimePoint> deadline(DeadlineKind kind) const {
    return deadlines_[static_cast<std::size_t>(kind)];
  }
  const ProcessPolicy& policy() const { return policy_; }

 private:
  using Actions = std::vector<Action>;

  // One function per state: the transitions out of it.
  void on_idle(const Event& event, TimePoint now, Actions& out);  // STOPPED, EXITED, FATAL
  void on_starting(const Event& event, TimePoint now, Actions& out);
  void on_running(const Event& event, TimePoint now, Actions& out);
  void on_backoff(const Event& event, TimePoint now, Actions& out);
  void on_stopping(const Event& event, TimePoint now, Actions& out);

  // Steps shared by several transitions.
  void change_state(ProcessState to, std::string reason, Actions& out,
                    std::optional<ExitRecord> exit = std::nullopt);
  void arm(DeadlineKind kind, TimePoint at, Actions& out);
  void cancel(DeadlineKind kind, Actions& out);
  void spawn(TimePoint now, Actions& out);
  /// spawn() on the machine's own initiative after a run ended: counted in
  /// counters().restarts.
  void respawn(TimePoint now, Actions& out);
  void on_spawned(int pid, TimePoint now, Actions& out);
  /// STARTING -> RUNNING (startsecs passed, or the ready probe succeeded).
  void become_running(std::string reason, TimePoint now, Actions& out);
  /// Entering RUNNING: the health probe begins, if the program has one.
  void start_health(Actions& out);
  /// A start failed (`ended`: the exit or failed spawn that ended it).
  void fail_start(std::string what, TimePoint now, Actions& out, ExitRecord ended);
  void begin_stop(TimePoint now, Actions& out);
  /// RUNNING ended and autorestart says restart: at once, or after a delay
  /// when it keeps dying quickly.
  void restart_after_exit(TimePoint now, Actions& out);
  void send_stop_signal(TimePoint now, Actions& out);
  void escalate_stop(TimePoint now, Actions& out);
  /// STOPPING -> STOPPED with `record` (the leader's exit); `group_lingered`
  /// when it comes from GroupEmptied.
  void finish_stop(ExitRecord record, bool group_lingered, TimePoint now, Actions& out);
  /// Ends a probe of `role` if it runs.
  void stop_probe(ProbeRole role, Actions& out);
  /// The SIGKILL deadline of a stop that begins now.
  TimePoint kill_deadline(TimePoint now) const;
  /// The record StateChanged carries for a failed spawn.
  ExitRecord spawn_failed_record(TimePoint now, const std::string& message) const;
  ExitRecord make_exit_record(const ChildExited& exit, TimePoint now) const;

  // (Ordered to leave no padding: a daemon keeps one per process.)
  ProcessPolicy policy_;
  ProcessState state_ = ProcessState::Stopped;
  int pid_ = 0;
  int process_group_ = 0;
  int failed_starts_ = 0;
  int quick_exits_ = 0;
  bool sigkill_sent_ = false;
  bool restarts_inhibited_ = false;
  bool restart_delayed_ = false;
  bool group_seen_alive_ = false;  ///< a GroupProbed said alive during this stop
  Incarnation incarnation_ = 0;
  ProcessCounters counters_;
  TimePoint started_at_{};
  TimePoint running_since_{};  ///< when it last became RUNNING
  std::optional<TimePoint> stop_requested_at_;
  std::optional<TimePoint> retry_at_;
  std::optional<ExitRecord> last_exit_;
  std::optional<std::chrono::nanoseconds> last_stop_duration_;
  std::string last_error_;
  /// The armed deadlines, indexed by DeadlineKind.
  std::array<std::optional<TimePoint>, kDeadlineKinds> deadlines_{};
  /// Why the current stop was begun by the machine itself: a readiness
  /// timeout (ends in a failed start) or failed health checks (ends in a
  /// restart); None for a requested stop.
  enum class StopPurpose : unsigned char { None, NotReady, Unhealthy };
  StopPurpose stop_purpose_ = StopPurpose::None;
  bool probing_ready_ = false;
  bool probing_health_ = false;
  int health_failures_ = 0;
  std::string waiting_for_;
  std::string probe_detail_;
  /// The message of a stop begun for StopPurpose::NotReady/Unhealthy.
  std::string stop_why_;
  /// The current stop's SIGKILL must come no later than this (shutdown_timeout).
  std::optional<TimePoint> kill_by_;
  /// STOPPING with killasgroup: the leader's exit, kept until the group is
  /// gone (GroupProbed{false}).
  std::optional<ExitRecord> leader_exit_;
};

}  // namespace minisup::core
