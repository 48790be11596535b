// Log files under stress: descriptors held only while a process's pipes are
// open, marker lines where bytes were dropped, the dropped byte count, and
// one report per fault episode however often the fault repeats.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "logging_test_util.h"
#include "supervisor/logging/child_log.h"
#include "supervisor/logging/tail.h"
#include "supervisor/loop/event_loop.h"
#include "supervisor/sys/spawn.h"

namespace minisup::logging {
namespace {

using testing::read_file;
using testing::Reports;
using testing::run_until;
using testing::TempDir;
using testing::write_file;

/// Descriptors open in this process right now.
std::size_t open_fds() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

config::LogTarget file_target(const std::filesystem::path& path) {
  return {config::LogTarget::Kind::File, path};
}

config::ProgramConfig program_with(const std::string& name, config::LogTarget out,
                                   config::LogTarget err) {
  config::ProgramConfig program;
  program.name = name;
  program.stdout_logfile_settings = {0, 1};
  program.stderr_logfile_settings = {0, 1};
  config::ProcessConfig process;
  process.name = name;
  process.stdout_logfile = std::move(out);
  process.stderr_logfile = std::move(err);
  program.processes.push_back(process);
  return program;
}

/// Spawns `sh -c script` on the pipes; returns the pid.
pid_t spawn_shell(const std::string& script, const OutputPipes& pipes) {
  sys::SpawnRequest request;
  request.argv = {"sh", "-c", script};
  request.envp = {"PATH=/usr/bin:/bin"};
  request.stdout_fd = pipes.child_stdout();
  request.stderr_fd = pipes.child_stderr();
  auto result = sys::spawn_process(request);
  if (auto* message = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *message;
    return -1;
  }
  return std::get<sys::SpawnedChild>(result).pid;
}

void reap(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

/// One spawn of `script` under `output`, run until its pipes are drained.
void run_child(loop::EventLoop& loop, ProcessOutput& output, const std::string& script) {
  OutputPipes pipes = output.create_pipes();
  pid_t pid = spawn_shell(script, pipes);
  output.start_capture(loop, std::move(pipes));
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  reap(pid);
}

LogFile& log_file(const ProcessOutput& output, StreamKind stream) {
  auto* file = dynamic_cast<LogFile*>(output.sink(stream).get());
  EXPECT_NE(file, nullptr);
  return *file;
}

// ---------------------------------------------------------------------------
// Descriptors: open while a pipe feeds the file, closed otherwise.

TEST(LogFileDescriptors, NeverStartedProcessesHoldNoDescriptorAndCreateNoFile) {
  TempDir dir;
  const std::size_t before = open_fds();
  std::vector<std::unique_ptr<ProcessOutput>> outputs;
  for (int i = 0; i < 300; ++i) {
    // Appended, not "p" + std::to_string(i): GCC 12 at -O3 reports a
    // false -Wrestrict for that operator+.
    std::string name = "p";
    name += std::to_string(i);
    auto program = program_with(name, file_target(dir / (name + "-stdout.log")),
                                file_target(dir / (name + "-stderr.log")));
    outputs.push_back(std::make_unique<ProcessOutput>(program, program.processes[0], nullptr));
  }
  EXPECT_EQ(open_fds(), before) << "600 log files must not be opened before a spawn";
  EXPECT_FALSE(log_file(*outputs[0], StreamKind::Stdout).is_open());
  EXPECT_FALSE(std::filesystem::exists(dir / "p0-stdout.log"));
  // Reopen (SIGUSR2) has nothing to reopen and must not open anything.
  for (auto& output : outputs) output->reopen();
  EXPECT_EQ(open_fds(), before);
  // Clear: no file, nothing to clear, and no file made by clearing.
  std::string error;
  EXPECT_TRUE(outputs[0]->clear(&error)) << error;
  EXPECT_FALSE(std::filesystem::exists(dir / "p0-stdout.log"));
  EXPECT_EQ(open_fds(), before);
}

TEST(LogFileDescriptors, OpenedAtCreatePipesAndReleasedWhenTheSpawnFails) {
  TempDir dir;
  auto program = program_with("web", file_target(dir / "out.log"), file_target(dir / "err.log"));
  ProcessOutput output(program, program.processes[0], nullptr);
  {
    OutputPipes pipes = output.create_pipes();
    // Created at the spawn, as supervisord does, so a bad path shows then.
    EXPECT_TRUE(log_file(output, StreamKind::Stdout).is_open());
    EXPECT_TRUE(log_file(output, StreamKind::Stderr).is_open());
    EXPECT_TRUE(std::filesystem::exists(dir / "out.log"));
    EXPECT_TRUE(std::filesystem::exists(dir / "err.log"));
  }  // the spawn failed: the pipes are dropped without a capture
  EXPECT_FALSE(log_file(output, StreamKind::Stdout).is_open());
  EXPECT_FALSE(log_file(output, StreamKind::Stderr).is_open());
  EXPECT_EQ(log_file(output, StreamKind::Stdout).uses(), 0);
}

TEST(LogFileDescriptors, ClosedOnceEveryCaptureReachedEofAndBackToTheBaseline) {
  TempDir dir;
  loop::EventLoop loop;
  // Both streams into one file: one LogFile fed by two captures.
  auto program = program_with("web", file_target(dir / "all.log"), file_target(dir / "all.log"));
  ProcessOutput output(program, program.processes[0], nullptr);
  LogFile& file = log_file(output, StreamKind::Stdout);
  const std::size_t before = open_fds();
  OutputPipes pipes = output.create_pipes();
  sys::UniqueFd stderr_holder(::dup(pipes.child_stderr()));  // a grandchild's stderr
  pid_t pid = spawn_shell("echo out; echo err >&2", pipes);
  output.start_capture(loop, std::move(pipes));
  reap(pid);
  // stdout reached EOF, stderr is still held open: the file stays open.
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 1; }));
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.uses(), 1);
  ASSERT_EQ(::write(stderr_holder.get(), "late\n", 5), 5);
  ASSERT_TRUE(run_until(
      loop, [&] { return read_file(dir / "all.log").find("late\n") != std::string::npos; }));
  EXPECT_TRUE(file.is_open());
  stderr_holder.reset();
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(file.uses(), 0);
  EXPECT_EQ(open_fds(), before);
  // Restarts open and close it again each time; nothing accumulates.
  for (int i = 0; i < 3; ++i) run_child(loop, output, "echo run" + std::to_string(i));
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(open_fds(), before);
  std::string all = read_file(dir / "all.log");
  EXPECT_NE(all.find("run2\n"), std::string::npos) << all;
}

TEST(LogFileDescriptors, TailClearReopenAndFollowersWorkWithTheFileClosed) {
  TempDir dir;
  loop::EventLoop loop;
  auto program =
      program_with("web", file_target(dir / "out.log"), {config::LogTarget::Kind::None, {}});
  ProcessOutput output(program, program.processes[0], nullptr);
  LogFile& file = log_file(output, StreamKind::Stdout);
  // A follower (tail -f) of a stopped program needs no open file.
  std::string followed;
  TailFollower follower(*output.sink(StreamKind::Stdout),
                        [&](std::string_view chunk) { followed.append(chunk); });
  EXPECT_FALSE(file.is_open());
  run_child(loop, output, "echo one; echo two");
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(followed, "one\ntwo\n");
  EXPECT_TRUE(follower.is_active());
  // tail -n reads the closed file by path.
  TailResult tail = read_last_lines(file.file_path(), 1);
  ASSERT_TRUE(tail.ok()) << tail.message;
  EXPECT_EQ(tail.text, "two\n");
  // SIGUSR2 on a closed file: nothing to reopen, nothing opened.
  output.reopen();
  EXPECT_FALSE(file.is_open());
  // clear truncates by path and leaves it closed.
  std::string error;
  EXPECT_TRUE(output.clear(&error)) << error;
  EXPECT_EQ(read_file(dir / "out.log"), "");
  EXPECT_FALSE(file.is_open());
  run_child(loop, output, "echo three");
  EXPECT_EQ(read_file(dir / "out.log"), "three\n");
  EXPECT_EQ(followed, "one\ntwo\nthree\n");
}

TEST(LogFileDescriptors, UnwritablePathIsReportedAtTheSpawnOnce) {
  TempDir dir;
  auto blocker = dir / "not-a-dir";
  write_file(blocker, "x");
  Reports reports;
  auto program =
      program_with("web", file_target(blocker / "out.log"), {config::LogTarget::Kind::None, {}});
  ProcessOutput output(program, program.processes[0], nullptr, reports.hook());
  EXPECT_TRUE(reports.items.empty()) << "nothing is opened before a spawn";
  {
    OutputPipes pipes = output.create_pipes();
    ASSERT_EQ(reports.items.size(), 1u);
    EXPECT_EQ(reports.items[0].second,
              "open " + (blocker / "out.log").native() + ": Not a directory");
  }
  // A crash loop: every spawn tries again, none reports it again.
  for (int i = 0; i < 50; ++i) {
    OutputPipes pipes = output.create_pipes();
    output.sink(StreamKind::Stdout)->write("lost\n");
  }
  EXPECT_EQ(reports.items.size(), 1u);
  EXPECT_EQ(output.dropped_bytes(), 250u);
}

TEST(LogFileDescriptors, FailedReopenEpisodeEndsWhenTheNextSpawnOpensThePath) {
  TempDir dir;
  auto sub = dir / "sub";
  std::filesystem::create_directory(sub);
  auto path = sub / "out.log";
  Reports reports;
  LogFile file(path, 0, 1, reports.hook(), LogFile::OpenWhen::FirstUse);
  file.acquire();
  file.write("one\n");
  std::filesystem::rename(sub, dir / "moved");
  write_file(sub, "x");  // the path cannot be opened any more
  file.reopen();         // fails: writing goes on into the old file
  EXPECT_EQ(reports.count(ReportKind::Fault), 1u);
  file.release();  // the process stopped: closed
  EXPECT_FALSE(file.is_open());
  std::filesystem::remove(sub);
  std::filesystem::create_directory(sub);
  file.acquire();  // the next spawn opens the path: the episode is over
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(reports.count(ReportKind::Recovered), 1u);
  // ... so a new failure is a new episode, reported again.
  std::filesystem::rename(sub, dir / "moved-again");
  write_file(sub, "x");
  file.reopen();
  EXPECT_EQ(reports.count(ReportKind::Fault), 2u);
  file.release();
}

// ---------------------------------------------------------------------------
// Dropped bytes: counted, reported once, marked in the file.

/// `path` as a symlink to /dev/full, where every write fails with ENOSPC.
void point_at_dev_full(const std::filesystem::path& path) {
  std::filesystem::remove(path);
  std::filesystem::create_symlink("/dev/full", path);
}

TEST(LogFileGaps, FullDeviceDropsCountsReportsOnceAndMarksTheGapAfterRecovery) {
  TempDir dir;
  auto path = dir / "out.log";
  point_at_dev_full(path);
  Reports reports;
  LogFile file(path, 0, 1, reports.hook(), LogFile::OpenWhen::FirstUse);
  file.acquire();
  for (int i = 0; i < 1000; ++i) file.write("0123456789");
  EXPECT_EQ(file.dropped_bytes(), 10000u);
  EXPECT_EQ(file.unmarked_dropped_bytes(), 10000u);
  EXPECT_TRUE(file.is_faulted());
  ASSERT_EQ(reports.items.size(), 1u) << "one report per episode, not per write";
  EXPECT_EQ(reports.items[0].second, "write " + path.native() + ": No space left on device");
  // The process stops (file closed) and the disk is fine when it starts
  // again: the first bytes written are preceded by the marker.
  file.release();
  EXPECT_FALSE(file.is_open());
  std::filesystem::remove(path);
  file.acquire();
  file.write("after\n");
  file.write("more\n");
  file.release();
  EXPECT_EQ(read_file(path),
            "[minisup: 10000 bytes dropped: No space left on device]\nafter\nmore\n");
  EXPECT_EQ(file.dropped_bytes(), 10000u) << "the marker is not a drop";
  EXPECT_EQ(file.unmarked_dropped_bytes(), 0u);
  EXPECT_FALSE(file.is_faulted());
  ASSERT_EQ(reports.items.size(), 2u);
  EXPECT_EQ(reports.items[1].first, ReportKind::Recovered);
  EXPECT_NE(reports.items[1].second.find("10000 bytes were dropped"), std::string::npos)
      << reports.items[1].second;
}

TEST(LogFileGaps, EachEpisodeGetsItsOwnMarkerAndTheTotalAddsUp) {
  TempDir dir;
  auto path = dir / "out.log";
  auto real = dir / "real.log";
  Reports reports;
  LogFile file(path, 0, 1, reports.hook());
  file.write("start\n");
  for (int episode = 1; episode <= 2; ++episode) {
    std::filesystem::rename(path, real);
    point_at_dev_full(path);
    file.reopen();
    for (int i = 0; i < episode; ++i) file.write("xyz\n");
    std::filesystem::remove(path);
    std::filesystem::rename(real, path);
    file.reopen();
    file.write("back " + std::to_string(episode) + "\n");
  }
  EXPECT_EQ(read_file(path),
            "start\n"
            "[minisup: 4 bytes dropped: No space left on device]\n"
            "back 1\n"
            "[minisup: 8 bytes dropped: No space left on device]\n"
            "back 2\n");
  EXPECT_EQ(file.dropped_bytes(), 12u);
  EXPECT_EQ(reports.count(ReportKind::Fault), 2u);
  EXPECT_EQ(reports.count(ReportKind::Recovered), 2u);
}

TEST(LogFileGaps, ProcessOutputSumsBothStreams) {
  TempDir dir;
  loop::EventLoop loop;
  point_at_dev_full(dir / "out.log");
  point_at_dev_full(dir / "err.log");
  auto program = program_with("web", file_target(dir / "out.log"), file_target(dir / "err.log"));
  ProcessOutput output(program, program.processes[0], nullptr,
                       [](ReportKind, const std::string&) {});
  run_child(loop, output, "printf 12345; printf 678 >&2");
  EXPECT_EQ(log_file(output, StreamKind::Stdout).dropped_bytes(), 5u);
  EXPECT_EQ(log_file(output, StreamKind::Stderr).dropped_bytes(), 3u);
  EXPECT_EQ(output.dropped_bytes(), 8u);
}

/// Runs `body` in a child process with RLIMIT_FSIZE (byte-exact write
/// failures: EFBIG) and SIGXFSZ ignored; the child exits 0 if `body`
/// returns an empty string, else prints it and exits 1.
void with_file_size_limit(const std::function<std::string()>& body) {
  EXPECT_EXIT(
      {
        ::signal(SIGXFSZ, SIG_IGN);
        std::string failure = body();
        if (!failure.empty()) {
          if (::write(2, failure.data(), failure.size()) < 0) ::_exit(2);
          ::_exit(1);
        }
        ::_exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

void set_file_size_limit(rlim_t bytes) {
  struct rlimit limit {};
  ::getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = bytes;
  ::setrlimit(RLIMIT_FSIZE, &limit);
}

TEST(LogFileGaps, MarkerStartsOnItsOwnLineAndIsNeverLeftHalfWritten) {
  TempDir dir;
  auto path = dir / "out.log";
  with_file_size_limit([&]() -> std::string {
    LogFile file(path, 0, 1);
    set_file_size_limit(20);
    file.write("0123456789");
    file.write("abcdefghij-partial");  // 10 fit, 8 are dropped (EFBIG)
    if (file.dropped_bytes() != 8) return "dropped " + std::to_string(file.dropped_bytes());
    // Room for 5 more bytes: the marker does not fit and must not be left
    // half-written; the data after it joins the gap.
    set_file_size_limit(25);
    file.write("zz");
    if (read_file(path) != "0123456789abcdefghij") return "half marker: " + read_file(path);
    if (file.dropped_bytes() != 10) return "dropped " + std::to_string(file.dropped_bytes());
    set_file_size_limit(RLIM_INFINITY);
    file.write("tail\n");
    const std::string want =
        "0123456789abcdefghij\n[minisup: 10 bytes dropped: File too large]\ntail\n";
    if (read_file(path) != want) return "got: " + read_file(path);
    return "";
  });
}

// ---------------------------------------------------------------------------
// A log deleted under a running program.

TEST(LogFileGaps, DeletedWhileOpenIsRecreatedBeforeTheNextWrite) {
  TempDir dir;
  loop::EventLoop loop;
  auto program =
      program_with("web", file_target(dir / "out.log"), {config::LogTarget::Kind::None, {}});
  ProcessOutput output(program, program.processes[0], nullptr);
  OutputPipes pipes = output.create_pipes();
  sys::UniqueFd writer(::dup(pipes.child_stdout()));  // plays the running program
  output.start_capture(loop, std::move(pipes));
  ASSERT_EQ(::write(writer.get(), "first\n", 6), 6);
  ASSERT_TRUE(run_until(loop, [&] { return read_file(dir / "out.log") == "first\n"; }));
  std::filesystem::remove(dir / "out.log");
  ASSERT_EQ(::write(writer.get(), "second\n", 7), 7);
  ASSERT_TRUE(run_until(loop, [&] { return read_file(dir / "out.log") == "second\n"; }));
  EXPECT_EQ(output.dropped_bytes(), 0u);
  writer.reset();
  ASSERT_TRUE(run_until(loop, [&] { return output.open_captures() == 0; }));
}

}  // namespace
}  // namespace minisup::logging
