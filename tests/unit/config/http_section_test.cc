// [http] (DESIGN.md "HTTP: dashboard, JSON API, metrics"): the forms of
// `listen`, credentials, and each invalid form with its file:line:col.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::HasSubstr;

using HttpSection = ConfigTest;

TEST_F(HttpSection, AbsentMeansOff) { EXPECT_FALSE(load_ok(web("")).http.has_value()); }

TEST_F(HttpSection, LoopbackWithoutCredentials) {
  const Config c = load_ok("[http]\nlisten = \"127.0.0.1:9001\"\n" + web(""));
  ASSERT_TRUE(c.http.has_value());
  EXPECT_EQ(c.http->address, "127.0.0.1");
  EXPECT_EQ(c.http->port, 9001);
  EXPECT_FALSE(c.http->is_unix);
  EXPECT_FALSE(c.http->has_credentials());
  EXPECT_TRUE(c.http->loopback_only());
  EXPECT_FALSE(c.http->read_only);
  EXPECT_EQ(c.http->where.line, 1);
  const Config v6 = load_ok("[http]\nlisten = \"[::1]:9001\"\n" + web(""));
  EXPECT_EQ(v6.http->address, "::1");
  EXPECT_TRUE(v6.http->ipv6);
  EXPECT_TRUE(v6.http->loopback_only());
}

TEST_F(HttpSection, TokenFileBasicAndHosts) {
  write("token", "\n  abcdefghijklmnopqrstuvwxyz \n");
  const Config c = load_ok(
      "[http]\nlisten = \"0.0.0.0:9001\"\ntoken_file = \"token\"\nusername = \"admin\"\n"
      "password_sha256 = \"8A5EDAB282632443219E051E4ADE2D1D5BBC671C781051BF1437897CBDFEA0F1\"\n"
      "read_only = true\nhosts = [\"Minisup.Example\"]\n" +
      web(""));
  ASSERT_TRUE(c.http.has_value());
  EXPECT_EQ(c.http->token, "abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(c.http->username, "admin");
  EXPECT_EQ(c.http->password_sha256,
            "8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1");
  EXPECT_TRUE(c.http->read_only);
  EXPECT_EQ(c.http->hosts, std::vector<std::string>{"minisup.example"});
  EXPECT_FALSE(c.http->loopback_only());
}

TEST_F(HttpSection, UnixListenerIsRelativeToTheFile) {
  const Config c = load_ok("[http]\nlisten = \"unix:http.sock\"\n" + web(""));
  ASSERT_TRUE(c.http.has_value());
  EXPECT_TRUE(c.http->is_unix);
  EXPECT_TRUE(c.http->loopback_only());
  EXPECT_TRUE(fs::path(c.http->path).is_absolute());
  EXPECT_EQ(fs::path(c.http->path).filename(), "http.sock");
}

TEST_F(HttpSection, ErrorsSayWhereAndWhat) {
  EXPECT_THAT(only_error("[http]\nlisten = \"0.0.0.0:9001\"\n" + web("")),
              HasSubstr("minisup.toml:2:10: listen \"0.0.0.0:9001\" is not a loopback address and "
                        "[http] has no credentials"));
  EXPECT_THAT(only_error("[http]\nlisten = \"localhost:9001\"\n" + web("")),
              HasSubstr("minisup.toml:2:10: listen must be \"ADDRESS:PORT\""));
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1\"\n" + web("")), HasSubstr("has no port"));
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1:0\"\n" + web("")),
              HasSubstr("listen port must be between 1 and 65535"));
  EXPECT_THAT(only_error("[http]\nread_only = true\n" + web("")),
              HasSubstr("minisup.toml:1:1: [http] has no listen"));
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1:9001\"\nlistn = 1\n" + web("")),
              HasSubstr("minisup.toml:3:1: unknown key `listn` in [http]"));
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1:9001\"\nusername = \"a\"\n" + web("")),
              HasSubstr("minisup.toml:3:12: username needs password_sha256"));
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1:9001\"\nusername = \"a\"\n"
                         "password_sha256 = \"abc\"\n" +
                         web("")),
              HasSubstr("minisup.toml:4:19: password_sha256 must be 64 hex digits"));
  write("short", "tiny\n");
  EXPECT_THAT(only_error("[http]\nlisten = \"127.0.0.1:9001\"\ntoken_file = \"short\"\n" + web("")),
              HasSubstr("a token must have at least 16 characters"));
  EXPECT_THAT(
      only_error("[http]\nlisten = \"127.0.0.1:9001\"\ntoken_file = \"missing\"\n" + web("")),
      HasSubstr("minisup.toml:3:14: token_file"));
  EXPECT_THAT(only_error("[htpp]\nlisten = \"127.0.0.1:9001\"\n" + web("")),
              HasSubstr("did you mean [http]?"));
}

TEST_F(HttpSection, OnlyInTheMainFile) {
  write("conf.d/x.toml", "[http]\nlisten = \"127.0.0.1:9001\"\n");
  EXPECT_THAT(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n" + web("")),
              HasSubstr("[http] is only allowed in the main config file"));
}

}  // namespace
}  // namespace minisup::config::testing
