// Small text helpers for human messages about processes (used by core/ and
// by the runtime, so that logs and status say things the same way).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace minisup::core {

/// A duration for humans: "10.0 s" from 1 s up, "0.25 s" from 0.1 s, else
/// "0.004 s".
std::string seconds_text(std::chrono::nanoseconds duration);

/// "exited with status 3", "killed by SIGSEGV", "killed by SIGABRT (core
/// dumped)", or "exited" when neither is known.
std::string exit_text(const std::optional<int>& exit_code, const std::optional<int>& exit_signal,
                      bool core_dumped = false);

}  // namespace minisup::core
