// Whole process trees (DESIGN.md "Whole process trees"), against the real
// minisupd: each test runs with process_tree = "cgroup" (skipped, saying
// why, where no cgroup v2 is writable) and again with "group" (the
// fallback: process groups plus strays re-parented to minisupd).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// The pid a script wrote into `file` (0 until it has).
pid_t pid_from(const fs::path& file) {
  const std::string text = read_file(file);
  return text.empty() ? 0 : static_cast<pid_t>(std::atoi(text.c_str()));
}

class Trees : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cgroup" && !why_no_cgroups().empty())
      GTEST_SKIP() << "no writable cgroup v2 here, cgroup mode not tested: " << why_no_cgroups();
  }
  std::string supervisor() const { return "[supervisor]\nprocess_tree = \"" + GetParam() + "\"\n"; }
  /// A script: a leader that exits on SIGTERM, and a grandchild that left
  /// its process group (setsid), ignores SIGTERM and writes its pid to $1.
  static std::string stubborn_grandchild_script() {
    return "#!/bin/sh\n"
           "setsid sh -c 'trap \"\" TERM; echo $$ > \"$1\"; exec sleep 1000' sh \"$1\" &\n"
           "exec sleep 1000\n";
  }
};

TEST_P(Trees, ASetsidGrandchildIgnoringTermIsKilledAtTheStopDeadlineAndNamed) {
  Daemon d;
  write_file(d.dir() / "tree.sh", stubborn_grandchild_script());
  const fs::path pidfile = d.dir() / "grandchild.pid";
  d.write_config(supervisor() + "[program.tree]\ncommand = \"/bin/sh " +
                 (d.dir() / "tree.sh").string() + " " + pidfile.string() +
                 "\"\nstartsecs = 0\nstopwaitsecs = 1\n");
  d.start();
  ASSERT_TRUE(d.wait_state("tree", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return pid_from(pidfile) > 0; })) << d.log();
  const pid_t grandchild = pid_from(pidfile);
  ASSERT_TRUE(eventually([&] { return ignores_sigterm(grandchild); }));

  const auto before = std::chrono::steady_clock::now();
  CommandResult r = d.ctl({"stop", "tree"});
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_GE(took, 900ms) << "the stop waits for the grandchild until stopwaitsecs";
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }, 5s))
      << "grandchild " << grandchild << " survived the stop\n"
      << d.log();
  EXPECT_THAT(
      d.log(),
      HasSubstr("tree: SIGKILL to 1 leftover process: " + std::to_string(grandchild) + " (sleep)"));
  EXPECT_EQ(d.process("tree")["state"], "STOPPED");
  EXPECT_EQ(d.stop(), 0);
}

TEST_P(Trees, ADoubleForkedDaemonOfAProgramThatExitedIsGoneAfterShutdown) {
  Daemon d;
  const fs::path pidfile = d.dir() / "daemon.pid";
  // The program forks a subshell that starts a daemon in a session of its
  // own and records its pid; the program then exits 0 (double fork).
  write_file(d.dir() / "once.sh",
             "#!/bin/sh\n"
             "( setsid sleep 1000 & echo $! > \"$1\" )\n"
             "exit 0\n");
  d.write_config(supervisor() + "[program.once]\ncommand = \"/bin/sh " +
                 (d.dir() / "once.sh").string() + " " + pidfile.string() +
                 "\"\nstartsecs = 0\nautorestart = false\n");
  d.start();
  ASSERT_TRUE(d.wait_state("once", "EXITED"));
  ASSERT_TRUE(eventually([&] { return pid_from(pidfile) > 0; }));
  const pid_t daemon = pid_from(pidfile);
  ASSERT_TRUE(process_alive(daemon));
  // `$!` is known before the subshell has run setsid and exec'ed sleep: on
  // a busy machine the stop could otherwise meet it still as `sh`, in the
  // program's process group.
  ASSERT_TRUE(eventually([&] {
    std::ifstream comm("/proc/" + std::to_string(daemon) + "/comm");
    std::string name;
    return std::getline(comm, name) && name == "sleep";
  }));
  EXPECT_EQ(d.stop(), 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(daemon); }, 5s))
      << "daemon " << daemon << " outlived minisupd\n"
      << d.log();
  EXPECT_THAT(d.log(), HasSubstr("once: SIGKILL to 1 leftover process at exit: " +
                                 std::to_string(daemon) + " (sleep)"));
}

TEST_P(Trees, StartLineAndCheckSayHowTreesAreKept) {
  Daemon d(supervisor() + "[program.a]\ncommand = \"/bin/sleep 60\"\nautostart = false\n");
  d.start();
  // The socket answers before the first lines are logged (a slow build).
  ASSERT_TRUE(d.wait_state("a", "STOPPED"));
  if (GetParam() == "cgroup") {
    EXPECT_THAT(d.log(), HasSubstr("process trees: cgroup v2 (" +
                                   minisup_cgroup_dir(d.socket_path()).string() + ")"));
    EXPECT_EQ(trees_line("cgroup").rfind("process trees: cgroup v2 (", 0), 0u);
  } else {
    EXPECT_THAT(d.log(), HasSubstr("process trees: process groups (process_tree = \"group\")"));
    EXPECT_EQ(trees_line("group"), "process trees: process groups (process_tree = \"group\")");
  }
  EXPECT_EQ(d.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, Trees, ::testing::Values("cgroup", "group"),
                         [](const auto& info) { return info.param; });

// ---- cgroups only ----

class Cgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!why_no_cgroups().empty())
      GTEST_SKIP() << "no writable cgroup v2 here: " << why_no_cgroups();
  }
};

/// The cgroup v2 path of `pid` (/proc/PID/cgroup, "0::" line).
std::string cgroup_of(pid_t pid) {
  std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

TEST_F(Cgroups, EachProcessRunsInItsOwnCgroupWhichGoesWhenItStops) {
  Daemon d("[program.web]\ncommand = \"/bin/sleep 60\"\nstartsecs = 0\nnumprocs = 2\n");
  d.start();
  ASSERT_TRUE(d.wait_state("web:0", "RUNNING"));
  ASSERT_TRUE(d.wait_state("web:1", "RUNNING"));
  const fs::path base = minisup_cgroup_dir(d.socket_path());
  const int pid0 = d.process("web:0")["pid"];
  const int pid1 = d.process("web:1")["pid"];
  EXPECT_THAT(cgroup_of(pid0), ::testing::EndsWith(base.filename().string() + "/proc-web:0"));
  EXPECT_THAT(cgroup_of(pid1), ::testing::EndsWith(base.filename().string() + "/proc-web:1"));
  EXPECT_TRUE(fs::exists(base / "proc-web:0"));
  CommandResult r = d.ctl({"stop", "web:0"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(eventually([&] { return !fs::exists(base / "proc-web:0"); }, 5s))
      << "an idle process's empty cgroup is removed";
  EXPECT_TRUE(fs::exists(base / "proc-web:1"));
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(fs::exists(base)) << "minisupd removes its cgroups at exit";
}

TEST_F(Cgroups, ANewMinisupdCleansTheTreeOfOneKilledOutright) {
  Daemon d;
  write_file(d.dir() / "tree.sh",
             "#!/bin/sh\n"
             "setsid sh -c 'trap \"\" TERM; echo $$ > \"$1\"; exec sleep 1000' sh \"$1\" &\n"
             "exec sleep 1000\n");
  const fs::path pidfile = d.dir() / "grandchild.pid";
  d.write_config("[program.tree]\ncommand = \"/bin/sh " + (d.dir() / "tree.sh").string() + " " +
                 pidfile.string() + "\"\nstartsecs = 0\nstopwaitsecs = 0.5\n");
  d.start();
  ASSERT_TRUE(d.wait_state("tree", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return pid_from(pidfile) > 0; }));
  const pid_t grandchild = pid_from(pidfile);
  // kill -9: minisupd can clean up nothing.
  ASSERT_EQ(::kill(d.pid(), SIGKILL), 0);
  EXPECT_EQ(d.wait_exit(), 128 + SIGKILL);
  ASSERT_TRUE(process_alive(grandchild)) << "the grandchild outlives a killed minisupd";

  d.start();
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }, 5s))
      << "grandchild " << grandchild << " of the killed minisupd is still alive";
  const std::string named = std::to_string(grandchild) + " (sleep)";
  EXPECT_TRUE(eventually(
      [&] {
        const std::string log = d.log();
        return log.find("left by an earlier minisupd on this socket: SIGKILL to") !=
                   std::string::npos &&
               log.find(named) != std::string::npos;
      },
      5s))
      << d.log();
  ASSERT_TRUE(d.wait_state("tree", "RUNNING"));
  EXPECT_EQ(d.stop(), 0);
}

TEST_F(Cgroups, AStopEndsOnlyWhenTheWholeTreeIsGone) {
  // The leader exits at once on SIGTERM; a grandchild takes 0.5 s to
  // finish its work after SIGTERM: the stop waits for it (no SIGKILL).
  Daemon d;
  write_file(d.dir() / "slow.sh",
             "#!/bin/sh\n"
             "setsid sh -c 'trap \"sleep 0.5; exit 0\" TERM; echo $$ > \"$1\"; "
             "while :; do sleep 0.05; done' sh \"$1\" &\n"
             "exec sleep 1000\n");
  const fs::path pidfile = d.dir() / "grandchild.pid";
  d.write_config("[program.slow]\ncommand = \"/bin/sh " + (d.dir() / "slow.sh").string() + " " +
                 pidfile.string() + "\"\nstartsecs = 0\nstopwaitsecs = 10\n");
  d.start();
  ASSERT_TRUE(d.wait_state("slow", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return pid_from(pidfile) > 0; }));
  const pid_t grandchild = pid_from(pidfile);
  const auto before = std::chrono::steady_clock::now();
  CommandResult r = d.ctl({"--json", "stop", "slow"});
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_GE(took, 400ms) << "the stop returned before the grandchild had finished";
  EXPECT_LT(took, 8s);
  EXPECT_FALSE(process_alive(grandchild));
  EXPECT_THAT(r.out, HasSubstr("\"needed_sigkill\":false"));
  EXPECT_THAT(d.log(), Not(HasSubstr("leftover")));
  EXPECT_EQ(d.stop(), 0);
}

// ---- without a writable cgroup v2 ----

/// Runs minisupd (with `args`) in a mount namespace of its own where a
/// tmpfs hides the cgroup2 hierarchy; nullopt where unshare cannot do that.
std::optional<CommandResult> without_cgroups(const std::vector<std::string>& args) {
  const fs::path dir = minisup_cgroup_dir("/x").parent_path();
  if (dir.empty()) return std::nullopt;
  std::string command = "mount -t tmpfs none '" + dir.string() + "' && exec";
  for (const std::string& arg : args) command += " '" + arg + "'";
  CommandResult r = run_command({"/usr/bin/unshare", "--mount", "/bin/sh", "-c", command}, {}, 30s);
  if (r.err.find("unshare:") != std::string::npos || r.err.find("mount:") != std::string::npos)
    return std::nullopt;
  return r;
}

TEST(NoCgroups, ProcessTreeCgroupRefusesToStartAndAutoFallsBack) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (a mount namespace)";
  Daemon d(
      "[supervisor]\nprocess_tree = \"cgroup\"\n"
      "[program.a]\ncommand = \"/bin/sleep 60\"\nautostart = false\n");
  auto r = without_cgroups({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  if (!r) GTEST_SKIP() << "unshare --mount is not available here";
  EXPECT_EQ(r->code, 2) << r->out << r->err;
  EXPECT_THAT(r->err, HasSubstr("process_tree = \"cgroup\", but no writable cgroup v2: "));
  r = without_cgroups({MINISUPD_PATH, "-c", d.config_path().string()});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 1) << r->out << r->err;
  EXPECT_THAT(r->err, HasSubstr("process_tree = \"cgroup\", but no writable cgroup v2: "));
  EXPECT_FALSE(fs::exists(d.socket_path())) << "nothing is left of a refused start";

  d.write_config("[program.a]\ncommand = \"/bin/sleep 60\"\nautostart = false\n");
  r = without_cgroups({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("process trees: process groups only (no writable cgroup v2: "));
}

}  // namespace
}  // namespace minisup::testing
