// sd_notify (supervisor/daemon/sd_notify.h) and the shutdown summary
// (shutdown_summary.h): the datagrams minisupd sends to NOTIFY_SOCKET, what
// they say when, and the summary line's wording.
#include "supervisor/daemon/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "supervisor/daemon/shutdown_summary.h"

namespace minisup::daemon {
namespace {

using namespace std::chrono_literals;

/// A bound datagram socket; `address` as NOTIFY_SOCKET spells it.
class Receiver {
 public:
  explicit Receiver(const std::string& address) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.data(), address.size());
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    if (address[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      ++length;
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), length), 0) << std::strerror(errno);
  }
  ~Receiver() { ::close(fd_); }
  std::string receive() {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) return "(nothing)";
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "(error)" : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
};

TEST(NotifySocket, SendsToAPath) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("minisup-notify-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "notify.sock").string();
  Receiver receiver(path);
  std::string error;
  auto notify = NotifySocket::open(path, &error);
  ASSERT_TRUE(notify) << error;
  ASSERT_TRUE(notify->send("READY=1\nSTATUS=1 running\n", &error)) << error;
  EXPECT_EQ(receiver.receive(), "READY=1\nSTATUS=1 running\n");
  std::filesystem::remove_all(dir);
}

TEST(NotifySocket, SendsToAnAbstractName) {
  const std::string address = "@minisup-notify-test-" + std::to_string(::getpid());
  Receiver receiver(address);
  std::string error;
  auto notify = NotifySocket::open(address, &error);
  ASSERT_TRUE(notify) << error;
  ASSERT_TRUE(notify->send("STOPPING=1\n", &error)) << error;
  EXPECT_EQ(receiver.receive(), "STOPPING=1\n");
}

TEST(NotifySocket, RejectsARelativePathAndReportsAFailedSend) {
  std::string error;
  EXPECT_FALSE(NotifySocket::open("relative/notify", &error));
  EXPECT_NE(error.find("NOTIFY_SOCKET=relative/notify"), std::string::npos) << error;
  error.clear();
  auto nobody = NotifySocket::open("/nonexistent/minisup/notify", &error);
  ASSERT_TRUE(nobody) << error;
  EXPECT_FALSE(nobody->send("READY=1\n", &error));
  EXPECT_NE(error.find("/nonexistent/minisup/notify"), std::string::npos) << error;
}

TEST(NotifySocket, TakenOutOfTheEnvironment) {
  ::setenv("NOTIFY_SOCKET", "@minisup-notify-env-test", 1);
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDNAMES", "a:b", 1);
  std::string error;
  auto notify = NotifySocket::take_from_environment(&error);
  ASSERT_TRUE(notify) << error;
  EXPECT_EQ(notify->address(), "@minisup-notify-env-test");
  for (const char* name : {"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"})
    EXPECT_EQ(std::getenv(name), nullptr) << name;
  EXPECT_FALSE(NotifySocket::take_from_environment(&error));  // unset now
}

TEST(NotifyMessage, ReadyAndStoppingOnceStatusWhenItChanges) {
  NotifyState sent;
  EXPECT_EQ(notify_message({false, false, "2 starting"}, sent), "STATUS=2 starting\n");
  EXPECT_EQ(notify_message({false, false, "2 starting"}, sent), "");
  EXPECT_EQ(notify_message({true, false, "2 running"}, sent), "READY=1\nSTATUS=2 running\n");
  EXPECT_EQ(notify_message({true, false, "1 running, 1 backoff"}, sent),
            "STATUS=1 running, 1 backoff\n");
  EXPECT_EQ(notify_message({true, true, "shutting down: 2 stopping"}, sent),
            "STOPPING=1\nSTATUS=shutting down: 2 stopping\n");
  EXPECT_EQ(notify_message({true, true, "shutting down: 2 stopping"}, sent), "");
}

core::StateChanged stopped(bool needed_sigkill) {
  core::StateChanged change{core::ProcessState::Stopping, core::ProcessState::Stopped, "", {}};
  change.exit = core::ExitRecord{};
  change.exit->reason = needed_sigkill ? core::ExitReason::NeededSigkill : core::ExitReason::Killed;
  return change;
}

TEST(ShutdownTally, CountsStoppedProcessesAndNamesThoseThatNeededSigkill) {
  const auto began = std::chrono::steady_clock::time_point{} + 100s;
  ShutdownTally tally(began);
  tally.note("web", stopped(false));
  tally.note("worker:1", stopped(true));
  tally.note("worker:0", stopped(true));
  tally.note("other", {core::ProcessState::Running, core::ProcessState::Stopping, "", {}});
  EXPECT_EQ(tally.line(began + 1234ms),
            "shutdown complete: 3 processes stopped in 1.23 s; 2 needed SIGKILL (worker:1, "
            "worker:0)");
  ShutdownTally one(began);
  one.note("web", stopped(false));
  EXPECT_EQ(one.line(began + 50ms),
            "shutdown complete: 1 process stopped in 0.05 s; none needed SIGKILL");
  EXPECT_EQ(ShutdownTally(began).line(began),
            "shutdown complete: 0 processes stopped in 0.00 s; none needed SIGKILL");
}

}  // namespace
}  // namespace minisup::daemon
