// The seam between the runtime and the world: what the runtime does to the
// system (System), to time (Timers) and to its clients (Clients). The real
// ones (real_system.h, Daemon) wrap sys/, loop/, logging/ and the control
// server; the fakes under tests/unit/daemon/ record calls and let a test
// move time, so every decision of the runtime is tested without a process
// (in the style of dinit's bp_sys and its fake event loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/daemon/spawn_plan.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/sys/proc_tree.h"
#include "supervisor/sys/signals.h"

namespace minisup::daemon {

/// How minisupd keeps each program's whole process tree (DESIGN.md, "Whole
/// process trees"): a cgroup v2 per process, or process groups plus the
/// descendants re-parented to minisupd (the fallback).
enum class TreeMode { Cgroup, Group };

/// One process of a tree, for the log: "4242 (worker)".
using TreeMember = sys::TreeMember;

/// "4242 (worker), 4250 (sleep)".
std::string describe_members(const std::vector<TreeMember>& members);

/// What the runtime does to processes and their output.
class System {
 public:
  virtual ~System() = default;

  /// The output (log files, console) of one process: created when the
  /// process is set up, kept until it is removed.
  virtual std::unique_ptr<logging::ProcessOutput> make_output(
      const config::ProgramConfig& program, const config::ProcessConfig& process) = 0;
  /// The programs in force changed (start or reload): e.g. the console's
  /// name column width.
  virtual void outputs_configured(const std::vector<config::ProgramConfig>& programs) = 0;

  /// Holds the listening sockets `sockets` ([socket.NAME]) from now on
  /// (held_sockets.h): at start, before any spawn, and at each reload,
  /// before the new config applies. Returns what failed, naming the socket
  /// (then nothing changed).
  virtual std::optional<std::string> hold_sockets(
      const std::vector<config::SocketConfig>& sockets) = 0;

  /// Forks and execs `plan`, its stdout and stderr going to pipes of
  /// `output` (opened here, captured once the child runs). Returns the
  /// child's pid (also its process group) or why it failed, e.g.
  /// "exec /usr/bin/nope: No such file or directory".
  virtual std::variant<int, std::string> spawn(const SpawnPlan& plan,
                                               logging::ProcessOutput& output) = 0;
  /// Sends `signal` to the child `pid` unless it was reaped already (then
  /// false: nothing is sent, the pid may belong to a stranger by now).
  virtual bool signal_process(int pid, int signal) = 0;
  /// How trees are kept; fixed for minisupd's lifetime.
  virtual TreeMode tree_mode() const = 0;
  /// Sends `signal` to the tree of `process` (process group `pgid`, its
  /// last leader's pid): with cgroups to every member of its cgroup
  /// (SIGKILL: cgroup.kill, which also catches a process forking at that
  /// moment), else to the process group. False when it had no member.
  virtual bool signal_tree(const std::string& process, int pgid, int signal) = 0;
  /// The tree of `process` still has a member (cgroups: `populated 1`;
  /// else: process group `pgid` has one). With cgroups, from the first
  /// call on, its emptying is reported to the set_on_tree_emptied callback.
  virtual bool tree_alive(const std::string& process, int pgid) = 0;
  /// The members of the tree of `process`, for the log.
  virtual std::vector<TreeMember> tree_members(const std::string& process, int pgid) = 0;
  /// Process groups only (the fallback): SIGKILLs the descendants of
  /// `process` that left its process group and were re-parented to
  /// minisupd (they carry MINISUP_PROCESS_NAME=`process`), and theirs;
  /// returns them. With cgroups: nothing to do (they are in the cgroup).
  virtual std::vector<TreeMember> kill_strays(const std::string& process) = 0;
  /// Process groups only: `process` has strays (as kill_strays would
  /// find; the scan may be up to 100 ms old). With cgroups: false.
  virtual bool has_strays(const std::string& process) = 0;
  /// The tree of `from` (its cgroup) is `to`'s from now on (a rolling
  /// restart's old process); the next spawn of `from` gets a tree of its
  /// own.
  virtual void rename_tree(const std::string& from, const std::string& to) = 0;
  /// `process` is idle or gone: its cgroup is removed once it is empty (at
  /// once, or when it becomes so).
  virtual void release_tree(const std::string& process) = 0;
  /// `callback(process)` is called whenever the cgroup of `process` may
  /// have become empty, once tree_alive() or release_tree() asked about it
  /// (inotify on cgroup.events, which also reports it becoming populated:
  /// tree_alive() tells; a spawn adds no watch); never with process groups,
  /// whose members' exits arrive as reaped orphans.
  virtual void set_on_tree_emptied(std::function<void(const std::string&)> callback) = 0;
  /// Reaps every child that has exited (supervised or not).
  virtual std::vector<sys::Reaped> reap() = 0;

  /// What the process tree of `process` (a process name, "web:0") uses
  /// now: its live processes, their resident memory and CPU time (DESIGN.md,
  /// "Whole process trees"). Without cgroups the tree is process group
  /// `pgid` (the process's, ProcessMachine::process_group()) and every
  /// descendant of its members. Read on request only (`status --tree`),
  /// never on a timer. nullopt when nothing can be read (the tree has no
  /// live process, /proc is unreadable).
  virtual std::optional<sys::TreeUsage> tree_usage(const std::string& process, int pgid) = 0;
};

/// Readiness and health checks, as the runtime runs them (DESIGN.md,
/// "Readiness, dependencies and harness mode"). The runtime decides when to
/// try (interval, timeout, failures in a row); an implementation carries
/// out one attempt at a time and never blocks the loop: connects and HTTP
/// requests are non-blocking, an exec probe is a child like any other.
/// The `log` kind needs none of this (the runtime matches the lines the
/// output's line watcher hands it, logging::ProcessOutput).
class Probes {
 public:
  using AttemptId = std::uint64_t;  ///< never 0
  using NotifyId = std::uint64_t;   ///< never 0

  /// How one attempt went. `detail` says why it failed, for status and
  /// the log: "connect 127.0.0.1:5432: Connection refused",
  /// "GET http://127.0.0.1:8080/healthz: status 503", "exec pg_isready:
  /// exited with status 2", "timed out after 1.0 s".
  struct Result {
    bool ok = false;
    std::string detail;
  };

  /// What a process sent to its NOTIFY_SOCKET (one datagram, sd_notify
  /// protocol): READY=1 seen, and the last STATUS= text if any.
  struct NotifyMessage {
    bool ready = false;
    std::optional<std::string> status;
  };

  virtual ~Probes() = default;

  /// Starts one attempt of a tcp, http or exec `probe`, ended within
  /// `bound` (an exec probe is then killed, its process group too). `done`
  /// is called exactly once, later (never from inside attempt()), unless
  /// the attempt is cancelled first. An exec probe runs as `plan` says
  /// (user, directory, environment; argv replaced by probe.exec).
  virtual AttemptId attempt(const config::Probe& probe, const SpawnPlan& plan,
                            std::chrono::nanoseconds bound, std::function<void(Result)> done) = 0;
  /// Ends an attempt early (its exec child is killed and reaped later);
  /// its `done` is never called. Unknown or finished ids are ignored.
  virtual void cancel(AttemptId id) = 0;
  /// A child of minisupd that is no supervised process was reaped: true
  /// when it was an exec probe's (then its attempt ends).
  virtual bool child_reaped(const sys::Reaped& reaped) = 0;

  /// Opens a datagram socket for one process's sd_notify messages; returns
  /// its id and the NOTIFY_SOCKET value to give the child, or an error.
  /// Datagrams from a sender whose uid is neither root, minisupd's own nor
  /// that of `user` (the program's `user`, when set) are dropped (and
  /// logged). `on_message` is called per datagram.
  virtual std::variant<std::pair<NotifyId, std::string>, std::string> open_notify(
      const std::optional<std::string>& user,
      std::function<void(const NotifyMessage&)> on_message) = 0;
  /// Closes it (the process ended); unknown ids are ignored.
  virtual void close_notify(NotifyId id) = 0;
};

/// Time and timers (the monotonic clock).
class Timers {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using TimerId = std::uint64_t;  ///< never 0

  virtual ~Timers() = default;
  virtual TimePoint now() const = 0;
  /// Calls `callback` once at `at` (a time in the past: the next round).
  virtual TimerId arm(TimePoint at, std::function<void()> callback) = 0;
  /// Cancels a timer; unknown or fired ids are ignored.
  virtual void cancel(TimerId id) = 0;
};

/// The clients of the control socket, as the runtime answers them.
class Clients {
 public:
  using ClientId = std::uint64_t;

  virtual ~Clients() = default;
  /// Queues a line (a reply or an event, with its newline) for `client`.
  virtual void send(ClientId client, std::string&& line) = 0;
  /// Queues the first bytes of a line (no newline) that later parts and a
  /// send() complete, so that a client reads a large reply while the rest
  /// is being written. False when `client` takes whole lines only (HTTP):
  /// nothing was queued, and the caller sends the line whole.
  virtual bool send_part(ClientId /*client*/, std::string_view /*bytes*/) { return false; }
  /// The client is still connected.
  virtual bool connected(ClientId client) const = 0;
  /// Closes the connection once everything queued has gone out.
  virtual void close_after_flush(ClientId client) = 0;
  /// Keeps the connection open until minisupd exits (shutdown's client).
  virtual void hold_until_exit(ClientId client) = 0;
};

}  // namespace minisup::daemon
