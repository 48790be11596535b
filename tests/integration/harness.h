// Integration-test harness: a real minisupd in a temporary directory, driven
// through the real minisupctl and the raw control socket.
//
// Typical use:
//   Daemon d(R"([program.sleeper]
//   command = ["sleep", "60"]
//   startsecs = 0.1
//   )");
//   d.start();                                   // waits for the socket
//   EXPECT_EQ(d.ctl({"wait", "sleeper", "--timeout", "5"}).code, 0);
//   auto r = d.ctl({"stop", "sleeper"});
//   EXPECT_THAT(r.out, HasSubstr("sleeper: stopped"));
//   EXPECT_EQ(d.stop(), 0);                      // SIGTERM, wait for exit
//
// Nothing here sleeps for a fixed time to "let things happen": waits poll a
// condition with a generous deadline.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace minisup::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// Path of a helper child program built from tests/helpers/NAME.cc.
inline std::string helper(const std::string& name) {
  return std::string(MINISUP_HELPERS_DIR) + "/" + name;
}

/// `command = "test_child FLAGS"` as a TOML line (tests/helpers/test_child).
inline std::string child_cmd(const std::string& flags) {
  return fmt::format("command = \"{} {}\"\n", helper("test_child"), flags);
}

/// A [program.NAME] table running test_child for a minute, RUNNING at once
/// (startsecs = 0), then the TOML lines `extra`. Without a TERM handler: its
/// stop signal kills it. `stopwaitsecs` is written as given (seconds);
/// nullopt writes no stopwaitsecs line, so the default applies.
inline std::string sleeper(const std::string& name, const std::string& extra = "",
                           std::optional<int> stopwaitsecs = 2) {
  const std::string stopwait =
      stopwaitsecs ? fmt::format("stopwaitsecs = {}\n", *stopwaitsecs) : std::string();
  return fmt::format("[program.{}]\n{}startsecs = 0\n{}{}", name, child_cmd("--after 60"), stopwait,
                     extra);
}

/// A `command = ["/bin/sh", "-c", SCRIPT]` line; SCRIPT must not contain
/// TOML escapes (it is put in a literal '...' string).
inline std::string sh_cmd(const std::string& script) {
  return fmt::format("command = [\"/bin/sh\", \"-c\", '{}']\n", script);
}

/// Reads a whole file; empty when missing.
inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

/// True once `pid` ignores SIGTERM (its SigIgn mask in /proc/PID/status). A
/// helper started with --ignore-term is only stubborn from then on: stopping
/// it before that kills it gracefully.
inline bool ignores_sigterm(pid_t pid) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigIgn:", 0) != 0) continue;
    const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return ((mask >> (SIGTERM - 1)) & 1) != 0;
  }
  return false;
}

/// True while a process with this pid exists (and is not a zombie).
inline bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  std::string status = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (status.empty()) return false;
  auto close = status.rfind(')');
  return close != std::string::npos && close + 2 < status.size() && status[close + 2] != 'Z';
}

/// The outcome of one command run to completion.
struct CommandResult {
  int code = -1;    ///< exit code, or 128 + signal
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs argv (argv[0] a path), with `extra_env` added, and captures output.
inline CommandResult run_command(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env = {},
                                 std::chrono::seconds timeout = 60s) {
  char out_template[] = "/tmp/minisup-test-out-XXXXXX";
  char err_template[] = "/tmp/minisup-test-err-XXXXXX";
  int out_fd = mkstemp(out_template);
  int err_fd = mkstemp(err_template);
  // Everything the child needs is made before fork(): tests run commands
  // from several threads (std::async), and a child forked while another
  // thread held the allocator's lock would hang in malloc (putenv, a
  // vector) instead of exec'ing. The child only calls async-signal-safe
  // functions.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool overridden = std::any_of(extra_env.begin(), extra_env.end(), [&](const auto& kv) {
      return std::string_view(kv).substr(0, kv.find('=')) == name;
    });
    if (!overridden) env.push_back(*e);
  }
  for (const auto& kv : extra_env) env.push_back(const_cast<char*>(kv.c_str()));
  env.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_template);
  result.err = read_file(err_template);
  unlink(out_template);
  unlink(err_template);
  return result;
}

/// A connection to the control socket speaking raw protocol lines.
class RawClient {
 public:
  explicit RawClient(const fs::path& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("connect " + socket.string() + ": " + std::strerror(errno));
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  /// Sends bytes as they are (no newline added).
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  /// Sends one request object as a line.
  bool send(const nlohmann::json& request) { return send_raw(request.dump() + "\n"); }

  /// Reads one reply line; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto pos = buffer_.find('\n');
      if (pos != std::string::npos) {
        std::string line = buffer_.substr(0, pos);
        buffer_.erase(0, pos + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      timeval tv{static_cast<time_t>(left.count() / 1000),
                 static_cast<suseconds_t>((left.count() % 1000) * 1000)};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  /// Reads one reply and parses it; a null json on EOF/timeout.
  nlohmann::json read_json(std::chrono::milliseconds timeout = 10s) {
    auto line = read_line(timeout);
    if (!line) return nullptr;
    return nlohmann::json::parse(*line);
  }
  /// Sends a request and reads its reply.
  nlohmann::json call(const nlohmann::json& request, std::chrono::milliseconds timeout = 10s) {
    send(request);
    return read_json(timeout);
  }
  /// True when the server closed the connection (reads EOF within timeout).
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      timeval tv{0, 100000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    }
    return false;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

/// The cgroup directory a minisupd started by this test process would keep
/// its cgroups in for `socket` (DESIGN.md "Whole process trees": below its
/// own cgroup, which is ours, "minisup-" and an FNV-1a hash of the socket
/// path); empty when there is no cgroup2 mount.
inline fs::path minisup_cgroup_dir(const fs::path& socket) {
  std::string mount;
  for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    if (fs::exists(fs::path(candidate) / "cgroup.procs")) mount = candidate;
    if (!mount.empty()) break;
  }
  if (mount.empty()) return {};
  std::istringstream cgroups(read_file("/proc/self/cgroup"));
  std::string own;
  for (std::string line; std::getline(cgroups, line);) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : socket.string()) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char name[40];
  std::snprintf(name, sizeof name, "minisup-%016llx", static_cast<unsigned long long>(hash));
  return fs::path(mount + own) / name;
}

/// Kills everything in a cgroup directory of minisupd's and removes it (a
/// test's minisupd that was killed outright leaves it behind).
inline void remove_minisup_cgroup(const fs::path& dir) {
  std::error_code ec;
  if (dir.empty() || !fs::exists(dir, ec)) return;
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory()) children.push_back(entry.path());
  }
  for (const fs::path& child : children) {
    write_file(child / "cgroup.kill", "1");
    eventually(
        [&] { return read_file(child / "cgroup.events").find("populated 0") != std::string::npos; },
        2s);
    ::rmdir(child.c_str());
  }
  ::rmdir(dir.c_str());
}

/// A minisupd under test, in its own temporary directory.
class Daemon {
 public:
  /// Creates a temp dir and writes `programs` (TOML: [program.*] tables,
  /// and optionally a [supervisor] table at the top) as minisup.toml.
  explicit Daemon(const std::string& config_text = "") {
    char dir_template[] = "/tmp/minisup-it-XXXXXX";
    dir_ = mkdtemp(dir_template);
    if (!config_text.empty()) write_config(config_text);
  }
  ~Daemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
      // What it kept in cgroups would outlive it (and the test run).
      remove_minisup_cgroup(minisup_cgroup_dir(socket_path()));
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  const fs::path& dir() const { return dir_; }
  fs::path config_path() const { return dir_ / "minisup.toml"; }
  fs::path socket_path() const { return dir_ / "minisup.sock"; }
  fs::path log_path() const { return dir_ / "minisupd.log"; }
  fs::path stdout_path() const { return dir_ / "minisupd.stdout"; }
  pid_t pid() const { return pid_; }

  void write_config(const std::string& text) { write_file(config_path(), text); }

  /// Starts minisupd (foreground) and waits until its socket answers.
  /// `loglevel` debug makes the log useful when a test fails.
  void start(const std::vector<std::string>& extra_args = {}) {
    launch(extra_args);
    bool up = eventually([&] {
      if (!running()) return true;
      try {
        RawClient probe(socket_path());
        return true;
      } catch (...) {
        return false;
      }
    });
    if (!up || !running()) {
      throw std::runtime_error("minisupd did not come up; log:\n" + log());
    }
  }

  /// Starts minisupd (foreground) without waiting for its socket: for
  /// tests where minisupd may end by itself at once (shutdown_on).
  void launch(const std::vector<std::string>& extra_args = {}) {
    exit_code_.reset();  // a start after wait_exit() is a new minisupd
    // Made before fork(): the child only calls async-signal-safe functions
    // (see run_command()).
    const std::string out_path = stdout_path().string();
    const std::string err_path = log_path().string();
    std::vector<std::string> args{MINISUPD_PATH, "-c", config_path().string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      int null_fd = open("/dev/null", O_RDONLY);
      dup2(null_fd, 0);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  /// True while minisupd has not exited (reaps it when it has).
  bool running() {
    if (pid_ <= 0) return false;
    if (exit_code_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }

  /// Waits for minisupd to exit and returns its exit code (-1 on timeout).
  int wait_exit(std::chrono::milliseconds timeout = 30s) {
    if (!eventually([&] { return !running(); }, timeout)) return -1;
    int code = exit_code_.value_or(-1);
    pid_ = -1;
    return code;
  }

  /// Sends `sig` to minisupd.
  void signal(int sig) { kill(pid_, sig); }

  /// Graceful stop: SIGTERM, then the exit code.
  int stop(std::chrono::milliseconds timeout = 30s) {
    if (pid_ <= 0) return -1;
    signal(SIGTERM);
    return wait_exit(timeout);
  }

  /// Runs minisupctl -s SOCKET ARGS... and returns its outcome.
  CommandResult ctl(const std::vector<std::string>& args,
                    const std::vector<std::string>& extra_env = {}) const {
    std::vector<std::string> argv{MINISUPCTL_PATH, "-s", socket_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, extra_env);
  }

  /// `minisupctl --json status` parsed; the array of process objects.
  nlohmann::json status_json() const {
    CommandResult r = ctl({"--json", "status"});
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      return nlohmann::json::array();
    }
  }

  /// The status object of one process (null when absent).
  nlohmann::json process(const std::string& name) const {
    for (const auto& p : status_json()) {
      if (p.value("name", "") == name) return p;
    }
    return nullptr;
  }

  /// The current state name of one process ("" when absent).
  std::string state(const std::string& name) const {
    auto p = process(name);
    return p.is_null() ? "" : p.value("state", "");
  }

  /// Polls until `name` is in `state`.
  bool wait_state(const std::string& name, const std::string& state,
                  std::chrono::milliseconds timeout = 10s) const {
    return eventually([&] { return this->state(name) == state; }, timeout);
  }

  /// Waits until `name` is RUNNING and its process ignores SIGTERM (see
  /// ignores_sigterm()).
  bool wait_stubborn(const std::string& name, std::chrono::milliseconds timeout = 10s) const {
    return eventually(
        [&] {
          if (this->state(name) != "RUNNING") return false;
          const nlohmann::json p = process(name);
          return p.is_object() && p.contains("pid") && p["pid"].is_number_integer() &&
                 ignores_sigterm(p["pid"].get<pid_t>());
        },
        timeout);
  }

  /// minisupd's own log so far.
  std::string log() const { return read_file(log_path()); }
  /// What minisupd wrote to its stdout (console-mode child output).
  std::string console() const { return read_file(stdout_path()); }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

/// The "process trees: ..." line of `minisupd --check` for `mode`.
inline std::string trees_line(const std::string& mode) {
  Daemon probe("[supervisor]\nprocess_tree = \"" + mode + "\"\n");
  CommandResult r =
      run_command({MINISUPD_PATH, "-c", probe.config_path().string(), "--check"}, {}, 30s);
  const auto at = r.out.find("process trees: ");
  if (at == std::string::npos) return r.err.empty() ? r.out : r.err;
  return r.out.substr(at, r.out.find('\n', at) - at);
}

/// Empty when cgroups can be used here, else why not.
inline std::string why_no_cgroups() {
  static const std::string why = [] {
    const std::string line = trees_line("auto");
    return line.rfind("process trees: cgroup v2", 0) == 0 ? std::string() : line;
  }();
  return why;
}

}  // namespace minisup::testing
