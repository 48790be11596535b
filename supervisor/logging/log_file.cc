// LogFile (child_log.h): a child's log file with size-based rotation,
// reopen, clear, and faults that drop bytes (counted, reported once per
// episode, marked in the file) instead of throwing or blocking.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <utility>

#include "supervisor/logging/child_log.h"
#include "supervisor/logging/sink_report.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::logging {

namespace {

using detail::call_report;
using detail::errno_message;
using std::chrono::steady_clock;

/// How often a regular log file's path is checked for an external rename
/// or deletion (an fstat per write catches deletion at once).
constexpr auto kPathCheckInterval = std::chrono::seconds(1);

}  // namespace

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
    // Deleted under us: everything written now would vanish (doc/pitfalls.md §9).
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

}  // namespace minisup::logging
