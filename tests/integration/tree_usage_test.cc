// `minisupctl status --tree` and `status --json --tree` against the real
// minisupd (DESIGN.md, "Whole process trees"): a program that is a shell
// with two background sleeps and a `setsid sleep` (out of its process
// group, its parent still the shell) is counted whole, and its memory is
// what /proc says; a stopped process and a plain status have null tree
// keys. The expected figures are read from /proc here, independently of
// minisupd's own reading (sys/proc_tree).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

/// One process as this test reads /proc/N/stat.
struct Proc {
  pid_t ppid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::string comm;
};

std::map<pid_t, Proc> scan_proc() {
  std::map<pid_t, Proc> table;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_file(entry.path() / "stat");
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size())
      continue;
    Proc p;
    p.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream fields(stat.substr(close + 2));
    fields >> p.state >> p.ppid >> p.pgrp;
    if (p.state == 'Z' || p.state == 'X') continue;
    table[std::stoi(name)] = p;
  }
  return table;
}

/// The tree of the process whose process group is `pgid`, as /proc shows
/// it: the group's members and all their descendants.
std::map<pid_t, Proc> tree_of(pid_t pgid) {
  const std::map<pid_t, Proc> table = scan_proc();
  std::map<pid_t, Proc> tree;
  for (const auto& [pid, p] : table) {
    if (p.pgrp == pgid) tree[pid] = p;
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, p] : table) {
      if (tree.count(pid) == 0 && tree.count(p.ppid) != 0) {
        tree[pid] = p;
        grew = true;
      }
    }
  }
  return tree;
}

/// Resident bytes of `pid` (/proc/PID/statm), 0 when it is gone.
std::uint64_t resident_bytes(pid_t pid) {
  std::istringstream statm(read_file("/proc/" + std::to_string(pid) + "/statm"));
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

/// Kills the given processes when it goes, those still running `sleep`
/// (the setsid sleep is out of the group minisupd stops, and must not
/// outlive the test; a pid that was reused meanwhile is left alone).
class KillOnExit {
 public:
  ~KillOnExit() {
    for (const pid_t pid : pids_) {
      if (read_file("/proc/" + std::to_string(pid) + "/comm") == "sleep\n") ::kill(pid, SIGKILL);
    }
  }
  void add(pid_t pid) { pids_.insert(pid); }

 private:
  std::set<pid_t> pids_;
};

const json* find_process(const json& processes, const std::string& name) {
  for (const json& p : processes) {
    if (p.value("name", "") == name) return &p;
  }
  return nullptr;
}

void expect_null_tree(const json& p) {
  for (const char* key : {"tree_processes", "tree_rss_bytes", "tree_cpu_seconds"}) {
    ASSERT_TRUE(p.contains(key)) << key << " missing in " << p.dump();
    EXPECT_TRUE(p[key].is_null()) << key << " in " << p.dump();
  }
}

/// Run with cgroups (skipped, saying why, where none is writable) and with
/// process groups only.
class StatusTree : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cgroup" && !why_no_cgroups().empty())
      GTEST_SKIP() << "no writable cgroup v2 here, cgroup mode not tested: " << why_no_cgroups();
  }
};

TEST_P(StatusTree, CountsTheProcessGroupAndItsDescendants) {
  Daemon d("[supervisor]\nprocess_tree = \"" + GetParam() + "\"\n" +
           fmt::format(R"([program.shell]
command = ["/bin/sh", "-c", "sleep 120 & sleep 120 & setsid sleep 120 & wait"]
startsecs = 0
stopwaitsecs = 1
stopasgroup = true

[program.idle]
command = "{} --after 60"
autostart = false
)",
                       helper("test_child")));
  d.start();
  KillOnExit cleanup;
  ASSERT_TRUE(d.wait_state("shell", "RUNNING"));
  const pid_t shell = d.process("shell")["pid"].get<pid_t>();
  ASSERT_GT(shell, 0);

  // Wait until the shell has its three sleeps (each forked and exec'd).
  std::map<pid_t, Proc> tree;
  ASSERT_TRUE(eventually([&] {
    tree = tree_of(shell);
    int sleeps = 0;
    for (const auto& [pid, p] : tree) {
      cleanup.add(pid);
      if (p.comm == "sleep") ++sleeps;
    }
    return sleeps == 3;
  })) << "tree of "
      << shell << ": " << tree.size() << " processes";
  ASSERT_EQ(tree.size(), 4u);
  // One sleep left the group with setsid, its parent still the shell.
  int out_of_group = 0;
  for (const auto& [pid, p] : tree) {
    if (p.pgrp != shell) {
      ++out_of_group;
      EXPECT_EQ(p.ppid, shell);
    }
  }
  EXPECT_EQ(out_of_group, 1);

  // --json --tree: the figures of the whole tree.
  CommandResult r = d.ctl({"status", "--json", "--tree"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;  // idle is STOPPED
  const json processes = json::parse(r.out);
  const json* p = find_process(processes, "shell");
  ASSERT_NE(p, nullptr) << r.out;
  ASSERT_TRUE((*p)["tree_processes"].is_number_integer()) << p->dump();
  EXPECT_EQ((*p)["tree_processes"].get<int>(), static_cast<int>(tree_of(shell).size()));
  EXPECT_EQ((*p)["tree_processes"].get<int>(), 4);
  std::uint64_t rss = 0;
  for (const auto& [pid, proc] : tree) rss += resident_bytes(pid);
  ASSERT_TRUE((*p)["tree_rss_bytes"].is_number_unsigned()) << p->dump();
  const auto reported = (*p)["tree_rss_bytes"].get<std::uint64_t>();
  EXPECT_GT(reported, 0u);
  // Idle processes: their memory holds still. minisupd reads rss in
  // /proc/PID/stat, which on recent kernels leaves out what the per-CPU
  // counters still hold (statm adds it up): allow a few hundred pages.
  EXPECT_NEAR(static_cast<double>(reported), static_cast<double>(rss),
              std::max(1024.0 * 1024, 0.1 * static_cast<double>(rss)))
      << p->dump();
  ASSERT_TRUE((*p)["tree_cpu_seconds"].is_number()) << p->dump();
  EXPECT_GE((*p)["tree_cpu_seconds"].get<double>(), 0.0);
  // A process that is not running has none.
  const json* idle = find_process(processes, "idle");
  ASSERT_NE(idle, nullptr);
  EXPECT_EQ((*idle)["state"], "STOPPED");
  expect_null_tree(*idle);

  // A plain --json status: the keys are there, null; nothing was read.
  for (const json& plain : d.status_json()) expect_null_tree(plain);

  // The table: a header, and the columns.
  r = d.ctl({"status", "--tree"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("NAME   STATE     PROCS      RSS      CPU  DESCRIPTION\n"));
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex(R"(\nshell  RUNNING       4 +[0-9.]+[KMG] +[0-9.]+s  pid [0-9]+, uptime )")))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("\nidle   STOPPED       -        -        -  Not started\n"));
  // Without --tree: the table as always.
  r = d.ctl({"status"});
  EXPECT_THAT(r.out, Not(HasSubstr("PROCS")));
  EXPECT_THAT(r.out, HasSubstr("shell  RUNNING   pid "));

  EXPECT_EQ(d.ctl({"stop", "shell"}).code, 0);
  r = d.ctl({"status", "--json", "--tree", "shell"});
  const json stopped = json::parse(r.out);
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0]["state"], "STOPPED");
  expect_null_tree(stopped[0]);
  EXPECT_EQ(d.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, StatusTree, ::testing::Values("cgroup", "group"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace minisup::testing
