// libFuzzer target: config::load_config on hostile TOML, includes and all.
//
// Model: the input is up to three files separated by a marker line
// "#@@ FILE" (FILE is ignored; the parts become, in order, the main file
// minisup.toml, conf.d/a.toml and conf.d/b.toml) written into a private
// temp tree that is made once per process. load_config() then reads the
// main file, expanding `include` globs as it likes (seeds use
// "conf.d/*.toml"). The outcome must be a Config or errors, never a crash,
// a sanitizer report or an exception, and must satisfy cheap invariants:
//   - every error names a file of the tree, has a message, and a position
//     (line >= 1, column >= 1) unless it is about the whole file (0:0);
//   - a Config exists exactly when there are no errors; its programs are
//     sorted by (priority, name), have unique names, numprocs processes,
//     each with a non-empty argv and absolute paths;
//   - check_summary() and diff_configs(c, c) work, and a config differs
//     in nothing from itself;
//   - find_socket() (minisupctl -c's fast path, which reads only the
//     [supervisor] part) gives the Config's socket whenever the load
//     succeeds, and never fails where the load succeeds.
//
// Include globs are confined to the tree: this file defines glob(), which
// the loader's call binds to (the executable's definition comes first),
// and refuses patterns outside the tree or with "..", so that an input
// like `include = ["/dev/*"]` cannot make the fuzzer read devices or FIFOs
// (a hang, not a finding). getaddrinfo() is confined the same way (numeric
// hosts only; see the end of this file).
#include <dlfcn.h>
#include <glob.h>
#include <netdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "supervisor/config/config_diff.h"
#include "supervisor/config/load_config.h"

namespace fs = std::filesystem;
using namespace minisup::config;

namespace {

// Made once per process: the tree's root (mkdtemp), removed at exit.
std::string g_root;

void remove_tree() {
  if (g_root.empty()) return;
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

const std::string& root() {
  if (g_root.empty()) {
    char pattern[] = "/tmp/minisup-fuzz-config-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    g_root = pattern;
    std::atexit(remove_tree);
  }
  return g_root;
}

void write_file(const fs::path& path, std::string_view text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::abort();
  }
  if (!text.empty()) std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

/// Splits `input` at lines starting with "#@@": at most three parts.
std::vector<std::string_view> split_files(std::string_view input) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  std::size_t line = 0;
  while (parts.size() < 2) {
    const std::size_t at = input.find("#@@", line);
    if (at == std::string_view::npos) break;
    if (at != 0 && input[at - 1] != '\n') {
      line = at + 1;
      continue;
    }
    parts.push_back(input.substr(start, at - start));
    const std::size_t eol = input.find('\n', at);
    start = line = eol == std::string_view::npos ? input.size() : eol + 1;
  }
  parts.push_back(input.substr(start));
  return parts;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_config: invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

#define CHECK(cond, detail)             \
  do {                                  \
    if (!(cond)) fail(#cond, (detail)); \
  } while (0)

bool in_tree(const std::string& path) {
  return path.size() > root().size() && path.compare(0, root().size(), root()) == 0 &&
         path[root().size()] == '/';
}

void check_errors(const LoadResult& result) {
  for (const ConfigError& e : result.errors) {
    const std::string text = e.to_string();
    CHECK(in_tree(e.where.file), text);
    CHECK(!e.message.empty(), text);
    const bool whole_file = e.where.line == 0 && e.where.column == 0;
    CHECK(whole_file || (e.where.line >= 1 && e.where.column >= 1), text);
    CHECK(text.compare(0, e.where.file.size(), e.where.file) == 0, text);
  }
}

void check_config(const Config& config, const fs::path& main) {
  CHECK(config.file == main, config.file.string());
  CHECK(config.supervisor.socket.is_absolute(), config.supervisor.socket.string());
  CHECK(config.supervisor.childlogdir.is_absolute(), config.supervisor.childlogdir.string());
  std::set<std::string> names;
  const ProgramConfig* previous = nullptr;
  for (const ProgramConfig& p : config.programs) {
    CHECK(!p.name.empty(), "empty program name");
    CHECK(names.insert(p.name).second, "duplicate program " + p.name);
    CHECK(config.find_program(p.name) == &p, p.name);
    if (previous) {
      CHECK(std::tie(previous->priority, previous->name) < std::tie(p.priority, p.name), p.name);
    }
    previous = &p;
    CHECK(p.numprocs >= 1 && p.numprocs <= 10000, p.name);
    CHECK(p.processes.size() == static_cast<std::size_t>(p.numprocs), p.name);
    CHECK(p.stopsignal >= 1 && p.stopsignal <= 64, p.name);
    CHECK(p.startretries >= 0, p.name);
    CHECK(p.startsecs.count() >= 0 && p.stopwaitsecs.count() >= 0, p.name);
    CHECK(in_tree(p.where.file) && p.where.line >= 1, p.name);
    CHECK(p.equals_definition(p), p.name);
    for (std::size_t i = 1; i < p.exitcodes.size(); ++i) {
      CHECK(p.exitcodes[i - 1] < p.exitcodes[i], p.name + ": exitcodes not sorted and unique");
    }
    for (std::size_t i = 0; i < p.processes.size(); ++i) {
      const ProcessConfig& proc = p.processes[i];
      // numprocs_start offsets the numbers (and the names with numprocs > 1).
      CHECK(proc.process_num == p.numprocs_start + static_cast<int>(i), proc.name);
      CHECK(p.numprocs == 1 ? proc.name == p.name
                            : proc.name == p.name + ":" + std::to_string(proc.process_num),
            proc.name);
      CHECK(!proc.command.empty() && !proc.command[0].empty(), proc.name + ": empty command");
      if (proc.directory) CHECK(fs::path(*proc.directory).is_absolute(), *proc.directory);
      for (const LogTarget* log : {&proc.stdout_logfile, &proc.stderr_logfile}) {
        if (log->kind == LogTarget::Kind::File) {
          CHECK(fs::path(log->path).is_absolute(), proc.name + ": log " + log->path);
        } else {
          CHECK(log->path.empty(), proc.name + ": log " + log->path);
        }
      }
    }
  }
  (void)check_summary(config);
  (void)worst_case_shutdown(config);
  CHECK(diff_configs(config, config).empty(), "a config differs from itself");
}

}  // namespace

// Keeps include globs inside the tree (see the top of this file).
extern "C" int glob(const char* pattern, int flags, int (*errfunc)(const char*, int),
                    glob_t* pglob) {
  using GlobFn = int (*)(const char*, int, int (*)(const char*, int), glob_t*);
  static GlobFn real = reinterpret_cast<GlobFn>(::dlsym(RTLD_NEXT, "glob"));
  const std::string p = pattern;
  if (!in_tree(p) || p.find("..") != std::string::npos || p.find('\\') != std::string::npos) {
    pglob->gl_pathc = 0;
    pglob->gl_pathv = nullptr;
    pglob->gl_offs = 0;
    return GLOB_NOMATCH;
  }
  return real(pattern, flags, errfunc, pglob);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Bigger inputs only test toml++'s speed; the 4 MiB cap has a unit test.
  if (size > 64 * 1024) return -1;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const fs::path dir = root();
  const fs::path main = dir / "minisup.toml";
  const fs::path confd = dir / "conf.d";
  std::error_code ec;
  fs::remove_all(confd, ec);
  fs::create_directory(confd);

  const std::vector<std::string_view> parts = split_files(input);
  write_file(main, parts[0]);
  if (parts.size() > 1) write_file(confd / "a.toml", parts[1]);
  if (parts.size() > 2) write_file(confd / "b.toml", parts[2]);

  static const Environment env{{"HOME", "/home/fuzz"}, {"USER", "fuzz"}, {"PORT", "8080"}};
  const LoadResult result = load_config(main, env);
  CHECK(result.config.has_value() == result.errors.empty(), "config present iff no errors");
  check_errors(result);
  if (result.config) check_config(*result.config, main);
  const SocketLookup found = find_socket(main, env);
  for (const ConfigError& e : found.errors) {
    CHECK(in_tree(e.where.file) && !e.message.empty(), e.to_string());
  }
  if (result.config) {
    CHECK(found.errors.empty(), "find_socket failed where load_config succeeded: " +
                                    (found.errors.empty() ? "" : found.errors[0].to_string()));
    CHECK(found.socket == result.config->supervisor.socket,
          found.socket.string() + " != " + result.config->supervisor.socket.string());
  }

  fs::remove(main, ec);
  fs::remove_all(confd, ec);
  return 0;
}

// Probe hosts (`ready = { tcp = "HOST:PORT" }`) are resolved when a config
// is loaded: numeric addresses only here, so that an input naming
// "example.com" cannot make the fuzzer wait on DNS (a hang, not a finding).
extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo numeric {};
  if (hints != nullptr) numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  return real(node, service, &numeric, res);
}
