// Integration tests of child logs under stress: descriptors held only while
// a process runs (10,000 programs must not need 20,000 files), a full disk
// (bytes dropped, counted in `status --json`, marked in the file once it is
// writable again, minisupd unharmed), and a log deleted under a running
// program. The real minisupd and minisupctl; the full disk is a tiny tmpfs
// (needs root: skipped otherwise).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

/// A child printing `line N` plus `pad` bytes of padding every `interval` seconds.
std::string ticker_cmd(int pad, const std::string& interval) {
  return sh_cmd(
      fmt::format("i=0; while :; do i=$((i+1)); printf \"line %d %0{}d\\n\" $i 0; sleep {}; done",
                  pad, interval));
}

/// Descriptors minisupd holds (-1 if it cannot be read).
int open_fds(pid_t pid) {
  std::error_code ec;
  int count = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++count;
  }
  return ec ? -1 : count;
}

/// The numbers of the `line N` lines in `text`, in order.
std::vector<long> line_numbers(const std::string& text) {
  std::vector<long> numbers;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("line ", 0) == 0) numbers.push_back(std::strtol(line.c_str() + 5, nullptr, 10));
  }
  return numbers;
}

TEST(LogDescriptors, IdleProgramsHoldNoLogFileOpen) {
  // 300 programs with AUTO logs that never start: 600 files before the fix.
  std::string config;
  for (int i = 0; i < 300; ++i) {
    config += fmt::format("[program.p{}]\ncommand = \"/bin/true\"\nautostart = false\n", i);
  }
  config += "[program.once]\nautostart = false\nstartsecs = 0\nautorestart = false\n" +
            sh_cmd("echo hello; echo world");
  Daemon d(config);
  d.start();
  // The socket accepts before minisupd has finished setting up (its
  // inotify descriptor, timers): count once it answers.
  ASSERT_TRUE(d.wait_state("once", "STOPPED"));
  const int idle = open_fds(d.pid());
  ASSERT_GT(idle, 0);
  EXPECT_LT(idle, 60) << "idle programs must not hold their log files open";
  EXPECT_FALSE(fs::exists(d.dir() / "logs/p0-stdout.log")) << "created at the first spawn";

  CommandResult started = d.ctl({"start", "once"});
  ASSERT_EQ(started.code, 0) << started.out << started.err;
  ASSERT_TRUE(d.wait_state("once", "EXITED")) << d.log();
  // Closed once its pipes reached EOF: back to where it was.
  EXPECT_TRUE(eventually([&] { return open_fds(d.pid()) <= idle; }))
      << open_fds(d.pid()) << " > " << idle;
  // tail reads the closed file by path; clear truncates it by path.
  CommandResult tail = d.ctl({"tail", "once"});
  EXPECT_EQ(tail.code, 0) << tail.err;
  EXPECT_EQ(tail.out, "hello\nworld\n");
  EXPECT_EQ(d.ctl({"clear", "once"}).code, 0);
  EXPECT_EQ(read_file(d.dir() / "logs/once-stdout.log"), "");
  // SIGUSR2 opens nothing for a stopped program.
  d.signal(SIGUSR2);
  EXPECT_TRUE(eventually([&] { return d.log().find("reopening") != std::string::npos; }));
  EXPECT_LE(open_fds(d.pid()), idle);
  // A program that never ran: clear succeeds, and creates no file.
  EXPECT_EQ(d.ctl({"clear", "p1"}).code, 0);
  EXPECT_FALSE(fs::exists(d.dir() / "logs/p1-stdout.log"));
  EXPECT_EQ(d.stop(), 0);
}

/// A tiny tmpfs mounted for one test (we run as root in CI); unmounted
/// (lazily, if still busy) at the end.
class SmallTmpfs {
 public:
  SmallTmpfs(const fs::path& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir_);
    const std::string options = "size=" + size;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (mounted_ && ::umount(dir_.c_str()) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  /// Unmounts now; false (errno EBUSY) while something has a file open.
  bool unmount() {
    if (!mounted_) return true;
    if (::umount(dir_.c_str()) != 0) return false;
    mounted_ = false;
    return true;
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

TEST(LogFullDisk, DroppedBytesAreCountedMarkedInTheFileAndMinisupdLivesOn) {
  Daemon d;
  const fs::path small = d.dir() / "small";
  SmallTmpfs tmpfs(small, "64k");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << tmpfs.error();
  // Half the room is taken by a file we delete later to free space.
  write_file(small / "filler", std::string(32 * 1024, 'f'));
  const fs::path log = small / "out.log";
  d.write_config(
      "[program.writer]\nstartsecs = 0\nstopwaitsecs = 2\n" + ticker_cmd(200, "0.01") +
      fmt::format("stdout_logfile = \"{}\"\nstdout_logfile_maxbytes = 0\n", log.string()) +
      "[program.calm]\nautostart = false\n" + sh_cmd("sleep 60"));
  d.start();

  // The disk fills: bytes are dropped and counted.
  nlohmann::json writer;
  ASSERT_TRUE(eventually([&] {
    writer = d.process("writer");
    return writer.is_object() && writer["dropped_bytes"].is_number() &&
           writer["dropped_bytes"].get<std::uint64_t>() > 2000;
  })) << writer.dump()
      << "\n"
      << d.log();
  EXPECT_EQ(d.process("calm")["dropped_bytes"], 0) << "always present, 0 without drops";
  const std::string full = read_file(log);
  EXPECT_EQ(full.find("[minisup:"), std::string::npos) << "no room for a marker yet";
  const std::vector<long> before = line_numbers(full);
  ASSERT_FALSE(before.empty());
  CommandResult status = d.ctl({"status", "writer"});
  EXPECT_THAT(status.out, HasSubstr("log bytes dropped")) << status.out;

  // Room again: the gap is marked where it is, and later lines follow.
  fs::remove(small / "filler");
  const std::regex marker(R"(\n\[minisup: ([0-9]+) bytes dropped: No space left on device\]\n)");
  std::string text;
  std::smatch match;
  ASSERT_TRUE(eventually([&] {
    text = read_file(log);
    return std::regex_search(text, match, marker) &&
           line_numbers(text.substr(static_cast<std::size_t>(match.position(0)))).size() >= 2;
  })) << text.substr(text.size() > 2000 ? text.size() - 2000 : 0)
      << "\n"
      << d.log();
  const std::uint64_t marked = std::stoull(match[1].str());
  EXPECT_GT(marked, 2000u);
  // The marker sits right after the bytes written before the disk was full
  // (on a line of its own: after a newline, added if the last line was cut).
  const auto at = static_cast<std::size_t>(match.position(0));
  EXPECT_EQ(text.compare(0, full.size(), full), 0);
  EXPECT_EQ(at, full.back() == '\n' ? full.size() - 1 : full.size());
  const std::vector<long> after = line_numbers(text.substr(at));
  EXPECT_GT(after[0], before.back() + 1) << "lines were dropped in between";
  EXPECT_EQ(after[1], after[0] + 1);

  // The count covers at least what the first marker reports; minisupd's
  // own log said it once, not per failed write.
  writer = d.process("writer");
  EXPECT_GE(writer["dropped_bytes"].get<std::uint64_t>(), marked);
  const std::string daemon_log = d.log();
  std::size_t faults = 0;
  for (std::size_t pos = 0;
       (pos = daemon_log.find("No space left on device", pos)) != std::string::npos; ++pos) {
    ++faults;
  }
  EXPECT_GE(faults, 1u) << daemon_log;
  EXPECT_LE(faults, 10u) << "one report per episode, not per write:\n" << daemon_log;
  EXPECT_THAT(daemon_log, HasSubstr("bytes were dropped"));

  // minisupd is fine, and once the writer stopped its log is closed: the
  // tmpfs can be unmounted (EBUSY while a descriptor is open).
  ASSERT_EQ(d.ctl({"stop", "writer"}).code, 0);
  EXPECT_EQ(d.state("writer"), "STOPPED");
  EXPECT_TRUE(eventually([&] { return tmpfs.unmount(); }))
      << "the stopped program's log is still open: " << std::strerror(errno);
  EXPECT_EQ(d.stop(), 0);
}

TEST(LogDeleted, ALogDeletedUnderARunningProgramIsRecreatedBeforeTheNextWrite) {
  Daemon d;
  const fs::path log = d.dir() / "out.log";
  d.write_config("[program.writer]\nstartsecs = 0\nstopwaitsecs = 2\n" + ticker_cmd(0, "0.02") +
                 fmt::format("stdout_logfile = \"{}\"\n", log.string()));
  d.start();
  ASSERT_TRUE(eventually([&] { return line_numbers(read_file(log)).size() >= 3; })) << d.log();
  ASSERT_TRUE(fs::remove(log));
  // Without a SIGUSR2 the next write goes to a new file at the path, not
  // into the deleted inode.
  std::vector<long> again;
  ASSERT_TRUE(eventually([&] {
    again = line_numbers(read_file(log));
    return again.size() >= 3;
  })) << d.log();
  for (std::size_t i = 1; i < again.size(); ++i) EXPECT_EQ(again[i], again[i - 1] + 1);
  EXPECT_EQ(d.process("writer")["dropped_bytes"], 0);
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
