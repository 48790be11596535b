// Helpers shared by core's unit tests: readable gtest output for actions and
// hand-built configs (core tests never call load_config).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "supervisor/config/program_config.h"
#include "supervisor/core/action.h"
#include "supervisor/core/process_machine.h"
#include "supervisor/core/supervisor.h"

namespace minisup::core {

/// A fixed origin for fake clocks; times print relative to it.
inline const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

// gtest finds these through ADL (Action's alternatives live here).
inline void PrintTo(const Action& action, std::ostream* os) { *os << describe(action, kT0); }
inline void PrintTo(const ProcessAction& action, std::ostream* os) {
  *os << action.process << ": " << describe(action.action, kT0);
}

namespace testing_support {

using namespace std::chrono_literals;

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

}  // namespace testing_support
}  // namespace minisup::core
