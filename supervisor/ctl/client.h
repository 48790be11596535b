// Connection: minisupctl's side of the control socket.
//
// Model: one blocking Unix stream connection, one request line written, then
// reply lines read as they come. Reads may carry a deadline (for commands
// that should answer at once); commands that wait for processes (start,
// stop, wait, shutdown ...) read without one, as long as minisupd needs.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "supervisor/control/protocol.h"
#include "supervisor/ctl/bulk_memory.h"
#include "supervisor/ctl/fd.h"

namespace minisup::ctl {

/// connect() failed. `unreachable` is true when minisupd is simply not
/// there (no socket file, or nobody listening): the message is then
/// `minisupd is not running (no socket at PATH)` /
/// `minisupd is not running (connection refused at PATH)`.
class ConnectError : public std::runtime_error {
 public:
  ConnectError(const std::string& message, bool unreachable)
      : std::runtime_error(message), unreachable_(unreachable) {}
  bool unreachable() const { return unreachable_; }

 private:
  bool unreachable_;
};

/// No reply line arrived before the deadline.
class ReadTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Connection {
 public:
  /// Connects to the socket at `socket`. Throws ConnectError.
  static Connection open(const std::filesystem::path& socket);

  /// Writes `line` and '\n'. Throws std::runtime_error when the connection
  /// broke.
  void send_line(std::string_view line);

  /// The next line (without '\n'); nullopt when minisupd closed the
  /// connection. With `timeout`, throws ReadTimeout when no complete line
  /// arrived in time. Throws std::runtime_error on read errors.
  std::optional<std::string> read_line(
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// The same, as a view into the connection's buffer (no copy of a large
  /// reply): valid until the next call on the connection.
  std::optional<std::string_view> read_line_view(
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  /// The bytes received and not yet returned by read_line(): the start of
  /// the next line (perhaps more). Valid until the next receive() or
  /// read_line().
  std::string_view pending() const { return {data_ + start_, end_ - start_}; }
  /// Waits for more bytes (until `deadline` when given) and appends them to
  /// pending(); false when the connection ended. Throws ReadTimeout past
  /// the deadline, std::runtime_error on read errors.
  bool receive(std::optional<std::chrono::steady_clock::time_point> deadline);

  /// A reply of up to `bytes` may come: once the bytes received outgrow
  /// the first 64 KB, room for that many is set aside (address space only,
  /// in BulkMemory: huge pages where the kernel has them), so that a large
  /// reply (`status` of 10,000 processes is ~0.5 MB, 4.7 MB as JSON) is
  /// read without the buffer being copied as it grows, and with a page
  /// fault per 2 MB rather than per 4 KB.
  void expect_reply_bytes(std::size_t bytes) { expected_ = bytes; }

 private:
  explicit Connection(Fd fd) : fd_(std::move(fd)) {}
  /// Room for at least `bytes` more at end_ (moving the pending bytes to
  /// the start, or into a larger buffer).
  void make_room(std::size_t bytes);

  Fd fd_;
  // The bytes received: [start_, end_) of data_, which is small_ or bulk_.
  std::unique_ptr<char[]> small_;
  BulkMemory bulk_;
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t start_ = 0;
  std::size_t end_ = 0;
  std::size_t scanned_ = 0;   ///< no '\n' in [start_, start_ + scanned_)
  std::size_t expected_ = 0;  ///< expect_reply_bytes()
  bool eof_ = false;
};

/// The next reply line of a connection as it arrives, for
/// control::decode_status_line(LineSource&, ...): bytes are waited for
/// until `deadline` (none: as long as it takes), as read_line() would.
class ArrivingLine final : public control::LineSource {
 public:
  ArrivingLine(Connection& connection,
               std::optional<std::chrono::steady_clock::time_point> deadline)
      : connection_(connection), deadline_(deadline) {}
  std::string_view received() const override { return connection_.pending(); }
  bool receive() override { return connection_.receive(deadline_); }

 private:
  Connection& connection_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace minisup::ctl
