// Signal names without strsignal(): a small fixed table of the Linux signals
// a supervisor talks about, usable in pure code and in messages.
//
// Names are the upper-case "SIG" forms ("SIGTERM"). Numbers without a name
// (real-time signals) are written "signal 40".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minisup::core {

/// The highest signal number accepted by parse_signal (Linux: SIGRTMAX).
inline constexpr int kMaxSignal = 64;

/// "SIGTERM" for 15, ..., "signal N" for a number without a name (also for
/// numbers out of range, so it never fails).
std::string signal_name(int signal);

/// Parses a signal given as "TERM", "SIGTERM", "term", "SigTerm" or a number
/// "15" (1 ... kMaxSignal). Returns nullopt for anything else (unknown name,
/// 0, out of range, empty, trailing garbage).
std::optional<int> parse_signal(std::string_view text);

}  // namespace minisup::core
