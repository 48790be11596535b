// EventHistory implementation (see event_history.h).
#include "supervisor/control/event_history.h"

#include <algorithm>

namespace minisup::control {

EventHistory::EventHistory(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

const StateEvent& EventHistory::push(StateEvent event) {
  event.seq = ++last_seq_;
  if (events_.size() == capacity_) events_.pop_front();
  events_.push_back(std::move(event));
  return events_.back();
}

EventHistory::Replay EventHistory::since(std::uint64_t since) const {
  Replay replay;
  if (since >= last_seq_) return replay;
  // Kept events are the contiguous seqs oldest ... last_seq_.
  const std::uint64_t oldest = events_.empty() ? last_seq_ + 1 : events_.front().seq;
  if (since + 1 < oldest) replay.gap = GapEvent{since + 1, oldest - 1};
  const std::uint64_t first = std::max(since + 1, oldest);
  for (auto it = events_.begin() + static_cast<std::ptrdiff_t>(first - oldest); it != events_.end();
       ++it) {
    replay.events.push_back(*it);
  }
  return replay;
}

}  // namespace minisup::control
