// How fast load_config() turns large configurations into a Config: 10,000
// programs in one file, and the same programs as 10,000 included files
// (one file per program, the norm). Also diff_configs() over 10,000
// programs, which `reread`/`update`/SIGHUP run on every reload.
//
// Run: build/bench/bench_config_load  (the configs are generated in a
// temporary directory, removed at exit).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "supervisor/config/config_diff.h"
#include "supervisor/config/load_config.h"

namespace {

namespace fs = std::filesystem;
using minisup::config::Config;
using minisup::config::LoadResult;

constexpr int kPrograms = 10000;

/// One program table, with the keys a real deployment tends to set.
std::string program_table(int i) {
  return "[program.worker-" + std::to_string(i) +
         "]\n"
         "command = \"/usr/local/bin/worker --queue 'q " +
         std::to_string(i % 17) +
         "' --id ${MINISUP_PROCESS_NUM} --home ${HOME}\"\n"
         "directory = \"/srv/app\"\n"
         "environment = { QUEUE = \"q" +
         std::to_string(i) +
         "\", TZ = \"UTC\" }\n"
         "priority = " +
         std::to_string(100 + i % 10) +
         "\n"
         "startsecs = 0.5\n"
         "stopwaitsecs = 5\n"
         "stopsignal = \"INT\"\n"
         "autorestart = true\n"
         "stdout_logfile_maxbytes = \"10MB\"\n"
         "redirect_stderr = true\n\n";
}

/// A temporary directory holding both generated configurations.
class Fixture {
 public:
  Fixture() {
    std::string pattern = (fs::temp_directory_path() / "minisup-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    fs::create_directories(dir_ / "one");
    fs::create_directories(dir_ / "many/conf.d");
    std::ofstream one(dir_ / "one/minisup.toml");
    one << "[supervisor]\nenvironment = { HOME = \"/home/app\" }\n\n";
    for (int i = 0; i < kPrograms; ++i) one << program_table(i);
    std::ofstream many(dir_ / "many/minisup.toml");
    many << "[supervisor]\nenvironment = { HOME = \"/home/app\" }\ninclude = [\"conf.d/*.toml\"]\n";
    for (int i = 0; i < kPrograms; ++i) {
      std::ofstream(dir_ / "many/conf.d" / ("worker-" + std::to_string(i) + ".toml"))
          << program_table(i);
    }
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path one_file() const { return dir_ / "one/minisup.toml"; }
  fs::path many_files() const { return dir_ / "many/minisup.toml"; }

 private:
  fs::path dir_;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

Config load_or_die(const fs::path& file) {
  LoadResult result = minisup::config::load_config(file, {});
  if (!result.errors.empty()) throw std::runtime_error(result.errors.front().to_string());
  if (result.config->programs.size() != kPrograms)
    throw std::runtime_error("wrong number of programs");
  return std::move(*result.config);
}

void BM_LoadOneFile(benchmark::State& state) {
  const fs::path file = fixture().one_file();
  for (auto _ : state) benchmark::DoNotOptimize(load_or_die(file));
  state.SetItemsProcessed(state.iterations() * kPrograms);
  state.counters["bytes"] = static_cast<double>(fs::file_size(file));
}
BENCHMARK(BM_LoadOneFile)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LoadTenThousandIncludes(benchmark::State& state) {
  const fs::path file = fixture().many_files();
  for (auto _ : state) benchmark::DoNotOptimize(load_or_die(file));
  state.SetItemsProcessed(state.iterations() * kPrograms);
}
BENCHMARK(BM_LoadTenThousandIncludes)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DiffConfigs(benchmark::State& state) {
  const Config before = load_or_die(fixture().one_file());
  Config after = before;
  after.programs[42].stopwaitsecs += std::chrono::seconds(1);  // one changed program
  for (auto _ : state) {
    auto diff = minisup::config::diff_configs(before, after);
    if (diff.changed.size() != 1) state.SkipWithError("expected one changed program");
    benchmark::DoNotOptimize(diff);
  }
  state.SetItemsProcessed(state.iterations() * kPrograms);
}
BENCHMARK(BM_DiffConfigs)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
