// EventHistory implementation (see event_history.h).
#include "supervisor/control/event_history.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace minisup::control {

namespace {

/// "web" for "web:3" and for "web".
std::string_view program_part(std::string_view process) {
  return process.substr(0, process.find(':'));
}

}  // namespace

EventHistory::EventHistory(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      names_(config::kProcessStateNames.begin(), config::kProcessStateNames.end()) {}

std::uint8_t EventHistory::intern(const std::string& name) {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it != names_.end()) return static_cast<std::uint8_t>(it - names_.begin());
  if (names_.size() > std::numeric_limits<std::uint8_t>::max())
    throw std::length_error("event history: more than 256 distinct state names");
  names_.push_back(name);
  return static_cast<std::uint8_t>(names_.size() - 1);
}

std::uint64_t EventHistory::push(StateEvent& event) {
  Kept kept;
  kept.from = intern(event.from);  // first: may throw, before anything changes
  kept.to = intern(event.to);
  event.seq = ++last_seq_;
  kept.seq = event.seq;
  kept.time = event.time;
  kept.process = event.process;
  kept.reason = event.reason;
  kept.empty_group = event.group.empty();
  if (event.group != program_part(event.process)) kept.group = event.group;
  kept.pid = event.pid;
  kept.exit_code = event.exit_code.value_or(-1);
  kept.exit_signal = event.exit_signal.value_or(-1);
  if (events_.size() == capacity_) events_.pop_front();
  events_.push_back(std::move(kept));
  return event.seq;
}

StateEvent EventHistory::expand(const Kept& kept) const {
  StateEvent event;
  event.seq = kept.seq;
  event.process = kept.process;
  if (!kept.empty_group) {
    event.group = kept.group.empty() ? std::string(program_part(kept.process)) : kept.group;
  }
  event.from = names_[kept.from];
  event.to = names_[kept.to];
  event.pid = kept.pid;
  if (kept.exit_code >= 0) event.exit_code = kept.exit_code;
  if (kept.exit_signal >= 0) event.exit_signal = kept.exit_signal;
  event.reason = kept.reason;
  event.time = kept.time;
  return event;
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
    replay.events.push_back(expand(*it));
  }
  return replay;
}

}  // namespace minisup::control
