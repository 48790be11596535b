// The real System: sys/ for processes, loop/ for output capture.
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>

#include "supervisor/daemon/system.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/proc_tree.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

class RealSystem final : public System {
 public:
  RealSystem(loop::EventLoop& loop, std::shared_ptr<logging::ConsoleWriter> console);
  ~RealSystem() override;
  RealSystem(const RealSystem&) = delete;
  RealSystem& operator=(const RealSystem&) = delete;

  std::unique_ptr<logging::ProcessOutput> make_output(
      const config::ProgramConfig& program, const config::ProcessConfig& process) override;
  void outputs_configured(const std::vector<config::ProgramConfig>& programs) override;
  std::variant<int, std::string> spawn(const SpawnPlan& plan,
                                       logging::ProcessOutput& output) override;
  bool signal_process(int pid, int signal) override;
  bool signal_group(int pgid, int signal) override;
  bool group_alive(int pgid) override;
  std::vector<sys::Reaped> reap() override;
  /// Process-group mode: the group and its descendants, from a /proc
  /// snapshot shared by the calls of one loop round.
  std::optional<sys::TreeUsage> tree_usage(const std::string& process, int pgid) override;

 private:
  /// The /proc snapshot of this loop round: read by the first tree_usage()
  /// of a round, so that a status of every program reads /proc once, not
  /// once per program. A timer due at once drops it when the loop gets to
  /// its timers (after this round's requests), and a spawn drops it (the
  /// new child is not in it): it is never older than a round and costs no
  /// memory between requests.
  const sys::ProcessTable& process_table();
  void drop_process_table();

  loop::EventLoop& loop_;
  std::shared_ptr<logging::ConsoleWriter> console_;
  /// A pidfd per unreaped child: signals go through it, so a reaped pid is
  /// never signalled (it may belong to a stranger by then).
  std::unordered_map<int, sys::UniqueFd> pidfds_;
  std::optional<sys::ProcessTable> process_table_;
  loop::EventLoop::TimerId drop_table_timer_ = 0;  ///< 0: none armed
};

/// The real Timers: the event loop's.
class LoopTimers final : public Timers {
 public:
  explicit LoopTimers(loop::EventLoop& loop) : loop_(loop) {}
  TimePoint now() const override { return loop::EventLoop::now(); }
  TimerId arm(TimePoint at, std::function<void()> callback) override {
    return loop_.add_timer(at, std::move(callback));
  }
  void cancel(TimerId id) override { loop_.cancel_timer(id); }

 private:
  loop::EventLoop& loop_;
};

}  // namespace minisup::daemon
