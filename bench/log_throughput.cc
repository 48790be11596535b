// Child output throughput: a child writes N bytes (default 1 GB) to stdout.
//
//   capture       the child's stdout is a pipe drained by an OutputCapture
//                 registered with a real EventLoop, into a LogFile (no
//                 rotation): minisupd's path for `stdout_logfile`.
//   capture_rot   the same with supervisord-like rotation (50 MB, 10 backups).
//   cat           the same child piped through `cat > file` (the baseline).
//
// Reported per run: wall time, throughput, the CPU time of this process (the
// loop, the capture and the file writes) per GB, and the children's CPU.
// Targets (DESIGN.md, "Performance"): capture within 1.3x of cat's wall
// time, and under 0.5 s of our CPU per GB.
//
// Size: MINISUP_BENCH_BYTES=N in the environment or --bytes=N (also 512M,
// 2G). Files go to /tmp (MINISUP_BENCH_DIR overrides) and are deleted.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/logging/child_log.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/pipe.h"
#include "supervisor/sys/spawn.h"

namespace {

using namespace minisup;

std::uint64_t g_bytes = 1ull << 30;
std::filesystem::path g_dir = "/tmp";
double g_wall_capture = 0;
double g_wall_cat = 0;
double g_cpu_per_gb_capture = 0;

std::uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit = end != nullptr ? end : "";
  double scale = 1;
  if (unit == "K" || unit == "k") scale = 1 << 10;
  if (unit == "M" || unit == "m") scale = 1 << 20;
  if (unit == "G" || unit == "g") scale = 1 << 30;
  return static_cast<std::uint64_t>(value * scale);
}

double cpu_seconds(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

pid_t spawn(std::vector<std::string> argv, int out) {
  sys::SpawnRequest request;
  request.argv = std::move(argv);
  request.envp = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
  request.stdout_fd = out;
  request.stderr_fd = -1;
  auto result = sys::spawn_process(request);
  if (auto* message = std::get_if<std::string>(&result)) {
    std::fprintf(stderr, "spawn: %s\n", message->c_str());
    std::exit(1);
  }
  return std::get<sys::SpawnedChild>(result).pid;
}

void wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void report(benchmark::State& state, double wall, double self_cpu, double child_cpu) {
  const double gb = static_cast<double>(g_bytes) / (1ull << 30);
  state.SetIterationTime(wall);
  state.SetBytesProcessed(static_cast<std::int64_t>(g_bytes));
  state.counters["wall_s"] = wall;
  state.counters["self_cpu_s_per_GB"] = self_cpu / gb;
  state.counters["child_cpu_s_per_GB"] = child_cpu / gb;
}

void run_capture(benchmark::State& state, std::uint64_t maxbytes, int backups, double* wall_out) {
  const std::filesystem::path path =
      g_dir / ("minisup-bench-capture-" + std::to_string(::getpid()) + ".log");
  for (auto _ : state) {
    loop::EventLoop loop;
    auto file = std::make_shared<logging::LogFile>(path, maxbytes, backups);
    const double self0 = cpu_seconds(RUSAGE_SELF);
    const double child0 = cpu_seconds(RUSAGE_CHILDREN);
    const auto t0 = std::chrono::steady_clock::now();
    sys::Pipe pipe = sys::make_pipe();
    pid_t pid = spawn({"head", "-c", std::to_string(g_bytes), "/dev/zero"}, pipe.write.get());
    pipe.write.reset();
    bool eof = false;
    auto capture = logging::OutputCapture::start(loop, std::move(pipe.read), file, [&] {
      eof = true;
      loop.stop();
    });
    loop.run();
    wait_child(pid);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double self_cpu = cpu_seconds(RUSAGE_SELF) - self0;
    const double child_cpu = cpu_seconds(RUSAGE_CHILDREN) - child0;
    if (!eof || capture->bytes_read() != g_bytes || file->dropped_bytes() != 0) {
      state.SkipWithError("capture lost bytes");
    }
    std::uint64_t on_disk = std::filesystem::file_size(path);
    for (int i = 1; i <= backups; ++i) {
      std::error_code ec;
      auto backup = path.native() + "." + std::to_string(i);
      on_disk += std::filesystem::exists(backup, ec) ? std::filesystem::file_size(backup) : 0;
      std::filesystem::remove(backup, ec);
    }
    if (maxbytes == 0 && on_disk != g_bytes) state.SkipWithError("file size differs");
    std::filesystem::remove(path);
    report(state, wall, self_cpu, child_cpu);
    *wall_out = wall;
    state.counters["wakeups"] = static_cast<double>(loop.wakeups());
  }
}

void BM_Capture(benchmark::State& state) {
  run_capture(state, 0, 0, &g_wall_capture);
  g_cpu_per_gb_capture = state.counters["self_cpu_s_per_GB"];
}

void BM_CaptureRotating(benchmark::State& state) {
  double ignored = 0;
  run_capture(state, 50ull << 20, 10, &ignored);
}

void BM_Cat(benchmark::State& state) {
  const std::filesystem::path path =
      g_dir / ("minisup-bench-cat-" + std::to_string(::getpid()) + ".log");
  for (auto _ : state) {
    const double self0 = cpu_seconds(RUSAGE_SELF);
    const double child0 = cpu_seconds(RUSAGE_CHILDREN);
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid =
        spawn({"sh", "-c",
               "head -c " + std::to_string(g_bytes) + " /dev/zero | cat > '" + path.native() + "'"},
              -1);
    wait_child(pid);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (std::filesystem::file_size(path) != g_bytes)
      state.SkipWithError("cat wrote a different size");
    std::filesystem::remove(path);
    report(state, wall, cpu_seconds(RUSAGE_SELF) - self0, cpu_seconds(RUSAGE_CHILDREN) - child0);
    g_wall_cat = wall;
  }
}

}  // namespace

BENCHMARK(BM_Cat)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Capture)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CaptureRotating)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  if (const char* env = std::getenv("MINISUP_BENCH_BYTES")) g_bytes = parse_size(env);
  if (const char* env = std::getenv("MINISUP_BENCH_DIR")) g_dir = env;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--bytes=", 0) == 0) {
      g_bytes = parse_size(arg.substr(8));
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  std::printf("child output: %llu bytes per run, files in %s\n",
              static_cast<unsigned long long>(g_bytes), g_dir.c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_wall_capture > 0 && g_wall_cat > 0) {
    const double ratio = g_wall_capture / g_wall_cat;
    std::printf("wall time capture/cat: %.2fx (target <= 1.30x): %s\n", ratio,
                ratio <= 1.3 ? "ok" : "MISSED");
    std::printf("CPU of this process per GB (capture): %.3f s (target < 0.5 s): %s\n",
                g_cpu_per_gb_capture, g_cpu_per_gb_capture < 0.5 ? "ok" : "MISSED");
  }
  return 0;
}
