// How minisupd scales from 1,000 to 10,000 programs: for each count, the
// same measurements, with the per-program cost next to each, so that
// anything growing faster than linearly shows as a per-program cost that
// grows with the count.
//
// For each count N (default 1,000 then 10,000), programs `/bin/sleep 3600`
// with startsecs = 0 and autostart = false, logs NONE (and AUTO when the
// descriptor limit allows ~5 per program), `--reps` rounds (default 3),
// each round doing in turn:
//   - the control: a bare fork+execve loop of N `sleep 3600` (the time of
//     the loop; then, once every child has exec'ed, the time to SIGTERM
//     them all and waitpid() each: the shutdown's control);
//   - for each log setting: a fresh minisupd on the config; `start all`
//     on the raw socket, timed to its reply (every process RUNNING), with
//     minisupd's CPU; whole `minisupctl -s SOCKET status` and `minisupctl
//     -c FILE status` and `minisupctl -s SOCKET --json status` processes,
//     interleaved (wall and their own CPU); in the first round minisupd's
//     VmRSS 300 ms after the start; an `update` with the config unchanged
//     (the reload's cost: load and diff N programs); an `update` with every
//     program changed (each stopped, replaced and started again: the reply
//     comes once all are RUNNING); then the shutdown: SIGTERM to minisupd until it exits
//     (every child stopped), with minisupd's CPU.
// Figures are medians over the rounds; the table at the end compares them
// with the targets (10,000: spawn <= 1.5x the fork loop, status < 20 ms,
// RSS < 40 MB, shutdown <= 2x the SIGTERM-and-reap loop; -c within 1.3x
// of -s).
//
// Run: build/bench/bench_scale [--programs 1000,10000] [--reps 3]
//        [--status-runs N] [--logs NONE,AUTO] [--skip-changed-update]
// MINISUPD and MINISUPCTL in the environment select other binaries
// (minisupd_harness.h). RLIMIT_NOFILE is raised as far as it can be
// (soft to hard; as root the hard limit too), and minisupd inherits it.
// About 3 minutes for 1,000 and 10,000 with 3 rounds.
#include <fmt/format.h>
#include <stdio.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/minisupd_harness.h"

namespace {

using namespace minisup::bench;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The control: a bare fork+execve loop, then SIGTERM and reap
// ---------------------------------------------------------------------------

struct BareRun {
  double spawn_wall = 0, spawn_cpu = 0;  ///< the fork loop
  double reap_wall = 0;                  ///< SIGTERM to each, then waitpid() each
};

/// True once `pid` runs /bin/sleep (its exec happened).
bool has_exec_ed(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  return (in >> comm) && comm == "sleep";
}

BareRun bare_loop(int count) {
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) throw sys_error("open /dev/null");
  char arg0[] = "/bin/sleep", arg1[] = "3600";
  char* argv[] = {arg0, arg1, nullptr};
  std::vector<pid_t> pids;
  pids.reserve(static_cast<std::size_t>(count));
  auto kill_all = [&] {
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  };
  BareRun run;
  const double cpu0 = self_cpu_ms();
  const auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      kill_all();
      ::close(null_fd);
      throw sys_error("fork");
    }
    if (pid == 0) {
      // What any supervisor does for a child, and no more.
      ::setpgid(0, 0);
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      ::execve(argv[0], argv, environ);
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  run.spawn_wall = ms_between(t0, Clock::now());
  run.spawn_cpu = self_cpu_ms() - cpu0;
  ::close(null_fd);
  // minisupd's children have all exec'ed when it stops them; so must these.
  const auto deadline = Clock::now() + 60s;
  for (pid_t pid : pids) {
    while (!has_exec_ed(pid)) {
      if (Clock::now() > deadline) {
        kill_all();
        throw std::runtime_error("the bare loop's children did not exec in 60 s");
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  const auto t1 = Clock::now();
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  run.reap_wall = ms_between(t1, Clock::now());
  return run;
}

// ---------------------------------------------------------------------------
// minisupd
// ---------------------------------------------------------------------------

/// `sleep_arg`: the argument of every program's `/bin/sleep`; another value
/// changes every program's definition (for `update` with all changed).
std::string config_text(const TempDir& dir, int count, const std::string& logs,
                        const char* sleep_arg = "3600") {
  std::string out = fmt::format(
      "[supervisor]\nsocket = \"{}\"\nlogfile = \"{}\"\nloglevel = \"info\"\nchildlogdir = "
      "\"{}\"\n\n",
      (dir / "minisup.sock").string(), (dir / "minisupd.log").string(), (dir / "logs").string());
  out.reserve(out.size() + static_cast<std::size_t>(count) * 150);
  for (int i = 0; i < count; ++i) {
    out += fmt::format(
        "[program.p{:05d}]\ncommand = [\"/bin/sleep\", \"{}\"]\nstartsecs = 0\nautostart = "
        "false\nstdout_logfile = \"{}\"\nstderr_logfile = \"{}\"\n\n",
        i, sleep_arg, logs, logs);
  }
  return out;
}

/// The figures of one round of one log setting.
struct DaemonRun {
  double spawn_wall = 0, spawn_cpu = 0;
  std::vector<double> status_s, status_s_cpu, status_c, status_c_cpu, status_j, status_j_cpu;
  double update_wall = 0, update_cpu = 0;
  double update_changed_wall = 0, update_changed_cpu = 0;
  double shutdown_wall = 0, shutdown_cpu = 0;
  long rss_kb = 0, anon_kb = 0, hwm_kb = 0;
};

/// --skip-changed-update: no `update` with every program changed (a build
/// where it is quadratic or worse would not finish at 10,000).
bool g_skip_changed_update = false;

DaemonRun daemon_round(int count, const std::string& logs, int status_runs, bool with_memory) {
  TempDir dir("minisup-bench-scale");
  const fs::path config = dir / "minisup.toml";
  write_file(config, config_text(dir, count, logs));
  Daemon daemon(config, dir / "minisup.sock", dir / "minisupd.out");
  DaemonRun run;

  {  // start all
    Client client = daemon.connect();
    const double cpu0 = process_cpu_ms(daemon.pid());
    const auto t0 = Clock::now();
    json reply = client.request({{"cmd", "start"}, {"names", {"all"}}}, 300s);
    run.spawn_wall = ms_between(t0, Clock::now());
    run.spawn_cpu = process_cpu_ms(daemon.pid()) - cpu0;
    int started = 0;
    for (const auto& r : reply.at("results")) started += r.at("result") == "started";
    if (started != count) {
      throw std::runtime_error(fmt::format("start all: {} of {} started", started, count));
    }
  }
  daemon.status();  // remembers the pids, for a hard stop on failure
  if (with_memory) {
    std::this_thread::sleep_for(300ms);  // steady state: minisupd finished the round
    run.rss_kb = proc_status_value(daemon.pid(), "VmRSS");
    run.anon_kb = proc_status_value(daemon.pid(), "RssAnon");
    run.hwm_kb = proc_status_value(daemon.pid(), "VmHWM");
  }

  // Whole minisupctl processes; exit 0: every process RUNNING.
  const std::string ctl = minisupctl_path();
  const std::string sock = daemon.socket().string();
  for (int i = 0; i < status_runs + 2; ++i) {  // the first 2 warm up
    const ProcessRun s = run_process({ctl, "-s", sock, "status"}, {0});
    const ProcessRun c = run_process({ctl, "-c", config.string(), "status"}, {0});
    const ProcessRun j = run_process({ctl, "-s", sock, "--json", "status"}, {0});
    if (i < 2) continue;
    run.status_s.push_back(s.wall);
    run.status_s_cpu.push_back(s.cpu);
    run.status_c.push_back(c.wall);
    run.status_c_cpu.push_back(c.cpu);
    run.status_j.push_back(j.wall);
    run.status_j_cpu.push_back(j.cpu);
  }

  {  // update with the config unchanged: load and diff N programs
    Client client = daemon.connect();
    const double cpu0 = process_cpu_ms(daemon.pid());
    const auto t0 = Clock::now();
    client.request({{"cmd", "update"}}, 120s);
    run.update_wall = ms_between(t0, Clock::now());
    run.update_cpu = process_cpu_ms(daemon.pid()) - cpu0;
  }

  // update with every program changed: each is stopped, replaced and
  // started again; minisupd answers once all of them are RUNNING
  if (!g_skip_changed_update) {
    write_file(config, config_text(dir, count, logs, "3601"));
    Client client = daemon.connect();
    const double cpu0 = process_cpu_ms(daemon.pid());
    const auto t0 = Clock::now();
    json reply = client.request({{"cmd", "update"}}, 600s);
    run.update_changed_wall = ms_between(t0, Clock::now());
    run.update_changed_cpu = process_cpu_ms(daemon.pid()) - cpu0;
    if (reply.at("changed").size() != static_cast<std::size_t>(count)) {
      throw std::runtime_error(
          fmt::format("update: {} of {} programs changed", reply.at("changed").size(), count));
    }
    daemon.status();  // the new pids, for a hard stop on failure
  }

  std::this_thread::sleep_for(100ms);
  run.shutdown_wall = daemon.terminate(120s);
  run.shutdown_cpu = daemon.shutdown_cpu_ms();
  const int status = daemon.exit_status();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("minisupd ended with wait status {:#x}", status));
  }
  return run;
}

// ---------------------------------------------------------------------------
// One count
// ---------------------------------------------------------------------------

template <typename T>
std::vector<double> collect(const std::vector<T>& runs, double T::*field) {
  std::vector<double> out;
  for (const auto& r : runs) out.push_back(r.*field);
  return out;
}

std::string runs_text(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += fmt::format("{}{:.0f}", out.empty() ? "" : " ", v);
  return out;
}

/// Per-program cost in microseconds, for the comparison between counts.
std::map<std::string, double> g_per_program_us;  // "<figure>@<count>" -> us

void note_per_program(const std::string& figure, int count, double ms) {
  g_per_program_us[fmt::format("{}@{}", figure, count)] = ms * 1000.0 / count;
}

void measure(int count, const std::vector<std::string>& log_settings, int reps, int status_runs) {
  std::cout << fmt::format("== {} programs, {} rounds; load average {}\n", count, reps,
                           load_average());
  std::vector<BareRun> bare;
  std::map<std::string, std::vector<DaemonRun>> daemons;
  for (int rep = 0; rep < reps; ++rep) {
    bare.push_back(bare_loop(count));
    for (const std::string& logs : log_settings) {
      daemons[logs].push_back(daemon_round(count, logs, status_runs, rep == 0));
    }
  }
  const double fork_wall = median(collect(bare, &BareRun::spawn_wall));
  const double reap_wall = median(collect(bare, &BareRun::reap_wall));
  std::cout << fmt::format(
      "   bare fork+execve loop: wall median {:.1f} ms (runs {}), CPU median {:.1f} ms\n",
      fork_wall, runs_text(collect(bare, &BareRun::spawn_wall)),
      median(collect(bare, &BareRun::spawn_cpu)));
  std::cout << fmt::format("   bare SIGTERM + waitpid loop: median {:.1f} ms (runs {})\n",
                           reap_wall, runs_text(collect(bare, &BareRun::reap_wall)));
  const std::string n = fmt::format("{}", count);
  add_row(fmt::format("{}: control: bare fork+execve loop", n),
          fmt::format("{:.1f} ms", fork_wall));
  add_row(fmt::format("{}: control: bare SIGTERM + waitpid", n),
          fmt::format("{:.1f} ms", reap_wall));
  note_per_program("fork loop", count, fork_wall);
  note_per_program("SIGTERM+reap loop", count, reap_wall);

  for (const std::string& logs : log_settings) {
    const std::vector<DaemonRun>& runs = daemons[logs];
    const double spawn = median(collect(runs, &DaemonRun::spawn_wall));
    const double spawn_cpu = median(collect(runs, &DaemonRun::spawn_cpu));
    std::vector<double> s, s_cpu, c, c_cpu, j, j_cpu;
    for (const auto& r : runs) {
      j.insert(j.end(), r.status_j.begin(), r.status_j.end());
      j_cpu.insert(j_cpu.end(), r.status_j_cpu.begin(), r.status_j_cpu.end());
      s.insert(s.end(), r.status_s.begin(), r.status_s.end());
      s_cpu.insert(s_cpu.end(), r.status_s_cpu.begin(), r.status_s_cpu.end());
      c.insert(c.end(), r.status_c.begin(), r.status_c.end());
      c_cpu.insert(c_cpu.end(), r.status_c_cpu.begin(), r.status_c_cpu.end());
    }
    const double update = median(collect(runs, &DaemonRun::update_wall));
    const double update_cpu = median(collect(runs, &DaemonRun::update_cpu));
    const double changed = median(collect(runs, &DaemonRun::update_changed_wall));
    const double changed_cpu = median(collect(runs, &DaemonRun::update_changed_cpu));
    const double shutdown = median(collect(runs, &DaemonRun::shutdown_wall));
    const double shutdown_cpu = median(collect(runs, &DaemonRun::shutdown_cpu));
    const DaemonRun& first = runs.front();
    std::cout << fmt::format(
        "   logs {}:\n"
        "     start all:    wall median {:.1f} ms (runs {}) = {:.2f}x the fork loop; minisupd CPU "
        "median {:.1f} ms (runs {})\n"
        "     status -s:    median {:.2f} ms (min {:.2f}, p90 {:.2f}), minisupctl CPU {:.2f} ms\n"
        "     status -c:    median {:.2f} ms (min {:.2f}, p90 {:.2f}), minisupctl CPU {:.2f} ms = "
        "{:.2f}x -s\n"
        "     status --json: median {:.2f} ms (min {:.2f}, p90 {:.2f}), minisupctl CPU {:.2f} ms\n"
        "     VmRSS:        {:.1f} MB (anon {:.1f} MB, {:.2f} KB a program; peak {:.1f} MB)\n"
        "     update (unchanged config): wall median {:.1f} ms, minisupd CPU {:.1f} ms\n"
        "     update (every program changed): wall median {:.1f} ms, minisupd CPU {:.1f} ms\n"
        "     shutdown:     wall median {:.1f} ms (runs {}) = {:.2f}x the SIGTERM+reap loop; "
        "minisupd CPU median {:.1f} ms\n",
        logs, spawn, runs_text(collect(runs, &DaemonRun::spawn_wall)), spawn / fork_wall, spawn_cpu,
        runs_text(collect(runs, &DaemonRun::spawn_cpu)), median(s), minimum(s), quantile(s, 0.9),
        median(s_cpu), median(c), minimum(c), quantile(c, 0.9), median(c_cpu),
        median(c) / median(s), median(j), minimum(j), quantile(j, 0.9), median(j_cpu),
        static_cast<double>(first.rss_kb) / 1024.0, static_cast<double>(first.anon_kb) / 1024.0,
        static_cast<double>(first.anon_kb) / count, static_cast<double>(first.hwm_kb) / 1024.0,
        update, update_cpu, changed, changed_cpu, shutdown,
        runs_text(collect(runs, &DaemonRun::shutdown_wall)), shutdown / reap_wall, shutdown_cpu);

    const bool big = count >= 10000;
    const std::string p = fmt::format("{} {}: ", n, logs);
    add_row(p + "start all", fmt::format("{:.1f} ms (CPU {:.1f})", spawn, spawn_cpu));
    add_row(p + "  / bare fork+execve", fmt::format("{:.2f}x", spawn / fork_wall),
            big ? "<= 1.5x" : "-",
            big ? std::optional<bool>(spawn / fork_wall <= 1.5) : std::nullopt);
    add_row(p + "minisupctl -s SOCKET status",
            fmt::format("{:.2f} ms (CPU {:.2f})", median(s), median(s_cpu)), big ? "< 20 ms" : "-",
            big ? std::optional<bool>(median(s) < 20.0) : std::nullopt);
    add_row(p + "minisupctl -c FILE status",
            fmt::format("{:.2f} ms (CPU {:.2f}) = {:.2f}x -s", median(c), median(c_cpu),
                        median(c) / median(s)),
            "<= 1.3x -s", median(c) / median(s) <= 1.3);
    add_row(p + "minisupctl --json status",
            fmt::format("{:.2f} ms (CPU {:.2f})", median(j), median(j_cpu)));
    add_row(p + "VmRSS (anon)",
            fmt::format("{:.1f} MB ({:.1f} MB)", static_cast<double>(first.rss_kb) / 1024.0,
                        static_cast<double>(first.anon_kb) / 1024.0),
            big ? "< 40 MB" : "-",
            big ? std::optional<bool>(first.rss_kb < 40 * 1024) : std::nullopt);
    add_row(p + "update, config unchanged",
            fmt::format("{:.1f} ms (CPU {:.1f})", update, update_cpu));
    add_row(p + "update, every program changed",
            fmt::format("{:.1f} ms (CPU {:.1f})", changed, changed_cpu));
    add_row(p + "shutdown", fmt::format("{:.1f} ms (CPU {:.1f})", shutdown, shutdown_cpu));
    add_row(p + "  / bare SIGTERM + waitpid", fmt::format("{:.2f}x", shutdown / reap_wall),
            big ? "<= 2x" : "-",
            big ? std::optional<bool>(shutdown / reap_wall <= 2.0) : std::nullopt);
    note_per_program("start all " + logs, count, spawn);
    note_per_program("start all CPU " + logs, count, spawn_cpu);
    note_per_program("status -s " + logs, count, median(s));
    note_per_program("status -c " + logs, count, median(c));
    note_per_program("status --json " + logs, count, median(j));
    note_per_program("update CPU " + logs, count, update_cpu);
    note_per_program("update changed CPU " + logs, count, changed_cpu);
    note_per_program("shutdown " + logs, count, shutdown);
    note_per_program("shutdown CPU " + logs, count, shutdown_cpu);
    g_per_program_us[fmt::format("anon KB@{} {}", count, logs)] =
        static_cast<double>(first.anon_kb) / count;
  }
  std::cout << '\n';
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts{1000, 10000};
  std::vector<std::string> log_settings{"NONE", "AUTO"};
  int reps = 3, status_runs = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--programs" && i + 1 < argc) {
      counts.clear();
      for (const auto& part : split(argv[++i])) counts.push_back(std::atoi(part.c_str()));
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (arg == "--status-runs" && i + 1 < argc) {
      status_runs = std::atoi(argv[++i]);
    } else if (arg == "--logs" && i + 1 < argc) {
      log_settings = split(argv[++i]);
    } else if (arg == "--skip-changed-update") {
      g_skip_changed_update = true;
    } else {
      std::cerr << "usage: bench_scale [--programs 1000,10000] [--reps 3] [--status-runs 10] "
                   "[--logs NONE,AUTO] [--skip-changed-update]\n";
      return 2;
    }
  }
  if (counts.empty() || reps <= 0 || status_runs <= 0) {
    std::cerr << "bench_scale: counts, --reps and --status-runs must be positive\n";
    return 2;
  }
  for (int count : counts) {
    if (count <= 0) {
      std::cerr << "bench_scale: --programs must be positive\n";
      return 2;
    }
  }
  // minisupd inherits our limit: a program needs a pidfd (logs NONE), plus
  // two pipes and two log files with AUTO logs.
  const int biggest = *std::max_element(counts.begin(), counts.end());
  const rlim_t limit = raise_nofile_limit(static_cast<rlim_t>(biggest) * 6 + 1024);
  std::signal(SIGPIPE, SIG_IGN);
  std::cout << fmt::format(
      "minisupd: {}\nminisupctl: {}\nRLIMIT_NOFILE: {}\nload average at start: {}\n\n",
      minisupd_path(), minisupctl_path(), limit, load_average());
  try {
    for (int count : counts) {
      std::vector<std::string> settings;
      for (const auto& logs : log_settings) {
        const rlim_t needed = static_cast<rlim_t>(count) * (logs == "AUTO" ? 5 : 1) + 256;
        if (needed > limit) {
          std::cout << fmt::format("(logs {} skipped for {}: needs ~{} descriptors, limit {})\n",
                                   logs, count, needed, limit);
          continue;
        }
        settings.push_back(logs);
      }
      measure(count, settings, reps, status_runs);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_scale: " << e.what() << '\n';
    print_table();
    return 1;
  }
  std::cout << fmt::format("load average at the end: {}\n", load_average());
  print_table();
  if (counts.size() > 1) {
    const int a = counts.front(), b = counts.back();
    std::cout << fmt::format(
        "\nper program (us; anon KB), {} vs {}: ratio > ~1.3 grows faster "
        "than linearly\n",
        a, b);
    std::map<std::string, std::pair<double, double>> pairs;
    for (const auto& [key, value] : g_per_program_us) {
      const auto at = key.find('@');
      std::string figure = key.substr(0, at);
      std::string rest = key.substr(at + 1);
      const auto space = rest.find(' ');
      const int count = std::atoi(rest.substr(0, space).c_str());
      if (space != std::string::npos) figure += rest.substr(space);
      if (count == a) pairs[figure].first = value;
      if (count == b) pairs[figure].second = value;
    }
    for (const auto& [figure, values] : pairs) {
      if (values.first <= 0 || values.second <= 0) continue;
      std::cout << fmt::format("   {:<26} {:9.2f} {:9.2f}  x{:.2f}\n", figure, values.first,
                               values.second, values.second / values.first);
    }
  }
  return 0;
}
