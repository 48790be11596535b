// OutputCapture and ProcessOutput with real pipes, real children and a
// real EventLoop.
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
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
using testing::write_file;

/// Collects everything written to it.
class StringSink final : public OutputSink {
 public:
  std::string data;
  int ends = 0;
  void end_of_stream() noexcept override { ++ends; }

 protected:
  void consume(std::string_view chunk) noexcept override { data.append(chunk); }
};

/// Spawns `argv` with the given stdout/stderr descriptors; returns the pid.
pid_t spawn(std::vector<std::string> argv, int out, int err) {
  sys::SpawnRequest request;
  request.argv = std::move(argv);
  request.envp = {"PATH=/usr/bin:/bin"};
  request.stdout_fd = out;
  request.stderr_fd = err;
  auto result = sys::spawn_process(request);
  if (auto* message = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *message;
    return -1;
  }
  return std::get<sys::SpawnedChild>(result).pid;
}

int reap(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

/// The output of `seq 1 n`.
std::string seq_output(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += std::to_string(i) + "\n";
  return out;
}

TEST(OutputCapture, DrainsAChildCompletelyIntoAFileAndEndsAtEof) {
  TempDir dir;
  loop::EventLoop loop;
  auto file = std::make_shared<LogFile>(dir / "out.log", 0, 1);
  sys::Pipe pipe = sys::make_pipe();
  pid_t pid = spawn({"seq", "1", "300000"}, pipe.write.get(), pipe.write.get());
  pipe.write.reset();
  bool eof = false;
  std::weak_ptr<OutputCapture> weak =
      OutputCapture::start(loop, std::move(pipe.read), file, [&] { eof = true; });
  // The returned pointer was dropped: the capture owns itself until EOF.
  ASSERT_FALSE(weak.expired());
  ASSERT_TRUE(run_until(loop, [&] { return eof; }));
  EXPECT_TRUE(weak.expired()) << "the capture must free itself after EOF";
  reap(pid);
  EXPECT_TRUE(read_file(dir / "out.log") == seq_output(300000));
}

TEST(OutputCapture, EofIsNotExitAnotherHolderKeepsItOpen) {
  loop::EventLoop loop;
  auto sink = std::make_shared<StringSink>();
  sys::Pipe pipe = sys::make_pipe();
  // The child exits at once; our extra write end plays the grandchild that
  // inherited stdout and lives on (doc/pitfalls.md §2).
  pid_t pid = spawn({"echo", "from the child"}, pipe.write.get(), pipe.write.get());
  reap(pid);
  auto capture = OutputCapture::start(loop, std::move(pipe.read), sink);
  ASSERT_TRUE(run_until(loop, [&] { return sink->data == "from the child\n"; }));
  EXPECT_TRUE(capture->is_open());
  ASSERT_EQ(::write(pipe.write.get(), "grandchild\n", 11), 11);
  pipe.write.reset();
  ASSERT_TRUE(run_until(loop, [&] { return !capture->is_open(); }));
  EXPECT_EQ(sink->data, "from the child\ngrandchild\n");
  EXPECT_EQ(sink->ends, 1);
  EXPECT_EQ(capture->bytes_read(), 26u);
}

TEST(OutputCapture, CloseReadsWhatIsBufferedThenStops) {
  loop::EventLoop loop;
  auto sink = std::make_shared<StringSink>();
  sys::Pipe pipe = sys::make_pipe();
  auto capture = OutputCapture::start(loop, std::move(pipe.read), sink);
  ASSERT_EQ(::write(pipe.write.get(), "pending", 7), 7);
  capture->close();
  EXPECT_FALSE(capture->is_open());
  EXPECT_EQ(sink->data, "pending");
  EXPECT_EQ(sink->ends, 1);
  capture->close();  // idempotent
  ::signal(SIGPIPE, SIG_IGN);
  EXPECT_EQ(::write(pipe.write.get(), "x", 1), -1);  // no reader any more
}

TEST(OutputCapture, CloseAllReadsTheLastWordsOfEveryCaptureOfItsLoopOnly) {
  loop::EventLoop loop;
  loop::EventLoop other;
  auto sink = std::make_shared<StringSink>();
  auto other_sink = std::make_shared<StringSink>();
  std::vector<sys::Pipe> pipes;
  std::vector<std::weak_ptr<OutputCapture>> captures;
  for (int i = 0; i < 3; ++i) {
    pipes.push_back(sys::make_pipe());
    captures.push_back(OutputCapture::start(loop, std::move(pipes.back().read), sink));
  }
  sys::Pipe foreign = sys::make_pipe();
  auto other_capture = OutputCapture::start(other, std::move(foreign.read), other_sink);
  // One capture already at EOF (its writer closed, the loop ran): not open,
  // so not counted again.
  pipes[1].write.reset();
  ASSERT_TRUE(run_until(loop, [&] { return captures[1].expired(); }));
  // Written after the loop's last round, as a program's line just before
  // it exits: only close_all() reads it now.
  ASSERT_EQ(::write(pipes[0].write.get(), "zero: stopping\n", 15), 15);
  ASSERT_EQ(::write(pipes[2].write.get(), "two: stopping\n", 14), 14);
  ASSERT_EQ(::write(foreign.write.get(), "other", 5), 5);

  EXPECT_EQ(OutputCapture::close_all(loop), 2u);
  // Both lines, whole (in no promised order: they are separate programs).
  EXPECT_TRUE(sink->data == "zero: stopping\ntwo: stopping\n" ||
              sink->data == "two: stopping\nzero: stopping\n")
      << sink->data;
  EXPECT_EQ(sink->ends, 3);
  EXPECT_TRUE(captures[0].expired()) << "the loop let go of the closed capture";
  EXPECT_TRUE(captures[2].expired());
  // The other loop's capture is untouched.
  EXPECT_TRUE(other_capture->is_open());
  EXPECT_EQ(other_sink->data, "");
  EXPECT_EQ(OutputCapture::close_all(loop), 0u) << "nothing of this loop is left open";
  EXPECT_EQ(OutputCapture::close_all(other), 1u);
  EXPECT_EQ(other_sink->data, "other");
}
TEST(OutputCapture, FloodingWriterDoesNotStarveOtherCaptures) {
  loop::EventLoop loop;
  auto flood_sink = std::make_shared<NullSink>();
  auto quiet_sink = std::make_shared<StringSink>();
  sys::Pipe flood = sys::make_pipe();
  sys::Pipe quiet = sys::make_pipe();
  pid_t flooder =
      spawn({"head", "-c", "64000000", "/dev/zero"}, flood.write.get(), flood.write.get());
  flood.write.reset();
  auto flood_capture = OutputCapture::start(loop, std::move(flood.read), flood_sink);
  auto quiet_capture = OutputCapture::start(loop, std::move(quiet.read), quiet_sink);
  ASSERT_EQ(::write(quiet.write.get(), "hello\n", 6), 6);
  ASSERT_TRUE(run_until(loop, [&] { return quiet_sink->data == "hello\n"; }));
  EXPECT_LT(flood_capture->bytes_read(), 64000000u) << "the quiet pipe waited for the flood";
  ASSERT_TRUE(run_until(loop, [&] { return !flood_capture->is_open(); }));
  EXPECT_EQ(flood_capture->bytes_read(), 64000000u);
  reap(flooder);
}

config::ProgramConfig program_with(const std::string& name, config::LogTarget out,
                                   config::LogTarget err, bool redirect) {
  config::ProgramConfig program;
  program.name = name;
  program.redirect_stderr = redirect;
  program.stdout_logfile_settings = {1000, 2};
  program.stderr_logfile_settings = {1000, 2};
  config::ProcessConfig process;
  process.name = name;
  process.stdout_logfile = std::move(out);
  process.stderr_logfile = std::move(err);
  program.processes.push_back(process);
  return program;
}

config::LogTarget file_target(const std::filesystem::path& path) {
  return {config::LogTarget::Kind::File, path};
}

/// Runs `script` with sh under `output` and waits until its pipes are drained.
void run_child(loop::EventLoop& loop, ProcessOutput& output, const std::string& script) {
  OutputPipes pipes = output.create_pipes();
  pid_t pid = spawn({"sh", "-c", script}, pipes.child_stdout(), pipes.child_stderr());
  output.start_capture(loop, std::move(pipes));
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  reap(pid);
}

TEST(ProcessOutput, SeparateStdoutAndStderrFiles) {
  TempDir dir;
  loop::EventLoop loop;
  auto program = program_with("web", file_target(dir / "web-stdout.log"),
                              file_target(dir / "web-stderr.log"), false);
  ProcessOutput output(program, program.processes[0], nullptr);
  EXPECT_NE(output.sink(StreamKind::Stdout), output.sink(StreamKind::Stderr));
  OutputPipes pipes = output.create_pipes();
  EXPECT_NE(pipes.child_stdout(), pipes.child_stderr());
  pid_t pid =
      spawn({"sh", "-c", "echo out; echo err >&2"}, pipes.child_stdout(), pipes.child_stderr());
  output.start_capture(loop, std::move(pipes));
  EXPECT_EQ(output.open_captures(), 2u);
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  reap(pid);
  EXPECT_EQ(read_file(dir / "web-stdout.log"), "out\n");
  EXPECT_EQ(read_file(dir / "web-stderr.log"), "err\n");
  EXPECT_EQ(output.sink(StreamKind::Stdout)->file_path(), dir / "web-stdout.log");
}

TEST(ProcessOutput, RedirectStderrUsesOnePipeAndOneFile) {
  TempDir dir;
  loop::EventLoop loop;
  auto program = program_with("web", file_target(dir / "web-stdout.log"),
                              file_target(dir / "web-stderr.log"), true);
  ProcessOutput output(program, program.processes[0], nullptr);
  EXPECT_EQ(output.sink(StreamKind::Stdout), output.sink(StreamKind::Stderr));
  OutputPipes pipes = output.create_pipes();
  EXPECT_EQ(pipes.child_stdout(), pipes.child_stderr());
  EXPECT_FALSE(pipes.stderr_read);
  run_child(loop, output, "echo out; echo err >&2; echo out2");
  EXPECT_EQ(read_file(dir / "web-stdout.log"), "out\nerr\nout2\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "web-stderr.log"));
}

TEST(ProcessOutput, SinksSurviveRestartsAndClear) {
  TempDir dir;
  loop::EventLoop loop;
  auto program =
      program_with("web", file_target(dir / "out.log"), {config::LogTarget::Kind::None, {}}, false);
  ProcessOutput output(program, program.processes[0], nullptr);
  run_child(loop, output, "echo first; echo ignored >&2");
  run_child(loop, output, "echo second");
  EXPECT_EQ(read_file(dir / "out.log"), "first\nsecond\n");
  std::string error;
  EXPECT_TRUE(output.clear(&error)) << error;
  EXPECT_EQ(read_file(dir / "out.log"), "");
  run_child(loop, output, "echo third");
  EXPECT_EQ(read_file(dir / "out.log"), "third\n");
}

TEST(ProcessOutput, ConsoleStreams) {
  ::signal(SIGPIPE, SIG_IGN);
  loop::EventLoop loop;
  sys::Pipe stdout_pipe = sys::make_pipe();
  auto console = std::make_shared<ConsoleWriter>(
      loop, stdout_pipe.write.get(), ConsoleWriter::kDefaultMaxBuffer, ConsoleWriter::Color::Never);
  console->set_name_width(6);
  config::LogTarget console_target{config::LogTarget::Kind::Console, {}};
  auto program = program_with("web", console_target, console_target, false);
  ProcessOutput output(program, program.processes[0], console);
  run_child(loop, output, "echo out; sleep 0.01; echo err >&2; sleep 0.01; printf partial");
  char buf[256];
  ssize_t n = ::read(stdout_pipe.read.get(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)),
            "web    | out\nweb    ! err\nweb    | partial\n");
}

TEST(ProcessOutput, DroppedWhileDrainingTheCaptureFinishesAlone) {
  TempDir dir;
  loop::EventLoop loop;
  auto program =
      program_with("web", file_target(dir / "out.log"), file_target(dir / "err.log"), false);
  auto output = std::make_unique<ProcessOutput>(program, program.processes[0], nullptr);
  OutputPipes pipes = output->create_pipes();
  sys::UniqueFd extra_holder(::dup(pipes.child_stdout()));  // a grandchild's copy
  pid_t pid = spawn({"echo", "before"}, pipes.child_stdout(), pipes.child_stderr());
  output->start_capture(loop, std::move(pipes));
  reap(pid);
  std::weak_ptr<OutputSink> sink = output->sink(StreamKind::Stdout);
  output.reset();  // the runtime forgets the process (e.g. removed by update)
  ASSERT_EQ(::write(extra_holder.get(), "after\n", 6), 6);
  extra_holder.reset();
  ASSERT_TRUE(run_until(loop, [&] { return sink.expired(); }));
  EXPECT_EQ(read_file(dir / "out.log"), "before\nafter\n");
}

TEST(ProcessOutput, LogFileThatOutlivesItStillReportsUnderTheProcessName) {
  std::ostringstream logged;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_st>(logged));
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);

  TempDir dir;
  auto blocker = dir / "not-a-dir";  // a file where the log's directory should be
  write_file(blocker, "x");
  {
    loop::EventLoop loop;
    auto program = program_with("web", file_target(blocker / "out.log"),
                                {config::LogTarget::Kind::None, {}}, false);
    auto output = std::make_unique<ProcessOutput>(program, program.processes[0], nullptr);
    OutputPipes pipes = output->create_pipes();
    sys::UniqueFd holder(::dup(pipes.child_stdout()));  // a grandchild's copy
    output->start_capture(loop, std::move(pipes));
    std::weak_ptr<OutputSink> sink = output->sink(StreamKind::Stdout);
    output.reset();  // its log file lives on in the capture
    std::filesystem::remove(blocker);
    std::filesystem::create_directory(blocker);
    ASSERT_EQ(::write(holder.get(), "late\n", 5), 5);
    holder.reset();
    ASSERT_TRUE(run_until(loop, [&] { return sink.expired(); }));
    EXPECT_EQ(read_file(blocker / "out.log"), "late\n");
  }
  spdlog::set_default_logger(previous);

  // The fault (while the ProcessOutput lived) and the recovery (after it
  // was gone) both name the process.
  std::istringstream lines(logged.str());
  std::vector<std::string> got;
  for (std::string line; std::getline(lines, line);) got.push_back(line);
  ASSERT_EQ(got.size(), 2u) << logged.str();
  EXPECT_EQ(got[0], "web: open " + (blocker / "out.log").native() + ": Not a directory");
  EXPECT_EQ(got[1].rfind("web: ", 0), 0u) << got[1];
  EXPECT_NE(got[1].find((blocker / "out.log").native()), std::string::npos) << got[1];
}

TEST(ProcessOutput, SameFileForBothStreamsIsOneLogFile) {
  TempDir dir;
  auto program =
      program_with("web", file_target(dir / "all.log"), file_target(dir / "all.log"), false);
  ProcessOutput output(program, program.processes[0], nullptr);
  EXPECT_EQ(output.sink(StreamKind::Stdout), output.sink(StreamKind::Stderr));
}

}  // namespace
}  // namespace minisup::logging
