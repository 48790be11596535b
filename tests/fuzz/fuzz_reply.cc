// libFuzzer target: the reply encoder of control/protocol.h and minisupctl's
// decoders.
//
// The input drives a FuzzedDataProvider that builds one reply (every
// encode_reply/encode_event/encode_error overload) from arbitrary strings
// (invalid UTF-8, NULs, quotes, control bytes), extreme and non-finite
// numbers and absent optionals. The encoded line must be:
//   - one line: no '\n' byte;
//   - valid JSON for nlohmann::json::parse, and a reply for parse_reply;
//   - decoded by the client-side decoders (decode_*, decode_status_line) to
//     the fields that were encoded, after the repairs the encoder promises:
//     invalid UTF-8 becomes U+FFFD (per byte; repair() below is an
//     independent implementation of that rule), non-finite numbers become
//     null, an empty ProcessInfo::description becomes describe(info);
//   - for status, decode_status_line()'s processes_json is the line's
//     "processes" array; the same processes encoded as rows (columns and
//     rows) decode to the same and processes_json is the "rows" array; the
//     rows written in parts (StatusReplyWriter::written) make the same
//     line, and read as it arrives (LineSource) decode the same.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/config/signal_names.h"
#include "supervisor/control/protocol.h"

using namespace minisup::control;
using nlohmann::json;

namespace {

[[noreturn]] void fail(const char* what, const std::string& line) {
  std::fprintf(stderr, "fuzz_reply: invariant broken: %s\nline: %.*s\n", what,
               static_cast<int>(line.size() > 4000 ? 4000 : line.size()), line.c_str());
  std::abort();
}

// ---- the expected repair of invalid UTF-8 ---------------------------------

/// The code point of the well-formed UTF-8 sequence at s[i] and its length,
/// or length 0 (Unicode Table 3-7: no overlongs, surrogates or > U+10FFFF).
std::size_t valid_sequence(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t len;
  char32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string repair(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = valid_sequence(s, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return out;
}

bool valid_utf8(const std::string& s) { return repair(s) == s; }

std::vector<std::string> repair(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(repair(s));
  return out;
}

// ---- building values from the input ----------------------------------------

class Gen {
 public:
  explicit Gen(FuzzedDataProvider& fdp) : fdp_(fdp) {}

  std::string str() { return fdp_.ConsumeRandomLengthString(80); }
  std::vector<std::string> strs() {
    std::vector<std::string> out(fdp_.ConsumeIntegralInRange<int>(0, 4));
    for (auto& s : out) s = str();
    return out;
  }
  bool flag() { return fdp_.ConsumeBool(); }
  int integer() {
    switch (fdp_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        return std::numeric_limits<int>::min();
      case 1:
        return std::numeric_limits<int>::max();
      default:
        return fdp_.ConsumeIntegral<int>();
    }
  }
  std::optional<int> opt_int() { return flag() ? std::optional<int>(integer()) : std::nullopt; }
  std::uint64_t u64() { return fdp_.ConsumeIntegral<std::uint64_t>(); }

  double number() {
    switch (fdp_.ConsumeIntegralInRange<int>(0, 11)) {
      case 0:
        return std::numeric_limits<double>::quiet_NaN();
      case 1:
        return std::numeric_limits<double>::infinity();
      case 2:
        return -std::numeric_limits<double>::infinity();
      case 3:
        return -0.0;
      case 4:
        return std::numeric_limits<double>::max();
      case 5:
        return std::numeric_limits<double>::lowest();
      case 6:
        return std::numeric_limits<double>::denorm_min();
      case 7:
        return 1e19;  // past long long
      case 8:
        return fdp_.ConsumeFloatingPoint<double>();
      case 9:
        return static_cast<double>(fdp_.ConsumeIntegral<std::int64_t>());
      default:  // plausible: 0 .. ~2 years with fractions, or a recent date
        return fdp_.ConsumeFloatingPointInRange<double>(0, flag() ? 7e7 : 2e9);
    }
  }
  std::optional<Seconds> opt_seconds() {
    return flag() ? std::optional<Seconds>(Seconds(number())) : std::nullopt;
  }
  std::optional<UnixTime> opt_time() {
    return flag() ? std::optional<UnixTime>(UnixTime(Seconds(number()))) : std::nullopt;
  }
  std::string state() {
    return flag() ? std::string(fdp_.PickValueInArray(minisup::config::kProcessStateNames)) : str();
  }

  /// A request id and what it must read back as (nullopt: do not compare,
  /// it holds invalid UTF-8, which nlohmann repairs its own way).
  std::pair<json, std::optional<json>> id(int depth = 0) {
    switch (fdp_.ConsumeIntegralInRange<int>(0, depth < 2 ? 7 : 5)) {
      case 0:
        return {nullptr, json(nullptr)};
      case 1: {
        const int n = integer();
        return {json(n), json(n)};
      }
      case 2: {
        const std::uint64_t u = u64();
        return {json(u), json(u)};
      }
      case 3: {
        const double d = number();
        return {json(d), std::isfinite(d) ? json(d) : json(nullptr)};
      }
      case 4: {
        std::string s = str();
        return {json(s), valid_utf8(s) ? std::optional<json>(json(s)) : std::nullopt};
      }
      case 5: {
        const bool b = flag();
        return {json(b), json(b)};
      }
      case 6: {
        json a = json::array(), e = json::array();
        bool comparable = true;
        for (int n = fdp_.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
          auto [v, x] = id(depth + 1);
          a.push_back(v);
          if (x)
            e.push_back(*x);
          else
            comparable = false;
        }
        return {a, comparable ? std::optional<json>(e) : std::nullopt};
      }
      default: {
        json o = json::object(), e = json::object();
        bool comparable = true;
        for (int n = fdp_.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
          std::string key = str();
          auto [v, x] = id(depth + 1);
          o[key] = v;
          if (x && valid_utf8(key))
            e[key] = *x;
          else
            comparable = false;
        }
        return {o, comparable ? std::optional<json>(e) : std::nullopt};
      }
    }
  }

  ProcessInfo process() {
    ProcessInfo p;
    p.name = str();
    p.group = str();
    p.state = state();
    p.pid = integer();
    p.uptime = opt_seconds();
    p.started_at = opt_time();
    p.exit_code = opt_int();
    p.exit_signal = opt_int();
    p.core_dumped = flag();
    p.exited_at = opt_time();
    if (flag()) p.needed_sigkill = flag();
    p.stop_duration = opt_seconds();
    if (flag()) p.description = str();
    if (flag()) p.spawn_error = str();
    if (flag()) p.retry = RetryInfo{integer(), integer(), Seconds(number()), flag()};
    if (flag())
      p.dropped_bytes = flag() ? u64() : fdp_.ConsumeIntegralInRange<std::uint64_t>(0, 1 << 20);
    if (flag()) p.restarts = integer();
    p.ready = flag();
    return p;
  }

  FuzzedDataProvider& fdp_;
};

// ---- expectations ------------------------------------------------------------

std::optional<Seconds> finite(std::optional<Seconds> s) {
  if (s && !std::isfinite(s->count())) return std::nullopt;
  return s;
}
std::optional<UnixTime> finite(std::optional<UnixTime> t) {
  if (t && !std::isfinite(t->time_since_epoch().count())) return std::nullopt;
  return t;
}

ProcessInfo expected(const ProcessInfo& p) {
  ProcessInfo e = p;
  e.name = repair(p.name);
  e.group = repair(p.group);
  e.state = repair(p.state);
  e.uptime = finite(p.uptime);
  e.started_at = finite(p.started_at);
  e.exited_at = finite(p.exited_at);
  e.stop_duration = finite(p.stop_duration);
  e.description = repair(p.description.empty() ? describe(p) : p.description);
  if (p.spawn_error) e.spawn_error = repair(*p.spawn_error);
  if (p.retry && !std::isfinite(p.retry->in.count())) e.retry->in = Seconds(0);
  return e;
}

/// Parses `line` as the encoder's output: one line, valid JSON, a reply with
/// the expected ok and id.
ReplyLine envelope(const std::string& line, bool ok, const std::optional<json>& id) {
  if (line.find('\n') != std::string::npos) fail("raw newline in a reply", line);
  try {
    (void)json::parse(line);
  } catch (const json::exception& e) {
    fail(e.what(), line);
  }
  auto reply = parse_reply(line);
  if (!reply) fail("parse_reply() refused the line", line);
  if (reply->ok != ok) fail("ok", line);
  if (!reply->body.contains("id")) fail("no id", line);
  if (id && reply->id != *id) fail("id did not round-trip", line);
  return *reply;
}

template <typename T>
void same(const std::optional<T>& decoded, const T& want, const char* what,
          const std::string& line) {
  if (!decoded) fail(what, line);
  if (!(*decoded == want)) fail(what, line);
}

/// A line that arrives `piece` bytes at a time, as from a socket.
class TricklingLine final : public LineSource {
 public:
  TricklingLine(std::string text, std::size_t piece) : text_(std::move(text)), piece_(piece) {}
  std::string_view received() const override { return std::string_view(text_).substr(0, given_); }
  bool receive() override {
    if (given_ == text_.size()) return false;
    given_ = std::min(text_.size(), given_ + piece_);
    return true;
  }
  std::size_t given() const { return given_; }

 private:
  std::string text_;
  std::size_t piece_;
  std::size_t given_ = 0;
};

/// Keeps every process a status decoder hands over.
class Keep final : public StatusSink {
 public:
  void restart() override { processes.clear(); }
  void add(const ProcessInfo& p) override { processes.push_back(p); }
  std::vector<ProcessInfo> processes;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  Gen g(fdp);
  const int kind = fdp.ConsumeIntegralInRange<int>(0, 17);
  auto [id, want_id] = g.id();
  std::string line;

  switch (kind) {
    case 0: {  // status
      StatusReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        r.processes.push_back(g.process());
        e.processes.push_back(expected(r.processes.back()));
      }
      line = encode_reply(id, r);
      const ReplyLine reply = envelope(line, true, want_id);
      auto fast = decode_status_line(line);
      if (!fast) fail("decode_status_line() refused a status reply", line);
      if (!(fast->reply == e)) fail("decode_status_line() differs", line);
      if (json::parse(fast->processes_json, nullptr, false) != reply.body["processes"])
        fail("processes_json differs", line);
      // The same processes as rows (StatusCommand::rows) decode the same.
      StatusReply as_rows = r;
      as_rows.rows = true;
      const std::string rows_line = encode_reply(id, as_rows);
      const ReplyLine rows_reply = envelope(rows_line, true, want_id);
      auto from_rows = decode_status_line(rows_line);
      if (!from_rows) fail("decode_status_line() refused a rows reply", rows_line);
      if (!(from_rows->reply == e)) fail("decode_status_line() of rows differs", rows_line);
      if (json::parse(from_rows->processes_json, nullptr, false) != rows_reply.body["rows"])
        fail("processes_json of rows differs", rows_line);
      // Written in parts (as minisupd sends a large status): the parts
      // make the same line.
      {
        StatusReplyWriter writer(id, as_rows.fields, r.processes.size(), true);
        std::string parts;
        for (const ProcessInfo& p : r.processes) {
          writer.add(p);
          if (fdp.ConsumeBool()) {
            parts += writer.written();
            writer.forget_written();
          }
        }
        parts += writer.finish();
        if (parts != rows_line) fail("a status written in parts differs", parts);
      }
      // Read as it arrives, a few bytes at a time, with the next line
      // behind it: the same processes and array.
      {
        const std::size_t piece = fdp.ConsumeIntegralInRange<std::size_t>(1, 64);
        TricklingLine source(rows_line + "\n{\"next\":", piece);
        Keep kept;
        const auto range = decode_status_line(source, kept);
        if (!range) fail("decode_status_line() refused an arriving rows reply", rows_line);
        if (!(kept.processes == e.processes)) fail("an arriving status differs", rows_line);
        if (rows_line.substr(range->begin, range->end - range->begin) != from_rows->processes_json)
          fail("the range of an arriving status differs", rows_line);
        if (source.given() > rows_line.size() + 1 + piece) fail("read past the line", rows_line);
      }
      for (std::size_t i = 0; i < r.processes.size(); ++i) {
        const json& p = reply.body["processes"][i];
        const auto& exit_signal = r.processes[i].exit_signal;
        if (exit_signal
                ? p["exit_signal_name"] != repair(minisup::config::signal_name(*exit_signal))
                : !p["exit_signal_name"].is_null())
          fail("exit_signal_name", line);
      }
      break;
    }
    case 1: {  // start
      StartReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        StartResult x{g.str(),
                      fdp.PickValueInArray({StartOutcome::Started, StartOutcome::AlreadyStarted,
                                            StartOutcome::Failed}),
                      g.str()};
        r.results.push_back(x);
        e.results.push_back(StartResult{repair(x.name), x.result, repair(x.message)});
      }
      line = encode_reply(id, r);
      same(decode_start_reply(envelope(line, true, want_id).body), e, "start", line);
      break;
    }
    case 2: {  // stop
      StopReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        StopResult x{
            g.str(),     fdp.PickValueInArray({StopOutcome::Stopped, StopOutcome::NotRunning}),
            g.flag(),    g.opt_seconds(),
            g.opt_int(), g.opt_int(),
            std::nullopt};
        if (g.flag()) x.expected = g.flag();
        r.results.push_back(x);
        x.name = repair(x.name);
        x.stop_duration = finite(x.stop_duration);
        e.results.push_back(x);
      }
      line = encode_reply(id, r);
      same(decode_stop_reply(envelope(line, true, want_id).body), e, "stop", line);
      break;
    }
    case 3: {  // restart
      RestartReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        RestartResult x{g.str(),
                        fdp.PickValueInArray({RestartOutcome::Started, RestartOutcome::Failed}),
                        g.str(), g.flag()};
        r.results.push_back(x);
        e.results.push_back(
            RestartResult{repair(x.name), x.result, repair(x.message), x.needed_sigkill});
      }
      line = encode_reply(id, r);
      same(decode_restart_reply(envelope(line, true, want_id).body), e, "restart", line);
      break;
    }
    case 4: {  // signal
      SignalReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        SignalResult x{g.str(),
                       fdp.PickValueInArray({SignalOutcome::Signalled, SignalOutcome::NotRunning})};
        r.results.push_back(x);
        e.results.push_back(SignalResult{repair(x.name), x.result});
      }
      line = encode_reply(id, r);
      same(decode_signal_reply(envelope(line, true, want_id).body), e, "signal", line);
      break;
    }
    case 5: {  // pid
      const int pid = g.integer();
      line = encode_reply(id, PidReply{pid});
      if (envelope(line, true, want_id).body["pid"] != pid) fail("pid", line);
      break;
    }
    case 6: {  // tail: program output, the likeliest invalid UTF-8
      const std::string text = fdp.ConsumeRandomLengthString(4096);
      line = encode_reply(id, TailReply{text});
      if (envelope(line, true, want_id).body["data"] != repair(text)) fail("tail data", line);
      break;
    }
    case 7: {  // clear
      ClearReply r{g.strs()};
      line = encode_reply(id, r);
      same(decode_clear_reply(envelope(line, true, want_id).body), ClearReply{repair(r.names)},
           "clear", line);
      break;
    }
    case 8: {  // reread / update
      ConfigChanges r{g.strs(), g.strs(), g.strs(), g.strs()};
      line = encode_reply(id, r);
      same(decode_config_changes(envelope(line, true, want_id).body),
           ConfigChanges{repair(r.added), repair(r.changed), repair(r.removed), repair(r.notes)},
           "changes", line);
      break;
    }
    case 9:     // wait
    case 10: {  // wait's errors
      WaitReply r, e;
      for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
        r.results.push_back(WaitResult{g.str(), g.state()});
        e.results.push_back(
            WaitResult{repair(r.results.back().name), repair(r.results.back().state)});
      }
      if (kind == 9) {
        line = encode_reply(id, r);
        same(decode_wait_reply(envelope(line, true, want_id).body), e, "wait", line);
      } else {
        const ErrorCode code =
            fdp.PickValueInArray({ErrorCode::Timeout, ErrorCode::UnexpectedState});
        const std::string message = g.str();
        line = encode_wait_error(id, code, message, r);
        const ReplyLine reply = envelope(line, false, want_id);
        if (reply.error_code != to_string(code) || reply.error_message != repair(message))
          fail("wait error", line);
        same(decode_wait_reply(reply.body), e, "wait error results", line);
      }
      break;
    }
    case 11: {  // version
      VersionReply r{g.str(), g.integer()};
      line = encode_reply(id, r);
      same(decode_version_reply(envelope(line, true, want_id).body),
           VersionReply{repair(r.version), r.protocol}, "version", line);
      break;
    }
    case 12: {  // shutdown, subscribed
      if (g.flag()) {
        line = encode_reply(id, ShutdownReply{});
        envelope(line, true, want_id);
      } else {
        const std::uint64_t seq = g.u64();
        line = encode_reply(id, SubscribedReply{seq});
        const ReplyLine reply = envelope(line, true, want_id);
        if (reply.body["seq"] != seq || reply.body["subscribed"] != true) fail("subscribed", line);
      }
      break;
    }
    case 13: {  // state event
      StateEvent ev{
          g.u64(),     g.str(),     g.str(),     g.state(), g.state(),
          g.integer(), g.opt_int(), g.opt_int(), g.str(),   UnixTime(Seconds(g.number()))};
      line = encode_event(id, ev);
      StateEvent e = ev;
      e.process = repair(ev.process);
      e.group = repair(ev.group);
      e.from = repair(ev.from);
      e.to = repair(ev.to);
      e.reason = repair(ev.reason);
      if (!std::isfinite(ev.time.time_since_epoch().count())) e.time = UnixTime{};
      auto decoded = decode_event(envelope(line, true, want_id).body);
      if (!decoded || !std::holds_alternative<StateEvent>(*decoded) ||
          !(std::get<StateEvent>(*decoded) == e))
        fail("state event", line);
      break;
    }
    case 14: {  // gap event
      GapEvent ev{g.u64(), g.u64()};
      line = encode_event(id, ev);
      auto decoded = decode_event(envelope(line, true, want_id).body);
      if (!decoded || !std::holds_alternative<GapEvent>(*decoded) ||
          !(std::get<GapEvent>(*decoded) == ev))
        fail("gap event", line);
      break;
    }
    case 15:
    case 16: {  // errors, with and without extra members
      const ErrorCode code = static_cast<ErrorCode>(
          fdp.ConsumeIntegralInRange<int>(0, static_cast<int>(ErrorCode::NoLogFile)));
      const std::string message = g.str();
      json extra = nullptr;
      if (kind == 16) {
        extra = json::object();
        for (int n = fdp.ConsumeIntegralInRange<int>(0, 3); n > 0; --n) {
          extra[fdp.ConsumeBool() ? std::string("names") : g.str()] = g.id(1).first;
        }
        if (fdp.ConsumeBool()) extra["ok"] = true;  // must not override the envelope
        line = encode_error(id, code, message, extra);
      } else {
        line = encode_error(id, code, message);
      }
      const ReplyLine reply = envelope(line, false, want_id);
      if (reply.error_code != to_string(code) || reply.error_message != repair(message))
        fail("error code/message", line);
      if (parse_error_code(reply.error_code) != code) fail("parse_error_code", line);
      break;
    }
    default: {  // no_such_program
      const std::vector<std::string> names = g.strs();
      line = encode_no_such_program(id, names);
      const ReplyLine reply = envelope(line, false, want_id);
      if (reply.error_code != "no_such_program" || reply.body["names"] != json(repair(names)))
        fail("no_such_program", line);
      break;
    }
  }
  return 0;
}
