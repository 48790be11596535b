// minisupd's own log: file or stderr, level, pattern, reopen.
#include "supervisor/logging/daemon_log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <string>
#include <vector>

#include "logging_test_util.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::logging {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

/// Splits `text` into lines, checks each starts with a timestamp like
/// `2024-05-01 12:00:00.123 ` and returns the rest of each line.
/// (No std::regex: g++ 12 warns inside it under -fsanitize.)
std::vector<std::string> strip_timestamps(const std::string& text) {
  const std::string shape = "dddd-dd-dd dd:dd:dd.ddd ";
  std::vector<std::string> rest;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    bool ok = line.size() >= shape.size();
    for (std::size_t i = 0; ok && i < shape.size(); ++i) {
      ok = shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(line[i])) != 0
                           : line[i] == shape[i];
    }
    EXPECT_TRUE(ok) << "no timestamp: " << line;
    rest.push_back(ok ? line.substr(shape.size()) : line);
  }
  return rest;
}

class DaemonLogTest : public ::testing::Test {
 protected:
  void TearDown() override { setup_daemon_log("-", config::LogLevel::Info); }
};

TEST_F(DaemonLogTest, WritesTimestampedLinesAtTheConfiguredLevel) {
  TempDir dir;
  auto path = dir / "logs" / "minisupd.log";  // the directory is created
  setup_daemon_log(path.native(), config::LogLevel::Info);
  spdlog::info("web: spawned, pid {}", 42);
  spdlog::debug("not shown at info");
  spdlog::error("web: exited, code {}", 3);
  std::string text = read_file(path);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(strip_timestamps(text),
            (std::vector<std::string>{"info web: spawned, pid 42", "error web: exited, code 3"}));

  set_daemon_log_level(config::LogLevel::Debug);
  spdlog::debug("now shown");
  EXPECT_NE(read_file(path).find("debug now shown"), std::string::npos);
}

TEST_F(DaemonLogTest, AppendsToAnExistingFile) {
  TempDir dir;
  auto path = dir / "minisupd.log";
  write_file(path, "earlier run\n");
  setup_daemon_log(path.native(), config::LogLevel::Info);
  spdlog::warn("started");
  std::string text = read_file(path);
  EXPECT_EQ(text.rfind("earlier run\n", 0), 0u);
  EXPECT_NE(text.find("warning started"), std::string::npos);
}

TEST_F(DaemonLogTest, ReopenFollowsAnExternalRotation) {
  TempDir dir;
  auto path = dir / "minisupd.log";
  setup_daemon_log(path.native(), config::LogLevel::Info);
  spdlog::info("before");
  std::filesystem::rename(path, dir / "minisupd.log.1");
  std::string error;
  ASSERT_TRUE(reopen_daemon_log(&error)) << error;
  spdlog::info("after");
  EXPECT_NE(read_file(dir / "minisupd.log.1").find("before"), std::string::npos);
  std::string text = read_file(path);
  EXPECT_NE(text.find("after"), std::string::npos);
  EXPECT_EQ(text.find("before"), std::string::npos);
}

TEST_F(DaemonLogTest, FailedReopenKeepsTheOldFile) {
  TempDir dir;
  auto sub = dir / "sub";
  auto path = sub / "minisupd.log";
  setup_daemon_log(path.native(), config::LogLevel::Info);
  std::filesystem::rename(sub, dir / "moved");
  write_file(sub, "a file where the directory was");
  std::string error;
  EXPECT_FALSE(reopen_daemon_log(&error));
  EXPECT_EQ(error, "open: " + path.native() + ": Not a directory");
  spdlog::info("still logged");
  EXPECT_NE(read_file(dir / "moved" / "minisupd.log").find("still logged"), std::string::npos);
}

TEST_F(DaemonLogTest, UnopenableFileThrowsAtSetupAndKeepsThePreviousLog) {
  TempDir dir;
  auto good = dir / "good.log";
  setup_daemon_log(good.native(), config::LogLevel::Info);
  write_file(dir / "file", "x");
  EXPECT_THROW(setup_daemon_log((dir / "file" / "bad.log").native(), config::LogLevel::Info),
               sys::SysError);
  spdlog::info("kept");
  EXPECT_NE(read_file(good).find("kept"), std::string::npos);
}

TEST_F(DaemonLogTest, BadFormatStringNeverThrows) {
  TempDir dir;
  setup_daemon_log((dir / "d.log").native(), config::LogLevel::Info);
  auto before = daemon_log_dropped_lines();
  EXPECT_NO_THROW(spdlog::info(fmt::runtime("{} {}"), 1));
  EXPECT_EQ(daemon_log_dropped_lines(), before + 1);
}

TEST(DaemonLogLevel, Mapping) {
  EXPECT_EQ(to_spdlog_level(config::LogLevel::Trace), spdlog::level::trace);
  EXPECT_EQ(to_spdlog_level(config::LogLevel::Debug), spdlog::level::debug);
  EXPECT_EQ(to_spdlog_level(config::LogLevel::Info), spdlog::level::info);
  EXPECT_EQ(to_spdlog_level(config::LogLevel::Warn), spdlog::level::warn);
  EXPECT_EQ(to_spdlog_level(config::LogLevel::Error), spdlog::level::err);
}

}  // namespace
}  // namespace minisup::logging
