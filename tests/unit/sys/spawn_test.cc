// spawn_process and resolve_user against real children.
#include "supervisor/sys/spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "supervisor/sys/pipe.h"
#include "supervisor/sys/signals.h"
#include "tests/unit/sys/sys_test_util.h"

namespace minisup::sys {
namespace {

using testing::read_all;
using testing::reap;
using testing::request;
using testing::run;
using testing::wait_exited;

/// Spawns `r`, which must succeed.
SpawnedChild spawn_ok(const SpawnRequest& r) {
  auto result = spawn_process(r);
  if (auto* err = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "spawn failed: " << *err;
    return {};
  }
  return std::move(std::get<SpawnedChild>(result));
}

/// Spawns `r`, which must fail; returns the message.
std::string spawn_error(const SpawnRequest& r) {
  auto result = spawn_process(r);
  if (auto* child = std::get_if<SpawnedChild>(&result)) {
    int status = reap(child->pid);
    ADD_FAILURE() << "spawn unexpectedly succeeded; wait status " << status;
    return {};
  }
  return std::get<std::string>(result);
}

/// One line of /proc/PID/status, e.g. "SigIgn:\t0000000000000000".
std::string status_line(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key + ":")) return line;
  return {};
}

/// Kills and reaps a child spawned with a long sleep.
void kill_and_reap(SpawnedChild& child) {
  EXPECT_TRUE(send_signal(child.pidfd.get(), SIGKILL));
  int status = reap(child.pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

/// True when this process has no unreaped child.
bool no_children() { return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD; }

int count_open_fds() {
  int n = 0;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

TEST(Spawn, TrueExitsZero) {
  SpawnedChild child = spawn_ok(request({"/bin/true"}));
  ASSERT_GT(child.pid, 0);
  ASSERT_TRUE(child.pidfd);
  EXPECT_NE(::fcntl(child.pidfd.get(), F_GETFD) & FD_CLOEXEC, 0);
  int status = reap(child.pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Spawn, ExitCodeIsReported) {
  auto r = run(request({"/bin/sh", "-c", "exit 42"}));
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 42);
}

TEST(Spawn, MissingBinaryReportsExecErrorAndLeavesNoZombie) {
  EXPECT_EQ(spawn_error(request({"/nonexistent/x"})),
            "exec /nonexistent/x: No such file or directory");
  EXPECT_TRUE(no_children());
}

TEST(Spawn, FailedSpawnLeaksNoDescriptor) {
  int before = count_open_fds();
  spawn_error(request({"/nonexistent/x"}));
  spawn_error(request({"nosuchcmd"}));
  EXPECT_EQ(count_open_fds(), before);
}

TEST(Spawn, FindsCommandOnEnvironmentPath) {
  auto r = run(request({"sh", "-c", "exit 7"}));
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(WIFEXITED(r.status));
  EXPECT_EQ(WEXITSTATUS(r.status), 7);
}

TEST(Spawn, UsesPathOfChildEnvironmentNotOurs) {
  SpawnRequest r = request({"sh", "-c", "exit 0"});
  r.envp = {"PATH=/nonexistent/bin"};
  EXPECT_EQ(spawn_error(r), "exec sh: No such file or directory");
}

TEST(Spawn, CommandNotOnPath) {
  EXPECT_EQ(spawn_error(request({"nosuchcmd"})), "exec nosuchcmd: No such file or directory");
  EXPECT_TRUE(no_children());
}

TEST(Spawn, NonExecutableOnPathReportsPermissionDenied) {
  char tmpl[] = "/tmp/minisup-spawn-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string tool = dir + "/tool";
  std::ofstream(tool) << "#!/bin/sh\n";
  ::chmod(tool.c_str(), 0644);
  SpawnRequest r = request({"tool"});
  r.envp = {"PATH=/nonexistent:" + dir + ":/also/nonexistent"};
  EXPECT_EQ(spawn_error(r), "exec " + tool + ": Permission denied");
  std::filesystem::remove_all(dir);
}

TEST(Spawn, BadDirectory) {
  SpawnRequest r = request({"/bin/true"});
  r.directory = "/nonexistent/dir";
  EXPECT_EQ(spawn_error(r), "chdir /nonexistent/dir: No such file or directory");
  EXPECT_TRUE(no_children());
}

TEST(Spawn, RunsInDirectory) {
  SpawnRequest r = request({"/bin/pwd"});
  r.directory = "/usr/share";
  EXPECT_EQ(run(r).output, "/usr/share\n");
}

TEST(Spawn, EmptyArgvIsAnError) { EXPECT_EQ(spawn_error(request({})), "exec: empty command"); }

TEST(Spawn, ChildLeadsItsOwnProcessGroup) {
  SpawnedChild child = spawn_ok(request({"/bin/sleep", "10"}));
  EXPECT_EQ(::getpgid(child.pid), child.pid);
  EXPECT_NE(::getpgid(child.pid), ::getpgrp());
  kill_and_reap(child);
}

TEST(Spawn, StdinIsDevNull) {
  SpawnedChild child = spawn_ok(request({"/bin/sleep", "10"}));
  // spawn_process returns after the exec: the descriptors are final.
  auto fd0 = std::filesystem::read_symlink("/proc/" + std::to_string(child.pid) + "/fd/0");
  EXPECT_EQ(fd0, "/dev/null");
  kill_and_reap(child);
}

TEST(Spawn, StdoutAndStderrDefaultToDevNull) {
  SpawnedChild child = spawn_ok(request({"/bin/sleep", "10"}));
  std::string proc = "/proc/" + std::to_string(child.pid) + "/fd/";
  EXPECT_EQ(std::filesystem::read_symlink(proc + "1"), "/dev/null");
  EXPECT_EQ(std::filesystem::read_symlink(proc + "2"), "/dev/null");
  kill_and_reap(child);
}

TEST(Spawn, InheritsOnlyStdioEvenWithoutCloexec) {
  // A descriptor without O_CLOEXEC in the parent: close_range must catch it.
  UniqueFd leaky(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leaky);
  ASSERT_EQ(::fcntl(leaky.get(), F_GETFD) & FD_CLOEXEC, 0);
  // `; :` keeps sh from exec'ing ls, so ls lists the shell's descriptors.
  auto r = run(request({"/bin/sh", "-c", "ls /proc/$$/fd; :"}));
  EXPECT_EQ(r.output, "0\n1\n2\n");
}

TEST(Spawn, StdoutAndStderrGoToTheirDescriptors) {
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  SpawnRequest r = request({"/bin/sh", "-c", "echo out; echo err >&2"});
  r.stdout_fd = out.write.get();
  r.stderr_fd = err.write.get();
  SpawnedChild child = spawn_ok(r);
  out.write.reset();
  err.write.reset();
  EXPECT_EQ(read_all(out.read.get()), "out\n");
  EXPECT_EQ(read_all(err.read.get()), "err\n");
  reap(child.pid);
}

TEST(Spawn, SameDescriptorForStdoutAndStderr) {
  EXPECT_EQ(run(request({"/bin/sh", "-c", "echo out; echo err >&2"})).output, "out\nerr\n");
}

TEST(Spawn, OutputDescriptorBelowThreeIsNotClobbered) {
  // The parent's fd 0 is the pipe: the child's dup2 of /dev/null onto 0
  // must not destroy it before it is dup2'ed onto 1.
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

TEST(Spawn, EnvironmentIsExactlyTheGivenOne) {
  SpawnRequest r = request({"/usr/bin/env"});
  r.envp = {"A=1", "B=two words", "EMPTY=", "X==y"};
  EXPECT_EQ(run(r).output, "A=1\nB=two words\nEMPTY=\nX==y\n");
}

TEST(Spawn, ArgumentsArePassedVerbatim) {
  auto r = run(request({"/usr/bin/printf", "[%s]", "a b", "", "$HOME", "*"}));
  EXPECT_EQ(r.output, "[a b][][$HOME][*]");
}

TEST(Spawn, UmaskIsApplied) {
  SpawnRequest r = request({"/bin/sleep", "10"});
  r.umask = 027;
  SpawnedChild child = spawn_ok(r);
  EXPECT_EQ(status_line(child.pid, "Umask"), "Umask:\t0027");
  kill_and_reap(child);
}

/// The line of /proc/PID/limits that starts with `name` ("Max open files").
std::string limits_line(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(name)) return line;
  return {};
}

TEST(Spawn, RlimitsAreAppliedSoftAndHard) {
  // Lowering a hard limit needs no privilege.
  SpawnRequest r = request({"/bin/sleep", "10"});
  r.rlimits = {{RLIMIT_NOFILE, 64, 128}, {RLIMIT_CORE, 0, 0}, {RLIMIT_AS, 1u << 30, 1u << 30}};
  SpawnedChild child = spawn_ok(r);
  EXPECT_THAT(limits_line(child.pid, "Max open files"),
              ::testing::MatchesRegex("Max open files +64 +128 +files *"));
  EXPECT_THAT(limits_line(child.pid, "Max core file size"),
              ::testing::MatchesRegex("Max core file size +0 +0 +bytes *"));
  EXPECT_THAT(limits_line(child.pid, "Max address space"),
              ::testing::MatchesRegex("Max address space +1073741824 +1073741824 +bytes *"));
  kill_and_reap(child);
}

TEST(Spawn, AFailedRlimitNamesItsResource) {
  // A soft limit above the hard one is EINVAL, for root too.
  const std::pair<int, std::string> resources[] = {{RLIMIT_NOFILE, "RLIMIT_NOFILE"},
                                                   {RLIMIT_NPROC, "RLIMIT_NPROC"},
                                                   {RLIMIT_CORE, "RLIMIT_CORE"},
                                                   {RLIMIT_AS, "RLIMIT_AS"},
                                                   {RLIMIT_STACK, "resource 3"}};
  for (const auto& [resource, name] : resources) {
    SpawnRequest r = request({"/bin/true"});
    r.rlimits = {{resource, 2, 1}};
    EXPECT_EQ(spawn_error(r), "setrlimit " + name + ": Invalid argument");
  }
  EXPECT_TRUE(no_children());
}

TEST(Spawn, SignalMaskAndIgnoredSignalsAreReset) {
  // As minisupd: SIGPIPE ignored, the signalfd signals blocked.
  struct sigaction ignore = {}, old_pipe = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGCHLD);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &block, &old_mask), 0);

  SpawnedChild child = spawn_ok(request({"/bin/sleep", "10"}));
  std::string ign = status_line(child.pid, "SigIgn");
  std::string blk = status_line(child.pid, "SigBlk");

  // The parent's own mask is untouched by the spawn.
  sigset_t now_mask;
  ::sigprocmask(SIG_SETMASK, nullptr, &now_mask);
  EXPECT_TRUE(sigismember(&now_mask, SIGUSR1));
  EXPECT_TRUE(sigismember(&now_mask, SIGCHLD));
  EXPECT_FALSE(sigismember(&now_mask, SIGTERM));

  kill_and_reap(child);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);

  EXPECT_EQ(ign, "SigIgn:\t0000000000000000");
  EXPECT_EQ(blk, "SigBlk:\t0000000000000000");
}

TEST(ResolveUser, UnknownUser) {
  auto r = resolve_user("no_such_user_minisup");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r), "user = no_such_user_minisup: no such user");
}

TEST(ResolveUser, OwnUserNeedsNoRoot) {
  auto r = resolve_user(std::to_string(::geteuid()));
  ASSERT_TRUE(std::holds_alternative<UserIds>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<UserIds>(r).uid, ::geteuid());
}

// The tests below switch users and need root (CI containers run as root).

TEST(ResolveUser, NameAndNumericUidAgree) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto by_name = resolve_user("nobody");
  ASSERT_TRUE(std::holds_alternative<UserIds>(by_name)) << std::get<std::string>(by_name);
  const UserIds& ids = std::get<UserIds>(by_name);
  EXPECT_EQ(ids.name, "nobody");
  auto by_uid = resolve_user(std::to_string(ids.uid));
  ASSERT_TRUE(std::holds_alternative<UserIds>(by_uid));
  EXPECT_EQ(std::get<UserIds>(by_uid), ids);
}

TEST(Spawn, RunsAsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto resolved = resolve_user("nobody");
  ASSERT_TRUE(std::holds_alternative<UserIds>(resolved));
  const UserIds& ids = std::get<UserIds>(resolved);
  SpawnRequest r = request({"/bin/sh", "-c", "id -u; id -g; id -G"});
  r.user = ids;
  std::string expected = std::to_string(ids.uid) + "\n" + std::to_string(ids.gid) + "\n";
  std::string out = run(r).output;
  EXPECT_TRUE(out.starts_with(expected)) << out;
  // Only nobody's groups: root's group 0 must be gone.
  EXPECT_EQ(out.find(" 0"), std::string::npos) << out;
  // The parent is still root.
  EXPECT_EQ(::geteuid(), 0u);
}

TEST(Spawn, DirectoryIsEnteredAsTheUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  char tmpl[] = "/tmp/minisup-private-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);  // mode 0700, owned by root
  SpawnRequest r = request({"/bin/true"});
  r.user = std::get<UserIds>(resolve_user("nobody"));
  r.directory = tmpl;
  EXPECT_EQ(spawn_error(r), std::string("chdir ") + tmpl + ": Permission denied");
  ::rmdir(tmpl);
}

/// Runs `body` in a forked child that dropped root for `nobody`; returns
/// what the body wrote to the pipe.
template <typename F>
std::string as_nobody(F body) {
  Pipe p = make_pipe();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
    std::string text = body();
    (void)!::write(p.write.get(), text.data(), text.size());
    ::_exit(0);
  }
  p.write.reset();
  std::string out = read_all(p.read.get());
  reap(pid);
  return out;
}

TEST(ResolveUser, AnotherUserNeedsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (to drop it)";
  std::string message = as_nobody([] {
    auto r = resolve_user("root");
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r)
                                                  : std::string("resolved");
  });
  EXPECT_EQ(message, "user = root needs root (minisupd runs as uid 65534)");
}

TEST(Spawn, CredentialChangeRefusedByKernelIsReported) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (to drop it)";
  std::string message = as_nobody([] {
    SpawnRequest r = request({"/bin/true"});
    r.user = UserIds{0, 0, {}, "root", "/root"};
    auto result = spawn_process(r);
    return std::holds_alternative<std::string>(result) ? std::get<std::string>(result)
                                                       : std::string("spawned");
  });
  EXPECT_EQ(message, "setgroups root: Operation not permitted");
}

}  // namespace
}  // namespace minisup::sys
