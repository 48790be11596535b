// The control protocol of minisup: JSON lines over a Unix stream socket.
//
// Model: a client sends one JSON object per line (a *request*) and reads one
// JSON object per line back (*replies*). This module is pure: it turns a
// request line into a typed Request (or a ProtocolError), turns typed
// replies into lines, and (for minisupctl and tests) parses reply lines
// back. It does no I/O; ControlServer moves the bytes and the daemon's
// dispatcher gives requests their meaning. `man 7 minisup-protocol` is the
// user-facing description of the same contract; keep the two in step.
//
// Framing
//   - UTF-8 JSON, one object per line, each line ended by '\n'. Empty lines
//     (only whitespace) are ignored by the server.
//   - A request line holds at most kMaxRequestBytes bytes (the '\n' not
//     counted); a longer one gets error `too_large` and the connection is
//     closed. Nesting deeper than kMaxNestingDepth is `bad_json`.
//   - Requests may be pipelined; replies to requests that complete at once
//     come back in request order. Commands that wait (start, stop, restart,
//     wait, update, shutdown) reply when done, so replies of different
//     commands may interleave: match them with `id`.
//
// Request: {"cmd": "<command>", "id": <any JSON, optional>, ...arguments}.
//   Unknown fields are ignored (forward compatibility).
// Reply:   {"id": <echoed, null when absent>, "ok": true, ...fields}
//   or     {"id": ..., "ok": false, "error": {"code": "...", "message": "..."}}
//   Every reply line, including every line of a stream (tail -f, events),
//   carries the request's id and "ok".
//
// Evolution: add fields and commands, never change the meaning of a field,
// never reuse an error code. kProtocolVersion is bumped with each addition
// and the history is kept in man/minisup-protocol.7 ("VERSION HISTORY").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "supervisor/config/process_state_names.h"
#include "supervisor/version.h"

namespace minisup::control {

// ---------------------------------------------------------------------------
// Limits and constants
// ---------------------------------------------------------------------------

/// Protocol revision, reported by `version`. 1 = the first release.
inline constexpr int kProtocolVersion = 1;
/// minisup's version ("0.1.0"), reported by `version`.
inline constexpr std::string_view kMinisupVersion = kVersion;
/// Longest request line accepted, in bytes, excluding the '\n' (1 MiB).
inline constexpr std::size_t kMaxRequestBytes = 1024 * 1024;
/// Deepest nesting of arrays/objects accepted in a request.
inline constexpr int kMaxNestingDepth = 32;
/// Clients served at once; one more is told `too_many_clients` and closed.
inline constexpr std::size_t kMaxClients = 256;
/// Unsent reply bytes kept for one client; beyond that the client (which is
/// not reading) is disconnected.
inline constexpr std::size_t kMaxClientOutputBytes = 8 * 1024 * 1024;
/// State-change events kept for `events {"since": N}` replays.
inline constexpr std::size_t kEventHistorySize = 1024;
/// `tail`: lines returned when `lines` is absent.
inline constexpr int kDefaultTailLines = 10;
/// `tail`: at most this many bytes (the end of the log) are returned by the
/// first reply, whatever `lines` asks for.
inline constexpr std::size_t kMaxTailBytes = 1024 * 1024;

/// A duration on the wire: seconds as a JSON number (fractions allowed).
using Seconds = std::chrono::duration<double>;
/// A wall-clock time on the wire: Unix seconds as a JSON number.
using UnixTime = std::chrono::time_point<std::chrono::system_clock, Seconds>;

// ---------------------------------------------------------------------------
// Error codes (stable strings; never reuse or rename one)
// ---------------------------------------------------------------------------

enum class ErrorCode {
  BadJson,          ///< "bad_json": the line is not JSON (or nests too deep)
  BadRequest,       ///< "bad_request": not an object, a field missing or mistyped
  UnknownCommand,   ///< "unknown_command": `cmd` names no command
  TooLarge,         ///< "too_large": request line over kMaxRequestBytes (then closed)
  TooManyClients,   ///< "too_many_clients": sent on connect, then closed
  NoSuchProgram,    ///< "no_such_program": a name matches nothing (reply has "names")
  BadSignal,        ///< "bad_signal": `signal` is no known signal
  Timeout,          ///< "timeout": `wait` timed out (reply has "results")
  UnexpectedState,  ///< "unexpected_state": `wait` saw a state it can't leave
                    ///< by itself (reply has "results")
  ShuttingDown,     ///< "shutting_down": refused because minisupd is stopping
  InvalidConfig,    ///< "invalid_config": reread/update found config errors
                    ///< (reply has "errors": [string])
  Internal,         ///< "internal": a bug or an unexpected system failure
  NoLogFile,        ///< "no_log_file": tail of a stream that keeps nothing (NONE)
};

/// The wire name: "bad_json", "no_such_program", ...
std::string_view to_string(ErrorCode code);
/// Parses a wire name; nullopt when unknown (e.g. from a newer daemon).
std::optional<ErrorCode> parse_error_code(std::string_view text);

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The commands, in the order of the Command variant's alternatives.
enum class CommandKind {
  Status,
  Start,
  Stop,
  Restart,
  Signal,
  Pid,
  Tail,
  Clear,
  Reread,
  Update,
  Wait,
  Shutdown,
  Version,
  Events,
};

/// The wire name of a command: "status", "start", ...
std::string_view to_string(CommandKind kind);
/// Parses a wire name; nullopt when unknown.
std::optional<CommandKind> parse_command_kind(std::string_view text);

// Names (`names`, `name`) are process names ("web", "web:0"), program names
// ("web": every process of it), "group:*" (every process of the program),
// "group:N", or "all" (every process). Resolving them is the dispatcher's
// job; an unknown name makes the whole request fail with no_such_program
// (nothing is done), and the error lists the unknown names in "names".

/// `status` {names?: [string], fields?: [string], tree?: bool}: every
/// process when `names` is absent/empty. `fields` names the members each
/// process object of the reply carries (see ProcessInfo; "name" and "state"
/// are always sent, unknown names are ignored); absent/empty: all of them.
/// minisupctl's table asks for kStatusTableFields: a third of the bytes to
/// encode, send and decode. `tree` asks for the tree_* members' values
/// (the process tree's usage, read from /proc on this request only); they
/// are sent (null) without it too, unless `fields` leaves them out.
struct StatusCommand {
  std::vector<std::string> names;
  std::vector<std::string> fields = {};
  bool tree = false;
  /// `rows`: each process as an array of its values, in the order of the
  /// reply's "columns" (a table's worth of bytes, without a key per value),
  /// in "rows" instead of "processes".
  bool rows = false;
  bool operator==(const StatusCommand&) const = default;
};

/// The members of a process object that hold its tree's usage.
inline constexpr std::string_view kTreeProcessesKey = "tree_processes";
inline constexpr std::string_view kTreeRssBytesKey = "tree_rss_bytes";
inline constexpr std::string_view kTreeCpuSecondsKey = "tree_cpu_seconds";

/// Whether a status reply restricted to `fields` (empty: every member)
/// carries any tree_* member, i.e. whether `tree` is worth computing.
bool status_sends_tree(const std::vector<std::string>& fields);
/// `start` {names: [string], non-empty}.
struct StartCommand {
  std::vector<std::string> names;
  bool operator==(const StartCommand&) const = default;
};
/// `stop` {names: [string], non-empty}.
struct StopCommand {
  std::vector<std::string> names;
  bool operator==(const StopCommand&) const = default;
};
/// `restart` {names: [string], non-empty, rolling?: bool}: stop (if
/// running), then start. `rolling`: replace the processes one at a time,
/// each new one started and ready before its old one gets its stop
/// signal (the old one is listed `"old": true` meanwhile); the first new
/// process that fails stops it (the old ones keep serving).
struct RestartCommand {
  std::vector<std::string> names;
  bool rolling = false;
  bool operator==(const RestartCommand&) const = default;
};
/// `signal` {signal: "TERM" | "SIGTERM" | 15, names: [string], non-empty}.
struct SignalCommand {
  int signal = 0;  ///< validated: 1 ... SIGRTMAX
  std::vector<std::string> names;
  bool operator==(const SignalCommand&) const = default;
};
/// `pid` {name?: string}: minisupd's own pid when `name` is absent or null.
struct PidCommand {
  std::optional<std::string> name;
  bool operator==(const PidCommand&) const = default;
};
/// Which output stream of a process.
enum class Stream { Stdout, Stderr };
/// "stdout" / "stderr".
std::string_view to_string(Stream stream);
/// `tail` {name, stream?: "stdout"|"stderr", lines?: int >= 0, follow?: bool}.
struct TailCommand {
  std::string name;  ///< one process
  Stream stream = Stream::Stdout;
  int lines = kDefaultTailLines;  ///< last lines in the first reply; 0 = none
  bool follow = false;            ///< then stream new output until the client leaves
  bool operator==(const TailCommand&) const = default;
};
/// `clear` {names: [string], non-empty}: truncate the processes' log files.
struct ClearCommand {
  std::vector<std::string> names;
  bool operator==(const ClearCommand&) const = default;
};
/// `reread` {}: load the config again and report differences; apply nothing.
struct RereadCommand {
  bool operator==(const RereadCommand&) const = default;
};
/// `update` {}: as reread, then apply (add, restart changed, remove).
struct UpdateCommand {
  bool operator==(const UpdateCommand&) const = default;
};
/// `wait` {names: [string], non-empty, state?: "RUNNING", timeout?: seconds|null}.
struct WaitCommand {
  std::vector<std::string> names;
  /// The target state, upper case and validated ("RUNNING", "STOPPED", ...).
  std::string state = "RUNNING";
  /// nullopt = wait for ever. Validated: finite and >= 0.
  std::optional<Seconds> timeout;
  bool operator==(const WaitCommand&) const = default;
};
/// `shutdown` {}: graceful shutdown of minisupd.
struct ShutdownCommand {
  bool operator==(const ShutdownCommand&) const = default;
};
/// `version` {}.
struct VersionCommand {
  bool operator==(const VersionCommand&) const = default;
};
/// `events` {since?: int >= 0}: subscribe to state changes.
struct EventsCommand {
  /// Replay buffered events with seq > since before the live ones.
  std::optional<std::uint64_t> since;
  bool operator==(const EventsCommand&) const = default;
};

/// One command with its arguments; alternative i is CommandKind(i).
using Command =
    std::variant<StatusCommand, StartCommand, StopCommand, RestartCommand, SignalCommand,
                 PidCommand, TailCommand, ClearCommand, RereadCommand, UpdateCommand, WaitCommand,
                 ShutdownCommand, VersionCommand, EventsCommand>;

/// A valid request.
struct Request {
  /// Echoed in every reply line; null when the request had none.
  nlohmann::json id;
  Command command;

  /// Which command this is.
  CommandKind kind() const { return static_cast<CommandKind>(command.index()); }
};

/// A request that could not be accepted. `id` is the request's id when the
/// line was a JSON object with one, else null.
struct ProtocolError {
  nlohmann::json id;
  ErrorCode code = ErrorCode::BadRequest;
  std::string message;  ///< e.g. `names: expected an array of strings`
};

/// Parses and validates one request line (without its '\n'). Never throws.
/// Errors: bad_json (not JSON, or nested deeper than kMaxNestingDepth),
/// bad_request (not an object; `cmd` missing or not a string; an argument
/// missing, mistyped or out of range), unknown_command, bad_signal.
std::variant<Request, ProtocolError> parse_request(std::string_view line);

/// The line for `request` (no '\n'), as minisupctl sends it; defaulted
/// arguments are written out. parse_request(encode_request(r)) == r.
std::string encode_request(const Request& request);

// ---------------------------------------------------------------------------
// Signals and states: named by the tables of config/signal_names.h
// (config::parse_signal, config::signal_name: "SIGTERM", "SIGRTMIN+2") and
// config/process_state_names.h (config::kProcessStateNames, which `state`
// fields always hold one of)
// ---------------------------------------------------------------------------

/// Upper-cases `text` and returns it when it is a state name, else nullopt.
std::optional<std::string> normalize_state_name(std::string_view text);

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------
// Every encode_* function returns one line without its '\n' (ControlServer
// appends it). Strings are written as UTF-8; invalid byte sequences (e.g.
// binary program output in `tail`) become U+FFFD. Times are Unix seconds and
// durations seconds, both JSON numbers with fractions.

/// BACKOFF: which retry comes next and when.
struct RetryInfo {
  int attempt = 0;  ///< the retry that is scheduled, 1-based
  int of = 0;       ///< startretries
  Seconds in{0};    ///< from the time of the reply until it is spawned
  /// A crash loop's restart delay (the process keeps dying soon after it
  /// started): `attempt` is then the number of quick exits in a row and `of`
  /// is 0 (such delays never end in FATAL).
  bool restart = false;
  bool operator==(const RetryInfo&) const = default;
};

/// One process in a `status` reply. On the wire every key is always present,
/// null where it does not apply:
///   name, group, state, pid, uptime, started_at, exit_code, exit_signal,
///   exit_signal_name, exited_at, needed_sigkill, stop_duration,
///   description, spawn_error, retry {attempt, of, in_seconds, restart},
///   core_dumped, dropped_bytes, exit_reason, tree_processes,
///   tree_rss_bytes, tree_cpu_seconds, old, restarts, ready.
struct ProcessInfo {
  std::string name;   ///< "web" or "web:0" (also for an old process)
  std::string group;  ///< the program: "web"
  std::string state;  ///< one of config::kProcessStateNames
  int pid = 0;        ///< 0 when no child runs
  /// How long the current child has run; set in STARTING, RUNNING, STOPPING.
  std::optional<Seconds> uptime;
  /// When the current (or, once it ended, the last) child was spawned.
  std::optional<UnixTime> started_at;
  // The last run's end (from its ExitRecord); all nullopt before any exit.
  std::optional<int> exit_code;    ///< it exited normally with this status
  std::optional<int> exit_signal;  ///< a signal killed it (name: exit_signal_name)
  bool core_dumped = false;        ///< ... and left a core dump
  std::optional<UnixTime> exited_at;
  std::optional<bool> needed_sigkill;    ///< set when the last exit was requested by a stop
  std::optional<Seconds> stop_duration;  ///< stop signal to exit, when stopped on request
  /// Human summary (see describe()). When left empty, the encoder fills it
  /// in with describe(*this), so the dispatcher normally leaves it empty.
  std::string description;
  /// The last spawn failure ("exec /x: No such file or directory"), kept
  /// while BACKOFF or FATAL because of it.
  std::optional<std::string> spawn_error;
  std::optional<RetryInfo> retry;  ///< set in BACKOFF only
  /// Output bytes its log files could not take (full disk, failing write),
  /// stdout + stderr, since minisupd started (or the process was added);
  /// 0 for console and NONE streams. A marker line in the file shows where.
  std::uint64_t dropped_bytes = 0;
  /// Why the last run ended (core::ExitReason): "exited", "killed",
  /// "needed_sigkill", "spawn_failed", "unhealthy", "not_ready",
  /// "dependency_failed"; null before any exit.
  std::optional<std::string> exit_reason;
  // The process's tree (DESIGN.md, "Whole process trees": its cgroup, or
  // its process group and their descendants), read when the status request
  // asked for `tree` and the process has a pid; nullopt otherwise, and when
  // nothing could be read.
  std::optional<int> tree_processes;            ///< live processes in the tree
  std::optional<std::uint64_t> tree_rss_bytes;  ///< their resident memory, summed
  /// Their CPU time (user + system, with that of the children they waited
  /// for), summed.
  std::optional<Seconds> tree_cpu_seconds;
  /// An old process of a rolling restart: a new process of the same name
  /// has replaced it (or is about to), and it is being (or will be)
  /// stopped. It is listed on its own line after the new one.
  bool old = false;
  /// How many times minisupd started the process again by itself after a
  /// run ended (autorestart, a BACKOFF retry, a restart after failed health
  /// checks), over minisupd's lifetime; starts asked for (start, restart,
  /// update) do not count. Kubernetes' restartCount.
  int restarts = 0;
  /// RUNNING (which means its `ready` probe, if any, passed) and, with a
  /// `health` probe, its last health check did not fail.
  bool ready = false;
  bool operator==(const ProcessInfo&) const = default;
};

/// supervisorctl-like summary of `info`, by state:
///   RUNNING            "pid 1234, uptime 0:01:05" ("1 day, 2:03:04")
///   STARTING/STOPPING  "pid 1234"
///   BACKOFF            "retry 2/3 in 2.0s" + " (<spawn error or last exit>)", or
///                      "restart in 4.0s (3 quick exits in a row; <last exit>)"
///   FATAL              the spawn error, else "exited too quickly (<last exit>)"
///   EXITED             "exited with status 3, Nov 21 10:02:03" / "killed by SIGSEGV, ..."
///   STOPPED            "exited with status 0 after 0.2 s, Nov 21 10:02:03",
///                      "needed SIGKILL after 10.0 s, Nov 21 10:02:03", or "Not started"
/// Dates are local time (TZ).
std::string describe(const ProcessInfo& info);
/// "0:01:05", "1 day, 2:03:04", "3 days, 0:00:01" (whole seconds, rounded down).
std::string format_uptime(Seconds uptime);

/// `status` -> {"processes": [ProcessInfo]} in the order of the config.
struct StatusReply {
  std::vector<ProcessInfo> processes;
  /// The members to encode (StatusCommand::fields); empty: all. Not part of
  /// the decoded reply (a decoder sees only what was sent).
  std::vector<std::string> fields = {};
  /// Encode as "columns" and "rows" (StatusCommand::rows). Not part of the
  /// decoded reply either.
  bool rows = false;
  bool operator==(const StatusReply&) const = default;
};

/// `start`: what happened to one process.
enum class StartOutcome {
  Started,         ///< "started": it reached RUNNING
  AlreadyStarted,  ///< "already_started": it was STARTING or RUNNING already
  Failed,          ///< "failed": spawn error or FATAL; see message
};
struct StartResult {
  std::string name;
  StartOutcome result = StartOutcome::Started;
  /// Empty unless failed: "spawn error: exec /x: No such file or directory",
  /// "exited too quickly (exited with status 1)", ...
  std::string message;
  bool operator==(const StartResult&) const = default;
};
/// `start` -> {"results": [{name, result, message}]}, answered when every
/// named process is RUNNING or failed.
struct StartReply {
  std::vector<StartResult> results;
  bool operator==(const StartReply&) const = default;
};

enum class StopOutcome {
  Stopped,     ///< "stopped": it was running and is now STOPPED
  NotRunning,  ///< "not_running": nothing to stop (BACKOFF is stopped too: "stopped")
};
struct StopResult {
  std::string name;
  StopOutcome result = StopOutcome::Stopped;
  bool needed_sigkill = false;
  std::optional<Seconds> stop_duration;  ///< null when not_running
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  /// The process exited by itself with a code in its `exitcodes` (a clean
  /// stop, `stop --require-clean`); false when a signal ended it; null when
  /// not_running. Added in protocol 1.x: older minisupd leave it out.
  std::optional<bool> expected;
  bool operator==(const StopResult&) const = default;
};
/// `stop` -> {"results": [{name, result, needed_sigkill, stop_duration,
/// exit_code, exit_signal, expected}]}, answered when every named process is
/// STOPPED.
struct StopReply {
  std::vector<StopResult> results;
  bool operator==(const StopReply&) const = default;
};

enum class RestartOutcome {
  Started,  ///< "started"
  Failed,   ///< "failed"
};
struct RestartResult {
  std::string name;
  RestartOutcome result = RestartOutcome::Started;
  std::string message;          ///< as StartResult::message
  bool needed_sigkill = false;  ///< the stop part needed SIGKILL
  bool operator==(const RestartResult&) const = default;
};
/// `restart` -> {"results": [{name, result, message, needed_sigkill}]}.
struct RestartReply {
  std::vector<RestartResult> results;
  bool operator==(const RestartReply&) const = default;
};

enum class SignalOutcome {
  Signalled,   ///< "signalled"
  NotRunning,  ///< "not_running"
};
struct SignalResult {
  std::string name;
  SignalOutcome result = SignalOutcome::Signalled;
  bool operator==(const SignalResult&) const = default;
};
/// `signal` -> {"results": [{name, result}]}.
struct SignalReply {
  std::vector<SignalResult> results;
  bool operator==(const SignalReply&) const = default;
};

/// `pid` -> {"pid": int} (0 when the process is not running).
struct PidReply {
  int pid = 0;
  bool operator==(const PidReply&) const = default;
};

/// `tail` -> {"data": string}: the first reply (the last lines), and with
/// follow every later chunk of output as it arrives.
struct TailReply {
  std::string data;
  bool operator==(const TailReply&) const = default;
};

/// `clear` -> {"results": [{name, result: "cleared"}]}.
struct ClearReply {
  std::vector<std::string> names;
  bool operator==(const ClearReply&) const = default;
};

/// `reread` and `update` -> {"added": [..], "changed": [..], "removed": [..]}
/// (program names, sorted). For update, what was applied. "notes" (only
/// when there are some) says what changed in the file but is not applied
/// by reread/update: "[http] changed; ...".
struct ConfigChanges {
  std::vector<std::string> added;
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  std::vector<std::string> notes;
  bool operator==(const ConfigChanges&) const = default;
};

struct WaitResult {
  std::string name;
  std::string state;  ///< the state when the reply was made
  bool operator==(const WaitResult&) const = default;
};
/// `wait` -> {"results": [{name, state}]} when all reached the state; the
/// same "results" (current states) ride along errors timeout and
/// unexpected_state (see encode_wait_error).
struct WaitReply {
  std::vector<WaitResult> results;
  bool operator==(const WaitReply&) const = default;
};

/// `version` -> {"version": "0.1.0", "protocol": 1}.
struct VersionReply {
  std::string version{kMinisupVersion};
  int protocol = kProtocolVersion;
  bool operator==(const VersionReply&) const = default;
};

/// `shutdown` -> {} (just ok) once shutdown has begun; the connection is
/// closed when minisupd exits.
struct ShutdownReply {
  bool operator==(const ShutdownReply&) const = default;
};

/// `events`: the first reply -> {"subscribed": true, "seq": N}, N being the
/// seq of the newest event so far (0 when none).
struct SubscribedReply {
  std::uint64_t seq = 0;
  bool operator==(const SubscribedReply&) const = default;
};

/// One state change: {"event": "state", seq, process, group, from, to, pid,
/// exit_code, exit_signal, reason, time}. seq counts from 1 and increases
/// by 1 per event, over minisupd's lifetime.
struct StateEvent {
  std::uint64_t seq = 0;
  std::string process;  ///< "web:0"
  std::string group;    ///< "web"
  std::string from;     ///< state names
  std::string to;
  int pid = 0;  ///< the child concerned (the one that exited, for exits); 0 if none
  std::optional<int> exit_code;  ///< set on transitions caused by an exit
  std::optional<int> exit_signal;
  std::string reason;  ///< core's StateChanged::reason
  UnixTime time{};
  bool operator==(const StateEvent&) const = default;
};

/// Events a subscriber asked for with `since` that are no longer buffered:
/// {"event": "gap", "first_missed": A, "last_missed": B} (inclusive seqs).
struct GapEvent {
  std::uint64_t first_missed = 0;
  std::uint64_t last_missed = 0;
  bool operator==(const GapEvent&) const = default;
};

/// The set of processes changed (an update added or removed programs):
/// {"event": "processes_changed"}; a subscriber that shows every process
/// reads the whole status again. Not numbered, not kept in the history.
struct ProcessesChangedEvent {
  bool operator==(const ProcessesChangedEvent&) const = default;
};

/// Success replies: {"id": id, "ok": true, ...fields of the reply}.
std::string encode_reply(const nlohmann::json& id, const StatusReply& reply);

namespace detail {
class JsonWriter;
}

/// The same reply as encode_reply(id, StatusReply{...}), written one process
/// at a time: the daemon needs no vector of ProcessInfo for a status of
/// 10,000 processes.
class StatusReplyWriter {
 public:
  /// `fields` and `rows` as in StatusReply; `expected`: the number of
  /// processes (for the buffer's size); `part_bytes`: when not 0, the reply
  /// is sent in parts of about that size (written(), forget_written()), and
  /// the buffer is sized for one part.
  StatusReplyWriter(const nlohmann::json& id, const std::vector<std::string>& fields,
                    std::size_t expected, bool rows = false, std::size_t part_bytes = 0);
  ~StatusReplyWriter();
  StatusReplyWriter(const StatusReplyWriter&) = delete;
  StatusReplyWriter& operator=(const StatusReplyWriter&) = delete;

  void add(const ProcessInfo& info);
  /// For a reply sent in parts: what was written since the last
  /// forget_written() (the line's first bytes at first). A client reads
  /// the part while the rest is being written.
  std::string_view written() const;
  /// The text written() returned has been sent: the writer goes on in the
  /// same buffer. finish() then returns only the rest of the line.
  void forget_written();
  /// The whole reply line (or its last part); the writer is done.
  std::string finish();

 private:
  std::unique_ptr<detail::JsonWriter> writer_;
  unsigned mask_;
  bool rows_;
};
std::string encode_reply(const nlohmann::json& id, const StartReply& reply);
std::string encode_reply(const nlohmann::json& id, const StopReply& reply);
std::string encode_reply(const nlohmann::json& id, const RestartReply& reply);
std::string encode_reply(const nlohmann::json& id, const SignalReply& reply);
std::string encode_reply(const nlohmann::json& id, const PidReply& reply);
std::string encode_reply(const nlohmann::json& id, const TailReply& reply);
std::string encode_reply(const nlohmann::json& id, const ClearReply& reply);
std::string encode_reply(const nlohmann::json& id, const ConfigChanges& reply);
std::string encode_reply(const nlohmann::json& id, const WaitReply& reply);
std::string encode_reply(const nlohmann::json& id, const VersionReply& reply);
std::string encode_reply(const nlohmann::json& id, const ShutdownReply& reply);
std::string encode_reply(const nlohmann::json& id, const SubscribedReply& reply);
/// Stream lines of `events`: {"id", "ok": true, "event": "state"|"gap", ...}.
std::string encode_event(const nlohmann::json& id, const StateEvent& event);
std::string encode_event(const nlohmann::json& id, const GapEvent& event);
std::string encode_event(const nlohmann::json& id, const ProcessesChangedEvent& event);

/// {"id": id, "ok": false, "error": {"code": code, "message": message}}.
std::string encode_error(const nlohmann::json& id, ErrorCode code, std::string_view message);
/// As above, with the members of the object `extra` added at the top level
/// (e.g. {"names": ["nope"]} for no_such_program, {"errors": [...]} for
/// invalid_config). `extra` must be an object or null.
std::string encode_error(const nlohmann::json& id, ErrorCode code, std::string_view message,
                         const nlohmann::json& extra);
/// The reply to a rejected request.
std::string encode_error(const ProtocolError& error);
/// no_such_program: message "no such process: a, b" and "names": unknown.
std::string encode_no_such_program(const nlohmann::json& id,
                                   const std::vector<std::string>& unknown);
/// wait's errors (timeout, unexpected_state) with the current states in
/// "results".
std::string encode_wait_error(const nlohmann::json& id, ErrorCode code, std::string_view message,
                              const WaitReply& current);

// ---------------------------------------------------------------------------
// Reading replies (minisupctl, tests, other clients written in C++)
// ---------------------------------------------------------------------------

/// The envelope of one reply line.
struct ReplyLine {
  nlohmann::json id;
  bool ok = false;
  std::string error_code;     ///< when !ok; kept as text (may be newer than us)
  std::string error_message;  ///< when !ok
  nlohmann::json body;        ///< the whole object, for the typed decoders
};

/// Parses a reply line; nullopt when it is not a JSON object with a boolean
/// "ok" (and, when !ok, an "error" object with string code and message).
std::optional<ReplyLine> parse_reply(std::string_view line);

// Typed decoders: nullopt when `body` does not have the reply's shape.
// Missing optional fields take their defaults, unknown fields are ignored.
std::optional<StartReply> decode_start_reply(const nlohmann::json& body);
std::optional<StopReply> decode_stop_reply(const nlohmann::json& body);
std::optional<RestartReply> decode_restart_reply(const nlohmann::json& body);
std::optional<SignalReply> decode_signal_reply(const nlohmann::json& body);
std::optional<ClearReply> decode_clear_reply(const nlohmann::json& body);
std::optional<ConfigChanges> decode_config_changes(const nlohmann::json& body);
std::optional<WaitReply> decode_wait_reply(const nlohmann::json& body);
std::optional<VersionReply> decode_version_reply(const nlohmann::json& body);
/// A stream line of `events`; nullopt for anything else (a kind of line
/// newer than this client).
std::optional<std::variant<StateEvent, GapEvent, ProcessesChangedEvent>> decode_event(
    const nlohmann::json& body);

/// A successful `status` reply line, decoded by decode_status_line().
struct StatusLine {
  StatusReply reply;
  /// The "processes" array exactly as it appears in the line (valid JSON),
  /// for `minisupctl status --json`; a view into the decoded line.
  std::string_view processes_json;
};

/// Receives the processes of a `status` reply line one at a time, as
/// decode_status_line() reads them, so that a client need not hold every
/// ProcessInfo at once (10,000 of them are 4 MB of fresh pages to fault in,
/// while the status table needs a tenth of that).
class StatusSink {
 public:
  virtual ~StatusSink() = default;
  /// The "processes" array starts: forget what was added (a repeated
  /// member, where the last one counts).
  virtual void restart() = 0;
  /// One process, whole. `process` is reused for the next one: copy what
  /// is to be kept.
  virtual void add(const ProcessInfo& process) = 0;
};

/// Decodes a whole `status` reply line (without its '\n'), the largest
/// reply, in one pass through nlohmann's SAX interface with no intermediate
/// DOM (a status of 10,000 processes is ~1 MB as the table's fields, ~5 MB
/// whole; minisupctl must stay quick), handing each process to `sink`.
/// Missing optional fields take their defaults, unknown fields are ignored.
/// Returns the "processes" array exactly as it appears in the line (a view
/// into `line`). nullopt when the line is not valid JSON, not ok, or not a
/// status reply (what `sink` got is then meaningless): use parse_reply(),
/// which also handles errors.
std::optional<std::string_view> decode_status_line(std::string_view line, StatusSink& sink);
/// The same, keeping every process.
std::optional<StatusLine> decode_status_line(std::string_view line);

/// A reply line as it arrives from the socket: decode_status_line() can
/// read a status of 10,000 processes while minisupd is still writing it
/// (minisupd sends a large status in parts, see StatusReplyWriter).
class LineSource {
 public:
  virtual ~LineSource() = default;
  /// Every byte received so far, from the start of the line (it may go on
  /// past the line's '\n'). Valid until the next receive().
  virtual std::string_view received() const = 0;
  /// Waits until more bytes have arrived; false when none will (the
  /// connection ended). May throw (a timeout, a read error): the decode
  /// lets it through.
  virtual bool receive() = 0;
};

/// Where the "processes" (or "rows") array is in a status line: bytes
/// [begin, end) from the line's start.
struct ByteRange {
  std::size_t begin = 0;
  std::size_t end = 0;
};

/// decode_status_line() of the line `source` delivers, read as it arrives:
/// each process goes to `sink` as soon as its bytes are in. The decoder
/// reads up to the line's '\n' (or where the line stops being a status
/// reply, or the connection ends) and no further: on nullopt, the caller
/// reads the whole line from `source` and handles it as any reply (an
/// error, parse_reply()). The same decoder as for a whole line.
std::optional<ByteRange> decode_status_line(LineSource& source, StatusSink& sink);

/// Wire names of the outcomes ("started", "already_started", ...).
std::string_view to_string(StartOutcome outcome);
std::string_view to_string(StopOutcome outcome);
std::string_view to_string(RestartOutcome outcome);
std::string_view to_string(SignalOutcome outcome);

}  // namespace minisup::control
