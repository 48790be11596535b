// control/event_history: numbering, the bounded buffer, replay and gaps.
#include "supervisor/control/event_history.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace minisup::control {
namespace {

StateEvent event(std::string to) {
  StateEvent e;
  e.process = "web";
  e.group = "web";
  e.from = "STARTING";
  e.to = std::move(to);
  e.seq = 999;  // overwritten by push
  return e;
}

/// Pushes event(to) and returns its seq.
std::uint64_t push(EventHistory& history, std::string to) {
  StateEvent e = event(std::move(to));
  const std::uint64_t seq = history.push(e);
  EXPECT_EQ(e.seq, seq);
  return seq;
}

std::vector<std::uint64_t> seqs(const EventHistory::Replay& replay) {
  std::vector<std::uint64_t> out;
  for (const auto& e : replay.events) out.push_back(e.seq);
  return out;
}

TEST(EventHistory, NumbersEventsFromOne) {
  EventHistory history(4);
  EXPECT_EQ(history.last_seq(), 0u);
  EXPECT_EQ(push(history, "RUNNING"), 1u);
  EXPECT_EQ(push(history, "STOPPING"), 2u);
  EXPECT_EQ(history.last_seq(), 2u);
}

TEST(EventHistory, ReplaysEventsAfterSince) {
  EventHistory history(4);
  for (int i = 0; i < 3; ++i) push(history, "RUNNING");
  EXPECT_EQ(seqs(history.since(0)), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(seqs(history.since(2)), (std::vector<std::uint64_t>{3}));
  EXPECT_TRUE(history.since(3).events.empty());
  EXPECT_TRUE(history.since(100).events.empty());
  EXPECT_FALSE(history.since(0).gap);
}

TEST(EventHistory, ReportsAGapWhenEventsWereDropped) {
  EventHistory history(3);
  for (int i = 0; i < 7; ++i) push(history, "RUNNING");  // keeps 5, 6, 7
  auto replay = history.since(1);
  ASSERT_TRUE(replay.gap);
  EXPECT_EQ(*replay.gap, (GapEvent{2, 4}));
  EXPECT_EQ(seqs(replay), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_FALSE(history.since(4).gap);
  EXPECT_EQ(seqs(history.since(4)), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_EQ(*history.since(0).gap, (GapEvent{1, 4}));
}

TEST(EventHistory, DefaultCapacityIsTheProtocolsBuffer) {
  EventHistory history;
  for (std::size_t i = 0; i < kEventHistorySize + 10; ++i) push(history, "RUNNING");
  auto replay = history.since(0);
  EXPECT_EQ(replay.events.size(), kEventHistorySize);
  ASSERT_TRUE(replay.gap);
  EXPECT_EQ(replay.gap->last_missed, 10u);
}

TEST(EventHistory, ReplaysEveryFieldAsPushed) {
  EventHistory history(8);
  StateEvent exited;
  exited.process = "web:2";
  exited.group = "web";
  exited.from = "RUNNING";
  exited.to = "EXITED";
  exited.pid = 4242;
  exited.exit_code = 3;
  exited.reason = "exited with status 3, which is not in exitcodes (a long reason)";
  exited.time = UnixTime(Seconds(1763716906.25));
  StateEvent killed = exited;
  killed.exit_code.reset();
  killed.exit_signal = 9;
  killed.to = "BACKOFF";
  StateEvent odd;  // a group that is not the program part, an unknown state name
  odd.process = "solo";
  odd.group = "other";
  odd.from = "STOPPED";
  odd.to = "SOMETHING-NEW";
  StateEvent no_group;
  no_group.process = "x:1";
  no_group.from = "STARTING";
  no_group.to = "RUNNING";
  std::vector<StateEvent> pushed{exited, killed, odd, no_group};
  for (auto& e : pushed) history.push(e);
  auto replay = history.since(0);
  EXPECT_EQ(replay.events, pushed);
  EXPECT_EQ(replay.events[3].group, "");
}

TEST(EventHistory, TooManyDistinctStateNamesIsRefusedWithoutChange) {
  EventHistory history(4);
  for (int i = 0; i < 256 - 7; ++i) push(history, "S" + std::to_string(i));
  const std::uint64_t last = history.last_seq();
  StateEvent extra = event("ONE-TOO-MANY");
  EXPECT_THROW(history.push(extra), std::length_error);
  EXPECT_EQ(history.last_seq(), last);
  EXPECT_EQ(history.since(last - 1).events.at(0).to, "S248");
  EXPECT_EQ(push(history, "RUNNING"), last + 1);  // known names still go in
}

}  // namespace
}  // namespace minisup::control
