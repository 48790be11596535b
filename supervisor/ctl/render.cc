// minisupctl's output and exit codes (see render.h).
#include "supervisor/ctl/render.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>

#include "supervisor/config/signal_names.h"

namespace minisup::ctl {

using namespace control;

namespace {

bool is_one_of(std::string_view value, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

/// ANSI colour of a state name; empty for none.
std::string_view state_color(std::string_view state) {
  if (state == "RUNNING") return "\x1b[32m";
  if (is_one_of(state, {"STARTING", "BACKOFF", "STOPPING"})) return "\x1b[33m";
  if (is_one_of(state, {"EXITED", "FATAL"})) return "\x1b[31m";
  return {};
}

std::string stop_detail(bool needed_sigkill, const std::optional<Seconds>& stop_duration) {
  if (!needed_sigkill) return {};
  if (stop_duration) return fmt::format(" (needed SIGKILL after {:.1f} s)", stop_duration->count());
  return " (needed SIGKILL)";
}

std::string render_changes(const ConfigChanges& changes, std::string_view changed_word) {
  std::string out;
  for (const auto& name : changes.added) out += fmt::format("{}: added\n", name);
  for (const auto& name : changes.changed) out += fmt::format("{}: {}\n", name, changed_word);
  for (const auto& name : changes.removed) out += fmt::format("{}: removed\n", name);
  if (out.empty()) out = "No config updates to processes\n";
  for (const auto& note : changes.notes) out += fmt::format("note: {}\n", note);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------

int exit_code_unreachable(CommandKind command) {
  return command == CommandKind::Status ? kExitStatusUnknown : kExitNotRunningOrFailed;
}

int exit_code_for_error(CommandKind command, std::string_view error_code) {
  const std::optional<ErrorCode> code = parse_error_code(error_code);
  if (!code) return kExitFailure;
  switch (*code) {
    case ErrorCode::NoSuchProgram:
      return command == CommandKind::Status ? kExitStatusUnknown : kExitFailure;
    case ErrorCode::Timeout:
      return command == CommandKind::Wait ? kExitWaitTimeout : kExitFailure;
    case ErrorCode::UnexpectedState:
      return command == CommandKind::Wait ? kExitNotRunning : kExitFailure;
    case ErrorCode::BadRequest:
    case ErrorCode::BadSignal:
      return kExitBadArguments;
    case ErrorCode::BadJson:
    case ErrorCode::UnknownCommand:
    case ErrorCode::TooLarge:
    case ErrorCode::ShuttingDown:
    case ErrorCode::InvalidConfig:
    case ErrorCode::Internal:
    case ErrorCode::NoLogFile:
      return kExitFailure;
    case ErrorCode::TooManyClients:
      return exit_code_unreachable(command);
  }
  return kExitFailure;
}

int exit_code_for_status(const StatusTable& table) {
  for (const auto& row : table.rows()) {
    if (is_one_of(row.state, {"STOPPED", "EXITED", "FATAL"})) return kExitNotRunning;
  }
  return kExitSuccess;
}

int exit_code_for_status(const std::vector<ProcessInfo>& processes) {
  return exit_code_for_status(StatusTable::of(processes));
}

int exit_code_for_start(const StartReply& reply) {
  for (const auto& r : reply.results) {
    if (r.result == StartOutcome::Failed) return kExitNotRunningOrFailed;
  }
  return kExitSuccess;
}

int exit_code_for_restart(const RestartReply& reply, bool rolling) {
  for (const auto& r : reply.results) {
    if (r.result == RestartOutcome::Failed) return rolling ? kExitFailure : kExitNotRunningOrFailed;
  }
  return kExitSuccess;
}

int exit_code_for_signal(const SignalReply& reply, const std::vector<std::string>& names) {
  for (const auto& r : reply.results) {
    if (r.result == SignalOutcome::NotRunning &&
        std::find(names.begin(), names.end(), r.name) != names.end())
      return kExitNotRunningOrFailed;
  }
  return kExitSuccess;
}

int exit_code_for_pid(long long pid, bool named) {
  return named && pid == 0 ? kExitNotRunningOrFailed : kExitSuccess;
}

bool is_clean_stop(const StopResult& r) {
  if (r.result != StopOutcome::Stopped) return true;  // nothing was stopped
  if (r.needed_sigkill || r.exit_signal) return false;
  if (r.expected) return *r.expected;
  return r.exit_code == 0;
}

int exit_code_for_stop(const StopReply& reply, bool require_graceful, bool require_clean) {
  for (const auto& r : reply.results) {
    if (require_graceful && r.needed_sigkill) return kExitFailure;
    if (require_clean && !is_clean_stop(r)) return kExitFailure;
  }
  return kExitSuccess;
}

std::string render_stop_problems(const StopReply& reply, bool require_graceful,
                                 bool require_clean) {
  std::string out;
  for (const auto& r : reply.results) {
    if (r.result != StopOutcome::Stopped) continue;
    if ((require_graceful || require_clean) && r.needed_sigkill) {
      out += fmt::format("{}: needed SIGKILL{} ({})\n", r.name,
                         r.stop_duration ? fmt::format(" after {:.1f} s", r.stop_duration->count())
                                         : std::string(),
                         require_graceful ? "--require-graceful" : "--require-clean");
    } else if (require_clean && !is_clean_stop(r)) {
      std::string how = r.exit_signal ? "killed by " + config::signal_name(*r.exit_signal)
                        : r.exit_code
                            ? fmt::format("exit code {} is not in its exitcodes", *r.exit_code)
                            : std::string("no exit status");
      out += fmt::format("{}: not a clean stop: {} (--require-clean)\n", r.name, how);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  double value = static_cast<double>(bytes);
  for (const char unit : {'K', 'M', 'G', 'T', 'P'}) {
    value /= 1024;
    if (value < 1024 || unit == 'P') return fmt::format("{:.1f}{}", value, unit);
  }
  return {};  // not reached
}

std::string format_cpu_time(Seconds cpu) {
  const double seconds = cpu.count() > 0 ? cpu.count() : 0.0;  // NaN and negatives: 0
  if (seconds < 60) return fmt::format("{:.2f}s", seconds);
  const auto whole = seconds < 9e15 ? static_cast<long long>(seconds) : 9'000'000'000'000'000;
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, whole % 3600 / 60);
}

// ---------------------------------------------------------------------------
// The status table
// ---------------------------------------------------------------------------

StatusTable StatusTable::of(const std::vector<ProcessInfo>& processes) {
  StatusTable table;
  for (const auto& p : processes) table.add(p);
  return table;
}

void StatusTable::restart() {
  rows_.clear();
  trees_.clear();
  first_block_.reset();
  blocks_.clear();
  free_ = nullptr;
  left_ = 0;
}

std::string_view StatusTable::keep(std::string_view text) {
  if (text.empty()) return {};
  if (text.size() > left_) {
    constexpr std::size_t kFirstBlock = 16 * 1024;
    if (!first_block_ && text.size() <= kFirstBlock) {
      first_block_ = std::make_unique_for_overwrite<char[]>(kFirstBlock);
      free_ = first_block_.get();
      left_ = kFirstBlock;
    } else {
      blocks_.emplace_back(std::max(BulkMemory::kHugePage, text.size()));
      free_ = blocks_.back().data();
      left_ = blocks_.back().size();
    }
  }
  char* at = free_;
  std::copy(text.begin(), text.end(), at);
  free_ += text.size();
  left_ -= text.size();
  return {at, text.size()};
}

void StatusTable::add(const ProcessInfo& p) {
  Row row;
  row.name = keep(p.name);
  // A state name this client knows is not copied.
  const auto state = config::find_process_state_name(p.state);
  row.state = state && p.state == config::kProcessStateNames[*state]
                  ? config::kProcessStateNames[*state]
                  : keep(p.state);
  row.description = keep(p.description.empty() ? describe(p) : p.description);
  row.dropped_bytes = p.dropped_bytes;
  row.old = p.old;
  if (p.tree_processes || p.tree_rss_bytes || p.tree_cpu_seconds) {
    row.tree = static_cast<std::uint32_t>(trees_.size());
    trees_.push_back(Tree{p.tree_processes, p.tree_rss_bytes, p.tree_cpu_seconds});
  }
  rows_.push_back(row);
}

std::string render_status(const std::vector<ProcessInfo>& processes, bool color, bool tree) {
  return render_status(StatusTable::of(processes), color, tree);
}

std::string render_status(const StatusTable& table, bool color, bool tree) {
  std::string out;
  render_status(table, color, tree, [&](std::string_view piece) { out += piece; });
  return out;
}

void render_status(const StatusTable& table, bool color, bool tree,
                   const std::function<void(std::string_view)>& write) {
  // The tree columns, right-aligned: PROCS, RSS, CPU.
  auto tree_columns = [](std::string_view procs, std::string_view rss, std::string_view cpu) {
    return fmt::format("{:>5}  {:>7}  {:>7}  ", procs, rss, cpu);
  };
  const BulkArray<StatusTable::Row>& rows = table.rows();
  // An old process of a rolling restart: "web:0 (old)".
  constexpr std::string_view kOld = " (old)";
  auto name_size = [&](const StatusTable::Row& row) {
    return row.name.size() + (row.old ? kOld.size() : 0);
  };
  std::size_t name_width = tree ? std::string_view("NAME").size() : 0;
  for (const auto& row : rows) name_width = std::max(name_width, name_size(row));
  constexpr std::size_t kPiece = 64 * 1024;
  std::string out;
  out.reserve(std::min(kPiece, rows.size() * (name_width + (tree ? 72 : 48))) + 4096);
  if (tree && !rows.empty()) {
    out += "NAME";
    out.append(name_width - 4 + 2, ' ');
    out += "STATE     ";
    out += tree_columns("PROCS", "RSS", "CPU");
    out += "DESCRIPTION\n";
  }
  for (const auto& row : rows) {
    const std::size_t line_start = out.size();
    out += row.name;
    if (row.old) out += kOld;
    out.append(name_width - name_size(row) + 2, ' ');
    const std::string_view colour = color ? state_color(row.state) : std::string_view{};
    if (!colour.empty()) out += colour;
    out += row.state;
    if (!colour.empty()) out += "\x1b[0m";
    // (at least one blank, should a newer minisupd send a longer state)
    out.append(row.state.size() < 10 ? 10 - row.state.size() : 1, ' ');
    if (tree) {
      const StatusTable::Tree* usage = table.tree(row);
      const StatusTable::Tree none;
      const StatusTable::Tree& t = usage ? *usage : none;
      out += tree_columns(t.processes ? std::to_string(*t.processes) : "-",
                          t.rss_bytes ? format_bytes(*t.rss_bytes) : "-",
                          t.cpu_seconds ? format_cpu_time(*t.cpu_seconds) : "-");
    }
    out += row.description;
    // Lost output is worth a look whatever the state (see dropped_bytes).
    if (row.dropped_bytes > 0)
      fmt::format_to(std::back_inserter(out), "; {} log bytes dropped", row.dropped_bytes);
    // Trailing blanks removed (a state padded for an empty description).
    while (out.size() > line_start && out.back() == ' ') out.pop_back();
    out += '\n';
    if (out.size() >= kPiece) {
      write(out);
      out.clear();
    }
  }
  if (!out.empty()) write(out);
}

std::string render_start(const StartReply& reply) {
  std::string out;
  for (const auto& r : reply.results) {
    switch (r.result) {
      case StartOutcome::Started:
        out += fmt::format("{}: started\n", r.name);
        break;
      case StartOutcome::AlreadyStarted:
        out += fmt::format("{}: ERROR (already started)\n", r.name);
        break;
      case StartOutcome::Failed:
        out += fmt::format("{}: ERROR ({})\n", r.name,
                           r.message.empty() ? "failed to start" : r.message);
        break;
    }
  }
  return out;
}

std::string render_stop(const StopReply& reply) {
  std::string out;
  for (const auto& r : reply.results) {
    switch (r.result) {
      case StopOutcome::Stopped:
        out +=
            fmt::format("{}: stopped{}\n", r.name, stop_detail(r.needed_sigkill, r.stop_duration));
        break;
      case StopOutcome::NotRunning:
        out += fmt::format("{}: ERROR (not running)\n", r.name);
        break;
    }
  }
  return out;
}

std::string render_restart(const RestartReply& reply) {
  std::string out;
  for (const auto& r : reply.results) {
    if (r.needed_sigkill) out += fmt::format("{}: stopped (needed SIGKILL)\n", r.name);
    switch (r.result) {
      case RestartOutcome::Started:
        out += fmt::format("{}: started\n", r.name);
        break;
      case RestartOutcome::Failed:
        out += fmt::format("{}: ERROR ({})\n", r.name,
                           r.message.empty() ? "failed to start" : r.message);
        break;
    }
  }
  return out;
}

std::string render_signal(const SignalReply& reply) {
  std::string out;
  for (const auto& r : reply.results) {
    switch (r.result) {
      case SignalOutcome::Signalled:
        out += fmt::format("{}: signalled\n", r.name);
        break;
      case SignalOutcome::NotRunning:
        out += fmt::format("{}: ERROR (not running)\n", r.name);
        break;
    }
  }
  return out;
}

std::string render_clear(const ClearReply& reply) {
  std::string out;
  for (const auto& name : reply.names) out += fmt::format("{}: cleared\n", name);
  return out;
}

std::string render_reread(const ConfigChanges& changes) {
  return render_changes(changes, "changed");
}

std::string render_update(const ConfigChanges& changes) {
  return render_changes(changes, "updated");
}

std::string render_wait(const WaitReply& reply) {
  std::string out;
  for (const auto& r : reply.results) out += fmt::format("{}: {}\n", r.name, r.state);
  return out;
}

std::string render_no_such_program(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += fmt::format("{}: ERROR (no such process)\n", name);
  return out;
}

std::string render_event(const StateEvent& event) {
  const auto seconds = static_cast<time_t>(
      std::chrono::floor<std::chrono::seconds>(event.time.time_since_epoch()).count());
  struct tm tm {};
  char when[64] = "";
  if (localtime_r(&seconds, &tm) != nullptr) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = fmt::format("{} {} {} -> {}", when, event.process, event.from, event.to);
  if (!event.reason.empty()) out += fmt::format(" ({})", event.reason);
  out += '\n';
  return out;
}

std::string render_processes_changed() {
  return "(processes added or removed: `minisupctl status` shows the new set)\n";
}

std::string render_gap(const GapEvent& gap) {
  return fmt::format("(missed events {} to {}: no longer buffered by minisupd)\n", gap.first_missed,
                     gap.last_missed);
}

}  // namespace minisup::ctl
