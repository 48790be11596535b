// Signal names: the one table of them, for config (stopsignal), core (state
// change reasons), the control protocol (`signal`, exit_signal_name, status
// descriptions) and minisupctl. It lives in config/, the lowest layer, so
// that every other module can use it without breaking the dependency rule.
//
// Names are written with the SIG prefix: "SIGTERM"; the real-time signals
// SIGRTMIN ... SIGRTMAX (34 ... 64 with glibc) as "SIGRTMIN" and
// "SIGRTMIN+n"; any other number, such as 32 and 33 (reserved by glibc) or
// one out of range, as "SIG<n>". Every name signal_name() gives for
// 1 ... SIGRTMAX parses back to its number.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minisup::config {

/// Parses a signal given as a name, with or without SIG and in any case
/// ("TERM", "SIGterm", "usr1"; the aliases POLL and IOT), a real-time name
/// ("RTMIN", "RTMIN+2", "SIGRTMAX-1", "RTMAX"), "SIG<n>", or a decimal
/// number ("15", "040"). Returns the number when it is within 1 ... SIGRTMAX,
/// nullopt for anything else (unknown name, 0, out of range, empty, blanks,
/// signs, trailing garbage).
std::optional<int> parse_signal(std::string_view text);

/// The name of signal `signo`: "SIGTERM", "SIGRTMIN", "SIGRTMIN+6", or
/// "SIG<n>" for a number without a name (never fails).
std::string signal_name(int signo);

/// The signal names parse_signal() accepts, without the SIG prefix, comma
/// separated ("HUP, INT, QUIT, ..., RTMIN, RTMIN+n, RTMAX-n, RTMAX"), for
/// error messages.
std::string known_signal_names();

}  // namespace minisup::config
