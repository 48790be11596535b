// fd_server: a server for the held-socket tests, started the way systemd's
// socket activation starts one (LISTEN_FDS, LISTEN_PID, descriptors 3...).
//
// Usage: fd_server [--term-delay SECS] [--start-delay SECS] [--fail]
//
// At start it checks LISTEN_PID == its own pid and LISTEN_FDS >= 1 (else it
// exits 3 saying why), waits --start-delay (default 0), then writes
// "listening pid PID\n" to stdout (a `ready = { log = "listening" }`
// probe's line) and accepts on descriptor 3, blocking: each connection is
// answered "pid PID\n" and closed. With --fail it never says "listening"
// and exits 1 after --start-delay (a new version that does not come up).
// SIGTERM: it stops accepting, waits --term-delay (default 0: the time a
// real server takes to drain), and exits 0. Descriptor 3 is never made
// non-blocking: it is shared with minisupd and the other processes.
// Safety net: SIGALRM ends it 300 s after its start.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace {

volatile sig_atomic_t g_terminated = 0;

void on_term(int) { g_terminated = 1; }

void sleep_seconds(double seconds) {
  if (seconds <= 0) return;
  timespec ts{
      static_cast<time_t>(seconds),
      static_cast<long>((seconds - static_cast<double>(static_cast<time_t>(seconds))) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void say(const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = write(1, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  double term_delay = 0;
  double start_delay = 0;
  bool fail = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--term-delay" && i + 1 < argc) {
      term_delay = atof(argv[++i]);
    } else if (flag == "--start-delay" && i + 1 < argc) {
      start_delay = atof(argv[++i]);
    } else if (flag == "--fail") {
      fail = true;
    } else {
      fprintf(stderr, "usage: fd_server [--term-delay SECS] [--start-delay SECS] [--fail]\n");
      return 2;
    }
  }
  alarm(300);
  struct sigaction sa {};
  sa.sa_handler = on_term;  // no SA_RESTART: accept() returns EINTR
  sigaction(SIGTERM, &sa, nullptr);

  const char* fds = getenv("LISTEN_FDS");
  const char* pid = getenv("LISTEN_PID");
  const std::string own = std::to_string(getpid());
  if (fds == nullptr || atoi(fds) < 1) {
    fprintf(stderr, "fd_server: LISTEN_FDS is %s\n", fds ? fds : "unset");
    return 3;
  }
  if (pid == nullptr || own != pid) {
    fprintf(stderr, "fd_server: LISTEN_PID is %s, my pid is %s\n", pid ? pid : "unset",
            own.c_str());
    return 3;
  }
  sleep_seconds(start_delay);
  if (fail) return 1;
  say("listening pid " + own + "\n");
  const std::string answer = "pid " + own + "\n";
  while (!g_terminated) {
    const int client = accept(3, nullptr, nullptr);
    if (client < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "fd_server: accept: %s\n", strerror(errno));
      return 4;
    }
    (void)!write(client, answer.data(), answer.size());
    close(client);
  }
  sleep_seconds(term_delay);
  return 0;
}
