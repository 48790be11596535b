// control/event_history: numbering, the bounded buffer, replay and gaps.
#include "supervisor/control/event_history.h"

#include <gtest/gtest.h>

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

std::vector<std::uint64_t> seqs(const EventHistory::Replay& replay) {
  std::vector<std::uint64_t> out;
  for (const auto& e : replay.events) out.push_back(e.seq);
  return out;
}

TEST(EventHistory, NumbersEventsFromOne) {
  EventHistory history(4);
  EXPECT_EQ(history.last_seq(), 0u);
  EXPECT_EQ(history.push(event("RUNNING")).seq, 1u);
  EXPECT_EQ(history.push(event("STOPPING")).seq, 2u);
  EXPECT_EQ(history.last_seq(), 2u);
}

TEST(EventHistory, ReplaysEventsAfterSince) {
  EventHistory history(4);
  for (int i = 0; i < 3; ++i) history.push(event("RUNNING"));
  EXPECT_EQ(seqs(history.since(0)), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(seqs(history.since(2)), (std::vector<std::uint64_t>{3}));
  EXPECT_TRUE(history.since(3).events.empty());
  EXPECT_TRUE(history.since(100).events.empty());
  EXPECT_FALSE(history.since(0).gap);
}

TEST(EventHistory, ReportsAGapWhenEventsWereDropped) {
  EventHistory history(3);
  for (int i = 0; i < 7; ++i) history.push(event("RUNNING"));  // keeps 5, 6, 7
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
  for (std::size_t i = 0; i < kEventHistorySize + 10; ++i) history.push(event("RUNNING"));
  auto replay = history.since(0);
  EXPECT_EQ(replay.events.size(), kEventHistorySize);
  ASSERT_TRUE(replay.gap);
  EXPECT_EQ(replay.gap->last_missed, 10u);
}

}  // namespace
}  // namespace minisup::control
