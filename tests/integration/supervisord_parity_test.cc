// Coming from supervisord (DESIGN.md): what a supervisord user meets first.
// - `user` also sets HOME, USER and LOGNAME from the passwd entry (the
//   program's own environment still wins) and the user's supplementary
//   groups;
// - a supervisord config gets, after its error, a hint to convert it
//   (minisupd, minisupd --check, minisupctl -c);
// - an unknown command says so, with a did-you-mean (exit 2).
#include <gmock/gmock.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <set>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// The value of `NAME=` in `text` (one variable per line), or "unset".
std::string variable(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(name + "=")) return line.substr(name.size() + 1);
  }
  return "unset";
}

/// The numbers of the `Groups:` line of a /proc/PID/status text.
std::set<gid_t> groups_line(const std::string& text) {
  std::istringstream lines(text);
  std::set<gid_t> groups;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("Groups:")) continue;
    std::istringstream numbers(line.substr(7));
    for (long gid; numbers >> gid;) groups.insert(static_cast<gid_t>(gid));
  }
  return groups;
}

TEST(User, SetsHomeUserLognameAndTheSupplementaryGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (user = \"nobody\")";
  const passwd* nobody = getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  const std::string home = nobody->pw_dir;
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  std::vector<gid_t> expected(64);
  int count = static_cast<int>(expected.size());
  ASSERT_GE(getgrouplist("nobody", gid, expected.data(), &count), 0);
  expected.resize(static_cast<std::size_t>(count));

  // The program reports what it got; `own` sets HOME itself, which wins.
  const std::string report =
      "echo HOME=$HOME; echo USER=$USER; echo LOGNAME=$LOGNAME; cat /proc/self/status; "
      "exec sleep 60";
  Daemon d("[program.plain]\n" + sh_cmd(report) +
           "user = \"nobody\"\nstartsecs = 0\nstopasgroup = true\n"
           "[program.own]\n" +
           sh_cmd(report) +
           "user = \"nobody\"\nstartsecs = 0\nstopasgroup = true\n"
           "environment = { HOME = \"/srv/own\" }\n");
  d.start();
  const fs::path plain_log = d.dir() / "logs/plain-stdout.log";
  const fs::path own_log = d.dir() / "logs/own-stdout.log";
  ASSERT_TRUE(eventually([&] {
    return read_file(plain_log).find("Groups:") != std::string::npos &&
           read_file(own_log).find("Groups:") != std::string::npos;
  })) << d.log();
  const std::string plain = read_file(plain_log);
  EXPECT_EQ(variable(plain, "HOME"), home) << plain;
  EXPECT_EQ(variable(plain, "USER"), "nobody");
  EXPECT_EQ(variable(plain, "LOGNAME"), "nobody");
  EXPECT_THAT(plain, HasSubstr(fmt::format("Uid:\t{0}\t{0}\t{0}\t{0}\n", uid)));
  EXPECT_THAT(plain, HasSubstr(fmt::format("Gid:\t{0}\t{0}\t{0}\t{0}\n", gid)));
  // The groups getgrouplist gives (initgroups' list), none of root's.
  EXPECT_EQ(groups_line(plain), std::set<gid_t>(expected.begin(), expected.end())) << plain;
  EXPECT_EQ(groups_line(plain).count(0), 0u);

  const std::string own = read_file(own_log);
  EXPECT_EQ(variable(own, "HOME"), "/srv/own");
  EXPECT_EQ(variable(own, "USER"), "nobody");
  EXPECT_EQ(d.stop(), 0);
}

/// A supervisord config as people have them.
const char* const kSupervisordConf =
    "; supervisord.conf\n"
    "[supervisord]\n"
    "nodaemon=true\n"
    "\n"
    "[program:web]\n"
    "command=/usr/bin/gunicorn app:app\n"
    "autorestart=true\n";

TEST(SupervisordConfig, ItsParseErrorIsFollowedByAHintToConvertIt) {
  Daemon d;
  write_file(d.dir() / "supervisord.conf", kSupervisordConf);
  const std::string file = (d.dir() / "supervisord.conf").string();
  const std::string hint =
      "hint: this looks like a supervisord config; convert it with minisupctl convert " + file +
      "\n";
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{MINISUPD_PATH, "-c", file},
        std::vector<std::string>{MINISUPD_PATH, "-c", file, "--check"},
        std::vector<std::string>{MINISUPCTL_PATH, "-c", file, "status"}}) {
    SCOPED_TRACE(argv[0] + " " + argv.back());
    const CommandResult r = run_command(argv);
    EXPECT_EQ(r.code, 2) << r.err;
    // The parse error comes first: its `;` comment is no TOML.
    EXPECT_THAT(r.err, HasSubstr(file + ":1:1:")) << r.err;
    EXPECT_THAT(r.err, HasSubstr(hint)) << r.err;
    EXPECT_LT(r.err.find(file + ":1:1:"), r.err.find("hint:"));
  }
  // A broken minisup config gets no such hint.
  write_file(d.config_path(), "[program.web]\ncommand = \"web\"\nstopwaitsecs = \"ten\"\n");
  const CommandResult own = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--check"});
  EXPECT_EQ(own.code, 2);
  EXPECT_THAT(own.err, Not(HasSubstr("hint:")));
}

TEST(UnknownCommand, SaysSoWithADidYouMean) {
  Daemon d(sleeper("web"));
  d.start();
  struct Case {
    const char* command;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"avail", "minisupctl: unknown command avail; did you mean status?"},
           {"reload", "minisupctl: unknown command reload; did you mean update?"},
           {"maintail", "minisupctl: unknown command maintail; did you mean events?"},
           {"stauts", "minisupctl: unknown command stauts; did you mean status?\n"},
           {"st", "minisupctl: unknown command st; did you mean start, status or stop?\n"},
       }) {
    const CommandResult r = d.ctl({c.command, "web"});
    EXPECT_EQ(r.code, 2) << c.command;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, ::testing::StartsWith(c.message)) << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("subcommand is required")));
  }
  // Options before the command are skipped, known commands still work.
  const CommandResult ok = d.ctl({"--json", "status"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
