// sd_notify for minisupd itself: see sd_notify.h.
#include "supervisor/daemon/sd_notify.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <string.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "supervisor/core/process_state.h"

namespace minisup::daemon {

namespace {

std::string error_text(int err) {
  char buf[256];
  return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace

std::optional<NotifySocket> NotifySocket::take_from_environment(std::string* error) {
  const char* value = ::getenv("NOTIFY_SOCKET");
  const std::string address = value != nullptr ? value : "";
  // Taken out before any child is spawned: a child that found minisupd's
  // NOTIFY_SOCKET could tell systemd that minisupd is ready (or stopping).
  for (std::string_view name : kServiceManagerVariables) ::unsetenv(std::string(name).c_str());
  if (address.empty()) return std::nullopt;
  return open(address, error);
}

std::optional<NotifySocket> NotifySocket::open(std::string_view address, std::string* error) {
  NotifySocket notify;
  notify.address_ = std::string(address);
  notify.addr_.sun_family = AF_UNIX;
  if (address.size() >= sizeof(notify.addr_.sun_path) ||
      (address.front() != '/' && address.front() != '@')) {
    *error = fmt::format("NOTIFY_SOCKET={}: not an absolute path or @abstract name (or too long)",
                         address);
    return std::nullopt;
  }
  std::memcpy(notify.addr_.sun_path, address.data(), address.size());
  // An abstract address starts with a NUL byte and is exactly as long as
  // given; a path ends with one.
  if (address.front() == '@') notify.addr_.sun_path[0] = '\0';
  notify.addr_length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                               (address.front() == '@' ? 0 : 1));
  notify.fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (notify.fd_.get() < 0) {
    *error = fmt::format("NOTIFY_SOCKET: socket: {}", error_text(errno));
    return std::nullopt;
  }
  return notify;
}

bool NotifySocket::send(std::string_view message, std::string* error) {
  for (;;) {
    const ssize_t n = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&addr_), addr_length_);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    *error = fmt::format("send to NOTIFY_SOCKET {}: {}", address_, error_text(errno));
    return false;
  }
}

NotifyState notify_state(const core::Supervisor& supervisor) {
  using core::ProcessState;
  // Counted in the order the summary names them.
  constexpr std::array<ProcessState, 7> kOrder = {
      ProcessState::Running, ProcessState::Starting, ProcessState::Backoff, ProcessState::Stopping,
      ProcessState::Exited,  ProcessState::Fatal,    ProcessState::Stopped};
  std::array<std::size_t, 7> counts{};
  NotifyState state;
  state.ready = true;
  state.stopping = supervisor.shutting_down();
  for (const core::ManagedProcess* process : supervisor.processes()) {
    const ProcessState s = process->machine().state();
    for (std::size_t i = 0; i < kOrder.size(); ++i) {
      if (kOrder[i] == s) ++counts[i];
    }
    // STARTING, BACKOFF (it will try again) and STOPPING (a restart) are
    // still on their way.
    if (process->program_config().autostart &&
        (s == ProcessState::Starting || s == ProcessState::Backoff ||
         s == ProcessState::Stopping)) {
      state.ready = false;
    }
  }
  std::string summary;
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    if (counts[i] == 0) continue;
    std::string name(core::to_string(kOrder[i]));
    for (char& c : name) c = static_cast<char>(::tolower(static_cast<unsigned char>(c)));
    summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", counts[i], name);
  }
  if (summary.empty()) summary = "no processes";
  state.status = state.stopping ? "shutting down: " + summary : summary;
  return state;
}

std::string notify_message(const NotifyState& now, NotifyState& sent) {
  std::string message;
  if (now.ready && !sent.ready) {
    message += "READY=1\n";
    sent.ready = true;
  }
  if (now.stopping && !sent.stopping) {
    message += "STOPPING=1\n";
    sent.stopping = true;
  }
  if (now.status != sent.status) {
    message += "STATUS=" + now.status + "\n";
    sent.status = now.status;
  }
  return message;
}

}  // namespace minisup::daemon
