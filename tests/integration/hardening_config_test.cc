// Integration tests of config hardening, with the real minisupd and
// minisupctl:
// - a `user` that does not exist is a config error at its key: `--check`
//   exits 2 with `FILE:LINE:COL: user "nosuchuser" does not exist`,
//   minisupd refuses to start (exit 2: before the fix it died of SIGSEGV,
//   exit 139, inside glibc's NSS modules of a static build), and
//   `update`/SIGHUP keep the running config and stay alive;
// - a FIFO matched by an `include` glob is an error, not an open() that
//   waits forever for a writer (which hung minisupd on SIGHUP).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr const char* kUnknownUserError = "user \"nosuchuser\" does not exist";

/// The main config: includes conf.d/*.toml, and runs `keep`.
std::string main_config() {
  return "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n\n" + sleeper("keep", "", std::nullopt);
}

/// conf.d/web.toml with `user = "nosuchuser"` at line 4, column 8.
std::string web_with_unknown_user() {
  return "# web\n[program.web]\n" + child_cmd("--after 60") + "user = \"nosuchuser\"\n";
}

int pid_of(const Daemon& d, const std::string& name) {
  auto p = d.process(name);
  return p.is_object() && p.contains("pid") && p["pid"].is_number_integer() ? p["pid"].get<int>()
                                                                            : 0;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class HardeningConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::getpwnam("nosuchuser"), nullptr) << "this machine has a user nosuchuser";
  }
};

TEST_F(HardeningConfig, CheckReportsAnUnknownUserAtItsPosition) {
  Daemon d(main_config());
  write_file(d.dir() / "conf.d/web.toml", web_with_unknown_user());
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("/conf.d/web.toml:4:8: " + std::string(kUnknownUserError)));
  EXPECT_THAT(r.out, Not(HasSubstr("programs")));
}

TEST_F(HardeningConfig, StartWithAnUnknownUserExits2AndStartsNothing) {
  Daemon d(main_config());
  write_file(d.dir() / "conf.d/web.toml", web_with_unknown_user());
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string()}, {}, 20s);
  EXPECT_EQ(r.code, 2) << "not 139 (SIGSEGV): " << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("/conf.d/web.toml:4:8: " + std::string(kUnknownUserError)));
  EXPECT_THAT(r.err, HasSubstr("nothing started"));
  EXPECT_FALSE(fs::exists(d.socket_path()));
}

TEST_F(HardeningConfig, AKnownUserPassesTheCheck) {
  Daemon d(sleeper("keep", "user = \"root\"\n", std::nullopt));
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST_F(HardeningConfig, UpdateRejectsAnUnknownUserAndKeepsRunning) {
  Daemon d(main_config());
  d.start();
  ASSERT_TRUE(d.wait_state("keep", "RUNNING")) << d.log();
  const int keep = pid_of(d, "keep");
  ASSERT_GT(keep, 0);

  write_file(d.dir() / "conf.d/web.toml", web_with_unknown_user());
  CommandResult r = d.ctl({"update"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("conf.d/web.toml:4:8: " + std::string(kUnknownUserError)));
  EXPECT_THAT(r.out, Not(HasSubstr("added")));
  EXPECT_THAT(d.log(), HasSubstr(kUnknownUserError));

  // Alive, serving, the running program untouched, nothing added.
  EXPECT_TRUE(d.running());
  r = d.ctl({"status"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("keep"));
  EXPECT_EQ(d.process("web"), nullptr);
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(d.state("keep"), "RUNNING");
  EXPECT_TRUE(process_alive(keep));
  EXPECT_EQ(d.stop(), 0);
}

TEST_F(HardeningConfig, SighupRejectsAnUnknownUserAndKeepsRunning) {
  Daemon d(main_config());
  d.start();
  ASSERT_TRUE(d.wait_state("keep", "RUNNING")) << d.log();
  const int keep = pid_of(d, "keep");
  ASSERT_GT(keep, 0);

  write_file(d.dir() / "conf.d/web.toml", web_with_unknown_user());
  d.signal(SIGHUP);
  const std::string where = "conf.d/web.toml:4:8: " + std::string(kUnknownUserError);
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), where) > 0; }, 10s)) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("keeping the running config"));

  EXPECT_TRUE(d.running());
  CommandResult r = d.ctl({"status"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(d.process("web"), nullptr);
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(d.state("keep"), "RUNNING");

  // Fixed, the next SIGHUP applies: the daemon is fully functional.
  write_file(d.dir() / "conf.d/web.toml", sleeper("web", "user = \"root\"\n", std::nullopt));
  d.signal(SIGHUP);
  EXPECT_TRUE(d.wait_state("web", "RUNNING")) << d.log();
  EXPECT_EQ(pid_of(d, "keep"), keep);
  EXPECT_EQ(d.stop(), 0);
}

TEST_F(HardeningConfig, AFifoMatchedByAnIncludeDoesNotHangSighup) {
  Daemon d(main_config());
  write_file(d.dir() / "conf.d/a.toml", sleeper("a", "", std::nullopt));
  d.start();
  ASSERT_TRUE(d.wait_state("a", "RUNNING")) << d.log();
  const int a = pid_of(d, "a");

  ASSERT_EQ(::mkfifo((d.dir() / "conf.d/b.toml").c_str(), 0644), 0);
  d.signal(SIGHUP);
  const std::string error =
      "conf.d/b.toml: matched by include \"conf.d/*.toml\", but not a regular file (a FIFO)";
  EXPECT_TRUE(eventually([&] { return count_of(d.log(), error) > 0; }, 10s)) << d.log();

  // Still answering, promptly (a minisupd stuck in open() never would).
  const auto begin = Clock::now();
  CommandResult r =
      run_command({MINISUPCTL_PATH, "-s", d.socket_path().string(), "status"}, {}, 15s);
  EXPECT_LT(Clock::now() - begin, 10s);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("keep"));
  EXPECT_EQ(pid_of(d, "a"), a);

  // update says the same, to the client.
  r = d.ctl({"update"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(error));
  EXPECT_TRUE(d.running());
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
