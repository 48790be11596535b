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
#include <string>
#include <vector>

#include "supervisor/control/protocol.h"

namespace minisup::control {

class EventHistory {
 public:
  /// Keeps at most `capacity` events (at least 1).
  explicit EventHistory(std::size_t capacity = kEventHistorySize);

  /// Numbers `event` (its seq is set to last_seq() + 1, which is returned)
  /// and keeps a copy, dropping the oldest when full.
  std::uint64_t push(StateEvent& event);

  /// The seq of the newest event; 0 before the first.
  std::uint64_t last_seq() const { return last_seq_; }

  struct Replay {
    std::optional<GapEvent> gap;     ///< events after `since` already dropped
    std::vector<StateEvent> events;  ///< kept events with seq > since, oldest first
  };
  /// What a subscriber resuming after `since` should get.
  Replay since(std::uint64_t since) const;

 private:
  /// A kept event, in 128 bytes instead of a StateEvent's 200 (the buffer
  /// is a fixed part of minisupd's memory): state names as indexes into
  /// names_, the group only when it is not the program part of the process
  /// name, -1 for a missing exit code or signal.
  struct Kept {
    std::uint64_t seq = 0;
    UnixTime time{};
    std::string process;
    std::string reason;
    std::string group;  ///< empty: the program part of `process` (or empty_group)
    int pid = 0;
    int exit_code = -1;
    int exit_signal = -1;
    std::uint8_t from = 0;
    std::uint8_t to = 0;
    bool empty_group = false;  ///< the event's group was ""
  };
  static_assert(sizeof(Kept) <= 128, "four kept events to a deque block");

  std::uint8_t intern(const std::string& name);
  StateEvent expand(const Kept& kept) const;

  std::size_t capacity_;
  std::uint64_t last_seq_ = 0;
  std::deque<Kept> events_;
  /// The state names seen: config::kProcessStateNames first, then any other name a caller
  /// uses (256 in all at most; push() throws std::length_error beyond).
  std::vector<std::string> names_;
};

}  // namespace minisup::control
