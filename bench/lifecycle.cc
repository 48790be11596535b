// How fast and how quietly the real minisupd runs programs: spawning 1,000
// of them next to a bare fork/exec loop, SIGKILL escalation accuracy, idle
// wakeups, memory with 1,000 programs, shutdown time with 100, and restart
// latency. Every figure comes from the minisupd binary driven over its
// control socket, in a temporary directory; the report ends with a table of
// figures and targets (README.md "Performance", bench/README.md).
//
// Run: build/bench/bench_lifecycle [--programs N] [--only LETTERS]
//   --programs N   programs for the spawn and memory parts (default 1000)
//   --only LETTERS run only these parts, e.g. --only ad (a = spawn,
//                  b = SIGKILL escalation, c = idle wakeups, d = memory
//                  (needs a), e = shutdown, f = restart latency)
//
// The whole run takes about a minute. Each part is described where it is
// measured, below. Every process started is stopped and every temporary
// directory removed, also when a part fails.
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/minisupd_harness.h"

extern char** environ;

namespace {

using namespace minisup::bench;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

/// One line of the final table.
struct Row {
  std::string what;
  std::string measured;
  std::string target;
  std::string verdict;  ///< "ok", "MISSED", or "-" (no target)
};

std::vector<Row> g_rows;

void add_row(std::string what, std::string measured, std::string target = "-",
             std::optional<bool> met = std::nullopt) {
  g_rows.push_back({std::move(what), std::move(measured), std::move(target),
                    met ? (*met ? "ok" : "MISSED") : "-"});
}

void print_table() {
  std::size_t w0 = 11, w1 = 8, w2 = 6;
  for (const auto& r : g_rows) {
    w0 = std::max(w0, r.what.size());
    w1 = std::max(w1, r.measured.size());
    w2 = std::max(w2, r.target.size());
  }
  std::cout << '\n'
            << fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", "measurement", w0, "measured", w1, "target",
                           w2, "verdict")
            << std::string(w0 + w1 + w2 + 14, '-') << '\n';
  for (const auto& r : g_rows) {
    std::cout << fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", r.what, w0, r.measured, w1, r.target, w2,
                             r.verdict);
  }
}

std::string ms_text(double ms) { return fmt::format("{:.2f} ms", ms); }

// ---------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------

const char* const kSleepCommand = R"(["/bin/sleep", "3600"])";

/// The [supervisor] table: socket, log and child logs inside `dir`.
std::string supervisor_table(const TempDir& dir) {
  return fmt::format(
      "[supervisor]\nsocket = \"{}\"\nlogfile = \"{}\"\nloglevel = \"info\"\nchildlogdir = \"{}\"\n\n",
      (dir / "minisup.sock").string(), (dir / "minisupd.log").string(), (dir / "logs").string());
}

/// `count` programs p0000, p0001, ... each with the keys in `body`.
std::string programs(int count, const std::string& body) {
  std::string out;
  for (int i = 0; i < count; ++i) out += fmt::format("[program.p{:04d}]\n{}\n", i, body);
  return out;
}

/// The keys of a `sleep 3600` program; `logs` is "NONE" or "AUTO".
std::string sleeper(bool autostart, const std::string& logs) {
  return fmt::format(
      "command = {}\nstartsecs = 0\nautostart = {}\nstdout_logfile = \"{}\"\nstderr_logfile = \"{}\"\n",
      kSleepCommand, autostart ? "true" : "false", logs, logs);
}

/// A temp dir with a config (supervisor table + `body`) and its minisupd.
struct Setup {
  TempDir dir;
  std::optional<Daemon> daemon;

  explicit Setup(const std::string& body) {
    write_file(dir / "minisup.toml", supervisor_table(dir) + body);
    daemon.emplace(dir / "minisup.toml", dir / "minisup.sock", dir / "minisupd.out");
  }
};

// ---------------------------------------------------------------------------
// a. Spawning N programs, next to a bare fork/exec loop
// ---------------------------------------------------------------------------

/// The per-child set-up any supervisor does, and no more: its own process
/// group and /dev/null as stdin, stdout and stderr. `null_fd` is open.
[[noreturn]] void bare_child(int null_fd, char* const* argv) {
  ::setpgid(0, 0);
  ::dup2(null_fd, 0);
  ::dup2(null_fd, 1);
  ::dup2(null_fd, 2);
  ::execve(argv[0], argv, environ);
  ::_exit(127);
}

void kill_and_reap(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
}

/// fork() + execve() of `count` `sleep 3600`: ms until the loop is done
/// (the parent does not wait for the exec, as the simplest loop would not).
double bare_fork_exec(int count) {
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) throw sys_error("open /dev/null");
  char arg0[] = "/bin/sleep", arg1[] = "3600";
  char* argv[] = {arg0, arg1, nullptr};
  std::vector<pid_t> pids;
  pids.reserve(static_cast<std::size_t>(count));
  const auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      kill_and_reap(pids);
      ::close(null_fd);
      throw sys_error("fork");
    }
    if (pid == 0) bare_child(null_fd, argv);
    pids.push_back(pid);
  }
  const double ms = ms_between(t0, Clock::now());
  kill_and_reap(pids);
  ::close(null_fd);
  return ms;
}

/// posix_spawn() of `count` `sleep 3600` with the same set-up: glibc's
/// posix_spawn uses clone(CLONE_VM | CLONE_VFORK) and returns once the exec
/// has happened, as minisupd's spawn does.
double bare_posix_spawn(int count) {
  char arg0[] = "/bin/sleep", arg1[] = "3600";
  char* argv[] = {arg0, arg1, nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<pid_t> pids;
  pids.reserve(static_cast<std::size_t>(count));
  const auto t0 = Clock::now();
  int error = 0;
  for (int i = 0; i < count && error == 0; ++i) {
    pid_t pid = 0;
    error = posix_spawn(&pid, argv[0], &actions, &attr, argv, environ);
    if (error == 0) pids.push_back(pid);
  }
  const double ms = ms_between(t0, Clock::now());
  kill_and_reap(pids);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(error));
  return ms;
}

/// Sends `start all` and returns the ms until the reply (every process
/// RUNNING: startsecs = 0); throws unless every one was started.
double start_all(Daemon& daemon, int expected) {
  Client client = daemon.connect();
  const auto t0 = Clock::now();
  json reply = client.request({{"cmd", "start"}, {"names", {"all"}}}, 120s);
  const double ms = ms_between(t0, Clock::now());
  int started = 0;
  for (const auto& r : reply.at("results")) started += r.at("result") == "started";
  if (started != expected) {
    throw std::runtime_error(fmt::format("start all: {} of {} started", started, expected));
  }
  return ms;
}

/// `stop all`; returns the ms until the reply.
double stop_all(Daemon& daemon) {
  Client client = daemon.connect();
  const auto t0 = Clock::now();
  client.request({{"cmd", "stop"}, {"names", {"all"}}}, 120s);
  return ms_between(t0, Clock::now());
}

struct Memory {
  long rss_kb = 0, hwm_kb = 0;
};

/// Part a (and d): N programs started by minisupd vs bare loops. The
/// programs have autostart = false; the time is that of a `start all`
/// request on the raw socket, from sending it to the reply, which minisupd
/// sends once every process is RUNNING. Repeated `reps` times on one
/// minisupd (with `stop all` in between); the median is reported.
void bench_spawn(int count, bool with_memory) {
  constexpr int kReps = 3;
  std::cout << fmt::format("a. spawning {} programs (`sleep 3600`, startsecs = 0), {} runs each\n", count,
                           kReps);
  std::vector<double> forks, spawns;
  for (int i = 0; i < kReps; ++i) {
    forks.push_back(bare_fork_exec(count));
    spawns.push_back(bare_posix_spawn(count));
  }
  std::cout << fmt::format("   bare fork+execve loop:   {:8.1f} ms (runs: {:.1f} {:.1f} {:.1f})\n", median(forks),
                           forks[0], forks[1], forks[2]);
  std::cout << fmt::format("   bare posix_spawn loop:   {:8.1f} ms (runs: {:.1f} {:.1f} {:.1f})\n",
                           median(spawns), spawns[0], spawns[1], spawns[2]);

  std::map<std::string, Memory> memory;
  std::map<std::string, double> medians;
  for (const std::string logs : {"NONE", "AUTO"}) {
    Setup setup(programs(count, sleeper(false, logs)));
    Daemon& daemon = *setup.daemon;
    std::vector<double> runs;
    for (int i = 0; i < kReps; ++i) {
      runs.push_back(start_all(daemon, count));
      if (i == 0) {
        daemon.status();  // remembers the pids, for a hard stop on failure
        memory[logs] = {proc_status_value(daemon.pid(), "VmRSS"), proc_status_value(daemon.pid(), "VmHWM")};
      }
      double stop_ms = stop_all(daemon);
      if (i == 0) std::cout << fmt::format("   (stdout/stderr {}: stop all took {:.1f} ms)\n", logs, stop_ms);
    }
    medians[logs] = median(runs);
    std::cout << fmt::format("   minisupd start all, {}:  {:8.1f} ms (runs: {:.1f} {:.1f} {:.1f})\n", logs,
                             medians[logs], runs[0], runs[1], runs[2]);
  }

  // Cold: from fork+exec of minisupd (config with N autostart programs) to
  // the reply of a `wait all` sent as soon as the socket accepts.
  double cold_ms = 0;
  {
    TempDir dir;
    write_file(dir / "minisup.toml", supervisor_table(dir) + programs(count, sleeper(true, "NONE")));
    Daemon daemon(dir / "minisup.toml", dir / "minisup.sock", dir / "minisupd.out");
    daemon.wait_all_running(120);
    cold_ms = ms_between(daemon.started(), Clock::now());
    std::cout << fmt::format("   minisupd cold start (exec, load config, spawn all, NONE): {:.1f} ms\n", cold_ms);
  }

  const double ratio = medians["NONE"] / median(forks);
  add_row(fmt::format("a. start {} programs, logs NONE", count), ms_text(medians["NONE"]));
  add_row(fmt::format("a. start {} programs, logs AUTO", count), ms_text(medians["AUTO"]));
  add_row(fmt::format("a. bare fork+execve loop x{}", count), ms_text(median(forks)));
  add_row(fmt::format("a. bare posix_spawn loop x{}", count), ms_text(median(spawns)));
  add_row("a. minisupd (NONE) / bare fork+execve", fmt::format("{:.2f}x", ratio), "<= 1.5x", ratio <= 1.5);
  add_row("a. minisupd (AUTO) / bare fork+execve", fmt::format("{:.2f}x", medians["AUTO"] / median(forks)),
          "<= 1.5x", medians["AUTO"] / median(forks) <= 1.5);
  add_row("a. minisupd (NONE) / bare posix_spawn", fmt::format("{:.2f}x", medians["NONE"] / median(spawns)));
  add_row(fmt::format("a. cold start, {} autostart programs", count), ms_text(cold_ms));

  if (with_memory) {
    // Part d: minisupd's memory with N programs RUNNING (read right after the
    // first `start all`; VmHWM is the peak since minisupd started).
    for (const auto& [logs, m] : memory) {
      const double rss_mb = static_cast<double>(m.rss_kb) / 1024.0;
      const double hwm_mb = static_cast<double>(m.hwm_kb) / 1024.0;
      std::cout << fmt::format("d. memory with {} programs RUNNING, logs {}: VmRSS {:.1f} MB, VmHWM {:.1f} MB\n",
                               count, logs, rss_mb, hwm_mb);
      add_row(fmt::format("d. VmRSS, {} programs, logs {}", count, logs), fmt::format("{:.2f} MB", rss_mb),
              "< 6 MB", rss_mb < 6.0);
      add_row(fmt::format("d. VmHWM, {} programs, logs {}", count, logs), fmt::format("{:.2f} MB", hwm_mb),
              "< 6 MB", hwm_mb < 6.0);
    }
  }
}

// ---------------------------------------------------------------------------
// b. SIGKILL escalation accuracy
// ---------------------------------------------------------------------------

/// Part b: 20 stops of a program that ignores SIGTERM, stopwaitsecs 0.2.
/// The error is the stop reply's stop_duration (stop signal to exit, as
/// minisupd recorded it) minus 0.2 s; the client's view (stop request to
/// reply, minus 0.2 s) is shown next to it.
void bench_escalation() {
  constexpr int kStops = 20;
  constexpr double kStopWait = 0.2;
  std::cout << fmt::format("b. SIGKILL escalation: {} stops of a TERM-ignoring child, stopwaitsecs {}\n", kStops,
                           kStopWait);
  Setup setup(fmt::format(
      "[program.stubborn]\ncommand = [\"/bin/sh\", \"-c\", \"trap '' TERM; exec /bin/sleep 3600\"]\n"
      "startsecs = 0\nautostart = false\nstopwaitsecs = {}\nstdout_logfile = \"NONE\"\nstderr_logfile = \"NONE\"\n",
      kStopWait));
  Daemon& daemon = *setup.daemon;
  Client client = daemon.connect();
  std::vector<double> errors, client_errors;
  for (int i = 0; i < kStops; ++i) {
    client.request({{"cmd", "start"}, {"names", {"stubborn"}}});
    int pid = daemon.status().at("processes").at(0).at("pid");
    // The SIGTERM must find the trap in place, or the child simply dies.
    const auto deadline = Clock::now() + 5s;
    while (!ignores_signal(pid, SIGTERM)) {
      if (Clock::now() > deadline) throw std::runtime_error("the child never ignored SIGTERM");
      std::this_thread::sleep_for(200us);
    }
    const auto t0 = Clock::now();
    json reply = client.request({{"cmd", "stop"}, {"names", {"stubborn"}}});
    const double round_trip = ms_between(t0, Clock::now());
    const json& result = reply.at("results").at(0);
    if (!result.at("needed_sigkill").get<bool>()) throw std::runtime_error("stop did not need SIGKILL");
    errors.push_back(result.at("stop_duration").get<double>() * 1000.0 - kStopWait * 1000.0);
    client_errors.push_back(round_trip - kStopWait * 1000.0);
  }
  std::cout << fmt::format("   stop_duration - 0.2 s: min {:.2f}  median {:.2f}  max {:.2f} ms\n", minimum(errors),
                           median(errors), maximum(errors));
  std::cout << fmt::format("   client round trip - 0.2 s: min {:.2f}  median {:.2f}  max {:.2f} ms\n",
                           minimum(client_errors), median(client_errors), maximum(client_errors));
  add_row("b. SIGKILL error (stop_duration-0.2s) max", ms_text(maximum(errors)), "<= 2 ms", maximum(errors) <= 2.0);
  add_row("b.   min / median", fmt::format("{:.2f} / {:.2f} ms", minimum(errors), median(errors)));
  add_row("b. client stop round trip - 0.2 s, median", ms_text(median(client_errors)));
}

// ---------------------------------------------------------------------------
// c. Idle wakeups
// ---------------------------------------------------------------------------

/// Part c, begun: a minisupd with a few sleeping programs (AUTO logs, the
/// default), settled; the context switches are read now and again at the
/// end of the idle window (other parts run meanwhile, in other processes).
struct IdleProbe {
  static constexpr int kPrograms = 4;
  std::optional<Setup> setup;
  long switches_before = 0;
  Clock::time_point since;

  void begin() {
    setup.emplace(programs(kPrograms, sleeper(true, "AUTO")));
    setup->daemon->wait_all_running();
    std::this_thread::sleep_for(200ms);  // let the last replies and log writes settle
    switches_before = context_switches(setup->daemon->pid());
    since = Clock::now();
  }

  void finish(std::chrono::seconds window) {
    const auto until = since + window;
    if (Clock::now() < until) std::this_thread::sleep_until(until);
    const long wakeups = context_switches(setup->daemon->pid()) - switches_before;
    const double seconds = std::chrono::duration<double>(Clock::now() - since).count();
    std::cout << fmt::format("c. idle minisupd with {} sleeping programs: {} context switches in {:.1f} s\n",
                             kPrograms, wakeups, seconds);
    add_row(fmt::format("c. idle wakeups in {:.0f} s ({} programs)", seconds, kPrograms), std::to_string(wakeups),
            "0", wakeups == 0);
    setup.reset();
  }
};

// ---------------------------------------------------------------------------
// e. Shutdown time
// ---------------------------------------------------------------------------

/// Part e: 100 RUNNING programs (`sleep 3600`, which dies of SIGTERM at
/// once); the time from SIGTERM to minisupd until waitpid() sees it exit.
void bench_shutdown() {
  constexpr int kPrograms = 100, kReps = 5;
  std::cout << fmt::format("e. shutdown with {} RUNNING programs, {} runs each\n", kPrograms, kReps);
  for (const std::string logs : {"NONE", "AUTO"}) {
    std::vector<double> runs;
    for (int i = 0; i < kReps; ++i) {
      Setup setup(programs(kPrograms, sleeper(true, logs)));
      setup.daemon->wait_all_running();
      std::this_thread::sleep_for(50ms);
      runs.push_back(setup.daemon->terminate());
      const int status = setup.daemon->exit_status();
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error(fmt::format("minisupd ended with wait status {:#x}", status));
      }
    }
    std::cout << fmt::format("   logs {}: min {:.2f}  median {:.2f}  max {:.2f} ms\n", logs, minimum(runs),
                             median(runs), maximum(runs));
    add_row(fmt::format("e. shutdown, {} programs, logs {}, median", kPrograms, logs), ms_text(median(runs)),
            "< 15 ms", median(runs) < 15.0);
  }
}

// ---------------------------------------------------------------------------
// f. Restart latency
// ---------------------------------------------------------------------------

/// Part f: a RUNNING program with autorestart = true and startsecs = 0 is
/// killed (SIGKILL from here); the time until its STARTING -> RUNNING event
/// (of the new pid) arrives on an `events` subscription. The daemon's own
/// view, the event timestamps RUNNING -> EXITED to STARTING -> RUNNING, is
/// shown next to it.
void bench_restart() {
  constexpr int kKills = 20;
  std::cout << fmt::format("f. restart latency: {} kills of an autorestart program\n", kKills);
  Setup setup(
      "[program.victim]\ncommand = [\"/bin/sleep\", \"3600\"]\nstartsecs = 0\nautorestart = true\n"
      "stdout_logfile = \"NONE\"\nstderr_logfile = \"NONE\"\n");
  Daemon& daemon = *setup.daemon;
  daemon.wait_all_running();
  int pid = daemon.status().at("processes").at(0).at("pid");
  Client events = daemon.connect();
  events.request({{"cmd", "events"}});
  std::vector<double> latencies, daemon_view;
  for (int i = 0; i < kKills + 2; ++i) {  // the first two warm up
    const auto t0 = Clock::now();
    if (::kill(pid, SIGKILL) != 0) throw sys_error("kill");
    double exited_at = 0;
    for (;;) {
      json event = json::parse(events.read_line(5s));
      if (event.value("event", "") != "state") continue;
      if (event.at("to") == "EXITED") exited_at = event.at("time").get<double>();
      if (event.at("to") == "RUNNING" && event.at("pid").get<int>() != pid) {
        const double ms = ms_between(t0, Clock::now());
        if (i >= 2) {
          latencies.push_back(ms);
          daemon_view.push_back((event.at("time").get<double>() - exited_at) * 1000.0);
        }
        pid = event.at("pid");
        break;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  daemon.status();
  std::cout << fmt::format("   kill -> RUNNING event received: min {:.2f}  median {:.2f}  max {:.2f} ms\n",
                           minimum(latencies), median(latencies), maximum(latencies));
  std::cout << fmt::format("   daemon event times EXITED -> RUNNING: min {:.3f}  median {:.3f}  max {:.3f} ms\n",
                           minimum(daemon_view), median(daemon_view), maximum(daemon_view));
  add_row("f. restart: kill -> RUNNING event, median", ms_text(median(latencies)), "<= 2 ms",
          median(latencies) <= 2.0);
  add_row("f.   max", ms_text(maximum(latencies)));
  add_row("f. daemon's EXITED -> RUNNING, median", fmt::format("{:.3f} ms", median(daemon_view)));
}

}  // namespace

int main(int argc, char** argv) {
  int count = 1000;
  std::string only = "abcdef";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--programs" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::cerr << "usage: bench_lifecycle [--programs N] [--only LETTERS]\n";
      return 2;
    }
  }
  if (count <= 0) {
    std::cerr << "bench_lifecycle: --programs must be positive\n";
    return 2;
  }
  auto wants = [&](char part) { return only.find(part) != std::string::npos; };
  // minisupd inherits our descriptor limit; 1,000 programs with AUTO logs
  // need about 5,000 descriptors (pidfd, pipes, log files).
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::cout << fmt::format("minisupd: {}\n\n", MINISUPD_PATH);
  try {
    IdleProbe idle;
    if (wants('c')) idle.begin();  // idles while the other parts run
    if (wants('a')) bench_spawn(count, wants('d'));
    if (wants('b')) bench_escalation();
    if (wants('e')) bench_shutdown();
    if (wants('f')) bench_restart();
    if (wants('c')) idle.finish(10s);
  } catch (const std::exception& e) {
    std::cerr << "bench_lifecycle: " << e.what() << '\n';
    print_table();
    return 1;
  }
  print_table();
  return 0;
}
