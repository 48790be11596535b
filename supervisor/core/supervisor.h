// Supervisor: every supervised process, and the policies that span several
// of them (start order, ordered shutdown, reload). Pure, like ProcessMachine.
//
// Model: one ProcessMachine per process (a program with numprocs = N has N
// processes `NAME:0` ... `NAME:N-1`, else one process `NAME`), kept in start
// order: ascending (priority, program name, process number). Every input
// (a request, or a fact the runtime reports) goes in through a method taking
// `now`; every output is a list of ProcessAction, to be carried out in
// order by the runtime. After each input the Supervisor advances the
// multi-process work in progress:
//
// - Dependencies (config::ProgramConfig::depends_on): a process whose
//   program has dependencies is started only once every dependency meets
//   its condition (started: every process of it was spawned, or it is a job
//   that ran; ready: every process is RUNNING, or a job that exited
//   successfully; completed: every process EXITED with a code in its
//   exitcodes). Until then it is STARTING with pid 0, waiting_for() naming
//   the unmet dependencies ("db, migrate"); DependenciesMet spawns it. When a
//   dependency can no longer meet its condition (a process of it is FATAL,
//   STOPPED, or EXITED without meeting it), the waiting process gets
//   DependencyFailed and goes FATAL ("not started: db is FATAL", "migrate
//   exited with status 1", "db was stopped", "db was removed"). Starting a
//   process (start_autostart, request_start, a restart's start half, a
//   reload's start) first starts, transitively, its dependencies that do
//   not meet their condition (whatever their autostart; a job that already
//   met it is not run again). Stopping (request_stop) first stops every
//   process of the programs that transitively depend on the stopped ones
//   (they stay stopped); a program's own StopRequests go out only once all
//   its dependents are idle. A restart also restarts the active (STARTING,
//   RUNNING, BACKOFF) processes of the dependents, stopped before and
//   started after; a reload that changes a program restarts its active
//   dependents the same way, and a changed or removed program is stopped
//   only once its dependents are idle. A start of a dependency cancels a
//   stop of it still waiting for its dependents. The dependents of each
//   program are computed once per change of the set of programs; a
//   process's dependency status is counted per program as it changes, so an
//   event costs no scan of all processes.
// - Ordered shutdown (begin_shutdown): priority levels stop from the highest
//   number down. All STARTING/RUNNING processes of the current level get a
//   StopRequest together; the next level begins when no process of the
//   current level is STARTING, RUNNING or STOPPING. BACKOFF processes (of any
//   level) are stopped at once (BACKOFF -> STOPPED). Idle processes are
//   skipped. From begin_shutdown on, nothing is started: start requests are
//   refused, every machine has inhibit_restarts(), a reload is refused, and
//   processes waiting for dependencies are left waiting (then stopped).
//   With dependencies the unit is the program: at each step, among the
//   programs whose dependents are all idle, those of the highest priority
//   level are stopped together, and the next step begins once they are all
//   idle (dependents always stop before their dependencies; priority
//   decides the rest).
// - shutdown_timeout: begin_shutdown(now) sets the deadline D = now +
//   shutdown_timeout (shutdown_deadline()). Every StopRequest of the
//   shutdown carries kill_by = D, processes already STOPPING get
//   StopRequest{D}, and when at the start of a step D - now is shorter than
//   the worst case of the remaining levels (the sum, over the priority
//   levels that still have a process to stop, of their largest
//   stopwaitsecs), every remaining process is stopped at once.
// - shutdown_on: when a process of a program with shutdown_on ends by itself
//   (exit: RUNNING -> EXITED, or FATAL; failure: RUNNING -> EXITED with an
//   unexpected exit, or FATAL; fatal: FATAL; a change to STOPPED never
//   counts, so stops by a client, a reload or a health check do not), the
//   Supervisor begins the graceful shutdown itself and remembers the
//   process's status (exit_status()) and why (shutdown_cause()).
// - Reload (apply_config): each program's definition is compared field by
//   field with the one in force. Unchanged programs are not touched (same
//   machine, same pid). Removed programs get a StopRequest and are forgotten
//   (RemoveProcess) once all their processes are idle. Changed programs get
//   a StopRequest; once all their processes are idle they are replaced
//   (RemoveProcess, then AddProcess for the new processes) and started if the
//   new definition has autostart or any old process was STARTING, RUNNING or
//   BACKOFF at the reload. A changed program that has held sockets (before
//   and after, same numprocs) is instead replaced by a rolling restart (see
//   below) to its new definition, and its dependents are not restarted (it
//   never stops serving). Added programs are created (AddProcess) and started
//   if autostart. While a program is being removed or replaced, its
//   processes are "leaving": start requests for them are refused.
//
// - Rolling restart (request_rolling_restart; also a reload's changed
//   program that has held sockets): the processes are replaced one at a
//   time, new before old. For each: a RUNNING process is *retired*: its
//   machine goes on as an old process `NAME (old)` (ProcessRetired; it
//   never restarts, start requests for it are refused, it is removed once
//   idle) and NAME gets a fresh machine (the new definition on a reload)
//   that is started at once. When NAME becomes RUNNING (ready), its old
//   process gets its StopRequest: this holds for any start of NAME, so a
//   lingering old process (its replacement failed) is stopped by the next
//   start that succeeds. The next process is replaced once the previous
//   old one is gone. A process that is not RUNNING is (re)started in place.
//   If the new process fails (FATAL, or stopped before it was RUNNING) the
//   rolling restart stops there: the old one keeps serving and the rest
//   are not replaced. Old processes count for the shutdown (they stop with
//   their level) but not for dependencies, reloads or names other than
//   `all` and the program's (stop, signal, status).
//
// - Counters (ProcessMachine::counters(): restarts, exits by reason) belong
//   to a process name for minisupd's lifetime: a machine that replaces
//   another of the same name (a reload's changed or re-added program, a
//   rolling restart's new process) goes on from its predecessor's counters,
//   and a rolling restart's old process counts from zero what is left of
//   its life, so nothing is counted twice.
//
// Action semantics are those of action.h; AddProcess/RemoveProcess/
// ProcessRetired come only from here.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/core/action.h"
#include "supervisor/core/process_machine.h"

namespace minisup::core {

/// One action for one process (by process name).
struct ProcessAction {
  std::string process;
  Action action;
  bool operator==(const ProcessAction&) const = default;
};

/// The suffix of an old process's name during a rolling restart: the old
/// process of "web:0" is "web:0 (old)".
inline constexpr std::string_view kOldSuffix = " (old)";

/// One supervised process as the Supervisor keeps it; read-only outside.
class ManagedProcess {
 public:
  /// "web", or "web:3" when numprocs > 1; for an old process of a rolling
  /// restart "web:3 (old)" (its process_config().name is "web:3").
  const std::string& name() const { return old_name_.empty() ? process_config().name : old_name_; }
  /// An old process of a rolling restart, replaced by a new one of the
  /// same process name (and stopped once that one is RUNNING).
  bool is_old() const { return !old_name_.empty(); }
  /// The program (and group) it belongs to: "web".
  const std::string& program_name() const { return program_->name; }
  const config::ProcessConfig& process_config() const { return program_->processes[index_]; }
  /// Its program's definition in force (the old one while it is being
  /// replaced by a reload).
  const config::ProgramConfig& program_config() const { return *program_; }
  int priority() const { return program_->priority; }
  const ProcessMachine& machine() const { return machine_; }
  /// True while a reload is removing or replacing its program: it is being
  /// stopped and start requests for it are refused.
  bool is_leaving() const { return leaving_; }

 private:
  friend class Supervisor;
  ManagedProcess(std::shared_ptr<const config::ProgramConfig> program, std::size_t index,
                 TreeTracking trees);

  std::shared_ptr<const config::ProgramConfig> program_;
  std::uint32_t index_;  ///< into program_->processes (numprocs <= 10000)
  bool leaving_ = false;
  std::string old_name_;  ///< set for an old process (is_old())
  ProcessMachine machine_;
};

/// What resolve_names() found.
/// resolve_processes(): the same, as the processes themselves.
struct ProcessResolution {
  std::vector<const ManagedProcess*> processes;
  std::optional<std::string> unknown;
  bool ok() const { return !unknown.has_value(); }
};

struct NameResolution {
  /// The matching process names, each once, in start order. Empty when
  /// `unknown` is set.
  std::vector<std::string> processes;
  /// The first name that matched nothing, if any.
  std::optional<std::string> unknown;
  bool ok() const { return !unknown.has_value(); }
};

/// What apply_config() did.
struct ReloadResult {
  /// Program names, sorted. A program that was being removed and comes back
  /// counts as added.
  std::vector<std::string> added;
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  std::vector<ProcessAction> actions;
  /// False when the reload was refused (during a shutdown): nothing changed.
  bool applied = true;
  /// The rolling restarts begun for changed programs with held sockets
  /// (forgotten by the Supervisor once done).
  std::vector<std::uint64_t> rolling;
};

/// A restart in progress (Supervisor::request_restart).
using RestartId = std::uint64_t;

/// How far a restart has got.
struct RestartProgress {
  /// The processes to restart, in start order.
  std::vector<std::string> processes;
  /// Those that got a StopRequest (they were STARTING, RUNNING or STOPPING).
  std::vector<std::string> stopping;
  std::size_t stopped = 0;  ///< stopping[0, stopped) are known to be idle
  /// The start half was done: every process got its StartRequest.
  bool started = false;
  /// Per process of `stopping`: its stop needed SIGKILL (set when started).
  std::map<std::string, bool> needed_sigkill;
  /// Per process of `stopping`: its incarnation when asked (only an exit of
  /// that run tells how the stop went).
  std::map<std::string, Incarnation> incarnation_when_asked;
  /// Begun by the Supervisor itself (a reload restarting the dependents of a
  /// changed program): forgotten once its start half is done.
  bool forget_when_started = false;
};

/// How far a rolling restart has got (Supervisor::request_rolling_restart).
struct RollingProgress {
  /// The process names to replace, in start order.
  std::vector<std::string> processes;
  /// processes[0, current) are done (replaced, or failed: see `failed`).
  std::size_t current = 0;
  /// processes[current]: a new process was started; the step waits for
  /// it to be RUNNING, then for its old process to be gone.
  bool started = false;
  /// All done (or stopped at a failure).
  bool done = false;
  /// Why a process was not replaced: the one whose new process failed
  /// ("exited too quickly (exited with status 1)"), and every later one
  /// ("not replaced: the rolling restart stopped at web:1").
  std::map<std::string, std::string> failed;
  /// Per process: its stop (the old process's) needed SIGKILL.
  std::map<std::string, bool> needed_sigkill;
  /// A reload's: the new definition of the programs to switch to.
  std::map<std::string, std::shared_ptr<const config::ProgramConfig>> replacement;
  /// Begun by a reload: forgotten once done.
  bool forget_when_done = false;
};

class Supervisor {
 public:
  /// Creates one STOPPED process per ProcessConfig of every program of
  /// `config`. Nothing is started (see start_autostart). The runtime sets up
  /// its per-process resources from processes(); no AddProcess is emitted
  /// for these.
  /// `trees`: what each process's tree is (ProcessPolicy::from).
  explicit Supervisor(const config::Config& config, TreeTracking trees = TreeTracking::LeaderOnly);

  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  /// Sends a StartRequest to every process whose program has autostart, in
  /// start order (ascending priority, then name), without waiting for one
  /// level before the next. Returns the actions (Spawn ...). Nothing during
  /// a shutdown.
  std::vector<ProcessAction> start_autostart(TimePoint now);

  /// Feeds `event` to the machine of `process` and then advances the
  /// shutdown, removals and replacements. Returns every resulting action, in
  /// order (possibly for other processes). An unknown process (e.g. removed
  /// by a reload while a late event was queued) returns nothing; so does a
  /// StartRequest during a shutdown or for a leaving process.
  std::vector<ProcessAction> handle(const std::string& process, const Event& event, TimePoint now);

  /// Resolves user-given names to process names: `all` (every process; it
  /// wins over a program named "all"), a program name (all its processes),
  /// `PROGRAM:*` (the same), an exact process name (`web:3`, or `web`
  /// when numprocs = 1), a `[group.NAME]` name or `GROUP:*` (every process
  /// of the group's programs), or `GROUP:NAME` where NAME is a program of
  /// the group or one of their processes (`workers:queue`,
  /// `workers:queue:2`, as supervisorctl names a grouped process). Stops
  /// at the first name that matches nothing and reports it in `unknown`.
  /// Old processes of a rolling restart are included (after their new one)
  /// for `all`, program and group names only when `include_old` (stop,
  /// signal, status); an exact old name always is.
  NameResolution resolve_names(const std::vector<std::string>& names,
                               bool include_old = false) const;
  /// As resolve_names(), without copying a name (status of every process).
  /// The result's vector reuses `storage` (its capacity): a caller that
  /// resolves often hands the last result's back.
  ProcessResolution resolve_processes(const std::vector<std::string>& names,
                                      bool include_old = false,
                                      std::vector<const ManagedProcess*> storage = {}) const;

  /// A StartRequest to each named process (names as resolve_names returns
  /// them; unknown ones are skipped). Refused (nothing) during a shutdown
  /// and for leaving processes; ignored by the machine when already
  /// STARTING, RUNNING or STOPPING. Use can_start() to tell why.
  std::vector<ProcessAction> request_start(const std::vector<std::string>& processes,
                                           TimePoint now);

  /// A StopRequest to each named process; idle ones ignore it.
  std::vector<ProcessAction> request_stop(const std::vector<std::string>& processes, TimePoint now);

  /// Restarts the named processes (names as resolve_names returns them, so
  /// in start order; leaving and unknown ones are skipped): the STARTING,
  /// RUNNING and STOPPING ones get a StopRequest now; once all of those are
  /// idle, every named process gets a StartRequest, in start order, in one
  /// step. So nothing starts while another process of the restart is still
  /// stopping, and the start half keeps priority order. Refused (id 0, no
  /// actions) during a shutdown.
  std::pair<RestartId, std::vector<ProcessAction>> request_restart(
      const std::vector<std::string>& processes, TimePoint now);
  /// Replaces the named processes one at a time, new before old (see the
  /// header comment); names as resolve_names returns them (old, leaving
  /// and unknown ones are skipped). Refused (id 0, no actions) during a
  /// shutdown. Ids are shared with request_restart's.
  std::pair<RestartId, std::vector<ProcessAction>> request_rolling_restart(
      const std::vector<std::string>& processes, TimePoint now);
  /// The progress of rolling restart `id`, or nullptr (unknown or forgotten).
  const RollingProgress* rolling_progress(RestartId id) const;
  /// Forgets rolling restart `id`; one not done goes on (nobody waits).
  void forget_rolling(RestartId id);
  /// The old process of `process` ("web:0" -> "web:0 (old)"), or nullptr.
  const ManagedProcess* old_of(const std::string& process) const;

  /// The progress of restart `id`, or nullptr for an unknown (forgotten) id.
  const RestartProgress* restart_progress(RestartId id) const;
  /// Forgets restart `id` (its client was answered or went away). A restart
  /// forgotten before its start half is abandoned: nothing is started.
  void forget_restart(RestartId id);

  /// Feeds a fact the runtime observed (Spawned, SpawnFailed, ChildExited,
  /// GroupProbed, DeadlineExpired) for incarnation `incarnation` of
  /// `process`, like handle(). A fact about an earlier incarnation (a late
  /// timer, an exit reported after a respawn) is dropped: no actions.
  std::vector<ProcessAction> report(const std::string& process, Incarnation incarnation,
                                    const Event& fact, TimePoint now);

  /// An orphan (not a supervised leader) was reaped: it may have been the
  /// last member of a lingering group. Returns a ProbeGroup for every
  /// process whose group lingers.
  std::vector<ProcessAction> orphan_reaped();

  /// Begins the ordered shutdown (see the header comment) and returns the
  /// first actions (the highest level's stops). A second call is a no-op
  /// and returns nothing.
  std::vector<ProcessAction> begin_shutdown(TimePoint now);

  /// The shutdown was begun (by begin_shutdown(), or by a program's
  /// shutdown_on).
  bool shutting_down() const { return shutting_down_; }

  /// When the shutdown was begun by a program's shutdown_on: the status
  /// minisupd exits with. Its exit code; 128+N when signal N killed it; when
  /// it went FATAL: 127 if its command was not found (a failed spawn "exec
  /// ...: No such file or directory"), 126 if it could not be spawned
  /// otherwise, 125 if a dependency failed, its last exit code (or 128+N)
  /// if its last try exited, else 1 (e.g. not ready in time). nullopt for a
  /// shutdown begun otherwise, and before any shutdown.
  std::optional<int> exit_status() const { return exit_status_; }

  /// Why a shutdown_on shutdown began, for the daemon's log: "web exited
  /// with status 3 (shutdown_on = exit)", "db is FATAL: ... (shutdown_on =
  /// fatal)". nullopt when exit_status() is.
  const std::optional<std::string>& shutdown_cause() const { return shutdown_cause_; }

  /// The shutdown's SIGKILL deadline (its start + shutdown_timeout); nullopt
  /// before a shutdown or without shutdown_timeout.
  std::optional<TimePoint> shutdown_deadline() const { return shutdown_deadline_; }

  /// The programs that name `program` in depends_on (directly), sorted.
  const std::vector<std::string>& dependents(const std::string& program) const;

  /// The shutdown was begun and every process is STOPPED, EXITED or FATAL.
  bool shutdown_complete() const;

  /// False when a start request for `process` would be refused: during a
  /// shutdown, for a leaving process, and for an unknown name.
  bool can_start(const std::string& process) const;

  /// Applies a new configuration (reload, see the header comment) and
  /// returns what changed and the first actions. Refused during a shutdown
  /// (`applied` false, nothing changed).
  ReloadResult apply_config(const config::Config& new_config, TimePoint now);

  /// Every process in start order. The pointers stay valid until a call
  /// that may forget a process (handle, request_*, begin_shutdown,
  /// apply_config) emits RemoveProcess for it.
  const std::vector<const ManagedProcess*>& processes() const { return order_; }

  /// The process called `name`, or nullptr.
  const ManagedProcess* find(const std::string& name) const;

 private:
  /// What a reload has in store for a program.
  enum class Pending { None, Replace, Remove };

  /// Whether a process (or a program) meets a dependency condition.
  enum class DependencyStatus : unsigned char {
    Pending,  ///< not yet, but it may
    Met,
    Failed,  ///< it can no longer meet it without a new start
  };
  /// Per config::DependencyCondition (Started, Ready, Completed).
  using DependencyStatuses = std::array<DependencyStatus, 3>;

  struct Program {
    std::shared_ptr<const config::ProgramConfig> current;
    Pending pending = Pending::None;
    std::shared_ptr<const config::ProgramConfig> replacement;  ///< Pending::Replace
    bool was_active = false;  ///< a process was STARTING/RUNNING/BACKOFF at the reload
    /// Processes of `current` that are not idle.
    std::size_t not_idle = 0;
    /// Per condition: processes that meet it, and that failed it.
    std::array<std::size_t, 3> met{};
    std::array<std::size_t, 3> failed{};
  };

  /// A program's StopRequests, held until its dependents are idle.
  struct PendingStop {
    std::vector<std::string> processes;
    /// Direct dependents that were not idle; the stop goes out once each
    /// has been seen becoming idle.
    std::set<std::string> blockers;
  };

  ManagedProcess* find_mutable(const std::string& name);
  void add_program(std::shared_ptr<const config::ProgramConfig> program,
                   std::vector<ProcessAction>* out);
  void remove_processes_of(const std::string& program, std::vector<ProcessAction>& out);
  std::vector<ManagedProcess*> processes_of(const std::string& program);
  void rebuild_order();
  /// dependents_ from every program in force.
  void rebuild_dependents();
  /// dependents_ after `program`'s depends_on went from `before` to `after`.
  void update_dependents(const std::string& program, const std::vector<config::Dependency>& before,
                         const std::vector<config::Dependency>& after);
  /// Feeds one event to one process's machine, appending its actions.
  void feed(ManagedProcess& process, const Event& event, TimePoint now,
            std::vector<ProcessAction>& out);
  /// Marks a program's processes leaving and stops them.
  void stop_leaving(const std::string& program, TimePoint now, std::vector<ProcessAction>& out);
  /// Advances the shutdown, removals and replacements after any input.
  void advance(TimePoint now, std::vector<ProcessAction>& out);
  void advance_shutdown(TimePoint now, std::vector<ProcessAction>& out);

  // Dependencies.
  /// Starts an idle or BACKOFF process: its dependencies first, then a
  /// StartRequest (waiting for the unmet dependencies, if any).
  void start_process(ManagedProcess& process, TimePoint now, std::vector<ProcessAction>& out,
                     std::set<std::string>* visited = nullptr);
  /// Starts the dependencies of `program` that do not meet their condition.
  void pull_in(const config::ProgramConfig& program, TimePoint now, std::vector<ProcessAction>& out,
               std::set<std::string>& visited);
  /// `program` and every program that transitively depends on it.
  std::vector<std::string> dependents_closure(const std::vector<std::string>& programs) const;
  /// StopRequests to `processes` of `program` now, or once its dependents
  /// are idle.
  void stop_after_dependents(const std::string& program, const std::vector<std::string>& processes,
                             TimePoint now, std::vector<ProcessAction>& out);
  /// Stops `processes` (any programs) and, first, their dependents.
  void stop_with_dependents(const std::vector<std::string>& processes, TimePoint now,
                            std::vector<ProcessAction>& out);
  DependencyStatuses dependency_statuses(const ManagedProcess& process) const;
  DependencyStatus program_status(const std::string& program,
                                  config::DependencyCondition condition) const;
  /// Why `program` can no longer meet `condition` ("db is FATAL").
  std::string failure_of(const std::string& program, config::DependencyCondition condition);
  /// Feeds DependenciesMet/DependencyFailed (or a new waiting_for) to a
  /// process waiting for dependencies.
  void evaluate_waiting(ManagedProcess& process, TimePoint now, std::vector<ProcessAction>& out);
  /// Handles the queues feed() fills: programs that became idle (held
  /// stops, shutdown steps), dependency statuses that changed, new waiters.
  void advance_dependencies(TimePoint now, std::vector<ProcessAction>& out);
  /// Records the bookkeeping of one process's change (feed()).
  void note_change(const ManagedProcess& process, bool was_idle, bool is_idle_now,
                   const DependencyStatuses& before, const DependencyStatuses& after);

  // Shutdown.
  void start_shutdown(TimePoint now, std::vector<ProcessAction>& out);
  /// The ordered shutdown with dependencies (a step per call when due).
  void advance_shutdown_by_dependencies(TimePoint now, std::vector<ProcessAction>& out);
  /// shutdown_timeout: the time left is shorter than `worst_case`.
  bool shutdown_time_short(config::Duration worst_case, TimePoint now) const;
  /// Every remaining STARTING/RUNNING process gets its StopRequest now.
  void collapse_shutdown(TimePoint now, std::vector<ProcessAction>& out);
  StopRequest shutdown_stop() const { return StopRequest{shutdown_deadline_}; }
  /// shutdown_on: `actions` (of `process`) end a run that shuts minisupd down.
  void check_shutdown_on(const ManagedProcess& process, const std::vector<Action>& actions);
  void complete_reloads(TimePoint now, std::vector<ProcessAction>& out);
  // Rolling restarts.
  void advance_rollings(TimePoint now, std::vector<ProcessAction>& out);
  /// One rolling restart, as far as it can go now.
  void advance_rolling(RollingProgress& progress, TimePoint now, std::vector<ProcessAction>& out);
  /// Moves the RUNNING `process`'s machine to a new old process and starts
  /// a fresh machine of `definition` under its name.
  void retire(ManagedProcess& process, std::shared_ptr<const config::ProgramConfig> definition,
              TimePoint now, std::vector<ProcessAction>& out);
  /// Forgets the old processes that became idle (RemoveProcess).
  void remove_idle_olds(std::vector<ProcessAction>& out);
  void advance_restarts(TimePoint now, std::vector<ProcessAction>& out);
  /// One restart: its start half once every stop is done. Returns whether
  /// the start half was done now.
  bool advance_restart(RestartProgress& progress, TimePoint now, std::vector<ProcessAction>& out);

  std::map<std::string, Program> programs_;
  /// `[group.NAME]`: group name -> its programs (a selection only: nothing
  /// else depends on it, so a reload just replaces it).
  std::map<std::string, std::vector<std::string>> groups_;
  std::map<std::string, std::unique_ptr<ManagedProcess>> processes_;
  std::vector<const ManagedProcess*> order_;
  bool shutting_down_ = false;
  /// Programs with a pending removal or replacement that may have become
  /// ready (all their processes idle): added when a reload makes a program
  /// pending and when a leaving process becomes idle (feed()); emptied by
  /// complete_reloads(), which looks at these only. (A scan of every pending
  /// program per event made an update changing N programs O(N^2).)
  std::vector<std::string> reload_candidates_;
  std::map<RestartId, RestartProgress> restarts_;
  std::map<RestartId, RollingProgress> rollings_;
  /// Old processes that became idle, to be forgotten.
  std::vector<std::string> old_idle_;
  RestartId next_restart_ = 1;
  // Kept up to date by feed() (every state change goes through it), so that
  // neither a shutdown step nor shutdown_complete() rescans every process:
  // with 10,000 processes a scan per exit made stopping them quadratic.
  /// STARTING, RUNNING or STOPPING processes, per priority.
  std::map<int, std::size_t> busy_at_level_;
  /// Processes that are not idle (busy or BACKOFF).
  std::size_t not_idle_ = 0;
  /// Processes that went to BACKOFF during the shutdown (to be stopped).
  std::vector<std::string> backoff_in_shutdown_;
  /// The priority level whose processes were last sent a stop.
  std::optional<int> stopped_level_;
  /// What a reload removed of a process name: a new process of that name
  /// counts on from its last incarnation and its counters.
  struct Retired {
    Incarnation incarnation = 0;
    ProcessCounters counters;
  };
  std::map<std::string, Retired> retired_incarnations_;

  // Dependencies.
  /// Direct dependents per program (of the definitions in force), sorted;
  /// rebuilt with the order.
  std::map<std::string, std::vector<std::string>> dependents_;
  std::map<std::string, PendingStop> pending_stops_;
  /// Definitions of programs whose processes all became idle (feed()).
  std::vector<std::shared_ptr<const config::ProgramConfig>> became_idle_;
  /// Programs (with dependents) whose status for some condition changed.
  std::vector<std::string> dependency_changed_;
  /// Processes that began waiting for dependencies.
  std::vector<std::string> newly_waiting_;
  /// Dependencies a start could not start because a reload replaces them:
  /// started once replaced.
  std::set<std::string> start_after_reload_;

  // Shutdown.
  std::optional<config::Duration> shutdown_timeout_;
  TreeTracking trees_ = TreeTracking::LeaderOnly;
  std::optional<TimePoint> shutdown_deadline_;
  /// Every remaining process got its stop at once (shutdown_timeout).
  bool shutdown_collapsed_ = false;
  /// The largest stopwaitsecs per priority level among the processes that
  /// were not idle when the shutdown began.
  std::map<int, config::Duration> level_stopwait_;
  // With dependencies: programs not yet stopped and not idle (and their
  // count per level), the dependents each still waits for, the programs
  // whose dependents are all idle (per level), and the current step.
  bool shutdown_by_dependencies_ = false;
  std::set<std::string> shutdown_unstopped_;
  std::map<int, std::size_t> unstopped_at_level_;
  std::map<std::string, std::size_t> shutdown_blockers_;
  std::map<int, std::vector<std::string>> shutdown_eligible_;
  std::set<std::string> shutdown_step_;
  // shutdown_on.
  std::optional<int> exit_status_;
  std::optional<std::string> shutdown_cause_;
};

}  // namespace minisup::core
