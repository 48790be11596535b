// EventLoop: timers, descriptors, signals, ordering and idleness, with real
// kernel objects (pipes, timerfd, signalfd) and the real clock.
#include "supervisor/loop/event_loop.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::loop {
namespace {

using namespace std::chrono_literals;

/// Generous bound for "on time": the machine may be busy with builds.
constexpr auto kLateness = 50ms;

void write_byte(int fd) { ASSERT_EQ(::write(fd, "x", 1), 1); }

/// A safety net: stops the loop after `after`, marking the test failed.
void add_watchdog(EventLoop& loop, Clock::duration after = 5s) {
  loop.add_timer(EventLoop::now() + after, [&loop] {
    ADD_FAILURE() << "watchdog: the loop did not stop by itself";
    loop.stop();
  });
}

TEST(Timers, FireInDeadlineOrderAndNotEarly) {
  EventLoop loop;
  auto start = EventLoop::now();
  std::vector<std::string> fired;
  std::vector<Clock::duration> lateness;
  auto add = [&](Clock::duration offset, std::string name, bool last = false) {
    Clock::time_point at = start + offset;
    loop.add_timer(at, [&, at, name, last] {
      lateness.push_back(EventLoop::now() - at);
      fired.push_back(name);
      if (last) loop.stop();
    });
  };
  add(30ms, "d", true);
  add(10ms, "a");
  add(20ms, "b");
  add(20ms, "c");  // same deadline as b: added later, fires later
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b", "c", "d"}));
  for (auto late : lateness) {
    EXPECT_GE(late, 0ns);
    EXPECT_LT(late, kLateness);
  }
}

TEST(Timers, FireCloseToTheDeadline) {
  // No tick: each timer is its own timerfd deadline. Typical lateness is
  // tens of microseconds; the bound is loose for loaded machines.
  EventLoop loop;
  int remaining = 5;
  Clock::duration worst{};
  std::function<void()> arm = [&] {
    Clock::time_point at = EventLoop::now() + 3ms;
    loop.add_timer(at, [&, at] {
      worst = std::max(worst, EventLoop::now() - at);
      if (--remaining == 0)
        loop.stop();
      else
        arm();
    });
  };
  arm();
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(remaining, 0);
  EXPECT_LT(worst, kLateness);
}

TEST(Timers, CancelledTimerNeverFires) {
  EventLoop loop;
  bool cancelled_ran = false;
  auto now = EventLoop::now();
  auto id = loop.add_timer(now + 5ms, [&] { cancelled_ran = true; });
  loop.add_timer(now + 10ms, [&] { loop.stop(); });
  loop.cancel_timer(id);
  loop.cancel_timer(id);      // twice: ignored
  loop.cancel_timer(999999);  // unknown: ignored
  add_watchdog(loop);
  loop.run();
  EXPECT_FALSE(cancelled_ran);
}

TEST(Timers, CancelFromAnotherTimerDueInTheSameRound) {
  EventLoop loop;
  auto at = EventLoop::now() + 5ms;
  EventLoop::TimerId second = 0;
  bool second_ran = false;
  loop.add_timer(at, [&] { loop.cancel_timer(second); });
  second = loop.add_timer(at, [&] { second_ran = true; });
  loop.add_timer(at + 5ms, [&] { loop.stop(); });
  add_watchdog(loop);
  loop.run();
  EXPECT_FALSE(second_ran);
}

TEST(Timers, CancelAfterFiringIsIgnored) {
  EventLoop loop;
  EventLoop::TimerId id = 0;
  id = loop.add_timer(EventLoop::now(), [&] {
    loop.cancel_timer(id);  // its own id, while running
    loop.stop();
  });
  loop.run();
  loop.cancel_timer(id);
  EXPECT_EQ(loop.timer_heap_size(), 0u);
}

TEST(Timers, PastDeadlineFiresInTheNextRound) {
  EventLoop loop;
  bool ran = false;
  loop.add_timer(Clock::time_point{}, [&] {  // the clock's epoch: long past
    ran = true;
    loop.stop();
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_TRUE(ran);
  EXPECT_EQ(loop.wakeups(), 1u);
}

TEST(Timers, TimerAddedByATimerForNowWaitsForTheNextRound) {
  EventLoop loop;
  std::uint64_t first_round = 0, second_round = 0;
  loop.add_timer(EventLoop::now(), [&] {
    first_round = loop.wakeups();
    loop.add_timer(EventLoop::now() - 1ms, [&] {
      second_round = loop.wakeups();
      loop.stop();
    });
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(second_round, first_round + 1);
}

TEST(Timers, RearmingManyTimesKeepsTheHeapBounded) {
  EventLoop loop;
  auto now = EventLoop::now();
  // A few long-lived timers, and one deadline re-armed 100000 times (as a
  // busy program's startsecs/backoff deadline would be).
  for (int i = 0; i < 10; ++i) loop.add_timer(now + 1h + std::chrono::seconds(i), [] {});
  auto id = loop.add_timer(now + 1h, [] {});
  std::size_t largest = 0;
  for (int i = 0; i < 100000; ++i) {
    loop.cancel_timer(id);
    id = loop.add_timer(now + 1h + std::chrono::microseconds(i), [] {});
    largest = std::max(largest, loop.timer_heap_size());
  }
  EXPECT_LE(largest, 2u * 11 + 64 + 1);
  // And the surviving timer still fires.
  bool ran = false;
  loop.cancel_timer(id);
  loop.add_timer(EventLoop::now() + 1ms, [&] {
    ran = true;
    loop.stop();
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_TRUE(ran);
}

TEST(Timers, IdleLoopMakesNoWakeupsWhileWaiting) {
  EventLoop loop;
  auto start = EventLoop::now();
  loop.add_timer(start + 200ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_GE(EventLoop::now() - start, 200ms);
  EXPECT_EQ(loop.wakeups(), 1u);
}

TEST(Fds, ReadinessCallsTheCallback) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  std::uint32_t seen = 0;
  std::string data;
  loop.add_fd(p.read.get(), EPOLLIN, [&](std::uint32_t events) {
    seen = events;
    char buf[16];
    ssize_t n = ::read(p.read.get(), buf, sizeof buf);
    if (n > 0) data.append(buf, static_cast<std::size_t>(n));
    loop.stop();
  });
  loop.add_timer(EventLoop::now() + 5ms, [&] { write_byte(p.write.get()); });
  add_watchdog(loop);
  loop.run();
  EXPECT_NE(seen & EPOLLIN, 0u);
  EXPECT_EQ(data, "x");
}

TEST(Fds, HangupIsReported) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  std::uint32_t seen = 0;
  loop.add_fd(p.read.get(), EPOLLIN, [&](std::uint32_t events) {
    seen = events;
    loop.remove_fd(p.read.get());
    loop.stop();
  });
  p.write.reset();
  add_watchdog(loop);
  loop.run();
  EXPECT_NE(seen & EPOLLHUP, 0u);
}

TEST(Fds, ModifyChangesTheWatchedEvents) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  sys::UniqueFd a(sv[0]), b(sv[1]);
  std::uint32_t seen = 0;
  loop.add_fd(a.get(), EPOLLIN, [&](std::uint32_t events) {
    seen = events;
    loop.stop();
  });
  // Nothing to read: only after asking for EPOLLOUT does the callback run.
  loop.add_timer(EventLoop::now() + 5ms, [&] { loop.modify_fd(a.get(), EPOLLOUT); });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(seen, static_cast<std::uint32_t>(EPOLLOUT));
}

TEST(Fds, RemovedInsideACallbackOfTheSameRoundIsSkipped) {
  EventLoop loop;
  sys::Pipe p1 = sys::make_pipe();
  sys::Pipe p2 = sys::make_pipe();
  write_byte(p1.write.get());
  write_byte(p2.write.get());
  int calls = 0;
  // Both are ready in the first round; whichever runs first removes both.
  auto callback = [&](std::uint32_t) {
    ++calls;
    loop.remove_fd(p1.read.get());
    loop.remove_fd(p2.read.get());
  };
  loop.add_fd(p1.read.get(), EPOLLIN, callback);
  loop.add_fd(p2.read.get(), EPOLLIN, callback);
  loop.add_timer(EventLoop::now(), [&] { loop.stop(); });  // end of round 1
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop.wakeups(), 1u);
}

TEST(Fds, ReaddedInsideACallbackGetsOnlyNewEvents) {
  EventLoop loop;
  sys::Pipe p1 = sys::make_pipe();
  sys::Pipe p2 = sys::make_pipe();
  write_byte(p1.write.get());
  write_byte(p2.write.get());
  int old_calls = 0, new_calls = 0;
  std::uint64_t new_round = 0;
  auto replace_other = [&](int other) {
    ++old_calls;
    loop.remove_fd(p1.read.get() == other ? p2.read.get() : p1.read.get());  // self
    loop.remove_fd(other);
    loop.add_fd(other, EPOLLIN, [&, other](std::uint32_t) {
      ++new_calls;
      new_round = loop.wakeups();
      loop.remove_fd(other);
      loop.stop();
    });
  };
  loop.add_fd(p1.read.get(), EPOLLIN, [&](std::uint32_t) { replace_other(p2.read.get()); });
  loop.add_fd(p2.read.get(), EPOLLIN, [&](std::uint32_t) { replace_other(p1.read.get()); });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(old_calls, 1);  // the other's stale event of round 1 was dropped
  EXPECT_EQ(new_calls, 1);
  EXPECT_EQ(new_round, 2u);  // the new registration fired in the next round
}

TEST(Fds, CallbackCanRemoveAndCloseItsOwnFd) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  write_byte(p.write.get());
  std::string captured = "alive";  // owned by the callback's closure
  std::string seen;
  loop.add_fd(p.read.get(), EPOLLIN, [&, captured](std::uint32_t) {
    loop.remove_fd(p.read.get());
    p.read.reset();
    seen = captured;  // the closure is still alive after remove_fd
    loop.stop();
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(seen, "alive");
}

TEST(Fds, CallbackCanReplaceItsOwnRegistrationOnTheSameNumber) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  const int number = p.read.get();
  write_byte(p.write.get());
  sys::Pipe q;
  int replaced_seen = 0;
  bool new_ran = false;
  int* counter = &replaced_seen;  // a small capture, stored inside the callback object
  loop.add_fd(number, EPOLLIN, [&, counter](std::uint32_t) {
    loop.remove_fd(number);
    p.read.reset();
    q = sys::make_pipe();  // takes the lowest free number: the same one
    ASSERT_EQ(q.read.get(), number);
    loop.add_fd(number, EPOLLIN, [&](std::uint32_t) {
      new_ran = true;
      loop.stop();
    });
    write_byte(q.write.get());
    ++*counter;  // the running closure is intact after its entry was replaced
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(replaced_seen, 1);
  EXPECT_TRUE(new_ran);
}

TEST(Fds, ErrorsAreSysErrors) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  loop.add_fd(p.read.get(), EPOLLIN, [](std::uint32_t) {});
  EXPECT_THROW(loop.add_fd(p.read.get(), EPOLLIN, [](std::uint32_t) {}), sys::SysError);
  EXPECT_THROW(loop.modify_fd(p.write.get(), EPOLLOUT), sys::SysError);
  EXPECT_THROW(loop.add_fd(-1, EPOLLIN, [](std::uint32_t) {}), sys::SysError);
  loop.remove_fd(p.write.get());  // unknown: ignored
  loop.remove_fd(p.read.get());
  loop.remove_fd(p.read.get());
}

TEST(Fds, ClosedWithoutRemoveAndReusedCanBeAddedAgain) {
  EventLoop loop;
  sys::Pipe p = sys::make_pipe();
  int number = p.read.get();
  loop.add_fd(number, EPOLLIN, [](std::uint32_t) { ADD_FAILURE() << "stale callback"; });
  p.read.reset();  // epoll forgets it; the loop's entry is stale
  sys::Pipe q = sys::make_pipe();
  ASSERT_EQ(q.read.get(), number);  // lowest free number is reused
  bool ran = false;
  loop.add_fd(number, EPOLLIN, [&](std::uint32_t) {
    ran = true;
    loop.stop();
  });
  write_byte(q.write.get());
  add_watchdog(loop);
  loop.run();
  EXPECT_TRUE(ran);
}

class Signals : public ::testing::Test {
 protected:
  static sigset_t usr1() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    return set;
  }
};

TEST_F(Signals, DeliveredThroughSignalfd) {
  EventLoop loop;
  std::vector<std::uint32_t> signals;
  loop.watch_signals(usr1(), [&](const signalfd_siginfo& info) {
    signals.push_back(info.ssi_signo);
    EXPECT_EQ(static_cast<pid_t>(info.ssi_pid), ::getpid());
    loop.stop();
  });
  sigset_t mask;
  ::sigprocmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_TRUE(sigismember(&mask, SIGUSR1));  // blocked: no default action
  loop.add_timer(EventLoop::now() + 5ms, [] { ::raise(SIGUSR1); });
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(signals, std::vector<std::uint32_t>{SIGUSR1});
}

TEST_F(Signals, RoundOrderIsSignalsThenFdsThenTimers) {
  EventLoop loop;
  std::vector<std::string> order;
  loop.watch_signals(usr1(), [&](const signalfd_siginfo&) { order.push_back("signal"); });
  sys::Pipe p = sys::make_pipe();
  loop.add_fd(p.read.get(), EPOLLIN, [&](std::uint32_t) {
    order.push_back("fd");
    loop.remove_fd(p.read.get());
  });
  loop.add_timer(EventLoop::now(), [&] {
    order.push_back("timer");
    loop.stop();
  });
  // Everything is ready before the first epoll_wait.
  write_byte(p.write.get());
  ::raise(SIGUSR1);
  add_watchdog(loop);
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"signal", "fd", "timer"}));
  EXPECT_EQ(loop.wakeups(), 1u);
}

TEST(Loop, ExceptionsGoToTheErrorHookAndTheLoopGoesOn) {
  EventLoop loop;
  std::vector<std::string> errors;
  loop.set_error_hook([&](const char* what) { errors.emplace_back(what); });
  auto now = EventLoop::now();
  loop.add_timer(now + 1ms, [] { throw std::runtime_error("boom"); });
  loop.add_timer(now + 1ms, [] { throw 42; });
  sys::Pipe p = sys::make_pipe();
  write_byte(p.write.get());
  loop.add_fd(p.read.get(), EPOLLIN, [&](std::uint32_t) {
    loop.remove_fd(p.read.get());
    throw std::logic_error("fd callback");
  });
  bool later_ran = false;
  loop.add_timer(now + 10ms, [&] {
    later_ran = true;
    loop.stop();
  });
  add_watchdog(loop);
  loop.run();
  EXPECT_TRUE(later_ran);
  EXPECT_EQ(errors, (std::vector<std::string>{"fd callback", "boom", "unknown exception"}));
}

TEST(Loop, ExceptionWithoutHookIsDropped) {
  EventLoop loop;
  loop.add_timer(EventLoop::now(), [] { throw std::runtime_error("ignored"); });
  loop.add_timer(EventLoop::now() + 1ms, [&] { loop.stop(); });
  add_watchdog(loop);
  loop.run();
  SUCCEED();
}

TEST(Loop, StopBeforeRunReturnsAtOnceAndRunCanBeRepeated) {
  EventLoop loop;
  loop.stop();
  loop.run();
  EXPECT_EQ(loop.wakeups(), 0u);
  int runs = 0;
  for (int i = 0; i < 2; ++i) {
    loop.add_timer(EventLoop::now(), [&] {
      ++runs;
      loop.stop();
    });
    loop.run();
  }
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace minisup::loop
