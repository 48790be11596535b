// Signals and reaping: how minisupd talks to its children after the spawn.
//
// Model: a child is signalled through its pidfd (pidfd_send_signal), never by
// a stored pid, because once a child is reaped its pid can be reused by a
// stranger (doc/pitfalls.md §5); the pidfd then answers ESRCH instead. A process
// group is signalled by its pgid (= the child's pid, see spawn.h) with
// kill(-pgid); that is only done while the leader is known to be unreaped or
// the group is known to have live members. ESRCH is a normal outcome (the
// exit is on its way) and is reported as `false`, not as an error.
//
// Reaping: SIGCHLD does not queue (doc/pitfalls.md §1), so each SIGCHLD wakeup
// calls reap_all(), which collects every exited child, including orphans
// handed to minisupd as a subreaper or PID 1, and pids it has already
// reaped itself (a failed spawn, see spawn.h) simply do not show up.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace minisup::sys {

/// Sends `sig` to the process behind `pidfd`. Returns true when sent, false
/// when the process has already been reaped or is a zombie waiting to be
/// reaped (ESRCH). Throws SysError on other errors (EBADF, EINVAL, EPERM).
bool send_signal(int pidfd, int sig);

/// Sends `sig` to every process of the process group `pgid` (kill(-pgid)).
/// Returns false when the group has no member left (ESRCH). Throws SysError
/// on other errors.
bool signal_group(pid_t pgid, int sig);

/// True when the process group `pgid` still has a member (kill(-pgid, 0)).
/// A member we may not signal (EPERM) counts as alive, and so does a zombie
/// that has not been reaped yet.
bool group_alive(pid_t pgid);

/// Sets the disposition of `sig` to SIG_IGN (minisupd ignores SIGPIPE and
/// SIGXFSZ, so a closed pipe or a full file becomes an error return instead
/// of its death). spawn_process resets every disposition in the child.
/// Throws SysError on failure.
void ignore_signal(int sig);

/// Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): the
/// kernel hands orphaned descendants to minisupd instead of PID 1, so they
/// are reaped (and not leaked) when a child dies before its own children.
/// Throws SysError on failure.
void set_child_subreaper();

/// One child collected by reap_all(). Exactly one of exit_code and
/// exit_signal is set.
struct Reaped {
  pid_t pid;
  std::optional<int> exit_code;    ///< WEXITSTATUS when it exited
  std::optional<int> exit_signal;  ///< WTERMSIG when a signal killed it
  bool core_dumped = false;        ///< WCOREDUMP: the signal left a core dump
  bool operator==(const Reaped&) const = default;
};

/// Reaps every child that has exited: waitpid(-1, WNOHANG) in a loop until
/// it reports nothing left (0) or no children at all (ECHILD). Returns them
/// in the order the kernel reported them; empty when nothing had exited.
std::vector<Reaped> reap_all();

}  // namespace minisup::sys
