// The pure half of the HTTP listener: targets, routes, Host and Origin,
// credentials, event ids and SSE framing (supervisor/http/request.h).
#include "supervisor/http/request.h"

#include <gtest/gtest.h>

namespace minisup::http {
namespace {

Target target(std::string_view raw) {
  auto parsed = parse_target(raw);
  EXPECT_TRUE(parsed.has_value()) << raw;
  return parsed.value_or(Target{});
}

TEST(Target, SplitsAndDecodesPathAndQuery) {
  Target t = target("/api/v1/programs/web%3A0/log?stream=stderr&lines=20&follow&x=a+b%21");
  EXPECT_EQ(t.path, (std::vector<std::string>{"api", "v1", "programs", "web:0", "log"}));
  EXPECT_EQ(t.query.at("stream"), "stderr");
  EXPECT_EQ(t.query.at("lines"), "20");
  EXPECT_EQ(t.query.at("follow"), "");
  EXPECT_EQ(t.query.at("x"), "a b!");
  EXPECT_TRUE(target("/").path.empty());
  EXPECT_EQ(target("/api/v1/programs/").path.size(), 3u);
  EXPECT_EQ(target("/metrics?a=1&a=2").query.at("a"), "1");  // the first one wins
}

TEST(Target, RefusesWhatCouldEscapeOrConfuse) {
  for (std::string_view bad : {"", "api", "http://x/", "/a/../b", "/a/./b", "/a//b", "/%2e%2e/x",
                               "/a%00b", "/a%zz", "/a%4", "/x?a=%", "//"}) {
    EXPECT_FALSE(parse_target(bad).has_value()) << bad;
  }
  EXPECT_FALSE(parse_target("/" + std::string(kMaxTargetBytes, 'a')).has_value());
}

TEST(Routes, EveryEndpointOfTheContract) {
  struct Case {
    std::string_view method, raw;
    RouteKind kind;
    std::string name, action;
  };
  const Case cases[] = {
      {"GET", "/", RouteKind::Dashboard, "", ""},
      {"HEAD", "/", RouteKind::Dashboard, "", ""},
      {"GET", "/healthz", RouteKind::Healthz, "", ""},
      {"GET", "/metrics", RouteKind::Metrics, "", ""},
      {"GET", "/api/v1/info", RouteKind::Info, "", ""},
      {"POST", "/api/v1/login", RouteKind::Login, "", ""},
      {"POST", "/api/v1/logout", RouteKind::Logout, "", ""},
      {"GET", "/api/v1/programs", RouteKind::Programs, "", ""},
      {"GET", "/api/v1/programs/web%3A0", RouteKind::Program, "web:0", ""},
      {"POST", "/api/v1/programs/web/start", RouteKind::Action, "web", "start"},
      {"POST", "/api/v1/programs/web/stop", RouteKind::Action, "web", "stop"},
      {"POST", "/api/v1/programs/web/restart?rolling=1", RouteKind::Action, "web", "restart"},
      {"POST", "/api/v1/programs/web/signal", RouteKind::Signal, "web", ""},
      {"GET", "/api/v1/programs/web/log?follow=1", RouteKind::Log, "web", ""},
      {"GET", "/api/v1/events", RouteKind::Events, "", ""},
      {"POST", "/api/v1/reread", RouteKind::Reread, "", ""},
      {"POST", "/api/v1/update", RouteKind::Update, "", ""},
  };
  for (const auto& c : cases) {
    Route r = route(c.method, target(c.raw));
    EXPECT_EQ(r.status, Route::Status::Ok) << c.raw;
    EXPECT_EQ(r.kind, c.kind) << c.raw;
    EXPECT_EQ(r.name, c.name) << c.raw;
    EXPECT_EQ(r.action, c.action) << c.raw;
  }
}

TEST(Routes, ChangesArePostOnlyAndUnknownsAreNotFound) {
  Route get_stop = route("GET", target("/api/v1/programs/web/stop"));
  EXPECT_EQ(get_stop.status, Route::Status::MethodNotAllowed);
  EXPECT_EQ(get_stop.allow, "POST");
  EXPECT_TRUE(get_stop.changes());
  Route post_status = route("POST", target("/api/v1/programs"));
  EXPECT_EQ(post_status.status, Route::Status::MethodNotAllowed);
  EXPECT_EQ(post_status.allow, "GET, HEAD");
  EXPECT_FALSE(route("GET", target("/api/v1/programs")).changes());
  EXPECT_TRUE(route("POST", target("/api/v1/update")).changes());
  EXPECT_FALSE(route("POST", target("/api/v1/login")).changes());
  for (std::string_view unknown : {"/api/v2/programs", "/api/v1/nope", "/api/v1/programs/web/kill",
                                   "/api/v1/programs/web/log/x", "/favicon.ico", "/api"}) {
    EXPECT_EQ(route("GET", target(unknown)).status, Route::Status::NotFound) << unknown;
  }
  EXPECT_EQ(route("GET", target("/api/v1/programs/" + std::string(kMaxNameBytes + 1, 'a'))).status,
            Route::Status::NotFound);
}

TEST(Query, FlagsAndCounts) {
  Target t = target("/x?a=1&b=false&c&d=maybe");
  EXPECT_EQ(query_flag(t, "a", false), true);
  EXPECT_EQ(query_flag(t, "b", true), false);
  EXPECT_EQ(query_flag(t, "c", false), true);
  EXPECT_EQ(query_flag(t, "d", false), std::nullopt);
  EXPECT_EQ(query_flag(t, "absent", true), true);
  EXPECT_EQ(parse_count("0", 10), 0);
  EXPECT_EQ(parse_count("10", 10), 10);
  EXPECT_EQ(parse_count("11", 10), std::nullopt);
  EXPECT_EQ(parse_count("-1", 10), std::nullopt);
  EXPECT_EQ(parse_count("99999999999", 1 << 30), std::nullopt);
  EXPECT_EQ(parse_count("", 10), std::nullopt);
}

TEST(Host, OnlyTheListenersAddressLocalhostOrConfiguredNames) {
  HostPolicy p{"127.0.0.1", 9001, {"minisup.example"}};
  EXPECT_TRUE(host_allowed("127.0.0.1:9001", p));
  EXPECT_TRUE(host_allowed("127.0.0.1", p));
  EXPECT_TRUE(host_allowed("localhost:9001", p));
  EXPECT_TRUE(host_allowed("LocalHost:9001", p));
  EXPECT_TRUE(host_allowed("minisup.example:9001", p));
  // DNS rebinding: an attacker's name resolving to 127.0.0.1.
  EXPECT_FALSE(host_allowed("evil.example:9001", p));
  EXPECT_FALSE(host_allowed("127.0.0.2:9001", p));
  EXPECT_FALSE(host_allowed("127.0.0.1:9002", p));
  EXPECT_FALSE(host_allowed("", p));
  EXPECT_FALSE(host_allowed("127.0.0.1:", p));
  EXPECT_FALSE(host_allowed("user@localhost:9001", p));
  HostPolicy any{"0.0.0.0", 80, {}};
  EXPECT_TRUE(host_allowed("10.1.2.3", any));
  EXPECT_FALSE(host_allowed("[::1]", any));
  EXPECT_FALSE(host_allowed("intranet", any));
  HostPolicy v6{"::1", 9001, {}};
  EXPECT_TRUE(host_allowed("[::1]:9001", v6));
  EXPECT_TRUE(host_allowed("[0:0::1]:9001", v6));
  EXPECT_FALSE(host_allowed("[::2]:9001", v6));
  EXPECT_FALSE(host_allowed("[::1", v6));
}

TEST(Origin, MustNameTheSameHostAndPort) {
  EXPECT_TRUE(origin_matches("http://127.0.0.1:9001", "127.0.0.1:9001"));
  EXPECT_TRUE(origin_matches("http://localhost", "localhost:80"));
  EXPECT_FALSE(origin_matches("http://evil.example", "127.0.0.1:9001"));
  EXPECT_FALSE(origin_matches("http://127.0.0.1:9002", "127.0.0.1:9001"));
  EXPECT_FALSE(origin_matches("https://127.0.0.1:9001", "127.0.0.1:9001"));
  EXPECT_FALSE(origin_matches("null", "127.0.0.1:9001"));
}

TEST(Credentials, BearerBasicAndCookies) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(bearer_token("Basic abc"), std::nullopt);
  auto basic = basic_credentials("Basic YWRtaW46czNjcjp0");  // admin:s3cr:t
  ASSERT_TRUE(basic.has_value());
  EXPECT_EQ(basic->first, "admin");
  EXPECT_EQ(basic->second, "s3cr:t");
  EXPECT_EQ(basic_credentials("Basic YWRtaW4="), std::nullopt);  // no colon
  EXPECT_EQ(basic_credentials("Basic !!!!"), std::nullopt);
  EXPECT_EQ(basic_credentials("Basic YW=Rt"), std::nullopt);
  EXPECT_EQ(cookie_value("a=1; minisup_session=xyz; b=2", "minisup_session"), "xyz");
  EXPECT_EQ(cookie_value("minisup_session=\"q\"", "minisup_session"), "q");
  EXPECT_EQ(cookie_value("xminisup_session=1", "minisup_session"), std::nullopt);
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
}

TEST(Events, IdsBelongToOneMinisupd) {
  EXPECT_EQ(event_id("1f2e", 42), "1f2e-42");
  EXPECT_EQ(parse_event_id("1f2e-42", "1f2e"), 42u);
  EXPECT_EQ(parse_event_id("1f2f-42", "1f2e"), std::nullopt);  // another minisupd
  EXPECT_EQ(parse_event_id("1f2e-", "1f2e"), std::nullopt);
  EXPECT_EQ(parse_event_id("1f2e-4x", "1f2e"), std::nullopt);
  EXPECT_EQ(parse_event_id("42", "1f2e"), std::nullopt);
}

TEST(Events, SseFramingSplitsEveryLineBreak) {
  EXPECT_EQ(sse_event("i-1", "state", "{\"a\":1}"), "id: i-1\nevent: state\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("", "reset", "{}"), "event: reset\ndata: {}\n\n");
  EXPECT_EQ(sse_event("", "", "a\r\nb\rc\nd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(Body, SignalAndErrors) {
  EXPECT_EQ(signal_from_body("{\"signal\":\"HUP\"}"), "\"HUP\"");
  EXPECT_EQ(signal_from_body("{\"signal\":15}"), "15");
  EXPECT_EQ(signal_from_body("{\"signal\":1.5}"), std::nullopt);
  EXPECT_EQ(signal_from_body("[\"HUP\"]"), std::nullopt);
  EXPECT_EQ(signal_from_body("{"), std::nullopt);
  EXPECT_EQ(signal_from_body(""), std::nullopt);
  EXPECT_EQ(error_body("read_only", "no \"changes\""),
            "{\"error\":\"read_only\",\"message\":\"no \\\"changes\\\"\"}");
}

}  // namespace
}  // namespace minisup::http
