// ctl/render: minisupctl's text output and its LSB exit codes.
#include "supervisor/ctl/render.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace minisup::ctl {
namespace {

using namespace control;

ProcessInfo process(std::string name, std::string state, std::string description) {
  ProcessInfo p;
  p.name = name;
  p.group = name.substr(0, name.find(':'));
  p.state = std::move(state);
  p.description = std::move(description);
  return p;
}

TEST(RenderStatus, AlignsNamesAndStates) {
  const std::string table = render_status(
      {process("web:0", "RUNNING", "pid 1234, uptime 0:01:05"),
       process("db", "STOPPED", "Not started"), process("worker_long", "STARTING", "")},
      false);
  EXPECT_EQ(table,
            "web:0        RUNNING   pid 1234, uptime 0:01:05\n"
            "db           STOPPED   Not started\n"
            "worker_long  STARTING\n");
}

TEST(RenderStatus, AnOldProcessOfARollingRestartIsMarkedOld) {
  ProcessInfo old = process("web:0", "STOPPING", "pid 41");
  old.old = true;
  EXPECT_EQ(render_status({process("web:0", "RUNNING", "pid 42, uptime 0:00:01"), old}, false),
            "web:0        RUNNING   pid 42, uptime 0:00:01\n"
            "web:0 (old)  STOPPING  pid 41\n");
}

TEST(StatusTable, KeepsItsOwnCopyOfWhatTheReusedProcessHeld) {
  StatusTable table;
  ProcessInfo p = process("web", "RUNNING", "pid 1, uptime 0:00:01");
  table.add(p);
  // The decoder reuses one ProcessInfo: what the table holds must not change.
  p = process("a-much-longer-name-than-before:12", "FATAL", std::string(70000, 'x'));
  p.dropped_bytes = 3;
  table.add(p);
  p.name.assign("zzz");
  p.description.assign("overwritten");
  ASSERT_EQ(table.rows().size(), 2u);
  EXPECT_EQ(table.rows()[0].name, "web");
  EXPECT_EQ(table.rows()[0].state, "RUNNING");
  EXPECT_EQ(table.rows()[0].description, "pid 1, uptime 0:00:01");
  EXPECT_EQ(table.rows()[1].name, "a-much-longer-name-than-before:12");
  EXPECT_EQ(table.rows()[1].description, std::string(70000, 'x'));
  EXPECT_EQ(table.rows()[1].dropped_bytes, 3u);
  EXPECT_EQ(exit_code_for_status(table), 3);
  table.restart();  // a repeated "processes" array: the last one counts
  EXPECT_TRUE(table.rows().empty());
  table.add(process("db", "RUNNING", "pid 9, uptime 0:00:01"));
  EXPECT_EQ(exit_code_for_status(table), 0);
  EXPECT_EQ(render_status(table, false), "db  RUNNING   pid 9, uptime 0:00:01\n");
}

TEST(StatusTable, ALargeTableIsWrittenInPiecesOfWholeLines) {
  std::vector<ProcessInfo> processes;
  for (int i = 0; i < 3000; ++i) {
    processes.push_back(process(fmt::format("worker:{}", i), i % 7 ? "RUNNING" : "FATAL",
                                fmt::format("pid {}, uptime 0:00:{:02}", 1000 + i, i % 60)));
  }
  const StatusTable table = StatusTable::of(processes);
  std::vector<std::string> pieces;
  render_status(table, false, false, [&](std::string_view piece) { pieces.emplace_back(piece); });
  ASSERT_GT(pieces.size(), 1u) << "3,000 lines are more than one piece";
  std::string joined;
  for (const auto& piece : pieces) {
    ASSERT_FALSE(piece.empty());
    EXPECT_EQ(piece.back(), '\n');
    EXPECT_LE(piece.size(), 80u * 1024);
    joined += piece;
  }
  EXPECT_EQ(joined, render_status(processes, false));
  EXPECT_EQ(std::count(joined.begin(), joined.end(), '\n'), 3000);
  EXPECT_EQ(joined.substr(0, joined.find('\n')), "worker:0     FATAL     pid 1000, uptime 0:00:00");
}

TEST(StatusTable, AStateNotKnownToThisClientIsShownAsSent) {
  StatusTable table;
  table.add(process("web", "HIBERNATING", "since noon"));
  EXPECT_EQ(render_status(table, true), "web  HIBERNATING since noon\n");
  EXPECT_EQ(exit_code_for_status(table), 0);
}

TEST(RenderRestart, AFailedRollingRestartExitsOne) {
  RestartReply reply;
  reply.results = {{"web:0", RestartOutcome::Failed, "exited with status 1", false},
                   {"web:1", RestartOutcome::Failed, "not replaced", false}};
  EXPECT_EQ(exit_code_for_restart(reply, /*rolling=*/true), 1);
  EXPECT_EQ(exit_code_for_restart(reply), 7);
  reply.results = {{"web:0", RestartOutcome::Started, "", false}};
  EXPECT_EQ(exit_code_for_restart(reply, true), 0);
}

TEST(RenderStatus, FillsInAMissingDescription) {
  ProcessInfo p = process("web", "RUNNING", "");
  p.pid = 42;
  p.uptime = Seconds(5);
  EXPECT_EQ(render_status({p}, false), "web  RUNNING   pid 42, uptime 0:00:05\n");
}

TEST(RenderStatus, ColourDoesNotChangeAlignment) {
  const std::string table = render_status(
      {process("a", "RUNNING", "x"), process("bb", "FATAL", "y"), process("c", "STOPPED", "z")},
      true);
  EXPECT_EQ(table,
            "a   \x1b[32mRUNNING\x1b[0m   x\n"
            "bb  \x1b[31mFATAL\x1b[0m     y\n"
            "c   STOPPED   z\n");
  EXPECT_EQ(render_status(std::vector<ProcessInfo>{}, true), "");
}

TEST(RenderStatus, TreeColumnsWithAHeader) {
  ProcessInfo web = process("web", "RUNNING", "pid 1234, uptime 0:01:05");
  web.tree_processes = 4;
  web.tree_rss_bytes = 12'897'484;  // 12.3 MiB
  web.tree_cpu_seconds = Seconds(1.25);
  ProcessInfo big = process("big:0", "RUNNING", "pid 7");
  big.tree_processes = 12345;
  big.tree_rss_bytes = 3ull << 40;
  big.tree_cpu_seconds = Seconds(3 * 3600 + 125);
  // Running, but nothing could be read: dashes, as for a stopped process.
  ProcessInfo blind = process("blind", "STARTING", "");
  const std::string table =
      render_status({web, process("db", "STOPPED", "Not started"), big, blind}, false, true);
  EXPECT_EQ(table,
            "NAME   STATE     PROCS      RSS      CPU  DESCRIPTION\n"
            "web    RUNNING       4    12.3M    1.25s  pid 1234, uptime 0:01:05\n"
            "db     STOPPED       -        -        -  Not started\n"
            "big:0  RUNNING   12345     3.0T    3h02m  pid 7\n"
            "blind  STARTING      -        -        -\n");
  // Without --tree the same processes give the plain table.
  EXPECT_EQ(render_status({web}, false), "web  RUNNING   pid 1234, uptime 0:01:05\n");
  // No process, no header.
  EXPECT_EQ(render_status(std::vector<ProcessInfo>{}, false, true), "");
  // Colour keeps the columns aligned.
  EXPECT_EQ(render_status({web}, true, true),
            "NAME  STATE     PROCS      RSS      CPU  DESCRIPTION\n"
            "web   \x1b[32mRUNNING\x1b[0m       4    12.3M    1.25s  pid 1234, uptime 0:01:05\n");
}

TEST(RenderStatus, TreeFigures) {
  EXPECT_EQ(format_bytes(0), "0B");
  EXPECT_EQ(format_bytes(1023), "1023B");
  EXPECT_EQ(format_bytes(1024), "1.0K");
  EXPECT_EQ(format_bytes(1536), "1.5K");
  EXPECT_EQ(format_bytes(980 * 1024), "980.0K");
  EXPECT_EQ(format_bytes(12'897'484), "12.3M");
  EXPECT_EQ(format_bytes(1536ull << 20), "1.5G");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16384.0P");

  EXPECT_EQ(format_cpu_time(Seconds(0)), "0.00s");
  EXPECT_EQ(format_cpu_time(Seconds(1.25)), "1.25s");
  EXPECT_EQ(format_cpu_time(Seconds(59.5)), "59.50s");
  EXPECT_EQ(format_cpu_time(Seconds(60)), "1m00s");
  EXPECT_EQ(format_cpu_time(Seconds(725.9)), "12m05s");
  EXPECT_EQ(format_cpu_time(Seconds(3600)), "1h00m");
  EXPECT_EQ(format_cpu_time(Seconds(100 * 3600 + 59)), "100h00m");
  EXPECT_EQ(format_cpu_time(Seconds(-1)), "0.00s");
  EXPECT_EQ(format_cpu_time(Seconds(std::nan(""))), "0.00s");
  EXPECT_EQ(format_cpu_time(Seconds(1e300)).back(), 'm');  // clamped, no overflow
}

TEST(RenderResults, Start) {
  StartReply reply{
      {{"a", StartOutcome::Started, ""},
       {"b", StartOutcome::AlreadyStarted, ""},
       {"c", StartOutcome::Failed, "spawn error: exec /x: No such file or directory"}}};
  EXPECT_EQ(render_start(reply),
            "a: started\n"
            "b: ERROR (already started)\n"
            "c: ERROR (spawn error: exec /x: No such file or directory)\n");
}

TEST(RenderResults, Stop) {
  StopReply reply{{{"a", StopOutcome::Stopped, false, Seconds(0.1), 0, std::nullopt, true},
                   {"b", StopOutcome::Stopped, true, Seconds(10.004), std::nullopt, SIGKILL, false},
                   {"c", StopOutcome::NotRunning, false, std::nullopt, std::nullopt, std::nullopt,
                    std::nullopt}}};
  EXPECT_EQ(render_stop(reply),
            "a: stopped\n"
            "b: stopped (needed SIGKILL after 10.0 s)\n"
            "c: ERROR (not running)\n");
}

TEST(RenderResults, RestartSignalClearWait) {
  EXPECT_EQ(render_restart(RestartReply{
                {{"a", RestartOutcome::Started, "", true},
                 {"b", RestartOutcome::Failed, "spawn error: exec /x: Permission denied", false}}}),
            "a: stopped (needed SIGKILL)\n"
            "a: started\n"
            "b: ERROR (spawn error: exec /x: Permission denied)\n");
  EXPECT_EQ(render_signal(
                SignalReply{{{"a", SignalOutcome::Signalled}, {"b", SignalOutcome::NotRunning}}}),
            "a: signalled\nb: ERROR (not running)\n");
  EXPECT_EQ(render_clear(ClearReply{{"a", "b:0"}}), "a: cleared\nb:0: cleared\n");
  EXPECT_EQ(render_wait(WaitReply{{{"a", "RUNNING"}, {"b", "FATAL"}}}), "a: RUNNING\nb: FATAL\n");
  EXPECT_EQ(render_no_such_program({"nope"}), "nope: ERROR (no such process)\n");
}

TEST(RenderResults, RereadAndUpdate) {
  ConfigChanges changes{{"new"}, {"web"}, {"old"}, {}};
  EXPECT_EQ(render_reread(changes), "new: added\nweb: changed\nold: removed\n");
  EXPECT_EQ(render_update(changes), "new: added\nweb: updated\nold: removed\n");
  EXPECT_EQ(render_reread({}), "No config updates to processes\n");
  EXPECT_EQ(render_update({}), "No config updates to processes\n");
  ConfigChanges http_only{{}, {}, {}, {"[http] changed; applies at the next start"}};
  EXPECT_EQ(render_reread(http_only),
            "No config updates to processes\nnote: [http] changed; applies at the next start\n");
  changes.notes = http_only.notes;
  EXPECT_EQ(render_update(changes),
            "new: added\nweb: updated\nold: removed\n"
            "note: [http] changed; applies at the next start\n");
}

TEST(RenderEvents, StateAndGap) {
  StateEvent e;
  e.process = "web:0";
  e.from = "RUNNING";
  e.to = "EXITED";
  e.reason = "exited with status 3";
  const std::string line = render_event(e);
  EXPECT_NE(line.find(" web:0 RUNNING -> EXITED (exited with status 3)\n"), std::string::npos)
      << line;
  EXPECT_EQ(render_gap(GapEvent{5, 9}), "(missed events 5 to 9: no longer buffered by minisupd)\n");
}

TEST(ExitCodes, Status) {
  EXPECT_EQ(exit_code_for_status(std::vector<ProcessInfo>{}), 0);
  EXPECT_EQ(exit_code_for_status({process("a", "RUNNING", ""), process("b", "STARTING", ""),
                                  process("c", "BACKOFF", ""), process("d", "STOPPING", "")}),
            0);
  for (const char* state : {"STOPPED", "EXITED", "FATAL"}) {
    EXPECT_EQ(exit_code_for_status({process("a", "RUNNING", ""), process("b", state, "")}), 3)
        << state;
  }
  EXPECT_EQ(exit_code_unreachable(CommandKind::Status), 4);
  EXPECT_EQ(exit_code_for_error(CommandKind::Status, "no_such_program"), 4);
}

TEST(ExitCodes, StartStopRestart) {
  EXPECT_EQ(exit_code_for_start(StartReply{
                {{"a", StartOutcome::Started, ""}, {"b", StartOutcome::AlreadyStarted, ""}}}),
            0);
  EXPECT_EQ(exit_code_for_start(
                StartReply{{{"a", StartOutcome::Started, ""}, {"b", StartOutcome::Failed, "x"}}}),
            7);
  EXPECT_EQ(exit_code_for_restart(RestartReply{{{"a", RestartOutcome::Started, "", true}}}), 0);
  EXPECT_EQ(exit_code_for_restart(RestartReply{{{"a", RestartOutcome::Failed, "x", false}}}), 7);
  StopReply killed{{{"a", StopOutcome::Stopped, true, Seconds(10), std::nullopt, SIGKILL, false},
                    {"b", StopOutcome::NotRunning, false, std::nullopt, std::nullopt, std::nullopt,
                     std::nullopt}}};
  EXPECT_EQ(exit_code_for_stop(killed, false), 0);
  EXPECT_EQ(exit_code_for_stop(killed, true), 1);
  StopReply graceful{{{"a", StopOutcome::Stopped, false, Seconds(0.1), 0, std::nullopt, true}}};
  EXPECT_EQ(exit_code_for_stop(graceful, true), 0);
}

TEST(ExitCodes, StopRequireClean) {
  const StopResult clean{"a", StopOutcome::Stopped, false, Seconds(0.1), 0, std::nullopt, true};
  const StopResult by_term{"b",  StopOutcome::Stopped, false, Seconds(0.1), std::nullopt, SIGTERM,
                           false};
  const StopResult bad_code{"c", StopOutcome::Stopped, false, Seconds(0.1), 3, std::nullopt, false};
  const StopResult killed{"d",  StopOutcome::Stopped, true, Seconds(0.2), std::nullopt, SIGKILL,
                          false};
  const StopResult not_running{
      "e", StopOutcome::NotRunning, false, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  EXPECT_TRUE(is_clean_stop(clean));
  EXPECT_FALSE(is_clean_stop(by_term));
  EXPECT_FALSE(is_clean_stop(bad_code));
  EXPECT_FALSE(is_clean_stop(killed));
  EXPECT_TRUE(is_clean_stop(not_running));
  // An older minisupd without `expected`: exit code 0 is clean.
  StopResult old = clean;
  old.expected.reset();
  EXPECT_TRUE(is_clean_stop(old));

  EXPECT_EQ(exit_code_for_stop(StopReply{{clean, not_running}}, false, true), 0);
  EXPECT_EQ(exit_code_for_stop(StopReply{{clean, by_term}}, false, true), 1);
  EXPECT_EQ(exit_code_for_stop(StopReply{{clean, by_term}}, true, false), 0);
  EXPECT_EQ(exit_code_for_stop(StopReply{{bad_code}}, false, true), 1);
  EXPECT_EQ(exit_code_for_stop(StopReply{{killed}}, false, true), 1);

  EXPECT_EQ(render_stop_problems(StopReply{{clean, by_term, bad_code, killed}}, false, true),
            "b: not a clean stop: killed by SIGTERM (--require-clean)\n"
            "c: not a clean stop: exit code 3 is not in its exitcodes (--require-clean)\n"
            "d: needed SIGKILL after 0.2 s (--require-clean)\n");
  EXPECT_EQ(render_stop_problems(StopReply{{by_term, killed}}, true, false),
            "d: needed SIGKILL after 0.2 s (--require-graceful)\n");
  EXPECT_EQ(render_stop_problems(StopReply{{clean}}, true, true), "");
}

TEST(ExitCodes, SignalAndPidOfAProcessThatIsNotRunning) {
  const SignalReply reply{{{"a", SignalOutcome::Signalled}, {"b", SignalOutcome::NotRunning}}};
  EXPECT_EQ(exit_code_for_signal(reply, {"a", "b"}), 7);  // supervisorctl's NOT_RUNNING
  EXPECT_EQ(exit_code_for_signal(reply, {"a"}), 0);
  // Through all (or a group, or a program of several processes) only the
  // running processes count, as supervisorctl signals only those.
  EXPECT_EQ(exit_code_for_signal(reply, {"all"}), 0);
  EXPECT_EQ(exit_code_for_signal(SignalReply{{{"w:0", SignalOutcome::NotRunning},
                                              {"w:1", SignalOutcome::Signalled}}},
                                 {"w:*"}),
            0);
  EXPECT_EQ(exit_code_for_signal(SignalReply{{{"w:0", SignalOutcome::NotRunning}}}, {"w:0"}), 7);
  EXPECT_EQ(exit_code_for_pid(0, true), 7);
  EXPECT_EQ(exit_code_for_pid(1234, true), 0);
  EXPECT_EQ(exit_code_for_pid(1234, false), 0);  // minisupd's own
}

TEST(ExitCodes, ErrorsAndUnreachable) {
  for (CommandKind kind : {CommandKind::Start, CommandKind::Stop, CommandKind::Wait,
                           CommandKind::Shutdown, CommandKind::Version, CommandKind::Pid}) {
    EXPECT_EQ(exit_code_unreachable(kind), 7);
    EXPECT_EQ(exit_code_for_error(kind, "no_such_program"), 1);
    EXPECT_EQ(exit_code_for_error(kind, "internal"), 1);
    EXPECT_EQ(exit_code_for_error(kind, "bad_request"), 2);
    EXPECT_EQ(exit_code_for_error(kind, "some_future_code"), 1);
  }
  EXPECT_EQ(exit_code_for_error(CommandKind::Signal, "bad_signal"), 2);
  EXPECT_EQ(exit_code_for_error(CommandKind::Wait, "timeout"), 99);
  EXPECT_EQ(exit_code_for_error(CommandKind::Wait, "unexpected_state"), 3);
  EXPECT_EQ(exit_code_for_error(CommandKind::Status, "too_many_clients"), 4);
  EXPECT_EQ(exit_code_for_error(CommandKind::Start, "too_many_clients"), 7);
}

}  // namespace
}  // namespace minisup::ctl
