// config/signal_names: the one table of signal names (config, core, the
// control protocol and minisupctl all use it).
#include "supervisor/config/signal_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <string>

namespace minisup::config {
namespace {

TEST(SignalNames, NamesCommonSignals) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGHUP), "SIGHUP");
  EXPECT_EQ(signal_name(SIGUSR2), "SIGUSR2");
  EXPECT_EQ(signal_name(SIGCHLD), "SIGCHLD");
  EXPECT_EQ(signal_name(SIGIO), "SIGIO");      // not its alias POLL
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");  // not its alias IOT
}

TEST(SignalNames, RealTimeSignalsCountFromSigrtmin) {
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 6), "SIGRTMIN+6");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN));
}

TEST(SignalNames, NumbersWithoutANameAreSpelledSigN) {
  EXPECT_EQ(signal_name(200), "SIG200");
  EXPECT_EQ(signal_name(0), "SIG0");
  EXPECT_EQ(signal_name(-3), "SIG-3");
  if (SIGRTMIN > 32) {
    EXPECT_EQ(signal_name(32), "SIG32");  // reserved by glibc
  }
}

TEST(SignalNames, ParseAcceptsNamesWithOrWithoutSigInAnyCase) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("term"), SIGTERM);
  EXPECT_EQ(parse_signal("sigkill"), SIGKILL);
  EXPECT_EQ(parse_signal("SigUsr1"), SIGUSR1);
  EXPECT_EQ(parse_signal("IO"), SIGIO);
  EXPECT_EQ(parse_signal("POLL"), SIGIO);
  EXPECT_EQ(parse_signal("IOT"), SIGABRT);
}

TEST(SignalNames, ParseAcceptsRealTimeNames) {
  EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(parse_signal("sigrtmin+2"), SIGRTMIN + 2);
  EXPECT_EQ(parse_signal("RTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN)), SIGRTMIN);
  for (const char* text :
       {"RTMIN+99", "RTMIN-1", "RTMAX+1", "RTMAX-99", "RTMIN+", "RTMIN+-1", "RTMIN+1x", "RTMID"}) {
    EXPECT_EQ(parse_signal(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(SignalNames, ParseAcceptsNumbersInRange) {
  EXPECT_EQ(parse_signal("15"), 15);
  EXPECT_EQ(parse_signal("1"), 1);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
  EXPECT_EQ(parse_signal("040"), 40);
  EXPECT_EQ(parse_signal("SIG32"), 32);
}

TEST(SignalNames, ParseRejectsEverythingElse) {
  for (const char* text : {"", "0", "65", "1234", "-1", "+15", "15 ", " TERM", "SIG", "TERMX",
                           "SIGSIGTERM", "NOPE", "1.5", "SIG0", "SIG65", "SIG-1"}) {
    EXPECT_EQ(parse_signal(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(SignalNames, EverySignalRoundTripsNameNumberName) {
  for (int signal = 1; signal <= SIGRTMAX; ++signal) {
    const std::string name = signal_name(signal);
    const std::optional<int> number = parse_signal(name);
    ASSERT_EQ(number, signal) << name;
    EXPECT_EQ(signal_name(*number), name);
    EXPECT_EQ(parse_signal(std::to_string(signal)), signal);
    EXPECT_EQ(parse_signal(name.substr(3)), signal) << name;  // without SIG
  }
}

TEST(SignalNames, RtmaxFormsNameTheSameSignalsAsRtminForms) {
  for (int k = 0; SIGRTMAX - k >= SIGRTMIN; ++k) {
    const std::optional<int> number = parse_signal("SIGRTMAX-" + std::to_string(k));
    ASSERT_EQ(number, SIGRTMAX - k);
    EXPECT_EQ(parse_signal(signal_name(*number)), number);
  }
}

TEST(SignalNames, KnownNamesListTheTableAndTheRealTimeForms) {
  EXPECT_THAT(known_signal_names(), ::testing::StartsWith("HUP, INT, QUIT"));
  EXPECT_THAT(known_signal_names(), ::testing::EndsWith("RTMIN, RTMIN+n, RTMAX-n, RTMAX"));
}

}  // namespace
}  // namespace minisup::config
