// The child between clone and exec. Read child_exec.h first: nothing here
// may allocate, throw, lock, or write memory the parent uses.
#include "supervisor/sys/child_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

// Sanitizer builds: AddressSanitizer's instrumentation assumes one stack
// per thread. This child runs on a stack of its own and ends in _exit, which
// ASan would handle (__asan_handle_no_return) as a stack switch and report
// false errors, so the child code is left uninstrumented.
#if defined(__SANITIZE_ADDRESS__)
#define MINISUP_CHILD_CODE __attribute__((no_sanitize("address")))
#else
#define MINISUP_CHILD_CODE
#endif

namespace minisup::sys::detail {

const char* const kChildStepNames[kChildStepCount] = {
    "setpgid",      // kStepSetpgid
    "dup2",         // kStepStdin
    "dup2",         // kStepStdout
    "dup2",         // kStepStderr
    "setrlimit",    // kStepRlimit
    "setgroups",    // kStepSetgroups
    "setgid",       // kStepSetgid
    "setuid",       // kStepSetuid
    "prctl",        // kStepDeathSignal
    "chdir",        // kStepChdir
    "close_range",  // kStepCloseFds
    "sigprocmask",  // kStepSigmask
    "exec",         // kStepExec
    "close_range",  // kStepUnshareFds
    "dup2",         // kStepListenFds
};
static_assert(sizeof kChildStepNames / sizeof kChildStepNames[0] == kChildStepCount,
              "one name per ChildStep");

namespace {

/// Reports the failed step to the parent and exits. The write of a dozen
/// bytes into an empty pipe is atomic; there is nobody to tell if it fails.
[[noreturn]] MINISUP_CHILD_CODE void fail(int status_fd, int step, int error,
                                          int candidate = -1) noexcept {
  ChildStatus status{step, error, candidate};
  while (::write(status_fd, &status, sizeof status) < 0 && errno == EINTR) {
  }
  ::_exit(127);
}

/// Writes `value` in decimal, NUL-terminated, at `out` (room for 21 bytes).
MINISUP_CHILD_CODE void write_decimal(long value, char* out) noexcept {
  char digits[20];
  int n = 0;
  unsigned long v = value < 0 ? 0UL : static_cast<unsigned long>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 20);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

/// dup2 that retries on EINTR (dup2 clears O_CLOEXEC on the target).
MINISUP_CHILD_CODE int dup2_retry(int from, int to) noexcept {
  int r;
  while ((r = ::dup2(from, to)) < 0 && errno == EINTR) {
  }
  return r;
}

}  // namespace

MINISUP_CHILD_CODE int run_child(void* arg) noexcept {
  const ChildPlan& plan = *static_cast<const ChildPlan*>(arg);
  // The exec-status pipe; moved above the held sockets' numbers below.
  int status_fd = plan.status_fd;

  // Every signal is blocked here (the parent blocked all of them around
  // clone), so no handler of the parent can run on this shared memory.

  // Cloned with CLONE_FILES: the descriptor table is still the parent's, so
  // nothing may change it before this. The kernel gives us a private table
  // with only the descriptors below unshare_from (our four, in the spawn
  // slots, and the few minisupd had open when it reserved them), instead
  // of a copy of all of minisupd's that execve would close again one by
  // one (spawn.h). A failure is reported through the status pipe, a write
  // that leaves the shared table alone.
  if (plan.unshare_from > 0 &&
      ::close_range(static_cast<unsigned>(plan.unshare_from), ~0U, CLOSE_RANGE_UNSHARE) != 0) {
    fail(status_fd, kStepUnshareFds, errno);
  }

  // A process group of its own: stopasgroup/killasgroup signal the child and
  // everything it forked as one unit (kill(-pgid)), and a Ctrl-C or SIGHUP
  // aimed at minisupd's terminal group does not hit the children behind
  // minisupd's back: minisupd decides how they stop. Done here, before
  // exec, so no one can observe the child in minisupd's group.
  if (::setpgid(0, 0) != 0) fail(status_fd, kStepSetpgid, errno);

  // All three sources are >= 3 (the parent made sure), so no dup2 below can
  // overwrite a source still to be used.
  if (dup2_retry(plan.stdin_fd, 0) < 0) fail(status_fd, kStepStdin, errno);
  if (dup2_retry(plan.stdout_fd, 1) < 0) fail(status_fd, kStepStdout, errno);
  if (dup2_retry(plan.stderr_fd, 2) < 0) fail(status_fd, kStepStderr, errno);

  // Held sockets (LISTEN_FDS): onto 3, 4, ... in order. minisupd holds
  // them at low numbers and the status pipe may sit there too, so first
  // every source below 3+N (and the status pipe) is lifted above it; no
  // dup2 below can then overwrite a source still to be used. dup2 clears
  // close-on-exec on the target, and since each source was lifted above
  // its target, no dup2(x, x) (which would keep the flag) happens. The
  // copies share the open file description with minisupd's: nothing here
  // (nor anywhere in minisupd) sets O_NONBLOCK on it.
  const int first_free = 3 + static_cast<int>(plan.listen_fd_count);
  if (plan.listen_fd_count > 0) {
    if (status_fd < first_free) {
      const int lifted = ::fcntl(status_fd, F_DUPFD_CLOEXEC, first_free);
      if (lifted < 0) fail(status_fd, kStepListenFds, errno);
      status_fd = lifted;
    }
    int sources[kMaxListenFds];
    for (std::size_t i = 0; i < plan.listen_fd_count; ++i) {
      int source = plan.listen_fds[i];
      if (source < first_free) source = ::fcntl(source, F_DUPFD_CLOEXEC, first_free);
      if (source < 0) fail(status_fd, kStepListenFds, errno);
      sources[i] = source;
    }
    for (std::size_t i = 0; i < plan.listen_fd_count; ++i) {
      const int target = 3 + static_cast<int>(i);
      if (sources[i] == target) {
        if (::fcntl(target, F_SETFD, 0) != 0) fail(status_fd, kStepListenFds, errno);
      } else if (dup2_retry(sources[i], target) < 0) {
        fail(status_fd, kStepListenFds, errno);
      }
    }
  }
  // LISTEN_PID: the pid is ours only now; its digits go into the slot the
  // spawn prepared in its own copy of the environment entry.
  if (plan.pid_slot != nullptr) write_decimal(::syscall(SYS_getpid), plan.pid_slot);

  // Resource limits, while still root (a hard limit can only be raised as
  // root). minisupd raised its own RLIMIT_NOFILE; the child gets back the
  // soft limit minisupd was started with.
  for (std::size_t i = 0; i < plan.rlimit_count; ++i) {
    const struct rlimit limit = {plan.rlimits[i].soft, plan.rlimits[i].hard};
    if (::setrlimit(static_cast<__rlimit_resource>(plan.rlimits[i].resource), &limit) != 0)
      fail(status_fd, kStepRlimit, errno, plan.rlimits[i].resource);
  }

  // Raw system calls, not glibc's setgroups/setgid/setuid: in a process with
  // threads those wrappers make *every thread of the process* change its
  // ids (the SETXID broadcast), and with CLONE_VM this child would find the
  // parent's thread list and signal the parent's threads. The kernel calls
  // change only this task. Order: groups while still root, then gid, uid.
  if (plan.switch_user) {
    if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0)
      fail(status_fd, kStepSetgroups, errno);
    if (::syscall(SYS_setgid, plan.gid) != 0) fail(status_fd, kStepSetgid, errno);
    if (::syscall(SYS_setuid, plan.uid) != 0) fail(status_fd, kStepSetuid, errno);
  }

  // If minisupd is killed outright (SIGKILL, OOM), its children must not
  // live on unsupervised, to be duplicated by the next minisupd
  // (doc/pitfalls.md §4). Set after the user switch, which clears it. If minisupd
  // died before this point we are already orphaned: give up.
  if (plan.death_signal != 0) {
    if (::prctl(PR_SET_PDEATHSIG, plan.death_signal, 0, 0, 0) != 0)
      fail(status_fd, kStepDeathSignal, errno);
    if (::getppid() != plan.parent_pid) fail(status_fd, kStepDeathSignal, ESRCH);
  }

  // After the user switch, as supervisord does: the directory must be
  // reachable by the user the program runs as.
  if (plan.directory != nullptr && ::chdir(plan.directory) != 0) fail(status_fd, kStepChdir, errno);

  if (plan.set_umask) ::umask(plan.umask);

  // Backstop: everything minisupd opens is O_CLOEXEC already. Marking (not
  // closing) fds >= 3 (above the held sockets) close-on-exec keeps the status pipe usable until
  // execve, which then closes all of them. Kernels before 5.11 lack the
  // flag: close the two ranges around the status pipe instead.
  // The held sockets at 3 ... first_free - 1 stay open.
  const unsigned first = static_cast<unsigned>(first_free);
  if (::close_range(first, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    if (errno != EINVAL) fail(status_fd, kStepCloseFds, errno);
    if (status_fd > first_free &&
        ::close_range(first, static_cast<unsigned>(status_fd - 1), 0) != 0)
      fail(status_fd, kStepCloseFds, errno);
    if (::close_range(static_cast<unsigned>(status_fd + 1), ~0U, 0) != 0)
      fail(status_fd, kStepCloseFds, errno);
  }

  // minisupd ignores SIGPIPE and SIGXFSZ and blocks the signals it reads via
  // signalfd; a child must start with the defaults. Ignored dispositions and
  // the mask survive execve, so reset them all (sigaction of SIGKILL/SIGSTOP
  // and glibc's internal signals fails harmlessly). Handlers are reset too:
  // a parent handler running in this shared-memory child would be a disaster.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  // Empty the mask with the raw call: glibc's wrapper may keep its internal
  // signals untouched, the kernel call sets exactly what we pass.
  unsigned long empty_mask = 0;
  if (::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, sizeof empty_mask) != 0)
    fail(status_fd, kStepSigmask, errno);

  // execvp's rules: go on after ENOENT/ENOTDIR-like errors, remember EACCES
  // (reported if nothing else works), stop at any other error.
  int reported = -1;
  int reported_error = ENOENT;
  bool saw_eacces = false;
  for (int i = 0; plan.exec_paths[i] != nullptr; ++i) {
    ::execve(plan.exec_paths[i], plan.argv, plan.envp);
    int err = errno;
    switch (err) {
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        continue;
      case EACCES:
        if (!saw_eacces) {
          saw_eacces = true;
          reported = i;
          reported_error = EACCES;
        }
        continue;
      default:
        fail(status_fd, kStepExec, err, i);
    }
  }
  fail(status_fd, kStepExec, reported_error, reported);
}

}  // namespace minisup::sys::detail
