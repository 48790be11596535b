// Implementation of the control protocol (see protocol.h for the model).
//
// Requests are parsed with nlohmann-json (they are small). Replies are
// written by a small hand-rolled JSON writer: a status of 1,000 processes is
// the hot path, and building a DOM of 15,000 map nodes just to serialize it
// would cost the daemon milliseconds.
#include "supervisor/control/protocol.h"

#include <fmt/format.h>
#include <signal.h>
#include <time.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "supervisor/config/value_parsers.h"

namespace minisup::control {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// JSON writing
// ---------------------------------------------------------------------------

/// Length of the valid UTF-8 sequence starting at s[i] (2-4), or 0 when the
/// bytes there are not one (overlong, surrogate, > U+10FFFF, truncated).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  auto cont = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b1 >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && b1 >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

/// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    // Copy the longest run that needs no escaping in one go.
    std::size_t run = i;
    while (run < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[run]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++run;
    }
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
    ++i;
  }
  out += '"';
}

/// A forward-only JSON writer: commas are inserted where they belong.
class JsonWriter {
 public:
  void begin_object() {
    separate();
    out_ += '{';
    need_comma_ = false;
  }
  void end_object() {
    out_ += '}';
    need_comma_ = true;
  }
  void begin_array() {
    separate();
    out_ += '[';
    need_comma_ = false;
  }
  void end_array() {
    out_ += ']';
    need_comma_ = true;
  }

  /// Writes `"name":`; the next value belongs to it.
  JsonWriter& key(std::string_view name) {
    separate();
    append_json_string(out_, name);
    out_ += ':';
    need_comma_ = false;
    return *this;
  }

  void value(std::string_view s) {
    separate();
    append_json_string(out_, s);
    need_comma_ = true;
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(bool b) {
    separate();
    out_ += b ? "true" : "false";
    need_comma_ = true;
  }
  void value(int n) { value(static_cast<long long>(n)); }
  void value(long long n) { integer(n); }
  void value(std::uint64_t n) { integer(n); }
  void value(double d) {
    separate();
    if (!std::isfinite(d)) {
      out_ += "null";
    } else {
      // Shortest round-trip form, as std::to_chars would write it; fmt's,
      // which is linked in anyway (see to_double()). fmt::format, not
      // format_to: that would instantiate fmt's vformat_to in our code,
      // which then interposes libfmt's in the sanitizer build, where UBSan's
      // vptr check misfires while the descriptor table is full (it needs a
      // pipe).
      out_ += fmt::format("{}", d);
    }
    need_comma_ = true;
  }
  void value(Seconds s) { value(s.count()); }
  void value(UnixTime t) { value(t.time_since_epoch().count()); }
  void null() {
    separate();
    out_ += "null";
    need_comma_ = true;
  }
  /// Writes already-encoded JSON text.
  void raw(std::string_view text) {
    separate();
    out_ += text;
    need_comma_ = true;
  }

  template <typename T>
  void value(const std::optional<T>& v) {
    if (v) {
      value(*v);
    } else {
      null();
    }
  }

  void value(const std::vector<std::string>& names) {
    begin_array();
    for (const auto& n : names) value(n);
    end_array();
  }

  std::string take() { return std::move(out_); }
  void reserve(std::size_t bytes) { out_.reserve(bytes); }

 private:
  template <typename Int>
  void integer(Int n) {
    separate();
    std::array<char, 24> buf;
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n);
    out_.append(buf.data(), end);
    need_comma_ = true;
  }

  void separate() {
    if (need_comma_) out_ += ',';
  }

  std::string out_;
  bool need_comma_ = false;
};

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Starts a reply: `{"id":...,"ok":true` (the caller adds fields and closes).
JsonWriter begin_reply(const json& id, bool ok) {
  JsonWriter w;
  w.begin_object();
  if (id.is_null()) {
    w.key("id").null();
  } else {
    w.key("id").raw(dump_json(id));
  }
  w.key("ok").value(ok);
  return w;
}

// ---------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------

/// Deepest array/object nesting in `text` (strings skipped); stops counting
/// past `limit` (nlohmann's recursive dump would overflow the stack on a
/// megabyte of '[').
int nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

/// Thrown inside parse_request to become a ProtocolError.
struct Reject {
  ErrorCode code;
  std::string message;
};

[[noreturn]] void reject(std::string message) {
  throw Reject{ErrorCode::BadRequest, std::move(message)};
}

/// The field `key`, or nullptr when it is absent or null (null means absent
/// for every optional argument).
const json* field(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::vector<std::string> string_array(const json& value, const char* key, bool non_empty) {
  const char* expected = non_empty ? "a non-empty array of names" : "an array of names";
  if (!value.is_array()) reject(fmt::format("{}: expected {}", key, expected));
  std::vector<std::string> out;
  out.reserve(value.size());
  for (const auto& item : value) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
      reject(fmt::format("{}: expected {}", key, expected));
    }
    out.push_back(item.get<std::string>());
  }
  if (non_empty && out.empty()) reject(fmt::format("{}: expected {}", key, expected));
  return out;
}

std::vector<std::string> required_names(const json& object) {
  const json* names = field(object, "names");
  if (!names) reject("names: required (a non-empty array of names)");
  return string_array(*names, "names", true);
}

std::string required_string(const json& object, const char* key) {
  const json* value = field(object, key);
  if (!value) reject(fmt::format("{}: required (a string)", key));
  if (!value->is_string() || value->get_ref<const std::string&>().empty()) {
    reject(fmt::format("{}: expected a non-empty string", key));
  }
  return value->get<std::string>();
}

Command parse_command(CommandKind kind, const json& o) {
  switch (kind) {
    case CommandKind::Status: {
      StatusCommand c;
      if (const json* names = field(o, "names")) c.names = string_array(*names, "names", false);
      return c;
    }
    case CommandKind::Start:
      return StartCommand{required_names(o)};
    case CommandKind::Stop:
      return StopCommand{required_names(o)};
    case CommandKind::Restart:
      return RestartCommand{required_names(o)};
    case CommandKind::Signal: {
      SignalCommand c;
      const json* sig = field(o, "signal");
      if (!sig) reject("signal: required (a name like \"TERM\" or a number)");
      std::optional<int> number;
      if (sig->is_string()) {
        number = parse_signal(sig->get_ref<const std::string&>());
        if (!number)
          throw Reject{ErrorCode::BadSignal,
                       fmt::format("unknown signal: {}", sig->get_ref<const std::string&>())};
      } else if (sig->is_number_integer()) {
        const auto n = sig->get<long long>();
        if (n < 1 || n > SIGRTMAX)
          throw Reject{ErrorCode::BadSignal, fmt::format("unknown signal: {}", n)};
        number = static_cast<int>(n);
      } else {
        reject("signal: expected a signal name or number");
      }
      c.signal = *number;
      c.names = required_names(o);
      return c;
    }
    case CommandKind::Pid: {
      PidCommand c;
      if (field(o, "name")) c.name = required_string(o, "name");
      return c;
    }
    case CommandKind::Tail: {
      TailCommand c;
      c.name = required_string(o, "name");
      if (const json* stream = field(o, "stream")) {
        if (*stream == "stdout") {
          c.stream = Stream::Stdout;
        } else if (*stream == "stderr") {
          c.stream = Stream::Stderr;
        } else {
          reject("stream: expected \"stdout\" or \"stderr\"");
        }
      }
      if (const json* lines = field(o, "lines")) {
        if (!lines->is_number_integer() || lines->get<long long>() < 0 ||
            lines->get<long long>() > INT_MAX) {
          reject("lines: expected an integer >= 0");
        }
        c.lines = static_cast<int>(lines->get<long long>());
      }
      if (const json* follow = field(o, "follow")) {
        if (!follow->is_boolean()) reject("follow: expected true or false");
        c.follow = follow->get<bool>();
      }
      return c;
    }
    case CommandKind::Clear:
      return ClearCommand{required_names(o)};
    case CommandKind::Reread:
      return RereadCommand{};
    case CommandKind::Update:
      return UpdateCommand{};
    case CommandKind::Wait: {
      WaitCommand c;
      c.names = required_names(o);
      if (const json* state = field(o, "state")) {
        std::optional<std::string> normalized;
        if (state->is_string())
          normalized = normalize_state_name(state->get_ref<const std::string&>());
        if (!normalized)
          reject("state: expected a state name (RUNNING, STOPPED, EXITED, FATAL, ...)");
        c.state = *normalized;
      }
      if (const json* timeout = field(o, "timeout")) {
        if (!timeout->is_number() || !std::isfinite(timeout->get<double>()) ||
            timeout->get<double>() < 0) {
          reject("timeout: expected a number of seconds >= 0, or null");
        }
        c.timeout = Seconds(timeout->get<double>());
      }
      return c;
    }
    case CommandKind::Shutdown:
      return ShutdownCommand{};
    case CommandKind::Version:
      return VersionCommand{};
    case CommandKind::Events: {
      EventsCommand c;
      if (const json* since = field(o, "since")) {
        // nlohmann stores every non-negative integer as unsigned.
        if (!since->is_number_unsigned()) reject("since: expected an integer >= 0");
        c.since = since->get<std::uint64_t>();
      }
      return c;
    }
  }
  reject("unknown command");  // not reached: every kind is handled above
}

// ---------------------------------------------------------------------------
// Reply decoding helpers
// ---------------------------------------------------------------------------

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> get_string(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<int> get_int(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v || !v->is_number_integer()) return std::nullopt;
  const auto n = v->get<long long>();
  if (n < INT_MIN || n > INT_MAX) return std::nullopt;
  return static_cast<int>(n);
}

std::optional<double> get_double(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<bool> get_bool(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

std::optional<std::vector<std::string>> get_strings(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& item : *v) {
    if (!item.is_string()) return std::nullopt;
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<Seconds> get_seconds(const json& o, const char* key) {
  if (auto d = get_double(o, key)) return Seconds(*d);
  return std::nullopt;
}

std::optional<UnixTime> get_time(const json& o, const char* key) {
  if (auto d = get_double(o, key)) return UnixTime(Seconds(*d));
  return std::nullopt;
}

/// Decodes body["results"] element by element with `one`; nullopt when
/// "results" is missing or any element fails.
template <typename Result, typename Fn>
std::optional<std::vector<Result>> decode_results(const json& body, Fn one) {
  const json* results = member(body, "results");
  if (!results || !results->is_array()) return std::nullopt;
  std::vector<Result> out;
  out.reserve(results->size());
  for (const auto& item : *results) {
    if (!item.is_object()) return std::nullopt;
    std::optional<Result> r = one(item);
    if (!r) return std::nullopt;
    out.push_back(std::move(*r));
  }
  return out;
}

/// Looks `text` up in `names` (the wire names of enum E, in enum order).
template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::string_view, N>& names, std::string_view text) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 12> kErrorCodeNames = {
    "bad_json",         "bad_request",     "unknown_command", "too_large",
    "too_many_clients", "no_such_program", "bad_signal",      "timeout",
    "unexpected_state", "shutting_down",   "invalid_config",  "internal"};
constexpr std::array<std::string_view, 14> kCommandNames = {
    "status", "start",  "stop",   "restart", "signal",   "pid",     "tail",
    "clear",  "reread", "update", "wait",    "shutdown", "version", "events"};
constexpr std::array<std::string_view, 3> kStartOutcomeNames = {"started", "already_started",
                                                                "failed"};
constexpr std::array<std::string_view, 2> kStopOutcomeNames = {"stopped", "not_running"};
constexpr std::array<std::string_view, 2> kRestartOutcomeNames = {"started", "failed"};
constexpr std::array<std::string_view, 2> kSignalOutcomeNames = {"signalled", "not_running"};

static_assert(std::variant_size_v<Command> == kCommandNames.size(),
              "every Command alternative needs a wire name, in CommandKind order");

std::optional<int> parse_int(std::string_view text) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

std::string exit_phrase(const ProcessInfo& info) {
  if (info.exit_signal)
    return "killed by " + signal_name(*info.exit_signal) + (info.core_dumped ? " (core dumped)" : "");
  if (info.exit_code) return fmt::format("exited with status {}", *info.exit_code);
  return {};
}

std::string format_date(UnixTime when) {
  // Converting a double beyond time_t is undefined (found by fuzz_reply):
  // no date for NaN or absurd times (localtime_r fails past year 2^31 anyway).
  // (std::chrono::floor, not std::floor: minisupd links no libm.)
  const double count = when.time_since_epoch().count();
  if (!(count < 1e17 && count > -1e17)) return {};
  const auto seconds = static_cast<time_t>(
      std::chrono::floor<std::chrono::seconds>(when.time_since_epoch()).count());
  struct tm tm {};
  if (localtime_r(&seconds, &tm) == nullptr) return {};
  char buf[64];
  const std::size_t n = strftime(buf, sizeof buf, "%b %d %H:%M:%S", &tm);
  return std::string(buf, n);
}

}  // namespace

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

std::string_view to_string(ErrorCode code) {
  return kErrorCodeNames.at(static_cast<std::size_t>(code));
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
  return lookup<ErrorCode>(kErrorCodeNames, text);
}

std::string_view to_string(CommandKind kind) {
  return kCommandNames.at(static_cast<std::size_t>(kind));
}

std::optional<CommandKind> parse_command_kind(std::string_view text) {
  return lookup<CommandKind>(kCommandNames, text);
}

std::string_view to_string(Stream stream) {
  switch (stream) {
    case Stream::Stdout:
      return "stdout";
    case Stream::Stderr:
      return "stderr";
  }
  return "stdout";
}

std::string_view to_string(StartOutcome outcome) {
  return kStartOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(StopOutcome outcome) {
  return kStopOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(RestartOutcome outcome) {
  return kRestartOutcomeNames.at(static_cast<std::size_t>(outcome));
}
std::string_view to_string(SignalOutcome outcome) {
  return kSignalOutcomeNames.at(static_cast<std::size_t>(outcome));
}

std::optional<int> parse_signal(std::string_view text) {
  // Names and numbers 1..64 as in the config (one table, config/); plus
  // the real-time forms a client may send: RTMIN, RTMIN+n, RTMAX, RTMAX-n.
  if (auto n = config::parse_signal(text)) return n;
  std::string upper;
  upper.reserve(text.size());
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view name = upper;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  auto realtime = [&](std::string_view base, int value, int sign) -> std::optional<int> {
    if (!name.starts_with(base)) return std::nullopt;
    std::string_view rest = name.substr(base.size());
    if (rest.empty()) return value;
    if (rest[0] != (sign > 0 ? '+' : '-')) return std::nullopt;
    auto offset = parse_int(rest.substr(1));
    if (!offset || *offset < 0) return std::nullopt;
    const int n = value + sign * *offset;
    if (n < SIGRTMIN || n > SIGRTMAX) return std::nullopt;
    return n;
  };
  if (auto n = realtime("RTMIN", SIGRTMIN, +1)) return n;
  if (auto n = realtime("RTMAX", SIGRTMAX, -1)) return n;
  return std::nullopt;
}

std::string signal_name(int signal) {
  if (signal == SIGRTMIN) return "SIGRTMIN";
  if (signal > SIGRTMIN && signal <= SIGRTMAX) return fmt::format("SIGRTMIN+{}", signal - SIGRTMIN);
  return "SIG" + config::signal_name(signal);  // "SIGTERM", or "SIG200" for no name
}

std::optional<std::string> normalize_state_name(std::string_view text) {
  std::string upper;
  upper.reserve(text.size());
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view state : kStateNames) {
    if (state == upper) return upper;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

std::variant<Request, ProtocolError> parse_request(std::string_view line) {
  if (nesting_depth(line, kMaxNestingDepth) > kMaxNestingDepth) {
    return ProtocolError{nullptr, ErrorCode::BadJson,
                         fmt::format("request nests deeper than {} levels", kMaxNestingDepth)};
  }
  json object;
  try {
    object = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ..." -> drop the tag.
    std::string_view what = e.what();
    if (auto pos = what.find("] ");
        what.starts_with("[json.exception") && pos != std::string_view::npos) {
      what.remove_prefix(pos + 2);
    }
    return ProtocolError{nullptr, ErrorCode::BadJson, fmt::format("invalid JSON: {}", what)};
  }
  if (!object.is_object()) {
    return ProtocolError{nullptr, ErrorCode::BadRequest, "a request must be a JSON object"};
  }
  json id = nullptr;
  if (auto it = object.find("id"); it != object.end()) id = *it;

  auto cmd = object.find("cmd");
  if (cmd == object.end() || cmd->is_null()) {
    return ProtocolError{std::move(id), ErrorCode::BadRequest, "cmd: required (a command name)"};
  }
  if (!cmd->is_string()) {
    return ProtocolError{std::move(id), ErrorCode::BadRequest, "cmd: expected a string"};
  }
  const auto& name = cmd->get_ref<const std::string&>();
  std::optional<CommandKind> kind = parse_command_kind(name);
  if (!kind) {
    return ProtocolError{std::move(id), ErrorCode::UnknownCommand,
                         fmt::format("unknown command: {}", name)};
  }
  try {
    Command command = parse_command(*kind, object);
    return Request{std::move(id), std::move(command)};
  } catch (Reject& r) {
    return ProtocolError{std::move(id), r.code, fmt::format("{}: {}", name, r.message)};
  } catch (const json::exception& e) {
    // Defensive: a type check above missed a case.
    return ProtocolError{std::move(id), ErrorCode::BadRequest,
                         fmt::format("{}: {}", name, e.what())};
  }
}

std::string encode_request(const Request& request) {
  JsonWriter w;
  w.begin_object();
  w.key("cmd").value(to_string(request.kind()));
  if (!request.id.is_null()) w.key("id").raw(dump_json(request.id));
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, StatusCommand> || std::is_same_v<T, StartCommand> ||
                      std::is_same_v<T, StopCommand> || std::is_same_v<T, RestartCommand> ||
                      std::is_same_v<T, ClearCommand>) {
          w.key("names").value(c.names);
        } else if constexpr (std::is_same_v<T, SignalCommand>) {
          w.key("signal").value(c.signal);
          w.key("names").value(c.names);
        } else if constexpr (std::is_same_v<T, PidCommand>) {
          w.key("name").value(c.name);
        } else if constexpr (std::is_same_v<T, TailCommand>) {
          w.key("name").value(c.name);
          w.key("stream").value(to_string(c.stream));
          w.key("lines").value(c.lines);
          w.key("follow").value(c.follow);
        } else if constexpr (std::is_same_v<T, WaitCommand>) {
          w.key("names").value(c.names);
          w.key("state").value(c.state);
          w.key("timeout").value(c.timeout);
        } else if constexpr (std::is_same_v<T, EventsCommand>) {
          w.key("since").value(c.since);
        }
      },
      request.command);
  w.end_object();
  return w.take();
}

// ---------------------------------------------------------------------------
// Descriptions
// ---------------------------------------------------------------------------

std::string format_uptime(Seconds uptime) {
  // Clamped before the conversion, which is undefined for a double beyond
  // long long (found by fuzz_reply); NaN and negatives are 0.
  const double seconds = uptime.count();
  long long total = 0;
  if (seconds >= 9e18) {
    total = 9'000'000'000'000'000'000;
  } else if (seconds > 0) {
    total = static_cast<long long>(seconds);
  }
  const long long days = total / 86400;
  total %= 86400;
  std::string clock = fmt::format("{}:{:02}:{:02}", total / 3600, (total % 3600) / 60, total % 60);
  if (days == 0) return clock;
  return fmt::format("{} day{}, {}", days, days == 1 ? "" : "s", clock);
}

std::string describe(const ProcessInfo& info) {
  const std::string& s = info.state;
  if (s == "RUNNING") {
    return fmt::format("pid {}, uptime {}", info.pid,
                       format_uptime(info.uptime.value_or(Seconds(0))));
  }
  if (s == "STARTING" || s == "STOPPING") {
    return info.pid > 0 ? fmt::format("pid {}", info.pid) : std::string();
  }
  if (s == "BACKOFF") {
    std::string text;
    std::string why = info.spawn_error ? *info.spawn_error : exit_phrase(info);
    if (info.retry && info.retry->restart) {
      text = fmt::format("restart in {:.1f}s ({} quick exits in a row", info.retry->in.count(),
                         info.retry->attempt);
      return text + (why.empty() ? ")" : "; " + why + ")");
    }
    if (info.retry) {
      text = fmt::format("retry {}/{} in {:.1f}s", info.retry->attempt, info.retry->of,
                         info.retry->in.count());
    }
    if (!why.empty()) text += text.empty() ? why : fmt::format(" ({})", why);
    return text;
  }
  if (s == "FATAL") {
    if (info.spawn_error) return *info.spawn_error;
    const std::string how = exit_phrase(info);
    return how.empty() ? "could not be started" : fmt::format("exited too quickly ({})", how);
  }
  if (s == "EXITED" || s == "STOPPED") {
    std::string how;
    if (s == "STOPPED" && info.needed_sigkill.value_or(false)) {
      how = "needed SIGKILL";
    } else {
      how = exit_phrase(info);
    }
    if (how.empty()) return s == "STOPPED" ? "Not started" : std::string();
    if (s == "STOPPED" && info.stop_duration)
      how += fmt::format(" after {:.1f} s", info.stop_duration->count());
    if (info.exited_at) how += ", " + format_date(*info.exited_at);
    return how;
  }
  return {};
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

namespace {

void write_process_info(JsonWriter& w, const ProcessInfo& p) {
  w.begin_object();
  w.key("name").value(p.name);
  w.key("group").value(p.group);
  w.key("state").value(p.state);
  w.key("pid").value(p.pid);
  w.key("uptime").value(p.uptime);
  w.key("started_at").value(p.started_at);
  w.key("exit_code").value(p.exit_code);
  w.key("exit_signal").value(p.exit_signal);
  w.key("exit_signal_name");
  if (p.exit_signal) {
    w.value(signal_name(*p.exit_signal));
  } else {
    w.null();
  }
  w.key("core_dumped").value(p.core_dumped);
  w.key("exited_at").value(p.exited_at);
  w.key("needed_sigkill").value(p.needed_sigkill);
  w.key("stop_duration").value(p.stop_duration);
  w.key("description").value(p.description.empty() ? describe(p) : p.description);
  w.key("spawn_error").value(p.spawn_error);
  w.key("retry");
  if (p.retry) {
    w.begin_object();
    w.key("attempt").value(p.retry->attempt);
    w.key("of").value(p.retry->of);
    w.key("in_seconds").value(p.retry->in);
    w.key("restart").value(p.retry->restart);
    w.end_object();
  } else {
    w.null();
  }
  w.key("dropped_bytes").value(p.dropped_bytes);
  w.end_object();
}

/// Writes "results": [...] with `one(writer, result)` per element.
template <typename Results, typename Fn>
void write_results(JsonWriter& w, const Results& results, Fn one) {
  w.key("results").begin_array();
  for (const auto& r : results) {
    w.begin_object();
    one(w, r);
    w.end_object();
  }
  w.end_array();
}

std::string finish(JsonWriter& w) {
  w.end_object();
  return w.take();
}

}  // namespace

std::string encode_reply(const json& id, const StatusReply& reply) {
  JsonWriter w = begin_reply(id, true);
  w.reserve(64 + reply.processes.size() * 480);  // ~400 bytes per process
  w.key("processes").begin_array();
  for (const auto& p : reply.processes) write_process_info(w, p);
  w.end_array();
  return finish(w);
}

std::string encode_reply(const json& id, const StartReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_results(w, reply.results, [](JsonWriter& w, const StartResult& r) {
    w.key("name").value(r.name);
    w.key("result").value(to_string(r.result));
    w.key("message").value(r.message);
  });
  return finish(w);
}

std::string encode_reply(const json& id, const StopReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_results(w, reply.results, [](JsonWriter& w, const StopResult& r) {
    w.key("name").value(r.name);
    w.key("result").value(to_string(r.result));
    w.key("needed_sigkill").value(r.needed_sigkill);
    w.key("stop_duration").value(r.stop_duration);
    w.key("exit_code").value(r.exit_code);
    w.key("exit_signal").value(r.exit_signal);
  });
  return finish(w);
}

std::string encode_reply(const json& id, const RestartReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_results(w, reply.results, [](JsonWriter& w, const RestartResult& r) {
    w.key("name").value(r.name);
    w.key("result").value(to_string(r.result));
    w.key("message").value(r.message);
    w.key("needed_sigkill").value(r.needed_sigkill);
  });
  return finish(w);
}

std::string encode_reply(const json& id, const SignalReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_results(w, reply.results, [](JsonWriter& w, const SignalResult& r) {
    w.key("name").value(r.name);
    w.key("result").value(to_string(r.result));
  });
  return finish(w);
}

std::string encode_reply(const json& id, const PidReply& reply) {
  JsonWriter w = begin_reply(id, true);
  w.key("pid").value(reply.pid);
  return finish(w);
}

std::string encode_reply(const json& id, const TailReply& reply) {
  JsonWriter w = begin_reply(id, true);
  w.key("data").value(reply.data);
  return finish(w);
}

std::string encode_reply(const json& id, const ClearReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_results(w, reply.names, [](JsonWriter& w, const std::string& name) {
    w.key("name").value(name);
    w.key("result").value("cleared");
  });
  return finish(w);
}

std::string encode_reply(const json& id, const ConfigChanges& reply) {
  JsonWriter w = begin_reply(id, true);
  w.key("added").value(reply.added);
  w.key("changed").value(reply.changed);
  w.key("removed").value(reply.removed);
  return finish(w);
}

namespace {
void write_wait_results(JsonWriter& w, const WaitReply& reply) {
  write_results(w, reply.results, [](JsonWriter& w, const WaitResult& r) {
    w.key("name").value(r.name);
    w.key("state").value(r.state);
  });
}

void write_error(JsonWriter& w, ErrorCode code, std::string_view message) {
  w.key("error").begin_object();
  w.key("code").value(to_string(code));
  w.key("message").value(message);
  w.end_object();
}
}  // namespace

std::string encode_reply(const json& id, const WaitReply& reply) {
  JsonWriter w = begin_reply(id, true);
  write_wait_results(w, reply);
  return finish(w);
}

std::string encode_reply(const json& id, const VersionReply& reply) {
  JsonWriter w = begin_reply(id, true);
  w.key("version").value(reply.version);
  w.key("protocol").value(reply.protocol);
  return finish(w);
}

std::string encode_reply(const json& id, const ShutdownReply&) {
  JsonWriter w = begin_reply(id, true);
  return finish(w);
}

std::string encode_reply(const json& id, const SubscribedReply& reply) {
  JsonWriter w = begin_reply(id, true);
  w.key("subscribed").value(true);
  w.key("seq").value(reply.seq);
  return finish(w);
}

std::string encode_event(const json& id, const StateEvent& e) {
  JsonWriter w = begin_reply(id, true);
  w.key("event").value("state");
  w.key("seq").value(e.seq);
  w.key("process").value(e.process);
  w.key("group").value(e.group);
  w.key("from").value(e.from);
  w.key("to").value(e.to);
  w.key("pid").value(e.pid);
  w.key("exit_code").value(e.exit_code);
  w.key("exit_signal").value(e.exit_signal);
  w.key("reason").value(e.reason);
  w.key("time").value(e.time);
  return finish(w);
}

std::string encode_event(const json& id, const GapEvent& e) {
  JsonWriter w = begin_reply(id, true);
  w.key("event").value("gap");
  w.key("first_missed").value(e.first_missed);
  w.key("last_missed").value(e.last_missed);
  return finish(w);
}

std::string encode_error(const json& id, ErrorCode code, std::string_view message) {
  JsonWriter w = begin_reply(id, false);
  write_error(w, code, message);
  return finish(w);
}

std::string encode_error(const json& id, ErrorCode code, std::string_view message,
                         const json& extra) {
  JsonWriter w = begin_reply(id, false);
  write_error(w, code, message);
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) {
      if (key == "id" || key == "ok" || key == "error") continue;  // the envelope wins
      w.key(key).raw(dump_json(value));
    }
  }
  return finish(w);
}

std::string encode_error(const ProtocolError& error) {
  return encode_error(error.id, error.code, error.message);
}

std::string encode_no_such_program(const json& id, const std::vector<std::string>& unknown) {
  std::string list;
  for (const auto& name : unknown) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  JsonWriter w = begin_reply(id, false);
  write_error(w, ErrorCode::NoSuchProgram, fmt::format("no such process: {}", list));
  w.key("names").value(unknown);
  return finish(w);
}

std::string encode_wait_error(const json& id, ErrorCode code, std::string_view message,
                              const WaitReply& current) {
  JsonWriter w = begin_reply(id, false);
  write_error(w, code, message);
  write_wait_results(w, current);
  return finish(w);
}

// ---------------------------------------------------------------------------
// Reading replies
// ---------------------------------------------------------------------------

std::optional<ReplyLine> parse_reply(std::string_view line) {
  ReplyLine reply;
  reply.body = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (reply.body.is_discarded() || !reply.body.is_object()) return std::nullopt;
  auto ok = get_bool(reply.body, "ok");
  if (!ok) return std::nullopt;
  reply.ok = *ok;
  if (const json* id = member(reply.body, "id")) reply.id = *id;
  if (!reply.ok) {
    const json* error = member(reply.body, "error");
    if (!error || !error->is_object()) return std::nullopt;
    auto code = get_string(*error, "code");
    auto message = get_string(*error, "message");
    if (!code || !message) return std::nullopt;
    reply.error_code = std::move(*code);
    reply.error_message = std::move(*message);
  }
  return reply;
}

std::optional<ProcessInfo> decode_process_info(const json& o) {
  if (!o.is_object()) return std::nullopt;
  ProcessInfo p;
  auto name = get_string(o, "name");
  auto state = get_string(o, "state");
  if (!name || !state) return std::nullopt;
  p.name = std::move(*name);
  p.state = std::move(*state);
  p.group = get_string(o, "group").value_or(p.name);
  p.pid = get_int(o, "pid").value_or(0);
  p.uptime = get_seconds(o, "uptime");
  p.started_at = get_time(o, "started_at");
  p.exit_code = get_int(o, "exit_code");
  p.exit_signal = get_int(o, "exit_signal");
  p.core_dumped = get_bool(o, "core_dumped").value_or(false);
  p.exited_at = get_time(o, "exited_at");
  p.needed_sigkill = get_bool(o, "needed_sigkill");
  p.stop_duration = get_seconds(o, "stop_duration");
  p.description = get_string(o, "description").value_or("");
  p.spawn_error = get_string(o, "spawn_error");
  if (const json* retry = member(o, "retry"); retry && retry->is_object()) {
    p.retry = RetryInfo{get_int(*retry, "attempt").value_or(0), get_int(*retry, "of").value_or(0),
                        get_seconds(*retry, "in_seconds").value_or(Seconds(0)),
                        get_bool(*retry, "restart").value_or(false)};
  }
  if (const json* dropped = member(o, "dropped_bytes"); dropped && dropped->is_number_unsigned()) {
    p.dropped_bytes = dropped->get<std::uint64_t>();
  }
  return p;
}

std::optional<StatusReply> decode_status_reply(const json& body) {
  const json* processes = member(body, "processes");
  if (!processes || !processes->is_array()) return std::nullopt;
  StatusReply reply;
  reply.processes.reserve(processes->size());
  for (const auto& item : *processes) {
    auto p = decode_process_info(item);
    if (!p) return std::nullopt;
    reply.processes.push_back(std::move(*p));
  }
  return reply;
}

std::optional<StartReply> decode_start_reply(const json& body) {
  auto results = decode_results<StartResult>(body, [](const json& o) -> std::optional<StartResult> {
    auto name = get_string(o, "name");
    auto result = get_string(o, "result");
    if (!name || !result) return std::nullopt;
    auto outcome = lookup<StartOutcome>(kStartOutcomeNames, *result);
    if (!outcome) return std::nullopt;
    return StartResult{std::move(*name), *outcome, get_string(o, "message").value_or("")};
  });
  if (!results) return std::nullopt;
  return StartReply{std::move(*results)};
}

std::optional<StopReply> decode_stop_reply(const json& body) {
  auto results = decode_results<StopResult>(body, [](const json& o) -> std::optional<StopResult> {
    auto name = get_string(o, "name");
    auto result = get_string(o, "result");
    if (!name || !result) return std::nullopt;
    auto outcome = lookup<StopOutcome>(kStopOutcomeNames, *result);
    if (!outcome) return std::nullopt;
    return StopResult{std::move(*name),
                      *outcome,
                      get_bool(o, "needed_sigkill").value_or(false),
                      get_seconds(o, "stop_duration"),
                      get_int(o, "exit_code"),
                      get_int(o, "exit_signal")};
  });
  if (!results) return std::nullopt;
  return StopReply{std::move(*results)};
}

std::optional<RestartReply> decode_restart_reply(const json& body) {
  auto results =
      decode_results<RestartResult>(body, [](const json& o) -> std::optional<RestartResult> {
        auto name = get_string(o, "name");
        auto result = get_string(o, "result");
        if (!name || !result) return std::nullopt;
        auto outcome = lookup<RestartOutcome>(kRestartOutcomeNames, *result);
        if (!outcome) return std::nullopt;
        return RestartResult{std::move(*name), *outcome, get_string(o, "message").value_or(""),
                             get_bool(o, "needed_sigkill").value_or(false)};
      });
  if (!results) return std::nullopt;
  return RestartReply{std::move(*results)};
}

std::optional<SignalReply> decode_signal_reply(const json& body) {
  auto results =
      decode_results<SignalResult>(body, [](const json& o) -> std::optional<SignalResult> {
        auto name = get_string(o, "name");
        auto result = get_string(o, "result");
        if (!name || !result) return std::nullopt;
        auto outcome = lookup<SignalOutcome>(kSignalOutcomeNames, *result);
        if (!outcome) return std::nullopt;
        return SignalResult{std::move(*name), *outcome};
      });
  if (!results) return std::nullopt;
  return SignalReply{std::move(*results)};
}

std::optional<ClearReply> decode_clear_reply(const json& body) {
  auto results =
      decode_results<std::string>(body, [](const json& o) { return get_string(o, "name"); });
  if (!results) return std::nullopt;
  return ClearReply{std::move(*results)};
}

std::optional<ConfigChanges> decode_config_changes(const json& body) {
  auto added = get_strings(body, "added");
  auto changed = get_strings(body, "changed");
  auto removed = get_strings(body, "removed");
  if (!added || !changed || !removed) return std::nullopt;
  return ConfigChanges{std::move(*added), std::move(*changed), std::move(*removed)};
}

std::optional<WaitReply> decode_wait_reply(const json& body) {
  auto results = decode_results<WaitResult>(body, [](const json& o) -> std::optional<WaitResult> {
    auto name = get_string(o, "name");
    auto state = get_string(o, "state");
    if (!name || !state) return std::nullopt;
    return WaitResult{std::move(*name), std::move(*state)};
  });
  if (!results) return std::nullopt;
  return WaitReply{std::move(*results)};
}

std::optional<VersionReply> decode_version_reply(const json& body) {
  auto version = get_string(body, "version");
  if (!version) return std::nullopt;
  return VersionReply{std::move(*version), get_int(body, "protocol").value_or(1)};
}

std::optional<std::variant<StateEvent, GapEvent>> decode_event(const json& body) {
  auto kind = get_string(body, "event");
  if (!kind) return std::nullopt;
  auto get_u64 = [&](const char* key) -> std::optional<std::uint64_t> {
    const json* v = member(body, key);
    if (!v || !v->is_number_unsigned()) return std::nullopt;
    return v->get<std::uint64_t>();
  };
  if (*kind == "gap") {
    auto first = get_u64("first_missed");
    auto last = get_u64("last_missed");
    if (!first || !last) return std::nullopt;
    return GapEvent{*first, *last};
  }
  if (*kind != "state") return std::nullopt;
  StateEvent e;
  auto seq = get_u64("seq");
  auto process = get_string(body, "process");
  auto from = get_string(body, "from");
  auto to = get_string(body, "to");
  if (!seq || !process || !from || !to) return std::nullopt;
  e.seq = *seq;
  e.process = std::move(*process);
  e.group = get_string(body, "group").value_or(e.process);
  e.from = std::move(*from);
  e.to = std::move(*to);
  e.pid = get_int(body, "pid").value_or(0);
  e.exit_code = get_int(body, "exit_code");
  e.exit_signal = get_int(body, "exit_signal");
  e.reason = get_string(body, "reason").value_or("");
  e.time = get_time(body, "time").value_or(UnixTime{});
  return e;
}

// ---------------------------------------------------------------------------
// Fast status decoding
// ---------------------------------------------------------------------------

namespace {

/// A pull parser over one JSON text: no DOM, no allocation beyond the
/// strings it returns. Any syntax error makes it fail (ok() false) and every
/// later call fail too, so callers check once at the end of a step.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : s_(text) {}

  bool ok() const { return !failed_; }
  std::size_t position() const { return i_; }
  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }

  /// The next non-blank character ('\0' at the end or after a failure).
  char peek() {
    skip_ws();
    return !failed_ && i_ < s_.size() ? s_[i_] : '\0';
  }
  /// Consumes `c` if it comes next.
  bool consume(char c) {
    if (peek() != c || c == '\0') return false;
    ++i_;
    return true;
  }
  bool expect(char c) {
    if (!consume(c)) fail();
    return !failed_;
  }

  /// Reads a string value into `out`.
  bool string(std::string& out) {
    out.clear();
    if (!expect('"')) return false;
    for (;;) {
      const std::size_t start = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' &&
             static_cast<unsigned char>(s_[i_]) >= 0x20)
        ++i_;
      out.append(s_.data() + start, i_ - start);
      if (i_ >= s_.size()) return fail();
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') return fail();  // raw control character
      if (i_ >= s_.size()) return fail();
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned code = 0;
          if (!hex4(code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF) {
            unsigned low = 0;
            if (i_ + 1 >= s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') return fail();
            i_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return fail();
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return fail();
          }
          append_utf8(out, code);
          break;
        }
        default:
          return fail();
      }
    }
  }

  /// A validated JSON number to double; false when it overflows. strtod on a
  /// NUL-terminated copy rather than std::from_chars<double>: libstdc++ 12's
  /// floating-point charconv is ~130 KB of code (and needs libm), all of it
  /// resident in minisupd for this one call. minisup never calls setlocale:
  /// the decimal point is '.'.
  static bool to_double(const char* first, const char* last, double& value) {
    const auto length = static_cast<std::size_t>(last - first);
    char small[64];
    std::string large;
    const char* text = small;
    if (length < sizeof small) {
      std::memcpy(small, first, length);
      small[length] = '\0';
    } else {
      large.assign(first, last);
      text = large.c_str();
    }
    char* end = nullptr;
    errno = 0;
    value = std::strtod(text, &end);
    // ERANGE also means underflow (1e-310 is subnormal, 1e-400 becomes 0),
    // which JSON readers (nlohmann) accept: only overflow is out of range.
    return end == text + length && !(errno == ERANGE && std::isinf(value));
  }

  /// Reads a number; `integer` tells whether it had no fraction/exponent.
  bool number(double& value, bool& integer, long long& integer_value) {
    skip_ws();
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    const std::size_t digits = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == digits) return fail();
    if (s_[digits] == '0' && i_ - digits > 1) return fail();  // no leading zeros in JSON
    integer = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      integer = false;
      const std::size_t frac = ++i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == frac) return fail();
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integer = false;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      const std::size_t exp = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == exp) return fail();
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    integer_value = 0;
    if (integer && std::from_chars(first, last, integer_value).ec == std::errc()) {
      // Rounds as strtod would; "-0" is 0, as nlohmann reads it.
      value = static_cast<double>(integer_value);
      return true;
    }
    integer = false;  // a fraction, an exponent, or beyond long long
    if (!to_double(first, last, value)) return fail();
    return true;
  }

  /// Reads a JSON number; `value` is set when it is a non-negative integer
  /// that fits 64 unsigned bits (as nlohmann's number_unsigned), else reset.
  bool unsigned_number(std::optional<std::uint64_t>& value) {
    skip_ws();
    const std::size_t start = i_;
    double d;
    bool is_integer;
    long long n;
    if (!number(d, is_integer, n)) return false;
    value.reset();
    std::uint64_t u = 0;
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    if (first != last && *first != '-' && std::from_chars(first, last, u).ec == std::errc() &&
        std::from_chars(first, last, u).ptr == last)
      value = u;
    return true;
  }

  /// Reads `null`; true when it was there (nothing consumed otherwise).
  bool null() { return word("null"); }

  bool boolean(bool& value) {
    if (word("true")) {
      value = true;
      return true;
    }
    if (word("false")) {
      value = false;
      return true;
    }
    return fail();
  }

  /// Skips one value of any type (nesting at most kMaxNestingDepth... x2).
  bool skip(int depth = 0) {
    if (depth > 2 * kMaxNestingDepth) return fail();
    switch (peek()) {
      case '"': {
        std::string ignored;
        return string(ignored);
      }
      case '{':
        ++i_;
        if (consume('}')) return true;
        do {
          if (!skip_string() || !expect(':') || !skip(depth + 1)) return false;
        } while (consume(','));
        return expect('}');
      case '[':
        ++i_;
        if (consume(']')) return true;
        do {
          if (!skip(depth + 1)) return false;
        } while (consume(','));
        return expect(']');
      case 't':
      case 'f': {
        bool ignored;
        return boolean(ignored);
      }
      case 'n':
        return null() || fail();
      default: {
        double d;
        bool integer;
        long long n;
        return number(d, integer, n);
      }
    }
  }

  bool fail() {
    failed_ = true;
    i_ = s_.size();
    return false;
  }

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  bool word(std::string_view w) {
    skip_ws();
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  bool skip_string() {
    if (!expect('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') ++i_;
    }
    return fail();
  }

  bool hex4(unsigned& code) {
    if (i_ + 4 > s_.size()) return fail();
    code = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return fail();
      }
    }
    return true;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  bool failed_ = false;
};

/// Iterates the members of an object: calls `member(key)` with the cursor
/// before each value; `member` must consume the value.
template <typename Fn>
bool for_each_member(JsonCursor& c, std::string& key, Fn member) {
  if (!c.expect('{')) return false;
  if (c.consume('}')) return true;
  do {
    if (!c.string(key) || !c.expect(':')) return false;
    // string_view comparisons: sizes first, no strlen (this loop is hot).
    if (!member(std::string_view(key))) return c.fail();
  } while (c.consume(','));
  return c.expect('}');
}

bool read_optional_int(JsonCursor& c, std::optional<int>& out) {
  if (c.null()) {
    out.reset();
    return true;
  }
  double d;
  bool integer;
  long long n;
  if (!c.number(d, integer, n)) return false;
  if (!integer || n < INT_MIN || n > INT_MAX) {
    out.reset();  // as the DOM decoder: not an int means absent
    return true;
  }
  out = static_cast<int>(n);
  return true;
}

bool read_optional_double(JsonCursor& c, std::optional<double>& out) {
  if (c.null()) {
    out.reset();
    return true;
  }
  double d;
  bool integer;
  long long n;
  if (!c.number(d, integer, n)) return false;
  out = d;
  return true;
}

bool read_process(JsonCursor& c, std::string& key, ProcessInfo& p) {
  bool have_name = false;
  bool have_state = false;
  bool have_group = false;
  std::optional<double> number;
  std::optional<int> integer;
  const bool parsed = for_each_member(c, key, [&](std::string_view k) {
    if (k == "name") return have_name = c.string(p.name);
    if (k == "group") return have_group = c.string(p.group);
    if (k == "state") return have_state = c.string(p.state);
    if (k == "description") return c.null() || c.string(p.description);
    if (k == "spawn_error") {
      if (c.null()) return true;
      p.spawn_error.emplace();
      return c.string(*p.spawn_error);
    }
    if (k == "pid") {
      if (!read_optional_int(c, integer)) return false;
      p.pid = integer.value_or(0);
      return true;
    }
    if (k == "exit_code") return read_optional_int(c, p.exit_code);
    if (k == "exit_signal") return read_optional_int(c, p.exit_signal);
    if (k == "needed_sigkill") {
      if (c.null()) return true;
      bool b;
      if (!c.boolean(b)) return false;
      p.needed_sigkill = b;
      return true;
    }
    if (k == "core_dumped") return c.null() || c.boolean(p.core_dumped);
    if (k == "dropped_bytes") {
      if (c.null()) return true;
      std::optional<std::uint64_t> n;
      if (!c.unsigned_number(n)) return false;
      p.dropped_bytes = n.value_or(0);
      return true;
    }
    if (k == "uptime" || k == "started_at" || k == "exited_at" || k == "stop_duration") {
      if (!read_optional_double(c, number)) return false;
      if (number) {
        if (k == "uptime") p.uptime = Seconds(*number);
        if (k == "started_at") p.started_at = UnixTime(Seconds(*number));
        if (k == "exited_at") p.exited_at = UnixTime(Seconds(*number));
        if (k == "stop_duration") p.stop_duration = Seconds(*number);
      }
      return true;
    }
    if (k == "retry") {
      if (c.null()) return true;
      RetryInfo retry;
      std::string inner;
      const bool ok = for_each_member(c, inner, [&](std::string_view rk) {
        if (rk == "attempt" || rk == "of") {
          if (!read_optional_int(c, integer)) return false;
          (rk == "attempt" ? retry.attempt : retry.of) = integer.value_or(0);
          return true;
        }
        if (rk == "in_seconds") {
          if (!read_optional_double(c, number)) return false;
          retry.in = Seconds(number.value_or(0));
          return true;
        }
        if (rk == "restart") return c.null() || c.boolean(retry.restart);
        return c.skip();
      });
      if (ok) p.retry = retry;
      return ok;
    }
    return c.skip();
  });
  if (!parsed || !have_name || !have_state) return false;
  if (!have_group) p.group = p.name;
  return true;
}

}  // namespace

std::optional<StatusLine> decode_status_line(std::string_view line) {
  JsonCursor c(line);
  std::string key;
  StatusLine result;
  bool ok = false;
  bool have_processes = false;
  const bool parsed = for_each_member(c, key, [&](std::string_view k) {
    if (k == "ok") return c.boolean(ok);
    if (k == "processes") {
      if (c.peek() != '[') return false;
      const std::size_t start = c.position();
      c.consume('[');
      if (!c.consume(']')) {
        do {
          ProcessInfo p;
          if (!read_process(c, key, p)) return false;
          result.reply.processes.push_back(std::move(p));
        } while (c.consume(','));
        if (!c.expect(']')) return false;
      }
      result.processes_json = line.substr(start, c.position() - start);
      return have_processes = true;
    }
    return c.skip();
  });
  if (!parsed || !c.ok() || !c.at_end() || !ok || !have_processes) return std::nullopt;
  return result;
}

}  // namespace minisup::control
