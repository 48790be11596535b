// The HTTP listener (DESIGN.md, "HTTP: dashboard, JSON API, metrics") with
// the real minisupd: status codes and JSON bodies, changes through the same
// dispatcher as the control socket, SSE order and resume, a followed log,
// credentials (token, Basic, the session cookie), read-only refusals,
// foreign Origin and Host refusals, size caps, and a client that never
// reads while others are served.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/held_sockets_util.h"
#include "tests/integration/http_client.h"

namespace minisup::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";

/// A minisupd with `web` (RUNNING, stops at once), `ticker` (a line every
/// 0.1 s) and an [http] table from `http_lines`.
struct HttpDaemon {
  Daemon d;
  HttpEndpoint endpoint;

  explicit HttpDaemon(const std::string& http_lines, bool with_port = true) {
    endpoint.port = free_port();
    write_file(d.dir() / "token", std::string("  ") + std::string(kToken) + "\n");
    std::string config = "[http]\n";
    if (with_port) config += fmt::format("listen = \"127.0.0.1:{}\"\n", endpoint.port);
    config += http_lines + "\n";
    config += sleeper("web", "", 2);
    config += "[program.ticker]\nstartsecs = 0\n" +
              sh_cmd("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done");
    d.write_config(config);
    d.start();
    EXPECT_TRUE(d.wait_state("web", "RUNNING"));
    EXPECT_TRUE(d.wait_state("ticker", "RUNNING"));
  }
  HttpResponse get(const std::string& target, const std::vector<std::string>& headers = {}) {
    return http(endpoint, "GET", target, headers);
  }
  HttpResponse post(const std::string& target, const std::vector<std::string>& headers = {},
                    const std::string& body = "") {
    return http(endpoint, "POST", target, headers, body);
  }
  /// Sends GET /api/v1/events on `c` and reads the response head.
  HttpResponse open_events(HttpConnection& c, const std::vector<std::string>& headers) {
    HttpResponse head;
    EXPECT_TRUE(c.send_all(http_request_text(endpoint, "GET", "/api/v1/events", headers, "")));
    EXPECT_TRUE(c.read_head(head, 10s));
    return head;
  }
};

std::string bearer() { return "Authorization: Bearer " + std::string(kToken); }

json body_json(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

TEST(Http, ReadOnlyWithoutCredentialsServesStatusAndRefusesChanges) {
  HttpDaemon h("");
  EXPECT_THAT(h.d.log(), HasSubstr("(no credentials: read-only)"));
  HttpResponse health = h.get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  HttpResponse all = h.get("/api/v1/programs");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_THAT(all.header("content-type"), HasSubstr("application/json"));
  json programs = body_json(all);
  ASSERT_TRUE(programs.is_array()) << all.body;
  ASSERT_EQ(programs.size(), 2u);
  // The same objects as `minisupctl status --json`.
  json cli = h.d.status_json();
  for (std::size_t i = 0; i < programs.size(); ++i) {
    EXPECT_EQ(programs[i]["name"], cli[i]["name"]);
    EXPECT_EQ(programs[i]["pid"], cli[i]["pid"]);
    EXPECT_EQ(programs[i]["state"], "RUNNING");
    EXPECT_EQ(programs[i].size(), cli[i].size()) << programs[i].dump() << " vs " << cli[i].dump();
  }
  HttpResponse one = h.get("/api/v1/programs/web");
  ASSERT_EQ(one.status, 200);
  ASSERT_EQ(body_json(one).size(), 1u);
  EXPECT_EQ(body_json(one)[0]["name"], "web");

  HttpResponse info = h.get("/api/v1/info");
  EXPECT_EQ(body_json(info)["auth"], "none");
  EXPECT_EQ(body_json(info)["can_control"], false);

  HttpResponse stop = h.post("/api/v1/programs/web/stop");
  EXPECT_EQ(stop.status, 403);
  EXPECT_EQ(body_json(stop)["error"], "read_only");
  EXPECT_EQ(h.post("/api/v1/update").status, 403);
  EXPECT_EQ(h.d.state("web"), "RUNNING");

  EXPECT_EQ(h.get("/api/v1/programs/nope").status, 404);
  EXPECT_EQ(body_json(h.get("/api/v1/programs/nope"))["error"], "no_such_program");
  EXPECT_EQ(h.get("/nope").status, 404);
  HttpResponse wrong_method = h.get("/api/v1/programs/web/stop");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST");
  EXPECT_EQ(h.get("/api/v1/programs/web/log?lines=abc").status, 400);
  EXPECT_EQ(h.get("/api/v1/programs/a/../web").status, 400);

  HttpResponse page = h.get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.header("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(page.header("content-security-policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.body, HasSubstr("minisup"));
  // Every request is logged with the client's address.
  EXPECT_TRUE(eventually([&] {
    return h.d.log().find("http: POST /api/v1/programs/web/stop 403 from 127.0.0.1:") !=
           std::string::npos;
  }));
}

TEST(Http, TokenCredentialsGuardEverythingButHealthzAndThePage) {
  HttpDaemon h("token_file = \"token\"");
  EXPECT_EQ(h.get("/healthz").status, 200);
  EXPECT_EQ(h.get("/").status, 200);
  HttpResponse refused = h.get("/api/v1/programs");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(body_json(refused)["auth"], "token");
  EXPECT_THAT(refused.header("www-authenticate"), HasSubstr("Bearer"));
  // A browser's fetch gets no challenge (no password dialog over the form).
  EXPECT_EQ(h.get("/api/v1/programs", {"Sec-Fetch-Mode: cors"}).header("www-authenticate"), "");
  EXPECT_EQ(h.get("/metrics").status, 401);
  EXPECT_EQ(h.get("/api/v1/events").status, 401);
  EXPECT_EQ(h.get("/api/v1/programs", {"Authorization: Bearer wrong-token-wrong-token"}).status,
            401);
  EXPECT_EQ(h.get("/api/v1/programs", {bearer()}).status, 200);

  HttpResponse stop = h.post("/api/v1/programs/web/stop", {bearer()});
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(body_json(stop)["results"][0]["name"], "web");
  // The reply comes when the stop is done, as minisupctl's does.
  EXPECT_EQ(h.d.state("web"), "STOPPED");
  EXPECT_TRUE(eventually([&] {
    return h.d.log().find("http: POST /api/v1/programs/web/stop 200 from 127.0.0.1:") !=
               std::string::npos &&
           h.d.log().find("user token") != std::string::npos;
  }));

  // Sign in once, then the session cookie (HttpOnly, SameSite=Strict) does.
  HttpResponse login = h.post("/api/v1/login", {bearer()});
  ASSERT_EQ(login.status, 204);
  const std::string cookie = login.header("set-cookie");
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  const std::string session = "Cookie: " + cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(h.post("/api/v1/login", {"Authorization: Bearer nope-nope-nope-nope"}).status, 401);
  HttpResponse info = h.get("/api/v1/info", {session});
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(body_json(info)["signed_in"], true);
  EXPECT_EQ(body_json(info)["can_control"], true);
  HttpResponse start = h.post("/api/v1/programs/web/start", {session});
  ASSERT_EQ(start.status, 200) << start.body;
  EXPECT_EQ(h.d.state("web"), "RUNNING");
  EXPECT_EQ(h.post("/api/v1/logout", {session}).status, 204);
  EXPECT_EQ(h.get("/api/v1/programs", {session}).status, 401);
}

TEST(Http, BasicCredentials) {
  HttpDaemon h(fmt::format("username = \"admin\"\npassword_sha256 = \"{}\"",
                           "8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1"));
  // base64("admin:/") = YWRtaW46Lw==; sha256("/") is the digest above.
  EXPECT_EQ(h.get("/api/v1/programs", {"Authorization: Basic YWRtaW46Lw=="}).status, 200);
  HttpResponse wrong = h.get("/api/v1/programs", {"Authorization: Basic YWRtaW46eA=="});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.header("www-authenticate"), HasSubstr("Basic"));
  EXPECT_EQ(body_json(wrong)["auth"], "basic");
  HttpResponse stop = h.post("/api/v1/programs/web/stop", {"Authorization: Basic YWRtaW46Lw=="});
  EXPECT_EQ(stop.status, 200) << stop.body;
  EXPECT_TRUE(eventually([&] { return h.d.log().find("user admin") != std::string::npos; }));
}

TEST(Http, ReadOnlyRefusesChangesEvenWithCredentials) {
  HttpDaemon h("token_file = \"token\"\nread_only = true");
  HttpResponse stop = h.post("/api/v1/programs/web/stop", {bearer()});
  EXPECT_EQ(stop.status, 403);
  EXPECT_EQ(body_json(stop)["error"], "read_only");
  EXPECT_EQ(h.d.state("web"), "RUNNING");
  EXPECT_EQ(h.get("/api/v1/programs", {bearer()}).status, 200);
}

TEST(Http, ForeignOriginAndForeignHostAreRefused) {
  HttpDaemon h("token_file = \"token\"\nhosts = [\"minisup.test\"]");
  // A page of another site posting to the API (the browser adds Origin).
  HttpResponse cross =
      h.post("/api/v1/programs/web/stop", {bearer(), "Origin: http://evil.example"});
  EXPECT_EQ(cross.status, 403);
  EXPECT_EQ(body_json(cross)["error"], "cross_origin");
  EXPECT_EQ(h.d.state("web"), "RUNNING");
  // DNS rebinding: the attacker's name resolves to 127.0.0.1.
  HttpResponse rebound = h.get("/api/v1/programs",
                               {bearer(), "Host: evil.example:" + std::to_string(h.endpoint.port)});
  EXPECT_EQ(rebound.status, 403);
  EXPECT_EQ(body_json(rebound)["error"], "forbidden_host");
  // Allowed: the listener's address, localhost, a name in hosts; the same Origin.
  EXPECT_EQ(
      h.get("/api/v1/programs", {bearer(), "Host: localhost:" + std::to_string(h.endpoint.port)})
          .status,
      200);
  EXPECT_EQ(
      h.get("/api/v1/programs", {bearer(), "Host: minisup.test:" + std::to_string(h.endpoint.port)})
          .status,
      200);
  HttpResponse same =
      h.post("/api/v1/programs/web/stop", {bearer(), "Origin: http://" + h.endpoint.host_header()});
  EXPECT_EQ(same.status, 200) << same.body;
}

TEST(Http, OversizedHeadersAndBodiesAreRefusedAndServiceGoesOn) {
  HttpDaemon h("token_file = \"token\"");
  HttpResponse big_header =
      h.get("/api/v1/programs", {bearer(), "X-Filler: " + std::string(64 * 1024, 'x')});
  EXPECT_TRUE(big_header.status == 431 || big_header.status == 413 || big_header.status == 0)
      << big_header.status;
  EXPECT_NE(big_header.status, 200);
  HttpResponse big_body = h.post("/api/v1/programs/web/signal", {bearer()},
                                 "{\"signal\":\"HUP\",\"x\":\"" + std::string(8192, 'y') + "\"}");
  EXPECT_EQ(big_body.status, 413);
  EXPECT_EQ(h.get("/api/v1/programs/" + std::string(300, 'n'), {bearer()}).status, 404);
  EXPECT_EQ(h.get("/healthz").status, 200);
  EXPECT_EQ(h.d.state("web"), "RUNNING");  // the oversized signal was not sent
}

TEST(Http, SignalTakesAJsonBody) {
  HttpDaemon h("token_file = \"token\"");
  HttpResponse bad = h.post("/api/v1/programs/web/signal", {bearer()}, "HUP");
  EXPECT_EQ(bad.status, 400);
  HttpResponse unknown = h.post("/api/v1/programs/web/signal", {bearer()}, "{\"signal\":\"NOPE\"}");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(body_json(unknown)["error"], "bad_signal");
  // test_child has no TERM handler: TERM ends it, and minisupd restarts it
  // (autorestart unexpected; a signal is never expected).
  const int pid = h.d.process("web")["pid"].get<int>();
  HttpResponse term = h.post("/api/v1/programs/web/signal", {bearer()}, "{\"signal\":\"TERM\"}");
  ASSERT_EQ(term.status, 200) << term.body;
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }));
}

/// Reads SSE events from `c` until `count` state events came or `timeout`.
std::vector<std::pair<std::string, json>> read_events(HttpConnection& c, std::string& buffer,
                                                      std::size_t count,
                                                      std::chrono::milliseconds timeout = 10s) {
  std::vector<std::pair<std::string, json>> events;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      std::string id, event, data;
      std::istringstream lines(block);
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("id: ", 0) == 0) id = line.substr(4);
        if (line.rfind("event: ", 0) == 0) event = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += line.substr(6);
      }
      if (event.empty()) continue;  // retry: and comments
      json parsed = json::parse(data, nullptr, false);
      if (!id.empty()) parsed["_id"] = id;
      events.emplace_back(event, parsed);
    }
    if (events.size() >= count || std::chrono::steady_clock::now() > deadline) return events;
    if (!c.read_body_some(buffer, 200ms) && std::chrono::steady_clock::now() > deadline) {
      return events;
    }
  }
}

TEST(Http, EventsComeInOrderAndResumeWithLastEventId) {
  HttpDaemon h("token_file = \"token\"");
  HttpConnection events(h.endpoint);
  HttpResponse head = h.open_events(events, {bearer()});
  EXPECT_EQ(head.status, 200);
  EXPECT_THAT(head.header("content-type"), HasSubstr("text/event-stream"));

  ASSERT_EQ(h.post("/api/v1/programs/web/stop", {bearer()}).status, 200);
  ASSERT_EQ(h.post("/api/v1/programs/web/start", {bearer()}).status, 200);
  std::string buffer;
  auto got = read_events(events, buffer, 4);
  ASSERT_EQ(got.size(), 4u);
  std::vector<std::string> transitions;
  std::uint64_t last_seq = 0;
  for (const auto& [event, data] : got) {
    EXPECT_EQ(event, "state");
    EXPECT_EQ(data["process"], "web");
    transitions.push_back(data["from"].get<std::string>() + ">" + data["to"].get<std::string>());
    EXPECT_GT(data["seq"].get<std::uint64_t>(), last_seq);
    last_seq = data["seq"].get<std::uint64_t>();
    // The id is the seq, prefixed by this minisupd's instance.
    EXPECT_THAT(data["_id"].get<std::string>(),
                ::testing::EndsWith("-" + std::to_string(last_seq)));
  }
  EXPECT_EQ(transitions, (std::vector<std::string>{"RUNNING>STOPPING", "STOPPING>STOPPED",
                                                   "STOPPED>STARTING", "STARTING>RUNNING"}));

  // A client that saw only the first event resumes after it.
  HttpConnection resumed(h.endpoint);
  ASSERT_TRUE(resumed.send_all(http_request_text(
      h.endpoint, "GET", "/api/v1/events",
      {bearer(), "Last-Event-ID: " + got[0].second["_id"].get<std::string>()}, "")));
  ASSERT_TRUE(resumed.read_head(head, 10s));
  std::string buffer2;
  auto replay = read_events(resumed, buffer2, 3);
  ASSERT_EQ(replay.size(), 3u);
  EXPECT_EQ(replay[0].second["seq"], got[1].second["seq"]);
  EXPECT_EQ(replay[2].second["seq"], got[3].second["seq"]);

  // An id of another minisupd: a reset event first (reload the state).
  HttpConnection foreign(h.endpoint);
  ASSERT_TRUE(foreign.send_all(http_request_text(h.endpoint, "GET", "/api/v1/events",
                                                 {bearer(), "Last-Event-ID: 1a2b-3"}, "")));
  ASSERT_TRUE(foreign.read_head(head, 10s));
  std::string buffer3;
  auto reset = read_events(foreign, buffer3, 1);
  ASSERT_EQ(reset.size(), 1u);
  EXPECT_EQ(reset[0].first, "reset");
}

TEST(Http, AddedOrRemovedProgramsResetTheEventStreamAndHttpChangesAreNoted) {
  HttpDaemon h("token_file = \"token\"");
  HttpConnection events(h.endpoint);
  ASSERT_EQ(h.open_events(events, {bearer()}).status, 200);
  const std::string config = read_file(h.d.config_path());
  auto has_reset = [](const std::vector<std::pair<std::string, json>>& got) {
    return std::any_of(got.begin(), got.end(), [](const auto& e) { return e.first == "reset"; });
  };

  // `extra` added, and [http] changed (which only the next start applies).
  std::string changed = config;
  ASSERT_EQ(changed.rfind("[http]\n", 0), 0u);
  changed.insert(7, "hosts = [\"dash.example\"]\n");
  h.d.write_config(changed + sleeper("extra"));
  const CommandResult reread = h.d.ctl({"reread"});
  EXPECT_EQ(reread.code, 0) << reread.err;
  EXPECT_THAT(reread.out, HasSubstr("extra: added"));
  EXPECT_THAT(reread.out, HasSubstr("note: [http] changed; the HTTP listener keeps its settings "
                                    "until minisupd starts again"));
  HttpResponse update = h.post("/api/v1/update", {bearer()});
  ASSERT_EQ(update.status, 200) << update.body;
  EXPECT_EQ(body_json(update)["added"], json::array({"extra"}));
  EXPECT_EQ(body_json(update)["notes"].size(), 1u) << update.body;
  std::string buffer;
  auto got = read_events(events, buffer, 3);
  EXPECT_TRUE(has_reset(got)) << "no reset after a program was added";
  // The listener kept its settings: its Host check is as before.
  EXPECT_EQ(h.get("/api/v1/programs", {bearer(), "Host: dash.example"}).status, 403);

  // `extra` removed: a reset once it is gone, and the list no longer has it.
  h.d.write_config(config);
  ASSERT_EQ(h.post("/api/v1/update", {bearer()}).status, 200);
  got = read_events(events, buffer, 3);
  EXPECT_TRUE(has_reset(got)) << "no reset after a program was removed";
  const json programs = body_json(h.get("/api/v1/programs", {bearer()}));
  ASSERT_TRUE(programs.is_array());
  for (const json& p : programs) EXPECT_NE(p["name"], "extra");

  // A reload by SIGHUP says so in minisupd's log (it has no client to tell).
  h.d.write_config(changed);
  h.d.signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return h.d.log().find(
               "reload (SIGHUP): [http] changed; the HTTP listener keeps its "
               "settings until minisupd starts again") != std::string::npos;
  })) << h.d.log();
  EXPECT_EQ(h.get("/api/v1/programs", {bearer(), "Host: dash.example"}).status, 403);
}

TEST(Http, LogFollowStreamsNewLines) {
  HttpDaemon h("token_file = \"token\"");
  // Once it wrote a few lines, the last 2 of them.
  HttpResponse last;
  ASSERT_TRUE(eventually([&] {
    last = h.get("/api/v1/programs/ticker/log?lines=100", {bearer()});
    return std::count(last.body.begin(), last.body.end(), '\n') >= 3;
  }));
  last = h.get("/api/v1/programs/ticker/log?lines=2", {bearer()});
  ASSERT_EQ(last.status, 200) << last.body;
  EXPECT_THAT(last.body, HasSubstr("tick"));
  EXPECT_EQ(std::count(last.body.begin(), last.body.end(), '\n'), 2);

  HttpConnection follow(h.endpoint);
  ASSERT_TRUE(follow.send_all(http_request_text(
      h.endpoint, "GET", "/api/v1/programs/ticker/log?lines=1&follow=1", {bearer()}, "")));
  HttpResponse head;
  ASSERT_TRUE(follow.read_head(head, 10s));
  EXPECT_EQ(head.status, 200);
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        follow.read_body_some(text, 100ms);
        return std::count(text.begin(), text.end(), '\n') >= 4;
      },
      10s))
      << text;
  // Consecutive ticks: nothing lost between the last lines and the follow.
  std::istringstream lines(text);
  std::string line;
  int previous = -1;
  while (std::getline(lines, line)) {
    const int n = std::stoi(line.substr(5));
    if (previous >= 0) {
      EXPECT_EQ(n, previous + 1) << text;
    }
    previous = n;
  }
  EXPECT_EQ(h.get("/api/v1/programs/nope/log", {bearer()}).status, 404);
}

TEST(Http, AClientThatNeverReadsMakesNobodyWait) {
  HttpDaemon h("token_file = \"token\"");
  // Followers of a chatty log that never read: their data piles up in
  // minisupd until it drops them, never blocking the loop.
  std::vector<std::unique_ptr<HttpConnection>> stuck;
  for (int i = 0; i < 4; ++i) {
    stuck.push_back(std::make_unique<HttpConnection>(h.endpoint));
    int small = 4096;
    setsockopt(stuck.back()->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ASSERT_TRUE(stuck.back()->send_all(http_request_text(
        h.endpoint, "GET", "/api/v1/programs/ticker/log?lines=1000&follow=1", {bearer()}, "")));
  }
  HttpConnection silent_events(h.endpoint);
  ASSERT_TRUE(silent_events.send_all(
      http_request_text(h.endpoint, "GET", "/api/v1/events", {bearer()}, "")));
  // A half-sent request (headers never finished) holds nothing either.
  HttpConnection half(h.endpoint);
  ASSERT_TRUE(half.send_all("GET /api/v1/programs HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  for (int i = 0; i < 20; ++i) {
    const auto before = std::chrono::steady_clock::now();
    HttpResponse r = h.get("/api/v1/programs", {bearer()});
    ASSERT_EQ(r.status, 200);
    // Generous: a blocked loop would take the 10 s timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
    ASSERT_EQ(h.post(i % 2 ? "/api/v1/programs/web/start" : "/api/v1/programs/web/stop", {bearer()})
                  .status,
              200);
  }
  EXPECT_EQ(minisup::testing::run_command(
                {MINISUPCTL_PATH, "-s", h.d.socket_path().string(), "status", "web"})
                .code,
            0);
}

TEST(Http, UnixListenerWithoutCredentialsMayControl) {
  Daemon d;
  d.write_config("[http]\nlisten = \"unix:http.sock\"\n" + sleeper("web", "", 2));
  d.start();
  ASSERT_TRUE(d.wait_state("web", "RUNNING"));
  HttpEndpoint endpoint;
  endpoint.unix_path = (d.dir() / "http.sock").string();
  struct stat st {};
  ASSERT_EQ(::stat(endpoint.unix_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // the control socket's mode
  HttpResponse stop = http(endpoint, "POST", "/api/v1/programs/web/stop", {"Host: x"});
  EXPECT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(d.state("web"), "STOPPED");
  // [http] changes apply at the next start: reread says so in the log, and
  // the listener goes on as it was.
  d.write_config("[http]\nlisten = \"unix:http.sock\"\nread_only = true\n" + sleeper("web", "", 2));
  EXPECT_EQ(d.ctl({"reread"}).code, 0);
  EXPECT_THAT(d.log(), HasSubstr("reread: [http] changed; the HTTP listener keeps its settings "
                                 "until minisupd starts again"));
  EXPECT_EQ(http(endpoint, "POST", "/api/v1/programs/web/start", {"Host: x"}).status, 200);
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(fs::exists(endpoint.unix_path));  // removed at exit
}

TEST(Http, MetricsParseWithARealPrometheusParser) {
  if (run_command({"/usr/bin/python3", "-c", "import prometheus_client"}).code != 0) {
    GTEST_SKIP() << "Debian's python3-prometheus-client is not installed (scripts/test.sh "
                    "installs it)";
  }
  HttpDaemon h("token_file = \"token\"");
  // A stop that needs SIGKILL is counted; the ticker's restarts too.
  ASSERT_EQ(h.post("/api/v1/programs/web/stop", {bearer()}).status, 200);
  HttpResponse metrics = h.get("/metrics", {bearer()});
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.header("content-type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("minisup_process_state{process=\"web\",group=\"web\",state=\"STOPPED\"} 1"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("minisup_process_exits_total{process=\"web\",group=\"web\",reason=\"killed\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("minisup_build_info{version="));
  write_file(h.d.dir() / "metrics.txt", metrics.body);
  CommandResult parsed = run_command(
      {"/usr/bin/python3", std::string(MINISUP_SOURCE_DIR) + "/tests/http/parse_metrics.py",
       (h.d.dir() / "metrics.txt").string()});
  EXPECT_EQ(parsed.code, 0) << parsed.out << parsed.err;
  // The status objects carry restarts and ready (here and in status --json).
  json web = body_json(h.get("/api/v1/programs/web", {bearer()}))[0];
  EXPECT_EQ(web["restarts"], 0);
  EXPECT_EQ(web["ready"], false);
  json ticker = body_json(h.get("/api/v1/programs/ticker", {bearer()}))[0];
  EXPECT_EQ(ticker["ready"], true);
}

TEST(Http, ConfigErrorsNameTheLine) {
  Daemon d;
  d.write_config("[http]\nlisten = \"0.0.0.0:9001\"\n" + sleeper("web"));
  CommandResult check = run_command({MINISUPD_PATH, "--check", "-c", d.config_path().string()});
  EXPECT_NE(check.code, 0);
  EXPECT_THAT(check.err, HasSubstr("minisup.toml:2:10: listen \"0.0.0.0:9001\" is not a loopback "
                                   "address and [http] has no credentials"));
  d.write_config("[http]\nlisten = \"127.0.0.1:9001\"\ntoken_file = \"missing\"\n" +
                 sleeper("web"));
  check = run_command({MINISUPD_PATH, "--check", "-c", d.config_path().string()});
  EXPECT_THAT(check.err, HasSubstr("minisup.toml:3:14: token_file"));
}

TEST(Http, AnAddressInUseEndsMinisupdNamingIt) {
  const int port = free_port();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  Daemon d;
  d.write_config(fmt::format("[http]\nlisten = \"127.0.0.1:{}\"\n", port) + sleeper("web"));
  d.launch();
  EXPECT_EQ(d.wait_exit(), 1);
  EXPECT_THAT(d.log(), HasSubstr(fmt::format("[http] listen 127.0.0.1:{}: bind: Address already "
                                             "in use",
                                             port)));
  ::close(fd);
}

}  // namespace
}  // namespace minisup::testing
