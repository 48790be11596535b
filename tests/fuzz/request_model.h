// Shared by fuzz_protocol and fuzz_request: the framing of
// control_server.h written out as a reference model, and the checks made on
// every request line.
//
// Framing, per the ControlServer contract: lines end at '\n'; one trailing
// '\r' is dropped; blank lines (spaces, tabs, '\r' only) are not delivered;
// a line (complete, or a partial one still without its '\n') longer than
// max_request_bytes ends the conversation with `too_large`; bytes after the
// last '\n' are never delivered. The fuzz handlers close the connection
// after a `shutdown` request (as the daemon does, once shutdown is done), so
// the model stops after one too.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "supervisor/control/protocol.h"

namespace minisup::fuzz {

[[noreturn]] inline void fail(const char* target, const char* what, std::string_view detail) {
  std::fprintf(stderr, "%s: invariant broken: %s: %.*s\n", target, what,
               static_cast<int>(detail.size() > 2000 ? 2000 : detail.size()), detail.data());
  std::abort();
}

/// What the server must do with a byte stream.
struct Framing {
  std::vector<std::string> lines;  ///< delivered to on_line, in order
  bool too_large = false;          ///< then a too_large reply, and closed
  bool shutdown = false;           ///< the last line is a shutdown request
};

inline bool is_shutdown(std::string_view line) {
  auto parsed = control::parse_request(line);
  const auto* request = std::get_if<control::Request>(&parsed);
  return request && request->kind() == control::CommandKind::Shutdown;
}

inline Framing frame(std::string_view stream, std::size_t max_request_bytes) {
  Framing out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t newline = stream.find('\n', pos);
    if (newline == std::string_view::npos) {
      out.too_large = stream.size() - pos > max_request_bytes;
      return out;
    }
    std::string_view line = stream.substr(pos, newline - pos);
    pos = newline + 1;
    if (line.size() > max_request_bytes) {
      out.too_large = true;
      return out;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    out.lines.emplace_back(line);
    if (is_shutdown(line)) {
      out.shutdown = true;
      return out;
    }
  }
}

/// Parses one request line and checks what protocol.h promises: no throw;
/// a valid request survives encode_request() -> parse_request() unchanged;
/// an error's reply is a valid reply line. Returns the reply line the
/// fuzz handlers send.
inline std::string check_request(const char* target, std::string_view line) {
  using namespace control;
  auto parsed = parse_request(line);
  if (auto* error = std::get_if<ProtocolError>(&parsed)) {
    if (error->message.empty()) fail(target, "an error without a message", line);
    std::string reply = encode_error(*error);
    auto decoded = parse_reply(reply);
    if (!decoded || decoded->ok || decoded->error_code != to_string(error->code)) {
      fail(target, "error reply does not decode", reply);
    }
    return reply;
  }
  const Request& request = std::get<Request>(parsed);
  const std::string encoded = encode_request(request);
  auto again = parse_request(encoded);
  const auto* back = std::get_if<Request>(&again);
  if (!back) fail(target, "encode_request() output does not parse", encoded);
  if (back->id != request.id) fail(target, "id changed by encode/parse", encoded);
  if (!(back->command == request.command)) fail(target, "command changed by encode/parse", encoded);
  if (encode_request(*back) != encoded) fail(target, "encode_request() not stable", encoded);
  // A small valid reply carrying the id back.
  return encode_reply(request.id, VersionReply{});
}

}  // namespace minisup::fuzz
