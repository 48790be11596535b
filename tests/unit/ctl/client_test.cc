// ctl/client: minisupctl's Connection (lines as they arrive, over a real
// Unix socket whose other end the test writes), and the BulkMemory it and
// the status table keep large replies in.
#include "supervisor/ctl/client.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "supervisor/ctl/bulk_memory.h"
#include "supervisor/ctl/render.h"

namespace minisup::ctl {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A listening socket in a temporary directory; accept() gives the
/// minisupd end of a Connection opened to it.
class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "minisup-client-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    listener_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = (dir_ / "s.sock").string();
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener_.get(), 4), 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Connects; `peer` becomes the other end.
  Connection open() {
    Connection connection = Connection::open(dir_ / "s.sock");
    peer_ = Fd(::accept(listener_.get(), nullptr, nullptr));
    EXPECT_TRUE(peer_);
    return connection;
  }
  void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(peer_.get(), bytes.data(), bytes.size());
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  fs::path dir_;
  Fd listener_;
  Fd peer_;
};

TEST_F(ClientTest, LinesAreCutAtTheirNewlinesWhateverTheWrites) {
  Connection c = open();
  write_all("a\nb");
  EXPECT_EQ(c.read_line(1s), "a");
  write_all("c\n\nd\ne");
  EXPECT_EQ(c.read_line(1s), "bc");
  EXPECT_EQ(c.read_line(1s), "");
  const std::optional<std::string_view> d = c.read_line_view(1s);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, "d");
  EXPECT_EQ(c.pending(), "e");
  peer_ = Fd();  // minisupd goes: the last line, without '\n', is incomplete
  EXPECT_EQ(c.read_line(1s), std::nullopt);
  EXPECT_EQ(c.read_line(1s), std::nullopt);
}

TEST_F(ClientTest, NoLineInTimeIsATimeout) {
  Connection c = open();
  write_all("half");
  EXPECT_THROW(c.read_line(50ms), ReadTimeout);
  write_all(" a line\n");
  EXPECT_EQ(c.read_line(1s), "half a line");
}

TEST_F(ClientTest, ALargeLineIsReadWholeWithOrWithoutRoomSetAside) {
  for (const std::size_t expected : {std::size_t{0}, std::size_t{8} << 20}) {
    Connection c = open();
    c.expect_reply_bytes(expected);
    // 5 MB: past the first 64 KB on the heap and past the 2 MB huge page,
    // in the odd pieces a socket delivers, then a second line.
    std::string line(5 << 20, 'x');
    for (std::size_t i = 0; i < line.size(); i += 4093) line[i] = static_cast<char>('a' + i % 26);
    std::thread writer([&] { write_all(line + "\nnext\n"); });
    const std::optional<std::string_view> got = c.read_line_view();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), line.size());
    EXPECT_TRUE(*got == line) << expected;
    EXPECT_EQ(c.read_line(), "next");
    writer.join();
  }
}

TEST_F(ClientTest, AStatusIsDecodedAsItArrivesAndItsLineStaysWhole) {
  control::StatusReply status;
  status.rows = true;
  status.fields = kStatusTableFields;
  for (int i = 0; i < 3000; ++i) {
    control::ProcessInfo p;
    p.name = p.group = "p" + std::to_string(i);
    p.state = i % 7 ? "RUNNING" : "STOPPED";
    p.description = "pid " + std::to_string(100 + i) + ", uptime 0:00:01";
    status.processes.push_back(p);
  }
  const std::string line = control::encode_reply(1, status);
  Connection c = open();
  c.expect_reply_bytes(8 << 20);
  std::thread writer([&] {
    for (std::size_t at = 0; at < line.size(); at += 7000) {
      write_all(std::string_view(line).substr(at, 7000));
      std::this_thread::sleep_for(1ms);
    }
    write_all("\n");
  });
  StatusTable table;
  ArrivingLine arriving(c, std::chrono::steady_clock::now() + 10s);
  const std::optional<control::ByteRange> rows = control::decode_status_line(arriving, table);
  writer.join();
  ASSERT_TRUE(rows);
  ASSERT_EQ(table.rows().size(), 3000u);
  EXPECT_EQ(table.rows()[2999].name, "p2999");
  EXPECT_EQ(table.rows()[7].state, "STOPPED");
  const std::optional<std::string_view> whole = c.read_line_view(1s);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, line);
  EXPECT_EQ(whole->substr(rows->begin, 2), "[[");
}

TEST(BulkMemory, IsAlignedZeroedAndWholeHugePages) {
  BulkMemory memory(100);
  ASSERT_NE(memory.data(), nullptr);
  EXPECT_EQ(memory.size(), BulkMemory::kHugePage);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(memory.data()) % BulkMemory::kHugePage, 0u);
  EXPECT_EQ(memory.data()[0], 0);
  EXPECT_EQ(memory.data()[memory.size() - 1], 0);
  memory.data()[memory.size() - 1] = 'x';  // all of it is writable
  BulkMemory moved = std::move(memory);
  EXPECT_EQ(memory.data(), nullptr);
  EXPECT_EQ(moved.data()[moved.size() - 1], 'x');
  EXPECT_EQ(BulkMemory(BulkMemory::kHugePage + 1).size(), 2 * BulkMemory::kHugePage);
}

TEST(BulkArray, GrowsFromTheHeapIntoBulkMemoryKeepingItsItems) {
  struct Item {
    std::uint64_t a;
    std::uint32_t b;
  };
  BulkArray<Item> items;
  EXPECT_TRUE(items.empty());
  // Past the heap's 32 KB and past the first 2 MB region.
  const std::size_t n = 300'000;
  for (std::size_t i = 0; i < n; ++i) items.push_back(Item{i * 3, static_cast<std::uint32_t>(i)});
  ASSERT_EQ(items.size(), n);
  for (std::size_t i = 0; i < n; i += 997) {
    EXPECT_EQ(items[i].a, i * 3);
    EXPECT_EQ(items[i].b, i);
  }
  EXPECT_EQ(items.back().b, n - 1);
  BulkArray<Item> moved = std::move(items);
  EXPECT_EQ(items.size(), 0u);
  EXPECT_EQ(moved.size(), n);
  items.push_back(Item{1, 2});  // a moved-from array is empty and usable
  EXPECT_EQ(items[0].b, 2u);
  EXPECT_EQ(moved[n - 1].a, (n - 1) * 3);
  moved.clear();
  EXPECT_TRUE(moved.empty());
}

}  // namespace
}  // namespace minisup::ctl
