// Every [program.NAME] key: its default, valid values, and each kind of
// invalid value with its exact file:line:col message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ProgramKeys = ConfigTest;

TEST_F(ProgramKeys, Defaults) {
  const Config config = load_ok("[program.web]\ncommand = \"/bin/true\"\n");
  ASSERT_EQ(config.programs.size(), 1u);
  const ProgramConfig& p = config.programs[0];
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.user, std::nullopt);
  EXPECT_EQ(p.umask, std::nullopt);
  EXPECT_TRUE(p.autostart);
  EXPECT_EQ(p.autorestart, AutoRestart::Unexpected);
  EXPECT_THAT(p.exitcodes, ElementsAre(0));
  EXPECT_EQ(p.startsecs, 1s);
  EXPECT_EQ(p.startretries, 3);
  EXPECT_EQ(p.stopsignal, SIGTERM);
  EXPECT_EQ(p.stopwaitsecs, 10s);
  EXPECT_FALSE(p.stopasgroup);
  EXPECT_FALSE(p.killasgroup);
  EXPECT_EQ(p.priority, 999);
  EXPECT_EQ(p.numprocs, 1);
  EXPECT_EQ(p.stdout_logfile_settings.maxbytes, 50u * 1024 * 1024);
  EXPECT_EQ(p.stdout_logfile_settings.backups, 10);
  EXPECT_EQ(p.stderr_logfile_settings.maxbytes, 50u * 1024 * 1024);
  EXPECT_EQ(p.stderr_logfile_settings.backups, 10);
  EXPECT_FALSE(p.redirect_stderr);
  EXPECT_EQ(p.where, (SourceLocation{dir_ / "minisup.toml", 1, 1}));
  ASSERT_EQ(p.processes.size(), 1u);
  const ProcessConfig& proc = p.processes[0];
  EXPECT_EQ(proc.name, "web");
  EXPECT_EQ(proc.process_num, 0);
  EXPECT_THAT(proc.command, ElementsAre("/bin/true"));
  EXPECT_EQ(proc.directory, std::nullopt);
  EXPECT_TRUE(proc.environment.empty());
  EXPECT_EQ(proc.stdout_logfile, (LogTarget{LogTarget::Kind::File, dir_ / "logs/web-stdout.log"}));
  EXPECT_EQ(proc.stderr_logfile, (LogTarget{LogTarget::Kind::File, dir_ / "logs/web-stderr.log"}));
}

// ---- command ----

TEST_F(ProgramKeys, CommandStringIsSplitLikeAShell) {
  const Config c = load_ok(
      "[program.web]\ncommand = \"/bin/sh -c 'echo \\\"hi\\\" > out | cat' a\\\\ b *.c ~\"\n");
  EXPECT_THAT(c.programs.at(0).processes.at(0).command,
              ElementsAre("/bin/sh", "-c", "echo \"hi\" > out | cat", "a b", "*.c", "~"));
}

TEST_F(ProgramKeys, CommandArrayIsTakenAsIs) {
  const Config c = load_ok(
      "[program.web]\ncommand = [\"/bin/sh\", \"-c\", \"echo 'a  b' > /dev/null\", \"\"]\n");
  EXPECT_THAT(c.programs.at(0).processes.at(0).command,
              ElementsAre("/bin/sh", "-c", "echo 'a  b' > /dev/null", ""));
}

TEST_F(ProgramKeys, CommandErrors) {
  EXPECT_EQ(only_error("[program.web]\ncommand = \"\"\n"),
            "minisup.toml:2:11: command must not be empty");
  EXPECT_EQ(only_error("[program.web]\ncommand = \" \\t \"\n"),
            "minisup.toml:2:11: command must not be empty");
  EXPECT_EQ(only_error("[program.web]\ncommand = []\n"),
            "minisup.toml:2:11: command must not be empty");
  EXPECT_EQ(only_error("[program.web]\ncommand = 5\n"),
            "minisup.toml:2:11: command must be a string or an array of strings, got 5");
  EXPECT_EQ(only_error("[program.web]\ncommand = [\"/bin/echo\", 5]\n"),
            "minisup.toml:2:25: command[1] must be a string, got 5");
  EXPECT_EQ(only_error("[program.web]\ncommand = [\"\"]\n"),
            "minisup.toml:2:12: command[0] must not be empty");
  EXPECT_EQ(only_error("[program.web]\ncommand = \"echo 'x\"\n"),
            "minisup.toml:2:11: command has an unterminated single quote: \"echo 'x\"");
  EXPECT_EQ(only_error("[program.web]\ncommand = 'echo \"x'\n"),
            "minisup.toml:2:11: command has an unterminated double quote: \"echo \\\"x\"");
  EXPECT_EQ(only_error("[program.web]\ncommand = 'echo x\\'\n"),
            "minisup.toml:2:11: command ends with a lone backslash: \"echo x\\\\\"");
}

TEST_F(ProgramKeys, MissingCommandIsReportedAtTheHeader) {
  EXPECT_EQ(only_error("# web\n\n[program.web]\nautostart = true\n"),
            "minisup.toml:3:1: [program.web] has no command; command is required");
}

// ---- directory, environment, user, umask ----

TEST_F(ProgramKeys, Directory) {
  Config c = load_ok(web("directory = \"work/../srv\""));
  EXPECT_EQ(c.programs.at(0).processes.at(0).directory, dir_ / "srv");
  c = load_ok(web("directory = \"/var/lib/${WHO}\""), {{"WHO", "me"}});
  EXPECT_EQ(c.programs.at(0).processes.at(0).directory, std::filesystem::path("/var/lib/me"));
  EXPECT_EQ(only_error(web("directory = 5")),
            "minisup.toml:3:13: directory must be a string, got 5");
  EXPECT_EQ(only_error(web("directory = \"\"")), "minisup.toml:3:13: directory must not be empty");
  EXPECT_EQ(only_error(web("directory = \"${EMPTY}\""), {{"EMPTY", ""}}),
            "minisup.toml:3:13: directory is empty after expansion");
}

TEST_F(ProgramKeys, Environment) {
  const Config c =
      load_ok(web("environment = { A = \"1\", B = \"${HOME}/b\", C = \"\" }"), {{"HOME", "/h"}});
  EXPECT_EQ(c.programs.at(0).processes.at(0).environment,
            (std::map<std::string, std::string>{{"A", "1"}, {"B", "/h/b"}, {"C", ""}}));
  EXPECT_EQ(only_error(web("environment = { PORT = 3000 }")),
            "minisup.toml:3:24: environment.PORT must be a string, got 3000 (quote it: \"3000\")");
  EXPECT_EQ(only_error(web("environment = \"A=1\"")),
            "minisup.toml:3:15: environment must be a table of strings like { TZ = \"UTC\" }, got "
            "\"A=1\"");
  EXPECT_EQ(only_error(web("environment = { MINISUP_PROGRAM = \"x\" }")),
            "minisup.toml:3:35: environment.MINISUP_PROGRAM is set by minisup itself and cannot be "
            "changed");
  EXPECT_EQ(only_error(web("environment = { \"A=B\" = \"x\" }")),
            "minisup.toml:3:17: environment key \"A=B\" is not a valid variable name (it must be "
            "non-empty, "
            "without \"=\")");
  EXPECT_EQ(only_error(web("environment = { A = [\"x\"] }")),
            "minisup.toml:3:21: environment.A must be a string, got an array");
}

TEST_F(ProgramKeys, User) {
  EXPECT_EQ(load_ok(web("user = \"nobody\"")).programs.at(0).user, "nobody");
  EXPECT_EQ(only_error(web("user = 5")), "minisup.toml:3:8: user must be a string, got 5");
  EXPECT_EQ(only_error(web("user = \"\"")), "minisup.toml:3:8: user must not be empty");
  EXPECT_EQ(only_error(web("user = \"a\\u0000b\"")),
            "minisup.toml:3:8: user must not contain a NUL character");
}

TEST_F(ProgramKeys, Umask) {
  EXPECT_EQ(load_ok(web("umask = \"022\"")).programs.at(0).umask, mode_t{022});
  EXPECT_EQ(load_ok(web("umask = \"0027\"")).programs.at(0).umask, mode_t{027});
  EXPECT_EQ(load_ok(web("umask = 0o077")).programs.at(0).umask, mode_t{077});
  EXPECT_EQ(only_error(web("umask = \"abc\"")),
            "minisup.toml:3:9: umask must be an octal string like \"022\" (at most \"0777\"), got "
            "\"abc\"");
  EXPECT_EQ(only_error(web("umask = \"089\"")),
            "minisup.toml:3:9: umask must be an octal string like \"022\" (at most \"0777\"), got "
            "\"089\"");
  EXPECT_EQ(
      only_error(web("umask = 22")),
      "minisup.toml:3:9: umask must be an octal string like \"022\" (at most \"0777\"), got 22");
  EXPECT_EQ(only_error(web("umask = 0o1777")),
            "minisup.toml:3:9: umask must be an octal string like \"022\" (at most \"0777\"), got "
            "0o1777");
}

// ---- start and restart policy ----

TEST_F(ProgramKeys, Autostart) {
  EXPECT_FALSE(load_ok(web("autostart = false")).programs.at(0).autostart);
  EXPECT_EQ(only_error(web("autostart = \"yes\"")),
            "minisup.toml:3:13: autostart must be true or false, got \"yes\"");
}

TEST_F(ProgramKeys, Autorestart) {
  EXPECT_EQ(load_ok(web("autorestart = true")).programs.at(0).autorestart, AutoRestart::Always);
  EXPECT_EQ(load_ok(web("autorestart = false")).programs.at(0).autorestart, AutoRestart::Never);
  EXPECT_EQ(load_ok(web("autorestart = \"unexpected\"")).programs.at(0).autorestart,
            AutoRestart::Unexpected);
  EXPECT_EQ(only_error(web("autorestart = \"always\"")),
            "minisup.toml:3:15: autorestart must be true, false or \"unexpected\", got \"always\"");
  EXPECT_EQ(only_error(web("autorestart = 1")),
            "minisup.toml:3:15: autorestart must be true, false or \"unexpected\", got 1");
}

TEST_F(ProgramKeys, Exitcodes) {
  EXPECT_THAT(load_ok(web("exitcodes = [0, 2]")).programs.at(0).exitcodes, ElementsAre(0, 2));
  EXPECT_THAT(load_ok(web("exitcodes = [2, 0, 2]")).programs.at(0).exitcodes, ElementsAre(0, 2));
  EXPECT_THAT(load_ok(web("exitcodes = 3")).programs.at(0).exitcodes, ElementsAre(3));
  EXPECT_TRUE(load_ok(web("exitcodes = []")).programs.at(0).exitcodes.empty());
  EXPECT_EQ(only_error(web("exitcodes = [0, 256]")),
            "minisup.toml:3:17: exitcodes[1] must be an integer between 0 and 255, got 256");
  EXPECT_EQ(only_error(web("exitcodes = [-1]")),
            "minisup.toml:3:14: exitcodes[0] must be an integer between 0 and 255, got -1");
  EXPECT_EQ(
      only_error(web("exitcodes = \"0,2\"")),
      "minisup.toml:3:13: exitcodes must be an array of integers between 0 and 255, got \"0,2\"");
}

TEST_F(ProgramKeys, Startsecs) {
  EXPECT_EQ(load_ok(web("startsecs = 0")).programs.at(0).startsecs, 0s);
  EXPECT_EQ(load_ok(web("startsecs = 0.05")).programs.at(0).startsecs, 50ms);
  EXPECT_EQ(load_ok(web("startsecs = 2")).programs.at(0).startsecs, 2s);
  EXPECT_EQ(only_error(web("startsecs = -1")),
            "minisup.toml:3:13: startsecs must be a non-negative number, got -1");
  EXPECT_EQ(only_error(web("startsecs = \"1\"")),
            "minisup.toml:3:13: startsecs must be a non-negative number, got \"1\"");
  EXPECT_EQ(only_error(web("startsecs = nan")),
            "minisup.toml:3:13: startsecs must be a non-negative number, got nan");
  EXPECT_EQ(only_error(web("startsecs = 1e12")),
            "minisup.toml:3:13: startsecs must be at most 31536000 seconds (one year), got "
            "1000000000000.0");
  EXPECT_EQ(only_error(web("startsecs = inf")),
            "minisup.toml:3:13: startsecs must be at most 31536000 seconds (one year), got inf");
}

TEST_F(ProgramKeys, Startretries) {
  EXPECT_EQ(load_ok(web("startretries = 0")).programs.at(0).startretries, 0);
  EXPECT_EQ(load_ok(web("startretries = 7")).programs.at(0).startretries, 7);
  EXPECT_EQ(only_error(web("startretries = 2.5")),
            "minisup.toml:3:16: startretries must be an integer, got 2.5");
  EXPECT_EQ(only_error(web("startretries = 2.0")),
            "minisup.toml:3:16: startretries must be an integer, got 2.0");
  EXPECT_EQ(only_error(web("startretries = \"3\"")),
            "minisup.toml:3:16: startretries must be an integer, got \"3\"");
  EXPECT_EQ(only_error(web("startretries = -1")),
            "minisup.toml:3:16: startretries must be at least 0, got -1");
}

// ---- stopping ----

TEST_F(ProgramKeys, Stopsignal) {
  EXPECT_EQ(load_ok(web("stopsignal = \"TERM\"")).programs.at(0).stopsignal, SIGTERM);
  EXPECT_EQ(load_ok(web("stopsignal = \"SIGINT\"")).programs.at(0).stopsignal, SIGINT);
  EXPECT_EQ(load_ok(web("stopsignal = \"hup\"")).programs.at(0).stopsignal, SIGHUP);
  EXPECT_EQ(load_ok(web("stopsignal = 9")).programs.at(0).stopsignal, SIGKILL);
  EXPECT_EQ(load_ok(web("stopsignal = \"10\"")).programs.at(0).stopsignal, 10);
  EXPECT_EQ(load_ok(web("stopsignal = \"RTMIN+2\"")).programs.at(0).stopsignal, SIGRTMIN + 2);
  EXPECT_EQ(load_ok(web("stopsignal = \"SIGRTMAX-1\"")).programs.at(0).stopsignal, SIGRTMAX - 1);
  const std::string unknown = only_error(web("stopsignal = \"FOO\""));
  EXPECT_THAT(unknown, ::testing::StartsWith(
                           "minisup.toml:3:14: stopsignal names an unknown signal \"FOO\"; "
                           "expected one of HUP, INT, QUIT,"));
  EXPECT_THAT(unknown, HasSubstr("TERM"));
  EXPECT_THAT(unknown, HasSubstr("RTMIN, RTMIN+n, RTMAX-n, RTMAX"));
  EXPECT_THAT(unknown, ::testing::EndsWith("(with or without SIG), or a number"));
  EXPECT_EQ(only_error(web("stopsignal = 0")),
            "minisup.toml:3:14: stopsignal must be a signal number between 1 and 64, got 0");
  EXPECT_EQ(only_error(web("stopsignal = 65")),
            "minisup.toml:3:14: stopsignal must be a signal number between 1 and 64, got 65");
  EXPECT_EQ(
      only_error(web("stopsignal = true")),
      "minisup.toml:3:14: stopsignal must be a signal name like \"TERM\" or a number, got true");
}

TEST_F(ProgramKeys, Stopwaitsecs) {
  EXPECT_EQ(load_ok(web("stopwaitsecs = 0")).programs.at(0).stopwaitsecs, 0s);
  EXPECT_EQ(load_ok(web("stopwaitsecs = 2.5")).programs.at(0).stopwaitsecs, 2500ms);
  EXPECT_EQ(only_error(web("stopwaitsecs = \"ten\"")),
            "minisup.toml:3:16: stopwaitsecs must be a non-negative number, got \"ten\"");
  EXPECT_EQ(only_error(web("stopwaitsecs = -0.5")),
            "minisup.toml:3:16: stopwaitsecs must be a non-negative number, got -0.5");
}

TEST_F(ProgramKeys, StopasgroupImpliesKillasgroup) {
  ProgramConfig p = load_ok(web("stopasgroup = true")).programs.at(0);
  EXPECT_TRUE(p.stopasgroup);
  EXPECT_TRUE(p.killasgroup);
  p = load_ok(web("stopasgroup = true\nkillasgroup = false")).programs.at(0);
  EXPECT_TRUE(p.killasgroup);
  p = load_ok(web("killasgroup = true")).programs.at(0);
  EXPECT_FALSE(p.stopasgroup);
  EXPECT_TRUE(p.killasgroup);
  EXPECT_EQ(only_error(web("stopasgroup = 1")),
            "minisup.toml:3:15: stopasgroup must be true or false, got 1");
  EXPECT_EQ(only_error(web("killasgroup = \"true\"")),
            "minisup.toml:3:15: killasgroup must be true or false, got \"true\"");
}

TEST_F(ProgramKeys, Priority) {
  EXPECT_EQ(load_ok(web("priority = -5")).programs.at(0).priority, -5);
  EXPECT_EQ(load_ok(web("priority = 100")).programs.at(0).priority, 100);
  EXPECT_EQ(only_error(web("priority = \"high\"")),
            "minisup.toml:3:12: priority must be an integer, got \"high\"");
  EXPECT_EQ(only_error(web("priority = 1.5")),
            "minisup.toml:3:12: priority must be an integer, got 1.5");
  EXPECT_EQ(
      only_error(web("priority = 3000000000")),
      "minisup.toml:3:12: priority must be between -2147483648 and 2147483647, got 3000000000");
}

TEST_F(ProgramKeys, Numprocs) {
  const ProgramConfig p = load_ok(web("numprocs = 3")).programs.at(0);
  EXPECT_EQ(p.numprocs, 3);
  ASSERT_EQ(p.processes.size(), 3u);
  EXPECT_EQ(p.processes[0].name, "web:0");
  EXPECT_EQ(p.processes[2].name, "web:2");
  EXPECT_EQ(p.processes[2].process_num, 2);
  EXPECT_EQ(p.processes[1].stdout_logfile.path, dir_ / "logs/web_1-stdout.log");
  EXPECT_EQ(p.processes[2].stderr_logfile.path, dir_ / "logs/web_2-stderr.log");
  EXPECT_EQ(only_error(web("numprocs = 0")),
            "minisup.toml:3:12: numprocs must be between 1 and 10000, got 0");
  EXPECT_EQ(only_error(web("numprocs = 100000")),
            "minisup.toml:3:12: numprocs must be between 1 and 10000, got 100000");
  EXPECT_EQ(only_error(web("numprocs = \"2\"")),
            "minisup.toml:3:12: numprocs must be an integer, got \"2\"");
}

// ---- logging ----

TEST_F(ProgramKeys, LogfileKinds) {
  auto target = [this](const std::string& value) {
    return load_ok(web("stdout_logfile = " + value)).programs.at(0).processes.at(0).stdout_logfile;
  };
  EXPECT_EQ(target("\"AUTO\""), (LogTarget{LogTarget::Kind::File, dir_ / "logs/web-stdout.log"}));
  EXPECT_EQ(target("\"auto\""), (LogTarget{LogTarget::Kind::File, dir_ / "logs/web-stdout.log"}));
  EXPECT_EQ(target("\"NONE\""), (LogTarget{LogTarget::Kind::None, {}}));
  EXPECT_EQ(target("\"console\""), (LogTarget{LogTarget::Kind::Console, {}}));
  EXPECT_EQ(target("\"out/web.log\""), (LogTarget{LogTarget::Kind::File, dir_ / "out/web.log"}));
  EXPECT_EQ(target("\"./console\""), (LogTarget{LogTarget::Kind::File, dir_ / "console"}));
  EXPECT_EQ(target("\"/var/log/web.log\""), (LogTarget{LogTarget::Kind::File, "/var/log/web.log"}));
  const ProcessConfig proc =
      load_ok(web("stderr_logfile = \"${D}/err.log\""), {{"D", "/x"}}).programs[0].processes[0];
  EXPECT_EQ(proc.stderr_logfile, (LogTarget{LogTarget::Kind::File, "/x/err.log"}));
  EXPECT_EQ(
      only_error(web("stdout_logfile = 5")),
      "minisup.toml:3:18: stdout_logfile must be a path, \"AUTO\", \"NONE\" or \"console\", got 5");
  EXPECT_EQ(
      only_error(web("stderr_logfile = \"\"")),
      "minisup.toml:3:18: stderr_logfile must not be empty (write \"NONE\" to discard the output)");
  EXPECT_EQ(only_error(web("stdout_logfile = \"${NOPE}.log\"")),
            "minisup.toml:3:18: stdout_logfile uses ${NOPE}, which is not set");
}

TEST_F(ProgramKeys, ChildlogdirMovesAutoLogs) {
  const Config c = load_ok("[supervisor]\nchildlogdir = \"/var/log/ms\"\n" + web(""));
  EXPECT_EQ(c.programs.at(0).processes.at(0).stdout_logfile.path,
            std::filesystem::path("/var/log/ms/web-stdout.log"));
}

TEST_F(ProgramKeys, Maxbytes) {
  auto maxbytes = [this](const std::string& value) {
    return load_ok(web("stdout_logfile_maxbytes = " + value))
        .programs.at(0)
        .stdout_logfile_settings.maxbytes;
  };
  EXPECT_EQ(maxbytes("0"), 0u);
  EXPECT_EQ(maxbytes("1024"), 1024u);
  EXPECT_EQ(maxbytes("\"50MB\""), 50u * 1024 * 1024);
  EXPECT_EQ(maxbytes("\"1GB\""), 1024u * 1024 * 1024);
  EXPECT_EQ(maxbytes("\"512KB\""), 512u * 1024);
  EXPECT_EQ(maxbytes("\"10B\""), 10u);
  EXPECT_EQ(maxbytes("\"1mb\""), 1024u * 1024);
  EXPECT_EQ(load_ok(web("stderr_logfile_maxbytes = \"2KB\""))
                .programs.at(0)
                .stderr_logfile_settings.maxbytes,
            2048u);
  const std::string expected =
      "must be a size in bytes: an integer or a string like \"50MB\" (units B, KB, MB, GB), got ";
  EXPECT_EQ(only_error(web("stdout_logfile_maxbytes = \"50XB\"")),
            "minisup.toml:3:27: stdout_logfile_maxbytes " + expected + "\"50XB\"");
  EXPECT_EQ(only_error(web("stderr_logfile_maxbytes = -1")),
            "minisup.toml:3:27: stderr_logfile_maxbytes " + expected + "-1");
  EXPECT_EQ(only_error(web("stdout_logfile_maxbytes = 1.5")),
            "minisup.toml:3:27: stdout_logfile_maxbytes " + expected + "1.5");
}

TEST_F(ProgramKeys, Backups) {
  EXPECT_EQ(
      load_ok(web("stdout_logfile_backups = 0")).programs.at(0).stdout_logfile_settings.backups, 0);
  EXPECT_EQ(
      load_ok(web("stderr_logfile_backups = 5")).programs.at(0).stderr_logfile_settings.backups, 5);
  EXPECT_EQ(only_error(web("stdout_logfile_backups = -1")),
            "minisup.toml:3:26: stdout_logfile_backups must be between 0 and 1000, got -1");
  EXPECT_EQ(only_error(web("stderr_logfile_backups = \"3\"")),
            "minisup.toml:3:26: stderr_logfile_backups must be an integer, got \"3\"");
}

TEST_F(ProgramKeys, RedirectStderr) {
  EXPECT_TRUE(load_ok(web("redirect_stderr = true")).programs.at(0).redirect_stderr);
  EXPECT_EQ(only_error(web("redirect_stderr = \"no\"")),
            "minisup.toml:3:19: redirect_stderr must be true or false, got \"no\"");
}

// ---- names and unknown keys ----

TEST_F(ProgramKeys, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(
      only_error(web("stopwaitsec = 5")),
      "minisup.toml:3:1: unknown key `stopwaitsec` in [program.web]; did you mean `stopwaitsecs`?");
  EXPECT_EQ(
      only_error(web("Autostart = true")),
      "minisup.toml:3:1: unknown key `Autostart` in [program.web]; did you mean `autostart`?");
  EXPECT_EQ(only_error(web("process_name = \"x\"")),
            "minisup.toml:3:1: unknown key `process_name` in [program.web]");
}

TEST_F(ProgramKeys, ProgramNames) {
  const Config c = load_ok("[program.\"a-b_c.9\"]\ncommand = \"x\"\n");
  EXPECT_EQ(c.programs.at(0).name, "a-b_c.9");
  EXPECT_EQ(only_error("[program.\"my app\"]\ncommand = \"x\"\n"),
            "minisup.toml:1:10: program name \"my app\" may only contain letters, digits, \"_\", "
            "\".\" and \"-\"");
  EXPECT_EQ(only_error("[program.\"web:1\"]\ncommand = \"x\"\n"),
            "minisup.toml:1:10: program name \"web:1\" may only contain letters, digits, \"_\", "
            "\".\" and \"-\"");
  EXPECT_EQ(only_error("[program.\"\"]\ncommand = \"x\"\n"),
            "minisup.toml:1:10: program name \"\" may only contain letters, digits, \"_\", \".\" "
            "and \"-\"");
  EXPECT_EQ(only_error("[program." + std::string(129, 'a') + "]\ncommand = \"x\"\n"),
            "minisup.toml:1:10: program name \"" + std::string(60, 'a') +
                "...\" is longer than 128 characters");
}

TEST_F(ProgramKeys, ProgramMustBeATable) {
  EXPECT_EQ(
      only_error("[[program.web]]\ncommand = \"x\"\n"),
      "minisup.toml:1:11: program.web must be a table, got an array (write [program.NAME], not "
      "[[program.NAME]])");
  EXPECT_EQ(only_error("program = 5\n"),
            "minisup.toml:1:1: program must hold [program.NAME] tables, got 5");
  EXPECT_EQ(only_error("[program]\nweb = \"x\"\n"),
            "minisup.toml:2:1: program.web must be a table, got \"x\"");
}

TEST_F(ProgramKeys, DottedKeysDefinePrograms) {
  const Config c = load_ok("[program]\nweb.command = [\"/bin/web\"]\napi.command = \"/bin/api\"\n");
  ASSERT_EQ(c.programs.size(), 2u);
  EXPECT_EQ(c.programs[0].name, "api");
  EXPECT_EQ(c.programs[1].processes.at(0).command, std::vector<std::string>{"/bin/web"});
  EXPECT_EQ(c.programs[1].where, (SourceLocation{dir_ / "minisup.toml", 2, 1}));
  const Config top = load_ok("program.db.command = \"/bin/db\"\nprogram.db.numprocs = 2\n");
  EXPECT_EQ(top.programs.at(0).processes.size(), 2u);
  EXPECT_EQ(only_error("[program]\nweb.autostart = true\n"),
            "minisup.toml:2:1: [program.web] has no command; command is required");
}

}  // namespace
}  // namespace minisup::config::testing
