// See server.h; what a request means is in api.cc. The order of one
// request:
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
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "supervisor/control/unix_address.h"
#include "supervisor/http/server_impl.h"
#include "supervisor/sys/listen_socket.h"

namespace minisup::http {

namespace {

constexpr int kListenBacklog = 128;

}  // namespace

void Mhd::load() {
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
  MINISUP_MHD_BIND(MHD_create_response_from_buffer_with_free_callback_cls)
  MINISUP_MHD_BIND(MHD_add_response_header)
  MINISUP_MHD_BIND(MHD_queue_response)
  MINISUP_MHD_BIND(MHD_destroy_response)
  MINISUP_MHD_BIND(MHD_suspend_connection)
  MINISUP_MHD_BIND(MHD_resume_connection)
#undef MINISUP_MHD_BIND
}

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
                                 const char* content_type, const Headers& headers) {
  const std::size_t length = body.size();
  return respond_part(x, status, std::move(body), 0, length, content_type, headers);
}

MHD_Result Server::Impl::respond_part(Exchange& x, unsigned status, std::string text,
                                      std::size_t offset, std::size_t length,
                                      const char* content_type, const Headers& headers) {
  x.phase = Exchange::Phase::Answered;
  x.status = status;
  if (x.method == "HEAD" || offset > text.size()) length = 0;
  length = std::min(length, text.size() - std::min(offset, text.size()));
  // The response points into the text, which it owns until it is sent: a
  // status of 1,000 processes (0.5 MB) is not copied again (each copy of
  // fresh memory costs its page faults).
  auto* owned = new std::string(std::move(text));
  MHD_Response* response = mhd.MHD_create_response_from_buffer_with_free_callback_cls(
      length, length == 0 ? nullptr : owned->data() + offset,
      [](void* cls) { delete static_cast<std::string*>(cls); }, owned);
  if (response == nullptr) {
    delete owned;
    return MHD_NO;
  }
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

MHD_Result Server::Impl::respond_error(Exchange& x, unsigned status, std::string_view code,
                                       std::string_view message, const Headers& headers) {
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
