// load_config(): [supervisor], the top level, ${VAR} expansion, numprocs,
// error collection, and hostile input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "supervisor/config/toml_guard.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using SupervisorKeys = ConfigTest;
using TopLevel = ConfigTest;
using Expansion = ConfigTest;
using Errors = ConfigTest;
using HostileInput = ConfigTest;

// ---- [supervisor] ----

TEST_F(SupervisorKeys, Defaults) {
  const LoadResult result = load("");
  ASSERT_TRUE(result.config.has_value());
  const SupervisorConfig& s = result.config->supervisor;
  EXPECT_EQ(result.config->file, dir_ / "minisup.toml");
  EXPECT_EQ(s.socket, dir_ / "minisup.sock");
  EXPECT_EQ(s.socket_mode, mode_t{0700});
  EXPECT_EQ(s.logfile, "-");
  EXPECT_EQ(s.loglevel, LogLevel::Info);
  EXPECT_EQ(s.childlogdir, dir_ / "logs");
  EXPECT_EQ(s.pidfile, std::nullopt);
  EXPECT_TRUE(s.include.empty());
  EXPECT_TRUE(s.environment.empty());
  EXPECT_THAT(warnings(result), ElementsAre("minisup.toml: no programs defined"));
}

TEST_F(SupervisorKeys, ValidValues) {
  const Config c = load_ok(
      "[supervisor]\n"
      "socket = \"run/ms.sock\"\n"
      "socket_mode = \"0660\"\n"
      "logfile = \"minisupd.log\"\n"
      "loglevel = \"DEBUG\"\n"
      "childlogdir = \"/var/log/${APP}\"\n"
      "pidfile = \"ms.pid\"\n"
      "environment = { TZ = \"UTC\", HOME_BIN = \"${HOME}/bin\" }\n"
      "[program.web]\ncommand = \"x\"\n",
      {{"APP", "shop"}, {"HOME", "/home/me"}});
  const SupervisorConfig& s = c.supervisor;
  EXPECT_EQ(s.socket, dir_ / "run/ms.sock");
  EXPECT_EQ(s.socket_mode, mode_t{0660});
  EXPECT_EQ(s.logfile, (dir_ / "minisupd.log").string());
  EXPECT_EQ(s.loglevel, LogLevel::Debug);
  EXPECT_EQ(s.childlogdir, std::filesystem::path("/var/log/shop"));
  EXPECT_EQ(s.pidfile, dir_ / "ms.pid");
  EXPECT_EQ(s.environment,
            (std::map<std::string, std::string>{{"TZ", "UTC"}, {"HOME_BIN", "/home/me/bin"}}));
  EXPECT_EQ(load_ok("[supervisor]\nsocket_mode = 0o600\npidfile = \"\"\nlogfile = \"-\"\n")
                .supervisor.socket_mode,
            mode_t{0600});
  EXPECT_EQ(load_ok("[supervisor]\nloglevel = \"trace\"\n").supervisor.loglevel, LogLevel::Trace);
  EXPECT_EQ(load_ok("[supervisor]\nloglevel = \"warn\"\n").supervisor.loglevel, LogLevel::Warn);
  EXPECT_EQ(load_ok("[supervisor]\nloglevel = \"error\"\n").supervisor.loglevel, LogLevel::Error);
}

TEST_F(SupervisorKeys, InvalidValues) {
  EXPECT_EQ(only_error("[supervisor]\nsocket_mode = \"rw\"\n"),
            "minisup.toml:2:15: socket_mode must be an octal string like \"0700\" (at most "
            "\"0777\"), got \"rw\"");
  EXPECT_EQ(only_error("[supervisor]\nsocket = 1\n"),
            "minisup.toml:2:10: socket must be a string, got 1");
  EXPECT_EQ(only_error("[supervisor]\nsocket = \"\"\n"),
            "minisup.toml:2:10: socket must not be empty");
  EXPECT_EQ(only_error("[supervisor]\nloglevel = \"verbose\"\n"),
            "minisup.toml:2:12: loglevel must be one of \"trace\", \"debug\", \"info\", \"warn\", "
            "\"error\", got "
            "\"verbose\"");
  EXPECT_EQ(only_error("[supervisor]\nlogfile = false\n"),
            "minisup.toml:2:11: logfile must be a string, got false");
  EXPECT_EQ(only_error("[supervisor]\nchildlogdir = \"${NOPE}\"\n"),
            "minisup.toml:2:15: childlogdir uses ${NOPE}, which is not set");
  EXPECT_EQ(only_error("[supervisor]\nchildlogdir = \"${EMPTY}\"\n", {{"EMPTY", ""}}),
            "minisup.toml:2:15: childlogdir is empty after expansion");
  EXPECT_EQ(
      only_error("[supervisor]\nenvironment = { MINISUP_PROCESS_NUM = \"7\" }\n"),
      "minisup.toml:2:39: environment.MINISUP_PROCESS_NUM is set by minisup itself and cannot "
      "be changed");
  EXPECT_EQ(only_error("[supervisor]\npidfile = 3\n"),
            "minisup.toml:2:11: pidfile must be a string, got 3");
  EXPECT_EQ(only_error("[supervisor]\ninclude = 3\n"),
            "minisup.toml:2:11: include must be an array of glob patterns like "
            "[\"conf.d/*.toml\"], got 3");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"a\", 3]\n"),
            "minisup.toml:2:17: include[1] must be a string, got 3");
  EXPECT_EQ(only_error("[supervisor]\nenvironment = { TZ = 0 }\n"),
            "minisup.toml:2:22: environment.TZ must be a string, got 0 (quote it: \"0\")");
  EXPECT_EQ(only_error("[supervisor]\nsockett = \"x\"\n"),
            "minisup.toml:2:1: unknown key `sockett` in [supervisor]; did you mean `socket`?");
  EXPECT_EQ(only_error("supervisor = 5\n"),
            "minisup.toml:1:14: supervisor must be a table ([supervisor]), got 5");
}

TEST_F(SupervisorKeys, SocketPathLongerThanSunPathIsAnError) {
  const std::string long_name(100, 's');
  EXPECT_EQ(only_error("[supervisor]\nsocket = \"/run/" + long_name + ".sock\"\n"),
            "minisup.toml:2:10: socket path is 110 bytes long, more than the 107 a Unix socket "
            "allows: /run/" +
                long_name + ".sock; set [supervisor] socket to a shorter path");
  EXPECT_TRUE(load("[supervisor]\nsocket = \"/run/" + std::string(97, 's') + ".sock\"\n")
                  .errors.empty());  // 107
}

TEST_F(SupervisorKeys, DefaultSocketInADeepDirectoryIsAnErrorAtTheFileOrTable) {
  const std::string deep(110, 'd');
  write(deep + "/minisup.toml", "[program.web]\ncommand = \"x\"\n");
  LoadResult result = load_file(deep + "/minisup.toml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(errors(result)[0], StartsWith(deep + "/minisup.toml:1:1: socket path is "));
  EXPECT_THAT(errors(result)[0], HasSubstr("set [supervisor] socket to a shorter path"));
  write(deep + "/minisup.toml", "# c\n[supervisor]\nloglevel = \"info\"\n");
  result = load_file(deep + "/minisup.toml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(errors(result)[0], StartsWith(deep + "/minisup.toml:2:1: socket path is "));
}

// ---- top level ----

TEST_F(TopLevel, UnknownTablesAndKeys) {
  EXPECT_EQ(only_error("[programs.web]\ncommand = \"x\"\n"),
            "minisup.toml:1:2: unknown table [programs]; did you mean [program]?");
  EXPECT_EQ(only_error("[logging]\nx = 1\n"),
            "minisup.toml:1:2: unknown table [logging]; a config holds [supervisor], "
            "[program.NAME], [group.NAME], [socket.NAME] and [http] tables");
  EXPECT_EQ(
      only_error("command = \"x\"\n"),
      "minisup.toml:1:1: unknown key `command` at the top level; a config holds [supervisor], "
      "[program.NAME], [group.NAME], [socket.NAME] and [http] tables");
}

TEST_F(TopLevel, ParseErrorsCarryThePosition) {
  const std::string error = only_error("[program.web]\ncommand = \"unterminated\n");
  EXPECT_THAT(error, StartsWith("minisup.toml:2:"));
  EXPECT_GT(error.size(), std::string("minisup.toml:2:1: ").size());
  EXPECT_THAT(only_error("[program.web]\ncommand = \"a\"\ncommand = \"b\"\n"),
              StartsWith("minisup.toml:3:"));
}

TEST_F(TopLevel, ProgramsAreSortedByPriorityThenName) {
  const Config c = load_ok(
      "[program.b]\ncommand = \"x\"\n"
      "[program.a]\ncommand = \"x\"\n"
      "[program.z]\ncommand = \"x\"\npriority = 1\n"
      "[program.c]\ncommand = \"x\"\npriority = 1000\n");
  std::vector<std::string> names;
  for (const auto& p : c.programs) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("z", "a", "b", "c"));
  ASSERT_NE(c.find_program("a"), nullptr);
  EXPECT_EQ(c.find_program("a")->name, "a");
  EXPECT_EQ(c.find_program("a")->where, (SourceLocation{dir_ / "minisup.toml", 3, 1}));
  EXPECT_EQ(c.find_program("nope"), nullptr);
}

TEST_F(TopLevel, MissingFile) {
  const LoadResult result = load_file("nope.toml");
  EXPECT_THAT(errors(result), ElementsAre("nope.toml: cannot open: No such file or directory"));
  std::filesystem::create_directory(dir_ / "dir.toml");
  EXPECT_THAT(errors(load_file("dir.toml")),
              ElementsAre("dir.toml: not a regular file (a directory)"));
}

TEST_F(TopLevel, ErrorsNameTheFileAsGiven) {
  write("sub/minisup.toml", "[program.web]\ncommand = 5\n");
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  const LoadResult result = load_config("sub/minisup.toml", {});
  std::filesystem::current_path(cwd);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "sub/minisup.toml:2:11: command must be a string or an array of strings, got 5");
  EXPECT_EQ(result.errors[0].where, (SourceLocation{"sub/minisup.toml", 2, 11}));
}

TEST(ConfigErrorToString, Forms) {
  // Built field by field: GCC 12 at -O3 reports a false
  // -Wmaybe-uninitialized for a brace-initialized ConfigError.
  auto text = [](std::string file, int line, int column) {
    ConfigError error;
    error.where.file = std::move(file);
    error.where.line = line;
    error.where.column = column;
    error.message = "m";
    return error.to_string();
  };
  EXPECT_EQ(text("a.toml", 4, 16), "a.toml:4:16: m");
  EXPECT_EQ(text("a.toml", 0, 0), "a.toml: m");
  EXPECT_EQ(text("", 0, 0), "m");
}

// ---- ${VAR} expansion and numprocs ----

TEST_F(Expansion, CommandWordsExpandAfterSplitting) {
  const Config c = load_ok("[program.web]\ncommand = \"echo ${X} '${X}' $$HOME $HOME $$${X}\"\n",
                           {{"X", "a b"}});
  EXPECT_THAT(c.programs.at(0).processes.at(0).command,
              ElementsAre("echo", "a b", "a b", "$HOME", "$HOME", "$a b"));
}

TEST_F(Expansion, ArrayCommandWordsExpandToo) {
  const Config c =
      load_ok("[program.web]\ncommand = [\"${BIN}/web\", \"--name=${MINISUP_PROGRAM}\"]\n",
              {{"BIN", "/opt/bin"}});
  EXPECT_THAT(c.programs.at(0).processes.at(0).command, ElementsAre("/opt/bin/web", "--name=web"));
}

TEST_F(Expansion, UnsetVariableIsAnErrorNamingIt) {
  EXPECT_EQ(only_error("[program.web]\ncommand = \"echo ${NOPE}\"\n"),
            "minisup.toml:2:11: command uses ${NOPE}, which is not set");
  EXPECT_EQ(only_error("[program.web]\ncommand = [\"echo\", \"${NOPE}\"]\n"),
            "minisup.toml:2:20: command uses ${NOPE}, which is not set");
  EXPECT_EQ(only_error(web("environment = { A = \"${NOPE}\" }")),
            "minisup.toml:3:21: environment.A uses ${NOPE}, which is not set");
  EXPECT_EQ(only_error(web("directory = \"${NOPE\"")),
            "minisup.toml:3:13: directory has an unterminated ${");
  // Reported once, not once per process.
  EXPECT_EQ(only_error(web("numprocs = 3\nenvironment = { A = \"${NOPE}\" }")),
            "minisup.toml:4:21: environment.A uses ${NOPE}, which is not set");
}

TEST_F(Expansion, SupervisorEnvironmentAddsVariables) {
  const Config c = load_ok(
      "[supervisor]\nenvironment = { GREETING = \"hi\", HOME = \"/override\" }\n"
      "[program.web]\ncommand = \"echo ${GREETING} ${HOME}\"\n",
      {{"HOME", "/home/me"}});
  EXPECT_THAT(c.programs.at(0).processes.at(0).command, ElementsAre("echo", "hi", "/override"));
  // Its values expand from minisupd's environment only.
  EXPECT_EQ(only_error("[supervisor]\nenvironment = { A = \"x\", B = \"${A}\" }\n"),
            "minisup.toml:2:30: environment.B uses ${A}, which is not set");
}

TEST_F(Expansion, PerProcessVariables) {
  const Config c = load_ok(
      web("numprocs = 2\n"
          "environment = { N = \"${MINISUP_PROCESS_NUM}\", WHO = \"${MINISUP_PROCESS_NAME}\" }\n"
          "directory = \"w/${MINISUP_PROCESS_NUM}\"\n"
          "stdout_logfile = \"out/${MINISUP_PROGRAM}-${MINISUP_PROCESS_NUM}.log\"\n"
          "stderr_logfile = \"NONE\""));
  const ProgramConfig& p = c.programs.at(0);
  ASSERT_EQ(p.processes.size(), 2u);
  EXPECT_EQ(p.processes[1].environment,
            (std::map<std::string, std::string>{{"N", "1"}, {"WHO", "web:1"}}));
  EXPECT_EQ(p.processes[0].directory, dir_ / "w/0");
  EXPECT_EQ(p.processes[1].stdout_logfile.path, dir_ / "out/web-1.log");
  EXPECT_EQ(p.processes[1].stderr_logfile.kind, LogTarget::Kind::None);
  // numprocs = 1: the process is the program, number 0.
  const Config one =
      load_ok("[program.db]\ncommand = \"db ${MINISUP_PROCESS_NAME} ${MINISUP_PROCESS_NUM}\"\n");
  EXPECT_THAT(one.programs.at(0).processes.at(0).command, ElementsAre("db", "db", "0"));
}

TEST_F(Expansion, SharedExplicitLogOfNumprocsIsAnError) {
  EXPECT_EQ(only_error(web("numprocs = 2\nstdout_logfile = \"web.log\"")),
            "minisup.toml:4:18: stdout_logfile \"web.log\" would be shared by the 2 processes of "
            "web; put "
            "${MINISUP_PROCESS_NUM} in it, e.g. \"web-${MINISUP_PROCESS_NUM}.log\"");
  // Fine with redirect_stderr (stderr_logfile is not used) or NONE/console.
  EXPECT_TRUE(
      load(web("numprocs = 2\nredirect_stderr = true\nstderr_logfile = \"e.log\"")).errors.empty());
  EXPECT_TRUE(load(web("numprocs = 2\nstdout_logfile = \"console\"")).errors.empty());
}

TEST_F(Expansion, SharedLogBetweenProgramsIsAWarning) {
  const LoadResult result = load(
      "[program.a]\ncommand = \"x\"\nstdout_logfile = \"/tmp/shared.log\"\n"
      "[program.b]\ncommand = \"x\"\nstdout_logfile = \"/tmp/shared.log\"\n"
      "[program.c]\ncommand = \"x\"\nstdout_logfile = \"c.log\"\nstderr_logfile = \"c.log\"\n");
  EXPECT_TRUE(result.errors.empty());
  EXPECT_THAT(
      warnings(result),
      ElementsAre(
          "minisup.toml:6:18: b stdout writes to /tmp/shared.log, as a stdout does; both would "
          "rotate the same file",
          "minisup.toml:10:18: c stderr writes to c.log, as c stdout does; both would rotate the "
          "same file (use redirect_stderr = true)"));
}

// ---- error collection ----

TEST_F(Errors, AllErrorsAreReportedTogetherInFileOrder) {
  const LoadResult result = load(
      "[supervisor]\nloglevel = \"loud\"\n"
      "[program.web]\ncommand = \"x\"\nstopwaitsecs = \"ten\"\nautostart = \"yes\"\n"
      "[program.api]\nnumprocs = 0\n");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_THAT(
      errors(result),
      ElementsAre(StartsWith("minisup.toml:2:12: loglevel must be one of"),
                  "minisup.toml:5:16: stopwaitsecs must be a non-negative number, got \"ten\"",
                  "minisup.toml:6:13: autostart must be true or false, got \"yes\"",
                  "minisup.toml:7:1: [program.api] has no command; command is required",
                  "minisup.toml:8:12: numprocs must be between 1 and 10000, got 0"));
}

// ---- hostile input ----

TEST_F(HostileInput, HugeDottedKeyIsRefusedNotACrash) {
  std::string text = "a";
  for (int i = 0; i < 100000; ++i) text += ".a";
  text += " = 1\n";
  EXPECT_EQ(only_error(text),
            "minisup.toml:1:1: dotted key has more than 32 parts; refused before parsing");
}

TEST_F(HostileInput, DeepNestingIsRefused) {
  EXPECT_EQ(only_error("x = " + std::string(100000, '[') + "\n"),
            "minisup.toml:1:5: arrays or tables nested more than 32 deep; refused before parsing");
}

TEST_F(HostileInput, HugeFileIsRefusedUnparsed) {
  std::string text = "[program.web]\ncommand = \"x\"\n";
  while (text.size() <= kMaxConfigBytes)
    text += "# padding padding padding padding padding padding padding\n";
  EXPECT_EQ(only_error(text), "minisup.toml: file is larger than 4194304 bytes (4 MiB), refused");
}

TEST_F(HostileInput, ControlCharactersAndLongValuesAreQuotedShortly) {
  EXPECT_EQ(only_error(web("autostart = \"a\\u0001\\n" + std::string(100, 'x') + "\"")),
            "minisup.toml:3:13: autostart must be true or false, got \"a\\u0001\\n" +
                std::string(57, 'x') + "...\"");
}

TEST_F(HostileInput, MutatedConfigsNeverCrash) {
  const std::string base =
      "[supervisor]\nsocket = \"s.sock\"\ninclude = [\"x/*.toml\"]\nenvironment = { A = \"1\" }\n"
      "[program.web]\ncommand = \"/bin/sh -c 'echo ${A}'\"\nnumprocs = 2\nstdout_logfile = "
      "\"o-${MINISUP_PROCESS_NUM}\"\n"
      "stopsignal = \"TERM\"\nexitcodes = [0, 2]\nstartsecs = 0.5\n";
  const std::string alphabet = "[]{}\"'.=#\\$ \n,0aZ\x01\xff";
  std::mt19937 rng(12345);
  for (int i = 0; i < 200; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.erase(at, 1 + rng() % 8);
          break;
      }
    }
    const LoadResult result = load(text);
    EXPECT_EQ(result.config.has_value(), result.errors.empty());
    for (const ConfigError& e : result.errors) EXPECT_FALSE(e.message.empty());
  }
}

}  // namespace
}  // namespace minisup::config::testing
