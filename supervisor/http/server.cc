// See server.h. The order of one request:
//   MHD accepts -> uri_log(): an Exchange for the raw target
//   -> access() first call: target, Host, Origin, route, credentials
//   -> access() with body chunks (POST): collected, capped
//   -> access() last call: answered at once (dashboard, info, login, ...)
//      or dispatched as a control request; its connection is suspended
//      until the reply line arrives (send()), then resumed and answered
//   -> completed(): logged, the dispatcher told, the Exchange freed.
#include "supervisor/http/server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>

#include "supervisor/config/sha256.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/unix_address.h"
#include "supervisor/http/dashboard_page.h"
#include "supervisor/http/request.h"
#include "supervisor/sys/listen_socket.h"
#include "supervisor/sys/socket.h"
#include "supervisor/version.h"

namespace minisup::http {

namespace {

using nlohmann::json;

constexpr std::string_view kSessionCookie = "minisup_session";
constexpr auto kSessionLifetime = std::chrono::hours(12);
constexpr std::size_t kMaxSessions = 256;
constexpr int kListenBacklog = 128;

/// libmicrohttpd's functions, from dlopen(): see server.h for why.
struct Mhd {
  void* handle = nullptr;
#define MINISUP_MHD_FN(name) decltype(&::name) name = nullptr;
  MINISUP_MHD_FN(MHD_start_daemon)
  MINISUP_MHD_FN(MHD_stop_daemon)
  MINISUP_MHD_FN(MHD_run)
  MINISUP_MHD_FN(MHD_get_timeout)
  MINISUP_MHD_FN(MHD_get_daemon_info)
  MINISUP_MHD_FN(MHD_get_connection_info)
  MINISUP_MHD_FN(MHD_lookup_connection_value)
  MINISUP_MHD_FN(MHD_create_response_from_buffer)
  MINISUP_MHD_FN(MHD_create_response_from_callback)
  MINISUP_MHD_FN(MHD_add_response_header)
  MINISUP_MHD_FN(MHD_queue_response)
  MINISUP_MHD_FN(MHD_destroy_response)
  MINISUP_MHD_FN(MHD_suspend_connection)
  MINISUP_MHD_FN(MHD_resume_connection)
#undef MINISUP_MHD_FN

  /// Loads the library; throws naming what is missing.
  void load() {
    handle = ::dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      throw std::runtime_error(fmt::format(
          "[http] needs libmicrohttpd (Debian package libmicrohttpd12): {}", ::dlerror()));
    }
    auto bind = [this](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
      if (fn == nullptr) throw std::runtime_error(fmt::format("libmicrohttpd has no {}", name));
    };
#define MINISUP_MHD_BIND(name) bind(name, #name);
    MINISUP_MHD_BIND(MHD_start_daemon)
    MINISUP_MHD_BIND(MHD_stop_daemon)
    MINISUP_MHD_BIND(MHD_run)
    MINISUP_MHD_BIND(MHD_get_timeout)
    MINISUP_MHD_BIND(MHD_get_daemon_info)
    MINISUP_MHD_BIND(MHD_get_connection_info)
    MINISUP_MHD_BIND(MHD_lookup_connection_value)
    MINISUP_MHD_BIND(MHD_create_response_from_buffer)
    MINISUP_MHD_BIND(MHD_create_response_from_callback)
    MINISUP_MHD_BIND(MHD_add_response_header)
    MINISUP_MHD_BIND(MHD_queue_response)
    MINISUP_MHD_BIND(MHD_destroy_response)
    MINISUP_MHD_BIND(MHD_suspend_connection)
    MINISUP_MHD_BIND(MHD_resume_connection)
#undef MINISUP_MHD_BIND
  }
};

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

/// One HTTP request, from its target to its end.
struct Exchange {
  enum class Phase {
    Headers,     ///< access() not called yet
    Body,        ///< collecting a POST body
    Dispatched,  ///< waiting for the reply line (suspended)
    Answered,    ///< a response was queued
  };
  Server::Impl* server = nullptr;
  MHD_Connection* connection = nullptr;
  Server::ClientId id = 0;
  std::string raw_target;
  Target target;
  Route route;
  Phase phase = Phase::Headers;
  std::string method;
  std::string body;
  bool body_too_large = false;
  std::string user;  ///< who: "token", a username, "unix", "-" (for the log)
  bool can_control = false;
  bool signed_in = false;
  std::string peer;
  unsigned status = 0;  ///< the status sent (for the log)
  bool suspended = false;
  /// Reply lines not yet turned into the response (Dispatched).
  std::deque<std::string> lines;
  // Streams (events, a followed log).
  bool streaming = false;
  bool stream_closed = false;  ///< no more data: end after what is buffered
  bool peer_gone = false;      ///< the peer hung up while suspended
  std::string stream_buffer;
  std::size_t stream_sent = 0;
  bool watching_fd = false;
  int fd = -1;
  bool dispatched = false;   ///< the dispatcher knows this client
  bool reset_first = false;  ///< events: a reset event opens the stream
};

struct Server::Impl {
  loop::EventLoop& loop;
  const config::HttpConfig config;
  Handlers handlers;
  Limits limits;
  Mhd mhd;
  MHD_Daemon* daemon = nullptr;
  int epoll_fd = -1;
  sys::UniqueFd listen_fd;
  std::string unix_path;  ///< removed at exit
  loop::EventLoop::TimerId timer = 0;
  loop::EventLoop::TimerId run_soon = 0;  ///< schedule_run()'s, 0 when none
  ClientId next_id = kFirstClient;
  std::unordered_map<ClientId, Exchange*> exchanges;
  struct Session {
    std::string user;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Session> sessions;
  HostPolicy host_policy;
  std::string instance;  ///< SSE ids' prefix: this minisupd's start
  bool stopping = false;

  Impl(loop::EventLoop& l, const config::HttpConfig& c, Handlers h, Limits lim)
      : loop(l), config(c), handlers(std::move(h)), limits(lim) {}

  // ---- MHD glue ----
  void run();
  void reschedule();
  /// MHD_run() on the next loop round: a connection resumed outside
  /// MHD_run() is only served by the next MHD_run().
  void schedule_run();
  static void* uri_log(void* cls, const char* uri, MHD_Connection* connection);
  static MHD_Result access(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* version, const char* upload_data,
                           std::size_t* upload_data_size, void** req_cls);
  static void completed(void* cls, MHD_Connection* connection, void** req_cls,
                        MHD_RequestTerminationCode code);
  static ssize_t read_stream(void* cls, std::uint64_t pos, char* buf, std::size_t max);
  static void log_mhd(void* cls, const char* format, va_list args);

  // ---- one request ----
  MHD_Result on_headers(Exchange& x);
  MHD_Result on_complete(Exchange& x);
  void authenticate(Exchange& x);
  std::optional<std::string> header(const Exchange& x, const char* name) const;
  MHD_Result respond(Exchange& x, unsigned status, std::string body, const char* content_type,
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
  MHD_Result respond_error(Exchange& x, unsigned status, std::string_view code,
                           std::string_view message,
                           const std::vector<std::pair<std::string, std::string>>& headers = {});
  MHD_Result start_stream(Exchange& x, const char* content_type);
  MHD_Result answer_reply(Exchange& x);
  /// Hands `request` to the dispatcher; answers at once when the reply
  /// came back at once, else suspends until it does.
  MHD_Result dispatch(Exchange& x, json request);
  /// A line for a stream that is open.
  void feed(Exchange& x, std::string&& line);
  void suspend(Exchange& x);
  void resume(Exchange& x);
  void append_stream(Exchange& x, std::string_view data);
  void watch_peer(Exchange& x);
  void unwatch_peer(Exchange& x);
  std::string create_session(const std::string& user);
};

// ---------------------------------------------------------------------------
// MHD glue
// ---------------------------------------------------------------------------

void Server::Impl::run() {
  if (daemon == nullptr) return;
  mhd.MHD_run(daemon);
  reschedule();
}

void Server::Impl::schedule_run() {
  if (run_soon != 0 || daemon == nullptr) return;
  run_soon = loop.add_timer(loop::EventLoop::now(), [this] {
    run_soon = 0;
    run();
  });
}

void Server::Impl::reschedule() {
  if (timer != 0) {
    loop.cancel_timer(timer);
    timer = 0;
  }
  MHD_UNSIGNED_LONG_LONG ms = 0;
  // MHD_NO: nothing times out (no connection): no timer, no wakeup.
  if (mhd.MHD_get_timeout(daemon, &ms) != MHD_YES) return;
  timer = loop.add_timer(loop::EventLoop::now() + std::chrono::milliseconds(ms), [this] {
    timer = 0;
    run();
  });
}

void* Server::Impl::uri_log(void* cls, const char* uri, MHD_Connection* connection) {
  auto* self = static_cast<Impl*>(cls);
  auto* x = new Exchange;
  x->server = self;
  x->connection = connection;
  x->id = self->next_id++;
  x->raw_target = uri == nullptr ? "" : uri;
  self->exchanges.emplace(x->id, x);
  return x;
}

void Server::Impl::log_mhd(void* /*cls*/, const char* format, va_list args) {
  char text[512];
  std::vsnprintf(text, sizeof text, format, args);
  std::string_view message(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  spdlog::debug("http: {}", message);
}

MHD_Result Server::Impl::access(void* cls, MHD_Connection* /*connection*/, const char* /*url*/,
                                const char* method, const char* /*version*/,
                                const char* upload_data, std::size_t* upload_data_size,
                                void** req_cls) {
  auto* self = static_cast<Impl*>(cls);
  auto* x = static_cast<Exchange*>(*req_cls);
  if (x == nullptr) return MHD_NO;
  try {
    switch (x->phase) {
      case Exchange::Phase::Headers:
        x->method = method == nullptr ? "" : method;
        return self->on_headers(*x);
      case Exchange::Phase::Body:
        if (*upload_data_size != 0) {
          if (x->body.size() + *upload_data_size > kMaxBodyBytes) {
            x->body_too_large = true;
          } else {
            x->body.append(upload_data, *upload_data_size);
          }
          *upload_data_size = 0;
          return MHD_YES;
        }
        return self->on_complete(*x);
      case Exchange::Phase::Dispatched:
        return self->answer_reply(*x);
      case Exchange::Phase::Answered:
        return MHD_YES;
    }
  } catch (const std::exception& e) {
    spdlog::error("http: {} {}: {}", x->method, x->raw_target, e.what());
    return MHD_NO;
  }
  return MHD_NO;
}

void Server::Impl::completed(void* cls, MHD_Connection* /*connection*/, void** req_cls,
                             MHD_RequestTerminationCode code) {
  auto* self = static_cast<Impl*>(cls);
  auto* x = static_cast<Exchange*>(*req_cls);
  if (x == nullptr) return;
  *req_cls = nullptr;
  self->unwatch_peer(*x);
  if (!x->method.empty()) {
    const std::string who = x->route.changes() || x->route.kind == RouteKind::Login
                                ? fmt::format(" user {}", x->user)
                                : std::string();
    spdlog::info("http: {} {} {} from {}{}{}", x->method, x->raw_target.substr(0, 200), x->status,
                 x->peer, who,
                 code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
  }
  self->exchanges.erase(x->id);
  const ClientId id = x->id;
  const bool dispatched = x->dispatched;
  delete x;
  if (dispatched && !self->stopping && self->handlers.on_disconnect) {
    self->handlers.on_disconnect(id);
  }
}

ssize_t Server::Impl::read_stream(void* cls, std::uint64_t /*pos*/, char* buf, std::size_t max) {
  auto* x = static_cast<Exchange*>(cls);
  if (x->peer_gone) return MHD_CONTENT_READER_END_WITH_ERROR;
  const std::size_t pending = x->stream_buffer.size() - x->stream_sent;
  if (pending == 0) {
    if (x->stream_closed) return MHD_CONTENT_READER_END_OF_STREAM;
    // Nothing to send: suspended until append_stream() resumes it (a reader
    // that returns 0 without suspending makes MHD call it again at once).
    x->server->suspend(*x);
    return 0;
  }
  const std::size_t n = std::min(pending, max);
  std::memcpy(buf, x->stream_buffer.data() + x->stream_sent, n);
  x->stream_sent += n;
  if (x->stream_sent == x->stream_buffer.size()) {
    x->stream_buffer.clear();
    x->stream_sent = 0;
  }
  return static_cast<ssize_t>(n);
}

void Server::Impl::suspend(Exchange& x) {
  if (x.suspended) return;
  mhd.MHD_suspend_connection(x.connection);
  x.suspended = true;
  watch_peer(x);
}

void Server::Impl::resume(Exchange& x) {
  if (!x.suspended) return;
  unwatch_peer(x);
  x.suspended = false;
  mhd.MHD_resume_connection(x.connection);
  schedule_run();
}

/// While suspended, MHD does not see the peer hang up: minisupd watches the
/// connection's descriptor for that itself (EPOLLRDHUP), so a stream whose
/// reader left is ended at once, not at the next event.
void Server::Impl::watch_peer(Exchange& x) {
  if (x.watching_fd || x.peer_gone) return;
  const auto* info = mhd.MHD_get_connection_info(x.connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  x.fd = info->connect_fd;
  try {
    loop.add_fd(x.fd, EPOLLRDHUP, [this, id = x.id](std::uint32_t) {
      auto it = exchanges.find(id);
      if (it == exchanges.end()) return;
      Exchange& gone = *it->second;
      gone.peer_gone = true;
      resume(gone);
    });
    x.watching_fd = true;
  } catch (const std::exception&) {
    // Not watched: the stream then ends when a write to it fails.
  }
}

void Server::Impl::unwatch_peer(Exchange& x) {
  if (!x.watching_fd) return;
  loop.remove_fd(x.fd);
  x.watching_fd = false;
}

// ---------------------------------------------------------------------------
// One request
// ---------------------------------------------------------------------------

std::optional<std::string> Server::Impl::header(const Exchange& x, const char* name) const {
  const char* value = mhd.MHD_lookup_connection_value(x.connection, MHD_HEADER_KIND, name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

MHD_Result Server::Impl::respond(Exchange& x, unsigned status, std::string body,
                                 const char* content_type,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  x.phase = Exchange::Phase::Answered;
  x.status = status;
  if (x.method == "HEAD") body.clear();
  MHD_Response* response =
      mhd.MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  mhd.MHD_add_response_header(response, "Content-Type", content_type);
  mhd.MHD_add_response_header(response, "Cache-Control", "no-store");
  mhd.MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : headers) {
    mhd.MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  const MHD_Result result = mhd.MHD_queue_response(x.connection, status, response);
  mhd.MHD_destroy_response(response);
  return result;
}

MHD_Result Server::Impl::respond_error(
    Exchange& x, unsigned status, std::string_view code, std::string_view message,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  return respond(x, status, error_body(code, message) + "\n", "application/json", headers);
}

MHD_Result Server::Impl::start_stream(Exchange& x, const char* content_type) {
  x.phase = Exchange::Phase::Answered;
  x.status = MHD_HTTP_OK;
  x.streaming = true;
  MHD_Response* response =
      mhd.MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &read_stream, &x, nullptr);
  if (response == nullptr) return MHD_NO;
  mhd.MHD_add_response_header(response, "Content-Type", content_type);
  mhd.MHD_add_response_header(response, "Cache-Control", "no-store");
  mhd.MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  // Proxies (nginx) must pass each event on as it comes.
  mhd.MHD_add_response_header(response, "X-Accel-Buffering", "no");
  const MHD_Result result = mhd.MHD_queue_response(x.connection, MHD_HTTP_OK, response);
  mhd.MHD_destroy_response(response);
  return result;
}

void Server::Impl::append_stream(Exchange& x, std::string_view data) {
  if (x.stream_buffer.size() - x.stream_sent + data.size() > limits.stream_buffer) {
    // A reader that does not keep up is dropped; nobody else waits for it.
    spdlog::warn("http: {} {} from {}: the client reads too slowly ({} bytes unsent); dropped",
                 x.method, x.raw_target.substr(0, 200), x.peer,
                 x.stream_buffer.size() - x.stream_sent);
    x.peer_gone = true;
    resume(x);
    return;
  }
  x.stream_buffer.append(data);
  resume(x);
}

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
      const std::size_t begin = at + kProcesses.size() - 1;
      std::string body = line.substr(begin, tail.size() - 1 - begin);
      body.push_back('\n');
      return respond(x, MHD_HTTP_OK, std::move(body), "application/json");
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

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

Server::Server(loop::EventLoop& loop, const config::HttpConfig& config, mode_t unix_mode,
               Handlers handlers, Limits limits)
    : impl_(std::make_unique<Impl>(loop, config, std::move(handlers), limits)) {
  Impl& s = *impl_;
  s.mhd.load();
  s.host_policy = HostPolicy{config.address, config.port, config.hosts};
  s.instance = fmt::format("{:x}{:x}", static_cast<unsigned>(::getpid()),
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  sys::ListenResult bound;
  if (config.is_unix) {
    std::error_code ignored;
    // A socket file left by a minisupd that died: replaced (the control
    // socket, bound before, already proved no minisupd serves this config).
    if (std::filesystem::is_socket(config.path, ignored))
      std::filesystem::remove(config.path, ignored);
    control::UnixAddress address = control::make_unix_address(config.path);
    bound = sys::listen_unix(address.get(), address.length, config.path, unix_mode, std::nullopt,
                             std::nullopt, kListenBacklog);
    if (bound.error == 0) s.unix_path = config.path;
  } else {
    auto address = sys::parse_ip_address(config.address, config.port);
    if (!address)
      throw std::runtime_error(fmt::format("[http] listen {}: bad address", config.listen));
    bound = sys::listen_tcp(*address, kListenBacklog);
  }
  if (bound.error != 0) {
    throw std::runtime_error(fmt::format("[http] listen {}: {}: {}", config.listen, bound.call,
                                         std::strerror(bound.error)));
  }
  s.listen_fd = std::move(bound.fd);
  ::fcntl(s.listen_fd.get(), F_SETFL, ::fcntl(s.listen_fd.get(), F_GETFL) | O_NONBLOCK);
  s.daemon = s.mhd.MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
      &Impl::access, &s, MHD_OPTION_LISTEN_SOCKET, s.listen_fd.get(), MHD_OPTION_URI_LOG_CALLBACK,
      &Impl::uri_log, &s, MHD_OPTION_NOTIFY_COMPLETED, &Impl::completed, &s,
      MHD_OPTION_CONNECTION_LIMIT, limits.connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      limits.memory, MHD_OPTION_CONNECTION_TIMEOUT, limits.idle_timeout_s,
      MHD_OPTION_EXTERNAL_LOGGER, &Impl::log_mhd, &s, MHD_OPTION_END);
  if (s.daemon == nullptr) {
    throw std::runtime_error(
        fmt::format("[http] listen {}: libmicrohttpd would not start", config.listen));
  }
  const auto* info = s.mhd.MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_EPOLL_FD);
  if (info == nullptr) throw std::runtime_error("[http]: libmicrohttpd has no epoll descriptor");
  s.epoll_fd = info->epoll_fd;
  loop.add_fd(s.epoll_fd, EPOLLIN, [&s](std::uint32_t) { s.run(); });
  s.reschedule();
}

Server::~Server() {
  Impl& s = *impl_;
  s.stopping = true;
  if (s.timer != 0) s.loop.cancel_timer(s.timer);
  if (s.run_soon != 0) s.loop.cancel_timer(s.run_soon);
  if (s.daemon != nullptr) {
    // MHD_stop_daemon must not meet a suspended connection: each ends.
    for (auto& [id, x] : s.exchanges) {
      x->peer_gone = true;
      s.unwatch_peer(*x);
      if (x->suspended) {
        x->suspended = false;
        s.mhd.MHD_resume_connection(x->connection);
      }
    }
    s.loop.remove_fd(s.epoll_fd);
    s.mhd.MHD_stop_daemon(s.daemon);
  }
  for (auto& [id, x] : s.exchanges) delete x;
  if (!s.unix_path.empty()) {
    std::error_code ignored;
    std::filesystem::remove(s.unix_path, ignored);
  }
  // The library stays loaded: MHD may have left atexit work behind.
}

std::string Server::address_text() const {
  const auto& c = impl_->config;
  if (c.is_unix) return "unix:" + c.path;
  return c.ipv6 ? fmt::format("http://[{}]:{}", c.address, c.port)
                : fmt::format("http://{}:{}", c.address, c.port);
}

void Server::send(ClientId client, std::string&& line) {
  Impl& s = *impl_;
  auto it = s.exchanges.find(client);
  if (it == s.exchanges.end()) return;
  Exchange& x = *it->second;
  if (!x.streaming) {
    x.lines.push_back(std::move(line));
    s.resume(x);
    return;
  }
  s.feed(x, std::move(line));
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
  if (event == "gap") {
    // The history lost events this client has not seen: it must reload.
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

bool Server::connected(ClientId client) const {
  auto it = impl_->exchanges.find(client);
  return it != impl_->exchanges.end() && !it->second->peer_gone;
}

void Server::close_after_flush(ClientId client) {
  Impl& s = *impl_;
  auto it = s.exchanges.find(client);
  if (it == s.exchanges.end()) return;
  it->second->stream_closed = true;
  s.resume(*it->second);
}

}  // namespace minisup::http
