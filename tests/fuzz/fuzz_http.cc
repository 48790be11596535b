// libFuzzer target: the HTTP request handling minisupd writes itself
// (supervisor/http/request.h): target and query parsing, routing, the Host
// and Origin checks, credentials and cookies, Last-Event-ID, the SSE
// framing and the signal body. The input is split on NUL bytes into
// fields: method, target, Host, Origin, Authorization, Cookie,
// Last-Event-ID, body. Besides "no crash, no sanitizer report", each result
// is checked against what it promises.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/http/request.h"

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_http: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace minisup::http;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= input.size() && f.size() < 8; ++i) {
    if (i == input.size() || input[i] == '\0') {
      f.push_back(input.substr(start, i - start));
      start = i + 1;
    }
  }
  while (f.size() < 8) f.emplace_back();
  const auto method = f[0], raw = f[1], host = f[2], origin = f[3], authorization = f[4],
             cookie = f[5], last_event_id = f[6], body = f[7];

  if (auto target = parse_target(raw)) {
    if (raw.size() > kMaxTargetBytes) fail("an over-long target was accepted");
    for (const auto& segment : target->path) {
      if (segment.empty() || segment == "." || segment == "..") fail("a bad segment passed");
      if (segment.find('\0') != std::string::npos) fail("a NUL passed into a segment");
    }
    const Route r = route(method, *target);
    if (r.status == Route::Status::Ok && r.name.size() > kMaxNameBytes) fail("an over-long name");
    if (r.status == Route::Status::MethodNotAllowed && r.allow.empty()) fail("405 without Allow");
    if (r.changes() && r.status == Route::Status::Ok && method != "POST") {
      fail("a change routed for a method other than POST");
    }
    (void)query_flag(*target, "follow", false);
    if (auto it = target->query.find("lines"); it != target->query.end()) {
      if (auto n = parse_count(it->second, kMaxLogLines); n && (*n < 0 || *n > kMaxLogLines)) {
        fail("a count out of range");
      }
    }
  }
  HostPolicy policy{"127.0.0.1", 9001, {"minisup.example"}};
  const bool host_ok = host_allowed(host, policy);
  if (host_ok && host.find('@') != std::string_view::npos) fail("a Host with userinfo passed");
  (void)origin_matches(origin, host);
  if (auto token = bearer_token(authorization); token && token->empty()) fail("an empty token");
  (void)basic_credentials(authorization);
  (void)cookie_value(cookie, "minisup_session");
  if (constant_time_equal(authorization, cookie) != (authorization == cookie)) {
    fail("constant_time_equal disagrees with ==");
  }
  (void)parse_event_id(last_event_id, "abc123");
  if (parse_event_id(event_id("abc123", size), "abc123") != size) fail("event id round trip");
  const std::string event = sse_event("abc123-1", "state", body);
  if (event.size() < 2 || event.substr(event.size() - 2) != "\n\n") fail("an event not ended");
  // Every line of the event is a field: no line break of the data escapes.
  std::size_t line_start = 0;
  for (std::size_t i = 0; i + 1 < event.size(); ++i) {
    if (event[i] == '\r') fail("a CR in an event");
    if (event[i] != '\n') continue;
    const std::string_view line = std::string_view(event).substr(line_start, i - line_start);
    if (!line.starts_with("id: ") && !line.starts_with("event: ") && !line.starts_with("data: ")) {
      fail("an event line that is no field");
    }
    line_start = i + 1;
  }
  if (auto signal = signal_from_body(body); signal && signal->empty()) fail("an empty signal");
  (void)error_body(method, body);
  return 0;
}
