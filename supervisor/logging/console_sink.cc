// `console` (child_log.h): ConsoleWriter, minisupd's stdout written
// without ever blocking the loop, and ConsoleSink, which cuts a stream into
// `NAME | text` lines for it.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <new>
#include <utility>

#include "supervisor/logging/child_log.h"
#include "supervisor/logging/sink_report.h"

namespace minisup::logging {

namespace {

using detail::call_report;
using detail::errno_message;
using std::chrono::steady_clock;

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

/// Adds `data` to `recent`; should memory run out, what was kept is
/// dropped instead (`tail` then shows less, the console loses nothing).
void keep_recent(RecentOutput& recent, std::string_view data) noexcept {
  try {
    recent.append(data);
  } catch (const std::bad_alloc&) {
    recent.clear();
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// RecentOutput

void RecentOutput::append(std::string_view data) {
  if (data.size() >= kMaxBytes) {
    // Only the end of this chunk fits: it replaces everything.
    data.remove_prefix(data.size() - kMaxBytes);
    ring_.reserve(kMaxBytes);
    ring_.assign(data.begin(), data.end());
    start_ = 0;
    return;
  }
  if (ring_.size() < kMaxBytes) {
    // Still growing: append what fits, with room reserved by doubling (an
    // exact reserve: never beyond kMaxBytes).
    const std::size_t take = std::min(kMaxBytes - ring_.size(), data.size());
    if (ring_.capacity() < ring_.size() + take) {
      ring_.reserve(std::min(kMaxBytes, std::max(ring_.size() + take, 2 * ring_.capacity())));
    }
    ring_.insert(ring_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data.remove_prefix(take);
  }
  // Full: overwrite the oldest bytes.
  while (!data.empty()) {
    const std::size_t take = std::min(data.size(), kMaxBytes - start_);
    std::memcpy(ring_.data() + start_, data.data(), take);
    start_ = (start_ + take) % kMaxBytes;
    data.remove_prefix(take);
  }
}

std::string RecentOutput::text() const {
  std::string out;
  out.reserve(ring_.size());
  out.append(ring_.data() + start_, ring_.size() - start_);
  out.append(ring_.data(), start_);
  return out;
}

void RecentOutput::clear() noexcept {
  std::vector<char>().swap(ring_);
  start_ = 0;
}

// ---------------------------------------------------------------------------
// ConsoleWriter

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
  if (!make_room(size)) return;
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

void ConsoleWriter::add_raw(std::string_view data) noexcept {
  if (data.empty() || !make_room(data.size())) return;
  buffer_ += data;
}

bool ConsoleWriter::make_room(std::size_t size) noexcept {
  // An empty queue takes a line of any size (at most kMaxPartialLine or one
  // read chunk), so a small max_buffer never rejects a line for its size.
  if (pending_bytes() > 0 && pending_bytes() + size > max_buffer_) {
    drop(size, "output buffer full (stdout is not being read fast enough)");
    return false;
  }
  if (sent_ > 0 && sent_ == buffer_.size()) {
    buffer_.clear();
    sent_ = 0;
  } else if (sent_ > max_buffer_ / 2) {
    buffer_.erase(0, sent_);
    sent_ = 0;
  }
  return true;
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
  keep_recent(recent_, data);
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

bool ConsoleSink::clear(std::string*) noexcept {
  recent_.clear();
  return true;
}

void ConsoleSink::end_of_stream() noexcept {
  if (partial_.empty()) return;
  writer_->add_line(name_, marker_, partial_);
  partial_.clear();
  writer_->send();
}

// ---------------------------------------------------------------------------
// PassthroughSink

PassthroughSink::PassthroughSink(std::shared_ptr<ConsoleWriter> writer)
    : writer_(std::move(writer)) {}

PassthroughSink::~PassthroughSink() { end_of_stream(); }

void PassthroughSink::consume(std::string_view data) noexcept {
  keep_recent(recent_, data);
  // Everything up to the chunk's last newline goes out now, after the
  // held start of its first line.
  std::size_t last = data.rfind('\n');
  if (last != std::string_view::npos) {
    if (!partial_.empty()) {
      writer_->add_raw(partial_);
      partial_.clear();
    }
    writer_->add_raw(data.substr(0, last + 1));
    data.remove_prefix(last + 1);
  }
  // The unterminated rest waits, at most kMaxPartialLine of it.
  while (partial_.size() + data.size() > kMaxPartialLine) {
    std::size_t take = kMaxPartialLine - partial_.size();
    partial_.append(data.data(), take);
    writer_->add_raw(partial_);
    partial_.clear();
    data.remove_prefix(take);
  }
  partial_.append(data.data(), data.size());
  writer_->send();
}

bool PassthroughSink::clear(std::string*) noexcept {
  recent_.clear();
  return true;
}

void PassthroughSink::end_of_stream() noexcept {
  if (partial_.empty()) return;
  writer_->add_raw(partial_);
  partial_.clear();
  writer_->send();
}

}  // namespace minisup::logging
