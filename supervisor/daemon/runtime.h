// Runtime: carries out what the pure core decides, through the seam
// (system.h): System for processes and their output, Timers for time,
// Clients for the control socket's clients. It owns no loop, no socket and
// makes no system call itself, so unit tests drive it through fakes
// (tests/unit/daemon/); Daemon (daemon.h) wires it to the real ones.
//
// One event, followed end to end:
//   kernel (SIGCHLD) -> Daemon -> children_exited() -> System::reap() ->
//   core::Supervisor::report(process, incarnation, ChildExited) -> actions
//   -> execute() runs each one (spawn, signal, arm a timer, log the state
//   change) -> settle_requests() answers the clients whose request is now
//   settled (core/requests.h decides when).
//
// What the runtime keeps per process is only handles: the timers armed for
// it, its output, and which incarnation they belong to. Pid and process
// group are the core's (ProcessMachine).
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "supervisor/config/load_config.h"
#include "supervisor/config/program_config.h"
#include "supervisor/control/event_history.h"
#include "supervisor/control/protocol.h"
#include "supervisor/core/requests.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/command_line.h"
#include "supervisor/daemon/metrics.h"
#include "supervisor/daemon/shutdown_summary.h"
#include "supervisor/daemon/system.h"
#include "supervisor/logging/tail.h"

namespace minisup::daemon {

/// The note that reread, update and a reload (SIGHUP) give when the config
/// file's [http] differs from the one the listener was set up with: the
/// listener is set up once, at start (DESIGN.md), so a change waits for the
/// next start. nullopt when nothing the listener does changed (moving the
/// [http] table within the file changes nothing).
std::optional<std::string> http_change_note(const std::optional<config::HttpConfig>& running,
                                            const std::optional<config::HttpConfig>& loaded);

/// "tcp 127.0.0.1:5432", "http http://127.0.0.1:8080/healthz", "exec
/// pg_isready -q", "log /listening/", "READY=1": what a probe waits for.
std::string describe_probe(const config::Probe& probe);

class Runtime {
 public:
  using TimePoint = core::TimePoint;
  using ClientId = Clients::ClientId;

  struct Options {
    /// Resource limits children get back (minisupd's RLIMIT_NOFILE as it
    /// was started with, when it raised its own).
    std::vector<sys::SpawnRlimit> child_rlimits;
    /// minisupd's own environment, the base of every child's.
    std::map<std::string, std::string> environment;
    /// minisupd's pid (`minisupctl pid`).
    int pid = 0;
    /// How long execute() works before it lets the loop serve others.
    std::chrono::nanoseconds slice_budget = std::chrono::milliseconds(20);
    /// `--socket`, `--run`: applied to every config loaded again (reread,
    /// update, SIGHUP) as they were to the first one.
    CommandLine command_line;
  };

  /// Sets up one STOPPED process per process of `config`; nothing starts.
  Runtime(config::Config config, System& system, Timers& timers, Clients& clients, Probes& probes,
          Options options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Starts the autostart programs in priority order.
  void start();
  /// A request line from a client (its uid and pid for the log).
  void on_request(ClientId client, int uid, int pid, std::string_view line);
  /// A client went away: its waiting requests are dropped.
  void on_disconnect(ClientId client);
  /// The client waits for an answer (a request, tail -f, events): the
  /// control server must not evict it.
  bool holds_answer(ClientId client) const;
  /// A large reply has gone out and its buffer is freed: the heap is
  /// trimmed shortly (a status reply freed after the trim that its sending
  /// scheduled would otherwise stay resident: 4.5 MB at 10,000 processes).
  void large_output_sent() { schedule_trim(); }
  /// SIGCHLD: reap and report every exit.
  void children_exited();
  /// SIGTERM/SIGINT/SIGQUIT or `shutdown`: the ordered shutdown.
  void begin_shutdown(const std::string& why);
  /// SIGHUP: a reload on the next round; more requests before it ran are
  /// folded into it (one reload pending at most).
  void request_reload(const std::string& why);
  /// SIGUSR2: reopen every log file.
  void reopen_logs();
  /// Called once the shutdown is complete (every process idle, nothing
  /// left to do): the Daemon stops its loop.
  void set_on_finished(std::function<void()> callback) { on_finished_ = std::move(callback); }
  /// Called after each state change has been logged (the Daemon's sd_notify
  /// looks at the states then); also once when a shutdown begins. Must not
  /// call back into the Runtime.
  void set_on_state_change(std::function<void()> callback) {
    on_state_change_ = std::move(callback);
  }
  /// The shutdown is complete and no action is pending.
  bool finished() const;
  /// At exit: SIGKILL to whatever is left of any program's tree (with
  /// cgroups, e.g. a daemon a program double-forked before it exited;
  /// without, the members of its last process group and its strays), each
  /// named in the log; returns how many programs had leftovers.
  int kill_leftover_trees();

  const core::Supervisor& supervisor() const { return *supervisor_; }
  /// The body of `GET /metrics`: every process's state and counters, and
  /// minisupd's own `facts`, in the Prometheus text format 0.0.4 (families
  /// and choices: metrics.h; written in metrics.cc). Reads no clock and
  /// makes no system call (the caller reads `facts`, e.g. with
  /// read_own_metrics_facts()); call it on the loop's thread.
  std::string metrics_text(const MetricsFacts& facts) const;
  /// What minisupd exits with: the status of the program whose
  /// `shutdown_on` (or `--run`) ended the run, else 0.
  int exit_status() const { return supervisor_->exit_status().value_or(0); }
  const config::Config& config() const { return config_; }

 private:
  /// A probe (ready or health) of one process as it runs.
  struct ProbeRun {
    core::Incarnation incarnation = 0;  ///< the run it probes; 0: not probing
    Probes::AttemptId attempt = 0;      ///< the attempt in progress, 0: none
    Timers::TimerId timer = 0;          ///< the next attempt, 0: none
  };
  /// What the runtime keeps for one process, next to its core machine.
  struct Handles {
    /// The armed timer of each DeadlineKind (0: none).
    std::array<Timers::TimerId, core::kDeadlineKinds> deadlines{};
    std::unique_ptr<logging::ProcessOutput> output;
    /// By core::ProbeRole (ready, health).
    std::array<ProbeRun, 2> probes{};
    /// `ready = { log = ... }`: the pattern, compiled once per process.
    std::shared_ptr<const std::regex> ready_pattern;
    /// A ready answer (log line, READY=1) that came before the ready probe
    /// of its incarnation was started: given to it when it starts.
    std::optional<std::pair<core::Incarnation, std::string>> early_ready;
    /// `ready = { notify = true }`: the current run's socket (0: none) and
    /// the last STATUS= it sent.
    Probes::NotifyId notify = 0;
    std::string notify_status;
  };
  /// A live child: whose, and which incarnation.
  struct Child {
    std::string process;
    core::Incarnation incarnation = 0;
  };
  /// A request answered later (start/stop/restart/wait/update).
  struct Waiter {
    ClientId client = 0;
    nlohmann::json id;
    core::PendingRequest request;
    Timers::TimerId timeout = 0;     ///< wait only, 0: none
    std::vector<std::string> notes;  ///< update only: ConfigChanges::notes
  };

  // ---- lifecycle (runtime.cc) ----
  void setup_process(const core::ManagedProcess& process);
  /// ProcessRetired: what is kept for `name` (its output, deadlines, its
  /// child, its tree) becomes `as`'s; `name` gets fresh handles.
  void retire_handles(const std::string& name, const std::string& as);
  /// Cancels the timers and probes of a process and closes its notify socket.
  void release_handles(Handles& handles);
  /// Carries out `actions` (and what performing them feeds back) in order,
  /// in slices of about Options::slice_budget: the rest waits for the next
  /// round, so the control socket is served in between. Actions that arrive
  /// while a rest is waiting queue up behind it.
  void execute(std::vector<core::ProcessAction> actions);
  void run_slice();
  void perform(const core::ProcessAction& action);
  void perform_spawn(const std::string& process, const core::Spawn& spawn);
  void send_signal(const std::string& process, const core::SendSignal& signal);
  void arm_deadline(const std::string& process, const core::ArmDeadline& deadline);
  void cancel_deadline(const std::string& process, core::DeadlineKind kind);
  void on_state_changed(const std::string& process, const core::StateChanged& change);
  /// The cgroup of `process` changed: if it is empty, a stop waiting for it
  /// ends; an idle process's cgroup is removed.
  void tree_emptied(const std::string& process);
  /// A fact about incarnation `incarnation` of `process`, fed back.
  void report(const std::string& process, core::Incarnation incarnation, const core::Event& fact);
  config::LoadResult load_again(const std::string& why);
  /// Applies a loaded config: nullopt when refused (a shutdown; or its
  /// held sockets could not be bound: then `refused` says why).
  std::optional<core::ReloadResult> apply_new_config(config::Config new_config,
                                                     const std::string& why,
                                                     std::string* refused = nullptr);
  void drop_program_copies();
  config::Config current_config() const;
  void reload(const std::string& why);
  std::chrono::system_clock::time_point to_wall(TimePoint t) const;
  void schedule_trim();
  /// The shutdown is complete: logs its summary, calls on_finished_ (once).
  void report_finished();

  // ---- probes (probing.cc) ----
  /// Before a spawn: the log probe's line watcher, the notify socket (and
  /// NOTIFY_SOCKET in `plan`).
  void prepare_probes(const core::ManagedProcess& process, core::Incarnation incarnation,
                      Handles& handles, SpawnPlan& plan);
  void close_notify(Handles& handles);
  void start_probe(const std::string& process, const core::StartProbe& start);
  void stop_probe(const std::string& process, const core::StopProbe& stop);
  void schedule_probe_attempt(const std::string& process, core::ProbeRole role,
                              std::chrono::nanoseconds after);
  void probe_attempt(const std::string& process, core::ProbeRole role);
  void on_probe_result(const std::string& process, core::ProbeRole role,
                       core::Incarnation incarnation, Probes::Result result);
  /// Reports ProbeSucceeded on the next round (never from inside an output
  /// or socket callback).
  void defer_probe_success(const std::string& process, core::Incarnation incarnation,
                           std::string detail);
  /// STARTING: "waiting for db", "waiting for tcp 127.0.0.1:5432, 2.4 s";
  /// empty when it just waits for startsecs.
  std::string starting_description(const core::ManagedProcess& process) const;

  // ---- requests (dispatch.cc) ----
  void send(ClientId client, std::string&& line);
  void dispatch(ClientId client, const control::Request& request);
  /// Overwrites every member of `info` (reused across a status reply);
  /// `handles`: the process's (nullptr: none).
  void process_info(const core::ManagedProcess& process, const Handles* handles,
                    control::ProcessInfo& info) const;
  /// `status` with `tree`: fills the tree_* members of `info` from
  /// System::tree_usage when the process has a child (pid); leaves them
  /// null otherwise, and when nothing could be read.
  void add_tree_usage(const core::ManagedProcess& process, control::ProcessInfo& info);
  /// Resolves names as Supervisor::resolve_names (old processes of a
  /// rolling restart with `include_old`); answers no_such_program itself.
  std::optional<std::vector<std::string>> resolve(ClientId client, const nlohmann::json& id,
                                                  const std::vector<std::string>& names,
                                                  bool include_old = false);
  /// Keeps `request` until it is settled (answered at once if it is).
  void add_waiter(ClientId client, const nlohmann::json& id, core::PendingRequest request,
                  std::optional<std::chrono::nanoseconds> timeout = std::nullopt,
                  std::vector<std::string> notes = {});
  /// Answers every waiter whose request is settled; drops those whose
  /// client is gone. Never decides anything, so never re-enters.
  void settle_requests();
  void answer(const Waiter& waiter, const core::Settlement& settlement);
  void answer_wait_timeout(const Waiter& waiter);
  void forget_waiter(std::list<Waiter>::iterator it);
  void publish_event(const std::string& process, const core::StateChanged& change);
  /// Tells the event subscribers that processes were added or removed
  /// (once a batch of actions is done, not once per process).
  void publish_processes_changed();
  void handle_signal(ClientId client, const nlohmann::json& id,
                     const control::SignalCommand& command);
  void handle_tail(ClientId client, const nlohmann::json& id, const control::TailCommand& tail);
  void handle_reread(ClientId client, const nlohmann::json& id, bool apply);

  config::Config config_;
  System& system_;
  Timers& timers_;
  Clients& clients_;
  Probes& probes_;
  Options options_;
  std::unique_ptr<core::Supervisor> supervisor_;
  std::unordered_map<std::string, Handles> handles_;
  /// A status's processes and their handles, kept from one status to the
  /// next (see dispatch()).
  std::vector<const core::ManagedProcess*> status_processes_;
  std::vector<const Handles*> status_handles_;
  std::unordered_map<int, Child> children_;  ///< live leaders, by pid
  std::list<Waiter> waiters_;
  bool settle_needed_ = false;      ///< a state changed since the last settle
  bool processes_changed_ = false;  ///< added or removed since the last publish
  control::EventHistory events_;
  std::map<ClientId, nlohmann::json> event_subscribers_;
  std::map<ClientId, std::unique_ptr<logging::TailFollower>> tail_followers_;
  TimePoint steady_origin_;
  std::chrono::system_clock::time_point wall_origin_;
  Timers::TimerId trim_timer_ = 0;  ///< schedule_trim()'s, 0 when none
  /// Actions decided but not carried out yet (execute()).
  std::deque<core::ProcessAction> pending_actions_;
  bool running_slice_ = false;        ///< inside run_slice()
  Timers::TimerId slice_timer_ = 0;   ///< the next slice, 0 when none
  Timers::TimerId reload_timer_ = 0;  ///< a pending SIGHUP reload
  int reloads_folded_ = 0;            ///< SIGHUPs folded into it
  bool finished_reported_ = false;
  std::function<void()> on_finished_;
  std::function<void()> on_state_change_;
  std::optional<ShutdownTally> shutdown_tally_;  ///< from begin_shutdown() on
};

}  // namespace minisup::daemon
