// [supervisor] socket_uids and socket_group: names resolved to numbers when
// the config is loaded (the control socket compares numbers only), unknown
// names reported at the value's file:line:col.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using SocketAccessKeys = ConfigTest;

bool contains(const std::vector<uid_t>& uids, uid_t uid) {
  return std::find(uids.begin(), uids.end(), uid) != uids.end();
}

TEST_F(SocketAccessKeys, DefaultsAreEmpty) {
  const Config c = load_ok("[supervisor]\n");
  EXPECT_TRUE(c.supervisor.socket_uids.empty());
  EXPECT_FALSE(c.supervisor.socket_group.has_value());
  EXPECT_TRUE(c.supervisor.socket_group_members.empty());
}

TEST_F(SocketAccessKeys, UserNamesAndNumbersAreResolved) {
  const Config c = load_ok("[supervisor]\nsocket_uids = [\"root\", 1234, \"4321\"]\n");
  EXPECT_EQ(c.supervisor.socket_uids, (std::vector<uid_t>{0, 1234, 4321}))
      << "a name; a number; a number written as a string (no user has that name)";
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody here";
  EXPECT_EQ(load_ok("[supervisor]\nsocket_uids = [\"nobody\"]\n").supervisor.socket_uids,
            std::vector<uid_t>{nobody->pw_uid});
}

TEST_F(SocketAccessKeys, GroupNameIsResolvedWithItsUsers) {
  // The root group: gid 0, and root's primary group (so root is a member
  // even where the group lists no members).
  const Config c = load_ok("[supervisor]\nsocket_group = \"root\"\n");
  ASSERT_TRUE(c.supervisor.socket_group.has_value());
  EXPECT_EQ(*c.supervisor.socket_group, gid_t{0});
  EXPECT_TRUE(contains(c.supervisor.socket_group_members, 0));
  EXPECT_TRUE(std::is_sorted(c.supervisor.socket_group_members.begin(),
                             c.supervisor.socket_group_members.end()));

  // A group that lists a member by name: the member's uid is in the list.
  setgrent();
  const group* listed = nullptr;
  while (const group* g = getgrent()) {
    if (g->gr_mem != nullptr && g->gr_mem[0] != nullptr && ::getpwnam(g->gr_mem[0]) != nullptr) {
      listed = g;
      break;
    }
  }
  if (listed == nullptr) {
    endgrent();
    GTEST_SKIP() << "no group with a listed member here";
  }
  const std::string name = listed->gr_name;
  const gid_t gid = listed->gr_gid;
  const uid_t member = ::getpwnam(listed->gr_mem[0])->pw_uid;
  endgrent();
  const Config g = load_ok("[supervisor]\nsocket_group = \"" + name + "\"\n");
  EXPECT_EQ(g.supervisor.socket_group, gid);
  EXPECT_TRUE(contains(g.supervisor.socket_group_members, member)) << name;
  // The same group given by number resolves the same members.
  const Config n = load_ok("[supervisor]\nsocket_group = " + std::to_string(gid) + "\n");
  EXPECT_EQ(n.supervisor.socket_group, gid);
  EXPECT_EQ(n.supervisor.socket_group_members, g.supervisor.socket_group_members);
}

TEST_F(SocketAccessKeys, NumericGroupWithoutEntryIsAccepted) {
  const Config c = load_ok("[supervisor]\nsocket_group = 4242424\n");
  EXPECT_EQ(c.supervisor.socket_group, gid_t{4242424});
}

TEST_F(SocketAccessKeys, UnknownUserIsAnErrorAtTheValue) {
  EXPECT_EQ(only_error("[supervisor]\nsocket_uids = [\"root\", \"no-such-user-xyz\"]\n"),
            "minisup.toml:2:24: socket_uids[1]: user \"no-such-user-xyz\" does not exist");
  // Every unknown name is reported.
  const LoadResult two =
      load("[supervisor]\nsocket_uids = [\"no-such-user-a\",\n  \"no-such-user-b\"]\n");
  EXPECT_EQ(errors(two),
            (std::vector<std::string>{
                "minisup.toml:2:16: socket_uids[0]: user \"no-such-user-a\" does not exist",
                "minisup.toml:3:3: socket_uids[1]: user \"no-such-user-b\" does not exist"}));
}

TEST_F(SocketAccessKeys, UnknownGroupIsAnErrorAtTheValue) {
  EXPECT_EQ(only_error("[supervisor]\nsocket_group = \"no-such-group-xyz\"\n"),
            "minisup.toml:2:16: socket_group: group \"no-such-group-xyz\" does not exist");
}

TEST_F(SocketAccessKeys, WrongTypesAreErrors) {
  EXPECT_EQ(only_error("[supervisor]\nsocket_uids = \"root\"\n"),
            "minisup.toml:2:15: socket_uids must be an array of user names or uids, got \"root\"");
  EXPECT_EQ(only_error("[supervisor]\nsocket_uids = [-1]\n"),
            "minisup.toml:2:16: socket_uids[0] must be between 0 and 4294967294, got -1");
  EXPECT_EQ(only_error("[supervisor]\nsocket_uids = [true]\n"),
            "minisup.toml:2:16: socket_uids[0] must be a user name or a uid, got true");
  EXPECT_EQ(only_error("[supervisor]\nsocket_uids = [\"\"]\n"),
            "minisup.toml:2:16: socket_uids[0] must be a user name or a uid, got \"\"");
  EXPECT_EQ(only_error("[supervisor]\nsocket_group = true\n"),
            "minisup.toml:2:16: socket_group must be a group name or a gid, got true");
  EXPECT_EQ(only_error("[supervisor]\nsocket_group = 4294967295\n"),
            "minisup.toml:2:16: socket_group must be between 0 and 4294967294, got 4294967295");
}

TEST_F(SocketAccessKeys, MisspelledKeySuggestsTheRightOne) {
  const std::string error = only_error("[supervisor]\nsocket_uid = [\"root\"]\n");
  EXPECT_NE(error.find("socket_uids"), std::string::npos) << error;
}

}  // namespace
}  // namespace minisup::config::testing
