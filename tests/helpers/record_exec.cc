// record_exec: a child that writes down how it was started, for the
// supervisord-vs-minisup oracle test (tests/integration/convert_oracle_test.cc).
//
// Usage: record_exec FILE [ARGS...]
//
// Writes FILE (atomically: FILE.tmp, then rename) with one line per fact,
// each value with \\, \n and non-printable bytes escaped:
//   argv <i> <value>      every argument, FILE included (argv[0] excluded:
//                         supervisord and minisupd may spell the path apart)
//   cwd <path>
//   env <NAME>=<value>    every variable, sorted
// then stays up until SIGTERM (or SIGINT), and exits 0. A safety net ends
// it after 300 s.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

extern char** environ;

namespace {

std::string escaped(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      snprintf(buffer, sizeof buffer, "\\x%02x", c);
      out += buffer;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

volatile sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

}  // namespace

// No LeakSanitizer check at exit under the ASan build: its tracer process
// would be part of the program's tree (see test_child.cc).
extern "C" int __lsan_is_turned_off() { return 1; }

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: record_exec FILE [ARGS...]\n");
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  // Blocked until sigsuspend(): a signal cannot slip in before the wait.
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);

  std::string text;
  for (int i = 1; i < argc; ++i)
    text += "argv " + std::to_string(i) + " " + escaped(argv[i]) + "\n";
  char cwd[4096];
  text += "cwd " + escaped(getcwd(cwd, sizeof cwd) ? cwd : "?") + "\n";
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  std::sort(env.begin(), env.end());
  for (const std::string& entry : env) text += "env " + escaped(entry) + "\n";

  const std::string path = argv[1];
  const std::string temporary = path + ".tmp";
  FILE* out = fopen(temporary.c_str(), "w");
  if (out == nullptr || fwrite(text.data(), 1, text.size(), out) != text.size() ||
      fclose(out) != 0 || rename(temporary.c_str(), path.c_str()) != 0) {
    perror("record_exec");
    return 1;
  }
  alarm(300);
  while (!stop) sigsuspend(&waiting);
  return 0;
}
