// The table of signal names (see signal_names.h).
#include "supervisor/config/signal_names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>

namespace minisup::config {
namespace {

struct SignalEntry {
  std::string_view name;
  int number;
};

// Linux signal names (signal(7)), without the SIG prefix. The first entry
// of a number is its name; POLL and IOT are aliases kept for supervisord
// configs that use them.
constexpr std::array kSignals{
    SignalEntry{"HUP", SIGHUP},   SignalEntry{"INT", SIGINT},
    SignalEntry{"QUIT", SIGQUIT}, SignalEntry{"ILL", SIGILL},
    SignalEntry{"TRAP", SIGTRAP}, SignalEntry{"ABRT", SIGABRT},
    SignalEntry{"BUS", SIGBUS},   SignalEntry{"FPE", SIGFPE},
    SignalEntry{"KILL", SIGKILL}, SignalEntry{"USR1", SIGUSR1},
    SignalEntry{"SEGV", SIGSEGV}, SignalEntry{"USR2", SIGUSR2},
    SignalEntry{"PIPE", SIGPIPE}, SignalEntry{"ALRM", SIGALRM},
    SignalEntry{"TERM", SIGTERM}, SignalEntry{"STKFLT", SIGSTKFLT},
    SignalEntry{"CHLD", SIGCHLD}, SignalEntry{"CONT", SIGCONT},
    SignalEntry{"STOP", SIGSTOP}, SignalEntry{"TSTP", SIGTSTP},
    SignalEntry{"TTIN", SIGTTIN}, SignalEntry{"TTOU", SIGTTOU},
    SignalEntry{"URG", SIGURG},   SignalEntry{"XCPU", SIGXCPU},
    SignalEntry{"XFSZ", SIGXFSZ}, SignalEntry{"VTALRM", SIGVTALRM},
    SignalEntry{"PROF", SIGPROF}, SignalEntry{"WINCH", SIGWINCH},
    SignalEntry{"IO", SIGIO},     SignalEntry{"PWR", SIGPWR},
    SignalEntry{"SYS", SIGSYS},   SignalEntry{"POLL", SIGPOLL},
    SignalEntry{"IOT", SIGIOT},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

/// A decimal number of digits only (leading zeros allowed); nullopt when
/// empty, not digits, or beyond 9 digits (far out of any signal's range).
std::optional<int> parse_digits(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::optional<int> in_range(std::optional<int> signo) {
  if (!signo || *signo < 1 || *signo > SIGRTMAX) return std::nullopt;
  return signo;
}

/// "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n" (SIG already removed).
std::optional<int> parse_realtime(std::string_view name) {
  auto relative = [&](std::string_view base, int value, char sign) -> std::optional<int> {
    if (!istarts_with(name, base)) return std::nullopt;
    std::string_view rest = name.substr(base.size());
    if (rest.empty()) return value;
    if (rest[0] != sign) return std::nullopt;
    auto offset = parse_digits(rest.substr(1));
    if (!offset) return std::nullopt;
    const int n = sign == '+' ? value + *offset : value - *offset;
    if (n < SIGRTMIN || n > SIGRTMAX) return std::nullopt;
    return n;
  };
  if (auto n = relative("RTMIN", SIGRTMIN, '+')) return n;
  return relative("RTMAX", SIGRTMAX, '-');
}

}  // namespace

std::optional<int> parse_signal(std::string_view text) {
  if (auto number = parse_digits(text)) return in_range(number);
  std::string_view name = text;
  if (name.size() > 3 && istarts_with(name, "SIG")) name.remove_prefix(3);
  for (const auto& entry : kSignals) {
    if (iequals(name, entry.name)) return entry.number;
  }
  if (auto n = parse_realtime(name)) return n;
  if (name.size() < text.size()) return in_range(parse_digits(name));  // "SIG32"
  return std::nullopt;
}

std::string signal_name(int signo) {
  for (const auto& entry : kSignals) {
    if (entry.number == signo) return "SIG" + std::string(entry.name);
  }
  if (signo == SIGRTMIN) return "SIGRTMIN";
  if (signo > SIGRTMIN && signo <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
  return "SIG" + std::to_string(signo);
}

std::string known_signal_names() {
  std::string names;
  for (const auto& entry : kSignals) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names + ", RTMIN, RTMIN+n, RTMAX-n, RTMAX";
}

}  // namespace minisup::config
