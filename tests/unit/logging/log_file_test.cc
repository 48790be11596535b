// LogFile: rotation, truncation, reopen, clear and fault handling.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "logging_test_util.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::logging {
namespace {

using testing::read_file;
using testing::Reports;
using testing::TempDir;
using testing::write_file;

/// A recognisable byte stream: lines with a counter, so any loss,
/// duplication or reordering shows in a comparison.
std::string make_pattern(std::size_t size) {
  std::string out;
  for (int i = 0; out.size() < size; ++i) out += "line " + std::to_string(i) + " of the pattern\n";
  out.resize(size);
  return out;
}

/// Splits `data` into random chunks of 1..max_chunk bytes (fixed seed).
std::vector<std::string> random_chunks(const std::string& data, std::size_t max_chunk,
                                       unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, max_chunk);
  std::vector<std::string> chunks;
  for (std::size_t at = 0; at < data.size();) {
    std::size_t n = std::min(size(rng), data.size() - at);
    chunks.push_back(data.substr(at, n));
    at += n;
  }
  return chunks;
}

/// The file sizes the rotation rule must produce, oldest first, the live
/// file last: rotate before a chunk that would take the file past maxbytes,
/// unless the file is empty.
std::vector<std::size_t> expected_sizes(const std::vector<std::string>& chunks,
                                        std::size_t maxbytes) {
  std::vector<std::size_t> sizes{0};
  for (const auto& chunk : chunks) {
    if (sizes.back() > 0 && sizes.back() + chunk.size() > maxbytes) sizes.push_back(0);
    sizes.back() += chunk.size();
  }
  return sizes;
}

std::string backup(const std::filesystem::path& path, int n) {
  return path.native() + "." + std::to_string(n);
}

TEST(LogFileRotation, ConcatenationEqualsEverythingWritten) {
  TempDir dir;
  auto path = dir / "web-stdout.log";
  const std::string data = make_pattern(200'000);
  const auto chunks = random_chunks(data, 3000, 1);
  const std::size_t maxbytes = 10'000;
  const auto sizes = expected_sizes(chunks, maxbytes);
  const int backups = static_cast<int>(sizes.size());  // enough that nothing is dropped
  {
    LogFile file(path, maxbytes, backups);
    for (const auto& chunk : chunks) file.write(chunk);
    EXPECT_EQ(file.rotations(), sizes.size() - 1);
    EXPECT_EQ(file.dropped_bytes(), 0u);
  }
  std::string joined;
  for (int i = backups; i >= 1; --i) {
    std::string part = read_file(backup(path, i));
    joined += part;
    if (i <= static_cast<int>(sizes.size()) - 1) {
      // .1 is the newest backup: sizes[size-2].
      EXPECT_EQ(part.size(), sizes[sizes.size() - 1 - static_cast<std::size_t>(i)])
          << "backup " << i;
      EXPECT_LE(part.size(), maxbytes);
    }
  }
  joined += read_file(path);
  EXPECT_EQ(read_file(path).size(), sizes.back());
  EXPECT_TRUE(joined == data) << "rotation lost, duplicated or reordered bytes";
}

TEST(LogFileRotation, KeepsExactlyBackupsFilesOfTheNewestBytes) {
  TempDir dir;
  auto path = dir / "out.log";
  const std::string data = make_pattern(100'000);
  const auto chunks = random_chunks(data, 700, 2);
  const std::size_t maxbytes = 4096;
  const auto sizes = expected_sizes(chunks, maxbytes);
  ASSERT_GT(sizes.size(), 6u);
  {
    LogFile file(path, maxbytes, 3);
    for (const auto& chunk : chunks) file.write(chunk);
  }
  EXPECT_TRUE(std::filesystem::exists(backup(path, 1)));
  EXPECT_TRUE(std::filesystem::exists(backup(path, 3)));
  EXPECT_FALSE(std::filesystem::exists(backup(path, 4)));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 4u);  // live + 3 backups
  std::string joined = read_file(backup(path, 3)) + read_file(backup(path, 2)) +
                       read_file(backup(path, 1)) + read_file(path);
  std::size_t kept = 0;
  for (std::size_t i = sizes.size() - 4; i < sizes.size(); ++i) kept += sizes[i];
  ASSERT_EQ(joined.size(), kept);
  EXPECT_TRUE(joined == data.substr(data.size() - kept)) << "the newest bytes must be kept intact";
}

TEST(LogFileRotation, BackupsZeroTruncates) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 100, 0);
  file.write(std::string(60, 'a'));
  file.write(std::string(30, 'b'));
  file.write(std::string(20, 'c'));  // 90 + 20 > 100: truncate first
  EXPECT_EQ(read_file(path), std::string(20, 'c'));
  EXPECT_FALSE(std::filesystem::exists(backup(path, 1)));
  EXPECT_EQ(file.rotations(), 1u);
  EXPECT_EQ(file.size(), 20u);
}

TEST(LogFileRotation, MaxbytesZeroNeverRotates) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 0, 5);
  const std::string data = make_pattern(300'000);
  for (const auto& chunk : random_chunks(data, 5000, 3)) file.write(chunk);
  EXPECT_EQ(file.rotations(), 0u);
  EXPECT_FALSE(std::filesystem::exists(backup(path, 1)));
  EXPECT_TRUE(read_file(path) == data);
}

TEST(LogFileRotation, ChunkLargerThanMaxbytesIsWrittenWholeIntoAFreshFile) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 100, 3);
  const std::string big(5000, 'B');
  file.write(big);  // empty file: no rotation, written whole
  EXPECT_EQ(file.rotations(), 0u);
  EXPECT_EQ(read_file(path), big);
  file.write("small\n");  // the file is past maxbytes: rotate first
  EXPECT_EQ(read_file(backup(path, 1)), big);
  EXPECT_EQ(read_file(path), "small\n");
  file.write(big);  // rotate before, then whole
  EXPECT_EQ(read_file(backup(path, 2)), big);
  EXPECT_EQ(read_file(backup(path, 1)), "small\n");
  EXPECT_EQ(read_file(path), big);
}

TEST(LogFileRotation, WriteThatExactlyReachesMaxbytesDoesNotRotate) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 10, 2);
  file.write("12345");
  file.write("67890");  // exactly 10: not past maxbytes
  EXPECT_EQ(file.rotations(), 0u);
  file.write("x");
  EXPECT_EQ(file.rotations(), 1u);
  EXPECT_EQ(read_file(backup(path, 1)), "1234567890");
  EXPECT_EQ(read_file(path), "x");
}

TEST(LogFileRotation, SizeOfAnExistingFileCounts) {
  TempDir dir;
  auto path = dir / "out.log";
  write_file(path, std::string(90, 'o'));
  LogFile file(path, 100, 1);
  EXPECT_EQ(file.size(), 90u);
  file.write(std::string(20, 'n'));
  EXPECT_EQ(read_file(backup(path, 1)), std::string(90, 'o'));
  EXPECT_EQ(read_file(path), std::string(20, 'n'));
}

TEST(LogFile, AppendsAndCreatesParentDirectoriesWithMode0640) {
  TempDir dir;
  auto path = dir / "a" / "b" / "out.log";
  mode_t old_umask = ::umask(022);
  {
    LogFile file(path, 0, 1);
    file.write("hello\n");
  }
  {
    LogFile file(path, 0, 1);  // reopening appends
    file.write("again\n");
  }
  ::umask(old_umask);
  EXPECT_EQ(read_file(path), "hello\nagain\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(LogFile, ReopenAfterExternalRenameWritesANewFileAtThePath) {
  TempDir dir;
  auto path = dir / "out.log";
  auto rotated = dir / "out.log.external";
  LogFile file(path, 0, 1);
  file.write("before\n");
  std::filesystem::rename(path, rotated);  // what logrotate does
  file.reopen();                           // what its postrotate SIGUSR2 triggers
  file.write("after\n");
  EXPECT_EQ(read_file(rotated), "before\n");
  EXPECT_EQ(read_file(path), "after\n");
}

TEST(LogFile, DeletedFileIsRecreatedOnTheNextWrite) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 0, 1);
  file.write("lost if nobody notices\n");
  std::filesystem::remove(path);
  file.write("kept\n");  // no SIGUSR2: the fstat before the write sees nlink 0
  EXPECT_EQ(read_file(path), "kept\n");
}

TEST(LogFile, ClearTruncatesAndWritingGoesOn) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 1000, 1);
  file.write("old output\n");
  std::string error;
  EXPECT_TRUE(file.clear(&error)) << error;
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(file.size(), 0u);
  file.write("new\n");
  EXPECT_EQ(read_file(path), "new\n");
}

TEST(LogFileFaults, UnwritablePathIsReportedOnceAndWritingRecovers) {
  TempDir dir;
  // Tests may run as root, which ignores permissions: a parent that is a
  // regular file fails for everyone (ENOTDIR).
  auto blocker = dir / "not-a-dir";
  write_file(blocker, "x");
  auto path = blocker / "out.log";
  Reports reports;
  LogFile file(path, 100, 2, reports.hook());
  EXPECT_FALSE(file.is_open());
  for (int i = 0; i < 20; ++i) file.write("0123456789");
  EXPECT_TRUE(file.is_faulted());
  EXPECT_EQ(file.dropped_bytes(), 200u);
  ASSERT_EQ(reports.items.size(), 1u);
  EXPECT_EQ(reports.items[0].first, ReportKind::Fault);
  EXPECT_EQ(reports.items[0].second, "open " + path.native() + ": Not a directory");
  EXPECT_EQ(file.last_error(), reports.items[0].second);

  // The cause goes away: the next write opens the file, marks the gap in
  // it and says so once.
  std::filesystem::remove(blocker);
  std::filesystem::create_directory(blocker);
  file.write("back\n");
  file.write("more\n");
  EXPECT_FALSE(file.is_faulted());
  EXPECT_EQ(read_file(path), "[minisup: 200 bytes dropped: Not a directory]\nback\nmore\n");
  ASSERT_EQ(reports.items.size(), 2u);
  EXPECT_EQ(reports.items[1].first, ReportKind::Recovered);
  EXPECT_NE(reports.items[1].second.find("200 bytes were dropped"), std::string::npos)
      << reports.items[1].second;
}

TEST(LogFileFaults, FailedReopenKeepsWritingToTheOldFile) {
  TempDir dir;
  auto sub = dir / "sub";
  std::filesystem::create_directory(sub);
  auto path = sub / "out.log";
  auto moved = dir / "moved";
  Reports reports;
  LogFile file(path, 0, 1, reports.hook());
  file.write("one\n");
  // The directory is renamed and a regular file put in its place: the path
  // cannot be opened any more, but the open file still can be written.
  std::filesystem::rename(sub, moved);
  write_file(sub, "x");
  file.reopen();
  file.write("two\n");
  EXPECT_EQ(read_file(moved / "out.log"), "one\ntwo\n");
  EXPECT_EQ(file.dropped_bytes(), 0u);
  EXPECT_EQ(reports.count(ReportKind::Fault), 1u);
  // Once the path works again the next write moves there.
  std::filesystem::remove(sub);
  std::filesystem::create_directory(sub);
  file.write("three\n");
  EXPECT_EQ(read_file(path), "three\n");
  EXPECT_EQ(reports.count(ReportKind::Recovered), 1u);
}

TEST(LogFileFaults, NonRegularFileIsNeverRotated) {
  LogFile file("/dev/null", 10, 3);
  for (int i = 0; i < 10; ++i) file.write("more than ten bytes\n");
  EXPECT_EQ(file.rotations(), 0u);
  EXPECT_EQ(file.dropped_bytes(), 0u);
  EXPECT_FALSE(std::filesystem::exists("/dev/null.1"));
  std::string error;
  EXPECT_FALSE(file.clear(&error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos);
}

TEST(LogFileFaults, FifoWhoseReaderStallsDropsInsteadOfBlocking) {
  TempDir dir;
  auto path = dir / "fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  Reports reports;
  {
    LogFile no_reader(path, 0, 1, reports.hook());  // ENXIO: reported, not thrown
    EXPECT_FALSE(no_reader.is_open());
  }
  ASSERT_EQ(reports.items.size(), 1u);
  EXPECT_NE(reports.items[0].second.find("No such device or address"), std::string::npos);
  reports.items.clear();
  sys::UniqueFd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  LogFile file(path, 10, 1, reports.hook());
  const std::string chunk(4096, 'f');
  for (int i = 0; i < 100; ++i) file.write(chunk);  // 400 KB into a 64 KiB pipe nobody reads
  EXPECT_GT(file.dropped_bytes(), 0u);
  EXPECT_LT(file.dropped_bytes(), 400u * 1024);
  EXPECT_EQ(file.rotations(), 0u);
  ASSERT_EQ(reports.items.size(), 1u);
  EXPECT_NE(reports.items[0].second.find("Resource temporarily unavailable"), std::string::npos);
}

TEST(LogFileFaults, ReporterThatThrowsDoesNotEscape) {
  TempDir dir;
  auto blocker = dir / "file";
  write_file(blocker, "x");
  LogFile file(blocker / "out.log", 0, 1,
               [](ReportKind, const std::string&) { throw std::runtime_error("reporter broke"); });
  EXPECT_NO_THROW(file.write("data"));
  EXPECT_EQ(file.dropped_bytes(), 4u);
}

TEST(LogFile, SetLimitsAppliesToTheNextWrite) {
  TempDir dir;
  auto path = dir / "out.log";
  LogFile file(path, 0, 1);
  file.write(std::string(50, 'a'));
  file.set_limits(60, 1);
  file.write(std::string(20, 'b'));
  EXPECT_EQ(read_file(backup(path, 1)), std::string(50, 'a'));
  EXPECT_EQ(read_file(path), std::string(20, 'b'));
}

}  // namespace
}  // namespace minisup::logging
