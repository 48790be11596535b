// Child output: where the bytes a child writes to stdout/stderr end up.
//
// Model. Each process stream (stdout, stderr) has one OutputSink, which
// lives as long as the process's configuration (across restarts):
//   - LogFile      a file with size-based rotation (`.1` ... `.N`), reopen
//                  (SIGUSR2) and clear; `stdout_logfile = "/path"` or AUTO.
//   - ConsoleSink  minisupd's stdout, one line at a time, `NAME | text`
//                  (stdout) or `NAME ! text` (stderr); `console`. Keeps
//                  the stream's last 64 KiB in memory (RecentOutput), which
//                  `tail` reads as it reads a log file.
//   - PassthroughSink  minisupd's own stdout/stderr, unprefixed
//                  (`minisupd --run NAME`); keeps its last 64 KiB too.
//   - NullSink     discards; `NONE` (no pipe, unless a line watcher needs
//                  the stream: ProcessOutput::set_line_watcher).
// A line watcher (a `log` readiness probe) sees each line of a process's
// stdout and stderr as its captures read it, whatever the sink.
// Each spawn gets fresh pipes. An OutputCapture owns the read end of one
// pipe, is registered with the EventLoop, reads everything the child writes
// and hands it to the sink. The capture owns itself while the pipe is open:
// EOF (not the process's exit: a grandchild may hold the write end, see
// doc/pitfalls.md §2) unregisters and frees it, so the runtime may forget a process
// while its capture keeps draining. With redirect_stderr the child's fds 1
// and 2 are the same pipe: one capture, one sink.
//
// ProcessOutput ties this together for the runtime: it builds the sinks of
// one process from its config, makes the pipes for a spawn and starts the
// captures after the fork.
//
// Descriptors. A log file is open only while a pipe feeds it: a process's
// files are opened when its pipes are made for a spawn (create_pipes(), so
// an unwritable path is reported at the spawn, as supervisord does) and
// closed when every capture feeding them reached EOF. Each pipe and each
// running capture holds a SinkUse; the last one to go closes the file. A
// program that never started, or is STOPPED/EXITED/FATAL with its pipes
// drained, costs no descriptor (10,000 programs with AUTO logs would
// otherwise need 20,000). Nothing else needs the file open: `tail` reads it
// by path, `tail -f` is fed from the chunks (tail.h), reopen (SIGUSR2) has
// nothing to do for a closed file, and clear truncates it by path.
//
// Faults (ENOSPC, EACCES, a parent that is not a directory, a FIFO that
// would block) never throw, never block and never buffer without bound:
// the bytes that cannot be written are dropped and counted, the fault is
// reported once per episode (until a write succeeds again) through a
// ReportHook, and the file is opened again on the next write. Once the file
// takes bytes again, a marker line records the gap in the file itself:
//   [minisup: 12345 bytes dropped: No space left on device]
//
// Followers (`minisupctl tail -f`) subscribe to a sink and receive every
// chunk it is given, after it was written. Following the chunks rather than
// the file makes rotation invisible to them: nothing is missed or repeated
// when the file is renamed (see tail.h, TailFollower).
//
// Everything here runs on the event loop's thread; nothing is thread-safe.
//
// Sources, by role: output_sink.cc (StreamFollowers, OutputSink, SinkUse),
// log_file.cc (LogFile), console_sink.cc (ConsoleWriter, ConsoleSink,
// PassthroughSink),
// child_log.cc (OutputCapture, ProcessOutput).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::logging {

/// What a report is about.
enum class ReportKind {
  Fault,      ///< an error started: bytes are being dropped from now on
  Recovered,  ///< the fault ended; the message says how many bytes were lost
};

/// Receives fault reports, e.g. `open /var/log/web.log: Permission denied`.
/// Called at most once per fault episode (plus once when it ends). The
/// message carries no program name: the hook adds it.
using ReportHook = std::function<void(ReportKind kind, const std::string& message)>;

/// Subscribers to the bytes passing through a sink (see tail.h). Callbacks
/// may add or remove subscribers, including themselves, while being called.
class StreamFollowers {
 public:
  using ChunkCallback = std::function<void(std::string_view chunk)>;
  using CloseCallback = std::function<void()>;
  using Id = std::uint64_t;

  StreamFollowers() = default;
  StreamFollowers(const StreamFollowers&) = delete;
  StreamFollowers& operator=(const StreamFollowers&) = delete;

  /// Adds a subscriber; `on_close` (may be empty) is called when the sink
  /// goes away. Returns the id for remove().
  Id add(ChunkCallback on_chunk, CloseCallback on_close);
  /// Removes a subscriber; unknown ids are ignored.
  void remove(Id id) noexcept;
  /// Calls every subscriber with `chunk`. A callback that throws is removed
  /// and its `on_close` called.
  void notify(std::string_view chunk) noexcept;
  /// Calls every `on_close` and removes everyone.
  void close_all() noexcept;
  /// True when `id` is subscribed.
  bool contains(Id id) const noexcept;
  /// True when nobody is subscribed (lets sinks skip work).
  bool empty() const noexcept { return live_ == 0; }
  /// Number of subscribers.
  std::size_t size() const noexcept { return live_; }

 private:
  struct Entry {
    Id id;
    ChunkCallback on_chunk;  // empty once removed during a notify()
    CloseCallback on_close;
  };
  void compact() noexcept;

  std::vector<Entry> entries_;
  Id next_id_ = 1;
  std::size_t live_ = 0;
  int notifying_ = 0;  // > 0 while iterating: removal only marks entries
};

/// The last bytes of a stream that has no log file (`console`), kept in
/// memory so that `tail` can show them: at most kMaxBytes, the oldest
/// dropped first. Its storage grows with use up to kMaxBytes (a stream
/// that writes nothing costs nothing) and lives as long as the sink, i.e.
/// across restarts of the process, until `clear` or a config change that
/// replaces the process's outputs.
class RecentOutput {
 public:
  static constexpr std::size_t kMaxBytes = 64 * 1024;

  /// Adds bytes at the end, dropping the oldest beyond kMaxBytes.
  void append(std::string_view data);
  /// What is kept, oldest byte first (its first line may be the end of a
  /// longer one when older bytes were dropped).
  std::string text() const;
  /// Bytes kept.
  std::size_t size() const noexcept { return ring_.size(); }
  /// Forgets everything and frees the storage.
  void clear() noexcept;

 private:
  std::vector<char> ring_;  // grows to kMaxBytes, then wraps
  std::size_t start_ = 0;   // the oldest byte, once full
};

/// Where the bytes of one process stream go. Subclasses: LogFile,
/// ConsoleSink, NullSink.
class OutputSink {
 public:
  OutputSink();
  virtual ~OutputSink();
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  /// Consumes bytes read from the child, then hands them to the followers.
  /// Never throws, never blocks the loop for long (a regular file write).
  void write(std::string_view data) noexcept;
  /// One capture reached EOF: flush what is held (a partial console line).
  virtual void end_of_stream() noexcept {}
  /// Reopens the underlying file (SIGUSR2, after an external logrotate).
  virtual void reopen() noexcept {}
  /// Empties the stream's log (`minisupctl clear`). Returns false, with
  /// the reason in `error` when non-null, if there is nothing to clear or
  /// it failed.
  virtual bool clear(std::string* error) noexcept;
  /// The log file path, or empty when the sink is not a file (console,
  /// NONE): `tail` reads this file.
  virtual std::filesystem::path file_path() const { return {}; }
  /// The last output kept in memory by a sink without a file (console,
  /// --run's passthrough), which `tail` reads instead; null for the others.
  virtual const RecentOutput* recent_output() const noexcept { return nullptr; }
  /// Bytes given to this sink that its destination could not take (full
  /// disk, failing write), since the sink was made. 0 for console and NONE.
  virtual std::uint64_t dropped_bytes() const noexcept { return 0; }

  /// A pipe or capture starts feeding this sink: a LogFile opens its file
  /// (if closed) now. Paired with release(); use SinkUse rather than
  /// calling these directly.
  virtual void acquire() noexcept {}
  /// The matching end of acquire(): when no use is left, a LogFile closes
  /// its file.
  virtual void release() noexcept {}

  /// The subscribers (tail -f). Shared so a TailFollower can outlive the sink.
  const std::shared_ptr<StreamFollowers>& followers() const;

 protected:
  /// Writes `data` to the destination; see write().
  virtual void consume(std::string_view data) noexcept = 0;

 private:
  mutable std::shared_ptr<StreamFollowers> followers_;  // made by the first followers()
};

/// One use of a sink (acquire() when made, release() when destroyed or
/// reset): keeps a LogFile's file open while a pipe or capture exists.
/// Move-only.
class SinkUse {
 public:
  SinkUse() = default;
  /// Acquires `sink` (may be null: an empty use).
  explicit SinkUse(std::shared_ptr<OutputSink> sink) noexcept;
  ~SinkUse() { reset(); }
  SinkUse(SinkUse&& other) noexcept = default;
  SinkUse& operator=(SinkUse&& other) noexcept;
  SinkUse(const SinkUse&) = delete;
  SinkUse& operator=(const SinkUse&) = delete;

  /// Releases the sink now (idempotent).
  void reset() noexcept;
  /// The sink used, or null.
  const std::shared_ptr<OutputSink>& sink() const noexcept { return sink_; }

 private:
  std::shared_ptr<OutputSink> sink_;
};

/// `NONE`: the bytes are dropped (followers still see them).
class NullSink final : public OutputSink {
 protected:
  void consume(std::string_view) noexcept override {}
};

/// A child log file with supervisord's size-based rotation.
///
/// The file is opened with O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|O_NONBLOCK,
/// mode 0640 (before umask), creating missing parent directories. Before a
/// write that would take it past `maxbytes`, the file is rotated: `.N-1` ->
/// `.N` (the oldest is overwritten), ..., `.1` -> `.2`, the file -> `.1`, and
/// a fresh file is opened; with `backups = 0` the file is truncated instead.
/// A write larger than `maxbytes` goes whole into a fresh file. No byte is
/// lost or duplicated by a rotation: renaming keeps the open inode intact.
///
/// The file is checked before every write (fstat: the size, so that other
/// writers and external truncation are seen, and the link count: a file
/// deleted under us is recreated before the write, not after a SIGUSR2)
/// and, at most once a second, its path (stat): if the file was renamed
/// away by something else, it is reopened at the configured path without
/// waiting for SIGUSR2.
///
/// Open only while used (see the module comment): with OpenWhen::FirstUse
/// the constructor opens nothing, acquire() opens the file and the last
/// release() closes it; a write while closed opens it again. Everything
/// else (rotation state, fault episode, counters) lives across closes.
///
/// Gaps: when bytes were dropped, the next write that can reach the file
/// first writes a marker line where the bytes are missing,
/// `[minisup: N bytes dropped: REASON]` (REASON: the first error of the
/// gap, e.g. `No space left on device`), on a line of its own (preceded by
/// a newline if the last byte written was not one). The marker is written
/// whole or not at all (a partial one is truncated away); while it cannot
/// be written the data after it is dropped too, so the file never skips
/// bytes without saying so at that place.
///
/// Cost to know: dropping the oldest backup (the rename over `.N`) frees
/// its blocks synchronously, in the loop: about 10 ms per 50 MB on ext4
/// once the file was written back, up to 60 ms while it is still dirty
/// (a program flooding its log; see bench_log_throughput's rotating case).
/// It happens once per rotation, i.e. once per `maxbytes` written.
///
/// A path that is not a regular file (a FIFO, /dev/stdout, a tty) is never
/// rotated or truncated, and a write to it that would block drops the
/// rest of the chunk (counted and reported) rather than stall the loop.
class LogFile final : public OutputSink {
 public:
  /// When the file is first opened.
  enum class OpenWhen {
    Now,       ///< in the constructor (a standalone file)
    FirstUse,  ///< at the first acquire() or write (ProcessOutput's files)
  };

  /// Opens (or creates) `path`, now or at first use. `maxbytes` 0 = never
  /// rotate; `backups` 0 = truncate instead of keeping `.1`. `report`
  /// receives fault reports. A failure to open is reported, not thrown;
  /// the next write retries.
  LogFile(std::string path, std::uint64_t maxbytes, int backups, ReportHook report = {},
          OpenWhen open_when = OpenWhen::Now);
  ~LogFile() override;

  /// Opens the path again and switches to the new file (SIGUSR2). If that
  /// fails, writing goes on into the old file (if one is open), the fault
  /// is reported once, and the next write tries again. A closed file
  /// (nothing feeds it) is left closed: the next open finds the new path.
  void reopen() noexcept override;
  /// Truncates the live file to 0 bytes (backups are kept). A closed file
  /// is truncated by path without being created (no file: nothing to
  /// clear, success).
  bool clear(std::string* error) noexcept override;
  std::filesystem::path file_path() const override { return path_; }
  /// Opens the file if closed (a failure is reported once per episode).
  void acquire() noexcept override;
  /// Closes the file when this was the last use.
  void release() noexcept override;

  /// Changes the rotation limits (config update); takes effect on the next write.
  void set_limits(std::uint64_t maxbytes, int backups) noexcept;
  /// Replaces the hook that hears of faults and recoveries.
  void set_report(ReportHook report) noexcept { report_ = std::move(report); }

  /// The configured path.
  const std::string& path() const noexcept { return path_; }
  /// The size of the live file as last seen (bytes).
  std::uint64_t size() const noexcept { return size_; }
  /// Bytes dropped because of faults since construction.
  std::uint64_t dropped_bytes() const noexcept override { return dropped_bytes_; }
  /// Bytes dropped since the last marker line: a marker is due before the
  /// next byte written when > 0.
  std::uint64_t unmarked_dropped_bytes() const noexcept { return episode_dropped_; }
  /// Current uses (acquire() minus release()).
  int uses() const noexcept { return uses_; }
  /// Rotations done since construction.
  std::uint64_t rotations() const noexcept { return rotations_; }
  /// True while a write fault episode is in progress.
  bool is_faulted() const noexcept { return write_fault_; }
  /// The message of the last fault (kept after recovery), or empty.
  const std::string& last_error() const noexcept { return last_error_; }
  /// True when the file is open.
  bool is_open() const noexcept { return static_cast<bool>(fd_); }

 protected:
  void consume(std::string_view data) noexcept override;

 private:
  /// Opens the path into `fd` (creating parent directories); on failure
  /// returns false with the message in `error` and the bare reason
  /// (`Not a directory`) in `cause`.
  bool open_path(sys::UniqueFd& fd, std::string& error, std::string& cause) noexcept;
  /// Replaces the descriptor by a fresh one at the path. On failure the old
  /// descriptor (if any) is kept, marked detached, and the fault reported.
  bool reattach() noexcept;
  /// Takes `fd` as the live file: records its identity and size.
  void adopt(sys::UniqueFd fd) noexcept;
  /// Updates size_, reattaches if the file was deleted or renamed away.
  void refresh() noexcept;
  /// Rotates (or truncates with backups = 0). Failures are reported; the
  /// write then goes to the current file.
  void rotate() noexcept;
  /// Writes `data`, counting what is written; returns the bytes written
  /// before a failure (with its errno in `err`).
  std::size_t write_bytes(std::string_view data, int& err) noexcept;
  void write_all(std::string_view data) noexcept;
  /// The marker line for the current gap (see the class comment).
  std::string marker_line() const;
  /// Writes the marker line whole; on failure removes a partial one and
  /// returns false (the fault is reported).
  bool write_marker(const std::string& marker) noexcept;
  /// Closes the descriptor (no use left).
  void close_file() noexcept;
  /// Counts `bytes` as dropped; `cause` names the first error of a gap.
  void drop(std::size_t bytes, const std::string& cause) noexcept;
  void fault(bool& flag, const std::string& message) noexcept;
  void recover(bool& flag, const std::string& message) noexcept;
  std::string backup_path(int index) const;

  std::string path_;
  std::uint64_t maxbytes_;
  int backups_;
  ReportHook report_;
  sys::UniqueFd fd_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool is_regular_ = true;
  bool detached_ = false;  // fd_ is no longer the file at path_ (reopen failed)
  std::uint64_t size_ = 0;
  std::chrono::steady_clock::time_point next_path_check_{};
  bool line_open_ = false;  // the last byte we wrote was not a newline
  int uses_ = 0;            // acquire() minus release()
  std::uint64_t dropped_bytes_ = 0;
  std::uint64_t episode_dropped_ = 0;  // bytes dropped since the last marker line
  std::string gap_cause_;              // the first error of that gap
  std::uint64_t rotations_ = 0;
  bool write_fault_ = false;   // open/write failing: bytes are dropped
  bool reopen_fault_ = false;  // the path cannot be opened: writing goes on into the old file
  bool rotate_fault_ = false;  // rotation failing: the file grows past maxbytes
  std::string last_error_;
};

/// minisupd's stdout as the destination of `console` streams.
///
/// Lines are formatted as `NAME | text` (stdout) or `NAME ! text` (stderr),
/// NAME padded to name_width(), the prefix coloured per name (foreman's
/// palette) when the output is a terminal and NO_COLOR is unset.
///
/// Never blocking the loop, never failing on a pipe: the writer never seeks
/// (no "Illegal seek"). For a pipe, FIFO or terminal it writes through its
/// own non-blocking open file description (opened via /proc/self/fd/N), so
/// the O_NONBLOCK flag is not forced on a description shared with minisupd's
/// stderr or with the parent shell; a socket (journald) is written with
/// send(MSG_DONTWAIT); a regular file is written directly. Lines that cannot
/// be written at once wait in a buffer of at most `max_buffer` bytes, flushed
/// when the loop reports the descriptor writable; a line that does not fit
/// is dropped, counted and reported once per episode. If /proc is not
/// available, the descriptor is written as it is (blocking if it blocks).
class ConsoleWriter {
 public:
  static constexpr std::size_t kDefaultMaxBuffer = 1 << 20;

  /// Color choice: from the environment (tty and no NO_COLOR), or forced.
  enum class Color { Auto, Always, Never };

  /// Writes to `fd` (not owned; normally STDOUT_FILENO). `loop` is used to
  /// wait for writability and must outlive the writer.
  ConsoleWriter(loop::EventLoop& loop, int fd = 1, std::size_t max_buffer = kDefaultMaxBuffer,
                Color color = Color::Auto, ReportHook report = {});
  ~ConsoleWriter();
  ConsoleWriter(const ConsoleWriter&) = delete;
  ConsoleWriter& operator=(const ConsoleWriter&) = delete;

  /// The width names are padded to (the longest process name).
  void set_name_width(std::size_t width) noexcept { name_width_ = width; }
  std::size_t name_width() const noexcept { return name_width_; }

  /// Queues one line: prefix, `text` (without its newline), newline. A line
  /// that does not fit in the buffer is dropped and counted (a line is
  /// always taken when nothing is pending).
  void add_line(std::string_view name, char marker, std::string_view text) noexcept;
  /// Queues `data` as it is (no prefix, no newline added): Passthrough
  /// streams. Dropped and counted like a line when it does not fit.
  void add_raw(std::string_view data) noexcept;
  /// Writes as much of the queue as the descriptor takes now; the rest is
  /// written when the loop reports it writable.
  void send() noexcept;
  /// Waits up to `max_wait` for the queue to drain (shutdown). Blocks.
  void flush(std::chrono::milliseconds max_wait) noexcept;

  /// The writer of minisupd's stderr (fd 2) that Passthrough stderr
  /// streams use; set by the daemon. Without one they come here.
  void set_stderr_writer(std::shared_ptr<ConsoleWriter> writer) noexcept {
    stderr_writer_ = std::move(writer);
  }
  const std::shared_ptr<ConsoleWriter>& stderr_writer() const noexcept { return stderr_writer_; }

  /// True when prefixes are coloured.
  bool uses_color() const noexcept { return color_; }
  /// Bytes waiting to be written.
  std::size_t pending_bytes() const noexcept { return buffer_.size() - sent_; }
  /// Bytes dropped since construction (buffer full or write error).
  std::uint64_t dropped_bytes() const noexcept { return dropped_bytes_; }

 private:
  enum class Mode { Write, Send };
  std::string_view color_for(std::string_view name);
  void drop(std::size_t bytes, const std::string& why) noexcept;
  /// Makes room for `size` more bytes in the queue; false (the bytes
  /// dropped and counted) when they do not fit.
  bool make_room(std::size_t size) noexcept;
  void on_writable() noexcept;

  loop::EventLoop& loop_;
  int fd_;                // the descriptor written to
  sys::UniqueFd own_fd_;  // our own non-blocking description, when opened
  Mode mode_ = Mode::Write;
  bool pollable_ = false;  // epoll can wait for it (not a regular file)
  bool watching_ = false;  // registered for EPOLLOUT
  std::size_t max_buffer_;
  bool color_ = false;
  ReportHook report_;
  std::size_t name_width_ = 0;
  std::string buffer_;
  std::size_t sent_ = 0;  // bytes of buffer_ already written
  std::map<std::string, std::size_t, std::less<>> colors_;
  std::uint64_t dropped_bytes_ = 0;
  std::uint64_t episode_dropped_ = 0;
  bool fault_ = false;
  std::shared_ptr<ConsoleWriter> stderr_writer_;
};

/// Which stream a console sink carries: selects the `|` or `!` marker.
enum class StreamKind { Stdout, Stderr };

/// `console`: complete lines go to the ConsoleWriter as soon as they are
/// complete; a partial line is held until its newline arrives, flushed as a
/// line of its own when it exceeds kMaxPartialLine, and flushed at EOF.
/// (If a previous spawn's pipe is still open through a grandchild, both
/// captures feed the same sink and may join halves of lines.)
class ConsoleSink final : public OutputSink {
 public:
  static constexpr std::size_t kMaxPartialLine = 64 * 1024;

  /// `name` is the process name (`web`, `web:3`); `stream` selects the marker.
  ConsoleSink(std::shared_ptr<ConsoleWriter> writer, std::string name, StreamKind stream);
  ~ConsoleSink() override;

  void end_of_stream() noexcept override;
  /// The last RecentOutput::kMaxBytes of the stream, raw (no prefixes).
  const RecentOutput* recent_output() const noexcept override { return &recent_; }
  /// Empties recent_output() (what was written to the console stays there).
  bool clear(std::string* error) noexcept override;

 protected:
  void consume(std::string_view data) noexcept override;

 private:
  std::shared_ptr<ConsoleWriter> writer_;
  std::string name_;
  char marker_;
  std::string partial_;
  RecentOutput recent_;
};

/// Passthrough (`minisupd --run NAME`): the process's stdout goes to
/// minisupd's stdout, its stderr to minisupd's stderr, unprefixed, through
/// a ConsoleWriter (never blocking the loop; see ConsoleWriter). Complete
/// lines are written as soon as they arrive; the unterminated rest of a
/// chunk is held until its newline (so that a `console` line of another
/// program never lands inside one of its lines), but never more than
/// kMaxPartialLine bytes, and flushed at EOF. A prompt without a newline
/// therefore shows only once the line ends (or the stream does).
class PassthroughSink final : public OutputSink {
 public:
  static constexpr std::size_t kMaxPartialLine = 64 * 1024;

  explicit PassthroughSink(std::shared_ptr<ConsoleWriter> writer);
  ~PassthroughSink() override;

  void end_of_stream() noexcept override;
  /// The last RecentOutput::kMaxBytes of the stream.
  const RecentOutput* recent_output() const noexcept override { return &recent_; }
  /// Empties recent_output().
  bool clear(std::string* error) noexcept override;

 protected:
  void consume(std::string_view data) noexcept override;

 private:
  std::shared_ptr<ConsoleWriter> writer_;
  std::string partial_;
  RecentOutput recent_;
};

/// Receives each line a process writes, for a `log` readiness probe (see
/// ProcessOutput::set_line_watcher). `line` has no newline and is valid
/// only during the call.
using LineWatcher = std::function<void(StreamKind stream, std::string_view line)>;

/// The watcher of one process, shared by its ProcessOutput and captures so
/// that it can be set, replaced or cleared while captures run. Holds the
/// function through a shared_ptr: a capture calls a copy of the pointer, so
/// the watcher may clear or replace itself from inside its call.
struct LineWatch {
  std::shared_ptr<const LineWatcher> watcher;  ///< null: no watcher
};

/// Reads one pipe (a child's stdout, stderr, or both) into a sink.
///
/// Created with start(); it then owns itself through its registration with
/// the loop: the caller may keep the returned pointer (to close() early or
/// inspect it) or drop it. It reads up to kReadChunk per read() call, until
/// EAGAIN or kMaxPerWakeup bytes (so one flooding child cannot starve the
/// loop; epoll is level-triggered and comes back). On EOF (every write end
/// closed: the child and any descendant that inherited it) or a read error,
/// it calls the sink's end_of_stream(), unregisters, closes the pipe,
/// releases its use of the sink (the last use closes a log file) and calls
/// `on_eof`. The loop must outlive every capture that is still open.
///
/// Throughput (bench/log_throughput.cc): every capture shares one read
/// buffer of kReadChunk = 256 KiB. That size was measured: 64-128 KiB cost
/// more syscalls, 1 MiB (as large as L2) costs 2-5x more CPU per byte
/// because the copy no longer stays in cache. When a read empties a full
/// default-sized pipe (a fast writer), the pipe is enlarged to kBigPipe
/// (F_SETPIPE_SZ) so the writer runs longer between our wakeups; at most
/// kMaxBigPipes pipes are enlarged at a time, so flooding programs cannot
/// use up an unprivileged user's pipe-user-pages-soft budget (after which
/// the kernel gives every new pipe of that user a tiny buffer).
/// splice(2) into the file was measured too and did not pay (and cannot
/// write to an O_APPEND file).
class OutputCapture : public std::enable_shared_from_this<OutputCapture> {
 public:
  static constexpr std::size_t kReadChunk = 256 << 10;
  static constexpr std::size_t kMaxPerWakeup = 4 << 20;
  static constexpr std::size_t kBigPipe = 1 << 20;
  static constexpr int kMaxBigPipes = 16;

  /// Starts capturing `read_end` (made non-blocking here) into `sink`.
  /// `on_eof` (may be empty) runs once after EOF. Throws sys::SysError if
  /// the loop cannot watch the descriptor.
  static std::shared_ptr<OutputCapture> start(loop::EventLoop& loop, sys::UniqueFd read_end,
                                              std::shared_ptr<OutputSink> sink,
                                              std::function<void()> on_eof = {});
  ~OutputCapture();
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  /// Reads what is already in the pipe, then stops as if at EOF (the write
  /// end's holders get EPIPE from then on). Idempotent.
  void close() noexcept;
  /// Reads what is already in the pipe (up to kMaxPerWakeup), as a wakeup
  /// from the loop would; at EOF the capture finishes as usual.
  void read_now() noexcept;
  /// close()s every capture of `loop` that is still open, and returns how
  /// many there were. For minisupd's exit: once the loop stops, nothing
  /// else reads the pipes, and a program's last lines (written just before
  /// it exited, or by a descendant since killed) may still be in them.
  static std::size_t close_all(loop::EventLoop& loop) noexcept;
  /// True until EOF or close().
  bool is_open() const noexcept { return static_cast<bool>(fd_); }
  /// Bytes read from the pipe so far.
  std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  /// The sink written to.
  const std::shared_ptr<OutputSink>& sink() const noexcept { return sink_; }

  /// The longest line handed to a line watcher: longer lines are cut to
  /// this many bytes (the rest up to the newline is skipped), which bounds
  /// what a `log` probe's std::regex has to scan.
  static constexpr std::size_t kMaxWatchedLine = 4096;
  /// Hands every complete line read from now on to `watch`'s watcher (when
  /// it has one), as `stream`, before the bytes go to the sink. A last line
  /// without a newline is handed over at EOF. Null `watch`: no watching,
  /// and no cost per read beyond one pointer test.
  void watch_lines(std::shared_ptr<LineWatch> watch, StreamKind stream) noexcept;

 private:
  /// Lets start() use std::make_shared (one allocation with the control
  /// block) while nobody else can construct a capture.
  struct Key {
    explicit Key() = default;
  };

 public:
  OutputCapture(Key, loop::EventLoop& loop, sys::UniqueFd fd, std::shared_ptr<OutputSink> sink,
                std::function<void()> on_eof);

 private:
  /// Reads until EAGAIN, EOF or the per-wakeup budget. Returns true at EOF.
  bool drain(std::size_t budget) noexcept;
  void on_ready(std::uint32_t events) noexcept;
  /// Enlarges the pipe once a read of `got` bytes shows it was full.
  void grow_pipe(std::size_t got) noexcept;
  /// Cuts `data` into lines for the line watcher.
  void feed_lines(std::string_view data) noexcept;
  /// Calls the watcher (if still set) with one line.
  void call_watcher(std::string_view line) noexcept;
  void finish() noexcept;

  loop::EventLoop& loop_;
  sys::UniqueFd fd_;
  std::shared_ptr<OutputSink> sink_;
  SinkUse use_;  // keeps the sink's file open until EOF
  std::function<void()> on_eof_;
  std::uint64_t bytes_read_ = 0;
  std::size_t pipe_size_ = 0;         // the pipe's capacity, once known
  bool tried_growing_ = false;        // the pipe was considered for enlarging
  bool holds_big_pipe_ = false;       // counts against kMaxBigPipes
  std::shared_ptr<LineWatch> watch_;  // null unless lines are watched
  StreamKind stream_ = StreamKind::Stdout;
  std::string partial_line_;  // the watched line so far (at most kMaxWatchedLine)
  // Every open capture, in a list of its own (close_all()): linked in by
  // start(), unlinked when the pipe is closed, so it costs no allocation.
  OutputCapture* open_prev_ = nullptr;
  OutputCapture* open_next_ = nullptr;
  void link_open() noexcept;
  void unlink_open() noexcept;
};

/// The pipes for one spawn. The child gets child_stdout() as fd 1 and
/// child_stderr() as fd 2 (the same pipe when redirect_stderr). Every end
/// is O_CLOEXEC; the parent closes the write ends after the fork (done by
/// ProcessOutput::start_capture, or by destroying this object).
/// A stream whose sink is NONE gets no pipe at all: the child writes to
/// /dev/null (-1 below), which costs no descriptors and no wakeups; unless
/// a line watcher is set (ProcessOutput::set_line_watcher): then it is
/// piped, watched and discarded.
/// Each pipe holds a use of its sink, so its log file is open from
/// create_pipes() on; start_capture() hands it to the capture, and dropping
/// the pipes unused (a failed spawn) releases it.
struct OutputPipes {
  sys::UniqueFd stdout_read;   ///< empty when stdout is NONE
  sys::UniqueFd stdout_write;  ///< empty when stdout is NONE
  sys::UniqueFd stderr_read;   ///< empty with redirect_stderr, or stderr NONE
  sys::UniqueFd stderr_write;  ///< empty with redirect_stderr, or stderr NONE
  bool redirect_stderr = false;
  SinkUse stdout_use;  ///< the stdout sink, while stdout_read exists
  SinkUse stderr_use;  ///< the stderr sink, while stderr_read exists

  /// The descriptor to install as the child's fd 1 (-1: /dev/null).
  int child_stdout() const noexcept { return stdout_write ? stdout_write.get() : -1; }
  /// The descriptor to install as the child's fd 2 (-1: /dev/null).
  int child_stderr() const noexcept {
    if (redirect_stderr) return child_stdout();
    return stderr_write ? stderr_write.get() : -1;
  }
};

/// The output of one process (one `NAME` or `NAME:N`): its sinks, built
/// once from the config and kept across restarts, and its live captures.
class ProcessOutput {
 public:
  /// Builds the sinks for `process` of `program`: LogFile for File targets
  /// (with the program's maxbytes/backups), ConsoleSink for Console (needs
  /// `console`, else the stream is discarded), PassthroughSink for
  /// Passthrough (stdout to `console`, stderr to its stderr_writer();
  /// without `console` discarded), NullSink for None. With
  /// redirect_stderr the stderr sink is the stdout sink; two File targets
  /// with the same path also share one LogFile. `report` receives fault
  /// reports; when empty they go to minisupd's log as
  /// `NAME: <message>` (error for faults, info for recoveries).
  ProcessOutput(const config::ProgramConfig& program, const config::ProcessConfig& process,
                std::shared_ptr<ConsoleWriter> console, ReportHook report = {});
  ~ProcessOutput();
  ProcessOutput(const ProcessOutput&) = delete;
  ProcessOutput& operator=(const ProcessOutput&) = delete;

  /// Creates the pipes for one spawn (one pipe with redirect_stderr) and
  /// opens the log files they feed (an open failure is reported, not
  /// thrown). Throws sys::SysError (e.g. EMFILE): treat it as a failed spawn.
  OutputPipes create_pipes() const;
  /// After the fork: closes the write ends and starts capturing the read
  /// ends into the sinks. Captures of an earlier spawn that are still
  /// draining (a grandchild holds the pipe) keep going. Throws
  /// sys::SysError if the loop cannot watch a pipe.
  void start_capture(loop::EventLoop& loop, OutputPipes pipes);
  /// Sets the watcher that gets each line this process writes to stdout or
  /// stderr (a `log` readiness probe), or clears it (an empty watcher).
  /// It applies to running captures at once and to later spawns. Lines are
  /// cut at OutputCapture::kMaxWatchedLine bytes. With redirect_stderr
  /// both streams arrive as StreamKind::Stdout. A stream with the NONE
  /// target is piped (and its bytes discarded after the watcher) only for
  /// spawns made while a watcher is set: set it before the spawn. The
  /// watcher may clear or replace itself from inside its call. Without a
  /// watcher (never set, or cleared) reading costs nothing extra.
  void set_line_watcher(LineWatcher watcher);
  /// True while a line watcher is set.
  bool has_line_watcher() const noexcept { return watch_ && watch_->watcher; }

  /// Reads what the pipes of this process hold now, as if the loop had
  /// woken up for them, and leaves them open. Called when the process has
  /// been reaped: whatever it wrote before exiting is then in its logs by
  /// the time its exit is reported (a `stop` reply, `wait`, an event).
  void read_buffered() noexcept;
  /// Captures still open (0 once every pipe reached EOF).
  std::size_t open_captures() const noexcept;

  /// Reopens the log files (SIGUSR2).
  void reopen() noexcept;
  /// Truncates the log files of both streams (`minisupctl clear`). Returns
  /// false with the reasons in `error` if any failed.
  bool clear(std::string* error) noexcept;

  /// The sink of a stream (never null; the same object for both streams
  /// with redirect_stderr).
  const std::shared_ptr<OutputSink>& sink(StreamKind stream) const noexcept {
    return stream == StreamKind::Stdout ? stdout_ : stderr_;
  }
  /// True when stderr goes into the stdout pipe.
  bool redirect_stderr() const noexcept { return redirect_stderr_; }
  /// Bytes the log files of both streams could not take (each sink
  /// counted once), since this object was made: `status` dropped_bytes.
  std::uint64_t dropped_bytes() const noexcept;
  /// The process name.
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  bool redirect_stderr_;
  bool default_report_ = false;  ///< the log files report through our name_
  std::shared_ptr<OutputSink> stdout_;
  std::shared_ptr<OutputSink> stderr_;
  struct CaptureRef {
    std::weak_ptr<OutputCapture> capture;
    StreamKind stream;
  };
  std::vector<CaptureRef> captures_;
  std::shared_ptr<LineWatch> watch_;  ///< made by the first set_line_watcher()
};

/// The console name width for a configuration: the longest process name.
std::size_t console_name_width(const std::vector<config::ProgramConfig>& programs) noexcept;

}  // namespace minisup::logging
