// ctl/convert and ctl/supervisord_ini: supervisord's INI read as
// supervisord reads it, and the minisup TOML written for it. Files come
// from memory (MemorySource); tests/integration/convert_test.cc runs the
// real command on tests/convert/*.conf and checks the output with minisupd.
#include "supervisor/ctl/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "supervisor/config/sha256.h"
#include "supervisor/ctl/supervisord_ini.h"

namespace minisup::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

/// Files by absolute path; glob matches `DIR/*SUFFIX` patterns only.
class MemorySource : public ConvertSource {
 public:
  std::map<std::string, std::string> files;

  std::optional<std::string> read(const std::string& path, std::string& error) override {
    auto it = files.find(path);
    if (it == files.end()) {
      error = "No such file or directory";
      return std::nullopt;
    }
    return it->second;
  }
  std::vector<std::string> glob(const std::string& pattern) override {
    std::vector<std::string> out;
    const std::size_t star = pattern.find('*');
    if (star == std::string::npos) {
      if (files.count(pattern) != 0) out.push_back(pattern);
      return out;
    }
    const std::string prefix = pattern.substr(0, star), suffix = pattern.substr(star + 1);
    for (const auto& [path, text] : files) {
      if (path.size() >= prefix.size() + suffix.size() && path.rfind(prefix, 0) == 0 &&
          path.ends_with(suffix) && path.find('/', prefix.size()) == std::string::npos) {
        out.push_back(path);
      }
    }
    return out;
  }
};

struct Converted {
  ConvertResult result;
  /// The TOML without its three header lines.
  std::string body;
};

Converted convert(const std::string& text, std::map<std::string, std::string> more = {},
                  std::map<std::string, std::string> env = {}) {
  MemorySource source;
  source.files["/etc/supervisor/supervisord.conf"] = text;
  for (auto& [path, content] : more) source.files[path] = content;
  ConvertOptions options;
  options.hostname = "box";
  options.environment = std::move(env);
  Converted out{convert_supervisord("/etc/supervisor/supervisord.conf", source, options), {}};
  const std::string& toml = out.result.toml;
  std::size_t at = 0;
  for (int i = 0; i < 3 && at != std::string::npos; ++i) at = toml.find('\n', at) + 1;
  out.body = at == 0 || at == std::string::npos ? toml : toml.substr(at);
  return out;
}

std::string only_error(const std::string& text) {
  const Converted c = convert(text);
  EXPECT_EQ(c.result.errors.size(), 1u) << ::testing::PrintToString(c.result.errors);
  EXPECT_TRUE(c.result.toml.empty());
  return c.result.errors.empty() ? "" : c.result.errors.front();
}

// ---- the INI reader ----

TEST(SupervisordIni, ReadsSectionsKeysContinuationsAndComments) {
  ini::Document doc;
  ASSERT_FALSE(
      ini::parse_ini("; comment\n[program:web]\nCommand = run --a=b ; cut here\n"
                     "environment = A=\"1\",\n   B=\"2\"\n# full-line comment\n"
                     "directory: /srv # also cut\nurl = http://x/#keep\n",
                     doc));
  ASSERT_EQ(doc.sections.size(), 1u);
  const ini::Section& s = doc.sections.front();
  EXPECT_EQ(s.name, "program:web");
  EXPECT_EQ(s.find("command")->value, "run --a=b");
  EXPECT_EQ(s.find("command")->line, 3);
  EXPECT_EQ(s.find("environment")->value, "A=\"1\",\nB=\"2\"");
  EXPECT_EQ(s.find("directory")->value, "/srv");
  EXPECT_EQ(s.find("url")->value, "http://x/#keep");
}

TEST(SupervisordIni, ASectionOrKeyWrittenTwiceMerges) {
  ini::Document doc;
  ASSERT_FALSE(ini::parse_ini("[a]\nx=1\ny=2\n[b]\n[a]\nx=3\n", doc));
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].find("x")->value, "3");
  EXPECT_EQ(doc.sections[0].find("y")->value, "2");
}

TEST(SupervisordIni, ErrorsHaveLineNumbers) {
  ini::Document doc;
  auto e = ini::parse_ini("command=x\n", doc);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line, 1);
  e = ini::parse_ini("[a]\nx=1\njust words\n", doc);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line, 3);
  EXPECT_EQ(e->message, "expected `key = value`, got just words");
  e = ini::parse_ini("[a]\n[broken\n", doc);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line, 2);
  e = ini::parse_ini("[a]\nx=caf\xc3\xa9\ny=\xff\n", doc);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line, 3);
  EXPECT_EQ(e->message, "is not valid UTF-8 text");
}

TEST(SupervisordIni, ShlexSplitIsPosixShlex) {
  std::string error;
  auto words = ini::shlex_split(R"(a "b c" 'd \e' f\ g "h\"i\j" > /dev/null "" x'y'z)", error);
  ASSERT_TRUE(words) << error;
  EXPECT_THAT(*words,
              ElementsAre("a", "b c", "d \\e", "f g", "h\"i\\j", ">", "/dev/null", "", "xyz"));
  EXPECT_FALSE(ini::shlex_split("a \"b", error));
  EXPECT_EQ(error, "No closing quotation");
  EXPECT_FALSE(ini::shlex_split("a\\", error));
}

TEST(SupervisordIni, KeyValuePairsAsSupervisordReadsThem) {
  std::string error;
  auto pairs = ini::parse_key_value_pairs(
      "A=\"1\",B='two words',PATH=/usr/bin:/bin,URL=\"postgres://u@h/db\",A=3", error);
  ASSERT_TRUE(pairs) << error;
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(*pairs, ElementsAre(P{"A", "3"}, P{"B", "two words"}, P{"PATH", "/usr/bin:/bin"},
                                  P{"URL", "postgres://u@h/db"}));
  // As supervisord: a token after a pair is its separator, whatever it is.
  std::vector<std::string> odd;
  pairs = ini::parse_key_value_pairs("A=two words", error, &odd);
  ASSERT_TRUE(pairs) << error;
  EXPECT_THAT(*pairs, ElementsAre(P{"A", "two"}));
  EXPECT_THAT(odd, ElementsAre("words"));
  EXPECT_FALSE(ini::parse_key_value_pairs("A=x@y", error));
}

TEST(SupervisordIni, Templates) {
  std::string error;
  auto pieces = ini::parse_template("a%%b%(process_num)02d%(ENV_X)s", error);
  ASSERT_TRUE(pieces) << error;
  ASSERT_EQ(pieces->size(), 3u);
  EXPECT_EQ((*pieces)[0].text, "a%b");
  EXPECT_EQ((*pieces)[1].text, "process_num");
  EXPECT_EQ((*pieces)[1].flags, "02");
  EXPECT_EQ((*pieces)[1].conversion, 'd');
  EXPECT_EQ((*pieces)[2].text, "ENV_X");
  EXPECT_FALSE(ini::parse_template("100%", error));
  EXPECT_FALSE(ini::parse_template("%(x", error));
}

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(config::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(config::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(config::sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

// ---- programs ----

TEST(Convert, AProgramWithEveryCarriedOption) {
  const Converted c = convert(R"([program:web]
command=/usr/bin/gunicorn app:app -b "0.0.0.0:8000" --workers 4
directory=/srv/app
user=www-data
umask=22
autostart=yes
autorestart=unexpected
exitcodes=0,2
startsecs=5
startretries=10
stopsignal=QUIT
stopwaitsecs=30
stopasgroup=true
killasgroup=true
priority=100
redirect_stderr=true
stdout_logfile=/var/log/web.log
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=3
environment=LANG="C.UTF-8",WORKERS="4"
)");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_EQ(c.body, R"(
[program.web]
command = ["/usr/bin/gunicorn", "app:app", "-b", "0.0.0.0:8000", "--workers", "4"]
directory = "/srv/app"
user = "www-data"
umask = "022"
autostart = true
autorestart = "unexpected"
exitcodes = [0, 2]
startsecs = 5
startretries = 10
stopsignal = "QUIT"
stopwaitsecs = 30
stopasgroup = true
killasgroup = true
priority = 100
redirect_stderr = true
stdout_logfile = "/var/log/web.log"
stdout_logfile_maxbytes = "10MB"
stdout_logfile_backups = 3
environment = { LANG = "C.UTF-8", WORKERS = "4" }
)");
  EXPECT_EQ(c.result.programs, 1);
  EXPECT_EQ(c.result.not_converted, 0);
}

TEST(Convert, ExpansionsBecomeValuesOrVariables) {
  const Converted c = convert(R"([supervisord]
environment=APP_ENV="prod"

[program:worker]
command=php %(here)s/artisan queue:work --name=%(program_name)s_%(process_num)d --env=%(ENV_APP_ENV)s --home=%(ENV_HOME)s --id=%(ENV_ID)s
process_name=%(program_name)s_%(process_num)02d
numprocs=2
numprocs_start=1
environment=ID="%(group_name)s-%(process_num)d"
stdout_logfile=/var/log/%(program_name)s-%(process_num)02d.log
)");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  // ENV_APP_ENV and ENV_ID are known (environment): their values; ENV_HOME
  // is minisupd's: ${HOME}.
  EXPECT_THAT(c.body, HasSubstr("command = [\"php\", \"/etc/supervisor/artisan\", \"queue:work\", "
                                "\"--name=worker_${MINISUP_PROCESS_NUM}\", \"--env=prod\", "
                                "\"--home=${HOME}\", \"--id=worker-${MINISUP_PROCESS_NUM}\"]\n"));
  EXPECT_THAT(c.body, HasSubstr("numprocs = 2\nnumprocs_start = 1\n"));
  EXPECT_THAT(c.body, HasSubstr("environment = { ID = \"worker-${MINISUP_PROCESS_NUM}\" }\n"));
  EXPECT_THAT(c.body,
              HasSubstr("stdout_logfile = \"/var/log/worker-${MINISUP_PROCESS_NUM}.log\"\n"));
  EXPECT_THAT(c.body,
              HasSubstr("# not converted: process_name = %(program_name)s_%(process_num)02d "
                        "(minisup names the processes worker:N (N from numprocs_start))\n"));
  EXPECT_THAT(c.body, HasSubstr("# note: %(process_num)02d-style padding is not kept"));
  EXPECT_THAT(c.body, HasSubstr("[supervisor]\nenvironment = { APP_ENV = \"prod\" }\n"));
}

TEST(Convert, DollarsAreEscapedWhereMinisupWouldExpandThem) {
  const Converted c = convert(
      "[program:x]\ncommand=echo ${NOT_EXPANDED} $$ $HOME cost$ %(ENV_A)s\n"
      "environment=P=\"a${b}\"\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("command = [\"echo\", \"$${NOT_EXPANDED}\", \"$$$\", \"$HOME\", "
                                "\"cost$\", \"${A}\"]\n"));
  EXPECT_THAT(c.body, HasSubstr("environment = { P = \"a$${b}\" }\n"));
}

TEST(Convert, AShellCommandStaysLiteralWithANote) {
  const Converted c =
      convert("[program:x]\ncommand=php artisan schedule:run >> /var/log/cron.log 2>&1\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("command = [\"php\", \"artisan\", \"schedule:run\", \">>\", "
                                "\"/var/log/cron.log\", \"2>&1\"]\n"));
  EXPECT_THAT(c.body, HasSubstr("# note: supervisord runs a command without a shell, so \">>\", "
                                "\"2>&1\" reached the program as plain arguments"));
  EXPECT_THAT(c.body, HasSubstr("# command = [\"/bin/sh\", \"-c\", \"php artisan schedule:run >> "
                                "/var/log/cron.log 2>&1\"]\n"));
  EXPECT_EQ(c.result.notes, 1);
  // A command that already runs a shell gets no note.
  const Converted sh = convert("[program:x]\ncommand=/bin/bash -c \"a > b\"\n");
  EXPECT_THAT(sh.body, Not(HasSubstr("# note")));
  EXPECT_THAT(sh.body, HasSubstr("command = [\"/bin/bash\", \"-c\", \"a > b\"]\n"));
}

TEST(Convert, WhatCannotBeCarriedIsCommentedWhereItWas) {
  const Converted c = convert(R"([program:x]
command=run
stdout_events_enabled=true
stdout_capture_maxbytes=1MB
serverurl=http://127.0.0.1:9001
stdout_syslog=true
frobnicate=1
stderr_events_enabled=false
)");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_EQ(c.body, R"(
[program.x]
command = ["run"]
# not converted: stdout_events_enabled = true (minisup has no event listeners; `minisupctl events` streams state changes)
# not converted: stdout_capture_maxbytes = 1MB (capture mode feeds event listeners, which minisup does not have)
# not converted: serverurl = http://127.0.0.1:9001 (minisup has no XML-RPC server for programs to call back into)
# not converted: stdout_syslog = true (minisup writes to files or its own stdout (console), which journald or syslog can take)
# not converted: frobnicate = 1 (supervisord does not know this option either)
)");
  EXPECT_EQ(c.result.not_converted, 5);
}

TEST(Convert, ASharedNumprocsLogGetsTheProcessNumber) {
  const Converted c = convert(
      "[program:w]\ncommand=w\nprocess_name=%(program_name)s_%(process_num)s\nnumprocs=3\n"
      "stdout_logfile=/var/log/w.log\nstderr_logfile=/var/log/w-err\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("stdout_logfile = \"/var/log/w-${MINISUP_PROCESS_NUM}.log\"\n"));
  EXPECT_THAT(c.body, HasSubstr("stderr_logfile = \"/var/log/w-err-${MINISUP_PROCESS_NUM}\"\n"));
  EXPECT_THAT(c.body, HasSubstr("# note: supervisord's 3 processes all wrote to /var/log/w.log"));
}

TEST(Convert, LogKeywordsAndTheConsole) {
  const Converted c = convert(
      "[program:w]\ncommand=w\nstdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\n"
      "stderr_logfile=NONE\n[program:v]\ncommand=v\nredirect_stderr=true\nstdout_logfile=AUTO\n"
      "stderr_logfile=/tmp/ignored.log\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("stdout_logfile = \"console\"\nstdout_logfile_maxbytes = 0\n"
                                "stderr_logfile = \"NONE\"\n"));
  EXPECT_THAT(c.body, HasSubstr("stdout_logfile = \"AUTO\"\n# not converted: stderr_logfile = "
                                "/tmp/ignored.log (redirect_stderr = true"));
}

TEST(Convert, OneFileForStdoutAndStderrBecomesRedirectStderr) {
  const Converted c = convert(
      "[program:w]\ncommand=w\nstdout_logfile=/var/log/w.log\nstderr_logfile=/var/log/w.log\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body,
              HasSubstr("stdout_logfile = \"/var/log/w.log\"\n# note: stderr_logfile = "
                        "/var/log/w.log is stdout's file too: redirect_stderr = true writes "
                        "both streams there, through one writer\nredirect_stderr = true\n"));
}

// ---- groups and includes ----

TEST(Convert, GroupsAndIncludesFollowedRelativeToTheFile) {
  const Converted c =
      convert("[supervisord]\nnodaemon=true\n[include]\nfiles = conf.d/*.conf\n",
              {{"/etc/supervisor/conf.d/queue.conf",
                "[program:queue]\ncommand=php artisan queue:work\n\n[group:workers]\n"
                "programs=queue,mail\npriority=50\n"},
               {"/etc/supervisor/conf.d/mail.conf", "[program:mail]\ncommand=sendmail-worker\n"},
               {"/etc/supervisor/conf.d/notes.txt", "not read"}});
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_EQ(c.body, R"(
[supervisor]

# ---- from /etc/supervisor/conf.d/mail.conf ----

[program.mail]
command = ["sendmail-worker"]

# ---- from /etc/supervisor/conf.d/queue.conf ----

[program.queue]
command = ["php", "artisan", "queue:work"]

[group.workers]
programs = ["queue", "mail"]
priority = 50  # for its programs that set no priority
)");
  EXPECT_EQ(c.result.groups, 1);
  EXPECT_EQ(c.result.programs, 2);
}

TEST(Convert, AGroupOfOneProgramWithItsNameIsDropped) {
  const Converted c = convert("[program:web]\ncommand=w\n[group:web]\nprograms=web\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("# not converted: [group:web] (its only program has the group's "
                                "name; minisup selects the program's processes as web:* already)"));
  EXPECT_THAT(c.body, Not(HasSubstr("[group.web]")));
}

TEST(Convert, OtherSectionsAreCommentedWhole) {
  const Converted c = convert(R"([eventlistener:crashmail]
command=crashmail -a -m root@localhost
events=PROCESS_STATE_EXITED

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///var/run/supervisor.sock
)");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("# not converted: [eventlistener:crashmail] (minisup has no event "
                                "listeners; `minisupctl events` streams every state change, with "
                                "the exit code or signal)\n#   command = crashmail -a -m "
                                "root@localhost\n#   events = PROCESS_STATE_EXITED\n"));
  EXPECT_THAT(c.body, HasSubstr("# not converted: [rpcinterface:supervisor]"));
  EXPECT_THAT(c.body, HasSubstr("# not converted: [supervisorctl]"));
  EXPECT_EQ(c.result.not_converted, 3);
}

TEST(Convert, SupervisordAndTheUnixServerMakeTheSupervisorTable) {
  const Converted c = convert(R"([unix_http_server]
file=/run/supervisor.sock
chmod=0770
chown=root:adm
username=u
password=p

[supervisord]
logfile=/var/log/supervisor/supervisord.log
logfile_maxbytes=50MB
loglevel=blather
pidfile=/run/supervisord.pid
childlogdir=%(here)s/logs
minfds=4096
)");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr(R"([supervisor]
logfile = "/var/log/supervisor/supervisord.log"
# not converted: logfile_maxbytes = 50MB (minisupd does not rotate its own log; rotate it with logrotate, which sends SIGUSR2 (conf/logrotate.minisup))
loglevel = "trace"
pidfile = "/run/supervisord.pid"
childlogdir = "/etc/supervisor/logs"
# not converted: minfds = 4096 (set rlimit_nofile / rlimit_nproc per program, or LimitNOFILE= / LimitNPROC= in minisupd's systemd unit)
# from [unix_http_server]: minisupctl's control socket
socket = "/run/supervisor.sock"
socket_mode = "0770"
# note: chown = root:adm: minisup lets these in by their uid (SO_PEERCRED) besides root and minisupd's own user; the file stays minisupd's
socket_uids = ["root"]
socket_group = "adm"
# not converted: username = u (the control socket takes no password: its file mode and the peer's uid guard it)
)"));
}

TEST(Convert, TheInetServerBecomesAnHttpTable) {
  const Converted c = convert(
      "[inet_http_server]\nport=127.0.0.1:9001\nusername=admin\n"
      "password=secret\n");
  ASSERT_TRUE(c.result.errors.empty()) << ::testing::PrintToString(c.result.errors);
  EXPECT_THAT(c.body, HasSubstr("[http]\nlisten = \"127.0.0.1:9001\"\nusername = \"admin\"\n"
                                "password_sha256 = \"" +
                                config::sha256_hex("secret") + "\"  # SHA-256 of the password\n"));
  // An open port without a password: loopback only, said in a note.
  MemorySource source;
  source.files["/c.conf"] = "[inet_http_server]\nport=*:9001\n";
  const ConvertResult r = convert_supervisord("/c.conf", source, ConvertOptions{});
  EXPECT_THAT(r.toml, HasSubstr("listen on 0.0.0.0 again\nlisten = \"127.0.0.1:9001\"\n"));
}

// ---- errors: what supervisord would refuse ----

TEST(Convert, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(only_error("[program:x]\ncommand=x\nautostart=maybe\n"),
            "/etc/supervisor/supervisord.conf:3: [program:x] autostart: not a valid boolean "
            "value: maybe (supervisord refuses it too)");
  EXPECT_EQ(only_error("[program:x]\nautostart=true\n"),
            "/etc/supervisor/supervisord.conf:1: [program:x] has no command (supervisord refuses "
            "it too)");
  EXPECT_EQ(only_error("[program:x]\ncommand=x %(nope)s\n"),
            "/etc/supervisor/supervisord.conf:2: [program:x] command: %(nope)s names nothing "
            "supervisord can expand here (supervisord refuses it too)");
  EXPECT_EQ(only_error("[program:x]\ncommand=x \"unclosed\n"),
            "/etc/supervisor/supervisord.conf:2: [program:x] command: cannot be split as "
            "supervisord splits it: No closing quotation");
  EXPECT_EQ(only_error("[program:x]\ncommand=x\n[group:g]\nprograms=x,y\n"),
            "/etc/supervisor/supervisord.conf:4: [group:g] programs: names unknown program \"y\" "
            "(supervisord refuses it too)");
  EXPECT_EQ(only_error("[program:x]\ncommand=x\nnumprocs=2\n"),
            "/etc/supervisor/supervisord.conf:1: [program:x] %(process_num) must be present "
            "within process_name when numprocs > 1 (supervisord refuses it too)");
  EXPECT_EQ(only_error("[program:x]\ncommand=x\nenvironment=A=x@y\n"),
            "/etc/supervisor/supervisord.conf:3: [program:x] environment: is not "
            "KEY=\"value\",KEY2=\"value\" pairs (quote a value that holds blanks, commas or "
            "characters other than letters, digits and _/.+-():)");
  EXPECT_EQ(only_error("command=x\n"),
            "/etc/supervisor/supervisord.conf:1: a key outside any section; the file must start "
            "with a [section] header such as [program:NAME]");
  EXPECT_EQ(only_error("[program:x]\ncommand=x\nstopsignal=NOPE\n"),
            "/etc/supervisor/supervisord.conf:3: [program:x] stopsignal: value NOPE is not a valid "
            "signal name");
}

TEST(Convert, AnIncludedFileThatCannotBeParsedNamesItself) {
  const Converted c = convert("[include]\nfiles=conf.d/*.conf\n",
                              {{"/etc/supervisor/conf.d/bad.conf", "[program:x]\ncommand x\n"}});
  EXPECT_THAT(c.result.errors,
              ElementsAre("/etc/supervisor/conf.d/bad.conf:2: expected `key = value`, got "
                          "command x"));
}

TEST(Convert, AMissingFileIsAnError) {
  MemorySource source;
  const ConvertResult r = convert_supervisord("/nope.conf", source, {});
  EXPECT_THAT(r.errors, ElementsAre("/nope.conf: No such file or directory"));
}

}  // namespace
}  // namespace minisup::ctl
