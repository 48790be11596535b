// The hint for a supervisord config given to minisup: which files look
// like supervisord's INI, and that load_config() and find_socket() return
// the hint after their errors (and only then).
#include "supervisor/config/supervisord_hint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(LooksLikeSupervisordConfig, SectionHeadersOfItsIniFormat) {
  EXPECT_TRUE(looks_like_supervisord_config("[program:web]\ncommand=/usr/bin/web\n"));
  EXPECT_TRUE(looks_like_supervisord_config("; comment\n[supervisord]\nnodaemon=true\n"));
  EXPECT_TRUE(looks_like_supervisord_config("[ group:workers ]\nprograms=a,b\n"));
  EXPECT_TRUE(looks_like_supervisord_config("[include]\r\nfiles = conf.d/*.conf\r\n"));
  EXPECT_TRUE(looks_like_supervisord_config("  [eventlistener:mem]  \n"));
  EXPECT_TRUE(looks_like_supervisord_config("[fcgi-program:php]\n[rpcinterface:supervisor]"));
  EXPECT_TRUE(looks_like_supervisord_config("[unix_http_server]\nfile=/tmp/s.sock\n"));
  // minisup's own TOML, and near misses, do not.
  EXPECT_FALSE(looks_like_supervisord_config("[program.web]\ncommand = \"web\"\n"));
  EXPECT_FALSE(looks_like_supervisord_config("[supervisor]\nsocket = \"m.sock\"\n"));
  EXPECT_FALSE(looks_like_supervisord_config("[program:]\n"));
  EXPECT_FALSE(looks_like_supervisord_config("x = \"[program:web]\"\n"));
  EXPECT_FALSE(looks_like_supervisord_config(""));
}

TEST(LooksLikeSupervisordConfig, OnlyAHeaderOnALineOfItsOwnCounts) {
  // Blanks before it, at the start of the text or of a later line.
  EXPECT_TRUE(looks_like_supervisord_config(" \t[supervisord]"));
  EXPECT_TRUE(looks_like_supervisord_config("a = [1, [2]]\n\r\t [include]\r\n"));
  // A header deep in a long minisup file is still found.
  std::string long_file;
  for (int i = 0; i < 2000; ++i)
    long_file += "[program.p" + std::to_string(i) + "]\ncommand = [\"x\"]\n";
  EXPECT_FALSE(looks_like_supervisord_config(long_file));
  EXPECT_TRUE(looks_like_supervisord_config(long_file + "  [program:web]\n"));
  // Brackets that do not open the line are not headers.
  EXPECT_FALSE(looks_like_supervisord_config("x = 1 [supervisord]\n"));
  EXPECT_FALSE(looks_like_supervisord_config("[program.a] [supervisord]\n"));
  EXPECT_FALSE(looks_like_supervisord_config("[supervisord] x\n"));
  EXPECT_FALSE(looks_like_supervisord_config("["));
}

class SupervisordHint : public ConfigTest {};

TEST_F(SupervisordHint, FollowsTheParseErrorOfASupervisordConfig) {
  write("supervisord.conf",
        "[supervisord]\nnodaemon=true\n\n[program:web]\ncommand=/usr/bin/web\n");
  const LoadResult loaded = load_file("supervisord.conf");
  ASSERT_FALSE(loaded.errors.empty());
  ASSERT_EQ(loaded.hints.size(), 1u);
  EXPECT_EQ(strip(loaded.hints[0]),
            "this looks like a supervisord config; convert it with minisupctl convert "
            "supervisord.conf");
  // minisupctl -c finds no socket in it, with the same hint.
  const SocketLookup found = find_socket(dir_ / "supervisord.conf", {});
  EXPECT_FALSE(found.errors.empty());
  EXPECT_EQ(found.hints, loaded.hints);
}

TEST_F(SupervisordHint, NamesAnIncludedFileThatLooksLikeOne) {
  write("conf.d/web.toml", "[program:web]\ncommand=/usr/bin/web\n");
  const LoadResult loaded =
      load("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n[program.ok]\ncommand = \"true\"\n");
  ASSERT_FALSE(loaded.errors.empty());
  ASSERT_EQ(loaded.hints.size(), 1u);
  EXPECT_THAT(strip(loaded.hints[0]), ::testing::EndsWith("minisupctl convert conf.d/web.toml"));
}

TEST_F(SupervisordHint, NoHintForMinisupsOwnErrors) {
  const LoadResult loaded = load("[program.web]\ncommand = \"web\"\nstopwaitsecs = \"ten\"\n");
  ASSERT_FALSE(loaded.errors.empty());
  EXPECT_THAT(loaded.hints, IsEmpty());
  EXPECT_THAT(find_socket(dir_ / "minisup.toml", {}).hints, IsEmpty());
}

}  // namespace
}  // namespace minisup::config::testing
