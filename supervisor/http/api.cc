// What each HTTP request means (see server.h): credentials, routes, the
// control request it becomes, and how its reply lines become the response.
// The libmicrohttpd glue is in server.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "supervisor/config/sha256.h"
#include "supervisor/control/protocol.h"
#include "supervisor/http/dashboard_page.h"
#include "supervisor/http/server_impl.h"
#include "supervisor/version.h"

namespace minisup::http {

namespace {

constexpr std::string_view kSessionCookie = "minisup_session";
constexpr auto kSessionLifetime = std::chrono::hours(12);
constexpr std::size_t kMaxSessions = 256;

std::string peer_text(const sockaddr* address) {
  if (address == nullptr) return "-";
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(in->sin_port));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return fmt::format("[{}]:{}", text, ntohs(in6->sin6_port));
  }
  return "unix";
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("getrandom: {}", std::strerror(errno)));
    }
    got += static_cast<std::size_t>(n);
  }
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

/// HTTP status for a control error code.
unsigned status_for(std::string_view code) {
  if (code == "no_such_program" || code == "no_log_file") return MHD_HTTP_NOT_FOUND;
  if (code == "bad_request" || code == "bad_json" || code == "bad_signal" ||
      code == "unknown_command") {
    return MHD_HTTP_BAD_REQUEST;
  }
  if (code == "shutting_down") return MHD_HTTP_SERVICE_UNAVAILABLE;
  if (code == "invalid_config" || code == "unexpected_state") return MHD_HTTP_CONFLICT;
  if (code == "timeout") return MHD_HTTP_GATEWAY_TIMEOUT;
  return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace

void Server::Impl::authenticate(Exchange& x) {
  x.user = "-";
  if (!config.has_credentials()) {
    // A unix socket is guarded by its file mode, as the control socket is.
    x.can_control = config.is_unix && !config.read_only;
    if (config.is_unix) x.user = "unix";
    return;
  }
  bool ok = false;
  if (auto authorization = header(x, "Authorization")) {
    if (auto token = bearer_token(*authorization); token && !config.token.empty()) {
      if (constant_time_equal(*token, config.token)) {
        ok = true;
        x.user = "token";
      }
    } else if (auto basic = basic_credentials(*authorization); basic && !config.username.empty()) {
      const bool user_ok = constant_time_equal(basic->first, config.username);
      const bool password_ok =
          constant_time_equal(config::sha256_hex(basic->second), config.password_sha256);
      if (user_ok && password_ok) {
        ok = true;
        x.user = basic->first;
      }
    }
  }
  if (!ok) {
    if (auto cookie = header(x, "Cookie")) {
      if (auto value = cookie_value(*cookie, kSessionCookie)) {
        const auto now = std::chrono::steady_clock::now();
        // Compared in constant time against each live session (a few).
        for (auto it = sessions.begin(); it != sessions.end();) {
          if (it->second.expires <= now) {
            it = sessions.erase(it);
            continue;
          }
          if (constant_time_equal(it->first, *value)) {
            ok = true;
            x.user = it->second.user;
            x.signed_in = true;
          }
          ++it;
        }
      }
    }
  }
  x.signed_in = x.signed_in || ok;
  x.can_control = ok && !config.read_only;
}

std::string Server::Impl::create_session(const std::string& user) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = sessions.begin(); it != sessions.end();) {
    it = it->second.expires <= now ? sessions.erase(it) : std::next(it);
  }
  if (sessions.size() >= kMaxSessions) {
    auto oldest = sessions.begin();
    for (auto it = sessions.begin(); it != sessions.end(); ++it) {
      if (it->second.expires < oldest->second.expires) oldest = it;
    }
    sessions.erase(oldest);
  }
  std::string token = random_hex(32);
  sessions[token] = Session{user, now + kSessionLifetime};
  return token;
}

MHD_Result Server::Impl::on_headers(Exchange& x) {
  const auto* info = mhd.MHD_get_connection_info(x.connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  x.peer = config.is_unix ? "unix" : peer_text(info == nullptr ? nullptr : info->client_addr);
  auto target = parse_target(x.raw_target);
  if (!target) {
    return respond_error(
        x, x.raw_target.size() > kMaxTargetBytes ? MHD_HTTP_URI_TOO_LONG : MHD_HTTP_BAD_REQUEST,
        "bad_target", "the request target is malformed or too long");
  }
  x.target = std::move(*target);
  const std::optional<std::string> host = header(x, "Host");
  if (!config.is_unix && (!host || !host_allowed(*host, host_policy))) {
    return respond_error(
        x, MHD_HTTP_FORBIDDEN, "forbidden_host",
        fmt::format(
            "Host {} is not this listener's address, localhost, or a "
            "name in [http] hosts",
            host ? json(*host).dump(-1, ' ', false, json::error_handler_t::replace) : "(none)"));
  }
  if (auto origin = header(x, "Origin")) {
    if (!host || !origin_matches(*origin, *host)) {
      return respond_error(x, MHD_HTTP_FORBIDDEN, "cross_origin",
                           "the request comes from another site (Origin does not match Host)");
    }
  }
  x.route = route(x.method, x.target);
  if (x.route.status == Route::Status::NotFound) {
    return respond_error(x, MHD_HTTP_NOT_FOUND, "not_found", "no such resource");
  }
  if (x.route.status == Route::Status::MethodNotAllowed) {
    return respond_error(x, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                         fmt::format("use {}", x.route.allow), {{"Allow", x.route.allow}});
  }
  authenticate(x);
  const bool open = x.route.kind == RouteKind::Healthz || x.route.kind == RouteKind::Dashboard ||
                    x.route.kind == RouteKind::Login;
  if (config.has_credentials() && !x.signed_in && !open) {
    const std::string auth = config.token.empty() ? "basic" : "token";
    std::vector<std::pair<std::string, std::string>> headers;
    // A browser's fetch() must not pop up its own password dialog: the
    // dashboard has a form. Other clients (curl) get the challenge.
    const auto mode = header(x, "Sec-Fetch-Mode");
    if (!mode || *mode == "navigate") {
      headers.emplace_back("WWW-Authenticate", auth == "basic" ? "Basic realm=\"minisup\""
                                                               : "Bearer realm=\"minisup\"");
    }
    x.phase = Exchange::Phase::Answered;
    x.status = MHD_HTTP_UNAUTHORIZED;
    json body = {{"error", "unauthorized"},
                 {"message", "credentials are needed (Authorization header or a session)"},
                 {"auth", auth}};
    return respond(x, MHD_HTTP_UNAUTHORIZED, body.dump() + "\n", "application/json", headers);
  }
  if (x.route.changes() && !x.can_control) {
    return respond_error(x, MHD_HTTP_FORBIDDEN, "read_only",
                         config.read_only ? "[http] read_only = true: no changes over HTTP"
                         : config.has_credentials()
                             ? "this session may not make changes"
                             : "without credentials ([http] token_file, or username and "
                               "password_sha256) the HTTP listener is read-only");
  }
  if (x.method == "POST") {
    x.phase = Exchange::Phase::Body;
    return MHD_YES;
  }
  return on_complete(x);
}

MHD_Result Server::Impl::on_complete(Exchange& x) {
  if (x.body_too_large) {
    return respond_error(x, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                         fmt::format("the request body is over {} bytes", kMaxBodyBytes));
  }
  const Route& r = x.route;
  switch (r.kind) {
    case RouteKind::Dashboard:
      return respond(x, MHD_HTTP_OK, std::string(kDashboardHtml), "text/html; charset=utf-8",
                     {{"Content-Security-Policy",
                       "default-src 'none'; script-src 'unsafe-inline'; style-src "
                       "'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
                       "form-action 'none'; frame-ancestors 'none'"},
                      {"Referrer-Policy", "no-referrer"},
                      {"X-Frame-Options", "DENY"}});
    case RouteKind::Healthz:
      return respond(x, MHD_HTTP_OK, "ok\n", "text/plain; charset=utf-8");
    case RouteKind::Metrics:
      return respond(x, MHD_HTTP_OK, handlers.metrics ? handlers.metrics() : std::string(),
                     "text/plain; version=0.0.4; charset=utf-8");
    case RouteKind::Info: {
      json body = {{"version", MINISUP_VERSION},
                   {"auth", !config.has_credentials() ? "none"
                            : config.token.empty()    ? "basic"
                                                      : "token"},
                   {"signed_in", x.signed_in},
                   {"can_control", x.can_control},
                   {"read_only", config.read_only}};
      return respond(x, MHD_HTTP_OK, body.dump() + "\n", "application/json");
    }
    case RouteKind::Login: {
      if (!config.has_credentials()) {
        return respond_error(x, MHD_HTTP_BAD_REQUEST, "no_credentials",
                             "[http] has no credentials: there is nothing to sign in with");
      }
      if (!x.signed_in || !header(x, "Authorization")) {
        return respond_error(x, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "wrong credentials (send Authorization: Bearer TOKEN or Basic)");
      }
      const std::string session = create_session(x.user);
      return respond(x, MHD_HTTP_NO_CONTENT, "", "text/plain",
                     {{"Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; "
                                                 "Max-Age={}",
                                                 kSessionCookie, session,
                                                 std::chrono::seconds(kSessionLifetime).count())}});
    }
    case RouteKind::Logout: {
      if (auto cookie = header(x, "Cookie")) {
        if (auto value = cookie_value(*cookie, kSessionCookie)) sessions.erase(*value);
      }
      return respond(x, MHD_HTTP_NO_CONTENT, "", "text/plain",
                     {{"Set-Cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; "
                                                 "Max-Age=0",
                                                 kSessionCookie)}});
    }
    case RouteKind::Programs:
    case RouteKind::Program: {
      auto tree = query_flag(x.target, "tree", false);
      if (!tree)
        return respond_error(x, MHD_HTTP_BAD_REQUEST, "bad_request", "tree must be 0 or 1");
      json request = {{"cmd", "status"}, {"tree", *tree}};
      if (r.kind == RouteKind::Program) request["names"] = json::array({r.name});
      return dispatch(x, std::move(request));
    }
    case RouteKind::Action: {
      json request = {{"cmd", r.action}, {"names", json::array({r.name})}};
      if (r.action == "restart") {
        auto rolling = query_flag(x.target, "rolling", false);
        if (!rolling) {
          return respond_error(x, MHD_HTTP_BAD_REQUEST, "bad_request", "rolling must be 0 or 1");
        }
        request["rolling"] = *rolling;
      }
      return dispatch(x, std::move(request));
    }
    case RouteKind::Signal: {
      auto signal = signal_from_body(x.body);
      if (!signal) {
        return respond_error(x, MHD_HTTP_BAD_REQUEST, "bad_request",
                             "the body must be a JSON object like {\"signal\": \"HUP\"}");
      }
      json request = {
          {"cmd", "signal"}, {"signal", json::parse(*signal)}, {"names", json::array({r.name})}};
      return dispatch(x, std::move(request));
    }
    case RouteKind::Log: {
      auto follow = query_flag(x.target, "follow", false);
      std::string stream = "stdout";
      if (auto it = x.target.query.find("stream"); it != x.target.query.end()) stream = it->second;
      std::optional<int> lines = control::kDefaultTailLines;
      if (auto it = x.target.query.find("lines"); it != x.target.query.end()) {
        lines = parse_count(it->second, kMaxLogLines);
      }
      if (!follow || !lines || (stream != "stdout" && stream != "stderr")) {
        return respond_error(
            x, MHD_HTTP_BAD_REQUEST, "bad_request",
            fmt::format("expected stream=stdout|stderr, lines=0..{}, follow=0|1", kMaxLogLines));
      }
      json request = {{"cmd", "tail"},
                      {"name", r.name},
                      {"stream", stream},
                      {"lines", *lines},
                      {"follow", *follow}};
      return dispatch(x, std::move(request));
    }
    case RouteKind::Events: {
      json request = {{"cmd", "events"}};
      std::optional<std::string> last = header(x, "Last-Event-ID");
      if (!last) {
        if (auto it = x.target.query.find("last_event_id"); it != x.target.query.end()) {
          last = it->second;
        }
      }
      if (last) {
        if (auto seq = parse_event_id(*last, instance)) {
          request["since"] = *seq;
        } else {
          x.reset_first = true;  // another minisupd's id, or nonsense: start afresh
        }
      }
      return dispatch(x, std::move(request));
    }
    case RouteKind::Reread:
    case RouteKind::Update:
      return dispatch(x, json{{"cmd", r.kind == RouteKind::Reread ? "reread" : "update"}});
  }
  return MHD_NO;
}

MHD_Result Server::Impl::dispatch(Exchange& x, json request) {
  x.phase = Exchange::Phase::Dispatched;
  x.dispatched = true;
  request["id"] = x.id - kFirstClient;
  std::string line = request.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  handlers.on_request(x.id, line);
  return answer_reply(x);  // at once when answered at once (status, tail, events)
}

MHD_Result Server::Impl::answer_reply(Exchange& x) {
  if (x.peer_gone) return MHD_NO;  // it hung up while waiting: close
  if (x.lines.empty()) {
    // Not answered yet (or resumed for nothing): wait on.
    suspend(x);
    return MHD_YES;
  }
  const RouteKind kind = x.route.kind;
  const bool stream_route =
      kind == RouteKind::Events ||
      (kind == RouteKind::Log && query_flag(x.target, "follow", false).value_or(false));
  std::string prelude;
  if (x.reset_first) prelude = sse_event("", "reset", "{}");
  std::string line = std::move(x.lines.front());
  x.lines.pop_front();
  if (kind == RouteKind::Programs || kind == RouteKind::Program) {
    // A status reply is {"id":N,"ok":true,"processes":[...]}: the array is
    // sent as it is, not parsed and written again (1,000 processes: 0.5 MB).
    constexpr std::string_view kProcesses = "\"ok\":true,\"processes\":[";
    const std::size_t at = line.find(kProcesses);
    std::string_view tail = line;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
    if (at != std::string::npos && at < 64 && tail.ends_with("]}")) {
      // The array and the line's own newline: "[...]\n" (the closing brace
      // of the object is written over by that newline).
      const std::size_t begin = at + kProcesses.size() - 1;
      const std::size_t end = tail.size() - 1;  // the array's "]" is at end - 1
      line.resize(end);
      line.push_back('\n');
      return respond_part(x, MHD_HTTP_OK, std::move(line), begin, end + 1 - begin,
                          "application/json");
    }
  }
  json reply = json::parse(line, nullptr, false);
  if (!reply.is_object()) {
    return respond_error(x, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "bad reply");
  }
  if (reply.value("ok", false) != true) {
    // {"error": {"code", "message"}, ...} -> {"error": CODE, "message", ...}
    std::string code = "internal";
    std::string message;
    if (auto e = reply.find("error"); e != reply.end() && e->is_object()) {
      if (auto c = e->find("code"); c != e->end() && c->is_string()) code = c->get<std::string>();
      if (auto m = e->find("message"); m != e->end() && m->is_string()) {
        message = m->get<std::string>();
      }
    }
    json body = reply;
    body.erase("id");
    body.erase("ok");
    body["error"] = code;
    body["message"] = message;
    return respond(x, status_for(code),
                   body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                   "application/json");
  }
  reply.erase("id");
  reply.erase("ok");
  if (!stream_route) {
    std::string body;
    if (kind == RouteKind::Programs || kind == RouteKind::Program) {
      body = reply["processes"].dump(-1, ' ', false, json::error_handler_t::replace);
    } else if (kind == RouteKind::Log) {
      return respond(x, MHD_HTTP_OK, reply.value("data", std::string()),
                     "text/plain; charset=utf-8");
    } else {
      body = reply.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    body.push_back('\n');
    return respond(x, MHD_HTTP_OK, std::move(body), "application/json");
  }
  // A stream: the first reply opens it, the rest are fed to it.
  const MHD_Result result =
      start_stream(x, kind == RouteKind::Events ? "text/event-stream; charset=utf-8"
                                                : "text/plain; charset=utf-8");
  if (kind == RouteKind::Events) {
    x.stream_buffer = "retry: 2000\n\n" + prelude;
  } else {
    x.stream_buffer = reply.value("data", std::string());
  }
  // Lines that came with the first one (replayed events).
  while (!x.lines.empty()) {
    std::string next = std::move(x.lines.front());
    x.lines.pop_front();
    feed(x, std::move(next));
  }
  return result;
}

void Server::Impl::feed(Exchange& x, std::string&& line) {
  if (x.peer_gone) return;
  // A stream: each later line is a chunk of it.
  json message = json::parse(line, nullptr, false);
  if (!message.is_object()) return;
  if (x.route.kind == RouteKind::Log) {
    if (auto data = message.find("data"); data != message.end() && data->is_string()) {
      append_stream(x, data->get_ref<const std::string&>());
    }
    return;
  }
  const std::string event = message.value("event", std::string());
  if (event == "gap" || event == "processes_changed") {
    // The history lost events this client has not seen, or processes were
    // added or removed (an update, a rolling restart): it must reload.
    append_stream(x, sse_event("", "reset", "{}"));
    return;
  }
  if (event != "state") return;
  message.erase("id");
  message.erase("ok");
  const std::uint64_t seq = message.value("seq", std::uint64_t{0});
  append_stream(x, sse_event(event_id(instance, seq), "state",
                             message.dump(-1, ' ', false, json::error_handler_t::replace)));
}

}  // namespace minisup::http
