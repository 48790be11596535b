// EventLoop implementation. Read event_loop.h first.
//
// Bookkeeping:
// - Each watched fd has an entry with a registration serial. The epoll data
//   of the fd is (serial << 32 | fd), so an event that was already in the
//   batch when its fd was removed (or removed and re-added) no longer
//   matches and is skipped. The callback is held by shared_ptr and copied
//   before the call, so a callback can remove its own fd.
// - Timers: a min-heap of (deadline, id) plus a map id -> callback. Cancel
//   erases from the map only; heap entries without a callback are dropped
//   when they reach the top, and the heap is rebuilt when dead entries
//   outnumber live ones, so re-arming a timer forever stays bounded.
// - The timerfd is (re)armed before each epoll_wait, only when the earliest
//   live deadline differs from the one it holds; disarmed when none is left.
#include "supervisor/loop/event_loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "supervisor/sys/sys_error.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::loop {

namespace {

// epoll data of the two internal descriptors. A user token has an fd
// (< 2^31) in its low half, so it can never equal these.
constexpr std::uint64_t kSignalToken = ~0ULL;
constexpr std::uint64_t kTimerToken = ~0ULL - 1;

constexpr int kMaxEvents = 128;

std::uint64_t fd_token(std::uint32_t serial, int fd) {
  return (static_cast<std::uint64_t>(serial) << 32) | static_cast<std::uint32_t>(fd);
}

std::string fd_name(int fd) { return "fd " + std::to_string(fd); }

}  // namespace

struct EventLoop::Impl {
  struct FdEntry {
    FdCallback callback;
    bool removed = false;  ///< unregistered while it was running
  };
  struct HeapEntry {
    Clock::time_point at;
    TimerId id;
  };
  /// Heap order for std::push_heap: the earliest deadline on top, ties
  /// broken by id (the order of add_timer).
  static bool later(const HeapEntry& a, const HeapEntry& b) {
    return a.at != b.at ? a.at > b.at : a.id > b.id;
  }

  sys::UniqueFd epoll_fd;
  sys::UniqueFd timer_fd;
  sys::UniqueFd signal_fd;
  std::shared_ptr<SignalCallback> signal_callback;

  /// Callbacks by token (serial << 32 | fd). A reused fd number gets a new
  /// serial and so a new node: a callback that removes or replaces its own
  /// registration keeps running in place, and its node goes once it returns.
  std::unordered_map<std::uint64_t, FdEntry> callbacks;
  /// The serial registered for each fd number (0: none).
  std::vector<std::uint32_t> serials;
  std::uint32_t next_serial = 1;
  std::uint64_t running_token = 0;  ///< the fd callback running now (0: none)

  std::vector<HeapEntry> heap;
  std::unordered_map<TimerId, TimerCallback> timers;
  TimerId next_timer_id = 1;
  std::optional<Clock::time_point> armed_at;  ///< what timer_fd is set to
  std::vector<TimerId> due;                   ///< scratch for run_due_timers

  bool stop_requested = false;
  std::uint64_t wakeups = 0;
  std::function<void(const char*)> error_hook;

  /// Runs `f`, sending any exception to the error hook.
  template <typename F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      report(e.what());
    } catch (...) {
      report("unknown exception");
    }
  }

  void report(const char* what) noexcept {
    if (!error_hook) return;
    try {
      error_hook(what);
    } catch (...) {
      // The hook itself failed (e.g. a full disk): nothing left to tell.
    }
  }

  void pop_top() {
    std::pop_heap(heap.begin(), heap.end(), later);
    heap.pop_back();
  }

  /// Drops cancelled entries when they are the majority.
  void compact_heap_if_sparse() {
    if (heap.size() <= 2 * timers.size() + 64) return;
    std::erase_if(heap, [this](const HeapEntry& e) { return !timers.contains(e.id); });
    std::make_heap(heap.begin(), heap.end(), later);
  }

  /// Sets the timerfd to the earliest live deadline, or disarms it.
  void arm_timer() {
    while (!heap.empty() && !timers.contains(heap.front().id)) pop_top();
    if (heap.empty()) {
      if (armed_at) {
        itimerspec off = {};
        if (::timerfd_settime(timer_fd.get(), 0, &off, nullptr) != 0)
          throw sys::SysError("timerfd_settime", "", errno);
        armed_at.reset();
      }
      return;
    }
    Clock::time_point at = heap.front().at;
    if (armed_at == at) return;
    // steady_clock is CLOCK_MONOTONIC. A zero it_value would disarm the
    // timer, so a deadline at or before the epoch becomes 1 ns (long past:
    // fires at once).
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (ns <= 0) ns = 1;
    itimerspec spec = {};
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (::timerfd_settime(timer_fd.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
      throw sys::SysError("timerfd_settime", "", errno);
    armed_at = at;
  }

  void dispatch_signals() {
    signalfd_siginfo infos[16];
    for (;;) {
      ssize_t n = ::read(signal_fd.get(), infos, sizeof infos);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // EAGAIN: all read
      std::size_t count = static_cast<std::size_t>(n) / sizeof infos[0];
      for (std::size_t i = 0; i < count; ++i) {
        std::shared_ptr<SignalCallback> callback = signal_callback;
        if (callback) guarded([&] { (*callback)(infos[i]); });
      }
    }
  }

  void dispatch_fd(std::uint64_t token, std::uint32_t events) {
    auto it = callbacks.find(token);
    if (it == callbacks.end() || it->second.removed) return;  // removed meanwhile
    // References to map elements stay valid while others come and go.
    FdEntry& entry = it->second;
    running_token = token;
    guarded([&] { entry.callback(events); });
    running_token = 0;
    if (entry.removed) callbacks.erase(token);
  }

  /// The token registered for `fd`, or 0.
  std::uint64_t token_of(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= serials.size() || serials[fd] == 0) return 0;
    return fd_token(serials[fd], fd);
  }

  /// Forgets the registration of `fd` (the caller has told epoll).
  void unregister(int fd) {
    const std::uint64_t token = token_of(fd);
    if (token == 0) return;
    serials[fd] = 0;
    auto it = callbacks.find(token);
    if (it == callbacks.end()) return;
    if (token == running_token) {
      it->second.removed = true;  // erased by dispatch_fd once it returns
    } else {
      callbacks.erase(it);
    }
  }

  void run_due_timers() {
    if (heap.empty()) return;
    Clock::time_point now = Clock::now();
    // Collect first, then run: a timer added by a callback waits for the
    // next round even if it is already due, so a callback re-adding itself
    // "now" cannot starve the descriptors.
    due.clear();
    while (!heap.empty() && heap.front().at <= now) {
      if (timers.contains(heap.front().id)) due.push_back(heap.front().id);
      pop_top();
    }
    for (TimerId id : due) {
      auto it = timers.find(id);
      if (it == timers.end()) continue;  // cancelled by an earlier callback
      TimerCallback callback = std::move(it->second);
      timers.erase(it);
      guarded([&] { callback(); });
    }
  }

  void round() {
    arm_timer();
    epoll_event events[kMaxEvents];
    int n = ::epoll_wait(epoll_fd.get(), events, kMaxEvents, -1);
    ++wakeups;
    if (n < 0) {
      if (errno == EINTR) return;
      throw sys::SysError("epoll_wait", "", errno);
    }
    bool signal_ready = false;
    bool timer_ready = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kSignalToken) signal_ready = true;
      if (events[i].data.u64 == kTimerToken) timer_ready = true;
    }
    // Signals first: SIGCHLD is reaped before any fd callback or timer can
    // act on a child that already died.
    if (signal_ready && signal_fd) dispatch_signals();
    for (int i = 0; i < n; ++i) {
      std::uint64_t token = events[i].data.u64;
      if (token != kSignalToken && token != kTimerToken) dispatch_fd(token, events[i].events);
    }
    if (timer_ready) {
      std::uint64_t expirations;
      while (::read(timer_fd.get(), &expirations, sizeof expirations) < 0 && errno == EINTR) {
      }
      armed_at.reset();  // consumed: arm again even for the same deadline
    }
    run_due_timers();
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  impl_->epoll_fd.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl_->epoll_fd) throw sys::SysError("epoll_create1", "", errno);
  impl_->timer_fd.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!impl_->timer_fd) throw sys::SysError("timerfd_create", "", errno);
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kTimerToken;
  if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_ADD, impl_->timer_fd.get(), &ev) != 0)
    throw sys::SysError("epoll_ctl", "timerfd", errno);
}

EventLoop::~EventLoop() = default;

void EventLoop::watch_signals(const sigset_t& signals, SignalCallback callback) {
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0)
    throw sys::SysError("sigprocmask", "", errno);
  if (impl_->signal_fd) {
    // Same descriptor, new set.
    if (::signalfd(impl_->signal_fd.get(), &signals, 0) < 0)
      throw sys::SysError("signalfd", "", errno);
  } else {
    sys::UniqueFd fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) throw sys::SysError("signalfd", "", errno);
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = kSignalToken;
    if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0)
      throw sys::SysError("epoll_ctl", "signalfd", errno);
    impl_->signal_fd = std::move(fd);
  }
  impl_->signal_callback = std::make_shared<SignalCallback>(std::move(callback));
}

void EventLoop::add_fd(int fd, std::uint32_t events, FdCallback callback) {
  std::uint32_t serial = impl_->next_serial++;
  if (impl_->next_serial == 0) impl_->next_serial = 1;  // 0 means "none"
  epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = fd_token(serial, fd);
  // Asking epoll first also covers an fd closed without remove_fd and
  // reused: epoll forgot it, so ADD succeeds and the stale entry is replaced.
  if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    throw sys::SysError("epoll_ctl(ADD)", fd_name(fd), errno);
  impl_->unregister(fd);  // a stale entry, if any
  if (static_cast<std::size_t>(fd) >= impl_->serials.size()) impl_->serials.resize(fd + 1, 0);
  impl_->callbacks.emplace(fd_token(serial, fd), Impl::FdEntry{std::move(callback)});
  impl_->serials[fd] = serial;
}

void EventLoop::modify_fd(int fd, std::uint32_t events) {
  const std::uint64_t token = impl_->token_of(fd);
  if (token == 0) throw sys::SysError("epoll_ctl(MOD)", fd_name(fd), ENOENT);
  epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
    throw sys::SysError("epoll_ctl(MOD)", fd_name(fd), errno);
}

void EventLoop::remove_fd(int fd) {
  if (impl_->token_of(fd) == 0) return;
  // Errors are ignored: if the caller closed fd already, epoll dropped it.
  ::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr);
  impl_->unregister(fd);
}

EventLoop::TimerId EventLoop::add_timer(Clock::time_point at, TimerCallback callback) {
  TimerId id = impl_->next_timer_id++;
  impl_->timers.emplace(id, std::move(callback));
  impl_->heap.push_back(Impl::HeapEntry{at, id});
  std::push_heap(impl_->heap.begin(), impl_->heap.end(), Impl::later);
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  if (impl_->timers.erase(id) == 0) return;
  impl_->compact_heap_if_sparse();
}

void EventLoop::run() {
  while (!impl_->stop_requested) impl_->round();
  impl_->stop_requested = false;
}

void EventLoop::stop() { impl_->stop_requested = true; }

void EventLoop::set_error_hook(std::function<void(const char* what)> hook) {
  impl_->error_hook = std::move(hook);
}

std::uint64_t EventLoop::wakeups() const { return impl_->wakeups; }

std::size_t EventLoop::timer_heap_size() const { return impl_->heap.size(); }

}  // namespace minisup::loop
