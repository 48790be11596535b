// The real System: sys/ for processes, loop/ for output capture.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "supervisor/daemon/held_sockets.h"
#include "supervisor/daemon/real_trees.h"
#include "supervisor/daemon/system.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/proc_tree.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::daemon {

class RealSystem final : public System {
 public:
  /// `trees`: how trees are kept (choose_trees()); with cgroups, its base
  /// directory exists.
  RealSystem(loop::EventLoop& loop, std::shared_ptr<logging::ConsoleWriter> console,
             TreeChoice trees = {});
  ~RealSystem() override;
  RealSystem(const RealSystem&) = delete;
  RealSystem& operator=(const RealSystem&) = delete;

  std::unique_ptr<logging::ProcessOutput> make_output(
      const config::ProgramConfig& program, const config::ProcessConfig& process) override;
  void outputs_configured(const std::vector<config::ProgramConfig>& programs) override;
  std::optional<std::string> hold_sockets(
      const std::vector<config::SocketConfig>& sockets) override;
  std::variant<int, std::string> spawn(const SpawnPlan& plan,
                                       logging::ProcessOutput& output) override;
  bool signal_process(int pid, int signal) override;
  TreeMode tree_mode() const override { return trees_choice_.mode; }
  bool signal_tree(const std::string& process, int pgid, int signal) override;
  bool tree_alive(const std::string& process, int pgid) override;
  std::vector<TreeMember> tree_members(const std::string& process, int pgid) override;
  std::vector<TreeMember> kill_strays(const std::string& process) override;
  bool has_strays(const std::string& process) override;
  void rename_tree(const std::string& from, const std::string& to) override;
  void release_tree(const std::string& process) override;
  void set_on_tree_emptied(std::function<void(const std::string&)> callback) override;
  std::vector<sys::Reaped> reap() override;
  /// Process-group mode: the group and its descendants, from a /proc
  /// snapshot shared by the calls of one loop round.
  std::optional<sys::TreeUsage> tree_usage(const std::string& process, int pgid) override;

  /// At exit, once everything was killed: removes every cgroup (waiting at
  /// most `timeout` for them to empty).
  void remove_trees(std::chrono::milliseconds timeout);

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
  TreeChoice trees_choice_;
  /// has_strays(): the programs with strays, as last scanned, and when.
  std::unordered_set<std::string> stray_owners_;
  std::optional<loop::Clock::time_point> strays_scanned_at_;
  std::unique_ptr<CgroupTrees> cgroups_;  ///< cgroup mode only
  HeldSockets held_sockets_;
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
