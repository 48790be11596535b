// ProcessState names and signal names: the vocabulary shown to users.
#include "supervisor/core/process_state.h"

#include <gtest/gtest.h>

#include <csignal>

#include "supervisor/core/signal_names.h"

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

TEST(SignalNames, NamesCommonSignals) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGHUP), "SIGHUP");
  EXPECT_EQ(signal_name(SIGUSR2), "SIGUSR2");
  EXPECT_EQ(signal_name(SIGCHLD), "SIGCHLD");
}

TEST(SignalNames, NumbersWithoutANameAreSpelledOut) {
  EXPECT_EQ(signal_name(40), "signal 40");
  EXPECT_EQ(signal_name(0), "signal 0");
  EXPECT_EQ(signal_name(-3), "signal -3");
}

TEST(SignalNames, ParseAcceptsNamesWithOrWithoutSigInAnyCase) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("term"), SIGTERM);
  EXPECT_EQ(parse_signal("sigkill"), SIGKILL);
  EXPECT_EQ(parse_signal("SigUsr1"), SIGUSR1);
  EXPECT_EQ(parse_signal("IO"), SIGIO);
}

TEST(SignalNames, ParseAcceptsNumbersInRange) {
  EXPECT_EQ(parse_signal("15"), 15);
  EXPECT_EQ(parse_signal("1"), 1);
  EXPECT_EQ(parse_signal("64"), 64);
  EXPECT_EQ(parse_signal("040"), 40);
}

TEST(SignalNames, ParseRejectsEverythingElse) {
  for (const char* text : {"", "0", "65", "1234", "-1", "+15", "15 ", " TERM", "SIG", "TERMX",
                           "SIGSIGTERM", "NOPE", "1.5"}) {
    EXPECT_EQ(parse_signal(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(SignalNames, EveryNameParsesBackToItsNumber) {
  for (int signal = 1; signal <= kMaxSignal; ++signal) {
    const std::string name = signal_name(signal);
    if (name.rfind("signal ", 0) == 0) continue;
    EXPECT_EQ(parse_signal(name), signal) << name;
  }
}

}  // namespace
}  // namespace minisup::core
