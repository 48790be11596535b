// Reading reply lines of the control protocol back (see protocol.h):
// parse_reply(), the typed decode_* functions, and decode_status_line().
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "supervisor/control/protocol.h"
#include "supervisor/control/protocol_tables.h"

namespace minisup::control {

namespace {

using nlohmann::json;
using namespace detail;

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

}  // namespace

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
