// How fast and how quietly the real minisupd runs programs: spawning 1,000
// of them next to a bare fork/exec loop, SIGKILL escalation accuracy, idle
// wakeups, memory with 1,000 programs, shutdown time with 100, and restart
// latency. Every figure comes from the minisupd binary driven over its
// control socket, in a temporary directory; the report ends with a table of
// figures, targets and verdicts (see bench/README.md).
//
// Run: build/bench/bench_lifecycle [--programs N] [--only LETTERS]
//   --programs N   programs for the spawn and memory parts (default 1000)
//   --only LETTERS run only these parts, e.g. --only ad (a = spawn, with
//                  the shutdown of N programs as an extra; b = SIGKILL
//                  escalation; c = idle wakeups; d = memory (needs a);
//                  e = shutdown of 100; f = restart latency)
//   --trees MODE   process_tree of minisupd (auto, cgroup, group; default
//                  auto): compare spawn and stop-all with and without
//                  cgroups
//
// About 30 s in all (part c idles 10 s while the others run). Each part is
// described where it is measured, below. The load average is printed at the
// start and the end: on a busy machine wall-clock figures mostly measure the
// wait for a core, so CPU times and same-run controls (a bare loop doing the
// same work, this process's own timer lateness) are printed next to them.
// Every process started is stopped and every temporary directory removed,
// also when a part fails.
#include <fmt/format.h>
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

#include "bench/minisupd_harness.h"

extern char** environ;

namespace {

using namespace minisup::bench;
using namespace std::chrono_literals;

std::string ms_text(double ms) { return fmt::format("{:.2f} ms", ms); }

// ---------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------

const char* const kSleepCommand = R"(["/bin/sleep", "3600"])";

/// `--trees MODE`: the [supervisor] process_tree of every run (auto:
/// cgroups where writable).
std::string g_process_tree = "auto";

/// The [supervisor] table: socket, log and child logs inside `dir`.
std::string supervisor_table(const TempDir& dir) {
  return fmt::format(
      "[supervisor]\nsocket = \"{}\"\nlogfile = \"{}\"\nloglevel = \"info\"\nchildlogdir = "
      "\"{}\"\nprocess_tree = \"{}\"\n\n",
      (dir / "minisup.sock").string(), (dir / "minisupd.log").string(), (dir / "logs").string(),
      g_process_tree);
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
      "command = {}\nstartsecs = 0\nautostart = {}\nstdout_logfile = \"{}\"\nstderr_logfile = "
      "\"{}\"\n",
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

/// Wall-clock and CPU time of one run, in ms.
struct Timing {
  double wall = 0;
  double cpu = 0;  ///< of the spawning process only (not the children)
};

void kill_and_reap(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
}

/// fork() + execve() of `count` `sleep 3600`: time until the loop is done
/// (the parent does not wait for the exec, as the simplest loop would not).
Timing bare_fork_exec(int count) {
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) throw sys_error("open /dev/null");
  char arg0[] = "/bin/sleep", arg1[] = "3600";
  char* argv[] = {arg0, arg1, nullptr};
  std::vector<pid_t> pids;
  pids.reserve(static_cast<std::size_t>(count));
  const double cpu0 = self_cpu_ms();
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
  const Timing timing{ms_between(t0, Clock::now()), self_cpu_ms() - cpu0};
  kill_and_reap(pids);
  ::close(null_fd);
  return timing;
}

/// posix_spawn() of `count` `sleep 3600` with the same set-up: glibc's
/// posix_spawn uses clone(CLONE_VM | CLONE_VFORK) and returns once the exec
/// has happened, as minisupd's spawn does.
Timing bare_posix_spawn(int count) {
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
  const double cpu0 = self_cpu_ms();
  const auto t0 = Clock::now();
  int error = 0;
  for (int i = 0; i < count && error == 0; ++i) {
    pid_t pid = 0;
    error = posix_spawn(&pid, argv[0], &actions, &attr, argv, environ);
    if (error == 0) pids.push_back(pid);
  }
  const Timing timing{ms_between(t0, Clock::now()), self_cpu_ms() - cpu0};
  kill_and_reap(pids);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(error));
  return timing;
}

/// Sends `start all` and returns the time until the reply (every process
/// RUNNING: startsecs = 0) and minisupd's CPU time meanwhile; throws unless
/// every one was started.
Timing start_all(Daemon& daemon, int expected) {
  Client client = daemon.connect();
  const double cpu0 = process_cpu_ms(daemon.pid());
  const auto t0 = Clock::now();
  json reply = client.request({{"cmd", "start"}, {"names", {"all"}}}, 120s);
  const Timing timing{ms_between(t0, Clock::now()), process_cpu_ms(daemon.pid()) - cpu0};
  int started = 0;
  for (const auto& r : reply.at("results")) started += r.at("result") == "started";
  if (started != expected) {
    throw std::runtime_error(fmt::format("start all: {} of {} started", started, expected));
  }
  return timing;
}

/// `stop all`, waiting for the reply (every process STOPPED).
void stop_all(Daemon& daemon) {
  Client client = daemon.connect();
  client.request({{"cmd", "stop"}, {"names", {"all"}}}, 120s);
}

/// minisupd's memory, in kB, from /proc/PID/status.
struct Memory {
  long rss = 0, hwm = 0, anon = 0, file = 0;

  static Memory of(pid_t pid) {
    return {proc_status_value(pid, "VmRSS"), proc_status_value(pid, "VmHWM"),
            proc_status_value(pid, "RssAnon"), proc_status_value(pid, "RssFile")};
  }
};

double mb(long kb) { return static_cast<double>(kb) / 1024.0; }

std::string runs_text(const std::vector<Timing>& runs, double Timing::*field) {
  std::string out;
  for (const auto& r : runs) out += fmt::format("{}{:.0f}", out.empty() ? "" : " ", r.*field);
  return out;
}

std::vector<double> field_of(const std::vector<Timing>& runs, double Timing::*field) {
  std::vector<double> out;
  for (const auto& r : runs) out.push_back(r.*field);
  return out;
}

/// Part a (and d): N programs started by minisupd vs bare loops. The
/// programs have autostart = false; the time is that of a `start all`
/// request on the raw socket, from sending it to the reply, which minisupd
/// sends once every process is RUNNING. Each run does the four in turn
/// (fork loop, posix_spawn loop, minisupd with logs NONE, with logs AUTO;
/// one minisupd each, `stop all` after each start), so that a change of the
/// machine's load hits all four alike. Wall time (median of the runs) is the
/// figure; the CPU time of the spawning process (minisupd, or this bench for
/// the loops; the children's own time is not counted in either) is shown
/// next to it, as it hardly depends on the load.
void bench_spawn(int count, bool with_memory) {
  constexpr int kReps = 3;
  std::cout << fmt::format("a. spawning {} programs (`sleep 3600`, startsecs = 0), {} runs each\n",
                           count, kReps);
  Setup none(programs(count, sleeper(false, "NONE")));
  Setup with_logs(programs(count, sleeper(false, "AUTO")));
  struct Variant {
    std::string name;
    Setup* setup;
    std::vector<Timing> runs;
  };
  std::vector<Variant> daemons{{"NONE", &none, {}}, {"AUTO", &with_logs, {}}};
  std::map<std::string, Memory> memory;
  std::vector<Timing> forks, spawns;
  for (int i = 0; i < kReps; ++i) {
    forks.push_back(bare_fork_exec(count));
    spawns.push_back(bare_posix_spawn(count));
    for (auto& variant : daemons) {
      Daemon& daemon = *variant.setup->daemon;
      variant.runs.push_back(start_all(daemon, count));
      if (i == 0) {
        // Steady state: minisupd has answered; let it finish the round.
        std::this_thread::sleep_for(300ms);
        memory[variant.name] = Memory::of(daemon.pid());
        daemon.status();  // remembers the pids, for a hard stop on failure
      }
      stop_all(daemon);
    }
  }
  // Extra, no target: the shutdown of minisupd with all N RUNNING (logs
  // NONE), to see how part e scales.
  start_all(*none.daemon, count);
  none.daemon->status();
  const double big_shutdown = none.daemon->terminate(60s);
  const double big_shutdown_cpu = none.daemon->shutdown_cpu_ms();

  auto line = [&](const std::string& what, const std::vector<Timing>& runs) {
    std::cout << fmt::format(
        "   {:<28} wall median {:7.1f} ms (runs {}), CPU median {:6.1f} ms (runs {})\n", what,
        median(field_of(runs, &Timing::wall)), runs_text(runs, &Timing::wall),
        median(field_of(runs, &Timing::cpu)), runs_text(runs, &Timing::cpu));
  };
  line("bare fork+execve loop", forks);
  line("bare posix_spawn loop", spawns);
  for (const auto& variant : daemons) line("minisupd start all, " + variant.name, variant.runs);

  // Cold: from fork+exec of minisupd (config with N autostart programs) to
  // the reply of a `wait all` sent as soon as the socket accepts.
  double cold_ms = 0;
  {
    TempDir dir;
    write_file(dir / "minisup.toml",
               supervisor_table(dir) + programs(count, sleeper(true, "NONE")));
    Daemon daemon(dir / "minisup.toml", dir / "minisup.sock", dir / "minisupd.out");
    daemon.wait_all_running(120);
    cold_ms = ms_between(daemon.started(), Clock::now());
    std::cout << fmt::format(
        "   minisupd cold start (exec, load config, spawn all, NONE): {:.1f} ms\n", cold_ms);
  }

  const double fork_wall = median(field_of(forks, &Timing::wall));
  const double spawn_wall = median(field_of(spawns, &Timing::wall));
  add_row(fmt::format("a. bare fork+execve loop x{}", count), ms_text(fork_wall));
  add_row(fmt::format("a. bare posix_spawn loop x{}", count), ms_text(spawn_wall));
  for (const auto& variant : daemons) {
    const double wall = median(field_of(variant.runs, &Timing::wall));
    add_row(fmt::format("a. minisupd start {} programs, logs {}", count, variant.name),
            ms_text(wall));
    add_row(fmt::format("a.   / bare fork+execve (logs {})", variant.name),
            fmt::format("{:.2f}x", wall / fork_wall), "<= 1.5x", wall / fork_wall <= 1.5);
    add_row(fmt::format("a.   / bare posix_spawn (logs {})", variant.name),
            fmt::format("{:.2f}x", wall / spawn_wall));
  }
  add_row("a. CPU: bare fork+execve / posix_spawn",
          fmt::format("{:.1f} / {:.1f} ms", median(field_of(forks, &Timing::cpu)),
                      median(field_of(spawns, &Timing::cpu))));
  add_row("a. CPU: minisupd, logs NONE / AUTO",
          fmt::format("{:.0f} / {:.0f} ms", median(field_of(daemons[0].runs, &Timing::cpu)),
                      median(field_of(daemons[1].runs, &Timing::cpu))));
  add_row(fmt::format("a. cold start, {} autostart programs", count), ms_text(cold_ms));
  std::cout << fmt::format(
      "   shutdown with {} RUNNING (logs NONE): {:.1f} ms, minisupd's CPU {:.1f} ms\n", count,
      big_shutdown, big_shutdown_cpu);
  add_row(fmt::format("e+. shutdown, {} programs, logs NONE", count),
          fmt::format("{:.1f} ms (CPU {:.1f})", big_shutdown, big_shutdown_cpu));

  if (with_memory) {
    // Part d: minisupd's memory with N programs RUNNING, read 300 ms after
    // the first `start all` answered (VmHWM: the peak since minisupd
    // started, config loading included). RssFile is the mapped binary and shared libraries,
    // RssAnon minisupd's own data; a minisupd with one program shows the
    // fixed part.
    Memory base;
    {
      Setup one(programs(1, sleeper(true, "NONE")));
      one.daemon->wait_all_running();
      base = Memory::of(one.daemon->pid());
    }
    std::cout << fmt::format(
        "d. memory of minisupd with 1 program: VmRSS {:.1f} MB (RssAnon {:.1f}, RssFile {:.1f})\n",
        mb(base.rss), mb(base.anon), mb(base.file));
    add_row("d. VmRSS (RssAnon + RssFile), 1 program",
            fmt::format("{:.2f} MB ({:.2f} + {:.2f})", mb(base.rss), mb(base.anon), mb(base.file)));
    for (const auto& [logs, m] : memory) {
      std::cout << fmt::format(
          "d. memory with {} programs RUNNING, logs {}: VmRSS {:.1f} MB (RssAnon {:.1f}, RssFile "
          "{:.1f}), VmHWM {:.1f} MB\n",
          count, logs, mb(m.rss), mb(m.anon), mb(m.file), mb(m.hwm));
      add_row(fmt::format("d. VmRSS, {} programs, logs {}", count, logs),
              fmt::format("{:.2f} MB", mb(m.rss)), "< 7 MB", mb(m.rss) < 7.0);
      add_row(fmt::format("d. VmHWM, {} programs, logs {}", count, logs),
              fmt::format("{:.2f} MB", mb(m.hwm)), "< 7 MB", mb(m.hwm) < 7.0);
      add_row(fmt::format("d.   RssAnon, logs {}", logs),
              fmt::format("{:.2f} MB ({:.1f} KB/program over 1)", mb(m.anon),
                          static_cast<double>(m.anon - base.anon) / (count > 1 ? count - 1 : 1)));
    }
  }
}

// ---------------------------------------------------------------------------
// b. SIGKILL escalation accuracy
// ---------------------------------------------------------------------------

/// Milliseconds since midnight of a daemon log line ("2026-11-21
/// 06:18:08.455 info ..."); nullopt when the line has no such time.
std::optional<double> log_line_ms(const std::string& line) {
  if (line.size() < 23 || line[13] != ':' || line[16] != ':' || line[19] != '.')
    return std::nullopt;
  try {
    return ((std::stod(line.substr(11, 2)) * 60 + std::stod(line.substr(14, 2))) * 60 +
            std::stod(line.substr(17, 6))) *
           1000.0;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// For each stop in minisupd's log `file`: the ms from its "sent SIGTERM"
/// line to its "sent SIGKILL" line, minus `stop_wait` seconds.
std::vector<double> sigkill_delays_from_log(const fs::path& file, double stop_wait) {
  std::ifstream in(file);
  std::string line;
  double term_at = -1;  // < 0: no SIGTERM line pending
  std::vector<double> out;
  while (std::getline(in, line)) {
    if (line.find("-> STOPPING: sent SIGTERM") != std::string::npos) {
      term_at = log_line_ms(line).value_or(-1);
    } else if (line.find("sent SIGKILL") != std::string::npos && term_at >= 0) {
      if (auto kill_at = log_line_ms(line)) out.push_back(*kill_at - term_at - stop_wait * 1000.0);
      term_at = -1;
    }
  }
  return out;
}

/// Part b: 20 stops of a program that ignores SIGTERM, stopwaitsecs 0.2.
/// The error is the stop reply's stop_duration (stop signal to exit, as
/// minisupd recorded it) minus 0.2 s; the client's view (stop request to
/// reply, minus 0.2 s) is shown next to it.
void bench_escalation() {
  constexpr int kStops = 20;
  constexpr double kStopWait = 0.2;
  std::cout << fmt::format(
      "b. SIGKILL escalation: {} stops of a TERM-ignoring child, stopwaitsecs {}\n", kStops,
      kStopWait);
  Setup setup(
      fmt::format("[program.stubborn]\ncommand = [\"/bin/sh\", \"-c\", \"trap '' TERM; exec "
                  "/bin/sleep 3600\"]\n"
                  "startsecs = 0\nautostart = false\nstopwaitsecs = {}\nstdout_logfile = "
                  "\"NONE\"\nstderr_logfile = \"NONE\"\n",
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
    if (!result.at("needed_sigkill").get<bool>())
      throw std::runtime_error("stop did not need SIGKILL");
    errors.push_back(result.at("stop_duration").get<double>() * 1000.0 - kStopWait * 1000.0);
    client_errors.push_back(round_trip - kStopWait * 1000.0);
  }
  // The machine's own timer and scheduling latency, for comparison: how late
  // this process wakes from an absolute 50 ms clock_nanosleep, same run.
  std::vector<double> overshoot;
  for (int i = 0; i < kStops; ++i) {
    timespec at{};
    ::clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_nsec += 50'000'000;
    if (at.tv_nsec >= 1'000'000'000) {
      at.tv_nsec -= 1'000'000'000;
      ++at.tv_sec;
    }
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    overshoot.push_back(static_cast<double>(now.tv_sec - at.tv_sec) * 1e3 +
                        static_cast<double>(now.tv_nsec - at.tv_nsec) / 1e6);
  }
  // The timer alone, from minisupd's log (millisecond timestamps): the time
  // between its "sent SIGTERM" and "sent SIGKILL" lines, minus 0.2 s.
  std::vector<double> timer_errors = sigkill_delays_from_log(setup.dir / "minisupd.log", kStopWait);
  std::cout << fmt::format("   stop_duration - 0.2 s: min {:.2f}  median {:.2f}  max {:.2f} ms\n",
                           minimum(errors), median(errors), maximum(errors));
  if (!timer_errors.empty()) {
    std::cout << fmt::format(
        "   log: SIGKILL line - SIGTERM line - 0.2 s (1 ms resolution): min {:.0f}  median {:.0f}  "
        "max {:.0f} ms ({} pairs)\n",
        minimum(timer_errors), median(timer_errors), maximum(timer_errors), timer_errors.size());
  }
  std::cout << fmt::format(
      "   (control: this process waking from clock_nanosleep is late by min {:.2f}  median {:.2f}  "
      "max {:.2f} ms)\n",
      minimum(overshoot), median(overshoot), maximum(overshoot));
  std::cout << fmt::format(
      "   client round trip - 0.2 s: min {:.2f}  median {:.2f}  max {:.2f} ms\n",
      minimum(client_errors), median(client_errors), maximum(client_errors));
  add_row("b. SIGKILL error (stop_duration-0.2s) median", ms_text(median(errors)), "<= 2 ms",
          median(errors) <= 2.0);
  add_row("b. SIGKILL error max (min)",
          fmt::format("{:.2f} ms ({:.2f})", maximum(errors), minimum(errors)), "<= 2 ms",
          maximum(errors) <= 2.0);
  if (!timer_errors.empty()) {
    add_row("b. log: SIGKILL line - SIGTERM line - 0.2 s, max",
            fmt::format("{:.0f} ms (1 ms steps)", maximum(timer_errors)));
  }
  add_row("b. client stop round trip - 0.2 s, median", ms_text(median(client_errors)));
  add_row("b. control: clock_nanosleep lateness median/max",
          fmt::format("{:.2f} / {:.2f} ms", median(overshoot), maximum(overshoot)));
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
    std::cout << fmt::format(
        "c. idle minisupd with {} sleeping programs: {} context switches in {:.1f} s\n", kPrograms,
        wakeups, seconds);
    add_row(fmt::format("c. idle wakeups in {:.0f} s ({} programs)", seconds, kPrograms),
            std::to_string(wakeups), "0", wakeups == 0);
    setup.reset();
  }
};

// ---------------------------------------------------------------------------
// e. Shutdown time
// ---------------------------------------------------------------------------

/// The floor of part e: posix_spawn `count` `sleep 3600`, then the time to
/// send each SIGTERM and reap them all, from this process.
double bare_term_and_reap(int count) {
  char arg0[] = "/bin/sleep", arg1[] = "3600";
  char* argv[] = {arg0, arg1, nullptr};
  std::vector<pid_t> pids;
  for (int i = 0; i < count; ++i) {
    pid_t pid = 0;
    int error = posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ);
    if (error != 0) {
      kill_and_reap(pids);
      throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(error));
    }
    pids.push_back(pid);
  }
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  return ms_between(t0, Clock::now());
}

/// Part e: 100 RUNNING programs (`sleep 3600`, which dies of SIGTERM at
/// once); the time from SIGTERM to minisupd until waitpid() sees it exit.
/// Next to it, the floor: the same 100 children signalled and reaped by a
/// bare loop in this process.
void bench_shutdown() {
  constexpr int kPrograms = 100, kReps = 5;
  std::cout << fmt::format("e. shutdown with {} RUNNING programs, {} runs each\n", kPrograms,
                           kReps);
  std::vector<double> bare;
  for (int i = 0; i < kReps; ++i) bare.push_back(bare_term_and_reap(kPrograms));
  std::cout << fmt::format(
      "   bare loop, SIGTERM + reap: min {:.2f}  median {:.2f}  max {:.2f} ms\n", minimum(bare),
      median(bare), maximum(bare));
  add_row(fmt::format("e. control: bare SIGTERM + reap of {}, median", kPrograms),
          ms_text(median(bare)));
  for (const std::string logs : {"NONE", "AUTO"}) {
    std::vector<double> runs, cpu;
    for (int i = 0; i < kReps; ++i) {
      Setup setup(programs(kPrograms, sleeper(true, logs)));
      setup.daemon->wait_all_running();
      std::this_thread::sleep_for(50ms);
      runs.push_back(setup.daemon->terminate());
      cpu.push_back(setup.daemon->shutdown_cpu_ms());
      const int status = setup.daemon->exit_status();
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error(fmt::format("minisupd ended with wait status {:#x}", status));
      }
    }
    std::cout << fmt::format(
        "   logs {}: min {:.2f}  median {:.2f}  max {:.2f} ms; minisupd's CPU: median {:.2f} ms\n",
        logs, minimum(runs), median(runs), maximum(runs), median(cpu));
    add_row(fmt::format("e. shutdown, {} programs, logs {}, median", kPrograms, logs),
            ms_text(median(runs)), "< 15 ms", median(runs) < 15.0);
    add_row(fmt::format("e.   minisupd CPU during it, logs {}, median", logs),
            ms_text(median(cpu)));
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
  std::cout << fmt::format(
      "   kill -> RUNNING event received: min {:.2f}  median {:.2f}  max {:.2f} ms\n",
      minimum(latencies), median(latencies), maximum(latencies));
  std::cout << fmt::format(
      "   daemon event times EXITED -> RUNNING: min {:.3f}  median {:.3f}  max {:.3f} ms\n",
      minimum(daemon_view), median(daemon_view), maximum(daemon_view));
  add_row("f. restart: kill -> RUNNING event, median", ms_text(median(latencies)), "<= 2 ms",
          median(latencies) <= 2.0);
  add_row("f. restart: kill -> RUNNING event, max", ms_text(maximum(latencies)), "<= 2 ms",
          maximum(latencies) <= 2.0);
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
    } else if (arg == "--trees" && i + 1 < argc) {
      g_process_tree = argv[++i];
    } else {
      std::cerr << "usage: bench_lifecycle [--programs N] [--only LETTERS] [--trees "
                   "auto|cgroup|group]\n";
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
  std::cout << fmt::format("minisupd: {}\nload average at start: {}\n", minisupd_path(),
                           load_average());
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
  std::cout << fmt::format("\nload average at the end: {}\n", load_average());
  print_table();
  return 0;
}
