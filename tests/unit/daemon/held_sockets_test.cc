// HeldSockets with real sockets: bound at hold(), a socket whose address
// did not change is kept across a reload (the same descriptor, so no
// connection in its backlog is lost), a new address is bound before the old
// one is closed, and a failed bind changes nothing.
#include "supervisor/daemon/held_sockets.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace minisup::daemon {
namespace {

using ::testing::HasSubstr;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

config::SocketConfig tcp(const std::string& name, int port) {
  config::SocketConfig socket;
  socket.name = name;
  socket.address = "127.0.0.1";
  socket.port = port;
  socket.listen = socket.address_text();
  socket.backlog = 16;
  return socket;
}

/// The local port a descriptor is bound to (0 when it is not a bound socket).
int port_of(int fd) {
  sockaddr_in addr{};
  socklen_t length = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool connects(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

TEST(HeldSockets, AReloadKeepsUnchangedAddressesAndBindsNewOnesFirst) {
  const int p1 = free_port();
  const int p2 = free_port();
  HeldSockets held;
  ASSERT_EQ(held.hold({tcp("http", p1)}), std::nullopt);
  const int http = held.fd("http");
  ASSERT_GE(http, 0);
  EXPECT_EQ(port_of(http), p1);
  EXPECT_TRUE(connects(p1));  // held: the kernel queues it
  EXPECT_EQ(held.fd("nope"), -1);

  // Same address (new name, new backlog): the same socket; a new one added.
  config::SocketConfig renamed = tcp("web", p1);
  renamed.backlog = 64;
  ASSERT_EQ(held.hold({renamed, tcp("admin", p2)}), std::nullopt);
  EXPECT_EQ(held.fd("web"), http);
  EXPECT_EQ(held.fd("http"), -1);
  EXPECT_EQ(port_of(held.fd("admin")), p2);
  EXPECT_EQ(held.size(), 2u);

  // web moves to another port: bound anew, the old one closed.
  const int p3 = free_port();
  ASSERT_EQ(held.hold({tcp("web", p3)}), std::nullopt);
  EXPECT_EQ(port_of(held.fd("web")), p3);
  EXPECT_EQ(held.size(), 1u);
  EXPECT_FALSE(connects(p1));
  EXPECT_FALSE(connects(p2));
}

TEST(HeldSockets, AnAddressInUseChangesNothingAndNamesTheSocket) {
  const int p1 = free_port();
  HeldSockets held;
  ASSERT_EQ(held.hold({tcp("http", p1)}), std::nullopt);
  const int http = held.fd("http");
  HeldSockets other;
  const auto error = other.hold({tcp("copy", p1)});
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(*error, "socket \"copy\" (tcp://127.0.0.1:" + std::to_string(p1) +
                        "): bind: Address already in use");
  // A reload whose new socket cannot be bound keeps what was held.
  const int p2 = free_port();
  ASSERT_EQ(other.hold({tcp("taken", p2)}), std::nullopt);
  EXPECT_TRUE(held.hold({tcp("http", p1), tcp("clash", p2)}).has_value());
  EXPECT_EQ(held.fd("http"), http);
  EXPECT_EQ(held.size(), 1u);
}

TEST(HeldSockets, UnixSocketFileHasItsModeAndIsRemovedWithTheHolder) {
  char dir_template[] = "/tmp/minisup-held-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path path = std::filesystem::path(dir_template) / "app.sock";
  config::SocketConfig app;
  app.name = "app";
  app.kind = config::SocketConfig::Kind::Unix;
  app.path = path.string();
  app.mode = 0600;
  {
    HeldSockets held;
    ASSERT_EQ(held.hold({app}), std::nullopt);
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    // A second holder finds it live.
    HeldSockets other;
    const auto error = other.hold({app});
    ASSERT_TRUE(error.has_value());
    EXPECT_THAT(*error, HasSubstr("another process listens on it"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir_template);
}

}  // namespace
}  // namespace minisup::daemon
