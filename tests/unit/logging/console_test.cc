// ConsoleWriter and ConsoleSink: `NAME | text` lines on minisupd's stdout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "logging_test_util.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/pipe.h"

namespace minisup::logging {
namespace {

using testing::read_file;
using testing::Reports;
using testing::run_until;
using testing::TempDir;

/// Everything readable from a non-blocking descriptor right now.
std::string read_available(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as minisupd does (doc/pitfalls.md §9)
  }
  std::shared_ptr<ConsoleWriter> make_writer(
      std::size_t width, ConsoleWriter::Color color = ConsoleWriter::Color::Never,
      std::size_t max_buffer = ConsoleWriter::kDefaultMaxBuffer) {
    auto writer = std::make_shared<ConsoleWriter>(loop_, pipe_.write.get(), max_buffer, color,
                                                  reports_.hook());
    writer->set_name_width(width);
    return writer;
  }
  std::string output() { return read_available(pipe_.read.get()); }

  loop::EventLoop loop_;
  sys::Pipe pipe_ = sys::make_pipe();  // stands for minisupd's stdout
  Reports reports_;
};

TEST_F(ConsoleTest, LinesArePrefixedAndPadded) {
  auto writer = make_writer(6);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  ConsoleSink err(writer, "worker", StreamKind::Stderr);
  out.write("first\nsecond\n");
  err.write("oops\n");
  EXPECT_EQ(output(), "web    | first\nweb    | second\nworker ! oops\n");
}

TEST_F(ConsoleTest, NameLongerThanWidthIsNotCut) {
  auto writer = make_writer(2);
  ConsoleSink out(writer, "web:10", StreamKind::Stdout);
  out.write("x\n");
  EXPECT_EQ(output(), "web:10 | x\n");
}

TEST_F(ConsoleTest, PartialLineIsHeldUntilItsNewline) {
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  out.write("hel");
  EXPECT_EQ(output(), "");
  out.write("lo\nwor");
  EXPECT_EQ(output(), "web | hello\n");
  out.write("ld");
  EXPECT_EQ(output(), "");
  out.write("\n\n");
  EXPECT_EQ(output(), "web | world\nweb | \n");
}

TEST_F(ConsoleTest, PartialLineIsFlushedAtEndOfStream) {
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  out.write("no newline at the end");
  EXPECT_EQ(output(), "");
  out.end_of_stream();
  EXPECT_EQ(output(), "web | no newline at the end\n");
  out.end_of_stream();  // nothing held: nothing written
  EXPECT_EQ(output(), "");
}

TEST_F(ConsoleTest, OverlongPartialLineIsFlushedInPieces) {
  ASSERT_GE(sys::set_pipe_size(pipe_.write.get(), 1 << 20), 1 << 17);  // room for a 64 KiB line
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  const std::size_t max = ConsoleSink::kMaxPartialLine;
  out.write(std::string(max - 10, 'a'));
  EXPECT_EQ(output(), "");
  out.write(std::string(20, 'b'));  // passes the cap: the first max bytes go out as a line
  std::string expected = "web | " + std::string(max - 10, 'a') + std::string(10, 'b') + "\n";
  EXPECT_TRUE(output() == expected);
  out.write("c\n");
  EXPECT_EQ(output(), "web | " + std::string(10, 'b') + "c\n");
}

TEST_F(ConsoleTest, ColorsPrefixesPerNameWhenAsked) {
  auto writer = make_writer(3, ConsoleWriter::Color::Always);
  EXPECT_TRUE(writer->uses_color());
  ConsoleSink web(writer, "web", StreamKind::Stdout);
  ConsoleSink db(writer, "db", StreamKind::Stderr);
  web.write("a\n");
  db.write("b\n");
  web.write("c\n");
  EXPECT_EQ(output(),
            "\x1b[36mweb |\x1b[0m a\n"
            "\x1b[33mdb  !\x1b[0m b\n"
            "\x1b[36mweb |\x1b[0m c\n");
}

TEST_F(ConsoleTest, NoColorOnAPipe) {
  auto writer = make_writer(3, ConsoleWriter::Color::Auto);
  EXPECT_FALSE(writer->uses_color());
}

TEST_F(ConsoleTest, ConsoleDoesNotMakeTheSharedDescriptorNonBlocking) {
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  out.write("x\n");
  int flags = ::fcntl(pipe_.write.get(), F_GETFL);
  EXPECT_EQ(flags & O_NONBLOCK, 0) << "O_NONBLOCK leaked onto the (shared) stdout description";
  EXPECT_EQ(output(), "web | x\n");
}

TEST_F(ConsoleTest, SlowReaderNeverBlocksAndOverflowIsDroppedAndReportedOnce) {
  auto writer = make_writer(3, ConsoleWriter::Color::Never, 8192);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  const std::string line(99, 'x');  // 100 bytes with the newline, 106 with the prefix
  // Nobody reads: the pipe (64 KiB) fills, then the 8 KiB buffer, then
  // lines are dropped. Every write returns at once.
  for (int i = 0; i < 2000; ++i) out.write(line + "\n");
  EXPECT_GT(writer->dropped_bytes(), 0u);
  EXPECT_LE(writer->pending_bytes(), 8192u);
  EXPECT_GT(writer->pending_bytes(), 0u);
  ASSERT_EQ(reports_.items.size(), 1u);
  EXPECT_EQ(reports_.items[0].first, ReportKind::Fault);

  // The reader catches up: the loop flushes the buffer on EPOLLOUT.
  std::string received;
  ASSERT_TRUE(run_until(loop_, [&] {
    received += output();
    return writer->pending_bytes() == 0;
  }));
  received += output();
  const std::string expected_line = "web | " + line + "\n";
  ASSERT_EQ(received.size() % expected_line.size(), 0u) << "only whole lines are written";
  EXPECT_EQ(received.size() + writer->dropped_bytes(), 2000 * expected_line.size());
  ASSERT_EQ(reports_.items.size(), 2u);
  EXPECT_EQ(reports_.items[1].first, ReportKind::Recovered);
}

TEST_F(ConsoleTest, LineLargerThanTheBufferIsTakenWhenNothingIsPending) {
  auto writer = make_writer(3, ConsoleWriter::Color::Never, 64);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  const std::string text(1000, 'l');
  out.write(text + "\n");
  EXPECT_EQ(writer->dropped_bytes(), 0u);
  EXPECT_EQ(output(), "web | " + text + "\n");
}

TEST_F(ConsoleTest, ClosedReaderIsCountedNotFatal) {
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  pipe_.read.reset();
  out.write("into the void\n");
  out.write("again\n");
  EXPECT_GT(writer->dropped_bytes(), 0u);
  EXPECT_EQ(reports_.count(ReportKind::Fault), 1u);
  EXPECT_NE(reports_.items[0].second.find("Broken pipe"), std::string::npos);
}

TEST(ConsoleTargets, RegularFileAsStdout) {
  TempDir dir;
  auto path = dir / "stdout.txt";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  loop::EventLoop loop;
  {
    auto writer = std::make_shared<ConsoleWriter>(loop, fd);
    writer->set_name_width(4);
    ConsoleSink out(writer, "api", StreamKind::Stdout);
    out.write("ready\n");
  }
  ::close(fd);
  EXPECT_EQ(read_file(path), "api  | ready\n");
}

TEST(ConsoleTargets, SocketAsStdout) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  sys::UniqueFd ours(sv[0]);
  sys::UniqueFd theirs(sv[1]);
  loop::EventLoop loop;
  auto writer = std::make_shared<ConsoleWriter>(loop, ours.get());
  writer->set_name_width(3);
  ConsoleSink err(writer, "web", StreamKind::Stderr);
  err.write("journald style\n");
  sys::set_nonblocking(theirs.get());
  EXPECT_EQ(read_available(theirs.get()), "web ! journald style\n");
  EXPECT_EQ(::fcntl(ours.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(ConsoleNameWidth, LongestProcessName) {
  config::ProgramConfig web;
  web.name = "web";
  web.processes.resize(1);
  web.processes[0].name = "web";
  config::ProgramConfig worker;
  worker.name = "worker";
  worker.processes.resize(11);
  for (int i = 0; i < 11; ++i)
    worker.processes[static_cast<std::size_t>(i)].name = "worker:" + std::to_string(i);
  EXPECT_EQ(console_name_width({web}), 3u);
  EXPECT_EQ(console_name_width({web, worker}), 9u);  // "worker:10"
}

TEST_F(ConsoleTest, KeepsTheLastBytesOfTheStreamForTail) {
  auto writer = make_writer(3);
  ConsoleSink out(writer, "web", StreamKind::Stdout);
  ASSERT_NE(out.recent_output(), nullptr);
  EXPECT_EQ(out.recent_output()->text(), "");
  out.write("first\nsecond\npart");
  EXPECT_EQ(out.recent_output()->text(), "first\nsecond\npart");  // raw, no prefixes
  // clear forgets what is kept (the console keeps what it showed).
  std::string error;
  EXPECT_TRUE(out.clear(&error));
  EXPECT_EQ(out.recent_output()->size(), 0u);
  EXPECT_EQ(output(), "web | first\nweb | second\n");
}

TEST(RecentOutput, KeepsAtMostMaxBytesDroppingTheOldest) {
  const std::size_t max = RecentOutput::kMaxBytes;
  RecentOutput recent;
  std::string all;
  // Chunks of odd sizes wrap the ring at every offset.
  for (int i = 0; all.size() < 5 * max; ++i) {
    std::string chunk(static_cast<std::size_t>(1 + (i * 7919) % 9000),
                      static_cast<char>('a' + i % 26));
    chunk += std::to_string(i) + "\n";
    recent.append(chunk);
    all += chunk;
    const std::size_t kept = std::min(all.size(), max);
    ASSERT_EQ(recent.size(), kept);
    ASSERT_TRUE(recent.text() == all.substr(all.size() - kept)) << "after chunk " << i;
  }
  // One chunk larger than the whole buffer: only its end is kept.
  std::string big(max + 100, 'x');
  big.back() = 'y';
  recent.append(big);
  EXPECT_TRUE(recent.text() == big.substr(100));
  recent.append("z");
  EXPECT_EQ(recent.text().back(), 'z');
  EXPECT_EQ(recent.size(), max);
  recent.clear();
  EXPECT_EQ(recent.text(), "");
}

}  // namespace
}  // namespace minisup::logging
