// Checks made while loading that look outside the TOML text: `user` must
// name a passwd entry (user_lookup.h), and only regular files are read, so
// that a FIFO matched by an include glob (or given as the main file) is an
// error at once instead of an open() that waits forever for a writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;

using UserCheck = ConfigTest;
using FileCheck = ConfigTest;

constexpr const char* kNoSuchUser = "nosuchuser-minisup";

/// A uid with no passwd entry (nullopt when every candidate has one).
std::optional<uid_t> free_uid() {
  for (uid_t uid = 47000; uid < 48000; ++uid) {
    if (::getpwuid(uid) == nullptr) return uid;
  }
  return std::nullopt;
}

TEST_F(UserCheck, AnUnknownUserIsAnErrorAtTheValue) {
  ASSERT_EQ(::getpwnam(kNoSuchUser), nullptr);
  EXPECT_EQ(only_error(web("user = \"nosuchuser-minisup\"")),
            "minisup.toml:3:8: user \"nosuchuser-minisup\" does not exist");
}

TEST_F(UserCheck, AnUnknownUserInAnIncludedFileNamesThatFile) {
  write("conf.d/web.toml",
        "# web\n[program.web]\ncommand = \"node server.js\"\nuser = \"nosuchuser-minisup\"\n");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"),
            "conf.d/web.toml:4:8: user \"nosuchuser-minisup\" does not exist");
}

TEST_F(UserCheck, EveryProgramWithTheUnknownUserIsReported) {
  // Each name is looked up once per load; the error is still at each key.
  const LoadResult result = load(
      "[program.a]\ncommand = \"a\"\nuser = \"nosuchuser-minisup\"\n"
      "[program.b]\ncommand = \"b\"\n  user   = \"nosuchuser-minisup\"\n");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_THAT(errors(result),
              ElementsAre("minisup.toml:3:8: user \"nosuchuser-minisup\" does not exist",
                          "minisup.toml:6:12: user \"nosuchuser-minisup\" does not exist"));
}

TEST_F(UserCheck, KnownUsersLoad) {
  ASSERT_NE(::getpwnam("root"), nullptr);
  EXPECT_EQ(load_ok(web("user = \"root\"")).programs.at(0).user, "root");
  // A numeric uid with a passwd entry is accepted as written.
  EXPECT_EQ(load_ok(web("user = \"0\"")).programs.at(0).user, "0");
  if (::getpwnam("nobody") != nullptr) {
    EXPECT_EQ(load_ok(web("user = \"nobody\"")).programs.at(0).user, "nobody");
  }
}

TEST_F(UserCheck, ANumericUidNeedsAPasswdEntry) {
  // As supervisord: the spawn needs the entry's group and name.
  const std::optional<uid_t> uid = free_uid();
  if (!uid) GTEST_SKIP() << "no free uid in 47000..47999";
  EXPECT_EQ(only_error(web("user = \"" + std::to_string(*uid) + "\"")),
            "minisup.toml:3:8: user \"" + std::to_string(*uid) +
                "\" does not exist (no passwd entry for uid " + std::to_string(*uid) + ")");
}

TEST_F(UserCheck, TheUnknownUserIsQuotedAsWritten) {
  EXPECT_EQ(only_error(web("user = \"no\\tbody\"")),
            "minisup.toml:3:8: user \"no\\tbody\" does not exist");
}

/// Runs load_file(relative) in a child process, so that a load that hangs
/// (a blocking open of a FIFO) fails the test after `timeout` instead of
/// hanging it. Returns the errors joined by '\n', or nullopt on a timeout.
class Guarded : public ConfigTest {
 protected:
  std::optional<std::string> load_guarded(
      const std::string& relative, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      std::string text;
      for (const std::string& e : errors(load_file(relative))) text += e + "\n";
      const char* p = text.data();
      std::size_t left = text.size();
      while (left > 0) {
        const ssize_t n = ::write(fds[1], p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool done = false;
    while (!done) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fds[0], POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      if (n <= 0) {
        done = true;  // EOF: the child has finished
      } else {
        out.append(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(fds[0]);
    if (!done) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!done) return std::nullopt;
    return out;
  }

  void make_fifo(const std::string& relative) {
    fs::create_directories((dir_ / relative).parent_path());
    ASSERT_EQ(::mkfifo((dir_ / relative).c_str(), 0644), 0);
  }
};

TEST_F(Guarded, AFifoMatchedByAnIncludeIsAnErrorNotAHang) {
  write("conf.d/a.toml", "[program.a]\ncommand = \"a\"\n");
  make_fifo("conf.d/b.toml");
  write("minisup.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
  const std::optional<std::string> out = load_guarded("minisup.toml");
  ASSERT_TRUE(out.has_value()) << "load_config() hung on a FIFO";
  EXPECT_EQ(*out,
            "conf.d/b.toml: matched by include \"conf.d/*.toml\", but not a regular file (a "
            "FIFO)\n");
}

TEST_F(Guarded, TheMainFileMustBeARegularFile) {
  make_fifo("minisup.toml");
  const std::optional<std::string> out = load_guarded("minisup.toml");
  ASSERT_TRUE(out.has_value()) << "load_config() hung on a FIFO";
  EXPECT_EQ(*out, "minisup.toml: not a regular file (a FIFO)\n");
}

TEST_F(FileCheck, ADirectoryMatchedByAnIncludeIsNamed) {
  write("conf.d/a.toml", "[program.a]\ncommand = \"a\"\n");
  fs::create_directories(dir_ / "conf.d/sub");
  const LoadResult result = load("[supervisor]\ninclude = [\"conf.d/*\"]\n");
  EXPECT_THAT(errors(result),
              ElementsAre("conf.d/sub: matched by include \"conf.d/*\", but not a regular file "
                          "(a directory)"));
}

TEST_F(FileCheck, ACharacterDeviceIsRefusedUnread) {
  // /dev/zero would never end; the fstat refuses it before any read.
  const LoadResult result = load_config("/dev/zero", {});
  EXPECT_THAT(errors(result), ElementsAre("/dev/zero: not a regular file (a character device)"));
}

}  // namespace
}  // namespace minisup::config::testing
