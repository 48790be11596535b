// EventHistory: the bounded buffer behind the `events` command.
//
// Model: every state change minisupd reports is numbered (seq 1, 2, 3 ...
// over its lifetime) and kept in a ring of the last kEventHistorySize
// events. A subscriber that reconnects with `since: N` gets the events with
// seq > N that are still kept; when some of them have already been dropped,
// a GapEvent naming the missing seqs comes first. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "supervisor/control/protocol.h"

namespace minisup::control {

class EventHistory {
 public:
  /// Keeps at most `capacity` events (at least 1).
  explicit EventHistory(std::size_t capacity = kEventHistorySize);

  /// Numbers `event` (its seq is overwritten with last_seq() + 1), keeps it
  /// (dropping the oldest when full) and returns the stored event.
  const StateEvent& push(StateEvent event);

  /// The seq of the newest event; 0 before the first.
  std::uint64_t last_seq() const { return last_seq_; }

  /// What a subscriber with `since` must be sent before the live events.
  struct Replay {
    std::optional<GapEvent> gap;     ///< events after `since` already dropped
    std::vector<StateEvent> events;  ///< kept events with seq > since, oldest first
  };
  /// The replay for `since` (a `since` at or beyond last_seq() gives nothing).
  Replay since(std::uint64_t since) const;

 private:
  std::size_t capacity_;
  std::uint64_t last_seq_ = 0;
  std::deque<StateEvent> events_;
};

}  // namespace minisup::control
