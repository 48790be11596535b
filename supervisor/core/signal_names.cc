// Signal names: see signal_names.h.
#include "supervisor/core/signal_names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <iterator>

namespace minisup::core {
namespace {

struct SignalEntry {
  int number;
  std::string_view name;  // without the "SIG" prefix
};

// The standard Linux signals (signal(7)). Numbers come from <csignal> so the
// table is right on every architecture.
constexpr std::array kSignals{
    SignalEntry{SIGHUP, "HUP"},   SignalEntry{SIGINT, "INT"},
    SignalEntry{SIGQUIT, "QUIT"}, SignalEntry{SIGILL, "ILL"},
    SignalEntry{SIGTRAP, "TRAP"}, SignalEntry{SIGABRT, "ABRT"},
    SignalEntry{SIGBUS, "BUS"},   SignalEntry{SIGFPE, "FPE"},
    SignalEntry{SIGKILL, "KILL"}, SignalEntry{SIGUSR1, "USR1"},
    SignalEntry{SIGSEGV, "SEGV"}, SignalEntry{SIGUSR2, "USR2"},
    SignalEntry{SIGPIPE, "PIPE"}, SignalEntry{SIGALRM, "ALRM"},
    SignalEntry{SIGTERM, "TERM"}, SignalEntry{SIGSTKFLT, "STKFLT"},
    SignalEntry{SIGCHLD, "CHLD"}, SignalEntry{SIGCONT, "CONT"},
    SignalEntry{SIGSTOP, "STOP"}, SignalEntry{SIGTSTP, "TSTP"},
    SignalEntry{SIGTTIN, "TTIN"}, SignalEntry{SIGTTOU, "TTOU"},
    SignalEntry{SIGURG, "URG"},   SignalEntry{SIGXCPU, "XCPU"},
    SignalEntry{SIGXFSZ, "XFSZ"}, SignalEntry{SIGVTALRM, "VTALRM"},
    SignalEntry{SIGPROF, "PROF"}, SignalEntry{SIGWINCH, "WINCH"},
    SignalEntry{SIGIO, "IO"},     SignalEntry{SIGPWR, "PWR"},
    SignalEntry{SIGSYS, "SYS"},
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string signal_name(int signal) {
  for (const SignalEntry& entry : kSignals) {
    if (entry.number == signal) return "SIG" + std::string(entry.name);
  }
  return "signal " + std::to_string(signal);
}

std::optional<int> parse_signal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (text.size() > 3) return std::nullopt;  // also keeps the sum below from overflowing
    int number = 0;
    for (char c : text) number = number * 10 + (c - '0');
    if (number < 1 || number > kMaxSignal) return std::nullopt;
    return number;
  }
  std::string_view name = text;
  if (name.size() > 3 && equals_ignoring_case(name.substr(0, 3), "SIG")) name.remove_prefix(3);
  for (const SignalEntry& entry : kSignals) {
    if (equals_ignoring_case(entry.name, name)) return entry.number;
  }
  return std::nullopt;
}

}  // namespace minisup::core
