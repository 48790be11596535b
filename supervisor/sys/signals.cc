#include "supervisor/sys/signals.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "supervisor/sys/sys_error.h"

namespace minisup::sys {

bool send_signal(int pidfd, int sig) {
  // The raw call: glibc 2.36's <sys/pidfd.h> lacks extern "C", so its
  // wrapper cannot be linked from C++.
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
  int err = errno;
  if (err == ESRCH) return false;
  throw SysError("pidfd_send_signal", "pidfd " + std::to_string(pidfd), err);
}

bool signal_group(pid_t pgid, int sig) {
  if (::kill(-pgid, sig) == 0) return true;
  int err = errno;
  if (err == ESRCH) return false;
  throw SysError("kill", "process group " + std::to_string(pgid), err);
}

bool group_alive(pid_t pgid) {
  if (::kill(-pgid, 0) == 0) return true;
  return errno == EPERM;
}

void ignore_signal(int sig) {
  struct sigaction sa = {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(sig, &sa, nullptr) != 0)
    throw SysError("sigaction", "signal " + std::to_string(sig), errno);
}

void set_child_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    throw SysError("prctl", "PR_SET_CHILD_SUBREAPER", errno);
}

std::vector<Reaped> reap_all() {
  std::vector<Reaped> reaped;
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0) break;  // children left, none exited
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: no children at all
    }
    Reaped r{pid, std::nullopt, std::nullopt, false};
    if (WIFEXITED(status)) {
      r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      r.exit_signal = WTERMSIG(status);
      r.core_dumped = WCOREDUMP(status);
    } else {
      continue;  // stopped/continued: not reported without WUNTRACED/WCONTINUED
    }
    reaped.push_back(r);
  }
  return reaped;
}

}  // namespace minisup::sys
