// Daemon: see daemon.h.
#include "supervisor/daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "supervisor/config/load_config.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/daemon/metrics.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/logging/daemon_log.h"
#include "supervisor/sys/signals.h"
#include "supervisor/sys/spawn.h"
#include "supervisor/version.h"

namespace minisup::daemon {

namespace {

/// How long minisupd waits, at exit, for leftover group members it sent
/// SIGKILL to (they die at once; this only bounds a kernel that is slow).
constexpr auto kLeftoverReapTimeout = std::chrono::seconds(2);

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

}  // namespace

void Daemon::ServerClients::send(ClientId client, std::string&& line) {
  if (client >= http::Server::kFirstClient) {
    if (http != nullptr) http->send(client, std::move(line));
    return;
  }
  server->send(client, std::move(line));
}
bool Daemon::ServerClients::send_part(ClientId client, std::string_view bytes) {
  // An HTTP reply states its length first: it goes out whole.
  if (client >= http::Server::kFirstClient) return false;
  server->send_part(client, bytes);
  return true;
}
bool Daemon::ServerClients::connected(ClientId client) const {
  if (client >= http::Server::kFirstClient) return http != nullptr && http->connected(client);
  return server->connected(client);
}
void Daemon::ServerClients::close_after_flush(ClientId client) {
  if (client >= http::Server::kFirstClient) {
    if (http != nullptr) http->close_after_flush(client);
    return;
  }
  server->close_after_flush(client);
}
void Daemon::ServerClients::hold_until_exit(ClientId client) {
  // HTTP offers no shutdown: only control socket clients wait for the exit.
  if (client < http::Server::kFirstClient) server->hold_until_exit(client);
}

Daemon::Daemon(config::Config config, CommandLine command_line) : config_(std::move(config)) {
  logging::setup_daemon_log(config_.supervisor.logfile, config_.supervisor.loglevel);
  for (const auto& warning : config_.warnings) spdlog::warn("config: {}", warning);
  // Taken (and removed from our environment) before any child exists.
  std::string notify_error;
  notify_ = NotifySocket::take_from_environment(&notify_error);
  if (!notify_error.empty()) spdlog::warn("sd_notify: {}", notify_error);
  if (notify_) spdlog::debug("sd_notify: NOTIFY_SOCKET {}", notify_->address());

  // A closed pipe or an over-large file must become an error return, not
  // minisupd's death (doc/pitfalls.md §9).
  // Children get default dispositions back.
  sys::ignore_signal(SIGPIPE);
  sys::ignore_signal(SIGXFSZ);
  // Timer slack defaults to 50 us and grows with load; deadlines such as
  // stopwaitsecs should fire as close to the instant as the kernel can.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  // Many programs need many descriptors (pipes, pidfds, log files); the soft
  // limit (often 1024) is raised to the hard one. Children get the limit
  // minisupd was started with back (Runtime::Options::child_rlimits).
  Runtime::Options options;
  const struct rlimit original = sys::raise_nofile_limit();
  if (struct rlimit now{}; original.rlim_cur != RLIM_INFINITY &&
                           getrlimit(RLIMIT_NOFILE, &now) == 0 &&
                           now.rlim_cur != original.rlim_cur) {
    spdlog::debug("descriptor limit raised from {} to {}", original.rlim_cur, now.rlim_cur);
    options.child_rlimits.push_back({RLIMIT_NOFILE, original.rlim_cur, now.rlim_max});
  }
  // Spawn slots: each child copies only a few descriptors, not all of ours
  // (sys/spawn.h). Reserved now, while few are open and before any thread.
  if (!sys::reserve_spawn_slots()) {
    spdlog::debug(
        "no spawn slots (close_range CLOSE_RANGE_UNSHARE unavailable): each child "
        "copies the whole descriptor table");
  }
  options.environment = config::process_environment();
  options.pid = static_cast<int>(getpid());
  options.command_line = std::move(command_line);

  loop_.set_error_hook([](const char* what) { spdlog::error("internal error: {}", what); });
  loop_.watch_signals(handled_signals(), [this](const signalfd_siginfo& info) { on_signal(info); });

  // The socket is checked (and a live one refused) before any program starts.
  control::ControlServer::Handlers handlers;
  handlers.on_line = [this](ClientId client, const control::ControlServer::Peer& peer,
                            std::string_view line) {
    runtime_->on_request(client, static_cast<int>(peer.uid), static_cast<int>(peer.pid), line);
  };
  handlers.on_disconnect = [this](ClientId client) { runtime_->on_disconnect(client); };
  handlers.on_log = [](std::string_view message) { spdlog::warn("control: {}", message); };
  // Whom the server may evict at its client cap: not a client still waiting
  // for an answer (start/stop/restart/wait/update, tail -f, events).
  handlers.holds_answer = [this](ClientId client) { return runtime_->holds_answer(client); };
  handlers.on_large_output_sent = [this](ClientId) { runtime_->large_output_sent(); };
  control::ControlServer::Access access;
  access.uids = config_.supervisor.socket_uids;
  access.gid = config_.supervisor.socket_group;
  access.group_members = config_.supervisor.socket_group_members;
  server_ = std::make_unique<control::ControlServer>(
      loop_, config_.supervisor.socket, config_.supervisor.socket_mode, std::move(handlers),
      control::ControlServer::Limits{}, std::move(access));
  clients_.server = server_.get();

  console_ = std::make_shared<logging::ConsoleWriter>(loop_);
  // Passthrough stderr (`--run NAME`) goes to minisupd's stderr.
  console_->set_stderr_writer(std::make_shared<logging::ConsoleWriter>(loop_, STDERR_FILENO));
  // Trees are chosen once the socket is ours: a cgroup directory left on
  // this socket can then only be a dead predecessor's.
  TreeChoice trees =
      choose_trees(config_.supervisor.process_tree, config_.supervisor.socket, /*create=*/true);
  trees_description_ = trees.description;
  if (trees.mode == TreeMode::Cgroup) clean_stale_cgroups(trees.base, kLeftoverReapTimeout);
  system_ = std::make_unique<RealSystem>(loop_, console_, std::move(trees));
  // Held sockets: bound before any program starts, held for minisupd's
  // life. An address in use ends minisupd (exit 1) naming the socket.
  if (auto error = system_->hold_sockets(config_.sockets)) throw std::runtime_error(*error);
  timers_ = std::make_unique<LoopTimers>(loop_);
  probes_ = std::make_unique<RealProbes>(loop_);
  runtime_ = std::make_unique<Runtime>(std::move(config_), *system_, *timers_, clients_, *probes_,
                                       std::move(options));
  if (const auto& http = runtime_->config().http) {
    // Bound after the control socket (which proved no other minisupd serves
    // this config) and before any program starts; a failure ends minisupd.
    http::Server::Handlers web;
    web.on_request = [this](ClientId client, std::string_view line) {
      runtime_->on_request(client, -1, -1, line);
    };
    web.on_disconnect = [this](ClientId client) { runtime_->on_disconnect(client); };
    web.metrics = [this] { return runtime_->metrics_text(read_own_metrics_facts()); };
    http_ = std::make_unique<http::Server>(loop_, *http, runtime_->config().supervisor.socket_mode,
                                           std::move(web));
    clients_.http = http_.get();
    spdlog::info("http: dashboard, API and metrics on {}{}", http_->address_text(),
                 http->has_credentials() ? ""
                 : http->is_unix         ? " (no credentials: guarded by the socket file's mode)"
                                         : " (no credentials: read-only)");
  }
  runtime_->set_on_finished([this] {
    if (notify_) notify_now();  // STOPPING=1 even when nothing had to stop
    loop_.stop();
  });
  if (notify_) runtime_->set_on_state_change([this] { schedule_notify(); });
}

void Daemon::schedule_notify() {
  if (notify_timer_ != 0) return;
  notify_timer_ = timers_->arm(timers_->now(), [this] {
    notify_timer_ = 0;
    notify_now();
  });
}

void Daemon::notify_now() {
  const std::string message = notify_message(notify_state(runtime_->supervisor()), notified_);
  if (message.empty()) return;
  std::string error;
  if (!notify_->send(message, &error)) {
    // systemd gone (or a test's socket closed): say so once, keep running.
    if (!notify_failed_) spdlog::warn("sd_notify: {}", error);
    notify_failed_ = true;
    return;
  }
  spdlog::debug("sd_notify: {}", message.substr(0, message.size() - 1));
}

Daemon::~Daemon() {
  // HTTP first (it calls into the runtime), then the runtime's timers and
  // followers, before the loop goes.
  clients_.http = nullptr;
  http_.reset();
  runtime_.reset();
  server_.reset();
}

int Daemon::run() {
  const config::Config& config = runtime_->config();
  // Orphaned descendants of our children are handed to us, so that we reap
  // them (as PID 1 the kernel hands us everything anyway). Set here, not in
  // the constructor: the flag is not inherited across --daemon's fork.
  sys::set_child_subreaper();
  if (config.supervisor.pidfile) {
    std::ofstream out(*config.supervisor.pidfile, std::ios::trunc);
    out << getpid() << '\n';
    if (!out) {
      spdlog::error("write pidfile {}: {}", config.supervisor.pidfile->string(),
                    std::strerror(errno));
    } else {
      pidfile_written_ = true;
    }
  }
  spdlog::info("minisupd {} started (pid {}), config {}, socket {}, {} process(es)",
               MINISUP_VERSION, getpid(), config.file.string(), config.supervisor.socket.string(),
               runtime_->supervisor().processes().size());
  spdlog::info("{}", trees_description_);
  runtime_->start();
  if (notify_) notify_now();  // READY=1 at once when no program autostarts
  if (!runtime_->finished()) loop_.run();

  // Every program is down. What is left of their trees (a daemon a program
  // double-forked, members of a group whose leader did not use
  // stopasgroup) must not outlive minisupd: it would be orphaned or, under
  // PID 1, killed uncleanly by the kernel.
  if (runtime_->kill_leftover_trees() > 0) {
    auto deadline = std::chrono::steady_clock::now() + kLeftoverReapTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid < 0) break;  // ECHILD: nothing left
      if (pid == 0) usleep(1000);
    }
  }
  sys::reap_all();
  system_->remove_trees(kLeftoverReapTimeout);
  // The loop no longer reads the pipes: what a program wrote just before it
  // exited (`stopping cleanly`), or a descendant killed above wrote, may
  // still be in them. Read it into the logs and the console, then flush.
  logging::OutputCapture::close_all(loop_);
  console_->flush(std::chrono::milliseconds(500));
  if (console_->stderr_writer()) console_->stderr_writer()->flush(std::chrono::milliseconds(500));
  if (pidfile_written_) {
    std::error_code ignored;
    std::filesystem::remove(*runtime_->config().supervisor.pidfile, ignored);
  }
  const int status = runtime_->exit_status();
  if (status != 0) {
    spdlog::info("minisupd stopped; exit status {} ({})", status,
                 runtime_->supervisor().shutdown_cause().value_or(""));
  } else {
    spdlog::info("minisupd stopped");
  }
  spdlog::default_logger()->flush();
  return status;
}

void Daemon::on_signal(const signalfd_siginfo& info) {
  switch (static_cast<int>(info.ssi_signo)) {
    case SIGCHLD:
      runtime_->children_exited();
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      runtime_->begin_shutdown(fmt::format(
          "{} from pid {}", config::signal_name(static_cast<int>(info.ssi_signo)), info.ssi_pid));
      break;
    case SIGHUP:
      runtime_->request_reload("SIGHUP");
      break;
    case SIGUSR2:
      runtime_->reopen_logs();
      break;
    default:
      break;
  }
}

}  // namespace minisup::daemon
