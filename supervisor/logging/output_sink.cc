// What every stream has, whatever its destination (child_log.h): the
// followers of `tail -f` (StreamFollowers), the OutputSink base, and
// SinkUse, which keeps a log file open while a pipe or capture feeds it.
#include <algorithm>
#include <utility>

#include "supervisor/logging/child_log.h"

namespace minisup::logging {

// ---------------------------------------------------------------------------
// StreamFollowers

StreamFollowers::Id StreamFollowers::add(ChunkCallback on_chunk, CloseCallback on_close) {
  Id id = next_id_++;
  entries_.push_back(Entry{id, std::move(on_chunk), std::move(on_close)});
  ++live_;
  return id;
}

void StreamFollowers::remove(Id id) noexcept {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->id != id || !it->on_chunk) continue;
    --live_;
    if (notifying_ > 0) {
      // notify() is iterating by index: only mark the entry (an empty
      // on_chunk); compact() erases it when notify() is done. A running
      // callback is a copy, so clearing the original is safe.
      it->on_chunk = nullptr;
      it->on_close = nullptr;
    } else {
      entries_.erase(it);
    }
    return;
  }
}

bool StreamFollowers::contains(Id id) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [id](const Entry& entry) { return entry.id == id && entry.on_chunk; });
}

void StreamFollowers::notify(std::string_view chunk) noexcept {
  if (live_ == 0) return;
  ++notifying_;
  // Entries added by a callback do not see this chunk. The vector may grow
  // meanwhile, so index it, and call a copy of the callback, which survives
  // the subscriber removing itself.
  const std::size_t count = entries_.size();
  for (std::size_t i = 0; i < count && i < entries_.size(); ++i) {
    if (!entries_[i].on_chunk) continue;
    try {
      ChunkCallback callback = entries_[i].on_chunk;
      callback(chunk);
    } catch (...) {
      // A subscriber that cannot take more (e.g. its client is gone) is
      // dropped, and told so through its on_close.
      CloseCallback on_close = entries_[i].on_close;
      remove(entries_[i].id);
      if (on_close) {
        try {
          on_close();
        } catch (...) {
        }
      }
    }
  }
  if (--notifying_ == 0) compact();
}

void StreamFollowers::close_all() noexcept {
  std::vector<Entry> entries;
  entries.swap(entries_);
  live_ = 0;
  for (Entry& entry : entries) {
    if (!entry.on_chunk || !entry.on_close) continue;
    try {
      entry.on_close();
    } catch (...) {
      // Nothing to do: the subscriber is gone either way.
    }
  }
}

void StreamFollowers::compact() noexcept {
  std::erase_if(entries_, [](const Entry& entry) { return !entry.on_chunk; });
}

// ---------------------------------------------------------------------------
// OutputSink

OutputSink::OutputSink() = default;

OutputSink::~OutputSink() {
  if (followers_) followers_->close_all();
}

const std::shared_ptr<StreamFollowers>& OutputSink::followers() const {
  if (!followers_) followers_ = std::make_shared<StreamFollowers>();
  return followers_;
}

void OutputSink::write(std::string_view data) noexcept {
  if (data.empty()) return;
  consume(data);
  if (followers_) followers_->notify(data);
}

bool OutputSink::clear(std::string* error) noexcept {
  if (error != nullptr) *error = "no log file to clear";
  return false;
}

// ---------------------------------------------------------------------------
// SinkUse

SinkUse::SinkUse(std::shared_ptr<OutputSink> sink) noexcept : sink_(std::move(sink)) {
  if (sink_) sink_->acquire();
}

SinkUse& SinkUse::operator=(SinkUse&& other) noexcept {
  if (this != &other) {
    reset();
    sink_ = std::move(other.sink_);
  }
  return *this;
}

void SinkUse::reset() noexcept {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink_.reset();
  sink->release();
}

}  // namespace minisup::logging
