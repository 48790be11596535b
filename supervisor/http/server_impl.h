// Internal to http/: the state of the HTTP listener shared by server.cc
// (libmicrohttpd glue: the loop, connections, responses, streams) and
// api.cc (what each request means: credentials, routes, control requests
// and how their replies become responses).
#pragma once

#include <microhttpd.h>

#include <chrono>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "supervisor/http/request.h"
#include "supervisor/http/server.h"
#include "supervisor/sys/socket.h"

namespace minisup::http {

using nlohmann::json;

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
  MINISUP_MHD_FN(MHD_create_response_from_buffer_with_free_callback_cls)
  MINISUP_MHD_FN(MHD_add_response_header)
  MINISUP_MHD_FN(MHD_queue_response)
  MINISUP_MHD_FN(MHD_destroy_response)
  MINISUP_MHD_FN(MHD_suspend_connection)
  MINISUP_MHD_FN(MHD_resume_connection)
#undef MINISUP_MHD_FN

  /// Loads the library; throws naming what is missing.
  void load();
};

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
  using Headers = std::vector<std::pair<std::string, std::string>>;
  /// Queues `body` as the response, without copying it.
  MHD_Result respond(Exchange& x, unsigned status, std::string body, const char* content_type,
                     const Headers& headers = {});
  /// Queues the part [offset, offset + length) of `text` as the response,
  /// without copying it (a status reply's array, sent as it is).
  MHD_Result respond_part(Exchange& x, unsigned status, std::string text, std::size_t offset,
                          std::size_t length, const char* content_type,
                          const Headers& headers = {});
  MHD_Result respond_error(Exchange& x, unsigned status, std::string_view code,
                           std::string_view message, const Headers& headers = {});
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

}  // namespace minisup::http
