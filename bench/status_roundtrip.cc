// What `status` costs with 1,000 programs RUNNING, end to end and in
// parts:
//   (a) the round trip over the raw control socket: one connection, then
//       {"cmd":"status"} sent and the whole reply line read, 200 times
//       (median, p99);
//   (b) a whole `minisupctl -s SOCKET status` process (fork, exec, connect,
//       request, render, exit; output to /dev/null), 50 times (median), also
//       `-c FILE status` (the socket found in the config, whose programs
//       are not read: target within 1.3x of -s) and --json; and `supervisorctl status` against a
//       supervisord running the same 1,000 programs, when both are installed;
//   (c) micro-benchmarks (Google Benchmark) of the pieces, in this process:
//       encoding the 1,000-process reply (the daemon's side), parsing it and
//       rendering the table (minisupctl's side).
//
// Run: build/bench/bench_status_roundtrip [--programs N] [Google Benchmark flags]
// About 30 s with 1,000 programs. minisupd and its children are stopped and
// the temporary directory removed at exit, also when a part fails.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "bench/minisupd_harness.h"
#include "supervisor/control/protocol.h"
#include "supervisor/ctl/render.h"

extern char** environ;

namespace {

using namespace minisup::bench;
using namespace std::chrono_literals;

constexpr int kRawCalls = 200;
constexpr int kCtlRuns = 50;

/// The reply line of the last raw `status` call, for the micro-benchmarks.
std::string g_status_line;

/// `count` programs running `sleep 3600`, RUNNING at once.
std::string config_text(const TempDir& dir, int count) {
  std::string out =
      fmt::format("[supervisor]\nsocket = \"{}\"\nlogfile = \"{}\"\nloglevel = \"info\"\n\n",
                  (dir / "minisup.sock").string(), (dir / "minisupd.log").string());
  for (int i = 0; i < count; ++i) {
    out += fmt::format(
        "[program.p{:04d}]\ncommand = [\"/bin/sleep\", \"3600\"]\nstartsecs = 0\n"
        "stdout_logfile = \"NONE\"\nstderr_logfile = \"NONE\"\n\n",
        i);
  }
  return out;
}

/// The first executable `name` in PATH, or "".
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

/// `supervisorctl status` timed against a supervisord running `count`
/// `sleep 3600` programs, when both are installed; else says why not.
void compare_supervisorctl(int count) {
  const std::string ctl = find_in_path("supervisorctl");
  const std::string daemon = find_in_path("supervisord");
  if (ctl.empty() || daemon.empty()) {
    std::cout << "   supervisorctl status:       not installed (no comparison)\n";
    return;
  }
  TempDir dir("minisup-bench-supervisord");
  std::string conf = fmt::format(
      "[unix_http_server]\nfile = {0}/supervisor.sock\n\n"
      "[supervisord]\nnodaemon = true\nlogfile = {0}/supervisord.log\npidfile = "
      "{0}/supervisord.pid\n"
      "childlogdir = {0}\n\n"
      "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = "
      "supervisor.rpcinterface:make_main_rpcinterface\n\n"
      "[supervisorctl]\nserverurl = unix://{0}/supervisor.sock\n\n",
      dir.path().string());
  for (int i = 0; i < count; ++i) {
    conf += fmt::format(
        "[program:p{:04d}]\ncommand = /bin/sleep 3600\nstartsecs = 0\nstdout_logfile = NONE\n"
        "stderr_logfile = NONE\n\n",
        i);
  }
  const fs::path conf_file = dir / "supervisord.conf";
  write_file(conf_file, conf);
  pid_t pid = ::fork();
  if (pid < 0) throw sys_error("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(daemon.c_str(), daemon.c_str(), "-c", conf_file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Stopper {
    pid_t pid;
    ~Stopper() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } stopper{pid};
  // supervisorctl status exits 0 once every program is RUNNING.
  const auto deadline = Clock::now() + 120s;
  for (;;) {
    try {
      run_process({ctl, "-c", conf_file.string(), "status"}, {0});
      break;
    } catch (const std::exception&) {
      if (Clock::now() > deadline)
        throw std::runtime_error("supervisord did not start every program in time");
      std::this_thread::sleep_for(500ms);
    }
  }
  constexpr int kRuns = 10;  // a Python start-up each: slow
  std::vector<double> runs;
  for (int i = 0; i < kRuns; ++i)
    runs.push_back(run_process({ctl, "-c", conf_file.string(), "status"}, {0}).wall);
  std::cout << fmt::format(
      "   supervisorctl status:       median {:8.2f} ms  (min {:.2f}, {} runs)\n", median(runs),
      minimum(runs), kRuns);
}

/// Parts (a) and (b): needs minisupd and `count` programs.
void measure_with_daemon(int count) {
  TempDir dir;
  write_file(dir / "minisup.toml", config_text(dir, count));
  Daemon daemon(dir / "minisup.toml", dir / "minisup.sock", dir / "minisupd.out");
  daemon.wait_all_running(120);
  std::cout << fmt::format("{} programs RUNNING (minisupd pid {}); load average {}\n\n", count,
                           daemon.pid(), load_average());

  // (a) raw round trip on one connection.
  std::vector<double> raw;
  double daemon_cpu_per_call = 0;
  {
    Client client = daemon.connect();
    double cpu0 = 0;
    const std::string request = R"({"cmd":"status"})";
    for (int i = 0; i < kRawCalls + 10; ++i) {  // the first 10 warm up
      if (i == 10) cpu0 = process_cpu_ms(daemon.pid());
      const auto t0 = Clock::now();
      client.send_line(request);
      std::string line = client.read_line();
      const double ms = ms_between(t0, Clock::now());
      if (i >= 10) raw.push_back(ms);
      if (i == 0) {
        json reply = json::parse(line);
        if (!reply.value("ok", false) ||
            reply.at("processes").size() != static_cast<std::size_t>(count)) {
          throw std::runtime_error("unexpected status reply");
        }
      }
      g_status_line = std::move(line);
    }
    daemon_cpu_per_call = (process_cpu_ms(daemon.pid()) - cpu0) / kRawCalls;
  }
  std::cout << fmt::format("(a) raw socket status round trip ({} calls, reply {} bytes)\n",
                           kRawCalls, g_status_line.size());
  std::cout << fmt::format("   median {:.3f} ms   p99 {:.3f} ms   min {:.3f} ms   max {:.3f} ms\n",
                           median(raw), quantile(raw, 0.99), minimum(raw), maximum(raw));
  std::cout << fmt::format("   minisupd's CPU time per call: {:.3f} ms\n\n", daemon_cpu_per_call);

  // (b) whole minisupctl processes. `status` exits 0: every process RUNNING.
  const std::string sock = daemon.socket().string();
  const std::string ctl = minisupctl_path();
  const std::string config_file = (dir / "minisup.toml").string();
  struct Variant {
    const char* label;
    std::vector<std::string> args;
    std::vector<double> wall, cpu;
  };
  std::vector<Variant> variants{
      {"minisupctl -s SOCKET status", {ctl, "-s", sock, "status"}, {}, {}},
      {"minisupctl -c FILE status", {ctl, "-c", config_file, "status"}, {}, {}},
      {"minisupctl --json status", {ctl, "-s", sock, "--json", "status"}, {}, {}},
      {"minisupctl version", {ctl, "-s", sock, "version"}, {}, {}},
  };
  for (int i = 0; i < kCtlRuns + 3; ++i) {  // interleaved; the first 3 warm up
    for (auto& v : variants) {
      ProcessRun t = run_process(v.args, {0});
      if (i >= 3) {
        v.wall.push_back(t.wall);
        v.cpu.push_back(t.cpu);
      }
    }
  }
  std::cout << fmt::format("(b) whole minisupctl process ({} runs each; CPU = minisupctl's own)\n",
                           kCtlRuns);
  for (const auto& v : variants) {
    std::cout << fmt::format(
        "   {:<26}  median {:7.2f} ms  (min {:.2f}, p90 {:.2f}); CPU median {:.2f} ms\n", v.label,
        median(v.wall), minimum(v.wall), quantile(v.wall, 0.9), median(v.cpu));
  }
  std::cout << fmt::format("   target: whole `minisupctl status` < 5 ms: {} (median {:.2f} ms)\n",
                           median(variants[0].wall) < 5.0 ? "ok" : "MISSED",
                           median(variants[0].wall));
  const double c_ratio = median(variants[1].wall) / median(variants[0].wall);
  std::cout << fmt::format(
      "   target: `-c FILE status` within 1.3x of `-s SOCKET status`: {} ({:.2f}x; CPU {:.2f} vs "
      "{:.2f} ms)\n",
      c_ratio <= 1.3 ? "ok" : "MISSED", c_ratio, median(variants[1].cpu), median(variants[0].cpu));
  compare_supervisorctl(count);
  std::cout << '\n';
}

// ---------------------------------------------------------------------------
// (c) micro-benchmarks on the captured reply
// ---------------------------------------------------------------------------

/// The daemon's side: the reply line for the captured processes.
void BM_EncodeStatusReply(benchmark::State& state) {
  auto parsed = minisup::control::decode_status_line(g_status_line);
  if (!parsed) {
    state.SkipWithError("cannot parse the captured status reply");
    return;
  }
  const minisup::control::StatusReply& reply = parsed->reply;
  for (auto _ : state) {
    std::string line = minisup::control::encode_reply(nlohmann::json(), reply);
    benchmark::DoNotOptimize(line);
  }
  state.counters["processes"] = static_cast<double>(reply.processes.size());
}

/// minisupctl's side: decoding the reply line (its one-pass fast path).
void BM_DecodeStatusLine(benchmark::State& state) {
  for (auto _ : state) {
    auto parsed = minisup::control::decode_status_line(g_status_line);
    benchmark::DoNotOptimize(parsed);
  }
}

/// minisupctl's side: rendering the table.
void BM_RenderStatusTable(benchmark::State& state) {
  auto parsed = minisup::control::decode_status_line(g_status_line);
  if (!parsed) {
    state.SkipWithError("cannot parse the captured status reply");
    return;
  }
  for (auto _ : state) {
    std::string table = minisup::ctl::render_status(parsed->reply.processes, false);
    benchmark::DoNotOptimize(table);
  }
}

/// The same line parsed into a nlohmann::json DOM, for scale.
void BM_NlohmannParseOnly(benchmark::State& state) {
  for (auto _ : state) {
    auto value = nlohmann::json::parse(g_status_line);
    benchmark::DoNotOptimize(value);
  }
}

BENCHMARK(BM_EncodeStatusReply)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeStatusLine)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RenderStatusTable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NlohmannParseOnly)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  int count = 1000;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--programs" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (count <= 0) {
    std::cerr << "bench_status_roundtrip: --programs must be positive\n";
    return 2;
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    measure_with_daemon(count);
  } catch (const std::exception& e) {
    std::cerr << "bench_status_roundtrip: " << e.what() << '\n';
    return 1;
  }
  std::cout << "(c) the pieces, in this process, on the captured reply\n";
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
