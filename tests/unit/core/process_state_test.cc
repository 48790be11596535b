// ProcessState names and exit texts: the vocabulary shown to users.
#include "supervisor/core/process_state.h"

#include <gtest/gtest.h>

#include <csignal>

#include "supervisor/config/process_state_names.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/core/text.h"

namespace minisup::core {
namespace {

TEST(ProcessState, NamesAreSupervisordsUpperCase) {
  EXPECT_EQ(to_string(ProcessState::Stopped), "STOPPED");
  EXPECT_EQ(to_string(ProcessState::Starting), "STARTING");
  EXPECT_EQ(to_string(ProcessState::Running), "RUNNING");
  EXPECT_EQ(to_string(ProcessState::Backoff), "BACKOFF");
  EXPECT_EQ(to_string(ProcessState::Stopping), "STOPPING");
  EXPECT_EQ(to_string(ProcessState::Exited), "EXITED");
  EXPECT_EQ(to_string(ProcessState::Fatal), "FATAL");
}

TEST(ProcessState, ParseRoundTripsEveryState) {
  for (ProcessState state : kAllProcessStates) {
    EXPECT_EQ(parse_process_state(to_string(state)), state) << to_string(state);
  }
}

TEST(ProcessState, ParseIgnoresCase) {
  EXPECT_EQ(parse_process_state("running"), ProcessState::Running);
  EXPECT_EQ(parse_process_state("Fatal"), ProcessState::Fatal);
  EXPECT_EQ(parse_process_state("bAcKoFf"), ProcessState::Backoff);
}

TEST(ProcessState, ParseRejectsUnknownText) {
  EXPECT_EQ(parse_process_state(""), std::nullopt);
  EXPECT_EQ(parse_process_state("RUN"), std::nullopt);
  EXPECT_EQ(parse_process_state("RUNNING "), std::nullopt);
  EXPECT_EQ(parse_process_state("STOPPEDX"), std::nullopt);
}

TEST(ProcessState, IdleStatesHaveNothingPending) {
  EXPECT_TRUE(is_idle(ProcessState::Stopped));
  EXPECT_TRUE(is_idle(ProcessState::Exited));
  EXPECT_TRUE(is_idle(ProcessState::Fatal));
  EXPECT_FALSE(is_idle(ProcessState::Starting));
  EXPECT_FALSE(is_idle(ProcessState::Running));
  EXPECT_FALSE(is_idle(ProcessState::Backoff));
  EXPECT_FALSE(is_idle(ProcessState::Stopping));
}

TEST(ProcessState, NamesComeFromTheSharedTable) {
  ASSERT_EQ(kAllProcessStates.size(), config::kProcessStateNames.size());
  for (std::size_t i = 0; i < kAllProcessStates.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kAllProcessStates[i]), i);
    EXPECT_EQ(to_string(kAllProcessStates[i]), config::kProcessStateNames[i]);
  }
}

TEST(ExitText, NamesRealTimeSignalsAsTheSharedTableDoes) {
  // The text of state-change reasons (log lines, `events`).
  EXPECT_EQ(exit_text(std::nullopt, SIGRTMIN + 6, false), "killed by SIGRTMIN+6");
  EXPECT_EQ(exit_text(std::nullopt, SIGRTMIN, true), "killed by SIGRTMIN (core dumped)");
  for (int signal = 1; signal <= SIGRTMAX; ++signal) {
    EXPECT_EQ(exit_text(std::nullopt, signal, false), "killed by " + config::signal_name(signal));
  }
}

}  // namespace
}  // namespace minisup::core
