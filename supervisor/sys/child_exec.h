// The code that runs in a new child between clone and exec (internal to
// sys/; spawn.cc is the only user).
//
// Model: the child shares the parent's memory (CLONE_VM) and runs on its own
// stack while the parent is suspended. It therefore reads only the plain
// data of a ChildPlan prepared by the parent, allocates nothing, throws
// nothing, calls only async-signal-safe functions (raw system calls where a
// glibc wrapper is not safe in a CLONE_VM child), and writes nothing the
// parent can see except one ChildStatus record into the exec-status pipe
// and its own pid into ChildPlan::pid_slot (a buffer the spawn prepared for
// it, which the parent never reads).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>

namespace minisup::sys::detail {

/// The steps of the child, in the order it takes them. The numbers travel
/// through the exec-status pipe; kChildStepCount closes the list.
enum ChildStep : int {
  kStepSetpgid,      ///< setpgid(0, 0)
  kStepStdin,        ///< dup2(/dev/null, 0)
  kStepStdout,       ///< dup2(stdout_fd, 1)
  kStepStderr,       ///< dup2(stderr_fd, 2)
  kStepRlimit,       ///< setrlimit (each of ChildPlan::rlimits)
  kStepSetgroups,    ///< setgroups(user's supplementary groups)
  kStepSetgid,       ///< setgid(user's gid)
  kStepSetuid,       ///< setuid(user's uid)
  kStepDeathSignal,  ///< prctl(PR_SET_PDEATHSIG, death_signal)
  kStepChdir,        ///< chdir(directory)
  kStepCloseFds,     ///< close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)
  kStepSigmask,      ///< sigprocmask(SIG_SETMASK, empty)
  kStepExec,         ///< execve (each PATH candidate)
  kStepUnshareFds,   ///< close_range(unshare_from, ~0U, CLOSE_RANGE_UNSHARE)
  kStepListenFds,    ///< fcntl/dup2 of the held sockets onto 3, 4, ...
  kChildStepCount
};

/// The call name of each step, for messages (`chdir /srv/nope: ...`).
extern const char* const kChildStepNames[kChildStepCount];

/// The most held sockets a child gets (config::kMaxProgramSockets).
inline constexpr std::size_t kMaxListenFds = 64;

/// One resource limit the child sets (soft and hard) before exec.
struct ChildRlimit {
  int resource;  ///< RLIMIT_NOFILE, ...
  rlim_t soft;
  rlim_t hard;
};

/// What a failed child writes into the exec-status pipe before _exit(127).
struct ChildStatus {
  int step;       ///< a ChildStep
  int error;      ///< errno of the failed call
  int candidate;  ///< kStepExec: index into exec_paths of the reported path
};

/// Everything the child needs, prepared by the parent. All pointers point
/// into memory owned by the parent that stays valid until clone returns.
struct ChildPlan {
  const char* const* exec_paths;  ///< candidates for execve, nullptr-terminated
  char* const* argv;              ///< nullptr-terminated
  char* const* envp;              ///< nullptr-terminated
  int stdin_fd;                   ///< /dev/null; >= 3
  int stdout_fd;                  ///< >= 3
  int stderr_fd;                  ///< >= 3
  int status_fd;                  ///< write end of the exec-status pipe; >= 3
  const char* directory;          ///< nullptr = don't chdir
  bool set_umask;
  mode_t umask;
  bool switch_user;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t group_count;
  const ChildRlimit* rlimits;  ///< applied in order before the user switch
  std::size_t rlimit_count;
  int death_signal;  ///< 0 = none
  pid_t parent_pid;  ///< minisupd's pid, to detect its death before prctl
  /// Held sockets (LISTEN_FDS): descriptors of the parent's table that the
  /// child gets as 3, 4, ... in this order, without close-on-exec; at most
  /// kMaxListenFds.
  const int* listen_fds;
  std::size_t listen_fd_count;
  /// Where the child writes its own pid in decimal, NUL-terminated (room
  /// for 20 digits and the NUL): the value of an environment entry such
  /// as "LISTEN_PID=", in a buffer of the spawn's own. nullptr = none.
  char* pid_slot;
  /// > 0: the child was cloned with CLONE_FILES (sharing the parent's
  /// descriptor table) and its four descriptors are below this number; it
  /// first takes a private table with only the descriptors below it. 0:
  /// the child has a copy of the parent's table already.
  int unshare_from;
};

/// The child's entry point for clone(): `arg` is a const ChildPlan*. Never
/// returns: execs or _exit(127)s after writing its ChildStatus.
int run_child(void* arg) noexcept;

}  // namespace minisup::sys::detail
