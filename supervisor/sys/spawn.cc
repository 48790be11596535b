#include "supervisor/sys/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "supervisor/sys/child_exec.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::sys {

namespace {

using detail::ChildPlan;
using detail::ChildStatus;

/// PATH when the child's environment has none (what execvp falls back to,
/// plus /usr/local/bin).
constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

/// The child's stack. Its own frames are small; the rest is headroom for
/// execve's libc path and sanitizer builds. Mapped lazily, so untouched
/// pages cost nothing.
constexpr std::size_t kChildStackSize = 256 * 1024;

std::string failure(std::string_view call, std::string_view object, int err) {
  std::string message(call);
  if (!object.empty()) {
    message += ' ';
    message += object;
  }
  message += ": ";
  message += error_text(err);
  return message;
}

/// A resource as a failed setrlimit names it (`setrlimit RLIMIT_NPROC:
/// ...`): the ones minisup sets by name, others by number.
std::string rlimit_name(int resource) {
  switch (resource) {
    case RLIMIT_NOFILE:
      return "RLIMIT_NOFILE";
    case RLIMIT_NPROC:
      return "RLIMIT_NPROC";
    case RLIMIT_CORE:
      return "RLIMIT_CORE";
    case RLIMIT_AS:
      return "RLIMIT_AS";
    default:
      return "resource " + std::to_string(resource);
  }
}

/// The execve candidates for argv[0], as execvp would try them.
std::vector<std::string> exec_candidates(const std::string& file,
                                         const std::vector<std::string>& envp) {
  if (file.find('/') != std::string::npos || file.empty()) return {file};
  std::string_view path = kDefaultPath;
  for (const std::string& var : envp) {
    if (var.starts_with("PATH=")) {
      path = std::string_view(var).substr(5);
      break;
    }
  }
  std::vector<std::string> candidates;
  for (;;) {
    std::size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    std::string candidate(dir.empty() ? std::string_view(".") : dir);
    candidate += '/';
    candidate += file;
    candidates.push_back(std::move(candidate));
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return candidates;
}

/// Returns `fd` itself when it is >= 3, else a close-on-exec copy >= 3 kept
/// alive in `holder`: the child dup2's onto 0, 1 and 2, and a source among
/// them could be overwritten before its turn. -1 on failure (errno set).
int above_stdio(int fd, UniqueFd& holder) {
  if (fd >= 3) return fd;
  holder.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  return holder.get();
}

/// Blocks every signal, glibc's internal ones included, for the lifetime of
/// the object (the raw call: glibc's wrappers refuse to block those). A
/// CLONE_VM child inherits the full mask, so no signal handler of the parent
/// can run in it before it has reset all dispositions.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    unsigned long all = ~0UL;
    ::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &saved_, sizeof saved_);
  }
  ~AllSignalsBlocked() {
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &saved_, nullptr, sizeof saved_);
  }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  unsigned long saved_ = 0;
};

/// An anonymous mapping used as the child's stack, with a guard page at its
/// low end so an overflow faults instead of scribbling on our memory.
class ChildStack {
 public:
  ChildStack() {
    void* p = ::mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    ::mprotect(base_, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), PROT_NONE);
    unpoison();
  }
  ~ChildStack() {
    if (base_ == nullptr) return;
    unpoison();
    ::munmap(base_, kChildStackSize);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != nullptr; }
  /// The stack grows down: clone wants its highest address.
  void* top() const { return base_ + kChildStackSize; }
  /// clone3 wants its lowest address and size.
  void* base() const { return base_; }
  std::size_t size() const { return kChildStackSize; }
  /// ASan builds: the child's frames end in _exit, never unwinding, so
  /// their redzones would stay poisoned in the shared shadow memory and hit
  /// whoever maps this address next. Clear them before and after use.
  void unpoison() {
#if defined(__SANITIZE_ADDRESS__)
    if (base_ != nullptr) ASAN_UNPOISON_MEMORY_REGION(base_, kChildStackSize);
#endif
  }

 private:
  char* base_ = nullptr;
};

/// The spawn slots (reserve_spawn_slots()): stdin, stdout, stderr and the
/// exec-status pipe, in this order; -1 = not reserved.
struct SpawnSlots {
  bool tried = false;
  bool ok = false;
  int fds[4] = {-1, -1, -1, -1};
  int unshare_from = 0;  ///< above every slot
};
SpawnSlots g_slots;

int dup3_retry(int from, int to) {
  int r;
  while ((r = ::dup3(from, to, O_CLOEXEC)) < 0 && errno == EINTR) {
  }
  return r;
}

/// While alive, the spawn slots hold the child's four descriptors; /dev/null
/// goes back into them on release() (at the latest in the destructor), so
/// that the parent holds no extra reference to the child's pipes (the
/// status pipe's EOF needs it).
class SlotsInUse {
 public:
  explicit SlotsInUse(int dev_null) : dev_null_(dev_null) {}
  ~SlotsInUse() { release(); }
  SlotsInUse(const SlotsInUse&) = delete;
  SlotsInUse& operator=(const SlotsInUse&) = delete;

  /// dup3's `fd` into slot `i`; -1 on failure (errno set).
  int fill(int i, int fd) {
    filled_ = true;
    return dup3_retry(fd, g_slots.fds[i]);
  }
  void release() {
    if (!filled_) return;
    for (int fd : g_slots.fds) dup3_retry(dev_null_, fd);
    filled_ = false;
  }

 private:
  int dev_null_;
  bool filled_ = false;
};

/// clone3(CLONE_INTO_CGROUP | CLONE_VFORK | CLONE_PIDFD): glibc 2.36 has
/// no wrapper. With CLONE_VM (x86-64) the child starts on `stack` right
/// after the syscall instruction, with no frame to return to, so the raw
/// syscall below calls run_child(plan) there itself, as glibc's clone()
/// does; run_child never returns (it execs or _exits). Elsewhere the child
/// gets a copy of our memory instead (no CLONE_VM), returns from the
/// syscall as after fork and runs the same child code; that costs a copy
/// of minisupd's page tables per spawn. Either way CLONE_VFORK suspends us
/// until the child has exec'ed or exited, so the exec status is read
/// exactly as for clone(). Returns the pid, or -1 with errno set.
pid_t clone_into_cgroup(ChildPlan& plan, int cgroup_fd, int* pidfd, void* stack,
                        std::size_t stack_size) {
  struct clone_args args {};
  args.flags = CLONE_INTO_CGROUP | CLONE_VFORK | CLONE_PIDFD |
               (plan.unshare_from > 0 ? static_cast<std::uint64_t>(CLONE_FILES) : 0);
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
#if defined(__x86_64__)
  args.flags |= CLONE_VM;
  args.stack = reinterpret_cast<std::uint64_t>(stack);
  args.stack_size = stack_size;
  // rdi, rsi: the syscall's arguments; r12, r13 (kept across the syscall,
  // which clobbers only rax, rcx and r11): what the child calls.
  register long args_reg asm("rdi") = reinterpret_cast<long>(&args);
  register long size_reg asm("rsi") = static_cast<long>(sizeof args);
  register ChildPlan* plan_reg asm("r12") = &plan;
  register int (*entry_reg)(void*) noexcept asm("r13") = &detail::run_child;
  long result;
  asm volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      // The child, on its own stack (16-byte aligned; the call pushes the
      // return address as the ABI expects): the outermost frame.
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r12, %%rdi\n\t"
      "callq *%%r13\n\t"
      "movl $60, %%eax\n\t"  // SYS_exit(127): never reached
      "movl $127, %%edi\n\t"
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(result)
      : "0"(static_cast<long>(SYS_clone3)), "r"(args_reg), "r"(size_reg), "r"(plan_reg),
        "r"(entry_reg)
      : "rcx", "r11", "memory");
  if (result < 0) {
    errno = static_cast<int>(-result);
    return -1;
  }
  return static_cast<pid_t>(result);
#else
  (void)stack;
  (void)stack_size;
  const long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    detail::run_child(&plan);  // never returns
    ::_exit(127);
  }
  return static_cast<pid_t>(pid);
#endif
}

}  // namespace

bool reserve_spawn_slots() noexcept {
  if (g_slots.tried) return g_slots.ok;
  g_slots.tried = true;
  // The probe: with a private table (one thread) CLOSE_RANGE_UNSHARE
  // copies nothing, and the range holds no descriptor (~0U is above any).
  // Kernels before 5.9 answer ENOSYS or EINVAL.
  if (::close_range(~0U, ~0U, CLOSE_RANGE_UNSHARE) != 0) return false;
  const int dev_null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (dev_null < 0) return false;
  int highest = 0;
  for (int& slot : g_slots.fds) {
    // >= 3: the child dup2's the slots onto 0, 1 and 2.
    slot = ::fcntl(dev_null, F_DUPFD_CLOEXEC, 3);
    if (slot < 0) {
      for (int& taken : g_slots.fds) {
        if (taken >= 0) ::close(taken);
        taken = -1;
      }
      ::close(dev_null);
      return false;
    }
    highest = std::max(highest, slot);
  }
  ::close(dev_null);
  g_slots.unshare_from = highest + 1;
  g_slots.ok = true;
  return true;
}

std::variant<UserIds, std::string> resolve_user(const std::string& name) {
  long bufsize = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(bufsize > 0 ? static_cast<std::size_t>(bufsize) : 16384);
  struct passwd pwd;
  struct passwd* found = nullptr;
  uid_t numeric = 0;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, numeric);
  bool is_numeric = !name.empty() && ec == std::errc() && ptr == end;
  for (;;) {
    int err = is_numeric ? ::getpwuid_r(numeric, &pwd, buf.data(), buf.size(), &found)
                         : ::getpwnam_r(name.c_str(), &pwd, buf.data(), buf.size(), &found);
    if (err == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    // glibc documents these as other ways of saying "not found".
    if (err == ENOENT || err == ESRCH || err == EBADF || err == EPERM)
      found = nullptr;
    else if (err != 0)
      return failure("user = " + name + ": " + (is_numeric ? "getpwuid_r" : "getpwnam_r"), "", err);
    break;
  }
  if (found == nullptr) return "user = " + name + ": no such user";

  UserIds ids;
  ids.uid = pwd.pw_uid;
  ids.gid = pwd.pw_gid;
  ids.name = pwd.pw_name;
  ids.home = pwd.pw_dir != nullptr ? pwd.pw_dir : "";

  uid_t self = ::geteuid();
  if (self != 0) {
    if (ids.uid != self)
      return "user = " + name + " needs root (minisupd runs as uid " + std::to_string(self) + ")";
    return ids;  // already that user: nothing to switch
  }

  int count = 32;
  for (;;) {
    ids.groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(pwd.pw_name, pwd.pw_gid, ids.groups.data(), &n) >= 0) {
      ids.groups.resize(static_cast<std::size_t>(n));
      break;
    }
    count = n > count ? n : count * 2;  // n holds the needed size
  }
  return ids;
}

struct rlimit raise_nofile_limit() noexcept {
  struct rlimit before = {};
  if (::getrlimit(RLIMIT_NOFILE, &before) != 0) return before;
  if (before.rlim_cur < before.rlim_max) {
    struct rlimit raised = {before.rlim_max, before.rlim_max};
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  return before;
}

std::variant<SpawnedChild, std::string> spawn_process(const SpawnRequest& request) {
  if (request.argv.empty()) return std::string("exec: empty command");

  // Everything the child reads is built here, before clone.
  std::vector<char*> argv;
  argv.reserve(request.argv.size() + 1);
  for (const std::string& arg : request.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(request.envp.size() + 1);
  for (const std::string& var : request.envp) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  // LISTEN_PID: a copy of the entry ("LISTEN_PID=") with room for the
  // digits the child writes (write_decimal: up to 20 and a NUL), owned by
  // this call; envp points at it instead of the request's string.
  std::vector<char> pid_entry;
  char* pid_slot = nullptr;
  if (request.own_pid_env >= 0 &&
      static_cast<std::size_t>(request.own_pid_env) < request.envp.size()) {
    const std::string& entry = request.envp[static_cast<std::size_t>(request.own_pid_env)];
    const std::size_t equals = entry.find('=');
    if (equals != std::string::npos) {
      pid_entry.assign(equals + 1 + 21, '\0');
      std::copy(entry.begin(), entry.begin() + static_cast<std::ptrdiff_t>(equals + 1),
                pid_entry.begin());
      pid_slot = pid_entry.data() + equals + 1;
      envp[static_cast<std::size_t>(request.own_pid_env)] = pid_entry.data();
    }
  }
  if (request.listen_fds.size() > detail::kMaxListenFds)
    return failure("dup2", "held sockets", EMFILE);
  std::vector<std::string> candidates = exec_candidates(request.argv[0], request.envp);
  std::vector<const char*> exec_paths;
  exec_paths.reserve(candidates.size() + 1);
  for (const std::string& c : candidates) exec_paths.push_back(c.c_str());
  exec_paths.push_back(nullptr);

  UniqueFd dev_null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!dev_null) return failure("open", "/dev/null", errno);
  int status_fds[2];
  if (::pipe2(status_fds, O_CLOEXEC) != 0) return failure("pipe2", "", errno);
  UniqueFd status_read(status_fds[0]);
  UniqueFd status_write(status_fds[1]);

  UniqueFd holders[4];
  int stdin_fd = above_stdio(dev_null.get(), holders[0]);
  int stdout_fd =
      above_stdio(request.stdout_fd >= 0 ? request.stdout_fd : dev_null.get(), holders[1]);
  int stderr_fd =
      above_stdio(request.stderr_fd >= 0 ? request.stderr_fd : dev_null.get(), holders[2]);
  int status_fd = above_stdio(status_write.get(), holders[3]);
  if (stdin_fd < 0 || stdout_fd < 0 || stderr_fd < 0 || status_fd < 0)
    return failure("fcntl(F_DUPFD_CLOEXEC)", "", errno);

  ChildPlan plan{};
  plan.exec_paths = exec_paths.data();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.stdin_fd = stdin_fd;
  plan.stdout_fd = stdout_fd;
  plan.stderr_fd = stderr_fd;
  plan.status_fd = status_fd;
  // With spawn slots the child gets its descriptors there, and a table of
  // its own with nothing else (see spawn.h).
  SlotsInUse slots(dev_null.get());
  if (g_slots.ok) {
    const int sources[4] = {stdin_fd, stdout_fd, stderr_fd, status_fd};
    for (int i = 0; i < 4; ++i) {
      if (slots.fill(i, sources[i]) < 0) return failure("dup3", "spawn slot", errno);
    }
    plan.stdin_fd = g_slots.fds[0];
    plan.stdout_fd = g_slots.fds[1];
    plan.stderr_fd = g_slots.fds[2];
    plan.status_fd = g_slots.fds[3];
    plan.unshare_from = g_slots.unshare_from;
  }
  plan.listen_fds = request.listen_fds.data();
  plan.listen_fd_count = request.listen_fds.size();
  plan.pid_slot = pid_slot;
  // The child's private table (spawn slots) keeps the descriptors below
  // unshare_from: the held sockets must be among them. minisupd binds them
  // early, so they are low and this copies little.
  if (plan.unshare_from > 0) {
    for (int fd : request.listen_fds) plan.unshare_from = std::max(plan.unshare_from, fd + 1);
  }
  plan.directory = request.directory ? request.directory->c_str() : nullptr;
  plan.set_umask = request.umask.has_value();
  plan.umask = request.umask.value_or(0);
  std::vector<detail::ChildRlimit> rlimits;
  rlimits.reserve(request.rlimits.size());
  for (const SpawnRlimit& r : request.rlimits) rlimits.push_back({r.resource, r.soft, r.hard});
  plan.rlimits = rlimits.data();
  plan.rlimit_count = rlimits.size();
  plan.death_signal = request.death_signal;
  plan.parent_pid = ::getpid();
  if (request.user) {
    // Not root and already this user (resolve_user allowed it): no switch.
    // Otherwise try, and let the kernel say no (`setuid 1000: ...`).
    plan.switch_user = ::geteuid() == 0 || request.user->uid != ::geteuid();
    plan.uid = request.user->uid;
    plan.gid = request.user->gid;
    plan.groups = request.user->groups.data();
    plan.group_count = request.user->groups.size();
  }

  // One stack serves every spawn (minisupd is single-threaded and the
  // child is done with it when clone returns); mapped on first use.
  static ChildStack stack;
  if (!stack.ok()) return failure("mmap", "child stack", errno);
  stack.unpoison();

  int pidfd = -1;
  pid_t pid;
  int clone_errno = 0;
  if (request.cgroup_fd >= 0) {
    AllSignalsBlocked blocked;
    pid = clone_into_cgroup(plan, request.cgroup_fd, &pidfd, stack.base(), stack.size());
    if (pid < 0) clone_errno = errno;
  } else {
    AllSignalsBlocked blocked;
    // CLONE_VFORK: we resume only once the child has exec'ed or exited.
    // CLONE_PIDFD: the kernel stores a close-on-exec pidfd in `pidfd`.
    // SIGCHLD: the exit is reported like any child's.
    // CLONE_FILES (with spawn slots): the child shares our descriptor
    // table until it takes a small one of its own (child_exec.cc).
    const int flags =
        CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD | (plan.unshare_from > 0 ? CLONE_FILES : 0);
    pid = ::clone(detail::run_child, stack.top(), flags, &plan, &pidfd);
    if (pid < 0) clone_errno = errno;
  }
  slots.release();
  if (pid < 0)
    return failure(request.cgroup_fd >= 0 ? "clone3 into cgroup" : "clone", "", clone_errno);
  UniqueFd pidfd_owner(pidfd);

  // Only the child may keep the write end: then EOF below means "exec'ed".
  status_write.reset();
  holders[3].reset();

  ChildStatus status{};
  std::size_t got = 0;
  while (got < sizeof status) {
    ssize_t n =
        ::read(status_read.get(), reinterpret_cast<char*>(&status) + got, sizeof status - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == 0) return SpawnedChild{pid, std::move(pidfd_owner)};

  // The child has _exit'ed (or is about to): reap it now, so no zombie
  // stays and nobody ever signals this pid.
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (got < sizeof status || status.step < 0 || status.step >= detail::kChildStepCount)
    return std::string("exec ") + request.argv[0] + ": child failed before exec";

  std::string object;
  switch (status.step) {
    case detail::kStepStdin:
      object = "stdin";
      break;
    case detail::kStepStdout:
      object = "stdout";
      break;
    case detail::kStepStderr:
      object = "stderr";
      break;
    case detail::kStepRlimit:
      object = rlimit_name(status.candidate);
      break;
    case detail::kStepSetgroups:
      object = request.user->name;
      break;
    case detail::kStepSetgid:
      object = std::to_string(request.user->gid);
      break;
    case detail::kStepSetuid:
      object = std::to_string(request.user->uid);
      break;
    case detail::kStepChdir:
      object = *request.directory;
      break;
    case detail::kStepExec:
      object =
          status.candidate >= 0 && static_cast<std::size_t>(status.candidate) < candidates.size()
              ? candidates[static_cast<std::size_t>(status.candidate)]
              : request.argv[0];
      break;
    default:
      break;
  }
  return failure(detail::kChildStepNames[status.step], object, status.error);
}

}  // namespace minisup::sys
