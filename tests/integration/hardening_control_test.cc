// Integration tests of the control socket's hardening (DESIGN.md, Control
// socket): idle connections are closed after 10 s and evicted at the client
// cap so an operator is always served; descriptor exhaustion neither locks
// clients out nor floods the log; peers that are not root, minisupd's user,
// socket_uids or socket_group are refused even when the socket's mode lets
// them connect.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/resource.h>

#include <memory>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

/// Lines of `text` containing `needle`.
std::size_t count_lines(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

/// Raises this process's soft descriptor limit to at least `wanted`.
void raise_nofile(rlim_t wanted) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur >= wanted) return;
  if (limit.rlim_max < wanted) limit.rlim_max = wanted;  // works as root only
  limit.rlim_cur = wanted;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0) << "cannot raise RLIMIT_NOFILE to " << wanted;
}

// ---------------------------------------------------------------------------
// Idle clients
// ---------------------------------------------------------------------------

TEST(HardeningControl, IdleConnectionsDoNotLockTheOperatorOut) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING"));
  // More idle connections than the client cap (256).
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 260; ++i) idle.push_back(std::make_unique<RawClient>(d.socket_path()));
  const auto asked = Clock::now();
  CommandResult r = d.ctl({"status"});
  EXPECT_EQ(r.code, 0) << r.out << r.err << d.log();
  EXPECT_THAT(r.out, HasSubstr("RUNNING"));
  EXPECT_LT(Clock::now() - asked, 5s) << "served at once, not after the idle timeout";
  // The oldest idle connection made room, and was told why.
  json told = idle.front()->read_json(5s);
  ASSERT_TRUE(told.is_object()) << d.log();
  EXPECT_EQ(told["error"]["code"], "too_many_clients");
  EXPECT_TRUE(idle.front()->closed_by_peer(5s));
  // The youngest are still connected and still served.
  json reply = idle.back()->call({{"cmd", "pid"}});
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  // Evictions are logged without a flood: the first, then a summary.
  EXPECT_GE(count_lines(d.log(), "evicted client"), 1u) << d.log();
  EXPECT_LE(count_lines(d.log(), "evicted"), 3u) << d.log();
  EXPECT_EQ(d.stop(), 0);
}

TEST(HardeningControl, IdleConnectionIsClosedAfterTenSecondsButWaitingClientsAreNot) {
  Daemon d(sleeper("a"));
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING"));
  const auto connected = Clock::now();
  RawClient idle(d.socket_path());
  RawClient half(d.socket_path());
  ASSERT_TRUE(half.send_raw("{\"cmd\":\"sta"));
  // Clients waiting for long answers (one complete request each, then silence).
  RawClient waiter(d.socket_path());
  ASSERT_TRUE(waiter.send(
      {{"cmd", "wait"}, {"names", {"a"}}, {"state", "STOPPED"}, {"timeout", 60}, {"id", "w"}}));
  RawClient follower(d.socket_path());
  json first = follower.call({{"cmd", "tail"}, {"name", "a"}, {"follow", true}, {"id", "t"}});
  ASSERT_EQ(first["ok"], true) << first.dump();
  RawClient subscriber(d.socket_path());
  json subscribed = subscriber.call({{"cmd", "events"}, {"id", "e"}});
  ASSERT_EQ(subscribed["ok"], true) << subscribed.dump();

  // The real 10 s timeout (generous bounds: the machine may be loaded).
  ASSERT_TRUE(idle.closed_by_peer(20s)) << d.log();
  const auto closed_after = Clock::now() - connected;
  EXPECT_GE(closed_after, 9500ms);
  EXPECT_LT(closed_after, 16s);
  EXPECT_TRUE(half.closed_by_peer(5s)) << "a half request is closed on the same clock";
  EXPECT_THAT(d.log(), HasSubstr("no complete request within 10.0 s; closed"));

  // The waiting clients were not closed: each still gets its answer.
  EXPECT_FALSE(follower.closed_by_peer(200ms)) << "tail -f must stay connected";
  CommandResult stop = d.ctl({"stop", "a"});
  ASSERT_EQ(stop.code, 0) << stop.out << stop.err;
  json answer = waiter.read_json(10s);
  ASSERT_TRUE(answer.is_object()) << "the wait client was closed; log:\n" << d.log();
  EXPECT_EQ(answer["id"], "w");
  EXPECT_EQ(answer["ok"], true) << answer.dump();
  json event = subscriber.read_json(10s);
  ASSERT_TRUE(event.is_object()) << "the subscriber was closed; log:\n" << d.log();
  EXPECT_EQ(d.stop(), 0);
}

TEST(HardeningControl, ThousandIdleClientsAndStatusIsStillAnsweredAtOnce) {
  raise_nofile(4096);
  Daemon d(sleeper("a"));
  d.start();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 1000; ++i) idle.push_back(std::make_unique<RawClient>(d.socket_path()));
  const auto asked = Clock::now();
  CommandResult r = d.ctl({"status"});
  const auto took = Clock::now() - asked;
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("RUNNING"));
  // Semantics, not speed: it must not wait for the 10 s idle timeout.
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(d.running());
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// Descriptor exhaustion
// ---------------------------------------------------------------------------

/// Starts minisupd for `d` like Daemon::start, but under RLIMIT_NOFILE
/// soft = hard = `nofile` (set in the child before exec). Returns its pid;
/// the caller stops and reaps it.
pid_t start_with_nofile(Daemon& d, rlim_t nofile) {
  const pid_t pid = fork();
  if (pid == 0) {
    int out = open(d.stdout_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(d.log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    close(out);
    close(err);
    close(null_fd);
    rlimit limit{nofile, nofile};
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    std::string config = d.config_path().string();
    char* argv[] = {const_cast<char*>(MINISUPD_PATH), const_cast<char*>("-c"), config.data(),
                    nullptr};
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

TEST(HardeningControl, StatusIsAnsweredAtTheDescriptorLimitWithoutLogFlood) {
  std::string config;
  for (int i = 0; i < 100; ++i) config += sleeper(fmt::format("p{}", i), "startretries = 0\n");
  Daemon d(config);
  const pid_t pid = start_with_nofile(d, 64);
  ASSERT_GT(pid, 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid <= 0) return;  // never kill(-1)
      kill(pid, SIGKILL);
      int status;
      waitpid(pid, &status, 0);
    }
  } reaper{pid};
  ASSERT_TRUE(eventually([&] {
    try {
      RawClient probe(d.socket_path());
      return true;
    } catch (...) {
      return false;
    }
  })) << d.log();
  // Its descriptors go to the children's pipes and log files until none is
  // left (the spawns beyond fail: not this test's subject).
  ASSERT_TRUE(
      eventually([&] { return d.log().find("Too many open files") != std::string::npos; }, 20s))
      << d.log();
  // Idle connections take whatever descriptors are left, and the reserve.
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 60; ++i) idle.push_back(std::make_unique<RawClient>(d.socket_path()));
  ASSERT_TRUE(eventually([&] {
    return d.log().find("control socket: accept: Too many open files") != std::string::npos;
  })) << "the descriptor table is not full: this test tests nothing\n"
      << d.log();

  // An operator is served all the same (an idle connection makes room).
  for (int round = 0; round < 5; ++round) {
    CommandResult r = d.ctl({"status"});
    EXPECT_THAT(r.out, HasSubstr("p99")) << "round " << round << ": " << r.err << "\n" << d.log();
    EXPECT_THAT(r.err, Not(HasSubstr("out of file descriptors")));
  }
  // Several clients at once, while the descriptors are exhausted.
  std::vector<std::unique_ptr<RawClient>> many;
  for (int i = 0; i < 40; ++i) many.push_back(std::make_unique<RawClient>(d.socket_path()));
  for (auto& c : many) c->send({{"cmd", "pid"}});
  int answered = 0;
  for (auto& c : many) {
    json reply = c->read_json(5s);
    if (reply.is_object()) answered += reply.value("ok", false) ? 1 : 0;
  }
  EXPECT_GE(answered, 1) << d.log();
  many.clear();
  idle.clear();
  CommandResult r = d.ctl({"status"});
  EXPECT_THAT(r.out, HasSubstr("p99")) << r.err << "\n" << d.log();

  // Each accept() failure is not a log line of its own.
  const std::string log = d.log();
  EXPECT_LE(count_lines(log, "control socket: accept:"), 6u) << log;
  EXPECT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 30s));
  reaper.pid = -1;  // reaped already
  EXPECT_TRUE(WIFEXITED(status)) << d.log();
}

// ---------------------------------------------------------------------------
// Peer credentials
// ---------------------------------------------------------------------------

/// Runs minisupctl -s SOCKET ARGS as uid/gid 65534 (nobody). The binary is
/// copied into the daemon's directory first: the build tree may sit where
/// nobody cannot reach it (a checkout under /root, mode 0700).
CommandResult ctl_as_nobody(const Daemon& d, const std::vector<std::string>& args) {
  const fs::path ctl = d.dir() / "minisupctl-copy";
  if (!fs::exists(ctl)) {
    fs::copy_file(MINISUPCTL_PATH, ctl);
    fs::permissions(ctl, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  }
  char out_template[] = "/tmp/minisup-test-out-XXXXXX";
  char err_template[] = "/tmp/minisup-test-err-XXXXXX";
  int out_fd = mkstemp(out_template);
  int err_fd = mkstemp(err_template);
  std::vector<std::string> argv{ctl.string(), "-s", d.socket_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    gid_t groups[1] = {65534};
    if (setgroups(1, groups) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(125);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  int status = 0;
  const bool exited = eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 30s);
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CommandResult result;
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_template);
  result.err = read_file(err_template);
  unlink(out_template);
  unlink(err_template);
  return result;
}

TEST(HardeningControl, OtherUsersAreRefusedEvenWithSocketMode0777) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run minisupctl as nobody";
  Daemon d("[supervisor]\nsocket_mode = \"0777\"\n" + sleeper("a"));
  chmod(d.dir().c_str(), 0711);  // nobody may reach the socket file
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING"));
  struct stat st {};
  ASSERT_EQ(lstat(d.socket_path().c_str(), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0777u) << "the file mode lets anyone connect";

  CommandResult status = ctl_as_nobody(d, {"status"});
  EXPECT_NE(status.code, 0);
  EXPECT_THAT(status.err, HasSubstr("permission denied")) << status.out << status.err;
  CommandResult stop = ctl_as_nobody(d, {"stop", "a"});
  EXPECT_NE(stop.code, 0);
  EXPECT_THAT(stop.err, HasSubstr("permission denied")) << stop.out << stop.err;
  EXPECT_THAT(stop.out, Not(HasSubstr("stopped")));
  EXPECT_EQ(d.state("a"), "RUNNING") << "a refused peer stops nothing";
  // Logged with the peer's uid and pid.
  EXPECT_THAT(d.log(), HasSubstr("refused a client (pid "));
  EXPECT_THAT(d.log(), HasSubstr("uid 65534"));
  // Root (the test) is still served.
  EXPECT_EQ(d.ctl({"status"}).code, 0);
  EXPECT_EQ(d.stop(), 0);
}

TEST(HardeningControl, SocketUidsLetAnotherUserIn) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run minisupctl as nobody";
  if (getpwnam("nobody") == nullptr || getpwnam("nobody")->pw_uid != 65534)
    GTEST_SKIP() << "no user nobody with uid 65534";
  Daemon d("[supervisor]\nsocket_mode = \"0777\"\nsocket_uids = [\"nobody\"]\n" + sleeper("a"));
  chmod(d.dir().c_str(), 0711);
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING"));
  CommandResult status = ctl_as_nobody(d, {"status"});
  EXPECT_EQ(status.code, 0) << status.out << status.err << d.log();
  EXPECT_THAT(status.out, HasSubstr("RUNNING"));
  CommandResult stop = ctl_as_nobody(d, {"stop", "a"});
  EXPECT_EQ(stop.code, 0) << stop.out << stop.err;
  EXPECT_THAT(stop.out, HasSubstr("a: stopped"));
  EXPECT_EQ(d.state("a"), "STOPPED");
  EXPECT_EQ(d.stop(), 0);
}

TEST(HardeningControl, SocketGroupOwnsTheSocketAndLetsItsMembersIn) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run minisupctl as nobody";
  const group* nogroup = getgrgid(65534);
  if (nogroup == nullptr) GTEST_SKIP() << "no group 65534";
  const std::string group_name = nogroup->gr_name;
  Daemon d(
      fmt::format("[supervisor]\nsocket_mode = \"0770\"\nsocket_group = \"{}\"\n", group_name) +
      sleeper("a"));
  chmod(d.dir().c_str(), 0711);
  d.start();
  struct stat st {};
  ASSERT_EQ(lstat(d.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 0777, 0770u);
  CommandResult status = ctl_as_nobody(d, {"status"});  // gid 65534
  EXPECT_EQ(status.code, 0) << status.out << status.err << d.log();
  EXPECT_EQ(d.stop(), 0);
}

TEST(HardeningControl, UnknownSocketUserIsAConfigError) {
  Daemon d("[supervisor]\nsocket_uids = [\"no-such-user-xyz\"]\n" + sleeper("a"));
  CommandResult r = run_command({MINISUPD_PATH, "--check", "-c", d.config_path().string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out + r.err,
              HasSubstr(":2:16: socket_uids[0]: user \"no-such-user-xyz\" does not exist"));
}

}  // namespace
}  // namespace minisup::testing
