// The runtime answering `status` with `tree` through the fake System:
// System::tree_usage is asked only when the request wants the tree (and
// its members are sent), only for processes with a child (pid), with the
// process's name and process group; its answer fills tree_processes,
// tree_rss_bytes and tree_cpu_seconds, which are null everywhere else.
#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using TreeCall = FakeSystem::TreeCall;
using ::testing::ElementsAre;

const std::vector<std::string> kTreeKeys = {"tree_processes", "tree_rss_bytes", "tree_cpu_seconds"};

class StatusTree : public RuntimeTest {
 protected:
  /// `run` RUNNING, `idle` STOPPED (no autostart), `crashed` EXITED (its
  /// child exited), `slow` STARTING, `pool:0` and `pool:1` RUNNING.
  void make_mixed() {
    config::ProgramConfig crashed = program("crashed", 2);
    crashed.autorestart = config::AutoRestart::Never;
    config::ProgramConfig slow = program("slow", 3);
    slow.startsecs = 60s;
    make_started(config_of(
        {program("run", 1), crashed, slow, program("pool", 4, 2), program("idle", 5, 1, false)}));
    timers.advance(2s);
    exit_child(sys.pid_of("crashed"), 1);
    sys.clear_calls();
  }

  /// The process objects of a status `request`, by name.
  std::map<std::string, json> status(json request) {
    request["cmd"] = "status";
    const json r = ask(1, request);
    EXPECT_EQ(r["ok"], true) << r.dump();
    std::map<std::string, json> by_name;
    for (const json& p : r["processes"]) by_name[p["name"].get<std::string>()] = p;
    return by_name;
  }

  /// The call tree_usage() gets for `name`: its process group is its pid.
  TreeCall call(const std::string& name) const {
    EXPECT_GT(pid(name), 0) << name;
    EXPECT_EQ(machine(name).process_group(), pid(name)) << name;
    return TreeCall{name, pid(name)};
  }

  static void expect_null_tree(const json& p) {
    for (const auto& key : kTreeKeys) {
      ASSERT_TRUE(p.contains(key)) << key << " missing in " << p.dump();
      EXPECT_TRUE(p[key].is_null()) << key << " in " << p.dump();
    }
  }
};

TEST_F(StatusTree, AskedIsReadForEveryProcessWithAPidOnly) {
  make_mixed();
  ASSERT_EQ(state("run"), ProcessState::Running);
  ASSERT_EQ(state("crashed"), ProcessState::Exited);
  ASSERT_EQ(state("slow"), ProcessState::Starting);
  ASSERT_EQ(state("idle"), ProcessState::Stopped);
  sys.set_tree_usage(sys::TreeUsage{4, 12'345'678, 1.25});
  sys.set_tree_usage("pool:1", sys::TreeUsage{1, 4096, 0});

  auto processes = status({{"tree", true}});
  // Start order; each process once, with its process group (= its pid).
  EXPECT_THAT(sys.tree_calls(),
              ElementsAre(call("run"), call("slow"), call("pool:0"), call("pool:1")));
  const json& run = processes.at("run");
  EXPECT_EQ(run["tree_processes"], 4);
  EXPECT_EQ(run["tree_rss_bytes"], 12'345'678);
  EXPECT_EQ(run["tree_cpu_seconds"], 1.25);
  EXPECT_EQ(processes.at("slow")["tree_processes"], 4);  // STARTING has a child too
  EXPECT_EQ(processes.at("pool:1")["tree_processes"], 1);
  EXPECT_EQ(processes.at("pool:1")["tree_rss_bytes"], 4096);
  EXPECT_EQ(processes.at("pool:1")["tree_cpu_seconds"], 0.0);
  expect_null_tree(processes.at("crashed"));
  expect_null_tree(processes.at("idle"));
}

TEST_F(StatusTree, NotAskedIsNeverReadAndTheKeysAreNull) {
  make_mixed();
  sys.set_tree_usage(sys::TreeUsage{4, 4096, 1});
  for (const json& request :
       {json::object(), json{{"tree", false}}, json{{"tree", nullptr}}, json{{"names", {"run"}}}}) {
    auto processes = status(request);
    EXPECT_TRUE(sys.tree_calls().empty()) << request.dump();
    for (const auto& [name, p] : processes) expect_null_tree(p);
  }
}

TEST_F(StatusTree, NothingReadableLeavesTheKeysNull) {
  make_mixed();
  sys.set_tree_usage(std::nullopt);  // e.g. the group is gone, /proc unreadable
  auto processes = status({{"tree", true}, {"names", {"run"}}});
  EXPECT_THAT(sys.tree_calls(), ElementsAre(call("run")));
  expect_null_tree(processes.at("run"));
}

TEST_F(StatusTree, FollowsNamesAndFields) {
  make_mixed();
  sys.set_tree_usage(sys::TreeUsage{2, 8192, 0.5});
  // Only the named processes.
  status({{"tree", true}, {"names", {"pool"}}});
  EXPECT_THAT(sys.tree_calls(), ElementsAre(call("pool:0"), call("pool:1")));
  sys.clear_calls();

  // `fields` without a tree member: nothing would be sent, nothing is read
  // (minisupctl's table without --tree).
  auto processes =
      status({{"tree", true}, {"fields", {"name", "state", "description", "dropped_bytes"}}});
  EXPECT_TRUE(sys.tree_calls().empty());
  EXPECT_FALSE(processes.at("run").contains("tree_processes"));

  // With one: read, and only the members asked for are sent.
  processes = status({{"tree", true}, {"names", {"run"}}, {"fields", {"tree_rss_bytes"}}});
  EXPECT_THAT(sys.tree_calls(), ElementsAre(call("run")));
  EXPECT_EQ(processes.at("run"),
            json::parse(R"({"name":"run","state":"RUNNING","tree_rss_bytes":8192})"));
}

TEST_F(StatusTree, AStoppedProcessHasNoTreeAnyMore) {
  make_mixed();
  sys.set_tree_usage(sys::TreeUsage{1, 4096, 0});
  const int child = pid("run");
  request(2, {{"cmd", "stop"}, {"names", {"run"}}});
  exit_child(child, 0);
  ASSERT_EQ(state("run"), ProcessState::Stopped);
  sys.clear_calls();
  auto processes = status({{"tree", true}, {"names", {"run"}}});
  EXPECT_TRUE(sys.tree_calls().empty());
  expect_null_tree(processes.at("run"));
}

}  // namespace
}  // namespace minisup::daemon::testing
