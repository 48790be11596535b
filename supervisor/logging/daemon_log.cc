#include "supervisor/logging/daemon_log.h"

#include <errno.h>
#include <fcntl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

#include "supervisor/sys/sys_error.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::logging {

namespace {

std::uint64_t g_dropped_lines = 0;

/// Opens a daemon log file for append, creating missing parent directories.
/// Throws sys::SysError.
sys::UniqueFd open_log_file(const std::string& path) {
  constexpr int kFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
  int fd = ::open(path.c_str(), kFlags, 0640);
  if (fd < 0 && errno == ENOENT) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) throw sys::SysError("create directory", parent.native(), ec.value());
    fd = ::open(path.c_str(), kFlags, 0640);
  }
  if (fd < 0) throw sys::SysError("open", path, errno);
  return sys::UniqueFd(fd);
}

/// Writes every formatted line with one write(2) to a descriptor: stderr,
/// or a file it owns. Single-threaded (null_mutex): minisupd has one thread.
class FdSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  /// Logs to stderr.
  FdSink() = default;
  /// Logs to `path` through `fd`.
  FdSink(std::string path, sys::UniqueFd fd) : path_(std::move(path)), file_(std::move(fd)) {}

  /// Opens the path again; keeps the old file on failure.
  bool reopen(std::string* error) noexcept {
    if (path_.empty()) return true;
    try {
      file_ = open_log_file(path_);
      return true;
    } catch (const std::exception& e) {
      if (error != nullptr) *error = e.what();
      return false;
    }
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (unreported_drops_ > 0) {
      std::string text = std::to_string(unreported_drops_) + " log lines were lost before this one";
      spdlog::details::log_msg note(msg.time, msg.source, msg.logger_name, spdlog::level::warn,
                                    text);
      spdlog::memory_buf_t note_buf;
      formatter_->format(note, note_buf);
      if (write_line(note_buf)) unreported_drops_ = 0;
    }
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    if (!write_line(buf)) {
      ++g_dropped_lines;
      ++unreported_drops_;
    }
  }
  void flush_() override {}  // nothing is buffered

 private:
  bool write_line(const spdlog::memory_buf_t& buf) noexcept {
    int fd = file_ ? file_.get() : STDERR_FILENO;
    const char* p = buf.data();
    std::size_t left = buf.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n > 0) {
        p += n;
        left -= static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;  // ENOSPC, EBADF, EPIPE, EAGAIN: the line is lost
      }
    }
    return true;
  }

  std::string path_;  // empty for stderr
  sys::UniqueFd file_;
  std::uint64_t unreported_drops_ = 0;
};

std::shared_ptr<FdSink>& current_sink() {
  static std::shared_ptr<FdSink> sink;
  return sink;
}

}  // namespace

spdlog::level::level_enum to_spdlog_level(config::LogLevel level) noexcept {
  switch (level) {
    case config::LogLevel::Trace:
      return spdlog::level::trace;
    case config::LogLevel::Debug:
      return spdlog::level::debug;
    case config::LogLevel::Info:
      return spdlog::level::info;
    case config::LogLevel::Warn:
      return spdlog::level::warn;
    case config::LogLevel::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

void setup_daemon_log(const std::string& logfile, config::LogLevel level) {
  std::shared_ptr<FdSink> sink;
  if (logfile == "-") {
    sink = std::make_shared<FdSink>();
  } else {
    sink = std::make_shared<FdSink>(logfile, open_log_file(logfile));
  }
  auto logger = std::make_shared<spdlog::logger>("minisupd", sink);
  logger->set_pattern(kDaemonLogPattern);
  logger->set_level(to_spdlog_level(level));
  logger->flush_on(spdlog::level::off);  // nothing to flush: every line is written at once
  // Called by spdlog instead of throwing (e.g. a malformed format string):
  // count it, never throw out of a log call.
  logger->set_error_handler([](const std::string&) { ++g_dropped_lines; });
  spdlog::set_default_logger(logger);
  current_sink() = std::move(sink);
}

void set_daemon_log_level(config::LogLevel level) noexcept {
  spdlog::default_logger_raw()->set_level(to_spdlog_level(level));
}

bool reopen_daemon_log(std::string* error) noexcept {
  auto& sink = current_sink();
  if (!sink) return true;
  return sink->reopen(error);
}

std::uint64_t daemon_log_dropped_lines() noexcept { return g_dropped_lines; }

}  // namespace minisup::logging
