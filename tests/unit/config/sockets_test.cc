// [socket.NAME] tables and a program's `sockets` (DESIGN.md "Held sockets
// and zero-downtime restarts"): the forms of `listen`, defaults, the keys
// of unix sockets, included files, and each invalid form with its exact
// file:line:col message (bad address, unknown socket, an address two
// sockets share, a tcp/http probe aimed at a held socket).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supervisor/config/config_diff.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using Sockets = ConfigTest;

const std::string kHttp = "[socket.http]\nlisten = \"tcp://0.0.0.0:3000\"\n";

TEST_F(Sockets, TcpIpv4WithDefaults) {
  const Config c = load_ok(kHttp + web("sockets = [\"http\"]"));
  ASSERT_EQ(c.sockets.size(), 1u);
  const SocketConfig& s = c.sockets[0];
  EXPECT_EQ(s.name, "http");
  EXPECT_EQ(s.kind, SocketConfig::Kind::Tcp);
  EXPECT_EQ(s.address, "0.0.0.0");
  EXPECT_FALSE(s.ipv6);
  EXPECT_EQ(s.port, 3000);
  EXPECT_EQ(s.backlog, 4096);
  EXPECT_EQ(s.listen, "tcp://0.0.0.0:3000");
  EXPECT_EQ(s.address_text(), "tcp://0.0.0.0:3000");
  EXPECT_EQ(s.where.line, 1);
  // The program holds a copy of the definition it names.
  ASSERT_EQ(c.programs.at(0).sockets.size(), 1u);
  EXPECT_EQ(c.programs.at(0).sockets[0], s);
}

TEST_F(Sockets, TcpIpv6IsCanonical) {
  const Config c = load_ok(
      "[socket.v6]\nlisten = \"tcp://[0:0::0]:8080\"\nbacklog = 16\n"
      "[socket.lo6]\nlisten = \"tcp://[::1]:8081\"\n" +
      web("sockets = [\"v6\", \"lo6\"]"));
  ASSERT_EQ(c.sockets.size(), 2u);
  // Sorted by name; the program keeps its own order.
  EXPECT_EQ(c.sockets[0].name, "lo6");
  const SocketConfig& v6 = c.sockets[1];
  EXPECT_EQ(v6.address, "::");
  EXPECT_TRUE(v6.ipv6);
  EXPECT_EQ(v6.port, 8080);
  EXPECT_EQ(v6.backlog, 16);
  EXPECT_EQ(v6.address_text(), "tcp://[::]:8080");
  const auto& held = c.programs.at(0).sockets;
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].name, "v6");
  EXPECT_EQ(held[1].name, "lo6");
}

TEST_F(Sockets, UnixPathIsRelativeToTheFileWithModeAndOwner) {
  const Config c = load_ok(
      "[socket.app]\nlisten = \"unix:run/app.sock\"\nmode = \"0660\"\nowner = \"root:root\"\n" +
      web("sockets = [\"app\"]"));
  const SocketConfig& s = c.sockets.at(0);
  EXPECT_EQ(s.kind, SocketConfig::Kind::Unix);
  EXPECT_EQ(s.path, (dir_ / "run/app.sock").string());
  EXPECT_EQ(s.mode, 0660u);
  EXPECT_EQ(s.owner, "root:root");
  EXPECT_EQ(s.owner_uid, 0u);
  EXPECT_EQ(s.owner_gid, 0u);
  EXPECT_EQ(s.address_text(), "unix:" + (dir_ / "run/app.sock").string());
}

TEST_F(Sockets, UnixDefaultsAndVariables) {
  const Config c =
      load_ok("[socket.app]\nlisten = \"unix:${RUN}/app.sock\"\n", {{"RUN", "/run/x"}});
  const SocketConfig& s = c.sockets.at(0);
  EXPECT_EQ(s.path, "/run/x/app.sock");
  EXPECT_EQ(s.mode, 0666u);
  EXPECT_EQ(s.owner_uid, std::nullopt);
  EXPECT_EQ(s.owner_gid, std::nullopt);
}

TEST_F(Sockets, IncludedFilesMayHoldSockets) {
  write("conf.d/web.toml",
        "[socket.http]\nlisten = \"unix:web.sock\"\n" + web("sockets = [\"http\"]"));
  const LoadResult result = load("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(errors(result));
  EXPECT_EQ(result.config->sockets.at(0).path, (dir_ / "conf.d/web.sock").string());
  EXPECT_EQ(result.config->programs.at(0).sockets.at(0).name, "http");
}

TEST_F(Sockets, BadListenValues) {
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"http://0.0.0.0:3000\"\n"),
            "minisup.toml:2:10: listen must be \"tcp://ADDRESS:PORT\" (e.g. "
            "\"tcp://0.0.0.0:3000\", \"tcp://[::]:3000\") or \"unix:PATH\", got "
            "\"http://0.0.0.0:3000\"");
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"tcp://localhost:3000\"\n"),
              HasSubstr("minisup.toml:2:10: listen must be"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"tcp://localhost:3000\"\n"),
              HasSubstr("\"localhost\" is not a numeric IPv4 address (names are not resolved"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"tcp://0.0.0.0\"\n"), HasSubstr("has no port"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"tcp://::1:80\"\n"),
              HasSubstr("IPv6 address without brackets"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"tcp://[::1]\"\n"),
              HasSubstr("no port after the IPv6 address"));
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"tcp://0.0.0.0:70000\"\n"),
            "minisup.toml:2:10: listen port must be between 1 and 65535, got \"70000\"");
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"unix:\"\n"), HasSubstr("has no path"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"unix:@abstract\"\n"),
              HasSubstr("an abstract name (not supported)"));
  EXPECT_EQ(only_error("[socket.a]\nlisten = 3000\n"),
            "minisup.toml:2:10: listen must be a string, got 3000");
}

TEST_F(Sockets, MissingListenUnknownKeysAndTcpOnlyKeys) {
  EXPECT_EQ(only_error("[socket.a]\nbacklog = 10\n"),
            "minisup.toml:1:1: [socket.a] has no listen; listen is required "
            "(\"tcp://0.0.0.0:3000\" or \"unix:PATH\")");
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"tcp://0.0.0.0:1\"\nbaclog = 1\n"),
            "minisup.toml:3:1: unknown key `baclog` in [socket.a]; did you mean `backlog`?");
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"tcp://0.0.0.0:1\"\nmode = \"0600\"\n"),
            "minisup.toml:3:8: mode applies to unix sockets only (listen = \"unix:...\")");
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"tcp://0.0.0.0:1\"\nbacklog = 0\n"),
            "minisup.toml:3:11: backlog must be between 1 and 65535, got 0");
  EXPECT_EQ(only_error("[socket.a]\nlisten = \"unix:/x.sock\"\nowner = \"nosuchuser-xyz\"\n"),
            "minisup.toml:3:9: owner: user \"nosuchuser-xyz\" does not exist");
  EXPECT_THAT(only_error("[socket.\"a:b\"]\nlisten = \"unix:/x.sock\"\n"),
              HasSubstr("socket name \"a:b\" may only contain"));
}

TEST_F(Sockets, AnAddressTwoSocketsShareIsAnError) {
  EXPECT_EQ(only_error(kHttp + "[socket.b]\nlisten = \"tcp://0.0.0.0:3000\"\n"),
            "minisup.toml:4:10: listen \"tcp://0.0.0.0:3000\" of [socket.b] overlaps "
            "[socket.http] (tcp://0.0.0.0:3000, at minisup.toml:2:10): two sockets cannot share "
            "an address");
  // A wildcard covers the specific addresses of its family; :: covers IPv4.
  EXPECT_THAT(only_error(kHttp + "[socket.b]\nlisten = \"tcp://127.0.0.1:3000\"\n"),
              HasSubstr("overlaps [socket.http]"));
  EXPECT_THAT(only_error(kHttp + "[socket.b]\nlisten = \"tcp://[::]:3000\"\n"),
              HasSubstr("overlaps [socket.http]"));
  EXPECT_THAT(only_error("[socket.a]\nlisten = \"unix:/run/a.sock\"\n"
                         "[socket.b]\nlisten = \"unix:/run/../run/a.sock\"\n"),
              HasSubstr("overlaps [socket.a]"));
  // Other ports, other specific addresses, and IPv4 vs a specific IPv6
  // address do not overlap.
  load_ok(kHttp + "[socket.b]\nlisten = \"tcp://0.0.0.0:3001\"\n" +
          "[socket.c]\nlisten = \"tcp://[::1]:3000\"\n");
  load_ok(
      "[socket.a]\nlisten = \"tcp://127.0.0.1:80\"\n[socket.b]\nlisten = "
      "\"tcp://127.0.0.2:80\"\n");
}

TEST_F(Sockets, AcrossFilesTheSecondDefinitionIsReported) {
  write("conf.d/b.toml", "[socket.http]\nlisten = \"tcp://0.0.0.0:4000\"\n");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n" + kHttp),
            "conf.d/b.toml:1:1: socket \"http\" is defined twice: at minisup.toml:3:1 and at "
            "conf.d/b.toml:1:1");
}

TEST_F(Sockets, ProgramSocketsMustNameSocketsOnce) {
  EXPECT_EQ(only_error(kHttp + web("sockets = [\"htp\"]")),
            "minisup.toml:5:12: sockets[0] names \"htp\", which is no [socket.NAME] table; did "
            "you mean \"http\"?");
  EXPECT_EQ(only_error(web("sockets = [\"http\"]")),
            "minisup.toml:3:12: sockets[0] names \"http\", which is no [socket.NAME] table; "
            "define it with [socket.http] listen = \"...\"");
  EXPECT_EQ(only_error(kHttp + web("sockets = [\"http\", \"http\"]")),
            "minisup.toml:5:20: sockets[1] names \"http\" again; name each socket once");
  EXPECT_EQ(only_error(web("sockets = \"http\"")),
            "minisup.toml:3:11: sockets must be an array of [socket.NAME] names like [\"http\"], "
            "got \"http\"");
}

TEST_F(Sockets, ATcpOrHttpProbeOnAHeldSocketIsAnError) {
  const std::string ready =
      only_error(kHttp + web("sockets = [\"http\"]\nready = { tcp = \"127.0.0.1:3000\" }"));
  EXPECT_THAT(ready, StartsWith("minisup.toml:6:9: ready.tcp \"127.0.0.1:3000\" aims at the "
                                "address of held socket [socket.http] (tcp://0.0.0.0:3000)"));
  EXPECT_THAT(ready, HasSubstr("use ready = { notify = true }, { log = \"...\" }, { exec = [...] "
                               "}, or an http probe on an address of the process's own"));
  // Any program's probe: the kernel answers whoever asks.
  const std::string health =
      only_error(kHttp + web("health = { http = \"http://localhost:3000/healthz\" }"));
  EXPECT_THAT(health, StartsWith("minisup.toml:5:10: health.http "
                                 "\"http://localhost:3000/healthz\" aims at the address"));
  EXPECT_THAT(health, HasSubstr("use health = { exec = [...] }"));
  // Another port, a log probe, an IPv6 probe on an IPv4-only socket: fine.
  load_ok(kHttp + web("sockets = [\"http\"]\nready = { tcp = \"127.0.0.1:3001\" }"));
  load_ok(kHttp + web("sockets = [\"http\"]\nready = { log = \"listening\" }"));
  load_ok(kHttp + web("ready = { tcp = \"[::1]:3000\" }"));
}

TEST_F(Sockets, ChangedSocketMakesItsProgramChanged) {
  const Config before = load_ok(kHttp + web("sockets = [\"http\"]"));
  // Moved down a line: where it is written does not count.
  const Config moved = load_ok("\n" + kHttp + web("sockets = [\"http\"]"));
  EXPECT_TRUE(diff_configs(before, moved).empty());
  const Config changed =
      load_ok("[socket.http]\nlisten = \"tcp://0.0.0.0:3001\"\n" + web("sockets = [\"http\"]"));
  EXPECT_THAT(diff_configs(before, changed).changed, ElementsAre("web"));
}

TEST_F(Sockets, CheckSummaryListsTheSockets) {
  const std::string summary = check_summary(
      load_ok(kHttp + "[socket.admin]\nlisten = \"unix:/run/admin.sock\"\nmode = \"0600\"\n" +
              web("sockets = [\"http\"]")));
  EXPECT_THAT(summary, HasSubstr("held sockets: 2\n"
                                 "  admin: unix:/run/admin.sock (backlog 4096, mode 0600) (no "
                                 "program uses it)\n"
                                 "  http: tcp://0.0.0.0:3000 (backlog 4096) -> web\n"));
}

}  // namespace
}  // namespace minisup::config::testing
