// ProcessOutput's line watcher (a `log` readiness probe) and the
// Passthrough target (`minisupd --run NAME`), with real pipes, real
// children and a real EventLoop.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "logging_test_util.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/pipe.h"
#include "supervisor/sys/spawn.h"

namespace minisup::logging {
namespace {

using testing::read_file;
using testing::run_until;
using testing::TempDir;

using Kind = config::LogTarget::Kind;

struct Seen {
  StreamKind stream;
  std::string line;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Seen& seen) {
  return out << (seen.stream == StreamKind::Stdout ? "out:" : "err:") << seen.line;
}

config::ProgramConfig program_with(config::LogTarget out, config::LogTarget err,
                                   bool redirect = false) {
  config::ProgramConfig program;
  program.name = "app";
  program.redirect_stderr = redirect;
  config::ProcessConfig process;
  process.name = "app";
  process.stdout_logfile = std::move(out);
  process.stderr_logfile = std::move(err);
  program.processes.push_back(process);
  return program;
}

config::LogTarget none() { return {Kind::None, ""}; }

/// Spawns `sh -c script` on `output`'s pipes, captures, waits for EOF.
void run_child(loop::EventLoop& loop, ProcessOutput& output, const std::string& script) {
  OutputPipes pipes = output.create_pipes();
  sys::SpawnRequest request;
  request.argv = {"sh", "-c", script};
  request.envp = {"PATH=/usr/bin:/bin"};
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  auto spawned = sys::spawn_process(request);
  ASSERT_TRUE(std::holds_alternative<sys::SpawnedChild>(spawned)) << std::get<std::string>(spawned);
  output.start_capture(loop, std::move(pipes));
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  int status = 0;
  ::waitpid(std::get<sys::SpawnedChild>(spawned).pid, &status, 0);
}

/// Everything readable from a non-blocking descriptor right now.
std::string read_available(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

TEST(LineWatcher, SeesEachLineOfBothStreamsWhileTheFilesGetEverything) {
  TempDir dir;
  loop::EventLoop loop;
  auto program = program_with({Kind::File, dir / "out.log"}, {Kind::File, dir / "err.log"});
  ProcessOutput output(program, program.processes[0], nullptr);
  std::vector<Seen> seen;
  output.set_line_watcher([&](StreamKind stream, std::string_view line) {
    seen.push_back({stream, std::string(line)});
  });
  EXPECT_TRUE(output.has_line_watcher());
  run_child(loop, output, "echo one; echo oops >&2; printf 'two\\n\\nthree'");
  std::vector<Seen> out, err;
  for (const auto& s : seen) (s.stream == StreamKind::Stdout ? out : err).push_back(s);
  // The last line has no newline: handed over at EOF. The empty line too.
  EXPECT_EQ(out, (std::vector<Seen>{{StreamKind::Stdout, "one"},
                                    {StreamKind::Stdout, "two"},
                                    {StreamKind::Stdout, ""},
                                    {StreamKind::Stdout, "three"}}));
  EXPECT_EQ(err, (std::vector<Seen>{{StreamKind::Stderr, "oops"}}));
  EXPECT_EQ(read_file(dir / "out.log"), "one\ntwo\n\nthree");
  EXPECT_EQ(read_file(dir / "err.log"), "oops\n");
}

TEST(LineWatcher, JoinsLinesSplitAcrossReads) {
  loop::EventLoop loop;
  auto program = program_with(none(), none());
  ProcessOutput output(program, program.processes[0], nullptr);
  std::vector<std::string> lines;
  output.set_line_watcher([&](StreamKind, std::string_view line) { lines.emplace_back(line); });
  // Each printf is a separate write (and, with the sleeps, a separate read).
  run_child(loop, output,
            "printf 'lis'; sleep 0.05; printf 'tening on '; sleep 0.05; printf '8080\\nnext\\n'");
  EXPECT_EQ(lines, (std::vector<std::string>{"listening on 8080", "next"}));
}

TEST(LineWatcher, CutsLongLinesAtTheBound) {
  loop::EventLoop loop;
  auto program = program_with(none(), none());
  ProcessOutput output(program, program.processes[0], nullptr);
  std::vector<std::string> lines;
  output.set_line_watcher([&](StreamKind, std::string_view line) { lines.emplace_back(line); });
  // 10,000 'a's, in pieces, then a short line: the long one arrives cut to
  // kMaxWatchedLine, and the rest of it does not leak into the next line.
  run_child(loop, output,
            "i=0; while [ $i -lt 10 ]; do printf '%01000d' 0 | tr 0 a; i=$((i+1)); done; "
            "echo; echo short; head -c 9000 /dev/zero | tr '\\0' b; echo");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::string(OutputCapture::kMaxWatchedLine, 'a'));
  EXPECT_EQ(lines[1], "short");
  EXPECT_EQ(lines[2], std::string(OutputCapture::kMaxWatchedLine, 'b'));
}

TEST(LineWatcher, NoneStreamsArePipedOnlyForAWatcher) {
  loop::EventLoop loop;
  auto program = program_with(none(), none());
  ProcessOutput output(program, program.processes[0], nullptr);
  {
    OutputPipes pipes = output.create_pipes();
    EXPECT_EQ(pipes.child_stdout(), -1);  // /dev/null: no cost without a watcher
    EXPECT_EQ(pipes.child_stderr(), -1);
  }
  std::vector<Seen> seen;
  output.set_line_watcher([&](StreamKind stream, std::string_view line) {
    seen.push_back({stream, std::string(line)});
  });
  {
    OutputPipes pipes = output.create_pipes();
    EXPECT_GE(pipes.child_stdout(), 0);
    EXPECT_GE(pipes.child_stderr(), 0);
  }
  run_child(loop, output, "echo ready; echo warn >&2");
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_NE(std::find(seen.begin(), seen.end(), Seen{StreamKind::Stdout, "ready"}), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), Seen{StreamKind::Stderr, "warn"}), seen.end());
  output.set_line_watcher({});
  EXPECT_FALSE(output.has_line_watcher());
  OutputPipes pipes = output.create_pipes();
  EXPECT_EQ(pipes.child_stdout(), -1);  // cleared: back to /dev/null
}

TEST(LineWatcher, RedirectStderrReportsBothAsStdout) {
  loop::EventLoop loop;
  auto program = program_with(none(), none(), /*redirect=*/true);
  ProcessOutput output(program, program.processes[0], nullptr);
  std::vector<Seen> seen;
  output.set_line_watcher([&](StreamKind stream, std::string_view line) {
    seen.push_back({stream, std::string(line)});
  });
  run_child(loop, output, "echo a; echo b >&2");
  EXPECT_EQ(seen, (std::vector<Seen>{{StreamKind::Stdout, "a"}, {StreamKind::Stdout, "b"}}));
}

TEST(LineWatcher, MayClearItselfFromItsOwnCall) {
  loop::EventLoop loop;
  TempDir dir;
  auto program = program_with({Kind::File, dir / "out.log"}, none());
  ProcessOutput output(program, program.processes[0], nullptr);
  std::vector<std::string> lines;
  output.set_line_watcher([&](StreamKind, std::string_view line) {
    lines.emplace_back(line);
    if (line == "ready") output.set_line_watcher({});  // destroys this very function
  });
  run_child(loop, output, "echo starting; echo ready; echo after; echo more");
  EXPECT_EQ(lines, (std::vector<std::string>{"starting", "ready"}));
  EXPECT_EQ(read_file(dir / "out.log"), "starting\nready\nafter\nmore\n");
}

TEST(LineWatcher, SetWhileCapturingAppliesToTheRunningCapture) {
  loop::EventLoop loop;
  TempDir dir;
  auto program = program_with({Kind::File, dir / "out.log"}, none());
  ProcessOutput output(program, program.processes[0], nullptr);
  sys::Pipe gate = sys::make_pipe();  // the child waits for a byte on it
  OutputPipes pipes = output.create_pipes();
  sys::SpawnRequest request;
  request.envp = {"PATH=/usr/bin:/bin"};
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  // spawn_process closes fds >= 3 in the child: it opens the gate's read
  // end through /proc instead.
  request.argv = {"sh", "-c",
                  "exec 3</proc/" + std::to_string(::getpid()) + "/fd/" +
                      std::to_string(gate.read.get()) + "; echo before; read x <&3; echo after"};
  auto spawned = sys::spawn_process(request);
  ASSERT_TRUE(std::holds_alternative<sys::SpawnedChild>(spawned));
  output.start_capture(loop, std::move(pipes));
  ASSERT_TRUE(run_until(loop, [&] { return read_file(dir / "out.log") == "before\n"; }));
  std::vector<std::string> lines;
  output.set_line_watcher([&](StreamKind, std::string_view line) { lines.emplace_back(line); });
  ASSERT_EQ(::write(gate.write.get(), "\n", 1), 1);
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  int status = 0;
  ::waitpid(std::get<sys::SpawnedChild>(spawned).pid, &status, 0);
  EXPECT_EQ(lines, (std::vector<std::string>{"after"}));
}

TEST(LineWatcher, NotCalledAfterTheProcessOutputIsGone) {
  loop::EventLoop loop;
  auto program = program_with(none(), none());
  auto output = std::make_unique<ProcessOutput>(program, program.processes[0], nullptr);
  int calls = 0;
  output->set_line_watcher([&](StreamKind, std::string_view) { ++calls; });
  OutputPipes pipes = output->create_pipes();
  sys::SpawnRequest request;
  request.argv = {"sh", "-c", "echo first; sleep 0.2; echo second"};
  request.envp = {"PATH=/usr/bin:/bin"};
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  auto spawned = sys::spawn_process(request);
  ASSERT_TRUE(std::holds_alternative<sys::SpawnedChild>(spawned));
  output->start_capture(loop, std::move(pipes));
  ASSERT_TRUE(run_until(loop, [&] { return calls == 1; }));
  output.reset();  // the capture drains on alone
  int status = 0;
  ::waitpid(std::get<sys::SpawnedChild>(spawned).pid, &status, 0);
  run_until(
      loop, [] { return false; }, std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 1);
}

// ---- Passthrough

TEST(Passthrough, StdoutAndStderrGoUnprefixedToTheirOwnWriters) {
  ::signal(SIGPIPE, SIG_IGN);
  loop::EventLoop loop;
  sys::Pipe out = sys::make_pipe();  // stands for minisupd's stdout
  sys::Pipe err = sys::make_pipe();  // and its stderr
  auto console = std::make_shared<ConsoleWriter>(
      loop, out.write.get(), ConsoleWriter::kDefaultMaxBuffer, ConsoleWriter::Color::Always);
  console->set_stderr_writer(std::make_shared<ConsoleWriter>(
      loop, err.write.get(), ConsoleWriter::kDefaultMaxBuffer, ConsoleWriter::Color::Always));
  console->set_name_width(10);
  auto program = program_with({Kind::Passthrough, ""}, {Kind::Passthrough, ""});
  ProcessOutput output(program, program.processes[0], console);
  run_child(loop, output, "echo out1; echo err1 >&2; printf 'out2'");
  EXPECT_EQ(read_available(out.read.get()), "out1\nout2");  // no prefix, no colour
  EXPECT_EQ(read_available(err.read.get()), "err1\n");
}

TEST(Passthrough, WithoutAStderrWriterStderrGoesToTheConsole) {
  loop::EventLoop loop;
  sys::Pipe out = sys::make_pipe();
  auto console = std::make_shared<ConsoleWriter>(loop, out.write.get());
  auto program = program_with({Kind::Passthrough, ""}, {Kind::Passthrough, ""});
  ProcessOutput output(program, program.processes[0], console);
  run_child(loop, output, "echo err1 >&2");
  EXPECT_EQ(read_available(out.read.get()), "err1\n");
}

TEST(Passthrough, HoldsAPartialLineSoConsoleLinesDoNotSplitIt) {
  loop::EventLoop loop;
  sys::Pipe out = sys::make_pipe();
  auto console = std::make_shared<ConsoleWriter>(
      loop, out.write.get(), ConsoleWriter::kDefaultMaxBuffer, ConsoleWriter::Color::Never);
  console->set_name_width(3);
  PassthroughSink pass(console);
  ConsoleSink other(console, "web", StreamKind::Stdout);
  pass.write("whole\npart");
  other.write("hello\n");
  pass.write("ial\n");
  EXPECT_EQ(read_available(out.read.get()), "whole\nweb | hello\npartial\n");
  pass.write("no newline");
  EXPECT_EQ(read_available(out.read.get()), "");
  pass.end_of_stream();
  EXPECT_EQ(read_available(out.read.get()), "no newline");
}

TEST(Passthrough, WithoutAConsoleIsDiscarded) {
  auto program = program_with({Kind::Passthrough, ""}, {Kind::Passthrough, ""});
  ProcessOutput output(program, program.processes[0], nullptr);
  OutputPipes pipes = output.create_pipes();
  EXPECT_EQ(pipes.child_stdout(), -1);
}

}  // namespace
}  // namespace minisup::logging
