// Runtime: minisupd's engine room. It carries out what the pure core
// decides, using the system layer (sys/), the event loop (loop/), child
// output (logging/) and the control socket (control/).
//
// One event, followed end to end:
//   kernel (SIGCHLD via signalfd) -> reap_children() -> core::Supervisor::
//   handle(process, ChildExited) -> actions -> execute() runs each one
//   (spawn, signal, arm a timer, log the state change, wake the clients that
//   wait for it).
//
// Everything runs on the loop's single thread. Every callback the loop
// makes into the runtime is guarded by the loop's one catch-all (set as its
// error hook): a failure is logged and the daemon goes on serving.
//
// Requests that take time (start waits for RUNNING or failure, stop for
// STOPPED, wait for a state) are kept as Waiters and answered from
// check_waiters(), which runs after every batch of state changes; the
// client is never blocked and neither is anybody else.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "supervisor/config/load_config.h"
#include "supervisor/config/program_config.h"
#include "supervisor/control/control_server.h"
#include "supervisor/control/event_history.h"
#include "supervisor/control/protocol.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/logging/tail.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

class Runtime {
 public:
  /// Sets up the loop, the signal handling and the control socket for
  /// `config`. Nothing is started yet. Throws control::SocketInUseError when
  /// another minisupd serves the socket, sys::SysError (or another
  /// std::exception) for other set-up failures.
  explicit Runtime(config::Config config);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Writes the pidfile (when configured), starts the autostart programs in
  /// priority order and serves until a graceful shutdown has completed.
  /// Returns minisupd's exit code (0 after a clean shutdown).
  int run();

  using TimePoint = core::TimePoint;
  using ClientId = control::ControlServer::ClientId;

  /// What the runtime keeps for one process, next to its core machine.
  struct ProcessRuntime {
    sys::UniqueFd pidfd;           ///< the running leader; empty once reaped
    pid_t pgid = 0;                ///< process group of the last child (= its pid)
    bool group_lingering = false;  ///< leader reaped while its group lives on
    /// The armed timer of each DeadlineKind (0: none).
    std::array<loop::EventLoop::TimerId, 3> deadlines{};
    std::unique_ptr<logging::ProcessOutput> output;
    std::string last_spawn_error;
  };

  /// A request answered later: start/stop/restart/wait.
  struct Waiter {
    enum class Kind { Start, Stop, Restart, Wait, Update };
    Kind kind = Kind::Start;
    ClientId client = 0;
    nlohmann::json id;
    std::vector<std::string> processes;
    core::ProcessState target = core::ProcessState::Running;  ///< Wait only
    std::optional<loop::EventLoop::TimerId> timeout;          ///< Wait only
    /// Start/Restart: what each process was when asked (already started?)
    std::map<std::string, control::StartOutcome> preset;
    /// Restart: processes whose stop part is done, and what it needed.
    std::set<std::string> restarted;
    std::map<std::string, bool> needed_sigkill;
    /// Stop: processes that were not running when asked.
    std::set<std::string> not_running;
    /// Update: what changed; answered once removed programs are gone and
    /// added/changed ones have settled (RUNNING, or failed, or not started).
    control::ConfigChanges changes;
    /// Processes a reload replaced or removed since the request (a name
    /// may already stand for a new process).
    std::set<std::string> removed;
  };

 private:
  // ---- lifecycle (runtime.cc) ----
  void setup_process(const core::ManagedProcess& process);
  /// Carries out `actions` (and what performing them feeds back) in order.
  /// Work is done in slices of about kSliceBudget: when a slice is over, the
  /// rest waits for the next loop round, so the control socket is served in
  /// between (a `start` of thousands of programs never stalls a `status`).
  /// Actions that arrive while a rest is waiting queue up behind it, so the
  /// order of actions is always the order they were decided in.
  void execute(std::vector<core::ProcessAction> actions);
  /// Runs queued actions until the queue is empty or the slice is over.
  void run_slice();
  void perform(const core::ProcessAction& action);
  /// Spawns `process` and returns the event to feed back (Spawned/SpawnFailed).
  core::Event spawn(const core::ManagedProcess& process);
  void send_signal(const std::string& process, const core::SendSignal& signal);
  void arm_deadline(const std::string& process, core::DeadlineKind kind, TimePoint at);
  void cancel_deadline(const std::string& process, core::DeadlineKind kind);
  void on_state_changed(const std::string& process, const core::StateChanged& change);
  void on_signal(const signalfd_siginfo& info);
  void reap_children();
  void begin_shutdown(const std::string& why);
  /// Loads config_.file again; errors are logged (and returned).
  config::LoadResult load_again(const std::string& why);
  /// Hands a valid new config to the core (reload) and makes it current;
  /// returns what changed and the actions to execute, or nullopt when
  /// refused (shutdown in progress).
  std::optional<core::ReloadResult> apply_new_config(config::Config new_config,
                                                     const std::string& why);
  /// Frees config_.programs once the Supervisor holds the definitions.
  void drop_program_copies();
  /// The configuration in force, rebuilt from the Supervisor's definitions
  /// (for `reread`'s comparison).
  config::Config current_config() const;
  /// SIGHUP: load_again + apply_new_config + execute.
  void reload(const std::string& why);
  /// SIGHUP: a reload on the next loop round; signals that arrive before it
  /// ran are folded into it (one reload pending at most).
  void request_reload(const std::string& why);
  void reopen_logs();
  std::vector<std::string> child_environment(const core::ManagedProcess& process) const;
  std::chrono::system_clock::time_point to_wall(TimePoint t) const;

  /// Hands the heap's free pages back to the kernel (malloc_trim) a moment
  /// after a burst that allocated much and freed it again: a `status` of
  /// hundreds of processes, a reload. Otherwise those pages stay in the
  /// middle of the heap and count in the RSS. One timer per burst, so an
  /// idle minisupd still never wakes up. (A big batch of actions trims at
  /// its end: execute().)
  void schedule_trim();

  // ---- control (dispatch.cc) ----
  /// Sends a line to a client (a reply or an event); a big one schedules a
  /// trim.
  void send(ClientId client, std::string&& line);
  void on_client_line(ClientId client, const control::ControlServer::Peer& peer,
                      std::string_view line);
  void on_client_disconnect(ClientId client);
  void dispatch(ClientId client, const control::Request& request);
  control::ProcessInfo process_info(const core::ManagedProcess& process) const;
  /// Resolves names; on failure sends no_such_program and returns nullopt.
  std::optional<std::vector<std::string>> resolve(ClientId client, const nlohmann::json& id,
                                                  const std::vector<std::string>& names);
  void add_waiter(Waiter waiter);
  void check_waiters();
  /// Tries to answer `waiter`; returns true when it was answered.
  bool try_answer(Waiter& waiter);
  void answer_wait_timeout(Waiter& waiter);
  void publish_event(const std::string& process, const core::StateChanged& change);
  void handle_tail(ClientId client, const nlohmann::json& id, const control::TailCommand& tail);
  void handle_reread(ClientId client, const nlohmann::json& id, bool apply);

  config::Config config_;
  loop::EventLoop loop_;
  std::unique_ptr<core::Supervisor> supervisor_;
  std::unordered_map<std::string, ProcessRuntime> runtimes_;
  std::unordered_map<pid_t, std::string> by_pid_;  ///< live leaders only
  std::shared_ptr<logging::ConsoleWriter> console_;
  std::unique_ptr<control::ControlServer> server_;
  std::list<Waiter> waiters_;
  bool checking_waiters_ = false;
  control::EventHistory events_;
  std::map<ClientId, nlohmann::json> event_subscribers_;
  std::map<ClientId, std::unique_ptr<logging::TailFollower>> tail_followers_;
  TimePoint steady_origin_;
  std::chrono::system_clock::time_point wall_origin_;
  bool pidfile_written_ = false;
  loop::EventLoop::TimerId trim_timer_ = 0;  ///< schedule_trim()'s, 0 when none
  /// Actions decided but not carried out yet (execute()).
  std::deque<core::ProcessAction> pending_actions_;
  bool running_slice_ = false;               ///< inside run_slice()
  loop::EventLoop::TimerId slice_timer_ = 0;  ///< the next slice, 0 when none
  loop::EventLoop::TimerId reload_timer_ = 0;  ///< a pending SIGHUP reload
  int reloads_folded_ = 0;                     ///< SIGHUPs folded into it
  /// RLIMIT_NOFILE as minisupd was started with it (children get it back).
  struct rlimit original_nofile_ {};
};

}  // namespace minisup::daemon
