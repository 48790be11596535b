// Helpers shared by core's unit tests: readable gtest output for actions and
// hand-built configs (core tests never call load_config).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/core/action.h"
#include "supervisor/core/process_machine.h"
#include "supervisor/core/supervisor.h"

namespace minisup::core {

/// A fixed origin for fake clocks; times print relative to it.
inline const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

// gtest finds these through ADL (Action's alternatives live here).
inline void PrintTo(const ExitRecord& record, std::ostream* os) {
  *os << describe(Action{RecordExit{record}}, kT0).substr(sizeof "RecordExit" - 1) << " at +"
      << std::chrono::duration<double>(record.when - kT0).count() << " s, incarnation #"
      << record.incarnation;
}
inline void PrintTo(const Action& action, std::ostream* os) {
  *os << describe(action, kT0);
  if (const auto* changed = std::get_if<StateChanged>(&action); changed && changed->exit) {
    *os << " with exit ";
    PrintTo(*changed->exit, os);
  }
  if (const auto* arm = std::get_if<ArmDeadline>(&action)) *os << " #" << arm->incarnation;
}
inline void PrintTo(const ProcessAction& action, std::ostream* os) {
  *os << action.process << ": ";
  PrintTo(action.action, os);
}
// gtest prints a variant as its alternative: one printer for each.
inline void PrintTo(const Spawn& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const SendSignal& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const ArmDeadline& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const CancelDeadline& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const ProbeGroup& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const StateChanged& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const RecordExit& a, std::ostream* os) { PrintTo(Action{a}, os); }
inline void PrintTo(const Notice& a, std::ostream* os) { PrintTo(Action{a}, os); }

namespace testing_support {

using namespace std::chrono_literals;

/// The actions, one describe() per line, for failure messages.
inline std::string describe_all(const std::vector<Action>& actions) {
  std::string text;
  for (const Action& action : actions) text += "\n  " + describe(action, kT0);
  return text.empty() ? " (none)" : text;
}

/// A program as load_config would give it, with `numprocs` processes.
inline config::ProgramConfig make_program(const std::string& name, int priority = 999,
                                          int numprocs = 1, bool autostart = true) {
  config::ProgramConfig program;
  program.name = name;
  program.priority = priority;
  program.numprocs = numprocs;
  program.autostart = autostart;
  for (int i = 0; i < numprocs; ++i) {
    config::ProcessConfig process;
    process.name = numprocs > 1 ? name + ":" + std::to_string(i) : name;
    process.process_num = i;
    process.command = {"/bin/" + name};
    program.processes.push_back(process);
  }
  return program;
}

inline config::Config make_config(std::vector<config::ProgramConfig> programs) {
  config::Config config;
  config.file = "/etc/minisup/minisup.toml";
  config.programs = std::move(programs);
  return config;
}

/// Only the actions of one alternative type, in order.
template <class T>
std::vector<T> only(const std::vector<Action>& actions) {
  std::vector<T> result;
  for (const Action& action : actions) {
    if (const T* a = std::get_if<T>(&action)) result.push_back(*a);
  }
  return result;
}

/// The (process, action) pairs of one alternative type, in order.
template <class T>
std::vector<std::pair<std::string, T>> only(const std::vector<ProcessAction>& actions) {
  std::vector<std::pair<std::string, T>> result;
  for (const ProcessAction& action : actions) {
    if (const T* a = std::get_if<T>(&action.action)) result.emplace_back(action.process, *a);
  }
  return result;
}

/// The names of the processes that got an action of type T, in order.
template <class T>
std::vector<std::string> names_with(const std::vector<ProcessAction>& actions) {
  std::vector<std::string> result;
  for (const ProcessAction& action : actions) {
    if (std::holds_alternative<T>(action.action)) result.push_back(action.process);
  }
  return result;
}

/// A signal the fake runtime was asked to send.
struct Signal {
  std::string process;
  int signal;
  bool to_group;
  bool operator==(const Signal&) const = default;
};

inline void PrintTo(const Signal& s, std::ostream* os) {
  *os << s.process << ":" << s.signal << (s.to_group ? "(group)" : "");
}

/// Carries out a Supervisor's actions the way daemon/runtime would, minus
/// the processes, and reports every fact through Supervisor::report() with
/// the incarnation it belongs to: Spawn is answered with Spawned{next pid}
/// (or SpawnFailed, for the processes in spawn_failures_) right after the
/// batch, ProbeGroup with GroupProbed{alive: the process is in lingering_},
/// deadlines are kept and fired by advance_to().
class FakeRuntime {
 public:
  explicit FakeRuntime(Supervisor& supervisor) : supervisor_(supervisor) {
    for (const ManagedProcess* process : supervisor.processes()) known_.insert(process->name());
  }

  void run(const std::vector<ProcessAction>& actions) {
    // Answers, in the order their actions came: (process, is_spawn).
    std::vector<std::pair<std::string, bool>> answers;
    for (const ProcessAction& a : actions) {
      log_.push_back(a);
      EXPECT_TRUE(known_.count(a.process) != 0 || std::holds_alternative<AddProcess>(a.action))
          << "action for a process the runtime does not know: " << a.process;
      if (const auto* spawn = std::get_if<Spawn>(&a.action)) {
        // Each spawn of a process name is its next incarnation, also across
        // a reload that replaces the process.
        EXPECT_EQ(spawn->incarnation, incarnations_[a.process] + 1) << a.process;
        incarnations_[a.process] = spawn->incarnation;
        answers.emplace_back(a.process, true);
      } else if (std::holds_alternative<ProbeGroup>(a.action)) {
        probes_.push_back(a.process);
        answers.emplace_back(a.process, false);
      } else if (const auto* s = std::get_if<SendSignal>(&a.action)) {
        signals_.push_back(Signal{a.process, s->signal, s->to_group});
      } else if (const auto* arm = std::get_if<ArmDeadline>(&a.action)) {
        deadlines_[{a.process, arm->kind}] = {arm->at, arm->incarnation};
      } else if (const auto* cancel = std::get_if<CancelDeadline>(&a.action)) {
        deadlines_.erase({a.process, cancel->kind});
      } else if (std::holds_alternative<AddProcess>(a.action)) {
        // A process that replaces one of the same name goes on counting
        // from its last incarnation: incarnations_ is kept.
        EXPECT_TRUE(known_.insert(a.process).second) << "added twice: " << a.process;
      } else if (const auto* retired = std::get_if<ProcessRetired>(&a.action)) {
        // The run goes on under the old name: its pid, incarnation and
        // deadlines are the old process's; the name is free for a new run.
        EXPECT_TRUE(known_.insert(retired->as).second) << "retired twice: " << retired->as;
        incarnations_[retired->as] = incarnations_[a.process];
        pids_[retired->as] = pids_[a.process];
        for (auto it = deadlines_.begin(); it != deadlines_.end();) {
          if (it->first.first != a.process) {
            ++it;
            continue;
          }
          deadlines_[{retired->as, it->first.second}] = it->second;
          it = deadlines_.erase(it);
        }
      } else if (std::holds_alternative<RemoveProcess>(a.action)) {
        EXPECT_EQ(known_.erase(a.process), 1u) << "removed unknown: " << a.process;
        for (const auto& [key, deadline] : deadlines_) {
          EXPECT_NE(key.first, a.process) << "removed with a deadline armed";
        }
      }
    }
    for (const auto& [name, is_spawn] : answers) {
      const Incarnation incarnation = incarnations_[name];
      if (!is_spawn) {
        const bool alive = lingering_.count(name) != 0;
        run(supervisor_.report(name, incarnation, GroupProbed{alive}, now_));
      } else if (auto failure = spawn_failures_.find(name); failure != spawn_failures_.end()) {
        run(supervisor_.report(name, incarnation, SpawnFailed{failure->second}, now_));
      } else {
        const int pid = next_pid_++;
        pids_[name] = pid;
        run(supervisor_.report(name, incarnation, Spawned{pid}, now_));
      }
    }
  }

  /// Fires every deadline due up to `t`, in time order, then sets the clock.
  void advance_to(TimePoint t) {
    for (;;) {
      auto due = deadlines_.end();
      for (auto it = deadlines_.begin(); it != deadlines_.end(); ++it) {
        if (it->second.first <= t &&
            (due == deadlines_.end() || it->second.first < due->second.first)) {
          due = it;
        }
      }
      if (due == deadlines_.end()) break;
      const auto [process, kind] = due->first;
      const Incarnation incarnation = due->second.second;
      now_ = due->second.first;
      deadlines_.erase(due);
      run(supervisor_.report(process, incarnation, DeadlineExpired{kind}, now_));
    }
    now_ = t;
  }
  void advance(std::chrono::nanoseconds d) { advance_to(now_ + d); }

  /// The child of `process` (its current incarnation) exits with `code` (or
  /// is killed by `signal`).
  void exit(const std::string& process, std::optional<int> code,
            std::optional<int> signal = std::nullopt) {
    run(supervisor_.report(process, incarnations_[process], ChildExited{code, signal}, now_));
  }

  /// An orphan was reaped: probes every lingering group.
  void orphan_reaped() { run(supervisor_.orphan_reaped()); }

  /// Starts every autostart process and lets startsecs pass: all RUNNING.
  void start_all() {
    run(supervisor_.start_autostart(now_));
    advance(1s);
  }

  void clear() {
    log_.clear();
    signals_.clear();
    probes_.clear();
  }

  TimePoint now_ = kT0;
  std::vector<ProcessAction> log_;
  std::vector<Signal> signals_;
  std::vector<std::string> probes_;  ///< processes a ProbeGroup was asked for
  std::map<std::string, int> pids_;
  std::set<std::string> known_;
  /// The incarnation of each process's last Spawn.
  std::map<std::string, Incarnation> incarnations_;
  /// Processes whose group outlives its leader (probes answer "alive").
  std::set<std::string> lingering_;
  /// Processes whose spawns fail, with the error message.
  std::map<std::string, std::string> spawn_failures_;

 private:
  Supervisor& supervisor_;
  std::map<std::pair<std::string, DeadlineKind>, std::pair<TimePoint, Incarnation>> deadlines_;
  int next_pid_ = 100;
};

/// The state of `name` (STOPPED, with a test failure, when unknown).
inline ProcessState state_of(const Supervisor& supervisor, const std::string& name) {
  const ManagedProcess* process = supervisor.find(name);
  EXPECT_NE(process, nullptr) << name;
  return process == nullptr ? ProcessState::Stopped : process->machine().state();
}

}  // namespace testing_support
}  // namespace minisup::core
