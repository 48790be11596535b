// Daemon: minisupd's wiring. It owns the event loop, the signal handling,
// the control socket and the real System and Timers, and hands every event
// to the Runtime (runtime.h), which decides nothing itself but carries out
// what the core decides.
#pragma once

#include <sys/resource.h>

#include <memory>

#include "supervisor/config/program_config.h"
#include "supervisor/control/control_server.h"
#include "supervisor/daemon/real_probes.h"
#include "supervisor/daemon/real_system.h"
#include "supervisor/daemon/runtime.h"
#include "supervisor/daemon/sd_notify.h"
#include "supervisor/http/server.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/loop/event_loop.h"

namespace minisup::daemon {

class Daemon {
 public:
  using ClientId = Clients::ClientId;

  /// Sets up the loop, the signal handling and the control socket for
  /// `config`. Nothing is started yet. Throws control::SocketInUseError when
  /// another minisupd serves the socket, sys::SysError (or another
  /// std::exception) for other set-up failures. `command_line` (`--socket`,
  /// `--run`) was applied to `config` already; configs loaded again (reload)
  /// get it too.
  explicit Daemon(config::Config config, CommandLine command_line = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Writes the pidfile (when configured), starts the autostart programs in
  /// priority order and serves until a graceful shutdown has completed.
  /// Returns minisupd's exit code (0 after a clean shutdown).
  int run();

 private:
  /// The control server and the HTTP listener as the Runtime's Clients
  /// (HTTP clients have ids from http::Server::kFirstClient on).
  class ServerClients final : public Clients {
   public:
    void send(ClientId client, std::string&& line) override;
    bool send_part(ClientId client, std::string_view bytes) override;
    bool connected(ClientId client) const override;
    void close_after_flush(ClientId client) override;
    void hold_until_exit(ClientId client) override;
    control::ControlServer* server = nullptr;
    http::Server* http = nullptr;
  };

  void on_signal(const signalfd_siginfo& info);
  /// sd_notify: looks at the states on the next loop round (at most once a
  /// round, however many states changed).
  void schedule_notify();
  /// sd_notify: sends what changed (READY=1, STOPPING=1, STATUS=).
  void notify_now();

  config::Config config_;          ///< until run(): the Runtime then holds it
  std::string trees_description_;  ///< "process trees: ...", logged at start
  loop::EventLoop loop_;
  std::shared_ptr<logging::ConsoleWriter> console_;
  std::unique_ptr<RealSystem> system_;
  std::unique_ptr<LoopTimers> timers_;
  /// Readiness and health probes, notify sockets (for the Runtime; declared
  /// before it, so it goes after the Runtime that uses it).
  std::unique_ptr<RealProbes> probes_;
  ServerClients clients_;
  std::unique_ptr<control::ControlServer> server_;
  std::unique_ptr<Runtime> runtime_;
  /// `[http]`: the dashboard, API and metrics listener; null when not configured.
  std::unique_ptr<http::Server> http_;
  bool pidfile_written_ = false;
  std::optional<NotifySocket> notify_;  ///< NOTIFY_SOCKET, when set
  NotifyState notified_;                ///< what notify_ was told so far
  Timers::TimerId notify_timer_ = 0;    ///< schedule_notify()'s, 0 when none
  bool notify_failed_ = false;          ///< a send failed (logged once)
};

}  // namespace minisup::daemon
