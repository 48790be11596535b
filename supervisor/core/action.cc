// Action descriptions: see action.h.
#include "supervisor/core/action.h"

#include <type_traits>

#include "supervisor/config/signal_names.h"
#include "supervisor/core/text.h"

namespace minisup::core {

std::string_view to_string(DeadlineKind kind) {
  switch (kind) {
    case DeadlineKind::Startsecs:
      return "startsecs";
    case DeadlineKind::Backoff:
      return "backoff";
    case DeadlineKind::Stopwaitsecs:
      return "stopwaitsecs";
    case DeadlineKind::Ready:
      return "ready";
  }
  return "unknown";
}

std::string_view to_string(ExitReason reason) {
  switch (reason) {
    case ExitReason::Exited:
      return "exited";
    case ExitReason::Killed:
      return "killed";
    case ExitReason::NeededSigkill:
      return "needed_sigkill";
    case ExitReason::SpawnFailed:
      return "spawn_failed";
    case ExitReason::Unhealthy:
      return "unhealthy";
    case ExitReason::NotReady:
      return "not_ready";
    case ExitReason::DependencyFailed:
      return "dependency_failed";
  }
  return "unknown";
}

std::string ExitRecord::text() const {
  if (reason == ExitReason::SpawnFailed) return "spawn failed";
  if (reason == ExitReason::DependencyFailed) return "not started";
  return exit_text(exit_code, exit_signal, core_dumped);
}

std::string describe(const Action& action, TimePoint origin) {
  return std::visit(
      [origin](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Spawn>) {
          return "Spawn(#" + std::to_string(a.incarnation) + ")";
        } else if constexpr (std::is_same_v<T, SendSignal>) {
          return "SendSignal(" + config::signal_name(a.signal) + (a.to_group ? ", group)" : ")");
        } else if constexpr (std::is_same_v<T, ArmDeadline>) {
          return "ArmDeadline(" + std::string(to_string(a.kind)) + ", +" +
                 seconds_text(a.at - origin) + ")";
        } else if constexpr (std::is_same_v<T, ProbeGroup>) {
          return "ProbeGroup";
        } else if constexpr (std::is_same_v<T, StartProbe>) {
          return std::string(a.role == ProbeRole::Ready ? "StartProbe(ready, #"
                                                        : "StartProbe(health, #") +
                 std::to_string(a.incarnation) + ")";
        } else if constexpr (std::is_same_v<T, StopProbe>) {
          return a.role == ProbeRole::Ready ? "StopProbe(ready)" : "StopProbe(health)";
        } else if constexpr (std::is_same_v<T, CancelDeadline>) {
          return "CancelDeadline(" + std::string(to_string(a.kind)) + ")";
        } else if constexpr (std::is_same_v<T, StateChanged>) {
          return "StateChanged(" + std::string(to_string(a.from)) + " -> " +
                 std::string(to_string(a.to)) + ": " + a.reason + ")";
        } else if constexpr (std::is_same_v<T, RecordExit>) {
          const ExitRecord& r = a.record;
          std::string text = "RecordExit(pid " + std::to_string(r.pid) + ", " + r.text() + ", " +
                             std::string(to_string(r.reason));
          if (r.stop_duration) text += ", stop took " + seconds_text(*r.stop_duration);
          text += r.expected ? ", expected)" : ", not expected)";
          return text;
        } else if constexpr (std::is_same_v<T, Notice>) {
          return "Notice(" + a.message + ")";
        } else if constexpr (std::is_same_v<T, AddProcess>) {
          return "AddProcess";
        } else if constexpr (std::is_same_v<T, ProcessRetired>) {
          return "ProcessRetired(" + a.as + ")";
        } else {
          static_assert(std::is_same_v<T, RemoveProcess>);
          return "RemoveProcess";
        }
      },
      action);
}

}  // namespace minisup::core
