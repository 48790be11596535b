// spawn_process with spawn slots (reserve_spawn_slots(), sys/spawn.h): the
// child shares the parent's descriptor table until it takes a private one
// holding only the descriptors below the slots. Each test runs in a
// process of its own (ctest), so reserving here leaves spawn_test.cc's
// tests on the plain path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using testing::read_all;
using testing::reap;
using testing::request;
using testing::run;

std::vector<std::string> open_fds() {
  std::vector<std::string> out;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const std::string name = entry.path().filename().string();
    std::error_code ec;
    out.push_back(name + " -> " + std::filesystem::read_symlink(entry.path(), ec).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The number in the line `key:` of /proc/PID/status.
long status_number(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + ":")) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

class SpawnSlots : public ::testing::Test {
 protected:
  void SetUp() override {
    // Kernels before 5.9 have no CLOSE_RANGE_UNSHARE: spawns then take the
    // plain path, which spawn_test.cc covers.
    if (!reserve_spawn_slots()) GTEST_SKIP() << "no CLOSE_RANGE_UNSHARE on this kernel";
  }
};

TEST_F(SpawnSlots, AreReservedOnceAsDevNull) {
  const std::vector<std::string> before = open_fds();
  EXPECT_TRUE(reserve_spawn_slots());  // a second call changes nothing
  EXPECT_EQ(open_fds(), before);
  int dev_null = 0;
  for (const std::string& fd : before) dev_null += fd.ends_with("-> /dev/null");
  EXPECT_GE(dev_null, 4);
}

TEST_F(SpawnSlots, ChildrenStillGetTheirOutputAndTheParentsTableIsUnchanged) {
  const std::vector<std::string> before = open_fds();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  SpawnRequest r = request({"/bin/sh", "-c", "echo out; echo err >&2; ls /proc/$$/fd; :"});
  r.stdout_fd = out.write.get();
  r.stderr_fd = err.write.get();
  auto spawned = spawn_process(r);
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(spawned)) << std::get<std::string>(spawned);
  SpawnedChild child = std::move(std::get<SpawnedChild>(spawned));
  out.write.reset();
  err.write.reset();
  // EOF arrives: no slot still holds a write end.
  EXPECT_EQ(read_all(out.read.get()), "out\n0\n1\n2\n");
  EXPECT_EQ(read_all(err.read.get()), "err\n");
  int status = reap(child.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  child.pidfd.reset();
  out.read.reset();
  err.read.reset();
  EXPECT_EQ(open_fds(), before);  // slots back on /dev/null, 0-2 untouched
}

TEST_F(SpawnSlots, TheChildCopiesOnlyAFewOfManyDescriptors) {
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 2200 && files.rlim_max >= 2200) {
    files.rlim_cur = files.rlim_max;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  if (files.rlim_cur < 2200) GTEST_SKIP() << "descriptor limit below 2200";
  std::vector<UniqueFd> many;
  for (int i = 0; i < 2000; ++i) many.emplace_back(::open("/dev/null", O_RDONLY));  // no CLOEXEC
  ASSERT_TRUE(many.back());
  auto spawned = spawn_process(request({"/bin/sleep", "10"}));
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(spawned)) << std::get<std::string>(spawned);
  SpawnedChild child = std::move(std::get<SpawnedChild>(spawned));
  // FDSize: the size of the child's descriptor table. A copy of ours would
  // have room for more than 2000; the private one holds a few (64 slots).
  EXPECT_GE(status_number(::getpid(), "FDSize"), 2000);
  EXPECT_LE(status_number(child.pid, "FDSize"), 64);
  // sleep itself may hold a file for a moment while it starts (its locale):
  // look again until that is closed.
  std::vector<std::string> fds;
  for (int attempt = 0; attempt < 200; ++attempt) {
    fds.clear();
    for (auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(child.pid) + "/fd")) {
      fds.push_back(entry.path().filename().string());
    }
    std::sort(fds.begin(), fds.end());
    if (fds == std::vector<std::string>{"0", "1", "2"}) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(send_signal(child.pidfd.get(), SIGKILL));
  reap(child.pid);
}

TEST_F(SpawnSlots, FailuresAreReportedAndLeakNothing) {
  const std::vector<std::string> before = open_fds();
  auto missing = spawn_process(request({"/nonexistent/x"}));
  ASSERT_TRUE(std::holds_alternative<std::string>(missing));
  EXPECT_EQ(std::get<std::string>(missing), "exec /nonexistent/x: No such file or directory");
  SpawnRequest bad_dir = request({"/bin/true"});
  bad_dir.directory = "/nonexistent";
  auto chdir_failed = spawn_process(bad_dir);
  ASSERT_TRUE(std::holds_alternative<std::string>(chdir_failed));
  EXPECT_EQ(std::get<std::string>(chdir_failed), "chdir /nonexistent: No such file or directory");
  EXPECT_EQ(open_fds(), before);
  EXPECT_TRUE(::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD);  // reaped
}

TEST_F(SpawnSlots, OutputDescriptorBelowThreeIsNotClobbered) {
  Pipe p = make_pipe();
  UniqueFd saved_stdin(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(saved_stdin);
  ASSERT_EQ(::dup2(p.write.get(), 0), 0);
  p.write.reset();
  SpawnRequest r = request({"/bin/echo", "hi"});
  r.stdout_fd = 0;
  auto spawned = spawn_process(r);
  ::dup2(saved_stdin.get(), 0);
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(spawned)) << std::get<std::string>(spawned);
  EXPECT_EQ(read_all(p.read.get()), "hi\n");
  reap(std::get<SpawnedChild>(spawned).pid);
}

TEST_F(SpawnSlots, ExitCodesAndArgumentsAsWithoutSlots) {
  auto r = run(request({"/bin/sh", "-c", "printf '%s|' \"$@\"; exit 42", "sh", "a b", ""}));
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 42);
  EXPECT_EQ(r.output, "a b||");
}

}  // namespace
}  // namespace minisup::sys
