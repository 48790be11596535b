// sys/proc_tree: /proc/PID/stat parsing, and trees of real processes (a
// process group with a setsid grandchild, a process named "a) b (c", a
// vanished pid, a zombie) compared with what /proc says by other means.
#include "supervisor/sys/proc_tree.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "supervisor/sys/pipe.h"

namespace minisup::sys {
namespace {

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// What a test child runs (after fork: async-signal-safe calls only).
using Body = void (*)(int report_fd);

/// Sends our pid down `fd` (one write of 4 bytes: atomic on a pipe).
void report_pid(int fd) {
  const pid_t self = ::getpid();
  if (::write(fd, &self, sizeof self) != static_cast<ssize_t>(sizeof self)) ::_exit(3);
}

/// Ends a test child: reports its pid, then waits to be killed (SIGALRM
/// after 60 s if the test never does).
[[noreturn]] void report_and_pause(int fd) {
  report_pid(fd);
  for (;;) ::pause();
}

/// Forks a child that runs `body(fd)`, which never returns.
pid_t fork_child(Body body, int fd) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(60);  // a safety net: a failed test must not leak processes
    body(fd);
    ::_exit(0);
  }
  return pid;
}

/// Reads `count` pids from `fd` (waits at most 10 s).
std::vector<pid_t> read_pids(int fd, int count) {
  std::vector<pid_t> pids;
  const time_t deadline = ::time(nullptr) + 10;
  while (static_cast<int>(pids.size()) < count && ::time(nullptr) < deadline) {
    pid_t pid = 0;
    const ssize_t n = ::read(fd, &pid, sizeof pid);
    if (n == static_cast<ssize_t>(sizeof pid)) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

/// Burns about `seconds` of CPU time in this process.
void burn_cpu(double seconds) {
  timespec start{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  volatile unsigned long spin = 0;
  for (;;) {
    for (int i = 0; i < 100000; ++i) spin = spin + static_cast<unsigned long>(i);
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    const double used =
        static_cast<double>(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
    if (used >= seconds) return;
  }
}

constexpr std::size_t kTouchedBytes = 16 << 20;
/// How far two readings of the tree's resident memory may differ (see
/// UsageMatchesWhatProcSays).
constexpr double kRssTolerance = 2 << 20;

// The tree of the tests: a leader L in a process group of its own, with A
// (which burned CPU and touched 16 MiB) and B in its group, and S, which
// called setsid() and forked G. The pipe receives the five pids.
void child_a(int fd) {
  void* memory =
      ::mmap(nullptr, kTouchedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) ::_exit(4);
  std::memset(memory, 1, kTouchedBytes);
  burn_cpu(0.3);
  report_and_pause(fd);
}
void child_b(int fd) { report_and_pause(fd); }
void grandchild_g(int fd) { report_and_pause(fd); }
void child_s(int fd) {
  if (::setsid() < 0) ::_exit(5);  // leaves L's group and session
  fork_child(grandchild_g, fd);
  report_and_pause(fd);
}
void group_leader(int fd) {
  fork_child(child_a, fd);
  fork_child(child_b, fd);
  fork_child(child_s, fd);
  report_and_pause(fd);
}

/// Starts the tree above and kills it (both groups) when it goes.
class Tree {
 public:
  Tree() {
    Pipe pipe = make_pipe();
    // The leader's group is made by the parent too, so no member can be
    // forked before it exists (the race of every shell, see setpgid(2)).
    leader_ = ::fork();
    if (leader_ == 0) {
      ::alarm(60);
      ::setpgid(0, 0);
      group_leader(pipe.write.get());
      ::_exit(0);
    }
    ::setpgid(leader_, leader_);
    pipe.write.reset();
    pids_ = read_pids(pipe.read.get(), 5);
    for (const pid_t pid : pids_) {
      if (pid != leader_ && ::getpgid(pid) == pid) setsid_ = pid;
    }
  }
  ~Tree() {
    ::kill(-leader_, SIGKILL);
    if (setsid_ > 0) ::kill(-setsid_, SIGKILL);
    int status = 0;
    ::waitpid(leader_, &status, 0);
  }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  pid_t leader() const { return leader_; }
  pid_t setsid_child() const { return setsid_; }
  /// L, A, B, S, G in pid order.
  const std::vector<pid_t>& pids() const { return pids_; }
  /// The members of L's process group (L, A, B), as getpgid() says.
  std::vector<pid_t> group() const {
    std::vector<pid_t> group;
    for (const pid_t pid : pids_) {
      if (::getpgid(pid) == leader_) group.push_back(pid);
    }
    return group;
  }

 private:
  pid_t leader_ = -1;
  pid_t setsid_ = -1;
  std::vector<pid_t> pids_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Resident bytes of `pid` from /proc/PID/statm (another file than stat).
std::uint64_t statm_rss_bytes(pid_t pid) {
  std::istringstream statm(read_text("/proc/" + std::to_string(pid) + "/statm"));
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

/// utime + stime + cutime + cstime of `pid` in seconds, the fields read
/// with a stream (fields 14 to 17, counted after the last ')').
double stat_cpu_seconds(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  long long utime = 0, stime = 0, cutime = 0, cstime = 0;
  fields >> utime >> stime >> cutime >> cstime;
  return static_cast<double>(utime + stime + cutime + cstime) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// A pid that belonged to a child that has been reaped (and not reused yet:
/// good enough right after the reap).
pid_t vanished_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

constexpr const char* kStatTail =
    " S 1 4242 4242 0 -1 4194560 120 0 0 0 7 3 5 2 20 0 1 0 1234 8192000 321 "
    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ParseProcStat, ReadsTheFieldsAfterTheLastParenthesis) {
  const std::optional<ProcStat> stat = parse_proc_stat(std::string("4250 (sleep)") + kStatTail);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->pid, 4250);
  EXPECT_EQ(stat->command, "sleep");
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 1);
  EXPECT_EQ(stat->pgrp, 4242);
  EXPECT_EQ(stat->utime, 7u);
  EXPECT_EQ(stat->stime, 3u);
  EXPECT_EQ(stat->cutime, 5);
  EXPECT_EQ(stat->cstime, 2);
  EXPECT_EQ(stat->rss_pages, 321);
}

TEST(ParseProcStat, CommandsWithSpacesAndParentheses) {
  for (const std::string command : {"a b", "a) b", ") (", "x) S 9 9 9 (y", "", "((("}) {
    const std::optional<ProcStat> stat =
        parse_proc_stat("17 (" + command + ")" + std::string(kStatTail));
    ASSERT_TRUE(stat) << command;
    EXPECT_EQ(stat->command, command);
    EXPECT_EQ(stat->ppid, 1) << command;
    EXPECT_EQ(stat->pgrp, 4242) << command;
    EXPECT_EQ(stat->rss_pages, 321) << command;
  }
}

TEST(ParseProcStat, RejectsWhatIsNotAStatLine) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("17 sleep S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("17 (sleep)"));
  EXPECT_FALSE(parse_proc_stat("17 (sleep) S 1 4242 4242 0 -1 4194560 120 0 0 0 7 3"));
  EXPECT_FALSE(parse_proc_stat("x (sleep)" + std::string(kStatTail)));
  EXPECT_FALSE(parse_proc_stat(")17 (sleep" + std::string(kStatTail)));
  EXPECT_FALSE(
      parse_proc_stat("17 (sleep) S one 4242 4242 0 -1 4194560 120 0 0 0 7 3 5 2 20 0 "
                      "1 0 1234 8192000 321"));
}

TEST(ReadProcStat, OfThisProcess) {
  const std::optional<ProcStat> stat = read_proc_stat(::getpid());
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->pid, ::getpid());
  EXPECT_EQ(stat->ppid, ::getppid());
  EXPECT_EQ(stat->pgrp, ::getpgrp());
  EXPECT_EQ(stat->state, 'R');
  std::string comm = read_text("/proc/self/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  EXPECT_EQ(stat->command, comm);
  EXPECT_GT(stat->rss_pages, 0);
}

// ---------------------------------------------------------------------------
// Real trees
// ---------------------------------------------------------------------------

TEST(ProcTree, GroupMembersDescendantsAndTheGroupTree) {
  Tree tree;
  ASSERT_EQ(tree.pids().size(), 5u);
  ASSERT_GT(tree.setsid_child(), 0) << "no child left the group with setsid()";
  const std::vector<pid_t> group = tree.group();
  ASSERT_EQ(group.size(), 3u);

  EXPECT_EQ(process_group_members(tree.leader()), group);
  std::vector<pid_t> below = tree.pids();
  below.erase(std::find(below.begin(), below.end(), tree.leader()));
  EXPECT_EQ(descendants_of({tree.leader()}), below);
  // S's grandchild G is S's descendant only.
  std::vector<pid_t> of_s = descendants_of({tree.setsid_child()});
  ASSERT_EQ(of_s.size(), 1u);
  EXPECT_EQ(::getpgid(of_s[0]), tree.setsid_child());
  // The whole tree: the group, plus S (out of the group, its parent in it)
  // and G (S's child).
  EXPECT_EQ(group_tree(tree.leader()), tree.pids());
  // The same from one snapshot.
  const ProcessTable table = ProcessTable::scan();
  EXPECT_EQ(table.group_tree(tree.leader()), tree.pids());
  EXPECT_EQ(table.group_members(tree.leader()), group);
  // Nothing for a group that does not exist, nor for group 0.
  EXPECT_TRUE(group_tree(vanished_pid()).empty());
  EXPECT_TRUE(table.group_members(0).empty());
}

TEST(ProcTree, UsageMatchesWhatProcSays) {
  Tree tree;
  ASSERT_EQ(tree.pids().size(), 5u);
  const TreeUsage usage = read_tree_usage(tree.pids());
  EXPECT_EQ(usage.processes, 5);

  std::uint64_t rss = 0;
  double cpu = 0;
  for (const pid_t pid : tree.pids()) {
    rss += statm_rss_bytes(pid);
    cpu += stat_cpu_seconds(pid);
  }
  // Every member sleeps in pause(): the figures hold still, but allow a
  // tick, and for memory the kernel's per-CPU counters: stat's rss reads
  // them without adding up what each CPU still holds (recent kernels sum
  // them exactly for statm), a difference of some hundred pages.
  EXPECT_NEAR(static_cast<double>(usage.rss_bytes), static_cast<double>(rss), kRssTolerance);
  EXPECT_GE(usage.rss_bytes, kTouchedBytes);  // A touched 16 MiB
  EXPECT_NEAR(usage.cpu_seconds, cpu, 0.05);
  EXPECT_GE(usage.cpu_seconds, 0.25);  // A burned 0.3 s

  // The snapshot's figures are the same.
  const TreeUsage from_table = ProcessTable::scan().usage_of(tree.pids());
  EXPECT_EQ(from_table.processes, 5);
  EXPECT_NEAR(static_cast<double>(from_table.rss_bytes), static_cast<double>(usage.rss_bytes),
              kRssTolerance);
  EXPECT_NEAR(from_table.cpu_seconds, usage.cpu_seconds, 0.05);

  // A pid listed twice counts once.
  std::vector<pid_t> twice = tree.pids();
  twice.push_back(tree.leader());
  EXPECT_EQ(read_tree_usage(twice).processes, 5);
}

TEST(ProcTree, AVanishedPidIsSkipped) {
  const pid_t gone = vanished_pid();
  EXPECT_FALSE(read_proc_stat(gone));
  const TreeUsage usage = read_tree_usage({::getpid(), gone});
  EXPECT_EQ(usage.processes, 1);
  EXPECT_GT(usage.rss_bytes, 0u);
  EXPECT_EQ(read_tree_usage({gone}), TreeUsage{});
  EXPECT_EQ(read_tree_usage({}), TreeUsage{});
  EXPECT_TRUE(tree_members({gone}).empty());
  EXPECT_EQ(ProcessTable::scan().usage_of({gone}), TreeUsage{});
}

TEST(ProcTree, AZombieIsNotCounted) {
  const pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  // Wait for the exit without reaping: the child stays a zombie.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
  const std::optional<ProcStat> stat = read_proc_stat(zombie);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->state, 'Z');
  EXPECT_EQ(read_tree_usage({zombie}).processes, 0);
  EXPECT_TRUE(tree_members({zombie}).empty());
  EXPECT_EQ(ProcessTable::scan().find(zombie), nullptr);
  int status = 0;
  ::waitpid(zombie, &status, 0);
}

void named_child(int fd) {
  ::prctl(PR_SET_NAME, "a) b (c", 0, 0, 0);
  report_and_pause(fd);
}

TEST(ProcTree, MembersAreNamedByTheirCommandEvenAnOddOne) {
  Pipe pipe = make_pipe();
  const pid_t child = fork_child(named_child, pipe.write.get());
  pipe.write.reset();
  ASSERT_EQ(read_pids(pipe.read.get(), 1), std::vector<pid_t>{child});
  const pid_t gone = vanished_pid();

  const std::vector<TreeMember> members = tree_members({child, gone, ::getpid()});
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0], (TreeMember{child, "a) b (c"}));
  EXPECT_EQ(members[1].pid, ::getpid());
  const std::optional<ProcStat> stat = read_proc_stat(child);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->ppid, ::getpid());  // the fields after the odd name are right
  EXPECT_EQ(stat->pgrp, ::getpgrp());

  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

// ---------------------------------------------------------------------------
// ProcessTable on made-up processes
// ---------------------------------------------------------------------------

ProcStat process(pid_t pid, pid_t ppid, pid_t pgrp, char state = 'S') {
  ProcStat stat;
  stat.pid = pid;
  stat.ppid = ppid;
  stat.pgrp = pgrp;
  stat.state = state;
  stat.utime = 100;  // clock ticks
  stat.rss_pages = 1;
  return stat;
}

TEST(ProcessTable, TreesOfAMadeUpTable) {
  const ProcessTable table = ProcessTable::of({
      process(1, 0, 1),
      process(10, 1, 10),   // a leader
      process(11, 10, 10),  // its group
      process(12, 11, 12),  // setsid child of a member
      process(13, 12, 12),  // its child
      process(14, 10, 10, 'Z'),
      process(20, 1, 20),   // another program
      process(21, 1, 10),   // in group 10, but not a child of its members
      process(30, 31, 30),  // a cycle (pids reused during the scan)
      process(31, 30, 30),
  });
  EXPECT_EQ(table.processes().size(), 9u);  // the zombie is dropped
  EXPECT_EQ(table.group_members(10), (std::vector<pid_t>{10, 11, 21}));
  EXPECT_EQ(table.descendants_of({10}), (std::vector<pid_t>{11, 12, 13}));
  EXPECT_EQ(table.group_tree(10), (std::vector<pid_t>{10, 11, 12, 13, 21}));
  EXPECT_EQ(table.group_tree(30), (std::vector<pid_t>{30, 31}));
  EXPECT_TRUE(table.group_tree(99).empty());
  const TreeUsage usage = table.usage_of({10, 11, 12, 13, 14, 99});
  EXPECT_EQ(usage.processes, 4);
  EXPECT_EQ(usage.rss_bytes, 4u * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_DOUBLE_EQ(usage.cpu_seconds, 400.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)));
}

}  // namespace
}  // namespace minisup::sys
