// Integration tests of the lifecycle engine: the real minisupd with real
// children (tests/helpers/test_child), driven through minisupctl.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>

#include <memory>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// Reads a pid written by test_child --pidfile (0 when not there yet).
pid_t read_pid(const fs::path& path) {
  std::string text = read_file(path);
  return text.empty() ? 0 : static_cast<pid_t>(std::stol(text));
}

TEST(Lifecycle, StartsRunsAndReportsStatus) {
  Daemon d("[program.sleeper]\n" + child_cmd("--after 60") + "startsecs = 0.1\n");
  d.start();
  ASSERT_TRUE(d.wait_state("sleeper", "RUNNING"));
  auto p = d.process("sleeper");
  EXPECT_GT(p["pid"].get<int>(), 0);
  EXPECT_TRUE(process_alive(p["pid"].get<int>()));
  CommandResult status = d.ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.out << status.err;
  EXPECT_THAT(status.out, HasSubstr("sleeper"));
  EXPECT_THAT(status.out, HasSubstr("RUNNING"));
  EXPECT_THAT(status.out, HasSubstr("pid " + std::to_string(p["pid"].get<int>())));
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(process_alive(p["pid"].get<int>()));
}

TEST(StopWaitSecs, GracefulWorkerFinishesItsUnitOfWork) {
  // The worker needs 0.5 s after SIGTERM to finish; stopwaitsecs gives it 5.
  Daemon d;
  fs::path lock = d.dir() / "worker.lock";
  d.write_config("[program.worker]\n" +
                 child_cmd("--lockfile " + lock.string() + " --term-delay 0.5") +
                 "startsecs = 0\nstopwaitsecs = 5\n");
  d.start();
  ASSERT_TRUE(d.wait_state("worker", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return fs::exists(lock); }));
  auto before = std::chrono::steady_clock::now();
  CommandResult r = d.ctl({"stop", "worker"});
  auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("worker: stopped"));
  EXPECT_THAT(r.out, Not(HasSubstr("SIGKILL")));
  EXPECT_GE(took, 450ms);  // it waited for the unit of work
  EXPECT_FALSE(fs::exists(lock)) << "the worker was cut off before removing its lock";
  auto p = d.process("worker");
  EXPECT_EQ(p["state"], "STOPPED");
  EXPECT_EQ(p["exit_code"], 0);
  EXPECT_EQ(p["needed_sigkill"], false);
  EXPECT_EQ(d.stop(), 0);
}

TEST(StopWaitSecs, EscalatesToSigkillNoEarlierThanTheDeadline) {
  Daemon d("[program.stubborn]\n" + child_cmd("--ignore-term") +
           "startsecs = 0\nstopwaitsecs = 0.5\n");
  d.start();
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  int pid = d.process("stubborn")["pid"];
  auto before = std::chrono::steady_clock::now();
  CommandResult r = d.ctl({"stop", "stubborn"});
  auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(r.code, 0) << r.out << r.err;  // SIGKILL alone is not a failure...
  EXPECT_THAT(r.out, HasSubstr("SIGKILL"));
  EXPECT_GE(took, 500ms);  // not before stopwaitsecs
  EXPECT_LT(took, 3s);     // and not much later (generous for a loaded machine)
  EXPECT_FALSE(process_alive(pid));
  auto p = d.process("stubborn");
  EXPECT_EQ(p["state"], "STOPPED");
  EXPECT_EQ(p["exit_signal"], SIGKILL);
  EXPECT_EQ(p["needed_sigkill"], true);
  EXPECT_THAT(d.log(), HasSubstr("sent SIGKILL"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(StopWaitSecs, RequireGracefulFailsWhenSigkillWasNeeded) {
  Daemon d("[program.stubborn]\n" + child_cmd("--ignore-term") +
           "startsecs = 0\nstopwaitsecs = 0.2\n"
           "[program.polite]\n" +
           child_cmd("--after 60") + "startsecs = 0\n");
  d.start();
  ASSERT_TRUE(d.wait_stubborn("stubborn"));
  ASSERT_TRUE(d.wait_state("polite", "RUNNING"));
  EXPECT_EQ(d.ctl({"stop", "--require-graceful", "polite"}).code, 0);
  CommandResult r = d.ctl({"stop", "--require-graceful", "stubborn"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(d.stop(), 0);
}

TEST(StopAsGroup, ReachesGrandchildrenThatIgnoreTerm) {
  Daemon d;
  fs::path gc = d.dir() / "grandchild.pid";
  d.write_config("[program.family]\n" + child_cmd("--fork-ignore-term " + gc.string()) +
                 "startsecs = 0\nstopwaitsecs = 0.3\nstopasgroup = true\n");
  d.start();
  ASSERT_TRUE(d.wait_state("family", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return read_pid(gc) > 0; }));
  pid_t grandchild = read_pid(gc);
  ASSERT_TRUE(process_alive(grandchild));
  CommandResult r = d.ctl({"stop", "family"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // The leader dies on SIGTERM; the grandchild ignores it and must still be
  // killed at the deadline: a stop leaves no survivor in the group.
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }, 5s));
  auto p = d.process("family");
  EXPECT_EQ(p["state"], "STOPPED");
  EXPECT_EQ(p["needed_sigkill"], true);
  EXPECT_EQ(d.stop(), 0);
}

TEST(KillAsGroup, SigkillReachesTheGroupButTermOnlyTheLeader) {
  Daemon d;
  fs::path gc = d.dir() / "grandchild.pid";
  d.write_config("[program.family]\n" +
                 child_cmd("--fork-ignore-term " + gc.string() + " --ignore-term") +
                 "startsecs = 0\nstopwaitsecs = 0.3\nkillasgroup = true\n");
  d.start();
  ASSERT_TRUE(d.wait_state("family", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return read_pid(gc) > 0; }));
  pid_t grandchild = read_pid(gc);
  CommandResult r = d.ctl({"stop", "family"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }, 5s));
  EXPECT_EQ(d.process("family")["exit_signal"], SIGKILL);
  EXPECT_EQ(d.stop(), 0);
}

TEST(StartRetries, SpawnsStartretriesPlusOneTimesThenFatal) {
  Daemon d;
  fs::path count = d.dir() / "count";
  // Each start appends a line, then exits 1 at once (before startsecs).
  d.write_config(
      fmt::format("[program.flaky]\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> {}; exit 1\"]\n"
                  "startsecs = 1\nstartretries = 2\n",
                  count.string()));
  d.start();
  // Backoff is 1 s then 2 s: FATAL after about 3 s.
  ASSERT_TRUE(d.wait_state("flaky", "FATAL", 15s)) << d.log();
  std::string lines = read_file(count);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3);
  CommandResult status = d.ctl({"status", "flaky"});
  EXPECT_EQ(status.code, 3);
  EXPECT_THAT(status.out, HasSubstr("FATAL"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Spawn, MissingBinaryReportsTheExactError) {
  Daemon d("[program.nope]\ncommand = \"/usr/bin/minisup-no-such-binary\"\nstartretries = 0\n");
  d.start();
  ASSERT_TRUE(d.wait_state("nope", "FATAL", 10s)) << d.log();
  const std::string error = "exec /usr/bin/minisup-no-such-binary: No such file or directory";
  EXPECT_THAT(d.log(), HasSubstr(error));
  auto p = d.process("nope");
  EXPECT_THAT(p["description"].get<std::string>(), HasSubstr(error));
  CommandResult r = d.ctl({"start", "nope"});
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, HasSubstr(error));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Spawn, BadDirectoryReportsChdirError) {
  Daemon d(
      "[program.lost]\ncommand = \"/bin/true\"\ndirectory = \"/nonexistent-minisup-dir\"\n"
      "startretries = 0\n");
  d.start();
  ASSERT_TRUE(d.wait_state("lost", "FATAL", 10s)) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("chdir /nonexistent-minisup-dir: No such file or directory"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Spawn, ChildGetsEnvironmentAndMinisupVariables) {
  Daemon d(
      "[supervisor]\nenvironment = { SHARED = \"s\" }\n"
      "[program.env]\n" +
      child_cmd("--print-env SHARED --print-env OWN --print-env MINISUP_PROGRAM "
                "--print-env MINISUP_PROCESS_NAME --print-env MINISUP_PROCESS_NUM --after 60") +
      "environment = { OWN = \"o\" }\nnumprocs = 2\nstartsecs = 0\n");
  d.start();
  fs::path log1 = d.dir() / "logs" / "env_1-stdout.log";
  ASSERT_TRUE(
      eventually([&] { return read_file(log1).find("MINISUP_PROCESS_NUM") != std::string::npos; }));
  std::string out = read_file(log1);
  EXPECT_THAT(out, HasSubstr("SHARED=s\n"));
  EXPECT_THAT(out, HasSubstr("OWN=o\n"));
  EXPECT_THAT(out, HasSubstr("MINISUP_PROGRAM=env\n"));
  EXPECT_THAT(out, HasSubstr("MINISUP_PROCESS_NAME=env:1\n"));
  EXPECT_THAT(out, HasSubstr("MINISUP_PROCESS_NUM=1\n"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Spawn, RunsTheProgramAsItsUser) {
  // The real minisupd looks the user up through NSS (glibc linked dynamically).
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const struct passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody here";
  Daemon d(R"([program.who]
command = ["/bin/sh", "-c", "echo uid=$(id -u) gid=$(id -g); sleep 60"]
user = "nobody"
startsecs = 0
)");
  d.start();
  fs::path log = d.dir() / "logs" / "who-stdout.log";
  ASSERT_TRUE(eventually([&] { return read_file(log).find("uid=") != std::string::npos; }))
      << d.log();
  EXPECT_EQ(read_file(log), fmt::format("uid={} gid={}\n", nobody->pw_uid, nobody->pw_gid));
  EXPECT_EQ(d.stop(), 0);
}

TEST(AutoRestart, UnexpectedRestartsOnUnexpectedExitOnly) {
  Daemon d;
  fs::path bad = d.dir() / "bad.count";
  fs::path good = d.dir() / "good.count";
  auto prog = [](const std::string& name, const fs::path& count, int code) {
    return fmt::format(
        "[program.{}]\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> {}; sleep 0.2; exit {}\"]\n"
        "startsecs = 0.1\nautorestart = \"unexpected\"\nexitcodes = [0, 2]\n",
        name, count.string(), code);
  };
  d.write_config(prog("bad", bad, 3) + prog("good", good, 2));
  d.start();
  // good exits 2, listed in exitcodes: EXITED and not restarted.
  ASSERT_TRUE(d.wait_state("good", "EXITED"));
  EXPECT_EQ(d.process("good")["exit_code"], 2);
  // bad exits 3, not listed: restarted again and again.
  EXPECT_TRUE(eventually([&] {
    std::string s = read_file(bad);
    return std::count(s.begin(), s.end(), '\n') >= 3;
  }));
  std::string s = read_file(good);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_EQ(d.state("good"), "EXITED");
  EXPECT_EQ(d.stop(), 0);
}

TEST(AutoRestart, DeathBySignalIsUnexpected) {
  Daemon d;
  fs::path count = d.dir() / "count";
  d.write_config(
      fmt::format("[program.crash]\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> {}; exec {} "
                  "--after 0.2 --raise 11\"]\n"
                  "startsecs = 0.1\n",
                  count.string(), helper("test_child")));
  d.start();
  EXPECT_TRUE(eventually([&] {
    std::string s = read_file(count);
    return std::count(s.begin(), s.end(), '\n') >= 2;
  }));
  EXPECT_THAT(d.log(), HasSubstr("killed by SIGSEGV"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(AutoRestart, TrueRestartsEvenAfterExpectedExit) {
  Daemon d;
  fs::path count = d.dir() / "count";
  d.write_config(
      fmt::format("[program.loop]\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> {}; sleep 0.2\"]\n"
                  "startsecs = 0.1\nautorestart = true\n",
                  count.string()));
  d.start();
  EXPECT_TRUE(eventually([&] {
    std::string s = read_file(count);
    return std::count(s.begin(), s.end(), '\n') >= 3;
  }));
  EXPECT_EQ(d.stop(), 0);
}

TEST(AutoRestart, FalseNeverRestarts) {
  Daemon d;
  fs::path count = d.dir() / "count";
  d.write_config(fmt::format(
      "[program.once]\ncommand = [\"/bin/sh\", \"-c\", \"echo x >> {}; sleep 0.2; exit 5\"]\n"
      "startsecs = 0.1\nautorestart = false\n",
      count.string()));
  d.start();
  ASSERT_TRUE(d.wait_state("once", "EXITED"));
  auto p = d.process("once");
  EXPECT_EQ(p["exit_code"], 5);
  std::string s = read_file(count);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_EQ(d.stop(), 0);
}

TEST(Shutdown, StopsPriorityLevelsFromHighestDown) {
  // Each program appends its name to a shared file when it gets SIGTERM
  // (after a short unit of work, so a level that did not wait would show).
  Daemon d;
  fs::path order = d.dir() / "order";
  auto prog = [&](const std::string& name, int priority) {
    return fmt::format(
        "[program.{0}]\ncommand = [\"/bin/sh\", \"-c\", \"trap 'sleep 0.2; echo {0} >> {1}; exit "
        "0' "
        "TERM; while :; do sleep 0.05; done\"]\npriority = {2}\nstartsecs = 0\nstopwaitsecs = 5\n",
        name, order.string(), priority);
  };
  d.write_config(prog("db", 10) + prog("app", 20) + prog("web", 30));
  d.start();
  for (auto name : {"db", "app", "web"}) ASSERT_TRUE(d.wait_state(name, "RUNNING"));
  EXPECT_EQ(d.stop(), 0);
  EXPECT_EQ(read_file(order), "web\napp\ndb\n");
}

TEST(Shutdown, RepeatedSignalsDuringShutdownAreIgnored) {
  Daemon d("[program.slow]\n" + child_cmd("--term-delay 0.5") +
           "startsecs = 0\nstopwaitsecs = 5\n");
  d.start();
  ASSERT_TRUE(d.wait_state("slow", "RUNNING"));
  int pid = d.process("slow")["pid"];
  d.signal(SIGTERM);
  std::this_thread::sleep_for(50ms);
  d.signal(SIGINT);
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(), 0);
  EXPECT_FALSE(process_alive(pid));
  EXPECT_THAT(d.log(), HasSubstr("ignored"));
  // The slow worker finished gracefully: exit 0, no SIGKILL.
  EXPECT_THAT(d.log(), Not(HasSubstr("sent SIGKILL")));
}

TEST(Shutdown, LeavesNoZombieAndNoOrphan) {
  Daemon d;
  fs::path gc = d.dir() / "gc.pid";
  // The leader exits on TERM and leaves a TERM-ignoring grandchild (no
  // stopasgroup): minisupd must still not leave it behind.
  d.write_config("[program.leaky]\n" + child_cmd("--fork-ignore-term " + gc.string()) +
                 "startsecs = 0\nstopwaitsecs = 0.3\n");
  d.start();
  ASSERT_TRUE(d.wait_state("leaky", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return read_pid(gc) > 0; }));
  pid_t grandchild = read_pid(gc);
  pid_t daemon_pid = d.pid();
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(process_alive(grandchild));
  // No process is left whose parent is the (gone) daemon.
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string stat = read_file(entry.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    EXPECT_NE(ppid, daemon_pid) << "left behind: " << stat;
  }
}

TEST(Reaping, TwoHundredProgramsStartAndStopCleanly) {
  std::string config;
  for (int i = 0; i < 200; ++i) {
    config += fmt::format(
        "[program.p{}]\n{}startsecs = 0\nstopwaitsecs = 5\nstdout_logfile = \"NONE\"\n"
        "stderr_logfile = \"NONE\"\n",
        i, child_cmd("--after 600"));
  }
  Daemon d(config);
  d.start();
  EXPECT_TRUE(eventually(
      [&] {
        auto all = d.status_json();
        if (all.size() != 200) return false;
        for (const auto& p : all) {
          if (p["state"] != "RUNNING") return false;
        }
        return true;
      },
      30s));
  std::vector<int> pids;
  for (const auto& p : d.status_json()) pids.push_back(p["pid"]);
  // All 200 exit together; SIGCHLDs coalesce, every exit must be recorded.
  CommandResult r = d.ctl({"stop", "all"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto all = d.status_json();
  ASSERT_EQ(all.size(), 200u);
  for (const auto& p : all) {
    EXPECT_EQ(p["state"], "STOPPED") << p.dump();
    EXPECT_EQ(p["exit_signal"], SIGTERM) << p.dump();
  }
  for (int pid : pids) EXPECT_FALSE(process_alive(pid));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Daemon, SecondInstanceOnTheSameSocketExitsOne) {
  Daemon d("[program.a]\n" + child_cmd("--after 60") + "startsecs = 0\n");
  d.start();
  CommandResult second = run_command({MINISUPD_PATH, "-c", d.config_path().string()});
  EXPECT_EQ(second.code, 1);
  EXPECT_THAT(second.err, HasSubstr("another minisupd is running on"));
  // The first one keeps serving.
  EXPECT_EQ(d.ctl({"status"}).code, 0);
  EXPECT_EQ(d.stop(), 0);
}

TEST(Daemon, BadConfigExitsTwoAndStartsNothing) {
  Daemon d("[program.a]\ncommand = \"/bin/true\"\nstopwaitsecs = \"ten\"\n");
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("minisup.toml:3:16: stopwaitsecs"));
}

TEST(Daemon, ReapsOrphansAsSubreaper) {
  // The child forks a grandchild and exits at once; the grandchild exits
  // later, reparented to minisupd, which must reap it (no zombie).
  Daemon d;
  fs::path gc = d.dir() / "gc.pid";
  d.write_config(
      fmt::format("[program.forker]\ncommand = [\"/bin/sh\", \"-c\", \"(sleep 0.3; exit 0) & echo "
                  "$! > {}; exit 0\"]\n"
                  "startsecs = 0\nautorestart = false\n",
                  gc.string()));
  d.start();
  ASSERT_TRUE(eventually([&] { return read_pid(gc) > 0; }));
  pid_t grandchild = read_pid(gc);
  // Gone entirely (not a zombie: /proc entry disappears once reaped).
  EXPECT_TRUE(eventually([&] { return !fs::exists("/proc/" + std::to_string(grandchild)); }, 5s));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Daemon, PidfileWrittenInForegroundAndRemovedAtExit) {
  Daemon d;
  fs::path pidfile = d.dir() / "minisupd.pid";
  d.write_config("[supervisor]\npidfile = \"minisupd.pid\"\n[program.a]\n" +
                 child_cmd("--after 60") + "startsecs = 0\n");
  d.start();
  ASSERT_TRUE(eventually([&] { return !read_file(pidfile).empty(); }));
  EXPECT_EQ(read_pid(pidfile), d.pid());
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(fs::exists(pidfile));
}

/// Parent pid and state letter of a process, from /proc/PID/stat.
std::pair<pid_t, char> parent_and_state(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return {0, '?'};
  std::istringstream rest(stat.substr(close + 2));
  char state = '?';
  pid_t ppid = 0;
  rest >> state >> ppid;
  return {ppid, state};
}

TEST(Pid1, ReapsEveryZombieAndShutsDownOnSigterm) {
  // minisupd as PID 1 of a new pid namespace, as in a container.
  Daemon d;
  fs::path orphans = d.dir() / "orphans";
  // Each run leaves an orphan behind that exits soon after: only PID 1 can
  // reap it.
  d.write_config(
      fmt::format("[program.spawner]\ncommand = [\"/bin/sh\", \"-c\", \"(sleep 0.05; echo x >> {}) "
                  "& sleep 0.1\"]\n"
                  "startsecs = 0\nautorestart = true\n",
                  orphans.string()));
  pid_t unshare = fork();
  if (unshare == 0) {
    int out = open((d.dir() / "minisupd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    execl("/usr/bin/unshare", "unshare", "--pid", "--fork", "--kill-child", MINISUPD_PATH, "-c",
          d.config_path().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // The socket answers once minisupd (PID 1 inside) is up.
  bool up = eventually([&] {
    CommandResult r = d.ctl({"pid"});
    return r.code == 0;
  });
  if (!up) {
    kill(unshare, SIGKILL);
    waitpid(unshare, nullptr, 0);
    GTEST_SKIP() << "cannot create a pid namespace here: " << d.log();
  }
  EXPECT_EQ(d.ctl({"pid"}).out, "1\n");
  // Find minisupd's pid as seen from here: the child of unshare.
  pid_t daemon_pid = 0;
  ASSERT_TRUE(eventually([&] {
    std::string children = read_file(fmt::format("/proc/{0}/task/{0}/children", unshare));
    daemon_pid = children.empty() ? 0 : static_cast<pid_t>(std::stol(children));
    return daemon_pid > 0;
  }));
  // Several orphans have come and gone.
  ASSERT_TRUE(eventually([&] {
    std::string s = read_file(orphans);
    return std::count(s.begin(), s.end(), '\n') >= 5;
  }));
  // None of minisupd's children is a zombie for longer than a moment.
  auto zombies = [&] {
    int n = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto [ppid, state] = parent_and_state(static_cast<pid_t>(std::stol(name)));
      if (ppid == daemon_pid && state == 'Z') ++n;
    }
    return n;
  };
  EXPECT_TRUE(eventually([&] { return zombies() == 0; }, 2s));
  // The orchestrator's SIGTERM is a graceful shutdown, even for PID 1.
  kill(daemon_pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(unshare, &status, WNOHANG) == unshare; }, 10s));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("graceful shutdown"));
}

TEST(Daemon, ChildrenGetTheirStopSignalWhenMinisupdIsKilled) {
  // doc/pitfalls.md §4: a SIGKILLed supervisor must not leave children running,
  // to be duplicated by the next one.
  Daemon d;
  fs::path pidfile = d.dir() / "child.pid";
  d.write_config("[program.orphan]\n" + child_cmd("--pidfile " + pidfile.string()) +
                 "startsecs = 0\n");
  d.start();
  ASSERT_TRUE(eventually([&] { return read_pid(pidfile) > 0; }));
  pid_t child = read_pid(pidfile);
  ASSERT_TRUE(process_alive(child));
  d.signal(SIGKILL);
  EXPECT_EQ(d.wait_exit(), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return !process_alive(child); }, 5s));
}

TEST(Daemon, DetachesWithDaemonAndWritesThePidfile) {
  Daemon d;
  fs::path pidfile = d.dir() / "minisupd.pid";
  d.write_config(
      "[supervisor]\npidfile = \"minisupd.pid\"\nlogfile = \"minisupd.log\"\n"
      "[program.a]\n" +
      child_cmd("--after 60") + "startsecs = 0\n");
  // The foreground process returns at once; the detached one serves.
  CommandResult r = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--daemon"});
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(eventually([&] { return read_pid(pidfile) > 0; }));
  pid_t daemon_pid = read_pid(pidfile);
  // Whatever happens below, do not leave a detached daemon behind.
  std::shared_ptr<void> reaper(nullptr, [daemon_pid](void*) {
    if (process_alive(daemon_pid)) kill(daemon_pid, SIGKILL);
  });
  EXPECT_TRUE(process_alive(daemon_pid));
  EXPECT_TRUE(eventually([&] { return d.ctl({"wait", "a", "--timeout", "5"}).code == 0; }));
  EXPECT_EQ(d.ctl({"pid"}).out, std::to_string(daemon_pid) + "\n");
  // A second one, also with --daemon, is refused before detaching.
  CommandResult second = run_command({MINISUPD_PATH, "-c", d.config_path().string(), "--daemon"});
  EXPECT_EQ(second.code, 1);
  EXPECT_THAT(second.err, HasSubstr("another minisupd is running"));
  CommandResult shutdown = d.ctl({"shutdown"});
  EXPECT_EQ(shutdown.code, 0) << shutdown.err;
  EXPECT_FALSE(process_alive(daemon_pid));
  EXPECT_FALSE(fs::exists(pidfile));
}

}  // namespace
}  // namespace minisup::testing
