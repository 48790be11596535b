// spawn_process and the signal helpers together with tests/helpers/test_child,
// which also checks the helper's own contract (pattern, graceful stop,
// grandchild ignoring SIGTERM) for the integration tests that rely on it.
// Skipped when the helper has not been built (target test_child).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using namespace std::chrono_literals;
using testing::read_all;
using testing::reap;
using testing::wait_exited;

const std::string kHelper = std::string(MINISUP_HELPERS_DIR) + "/test_child";

class TestChild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kHelper)) GTEST_SKIP() << "build target test_child first";
    char tmpl[] = "/tmp/minisup-test-child-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  SpawnRequest request(std::vector<std::string> flags) {
    flags.insert(flags.begin(), kHelper);
    SpawnRequest r = testing::request(std::move(flags));
    return r;
  }

  /// Waits (up to 5 s) for `path` to exist.
  static bool wait_for_file(const std::string& path) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!std::filesystem::exists(path)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  static std::string pattern(std::size_t bytes) {
    std::string out;
    char line[80];
    for (int i = 0; out.size() < bytes; ++i) {
      std::snprintf(line, sizeof line,
                    "%08d abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01\n", i);
      out += line;
    }
    out.resize(bytes);
    return out;
  }

  std::string dir_;
};

TEST_F(TestChild, WritesTheExactPatternThroughAPipe) {
  constexpr std::size_t kBytes = 1'000'003;  // many pipe buffers, a cut last line
  auto r =
      testing::run(request({"--write-bytes", std::to_string(kBytes), "--pattern", "--exit", "0"}));
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
  ASSERT_EQ(r.output.size(), kBytes);
  EXPECT_TRUE(r.output == pattern(kBytes));
}

TEST_F(TestChild, PrintsLinesEnvironmentAndExitCode) {
  SpawnRequest req = request({"--print", "one", "--stderr", "two", "--print-env", "MINISUP_PROGRAM",
                              "--print-env", "UNSET_VAR", "--exit", "3"});
  req.envp.push_back("MINISUP_PROGRAM=web");
  auto r = testing::run(req);
  EXPECT_EQ(r.output, "one\ntwo\nMINISUP_PROGRAM=web\nUNSET_VAR unset\n");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3);
}

TEST_F(TestChild, GracefulStopFinishesWorkAndRemovesLockfile) {
  std::string lock = dir_ + "/lock", ready = dir_ + "/ready", pidfile = dir_ + "/pid";
  auto spawned = spawn_process(request(
      {"--lockfile", lock, "--pidfile", pidfile, "--ready-file", ready, "--term-delay", "0.05"}));
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(spawned));
  auto& child = std::get<SpawnedChild>(spawned);
  ASSERT_TRUE(wait_for_file(ready));
  EXPECT_TRUE(std::filesystem::exists(lock));
  std::ifstream pid_in(pidfile);
  pid_t written;
  pid_in >> written;
  EXPECT_EQ(written, child.pid);

  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(send_signal(child.pidfd.get(), SIGTERM));
  ASSERT_TRUE(wait_exited(child.pidfd.get()));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);  // the unit of work
  int status = reap(child.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(std::filesystem::exists(lock));
}

TEST_F(TestChild, DefaultTermKillsAndLeavesLockfile) {
  std::string lock = dir_ + "/lock", ready = dir_ + "/ready";
  auto spawned = spawn_process(request({"--lockfile", lock, "--ready-file", ready}));
  auto& child = std::get<SpawnedChild>(spawned);
  ASSERT_TRUE(wait_for_file(ready));
  send_signal(child.pidfd.get(), SIGTERM);
  int status = reap(child.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_TRUE(std::filesystem::exists(lock));
}

TEST_F(TestChild, GrandchildIgnoringTermNeedsGroupKill) {
  set_child_subreaper();  // the orphaned grandchild comes back to us
  std::string gpid_file = dir_ + "/gpid", ready = dir_ + "/ready";
  auto spawned = spawn_process(request({"--fork-ignore-term", gpid_file, "--ready-file", ready}));
  auto& child = std::get<SpawnedChild>(spawned);
  ASSERT_TRUE(wait_for_file(ready));
  pid_t grandchild;
  std::ifstream(gpid_file) >> grandchild;
  EXPECT_EQ(::getpgid(grandchild), child.pid);

  // SIGTERM to the group: the child dies, the grandchild stays.
  EXPECT_TRUE(signal_group(child.pid, SIGTERM));
  ASSERT_TRUE(wait_exited(child.pidfd.get()));
  reap(child.pid);
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(group_alive(child.pid));
  EXPECT_EQ(::waitpid(grandchild, nullptr, WNOHANG), 0);  // ours now, still running

  EXPECT_TRUE(signal_group(child.pid, SIGKILL));
  int status = 0;
  ASSERT_EQ(::waitpid(grandchild, &status, 0), grandchild);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(group_alive(child.pid));
}

TEST_F(TestChild, IgnoreTermNeedsSigkill) {
  std::string ready = dir_ + "/ready";
  auto spawned = spawn_process(request({"--ignore-term", "--ready-file", ready}));
  auto& child = std::get<SpawnedChild>(spawned);
  ASSERT_TRUE(wait_for_file(ready));
  EXPECT_TRUE(send_signal(child.pidfd.get(), SIGTERM));
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(reap_all().empty());
  EXPECT_TRUE(send_signal(child.pidfd.get(), SIGKILL));
  int status = reap(child.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST_F(TestChild, ExitsAfterDelayWithCode) {
  auto start = std::chrono::steady_clock::now();
  auto r = testing::run(request({"--after", "0.05", "--exit", "5"}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 5);
  auto k = testing::run(request({"--after", "0", "--raise", "9"}));
  EXPECT_TRUE(WIFSIGNALED(k.status) && WTERMSIG(k.status) == SIGKILL);
}

}  // namespace
}  // namespace minisup::sys
