// control/protocol: request parsing and validation, reply encoding, and
// reading replies back. Plain strings in and out.
#include "supervisor/control/protocol.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <cmath>
#include <random>

#include "supervisor/config/signal_names.h"

namespace minisup::control {
namespace {

using nlohmann::json;

Request parse_ok(std::string_view line) {
  auto result = parse_request(line);
  if (auto* error = std::get_if<ProtocolError>(&result)) {
    ADD_FAILURE() << "rejected: " << line << ": " << error->message;
    return Request{};
  }
  return std::get<Request>(result);
}

ProtocolError parse_error(std::string_view line) {
  auto result = parse_request(line);
  if (std::holds_alternative<Request>(result)) {
    ADD_FAILURE() << "accepted: " << line;
    return ProtocolError{};
  }
  return std::get<ProtocolError>(result);
}

template <typename T>
T command_of(std::string_view line) {
  Request r = parse_ok(line);
  EXPECT_TRUE(std::holds_alternative<T>(r.command)) << line;
  if (!std::holds_alternative<T>(r.command)) return T{};
  return std::get<T>(r.command);
}

json parse_json(const std::string& line) {
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a reply is one line";
  return json::parse(line);
}

// ---- Requests: every command ----

TEST(ParseRequest, StatusWithoutNamesMeansAll) {
  EXPECT_EQ(command_of<StatusCommand>(R"({"cmd":"status"})").names, std::vector<std::string>{});
  EXPECT_EQ(command_of<StatusCommand>(R"({"cmd":"status","names":null})").names,
            std::vector<std::string>{});
  EXPECT_EQ(command_of<StatusCommand>(R"({"cmd":"status","names":["web","db:1"]})").names,
            (std::vector<std::string>{"web", "db:1"}));
}

TEST(ParseRequest, StatusRowsIsABooleanWrittenOnlyWhenTrue) {
  EXPECT_FALSE(command_of<StatusCommand>(R"({"cmd":"status"})").rows);
  EXPECT_TRUE(command_of<StatusCommand>(R"({"cmd":"status","rows":true})").rows);
  EXPECT_EQ(parse_error(R"({"cmd":"status","rows":1})").code, ErrorCode::BadRequest);
  for (const StatusCommand& command :
       {StatusCommand{{}, {"name", "state"}, false, true}, StatusCommand{{"web"}}}) {
    const std::string line = encode_request(Request{json(3), command});
    EXPECT_EQ(command_of<StatusCommand>(line), command) << line;
    // An older minisupd sees the line it always saw.
    EXPECT_EQ(line.find("\"rows\"") != std::string::npos, command.rows) << line;
  }
}

TEST(ParseRequest, StartStopRestartClearTakeNonEmptyNames) {
  EXPECT_EQ(command_of<StartCommand>(R"({"cmd":"start","names":["all"]})").names,
            std::vector<std::string>{"all"});
  EXPECT_EQ(command_of<StopCommand>(R"({"cmd":"stop","names":["web:*","db"]})").names,
            (std::vector<std::string>{"web:*", "db"}));
  EXPECT_EQ(command_of<RestartCommand>(R"({"cmd":"restart","names":["web:0"]})").names,
            std::vector<std::string>{"web:0"});
  EXPECT_EQ(command_of<ClearCommand>(R"({"cmd":"clear","names":["web"]})").names,
            std::vector<std::string>{"web"});
  for (const char* cmd : {"start", "stop", "restart", "clear", "signal", "wait"}) {
    std::string base = std::string(R"({"cmd":")") + cmd + R"(","signal":"TERM")";
    EXPECT_EQ(parse_error(base + "}").code, ErrorCode::BadRequest) << cmd;
    EXPECT_EQ(parse_error(base + R"(,"names":[]})").code, ErrorCode::BadRequest) << cmd;
    EXPECT_EQ(parse_error(base + R"(,"names":"web"})").code, ErrorCode::BadRequest) << cmd;
    EXPECT_EQ(parse_error(base + R"(,"names":[1]})").code, ErrorCode::BadRequest) << cmd;
    EXPECT_EQ(parse_error(base + R"(,"names":[""]})").code, ErrorCode::BadRequest) << cmd;
  }
}

TEST(ParseRequest, SignalByNameOrNumber) {
  EXPECT_EQ(command_of<SignalCommand>(R"({"cmd":"signal","signal":"HUP","names":["web"]})").signal,
            SIGHUP);
  EXPECT_EQ(
      command_of<SignalCommand>(R"({"cmd":"signal","signal":"SIGUSR1","names":["web"]})").signal,
      SIGUSR1);
  EXPECT_EQ(command_of<SignalCommand>(R"({"cmd":"signal","signal":"term","names":["web"]})").signal,
            SIGTERM);
  EXPECT_EQ(command_of<SignalCommand>(R"({"cmd":"signal","signal":9,"names":["web"]})").signal,
            SIGKILL);
  EXPECT_EQ(command_of<SignalCommand>(R"({"cmd":"signal","signal":"10","names":["web"]})").signal,
            10);
}

TEST(ParseRequest, SignalRejectsUnknownSignals) {
  EXPECT_EQ(parse_error(R"({"cmd":"signal","signal":"NOPE","names":["web"]})").code,
            ErrorCode::BadSignal);
  EXPECT_EQ(parse_error(R"({"cmd":"signal","signal":0,"names":["web"]})").code,
            ErrorCode::BadSignal);
  EXPECT_EQ(parse_error(R"({"cmd":"signal","signal":65,"names":["web"]})").code,
            ErrorCode::BadSignal);
  EXPECT_EQ(parse_error(R"({"cmd":"signal","signal":-9,"names":["web"]})").code,
            ErrorCode::BadSignal);
  EXPECT_EQ(parse_error(R"({"cmd":"signal","signal":1.5,"names":["web"]})").code,
            ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"signal","names":["web"]})").code, ErrorCode::BadRequest);
}

TEST(ParseRequest, PidWithAndWithoutName) {
  EXPECT_EQ(command_of<PidCommand>(R"({"cmd":"pid"})").name, std::nullopt);
  EXPECT_EQ(command_of<PidCommand>(R"({"cmd":"pid","name":null})").name, std::nullopt);
  EXPECT_EQ(command_of<PidCommand>(R"({"cmd":"pid","name":"web:1"})").name, "web:1");
  EXPECT_EQ(parse_error(R"({"cmd":"pid","name":3})").code, ErrorCode::BadRequest);
}

TEST(ParseRequest, TailDefaultsAndArguments) {
  TailCommand t = command_of<TailCommand>(R"({"cmd":"tail","name":"web"})");
  EXPECT_EQ(t.name, "web");
  EXPECT_EQ(t.stream, Stream::Stdout);
  EXPECT_EQ(t.lines, 10);
  EXPECT_FALSE(t.follow);
  t = command_of<TailCommand>(
      R"({"cmd":"tail","name":"web","stream":"stderr","lines":0,"follow":true})");
  EXPECT_EQ(t.stream, Stream::Stderr);
  EXPECT_EQ(t.lines, 0);
  EXPECT_TRUE(t.follow);
  EXPECT_EQ(parse_error(R"({"cmd":"tail"})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"tail","name":"web","stream":"stdin"})").code,
            ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"tail","name":"web","lines":-1})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"tail","name":"web","lines":2.5})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"tail","name":"web","lines":"10"})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"tail","name":"web","follow":1})").code, ErrorCode::BadRequest);
}

TEST(ParseRequest, CommandsWithoutArguments) {
  EXPECT_EQ(parse_ok(R"({"cmd":"reread"})").kind(), CommandKind::Reread);
  EXPECT_EQ(parse_ok(R"({"cmd":"update"})").kind(), CommandKind::Update);
  EXPECT_EQ(parse_ok(R"({"cmd":"shutdown"})").kind(), CommandKind::Shutdown);
  EXPECT_EQ(parse_ok(R"({"cmd":"version"})").kind(), CommandKind::Version);
}

TEST(ParseRequest, WaitDefaultsToRunningAndNoTimeout) {
  WaitCommand w = command_of<WaitCommand>(R"({"cmd":"wait","names":["web"]})");
  EXPECT_EQ(w.state, "RUNNING");
  EXPECT_EQ(w.timeout, std::nullopt);
  w = command_of<WaitCommand>(R"({"cmd":"wait","names":["web"],"state":"stopped","timeout":0.25})");
  EXPECT_EQ(w.state, "STOPPED");
  ASSERT_TRUE(w.timeout);
  EXPECT_DOUBLE_EQ(w.timeout->count(), 0.25);
  w = command_of<WaitCommand>(R"({"cmd":"wait","names":["web"],"timeout":3})");
  EXPECT_DOUBLE_EQ(w.timeout->count(), 3.0);
  EXPECT_EQ(command_of<WaitCommand>(R"({"cmd":"wait","names":["web"],"timeout":null})").timeout,
            std::nullopt);
  EXPECT_EQ(parse_error(R"({"cmd":"wait","names":["web"],"state":"SLEEPING"})").code,
            ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"wait","names":["web"],"timeout":-1})").code,
            ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"wait","names":["web"],"timeout":"1s"})").code,
            ErrorCode::BadRequest);
}

TEST(ParseRequest, EventsSince) {
  EXPECT_EQ(command_of<EventsCommand>(R"({"cmd":"events"})").since, std::nullopt);
  EXPECT_EQ(command_of<EventsCommand>(R"({"cmd":"events","since":0})").since, 0u);
  EXPECT_EQ(command_of<EventsCommand>(R"({"cmd":"events","since":18446744073709551615})").since,
            18446744073709551615ull);
  EXPECT_EQ(parse_error(R"({"cmd":"events","since":-1})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":"events","since":1.5})").code, ErrorCode::BadRequest);
}

// ---- Requests: envelope ----

TEST(ParseRequest, IdOfAnyTypeIsKept) {
  EXPECT_EQ(parse_ok(R"({"cmd":"version","id":7})").id, json(7));
  EXPECT_EQ(parse_ok(R"({"cmd":"version","id":"abc"})").id, json("abc"));
  EXPECT_EQ(parse_ok(R"({"id":{"a":[1,2]},"cmd":"version"})").id, json::parse(R"({"a":[1,2]})"));
  EXPECT_TRUE(parse_ok(R"({"cmd":"version"})").id.is_null());
}

TEST(ParseRequest, IdIsKeptInErrors) {
  EXPECT_EQ(parse_error(R"({"cmd":"nope","id":5})").id, json(5));
  EXPECT_EQ(parse_error(R"({"cmd":"start","id":"x"})").id, json("x"));
  EXPECT_EQ(parse_error(R"({"id":[1]})").id, json::parse("[1]"));
}

TEST(ParseRequest, UnknownFieldsAreIgnored) {
  Request r = parse_ok(R"({"cmd":"stop","names":["web"],"future":{"x":1},"verbose":true})");
  EXPECT_EQ(std::get<StopCommand>(r.command).names, std::vector<std::string>{"web"});
}

TEST(ParseRequest, UnknownCommand) {
  ProtocolError e = parse_error(R"({"cmd":"launch"})");
  EXPECT_EQ(e.code, ErrorCode::UnknownCommand);
  EXPECT_NE(e.message.find("launch"), std::string::npos);
}

TEST(ParseRequest, MissingOrMistypedCmd) {
  EXPECT_EQ(parse_error(R"({"names":["web"]})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":5})").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"({"cmd":null})").code, ErrorCode::BadRequest);
}

TEST(ParseRequest, NotAnObject) {
  EXPECT_EQ(parse_error(R"(["status"])").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error(R"("status")").code, ErrorCode::BadRequest);
  EXPECT_EQ(parse_error("42").code, ErrorCode::BadRequest);
}

TEST(ParseRequest, BadJson) {
  for (std::string_view line : {"", "{", "{\"cmd\":\"status\"", "status", "{\"cmd\":\"status\"}}",
                                "{'cmd':1}", "{\"cmd\":\"status\"} {}", "\xff\xfe"}) {
    ProtocolError e = parse_error(line);
    EXPECT_EQ(e.code, ErrorCode::BadJson) << line;
    EXPECT_TRUE(e.id.is_null());
    EXPECT_EQ(e.message.find("[json.exception"), std::string::npos) << e.message;
  }
}

TEST(ParseRequest, DeepNestingIsRejectedWithoutRecursion) {
  std::string deep =
      R"({"cmd":"status","id":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(parse_error(deep).code, ErrorCode::BadJson);
  // Brackets inside strings do not count.
  Request r = parse_ok(R"({"cmd":"status","id":")" + std::string(1000, '[') + "\"}");
  EXPECT_EQ(r.id.get<std::string>().size(), 1000u);
}

TEST(ParseRequest, GarbageNeverThrows) {
  std::mt19937 rng(12345);
  const std::string seed =
      R"({"cmd":"signal","signal":"TERM","names":["web:*"],"id":[1,{"a":null}],"timeout":1.5})";
  for (int i = 0; i < 3000; ++i) {
    std::string line = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = rng() % line.size();
      switch (rng() % 3) {
        case 0:
          line[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          line.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          line.insert(pos, 1, "{}[]\",:\\0"[rng() % 9]);
          break;
      }
      if (line.empty()) line = "{";
    }
    EXPECT_NO_THROW({
      auto result = parse_request(line);
      if (auto* e = std::get_if<ProtocolError>(&result)) (void)encode_error(*e);
    });
  }
}

TEST(EncodeRequest, RoundTripsEveryCommand) {
  std::vector<Request> requests = {
      {json(1), StatusCommand{{"web"}}},
      {json("a"), StartCommand{{"all"}}},
      {nullptr, StopCommand{{"web:*", "db"}}},
      {json(2), RestartCommand{{"web:0"}}},
      {json(3), SignalCommand{SIGUSR2, {"web"}}},
      {json(4), PidCommand{}},
      {json(5), PidCommand{"web"}},
      {json(6), TailCommand{"web", Stream::Stderr, 25, true}},
      {json(7), ClearCommand{{"web"}}},
      {json(8), RereadCommand{}},
      {json(9), UpdateCommand{}},
      {json(10), WaitCommand{{"web"}, "EXITED", Seconds(0.5)}},
      {json(11), WaitCommand{{"web"}, "RUNNING", std::nullopt}},
      {json(12), ShutdownCommand{}},
      {json(13), VersionCommand{}},
      {json(14), EventsCommand{42}},
      {json(15), EventsCommand{}},
  };
  for (const Request& request : requests) {
    const std::string line = encode_request(request);
    Request back = parse_ok(line);
    EXPECT_EQ(back.id, request.id) << line;
    EXPECT_EQ(back.command, request.command) << line;
  }
}

// ---- Names ----

TEST(Names, ErrorCodesAreStable) {
  const std::vector<std::pair<ErrorCode, std::string_view>> expected = {
      {ErrorCode::BadJson, "bad_json"},
      {ErrorCode::BadRequest, "bad_request"},
      {ErrorCode::UnknownCommand, "unknown_command"},
      {ErrorCode::TooLarge, "too_large"},
      {ErrorCode::TooManyClients, "too_many_clients"},
      {ErrorCode::NoSuchProgram, "no_such_program"},
      {ErrorCode::BadSignal, "bad_signal"},
      {ErrorCode::Timeout, "timeout"},
      {ErrorCode::UnexpectedState, "unexpected_state"},
      {ErrorCode::ShuttingDown, "shutting_down"},
      {ErrorCode::InvalidConfig, "invalid_config"},
      {ErrorCode::Internal, "internal"},
      {ErrorCode::NoLogFile, "no_log_file"},
  };
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(to_string(code), name);
    EXPECT_EQ(parse_error_code(name), code);
  }
  EXPECT_EQ(parse_error_code("not_a_code"), std::nullopt);
}

TEST(Names, CommandKindsMatchVariantOrder) {
  for (std::string_view name :
       {"status", "start", "stop", "restart", "signal", "pid", "tail", "clear", "reread", "update",
        "wait", "shutdown", "version", "events"}) {
    auto kind = parse_command_kind(name);
    ASSERT_TRUE(kind) << name;
    EXPECT_EQ(to_string(*kind), name);
  }
  EXPECT_EQ(parse_ok(R"({"cmd":"tail","name":"x"})").kind(), CommandKind::Tail);
  EXPECT_EQ(parse_ok(R"({"cmd":"events"})").kind(), CommandKind::Events);
}

TEST(Names, Signals) {
  using config::parse_signal;
  using config::signal_name;
  EXPECT_EQ(parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(parse_signal("sigint"), SIGINT);
  EXPECT_EQ(parse_signal("15"), SIGTERM);
  EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("RTMIN+99"), std::nullopt);
  EXPECT_EQ(parse_signal(""), std::nullopt);
  EXPECT_EQ(parse_signal("SIG"), std::nullopt);
  EXPECT_EQ(parse_signal("0"), std::nullopt);
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
  EXPECT_EQ(signal_name(200), "SIG200");
}

TEST(Names, RealTimeSignalsAreNamedByTheSharedTable) {
  ProcessInfo p;
  p.name = p.group = "rt";
  p.state = "EXITED";
  p.exit_signal = SIGRTMIN + 3;
  const json j = json::parse(encode_reply(nullptr, StatusReply{{p}}))["processes"][0];
  EXPECT_EQ(j["exit_signal_name"], "SIGRTMIN+3");
  EXPECT_EQ(j["exit_signal_name"], config::signal_name(SIGRTMIN + 3));
  EXPECT_EQ(describe(p).rfind("killed by SIGRTMIN+3", 0), 0u) << describe(p);
  EXPECT_EQ(parse_ok(R"({"cmd":"signal","signal":"RTMAX-1","names":["a"]})").command,
            Command(SignalCommand{SIGRTMAX - 1, {"a"}}));
}

TEST(Names, States) {
  for (std::string_view state : config::kProcessStateNames) {
    EXPECT_EQ(normalize_state_name(state), std::string(state));
  }
  EXPECT_EQ(normalize_state_name("running"), "RUNNING");
  EXPECT_EQ(normalize_state_name("Fatal"), "FATAL");
  EXPECT_EQ(normalize_state_name("RUN"), std::nullopt);
}

// ---- Replies ----

class ReplyTest : public ::testing::Test {
 protected:
  // Dates in descriptions are local time: pin the zone.
  void SetUp() override {
    const char* tz = getenv("TZ");
    if (tz) saved_tz_ = tz;
    had_tz_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_tz_) {
      setenv("TZ", saved_tz_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::string saved_tz_;
  bool had_tz_ = false;
};

ProcessInfo running_process() {
  ProcessInfo p;
  p.name = "web:0";
  p.group = "web";
  p.state = "RUNNING";
  p.pid = 1234;
  p.uptime = Seconds(65.5);
  p.started_at = UnixTime(Seconds(1700560858.25));
  return p;
}

TEST_F(ReplyTest, StatusHasEveryKeyNullWhereNotApplicable) {
  const json reply = parse_json(encode_reply(json(3), StatusReply{{running_process()}}));
  EXPECT_EQ(reply["id"], 3);
  EXPECT_EQ(reply["ok"], true);
  ASSERT_EQ(reply["processes"].size(), 1u);
  const json& p = reply["processes"][0];
  for (const char* key : {"name",
                          "group",
                          "state",
                          "pid",
                          "uptime",
                          "started_at",
                          "exit_code",
                          "exit_signal",
                          "exit_signal_name",
                          "exited_at",
                          "needed_sigkill",
                          "stop_duration",
                          "description",
                          "spawn_error",
                          "retry",
                          "core_dumped",
                          "dropped_bytes",
                          "exit_reason",
                          "tree_processes",
                          "tree_rss_bytes",
                          "tree_cpu_seconds",
                          "old",
                          "restarts",
                          "ready"}) {
    EXPECT_TRUE(p.contains(key)) << key;
  }
  EXPECT_EQ(p["name"], "web:0");
  EXPECT_EQ(p["group"], "web");
  EXPECT_EQ(p["state"], "RUNNING");
  EXPECT_EQ(p["pid"], 1234);
  EXPECT_DOUBLE_EQ(p["uptime"].get<double>(), 65.5);
  EXPECT_DOUBLE_EQ(p["started_at"].get<double>(), 1700560858.25);
  EXPECT_TRUE(p["exit_code"].is_null());
  EXPECT_TRUE(p["exit_signal"].is_null());
  EXPECT_TRUE(p["exit_signal_name"].is_null());
  EXPECT_TRUE(p["exited_at"].is_null());
  EXPECT_TRUE(p["needed_sigkill"].is_null());
  EXPECT_TRUE(p["stop_duration"].is_null());
  EXPECT_TRUE(p["spawn_error"].is_null());
  EXPECT_TRUE(p["retry"].is_null());
  EXPECT_EQ(p["description"], "pid 1234, uptime 0:01:05");
  EXPECT_EQ(p["restarts"], 0);  // numbers and booleans, never null
  EXPECT_EQ(p["ready"], false);
}

TEST_F(ReplyTest, StatusOfAnEndedProcess) {
  ProcessInfo p;
  p.name = "db";
  p.group = "db";
  p.state = "STOPPED";
  p.exit_signal = SIGKILL;
  p.needed_sigkill = true;
  p.stop_duration = Seconds(10.002);
  p.exited_at = UnixTime(Seconds(1700560923));  // 2023-11-21 10:02:03 UTC
  const json j = parse_json(encode_reply(nullptr, StatusReply{{p}}))["processes"][0];
  EXPECT_EQ(j["exit_signal"], SIGKILL);
  EXPECT_EQ(j["exit_signal_name"], "SIGKILL");
  EXPECT_EQ(j["needed_sigkill"], true);
  EXPECT_DOUBLE_EQ(j["stop_duration"].get<double>(), 10.002);
  EXPECT_EQ(j["pid"], 0);
  EXPECT_TRUE(j["uptime"].is_null());
  EXPECT_EQ(j["description"], "needed SIGKILL after 10.0 s, Nov 21 10:02:03");
}

TEST_F(ReplyTest, ExplicitDescriptionIsKept) {
  ProcessInfo p = running_process();
  p.description = "custom";
  EXPECT_EQ(parse_json(encode_reply(nullptr, StatusReply{{p}}))["processes"][0]["description"],
            "custom");
}

TEST_F(ReplyTest, DescribeEveryState) {
  ProcessInfo p = running_process();
  EXPECT_EQ(describe(p), "pid 1234, uptime 0:01:05");
  p.uptime = Seconds(86400 + 2 * 3600 + 3 * 60 + 4.9);
  EXPECT_EQ(describe(p), "pid 1234, uptime 1 day, 2:03:04");

  p.state = "STARTING";
  EXPECT_EQ(describe(p), "pid 1234");

  ProcessInfo b;
  b.name = b.group = "w";
  b.state = "BACKOFF";
  b.retry = RetryInfo{2, 3, Seconds(2.0)};
  b.exit_code = 1;
  EXPECT_EQ(describe(b), "retry 2/3 in 2.0s (exited with status 1)");
  b.spawn_error = "exec /x: No such file or directory";
  EXPECT_EQ(describe(b), "retry 2/3 in 2.0s (exec /x: No such file or directory)");

  ProcessInfo f;
  f.name = f.group = "w";
  f.state = "FATAL";
  f.spawn_error = "exec /x: No such file or directory";
  EXPECT_EQ(describe(f), "exec /x: No such file or directory");
  f.spawn_error.reset();
  f.exit_code = 2;
  EXPECT_EQ(describe(f), "exited too quickly (exited with status 2)");

  ProcessInfo e;
  e.name = e.group = "w";
  e.state = "EXITED";
  e.exit_code = 3;
  e.exited_at = UnixTime(Seconds(1700560923));
  EXPECT_EQ(describe(e), "exited with status 3, Nov 21 10:02:03");
  e.exit_code.reset();
  e.exit_signal = SIGSEGV;
  EXPECT_EQ(describe(e), "killed by SIGSEGV, Nov 21 10:02:03");

  ProcessInfo s;
  s.name = s.group = "w";
  s.state = "STOPPED";
  EXPECT_EQ(describe(s), "Not started");
  s.exit_code = 0;
  s.needed_sigkill = false;
  s.stop_duration = Seconds(0.2);
  s.exited_at = UnixTime(Seconds(1700560923));
  EXPECT_EQ(describe(s), "exited with status 0 after 0.2 s, Nov 21 10:02:03");
}

TEST(FormatUptime, HoursDaysAndNegative) {
  EXPECT_EQ(format_uptime(Seconds(0)), "0:00:00");
  EXPECT_EQ(format_uptime(Seconds(59.99)), "0:00:59");
  EXPECT_EQ(format_uptime(Seconds(3600 * 25)), "1 day, 1:00:00");
  EXPECT_EQ(format_uptime(Seconds(86400 * 3 + 1)), "3 days, 0:00:01");
  EXPECT_EQ(format_uptime(Seconds(-5)), "0:00:00");
}

TEST(EncodeReply, IdIsEchoedVerbatimOrNull) {
  EXPECT_TRUE(parse_json(encode_reply(nullptr, PidReply{5}))["id"].is_null());
  EXPECT_TRUE(parse_json(encode_reply(nullptr, PidReply{5})).contains("id"));
  const json id = json::parse(R"({"k":["v",1.5,null]})");
  EXPECT_EQ(parse_json(encode_reply(id, PidReply{5}))["id"], id);
  EXPECT_EQ(parse_json(encode_error(id, ErrorCode::Internal, "x"))["id"], id);
  EXPECT_EQ(parse_json(encode_event(id, GapEvent{1, 2}))["id"], id);
}

TEST(EncodeReply, EveryReplyShape) {
  json j = parse_json(
      encode_reply(json(1), StartReply{{{"a", StartOutcome::Started, ""},
                                        {"b", StartOutcome::AlreadyStarted, ""},
                                        {"c", StartOutcome::Failed,
                                         "spawn error: exec /x: No such file or directory"}}}));
  EXPECT_EQ(j["results"][0], json::parse(R"({"name":"a","result":"started","message":""})"));
  EXPECT_EQ(j["results"][1]["result"], "already_started");
  EXPECT_EQ(j["results"][2]["result"], "failed");
  EXPECT_EQ(j["results"][2]["message"], "spawn error: exec /x: No such file or directory");

  j = parse_json(encode_reply(
      json(1),
      StopReply{{{"a", StopOutcome::Stopped, true, Seconds(10.0), std::nullopt, SIGKILL, false},
                 {"b", StopOutcome::NotRunning, false, std::nullopt, std::nullopt, std::nullopt,
                  std::nullopt}}}));
  EXPECT_EQ(
      j["results"][0],
      json::parse(
          R"({"name":"a","result":"stopped","needed_sigkill":true,"stop_duration":10.0,"exit_code":null,"exit_signal":9,"expected":false,"verdict":"killed"})"));
  EXPECT_EQ(
      j["results"][1],
      json::parse(
          R"({"name":"b","result":"not_running","needed_sigkill":false,"stop_duration":null,"exit_code":null,"exit_signal":null,"expected":null,"verdict":null})"));

  j = parse_json(
      encode_reply(json(1), RestartReply{{{"a", RestartOutcome::Started, "", true},
                                          {"b", RestartOutcome::Failed, "boom", false}}}));
  EXPECT_EQ(j["results"][0],
            json::parse(R"({"name":"a","result":"started","message":"","needed_sigkill":true})"));
  EXPECT_EQ(j["results"][1]["result"], "failed");

  j = parse_json(encode_reply(
      json(1), SignalReply{{{"a", SignalOutcome::Signalled}, {"b", SignalOutcome::NotRunning}}}));
  EXPECT_EQ(
      j["results"],
      json::parse(R"([{"name":"a","result":"signalled"},{"name":"b","result":"not_running"}])"));

  EXPECT_EQ(parse_json(encode_reply(json(1), PidReply{4321}))["pid"], 4321);
  EXPECT_EQ(parse_json(encode_reply(json(1), TailReply{"a\nb\n"}))["data"], "a\nb\n");
  EXPECT_EQ(parse_json(encode_reply(json(1), ClearReply{{"a"}}))["results"],
            json::parse(R"([{"name":"a","result":"cleared"}])"));

  j = parse_json(encode_reply(json(1), ConfigChanges{{"new"}, {"web"}, {}, {}}));
  EXPECT_EQ(j["added"], json::parse(R"(["new"])"));
  EXPECT_EQ(j["changed"], json::parse(R"(["web"])"));
  EXPECT_EQ(j["removed"], json::array());
  EXPECT_FALSE(j.contains("notes")) << "notes are written only when there are some";
  j = parse_json(encode_reply(json(1), ConfigChanges{{}, {}, {}, {"[http] changed"}}));
  EXPECT_EQ(j["notes"], json::parse(R"(["[http] changed"])"));
  EXPECT_EQ(decode_config_changes(j), (ConfigChanges{{}, {}, {}, {"[http] changed"}}));
  j.erase("notes");
  EXPECT_EQ(decode_config_changes(j), (ConfigChanges{{}, {}, {}, {}}))
      << "a reply without notes (an older minisupd) decodes";
  j["notes"] = 3;
  EXPECT_EQ(decode_config_changes(j), std::nullopt);

  EXPECT_EQ(parse_json(encode_event(json(1), ProcessesChangedEvent{}))["event"],
            "processes_changed");
  EXPECT_TRUE(std::holds_alternative<ProcessesChangedEvent>(
      *decode_event(parse_json(encode_event(json(1), ProcessesChangedEvent{})))));

  EXPECT_EQ(parse_json(encode_reply(json(1), WaitReply{{{"a", "RUNNING"}}}))["results"],
            json::parse(R"([{"name":"a","state":"RUNNING"}])"));

  j = parse_json(encode_reply(json(1), VersionReply{}));
  EXPECT_EQ(j["version"], "0.1.0");
  EXPECT_EQ(j["protocol"], kProtocolVersion);

  EXPECT_EQ(parse_json(encode_reply(json(1), ShutdownReply{})),
            json::parse(R"({"id":1,"ok":true})"));
  EXPECT_EQ(parse_json(encode_reply(json(1), SubscribedReply{17})),
            json::parse(R"({"id":1,"ok":true,"subscribed":true,"seq":17})"));
}

TEST(EncodeReply, Events) {
  StateEvent e;
  e.seq = 5;
  e.process = "web:0";
  e.group = "web";
  e.from = "RUNNING";
  e.to = "EXITED";
  e.pid = 77;
  e.exit_code = 3;
  e.reason = "exited with status 3 (not expected)";
  e.time = UnixTime(Seconds(1700000000.5));
  const json j = parse_json(encode_event(json("sub"), e));
  const json expected = json::parse(
      R"({"id":"sub","ok":true,"event":"state","seq":5,"process":"web:0","group":"web",)"
      R"("from":"RUNNING","to":"EXITED","pid":77,"exit_code":3,"exit_signal":null,)"
      R"j("reason":"exited with status 3 (not expected)","time":1700000000.5})j");
  EXPECT_EQ(j, expected);
  EXPECT_EQ(parse_json(encode_event(nullptr, GapEvent{3, 9})),
            json::parse(R"({"id":null,"ok":true,"event":"gap","first_missed":3,"last_missed":9})"));
  auto decoded = decode_event(j);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<StateEvent>(*decoded), e);
}

TEST(EncodeReply, Errors) {
  EXPECT_EQ(
      parse_json(encode_error(json(2), ErrorCode::ShuttingDown, "minisupd is shutting down")),
      json::parse(
          R"({"id":2,"ok":false,"error":{"code":"shutting_down","message":"minisupd is shutting down"}})"));
  json j =
      parse_json(encode_error(json(2), ErrorCode::InvalidConfig, "2 errors",
                              json{{"errors", {"a.toml:1:1: x", "a.toml:2:1: y"}}, {"ok", true}}));
  EXPECT_EQ(j["ok"], false) << "extra fields never override the envelope";
  EXPECT_EQ(j["errors"].size(), 2u);
  j = parse_json(encode_no_such_program(json(3), {"nope", "gone:*"}));
  EXPECT_EQ(j["error"]["code"], "no_such_program");
  EXPECT_EQ(j["error"]["message"], "no such process: nope, gone:*");
  EXPECT_EQ(j["names"], json::parse(R"(["nope","gone:*"])"));
  j = parse_json(
      encode_wait_error(json(4), ErrorCode::Timeout, "timed out", WaitReply{{{"a", "STARTING"}}}));
  EXPECT_EQ(j["error"]["code"], "timeout");
  EXPECT_EQ(j["results"], json::parse(R"([{"name":"a","state":"STARTING"}])"));
  j = parse_json(encode_error(ProtocolError{json(9), ErrorCode::BadRequest, "names: required"}));
  EXPECT_EQ(j["id"], 9);
  EXPECT_EQ(j["error"]["code"], "bad_request");
}

TEST(EncodeReply, StringsAreEscapedAndInvalidUtf8Replaced) {
  const std::string data =
      std::string("quote\" back\\ nl\n tab\t nul") + '\0' + "\x01 é €  \xff\xfe end \xe2\x82";
  const std::string line = encode_reply(nullptr, TailReply{data});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json j = json::parse(line);  // throws on invalid UTF-8
  EXPECT_EQ(j["data"], std::string("quote\" back\\ nl\n tab\t nul") + '\0' +
                           "\x01 é €  \xEF\xBF\xBD\xEF\xBF\xBD end \xEF\xBF\xBD\xEF\xBF\xBD");
  // Overlong encodings and surrogates are invalid too.
  EXPECT_EQ(json::parse(encode_reply(nullptr, TailReply{"\xc0\xaf\xed\xa0\x80"}))["data"],
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

// ---- Reading replies ----

TEST(ParseReply, Envelope) {
  auto ok = parse_reply(encode_reply(json(8), PidReply{12}));
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok);
  EXPECT_EQ(ok->id, 8);
  EXPECT_EQ(ok->body["pid"], 12);
  auto error = parse_reply(encode_error(json(8), ErrorCode::BadSignal, "unknown signal: X"));
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->ok);
  EXPECT_EQ(error->error_code, "bad_signal");
  EXPECT_EQ(error->error_message, "unknown signal: X");
  EXPECT_FALSE(parse_reply("not json"));
  EXPECT_FALSE(parse_reply(R"({"id":1})"));
  EXPECT_FALSE(parse_reply(R"({"ok":false})"));
  EXPECT_FALSE(parse_reply("[1]"));
}

TEST_F(ReplyTest, DecodersRoundTrip) {
  ProcessInfo full;
  full.name = "w:1";
  full.group = "w";
  full.state = "BACKOFF";
  full.exit_code = 1;
  full.exited_at = UnixTime(Seconds(1700000000.125));
  full.started_at = UnixTime(Seconds(1699999999.5));
  full.needed_sigkill = false;
  full.stop_duration = Seconds(0.5);
  full.spawn_error = "exec /x: Permission denied";
  full.exit_reason = "not_ready";
  full.retry = RetryInfo{1, 3, Seconds(0.75)};
  full.restarts = 7;
  full.description = describe(full);
  StatusReply status{{running_process(), full}};
  status.processes[0].ready = true;
  status.processes[0].description = describe(status.processes[0]);
  EXPECT_EQ(decode_status_line(encode_reply(nullptr, status))->reply, status);

  StartReply start{{{"a", StartOutcome::Failed, "m"}, {"b", StartOutcome::AlreadyStarted, ""}}};
  EXPECT_EQ(decode_start_reply(parse_reply(encode_reply(nullptr, start))->body), start);
  StopReply stop{{{"a", StopOutcome::Stopped, true, Seconds(1.5), 0, std::nullopt, true},
                  {"b", StopOutcome::NotRunning, false, std::nullopt, std::nullopt, std::nullopt,
                   std::nullopt}}};
  EXPECT_EQ(decode_stop_reply(parse_reply(encode_reply(nullptr, stop))->body), stop);
  RestartReply restart{{{"a", RestartOutcome::Failed, "m", true}}};
  EXPECT_EQ(decode_restart_reply(parse_reply(encode_reply(nullptr, restart))->body), restart);
  SignalReply signal{{{"a", SignalOutcome::NotRunning}}};
  EXPECT_EQ(decode_signal_reply(parse_reply(encode_reply(nullptr, signal))->body), signal);
  ClearReply clear{{"a", "b"}};
  EXPECT_EQ(decode_clear_reply(parse_reply(encode_reply(nullptr, clear))->body), clear);
  ConfigChanges changes{{"a"}, {"b", "c"}, {"d"}, {"[http] changed"}};
  EXPECT_EQ(decode_config_changes(parse_reply(encode_reply(nullptr, changes))->body), changes);
  WaitReply wait{{{"a", "FATAL"}}};
  EXPECT_EQ(decode_wait_reply(parse_reply(encode_reply(nullptr, wait))->body), wait);
  EXPECT_EQ(decode_wait_reply(
                parse_reply(encode_wait_error(nullptr, ErrorCode::Timeout, "t", wait))->body),
            wait);
  EXPECT_EQ(decode_version_reply(parse_reply(encode_reply(nullptr, VersionReply{}))->body),
            VersionReply{});
  auto gap = decode_event(parse_reply(encode_event(nullptr, GapEvent{4, 6}))->body);
  ASSERT_TRUE(gap);
  EXPECT_EQ(std::get<GapEvent>(*gap), (GapEvent{4, 6}));
}

TEST(Decoders, RejectWrongShapes) {
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":[{"name":"a"}]})"));
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":{}})"));
  EXPECT_FALSE(
      decode_start_reply(json::parse(R"({"results":[{"name":"a","result":"exploded"}]})")));
  EXPECT_FALSE(decode_stop_reply(json::parse(R"({})")));
  EXPECT_FALSE(decode_config_changes(json::parse(R"({"added":[],"changed":[]})")));
  EXPECT_FALSE(decode_event(json::parse(R"({"event":"other"})")));
  // Missing optional fields and unknown fields are fine.
  auto status =
      decode_status_line(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING","future":1}]})");
  ASSERT_TRUE(status);
  ASSERT_EQ(status->reply.processes.size(), 1u);
  EXPECT_EQ(status->reply.processes[0].group, "a");
  EXPECT_EQ(status->reply.processes[0].pid, 0);
}

}  // namespace
}  // namespace minisup::control

namespace minisup::control {
namespace {

TEST(DecodeStatusLine, RoundTripsWhatTheEncoderWrote) {
  StatusReply status;
  for (int i = 0; i < 50; ++i) {
    ProcessInfo p;
    p.name = "w:" + std::to_string(i);
    p.group = "w";
    p.state = i % 3 ? "RUNNING" : "BACKOFF";
    p.pid = i % 3 ? 100 + i : 0;
    if (i % 3) p.uptime = Seconds(i * 1.5);
    p.started_at = UnixTime(Seconds(1700000000.25 + i));
    if (i % 3 == 0) {
      p.exit_code = i;
      p.exited_at = UnixTime(Seconds(1700000001.5));
      p.retry = RetryInfo{1 + i % 3, 3, Seconds(0.5 * i)};
      p.spawn_error = "exec /\"odd\\path\"/é\t: No such file or directory";
      p.needed_sigkill = i % 2 == 0;
      p.stop_duration = Seconds(0.125);
      p.exit_signal = SIGTERM;
    }
    status.processes.push_back(p);
  }
  const std::string line = encode_reply(json::parse(R"({"nested":[1,{"x":"y"}]})"), status);
  auto fast = decode_status_line(line);
  ASSERT_TRUE(fast);
  StatusReply expected = status;  // the encoder fills in every description
  for (auto& p : expected.processes) p.description = describe(p);
  EXPECT_EQ(fast->reply, expected);
  EXPECT_EQ(json::parse(fast->processes_json), json::parse(line)["processes"]);
  EXPECT_EQ(fast->processes_json.front(), '[');
  EXPECT_EQ(fast->processes_json.back(), ']');
}

TEST(DecodeStatusLine, RowsCarryTheSameProcessesAsObjects) {
  StatusReply status;
  for (int i = 0; i < 20; ++i) {
    ProcessInfo p;
    p.name = "w:" + std::to_string(i);
    p.group = "w";
    p.state = i % 2 ? "RUNNING" : "BACKOFF";
    p.pid = i % 2 ? 100 + i : 0;
    if (i % 2) p.uptime = Seconds(i * 1.5);
    if (i % 2 == 0) {
      p.exit_code = i;
      p.retry = RetryInfo{1, 3, Seconds(0.5 * i)};  // an object inside a row
      p.spawn_error = "exec \"x\": No such file";
      p.tree_rss_bytes = 4096;
    }
    p.old = i == 3;
    p.description = describe(p);
    status.processes.push_back(p);
  }
  // Every member, then a table's few: the rows decode as the objects do.
  for (const std::vector<std::string>& fields :
       {std::vector<std::string>{},
        std::vector<std::string>{"name", "state", "description", "dropped_bytes", "old"}}) {
    StatusReply objects = status, rows = status;
    objects.fields = rows.fields = fields;
    rows.rows = true;
    const std::string object_line = encode_reply(1, objects);
    const std::string row_line = encode_reply(1, rows);
    const json sent = json::parse(row_line);
    EXPECT_FALSE(sent.contains("processes"));
    ASSERT_TRUE(sent["columns"].is_array());
    EXPECT_EQ(sent["columns"][0], "name");
    EXPECT_EQ(sent["rows"].size(), 20u);
    EXPECT_EQ(sent["rows"][0].size(), sent["columns"].size());
    EXPECT_LT(row_line.size(), object_line.size() * 3 / 4) << "rows should save the keys";
    auto from_objects = decode_status_line(object_line);
    auto from_rows = decode_status_line(row_line);
    ASSERT_TRUE(from_objects && from_rows);
    EXPECT_EQ(from_rows->reply, from_objects->reply);
    EXPECT_EQ(json::parse(from_rows->processes_json), sent["rows"]);
  }
}

TEST(DecodeStatusLine, RowsFollowTheirColumnsWhateverTheyAre) {
  // Columns in another order, one this client does not know (its values,
  // scalar or nested, are skipped), and rows longer or shorter than them.
  auto decoded =
      decode_status_line(R"({"ok":true,"columns":["state","future","name","pid"],"rows":[)"
                         R"(["RUNNING",{"a":[1]},"web",42],["STOPPED",[1,[2]],"db"],)"
                         R"(["FATAL",null,"x",0,"extra",{"more":1}]]})");
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->reply.processes.size(), 3u);
  EXPECT_EQ(decoded->reply.processes[0].name, "web");
  EXPECT_EQ(decoded->reply.processes[0].group, "web");
  EXPECT_EQ(decoded->reply.processes[0].state, "RUNNING");
  EXPECT_EQ(decoded->reply.processes[0].pid, 42);
  EXPECT_EQ(decoded->reply.processes[1].name, "db");
  EXPECT_EQ(decoded->reply.processes[1].pid, 0);
  EXPECT_EQ(decoded->reply.processes[2].state, "FATAL");
  // What a rows reply must hold.
  for (const char* bad : {
           R"({"ok":true,"rows":[["a","RUNNING"]],"columns":["name","state"]})",  // rows first
           R"({"ok":true,"columns":["name","state"],"rows":[{"name":"a","state":"RUNNING"}]})",
           R"({"ok":true,"columns":["name","state"],"rows":[["a"]]})",    // no state
           R"({"ok":true,"columns":["name","state"],"rows":[["a",7]]})",  // state not a string
           R"({"ok":true,"columns":["name",1],"rows":[]})",               // a column not a string
           R"({"ok":true,"columns":["name","state"],"rows":[["a","RUNNING"]})",  // unclosed
           R"({"ok":true,"columns":["name","pid"],"rows":[["a",[1]]]})",         // pid not a number
       }) {
    EXPECT_FALSE(decode_status_line(bad)) << bad;
  }
  EXPECT_EQ(decode_status_line(R"({"ok":true,"columns":[],"rows":[]})")->reply.processes.size(),
            0u);
}

TEST(DecodeStatusLine, HandlesEscapesAndUnknownFields) {
  const std::string line =
      R"({"future":{"a":[true,false,null,-1.5e3,"\u00e9"]},"ok":true,"id":null,"processes":[)"
      R"({"name":"a\u00e9\ud83d\ude00\n","state":"FATAL","group":"g","new_key":[[]],"pid":null,)"
      R"("spawn_error":"x\/y","retry":null}]})";
  auto fast = decode_status_line(line);
  ASSERT_TRUE(fast);
  ASSERT_EQ(fast->reply.processes.size(), 1u);
  EXPECT_EQ(fast->reply.processes[0].name, "a\xC3\xA9\xF0\x9F\x98\x80\n");
  EXPECT_EQ(fast->reply.processes[0].spawn_error, "x/y");
  EXPECT_EQ(fast->reply.processes[0].pid, 0);
  EXPECT_EQ(decode_status_line(R"({"ok":true,"processes":[]})")->reply.processes.size(), 0u);
}

TEST(DecodeStatusLine, EachProcessStartsFromDefaultsThoughTheDecoderReusesOne) {
  // The second process has none of the first one's optional members: none
  // may carry over from the object the decoder reuses.
  const std::string line =
      R"({"ok":true,"processes":[{"name":"a","group":"g","state":"BACKOFF","pid":7,"uptime":2,)"
      R"("exit_code":1,"exit_signal":9,"core_dumped":true,"needed_sigkill":true,"old":true,)"
      R"("spawn_error":"exec x","exit_reason":"exited","dropped_bytes":5,"restarts":3,"ready":true,)"
      R"("retry":{"attempt":2,"of":3,"in_seconds":1.5},"description":"d"},)"
      R"({"name":"b","state":"STOPPED"}]})";
  auto decoded = decode_status_line(line);
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->reply.processes.size(), 2u);
  EXPECT_EQ(decoded->reply.processes[0].retry->attempt, 2);
  EXPECT_EQ(decoded->reply.processes[0].spawn_error, "exec x");
  ProcessInfo b;
  b.name = "b";
  b.group = "b";
  b.state = "STOPPED";
  EXPECT_EQ(decoded->reply.processes[1], b);
}

TEST(DecodeStatusLine, HandsEachProcessToASinkAndARepeatedArrayStartsOver) {
  struct Names final : StatusSink {
    std::vector<std::string> names;
    int restarts = 0;
    void restart() override {
      ++restarts;
      names.clear();
    }
    void add(const ProcessInfo& p) override { names.push_back(p.name + "=" + p.state); }
  } sink;
  const std::string line =
      R"({"ok":true,"processes":[{"name":"old","state":"RUNNING"}],"id":1,)"
      R"("processes":[{"name":"a","state":"RUNNING"},{"name":"b","state":"FATAL"}]})";
  auto processes_json = decode_status_line(line, sink);
  ASSERT_TRUE(processes_json);
  EXPECT_EQ(sink.restarts, 2);
  EXPECT_EQ(sink.names, (std::vector<std::string>{"a=RUNNING", "b=FATAL"}));
  EXPECT_EQ(*processes_json, R"([{"name":"a","state":"RUNNING"},{"name":"b","state":"FATAL"}])");
  // A line that is not a whole status reply: nullopt, whatever the sink got.
  EXPECT_FALSE(
      decode_status_line(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING"}])", sink));
}

TEST(DecodeStatusLine, ReadsNumbersOfEveryFormAsTheGeneralParserDoes) {
  for (const std::string text :
       {"0", "-0", "7", "-12", "1.5", "0.125", "-2.5e-3", "1E2", "9007199254740993",
        "9223372036854775807", "123456789012345678901234567890", "1.7976931348623157e308"}) {
    const std::string line = R"({"ok":true,"processes":[{"name":"a","group":"a","state":"RUNNING",)"
                             R"("pid":1,"uptime":)" +
                             text + "}]}";
    auto fast = decode_status_line(line);
    ASSERT_TRUE(fast) << text;
    ASSERT_TRUE(fast->reply.processes.at(0).uptime) << text;
    const double got = fast->reply.processes[0].uptime->count();
    const double want = json::parse(text).get<double>();
    EXPECT_EQ(got, want) << text;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << text;
  }
  // Beyond double's range: refused, never infinity.
  EXPECT_FALSE(decode_status_line(
      R"({"ok":true,"processes":[{"name":"a","group":"a","state":"RUNNING","uptime":1e400}]})"));
}

TEST(DecodeStatusLine, RejectsWhatIsNotAStatusReply) {
  EXPECT_FALSE(decode_status_line(encode_error(nullptr, ErrorCode::NoSuchProgram, "x")));
  EXPECT_FALSE(decode_status_line(encode_reply(nullptr, PidReply{1})));
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":[{"name":"a"}]})"));
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":[]} x)"));
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":[)"));
  EXPECT_FALSE(decode_status_line(R"({"ok":true,"processes":[{"name":"a\ud800","state":"X"}]})"));
  EXPECT_FALSE(decode_status_line(""));
  const std::string deep = R"({"ok":true,"x":)" + std::string(100000, '[') + "], \"processes\":[]}";
  EXPECT_FALSE(decode_status_line(deep));
}

/// A line that arrives `piece` bytes at a time (the last piece may be
/// shorter), as from a socket; `then` follows it (the next line's start).
class TricklingLine final : public LineSource {
 public:
  TricklingLine(std::string line, std::size_t piece) : all_(std::move(line)), piece_(piece) {}
  std::string_view received() const override { return std::string_view(all_).substr(0, given_); }
  bool receive() override {
    ++receives_;
    if (given_ == all_.size()) return false;
    given_ = std::min(all_.size(), given_ + piece_);
    return true;
  }
  std::size_t given() const { return given_; }
  int receives() const { return receives_; }

 private:
  std::string all_;
  std::size_t piece_;
  std::size_t given_ = 0;
  int receives_ = 0;
};

/// Records how much of the line had arrived when each process was handed on.
class ArrivalSink final : public StatusSink {
 public:
  explicit ArrivalSink(const TricklingLine& source) : source_(source) {}
  void restart() override { names.clear(); }
  void add(const ProcessInfo& p) override {
    names.push_back(p.name);
    arrived_at.push_back(source_.given());
  }
  std::vector<std::string> names;
  std::vector<std::size_t> arrived_at;

 private:
  const TricklingLine& source_;
};

TEST(DecodeStatusLine, ALineIsDecodedAsItArrives) {
  StatusReply status;
  status.fields = {"name", "state", "description", "dropped_bytes", "old"};
  status.rows = true;
  for (int i = 0; i < 300; ++i) {
    ProcessInfo p;
    p.name = p.group = "p" + std::to_string(i);
    p.state = "RUNNING";
    p.description = "pid " + std::to_string(1000 + i) + ", uptime 0:00:01";
    status.processes.push_back(p);
  }
  const std::string line = encode_reply(5, status);
  const std::string next = R"({"id":6,"ok":true})";
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, line.size() + 50}) {
    TricklingLine source(line + "\n" + next, piece);
    ArrivalSink sink(source);
    const std::optional<ByteRange> range = decode_status_line(source, sink);
    ASSERT_TRUE(range) << piece;
    ASSERT_EQ(sink.names.size(), 300u);
    EXPECT_EQ(sink.names[299], "p299");
    EXPECT_EQ(line.substr(range->begin, range->end - range->begin),
              json::parse(line)["rows"].dump());
    // Each process is handed on before the rest of the line has arrived,
    // and nothing is waited for past the line's '\n'.
    if (piece < line.size()) {
      EXPECT_LT(sink.arrived_at[0], line.size() / 2) << piece;
    }
    EXPECT_LE(source.given(), line.size() + 1 + piece) << piece;
    EXPECT_LE(source.receives(), static_cast<int>((line.size() + 1) / piece + 2)) << piece;
  }
}

TEST(DecodeStatusLine, AnArrivingLineThatIsNotAStatusIsLeftToTheCaller) {
  const std::string error = encode_error(3, ErrorCode::NoSuchProgram, "no such process: x");
  for (const std::string& line :
       {error, std::string(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING"})")}) {
    TricklingLine source(line + "\n", 5);
    ArrivalSink sink(source);
    EXPECT_FALSE(decode_status_line(source, sink)) << line;
  }
  // The connection ends in the middle of the line.
  const std::string cut = R"({"ok":true,"processes":[{"name":"a","state":"RUNNING"},{"na)";
  TricklingLine source(cut, 3);
  ArrivalSink sink(source);
  EXPECT_FALSE(decode_status_line(source, sink));
  EXPECT_EQ(sink.names, std::vector<std::string>{"a"});
  EXPECT_EQ(source.given(), cut.size());
}

TEST(DecodeStatusLine, WhatTheSourceThrowsGoesThrough) {
  class Failing final : public LineSource {
   public:
    std::string_view received() const override { return R"({"ok":true,"proc)"; }
    bool receive() override {
      if (called_++) throw std::runtime_error("read from minisupd: broken");
      return true;
    }

   private:
    int called_ = 0;
  };
  class Dropping final : public StatusSink {
    void restart() override {}
    void add(const ProcessInfo&) override {}
  };
  Failing source;
  Dropping sink;
  EXPECT_THROW(decode_status_line(source, sink), std::runtime_error);
}

TEST(DecodeStatusLine, AWholeLineEndsAtItsEnd) {
  // A whole line holds no '\n': text after one is not read as the line's.
  EXPECT_FALSE(decode_status_line("{\"ok\":true,\"processes\":[]}\n{\"x\":1}"));
  EXPECT_TRUE(decode_status_line(R"({"ok":true,"processes":[]})"));
}

TEST(DecodeStatusLine, GarbageNeverCrashes) {
  StatusReply status;
  ProcessInfo p;
  p.name = p.group = "w";
  p.state = "BACKOFF";
  p.retry = RetryInfo{1, 3, Seconds(1)};
  p.spawn_error = "boom \"quoted\"";
  status.processes = {p, p};
  const std::string seed = encode_reply(json(1), status);
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    std::string line = seed;
    for (int k = 0; k < 3; ++k) {
      const std::size_t pos = rng() % line.size();
      if (rng() % 2) {
        line[pos] = "{}[]\",:\\0 nu1e-"[rng() % 15];
      } else {
        line.erase(pos, 1 + rng() % 4);
      }
      if (line.empty()) line = "{";
    }
    auto fast = decode_status_line(line);
    if (fast) {
      // Whatever it accepts is a valid reply whose "processes" it read whole.
      auto reply = parse_reply(line);
      ASSERT_TRUE(reply) << line;
      ASSERT_TRUE(reply->body["processes"].is_array()) << line;
      EXPECT_EQ(fast->reply.processes.size(), reply->body["processes"].size()) << line;
      EXPECT_EQ(json::parse(fast->processes_json), reply->body["processes"]) << line;
    }
  }
}

TEST(RollingRestart, RequestArgumentAndStatusKeyRoundTrip) {
  const Request r = parse_ok(R"({"cmd":"restart","names":["web"],"rolling":true})");
  EXPECT_EQ(std::get<RestartCommand>(r.command), (RestartCommand{{"web"}, true}));
  EXPECT_EQ(parse_ok(encode_request(r)).command, r.command);
  // Absent: a plain restart, and encoded without the key.
  const Request plain = parse_ok(R"({"cmd":"restart","names":["web"]})");
  EXPECT_FALSE(std::get<RestartCommand>(plain.command).rolling);
  EXPECT_EQ(encode_request(plain).find("rolling"), std::string::npos);
  EXPECT_EQ(parse_error(R"({"cmd":"restart","names":["web"],"rolling":1})").message,
            "restart: rolling: expected true or false");

  ProcessInfo old;
  old.name = "web:0";
  old.group = "web";
  old.state = "STOPPING";
  old.old = true;
  ProcessInfo fresh = old;
  fresh.state = "RUNNING";
  fresh.old = false;
  const StatusReply status{{fresh, old}};
  const std::string line = encode_reply(nullptr, status);
  const json parsed = json::parse(line);
  EXPECT_EQ(parsed["processes"][0]["old"], false);
  EXPECT_EQ(parsed["processes"][1]["old"], true);
  auto decoded = decode_status_line(line);
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->reply.processes.at(0).old);
  EXPECT_TRUE(decoded->reply.processes.at(1).old);
}

}  // namespace
}  // namespace minisup::control

namespace minisup::control {
namespace {

TEST(RestartsAndReady, EncodedAndDecodedForEveryProcess) {
  ProcessInfo web;
  web.name = "web:0";
  web.group = "web";
  web.state = "RUNNING";
  web.pid = 42;
  web.restarts = 12;
  web.ready = true;
  ProcessInfo db = web;
  db.name = db.group = "db";
  db.state = "BACKOFF";
  db.pid = 0;
  db.restarts = 0;
  db.ready = false;
  const std::string line = encode_reply(nullptr, StatusReply{{web, db}});
  const json parsed = json::parse(line);
  EXPECT_EQ(parsed["processes"][0]["restarts"], 12);
  EXPECT_EQ(parsed["processes"][0]["ready"], true);
  EXPECT_EQ(parsed["processes"][1]["restarts"], 0);
  EXPECT_EQ(parsed["processes"][1]["ready"], false);
  auto decoded = decode_status_line(line);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->reply.processes.at(0).restarts, 12);
  EXPECT_TRUE(decoded->reply.processes.at(0).ready);
  EXPECT_EQ(decoded->reply.processes.at(1).restarts, 0);
  EXPECT_FALSE(decoded->reply.processes.at(1).ready);

  // Subject to `fields` like every other member.
  const json some = json::parse(encode_reply(nullptr, StatusReply{{web}, {"restarts"}}));
  EXPECT_EQ(some["processes"][0],
            json::parse(R"({"name":"web:0","state":"RUNNING","restarts":12})"));

  // From an older minisupd (keys absent): 0 and false; mistyped: not a status.
  auto older = decode_status_line(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING"}]})");
  ASSERT_TRUE(older);
  EXPECT_EQ(older->reply.processes.at(0).restarts, 0);
  EXPECT_FALSE(older->reply.processes.at(0).ready);
  EXPECT_FALSE(
      decode_status_line(R"({"ok":true,"processes":[{"name":"a","state":"RUNNING","ready":1}]})"));
  EXPECT_FALSE(decode_status_line(
      R"({"ok":true,"processes":[{"name":"a","state":"RUNNING","restarts":true}]})"));
}

}  // namespace
}  // namespace minisup::control
