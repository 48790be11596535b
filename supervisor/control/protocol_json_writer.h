// The JSON writer of the control protocol (internal to control/protocol*).
//
// Model: replies are written by a small hand-rolled forward-only writer
// rather than through a nlohmann DOM: a status of 1,000 processes is the hot
// path, and building a DOM of 15,000 map nodes just to serialize it would
// cost the daemon milliseconds. Strings are written as UTF-8; invalid byte
// sequences become U+FFFD.
#pragma once

#include <fmt/compile.h>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/control/protocol.h"

namespace minisup::control::detail {

/// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s);

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
  /// Writes a key already quoted, with its colon (`"name":`), as is: for
  /// the constant keys of the hot paths (no escaping scan).
  JsonWriter& quoted_key(std::string_view quoted_with_colon) {
    separate();
    out_ += quoted_with_colon;
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
      // which is linked in anyway (see to_double()). A compiled format into
      // a stack buffer: no allocation, no format-string parsing, and no
      // vformat_to instantiated in our code (that would interpose libfmt's
      // in the sanitizer build, where UBSan's vptr check misfires while the
      // descriptor table is full: it needs a pipe).
      char buf[32];  // the longest shortest form is 24 characters
      const auto end = fmt::format_to_n(buf, sizeof buf, FMT_COMPILE("{}"), d).out;
      out_.append(buf, end);
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
  /// The text written since the last forget_text().
  std::string_view text() const { return out_; }
  /// Drops the text written so far (sent already), keeping the buffer and
  /// where the writer is (the next value still gets its comma).
  void forget_text() { out_.clear(); }
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

/// `value` as compact JSON text (invalid UTF-8 replaced).
std::string dump_json(const nlohmann::json& value);

/// Starts a reply: `{"id":...,"ok":true` (the caller adds fields and closes).
JsonWriter begin_reply(const nlohmann::json& id, bool ok);

}  // namespace minisup::control::detail
