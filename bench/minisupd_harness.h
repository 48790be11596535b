// A harness for benchmarks that drive the real minisupd: a temporary
// directory, a minisupd process started on a generated config, a raw client
// of its control socket (one JSON line each way, as the protocol says),
// readings from /proc/PID/status and a few statistics helpers.
//
// Model: everything a bench creates is owned by an RAII object and undone
// in its destructor, also when the bench throws: Daemon stops its minisupd
// gracefully (SIGTERM, then SIGKILL to minisupd and to the process groups
// of the children it reported), TempDir removes its directory. minisupd is
// started with PR_SET_PDEATHSIG = SIGTERM, so a bench killed from outside
// still makes it shut down its children. The header is included by several
// bench/*.cc files, each a program of its own, so everything here is inline.
//
// The binaries are those of the same build (MINISUPD_PATH, MINISUPCTL_PATH)
// unless the environment names others: MINISUPD=/path/minisupd and
// MINISUPCTL=/path/minisupctl run the benches against another build (e.g.
// an older commit's, for before/after figures).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace minisup::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// The minisupd binary to run: $MINISUPD, else the one of this build.
inline const char* minisupd_path() {
  const char* env = std::getenv("MINISUPD");
  return env != nullptr && env[0] != '\0' ? env : MINISUPD_PATH;
}

/// The minisupctl binary to run: $MINISUPCTL, else the one of this build.
inline const char* minisupctl_path() {
  const char* env = std::getenv("MINISUPCTL");
  return env != nullptr && env[0] != '\0' ? env : MINISUPCTL_PATH;
}

/// Milliseconds from `from` to `to` as a double.
inline double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// "<what>: <strerror(errno)>" as a std::runtime_error.
inline std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// The q-quantile (0 <= q <= 1) of `values`, nearest rank; 0 when empty.
inline double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}
inline double median(const std::vector<double>& values) { return quantile(values, 0.5); }
inline double minimum(const std::vector<double>& values) { return quantile(values, 0); }
inline double maximum(const std::vector<double>& values) { return quantile(values, 1); }

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// The number in the line `key:` of /proc/PID/status (kB for Vm* keys);
/// throws when the process or the key is not there.
inline long proc_status_value(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in)
    throw std::runtime_error("open /proc/" + std::to_string(pid) + "/status: no such process");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0)
      return std::stol(line.substr(key.size() + 1));
  }
  throw std::runtime_error("/proc/" + std::to_string(pid) + "/status: no " + key);
}

/// Voluntary plus involuntary context switches of `pid` so far: each one
/// is a time the process went to sleep or was preempted, i.e. a wakeup.
inline long context_switches(pid_t pid) {
  return proc_status_value(pid, "voluntary_ctxt_switches") +
         proc_status_value(pid, "nonvoluntary_ctxt_switches");
}

/// CPU time `pid` (its main thread; minisupd has no other) has used so
/// far, in ms: the scheduler's exact figure from /proc/PID/schedstat, else
/// utime + stime from /proc/PID/stat (clock-tick resolution, 10 ms). Under
/// load, CPU time is the steadier figure: wall time then mostly measures
/// the wait for a core.
inline double process_cpu_ms(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(dir + "/schedstat");
    unsigned long long on_cpu_ns = 0;
    if (in >> on_cpu_ns) return static_cast<double>(on_cpu_ns) / 1e6;
  }
  std::ifstream in(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) throw std::runtime_error(dir + "/stat: unreadable");
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3.. follow the name; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// CPU time (user + system) of this process so far, in ms (microseconds
/// resolution).
inline double self_cpu_ms() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

/// The first three fields of /proc/loadavg ("1.02 0.87 0.55"): the figures
/// of a bench depend on what else the machine runs.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// True when `pid` ignores `signal` (the SigIgn mask of /proc/PID/status).
inline bool ignores_signal(pid_t pid, int signal) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigIgn:", 0) == 0) {
      unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (signal - 1)) & 1ULL;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Running a command
// ---------------------------------------------------------------------------

/// Wall-clock and CPU time of one command run, in ms.
struct ProcessRun {
  double wall = 0;
  double cpu = 0;  ///< the command's own user + system time (its rusage)
  int code = 0;    ///< exit code, or 128 + signal
};

/// Runs `args` (args[0] a path) with stdin, stdout and stderr on /dev/null
/// and waits; returns the time from the spawn to its exit and its CPU time;
/// throws when it does not exit with one of `ok`. posix_spawn (glibc:
/// clone(CLONE_VM | CLONE_VFORK)), not fork(): a fork of this bench, which
/// holds the status of 10,000 processes, would copy its page tables, and
/// the child's exec would then tear them down on the command's clock; a
/// shell starting minisupctl is small.
inline ProcessRun run_process(const std::vector<std::string>& args, std::initializer_list<int> ok) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0);
  ::posix_spawn_file_actions_adddup2(&actions, 0, 1);
  ::posix_spawn_file_actions_adddup2(&actions, 0, 2);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    errno = spawned;
    throw sys_error("posix_spawn " + args[0]);
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw sys_error("wait4");
  }
  const double ms = ms_between(t0, Clock::now());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (std::find(ok.begin(), ok.end(), code) == ok.end()) {
    throw std::runtime_error(args[0] + " exited with " + std::to_string(code));
  }
  auto cpu = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  return {ms, cpu(usage.ru_utime) + cpu(usage.ru_stime), code};
}

/// Raises this process's RLIMIT_NOFILE (which minisupd inherits) to at
/// least `wanted` descriptors when it can: the soft limit up to the hard
/// one, and as root the hard one too (up to /proc/sys/fs/nr_open). Returns
/// the soft limit in force afterwards.
inline rlim_t raise_nofile_limit(rlim_t wanted) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return 0;
  if (files.rlim_max < wanted && ::geteuid() == 0) {
    rlim_t nr_open = wanted;
    std::ifstream in("/proc/sys/fs/nr_open");
    if (in >> nr_open) nr_open = std::min(nr_open, wanted);
    rlimit raised{nr_open, nr_open};
    if (nr_open > files.rlim_max && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  ::getrlimit(RLIMIT_NOFILE, &files);
  return files.rlim_cur;
}

// ---------------------------------------------------------------------------
// TempDir
// ---------------------------------------------------------------------------

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "minisup-bench") {
    std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw sys_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// Writes `text` to `file` (replacing it); throws on failure.
inline void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("write " + file.string() + ": failed");
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// One blocking connection to minisupd's control socket.
class Client {
 public:
  /// Connects to `socket`; throws on failure.
  explicit Client(const fs::path& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw sys_error("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = socket.string();
    if (path.size() >= sizeof(addr.sun_path))
      throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int saved = errno;
      ::close(fd_);
      errno = saved;
      throw sys_error("connect " + path);
    }
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Writes `line` and '\n'.
  void send_line(const std::string& line) {
    std::string data = line + "\n";
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw sys_error("write to minisupd");
      }
      done += static_cast<std::size_t>(n);
    }
  }

  /// The next reply line (without '\n'); throws on EOF, error, or when
  /// nothing complete arrived within `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto nl = buffer_.find('\n', scanned_);
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        return line;
      }
      scanned_ = buffer_.size();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) throw std::runtime_error("no reply from minisupd in time");
      pollfd pfd{fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) throw sys_error("poll");
      if (ready <= 0) continue;
      char chunk[65536];
      ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw sys_error("read from minisupd");
      }
      if (n == 0) throw std::runtime_error("minisupd closed the connection");
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Sends `request` and returns the parsed reply; throws when it is not ok.
  json request(const json& request, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    send_line(request.dump());
    json reply = json::parse(read_line(timeout));
    if (!reply.value("ok", false)) throw std::runtime_error("minisupd: " + reply.dump());
    return reply;
  }

 private:
  int fd_ = -1;
  std::string buffer_;
  std::size_t scanned_ = 0;
};

// ---------------------------------------------------------------------------
// Daemon
// ---------------------------------------------------------------------------

/// A minisupd running in the foreground on `config`, its stdout and stderr
/// going to `output`.
class Daemon {
 public:
  /// Starts minisupd and waits (up to 10 s) until its socket accepts.
  Daemon(const fs::path& config, const fs::path& socket, const fs::path& output) : socket_(socket) {
    started_ = Clock::now();
    pid_ = ::fork();
    if (pid_ < 0) throw sys_error("fork");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null >= 0) ::dup2(null, 0);
      const char* path = minisupd_path();
      ::execl(path, path, "-c", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      try {
        Client probe(socket_);
        break;
      } catch (const std::exception&) {
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("minisupd exited at start; see " + output.string());
      }
      if (Clock::now() > deadline) {
        stop_hard();
        throw std::runtime_error("minisupd's socket did not come up; see " + output.string());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  ~Daemon() {
    if (pid_ > 0) {
      try {
        terminate(std::chrono::seconds(15));
      } catch (...) {
      }
      if (pid_ > 0) stop_hard();
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  const fs::path& socket() const { return socket_; }
  /// When fork() returned, i.e. (almost) when minisupd was exec'ed.
  Clock::time_point started() const { return started_; }

  /// A new connection to this minisupd.
  Client connect() const { return Client(socket_); }

  /// `status` of every process; also remembers their pids for a hard stop.
  json status() {
    Client client(socket_);
    json reply = client.request({{"cmd", "status"}});
    remember_pids(reply);
    return reply;
  }

  /// Waits until every process is RUNNING (a `wait all` request).
  void wait_all_running(double timeout_seconds = 60) {
    Client client(socket_);
    client.request({{"cmd", "wait"}, {"names", {"all"}}, {"timeout", timeout_seconds}},
                   std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000) + 5000));
    status();
  }

  /// SIGTERM to minisupd, then waits for it to exit. Returns the time from
  /// the signal to waitpid() returning, in ms; throws if it takes longer
  /// than `limit` (minisupd is left running for the destructor).
  double terminate(std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    if (pid_ <= 0) throw std::runtime_error("minisupd is not running");
    const double cpu_before = process_cpu_ms(pid_);
    const auto t0 = Clock::now();
    if (::kill(pid_, SIGTERM) != 0) throw sys_error("kill minisupd");
    for (;;) {
      // WNOWAIT: see the exit but leave the zombie, whose /proc entry still
      // holds its CPU time (wait4's rusage would add its reaped children's).
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid_) {
        const double elapsed = ms_between(t0, Clock::now());
        try {
          shutdown_cpu_ms_ = process_cpu_ms(pid_) - cpu_before;
        } catch (const std::exception&) {
          shutdown_cpu_ms_ = -1;
        }
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        exit_status_ = status;
        return elapsed;
      }
      if (Clock::now() - t0 > limit) throw std::runtime_error("minisupd did not exit in time");
      // A short sleep: a blocking waitpid() cannot time out, and a 50 us
      // poll bounds the measurement error well below what it measures.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  /// minisupd's wait status after terminate() (for its exit code).
  int exit_status() const { return exit_status_; }
  /// The CPU time minisupd used from terminate()'s SIGTERM to its exit, in
  /// ms (read from its zombie's /proc entry); -1 when unreadable.
  double shutdown_cpu_ms() const { return shutdown_cpu_ms_; }

 private:
  void remember_pids(const json& reply) {
    for (const auto& p : reply.value("processes", json::array())) {
      int pid = p.value("pid", 0);
      if (pid > 0) known_pids_.insert(pid);
    }
  }

  /// SIGKILL to minisupd and to every child group it reported.
  void stop_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    for (int pid : known_pids_) ::kill(-pid, SIGKILL);
  }

  fs::path socket_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
  double shutdown_cpu_ms_ = 0;
  Clock::time_point started_;
  std::set<int> known_pids_;
};

// ---------------------------------------------------------------------------
// The summary table a bench prints at the end
// ---------------------------------------------------------------------------

/// One line of the final table.
struct ReportRow {
  std::string what;
  std::string measured;
  std::string target;
  std::string verdict;  ///< "ok", "MISSED", or "-" (no target)
};

inline std::vector<ReportRow> g_rows;

inline void add_row(std::string what, std::string measured, std::string target = "-",
                    std::optional<bool> met = std::nullopt) {
  g_rows.push_back({std::move(what), std::move(measured), std::move(target),
                    met ? (*met ? "ok" : "MISSED") : "-"});
}

inline void print_table() {
  std::size_t w0 = 11, w1 = 8, w2 = 6;
  for (const auto& r : g_rows) {
    w0 = std::max(w0, r.what.size());
    w1 = std::max(w1, r.measured.size());
    w2 = std::max(w2, r.target.size());
  }
  std::cout << '\n'
            << fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", "measurement", w0, "measured", w1,
                           "target", w2, "verdict")
            << std::string(w0 + w1 + w2 + 14, '-') << '\n';
  for (const auto& r : g_rows) {
    std::cout << fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", r.what, w0, r.measured, w1, r.target,
                             w2, r.verdict);
  }
}

}  // namespace minisup::bench
