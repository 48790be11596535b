// RealProbes: see real_probes.h.
#include "supervisor/daemon/real_probes.h"

#include <errno.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <exception>
#include <optional>
#include <string_view>
#include <utility>

#include "supervisor/config/signal_names.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/socket.h"
#include "supervisor/sys/spawn.h"
#include "supervisor/sys/sys_error.h"

namespace minisup::daemon {

namespace {

/// Datagrams read per wakeup of one notify socket (level-triggered: the
/// loop comes back for the rest), so a flood cannot starve the loop.
constexpr int kMaxDatagramsPerWakeup = 64;

/// "1.0", "0.5", "12.3": seconds for messages.
std::string seconds_text(std::chrono::nanoseconds duration) {
  return fmt::format("{:.1f}", std::chrono::duration<double>(duration).count());
}

/// True for 1, 10, 100, ...: which repeated drops are logged.
bool worth_logging(std::uint64_t count) {
  while (count >= 10 && count % 10 == 0) count /= 10;
  return count == 1;
}

/// Parses `HTTP/1.1 503 Service Unavailable`; returns the status code.
std::optional<int> parse_status_line(std::string_view line) {
  if (!line.starts_with("HTTP/")) return std::nullopt;
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return std::nullopt;
  int code = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    const char c = line[i];
    if (c < '0' || c > '9') return std::nullopt;
    code = code * 10 + (c - '0');
  }
  if (line.size() > space + 4 && line[space + 4] != ' ' && line[space + 4] != '\r') {
    return std::nullopt;
  }
  return code;
}

/// The text of one STATUS= value: at most `max` bytes (not splitting a
/// UTF-8 sequence), control characters replaced by spaces.
std::string status_text(std::string_view value, std::size_t max) {
  if (value.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value = value.substr(0, cut);
  }
  std::string text(value);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

}  // namespace

struct RealProbes::Attempt {
  enum class Phase { Connecting, Sending, Reading, Running, Finishing };

  AttemptId id = 0;
  config::Probe probe;
  std::function<void(Result)> done;
  std::chrono::nanoseconds bound{};
  loop::EventLoop::TimerId bound_timer = 0;
  loop::EventLoop::TimerId finish_timer = 0;  ///< a zero-delay finish_later()
  Phase phase = Phase::Connecting;
  // tcp and http
  sys::UniqueFd socket;
  bool watched = false;  ///< the socket is registered with the loop
  std::string target;    ///< "127.0.0.1:5432"
  // http
  std::string url;
  std::string request;
  std::size_t sent = 0;
  std::string response;
  // exec
  pid_t pid = 0;  ///< the child, while unreaped
  sys::UniqueFd pidfd;
};

struct RealProbes::Notify {
  NotifyId id = 0;
  std::string name;  ///< "@minisup-..."
  sys::UniqueFd socket;
  uid_t uid = 0;
  std::function<void(const NotifyMessage&)> on_message;
  std::uint64_t dropped = 0;
};

RealProbes::RealProbes(loop::EventLoop& loop) : loop_(loop) {}

RealProbes::~RealProbes() {
  for (auto& [id, attempt] : attempts_) {
    close_socket(*attempt);
    loop_.cancel_timer(attempt->bound_timer);
    loop_.cancel_timer(attempt->finish_timer);
    if (attempt->pid > 0) kill_child(*attempt);
  }
  for (auto& [id, notify] : notifies_) {
    try {
      loop_.remove_fd(notify->socket.get());
    } catch (...) {
    }
  }
}

// ---------------------------------------------------------------------------
// Attempts

Probes::AttemptId RealProbes::attempt(const config::Probe& probe, const SpawnPlan& plan,
                                      std::chrono::nanoseconds bound,
                                      std::function<void(Result)> done) {
  const AttemptId id = next_attempt_++;
  auto owned = std::make_unique<Attempt>();
  Attempt& attempt = *owned;
  attempt.id = id;
  attempt.probe = probe;
  attempt.done = std::move(done);
  attempt.bound = bound;
  attempts_.emplace(id, std::move(owned));
  attempt.bound_timer =
      loop_.add_timer(loop::EventLoop::now() + bound, [this, id] { on_bound(id); });
  switch (probe.kind) {
    case config::Probe::Kind::Tcp:
    case config::Probe::Kind::Http:
      start_connect(attempt);
      break;
    case config::Probe::Kind::Exec:
      start_exec(attempt, plan);
      break;
    case config::Probe::Kind::Log:
    case config::Probe::Kind::Notify:
      // Not attempts: the runtime watches lines and notify messages itself.
      finish_later(attempt, {false, "a log or notify probe has no attempts"});
      break;
  }
  return id;
}

void RealProbes::start_connect(Attempt& attempt) {
  const config::Probe& probe = attempt.probe;
  const std::string& address = probe.address.empty() ? probe.host : probe.address;
  attempt.target = sys::format_host_port(address, probe.port);
  if (probe.kind == config::Probe::Kind::Http) {
    const std::string host =
        sys::format_host_port(probe.host.empty() ? address : probe.host, probe.port);
    const std::string path = probe.path.empty() ? "/" : probe.path;
    attempt.url = probe.url.empty() ? "http://" + host + path : probe.url;
    attempt.request = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                      "\r\nConnection: close\r\nUser-Agent: minisup\r\n\r\n";
  }
  auto parsed = sys::parse_ip_address(address, probe.port);
  if (!parsed) {
    finish_later(attempt, {false, "connect " + attempt.target + ": not a numeric address"});
    return;
  }
  sys::ConnectStart start = sys::start_connect(*parsed);
  if (start.error != 0 && start.error != EINPROGRESS) {
    std::string what = std::string_view(start.call) == "socket" ? "socket" : "connect";
    finish_later(attempt,
                 {false, what + " " + attempt.target + ": " + sys::error_text(start.error)});
    return;
  }
  // Connected at once (possible on loopback) or in progress: either way the
  // socket becomes writable, and SO_ERROR then says how it went.
  attempt.socket = std::move(start.fd);
  const AttemptId id = attempt.id;
  try {
    loop_.add_fd(attempt.socket.get(), EPOLLOUT,
                 [this, id](std::uint32_t events) { on_socket_ready(id, events); });
    attempt.watched = true;
  } catch (const std::exception& e) {
    finish_later(attempt, {false, "connect " + attempt.target + ": " + e.what()});
  }
}

void RealProbes::on_socket_ready(AttemptId id, std::uint32_t /*events*/) {
  auto found = attempts_.find(id);
  if (found == attempts_.end()) return;
  Attempt& attempt = *found->second;
  switch (attempt.phase) {
    case Attempt::Phase::Connecting: {
      const int error = sys::connect_result(attempt.socket.get());
      if (error != 0) {
        finish(id, {false, "connect " + attempt.target + ": " + sys::error_text(error)});
        return;
      }
      if (attempt.probe.kind == config::Probe::Kind::Tcp) {
        finish(id, {true, {}});
        return;
      }
      attempt.phase = Attempt::Phase::Sending;
      send_request(attempt);
      return;
    }
    case Attempt::Phase::Sending:
      send_request(attempt);
      return;
    case Attempt::Phase::Reading:
      read_response(attempt);
      return;
    case Attempt::Phase::Running:
    case Attempt::Phase::Finishing:
      return;
  }
}

void RealProbes::send_request(Attempt& attempt) {
  const long n =
      sys::send_some(attempt.socket.get(), std::string_view(attempt.request).substr(attempt.sent));
  if (n == -EAGAIN) return;  // still EPOLLOUT
  if (n < 0) {
    finish(attempt.id,
           {false, "GET " + attempt.url + ": send: " + sys::error_text(static_cast<int>(-n))});
    return;
  }
  attempt.sent += static_cast<std::size_t>(n);
  if (attempt.sent < attempt.request.size()) return;
  attempt.phase = Attempt::Phase::Reading;
  try {
    loop_.modify_fd(attempt.socket.get(), EPOLLIN);
  } catch (const std::exception& e) {
    finish(attempt.id, {false, "GET " + attempt.url + ": " + e.what()});
  }
}

void RealProbes::read_response(Attempt& attempt) {
  const AttemptId id = attempt.id;
  const std::string failed = "GET " + attempt.url + ": ";
  std::array<char, kMaxResponse> buffer;
  const std::size_t room = kMaxResponse - attempt.response.size();
  const long n = sys::recv_some(attempt.socket.get(), buffer.data(), room);
  if (n == -EAGAIN) return;
  if (n < 0) {
    finish(id, {false, failed + "read: " + sys::error_text(static_cast<int>(-n))});
    return;
  }
  attempt.response.append(buffer.data(), static_cast<std::size_t>(n));
  const std::size_t end = attempt.response.find('\n');
  if (end == std::string::npos) {
    if (n == 0) {
      finish(id, {false, failed + (attempt.response.empty()
                                       ? "connection closed without a response"
                                       : "connection closed within the status line")});
    } else if (attempt.response.size() >= kMaxResponse) {
      finish(id, {false, failed + "no status line in the first " + std::to_string(kMaxResponse) +
                             " bytes"});
    }
    return;
  }
  std::string_view line(attempt.response.data(), end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::optional<int> status = parse_status_line(line);
  if (!status) {
    finish(id, {false, failed + "not an HTTP response"});
    return;
  }
  if (*status >= 200 && *status < 300) {
    finish(id, {true, {}});
  } else {
    finish(id, {false, failed + "status " + std::to_string(*status)});
  }
}

void RealProbes::start_exec(Attempt& attempt, const SpawnPlan& plan) {
  const std::vector<std::string>& argv = attempt.probe.exec;
  if (argv.empty()) {
    finish_later(attempt, {false, "exec: no command"});
    return;
  }
  sys::SpawnRequest request;
  request.argv = argv;
  request.envp = plan.envp;
  // The program's held sockets are its processes', not its probes': no
  // LISTEN_* without the descriptors they describe.
  std::erase_if(request.envp, [](const std::string& entry) {
    return entry.starts_with("LISTEN_FDS=") || entry.starts_with("LISTEN_FDNAMES=") ||
           entry.starts_with("LISTEN_PID=");
  });
  request.directory = plan.directory;
  request.umask = plan.umask;
  request.rlimits = plan.rlimits;
  // A probe is disposable: should minisupd die, it goes at once (the
  // program's own stop signal, plan.death_signal, is meant for the program).
  request.death_signal = SIGKILL;
  if (plan.user) {
    auto user = sys::resolve_user(*plan.user);
    if (auto* error = std::get_if<std::string>(&user)) {
      finish_later(attempt, {false, *error});
      return;
    }
    request.user = std::get<sys::UserIds>(std::move(user));
    request.envp = child_environment(plan, *request.user);
  }
  // stdout_fd/stderr_fd stay -1: /dev/null. spawn_process gives the child a
  // process group of its own, so the bound can kill whatever it started.
  auto result = sys::spawn_process(request);
  if (auto* error = std::get_if<std::string>(&result)) {
    finish_later(attempt, {false, *error});
    return;
  }
  auto& child = std::get<sys::SpawnedChild>(result);
  attempt.phase = Attempt::Phase::Running;
  attempt.pid = child.pid;
  attempt.pidfd = std::move(child.pidfd);
  children_[child.pid] = attempt.id;
}

bool RealProbes::child_reaped(const sys::Reaped& reaped) {
  auto found = children_.find(reaped.pid);
  if (found == children_.end()) return false;
  const AttemptId id = found->second;
  children_.erase(found);
  // Group members the probe left behind (its leader has exited; the group
  // id cannot have been reused while members hold it) go too.
  kill_group(reaped.pid);
  auto attempt = attempts_.find(id);
  if (id == 0 || attempt == attempts_.end()) return true;  // ended already: swallowed
  Attempt& a = *attempt->second;
  a.pid = 0;
  a.pidfd.reset();
  const std::string& name = a.probe.exec.front();
  Result result;
  if (reaped.exit_code && *reaped.exit_code == 0) {
    result.ok = true;
  } else if (reaped.exit_code) {
    result.detail = fmt::format("exec {}: exited with status {}", name, *reaped.exit_code);
  } else {
    result.detail = fmt::format("exec {}: killed by {}", name,
                                config::signal_name(reaped.exit_signal.value_or(0)));
  }
  // Delivered from the loop, not inside the caller's reap loop.
  finish_later(a, std::move(result));
  return true;
}

void RealProbes::on_bound(AttemptId id) {
  auto found = attempts_.find(id);
  if (found == attempts_.end()) return;
  found->second->bound_timer = 0;
  finish(id, {false, "timed out after " + seconds_text(found->second->bound) + " s"});
}

std::unique_ptr<RealProbes::Attempt> RealProbes::release(AttemptId id) {
  auto found = attempts_.find(id);
  if (found == attempts_.end()) return nullptr;
  std::unique_ptr<Attempt> attempt = std::move(found->second);
  attempts_.erase(found);
  close_socket(*attempt);
  loop_.cancel_timer(attempt->bound_timer);
  loop_.cancel_timer(attempt->finish_timer);
  if (attempt->pid > 0) {
    kill_child(*attempt);
    children_[attempt->pid] = 0;  // its exit, when reaped, is swallowed
  }
  return attempt;
}

void RealProbes::cancel(AttemptId id) { release(id); }

void RealProbes::finish(AttemptId id, Result result) {
  std::unique_ptr<Attempt> attempt = release(id);
  if (!attempt) return;
  auto done = std::move(attempt->done);
  attempt.reset();
  if (done) done(std::move(result));
}

void RealProbes::finish_later(Attempt& attempt, Result result) {
  close_socket(attempt);
  loop_.cancel_timer(attempt.bound_timer);
  attempt.bound_timer = 0;
  attempt.phase = Attempt::Phase::Finishing;
  const AttemptId id = attempt.id;
  attempt.finish_timer = loop_.add_timer(
      loop::EventLoop::now(),
      [this, id, result = std::move(result)]() mutable { finish(id, std::move(result)); });
}

void RealProbes::close_socket(Attempt& attempt) noexcept {
  if (!attempt.socket) return;
  if (attempt.watched) {
    try {
      loop_.remove_fd(attempt.socket.get());
    } catch (...) {
    }
    attempt.watched = false;
  }
  attempt.socket.reset();
}

void RealProbes::kill_child(Attempt& attempt) noexcept {
  // The leader through its pidfd too: it may have left its group (setsid).
  if (attempt.pidfd) {
    try {
      sys::send_signal(attempt.pidfd.get(), SIGKILL);
    } catch (const std::exception& e) {
      spdlog::warn("probe {}: {}", attempt.probe.exec.front(), e.what());
    }
  }
  kill_group(attempt.pid);
}

void RealProbes::kill_group(pid_t pgid) noexcept {
  try {
    sys::signal_group(pgid, SIGKILL);
  } catch (const std::exception& e) {
    spdlog::warn("probe: {}", e.what());
  }
}

// ---------------------------------------------------------------------------
// Notify sockets

std::variant<std::pair<Probes::NotifyId, std::string>, std::string> RealProbes::open_notify(
    const std::optional<std::string>& user, std::function<void(const NotifyMessage&)> on_message) {
  // The program's user may send too (as the spawn does, resolved now).
  uid_t uid = ::getuid();
  if (user) {
    auto ids = sys::resolve_user(*user);
    if (auto* error = std::get_if<std::string>(&ids)) return "notify socket: " + *error;
    uid = std::get<sys::UserIds>(ids).uid;
  }
  // The name is ours alone unless another minisupd with the same pid (in
  // another pid namespace) shares our network namespace: then try the
  // next number.
  sys::ConnectStart bound;
  std::string name;
  for (int tries = 0; tries < 100; ++tries) {
    name = fmt::format("minisup-{}-{}", ::getpid(), next_notify_name_++);
    bound = sys::bind_abstract_datagram(name);
    if (bound.error != EADDRINUSE) break;
  }
  if (bound.error != 0) {
    return fmt::format("notify socket @{}: {}: {}", name, bound.call, sys::error_text(bound.error));
  }
  auto notify = std::make_shared<Notify>();
  notify->id = next_notify_++;
  notify->name = "@" + name;
  notify->socket = std::move(bound.fd);
  notify->uid = uid;
  notify->on_message = std::move(on_message);
  const NotifyId id = notify->id;
  try {
    loop_.add_fd(notify->socket.get(), EPOLLIN,
                 [this, id](std::uint32_t) { on_notify_readable(id); });
  } catch (const std::exception& e) {
    return fmt::format("notify socket {}: {}", notify->name, e.what());
  }
  notifies_.emplace(id, notify);
  return std::pair<NotifyId, std::string>(id, notify->name);
}

void RealProbes::close_notify(NotifyId id) {
  auto found = notifies_.find(id);
  if (found == notifies_.end()) return;
  try {
    loop_.remove_fd(found->second->socket.get());
  } catch (...) {
  }
  found->second->socket.reset();
  notifies_.erase(found);
}

void RealProbes::on_notify_readable(NotifyId id) {
  std::array<char, kMaxDatagram> buffer;
  const uid_t own_uid = ::getuid();
  for (int i = 0; i < kMaxDatagramsPerWakeup; ++i) {
    auto found = notifies_.find(id);
    if (found == notifies_.end()) return;  // closed by a callback
    std::shared_ptr<Notify> notify = found->second;
    sys::Datagram datagram;
    const int error =
        sys::recv_datagram(notify->socket.get(), buffer.data(), buffer.size(), datagram);
    if (error == EAGAIN) return;
    if (error != 0) {
      spdlog::warn("notify socket {}: recvmsg: {}", notify->name, sys::error_text(error));
      return;
    }
    if (!datagram.has_credentials ||
        (datagram.uid != 0 && datagram.uid != own_uid && datagram.uid != notify->uid)) {
      ++notify->dropped;
      if (worth_logging(notify->dropped)) {
        spdlog::warn(
            "notify socket {}: ignored a message from pid {} (uid {}): only root, uid {} and "
            "uid {} may send ({} ignored so far)",
            notify->name, datagram.pid, datagram.uid, own_uid, notify->uid, notify->dropped);
      }
      continue;
    }
    if (datagram.truncated) {
      spdlog::debug("notify socket {}: ignored a message longer than {} bytes from pid {}",
                    notify->name, kMaxDatagram, datagram.pid);
      continue;
    }
    NotifyMessage message;
    std::string_view rest(buffer.data(), datagram.size);
    while (!rest.empty()) {
      const std::size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      if (line == "READY=1") {
        message.ready = true;
      } else if (line.starts_with("STATUS=")) {
        message.status = status_text(line.substr(7), kMaxStatus);
      }
    }
    if (notify->on_message) notify->on_message(message);
  }
}

}  // namespace minisup::daemon
