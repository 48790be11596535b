// probe_child: a supervised program for readiness and health tests. It
// becomes "ready" in the ways minisup can probe, after a delay:
//   --delay SECS        wait this long before any of the below (default 0)
//   --listen PORT       listen on 127.0.0.1:PORT (tcp probe); accepted
//                       connections are answered as HTTP (see --status) and
//                       closed
//   --status N          the HTTP status answered (default 200); the file
//                       given by --status-file, when it exists, overrides it
//   --status-file PATH  holds a status number, read per request
//   --print TEXT        write "TEXT\n" to stdout (log probe)
//   --notify            send READY=1 to $NOTIFY_SOCKET (and STATUS=ready);
//                       "STATUS=starting" is sent at once
//   --exit N            then exit with N instead of staying up
// SIGTERM ends it with status 0. Everything is plain POSIX so it runs in a
// bare container too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace {

volatile sig_atomic_t g_term = 0;
void on_term(int) { g_term = 1; }

void notify(const std::string& message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') {
    std::fprintf(stderr, "probe_child: NOTIFY_SOCKET unset\n");
    return;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::size_t length = std::strlen(path);
  if (length >= sizeof(address.sun_path)) return;
  std::memcpy(address.sun_path, path, length);
  if (path[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
  sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&address),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  close(fd);
}

int status_now(int status, const std::string& file) {
  if (file.empty()) return status;
  std::ifstream in(file);
  int value = 0;
  if (in >> value) return value;
  return status;
}

}  // namespace

// Under ASan builds (the CI's sanitizer suite), LeakSanitizer's check at
// exit runs a tracer process next to this one; in a cgroup that tracer
// is part of the program's tree and may outlive the exit, so a stop would
// wait for it (DESIGN.md, "Whole process trees"). A helper's own leaks are
// of no interest: no leak check, no tracer.
extern "C" int __lsan_is_turned_off() { return 1; }

int main(int argc, char** argv) {
  double delay = 0;
  int port = 0;
  int status = 200;
  std::string status_file;
  std::string print;
  bool send_notify = false;
  int exit_code = -1;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "probe_child: %s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--delay") {
      delay = std::stod(value());
    } else if (flag == "--listen") {
      port = std::stoi(value());
    } else if (flag == "--status") {
      status = std::stoi(value());
    } else if (flag == "--status-file") {
      status_file = value();
    } else if (flag == "--print") {
      print = value();
    } else if (flag == "--notify") {
      send_notify = true;
    } else if (flag == "--exit") {
      exit_code = std::stoi(value());
    } else {
      std::fprintf(stderr, "probe_child: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  struct sigaction action {};
  action.sa_handler = on_term;
  sigaction(SIGTERM, &action, nullptr);
  alarm(300);  // never outlive a broken test

  if (send_notify) notify("STATUS=starting\n");
  if (delay > 0) {
    timespec ts{static_cast<time_t>(delay),
                static_cast<long>((delay - static_cast<time_t>(delay)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && !g_term) {
    }
  }
  if (g_term) return 0;
  int listener = -1;
  if (port > 0) {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listener, 16) != 0) {
      std::perror("probe_child: listen");
      return 3;
    }
  }
  if (!print.empty()) {
    std::printf("%s\n", print.c_str());
    std::fflush(stdout);
  }
  if (send_notify) notify("READY=1\nSTATUS=ready\n");
  if (exit_code >= 0) return exit_code;

  while (!g_term) {
    if (listener < 0) {
      pause();
      continue;
    }
    pollfd fd{listener, POLLIN, 0};
    if (poll(&fd, 1, 1000) <= 0) continue;
    int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    char buffer[1024];
    pollfd in{client, POLLIN, 0};
    if (poll(&in, 1, 200) > 0) (void)!read(client, buffer, sizeof buffer);
    const int code = status_now(status, status_file);
    std::string reply = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 0\r\n" +
                        "Connection: close\r\n\r\n";
    (void)!write(client, reply.data(), reply.size());
    close(client);
  }
  return 0;
}
