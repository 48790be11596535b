// sys/cgroup.h: parsing /proc's cgroup files, and (where cgroup v2 is
// writable, else skipped with the reason) real cgroups: a child spawned
// into one, its members, populated, cgroup.kill, removal.
#include "supervisor/sys/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "supervisor/sys/spawn.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using namespace std::chrono_literals;

TEST(CgroupParse, Cgroup2MountIsFoundAndSysFsCgroupPreferred) {
  const std::string hybrid =
      "25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
      "27 25 0:24 / /sys/fs/cgroup/cpu rw shared:9 - cgroup cgroup rw,cpu\n";
  auto found = parse_cgroup2_mount(hybrid);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first, "/sys/fs/cgroup/unified");
  EXPECT_EQ(found->second, "/");
  const std::string both =
      "1 0 0:1 /x /mnt/other\\040dir rw - cgroup2 cgroup2 rw\n"
      "2 0 0:2 / /sys/fs/cgroup rw shared:1 master:2 - cgroup2 cgroup2 rw\n";
  found = parse_cgroup2_mount(both);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first, "/sys/fs/cgroup");
  found = parse_cgroup2_mount("1 0 0:1 /x /mnt/other\\040dir rw - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first, "/mnt/other dir");
  EXPECT_EQ(found->second, "/x");
  EXPECT_FALSE(parse_cgroup2_mount("27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"));
  EXPECT_FALSE(parse_cgroup2_mount(""));
}

TEST(CgroupParse, OwnPathIsTheZeroLine) {
  EXPECT_EQ(parse_cgroup2_path("4:memory:/x\n0::/system.slice/minisupd.service\n"),
            "/system.slice/minisupd.service");
  EXPECT_EQ(parse_cgroup2_path("0::/\n"), "/");
  EXPECT_FALSE(parse_cgroup2_path("4:memory:/x\n"));
}

TEST(CgroupParse, BaseNameIsStableAndDiffersPerSocket) {
  EXPECT_EQ(cgroup_base_name("/run/minisup.sock"), cgroup_base_name("/run/minisup.sock"));
  EXPECT_NE(cgroup_base_name("/run/minisup.sock"), cgroup_base_name("/run/minisup2.sock"));
  EXPECT_EQ(cgroup_base_name("/run/minisup.sock").size(), std::string("minisup-").size() + 16);
  EXPECT_EQ(cgroup_base_name("/run/minisup.sock").rfind("minisup-", 0), 0u);
}

TEST(CgroupParse, PidListsOfCgroupProcsAndChildren) {
  EXPECT_EQ(parse_pids("12\n345\n"), (std::vector<pid_t>{12, 345}));
  EXPECT_EQ(parse_pids("7 8 9 "), (std::vector<pid_t>{7, 8, 9}));
  EXPECT_EQ(parse_pids(""), std::vector<pid_t>{});
  EXPECT_EQ(parse_pids("5\nx\n6"), (std::vector<pid_t>{5}));
}

/// A scratch cgroup below ours, removed at the end; skips the test where
/// none can be made.
class RealCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    auto home = find_cgroup_home();
    if (auto* why = std::get_if<std::string>(&home)) GTEST_SKIP() << "no cgroup v2: " << *why;
    dir_ = std::get<CgroupHome>(home).own / ("minisup-unit-" + std::to_string(::getpid()));
    if (auto why = prepare_cgroup(dir_)) {
      ::rmdir(dir_.c_str());
      GTEST_SKIP() << "no writable cgroup v2: " << *why;
    }
  }
  void TearDown() override {
    if (dir_.empty()) return;
    cgroup_kill(dir_);
    for (int i = 0; i < 200 && cgroup_populated(dir_); ++i) std::this_thread::sleep_for(5ms);
    remove_cgroup(dir_);
  }
  std::filesystem::path dir_;
};

std::string cgroup_line_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

TEST_F(RealCgroup, AChildIsSpawnedInsideAndKilledWithItsCgroup) {
  EXPECT_FALSE(cgroup_populated(dir_));
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  SpawnRequest r = testing::request({"/bin/sh", "-c", "sleep 1000 & exec sleep 1000"});
  r.cgroup_fd = fd;
  auto result = spawn_process(r);
  ::close(fd);
  ASSERT_TRUE(std::holds_alternative<SpawnedChild>(result)) << std::get<std::string>(result);
  const pid_t pid = std::get<SpawnedChild>(result).pid;
  EXPECT_TRUE(cgroup_line_of(pid).ends_with(dir_.filename().string())) << cgroup_line_of(pid);
  EXPECT_TRUE(cgroup_populated(dir_));
  // The shell's background sleep joins too (it cannot escape).
  for (int i = 0; i < 400 && cgroup_members(dir_).size() < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(cgroup_members(dir_).size(), 2u);
  EXPECT_FALSE(remove_cgroup(dir_)) << "a populated cgroup cannot be removed";
  EXPECT_TRUE(cgroup_kill(dir_));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  for (int i = 0; i < 400 && cgroup_populated(dir_); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(cgroup_populated(dir_));
  EXPECT_TRUE(cgroup_members(dir_).empty());
}

TEST_F(RealCgroup, SpawnErrorsAreAsExactAsWithoutCgroups) {
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  SpawnRequest r = testing::request({"/nonexistent/prog"});
  r.cgroup_fd = fd;
  auto result = spawn_process(r);
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_EQ(std::get<std::string>(result), "exec /nonexistent/prog: No such file or directory");
  r = testing::request({"/bin/true"});
  r.directory = "/nonexistent/dir";
  r.cgroup_fd = fd;
  result = spawn_process(r);
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_EQ(std::get<std::string>(result), "chdir /nonexistent/dir: No such file or directory");
  ::close(fd);
  // A descriptor that is no cgroup: the clone itself fails, and says so.
  r = testing::request({"/bin/true"});
  r.cgroup_fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  result = spawn_process(r);
  ::close(r.cgroup_fd);
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_EQ(std::get<std::string>(result).rfind("clone3 into cgroup: ", 0), 0u)
      << std::get<std::string>(result);
}

TEST_F(RealCgroup, ChildCgroupsAreListedAndRemovedFirst) {
  ASSERT_FALSE(prepare_cgroup(dir_ / "a"));
  ASSERT_FALSE(prepare_cgroup(dir_ / "b"));
  auto children = child_cgroups(dir_);
  std::sort(children.begin(), children.end());
  EXPECT_EQ(children, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(remove_cgroup(dir_));
  EXPECT_FALSE(std::filesystem::exists(dir_));
  ASSERT_FALSE(prepare_cgroup(dir_));  // for TearDown
}

}  // namespace
}  // namespace minisup::sys
