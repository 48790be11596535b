// Integration tests of `rlimit_nofile`, `rlimit_nproc`, `rlimit_core` and
// `rlimit_as` with the real minisupd and minisupctl:
// - a child sees each limit, soft and hard, in its /proc/self/limits;
// - `minisupd --check` refuses a value minisupd cannot grant (exit 2,
//   FILE:LINE:COL), and accepts the grantable ones;
// - `update` restarts a program whose limit changed, with the new limit,
//   and rejects an ungrantable one while the running config stays.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

/// Above any /proc/sys/fs/nr_open (at most 2^31), so above what any
/// minisupd, root or not, can grant as a descriptor limit.
constexpr const char* kTooManyFiles = "4294967296";

/// This process's hard limit of `resource` (minisupd inherits it).
rlim_t own_hard(int resource) {
  struct rlimit limit = {};
  EXPECT_EQ(getrlimit(static_cast<__rlimit_resource>(resource), &limit), 0);
  return limit.rlim_max;
}

/// `wanted`, or this process's hard limit of `resource` when that is lower
/// and the test does not run as root: a value minisupd can grant.
rlim_t grantable(int resource, rlim_t wanted) {
  return geteuid() == 0 ? wanted : std::min(wanted, own_hard(resource));
}

/// How /proc/PID/limits writes a value.
std::string limits_text(rlim_t value) {
  return value == RLIM_INFINITY ? "unlimited" : std::to_string(value);
}

/// A /proc/PID/limits row with soft and hard both `value`.
std::string row(const std::string& name, rlim_t value) {
  return name + " +" + limits_text(value) + " +" + limits_text(value) + " ";
}

int pid_of(const Daemon& d, const std::string& name) {
  auto p = d.process(name);
  return p.is_object() && p.contains("pid") && p["pid"].is_number_integer() ? p["pid"].get<int>()
                                                                            : 0;
}

/// [program.lim]: prints its limits to lim.log, then sleeps; `limits` at
/// line 6 on.
std::string lim(const std::string& limits) {
  return "[program.lim]\n"
         "command = \"/bin/sh -c 'cat /proc/self/limits; exec sleep 60'\"\n"
         "startsecs = 0\n"
         "stdout_logfile = \"lim.log\"\n"
         "stopwaitsecs = 2\n" +
         limits + "\n";
}

TEST(Rlimits, TheChildSeesEachLimitAsSoftAndHard) {
  const rlim_t nofile = grantable(RLIMIT_NOFILE, 256);
  const rlim_t nproc = grantable(RLIMIT_NPROC, 4096);
  const bool core_unlimited = geteuid() == 0 || own_hard(RLIMIT_CORE) == RLIM_INFINITY;
  const rlim_t core = core_unlimited ? RLIM_INFINITY : 0;
  const rlim_t as = grantable(RLIMIT_AS, 1073741824);
  Daemon d(
      lim(fmt::format("rlimit_nofile = {}\nrlimit_nproc = {}\nrlimit_core = {}\nrlimit_as = {}",
                      nofile, nproc, core_unlimited ? "\"unlimited\"" : "0", as)));
  d.start();
  const fs::path log = d.dir() / "lim.log";
  ASSERT_TRUE(eventually([&] { return read_file(log).find("Max realtime") != std::string::npos; }))
      << read_file(log) << d.log();
  const std::string limits = read_file(log);
  EXPECT_THAT(limits, ContainsRegex(row("Max open files", nofile) + " *files"));
  EXPECT_THAT(limits, ContainsRegex(row("Max processes", nproc) + " *processes"));
  EXPECT_THAT(limits, ContainsRegex(row("Max core file size", core) + " *bytes"));
  EXPECT_THAT(limits, ContainsRegex(row("Max address space", as) + " *bytes"));
  EXPECT_EQ(d.state("lim"), "RUNNING");
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rlimits, CoreZeroAndUnsetKeysKeepMinisupdsOwn) {
  Daemon d(lim("rlimit_core = 0"));
  d.start();
  const fs::path log = d.dir() / "lim.log";
  ASSERT_TRUE(eventually([&] { return read_file(log).find("Max realtime") != std::string::npos; }))
      << read_file(log) << d.log();
  const std::string limits = read_file(log);
  EXPECT_THAT(limits, ContainsRegex(row("Max core file size", 0) + " *bytes"));
  // Not set: the hard limits minisupd was started with.
  EXPECT_THAT(limits, ContainsRegex("Max processes +[0-9a-z]+ +" +
                                    limits_text(own_hard(RLIMIT_NPROC)) + " "));
  EXPECT_THAT(limits, ContainsRegex("Max address space +[0-9a-z]+ +" +
                                    limits_text(own_hard(RLIMIT_AS)) + " "));
  EXPECT_THAT(limits, ContainsRegex("Max open files +[0-9a-z]+ +" +
                                    limits_text(own_hard(RLIMIT_NOFILE)) + " "));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rlimits, CheckRefusesAValueMinisupdCannotGrant) {
  Daemon d(lim(fmt::format("rlimit_core = 0\nrlimit_nofile = {}", kTooManyFiles)));
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string where = "/minisup.toml:7:17: rlimit_nofile = " + std::string(kTooManyFiles);
  if (geteuid() == 0) {
    EXPECT_THAT(r.err, ContainsRegex(where + " is above the kernel's cap [0-9]+ "
                                             "\\(/proc/sys/fs/nr_open\\)"));
  } else {
    EXPECT_THAT(r.err,
                HasSubstr(where + " is above the hard limit " +
                          std::to_string(own_hard(RLIMIT_NOFILE)) + " that minisupd can grant"));
  }
  EXPECT_THAT(r.out, Not(HasSubstr("programs")));

  // A bad form is an error at its value too.
  d.write_config(lim("rlimit_as = \"1GB\""));
  r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("/minisup.toml:6:13: rlimit_as must be a non-negative integer or "
                               "\"unlimited\", got \"1GB\""));

  // Grantable values pass.
  d.write_config(
      lim(fmt::format("rlimit_nofile = {}\nrlimit_core = 0", grantable(RLIMIT_NOFILE, 256))));
  r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("programs: 1"));
}

TEST(Rlimits, StartWithAValueMinisupdCannotGrantExits2) {
  Daemon d(lim(fmt::format("rlimit_nofile = {}", kTooManyFiles)));
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string()}, {}, 20s);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_THAT(r.err,
              HasSubstr("/minisup.toml:6:17: rlimit_nofile = " + std::string(kTooManyFiles)));
  EXPECT_FALSE(fs::exists(d.socket_path()));
}

TEST(Rlimits, UpdateRestartsAProgramWhoseLimitChanged) {
  const rlim_t first = grantable(RLIMIT_NOFILE, 256);
  const rlim_t second = first / 2;
  Daemon d(lim(fmt::format("rlimit_nofile = {}", first)));
  d.start();
  ASSERT_TRUE(d.wait_state("lim", "RUNNING")) << d.log();
  const int before = pid_of(d, "lim");
  ASSERT_GT(before, 0);
  EXPECT_THAT(read_file("/proc/" + std::to_string(before) + "/limits"),
              ContainsRegex(row("Max open files", first)));

  // Ungrantable: rejected, the program keeps running untouched.
  d.write_config(lim(fmt::format("rlimit_nofile = {}", kTooManyFiles)));
  CommandResult r = d.ctl({"update"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("minisup.toml:6:17: rlimit_nofile = " + std::string(kTooManyFiles)));
  EXPECT_EQ(pid_of(d, "lim"), before);

  // Changed: restarted with the new limit.
  d.write_config(lim(fmt::format("rlimit_nofile = {}", second)));
  r = d.ctl({"update"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("lim"));
  ASSERT_TRUE(eventually([&] {
    const int now = pid_of(d, "lim");
    return now > 0 && now != before && d.state("lim") == "RUNNING";
  })) << d.log();
  const int after = pid_of(d, "lim");
  EXPECT_THAT(read_file("/proc/" + std::to_string(after) + "/limits"),
              ContainsRegex(row("Max open files", second)));
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
