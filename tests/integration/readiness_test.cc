// Integration tests of readiness and health probes: the real minisupd with
// tests/helpers/probe_child, driven through minisupctl (DESIGN.md,
// "Readiness, dependencies and harness mode").
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::string probe_cmd(const std::string& flags) {
  return fmt::format("command = \"{} {}\"\n", helper("probe_child"), flags);
}

/// Starts `name` with minisupctl and returns the outcome and how long it took.
std::pair<CommandResult, std::chrono::milliseconds> timed_start(const Daemon& d,
                                                                const std::string& name) {
  auto before = std::chrono::steady_clock::now();
  CommandResult r = d.ctl({"start", name});
  return {r, std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - before)};
}

TEST(Ready, TcpProbeDecidesRunningAndStartWaitsForIt) {
  const int port = free_port();
  Daemon d(
      fmt::format("[program.db]\n{}autostart = false\nstartsecs = 30\n"
                  "ready = {{ tcp = \"127.0.0.1:{}\", interval = 0.05 }}\n",
                  probe_cmd(fmt::format("--delay 0.6 --listen {}", port)), port));
  d.start();
  auto [r, took] = timed_start(d, "db");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("db: started"));
  EXPECT_GE(took, 550ms) << "start returned before the port was open";
  EXPECT_LT(took, 20s) << "startsecs = 30 is not used when ready is set";
  EXPECT_EQ(d.state("db"), "RUNNING");
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, StatusSaysWhatItWaitsFor) {
  const int port = free_port();
  Daemon d(fmt::format("[program.db]\n{}ready = {{ tcp = \"127.0.0.1:{}\", interval = 0.05 }}\n",
                       probe_cmd(fmt::format("--delay 30 --listen {}", port)), port));
  d.start();
  ASSERT_TRUE(d.wait_state("db", "STARTING"));
  ASSERT_TRUE(eventually([&] {
    return d.process("db")["description"].get<std::string>().find("Connection refused") !=
           std::string::npos;
  }));
  EXPECT_THAT(d.process("db")["description"].get<std::string>(),
              HasSubstr(fmt::format("waiting for tcp 127.0.0.1:{}", port)));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, HttpProbeNeeds2xx) {
  const int port = free_port();
  Daemon d;
  const fs::path status = d.dir() / "status";
  write_file(status, "503");
  d.write_config(fmt::format(
      "[program.web]\n{}startsecs = 0.1\n"
      "ready = {{ http = \"http://127.0.0.1:{}/healthz\", interval = 0.05, timeout = 20 }}\n",
      probe_cmd(fmt::format("--listen {} --status-file {}", port, status.string())), port));
  d.start();
  ASSERT_TRUE(eventually([&] {
    return d.process("web")["description"].get<std::string>().find("503") != std::string::npos;
  })) << d.process("web").dump();
  EXPECT_EQ(d.state("web"), "STARTING") << "503 is not ready";
  write_file(status, "204");
  EXPECT_TRUE(d.wait_state("web", "RUNNING"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, ExecProbeExitZeroIsReady) {
  Daemon d;
  const fs::path flag = d.dir() / "ready.flag";
  d.write_config(fmt::format(
      "[program.svc]\n{}"
      "ready = {{ exec = [\"/bin/sh\", \"-c\", \"test -e {}\"], interval = 0.05 }}\n",
      child_cmd(fmt::format("--ready-file {} --after 60", flag.string())), flag.string()));
  d.start();
  EXPECT_TRUE(d.wait_state("svc", "RUNNING"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, LogProbeMatchesALineEvenWithLogsDiscarded) {
  Daemon d("[program.app]\n" + probe_cmd("--delay 0.3 --print 'listening on port 8080'") +
           "stdout_logfile = \"NONE\"\nready = { log = \"listening on port [0-9]+\", interval = "
           "0.05 }\n");
  d.start();
  EXPECT_TRUE(d.wait_state("app", "RUNNING"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, NotifyReadyFromTheProcess) {
  Daemon d("[program.svc]\n" + probe_cmd("--delay 0.3 --notify") + "ready = { notify = true }\n");
  d.start();
  EXPECT_TRUE(d.wait_state("svc", "RUNNING"));
  EXPECT_THAT(d.process("svc")["description"].get<std::string>(), HasSubstr("status: ready"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, ExitBeforeReadyIsAFailedStart) {
  Daemon d("[program.svc]\n" + probe_cmd("--exit 1") +
           "startretries = 0\nready = { notify = true }\n");
  d.start();
  EXPECT_TRUE(d.wait_state("svc", "FATAL"));
  EXPECT_THAT(d.process("svc")["description"].get<std::string>(), HasSubstr("before it was ready"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Ready, TimeoutThenRetryThenFatal) {
  const int port = free_port();
  Daemon d(
      fmt::format("[program.db]\n{}autostart = false\nstartretries = 1\nstopwaitsecs = 1\n"
                  "ready = {{ tcp = \"127.0.0.1:{}\", timeout = 0.4, interval = 0.1 }}\n",
                  probe_cmd(fmt::format("--delay 60 --listen {}", port)), port));
  d.start();
  auto [r, took] = timed_start(d, "db");
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("not ready after"));
  EXPECT_GE(took, 1200ms) << "two tries of 0.4 s and a 1 s backoff";
  EXPECT_EQ(d.state("db"), "FATAL");
  EXPECT_EQ(d.process("db")["exit_reason"], "not_ready");
  EXPECT_THAT(d.log(), HasSubstr("Connection refused"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Health, FailuresInARowRestartTheProcess) {
  const int port = free_port();
  Daemon d;
  const fs::path status = d.dir() / "status";
  write_file(status, "200");
  d.write_config(fmt::format(
      "[program.web]\n{}startsecs = 0\nautorestart = false\nstopwaitsecs = 1\n"
      "health = {{ http = \"http://127.0.0.1:{}/\", interval = 0.1, timeout = 1, failures = 2 }}\n",
      probe_cmd(fmt::format("--listen {} --status-file {}", port, status.string())), port));
  d.start();
  ASSERT_TRUE(d.wait_state("web", "RUNNING"));
  const int first = d.process("web")["pid"];
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(d.process("web")["pid"], first) << "healthy: left alone";
  write_file(status, "500");
  ASSERT_TRUE(eventually([&] {
    auto p = d.process("web");
    return p["state"] == "RUNNING" && p["pid"] != first;
  })) << d.log();
  write_file(status, "200");
  EXPECT_THAT(d.log(), HasSubstr("unhealthy"));
  EXPECT_EQ(d.process("web")["exit_reason"], "unhealthy");
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
