// start_steps(), worst_case_shutdown() and check_summary() of
// load_config.h: the start order and what `minisupd --check` prints about a
// valid config.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <queue>
#include <set>
#include <tuple>

#include "supervisor/config/load_config.h"

namespace minisup::config {
namespace {

/// Kubernetes' default terminationGracePeriodSeconds, the most common
/// orchestrator grace period (ECS stopTimeout defaults to 30 s as well).
constexpr auto kCommonGracePeriod = std::chrono::seconds(30);

std::string format_seconds(Duration duration) {
  return fmt::format("{:.1f} s", std::chrono::duration<double>(duration).count());
}

std::string_view condition_name(DependencyCondition condition) {
  switch (condition) {
    case DependencyCondition::Started:
      return "started";
    case DependencyCondition::Ready:
      return "ready";
    case DependencyCondition::Completed:
      return "completed";
  }
  return "ready";
}

bool by_priority_then_name(const ProgramConfig* a, const ProgramConfig* b) {
  return std::tie(a->priority, a->name) < std::tie(b->priority, b->name);
}

}  // namespace

std::vector<std::vector<const ProgramConfig*>> start_steps(const Config& config) {
  std::map<std::string, const ProgramConfig*> by_name;
  for (const ProgramConfig& program : config.programs) by_name.emplace(program.name, &program);

  // Kahn's algorithm; among the programs whose dependencies have all
  // started, the lowest (priority, name) goes next.
  std::map<const ProgramConfig*, std::size_t> waiting_for;  // unmet dependencies
  std::map<const ProgramConfig*, std::vector<const ProgramConfig*>> dependents;
  for (const ProgramConfig& program : config.programs) {
    std::size_t count = 0;
    for (const Dependency& dependency : program.depends_on) {
      const auto it = by_name.find(dependency.program);
      if (it == by_name.end() || it->second == &program) continue;
      dependents[it->second].push_back(&program);
      ++count;
    }
    waiting_for[&program] = count;
  }
  auto later = [](const ProgramConfig* a, const ProgramConfig* b) {
    return by_priority_then_name(b, a);
  };
  std::priority_queue<const ProgramConfig*, std::vector<const ProgramConfig*>, decltype(later)>
      ready(later);
  for (const auto& [program, count] : waiting_for) {
    if (count == 0) ready.push(program);
  }
  std::vector<const ProgramConfig*> order;
  while (!ready.empty()) {
    const ProgramConfig* program = ready.top();
    ready.pop();
    order.push_back(program);
    for (const ProgramConfig* dependent : dependents[program]) {
      if (--waiting_for[dependent] == 0) ready.push(dependent);
    }
  }
  if (order.size() < config.programs.size()) {  // a cycle: never in a loaded config
    std::set<const ProgramConfig*> placed(order.begin(), order.end());
    std::vector<const ProgramConfig*> rest;
    for (const ProgramConfig& program : config.programs) {
      if (!placed.contains(&program)) rest.push_back(&program);
    }
    std::sort(rest.begin(), rest.end(), by_priority_then_name);
    order.insert(order.end(), rest.begin(), rest.end());
  }

  // Steps: a new one at a new priority, or at a program that depends on a
  // program of the current step.
  std::vector<std::vector<const ProgramConfig*>> steps;
  for (const ProgramConfig* program : order) {
    bool new_step = steps.empty() || steps.back().front()->priority != program->priority;
    if (!new_step) {
      for (const Dependency& dependency : program->depends_on) {
        for (const ProgramConfig* member : steps.back()) {
          if (member->name == dependency.program) new_step = true;
        }
      }
    }
    if (new_step) steps.emplace_back();
    steps.back().push_back(program);
  }
  return steps;
}

std::vector<const ProgramConfig*> start_order(const Config& config) {
  std::vector<const ProgramConfig*> order;
  for (const auto& step : start_steps(config)) order.insert(order.end(), step.begin(), step.end());
  return order;
}

Duration worst_case_shutdown(const Config& config) {
  // Steps stop one after the other, the programs of a step together: a
  // step takes as long as its slowest stopwaitsecs.
  Duration total{0};
  for (const auto& step : start_steps(config)) {
    Duration slowest{0};
    for (const ProgramConfig* program : step) slowest = std::max(slowest, program->stopwaitsecs);
    total += slowest;
  }
  return total;
}

std::string check_summary(const Config& config) {
  std::size_t processes = 0;
  bool has_dependencies = false;
  for (const ProgramConfig& program : config.programs) {
    processes += program.processes.size();
    has_dependencies = has_dependencies || !program.depends_on.empty();
  }

  std::string out;
  out += fmt::format("config: {}\n", config.file.string());
  out += fmt::format("programs: {}\n", config.programs.size());
  out += fmt::format("processes: {}\n", processes);
  if (!config.sockets.empty()) {
    // `  http: tcp://0.0.0.0:3000 (backlog 4096) -> web, api`
    out += fmt::format("held sockets: {}\n", config.sockets.size());
    for (const SocketConfig& socket : config.sockets) {
      std::string users;
      for (const ProgramConfig& program : config.programs) {
        for (const SocketConfig& held : program.sockets) {
          if (held.name == socket.name) users += (users.empty() ? "" : ", ") + program.name;
        }
      }
      std::string line =
          fmt::format("  {}: {} (backlog {}", socket.name, socket.address_text(), socket.backlog);
      if (socket.kind == SocketConfig::Kind::Unix) {
        line += fmt::format(", mode {:04o}", socket.mode);
        if (!socket.owner.empty()) line += ", owner " + socket.owner;
      }
      line += ")";
      line += users.empty() ? " (no program uses it)" : " -> " + users;
      out += line + "\n";
    }
  }
  // `groups: api (web), workers (queue, mail)`: only when there are any.
  if (!config.groups.empty()) {
    std::string line = "groups:";
    for (const GroupConfig& group : config.groups) {
      line += fmt::format("{} {} ({})", line.back() == ':' ? "" : ",", group.name,
                          fmt::join(group.programs, ", "));
    }
    out += line + "\n";
  }
  out += has_dependencies ? "start order (dependencies first, then by priority, lowest first):\n"
                          : "start order (by priority, lowest first):\n";
  // One line per step: `  PRIORITY: a, b (after db: ready)`.
  for (const auto& step : start_steps(config)) {
    std::string line = fmt::format("  {}:", step.front()->priority);
    for (const ProgramConfig* program : step) {
      line += line.back() == ':' ? " " : ", ";
      line += program->name;
      if (program->numprocs > 1) line += fmt::format(" ({} processes)", program->numprocs);
      if (!program->autostart) line += " (autostart = false)";
      if (program->job) line += " (job)";
      if (!program->depends_on.empty()) {
        line += " (after ";
        for (std::size_t i = 0; i < program->depends_on.size(); ++i) {
          const Dependency& dependency = program->depends_on[i];
          line += fmt::format("{}{}: {}", i == 0 ? "" : ", ", dependency.program,
                              condition_name(dependency.condition));
        }
        line += ")";
      }
    }
    out += line + "\n";
  }
  const Duration shutdown = worst_case_shutdown(config);
  out += fmt::format("worst-case shutdown: {}\n", format_seconds(shutdown));
  if (const auto& timeout = config.supervisor.shutdown_timeout) {
    out += fmt::format("shutdown_timeout: {}\n", format_seconds(*timeout));
    if (shutdown > *timeout) {
      out += fmt::format(
          "warning: worst-case shutdown of {} exceeds shutdown_timeout ({}); processes still "
          "running {} after the shutdown began get SIGKILL then\n",
          format_seconds(shutdown), format_seconds(*timeout), format_seconds(*timeout));
    }
    if (*timeout > kCommonGracePeriod) {
      out += fmt::format(
          "warning: shutdown_timeout of {} exceeds 30 s, the default Kubernetes "
          "terminationGracePeriodSeconds; raise the grace period to match\n",
          format_seconds(*timeout));
    }
  } else if (shutdown > kCommonGracePeriod) {
    out += fmt::format(
        "warning: worst-case shutdown of {} exceeds 30 s, the default Kubernetes "
        "terminationGracePeriodSeconds; lower stopwaitsecs or raise the grace period\n",
        format_seconds(shutdown));
  }
  for (const std::string& warning : config.warnings) out += fmt::format("warning: {}\n", warning);
  return out;
}

}  // namespace minisup::config
