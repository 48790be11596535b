// /metrics: see metrics.h for the families and the choices behind them.
#include "supervisor/daemon/metrics.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <iterator>
#include <vector>

#include "supervisor/config/process_state_names.h"
#include "supervisor/daemon/runtime.h"
#include "supervisor/sys/proc_tree.h"
#include "supervisor/version.h"

namespace minisup::daemon {

namespace {

/// What one process contributes, read once from its machine.
struct ProcessRow {
  std::string labels;  ///< process="web:0",group="web"[,old="true"]
  std::size_t state = 0;
  core::ProcessCounters counters;
  bool ready = false;
  std::optional<int> exit_code;
  std::optional<double> stop_seconds;
  std::optional<double> start_time;
};

/// Appends the text of the metrics, family by family.
class Writer {
 public:
  explicit Writer(std::size_t reserve) { text_.reserve(reserve); }

  /// `# HELP` and `# TYPE` of a family (HELP text has no backslash or
  /// newline here, so needs no escaping).
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  /// One sample: `name{labels,extra} value`; `extra` (already escaped) may
  /// be empty, as may `labels`.
  template <typename Value>
  void sample(std::string_view name, std::string_view labels, std::string_view extra, Value value) {
    text_ += name;
    if (!labels.empty() || !extra.empty()) {
      text_ += '{';
      text_ += labels;
      if (!labels.empty() && !extra.empty()) text_ += ',';
      text_ += extra;
      text_ += '}';
    }
    fmt::format_to(std::back_inserter(text_), " {}\n", value);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        escaped += "\\\\";
        break;
      case '"':
        escaped += "\\\"";
        break;
      case '\n':
        escaped += "\\n";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

MetricsFacts read_own_metrics_facts() {
  MetricsFacts facts;
  facts.rss_bytes = sys::read_own_rss_bytes();
  facts.open_fds = sys::count_own_fds();
  facts.version = std::string(kVersion);
  return facts;
}

std::string Runtime::metrics_text(const MetricsFacts& facts) const {
  using Seconds = std::chrono::duration<double>;
  const std::vector<const core::ManagedProcess*>& processes = supervisor_->processes();
  std::vector<ProcessRow> rows;
  rows.reserve(processes.size());
  for (const core::ManagedProcess* process : processes) {
    const core::ProcessMachine& machine = process->machine();
    ProcessRow row;
    row.labels = "process=\"" + escape_label_value(process->process_config().name) + "\",group=\"" +
                 escape_label_value(process->program_name()) + '"';
    if (process->is_old()) row.labels += ",old=\"true\"";
    row.state = static_cast<std::size_t>(machine.state());
    row.counters = machine.counters();
    row.ready = machine.is_ready();
    if (const auto& exit = machine.last_exit()) row.exit_code = exit->exit_code;
    if (const auto stop = machine.last_stop_duration())
      row.stop_seconds = std::chrono::duration_cast<Seconds>(*stop).count();
    if (machine.started_at() != TimePoint{}) {
      row.start_time =
          std::chrono::duration_cast<Seconds>(to_wall(machine.started_at()).time_since_epoch())
              .count();
    }
    rows.push_back(std::move(row));
  }

  // About 20 samples of about 90 bytes per process.
  Writer w(2048 + rows.size() * 1800);
  w.family("minisup_process_state", "gauge",
           "The state of the process: 1 for the current state, 0 for the others.");
  // The per-state and per-reason labels, made once (not once per process).
  std::array<std::string, config::kProcessStateNames.size()> state_labels;
  for (std::size_t s = 0; s < state_labels.size(); ++s)
    state_labels[s] = fmt::format("state=\"{}\"", config::kProcessStateNames[s]);
  std::array<std::string, core::kExitReasons> reason_labels;
  for (const core::ExitReason reason : core::kAllExitReasons)
    reason_labels[static_cast<std::size_t>(reason)] =
        fmt::format("reason=\"{}\"", core::to_string(reason));
  for (const ProcessRow& row : rows) {
    for (std::size_t s = 0; s < state_labels.size(); ++s)
      w.sample("minisup_process_state", row.labels, state_labels[s], s == row.state ? 1 : 0);
  }
  w.family("minisup_process_restarts_total", "counter",
           "Times minisupd started the process again by itself after a run ended (autorestart, "
           "backoff retry, health-check restart); requested starts do not count.");
  for (const ProcessRow& row : rows)
    w.sample("minisup_process_restarts_total", row.labels, "", row.counters.restarts);
  w.family("minisup_process_exits_total", "counter", "Ends of runs of the process, by reason.");
  for (const ProcessRow& row : rows) {
    for (const core::ExitReason reason : core::kAllExitReasons) {
      w.sample("minisup_process_exits_total", row.labels,
               reason_labels[static_cast<std::size_t>(reason)], row.counters.exits_for(reason));
    }
  }
  w.family("minisup_process_sigkill_total", "counter",
           "Stops of the process that needed SIGKILL at stopwaitsecs.");
  for (const ProcessRow& row : rows)
    w.sample("minisup_process_sigkill_total", row.labels, "", row.counters.sigkills);
  w.family("minisup_process_last_exit_code", "gauge",
           "The exit status of the last run, when it exited with one (not killed by a signal).");
  for (const ProcessRow& row : rows) {
    if (row.exit_code) w.sample("minisup_process_last_exit_code", row.labels, "", *row.exit_code);
  }
  w.family("minisup_process_stop_duration_seconds", "gauge",
           "How long the last stop took, from the stop signal to the exit.");
  for (const ProcessRow& row : rows) {
    if (row.stop_seconds)
      w.sample("minisup_process_stop_duration_seconds", row.labels, "", *row.stop_seconds);
  }
  w.family("minisup_process_start_time_seconds", "gauge",
           "Unix time of the current or last spawn of the process.");
  for (const ProcessRow& row : rows) {
    if (row.start_time)
      w.sample("minisup_process_start_time_seconds", row.labels, "", *row.start_time);
  }
  w.family("minisup_process_ready", "gauge",
           "1 when the process is RUNNING (its ready probe passed) and its last health check did "
           "not fail.");
  for (const ProcessRow& row : rows)
    w.sample("minisup_process_ready", row.labels, "", row.ready ? 1 : 0);
  w.family("minisup_resident_memory_bytes", "gauge", "Resident memory of minisupd in bytes.");
  if (facts.rss_bytes) w.sample("minisup_resident_memory_bytes", "", "", *facts.rss_bytes);
  w.family("minisup_open_fds", "gauge", "Open file descriptors of minisupd.");
  if (facts.open_fds) w.sample("minisup_open_fds", "", "", *facts.open_fds);
  w.family("minisup_build_info", "gauge", "The version of minisupd; always 1.");
  w.sample("minisup_build_info", "", "version=\"" + escape_label_value(facts.version) + '"', 1);
  return w.take();
}

}  // namespace minisup::daemon
