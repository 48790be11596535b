// The runtime's side of a rolling restart (`restart` with `rolling`),
// through the fakes: the old run goes on under "NAME (old)" (its child's
// exit is reported for it, its tree is renamed, it keeps its output), the
// new one gets handles of its own; status lists both (the old one with
// "old": true); the reply comes once the old one has exited. And a reload
// whose held sockets cannot be bound is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

class RollingRuntime : public RuntimeTest {};

config::ProgramConfig web() {
  config::ProgramConfig p = program("web");
  p.startsecs = 1s;
  config::SocketConfig http;
  http.name = "http";
  p.sockets = {http};
  return p;
}

TEST_F(RollingRuntime, OldRunGoesOnUnderItsOwnNameUntilItExits) {
  make_started(config_of({web()}));
  timers.advance(1s);
  ASSERT_EQ(state("web"), ProcessState::Running);
  const int old_pid = pid("web");
  logging::ProcessOutput* old_output = sys.output("web");

  request(1, {{"cmd", "restart"}, {"id", 1}, {"names", {"web"}}, {"rolling", true}});
  timers.advance(0s);
  // A new child for "web", the old one renamed, its tree too.
  EXPECT_THAT(sys.renamed(), ElementsAre(Pair("web", "web (old)")));
  EXPECT_NE(pid("web"), old_pid);
  EXPECT_EQ(pid("web (old)"), old_pid);
  EXPECT_NE(sys.output("web"), old_output);  // fresh handles for the new run
  EXPECT_TRUE(sys.signals().empty());
  const json status = ask(kPeek, {{"cmd", "status"}})["processes"];
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0]["name"], "web");
  EXPECT_EQ(status[0]["old"], false);
  EXPECT_EQ(status[1]["name"], "web");
  EXPECT_EQ(status[1]["old"], true);
  EXPECT_EQ(status[1]["pid"], old_pid);

  timers.advance(1s);  // the new one is RUNNING: the old one gets SIGTERM
  EXPECT_EQ(state("web (old)"), ProcessState::Stopping);
  EXPECT_TRUE(clients.take(1).empty());  // not answered before it has exited
  exit_child(old_pid, 0);                // reported for "web (old)"
  EXPECT_EQ(runtime->supervisor().find("web (old)"), nullptr);
  EXPECT_EQ(reply(1), json::parse(R"({"id": 1, "ok": true,
      "results": [{"name": "web", "result": "started", "message": "", "needed_sigkill": false}]})"));
  EXPECT_EQ(ask(kPeek, {{"cmd", "status"}})["processes"].size(), 1u);
}

TEST_F(RollingRuntime, AReloadWhoseSocketsCannotBeBoundIsRefused) {
  TempDir dir;
  const auto file = dir.write("minisup.toml", "[program.a]\ncommand = \"/bin/a\"\n");
  config::Config config = config_of({program("a")});
  config.file = file;
  make_started(config);
  sys.fail_next_hold("socket \"http\" (tcp://0.0.0.0:1): bind: Permission denied");
  request(1, {{"cmd", "update"}, {"id", 1}});
  const json r = reply(1);
  EXPECT_EQ(r["error"]["code"], "invalid_config");
  EXPECT_EQ(r["errors"],
            json::array({"socket \"http\" (tcp://0.0.0.0:1): bind: Permission denied"}));
  // Held sockets were asked for at the reload (the fake records each call).
  EXPECT_EQ(sys.held_socket_calls().size(), 1u);
}

}  // namespace
}  // namespace minisup::daemon::testing
