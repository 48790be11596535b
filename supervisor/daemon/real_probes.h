// RealProbes: the Probes of system.h over the event loop and sys/.
//
// Model. Each attempt is one entry, keyed by its AttemptId, with one loop
// timer at its bound. Everything is non-blocking:
//   - tcp:  a non-blocking connect (sys/socket.h); EPOLLOUT, then SO_ERROR.
//   - http: the same connect, then `GET path HTTP/1.1` with `Connection:
//           close`, then the response is read until its status line is
//           complete (at most kMaxResponse bytes; the body is never read).
//           2xx is success.
//   - exec: the probe's argv is spawned as its program's processes are
//           (sys::spawn_process: user, directory, environment of the plan;
//           stdin, stdout and stderr /dev/null; a process group of its
//           own). Its exit is not watched here: the daemon's reap loop
//           collects every child and hands the ones that are no supervised
//           process to child_reaped(), which finds the probe by pid. At the
//           bound (or on cancel()) the probe's process group gets SIGKILL
//           and the attempt ends at once; its pid stays known until it is
//           reaped, so that exit is swallowed, not reported as a stranger's.
// An immediate outcome (a connect refused at once, a failed spawn) is
// delivered from a zero-delay timer, so `done` never runs inside attempt();
// the end of an exec probe is delivered the same way, outside the reap
// loop that called child_reaped(). The entry is removed before `done` runs,
// so `done` may start or cancel attempts.
//
// Notify sockets: one datagram socket per process in the abstract Unix
// namespace, `@minisup-<minisupd pid>-<n>`: no file to create, clean up or
// protect. Anyone in the network namespace can send to an abstract socket,
// so each datagram's sender credentials (SO_PASSCRED, SCM_CREDENTIALS) are
// checked: only root, minisupd's own user and the process's user count.
// A datagram is read into a kMaxDatagram buffer; a longer one is ignored.
//
// Everything runs on the loop's thread. The destructor closes every socket
// and sends SIGKILL to every exec probe's process group still unreaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

#include "supervisor/daemon/system.h"
#include "supervisor/loop/event_loop.h"

namespace minisup::daemon {

class RealProbes final : public Probes {
 public:
  /// The longest response head read to find an HTTP status line.
  static constexpr std::size_t kMaxResponse = 4096;
  /// The largest notify datagram taken; longer ones are ignored.
  static constexpr std::size_t kMaxDatagram = 4096;
  /// STATUS= texts are cut to this many bytes.
  static constexpr std::size_t kMaxStatus = 512;

  /// `loop` must outlive this object.
  explicit RealProbes(loop::EventLoop& loop);
  ~RealProbes() override;
  RealProbes(const RealProbes&) = delete;
  RealProbes& operator=(const RealProbes&) = delete;

  AttemptId attempt(const config::Probe& probe, const SpawnPlan& plan,
                    std::chrono::nanoseconds bound, std::function<void(Result)> done) override;
  void cancel(AttemptId id) override;
  bool child_reaped(const sys::Reaped& reaped) override;

  std::variant<std::pair<NotifyId, std::string>, std::string> open_notify(
      const std::optional<std::string>& user,
      std::function<void(const NotifyMessage&)> on_message) override;
  void close_notify(NotifyId id) override;

  /// Attempts not finished yet (for tests).
  std::size_t active_attempts() const noexcept { return attempts_.size(); }
  /// Exec probe children not reaped yet, finished attempts' included.
  std::size_t unreaped_children() const noexcept { return children_.size(); }
  /// Open notify sockets.
  std::size_t open_notifies() const noexcept { return notifies_.size(); }

 private:
  struct Attempt;
  struct Notify;

  void start_connect(Attempt& attempt);
  void start_exec(Attempt& attempt, const SpawnPlan& plan);
  void on_socket_ready(AttemptId id, std::uint32_t events);
  void send_request(Attempt& attempt);
  void read_response(Attempt& attempt);
  void on_bound(AttemptId id);
  /// Ends `attempt` now: releases its socket, timers and child (the child
  /// is killed unless `reaped`), removes it and calls its `done`.
  void finish(AttemptId id, Result result);
  /// Removes attempt `id` and releases its socket, timers and child (the
  /// child is killed; its exit, once reaped, is swallowed); null when
  /// unknown.
  std::unique_ptr<Attempt> release(AttemptId id);
  /// Ends `attempt` in a later loop round (from a zero-delay timer).
  void finish_later(Attempt& attempt, Result result);
  /// Closes the socket of `attempt` (unwatching it first).
  void close_socket(Attempt& attempt) noexcept;
  /// SIGKILL to the exec child (unreaped) and its process group.
  void kill_child(Attempt& attempt) noexcept;
  /// SIGKILL to process group `pgid`; ESRCH (no member) is fine.
  void kill_group(pid_t pgid) noexcept;
  void on_notify_readable(NotifyId id);

  loop::EventLoop& loop_;
  AttemptId next_attempt_ = 1;
  NotifyId next_notify_ = 1;
  std::uint64_t next_notify_name_ = 1;
  std::unordered_map<AttemptId, std::unique_ptr<Attempt>> attempts_;
  /// Exec probe children not reaped yet -> their attempt (0 once the
  /// attempt ended: the exit is swallowed).
  std::unordered_map<pid_t, AttemptId> children_;
  std::unordered_map<NotifyId, std::shared_ptr<Notify>> notifies_;
};

}  // namespace minisup::daemon
