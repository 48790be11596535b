// read_last_lines() and TailFollower.
#include "supervisor/logging/tail.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "logging_test_util.h"
#include "supervisor/logging/child_log.h"

namespace minisup::logging {
namespace {

using testing::TempDir;
using testing::write_file;

/// The reference: split into lines (a last line without newline counts)
/// and join the last n.
std::string naive_tail(const std::string& data, std::size_t n) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < data.size()) {
    std::size_t nl = data.find('\n', at);
    std::size_t end = nl == std::string::npos ? data.size() : nl + 1;
    lines.push_back(data.substr(at, end - at));
    at = end;
  }
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += lines[i];
  return out;
}

TEST(ReadLastLines, WithTrailingNewline) {
  TempDir dir;
  write_file(dir / "f", "one\ntwo\nthree\nfour\n");
  auto result = read_last_lines(dir / "f", 2);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.text, "three\nfour\n");
  EXPECT_FALSE(result.truncated);
}

TEST(ReadLastLines, WithoutTrailingNewlineTheLastPartCounts) {
  TempDir dir;
  write_file(dir / "f", "one\ntwo\nthree\nfour");
  EXPECT_EQ(read_last_lines(dir / "f", 2).text, "three\nfour");
  EXPECT_EQ(read_last_lines(dir / "f", 1).text, "four");
}

TEST(ReadLastLines, MoreLinesThanTheFileHas) {
  TempDir dir;
  write_file(dir / "f", "one\ntwo\n");
  EXPECT_EQ(read_last_lines(dir / "f", 10).text, "one\ntwo\n");
  write_file(dir / "g", "only");
  EXPECT_EQ(read_last_lines(dir / "g", 10).text, "only");
}

TEST(ReadLastLines, EmptyFileAndZeroLines) {
  TempDir dir;
  write_file(dir / "empty", "");
  auto result = read_last_lines(dir / "empty", 10);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.text, "");
  write_file(dir / "f", "a\nb\n");
  EXPECT_EQ(read_last_lines(dir / "f", 0).text, "");
}

TEST(ReadLastLines, EmptyLinesCount) {
  TempDir dir;
  write_file(dir / "f", "a\n\n\nb\n\n");
  EXPECT_EQ(read_last_lines(dir / "f", 2).text, "b\n\n");
  EXPECT_EQ(read_last_lines(dir / "f", 3).text, "\nb\n\n");
}

TEST(ReadLastLines, MatchesTheReferenceAcrossBlockBoundaries) {
  TempDir dir;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> length(0, 20000);  // some lines span 64 KiB blocks
  std::string data;
  for (int i = 0; i < 60; ++i) {
    data += std::string(static_cast<std::size_t>(length(rng)), static_cast<char>('a' + i % 26));
    data += '\n';
  }
  data += "tail without newline";
  write_file(dir / "f", data);
  for (std::size_t n : {1u, 2u, 5u, 17u, 59u, 60u, 61u, 100u}) {
    auto result = read_last_lines(dir / "f", n, data.size());
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result.text == naive_tail(data, n)) << "n = " << n;
  }
}

TEST(ReadLastLines, OutputIsCappedAtMaxBytes) {
  TempDir dir;
  std::string data = "first\n" + std::string(5000, 'x') + "\nlast\n";
  write_file(dir / "f", data);
  auto result = read_last_lines(dir / "f", 3, 100);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.truncated);
  EXPECT_EQ(result.text, data.substr(data.size() - 100));
}

TEST(ReadLastLines, Errors) {
  TempDir dir;
  auto missing = read_last_lines(dir / "nope.log", 10);
  EXPECT_EQ(missing.error, ENOENT);
  EXPECT_EQ(missing.message, "open " + (dir / "nope.log").native() + ": No such file or directory");
  auto directory = read_last_lines(dir.path(), 10);
  EXPECT_FALSE(directory.ok());
}

TEST(TailFollower, ReceivesEveryChunkAcrossRotations) {
  TempDir dir;
  LogFile file(dir / "out.log", 100, 2);
  std::string seen;
  TailFollower follower(file, [&](std::string_view chunk) { seen.append(chunk); });
  std::string written;
  for (int i = 0; i < 50; ++i) {
    std::string chunk =
        "chunk " + std::to_string(i) + " " + std::string(static_cast<std::size_t>(i), '.') + "\n";
    file.write(chunk);
    written += chunk;
  }
  EXPECT_GT(file.rotations(), 5u);
  EXPECT_EQ(seen, written);
  EXPECT_TRUE(follower.is_active());
}

TEST(TailFollower, StopsWhenDestroyedEvenFromItsOwnCallback) {
  NullSink sink;
  std::string a, b;
  auto first = std::make_unique<TailFollower>(sink, [&](std::string_view chunk) {
    a.append(chunk);
    // Destroying the follower inside its own callback is safe.
  });
  std::unique_ptr<TailFollower> second;
  second = std::make_unique<TailFollower>(sink, [&](std::string_view chunk) {
    b.append(chunk);
    second.reset();
  });
  sink.write("one");
  EXPECT_EQ(second, nullptr);
  sink.write("two");
  first.reset();
  sink.write("three");
  EXPECT_EQ(a, "onetwo");
  EXPECT_EQ(b, "one");
  EXPECT_TRUE(sink.followers()->empty());
}

TEST(TailFollower, ThrowingCallbackIsUnsubscribedAndClosed) {
  NullSink sink;
  int calls = 0;
  int closes = 0;
  TailFollower follower(
      sink,
      [&](std::string_view) {
        ++calls;
        throw std::runtime_error("client gone");
      },
      [&] { ++closes; });
  EXPECT_NO_THROW(sink.write("x"));
  EXPECT_NO_THROW(sink.write("y"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(closes, 1);
  EXPECT_FALSE(follower.is_active());
}

TEST(TailFollower, SinkGoingAwayClosesTheFollower) {
  auto sink = std::make_unique<NullSink>();
  bool closed = false;
  TailFollower follower(
      *sink, [](std::string_view) {}, [&] { closed = true; });
  EXPECT_TRUE(follower.is_active());
  sink.reset();
  EXPECT_TRUE(closed);
  EXPECT_FALSE(follower.is_active());
  // The follower is destroyed after its sink: nothing to unsubscribe from.
}

TEST(LastLines, CountsLinesAsReadLastLinesDoes) {
  for (const std::string data :
       {"", "one", "one\n", "one\ntwo\nthree\n", "one\ntwo\nthree", "\n\n\n", "a\n\nb\n"}) {
    for (std::size_t n : {0u, 1u, 2u, 3u, 10u}) {
      EXPECT_EQ(last_lines(data, n), naive_tail(data, n)) << "n = " << n << " of " << data;
    }
  }
}

}  // namespace
}  // namespace minisup::logging
