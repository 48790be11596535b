// The oracle: real supervisord (Debian's `supervisor` package, which
// scripts/test.sh installs) runs a supervisord.conf, then minisupd runs
// what `minisupctl convert` made of it; every program is
// tests/helpers/record_exec, which writes down its arguments, working
// directory and environment. Both must have started the same processes
// with the same argv, cwd and environment, apart from each supervisor's
// own variables (SUPERVISOR_*, MINISUP_*). Skipped where supervisord is
// not installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

/// What one record_exec process wrote.
struct Record {
  std::vector<std::string> argv;  ///< without argv[0]
  std::string cwd;
  std::map<std::string, std::string> env;  ///< without SUPERVISOR_* and MINISUP_*
  bool operator==(const Record&) const = default;
};

void PrintTo(const Record& r, std::ostream* os) {
  *os << "argv:";
  for (const auto& a : r.argv) *os << " [" << a << "]";
  *os << "\ncwd: " << r.cwd << "\nenv:";
  for (const auto& [k, v] : r.env) *os << "\n  " << k << "=" << v;
}

Record parse_record(const std::string& text) {
  Record record;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("argv ", 0) == 0) {
      const std::size_t space = line.find(' ', 5);
      record.argv.push_back(line.substr(space + 1));
    } else if (line.rfind("cwd ", 0) == 0) {
      record.cwd = line.substr(4);
    } else if (line.rfind("env ", 0) == 0) {
      const std::string entry = line.substr(4);
      const std::size_t eq = entry.find('=');
      const std::string name = entry.substr(0, eq);
      if (name.rfind("SUPERVISOR_", 0) == 0 || name.rfind("MINISUP_", 0) == 0) continue;
      record.env[name] = entry.substr(eq + 1);
    }
  }
  return record;
}

std::optional<std::string> find_supervisord() {
  for (const char* path : {"/usr/bin/supervisord", "/usr/local/bin/supervisord"}) {
    if (::access(path, X_OK) == 0) return std::string(path);
  }
  return std::nullopt;
}

/// The environment both supervisors run with: fixed, so that the
/// comparison does not depend on the test's own.
std::vector<std::string> base_environment() {
  const char* path = std::getenv("PATH");
  return {std::string("PATH=") + (path ? path : "/usr/bin:/bin"), "HOME=/root", "LANG=C.UTF-8",
          "LC_ALL=C.UTF-8",              // no locale coercion by Python (it would add LC_CTYPE)
          "ORACLE_VAR=from-the-parent",  // no blanks: supervisord would split it (a known
                                         // difference, noted by convert)
          "TZ=UTC"};
}

/// Runs argv with exactly `env` in `dir`; stdout and stderr to `log`.
pid_t launch(const std::vector<std::string>& argv, const std::vector<std::string>& env,
             const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

/// SIGTERM, then the exit status (SIGKILL after 30 s).
int terminate(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const std::vector<std::string> kRecords{"plain", "multi-3", "multi-4", "grouped", "included"};

/// Waits for every record file in `out`, reads and removes them.
std::map<std::string, Record> collect(const fs::path& out, const fs::path& log) {
  std::map<std::string, Record> records;
  const bool all = eventually(
      [&] {
        return std::all_of(kRecords.begin(), kRecords.end(),
                           [&](const std::string& name) { return fs::exists(out / name); });
      },
      30s);
  EXPECT_TRUE(all) << "not every program started; log:\n" << read_file(log);
  for (const std::string& name : kRecords) {
    if (fs::exists(out / name)) records[name] = parse_record(read_file(out / name));
    fs::remove(out / name);
  }
  return records;
}

TEST(ConvertOracle, SupervisordAndMinisupdStartTheSameProcesses) {
  const std::optional<std::string> supervisord = find_supervisord();
  if (!supervisord) {
    GTEST_SKIP() << "supervisord is not installed (Debian package `supervisor`; scripts/test.sh "
                    "installs it): the supervisord-vs-minisup comparison did not run";
  }
  Daemon scratch;  // its temporary directory
  const fs::path dir = scratch.dir();
  const std::string record = helper("record_exec");
  fs::create_directories(dir / "out");
  fs::create_directories(dir / "work");
  fs::create_directories(dir / "logs");
  write_file(
      dir / "supervisord.conf",
      R"([unix_http_server]
file=%(here)s/supervisor.sock

[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/logs
nodaemon=true
environment=GLOBAL_A="g1",SHARED="from-supervisord"

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:plain]
command=)" +
          record +
          R"( %(here)s/out/plain "two words" 'single quoted' back\ slash > literal $HOME ${X} $$ 100%% --env=%(ENV_ORACLE_VAR)s
directory=%(here)s/work
environment=A="1",B="x,y",EXTRA_PATH="%(ENV_PATH)s:/opt",FROM_GLOBAL="%(ENV_GLOBAL_A)s",PRICE="$5 ${NOT_EXPANDED}"
startsecs=0

[program:multi]
command=)" +
          record + R"( %(here)s/out/multi-%(process_num)d --num=%(process_num)d --of=%(numprocs)d
process_name=%(program_name)s_%(process_num)d
numprocs=2
numprocs_start=3
environment=NUM="%(process_num)d"
startsecs=0

[program:grouped]
command=)" +
          record +
          R"( %(here)s/out/grouped --group=%(group_name)s --program=%(program_name)s --own=%(ENV_OWN)s
environment=OWN="own value",SHARED="from-program"
startsecs=0

[group:grp]
programs=grouped

[include]
files=conf.d/*.conf
)");
  write_file(dir / "conf.d/extra.conf", R"([program:included]
command=)" + record + R"( %(here)s/../out/included --here=%(here)s
directory=%(here)s
startsecs=0
)");

  // supervisord first.
  const pid_t sup = launch({*supervisord, "-n", "-c", (dir / "supervisord.conf").string()},
                           base_environment(), dir / "supervisord.out");
  std::map<std::string, Record> expected = collect(dir / "out", dir / "supervisord.out");
  EXPECT_EQ(terminate(sup), 0) << read_file(dir / "supervisord.out");
  ASSERT_EQ(expected.size(), kRecords.size());

  // Then minisupd on the conversion.
  const CommandResult converted =
      run_command({MINISUPCTL_PATH, "convert", (dir / "supervisord.conf").string(), "-o",
                   (dir / "minisup.toml").string()});
  ASSERT_EQ(converted.code, 0) << converted.err;
  const pid_t mini = launch({MINISUPD_PATH, "-c", (dir / "minisup.toml").string()},
                            base_environment(), dir / "minisupd.out");
  std::map<std::string, Record> actual = collect(dir / "out", dir / "minisupd.out");
  EXPECT_EQ(terminate(mini), 0) << read_file(dir / "minisupd.out");

  for (const std::string& name : kRecords) {
    EXPECT_EQ(actual[name], expected[name]) << name << " differs; the conversion:\n"
                                            << read_file(dir / "minisup.toml");
  }
  // The record of what the comparison covers: quoting, a literal `>`, `$`
  // that neither expands, ENV_ from three places, numprocs_start, groups
  // and %(here)s of an included file.
  EXPECT_THAT(expected["plain"].argv,
              ::testing::ElementsAre((dir / "out/plain").string(), "two words", "single quoted",
                                     "back slash", ">", "literal", "$HOME", "${X}", "$$", "100%",
                                     "--env=from-the-parent"));
  EXPECT_EQ(expected["plain"].cwd, (dir / "work").string());
  EXPECT_EQ(expected["plain"].env["PRICE"], "$5 ${NOT_EXPANDED}");
  EXPECT_EQ(expected["multi-4"].env["NUM"], "4");
  EXPECT_EQ(expected["grouped"].env["SHARED"], "from-program");
  EXPECT_THAT(expected["grouped"].argv, ::testing::Contains("--group=grp"));
  EXPECT_EQ(expected["included"].cwd, (dir / "conf.d").string());
}

}  // namespace
}  // namespace minisup::testing
