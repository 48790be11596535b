// The pure half of minisupd's HTTP listener (DESIGN.md, "HTTP: dashboard,
// JSON API, metrics"): what a request asks for (its target and route),
// whether it may (Host, Origin, credentials), and the text of an SSE event.
// No socket, no library: every function here is unit-tested and fuzzed
// (tests/fuzz/fuzz_http.cc), since each reads bytes a stranger chose.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minisup::http {

/// Request targets longer than this are refused (414).
inline constexpr std::size_t kMaxTargetBytes = 4096;
/// Request bodies larger than this are refused (413): the API's bodies are
/// a signal name.
inline constexpr std::size_t kMaxBodyBytes = 4096;
/// A program or process name in a path.
inline constexpr std::size_t kMaxNameBytes = 256;
/// `lines=` of a log request.
inline constexpr int kMaxLogLines = 100000;

/// A request target split and percent-decoded: "/api/v1/programs/web%3A0/log?lines=5"
/// -> path {"api","v1","programs","web:0","log"}, query {lines: "5"}.
struct Target {
  std::vector<std::string> path;  ///< decoded segments; "/" -> none
  std::map<std::string, std::string> query;
};

/// nullopt when the target is not origin-form ("/..."), too long, has a bad
/// percent escape, a NUL, or an empty, "." or ".." segment (other than a
/// single trailing "/"). A repeated query key keeps its first value.
std::optional<Target> parse_target(std::string_view raw);

enum class RouteKind {
  Dashboard,  ///< GET /
  Healthz,    ///< GET /healthz
  Metrics,    ///< GET /metrics
  Info,       ///< GET /api/v1/info
  Login,      ///< POST /api/v1/login
  Logout,     ///< POST /api/v1/logout
  Programs,   ///< GET /api/v1/programs
  Program,    ///< GET /api/v1/programs/NAME
  Action,     ///< POST /api/v1/programs/NAME/start|stop|restart
  Signal,     ///< POST /api/v1/programs/NAME/signal
  Log,        ///< GET /api/v1/programs/NAME/log
  Events,     ///< GET /api/v1/events
  Reread,     ///< POST /api/v1/reread
  Update,     ///< POST /api/v1/update
};

/// What a request is for, or why it is for nothing.
struct Route {
  enum class Status { Ok, NotFound, MethodNotAllowed };
  Status status = Status::NotFound;
  RouteKind kind = RouteKind::Dashboard;
  std::string name;    ///< Program, Action, Signal, Log: the process/program/group name
  std::string action;  ///< Action: "start", "stop", "restart"
  std::string allow;   ///< MethodNotAllowed: the Allow header ("GET", "POST")
  /// The request changes something (start, stop, ..., reread): it needs a
  /// session that may control.
  bool changes() const;
};

/// Routes `method` (HEAD counts as GET) and `target`.
Route route(std::string_view method, const Target& target);

/// A query flag: "1", "true", "yes" (and "" for a bare `?follow`) are true;
/// "0", "false", "no" false; anything else nullopt.
std::optional<bool> query_flag(const Target& target, const std::string& key, bool absent);
/// A non-negative decimal integer of at most `max`; nullopt when invalid.
std::optional<int> parse_count(std::string_view text, int max);

/// `Host` allowed for a listener: an IP literal of the listener (any IP
/// literal when it listens on 0.0.0.0 or ::), "localhost", or one of
/// `names` (lower case); the port, when given, must be `port`.
struct HostPolicy {
  std::string address;  ///< the listener's numeric address (IPv6 unbracketed)
  int port = 0;
  std::vector<std::string> names;
};
bool host_allowed(std::string_view host, const HostPolicy& policy);
/// `Origin` ("http://HOST[:PORT]") names the same host and port as `host`
/// (the request's Host header). "null" and other schemes do not.
bool origin_matches(std::string_view origin, std::string_view host);

/// "Bearer TOKEN" -> TOKEN.
std::optional<std::string> bearer_token(std::string_view authorization);
/// "Basic base64(user:password)" -> {user, password}.
std::optional<std::pair<std::string, std::string>> basic_credentials(
    std::string_view authorization);
/// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);
/// Equal, in a time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

/// An SSE id: "INSTANCE-SEQ". The instance (minisupd's start, in hex) tells
/// an id of this minisupd from one of another; SEQ is the event's seq.
std::string event_id(std::string_view instance, std::uint64_t seq);
/// The seq of `last_event_id` when it is one of `instance`'s ids; nullopt
/// for another minisupd's id or anything malformed.
std::optional<std::uint64_t> parse_event_id(std::string_view last_event_id,
                                            std::string_view instance);
/// One SSE event: "id: ID\nevent: EVENT\ndata: LINE\n...\n\n" (each line of
/// `data` on its own data: field; `id` omitted when empty).
std::string sse_event(std::string_view id, std::string_view event, std::string_view data);

/// `{"signal": "HUP"}` or `{"signal": 1}`: the signal as the control
/// protocol takes it (a JSON string or number, re-encoded); nullopt when
/// the body is not such an object.
std::optional<std::string> signal_from_body(std::string_view body);

/// A JSON error body: {"error": CODE, "message": MESSAGE}.
std::string error_body(std::string_view code, std::string_view message);

}  // namespace minisup::http
