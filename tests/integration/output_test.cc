// Integration tests of child output: log files (AUTO, explicit paths, NONE),
// console lines, redirect_stderr, size-based rotation, SIGUSR2 reopen,
// `minisupctl tail` / `tail -f` / `clear`, and faults (an unwritable path, a
// child closing its stdout, a child flooding its log). The real minisupd
// and minisupctl, with real children (tests/helpers/test_child, /bin/sh).
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

/// A child printing `line0`, `line1`, ... every `interval` seconds.
std::string ticker_cmd(const std::string& interval) {
  return sh_cmd("i=0; while :; do echo line$i; i=$((i+1)); sleep " + interval + "; done");
}

/// The first `n` bytes of test_child's --write-bytes pattern: line i is
/// "%08d <alphabet>\n" (64 bytes), see tests/helpers/test_child.cc.
std::string pattern(std::size_t n) {
  constexpr const char* kAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
  std::string out;
  out.reserve(n + 64);
  for (long long line = 0; out.size() < n; ++line) {
    out += fmt::format("{:08d} {}\n", line % 100000000, kAlphabet);
  }
  out.resize(n);
  return out;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++count;
  return count;
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// The numbers N of the complete `lineN` lines in `text`, in order. A line
/// that is not `lineN` gives -1 (so a stray line breaks contiguity checks).
std::vector<long> line_numbers(const std::string& text) {
  std::vector<long> numbers;
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.size() > 4 && line.compare(0, 4, "line") == 0 &&
        line.find_first_not_of("0123456789", 4) == std::string::npos) {
      numbers.push_back(std::stol(line.substr(4)));
    } else {
      numbers.push_back(-1);
    }
  }
  return numbers;
}

/// True when `numbers` is first, first+1, first+2, ... (no gap, no repeat).
::testing::AssertionResult contiguous(const std::vector<long>& numbers) {
  if (numbers.empty()) return ::testing::AssertionFailure() << "no lines";
  for (std::size_t i = 1; i < numbers.size(); ++i) {
    if (numbers[i] != numbers[0] + static_cast<long>(i)) {
      return ::testing::AssertionFailure()
             << "line " << i << " is line" << numbers[i] << ", expected line"
             << numbers[0] + static_cast<long>(i);
    }
  }
  return ::testing::AssertionSuccess();
}

/// The file's permission bits (0 when missing).
mode_t permissions(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

/// The current umask (minisupd inherits it from this process).
mode_t current_umask() {
  mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

/// A command running in the background with its stdout in a pipe that the
/// test reads (so "flushed at once, also into a pipe" is what is tested);
/// its stderr goes to a file. Killed (SIGKILL) on destruction if still up.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const fs::path& stderr_path)
      : stderr_path_(stderr_path) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, 2);
      int null_fd = ::open("/dev/null", O_RDONLY);
      ::dup2(null_fd, 0);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      _exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  /// Reads the pipe until `condition(output so far)` holds or `timeout` passes.
  bool read_until(const std::function<bool(const std::string&)>& condition,
                  std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition(out_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || eof_) return condition(out_);
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n > 0) {
        out_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0) {
        eof_ = true;
      }
    }
    return true;
  }

  /// Sends SIGTERM and waits; the exit code (128 + signal when killed).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& out() const { return out_; }
  std::string err() const { return read_file(stderr_path_); }

 private:
  fs::path stderr_path_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool eof_ = false;
  std::string out_;
};

/// `minisupctl -s SOCKET ARGS...` in the background.
std::vector<std::string> ctl_argv(const Daemon& d, const std::vector<std::string>& args) {
  std::vector<std::string> argv{MINISUPCTL_PATH, "-s", d.socket_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// True when `text` ends with `suffix`.
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads the backups `.max_backup` ... `.1` then the live file, oldest first.
std::string concat_logs(const fs::path& live, int max_backup) {
  std::string all;
  for (int i = max_backup; i >= 1; --i) all += read_file(live.string() + "." + std::to_string(i));
  all += read_file(live);
  return all;
}

// ---------------------------------------------------------------------------
// Where output goes

TEST(Output, AutoWritesOneFilePerStreamAndPerProcess) {
  Daemon d("[program.web]\n" + child_cmd("--print hello --stderr oops --after 60") +
           "startsecs = 0\n"
           "[program.pool]\n" +
           child_cmd("--print-env MINISUP_PROCESS_NUM --stderr pool-err --after 60") +
           "numprocs = 2\nstartsecs = 0\n");
  d.start();
  const fs::path logs = d.dir() / "logs";
  EXPECT_TRUE(eventually([&] { return read_file(logs / "web-stdout.log") == "hello\n"; }))
      << read_file(logs / "web-stdout.log");
  EXPECT_TRUE(eventually([&] { return read_file(logs / "web-stderr.log") == "oops\n"; }))
      << read_file(logs / "web-stderr.log");
  for (int n : {0, 1}) {
    fs::path out = logs / fmt::format("pool_{}-stdout.log", n);
    fs::path err = logs / fmt::format("pool_{}-stderr.log", n);
    std::string expected = fmt::format("MINISUP_PROCESS_NUM={}\n", n);
    EXPECT_TRUE(eventually([&] { return read_file(out) == expected; }))
        << out << ": " << read_file(out);
    EXPECT_TRUE(eventually([&] { return read_file(err) == "pool-err\n"; }))
        << err << ": " << read_file(err);
  }
  EXPECT_FALSE(fs::exists(logs / "pool-stdout.log"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Output, ExplicitPathIsRelativeToTheConfigAndCreatedWithParents) {
  Daemon d("[program.web]\n" + child_cmd("--print to-out --stderr to-err --after 60") +
           "startsecs = 0\n"
           "stdout_logfile = \"var/deep/web.out\"\n"
           "stderr_logfile = \"var/deeper/still/web.err\"\n");
  d.start();
  const fs::path out = d.dir() / "var/deep/web.out";
  const fs::path err = d.dir() / "var/deeper/still/web.err";
  EXPECT_TRUE(eventually([&] { return read_file(out) == "to-out\n"; }))
      << read_file(out) << d.log();
  EXPECT_TRUE(eventually([&] { return read_file(err) == "to-err\n"; }))
      << read_file(err) << d.log();
  // 0640 before the umask minisupd inherited from us.
  const mode_t expected = 0640 & ~current_umask();
  EXPECT_EQ(permissions(out), expected) << std::oct << permissions(out);
  EXPECT_EQ(permissions(err), expected) << std::oct << permissions(err);
  // Not relative to minisupd's working directory, and no AUTO file either.
  EXPECT_FALSE(fs::exists(fs::current_path() / "var/deep/web.out"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/web-stdout.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/web-stderr.log"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Output, NoneWritesNoFile) {
  Daemon d("[program.quiet]\n" + child_cmd("--print dropped --stderr dropped-too --exit 0") +
           "startsecs = 0\nautorestart = false\n"
           "stdout_logfile = \"NONE\"\nstderr_logfile = \"none\"\n");
  d.start();
  ASSERT_TRUE(d.wait_state("quiet", "EXITED")) << d.log();
  EXPECT_EQ(d.process("quiet")["exit_code"], 0);
  EXPECT_FALSE(fs::exists(d.dir() / "logs/quiet-stdout.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/quiet-stderr.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "NONE"));
  EXPECT_FALSE(fs::exists(d.dir() / "none"));
  EXPECT_THAT(d.console(), Not(HasSubstr("dropped")));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Output, RedirectStderrPutsBothStreamsInTheStdoutLog) {
  Daemon d("[program.merged]\n" +
           child_cmd("--print out1 --stderr err1 --print out2 --stderr err2 --after 60") +
           "startsecs = 0\nredirect_stderr = true\n");
  d.start();
  const fs::path out = d.dir() / "logs/merged-stdout.log";
  // One pipe for both streams: the order of the writes is kept.
  EXPECT_TRUE(eventually([&] { return read_file(out) == "out1\nerr1\nout2\nerr2\n"; }))
      << read_file(out);
  EXPECT_FALSE(fs::exists(d.dir() / "logs/merged-stderr.log"));
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// Console

TEST(Console, LinesArePrefixedAndPaddedToTheLongestName) {
  Daemon d("[program.a]\n" + child_cmd("--print out1 --stderr err1 --print out2 --after 60") +
           "startsecs = 0\nstdout_logfile = \"console\"\nstderr_logfile = \"console\"\n"
           "[program.longname]\n" +
           child_cmd("--print hello --stderr oops --after 60") +
           "startsecs = 0\nstdout_logfile = \"console\"\n");
  d.start();
  ASSERT_TRUE(eventually([&] {
    std::string c = d.console();
    return c.find("a        | out2\n") != std::string::npos &&
           c.find("longname | hello\n") != std::string::npos &&
           c.find("a        ! err1\n") != std::string::npos &&
           c.find("longname ! oops\n") != std::string::npos;
  })) << d.console();
  std::string console = d.console();
  EXPECT_THAT(console, HasSubstr("a        | out1\n"));
  // Lines of one stream keep their order.
  EXPECT_LT(console.find("a        | out1\n"), console.find("a        | out2\n"));
  // Console streams have no log file; longname's stderr, not set, follows
  // its stdout to the console (DESIGN: everything reaches `kubectl logs`).
  EXPECT_FALSE(fs::exists(d.dir() / "logs/a-stdout.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/a-stderr.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/longname-stdout.log"));
  EXPECT_FALSE(fs::exists(d.dir() / "logs/longname-stderr.log"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Console, PartialLineComesOutWholeAndIsFlushedAtEof) {
  Daemon d("[program.part]\n" + sh_cmd("printf abc; sleep 0.2; printf \"def\\n\"; exec sleep 60") +
           "startsecs = 0\nstdout_logfile = \"console\"\n"
           "[program.eof]\n" +
           sh_cmd("printf no-newline") +
           "startsecs = 0\nautorestart = false\nstdout_logfile = \"console\"\n");
  d.start();
  EXPECT_TRUE(eventually([&] { return d.console().find("part | abcdef\n") != std::string::npos; }))
      << d.console();
  // The unterminated last line of a stream comes out when the pipe closes.
  EXPECT_TRUE(eventually([&] {
    return d.console().find("eof  | no-newline\n") != std::string::npos;
  })) << d.console();
  std::string console = d.console();
  EXPECT_THAT(console, Not(HasSubstr("| abc\n")));
  EXPECT_THAT(console, Not(HasSubstr("| def\n")));
  EXPECT_EQ(count_of(console, "part | "), 1u) << console;
  EXPECT_EQ(d.stop(), 0);
}

// What a program writes as it stops (`stopping cleanly`, `served N jobs`)
// is its most telling line, and at minisupd's shutdown it is written just
// before the last exit that ends minisupd's loop. It must reach the console
// and the log file even so. Each program's `sleep` keeps its pipe open a
// moment after it exited (the common shell loop), so the line is still
// unread when the loop ends: before the fix, most runs lost some.
TEST(Console, TheLastLinesWrittenAsProgramsStopAtShutdownAreNotLost) {
  const std::string script =
      "trap \"echo last words \\$MINISUP_PROCESS_NUM; exit 0\" TERM; "
      "echo up; while :; do sleep 0.05 & wait $!; done";
  Daemon d("[program.con]\n" + sh_cmd(script) +
           "numprocs = 12\nstartsecs = 0\nstdout_logfile = \"console\"\n"
           "[program.file]\n" +
           sh_cmd(script) + "numprocs = 12\nstartsecs = 0\n");
  for (int run = 0; run < 3; ++run) {
    d.start();
    CommandResult wait = d.ctl({"wait", "all", "--timeout", "20"});
    ASSERT_EQ(wait.code, 0) << wait.out << wait.err;
    // Every program is in its loop (its trap set) before the stop.
    // (minisupd's stdout is a new file each start; the log files append.)
    ASSERT_TRUE(eventually([&] { return count_of(d.console(), "| up\n") == 12u; })) << d.console();
    for (int n = 0; n < 12; ++n) {
      const fs::path file = d.dir() / ("logs/file_" + std::to_string(n) + "-stdout.log");
      ASSERT_TRUE(eventually([&] { return count_of(read_file(file), "up\n") == run + 1u; }))
          << file;
    }
    ASSERT_EQ(d.stop(), 0) << d.log();
    const std::string console = d.console();
    for (int n = 0; n < 12; ++n) {
      const std::string con = "con:" + std::to_string(n);
      EXPECT_EQ(count_of(console, " | last words " + std::to_string(n) + "\n"), 1u)
          << "run " << run << ", " << con << ":\n"
          << console;
      const fs::path file = d.dir() / ("logs/file_" + std::to_string(n) + "-stdout.log");
      EXPECT_EQ(count_of(read_file(file), "last words " + std::to_string(n) + "\n"), run + 1u)
          << "run " << run << ", " << file;
    }
  }
}

// A test suite stops a program and reads its log at once: the line the
// program wrote before it exited is there when `stop` answers (the exit
// is reported after its pipes were read), with no polling.
TEST(Output, TheLastLineIsInTheLogWhenStopAnswers) {
  Daemon d("[program.w]\n" +
           sh_cmd("trap \"echo stopping cleanly \\$MINISUP_PROCESS_NUM; exit 0\" TERM; "
                  "echo up; while :; do sleep 0.05 & wait $!; done") +
           "numprocs = 4\nstartsecs = 0\nautostart = false\n");
  d.start();
  for (int round = 1; round <= 8; ++round) {
    CommandResult start = d.ctl({"start", "w:*"});
    ASSERT_EQ(start.code, 0) << start.out << start.err;
    for (int n = 0; n < 4; ++n) {
      const fs::path file = d.dir() / ("logs/w_" + std::to_string(n) + "-stdout.log");
      ASSERT_TRUE(eventually([&] { return count_of(read_file(file), "up\n") == round + 0u; }))
          << file;
    }
    CommandResult stop = d.ctl({"stop", "w:*"});
    ASSERT_EQ(stop.code, 0) << stop.out << stop.err;
    for (int n = 0; n < 4; ++n) {
      const fs::path file = d.dir() / ("logs/w_" + std::to_string(n) + "-stdout.log");
      EXPECT_EQ(count_of(read_file(file), "stopping cleanly " + std::to_string(n) + "\n"),
                round + 0u)
          << "round " << round << ": " << file << ":\n"
          << read_file(file);
    }
  }
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// Rotation

// The sizes of the reads that feed a log are up to minisupd and the timing
// (a read is written whole, and is at most what the pipe holds: 1 MiB once
// minisupd enlarged it), so the tests only rely on bounds that hold for any
// read sizes: with maxbytes M, every file holds at most M bytes or a single
// read, and two consecutive files hold more than M together (else the
// first would not have been rotated).

TEST(Rotation, KeepsExactlyTheBackupsAndTheNewestBytes) {
  // Every file holds at most one read (at most a pipe's capacity, 1 MiB) or
  // 50 KB: 6 MB needs at least 6 files, so with 3 backups the oldest bytes
  // must have been dropped.
  constexpr std::size_t kTotal = 6000000;
  Daemon d("[program.writer]\n" +
           child_cmd("--write-bytes " + std::to_string(kTotal) + " --exit 0") +
           "startsecs = 0\nautorestart = false\n"
           "stdout_logfile_maxbytes = \"50KB\"\nstdout_logfile_backups = 3\n");
  d.start();
  const fs::path live = d.dir() / "logs/writer-stdout.log";
  const std::string expected = pattern(kTotal);
  const std::string last_bytes = expected.substr(kTotal - 100);
  // The last bytes land in the live file last; nothing is rotated after.
  ASSERT_TRUE(eventually([&] { return ends_with(read_file(live), last_bytes); }))
      << "live file: " << read_file(live).size() << " bytes\n"
      << d.log();
  ASSERT_TRUE(d.wait_state("writer", "EXITED")) << d.log();
  for (int i = 1; i <= 3; ++i) {
    fs::path backup = live.string() + "." + std::to_string(i);
    EXPECT_TRUE(fs::exists(backup)) << backup;
    EXPECT_GT(fs::exists(backup) ? fs::file_size(backup) : 0, 0u) << backup;
  }
  EXPECT_FALSE(fs::exists(live.string() + ".4"));
  std::string all = concat_logs(live, 3);
  ASSERT_LT(all.size(), kTotal) << "nothing was dropped with only 3 backups";
  ASSERT_GT(all.size(), 0u);
  // .3 + .2 + .1 + live is exactly the end of the pattern: the dropped
  // bytes are the oldest, nothing in between is lost or repeated.
  EXPECT_TRUE(all == expected.substr(kTotal - all.size()))
      << "the logs (" << all.size() << " bytes) are not the last bytes of the pattern";
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rotation, EnoughBackupsKeepEveryByteExactlyOnce) {
  // Two consecutive files hold more than maxbytes together (else the first
  // would not have rotated): 300000 bytes fit in at most 11 files, the live
  // one and 10 backups, whatever the read sizes.
  constexpr std::size_t kTotal = 300000;
  Daemon d("[program.writer]\n" +
           child_cmd("--write-bytes " + std::to_string(kTotal) + " --exit 0") +
           "startsecs = 0\nautorestart = false\n"
           "stdout_logfile_maxbytes = 50000\nstdout_logfile_backups = 10\n");
  d.start();
  const fs::path live = d.dir() / "logs/writer-stdout.log";
  const std::string expected = pattern(kTotal);
  const std::string last_bytes = expected.substr(kTotal - 100);
  ASSERT_TRUE(eventually([&] { return ends_with(read_file(live), last_bytes); })) << d.log();
  ASSERT_TRUE(d.wait_state("writer", "EXITED")) << d.log();
  EXPECT_TRUE(fs::exists(live.string() + ".1")) << "300000 bytes with maxbytes 50000 never rotated";
  EXPECT_FALSE(fs::exists(live.string() + ".11"));
  std::string all = concat_logs(live, 10);
  EXPECT_EQ(all.size(), kTotal);
  EXPECT_TRUE(all == expected) << "the rotated logs are not the pattern byte for byte";
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rotation, NoFileGrowsPastMaxbytesAndNoByteIsLost) {
  // A read is at most a pipe's capacity (1 MiB at most, what minisupd
  // enlarges a pipe to), so with maxbytes 1 MiB no read is larger than
  // maxbytes and no file may exceed it. 6 MB then needs at least 6 files,
  // and at most 11 (two consecutive files hold more than 1 MiB together).
  constexpr std::size_t kTotal = 6000000;
  constexpr std::uintmax_t kMax = 1024 * 1024;
  Daemon d("[program.writer]\n" +
           child_cmd("--write-bytes " + std::to_string(kTotal) + " --exit 0") +
           "startsecs = 0\nautorestart = false\n"
           "stdout_logfile_maxbytes = \"1MB\"\nstdout_logfile_backups = 20\n");
  d.start();
  const fs::path live = d.dir() / "logs/writer-stdout.log";
  const std::string expected = pattern(kTotal);
  const std::string last_bytes = expected.substr(kTotal - 100);
  ASSERT_TRUE(eventually([&] { return ends_with(read_file(live), last_bytes); })) << d.log();
  ASSERT_TRUE(d.wait_state("writer", "EXITED")) << d.log();
  int backups = 0;
  while (fs::exists(live.string() + "." + std::to_string(backups + 1))) ++backups;
  EXPECT_GE(backups, 5);
  EXPECT_LE(backups, 10);
  EXPECT_LE(fs::file_size(live), kMax);
  for (int i = 1; i <= backups; ++i) {
    fs::path backup = live.string() + "." + std::to_string(i);
    EXPECT_LE(fs::file_size(backup), kMax) << backup;
    EXPECT_GT(fs::file_size(backup), 0u) << backup;
  }
  std::string all = concat_logs(live, backups);
  EXPECT_EQ(all.size(), kTotal);
  EXPECT_TRUE(all == expected) << "the rotated logs are not the pattern byte for byte";
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rotation, ZeroBackupsTruncatesTheLiveFile) {
  // More than a pipe holds: at least 3 reads, so at least one truncation.
  constexpr std::size_t kTotal = 3000000;
  Daemon d("[program.writer]\n" +
           child_cmd("--write-bytes " + std::to_string(kTotal) + " --exit 0") +
           "startsecs = 0\nautorestart = false\n"
           "stdout_logfile_maxbytes = 50000\nstdout_logfile_backups = 0\n");
  d.start();
  const fs::path live = d.dir() / "logs/writer-stdout.log";
  const std::string expected = pattern(kTotal);
  const std::string last_bytes = expected.substr(kTotal - 100);
  ASSERT_TRUE(eventually([&] { return ends_with(read_file(live), last_bytes); })) << d.log();
  ASSERT_TRUE(d.wait_state("writer", "EXITED")) << d.log();
  EXPECT_FALSE(fs::exists(live.string() + ".1"));
  std::string text = read_file(live);
  // One file holds at most max(maxbytes, one read of at most 1 MiB): it
  // was truncated.
  EXPECT_LT(text.size(), kTotal);
  EXPECT_TRUE(text == expected.substr(kTotal - text.size()))
      << "the live file (" << text.size() << " bytes) is not the end of the pattern";
  EXPECT_EQ(d.stop(), 0);
}

TEST(Rotation, Sigusr2ReopensTheLogAfterAnExternalRename) {
  Daemon d("[program.ticker]\n" + ticker_cmd("0.05") + "startsecs = 0\nstopasgroup = true\n");
  d.start();
  const fs::path live = d.dir() / "logs/ticker-stdout.log";
  const fs::path moved = d.dir() / "logs/ticker-stdout.log.rotated";
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= 3; })) << d.log();
  fs::rename(live, moved);  // what logrotate does, then it signals
  d.signal(SIGUSR2);
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= 2; }))
      << "nothing written at the original path after SIGUSR2\n"
      << d.log();
  EXPECT_THAT(d.log(), HasSubstr("SIGUSR2"));
  // The renamed file is not written any more.
  const std::string old_text = read_file(moved);
  const std::size_t seen = line_count(read_file(live));
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= seen + 3; })) << d.log();
  EXPECT_EQ(read_file(moved), old_text);
  // No line lost or repeated across the switch.
  ASSERT_EQ(d.ctl({"stop", "ticker"}).code, 0);
  std::string all = read_file(moved) + read_file(live);
  auto numbers = line_numbers(all);
  EXPECT_TRUE(contiguous(numbers)) << all;
  EXPECT_EQ(numbers.empty() ? -1 : numbers.front(), 0);
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// tail and clear

std::string fifteen_prints() {
  std::string flags;
  for (int i = 1; i <= 15; ++i) flags += fmt::format("--print l{} ", i);
  return flags;
}

TEST(Tail, ShowsTheLastTenLinesByDefaultOrN) {
  Daemon d("[program.talker]\n" +
           child_cmd(fifteen_prints() + "--stderr e1 --stderr e2 --after 60") + "startsecs = 0\n");
  d.start();
  ASSERT_TRUE(
      eventually([&] { return line_count(read_file(d.dir() / "logs/talker-stdout.log")) == 15; }));
  ASSERT_TRUE(
      eventually([&] { return line_count(read_file(d.dir() / "logs/talker-stderr.log")) == 2; }));

  CommandResult r = d.ctl({"tail", "talker"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "l6\nl7\nl8\nl9\nl10\nl11\nl12\nl13\nl14\nl15\n");

  r = d.ctl({"tail", "-n", "3", "talker"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "l13\nl14\nl15\n");

  r = d.ctl({"tail", "-n", "3", "talker", "stdout"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "l13\nl14\nl15\n");

  r = d.ctl({"tail", "talker", "stderr"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "e1\ne2\n");

  r = d.ctl({"tail", "-n", "1", "talker", "stderr"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "e2\n");

  r = d.ctl({"tail", "nosuch"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(d.stop(), 0);
}

TEST(Tail, FollowStreamsLinesAsTheyAreWrittenWithoutGaps) {
  Daemon d("[program.ticker]\n" + ticker_cmd("0.02") + "startsecs = 0\nstopasgroup = true\n");
  d.start();
  const fs::path live = d.dir() / "logs/ticker-stdout.log";
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= 12; })) << d.log();
  const long in_file = static_cast<long>(line_count(read_file(live)));
  Background tail(ctl_argv(d, {"tail", "-f", "ticker"}), d.dir() / "tail.err");
  // It starts with the last 10 lines of the file, then streams new ones:
  // wait for lines written well after it started.
  bool streamed = tail.read_until([&](const std::string& out) {
    auto numbers = line_numbers(out);
    return !numbers.empty() && numbers.back() >= in_file + 10;
  });
  ASSERT_TRUE(streamed) << "tail -f output:\n" << tail.out() << "\nstderr: " << tail.err();
  auto numbers = line_numbers(tail.out());
  EXPECT_TRUE(contiguous(numbers)) << tail.out();
  // The first lines are the file's last 10 at the time: at least line(in_file - 10).
  EXPECT_GE(numbers.front(), in_file - 10);
  EXPECT_GE(numbers.size(), 10u);
  EXPECT_EQ(tail.terminate(), 128 + SIGTERM) << tail.err();
  // minisupd keeps serving after the follower went away.
  EXPECT_EQ(d.ctl({"status", "ticker"}).code, 0);
  EXPECT_EQ(d.stop(), 0);
}

TEST(Tail, ConsoleStreamIsKeptInMemory) {
  Daemon d("[program.con]\n" + ticker_cmd("0.02") +
           "startsecs = 0\nstopasgroup = true\nstdout_logfile = \"console\"\n");
  d.start();
  ASSERT_TRUE(d.wait_state("con", "RUNNING"));
  ASSERT_TRUE(eventually([&] { return line_numbers(d.ctl({"tail", "con"}).out).size() >= 3; }));
  CommandResult r = d.ctl({"tail", "-n", "3", "con"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(line_numbers(r.out).size(), 3u) << r.out;
  EXPECT_TRUE(contiguous(line_numbers(r.out))) << r.out;
  // With -f the console stream is followed (raw lines).
  Background tail(ctl_argv(d, {"tail", "-f", "con"}), d.dir() / "tail.err");
  ASSERT_TRUE(tail.read_until([](const std::string& out) {
    return line_numbers(out).size() >= 13;
  })) << tail.out()
      << "\nstderr: " << tail.err();
  EXPECT_TRUE(contiguous(line_numbers(tail.out()))) << tail.out();
  tail.terminate();
  EXPECT_EQ(d.stop(), 0);
}

TEST(Tail, ConsoleKeepsTheLast64KiBOfEachStream) {
  // 10,000 numbered lines (about 100 KB) on stdout, one on stderr, then quiet.
  Daemon d("[program.con]\n" +
           sh_cmd("i=0; while [ $i -lt 10000 ]; do echo line$i; i=$((i+1)); done; "
                  "echo oops >&2; echo done; exec sleep 60") +
           "startsecs = 0\nstopasgroup = true\nstdout_logfile = \"console\"\n");
  d.start();
  ASSERT_TRUE(eventually([&] {
    return d.ctl({"tail", "-n", "1", "con"}).out == "done\n";
  })) << d.ctl({"tail", "con"}).out;
  CommandResult last = d.ctl({"tail", "-n", "3", "con"});
  EXPECT_EQ(last.code, 0) << last.err;
  EXPECT_EQ(last.out, "line9998\nline9999\ndone\n");
  CommandResult err = d.ctl({"tail", "con", "stderr"});
  EXPECT_EQ(err.code, 0) << err.err;
  EXPECT_EQ(err.out, "oops\n");
  // Asked for more than is kept: the last 64 KiB, the oldest line cut.
  CommandResult all = d.ctl({"tail", "-n", "100000", "con"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out.size(), 64u * 1024u);
  EXPECT_THAT(all.out, EndsWith("line9999\ndone\n"));
  EXPECT_THAT(all.out, Not(HasSubstr("line0\n")));
  // The console got everything.
  EXPECT_THAT(read_file(d.stdout_path()), HasSubstr("con ! oops\n"));
  // clear forgets what is kept.
  CommandResult cleared = d.ctl({"clear", "con"});
  EXPECT_EQ(cleared.code, 0) << cleared.out << cleared.err;
  EXPECT_EQ(d.ctl({"tail", "con"}).out, "");
  EXPECT_EQ(d.stop(), 0);
}

TEST(Tail, NoneStreamNeedsFollow) {
  Daemon d("[program.quiet]\n" + ticker_cmd("0.02") +
           "startsecs = 0\nstopasgroup = true\nstdout_logfile = \"NONE\"\n");
  d.start();
  ASSERT_TRUE(d.wait_state("quiet", "RUNNING"));
  CommandResult r = d.ctl({"tail", "quiet"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // supervisorctl's NO_FILE
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("quiet: stdout is not kept (NONE)")) << r.err;
  EXPECT_EQ(d.stop(), 0);
}

TEST(Tail, ClearTruncatesTheLog) {
  Daemon d("[program.ticker]\n" + ticker_cmd("0.02") + "startsecs = 0\nstopasgroup = true\n");
  d.start();
  const fs::path live = d.dir() / "logs/ticker-stdout.log";
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= 3; })) << d.log();
  CommandResult r = d.ctl({"clear", "ticker"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ticker: cleared\n");
  // New lines go to the start of the emptied file (no hole of NUL bytes).
  ASSERT_TRUE(eventually([&] { return line_count(read_file(live)) >= 2; })) << d.log();
  ASSERT_EQ(d.ctl({"stop", "ticker"}).code, 0);
  std::string text = read_file(live);
  EXPECT_THAT(text, StartsWith("line"));
  EXPECT_EQ(text.find('\0'), std::string::npos);
  auto numbers = line_numbers(text);
  EXPECT_TRUE(contiguous(numbers)) << text;
  EXPECT_GE(numbers.front(), 3) << "the lines from before the clear are still there:\n" << text;
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------
// Faults

TEST(Output, UnwritableLogPathIsReportedOnceAndTheProgramRuns) {
  Daemon d;
  write_file(d.dir() / "blocker", "a regular file, not a directory\n");
  const fs::path counter = d.dir() / "count";
  d.write_config(
      "[program.blocked]\n" +
      sh_cmd(fmt::format("i=0; while :; do echo line$i; i=$((i+1)); echo $i > {}; sleep 0.02; done",
                         counter.string())) +
      "startsecs = 0.1\nstopasgroup = true\nstdout_logfile = \"blocker/out.log\"\n");
  d.start();
  ASSERT_TRUE(d.wait_state("blocked", "RUNNING")) << d.log();
  auto printed = [&] {
    std::string text = read_file(counter);
    return text.empty() ? 0 : std::stoi(text);
  };
  const std::string error = (d.dir() / "blocker/out.log").string() + ": Not a directory";
  EXPECT_TRUE(eventually([&] { return d.log().find(error) != std::string::npos; })) << d.log();
  // Many more writes fail the same way: still one report.
  const int before = printed();
  ASSERT_TRUE(eventually([&] { return printed() >= before + 10; }));
  EXPECT_EQ(count_of(d.log(), error), 1u) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("blocked: open " + error)) << d.log();
  EXPECT_EQ(d.state("blocked"), "RUNNING");
  CommandResult status = d.ctl({"status"});
  EXPECT_EQ(status.code, 0) << status.out << status.err;
  EXPECT_THAT(status.out, HasSubstr("RUNNING"));
  CommandResult stop = d.ctl({"stop", "blocked"});
  EXPECT_EQ(stop.code, 0) << stop.out << stop.err;
  EXPECT_THAT(stop.out, HasSubstr("blocked: stopped"));
  EXPECT_EQ(d.stop(), 0);
}

TEST(Output, ChildClosingItsOutputStillRunsAndStopsNormally) {
  Daemon d("[program.noout]\n" + sh_cmd("exec >&-; exec sleep 60") +
           "startsecs = 0.3\n"
           "[program.noboth]\n" +
           sh_cmd("exec >&- 2>&-; exec sleep 60") + "startsecs = 0.3\n");
  d.start();
  ASSERT_TRUE(d.wait_state("noout", "RUNNING")) << d.log();
  ASSERT_TRUE(d.wait_state("noboth", "RUNNING")) << d.log();
  // The EOF on the pipes came right at the start; the processes are still up.
  for (const char* name : {"noout", "noboth"}) {
    auto p = d.process(name);
    EXPECT_EQ(p["state"], "RUNNING") << name;
    EXPECT_TRUE(process_alive(p["pid"].get<int>())) << name;
  }
  for (const char* name : {"noout", "noboth"}) {
    int pid = d.process(name)["pid"];
    auto before = std::chrono::steady_clock::now();
    CommandResult r = d.ctl({"stop", name});
    auto took = std::chrono::steady_clock::now() - before;
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(std::string(name) + ": stopped"));
    EXPECT_THAT(r.out, Not(HasSubstr("SIGKILL")));
    EXPECT_LT(took, 3s);
    EXPECT_FALSE(process_alive(pid));
    auto p = d.process(name);
    EXPECT_EQ(p["state"], "STOPPED");
    EXPECT_EQ(p["exit_signal"], SIGTERM);
    EXPECT_EQ(p["needed_sigkill"], false);
  }
  EXPECT_EQ(d.stop(), 0);
}

TEST(Output, ChattyChildIsNotBlockedAndEveryByteIsLogged) {
  constexpr std::size_t kTotal = 5000000;
  Daemon d("[program.chatty]\n" +
           child_cmd("--write-bytes " + std::to_string(kTotal) + " --exit 0") +
           "startsecs = 0\nautorestart = false\n");
  auto before = std::chrono::steady_clock::now();
  d.start();
  ASSERT_TRUE(d.wait_state("chatty", "EXITED", 5s)) << d.state("chatty") << "\n" << d.log();
  auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 5s);
  EXPECT_EQ(d.process("chatty")["exit_code"], 0);
  const fs::path live = d.dir() / "logs/chatty-stdout.log";
  ASSERT_TRUE(eventually([&] { return fs::exists(live) && fs::file_size(live) >= kTotal; }))
      << (fs::exists(live) ? fs::file_size(live) : 0) << " bytes";
  EXPECT_FALSE(fs::exists(live.string() + ".1"));
  std::string text = read_file(live);
  EXPECT_EQ(text.size(), kTotal);
  EXPECT_TRUE(text == pattern(kTotal)) << "the log is not the pattern byte for byte";
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
