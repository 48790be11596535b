// minisupd's own log (`[supervisor] logfile`, `loglevel`).
//
// Model. One spdlog logger, named "minisupd", installed as spdlog's default
// logger so every module logs with `spdlog::info(...)`. It has one sink that
// writes each formatted line with a single write(2) on a descriptor: stderr
// for `logfile = "-"`, else a file opened O_APPEND (parents created), so
// lines from a crash are never stuck in a buffer. Lines look like
// `2024-05-01 12:00:00.123 info web: spawned, pid 4242`.
//
// Logging never throws: spdlog's own errors (a bad format string) go to a
// handler that counts them, and a failed write (full disk, closed stderr)
// drops the line and counts it; the first line written after drops says how
// many were lost. Writes to stderr are blocking on purpose: the daemon log
// is small, and losing it to a slow terminal would hide what happened.
// reopen_daemon_log() (SIGUSR2) opens the path again, keeping the old file
// if that fails.
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <string>

#include "supervisor/config/program_config.h"

namespace minisup::logging {

/// The line format: time with milliseconds, level, message.
inline constexpr const char* kDaemonLogPattern = "%Y-%m-%d %H:%M:%S.%e %l %v";

/// Sets up minisupd's log and makes it spdlog's default logger. `logfile`
/// is "-" for stderr or a path (opened for append, mode 0640, missing
/// parent directories created). May be called again (reload) to switch
/// file or level. Throws sys::SysError if the file cannot be opened (a
/// start-up error); the previous log stays in place then.
void setup_daemon_log(const std::string& logfile, config::LogLevel level);

/// Changes the level of minisupd's log.
void set_daemon_log_level(config::LogLevel level) noexcept;

/// Reopens the log file at its path (SIGUSR2, after an external logrotate).
/// A no-op for stderr. On failure keeps writing to the old file and returns
/// false with `open /path: <reason>` in `error` (when non-null).
bool reopen_daemon_log(std::string* error = nullptr) noexcept;

/// The spdlog level for a config level.
spdlog::level::level_enum to_spdlog_level(config::LogLevel level) noexcept;

/// Lines lost since start-up (failed writes and spdlog errors).
std::uint64_t daemon_log_dropped_lines() noexcept;

}  // namespace minisup::logging
