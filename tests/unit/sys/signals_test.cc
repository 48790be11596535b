// Signals, reaping, pipes, UniqueFd and SysError.
#include "supervisor/sys/signals.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/spawn.h"
#include "supervisor/sys/sys_error.h"
#include "supervisor/sys/unique_fd.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using testing::reap;
using testing::request;
using testing::wait_exited;

SpawnedChild spawn_ok(std::vector<std::string> argv) {
  auto result = spawn_process(request(std::move(argv)));
  EXPECT_TRUE(std::holds_alternative<SpawnedChild>(result));
  return std::move(std::get<SpawnedChild>(result));
}

TEST(ReapAll, CollectsTwoHundredChildrenThatExitTogether) {
  constexpr int kChildren = 200;
  std::vector<SpawnedChild> children;
  std::set<pid_t> pids;
  for (int i = 0; i < kChildren; ++i) {
    children.push_back(spawn_ok({i % 2 == 0 ? "/bin/true" : "/bin/false"}));
    pids.insert(children.back().pid);
  }
  // Wait until every one has exited (pidfd readable), as after a burst of
  // coalesced SIGCHLDs; then a single reap_all() must collect them all.
  for (auto& c : children) ASSERT_TRUE(wait_exited(c.pidfd.get()));
  std::vector<Reaped> reaped = reap_all();
  std::map<pid_t, int> codes;
  for (const Reaped& r : reaped) {
    if (!pids.contains(r.pid)) continue;
    ASSERT_TRUE(r.exit_code.has_value());
    EXPECT_FALSE(r.exit_signal.has_value());
    codes[r.pid] = *r.exit_code;
  }
  ASSERT_EQ(codes.size(), static_cast<std::size_t>(kChildren));
  for (int i = 0; i < kChildren; ++i) EXPECT_EQ(codes[children[i].pid], i % 2);
  EXPECT_TRUE(reap_all().empty());
}

TEST(ReapAll, ReportsDeathBySignal) {
  SpawnedChild child = spawn_ok({"/bin/sleep", "10"});
  ASSERT_TRUE(send_signal(child.pidfd.get(), SIGTERM));
  ASSERT_TRUE(wait_exited(child.pidfd.get()));
  std::vector<Reaped> reaped = reap_all();
  ASSERT_EQ(reaped.size(), 1u);
  EXPECT_EQ(reaped[0], (Reaped{child.pid, std::nullopt, SIGTERM}));
}

TEST(ReapAll, NothingToReap) {
  EXPECT_TRUE(reap_all().empty());  // no children at all (ECHILD)
  SpawnedChild child = spawn_ok({"/bin/sleep", "10"});
  EXPECT_TRUE(reap_all().empty());  // a child, still running
  send_signal(child.pidfd.get(), SIGKILL);
  reap(child.pid);
}

TEST(Signals, PidfdSignalAfterReapIsNotAnError) {
  SpawnedChild child = spawn_ok({"/bin/sleep", "10"});
  EXPECT_TRUE(send_signal(child.pidfd.get(), 0));
  EXPECT_TRUE(send_signal(child.pidfd.get(), SIGKILL));
  int status = reap(child.pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(send_signal(child.pidfd.get(), SIGTERM));
  EXPECT_FALSE(send_signal(child.pidfd.get(), SIGKILL));
}

TEST(Signals, PidfdSignalOnBadDescriptorThrows) {
  EXPECT_THROW(send_signal(-1, SIGTERM), SysError);
}

TEST(Signals, GroupSignalReachesEveryMember) {
  // The shell and its background sleep share the child's process group.
  set_child_subreaper();  // for the rest of this test binary: harmless
  Pipe out = make_pipe();
  SpawnRequest r = request({"/bin/sh", "-c", "sleep 10 & echo $!; wait"});
  r.stdout_fd = out.write.get();
  auto spawned = spawn_process(r);
  out.write.reset();
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(spawned));
  SpawnedChild& child = std::get<SpawnedChild>(spawned);
  // The sleep's pid, once the shell has started it.
  std::string line;
  char c;
  while (line.find('\n') == std::string::npos) {
    pollfd p{out.read.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    ASSERT_EQ(::read(out.read.get(), &c, 1), 1);
    line += c;
  }
  pid_t grandchild = std::stoi(line);
  EXPECT_EQ(::getpgid(grandchild), child.pid);

  EXPECT_TRUE(group_alive(child.pid));
  EXPECT_TRUE(signal_group(child.pid, SIGKILL));
  ASSERT_TRUE(wait_exited(child.pidfd.get()));
  reap(child.pid);
  // The orphaned sleep was killed too. As a subreaper we inherited it when
  // the shell exited (before its pidfd became readable), so we reap it.
  int status = 0;
  ASSERT_EQ(::waitpid(grandchild, &status, 0), grandchild);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(group_alive(child.pid));
  EXPECT_FALSE(signal_group(child.pid, SIGTERM));
}

TEST(Signals, IgnoreSignal) {
  struct sigaction old = {};
  ::sigaction(SIGUSR2, nullptr, &old);
  ignore_signal(SIGUSR2);
  struct sigaction now = {};
  ::sigaction(SIGUSR2, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  ::raise(SIGUSR2);  // would kill the test if not ignored
  ::sigaction(SIGUSR2, &old, nullptr);
  EXPECT_THROW(ignore_signal(SIGKILL), SysError);
}

TEST(Pipe, FlagsOfBothEnds) {
  Pipe p = make_pipe();
  EXPECT_NE(::fcntl(p.read.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(p.write.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(p.read.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(p.write.get(), F_GETFL) & O_NONBLOCK, 0);
  char c;
  EXPECT_EQ(::read(p.read.get(), &c, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(Pipe, SetNonblocking) {
  Pipe p = make_pipe();
  set_nonblocking(p.write.get());
  EXPECT_NE(::fcntl(p.write.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_THROW(set_nonblocking(-1), SysError);
}

TEST(Pipe, SetPipeSize) {
  Pipe p = make_pipe();
  long size = set_pipe_size(p.write.get(), 256 * 1024);
  EXPECT_GE(size, 64 * 1024);  // at least the default, even if capped
  EXPECT_EQ(size, ::fcntl(p.write.get(), F_GETPIPE_SZ));
  if (::geteuid() == 0) {
    EXPECT_GE(size, 256 * 1024);
  }
  EXPECT_EQ(set_pipe_size(-1, 4096), -1);
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, OwnsAndCloses) {
  int raw;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    ASSERT_TRUE(fd);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveReleaseReset) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  int released = c.release();
  EXPECT_FALSE(c);
  EXPECT_TRUE(is_open(released));
  c.reset(released);
  EXPECT_EQ(c.get(), raw);
  c.reset();
  EXPECT_FALSE(c);
  EXPECT_FALSE(is_open(raw));
}

TEST(SysError, MessageKeepsCallObjectAndErrno) {
  SysError e("open", "/var/log/x.log", ENOENT);
  EXPECT_STREQ(e.what(), "open: /var/log/x.log: No such file or directory");
  EXPECT_EQ(e.call(), "open");
  EXPECT_EQ(e.error(), ENOENT);
  EXPECT_STREQ(SysError("epoll_wait", "", EINTR).what(), "epoll_wait: Interrupted system call");
  EXPECT_EQ(error_text(EACCES), "Permission denied");
}

}  // namespace
}  // namespace minisup::sys
