// Requests that take time: what a start, stop, restart, wait or update
// means, and when it is settled. Pure: a function of the Supervisor's state.
//
// A request is opened (open_*: decides what to do now and remembers what
// each process was when asked), then settle() is asked after state changes
// until it returns a Settlement; the runtime turns that into the reply. No
// request decides anything while being settled: the restart's start half
// is the Supervisor's (request_restart), so settling never re-enters.
//
// When each kind is settled:
//   start    every process is RUNNING (a job: or EXITED with a code in its
//            exitcodes), or has failed (FATAL, e.g. "not started: db is
//            FATAL" when a dependency failed; STOPPED or EXITED again; a
//            crash loop's restart delay), or was already started / could
//            not be started when asked. A process STARTING while it waits
//            for its dependencies is not settled yet.
//   restart  the same, once the Supervisor has done the start half; a
//            rolling restart once it is done (each process replaced, or
//            failed: the first failure stops it, the rest are "not
//            replaced").
//   stop     every process is idle (STOPPED, EXITED, FATAL) or was removed
//            or replaced by a reload.
//   wait     every process is in the target state (for RUNNING, a job that
//            exited with a code in its exitcodes counts); or one reached a state
//            it cannot leave by itself (FATAL; for RUNNING also STOPPED and
//            EXITED) or was removed: settled as failed (unexpected state).
//   update   removed programs are gone, added and changed ones are no longer
//            leaving, STARTING, BACKOFF or STOPPING, and its rolling
//            restarts (changed programs with held sockets) are done.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "supervisor/core/supervisor.h"

namespace minisup::core {

/// What became of one process of a request.
enum class Outcome {
  Started,         ///< start/restart: RUNNING
  AlreadyStarted,  ///< start: was STARTING, RUNNING or STOPPING when asked
  Failed,          ///< start/restart: did not get to RUNNING (see message)
  Stopped,         ///< stop: stopped on this request (or removed)
  NotRunning,      ///< stop: was idle when asked
  Reached,         ///< wait: in the target state
  Unexpected,      ///< wait: in a state it cannot leave by itself, or removed
};

struct ProcessOutcome {
  std::string name;
  Outcome outcome = Outcome::Failed;
  std::string message;  ///< why it failed (start/restart)
  /// wait: the state name ("RUNNING", or "REMOVED").
  std::string state;
  /// stop: how the stop ended (a process stopped in BACKOFF has none);
  /// restart: the stop half's record, when it had one.
  std::optional<ExitRecord> exit;
  bool needed_sigkill = false;  ///< restart: its stop half needed SIGKILL
};

struct Settlement {
  std::vector<ProcessOutcome> results;
  /// wait: some process is Unexpected (the reply is an error).
  bool unexpected = false;
};

/// A request being settled.
struct PendingRequest {
  enum class Kind { Start, Stop, Restart, Wait, Update };
  Kind kind = Kind::Start;
  std::vector<std::string> processes;  ///< in start order
  /// start/restart: decided when asked (AlreadyStarted, or Failed).
  std::map<std::string, Outcome> preset;
  std::set<std::string> not_running;  ///< stop: idle when asked
  /// stop: each process's incarnation when asked; only an exit of that
  /// incarnation tells how this stop went (a process stopped in BACKOFF
  /// after a failed spawn has no record of its own).
  std::map<std::string, Incarnation> incarnation_when_asked;
  /// Processes a reload replaced or removed since the request (the name
  /// may already stand for a new process): note_removed().
  std::set<std::string> removed;
  ProcessState target = ProcessState::Running;  ///< wait
  RestartId restart = 0;                        ///< restart
  bool rolling = false;                         ///< restart: a rolling one
  /// update: the rolling restarts of changed programs with held sockets.
  std::vector<RestartId> rollings;
  /// update: program names.
  std::vector<std::string> added, changed, removed_programs;
  /// update: how many of removed_programs, then added, then changed are
  /// known to be done; settle()'s cursor (a program counts once, as a
  /// restart counts its stops), so that settling an update of N programs
  /// costs O(N) over all its events instead of O(N) per event.
  mutable std::size_t update_settled = 0;

  /// A reload forgot `process` (RemoveProcess).
  void note_removed(const std::string& process) { removed.insert(process); }
};

/// A request and the actions that carry out its first step.
struct Opened {
  PendingRequest request;
  std::vector<ProcessAction> actions;
};

/// Start `processes` (resolved names). Refused ones are preset Failed,
/// running ones AlreadyStarted.
Opened open_start(Supervisor& supervisor, const std::vector<std::string>& processes, TimePoint now);
/// Restart `processes` (Supervisor::request_restart).
Opened open_restart(Supervisor& supervisor, const std::vector<std::string>& processes,
                    TimePoint now);
/// Rolling restart of `processes` (Supervisor::request_rolling_restart).
Opened open_rolling_restart(Supervisor& supervisor, const std::vector<std::string>& processes,
                            TimePoint now);
/// Stop `processes`.
Opened open_stop(Supervisor& supervisor, const std::vector<std::string>& processes, TimePoint now);
/// Wait until every one of `processes` is `target`.
PendingRequest open_wait(const std::vector<std::string>& processes, ProcessState target);
/// Wait until a reload's changes are done.
PendingRequest open_update(const ReloadResult& reload);

/// The answer, once `request` is settled; nullopt while it is not.
std::optional<Settlement> settle(const PendingRequest& request, const Supervisor& supervisor);

/// wait, on its timeout: each process's state now ("REMOVED" when gone).
std::vector<ProcessOutcome> current_states(const PendingRequest& request,
                                           const Supervisor& supervisor);

/// Lets go of what the Supervisor keeps for `request` (a restart's
/// progress): call when it was answered or its client went away.
void close_request(const PendingRequest& request, Supervisor& supervisor);

}  // namespace minisup::core
