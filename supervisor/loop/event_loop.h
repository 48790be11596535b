// EventLoop: minisupd's single-threaded event loop.
//
// Model: one epoll instance watches file descriptors, one signalfd (the
// handled signals are blocked with sigprocmask before the first child is
// spawned) and one timerfd set to the earliest deadline of a heap of timers
// on the monotonic clock. When nothing is due, epoll_wait blocks with no
// timeout: no tick, no polling, zero wakeups while idle.
//
// Order within one round: the signal callback runs first (so SIGCHLD is
// reaped before any timer or request can signal a pid that already died),
// then ready descriptors, then due timers. Callbacks may add or remove
// descriptors and timers, including their own, at any time.
//
// A child's pidfd (sys::spawn_process) is watched like any descriptor:
// add_fd(pidfd, EPOLLIN) fires once the child has exited (reaped or not),
// and keeps firing (level-triggered) until the pidfd is removed.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace minisup::loop {

using Clock = std::chrono::steady_clock;

class EventLoop {
 public:
  using TimerId = std::uint64_t;
  /// Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLHUP, ...).
  using FdCallback = std::function<void(std::uint32_t events)>;
  using TimerCallback = std::function<void()>;
  using SignalCallback = std::function<void(const signalfd_siginfo& info)>;

  /// Creates the epoll and timer descriptors. Throws sys::SysError on failure.
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Blocks `signals` for the whole process (sigprocmask) and delivers them
  /// through a signalfd to `callback`, one call per queued signal. Call it
  /// before any thread is created. A second call replaces the set and the
  /// callback; signals blocked before stay blocked, also after the loop is
  /// destroyed (a pending one would otherwise kill the process).
  void watch_signals(const sigset_t& signals, SignalCallback callback);

  /// Watches `fd` (not owned) for `events` (EPOLLIN | EPOLLOUT ...;
  /// level-triggered unless EPOLLET is given). Throws sys::SysError when
  /// epoll refuses (e.g. EEXIST: already watched, EPERM: a regular file).
  void add_fd(int fd, std::uint32_t events, FdCallback callback);
  /// Changes the events watched on `fd`. Throws sys::SysError if `fd` is
  /// not watched.
  void modify_fd(int fd, std::uint32_t events);
  /// Stops watching `fd`; safe from inside any callback (even fd's own): an
  /// event of `fd` still pending in the current round is dropped. Unknown
  /// descriptors are ignored. Call it before closing the descriptor.
  void remove_fd(int fd);

  /// Calls `callback` once at `at` (monotonic; a time in the past means the
  /// next round); returns an id for cancel (never 0, never reused). Timers
  /// with the same deadline fire in the order they were added.
  TimerId add_timer(Clock::time_point at, TimerCallback callback);
  /// Cancels a timer; unknown or already-fired ids are ignored.
  void cancel_timer(TimerId id);

  /// Runs until stop() is called. A callback that throws is logged by the
  /// caller-provided error hook (set_error_hook) and the loop goes on.
  /// Throws sys::SysError only if epoll_wait itself fails (not EINTR).
  void run();
  /// Makes run() return after the current round. Called while run() is not
  /// running, the next run() returns at once; run() can be called again
  /// after it returned.
  void stop();

  /// Called with the message of an exception that escaped a callback
  /// (without a hook such exceptions are dropped; the loop goes on either way).
  void set_error_hook(std::function<void(const char* what)> hook);

  /// Number of epoll_wait calls that returned so far (for benchmarks).
  std::uint64_t wakeups() const;

  /// Entries in the timer heap, cancelled ones not yet dropped included.
  /// Cancelled entries are dropped lazily, but the heap never holds more
  /// than about twice the live timers (tests check it stays bounded).
  std::size_t timer_heap_size() const;

  static Clock::time_point now() { return Clock::now(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minisup::loop
