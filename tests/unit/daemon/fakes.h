// Fakes of the runtime's seam (supervisor/daemon/system.h): a System that
// records what the runtime does to processes and lets the test say when a
// child exits, a Timers with a clock the test moves, and a Clients that
// keeps every line the runtime sends, parsed as JSON. No process, no
// socket, no real time: every runtime test is deterministic.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "supervisor/daemon/system.h"
#include "supervisor/logging/child_log.h"

namespace minisup::daemon::testing {

/// The fake clock's origin (any fixed time; printed times are relative to it).
inline const Timers::TimePoint kT0 = Timers::TimePoint{} + std::chrono::hours(1);

// ---------------------------------------------------------------------------
// FakeSystem
// ---------------------------------------------------------------------------

/// What the runtime does to processes, recorded; children exit when the test
/// says so (exit(), kill()), and reap() returns each such exit once.
class FakeSystem final : public System {
 public:
  /// One spawn() call.
  struct SpawnCall {
    SpawnPlan plan;
    int pid = 0;        ///< 0 when it failed
    std::string error;  ///< why it failed
  };
  /// One signal_process() or signal_tree() call.
  struct SignalCall {
    int target = 0;  ///< pid, or pgid when `group`
    int signal = 0;
    bool group = false;
    bool delivered = false;  ///< what the call returned
    bool operator==(const SignalCall&) const = default;
  };

  /// One tree_usage() call.
  struct TreeCall {
    std::string process;
    int pgid = 0;
    bool operator==(const TreeCall&) const = default;
  };

  /// The first pid handed out; each spawn gets the next one.
  static constexpr int kFirstPid = 1000;

  // ---- what the test tells the fake ----

  /// The next spawn fails with `message` (queued: call twice for two).
  void fail_next_spawn(std::string message) { fail_next_.push_back(std::move(message)); }
  /// Every spawn fails with `message` until stop_failing().
  void fail_every_spawn(std::string message) { fail_always_ = std::move(message); }
  void stop_failing() {
    fail_always_.reset();
    fail_next_.clear();
  }
  /// Child `pid` exited with `code`: reap() returns it once.
  void exit(int pid, int code) { declare(pid, sys::Reaped{pid, code, std::nullopt, false}); }
  /// Child `pid` was killed by `signal`.
  void kill(int pid, int signal, bool core_dumped = false) {
    declare(pid, sys::Reaped{pid, std::nullopt, signal, core_dumped});
  }
  /// A process that is not a supervised child (an orphaned grandchild
  /// handed to minisupd) exited: reap() returns it once.
  void orphan_exit(int pid, int code = 0) {
    pending_.push_back(sys::Reaped{pid, code, std::nullopt, false});
  }
  /// The same, killed by `signal`.
  void orphan_killed(int pid, int signal) {
    pending_.push_back(sys::Reaped{pid, std::nullopt, signal, false});
  }
  /// Members of process group `pgid` other than its leader (e.g. a
  /// grandchild that outlived it): tree_alive answers true while there are.
  void set_group_members(int pgid, int others) {
    if (others > 0) {
      others_[pgid] = others;
    } else {
      others_.erase(pgid);
    }
  }

  /// The trees are cgroups (the Supervisor's whole_trees); set before the
  /// Runtime is made.
  void set_tree_mode(TreeMode mode) { tree_mode_ = mode; }
  /// Strays of `process` that kill_strays() finds (once).
  void set_strays(const std::string& process, std::vector<TreeMember> strays) {
    strays_[process] = std::move(strays);
  }
  /// The cgroup of `process` became empty (what inotify reports).
  void tree_emptied(const std::string& process) {
    if (on_tree_emptied_) on_tree_emptied_(process);
  }
  /// What tree_usage() answers from now on, for every process (nullopt:
  /// nothing could be read); `process` narrows it to that process, whose
  /// answer then wins over the one for every process.
  void set_tree_usage(std::optional<sys::TreeUsage> usage) { tree_usage_ = usage; }
  /// tree_usage() of `process` throws (what no real reading does: a test
  /// of a failure half-way through a status).
  void fail_tree_usage(const std::string& process) { tree_usage_fails_ = process; }
  void set_tree_usage(const std::string& process, std::optional<sys::TreeUsage> usage) {
    tree_usage_of_[process] = usage;
  }

  // ---- what the runtime did ----

  /// The rename_tree() calls, in order.
  const std::vector<std::pair<std::string, std::string>>& renamed() const { return renamed_; }
  /// The processes release_tree() was called for, in order.
  const std::vector<std::string>& released() const { return released_; }

  const std::vector<SpawnCall>& spawns() const { return spawns_; }
  /// The pids of the successful spawns, in order.
  std::vector<int> spawned_pids() const {
    std::vector<int> pids;
    for (const auto& s : spawns_) {
      if (s.pid > 0) pids.push_back(s.pid);
    }
    return pids;
  }
  /// The process names of every spawn() call, in order (failed ones too).
  std::vector<std::string> spawned_names() const {
    std::vector<std::string> names;
    for (const auto& s : spawns_) names.push_back(s.plan.process);
    return names;
  }
  /// The pid of the last successful spawn of `process` (0: none).
  int pid_of(const std::string& process) const {
    for (auto it = spawns_.rbegin(); it != spawns_.rend(); ++it) {
      if (it->plan.process == process && it->pid > 0) return it->pid;
    }
    return 0;
  }
  /// Every signal sent, to processes and groups, in order.
  const std::vector<SignalCall>& signals() const { return signals_; }
  /// The signals sent to `target` (a pid or a pgid).
  std::vector<SignalCall> signals_to(int target) const {
    std::vector<SignalCall> result;
    for (const auto& s : signals_) {
      if (s.target == target) result.push_back(s);
    }
    return result;
  }
  /// Whether `signal` was sent to `target` (as a group signal when `group`).
  bool sent(int target, int signal, bool group = false) const {
    return std::any_of(signals_.begin(), signals_.end(), [&](const SignalCall& s) {
      return s.target == target && s.signal == signal && s.group == group;
    });
  }
  /// The pgids tree_alive() was asked about, in order.
  const std::vector<int>& probes() const { return probes_; }
  /// The tree_usage() calls, in order.
  const std::vector<TreeCall>& tree_calls() const { return tree_calls_; }
  /// How often outputs_configured() was called, and with how many programs
  /// the last time.
  int outputs_configured_calls() const { return outputs_configured_calls_; }
  std::size_t last_configured_programs() const { return last_configured_programs_; }
  /// The outputs made, by process name (the latest for a name; owned by the
  /// runtime, valid while it keeps the process).
  logging::ProcessOutput* output(const std::string& process) const {
    auto it = outputs_.find(process);
    return it == outputs_.end() ? nullptr : it->second;
  }
  int outputs_made() const { return outputs_made_; }
  /// Children spawned and not reaped yet.
  const std::set<int>& live() const { return live_; }

  /// The hold_sockets() calls, in order (the sockets of each).
  const std::vector<std::vector<config::SocketConfig>>& held_socket_calls() const {
    return held_socket_calls_;
  }
  /// The next hold_sockets() fails with `message`.
  void fail_next_hold(std::string message) { fail_hold_ = std::move(message); }

  /// Forgets the recorded calls (not the children).
  void clear_calls() {
    spawns_.clear();
    signals_.clear();
    probes_.clear();
    tree_calls_.clear();
  }

  // ---- System ----

  std::unique_ptr<logging::ProcessOutput> make_output(
      const config::ProgramConfig& program, const config::ProcessConfig& process) override {
    // No console: a `console` target would be discarded (NullSink); tests
    // use NONE or files, which open nothing until create_pipes(), which
    // the fake never calls.
    auto output = std::make_unique<logging::ProcessOutput>(program, process, nullptr);
    outputs_[process.name] = output.get();
    ++outputs_made_;
    return output;
  }
  void outputs_configured(const std::vector<config::ProgramConfig>& programs) override {
    ++outputs_configured_calls_;
    last_configured_programs_ = programs.size();
  }
  std::optional<std::string> hold_sockets(
      const std::vector<config::SocketConfig>& sockets) override {
    held_socket_calls_.push_back(sockets);
    if (fail_hold_) return std::exchange(fail_hold_, std::nullopt);
    return std::nullopt;
  }
  std::variant<int, std::string> spawn(const SpawnPlan& plan,
                                       logging::ProcessOutput& /*output*/) override {
    SpawnCall call;
    call.plan = plan;
    if (!fail_next_.empty()) {
      call.error = fail_next_.front();
      fail_next_.erase(fail_next_.begin());
    } else if (fail_always_) {
      call.error = *fail_always_;
    }
    if (!call.error.empty()) {
      spawns_.push_back(call);
      return call.error;
    }
    call.pid = next_pid_++;
    live_.insert(call.pid);
    spawns_.push_back(call);
    return call.pid;
  }
  bool signal_process(int pid, int signal) override {
    const bool delivered = live_.count(pid) != 0;
    signals_.push_back({pid, signal, false, delivered});
    return delivered;
  }
  TreeMode tree_mode() const override { return tree_mode_; }
  bool signal_tree(const std::string& /*process*/, int pgid, int signal) override {
    const bool delivered = alive(pgid);
    signals_.push_back({pgid, signal, true, delivered});
    return delivered;
  }
  bool tree_alive(const std::string& /*process*/, int pgid) override {
    probes_.push_back(pgid);
    return alive(pgid);
  }
  std::vector<TreeMember> tree_members(const std::string& /*process*/, int pgid) override {
    std::vector<TreeMember> members;
    if (live_.count(pgid) != 0) members.push_back({pgid, "leader"});
    auto others = others_.find(pgid);
    for (int i = 0; others != others_.end() && i < others->second; ++i)
      members.push_back({pgid + 100000 + i, "other"});
    return members;
  }
  std::vector<TreeMember> kill_strays(const std::string& process) override {
    auto found = strays_.find(process);
    if (found == strays_.end()) return {};
    std::vector<TreeMember> killed = std::move(found->second);
    strays_.erase(found);
    return killed;
  }
  bool has_strays(const std::string& process) override { return strays_.count(process) != 0; }
  void release_tree(const std::string& process) override { released_.push_back(process); }
  void rename_tree(const std::string& from, const std::string& to) override {
    renamed_.emplace_back(from, to);
  }
  void set_on_tree_emptied(std::function<void(const std::string&)> callback) override {
    on_tree_emptied_ = std::move(callback);
  }
  std::vector<sys::Reaped> reap() override {
    std::vector<sys::Reaped> reaped = std::move(pending_);
    pending_.clear();
    for (const auto& r : reaped) live_.erase(r.pid);
    return reaped;
  }
  std::optional<sys::TreeUsage> tree_usage(const std::string& process, int pgid) override {
    tree_calls_.push_back({process, pgid});
    if (process == tree_usage_fails_) throw std::runtime_error("tree_usage failed");
    if (auto it = tree_usage_of_.find(process); it != tree_usage_of_.end()) return it->second;
    return tree_usage_;
  }

 private:
  void declare(int pid, sys::Reaped reaped) {
    EXPECT_TRUE(live_.count(pid) != 0) << "pid " << pid << " is not a live child";
    for (const auto& p : pending_) {
      EXPECT_NE(p.pid, pid) << "pid " << pid << " already exited";
    }
    pending_.push_back(reaped);
  }
  /// The group has a member: its leader is unreaped, or others remain.
  bool alive(int pgid) const { return live_.count(pgid) != 0 || others_.count(pgid) != 0; }

  int next_pid_ = kFirstPid;
  std::vector<std::string> fail_next_;
  std::optional<std::string> fail_always_;
  std::vector<SpawnCall> spawns_;
  std::vector<SignalCall> signals_;
  std::vector<int> probes_;
  std::set<int> live_;
  std::vector<sys::Reaped> pending_;
  std::map<int, int> others_;
  TreeMode tree_mode_ = TreeMode::Group;
  std::map<std::string, std::vector<TreeMember>> strays_;
  std::vector<std::string> released_;
  std::function<void(const std::string&)> on_tree_emptied_;
  std::optional<sys::TreeUsage> tree_usage_;
  std::string tree_usage_fails_;
  std::map<std::string, std::optional<sys::TreeUsage>> tree_usage_of_;
  std::vector<TreeCall> tree_calls_;
  std::map<std::string, logging::ProcessOutput*> outputs_;
  int outputs_made_ = 0;
  int outputs_configured_calls_ = 0;
  std::vector<std::vector<config::SocketConfig>> held_socket_calls_;
  std::vector<std::pair<std::string, std::string>> renamed_;
  std::optional<std::string> fail_hold_;
  std::size_t last_configured_programs_ = 0;
};

// ---------------------------------------------------------------------------
// FakeTimers
// ---------------------------------------------------------------------------

/// A clock that moves only in advance(); timers fire there, in deadline
/// order (ties: in the order they were armed), including the timers their
/// callbacks arm when those are due too.
class FakeTimers final : public Timers {
 public:
  /// One arm() call, kept after it fired or was cancelled.
  struct Armed {
    TimerId id = 0;
    TimePoint at{};
    enum class Status { Armed, Fired, Cancelled } status = Status::Armed;
    std::function<void()> callback;
    // Readable in test failures: "Armed", "Fired", "Cancelled".
    friend void PrintTo(Status status, std::ostream* os) {
      *os << (status == Status::Armed ? "Armed" : status == Status::Fired ? "Fired" : "Cancelled");
    }
  };

  TimePoint now() const override { return now_; }
  TimerId arm(TimePoint at, std::function<void()> callback) override {
    const TimerId id = next_id_++;
    history_[id] = Armed{id, at, Armed::Status::Armed, std::move(callback)};
    armed_.insert({at, id});
    return id;
  }
  void cancel(TimerId id) override {
    auto it = history_.find(id);
    if (it == history_.end() || it->second.status != Armed::Status::Armed) return;
    armed_.erase({it->second.at, id});
    it->second.status = Armed::Status::Cancelled;
    ++cancelled_;
  }

  /// Moves the clock by `by`, firing every timer due by then (the clock
  /// reads each timer's deadline while it fires; a deadline in the past
  /// fires at the current time). advance(0) is "the next loop round": it
  /// fires what is due now (slices, a pending reload).
  void advance(std::chrono::nanoseconds by) {
    const TimePoint until = now_ + by;
    while (!armed_.empty() && armed_.begin()->first <= until) {
      const auto [at, id] = *armed_.begin();
      armed_.erase(armed_.begin());
      Armed& timer = history_.at(id);
      timer.status = Armed::Status::Fired;
      now_ = std::max(now_, at);
      ++fired_;
      // A copy: the callback may arm timers (rehashing nothing here, but
      // keep the call independent of the map).
      std::function<void()> callback = timer.callback;
      callback();
    }
    now_ = std::max(now_, until);
  }
  /// Moves the clock to `at` (not backwards), firing what is due.
  void advance_to(TimePoint at) { advance(std::max(at - now_, std::chrono::nanoseconds(0))); }

  /// Timers armed and not fired nor cancelled.
  std::size_t armed_count() const { return armed_.size(); }
  /// The earliest armed deadline, if any.
  std::optional<TimePoint> next_deadline() const {
    if (armed_.empty()) return std::nullopt;
    return armed_.begin()->first;
  }
  /// Every timer ever armed, by id.
  const std::map<TimerId, Armed>& history() const { return history_; }
  /// Calls the callback of timer `id` although it was cancelled (or fired):
  /// a late timer, as a loop that had already collected it might deliver.
  void fire_late(TimerId id) {
    std::function<void()> callback = history_.at(id).callback;
    callback();
  }
  int fired() const { return fired_; }
  int cancelled() const { return cancelled_; }

 private:
  TimePoint now_ = kT0;
  TimerId next_id_ = 1;
  std::set<std::pair<TimePoint, TimerId>> armed_;
  std::map<TimerId, Armed> history_;
  int fired_ = 0;
  int cancelled_ = 0;
};

// ---------------------------------------------------------------------------
// FakeClients
// ---------------------------------------------------------------------------

/// The control socket's clients: every line sent, parsed as JSON.
/// Probes whose attempts the test answers: attempt() records the call and
/// waits for answer(); open_notify() hands out ids whose callback the test
/// calls with notify().
class FakeProbes final : public Probes {
 public:
  struct Attempt {
    AttemptId id = 0;
    config::Probe probe;
    std::chrono::nanoseconds bound{};
    std::function<void(Result)> done;
    bool cancelled = false;
    bool answered = false;
  };

  AttemptId attempt(const config::Probe& probe, const SpawnPlan& /*plan*/,
                    std::chrono::nanoseconds bound, std::function<void(Result)> done) override {
    attempts_.push_back(Attempt{++next_, probe, bound, std::move(done)});
    return attempts_.back().id;
  }
  void cancel(AttemptId id) override {
    for (Attempt& a : attempts_) {
      if (a.id == id && !a.answered) a.cancelled = true;
    }
  }
  bool child_reaped(const sys::Reaped& reaped) override {
    return probe_pids_.erase(reaped.pid) > 0;
  }
  std::variant<std::pair<NotifyId, std::string>, std::string> open_notify(
      const std::optional<std::string>& /*user*/,
      std::function<void(const NotifyMessage&)> on_message) override {
    const NotifyId id = ++next_;
    notify_[id] = std::move(on_message);
    return std::pair<NotifyId, std::string>{id, "@fake-notify-" + std::to_string(id)};
  }
  void close_notify(NotifyId id) override { notify_.erase(id); }

  /// The attempts still waiting for an answer (not cancelled).
  std::vector<Attempt*> open_attempts() {
    std::vector<Attempt*> open;
    for (Attempt& a : attempts_) {
      if (!a.cancelled && !a.answered) open.push_back(&a);
    }
    return open;
  }
  /// Answers the one open attempt (a test failure when there is not one).
  void answer(bool ok, const std::string& detail = "") {
    auto open = open_attempts();
    ASSERT_EQ(open.size(), 1u);
    open[0]->answered = true;
    open[0]->done(Result{ok, detail});
  }
  std::size_t attempts() const { return attempts_.size(); }
  const std::vector<Attempt>& all_attempts() const { return attempts_; }
  /// A datagram on notify socket `id`.
  void notify(NotifyId id, NotifyMessage message) { notify_.at(id)(message); }
  /// Open notify sockets.
  std::vector<NotifyId> open_notify_ids() const {
    std::vector<NotifyId> ids;
    for (const auto& [id, callback] : notify_) ids.push_back(id);
    return ids;
  }
  void add_probe_pid(int pid) { probe_pids_.insert(pid); }
  /// Probe children not handed back by child_reaped() yet.
  std::size_t unreaped_probe_children() const { return probe_pids_.size(); }

 private:
  std::vector<Attempt> attempts_;
  std::map<NotifyId, std::function<void(const NotifyMessage&)>> notify_;
  std::set<int> probe_pids_;
  std::uint64_t next_ = 0;
};

class FakeClients final : public Clients {
 public:
  void send(ClientId client, std::string&& line) override {
    if (auto part = parts_.find(client); part != parts_.end()) {
      line = std::move(part->second) + line;  // the line's first parts came before
      parts_.erase(part);
    }
    raw_[client].push_back(line);
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << "a line holds a newline: " << line;
    lines_[client].push_back(std::move(parsed));
  }
  bool send_part(ClientId client, std::string_view bytes) override {
    if (whole_lines_only_) return false;
    EXPECT_EQ(bytes.find('\n'), std::string_view::npos) << "a part holds a newline";
    parts_[client].append(bytes);
    ++parts_sent_;
    return true;
  }
  bool connected(ClientId client) const override { return gone_.count(client) == 0; }
  void close_after_flush(ClientId client) override { closed_after_flush_.insert(client); }
  void hold_until_exit(ClientId client) override { held_.insert(client); }

  /// The client went away (the test then tells the runtime, or not).
  void disconnect(ClientId client) { gone_.insert(client); }

  /// The lines sent to `client` so far (not taken yet).
  const std::vector<nlohmann::json>& lines(ClientId client) { return lines_[client]; }
  /// The lines sent to `client` since the last take(), which forgets them.
  std::vector<nlohmann::json> take(ClientId client) {
    std::vector<nlohmann::json> taken = std::move(lines_[client]);
    lines_[client].clear();
    return taken;
  }
  /// Every line sent to anyone so far (taken or not), as sent.
  std::size_t total_lines() const {
    std::size_t n = 0;
    for (const auto& [client, lines] : raw_) n += lines.size();
    return n;
  }
  /// Parts of lines sent (send_part()) so far.
  int parts_sent() const { return parts_sent_; }
  /// Bytes of a line begun with send_part() and not ended yet.
  std::size_t unended_bytes(ClientId client) const {
    auto it = parts_.find(client);
    return it == parts_.end() ? 0 : it->second.size();
  }
  /// From now on, send_part() refuses, as for an HTTP client.
  void take_whole_lines_only() { whole_lines_only_ = true; }
  bool closed_after_flush(ClientId client) const { return closed_after_flush_.count(client) != 0; }
  bool held_until_exit(ClientId client) const { return held_.count(client) != 0; }

 private:
  std::map<ClientId, std::vector<nlohmann::json>> lines_;
  std::map<ClientId, std::vector<std::string>> raw_;
  std::map<ClientId, std::string> parts_;
  int parts_sent_ = 0;
  bool whole_lines_only_ = false;
  std::set<ClientId> gone_;
  std::set<ClientId> closed_after_flush_;
  std::set<ClientId> held_;
};

}  // namespace minisup::daemon::testing
