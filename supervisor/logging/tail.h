// Reading a child's output back: `minisupctl tail [-f] [-n LINES]`.
//
// Model. `tail -n` reads the log file: read_last_lines() reads backwards
// from the end in blocks, so its cost depends on the bytes returned, not on
// the file's size. `tail -f` does not read the file at all: a TailFollower
// subscribes to the stream's OutputSink and receives every chunk the sink is
// given, right after it was written. Because our own LogFile rotates, this
// is the exact design: a rotation (or reopen, or clear) cannot make a
// follower miss or repeat bytes, and it works the same for console and NONE
// streams, which have no file. A control client does `read_last_lines()`
// then creates the follower, both within one loop callback, so nothing
// written in between is lost (the loop is single-threaded). A stream
// without a log file (`console`) keeps its last 64 KiB in memory
// (RecentOutput, child_log.h): `tail -n` takes its lines with last_lines().
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "supervisor/logging/child_log.h"

namespace minisup::logging {

/// The answer of read_last_lines().
struct TailResult {
  std::string text;        ///< the last lines, bytes exactly as in the file
  bool truncated = false;  ///< the lines were longer than max_bytes: only their end is in text
  int error = 0;           ///< errno of the failure (ENOENT: no output yet), 0 on success
  std::string message;     ///< `open /path: No such file or directory` when error != 0
  bool ok() const noexcept { return error == 0; }
};

/// Most bytes read_last_lines() returns unless told otherwise (fits a reply
/// under the control protocol's 1 MiB line cap after JSON escaping).
inline constexpr std::size_t kDefaultTailMaxBytes = 256 * 1024;

/// Returns the last `n` lines of the regular file at `path`, like `tail -n`:
/// a final line without a newline counts as a line; the text keeps every
/// byte (including the last newline, if any). At most `max_bytes` bytes
/// are returned (the end of the text; `truncated` is set). n = 0 gives an
/// empty text. Never throws except std::bad_alloc; errors are in the result
/// (a path that is not a regular file gives EINVAL).
TailResult read_last_lines(const std::filesystem::path& path, std::size_t n,
                           std::size_t max_bytes = kDefaultTailMaxBytes);

/// The last `n` lines of `text`, counted as read_last_lines() counts them
/// in a file (a final line without a newline is a line; n = 0 gives ""):
/// `tail` of a stream kept in memory (RecentOutput, `console`).
std::string_view last_lines(std::string_view text, std::size_t n) noexcept;

/// A live subscription to one stream's output (`tail -f`). Unsubscribes
/// when destroyed. The sink may go away first (program removed): then
/// `on_close` runs and the follower becomes inactive; destroying it later
/// is still safe.
class TailFollower {
 public:
  using ChunkCallback = StreamFollowers::ChunkCallback;
  using CloseCallback = StreamFollowers::CloseCallback;

  /// Starts following `sink`: `on_chunk` receives each chunk written from
  /// now on (raw child bytes, not necessarily UTF-8 nor whole lines; a view
  /// valid only during the call: copy what you keep). `on_close` (may be
  /// empty) runs once if the sink is destroyed while followed, or when
  /// `on_chunk` throws (the follower is then unsubscribed).
  TailFollower(const OutputSink& sink, ChunkCallback on_chunk, CloseCallback on_close = {});
  ~TailFollower();
  TailFollower(const TailFollower&) = delete;
  TailFollower& operator=(const TailFollower&) = delete;

  /// True while the sink exists and this follower is subscribed.
  bool is_active() const noexcept;

 private:
  std::weak_ptr<StreamFollowers> followers_;
  StreamFollowers::Id id_;
};

}  // namespace minisup::logging
