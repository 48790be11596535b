// Held sockets (DESIGN.md "Held sockets and zero-downtime restarts") with
// the real minisupd: what a child gets (descriptors 3..., LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID = its own pid, nothing else open), a restart
// with no listener gap, an address in use at start, unix socket files, and
// `--check`.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <future>
#include <set>

#include "tests/integration/harness.h"
#include "tests/integration/held_sockets_util.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

/// The environment of `pid`, as NAME=VALUE strings.
std::set<std::string> environment_of(int pid) {
  const std::string raw = read_file("/proc/" + std::to_string(pid) + "/environ");
  std::set<std::string> out;
  std::size_t start = 0;
  for (std::size_t end; (end = raw.find('\0', start)) != std::string::npos; start = end + 1)
    out.insert(raw.substr(start, end - start));
  return out;
}

/// The descriptor numbers `pid` has open.
std::vector<int> fds_of(int pid) {
  std::vector<int> fds;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    fds.push_back(std::stoi(entry.path().filename().string()));
  std::sort(fds.begin(), fds.end());
  return fds;
}

/// The inode of the socket descriptor `fd` of `pid` refers to ("socket:[N]").
std::string socket_inode(int pid, int fd) {
  char buf[128] = {};
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  const std::string link(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!link.starts_with("socket:[")) return "";
  return link.substr(8, link.size() - 9);
}

/// True when /proc/net/tcp lists a listening socket on 127.0.0.1:`port`
/// with inode `inode`.
bool listens_on(const std::string& inode, int port) {
  std::istringstream table(read_file("/proc/net/tcp"));
  const std::string local = fmt::format("0100007F:{:04X}", port);
  for (std::string line; std::getline(table, line);) {
    std::istringstream fields(line);
    std::string slot, local_address, remote, state, queues, timer, retransmit, uid, timeout, node;
    fields >> slot >> local_address >> remote >> state >> queues >> timer >> retransmit >> uid >>
        timeout >> node;
    if (local_address == local && state == "0A" && node == inode) return true;
  }
  return false;
}

TEST(HeldSockets, ChildGetsThemAsDescriptorsThreeOnWithItsOwnPid) {
  const int http = free_port();
  const int admin = free_port();
  Daemon d(
      fmt::format("[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n"
                  "[socket.admin]\nlisten = \"tcp://127.0.0.1:{}\"\nbacklog = 8\n"
                  "[program.web]\n{}startsecs = 0\nnumprocs = 2\nsockets = [\"http\", \"admin\"]\n"
                  "stopwaitsecs = 2\n",
                  http, admin, child_cmd("--after 60")));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  for (const std::string name : {"web:0", "web:1"}) {
    const int pid = d.process(name).value("pid", 0);
    ASSERT_GT(pid, 0);
    const std::set<std::string> env = environment_of(pid);
    EXPECT_TRUE(env.count("LISTEN_FDS=2")) << name;
    EXPECT_TRUE(env.count("LISTEN_FDNAMES=http:admin")) << name;
    EXPECT_TRUE(env.count("LISTEN_PID=" + std::to_string(pid))) << name;
    // 0-2 and the held sockets, in the order of `sockets`; nothing else.
    EXPECT_EQ(fds_of(pid), (std::vector<int>{0, 1, 2, 3, 4})) << name;
    EXPECT_TRUE(listens_on(socket_inode(pid, 3), http)) << name;
    EXPECT_TRUE(listens_on(socket_inode(pid, 4), admin)) << name;
  }
  // Both processes share minisupd's socket (one socket, not one each).
  EXPECT_EQ(socket_inode(d.process("web:0").value("pid", 0), 3),
            socket_inode(d.process("web:1").value("pid", 0), 3));
  EXPECT_EQ(d.stop(), 0);
}

TEST(HeldSockets, ProgramWithoutSocketsGetsNoneAndNoVariables) {
  const int port = free_port();
  Daemon d(fmt::format("[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n", port) +
           sleeper("plain"));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "plain", "--timeout", "10"}).code, 0) << d.log();
  const int pid = d.process("plain").value("pid", 0);
  EXPECT_EQ(fds_of(pid), (std::vector<int>{0, 1, 2}));
  for (const std::string& entry : environment_of(pid)) EXPECT_FALSE(entry.starts_with("LISTEN_"));
  // minisupd holds the socket even though no program uses it.
  EXPECT_EQ(ask(port, 300ms), std::optional<std::string>(""));
  EXPECT_EQ(d.stop(), 0);
}

TEST(HeldSockets, RestartHasNoListenerGap) {
  const int port = free_port();
  // The old server drains for 0.5 s after SIGTERM, accepting nothing: a
  // client that connects then must wait in the backlog for the new one.
  Daemon d(
      fmt::format("[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n"
                  "[program.web]\n{}sockets = [\"http\"]\nstartsecs = 0\n"
                  "stopwaitsecs = 5\nready = {{ log = \"listening\" }}\n",
                  port, server_cmd("--term-delay 0.5")));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  const std::optional<std::string> before = ask(port);
  ASSERT_TRUE(before && before->starts_with("pid ")) << (before ? *before : "refused");

  auto restart = std::async(std::launch::async, [&] { return d.ctl({"restart", "web"}); });
  ASSERT_TRUE(d.wait_state("web", "STOPPING", 5s)) << d.log();
  // No process accepts now; the connection is queued, not refused.
  const std::optional<std::string> during = ask(port);
  ASSERT_TRUE(during.has_value()) << "refused during the restart";
  EXPECT_TRUE(during->starts_with("pid ")) << *during;
  EXPECT_NE(*during, *before);  // served by the new process
  const CommandResult r = restart.get();
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(*during, "pid " + std::to_string(d.process("web").value("pid", 0)) + "\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(HeldSockets, AddressInUseAtStartIsAnErrorNamingTheSocket) {
  const int port = free_port();
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 4), 0);
  Daemon d(fmt::format("[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n", port) +
           sleeper("web", "sockets = [\"http\"]\n"));
  d.launch();
  EXPECT_EQ(d.wait_exit(10s), 1);
  EXPECT_THAT(d.log(), HasSubstr(fmt::format(
                           "minisupd: socket \"http\" (tcp://127.0.0.1:{}): bind: Address already "
                           "in use",
                           port)));
  // Nothing was started.
  EXPECT_THAT(d.log(), ::testing::Not(HasSubstr("STARTING")));
  ::close(taken);
}

TEST(HeldSockets, UnixSocketGetsItsModeReplacesAStaleFileAndIsRemovedAtExit) {
  Daemon d;
  const fs::path path = d.dir() / "app.sock";
  {
    // A stale socket file: bound once, nobody listens any more.
    const int stale = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(stale);
  }
  d.write_config(
      "[socket.app]\nlisten = \"unix:app.sock\"\nmode = \"0640\"\n"
      "[program.web]\n" +
      server_cmd() + "sockets = [\"app\"]\nstartsecs = 0\nstopwaitsecs = 2\n");
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // The program serves it.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  char buf[64] = {};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0),
            "pid " + std::to_string(d.process("web").value("pid", 0)) + "\n");
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(fs::exists(path));
}

TEST(HeldSockets, ReloadKeepsAnUnchangedSocketAndMovesAChangedOne) {
  const int http = free_port();
  const int spare = free_port();
  const int moved = free_port();
  auto config = [&](int spare_port) {
    return fmt::format(
        "[socket.http]\nlisten = \"tcp://127.0.0.1:{}\"\n"
        "[socket.spare]\nlisten = \"tcp://127.0.0.1:{}\"\n"
        "[program.web]\n{}sockets = [\"http\"]\nstartsecs = 0\nstopwaitsecs = 2\n",
        http, spare_port, server_cmd());
  };
  Daemon d(config(spare));
  d.start();
  ASSERT_EQ(d.ctl({"wait", "web", "--timeout", "10"}).code, 0) << d.log();
  const int pid = d.process("web").value("pid", 0);
  const std::string inode = socket_inode(pid, 3);
  EXPECT_EQ(ask(spare, 300ms), std::optional<std::string>(""));  // held, nobody accepts

  d.write_config(config(moved));
  const CommandResult r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // The spare socket moved: the new address is held, the old one closed.
  EXPECT_EQ(ask(moved, 300ms), std::optional<std::string>(""));
  EXPECT_EQ(ask(spare, 300ms), std::nullopt);
  // http did not change: the same socket, and web was not touched.
  EXPECT_EQ(d.process("web").value("pid", 0), pid);
  EXPECT_EQ(socket_inode(pid, 3), inode);
  EXPECT_EQ(ask(http), "pid " + std::to_string(pid) + "\n");
  EXPECT_EQ(d.stop(), 0);
}

TEST(HeldSockets, CheckPrintsThemAndRejectsAProbeOnAHeldAddress) {
  Daemon good("[socket.http]\nlisten = \"tcp://0.0.0.0:3000\"\n" +
              sleeper("web", "sockets = [\"http\"]\nready = { log = \"listening\" }\n"));
  CommandResult r = run_command({MINISUPD_PATH, "-c", good.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("held sockets: 1\n  http: tcp://0.0.0.0:3000 (backlog 4096) -> web"));

  Daemon bad("[socket.http]\nlisten = \"tcp://0.0.0.0:3000\"\n" +
             sleeper("web", "sockets = [\"http\"]\nready = { tcp = \"127.0.0.1:3000\" }\n"));
  r = run_command({MINISUPD_PATH, "-c", bad.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("ready.tcp \"127.0.0.1:3000\" aims at the address of held socket "
                               "[socket.http]"));
  EXPECT_THAT(r.err, HasSubstr("use ready = { notify = true }"));
}

}  // namespace
}  // namespace minisup::testing
