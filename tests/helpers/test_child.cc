// test_child: a Swiss-army child for integration tests, driven by flags.
//
// Usage: test_child [FLAG...]
//
// Set-up, done once at start in this order:
//   --pidfile PATH          write our pid ("1234\n") to PATH (atomically: tmp + rename)
//   --lockfile PATH         create PATH; it is removed on a graceful end (below),
//                           so a lockfile left behind means we were cut off
//   --fork-ignore-term PATH fork a grandchild that ignores SIGTERM and sleeps until
//                           killed; it stays in our process group and keeps our
//                           stdout/stderr open. Its pid goes to PATH (atomically).
//   --print TEXT            write "TEXT\n" to stdout   (repeatable, in order)
//   --stderr TEXT           write "TEXT\n" to stderr   (repeatable, in order)
//   --print-env NAME        write "NAME=VALUE\n" or "NAME unset\n" to stdout (repeatable)
//   --write-bytes N         write exactly N bytes of the pattern to stdout (blocking
//                           writes: a full pipe makes us wait, as a real program)
//   --pattern               the pattern is the only content --write-bytes has; the
//                           flag is accepted so a test can spell it out
//   --ready-file PATH       create PATH once all of the above is done
// Then the lifetime:
//   --after SECS            stay up SECS (fractions allowed), then end; without it
//   --sleep SECS            (same as --after)        we stay up until signalled,
//                                                    unless --exit is given
//   --exit N                end with exit code N (default 0); alone: at once
//   --raise SIG             end by raising signal number SIG (default action)
//                           instead of exiting
// SIGTERM:
//   (default)               default action: killed by signal 15, lockfile stays
//   --ignore-term           SIGTERM is ignored (only SIGKILL ends us)
//   --term-delay SECS       graceful: on SIGTERM finish the current unit of work
//                           for SECS, then remove the lockfile and exit 0
// Safety net: a test that fails half-way must not leak processes for ever, so
// we die of SIGALRM 300 s after the end of --after (or after start when we
// run until signalled), and the grandchild 300 s after its fork.
// A graceful end (--after/--exit reached, or SIGTERM with --term-delay) removes
// the lockfile. All output goes through write(2) unbuffered, so nothing is lost
// when we are killed. A bad flag prints usage to stderr and exits 2.
//
// The pattern: line i (i = 0, 1, 2, ...) is printf("%08d %s\n", i % 100000000, kAlphabet)
// with kAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01",
// i.e. 64 bytes per line; N bytes are the first N bytes of that stream (the
// last line may be cut). Byte k is line k / 64, column k % 64.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr const char* kAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";

struct Options {
  std::string pidfile, lockfile, grandchild_pidfile, ready_file;
  std::vector<std::pair<int, std::string>> prints;  // (fd, text) in order
  std::vector<std::string> env_names;
  long long write_bytes = 0;
  double after = -1;  // < 0: not given
  int exit_code = 0;
  bool exit_given = false;
  int raise_signal = 0;
  bool ignore_term = false;
  double term_delay = -1;  // < 0: not given
};

[[noreturn]] void usage(const char* why) {
  fprintf(stderr,
          "test_child: %s\n"
          "usage: test_child [--pidfile P] [--lockfile P] [--fork-ignore-term P] [--print T]\n"
          "  [--stderr T] [--print-env NAME] [--write-bytes N] [--pattern] [--ready-file P]\n"
          "  [--after S | --sleep S] [--exit N] [--raise SIG] [--ignore-term | --term-delay S]\n",
          why);
  exit(2);
}

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("test_child: write");
      exit(3);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void write_line(int fd, const std::string& text) {
  std::string line = text + "\n";
  write_all(fd, line.data(), line.size());
}

/// Writes `text` to `path` via a temporary file and rename, so a reader
/// never sees a half-written file.
void write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(("test_child: open " + tmp).c_str());
    exit(3);
  }
  write_all(fd, text.data(), text.size());
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    perror(("test_child: rename " + path).c_str());
    exit(3);
  }
}

void create_file(const std::string& path) { write_file_atomically(path, ""); }

void sleep_seconds(double secs) {
  timespec ts{static_cast<time_t>(secs),
              static_cast<long>((secs - static_cast<time_t>(secs)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void write_pattern(long long total) {
  char chunk[64 * 1024];
  long long line = 0;
  while (total > 0) {
    size_t used = 0;
    while (used + 64 <= sizeof chunk) {
      long long number = line++ % 100000000;
      for (int k = 7; k >= 0; --k, number /= 10)
        chunk[used + k] = static_cast<char>('0' + number % 10);
      chunk[used + 8] = ' ';
      memcpy(chunk + used + 9, kAlphabet, 54);
      chunk[used + 63] = '\n';
      used += 64;
    }
    size_t n = total < static_cast<long long>(used) ? static_cast<size_t>(total) : used;
    write_all(1, chunk, n);
    total -= static_cast<long long>(n);
  }
}

double parse_seconds(const char* s) {
  char* end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || v < 0) usage("bad number of seconds");
  return v;
}

long long parse_int(const char* s) {
  char* end;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0') usage("bad integer");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
      return argv[++i];
    };
    if (flag == "--pidfile")
      o.pidfile = value();
    else if (flag == "--lockfile")
      o.lockfile = value();
    else if (flag == "--fork-ignore-term")
      o.grandchild_pidfile = value();
    else if (flag == "--print")
      o.prints.emplace_back(1, value());
    else if (flag == "--stderr")
      o.prints.emplace_back(2, value());
    else if (flag == "--print-env")
      o.env_names.emplace_back(value());
    else if (flag == "--write-bytes")
      o.write_bytes = parse_int(value());
    else if (flag == "--pattern")
      continue;
    else if (flag == "--ready-file")
      o.ready_file = value();
    else if (flag == "--after" || flag == "--sleep")
      o.after = parse_seconds(value());
    else if (flag == "--exit")
      o.exit_code = static_cast<int>(parse_int(value())), o.exit_given = true;
    else if (flag == "--raise")
      o.raise_signal = static_cast<int>(parse_int(value()));
    else if (flag == "--ignore-term")
      o.ignore_term = true;
    else if (flag == "--term-delay")
      o.term_delay = parse_seconds(value());
    else
      usage(("unknown flag " + flag).c_str());
  }
  if (o.ignore_term && o.term_delay >= 0)
    usage("--ignore-term and --term-delay exclude each other");
  return o;
}

[[noreturn]] void end_gracefully(const Options& o) {
  if (!o.lockfile.empty()) unlink(o.lockfile.c_str());
  if (o.raise_signal != 0) {
    signal(o.raise_signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, o.raise_signal);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(o.raise_signal);
  }
  exit(o.exit_code);
}

}  // namespace

// Under ASan builds (the CI's sanitizer suite), LeakSanitizer's check at
// exit runs a tracer process next to this one; in a cgroup that tracer
// is part of the program's tree and may outlive the exit, so a stop would
// wait for it (DESIGN.md, "Whole process trees"). A helper's own leaks are
// of no interest: no leak check, no tracer.
extern "C" int __lsan_is_turned_off() { return 1; }

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  constexpr unsigned kSafetySeconds = 300;
  alarm(static_cast<unsigned>(o.after > 0 ? o.after : 0) + kSafetySeconds);

  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  if (o.ignore_term) signal(SIGTERM, SIG_IGN);
  // Graceful mode: SIGTERM stays pending until we wait for it below, so it
  // can never interrupt the set-up half-way.
  if (o.term_delay >= 0) sigprocmask(SIG_BLOCK, &term, nullptr);

  if (!o.pidfile.empty()) write_file_atomically(o.pidfile, std::to_string(getpid()) + "\n");
  if (!o.lockfile.empty()) create_file(o.lockfile);
  if (!o.grandchild_pidfile.empty()) {
    // SIGTERM blocked across the fork: a group SIGTERM arriving before the
    // grandchild has ignored it stays pending, and is discarded by SIG_IGN.
    sigset_t saved;
    sigprocmask(SIG_BLOCK, &term, &saved);
    pid_t pid = fork();
    if (pid < 0) {
      perror("test_child: fork");
      return 3;
    }
    if (pid == 0) {
      signal(SIGTERM, SIG_IGN);
      sigprocmask(SIG_UNBLOCK, &term, nullptr);
      alarm(kSafetySeconds);
      for (;;) pause();
    }
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    write_file_atomically(o.grandchild_pidfile, std::to_string(pid) + "\n");
  }
  for (const auto& [fd, text] : o.prints) write_line(fd, text);
  for (const std::string& name : o.env_names) {
    const char* v = getenv(name.c_str());
    write_line(1, v != nullptr ? name + "=" + v : name + " unset");
  }
  if (o.write_bytes > 0) write_pattern(o.write_bytes);
  if (!o.ready_file.empty()) create_file(o.ready_file);

  bool forever = o.after < 0;
  if (forever && (o.exit_given || o.raise_signal != 0)) end_gracefully(o);

  if (o.term_delay >= 0) {
    int sig;
    if (forever) {
      while ((sig = sigwaitinfo(&term, nullptr)) < 0 && errno == EINTR) {
      }
    } else {
      timespec ts{static_cast<time_t>(o.after),
                  static_cast<long>((o.after - static_cast<time_t>(o.after)) * 1e9)};
      while ((sig = sigtimedwait(&term, nullptr, &ts)) < 0 && errno == EINTR) {
      }
    }
    if (sig == SIGTERM) {
      sleep_seconds(o.term_delay);  // the current unit of work
      if (!o.lockfile.empty()) unlink(o.lockfile.c_str());
      return 0;
    }
    end_gracefully(o);  // --after elapsed without SIGTERM
  }

  if (forever) {
    for (;;) pause();
  }
  sleep_seconds(o.after);
  end_gracefully(o);
}
