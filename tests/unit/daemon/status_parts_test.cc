// A large `status` goes out in parts (Clients::send_part) while it is
// written, so that minisupctl decodes the first processes while minisupd
// encodes the rest. The parts and the final send() make exactly the line a
// client that takes whole lines (HTTP) gets; a small status, and any other
// reply, is one send().
#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

class StatusParts : public RuntimeTest {
 protected:
  /// `pool` of `n` RUNNING processes and `idle` STOPPED.
  void make_pool(int n) {
    make_started(config_of({program("pool", 1, n), program("idle", 2, 1, false)}));
    timers.advance(2s);
  }
};

TEST_F(StatusParts, ALargeStatusIsSentInPartsThatMakeTheWholeLine) {
  make_pool(2000);
  const json asked = {{"cmd", "status"}, {"rows", true}, {"id", 7}};
  const json parted = ask(1, asked);
  const int parts = clients.parts_sent();
  // ~50 bytes a row: a few parts of about 32 KB.
  EXPECT_GE(parts, 2);
  EXPECT_EQ(clients.unended_bytes(1), 0u);  // the line was ended
  ASSERT_EQ(parted["ok"], true) << parted.dump().substr(0, 300);
  EXPECT_EQ(parted["id"], 7);
  ASSERT_EQ(parted["rows"].size(), 2001u);
  EXPECT_EQ(parted["rows"][0][0], "pool:0");
  EXPECT_EQ(parted["rows"][2000][0], "idle");

  // The same status for a client that takes whole lines only: one line,
  // the same one (the fake clock has not moved).
  clients.take_whole_lines_only();
  const json whole = ask(2, asked);
  EXPECT_EQ(clients.parts_sent(), parts);
  EXPECT_EQ(whole, parted);
}

TEST_F(StatusParts, ObjectsAreSentInPartsToo) {
  make_pool(600);
  const json r = ask(1, {{"cmd", "status"}});
  EXPECT_GE(clients.parts_sent(), 2);
  ASSERT_EQ(r["processes"].size(), 601u);
  EXPECT_EQ(r["processes"][599]["name"], "pool:599");
  EXPECT_EQ(r["processes"][599]["state"], "RUNNING");
  EXPECT_EQ(r["processes"][600]["state"], "STOPPED");
}

TEST_F(StatusParts, ASmallStatusIsOneLine) {
  make_pool(100);
  const json r = ask(1, {{"cmd", "status"}, {"rows", true}});
  EXPECT_EQ(clients.parts_sent(), 0);
  EXPECT_EQ(r["rows"].size(), 101u);
}

TEST_F(StatusParts, AStatusOfFewOfManyProcessesIsOneLine) {
  make_pool(2000);
  const json r = ask(1, {{"cmd", "status"}, {"names", {"pool:1", "idle"}}});
  EXPECT_EQ(clients.parts_sent(), 0);
  ASSERT_EQ(r["processes"].size(), 2u);
  EXPECT_EQ(r["processes"][0]["name"], "pool:1");
}

TEST_F(StatusParts, AFailureAfterAPartClosesTheConnectionInsteadOfEndingTheLine) {
  make_pool(2000);
  sys.fail_tree_usage("pool:1500");
  clients.take(1);
  request(1, {{"cmd", "status"}, {"tree", true}});
  // Parts went out; no line was ended (an error line cannot follow half a
  // reply): the client's connection is closed once they are out.
  EXPECT_GE(clients.parts_sent(), 1);
  EXPECT_GT(clients.unended_bytes(1), 0u);
  EXPECT_TRUE(silent(1));
  EXPECT_TRUE(clients.closed_after_flush(1));
  // The same failure before any part: an error line, the connection kept.
  const json small = ask(2, {{"cmd", "status"}, {"tree", true}, {"names", {"pool:1500"}}});
  EXPECT_EQ(small["ok"], false);
  EXPECT_EQ(small["error"]["code"], "internal");
  EXPECT_FALSE(clients.closed_after_flush(2));
  // minisupd goes on serving.
  sys.fail_tree_usage("");
  EXPECT_EQ(ask(3, {{"cmd", "status"}, {"rows", true}})["rows"].size(), 2001u);
}

}  // namespace
}  // namespace minisup::daemon::testing
