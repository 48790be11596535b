// Capturing a child's output (child_log.h): OutputCapture reads one pipe
// into its sink; ProcessOutput builds a process's sinks from its config,
// makes the pipes of each spawn and starts the captures after the fork.
// The sinks are in output_sink.cc, log_file.cc and console_sink.cc.
#include "supervisor/logging/child_log.h"

#include <errno.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::logging {

// ---------------------------------------------------------------------------
// OutputCapture

namespace {

/// Pipes currently enlarged to kBigPipe (see OutputCapture).
int g_big_pipes = 0;

/// The first open capture (OutputCapture::close_all()).
OutputCapture* g_open_captures = nullptr;

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
  unlink_open();
}

void OutputCapture::link_open() noexcept {
  open_next_ = g_open_captures;
  if (open_next_ != nullptr) open_next_->open_prev_ = this;
  g_open_captures = this;
}

void OutputCapture::unlink_open() noexcept {
  if (open_prev_ != nullptr) {
    open_prev_->open_next_ = open_next_;
  } else if (g_open_captures == this) {
    g_open_captures = open_next_;
  }
  if (open_next_ != nullptr) open_next_->open_prev_ = open_prev_;
  open_prev_ = nullptr;
  open_next_ = nullptr;
}

std::size_t OutputCapture::close_all(loop::EventLoop& loop) noexcept {
  // From the head each time: close() unlinks the capture, and its on_eof
  // may end (or start) others, so no link is trusted across a close().
  // Captures of other loops (tests run several) are stepped over.
  std::size_t closed = 0;
  for (;;) {
    OutputCapture* capture = g_open_captures;
    while (capture != nullptr && &capture->loop_ != &loop) capture = capture->open_next_;
    if (capture == nullptr) return closed;
    capture->close();
    ++closed;
  }
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
  capture->link_open();
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
      if (watch_) feed_lines(std::string_view(buffer, got));
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

void OutputCapture::watch_lines(std::shared_ptr<LineWatch> watch, StreamKind stream) noexcept {
  watch_ = std::move(watch);
  stream_ = stream;
  partial_line_.clear();
}

void OutputCapture::feed_lines(std::string_view data) noexcept {
  while (!data.empty()) {
    if (!watch_->watcher) {
      partial_line_.clear();  // cleared: the next watcher starts afresh
      return;
    }
    const void* found = std::memchr(data.data(), '\n', data.size());
    const std::size_t length =
        found == nullptr ? data.size()
                         : static_cast<std::size_t>(static_cast<const char*>(found) - data.data());
    if (found != nullptr && partial_line_.empty()) {
      // A whole line inside the chunk: handed over without a copy.
      call_watcher(data.substr(0, std::min(length, kMaxWatchedLine)));
    } else {
      if (partial_line_.size() < kMaxWatchedLine) {
        try {
          partial_line_.append(data.data(),
                               std::min(length, kMaxWatchedLine - partial_line_.size()));
        } catch (...) {
          // Out of memory: this line is skipped.
        }
      }
      if (found == nullptr) return;
      call_watcher(partial_line_);
      partial_line_.clear();
    }
    data.remove_prefix(length + 1);
  }
}

void OutputCapture::call_watcher(std::string_view line) noexcept {
  // A copy of the pointer: the watcher may clear or replace itself.
  std::shared_ptr<const LineWatcher> watcher = watch_->watcher;
  if (!watcher) return;
  try {
    (*watcher)(stream_, line);
  } catch (const std::exception& e) {
    spdlog::error("line watcher: {}", e.what());
  } catch (...) {
    spdlog::error("line watcher: unknown exception");
  }
}

void OutputCapture::finish() noexcept {
  if (!fd_) return;
  if (watch_ && !partial_line_.empty()) {
    call_watcher(partial_line_);  // the last line had no newline
    partial_line_.clear();
  }
  sink_->end_of_stream();
  try {
    loop_.remove_fd(fd_.get());
  } catch (...) {
    // Not registered any more; closing is all that is left.
  }
  fd_.reset();
  unlink_open();
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

void OutputCapture::read_now() noexcept {
  if (!fd_) return;
  on_ready(EPOLLIN);
}

void OutputCapture::close() noexcept {
  if (!fd_) {
    unlink_open();
    return;
  }
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
    case config::LogTarget::Kind::Passthrough:
      if (!console) return std::make_shared<NullSink>();
      if (stream == StreamKind::Stderr && console->stderr_writer()) {
        return std::make_shared<PassthroughSink>(console->stderr_writer());
      }
      return std::make_shared<PassthroughSink>(console);
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
  // Captures that outlive us must not call into whoever watched our lines.
  if (watch_) watch_->watcher.reset();
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
  // them (our EOF would then wait for that unrelated child, doc/pitfalls.md §2);
  // the read end is non-blocking, the child's end blocking as programs
  // expect. The child gets its end by dup2 onto fd 1/2.
  OutputPipes pipes;
  pipes.redirect_stderr = redirect_stderr_;
  // A NONE stream is not piped, unless a line watcher wants its lines.
  const bool watched = has_line_watcher();
  auto discards = [watched](const std::shared_ptr<OutputSink>& sink) {
    return !watched && dynamic_cast<const NullSink*>(sink.get()) != nullptr;
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
  std::erase_if(captures_, [](const CaptureRef& c) { return c.capture.expired(); });
  auto start = [&](sys::UniqueFd& read_end, const std::shared_ptr<OutputSink>& sink,
                   StreamKind stream) {
    if (!read_end) return;
    // Registered by start(): from here on the capture lives on its own.
    auto capture = OutputCapture::start(loop, std::move(read_end), sink);
    if (watch_) capture->watch_lines(watch_, stream);
    captures_.push_back({capture, stream});
  };
  start(pipes.stdout_read, stdout_, StreamKind::Stdout);
  start(pipes.stderr_read, stderr_, StreamKind::Stderr);
}

void ProcessOutput::set_line_watcher(LineWatcher watcher) {
  if (!watcher && !watch_) return;  // never watched: stays free
  if (!watch_) {
    watch_ = std::make_shared<LineWatch>();
    for (const CaptureRef& ref : captures_) {
      if (auto capture = ref.capture.lock()) capture->watch_lines(watch_, ref.stream);
    }
  }
  if (watcher) {
    watch_->watcher = std::make_shared<const LineWatcher>(std::move(watcher));
  } else {
    watch_->watcher.reset();
  }
}

void ProcessOutput::read_buffered() noexcept {
  for (const auto& ref : captures_) {
    if (auto capture = ref.capture.lock()) capture->read_now();
  }
}

std::size_t ProcessOutput::open_captures() const noexcept {
  std::size_t count = 0;
  for (const auto& ref : captures_) {
    auto capture = ref.capture.lock();
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
    // NONE: nothing to clear; console: what `tail` keeps in memory.
    if (sink->file_path().empty() && sink->recent_output() == nullptr) return;
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
