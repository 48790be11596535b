// What minisupctl prints, and the exit code it returns, as pure functions.
//
// Model: minisupctl decodes a reply (protocol.h) and hands it here; these
// functions return the text to print (supervisorctl's wording: `web:
// started`, `web: ERROR (not running)`, the aligned status table) and the
// LSB exit code. Every exit code decision of minisupctl is made in this
// file, as supervisorctl keeps LSBInitExitStatuses in one place; the table
// is DESIGN.md's:
//   0  success, including `ERROR (already started)` / `ERROR (not running)`
//      on start / stop, and a stop that needed SIGKILL (unless
//      --require-graceful)
//   1  generic failure; no such program (commands other than status);
//      stop --require-graceful when SIGKILL was needed
//   2  bad arguments
//   3  status: a listed process is STOPPED, EXITED or FATAL;
//      wait: a process reached FATAL (or EXITED/STOPPED waiting for RUNNING)
//   4  status: no such program, or minisupd unreachable
//   7  start/restart: a program failed to start; signal / pid NAME: the
//      process is not running; other commands: minisupd unreachable
//   99 wait: the timeout passed
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/control/protocol.h"
#include "supervisor/ctl/bulk_memory.h"

namespace minisup::ctl {

// The protocol's types, as every function below takes them.
using control::ClearReply;
using control::CommandKind;
using control::ConfigChanges;
using control::GapEvent;
using control::ProcessInfo;
using control::RestartReply;
using control::SignalReply;
using control::StartReply;
using control::StateEvent;
using control::StopReply;
using control::WaitReply;

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadArguments = 2;
inline constexpr int kExitNotRunning = 3;     ///< LSB "program is not running"
inline constexpr int kExitStatusUnknown = 4;  ///< LSB "program or service status is unknown"
inline constexpr int kExitNotRunningOrFailed =
    7;  ///< LSB "program is not running" (start/init scripts)
inline constexpr int kExitWaitTimeout = 99;

/// What the status table shows of each process, read from a status reply
/// one process at a time (a control::StatusSink): 64 bytes a process plus
/// its text, where a ProcessInfo is over 400, so that the table of 10,000
/// processes touches a sixth of the memory (on a VM, a fresh page costs
/// more than the bytes on it). Text is copied into blocks that never move,
/// which the rows view. Past the first few hundred rows, rows and text are
/// kept in BulkMemory (huge pages where the kernel has them).
class StatusTable final : public control::StatusSink {
 public:
  /// The tree_* members (status --tree), when any was sent.
  struct Tree {
    std::optional<int> processes;
    std::optional<std::uint64_t> rss_bytes;
    std::optional<control::Seconds> cpu_seconds;
  };
  struct Row {
    std::string_view name, state, description;  ///< description: describe() when sent empty
    std::uint64_t dropped_bytes = 0;
    std::uint32_t tree = kNoTree;  ///< index in trees(), or kNoTree
    bool old = false;
  };
  static constexpr std::uint32_t kNoTree = ~std::uint32_t{0};

  StatusTable() = default;
  /// The table of `processes`.
  static StatusTable of(const std::vector<ProcessInfo>& processes);
  StatusTable(const StatusTable&) = delete;
  StatusTable& operator=(const StatusTable&) = delete;
  StatusTable(StatusTable&&) = default;  // (the rows' text stays where it is)
  StatusTable& operator=(StatusTable&&) = default;

  void restart() override;
  void add(const ProcessInfo& process) override;
  const BulkArray<Row>& rows() const { return rows_; }
  /// The tree of `row`; nullptr when none was sent.
  const Tree* tree(const Row& row) const {
    return row.tree == kNoTree ? nullptr : &trees_[row.tree];
  }

 private:
  /// A copy of `text` in the blocks.
  std::string_view keep(std::string_view text);

  BulkArray<Row> rows_;
  std::deque<Tree> trees_;
  std::unique_ptr<char[]> first_block_;  ///< text of a small table, on the heap
  std::vector<BulkMemory> blocks_;       ///< text past it
  char* free_ = nullptr;                 ///< the unused end of the last block
  std::size_t left_ = 0;                 ///< bytes at free_
};

/// minisupd could not be reached (no socket, refused, no reply): 4 for
/// status, 7 for every other command.
int exit_code_unreachable(CommandKind command);
/// minisupd answered `command` with the error `error_code` (kept as text:
/// it may be a code newer than this client). status + no_such_program: 4;
/// wait + timeout: 99; wait + unexpected_state: 3; bad_request, bad_signal:
/// 2; anything else: 1.
int exit_code_for_error(CommandKind command, std::string_view error_code);
/// status: 3 when any listed process is STOPPED, EXITED or FATAL, else 0.
int exit_code_for_status(const StatusTable& table);
int exit_code_for_status(const std::vector<ProcessInfo>& processes);
/// start: 7 when any process failed, else 0 (already_started is success).
int exit_code_for_start(const StartReply& reply);
/// restart: 7 when any process failed to start again, else 0; a rolling
/// restart (`rolling`) that failed: 1 (the old processes keep serving).
int exit_code_for_restart(const RestartReply& reply, bool rolling = false);
/// stop: 0 (not_running and SIGKILL included), except 1 when
/// `require_graceful` and any process needed SIGKILL, or when
/// `require_clean` and any stopped process was not clean (is_clean_stop).
int exit_code_for_stop(const StopReply& reply, bool require_graceful, bool require_clean = false);
/// signal: 7 (supervisorctl's NOT_RUNNING) when a process named in
/// `names` itself was not running; 0 otherwise. A process selected through
/// `all`, `GROUP:*` or its program's name counts only when running, as
/// supervisorctl signals only the running processes of a group.
int exit_code_for_signal(const SignalReply& reply, const std::vector<std::string>& names);
/// pid NAME: 7 when the process is not running (pid 0), as supervisorctl;
/// minisupd's own pid (no NAME): 0.
int exit_code_for_pid(long long pid, bool named);
/// A stopped process ended cleanly: it exited by itself after the stop
/// signal (no SIGKILL) with a code in its exitcodes. A process killed by
/// its stop signal itself (no handler) is not clean. A reply of a minisupd
/// without the `expected` key counts exit code 0 as clean.
bool is_clean_stop(const control::StopResult& result);
/// What the stop's requirements found wrong, one line per process, for
/// stderr: `web: needed SIGKILL after 10.0 s (--require-graceful)`,
/// `web: not a clean stop: killed by SIGTERM (--require-clean)`. Empty when
/// every requirement holds.
std::string render_stop_problems(const StopReply& reply, bool require_graceful, bool require_clean);

/// What render_status() and exit_code_for_status() read of each process:
/// minisupctl asks minisupd for these members only (StatusCommand::fields)
/// when it prints the table.
inline const std::vector<std::string> kStatusTableFields{"name", "state", "description",
                                                         "dropped_bytes", "old"};

/// The members `status --tree` asks for on top of kStatusTableFields.
inline const std::vector<std::string> kStatusTreeFields{std::string(control::kTreeProcessesKey),
                                                        std::string(control::kTreeRssBytesKey),
                                                        std::string(control::kTreeCpuSecondsKey)};

/// The status table, one line per process:
/// `NAME  STATE     DESCRIPTION`, names padded to the longest name plus two
/// spaces, states padded to 10 columns (a longer one gets one blank), trailing blanks removed. With
/// `color`, state names are wrapped in ANSI colours (green RUNNING, yellow
/// STARTING/BACKOFF/STOPPING, red EXITED/FATAL); alignment is unchanged.
/// A process whose description is empty is described with describe().
/// With `tree` (`status --tree`), a header line comes first and three
/// right-aligned columns follow STATE: PROCS (tree_processes), RSS
/// (format_bytes of tree_rss_bytes) and CPU (format_cpu_time of
/// tree_cpu_seconds), each `-` when null:
///   NAME  STATE     PROCS      RSS      CPU  DESCRIPTION
///   web   RUNNING       4    12.3M    1.25s  pid 1234, uptime 0:01:05
///   db    STOPPED       -        -        -  Not started
std::string render_status(const StatusTable& table, bool color, bool tree = false);
/// The same table, handed to `write` a piece at a time (whole lines, up to
/// ~64 KB), for minisupctl to print without building the whole text.
void render_status(const StatusTable& table, bool color, bool tree,
                   const std::function<void(std::string_view)>& write);
std::string render_status(const std::vector<ProcessInfo>& processes, bool color, bool tree = false);

/// A size for people, in units of 1024: `512B`, `980.0K`, `12.3M`, `1.5G`.
std::string format_bytes(std::uint64_t bytes);
/// A CPU time for people: `0.00s`, `1.25s` (under a minute), `12m05s`
/// (under an hour), `3h02m`; NaN and negative times are `0.00s`.
std::string format_cpu_time(control::Seconds cpu);

/// `web: started`, `web: ERROR (already started)`, `web: ERROR (spawn error: ...)`.
std::string render_start(const StartReply& reply);
/// `web: stopped`, `web: stopped (needed SIGKILL after 10.0 s)`, `web: ERROR (not running)`.
std::string render_stop(const StopReply& reply);
/// `web: stopped (needed SIGKILL after ...)` when it did, then the start line.
std::string render_restart(const RestartReply& reply);
/// `web: signalled`, `web: ERROR (not running)`.
std::string render_signal(const SignalReply& reply);
/// `web: cleared`.
std::string render_clear(const ClearReply& reply);
/// reread: `NAME: added`, `NAME: changed`, `NAME: removed`, or
/// `No config updates to processes`.
std::string render_reread(const ConfigChanges& changes);
/// update: `NAME: added`, `NAME: updated`, `NAME: removed`, or
/// `No config updates to processes`.
std::string render_update(const ConfigChanges& changes);
/// wait: `web: RUNNING` per process.
std::string render_wait(const WaitReply& reply);
/// no_such_program: `NAME: ERROR (no such process)` per unknown name.
std::string render_no_such_program(const std::vector<std::string>& names);
/// events: `2024-11-21 10:02:03 web:0 RUNNING -> EXITED (exited with status 3)`
/// (local time).
std::string render_event(const StateEvent& event);
/// events: `(missed events 5 to 9: no longer buffered by minisupd)`.
std::string render_gap(const GapEvent& gap);
/// An `events` line for a ProcessesChangedEvent.
std::string render_processes_changed();

}  // namespace minisup::ctl
