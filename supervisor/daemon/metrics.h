// /metrics: minisupd's processes in the Prometheus text exposition format
// (version 0.0.4), for the HTTP listener's `GET /metrics` (DESIGN.md, "HTTP:
// dashboard, JSON API, metrics"). Runtime::metrics_text() writes it from the
// core's state, the same facts `status --json` reports; this header holds
// what comes from outside the core (minisupd's own memory and descriptors,
// its version) and the text format's helpers.
//
// The families, each with `# HELP` and `# TYPE`, in this order. Per process
// the labels are process="web:0",group="web" (the process name and its
// program); the old process of a rolling restart has the same process name
// and, to keep every sample's label set unique, the label old="true" as
// well (other processes have no `old` label, which PromQL reads as
// old=""):
//   minisup_process_state{state}          gauge: one sample per state name
//                                         (STOPPED ... FATAL), 1 for the
//                                         current state, 0 for the others
//   minisup_process_restarts_total        counter: restarts minisupd made by
//                                         itself (status `restarts`)
//   minisup_process_exits_total{reason}   counter: one sample per exit reason
//                                         (exited, killed, needed_sigkill,
//                                         spawn_failed, unhealthy, not_ready,
//                                         dependency_failed)
//   minisup_process_sigkill_total         counter: stops that needed SIGKILL
//   minisup_process_last_exit_code        gauge: the last run's exit status;
//                                         no sample unless the last run
//                                         ended with an exit status (not
//                                         killed by a signal, not a failed
//                                         spawn, and not before any end)
//   minisup_process_stop_duration_seconds gauge: the last stop, stop signal
//                                         to exit; no sample before one
//   minisup_process_start_time_seconds    gauge: Unix time of the current or
//                                         last spawn; no sample before one
//   minisup_process_ready                 gauge: 1 when ready (status `ready`)
//   minisup_resident_memory_bytes         gauge: minisupd's RSS
//   minisup_open_fds                      gauge: minisupd's open descriptors
//   minisup_build_info{version}           gauge: always 1
// The counters are kept per process name over minisupd's lifetime
// (core::ProcessCounters); a process removed by a reload has no samples.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minisup::daemon {

/// What /metrics reports about minisupd itself.
struct MetricsFacts {
  /// Resident memory in bytes; nullopt (no sample) when unreadable.
  std::optional<std::uint64_t> rss_bytes;
  /// Open file descriptors; nullopt (no sample) when unreadable.
  std::optional<int> open_fds;
  /// minisup's version ("0.1.0"), the label of minisup_build_info.
  std::string version;
};

/// minisupd's own facts, read now: /proc/self/statm, /proc/self/fd and the
/// version CMake generated (supervisor/version.h). Never throws but
/// std::bad_alloc; what cannot be read is left nullopt.
MetricsFacts read_own_metrics_facts();

/// `value` as a Prometheus label value: backslash, double quote and newline
/// escaped as \\, \" and \n (the text format's rules); nothing else changes.
std::string escape_label_value(std::string_view value);

}  // namespace minisup::daemon
