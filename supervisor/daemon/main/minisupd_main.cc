// minisupd: the supervisor daemon's entry point.
//
// Parses the command line, finds and validates the config, then either
// prints the --check summary or runs the Runtime in the foreground (or,
// with --daemon, detached). Exceptions are fine until the loop starts; they
// are mapped to exit codes here: 2 for usage and config errors, 1 for
// runtime failures (e.g. another minisupd already serves the socket).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "supervisor/config/load_config.h"
#include "supervisor/control/control_server.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/real_trees.h"
#include "supervisor/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

/// Detaches from the terminal the classic way (fork, setsid, fork) for
/// --daemon. The foreground parent exits 0 once the grandchild is running.
void daemonize() {
  if (pid_t pid = fork(); pid < 0) {
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  } else if (pid > 0) {
    _exit(kExitOk);
  }
  setsid();  // leave the terminal's session so a hangup there does not reach us
  if (pid_t pid = fork(); pid < 0) {
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  } else if (pid > 0) {
    _exit(kExitOk);  // the session leader goes; we can never reacquire a terminal
  }
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "minisupd: the minisup process supervisor daemon.\n"
      "Runs the programs of a TOML config in the foreground, keeps them running and stops\n"
      "them gracefully. Signals: TERM/INT/QUIT shut down gracefully, HUP reloads the config,\n"
      "USR2 reopens log files. With NOTIFY_SOCKET set (systemd Type=notify) it sends READY=1\n"
      "once every autostart program is RUNNING or has failed, STOPPING=1 and STATUS=.\n"
      "Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage or config error.\n"
      "See minisupd(8) and minisup.toml(5).",
      "minisupd"};
  std::optional<std::string> config_file;
  bool check = false;
  bool detach = false;
  std::optional<std::string> socket;
  std::optional<std::string> run;
  std::vector<std::string> run_args;
  app.add_option("-c,--config", config_file,
                 "Config file (default: ./minisup.toml, else /etc/minisup/minisup.toml)");
  app.add_flag("--check", check,
               "Validate the config, print a summary (programs, start order, worst-case "
               "shutdown time) and exit: 0 when valid, 2 otherwise");
  app.add_flag("--daemon", detach, "Detach from the terminal (legacy setups; writes pidfile)");
  app.add_option("-s,--socket", socket,
                 "Control socket path, instead of the config's [supervisor] socket (so one "
                 "config can run in parallel, e.g. in test jobs); minisupctl -s PATH reaches it");
  app.add_option("--run", run,
                 "Harness mode: start the autostart programs and NAME (with its dependencies), "
                 "run NAME once, then shut down and exit with its status (its exit code, 128+N "
                 "for signal N, 127 command not found, 126 not runnable, 125 a dependency "
                 "failed); NAME's output goes to minisupd's stdout and stderr")
      ->option_text("NAME");
  app.add_option("args", run_args, "With --run, after --: arguments appended to NAME's command");
  app.set_version_flag("-V,--version", std::string("minisupd ") + MINISUP_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  using namespace minisup;
  std::optional<std::filesystem::path> explicit_file;
  if (config_file) explicit_file = *config_file;
  auto file = config::find_config_file(explicit_file);
  if (!file) {
    std::cerr << "minisupd: no config file: tried ./minisup.toml and /etc/minisup/minisup.toml "
                 "(use -c FILE)\n";
    return kExitUsage;
  }
  config::LoadResult loaded = config::load_config(*file, config::process_environment());
  if (!loaded.errors.empty() || !loaded.config) {
    for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << '\n';
    for (const auto& error : loaded.errors) std::cerr << error.to_string() << '\n';
    for (const auto& hint : loaded.hints) std::cerr << "hint: " << hint << '\n';
    std::cerr << "minisupd: " << loaded.errors.size() << " error(s) in config; nothing started\n";
    return kExitUsage;
  }
  daemon::CommandLine command_line;
  if (socket) {
    if (socket->empty()) {
      std::cerr << "minisupd: --socket: expected a path\n";
      return kExitUsage;
    }
    // Relative to the current directory, as any path on the command line.
    command_line.socket = std::filesystem::absolute(*socket).lexically_normal();
  }
  if (!run_args.empty() && !run) {
    std::cerr << "minisupd: arguments after -- need --run NAME\n";
    return kExitUsage;
  }
  command_line.run = run;
  command_line.run_args = run_args;
  if (auto error = command_line.apply(*loaded.config)) {
    std::cerr << "minisupd: --run: " << *error << '\n';
    return kExitUsage;
  }
  if (check) {
    std::cout << config::check_summary(*loaded.config);
    // How trees would be kept here (tried, nothing left behind).
    try {
      std::cout << daemon::choose_trees(loaded.config->supervisor.process_tree,
                                        loaded.config->supervisor.socket, /*create=*/false)
                       .description
                << '\n';
    } catch (const std::exception& e) {
      std::cerr << "minisupd: " << e.what() << '\n';
      return kExitUsage;
    }
    return kExitOk;
  }
  try {
    if (detach) {
      // Refuse a live socket while the error can still reach the terminal.
      // The runtime is built after the fork: a signalfd watched by epoll
      // keeps reporting the signals of the process that created it.
      control::remove_stale_socket(loaded.config->supervisor.socket);
      daemonize();
    }
    daemon::Daemon minisupd(std::move(*loaded.config), std::move(command_line));
    return minisupd.run();
  } catch (const std::exception& e) {
    std::cerr << "minisupd: " << e.what() << '\n';
    return kExitRuntime;
  }
}
