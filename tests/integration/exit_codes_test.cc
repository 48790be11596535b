// minisupctl's exit status for every command in each situation: the table
// of minisupctl(1), "Exit status of each command", held row by row.
//
// kRows mirrors the man page's table (command, situation, our code,
// supervisorctl 4.2's code, the note letter where we deliberately differ);
// the first test checks that the two say the same, the second runs each
// row's situation against a real minisupd and checks our code. A row added
// to one and not the other fails the first test. The supervisorctl column
// is measured by tests/docs/supervisorctl_exit_codes_test.sh.
#include <gmock/gmock.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <regex>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

/// The programs every row's situation is built from.
std::string exit_codes_config() {
  return sleeper("ok") +                          // RUNNING
         sleeper("off", "autostart = false\n") +  // STOPPED
         "[program.missing]\ncommand = \"/nonexistent/minisup-test\"\n"
         "autostart = false\nstartretries = 0\n" +  // spawn error
         "[program.quick]\n" +
         child_cmd("--exit 1") +                                   // exits at once:
         "autostart = false\nstartsecs = 1\nstartretries = 0\n" +  // FATAL
         "[program.stubborn]\n" + child_cmd("--ignore-term --after 60") +
         "autostart = false\nstartsecs = 0\nstopwaitsecs = 0.2\n" +  // needs SIGKILL
         sleeper("con", "stdout_logfile = \"console\"\n") +          // tail from memory
         sleeper("quiet", "stdout_logfile = \"NONE\"\n");            // tail: nothing kept
}

/// What a row's situation runs in.
struct Fixture {
  Daemon& d;
  /// minisupctl ARGS against a socket path of our choice.
  CommandResult ctl_at(const fs::path& socket, const std::vector<std::string>& args) const {
    std::vector<std::string> argv{MINISUPCTL_PATH, "-s", socket.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  }
  /// A path where no socket exists.
  fs::path no_socket() const { return d.dir() / "no-such.sock"; }
  /// A socket file nobody listens on (a minisupd that was killed left it).
  fs::path stale_socket() const {
    const fs::path path = d.dir() / "stale.sock";
    if (fs::exists(path)) return path;
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    return path;
  }
  /// Runs `args` with the config replaced by a broken one, then restores it.
  CommandResult with_broken_config(const std::vector<std::string>& args) const {
    d.write_config(exit_codes_config() + "[program.broken]\nstopwaitsecs = \"ten\"\n");
    CommandResult r = d.ctl(args);
    d.write_config(exit_codes_config());
    return r;
  }
};

struct Row {
  const char* command;
  const char* situation;
  int ours;
  std::optional<int> supervisorctl;  ///< nullopt: it has no such command or option
  const char* note;                  ///< "" or the man page's letter
  std::function<CommandResult(Fixture&)> run;
};

using F = Fixture&;
constexpr std::nullopt_t kNone = std::nullopt;

const std::vector<Row>& rows() {
  static const std::vector<Row> table{
      {"status", "every listed process is running", 0, 0, "",
       [](F f) {
         return f.d.ctl({"status", "ok"});
       }},
      {"status", "a listed process is STOPPED, EXITED or FATAL", 3, 3, "",
       [](F f) {
         return f.d.ctl({"status", "ok", "off"});
       }},
      {"status", "no such process", 4, 4, "",
       [](F f) {
         return f.d.ctl({"status", "nosuch"});
       }},
      {"status", "minisupd not running", 4, 4, "",
       [](F f) { return f.ctl_at(f.no_socket(), {"status"}); }},
      {"start", "started", 0, 0, "",
       [](F f) {
         f.d.ctl({"stop", "off"});
         return f.d.ctl({"start", "off"});
       }},
      {"start", "already started", 0, 0, "",
       [](F f) {
         return f.d.ctl({"start", "ok"});
       }},
      {"start", "failed: exited too quickly (FATAL)", 7, 7, "",
       [](F f) {
         return f.d.ctl({"start", "quick"});
       }},
      {"start", "failed: the command does not exist", 7, 1, "a",
       [](F f) {
         return f.d.ctl({"start", "missing"});
       }},
      {"start", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"start", "nosuch"});
       }},
      {"start", "no such group (GROUP:*)", 1, 2, "b",
       [](F f) {
         return f.d.ctl({"start", "nosuch:*"});
       }},
      {"start", "no name", 2, 2, "", [](F f) { return f.d.ctl({"start"}); }},
      {"stop", "stopped", 0, 0, "",
       [](F f) {
         f.d.ctl({"start", "off"});
         return f.d.ctl({"stop", "off"});
       }},
      {"stop", "not running", 0, 0, "",
       [](F f) {
         return f.d.ctl({"stop", "off"});
       }},
      {"stop", "needed SIGKILL", 0, 0, "",
       [](F f) {
         f.d.ctl({"start", "stubborn"});
         EXPECT_TRUE(f.d.wait_stubborn("stubborn"));
         return f.d.ctl({"stop", "stubborn"});
       }},
      {"stop", "needed SIGKILL, with --require-graceful", 1, kNone, "",
       [](F f) {
         f.d.ctl({"start", "stubborn"});
         EXPECT_TRUE(f.d.wait_stubborn("stubborn"));
         return f.d.ctl({"stop", "--require-graceful", "stubborn"});
       }},
      {"stop", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"stop", "nosuch"});
       }},
      {"stop", "no name", 2, 1, "c", [](F f) { return f.d.ctl({"stop"}); }},
      {"restart", "restarted", 0, 0, "",
       [](F f) {
         return f.d.ctl({"restart", "ok"});
       }},
      {"restart", "failed to start again (FATAL)", 7, 7, "",
       [](F f) {
         return f.d.ctl({"restart", "quick"});
       }},
      {"restart", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"restart", "nosuch"});
       }},
      {"signal", "signalled", 0, 0, "",
       [](F f) {
         return f.d.ctl({"signal", "CONT", "ok"});
       }},
      {"signal", "not running", 7, 7, "",
       [](F f) {
         f.d.ctl({"stop", "off"});
         return f.d.ctl({"signal", "CONT", "off"});
       }},
      {"signal", "all, some not running", 0, 0, "",
       [](F f) {
         f.d.ctl({"stop", "off"});
         return f.d.ctl({"signal", "CONT", "all"});
       }},
      {"signal", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"signal", "CONT", "nosuch"});
       }},
      {"signal", "unknown signal", 2, 1, "c",
       [](F f) {
         return f.d.ctl({"signal", "BOGUS", "ok"});
       }},
      {"pid", "minisupd's pid (no name)", 0, 0, "", [](F f) { return f.d.ctl({"pid"}); }},
      {"pid", "running process", 0, 0, "",
       [](F f) {
         return f.d.ctl({"pid", "ok"});
       }},
      {"pid", "not running (prints 0)", 7, 7, "",
       [](F f) {
         f.d.ctl({"stop", "off"});
         CommandResult r = f.d.ctl({"pid", "off"});
         EXPECT_EQ(r.out, "0\n");
         return r;
       }},
      {"pid", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"pid", "nosuch"});
       }},
      {"tail", "output in a log file", 0, 0, "",
       [](F f) {
         return f.d.ctl({"tail", "ok"});
       }},
      {"tail", "console stream", 0, kNone, "",
       [](F f) {
         return f.d.ctl({"tail", "con"});
       }},
      {"tail", "NONE stream", 1, 1, "",
       [](F f) {
         return f.d.ctl({"tail", "quiet"});
       }},
      {"tail", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"tail", "nosuch"});
       }},
      {"tail", "bad stream name", 2, 1, "c",
       [](F f) {
         return f.d.ctl({"tail", "ok", "bogus"});
       }},
      {"clear", "cleared", 0, 0, "",
       [](F f) {
         return f.d.ctl({"clear", "ok"});
       }},
      {"clear", "no such process", 1, 1, "",
       [](F f) {
         return f.d.ctl({"clear", "nosuch"});
       }},
      {"reread", "changes shown", 0, 0, "", [](F f) { return f.d.ctl({"reread"}); }},
      {"reread", "the config has errors", 1, 1, "",
       [](F f) { return f.with_broken_config({"reread"}); }},
      {"reread", "minisupd not running", 7, 1, "d",
       [](F f) { return f.ctl_at(f.no_socket(), {"reread"}); }},
      {"update", "applied", 0, 0, "", [](F f) { return f.d.ctl({"update"}); }},
      {"update", "the config has errors", 1, 1, "",
       [](F f) { return f.with_broken_config({"update"}); }},
      {"update", "minisupd not running", 7, 1, "d",
       [](F f) { return f.ctl_at(f.no_socket(), {"update"}); }},
      {"wait", "reached the state", 0, kNone, "",
       [](F f) {
         return f.d.ctl({"wait", "ok", "--timeout", "5"});
       }},
      {"wait", "FATAL (or STOPPED, EXITED) instead", 3, kNone, "",
       [](F f) {
         f.d.ctl({"start", "quick"});
         return f.d.ctl({"wait", "quick", "--timeout", "5"});
       }},
      {"wait", "timeout", 99, kNone, "",
       [](F f) {
         return f.d.ctl({"wait", "ok", "--state", "STOPPED", "--timeout", "0.2"});
       }},
      {"shutdown", "shut down", 0, 0, "",
       [](F) {
         Daemon other(sleeper("a"));
         other.start();
         CommandResult r = other.ctl({"shutdown"});
         EXPECT_EQ(other.wait_exit(), 0);
         return r;
       }},
      {"shutdown", "minisupd not running", 7, 1, "d",
       [](F f) { return f.ctl_at(f.no_socket(), {"shutdown"}); }},
      {"version", "shown", 0, 0, "", [](F f) { return f.d.ctl({"version"}); }},
      {"any", "unknown command", 2, 1, "c",
       [](F f) {
         for (const char* command : {"avail", "reload", "maintail", "stauts"}) {
           CommandResult r = f.d.ctl({command});
           EXPECT_EQ(r.code, 2) << command << ": " << r.err;
           EXPECT_THAT(r.err, ::testing::HasSubstr(std::string("unknown command ") + command));
         }
         return f.d.ctl({"avail"});
       }},
      {"any", "unknown option", 2, 2, "",
       [](F f) {
         return f.d.ctl({"--bogus", "status"});
       }},
      {"any", "minisupd not running (no socket file)", 7, 7, "",
       [](F f) {
         for (const char* command : {"stop", "signal", "pid", "tail", "clear", "version"}) {
           std::vector<std::string> args{command};
           if (std::string(command) == "signal") args.push_back("HUP");
           if (std::string(command) != "version") args.push_back("ok");
           EXPECT_EQ(f.ctl_at(f.no_socket(), args).code, 7) << command;
         }
         return f.ctl_at(f.no_socket(), {"start", "ok"});
       }},
      {"any", "stale socket file (connection refused)", 7, 4, "e",
       [](F f) {
         EXPECT_EQ(f.ctl_at(f.stale_socket(), {"status"}).code, 4);
         return f.ctl_at(f.stale_socket(), {"start", "ok"});
       }},
  };
  return table;
}

/// One row of the man page's table.
struct ManRow {
  std::string command, situation, ours, supervisorctl, note;
  bool operator==(const ManRow&) const = default;
};

std::ostream& operator<<(std::ostream& out, const ManRow& r) {
  return out << r.command << " | " << r.situation << " | " << r.ours << " | " << r.supervisorctl
             << " | " << r.note;
}

/// The rows of minisupctl(1)'s "Exit status of each command" table: the
/// lines of the first .EX block after that heading, without the header.
std::vector<ManRow> man_rows() {
  std::istringstream page(read_file(fs::path(MINISUP_SOURCE_DIR) / "man/minisupctl.1"));
  std::vector<ManRow> out;
  bool in_section = false, in_table = false;
  const std::regex row(R"(^(\S+)\s+(.*?)\s+(\d+)\s+(\d+|-)(?:\s+([a-z]))?\s*$)");
  for (std::string line; std::getline(page, line);) {
    if (line.starts_with(".SS Exit status of each command")) in_section = true;
    if (!in_section) continue;
    if (line == ".EX") {
      in_table = true;
      continue;
    }
    if (line == ".EE") break;
    if (!in_table || line.starts_with("COMMAND")) continue;
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {  // \- is a minus sign
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '-') continue;
      text += line[i];
    }
    std::smatch m;
    if (!std::regex_match(text, m, row)) {
      ADD_FAILURE() << "unreadable row in minisupctl.1: " << line;
      continue;
    }
    out.push_back({m[1], m[2], m[3], m[4], m[5]});
  }
  return out;
}

TEST(ExitCodes, TheTableMirrorsTheManPage) {
  std::vector<ManRow> ours;
  for (const Row& r : rows()) {
    ours.push_back({r.command, r.situation, std::to_string(r.ours),
                    r.supervisorctl ? std::to_string(*r.supervisorctl) : "-", r.note});
    // A row that differs says why, and only such a row does.
    const bool differs = r.supervisorctl && *r.supervisorctl != r.ours;
    EXPECT_EQ(differs, std::string(r.note) != "") << ours.back();
  }
  const std::vector<ManRow> man = man_rows();
  ASSERT_FALSE(man.empty());
  EXPECT_EQ(ours, man);
}

TEST(ExitCodes, EveryRowHolds) {
  Daemon d(exit_codes_config());
  d.start();
  ASSERT_TRUE(d.wait_state("ok", "RUNNING"));
  Fixture f{d};
  for (const Row& row : rows()) {
    SCOPED_TRACE(std::string(row.command) + ": " + row.situation);
    const CommandResult r = row.run(f);
    EXPECT_EQ(r.code, row.ours) << "stdout: " << r.out << "\nstderr: " << r.err;
  }
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
