// worst_case_shutdown() and check_summary() of load_config.h: what
// `minisupd --check` prints about a valid config.
#include <fmt/format.h>

#include <map>

#include "supervisor/config/load_config.h"

namespace minisup::config {
namespace {

/// Kubernetes' default terminationGracePeriodSeconds, the most common
/// orchestrator grace period (ECS stopTimeout defaults to 30 s as well).
constexpr auto kCommonGracePeriod = std::chrono::seconds(30);

std::string format_seconds(Duration duration) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(duration).count());
}

}  // namespace

Duration worst_case_shutdown(const Config& config) {
  // Levels stop one after the other, the programs of a level together: a
  // level takes as long as its slowest stopwaitsecs.
  std::map<int, Duration> slowest_per_level;
  for (const ProgramConfig& program : config.programs) {
    Duration& slowest = slowest_per_level[program.priority];
    slowest = std::max(slowest, program.stopwaitsecs);
  }
  Duration total{0};
  for (const auto& [priority, slowest] : slowest_per_level) total += slowest;
  return total;
}

std::string check_summary(const Config& config) {
  std::size_t processes = 0;
  for (const ProgramConfig& program : config.programs) processes += program.processes.size();

  std::string out;
  out += fmt::format("config: {}\n", config.file.string());
  out += fmt::format("programs: {}\n", config.programs.size());
  out += fmt::format("processes: {}\n", processes);
  out += "start order (by priority, lowest first):\n";
  // config.programs is sorted by (priority, name): one line per level.
  for (std::size_t i = 0; i < config.programs.size();) {
    const int priority = config.programs[i].priority;
    std::string line = fmt::format("  {}:", priority);
    for (; i < config.programs.size() && config.programs[i].priority == priority; ++i) {
      const ProgramConfig& program = config.programs[i];
      line += line.back() == ':' ? " " : ", ";
      line += program.name;
      if (program.numprocs > 1) line += fmt::format(" ({} processes)", program.numprocs);
      if (!program.autostart) line += " (autostart = false)";
    }
    out += line + "\n";
  }
  const Duration shutdown = worst_case_shutdown(config);
  out += fmt::format("worst-case shutdown: {}\n", format_seconds(shutdown));
  if (shutdown > kCommonGracePeriod) {
    out += fmt::format(
        "warning: worst-case shutdown of {} exceeds 30 s, the default Kubernetes "
        "terminationGracePeriodSeconds; lower stopwaitsecs or raise the grace period\n",
        format_seconds(shutdown));
  }
  for (const std::string& warning : config.warnings) out += fmt::format("warning: {}\n", warning);
  return out;
}

}  // namespace minisup::config
