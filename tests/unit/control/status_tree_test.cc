// control/protocol: the status request's `tree` and the tree_* members of
// a process object (tree_processes, tree_rss_bytes, tree_cpu_seconds):
// parsed, encoded (always present, null unless filled; subject to
// `fields`), and decoded back.
#include <gtest/gtest.h>

#include "supervisor/control/protocol.h"

namespace minisup::control {
namespace {

using nlohmann::json;

StatusCommand status_command(std::string_view line) {
  auto parsed = parse_request(line);
  if (auto* error = std::get_if<ProtocolError>(&parsed)) {
    ADD_FAILURE() << line << ": " << error->message;
    return {};
  }
  const Request& request = std::get<Request>(parsed);
  EXPECT_TRUE(std::holds_alternative<StatusCommand>(request.command)) << line;
  return std::get<StatusCommand>(request.command);
}

ProcessInfo running(const std::string& name) {
  ProcessInfo p;
  p.name = p.group = name;
  p.state = "RUNNING";
  p.pid = 4242;
  p.uptime = Seconds(3);
  return p;
}

ProcessInfo with_tree(ProcessInfo p) {
  p.tree_processes = 4;
  p.tree_rss_bytes = 12'900'000'000ull;  // beyond 32 bits
  p.tree_cpu_seconds = Seconds(1.25);
  return p;
}

json processes_of(const StatusReply& reply) {
  return json::parse(encode_reply(json(1), reply))["processes"];
}

TEST(StatusTree, RequestArgument) {
  EXPECT_FALSE(status_command(R"({"cmd":"status"})").tree);
  EXPECT_FALSE(status_command(R"({"cmd":"status","tree":null})").tree);
  EXPECT_FALSE(status_command(R"({"cmd":"status","tree":false})").tree);
  EXPECT_TRUE(status_command(R"({"cmd":"status","tree":true})").tree);
  for (const char* bad : {R"({"cmd":"status","tree":1})", R"({"cmd":"status","tree":"yes"})"}) {
    auto parsed = parse_request(bad);
    ASSERT_TRUE(std::holds_alternative<ProtocolError>(parsed)) << bad;
    EXPECT_EQ(std::get<ProtocolError>(parsed).code, ErrorCode::BadRequest);
    EXPECT_EQ(std::get<ProtocolError>(parsed).message, "status: tree: expected true or false");
  }
}

TEST(StatusTree, RequestRoundTrips) {
  for (const StatusCommand& command :
       {StatusCommand{{"web"}, {}, true}, StatusCommand{{}, {"name", "tree_rss_bytes"}, true},
        StatusCommand{{"a"}, {}, false}}) {
    const std::string line = encode_request(Request{json(7), command});
    EXPECT_EQ(status_command(line), command) << line;
    // Only a true `tree` is written: an older minisupd sees the same line.
    EXPECT_EQ(line.find("\"tree\":true") != std::string::npos, command.tree) << line;
    EXPECT_EQ(line.find("\"tree\":false"), std::string::npos) << line;
  }
}

TEST(StatusTree, KeysAreAlwaysPresentAndNullUnlessFilled) {
  const json processes = processes_of(StatusReply{{running("plain"), with_tree(running("tree"))}});
  ASSERT_EQ(processes.size(), 2u);
  for (const char* key : {"tree_processes", "tree_rss_bytes", "tree_cpu_seconds"}) {
    ASSERT_TRUE(processes[0].contains(key)) << key;
    EXPECT_TRUE(processes[0][key].is_null()) << key;
  }
  EXPECT_EQ(processes[1]["tree_processes"], 4);
  EXPECT_EQ(processes[1]["tree_rss_bytes"], 12'900'000'000ull);
  EXPECT_EQ(processes[1]["tree_cpu_seconds"], 1.25);
  // Written last, after the members that came before them.
  const std::string line = encode_reply(json(1), StatusReply{{with_tree(running("t"))}});
  EXPECT_NE(line.find(R"("exit_reason":null,"tree_processes":4,"tree_rss_bytes":12900000000,)"
                      R"("tree_cpu_seconds":1.25})"),
            std::string::npos)
      << line;
}

TEST(StatusTree, KeysFollowFields) {
  const ProcessInfo p = with_tree(running("web"));
  // Not asked for: left out (the table of a plain `minisupctl status`).
  StatusReply table{{p}, {"name", "state", "description", "dropped_bytes"}};
  json object = processes_of(table)[0];
  EXPECT_FALSE(object.contains("tree_processes"));
  EXPECT_FALSE(object.contains("tree_rss_bytes"));
  EXPECT_FALSE(object.contains("tree_cpu_seconds"));
  // Asked for: present, the others not.
  StatusReply some{{p}, {"tree_processes", "tree_cpu_seconds"}};
  object = processes_of(some)[0];
  EXPECT_EQ(object, json::parse(R"({"name":"web","state":"RUNNING","tree_processes":4,
                                    "tree_cpu_seconds":1.25})"));

  EXPECT_TRUE(status_sends_tree({}));
  EXPECT_TRUE(status_sends_tree({"name", "tree_rss_bytes"}));
  EXPECT_TRUE(status_sends_tree({"tree_processes"}));
  EXPECT_TRUE(status_sends_tree({"tree_cpu_seconds"}));
  EXPECT_FALSE(status_sends_tree({"name", "state", "description", "dropped_bytes"}));
  EXPECT_FALSE(status_sends_tree({"tree"}));
}

TEST(StatusTree, DecodedBack) {
  StatusReply reply{{running("plain"), with_tree(running("tree"))}};
  ProcessInfo stopped;
  stopped.name = stopped.group = "stopped";
  stopped.state = "STOPPED";
  reply.processes.push_back(stopped);
  const std::string line = encode_reply(json(1), reply);
  auto decoded = decode_status_line(line);
  ASSERT_TRUE(decoded);
  for (auto& p : reply.processes) p.description = describe(p);
  EXPECT_EQ(decoded->reply, reply);
  EXPECT_EQ(json::parse(decoded->processes_json), json::parse(line)["processes"]);

  // Numbers of every form, null, and values out of range.
  auto one = [](const std::string& members) {
    auto line = decode_status_line(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING",)" +
                                   members + "}]}");
    EXPECT_TRUE(line) << members;
    return line ? line->reply.processes.at(0) : ProcessInfo{};
  };
  ProcessInfo p = one(R"("tree_processes":0,"tree_rss_bytes":0,"tree_cpu_seconds":0)");
  EXPECT_EQ(p.tree_processes, 0);
  EXPECT_EQ(p.tree_rss_bytes, 0u);
  EXPECT_EQ(p.tree_cpu_seconds, Seconds(0));
  p = one(R"("tree_processes":null,"tree_rss_bytes":null,"tree_cpu_seconds":null)");
  EXPECT_FALSE(p.tree_processes);
  EXPECT_FALSE(p.tree_rss_bytes);
  EXPECT_FALSE(p.tree_cpu_seconds);
  p = one(R"("tree_processes":1.5,"tree_rss_bytes":-1,"tree_cpu_seconds":2)");
  EXPECT_FALSE(p.tree_processes);  // not an int: absent, as for every int member
  EXPECT_FALSE(p.tree_rss_bytes);
  EXPECT_EQ(p.tree_cpu_seconds, Seconds(2));
  p = one(R"("tree_rss_bytes":18446744073709551615,"tree_cpu_seconds":3,"tree_cpu_seconds":null)");
  EXPECT_EQ(p.tree_rss_bytes, 18446744073709551615ull);
  EXPECT_FALSE(p.tree_cpu_seconds);  // a repeated member: the last one counts
  // A string or a boolean where a number belongs fails the line.
  EXPECT_FALSE(decode_status_line(
      R"({"ok":true,"processes":[{"name":"a","state":"RUNNING","tree_processes":"4"}]})"));
  EXPECT_FALSE(decode_status_line(
      R"({"ok":true,"processes":[{"name":"a","state":"RUNNING","tree_rss_bytes":true}]})"));
  // Without the members (an older minisupd): absent.
  p = one(R"("pid":1)");
  EXPECT_FALSE(p.tree_processes);
  EXPECT_FALSE(p.tree_rss_bytes);
  EXPECT_FALSE(p.tree_cpu_seconds);
}

}  // namespace
}  // namespace minisup::control
