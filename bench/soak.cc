// bench_soak: minisupd under a long run of crashing programs and polling
// clients (issue "Hardening"). Not a benchmark of speed: it looks for what
// only shows over time: memory or descriptors that grow, zombies that stay,
// a status reply that stalls.
//
// Usage: bench_soak [--duration SECS] [--numprocs N] [--clients N]
//                   [--poll-ms MS] [--kick-ms MS]
//   --duration  length of the run (default 600 s)
//   --numprocs  processes of each kind below (default 4)
//   --clients   status pollers, each a fresh connection per request (default 4)
//   --poll-ms   pause between two polls of one client (default 50)
//   --kick-ms   pause between two `start all` of the kicker (default 1000)
//
// What runs (all test_child, autorestart):
//   exit_now    exits 1 at once (startsecs = 0: each exit is a crash from RUNNING)
//   exit_soon   exits 3 after 0.3 s
//   killed      SIGKILLs itself after 0.2 s
//   segv        dies of SIGSEGV after 0.1 s (no core: RLIMIT_CORE is left as it is)
//   early       exits 1 after 0.05 s, before startsecs (0.5): BACKOFF, then FATAL
//   chatty      writes 20 KB then exits 0 after 0.4 s; logs rotate at 256 KB
// A crash loop backs off (1 s, 2 s, 4 s ... 60 s) and `early` goes FATAL,
// so a "kicker" client sends `start all` again and again (it waits for each
// reply): that starts whatever is in BACKOFF, EXITED or FATAL at once, and
// keeps the churn up for the whole run.
// An `events` subscription counts spawns (changes to STARTING) and exits.
//
// Every second the main thread samples minisupd: VmRSS, open descriptors,
// and its children in state Z; a zombie seen in two samples in a row (one
// that minisupd did not reap within a second) is a failure. At the end it
// prints a table, stops minisupd (SIGTERM) and exits 1 when something
// failed: a lasting zombie, a failed or missing status reply, minisupd gone.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

#include "bench/minisupd_harness.h"

namespace {

using namespace minisup::bench;

struct Options {
  double duration = 600;
  int numprocs = 4;
  int clients = 4;
  int poll_ms = 50;
  int kick_ms = 1000;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_soak: %s\n"
               "usage: bench_soak [--duration SECS] [--numprocs N] [--clients N] [--poll-ms MS]"
               " [--kick-ms MS]\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage("missing value for " + flag);
    const std::string value = argv[++i];
    try {
      if (flag == "--duration")
        o.duration = std::stod(value);
      else if (flag == "--numprocs")
        o.numprocs = std::stoi(value);
      else if (flag == "--clients")
        o.clients = std::stoi(value);
      else if (flag == "--poll-ms")
        o.poll_ms = std::stoi(value);
      else if (flag == "--kick-ms")
        o.kick_ms = std::stoi(value);
      else
        usage("unknown flag " + flag);
    } catch (const std::logic_error&) {
      usage("bad value for " + flag + ": " + value);
    }
  }
  if (o.duration <= 0 || o.numprocs < 1 || o.clients < 0 || o.poll_ms < 0 || o.kick_ms < 0)
    usage("values must be positive");
  return o;
}

std::string config_text(const TempDir& dir, int numprocs) {
  const std::string child = std::string(MINISUP_HELPERS_DIR) + "/test_child";
  struct Kind {
    const char* name;
    const char* flags;
    const char* extra;
  };
  const Kind kinds[] = {
      {"exit_now", "--exit 1", "startsecs = 0\nautorestart = true\n"},
      {"exit_soon", "--after 0.3 --exit 3", "startsecs = 0\nautorestart = true\n"},
      {"killed", "--after 0.2 --raise 9", "startsecs = 0\nautorestart = true\n"},
      {"segv", "--after 0.1 --raise 11", "startsecs = 0\nautorestart = true\n"},
      {"early", "--after 0.05 --exit 1", "startsecs = 0.5\nautorestart = true\n"},
      {"chatty", "--write-bytes 20000 --after 0.4",
       "startsecs = 0\nautorestart = true\nstdout_logfile_maxbytes = \"256KB\"\n"
       "stdout_logfile_backups = 2\n"},
  };
  std::string text = fmt::format(
      "[supervisor]\nsocket = \"{}\"\nlogfile = \"{}\"\nchildlogdir = \"{}\"\n\n",
      (dir / "minisup.sock").string(), (dir / "minisupd.log").string(), (dir / "logs").string());
  for (const Kind& k : kinds) {
    text += fmt::format(
        "[program.{}]\ncommand = \"{} {}\"\nnumprocs = {}\nstopwaitsecs = 1\n{}\n", k.name,
        child, k.flags, numprocs, k.extra);
  }
  return text;
}

/// Open descriptors of `pid` (-1 when unreadable).
int open_fds(pid_t pid) {
  std::error_code ec;
  fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return -1;
  int count = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++count;
  }
  return count;
}

/// Children of `parent` in state Z.
std::set<pid_t> zombie_children(pid_t parent) {
  std::set<pid_t> zombies;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) continue;
    std::istringstream fields(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent && state == 'Z') zombies.insert(std::stoi(name));
  }
  return zombies;
}

/// What the status pollers saw; shared, under `mutex`.
struct PollStats {
  std::mutex mutex;
  std::vector<double> round_trips_ms;  // connect + request + whole reply
  long failures = 0;
  std::string first_failure;
};

void poller(const fs::path& socket, int pause_ms, const std::atomic<bool>& stop, PollStats& stats) {
  std::vector<double> local;
  long failures = 0;
  std::string first_failure;
  while (!stop.load()) {
    const auto t0 = Clock::now();
    try {
      Client client(socket);
      json reply = client.request({{"cmd", "status"}}, std::chrono::seconds(10));
      local.push_back(ms_between(t0, Clock::now()));
      if (reply.value("processes", json::array()).empty()) throw std::runtime_error("no processes");
    } catch (const std::exception& e) {
      if (failures++ == 0) first_failure = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  std::lock_guard<std::mutex> lock(stats.mutex);
  stats.round_trips_ms.insert(stats.round_trips_ms.end(), local.begin(), local.end());
  stats.failures += failures;
  if (stats.first_failure.empty()) stats.first_failure = first_failure;
}

struct KickStats {
  long kicks = 0;
  long failures = 0;
  double slowest_ms = 0;
  std::string first_failure;
};

/// `start all` again and again: restarts what waits in BACKOFF or is FATAL.
void kicker(const fs::path& socket, int pause_ms, const std::atomic<bool>& stop, KickStats& stats) {
  while (!stop.load()) {
    const auto t0 = Clock::now();
    try {
      Client client(socket);
      client.send_line(json({{"cmd", "start"}, {"names", {"all"}}}).dump());
      // Bounded: an unanswered kick is reported, and the next one is sent.
      json reply = json::parse(client.read_line(std::chrono::seconds(30)));
      // A program that went FATAL makes the reply an error (spawn_failed
      // or similar): expected here; the request itself was served.
      if (!reply.contains("results") && !reply.value("ok", false))
        throw std::runtime_error(reply.dump());
      ++stats.kicks;
      stats.slowest_ms = std::max(stats.slowest_ms, ms_between(t0, Clock::now()));
    } catch (const std::exception& e) {
      if (stats.failures++ == 0) stats.first_failure = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
}

struct EventStats {
  std::atomic<long> spawns{0};
  std::atomic<long> exits{0};
  std::atomic<long> fatal{0};
  std::atomic<long> gaps{0};
  std::string error;
};

/// Counts state changes from an `events` subscription until `stop`.
void event_counter(const fs::path& socket, const std::atomic<bool>& stop, EventStats& stats) {
  try {
    Client client(socket);
    client.send_line(json({{"cmd", "events"}}).dump());
    while (!stop.load()) {
      std::string line;
      try {
        line = client.read_line(std::chrono::milliseconds(200));
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "no reply from minisupd in time") continue;
        throw;
      }
      json event = json::parse(line);
      const std::string kind = event.value("event", "");
      if (kind == "gap") ++stats.gaps;
      if (kind != "state") continue;
      const std::string to = event.value("to", "");
      if (to == "STARTING") ++stats.spawns;
      if (to == "FATAL") ++stats.fatal;
      if (!event["exit_code"].is_null() || !event["exit_signal"].is_null()) ++stats.exits;
    }
  } catch (const std::exception& e) {
    if (!stop.load()) stats.error = e.what();
  }
}

struct Sample {
  double at_s = 0;
  long rss_kib = 0;
  int fds = 0;
  std::size_t zombies = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  // Runs as root are the norm here: children inherit this process's limits.
  TempDir dir("minisup-soak");
  write_file(dir / "minisup.toml", config_text(dir, o.numprocs));
  const fs::path socket = dir / "minisup.sock";
  Daemon daemon(dir / "minisup.toml", socket, dir / "minisupd.out");
  const pid_t pid = daemon.pid();
  const auto t0 = Clock::now();
  std::printf("bench_soak: %.0f s, 6 kinds x %d processes, %d status clients every %d ms, "
              "kicker every %d ms; load %s\n",
              o.duration, o.numprocs, o.clients, o.poll_ms, o.kick_ms, load_average().c_str());
  std::fflush(stdout);

  std::atomic<bool> stop{false};
  PollStats polls;
  KickStats kicks;
  EventStats events;
  std::vector<std::thread> threads;
  threads.emplace_back(event_counter, socket, std::cref(stop), std::ref(events));
  for (int i = 0; i < o.clients; ++i)
    threads.emplace_back(poller, socket, o.poll_ms, std::cref(stop), std::ref(polls));
  threads.emplace_back(kicker, socket, o.kick_ms, std::cref(stop), std::ref(kicks));

  std::vector<Sample> samples;
  std::set<pid_t> previous_zombies;
  std::set<pid_t> lasting_zombies;
  std::size_t most_zombies = 0;
  bool daemon_gone = false;
  const Clock::time_point end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  auto next = t0;
  int last_report = 0;
  while (Clock::now() < end) {
    next += std::chrono::seconds(1);
    std::this_thread::sleep_until(std::min<Clock::time_point>(next, end));
    Sample s;
    s.at_s = ms_between(t0, Clock::now()) / 1000;
    try {
      s.rss_kib = proc_status_value(pid, "VmRSS");
    } catch (const std::exception&) {
      daemon_gone = true;
      break;
    }
    s.fds = open_fds(pid);
    std::set<pid_t> zombies = zombie_children(pid);
    s.zombies = zombies.size();
    most_zombies = std::max(most_zombies, zombies.size());
    for (pid_t z : zombies)
      if (previous_zombies.count(z) != 0) lasting_zombies.insert(z);
    previous_zombies = std::move(zombies);
    samples.push_back(s);
    const int minute = static_cast<int>(s.at_s / 60);
    if (minute > last_report) {
      last_report = minute;
      std::printf("  %4.0f s: VmRSS %ld KiB, %d fds, %ld spawns so far\n", s.at_s, s.rss_kib,
                  s.fds, events.spawns.load());
      std::fflush(stdout);
    }
  }
  stop = true;
  for (auto& t : threads) t.join();

  double shutdown_ms = -1;
  int exit_status = -1;
  if (!daemon_gone) {
    try {
      shutdown_ms = daemon.terminate(std::chrono::seconds(30));
      exit_status = daemon.exit_status();
    } catch (const std::exception& e) {
      std::printf("shutdown failed: %s\n", e.what());
    }
  }

  if (samples.empty()) {
    std::printf("no sample taken: minisupd %s\n", daemon_gone ? "died" : "?");
    return 1;
  }
  // "Start" is the first sample (1 s in: everything spawned once), and
  // the figure after a tenth of the run, once buffers and the event ring
  // have reached their size, is the fairer baseline for growth.
  const Sample& first = samples.front();
  const Sample& warm = samples[std::min(samples.size() - 1, samples.size() / 10)];
  const Sample& last = samples.back();
  long max_rss = 0;
  int max_fds = 0;
  for (const Sample& s : samples) {
    max_rss = std::max(max_rss, s.rss_kib);
    max_fds = std::max(max_fds, s.fds);
  }
  const double elapsed_s = last.at_s;
  std::vector<double> rt = polls.round_trips_ms;

  std::printf("\n%-34s %10s %10s %10s %10s\n", "minisupd", "at 1 s",
              fmt::format("at {:.0f} s", warm.at_s).c_str(), "end", "max");
  std::printf("%-34s %10ld %10ld %10ld %10ld\n", "VmRSS (KiB)", first.rss_kib, warm.rss_kib,
              last.rss_kib, max_rss);
  std::printf("%-34s %10d %10d %10d %10d\n", "open descriptors", first.fds, warm.fds, last.fds,
              max_fds);
  std::printf("\n%-34s %s\n", "figure", "value");
  std::printf("%-34s %.0f s, %zu samples\n", "run", elapsed_s, samples.size());
  std::printf("%-34s %ld (%.1f/s), %ld exits, %ld to FATAL\n", "spawns (events)",
              events.spawns.load(), static_cast<double>(events.spawns.load()) / elapsed_s,
              events.exits.load(), events.fatal.load());
  std::printf("%-34s %zu (most in one sample: %zu)\n", "zombies lasting > 1 sample",
              lasting_zombies.size(), most_zombies);
  std::printf("%-34s %zu, failed %ld\n", "status replies", rt.size(), polls.failures);
  std::printf("%-34s median %.2f ms, p99 %.2f ms, slowest %.2f ms\n", "status round trip",
              median(rt), quantile(rt, 0.99), maximum(rt));
  std::printf("%-34s %ld answered (slowest %.0f ms), %ld not answered within 30 s\n",
              "kicks (start all)", kicks.kicks, kicks.slowest_ms, kicks.failures);
  std::printf("%-34s %.0f ms, exit %d\n", "shutdown (SIGTERM to exit)", shutdown_ms,
              exit_status >= 0 && WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : -1);
  if (events.gaps.load() > 0 || !events.error.empty())
    std::printf("%-34s %ld gaps %s\n", "event stream", events.gaps.load(), events.error.c_str());
  if (!polls.first_failure.empty())
    std::printf("first status failure: %s\n", polls.first_failure.c_str());
  if (!kicks.first_failure.empty())
    std::printf("first kick failure: %s\n", kicks.first_failure.c_str());
  std::printf("load average at the end: %s\n", load_average().c_str());

  const bool failed = daemon_gone || !lasting_zombies.empty() || polls.failures > 0 || rt.empty() ||
                      exit_status < 0 || !WIFEXITED(exit_status) || WEXITSTATUS(exit_status) != 0;
  std::printf("%s\n", failed ? "FAILED" : "ok");
  return failed ? 1 : 0;
}
