// Held sockets in spawn_process (SpawnRequest::listen_fds, own_pid_env):
// the child gets them as 3, 4, ... in order whatever numbers they have in
// the parent (even crossed: the parent's 4 as the child's 3), open across
// exec, nothing else beyond 0-2, and LISTEN_PID holds its own pid; with
// and without spawn slots.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "supervisor/sys/listen_socket.h"
#include "supervisor/sys/spawn.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using testing::request;
using testing::run;

/// A listening TCP socket on 127.0.0.1, some free port (blocking, close-on-exec).
UniqueFd listening_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd.get(), 8), 0);
  return fd;
}

/// "socket:[12345]": what /proc says descriptor `fd` of `pid` is.
std::string fd_link(const std::string& pid, int fd) {
  char buf[256] = {};
  const std::string path = "/proc/" + pid + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

/// The child's view: its 3 and 4, its whole table, LISTEN_PID and its pid.
constexpr const char* kShowFds =
    "readlink /proc/$$/fd/3; readlink /proc/$$/fd/4; ls /proc/$$/fd; echo \"$LISTEN_PID $$\"; "
    "echo \"$LISTEN_FDS\"; :";

std::string expected_output(int first, int second) {
  return fd_link("self", first) + "\n" + fd_link("self", second) + "\n0\n1\n2\n3\n4\n";
}

/// Runs kShowFds with `fds` as held sockets and checks what it saw.
void expect_child_sees(const std::vector<int>& fds) {
  SpawnRequest r = request({"/bin/sh", "-c", kShowFds});
  r.envp = {"PATH=/usr/bin:/bin", "LISTEN_FDS=2", "LISTEN_PID="};
  r.own_pid_env = 2;
  r.listen_fds = fds;
  const auto result = run(r);
  ASSERT_EQ(result.error, "");
  const std::string expected_start = expected_output(fds[0], fds[1]);
  ASSERT_EQ(result.output.substr(0, expected_start.size()), expected_start) << result.output;
  // "PID PID": LISTEN_PID is the pid of the process that exec'ed.
  std::string rest = result.output.substr(expected_start.size());
  const std::size_t space = rest.find(' ');
  const std::size_t newline = rest.find('\n');
  ASSERT_NE(space, std::string::npos) << rest;
  EXPECT_EQ(rest.substr(0, space), rest.substr(space + 1, newline - space - 1)) << rest;
  EXPECT_GT(std::stoi(rest.substr(0, space)), 0);
  EXPECT_EQ(rest.substr(newline + 1), "2\n");
  // The parent's table is as it was: its sockets still close-on-exec.
  for (int fd : fds) EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(ListenFds, CrossedLowNumbersLandInOrder) {
  UniqueFd a = listening_socket();
  UniqueFd b = listening_socket();
  // A fresh test process: these are the lowest free numbers, where the
  // targets are. Passing them crossed makes each source another's target.
  ASSERT_LT(a.get(), 6);
  ASSERT_LT(b.get(), 6);
  expect_child_sees({b.get(), a.get()});
}

TEST(ListenFds, HighNumbersWithSpawnSlots) {
  ASSERT_TRUE(reserve_spawn_slots());
  UniqueFd low = listening_socket();
  // Far above the slots: the child's private table must still hold it.
  UniqueFd high(::fcntl(low.get(), F_DUPFD_CLOEXEC, 200));
  ASSERT_GE(high.get(), 200);
  expect_child_sees({high.get(), low.get()});
}

TEST(ListenFds, ListenPidIsExactWithoutPadding) {
  SpawnRequest r = request({"/bin/sh", "-c", "printf '[%s]' \"$LISTEN_PID\"; printf ' %s' $$"});
  r.envp = {"LISTEN_PID=", "PATH=/usr/bin:/bin"};
  r.own_pid_env = 0;
  const std::string out = run(r).output;
  const std::size_t close = out.find(']');
  ASSERT_NE(close, std::string::npos) << out;
  EXPECT_EQ(out.substr(1, close - 1), out.substr(close + 2)) << out;
}

TEST(ListenSocket, TcpIsBlockingAndCloseOnExec) {
  auto address = parse_ip_address("127.0.0.1", 1);
  ASSERT_TRUE(address);
  // Port 1 needs root; any failure must name its call.
  ListenResult result = listen_tcp(*address, 16);
  if (result.error != 0) {
    EXPECT_STREQ(result.call, "bind");
    return;
  }
  EXPECT_EQ(::fcntl(result.fd.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(result.fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // A second socket on the same address is refused.
  ListenResult again = listen_tcp(*address, 16);
  EXPECT_EQ(again.error, EADDRINUSE);
  EXPECT_STREQ(again.call, "bind");
}

}  // namespace
}  // namespace minisup::sys
