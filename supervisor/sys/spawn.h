// Spawning children: the one place where minisupd creates processes.
//
// Model: everything a child needs (argv and envp as char* arrays, the PATH
// candidates for argv[0], /dev/null, the exec-status pipe, the user's ids)
// is prepared in the parent. Then clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)
// starts the child on a stack of its own, like glibc's posix_spawn: the child
// shares our memory and the parent is suspended until the child has either
// exec'ed or _exit'ed. Between clone and exec the child (child_exec.cc) makes
// only async-signal-safe system calls, in this order:
//   own process group, stdin/stdout/stderr, held sockets onto 3, 4, ...
//   (and its own pid into LISTEN_PID), user (setgroups/setgid/setuid),
//   chdir, umask, close-on-exec on every fd above them, signal dispositions
//   and mask reset, execve (for each PATH candidate).
// A step that fails writes {stage, errno} into the exec-status pipe
// (pipe2 O_CLOEXEC) and _exits; a successful execve closes the pipe. When
// the parent resumes, the outcome is therefore already decided and the pipe
// is read at once: EOF means exec succeeded, a record names the failed step,
// e.g. `exec /usr/bin/nope: No such file or directory`. A failed child is
// reaped on the spot with waitpid(pid), so no zombie stays behind; its
// SIGCHLD still arrives and reap_all() (signals.h) simply finds nothing.
//
// The result carries a pidfd, so the caller can watch the child's exit in
// the event loop and signal it without ever hitting a reused pid.
//
// A child gets a descriptor table of its own, and copying minisupd's (one
// pidfd per child, two pipes and two log files per program with AUTO logs)
// into every child, only for exec to close it all again, made each spawn
// cost O(descriptors held): 10,000 spawns, O(N^2) in all. With spawn slots
// (reserve_spawn_slots(), minisupd does it at start) the child's four
// descriptors (stdin, stdout, stderr, the exec-status pipe) are dup'ed into
// four low, reserved numbers, the child is cloned sharing minisupd's table
// (CLONE_FILES: nothing copied), and its first act is close_range(K, ~0U,
// CLOSE_RANGE_UNSHARE), K above the slots: the kernel then gives it a
// private table holding only the descriptors below K. The parent is
// suspended (CLONE_VFORK) until then and puts /dev/null back into the slots
// when it resumes (the status pipe's EOF needs its write end closed).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/sys/unique_fd.h"

namespace minisup::sys {

/// The credentials a child runs with, resolved before the spawn.
struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;              ///< primary group (from the passwd entry)
  std::vector<gid_t> groups;  ///< supplementary groups (getgrouplist)
  std::string name;           ///< the user name (pw_name): messages, USER, LOGNAME
  std::string home;           ///< the home directory (pw_dir): HOME
  bool operator==(const UserIds&) const = default;
};

/// Resolves `name`, a user name or a numeric uid, to its uid, primary gid,
/// supplementary groups (getgrouplist, as initgroups would set them), name
/// and home directory. Must be called before spawning (getpwnam_r and
/// getgrouplist may allocate, open files and take locks). Returns an error
/// message when the user does not exist (`user = bob: no such user`) or when
/// minisupd is not root and the user is not minisupd's own
/// (`user = bob needs root (minisupd runs as uid 1000)`). When minisupd runs
/// as that very user, spawning with it changes nothing.
std::variant<UserIds, std::string> resolve_user(const std::string& name);

/// A resource limit set in the child before exec (soft and hard).
struct SpawnRlimit {
  int resource = 0;  ///< RLIMIT_NOFILE, ...
  rlim_t soft = 0;
  rlim_t hard = 0;
  bool operator==(const SpawnRlimit&) const = default;
};

/// Raises this process's soft RLIMIT_NOFILE to its hard limit, so that
/// minisupd can hold the pipes, pidfds and log files of many programs and
/// still serve its control socket. Returns the limit as it was before (what
/// children should get back: SpawnRequest::rlimits). Never throws; a
/// failing setrlimit leaves the limit as it was.
struct rlimit raise_nofile_limit() noexcept;

/// Reserves four low descriptor numbers (close-on-exec copies of /dev/null)
/// through which spawn_process() hands each child its stdin, stdout, stderr
/// and exec-status pipe, so that the child copies only the descriptors
/// numbered below them instead of every descriptor minisupd holds (see the
/// top of this file). Call once, early (while few descriptors are open:
/// those below the slots are copied into every child) and while the
/// process has one thread (the support probe, close_range with
/// CLOSE_RANGE_UNSHARE, would unshare this thread's table from the
/// others'). Returns false, and spawn_process() copies the whole table as
/// before, when the kernel lacks CLOSE_RANGE_UNSHARE (before 5.9) or
/// /dev/null cannot be opened. A second call returns the first's result.
bool reserve_spawn_slots() noexcept;

/// Everything a child is started with.
struct SpawnRequest {
  /// argv[0] without '/' is looked up in the PATH of `envp` (default
  /// /usr/local/bin:/usr/bin:/bin when envp has none; an empty entry is the
  /// working directory, as for execvp). Must not be empty.
  std::vector<std::string> argv;
  /// The complete environment, "KEY=VALUE" each; nothing is inherited.
  std::vector<std::string> envp;
  /// Working directory; nullopt = minisupd's.
  std::optional<std::string> directory;
  /// umask of the child; nullopt = minisupd's.
  std::optional<mode_t> umask;
  /// Credentials (from resolve_user); nullopt = minisupd's.
  std::optional<UserIds> user;
  /// Descriptors (not owned) dup2'ed onto the child's 1 and 2; they may be
  /// the same descriptor. -1 = /dev/null. stdin is always /dev/null.
  int stdout_fd = -1;
  int stderr_fd = -1;
  /// Signal the child gets when minisupd dies without stopping it
  /// (PR_SET_PDEATHSIG; reaches only the child, not its descendants);
  /// 0 = none.
  int death_signal = 0;
  /// Set in the child, in order, before the user switch (e.g. minisupd's
  /// original RLIMIT_NOFILE); a failure is a spawn error
  /// (`setrlimit RLIMIT_NOFILE: Operation not permitted`).
  std::vector<SpawnRlimit> rlimits;
  /// Held sockets (descriptors, not owned; at most 64): the child gets
  /// them as 3, 4, ... in this order, open across exec, as systemd's socket
  /// activation hands them (LISTEN_FDS). Nothing else is inherited.
  std::vector<int> listen_fds;
  /// Index into `envp` of an entry "NAME=..." (LISTEN_PID) whose value the
  /// child replaces with its own pid before exec, without allocating: a copy
  /// of the entry with room for the digits is made before the spawn. -1:
  /// none.
  int own_pid_env = -1;
  /// A cgroup v2 directory (an O_DIRECTORY descriptor, not owned) the child
  /// is created in, with clone3(CLONE_INTO_CGROUP): it is never outside it,
  /// not even before exec. -1 = minisupd's own cgroup. On x86-64 the child
  /// shares our memory as with clone() (CLONE_VM, a small trampoline in
  /// spawn.cc); elsewhere it gets a copy (clone3 without CLONE_VM). Both
  /// use CLONE_VFORK: the exec status is known exactly as without.
  int cgroup_fd = -1;
};

/// A child that exec'ed successfully. Its pid is also its process group id.
struct SpawnedChild {
  pid_t pid = -1;
  UniqueFd pidfd;  ///< O_CLOEXEC; readable (EPOLLIN) once the child exited
};

/// Starts a child as described at the top of this file and returns once the
/// exec has happened or failed. On failure returns the message, in the
/// form `<step> <object>: <strerror>`: `exec /usr/bin/nope: No such file or
/// directory`, `exec nosuchcmd: No such file or directory` (not on PATH),
/// `chdir /srv/nope: No such file or directory`, `setgroups bob: Operation
/// not permitted`, `setuid 1000: Resource temporarily unavailable` (the
/// user's RLIMIT_NPROC); or, for a failure in the parent before the child existed,
/// `pipe2: Too many open files`, `clone: Resource temporarily unavailable`,
/// `clone3 into cgroup: No such file or directory`.
/// The failed child has been reaped. Never throws for system errors (it may
/// throw std::bad_alloc).
std::variant<SpawnedChild, std::string> spawn_process(const SpawnRequest& request);

}  // namespace minisup::sys
