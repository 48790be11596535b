// ProcessMachine: every state x every event, as one table.
//
// Each row puts a machine in a state by a short script (times from kT0),
// feeds one event at kNow and compares the new state and the exact actions
// (reasons are checked by the scripted tests in process_machine_test.cc, so
// they are blanked here). A completeness check makes sure no (state, event)
// pair is missing.
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <map>
#include <set>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = kT0 + 20s;

// ---- The states (each with how to get there) ----
// The last three use killasgroup; the others the default policy.
enum class Given {
  Stopped,
  StartingUnspawned,  // StartRequest sent, Spawned not yet reported
  Starting,           // pid 100, startsecs armed for kT0 + 1 s
  Running,            // pid 100
  Backoff,            // 1 failed start, retry armed for kT0 + 1.5 s
  Stopping,           // pid 100, SIGTERM at kT0 + 2 s, stopwaitsecs armed for kT0 + 12 s
  StoppingUnspawned,  // stop requested before Spawned
  Exited,             // exited with 0 (expected) at kT0 + 3 s
  Fatal,              // 4 failed starts (startretries = 3)
  StoppingAsGroup,    // killasgroup; as Stopping
  LeaderReaped,       // killasgroup; as Stopping, the leader exited with 0 at kT0 + 3 s,
                      // the ProbeGroup not answered yet
  GroupLingering,     // as LeaderReaped, then GroupProbed{alive} at kT0 + 3 s
};

bool uses_killasgroup(Given setup) {
  return setup == Given::StoppingAsGroup || setup == Given::LeaderReaped ||
         setup == Given::GroupLingering;
}

const char* name_of(Given setup) {
  switch (setup) {
    case Given::Stopped:
      return "Stopped";
    case Given::StartingUnspawned:
      return "StartingUnspawned";
    case Given::Starting:
      return "Starting";
    case Given::Running:
      return "Running";
    case Given::Backoff:
      return "Backoff";
    case Given::Stopping:
      return "Stopping";
    case Given::StoppingUnspawned:
      return "StoppingUnspawned";
    case Given::Exited:
      return "Exited";
    case Given::Fatal:
      return "Fatal";
    case Given::StoppingAsGroup:
      return "StoppingAsGroup";
    case Given::LeaderReaped:
      return "LeaderReaped";
    case Given::GroupLingering:
      return "GroupLingering";
  }
  return "?";
}

ProcessMachine make_machine(Given setup) {
  ProcessPolicy policy;  // startsecs 1 s, startretries 3, autorestart unexpected
  policy.killasgroup = uses_killasgroup(setup);
  ProcessMachine m{policy};
  auto start = [&] { m.handle(StartRequest{}, kT0); };
  auto spawned = [&] { m.handle(Spawned{100}, kT0); };
  switch (setup) {
    case Given::Stopped:
      break;
    case Given::StartingUnspawned:
      start();
      break;
    case Given::Starting:
      start();
      spawned();
      break;
    case Given::Running:
      start();
      spawned();
      m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
      break;
    case Given::Backoff:
      start();
      spawned();
      m.handle(ChildExited{1, {}}, kT0 + 500ms);
      break;
    case Given::Stopping:
    case Given::StoppingAsGroup:
      start();
      spawned();
      m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
      m.handle(StopRequest{}, kT0 + 2s);
      break;
    case Given::LeaderReaped:
    case Given::GroupLingering:
      start();
      spawned();
      m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
      m.handle(StopRequest{}, kT0 + 2s);
      m.handle(ChildExited{0, {}}, kT0 + 3s);
      if (setup == Given::GroupLingering) m.handle(GroupProbed{true}, kT0 + 3s);
      break;
    case Given::StoppingUnspawned:
      start();
      m.handle(StopRequest{}, kT0);
      break;
    case Given::Exited:
      start();
      spawned();
      m.handle(DeadlineExpired{DeadlineKind::Startsecs}, kT0 + 1s);
      m.handle(ChildExited{0, {}}, kT0 + 3s);
      break;
    case Given::Fatal: {
      start();
      TimePoint t = kT0;
      for (int attempt = 1; attempt <= 4; ++attempt) {
        m.handle(Spawned{100 + attempt}, t);
        m.handle(ChildExited{1, {}}, t + 100ms);
        t += 100ms + std::chrono::seconds(attempt);
        m.handle(DeadlineExpired{DeadlineKind::Backoff}, t);
      }
      break;
    }
  }
  return m;
}

ProcessState state_of(Given setup) {
  switch (setup) {
    case Given::Stopped:
      return ProcessState::Stopped;
    case Given::StartingUnspawned:
    case Given::Starting:
      return ProcessState::Starting;
    case Given::Running:
      return ProcessState::Running;
    case Given::Backoff:
      return ProcessState::Backoff;
    case Given::Stopping:
    case Given::StoppingUnspawned:
    case Given::StoppingAsGroup:
    case Given::LeaderReaped:
    case Given::GroupLingering:
      return ProcessState::Stopping;
    case Given::Exited:
      return ProcessState::Exited;
    case Given::Fatal:
      return ProcessState::Fatal;
  }
  return ProcessState::Stopped;
}

// ---- The events ----
enum class Ev {
  Start,
  Stop,
  Spawned,
  SpawnFailed,
  Exited,
  GroupAlive,  // GroupProbed{alive = true}
  GroupEmpty,  // GroupProbed{alive = false}
  StartsecsExpired,
  BackoffExpired,
  StopwaitExpired,
};

const char* name_of(Ev ev) {
  switch (ev) {
    case Ev::Start:
      return "Start";
    case Ev::Stop:
      return "Stop";
    case Ev::Spawned:
      return "Spawned";
    case Ev::SpawnFailed:
      return "SpawnFailed";
    case Ev::Exited:
      return "Exited";
    case Ev::GroupAlive:
      return "GroupAlive";
    case Ev::GroupEmpty:
      return "GroupEmpty";
    case Ev::StartsecsExpired:
      return "StartsecsExpired";
    case Ev::BackoffExpired:
      return "BackoffExpired";
    case Ev::StopwaitExpired:
      return "StopwaitExpired";
  }
  return "?";
}

Event make_event(Ev ev) {
  switch (ev) {
    case Ev::Start:
      return StartRequest{};
    case Ev::Stop:
      return StopRequest{};
    case Ev::Spawned:
      return Spawned{200};
    case Ev::SpawnFailed:
      return SpawnFailed{"exec /bin/x: No such file or directory"};
    case Ev::Exited:
      return ChildExited{1, {}};
    case Ev::GroupAlive:
      return GroupProbed{true};
    case Ev::GroupEmpty:
      return GroupProbed{false};
    case Ev::StartsecsExpired:
      return DeadlineExpired{DeadlineKind::Startsecs};
    case Ev::BackoffExpired:
      return DeadlineExpired{DeadlineKind::Backoff};
    case Ev::StopwaitExpired:
      return DeadlineExpired{DeadlineKind::Stopwaitsecs};
  }
  return GroupProbed{false};
}

constexpr Ev kAllEvents[] = {
    Ev::Start,      Ev::Stop,       Ev::Spawned,          Ev::SpawnFailed,    Ev::Exited,
    Ev::GroupAlive, Ev::GroupEmpty, Ev::StartsecsExpired, Ev::BackoffExpired, Ev::StopwaitExpired};
constexpr Given kAllGivens[] = {
    Given::Stopped, Given::StartingUnspawned, Given::Starting,          Given::Running,
    Given::Backoff, Given::Stopping,          Given::StoppingUnspawned, Given::Exited,
    Given::Fatal,   Given::StoppingAsGroup,   Given::LeaderReaped,      Given::GroupLingering};

// ---- Shorthands for expected actions ----
using S = ProcessState;
StateChanged changed(S from, S to, std::optional<ExitRecord> exit = std::nullopt) {
  return StateChanged{from, to, "", std::move(exit)};
}
/// Every deadline in the table is armed for the first incarnation.
ArmDeadline arm(DeadlineKind kind, std::chrono::nanoseconds after_now) {
  return ArmDeadline{kind, kNow + after_now, 1};
}
CancelDeadline cancel(DeadlineKind kind) { return CancelDeadline{kind}; }
ExitRecord exit_record(int code, std::optional<std::chrono::nanoseconds> stop_duration = {},
                       TimePoint when = kNow) {
  ExitRecord record;
  record.reason = ExitReason::Exited;
  record.pid = 100;
  record.incarnation = 1;
  record.exit_code = code;
  record.when = when;
  record.stop_duration = stop_duration;
  record.expected = code == 0;
  return record;
}
/// What StateChanged carries for a failed spawn (`pid` 0 when nothing was forked).
ExitRecord spawn_failed(int pid) {
  ExitRecord record;
  record.reason = ExitReason::SpawnFailed;
  record.message = "exec /bin/x: No such file or directory";
  record.pid = pid;
  record.incarnation = 1;
  record.when = kNow;
  return record;
}
constexpr auto kStartsecs = DeadlineKind::Startsecs;
constexpr auto kBackoff = DeadlineKind::Backoff;
constexpr auto kStopwait = DeadlineKind::Stopwaitsecs;

struct Row {
  Given setup;
  Ev event;
  ProcessState after;
  std::vector<Action> actions;
};

// An idle state (STOPPED, EXITED, FATAL): only a start does something; it
// spawns incarnation `next`.
std::vector<Row> idle_rows(Given setup, Incarnation next) {
  const S s = state_of(setup);
  return {
      {setup, Ev::Start, S::Starting, {changed(s, S::Starting), Spawn{next}}},
      {setup, Ev::Stop, s, {}},
      {setup, Ev::Spawned, s, {}},
      {setup, Ev::SpawnFailed, s, {}},
      {setup, Ev::Exited, s, {}},
      {setup, Ev::GroupAlive, s, {}},
      {setup, Ev::GroupEmpty, s, {}},
      {setup, Ev::StartsecsExpired, s, {}},
      {setup, Ev::BackoffExpired, s, {}},
      {setup, Ev::StopwaitExpired, s, {}},
  };
}

// killasgroup, the leader reaped (probe pending, or the group lingering):
// only the probe's "empty" answer and the deadline do something.
std::vector<Row> leader_reaped_rows(Given setup) {
  // The leader's record: reaped at kT0 + 3 s, SIGTERM at kT0 + 2 s.
  const ExitRecord leader = exit_record(0, kNow - (kT0 + 2s), kT0 + 3s);
  return {
      {setup, Ev::Start, S::Stopping, {}},
      {setup, Ev::Stop, S::Stopping, {}},
      {setup, Ev::Spawned, S::Stopping, {}},
      {setup, Ev::SpawnFailed, S::Stopping, {}},
      {setup, Ev::Exited, S::Stopping, {}},
      {setup, Ev::GroupAlive, S::Stopping, {}},
      {setup,
       Ev::GroupEmpty,
       S::Stopped,
       {cancel(kStopwait), RecordExit{leader}, changed(S::Stopping, S::Stopped, leader)}},
      {setup, Ev::StartsecsExpired, S::Stopping, {}},
      {setup, Ev::BackoffExpired, S::Stopping, {}},
      {setup,
       Ev::StopwaitExpired,
       S::Stopping,
       {SendSignal{SIGKILL, true}, Notice{""}, arm(kStopwait, 5s)}},
  };
}

std::vector<Row> table() {
  std::vector<Row> rows;
  auto add = [&rows](std::vector<Row> more) { rows.insert(rows.end(), more.begin(), more.end()); };
  add(idle_rows(Given::Stopped, 1));
  add(idle_rows(Given::Exited, 2));
  add(idle_rows(Given::Fatal, 5));
  add(leader_reaped_rows(Given::LeaderReaped));
  add(leader_reaped_rows(Given::GroupLingering));
  add({
      // STARTING, Spawned not reported yet.
      {Given::StartingUnspawned, Ev::Start, S::Starting, {}},
      {Given::StartingUnspawned, Ev::Stop, S::Stopping, {changed(S::Starting, S::Stopping)}},
      {Given::StartingUnspawned, Ev::Spawned, S::Starting, {arm(kStartsecs, 1s)}},
      {Given::StartingUnspawned,
       Ev::SpawnFailed,
       S::Backoff,
       {changed(S::Starting, S::Backoff, spawn_failed(0)), arm(kBackoff, 1s)}},
      {Given::StartingUnspawned, Ev::Exited, S::Starting, {}},
      {Given::StartingUnspawned, Ev::GroupAlive, S::Starting, {}},
      {Given::StartingUnspawned, Ev::GroupEmpty, S::Starting, {}},
      {Given::StartingUnspawned, Ev::StartsecsExpired, S::Starting, {}},
      {Given::StartingUnspawned, Ev::BackoffExpired, S::Starting, {}},
      {Given::StartingUnspawned, Ev::StopwaitExpired, S::Starting, {}},
      // STARTING with a child.
      {Given::Starting, Ev::Start, S::Starting, {}},
      {Given::Starting,
       Ev::Stop,
       S::Stopping,
       {cancel(kStartsecs), changed(S::Starting, S::Stopping), SendSignal{SIGTERM, false},
        arm(kStopwait, 10s)}},
      {Given::Starting, Ev::Spawned, S::Starting, {}},
      {Given::Starting,
       Ev::SpawnFailed,
       S::Backoff,
       {cancel(kStartsecs), changed(S::Starting, S::Backoff, spawn_failed(100)),
        arm(kBackoff, 1s)}},
      {Given::Starting,
       Ev::Exited,
       S::Backoff,
       {cancel(kStartsecs), RecordExit{exit_record(1)},
        changed(S::Starting, S::Backoff, exit_record(1)), arm(kBackoff, 1s)}},
      {Given::Starting, Ev::GroupAlive, S::Starting, {}},
      {Given::Starting, Ev::GroupEmpty, S::Starting, {}},
      {Given::Starting, Ev::StartsecsExpired, S::Running, {changed(S::Starting, S::Running)}},
      {Given::Starting, Ev::BackoffExpired, S::Starting, {}},
      {Given::Starting, Ev::StopwaitExpired, S::Starting, {}},
      // RUNNING.
      {Given::Running, Ev::Start, S::Running, {}},
      {Given::Running,
       Ev::Stop,
       S::Stopping,
       {changed(S::Running, S::Stopping), SendSignal{SIGTERM, false}, arm(kStopwait, 10s)}},
      {Given::Running, Ev::Spawned, S::Running, {}},
      {Given::Running,
       Ev::SpawnFailed,
       S::Backoff,
       {changed(S::Running, S::Backoff, spawn_failed(100)), arm(kBackoff, 1s)}},
      {Given::Running,
       Ev::Exited,
       S::Starting,
       {RecordExit{exit_record(1)}, changed(S::Running, S::Exited, exit_record(1)),
        changed(S::Exited, S::Starting), Spawn{2}}},
      {Given::Running, Ev::GroupAlive, S::Running, {}},
      {Given::Running, Ev::GroupEmpty, S::Running, {}},
      {Given::Running, Ev::StartsecsExpired, S::Running, {}},
      {Given::Running, Ev::BackoffExpired, S::Running, {}},
      {Given::Running, Ev::StopwaitExpired, S::Running, {}},
      // BACKOFF.
      {Given::Backoff,
       Ev::Start,
       S::Starting,
       {cancel(kBackoff), changed(S::Backoff, S::Starting), Spawn{2}}},
      {Given::Backoff, Ev::Stop, S::Stopped, {cancel(kBackoff), changed(S::Backoff, S::Stopped)}},
      {Given::Backoff, Ev::Spawned, S::Backoff, {}},
      {Given::Backoff, Ev::SpawnFailed, S::Backoff, {}},
      {Given::Backoff, Ev::Exited, S::Backoff, {}},
      {Given::Backoff, Ev::GroupAlive, S::Backoff, {}},
      {Given::Backoff, Ev::GroupEmpty, S::Backoff, {}},
      {Given::Backoff, Ev::StartsecsExpired, S::Backoff, {}},
      {Given::Backoff,
       Ev::BackoffExpired,
       S::Starting,
       {changed(S::Backoff, S::Starting), Spawn{2}}},
      {Given::Backoff, Ev::StopwaitExpired, S::Backoff, {}},
      // STOPPING with a child.
      {Given::Stopping, Ev::Start, S::Stopping, {}},
      {Given::Stopping, Ev::Stop, S::Stopping, {}},
      {Given::Stopping, Ev::Spawned, S::Stopping, {}},
      {Given::Stopping,
       Ev::SpawnFailed,
       S::Stopped,
       {cancel(kStopwait), changed(S::Stopping, S::Stopped, spawn_failed(100))}},
      {Given::Stopping,
       Ev::Exited,
       S::Stopped,
       {cancel(kStopwait), RecordExit{exit_record(1, 18s)},
        changed(S::Stopping, S::Stopped, exit_record(1, 18s))}},
      {Given::Stopping, Ev::GroupAlive, S::Stopping, {}},
      {Given::Stopping, Ev::GroupEmpty, S::Stopping, {}},
      {Given::Stopping, Ev::StartsecsExpired, S::Stopping, {}},
      {Given::Stopping, Ev::BackoffExpired, S::Stopping, {}},
      {Given::Stopping,
       Ev::StopwaitExpired,
       S::Stopping,
       {SendSignal{SIGKILL, false}, Notice{""}, arm(kStopwait, 5s)}},
      // STOPPING with a child, killasgroup: the leader's exit asks about its group.
      {Given::StoppingAsGroup, Ev::Start, S::Stopping, {}},
      {Given::StoppingAsGroup, Ev::Stop, S::Stopping, {}},
      {Given::StoppingAsGroup, Ev::Spawned, S::Stopping, {}},
      {Given::StoppingAsGroup,
       Ev::SpawnFailed,
       S::Stopped,
       {cancel(kStopwait), changed(S::Stopping, S::Stopped, spawn_failed(100))}},
      {Given::StoppingAsGroup, Ev::Exited, S::Stopping, {ProbeGroup{}}},
      {Given::StoppingAsGroup, Ev::GroupAlive, S::Stopping, {}},
      {Given::StoppingAsGroup, Ev::GroupEmpty, S::Stopping, {}},
      {Given::StoppingAsGroup, Ev::StartsecsExpired, S::Stopping, {}},
      {Given::StoppingAsGroup, Ev::BackoffExpired, S::Stopping, {}},
      {Given::StoppingAsGroup,
       Ev::StopwaitExpired,
       S::Stopping,
       {SendSignal{SIGKILL, true}, Notice{""}, arm(kStopwait, 5s)}},
      // STOPPING, stop requested before Spawned.
      {Given::StoppingUnspawned, Ev::Start, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::Stop, S::Stopping, {}},
      {Given::StoppingUnspawned,
       Ev::Spawned,
       S::Stopping,
       {SendSignal{SIGTERM, false}, arm(kStopwait, 10s)}},
      {Given::StoppingUnspawned,
       Ev::SpawnFailed,
       S::Stopped,
       {changed(S::Stopping, S::Stopped, spawn_failed(0))}},
      {Given::StoppingUnspawned, Ev::Exited, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::GroupAlive, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::GroupEmpty, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::StartsecsExpired, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::BackoffExpired, S::Stopping, {}},
      {Given::StoppingUnspawned, Ev::StopwaitExpired, S::Stopping, {}},
  });
  return rows;
}

std::vector<Action> without_reasons(std::vector<Action> actions) {
  for (Action& action : actions) {
    if (auto* c = std::get_if<StateChanged>(&action)) c->reason.clear();
    if (auto* n = std::get_if<Notice>(&action)) n->message.clear();
  }
  return actions;
}

TEST(ProcessMachineTable, SetupsReachTheirStates) {
  for (Given setup : kAllGivens) {
    const ProcessMachine m = make_machine(setup);
    EXPECT_EQ(m.state(), state_of(setup)) << name_of(setup);
    EXPECT_EQ(m.policy().killasgroup, uses_killasgroup(setup)) << name_of(setup);
    const bool reaped = setup == Given::LeaderReaped || setup == Given::GroupLingering;
    EXPECT_EQ(m.group_lingering(), reaped) << name_of(setup);
    if (reaped) {
      EXPECT_EQ(m.pid(), 0) << name_of(setup);
      EXPECT_EQ(m.process_group(), 100) << name_of(setup);
    }
  }
}

TEST(ProcessMachineTable, CoversEveryStateAndEveryEventOnce) {
  std::set<std::pair<Given, Ev>> seen;
  for (const Row& row : table()) {
    EXPECT_TRUE(seen.insert({row.setup, row.event}).second)
        << "duplicate row " << name_of(row.setup) << " x " << name_of(row.event);
  }
  for (Given setup : kAllGivens) {
    for (Ev ev : kAllEvents) {
      EXPECT_TRUE(seen.count({setup, ev}))
          << "missing row " << name_of(setup) << " x " << name_of(ev);
    }
  }
  std::set<ProcessState> states;
  for (Given setup : kAllGivens) states.insert(state_of(setup));
  EXPECT_EQ(states.size(), kAllProcessStates.size());
}

TEST(ProcessMachineTable, EveryTransition) {
  for (const Row& row : table()) {
    SCOPED_TRACE(std::string(name_of(row.setup)) + " x " + name_of(row.event));
    ProcessMachine m = make_machine(row.setup);
    const std::vector<Action> actions = m.handle(make_event(row.event), kNow);
    EXPECT_EQ(m.state(), row.after);
    EXPECT_EQ(without_reasons(actions), row.actions)
        << "actual:" << testing_support::describe_all(actions)
        << "\nexpected:" << testing_support::describe_all(row.actions);
    // Every state change comes with a reason for the log.
    for (const Action& action : actions) {
      if (const auto* c = std::get_if<StateChanged>(&action)) {
        EXPECT_FALSE(c->reason.empty());
      }
      if (const auto* n = std::get_if<Notice>(&action)) {
        EXPECT_FALSE(n->message.empty());
      }
    }
  }
}

TEST(ProcessMachineTable, IgnoredEventsChangeNothingObservable) {
  for (const Row& row : table()) {
    if (!row.actions.empty()) continue;
    SCOPED_TRACE(std::string(name_of(row.setup)) + " x " + name_of(row.event));
    ProcessMachine m = make_machine(row.setup);
    const int pid = m.pid();
    const int group = m.process_group();
    const bool lingering = m.group_lingering();
    const Incarnation incarnation = m.incarnation();
    const int failed = m.failed_starts();
    const auto retry_at = m.retry_at();
    const auto last_exit = m.last_exit();
    const auto last_error = m.last_error();
    m.handle(make_event(row.event), kNow);
    EXPECT_EQ(m.pid(), pid);
    EXPECT_EQ(m.process_group(), group);
    EXPECT_EQ(m.group_lingering(), lingering);
    EXPECT_EQ(m.incarnation(), incarnation);
    EXPECT_EQ(m.failed_starts(), failed);
    EXPECT_EQ(m.retry_at(), retry_at);
    EXPECT_EQ(m.last_exit(), last_exit);
    EXPECT_EQ(m.last_error(), last_error);
  }
}

}  // namespace
}  // namespace minisup::core
