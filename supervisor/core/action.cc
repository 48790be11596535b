// Action descriptions: see action.h.
#include "supervisor/core/action.h"

#include <type_traits>

#include "supervisor/core/signal_names.h"
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
  }
  return "unknown";
}

std::string describe(const Action& action, TimePoint origin) {
  return std::visit(
      [origin](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Spawn>) {
          return "Spawn";
        } else if constexpr (std::is_same_v<T, SendSignal>) {
          return "SendSignal(" + signal_name(a.signal) + (a.to_group ? ", group)" : ")");
        } else if constexpr (std::is_same_v<T, ArmDeadline>) {
          return "ArmDeadline(" + std::string(to_string(a.kind)) + ", +" +
                 seconds_text(a.at - origin) + ")";
        } else if constexpr (std::is_same_v<T, CancelDeadline>) {
          return "CancelDeadline(" + std::string(to_string(a.kind)) + ")";
        } else if constexpr (std::is_same_v<T, StateChanged>) {
          return "StateChanged(" + std::string(to_string(a.from)) + " -> " +
                 std::string(to_string(a.to)) + ": " + a.reason + ")";
        } else if constexpr (std::is_same_v<T, RecordExit>) {
          const ExitRecord& r = a.record;
          std::string text = "RecordExit(pid " + std::to_string(r.pid) + ", " +
                             exit_text(r.exit_code, r.exit_signal, r.core_dumped);
          if (r.stop_duration) text += ", stop took " + seconds_text(*r.stop_duration);
          if (r.needed_sigkill) text += ", needed SIGKILL";
          text += r.expected ? ", expected)" : ", not expected)";
          return text;
        } else if constexpr (std::is_same_v<T, Notice>) {
          return "Notice(" + a.message + ")";
        } else if constexpr (std::is_same_v<T, AddProcess>) {
          return "AddProcess";
        } else {
          static_assert(std::is_same_v<T, RemoveProcess>);
          return "RemoveProcess";
        }
      },
      action);
}

}  // namespace minisup::core
