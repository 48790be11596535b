#include "supervisor/logging/child_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <system_error>
#include <utility>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::logging {

namespace {

using std::chrono::steady_clock;

/// How often a regular log file's path is checked for an external rename
/// or deletion (an fstat per write catches deletion at once).
constexpr auto kPathCheckInterval = std::chrono::seconds(1);

/// Calls a report hook, never letting an exception escape.
void call_report(const ReportHook& hook, ReportKind kind, const std::string& message) noexcept {
  if (!hook) return;
  try {
    hook(kind, message);
  } catch (...) {
    // A failing reporter must not take the log writer down with it.
  }
}

std::string errno_message(const char* what, const std::string& object, int err) {
  std::string message = what;
  message += ' ';
  message += object;
  message += ": ";
  message += sys::error_text(err);
  return message;
}

}  // namespace

// ---------------------------------------------------------------------------
// StreamFollowers

StreamFollowers::Id StreamFollowers::add(ChunkCallback on_chunk, CloseCallback on_close) {
  Id id = next_id_++;
  entries_.push_back(Entry{id, std::move(on_chunk), std::move(on_close)});
  ++live_;
  return id;
}

void StreamFollowers::remove(Id id) noexcept {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->id != id || !it->on_chunk) continue;
    --live_;
    if (notifying_ > 0) {
      // notify() is iterating by index: only mark the entry (an empty
      // on_chunk); compact() erases it when notify() is done. A running
      // callback is a copy, so clearing the original is safe.
      it->on_chunk = nullptr;
      it->on_close = nullptr;
    } else {
      entries_.erase(it);
    }
    return;
  }
}

bool StreamFollowers::contains(Id id) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [id](const Entry& entry) { return entry.id == id && entry.on_chunk; });
}

void StreamFollowers::notify(std::string_view chunk) noexcept {
  if (live_ == 0) return;
  ++notifying_;
  // Entries added by a callback do not see this chunk. The vector may grow
  // meanwhile, so index it, and call a copy of the callback, which survives
  // the subscriber removing itself.
  const std::size_t count = entries_.size();
  for (std::size_t i = 0; i < count && i < entries_.size(); ++i) {
    if (!entries_[i].on_chunk) continue;
    try {
      ChunkCallback callback = entries_[i].on_chunk;
      callback(chunk);
    } catch (...) {
      // A subscriber that cannot take more (e.g. its client is gone) is
      // dropped, and told so through its on_close.
      CloseCallback on_close = entries_[i].on_close;
      remove(entries_[i].id);
      if (on_close) {
        try {
          on_close();
        } catch (...) {
        }
      }
    }
  }
  if (--notifying_ == 0) compact();
}

void StreamFollowers::close_all() noexcept {
  std::vector<Entry> entries;
  entries.swap(entries_);
  live_ = 0;
  for (Entry& entry : entries) {
    if (!entry.on_chunk || !entry.on_close) continue;
    try {
      entry.on_close();
    } catch (...) {
      // Nothing to do: the subscriber is gone either way.
    }
  }
}

void StreamFollowers::compact() noexcept {
  std::erase_if(entries_, [](const Entry& entry) { return !entry.on_chunk; });
}

// ---------------------------------------------------------------------------
// OutputSink

OutputSink::OutputSink() = default;

OutputSink::~OutputSink() {
  if (followers_) followers_->close_all();
}

const std::shared_ptr<StreamFollowers>& OutputSink::followers() const {
  if (!followers_) followers_ = std::make_shared<StreamFollowers>();
  return followers_;
}

void OutputSink::write(std::string_view data) noexcept {
  if (data.empty()) return;
  consume(data);
  if (followers_) followers_->notify(data);
}

bool OutputSink::clear(std::string* error) noexcept {
  if (error != nullptr) *error = "no log file to clear";
  return false;
}

// ---------------------------------------------------------------------------
// SinkUse

SinkUse::SinkUse(std::shared_ptr<OutputSink> sink) noexcept : sink_(std::move(sink)) {
  if (sink_) sink_->acquire();
}

SinkUse& SinkUse::operator=(SinkUse&& other) noexcept {
  if (this != &other) {
    reset();
    sink_ = std::move(other.sink_);
  }
  return *this;
}

void SinkUse::reset() noexcept {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink_.reset();
  sink->release();
}

// ---------------------------------------------------------------------------
// LogFile

LogFile::LogFile(std::string path, std::uint64_t maxbytes, int backups, ReportHook report,
                 OpenWhen open_when)
    : path_(std::move(path)),
      maxbytes_(maxbytes),
      backups_(std::max(backups, 0)),
      report_(std::move(report)) {
  if (open_when == OpenWhen::Now) reattach();
}

LogFile::~LogFile() = default;

void LogFile::set_limits(std::uint64_t maxbytes, int backups) noexcept {
  maxbytes_ = maxbytes;
  backups_ = std::max(backups, 0);
}

std::string LogFile::backup_path(int index) const {
  std::string path = path_;
  path += '.';
  path += std::to_string(index);
  return path;
}

bool LogFile::open_path(sys::UniqueFd& fd, std::string& error, std::string& cause) noexcept {
  // O_APPEND: every write lands at the end even if something else writes
  // or truncates the file (copytruncate). O_NONBLOCK: no effect on regular
  // files, but a FIFO or terminal configured as a log path must not stall
  // the loop. O_NOCTTY: a terminal path must not become our controlling tty.
  constexpr int kFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  int raw = ::open(path_.c_str(), kFlags, 0640);
  int err = errno;
  if (raw < 0 && err == ENOENT) {
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        cause = ec.message();
        error = "create directory " + parent.native() + ": " + cause;
        return false;
      }
      raw = ::open(path_.c_str(), kFlags, 0640);
      err = errno;
    }
  }
  if (raw < 0) {
    cause = sys::error_text(err);
    error = errno_message("open", path_, err);
    return false;
  }
  fd.reset(raw);
  return true;
}

void LogFile::adopt(sys::UniqueFd fd) noexcept {
  fd_ = std::move(fd);
  detached_ = false;
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    is_regular_ = S_ISREG(st.st_mode);
    size_ = is_regular_ ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  // A fresh or emptied file starts at a line start; an existing one goes
  // on where our last byte left it.
  if (is_regular_ && size_ == 0) line_open_ = false;
  next_path_check_ = steady_clock::now() + kPathCheckInterval;
}

bool LogFile::reattach() noexcept {
  sys::UniqueFd fd;
  std::string error;
  std::string cause;
  if (open_path(fd, error, cause)) {
    adopt(std::move(fd));
    // A failing rename (rotate_fault_) is over only when a rotation works.
    recover(reopen_fault_, "reopened " + path_);
    return true;
  }
  if (fd_) {
    // Keep writing to the old file rather than dropping bytes; try again
    // on the next write.
    detached_ = true;
    fault(reopen_fault_, error);
  } else {
    if (episode_dropped_ == 0) gap_cause_ = cause;
    fault(write_fault_, error);
  }
  return false;
}

void LogFile::reopen() noexcept {
  // Closed: nothing to switch; the next acquire() opens the path as it is.
  if (!fd_ && uses_ == 0) return;
  reattach();
}

void LogFile::acquire() noexcept {
  ++uses_;
  if (!fd_) reattach();
}

void LogFile::release() noexcept {
  if (uses_ > 0) --uses_;
  if (uses_ == 0) close_file();
}

void LogFile::close_file() noexcept {
  fd_.reset();
  detached_ = false;
}

void LogFile::refresh() noexcept {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return;
  if (!is_regular_) return;
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (st.st_nlink == 0) {
    // Deleted under us: everything written now would vanish (PITFALLS 9).
    reattach();
    return;
  }
  auto now = steady_clock::now();
  if (now < next_path_check_) return;
  next_path_check_ = now + kPathCheckInterval;
  struct stat at_path {};
  if (::stat(path_.c_str(), &at_path) != 0 || at_path.st_dev != dev_ || at_path.st_ino != ino_) {
    // Renamed away by an external logrotate without the SIGUSR2.
    reattach();
  }
}

void LogFile::rotate() noexcept {
  if (backups_ == 0) {
    if (::ftruncate(fd_.get(), 0) != 0) {
      fault(rotate_fault_, errno_message("truncate", path_, errno));
      return;
    }
    size_ = 0;
    line_open_ = false;
    ++rotations_;
    recover(rotate_fault_, "rotating " + path_ + " works again");
    return;
  }
  // Shift .N-1 -> .N (overwriting the oldest) ... .1 -> .2. Each rename is
  // atomic, so a failure part-way loses no file but the oldest.
  for (int i = backups_ - 1; i >= 1; --i) {
    std::string from = backup_path(i);
    std::string to = backup_path(i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      fault(rotate_fault_, errno_message("rename", from + " to " + to, errno));
      return;
    }
  }
  std::string first = backup_path(1);
  if (::rename(path_.c_str(), first.c_str()) != 0) {
    fault(rotate_fault_, errno_message("rename", path_ + " to " + first, errno));
    return;
  }
  // Every byte written so far is in the inode now called `.1` (fd_ still
  // points at it); the next byte goes to a fresh file.
  sys::UniqueFd fd;
  std::string error;
  std::string cause;
  if (!open_path(fd, error, cause)) {
    detached_ = true;  // keep writing into `.1` until a new file can be opened
    fault(reopen_fault_, error);
    return;
  }
  adopt(std::move(fd));
  ++rotations_;
  recover(reopen_fault_, "reopened " + path_);
  recover(rotate_fault_, "rotating " + path_ + " works again");
}

void LogFile::consume(std::string_view data) noexcept {
  if (!fd_ || detached_) {
    reattach();
  } else {
    refresh();
  }
  if (!fd_) {
    drop(data.size(), gap_cause_);
    return;
  }
  std::string marker;
  if (episode_dropped_ > 0) {
    try {
      marker = marker_line();
    } catch (...) {
      // Out of memory: the gap is marked at a later write.
    }
  }
  // Rotate before a write that would take the file past maxbytes; a chunk
  // larger than maxbytes is written whole into a fresh (empty) file.
  const std::uint64_t adding = marker.size() + data.size();
  if (is_regular_ && !detached_ && maxbytes_ > 0 && size_ > 0 && size_ + adding > maxbytes_) {
    const std::uint64_t rotations = rotations_;
    rotate();
    if (!marker.empty() && rotations_ != rotations) {
      // A fresh file starts at a line start: no leading newline needed.
      if (marker.front() == '\n') marker.erase(0, 1);
    }
  }
  if (!marker.empty() && !write_marker(marker)) {
    // Bytes after an unmarked gap would hide it: they join the gap.
    drop(data.size(), gap_cause_);
    return;
  }
  write_all(data);
}

std::size_t LogFile::write_bytes(std::string_view data, int& err) noexcept {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<std::size_t>(n);
      size_ += static_cast<std::uint64_t>(n);
      line_open_ = p[-1] != '\n';
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    err = n < 0 ? errno : EIO;
    break;
  }
  return data.size() - left;
}

void LogFile::write_all(std::string_view data) noexcept {
  int err = 0;
  std::size_t written = write_bytes(data, err);
  if (written < data.size()) {
    // ENOSPC, EDQUOT, EFBIG, EIO, or EAGAIN from a FIFO/terminal whose
    // reader is slow: drop the rest of this chunk, never wait.
    fault(write_fault_, errno_message("write", path_, err));
    drop(data.size() - written, sys::error_text(err));
    return;
  }
  if (write_fault_) {
    // An open failure that cost no bytes (nothing was written meanwhile,
    // so no gap and no marker) ends here.
    std::string message = "writing " + path_ + " again";
    recover(write_fault_, message);
  }
}

std::string LogFile::marker_line() const {
  std::string line;
  if (line_open_) line += '\n';
  line += "[minisup: ";
  line += std::to_string(episode_dropped_);
  line += " bytes dropped: ";
  line += gap_cause_.empty() ? std::string("write failed") : gap_cause_;
  line += "]\n";
  return line;
}

bool LogFile::write_marker(const std::string& marker) noexcept {
  const std::uint64_t before = size_;
  const bool line_was_open = line_open_;
  int err = 0;
  std::size_t written = write_bytes(marker, err);
  if (written == marker.size()) {
    std::string message;
    try {
      message = "writing " + path_ + " again; " + std::to_string(episode_dropped_) +
                " bytes were dropped";
    } catch (...) {
    }
    episode_dropped_ = 0;
    gap_cause_.clear();
    recover(write_fault_, message);
    return true;
  }
  if (written > 0 && is_regular_ && ::ftruncate(fd_.get(), static_cast<off_t>(before)) == 0) {
    // Half a marker would read as garbage: take it back (the next attempt
    // writes it whole). A pipe takes a marker (< PIPE_BUF) whole or not.
    size_ = before;
    line_open_ = line_was_open;
  }
  fault(write_fault_, errno_message("write", path_, err));
  return false;
}

bool LogFile::clear(std::string* error) noexcept {
  if (!fd_ && uses_ == 0) {
    // Closed (nothing feeds it): truncate by path, without creating a file
    // or keeping a descriptor. O_NONBLOCK: a FIFO must not block the open.
    sys::UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
      if (errno == ENOENT) return true;  // no file yet: nothing to clear
      if (error != nullptr) *error = errno_message("open", path_, errno);
      return false;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (error != nullptr) *error = "truncate " + path_ + ": not a regular file";
      return false;
    }
    if (::ftruncate(fd.get(), 0) != 0) {
      if (error != nullptr) *error = errno_message("truncate", path_, errno);
      return false;
    }
    size_ = 0;
    line_open_ = false;
    return true;
  }
  if (!fd_ || detached_) reattach();
  if (!fd_ || detached_) {
    if (error != nullptr) *error = last_error_;
    return false;
  }
  if (!is_regular_) {
    if (error != nullptr) *error = "truncate " + path_ + ": not a regular file";
    return false;
  }
  if (::ftruncate(fd_.get(), 0) != 0) {
    if (error != nullptr) *error = errno_message("truncate", path_, errno);
    return false;
  }
  size_ = 0;
  line_open_ = false;
  return true;
}

void LogFile::drop(std::size_t bytes, const std::string& cause) noexcept {
  if (bytes == 0) return;
  if (episode_dropped_ == 0) {
    try {
      gap_cause_ = cause;
    } catch (...) {
    }
  }
  dropped_bytes_ += bytes;
  episode_dropped_ += bytes;
}

void LogFile::fault(bool& flag, const std::string& message) noexcept {
  if (flag) return;  // once per episode
  flag = true;
  last_error_ = message;
  call_report(report_, ReportKind::Fault, message);
}

void LogFile::recover(bool& flag, const std::string& message) noexcept {
  if (!flag) return;
  flag = false;
  call_report(report_, ReportKind::Recovered, message);
}

// ---------------------------------------------------------------------------
// ConsoleWriter

namespace {

// foreman's palette: the prefix of each name gets the next colour.
constexpr std::array<std::string_view, 10> kPalette = {
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[31m",
    "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[92m", "\x1b[95m",
};
constexpr std::string_view kReset = "\x1b[0m";

bool color_from_environment(int fd) {
  const char* no_color = ::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;  // no-color.org
  return ::isatty(fd) == 1;
}

}  // namespace

ConsoleWriter::ConsoleWriter(loop::EventLoop& loop, int fd, std::size_t max_buffer, Color color,
                             ReportHook report)
    : loop_(loop), fd_(fd), max_buffer_(max_buffer), report_(std::move(report)) {
  switch (color) {
    case Color::Auto:
      color_ = color_from_environment(fd);
      break;
    case Color::Always:
      color_ = true;
      break;
    case Color::Never:
      color_ = false;
      break;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;  // closed stdout: writes fail and are counted
  if (S_ISREG(st.st_mode)) return;    // never blocks; written at its offset, never seeked
  if (S_ISSOCK(st.st_mode)) {
    // journald's stdout stream: MSG_DONTWAIT makes this one call
    // non-blocking without changing the (shared) socket's flags.
    mode_ = Mode::Send;
    pollable_ = true;
    return;
  }
  // A pipe, FIFO or terminal: opening /proc/self/fd/N gives a new open file
  // description of the same pipe or tty, whose O_NONBLOCK is ours alone.
  // Setting O_NONBLOCK on fd 1 itself would also affect minisupd's stderr
  // (often the same description) and the shell that started us.
  std::string proc_path = "/proc/self/fd/" + std::to_string(fd);
  int own = ::open(proc_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (own >= 0) {
    own_fd_.reset(own);
    fd_ = own;
    pollable_ = true;
    return;
  }
  // No /proc: write fd as it is. If it is blocking, a stalled reader stalls
  // us; if it is already non-blocking, wait for it with the loop.
  int flags = ::fcntl(fd, F_GETFL);
  pollable_ = flags >= 0 && (flags & O_NONBLOCK) != 0;
}

ConsoleWriter::~ConsoleWriter() {
  if (watching_) {
    try {
      loop_.remove_fd(fd_);
    } catch (...) {
      // The loop is going away too; nothing left to unregister.
    }
  }
}

std::string_view ConsoleWriter::color_for(std::string_view name) {
  auto it = colors_.find(name);
  if (it == colors_.end()) {
    it = colors_.emplace(std::string(name), colors_.size() % kPalette.size()).first;
  }
  return kPalette[it->second];
}

void ConsoleWriter::add_line(std::string_view name, char marker, std::string_view text) noexcept {
  std::size_t padding = name.size() < name_width_ ? name_width_ - name.size() : 0;
  std::string_view color = color_ ? color_for(name) : std::string_view();
  std::size_t size =
      color.size() + name.size() + padding + 2 + (color_ ? kReset.size() : 0) + 1 + text.size() + 1;
  // An empty queue takes a line of any size (at most kMaxPartialLine or one
  // read chunk), so a small max_buffer never rejects a line for its size.
  if (pending_bytes() > 0 && pending_bytes() + size > max_buffer_) {
    drop(size, "output buffer full (stdout is not being read fast enough)");
    return;
  }
  if (sent_ > 0 && sent_ == buffer_.size()) {
    buffer_.clear();
    sent_ = 0;
  } else if (sent_ > max_buffer_ / 2) {
    buffer_.erase(0, sent_);
    sent_ = 0;
  }
  buffer_ += color;
  buffer_ += name;
  buffer_.append(padding, ' ');
  buffer_ += ' ';
  buffer_ += marker;
  if (color_) buffer_ += kReset;
  buffer_ += ' ';
  buffer_ += text;
  buffer_ += '\n';
}

void ConsoleWriter::send() noexcept {
  bool wrote = false;
  while (sent_ < buffer_.size()) {
    const char* p = buffer_.data() + sent_;
    std::size_t left = buffer_.size() - sent_;
    ssize_t n = mode_ == Mode::Send ? ::send(fd_, p, left, MSG_DONTWAIT | MSG_NOSIGNAL)
                                    : ::write(fd_, p, left);
    if (n > 0) {
      sent_ += static_cast<std::size_t>(n);
      wrote = true;
      continue;
    }
    int err = n < 0 ? errno : EIO;
    if (err == EINTR) continue;
    if (err == ENOTSOCK && mode_ == Mode::Send) {
      mode_ = Mode::Write;
      continue;
    }
    if ((err == EAGAIN || err == EWOULDBLOCK) && pollable_) {
      if (!watching_) {
        try {
          loop_.add_fd(fd_, EPOLLOUT, [this](std::uint32_t) { on_writable(); });
          watching_ = true;
        } catch (...) {
          pollable_ = false;  // e.g. epoll refuses this file type
        }
      }
      if (watching_) return;
    }
    drop(buffer_.size() - sent_, errno_message("write", "stdout", err));
    sent_ = buffer_.size();
    break;
  }
  // Everything is out (written or dropped).
  buffer_.clear();
  sent_ = 0;
  if (watching_) {
    try {
      loop_.remove_fd(fd_);
    } catch (...) {
    }
    watching_ = false;
  }
  if (wrote && fault_ && episode_dropped_ > 0) {
    std::string message =
        "console: output resumed; " + std::to_string(episode_dropped_) + " bytes were dropped";
    fault_ = false;
    episode_dropped_ = 0;
    call_report(report_, ReportKind::Recovered, message);
  }
}

void ConsoleWriter::on_writable() noexcept { send(); }

void ConsoleWriter::flush(std::chrono::milliseconds max_wait) noexcept {
  auto deadline = steady_clock::now() + max_wait;
  send();
  while (pending_bytes() > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return;
    struct pollfd pfd {
      fd_, POLLOUT, 0
    };
    if (::poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return;
    send();
  }
}

void ConsoleWriter::drop(std::size_t bytes, const std::string& why) noexcept {
  dropped_bytes_ += bytes;
  episode_dropped_ += bytes;
  if (fault_) return;
  fault_ = true;
  call_report(report_, ReportKind::Fault, "console: " + why);
}

// ---------------------------------------------------------------------------
// ConsoleSink

ConsoleSink::ConsoleSink(std::shared_ptr<ConsoleWriter> writer, std::string name, StreamKind stream)
    : writer_(std::move(writer)),
      name_(std::move(name)),
      marker_(stream == StreamKind::Stdout ? '|' : '!') {}

ConsoleSink::~ConsoleSink() { end_of_stream(); }

void ConsoleSink::consume(std::string_view data) noexcept {
  while (!data.empty()) {
    const void* found = std::memchr(data.data(), '\n', data.size());
    if (found == nullptr) break;
    std::size_t length = static_cast<std::size_t>(static_cast<const char*>(found) - data.data());
    if (partial_.empty()) {
      writer_->add_line(name_, marker_, data.substr(0, length));
    } else {
      partial_.append(data.data(), length);
      writer_->add_line(name_, marker_, partial_);
      partial_.clear();
    }
    data.remove_prefix(length + 1);
  }
  // Hold the unterminated rest, but never more than kMaxPartialLine: a
  // child that never writes a newline is shown in kMaxPartialLine pieces.
  while (partial_.size() + data.size() > kMaxPartialLine) {
    std::size_t take = kMaxPartialLine - partial_.size();
    partial_.append(data.data(), take);
    writer_->add_line(name_, marker_, partial_);
    partial_.clear();
    data.remove_prefix(take);
  }
  partial_.append(data.data(), data.size());
  writer_->send();
}

void ConsoleSink::end_of_stream() noexcept {
  if (partial_.empty()) return;
  writer_->add_line(name_, marker_, partial_);
  partial_.clear();
  writer_->send();
}

// ---------------------------------------------------------------------------
// OutputCapture

namespace {

/// Pipes currently enlarged to kBigPipe (see OutputCapture).
int g_big_pipes = 0;

/// One read buffer for every capture: the loop is single-threaded and a
/// sink consumes each chunk before the next read, so 1,000 programs cost
/// one buffer, not 1,000.
char* shared_read_buffer() {
  static std::unique_ptr<char[]> buffer(new char[OutputCapture::kReadChunk]);
  return buffer.get();
}

}  // namespace

OutputCapture::OutputCapture(Key, loop::EventLoop& loop, sys::UniqueFd fd,
                             std::shared_ptr<OutputSink> sink, std::function<void()> on_eof)
    : loop_(loop),
      fd_(std::move(fd)),
      sink_(std::move(sink)),
      use_(sink_),
      on_eof_(std::move(on_eof)) {}

// Still open here only when the loop dropped our callback (the loop is
// being destroyed): just close the pipe (use_ releases the sink), the loop
// is not ours to touch.
OutputCapture::~OutputCapture() {
  if (holds_big_pipe_) --g_big_pipes;
}

void OutputCapture::grow_pipe(std::size_t got) noexcept {
  if (pipe_size_ == 0) {
    int size = ::fcntl(fd_.get(), F_GETPIPE_SZ);
    if (size <= 0) {
      tried_growing_ = true;  // not a pipe (a FIFO or file handed to us): leave it
      return;
    }
    pipe_size_ = static_cast<std::size_t>(size);
  }
  // Not a full pipe: a slow writer so far, look again on a later read.
  if (got < pipe_size_) return;
  tried_growing_ = true;
  if (g_big_pipes >= kMaxBigPipes) return;
  // The kernel may refuse (pipe-max-size, pipe-user-pages-soft): fine.
  if (sys::set_pipe_size(fd_.get(), kBigPipe) >= static_cast<long>(kBigPipe)) {
    holds_big_pipe_ = true;
    ++g_big_pipes;
  }
}

std::shared_ptr<OutputCapture> OutputCapture::start(loop::EventLoop& loop, sys::UniqueFd read_end,
                                                    std::shared_ptr<OutputSink> sink,
                                                    std::function<void()> on_eof) {
  sys::set_nonblocking(read_end.get());
  int fd = read_end.get();
  auto capture = std::make_shared<OutputCapture>(Key{}, loop, std::move(read_end), std::move(sink),
                                                 std::move(on_eof));
  // The loop's callback holds the capture: it lives until EOF or close(),
  // whoever else lets go of it.
  loop.add_fd(fd, EPOLLIN, [capture](std::uint32_t events) { capture->on_ready(events); });
  return capture;
}

void OutputCapture::on_ready(std::uint32_t) noexcept {
  auto keep_alive = shared_from_this();  // finish() drops the loop's reference
  if (drain(kMaxPerWakeup)) finish();
}

bool OutputCapture::drain(std::size_t budget) noexcept {
  char* buffer = shared_read_buffer();
  std::size_t total = 0;
  while (total < budget) {
    ssize_t n = ::read(fd_.get(), buffer, kReadChunk);
    if (n > 0) {
      auto got = static_cast<std::size_t>(n);
      bytes_read_ += got;
      total += got;
      if (!tried_growing_) grow_pipe(got);
      sink_->write(std::string_view(buffer, got));
      continue;
    }
    if (n == 0) return true;  // every write end is closed
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    return true;  // a read error ends the capture like EOF
  }
  return false;  // budget spent; epoll is level-triggered and calls again
}

void OutputCapture::finish() noexcept {
  if (!fd_) return;
  sink_->end_of_stream();
  try {
    loop_.remove_fd(fd_.get());
  } catch (...) {
    // Not registered any more; closing is all that is left.
  }
  fd_.reset();
  if (holds_big_pipe_) {
    holds_big_pipe_ = false;
    --g_big_pipes;
  }
  use_.reset();  // the last use of a log file closes it
  auto on_eof = std::move(on_eof_);
  on_eof_ = nullptr;
  if (on_eof) {
    try {
      on_eof();
    } catch (...) {
    }
  }
}

void OutputCapture::close() noexcept {
  if (!fd_) return;
  auto keep_alive = shared_from_this();
  drain(kMaxPerWakeup);
  finish();
}

// ---------------------------------------------------------------------------
// ProcessOutput

namespace {

/// Logs a sink's report as `NAME: message`.
void log_report(const std::string& name, ReportKind kind, const std::string& message) {
  auto* logger = spdlog::default_logger_raw();
  if (kind == ReportKind::Fault) {
    logger->error("{}: {}", name, message);
  } else {
    logger->info("{}: {}", name, message);
  }
}

std::shared_ptr<OutputSink> make_sink(const config::LogTarget& target,
                                      const config::LogSettings& settings, const std::string& name,
                                      StreamKind stream,
                                      const std::shared_ptr<ConsoleWriter>& console,
                                      const ReportHook& report) {
  switch (target.kind) {
    case config::LogTarget::Kind::File:
      // Opened at the first spawn's create_pipes(), closed when its
      // captures end: an idle program holds no descriptor.
      return std::make_shared<LogFile>(target.path, settings.maxbytes, settings.backups, report,
                                       LogFile::OpenWhen::FirstUse);
    case config::LogTarget::Kind::Console:
      if (console) return std::make_shared<ConsoleSink>(console, name, stream);
      return std::make_shared<NullSink>();
    case config::LogTarget::Kind::None:
      return std::make_shared<NullSink>();
  }
  return std::make_shared<NullSink>();
}

}  // namespace

ProcessOutput::ProcessOutput(const config::ProgramConfig& program,
                             const config::ProcessConfig& process,
                             std::shared_ptr<ConsoleWriter> console, ReportHook report)
    : name_(process.name), redirect_stderr_(program.redirect_stderr) {
  if (!report) {
    // Refers to our name instead of holding a copy: no allocation per log
    // file (a thousand programs have two thousand). ~ProcessOutput gives
    // the files that outlive us a hook of their own.
    report = [this](ReportKind kind, const std::string& message) {
      log_report(name_, kind, message);
    };
    default_report_ = true;
  }
  stdout_ = make_sink(process.stdout_logfile, program.stdout_logfile_settings, name_,
                      StreamKind::Stdout, console, report);
  const bool same_file = process.stderr_logfile.kind == config::LogTarget::Kind::File &&
                         process.stdout_logfile == process.stderr_logfile;
  if (redirect_stderr_ || same_file) {
    stderr_ = stdout_;
  } else {
    stderr_ = make_sink(process.stderr_logfile, program.stderr_logfile_settings, name_,
                        StreamKind::Stderr, console, report);
  }
}

// Open captures keep draining on their own, into sinks that outlive us.
ProcessOutput::~ProcessOutput() {
  if (!default_report_) return;
  for (const std::shared_ptr<OutputSink>* sink : {&stdout_, &stderr_}) {
    if (sink->use_count() == 1) continue;  // dies with us
    if (auto* file = dynamic_cast<LogFile*>(sink->get())) {
      try {
        file->set_report([name = name_](ReportKind kind, const std::string& message) {
          log_report(name, kind, message);
        });
      } catch (...) {
        file->set_report(nullptr);  // out of memory: the file goes on unreported
      }
    }
  }
}

OutputPipes ProcessOutput::create_pipes() const {
  // sys::make_pipe: O_CLOEXEC on both ends, so no other child inherits
  // them (our EOF would then wait for that unrelated child, PITFALLS 2);
  // the read end is non-blocking, the child's end blocking as programs
  // expect. The child gets its end by dup2 onto fd 1/2.
  OutputPipes pipes;
  pipes.redirect_stderr = redirect_stderr_;
  auto discards = [](const std::shared_ptr<OutputSink>& sink) {
    return dynamic_cast<const NullSink*>(sink.get()) != nullptr;
  };
  // Each pipe opens its sink's log file now (SinkUse), so an unwritable
  // path is reported at the spawn; the pipes' uses end when the captures
  // have taken over (start_capture) or the spawn failed.
  if (!discards(stdout_)) {
    sys::Pipe out = sys::make_pipe();
    pipes.stdout_read = std::move(out.read);
    pipes.stdout_write = std::move(out.write);
    pipes.stdout_use = SinkUse(stdout_);
  }
  if (!redirect_stderr_ && !discards(stderr_)) {
    sys::Pipe err = sys::make_pipe();
    pipes.stderr_read = std::move(err.read);
    pipes.stderr_write = std::move(err.write);
    pipes.stderr_use = SinkUse(stderr_);
  }
  return pipes;
}

void ProcessOutput::start_capture(loop::EventLoop& loop, OutputPipes pipes) {
  // Close our copies of the write ends first: EOF must come when the child
  // (and its descendants) close theirs.
  pipes.stdout_write.reset();
  pipes.stderr_write.reset();
  std::erase_if(captures_, [](const std::weak_ptr<OutputCapture>& c) { return c.expired(); });
  if (pipes.stdout_read) {
    captures_.push_back(OutputCapture::start(loop, std::move(pipes.stdout_read), stdout_));
  }
  if (pipes.stderr_read) {
    captures_.push_back(OutputCapture::start(loop, std::move(pipes.stderr_read), stderr_));
  }
}

void ProcessOutput::close_captures() noexcept {
  for (auto& weak : captures_) {
    if (auto capture = weak.lock()) capture->close();
  }
  captures_.clear();
}

std::size_t ProcessOutput::open_captures() const noexcept {
  std::size_t count = 0;
  for (const auto& weak : captures_) {
    auto capture = weak.lock();
    if (capture && capture->is_open()) ++count;
  }
  return count;
}

std::uint64_t ProcessOutput::dropped_bytes() const noexcept {
  std::uint64_t total = stdout_->dropped_bytes();
  if (stderr_ != stdout_) total += stderr_->dropped_bytes();
  return total;
}

void ProcessOutput::reopen() noexcept {
  stdout_->reopen();
  if (stderr_ != stdout_) stderr_->reopen();
}

bool ProcessOutput::clear(std::string* error) noexcept {
  std::string errors;
  bool ok = true;
  auto clear_one = [&](const std::shared_ptr<OutputSink>& sink) {
    if (sink->file_path().empty()) return;  // console / NONE: nothing to clear
    std::string reason;
    if (!sink->clear(&reason)) {
      ok = false;
      if (!errors.empty()) errors += "; ";
      errors += reason;
    }
  };
  clear_one(stdout_);
  if (stderr_ != stdout_) clear_one(stderr_);
  if (!ok && error != nullptr) *error = errors;
  return ok;
}

std::size_t console_name_width(const std::vector<config::ProgramConfig>& programs) noexcept {
  std::size_t width = 0;
  for (const auto& program : programs) {
    width = std::max(width, program.name.size());
    for (const auto& process : program.processes) width = std::max(width, process.name.size());
  }
  return width;
}

}  // namespace minisup::logging
