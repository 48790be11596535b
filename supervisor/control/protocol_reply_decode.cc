// Reading reply lines of the control protocol back (see protocol.h):
// parse_reply(), the typed decode_* functions, and decode_status_line().
#include <climits>
#include <cstddef>
#include <cstdint>
#include <iterator>

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
                      get_int(o, "exit_signal"),
                      get_bool(o, "expected")};
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
  // "notes" is there only when there are some (and not from an older minisupd).
  std::vector<std::string> notes;
  if (member(body, "notes") != nullptr) {
    auto given = get_strings(body, "notes");
    if (!given) return std::nullopt;
    notes = std::move(*given);
  }
  return ConfigChanges{std::move(*added), std::move(*changed), std::move(*removed),
                       std::move(notes)};
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

std::optional<std::variant<StateEvent, GapEvent, ProcessesChangedEvent>> decode_event(
    const json& body) {
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
  if (*kind == "processes_changed") return ProcessesChangedEvent{};
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
// Status decoding (nlohmann's SAX interface: no DOM)
// ---------------------------------------------------------------------------

namespace {

/// Where nlohmann's parser is in a line that `source` delivers: the bytes
/// received so far, and the offset of the next one. The line ends at its
/// '\n' or where the source ends; more bytes are waited for only when the
/// parser has read every byte received.
class LineCursor {
 public:
  explicit LineCursor(LineSource& source) : source_(source) { refresh(); }

  char current() const { return data_[at_]; }
  void advance() { ++at_; }
  /// The offset of the next byte. When the parser reports '[' or ']', the
  /// bracket is the last byte it read (brackets need no look-ahead).
  std::size_t offset() const { return at_; }
  /// True at the line's end ('\n' or the end of the source).
  bool at_end() {
    if (at_ == size_ && !wait_for_more()) return true;
    return data_[at_] == '\n';
  }

 private:
  bool wait_for_more() {
    while (at_ == size_) {
      if (ended_ || !source_.receive()) {
        ended_ = true;
        return false;
      }
      refresh();
    }
    return true;
  }
  void refresh() {
    const std::string_view received = source_.received();
    data_ = received.data();
    size_ = received.size();
  }

  LineSource& source_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t at_ = 0;
  bool ended_ = false;
};

/// The iterator nlohmann reads a line through: a LineCursor shared by every
/// copy; the end is the one without a cursor.
class LineIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = char;

  LineIterator() = default;
  explicit LineIterator(LineCursor* cursor) : cursor_(cursor) {}

  char operator*() const { return cursor_->current(); }
  LineIterator& operator++() {
    cursor_->advance();
    return *this;
  }
  LineIterator operator++(int) {
    LineIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const LineIterator& other) const {
    if (cursor_ == nullptr) return other.cursor_ == nullptr || other.cursor_->at_end();
    return other.cursor_ == nullptr ? cursor_->at_end() : cursor_ == other.cursor_;
  }
  bool operator!=(const LineIterator& other) const { return !(*this == other); }

 private:
  LineCursor* cursor_ = nullptr;
};

/// A whole line, already in memory.
class WholeLine final : public LineSource {
 public:
  explicit WholeLine(std::string_view line) : line_(line) {}
  std::string_view received() const override { return line_; }
  bool receive() override { return false; }

 private:
  std::string_view line_;
};

/// One JSON number as the SAX parser reported it.
struct Number {
  double value = 0;
  std::optional<long long> integer;        ///< an integer that fits long long
  std::optional<std::uint64_t> unsigned_;  ///< a non-negative integer (number_unsigned)

  /// The value as an int field reads it: nullopt unless an integer in range.
  std::optional<int> as_int() const {
    if (!integer || *integer < INT_MIN || *integer > INT_MAX) return std::nullopt;
    return static_cast<int>(*integer);
  }
};

/// A SAX handler (nlohmann::json::sax_parse) that reads a `status` reply,
/// {"ok": true, "processes": [ProcessInfo...], ...}, handing each process to
/// a StatusSink as soon as its object ends. Field
/// types are checked as decode_event() & co. read theirs: a string field
/// holding anything but a string (or, for the optional ones, null) fails the
/// whole line; an int field holding a fraction or a number out of range reads
/// as absent. Unknown members, at any level, are skipped whatever they hold.
class StatusHandler {
 public:
  StatusHandler(const LineCursor& cursor, StatusSink& sink) : cursor_(cursor), sink_(sink) {}

  /// True when the line was a whole, successful status reply.
  bool complete() const { return level_ == Level::Done && ok_ && have_processes_; }
  /// Where the "processes" array starts and ends (one past its ']').
  ByteRange processes() const { return processes_; }

  // The nlohmann SAX interface. Returning false stops the parse.
  bool null() { return skipping() || scalar(Scalar::Null); }
  bool boolean(bool value) {
    boolean_ = value;
    return skipping() || scalar(Scalar::Boolean);
  }
  bool number_integer(std::int64_t value) {
    number_ = Number{static_cast<double>(value), value, std::nullopt};
    return skipping() || scalar(Scalar::Number);
  }
  bool number_unsigned(std::uint64_t value) {
    number_ = Number{static_cast<double>(value), std::nullopt, value};
    if (value <= static_cast<std::uint64_t>(LLONG_MAX))
      number_.integer = static_cast<long long>(value);
    return skipping() || scalar(Scalar::Number);
  }
  bool number_float(double value, const std::string& /*text*/) {
    number_ = Number{value, std::nullopt, std::nullopt};
    return skipping() || scalar(Scalar::Number);
  }
  bool string(std::string& value) { return skipping() || scalar_string(value); }
  bool binary(nlohmann::json::binary_t& /*value*/) { return false; }  // not in JSON text
  bool start_object(std::size_t /*elements*/);
  bool end_object();
  bool start_array(std::size_t /*elements*/);
  bool end_array();
  bool key(std::string& name);
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }

 private:
  /// Where the parser is: which object or array the next event belongs to.
  /// (Columns, Rows, Row: a reply of StatusCommand::rows, where each
  /// process is an array whose values are those of the "columns", in order.)
  enum class Level { Start, Top, Processes, Process, Retry, Columns, Rows, Row, Done };
  /// The member whose value comes next (Other: one this decoder skips).
  enum class Field {
    Other,
    Ok,
    Processes,
    Columns,
    Rows,
    Name,
    Group,
    State,
    Description,
    SpawnError,
    ExitReason,
    Pid,
    ExitCode,
    ExitSignal,
    NeededSigkill,
    CoreDumped,
    DroppedBytes,
    Uptime,
    StartedAt,
    ExitedAt,
    StopDuration,
    Retry,
    Attempt,
    Of,
    InSeconds,
    Restart,
    TreeProcesses,
    TreeRssBytes,
    TreeCpuSeconds,
    Old,
    Restarts,
    Ready,
  };
  enum class Scalar { Null, Boolean, Number };

  /// True while inside a skipped value (its scalars, keys and nesting).
  bool skipping() const { return skip_depth_ > 0; }
  /// Starts skipping a nested value of an unknown member; fails otherwise.
  bool nest_skipped() {
    if (field_ != Field::Other) return false;
    ++skip_depth_;
    return true;
  }

  bool scalar(Scalar kind);
  bool scalar_string(std::string& value);
  ProcessInfo& process() { return process_; }
  /// The member that a process object's key names (Other: unknown).
  static Field process_field(std::string_view key);
  /// In a row: the member whose value comes next.
  Field next_column() {
    const std::size_t at = column_++;
    return at < columns_.size() ? columns_[at] : Field::Other;
  }
  /// A process object or row starts: from the defaults.
  void begin_process() {
    process_ = ProcessInfo{};
    have_name_ = have_group_ = have_state_ = false;
  }
  /// A process object or row ended: checks it and hands it to the sink.
  bool end_process();

  const LineCursor& cursor_;
  Level level_ = Level::Start;
  Field field_ = Field::Other;
  int skip_depth_ = 0;
  bool ok_ = false;
  bool have_processes_ = false;
  bool have_name_ = false;
  bool have_group_ = false;
  bool have_state_ = false;
  bool boolean_ = false;
  Number number_;
  RetryInfo retry_;
  StatusSink& sink_;
  ProcessInfo process_;         ///< the one being read, reused (its strings keep their capacity)
  std::vector<Field> columns_;  ///< a rows reply's "columns"
  bool have_columns_ = false;
  std::size_t column_ = 0;     ///< in a row: the index of the next value
  bool retry_in_row_ = false;  ///< the "retry" object being read is a row's
  ByteRange processes_;
};

bool StatusHandler::start_object(std::size_t) {
  if (skipping()) {
    ++skip_depth_;
    return true;
  }
  switch (level_) {
    case Level::Start:
      level_ = Level::Top;
      return true;
    case Level::Processes:
      begin_process();
      level_ = Level::Process;
      return true;
    case Level::Row:
      field_ = next_column();
      [[fallthrough]];
    case Level::Process:
      if (field_ == Field::Retry) {
        retry_ = RetryInfo{};
        retry_in_row_ = level_ == Level::Row;
        level_ = Level::Retry;
        return true;
      }
      return nest_skipped();
    case Level::Top:
    case Level::Retry:
      return nest_skipped();
    case Level::Columns:  // not a string
    case Level::Rows:     // a row that is not an array
    case Level::Done:
      return false;
  }
  return false;
}

bool StatusHandler::end_object() {
  if (skipping()) {
    --skip_depth_;
    return true;
  }
  switch (level_) {
    case Level::Top:
      level_ = Level::Done;
      return true;
    case Level::Process:
      if (!end_process()) return false;
      level_ = Level::Processes;
      return true;
    case Level::Retry:
      process().retry = retry_;
      level_ = retry_in_row_ ? Level::Row : Level::Process;
      return true;
    case Level::Start:
    case Level::Processes:
    case Level::Columns:
    case Level::Rows:
    case Level::Row:
    case Level::Done:
      return false;
  }
  return false;
}

bool StatusHandler::end_process() {
  if (!have_name_ || !have_state_) return false;
  if (!have_group_) process().group = process().name;
  sink_.add(process_);
  return true;
}

bool StatusHandler::start_array(std::size_t) {
  if (skipping()) {
    ++skip_depth_;
    return true;
  }
  switch (level_) {
    case Level::Top:
      if (field_ == Field::Processes || (field_ == Field::Rows && have_columns_)) {
        sink_.restart();  // a repeated member: the last one counts
        processes_.begin = cursor_.offset() - 1;
        level_ = field_ == Field::Rows ? Level::Rows : Level::Processes;
        return true;
      }
      if (field_ == Field::Columns) {
        columns_.clear();
        have_columns_ = true;
        level_ = Level::Columns;
        return true;
      }
      return nest_skipped();  // (also "rows" before "columns": fails)
    case Level::Rows:
      begin_process();
      column_ = 0;
      level_ = Level::Row;
      return true;
    case Level::Row:
      field_ = next_column();
      return nest_skipped();
    case Level::Process:
    case Level::Retry:
      return nest_skipped();
    case Level::Start:
    case Level::Processes:  // an element that is not an object
    case Level::Columns:
    case Level::Done:
      return false;
  }
  return false;
}

bool StatusHandler::end_array() {
  if (skipping()) {
    --skip_depth_;
    return true;
  }
  switch (level_) {
    case Level::Processes:
    case Level::Rows:
      processes_.end = cursor_.offset();
      have_processes_ = true;
      level_ = Level::Top;
      return true;
    case Level::Columns:
      level_ = Level::Top;
      return true;
    case Level::Row:
      if (!end_process()) return false;
      level_ = Level::Rows;
      return true;
    default:
      return false;
  }
}

StatusHandler::Field StatusHandler::process_field(std::string_view k) {
  if (k == "name") return Field::Name;
  if (k == "group") return Field::Group;
  if (k == "state") return Field::State;
  if (k == "pid") return Field::Pid;
  if (k == "uptime") return Field::Uptime;
  if (k == "started_at") return Field::StartedAt;
  if (k == "exit_code") return Field::ExitCode;
  if (k == "exit_signal") return Field::ExitSignal;
  if (k == "core_dumped") return Field::CoreDumped;
  if (k == "old") return Field::Old;
  if (k == "restarts") return Field::Restarts;
  if (k == "ready") return Field::Ready;
  if (k == "exited_at") return Field::ExitedAt;
  if (k == "needed_sigkill") return Field::NeededSigkill;
  if (k == "stop_duration") return Field::StopDuration;
  if (k == "description") return Field::Description;
  if (k == "spawn_error") return Field::SpawnError;
  if (k == "exit_reason") return Field::ExitReason;
  if (k == "retry") return Field::Retry;
  if (k == "dropped_bytes") return Field::DroppedBytes;
  if (k == kTreeProcessesKey) return Field::TreeProcesses;
  if (k == kTreeRssBytesKey) return Field::TreeRssBytes;
  if (k == kTreeCpuSecondsKey) return Field::TreeCpuSeconds;
  return Field::Other;
}

bool StatusHandler::key(std::string& name) {
  if (skipping()) return true;
  const std::string_view k = name;
  field_ = Field::Other;
  switch (level_) {
    case Level::Top:
      if (k == "ok") field_ = Field::Ok;
      if (k == "processes") field_ = Field::Processes;
      if (k == "columns") field_ = Field::Columns;
      if (k == "rows") field_ = Field::Rows;
      return true;
    case Level::Process:
      field_ = process_field(k);
      return true;
    case Level::Retry:
      if (k == "attempt")
        field_ = Field::Attempt;
      else if (k == "of")
        field_ = Field::Of;
      else if (k == "in_seconds")
        field_ = Field::InSeconds;
      else if (k == "restart")
        field_ = Field::Restart;
      return true;
    case Level::Start:
    case Level::Processes:
    case Level::Columns:
    case Level::Rows:
    case Level::Row:
    case Level::Done:
      return false;
  }
  return false;
}

bool StatusHandler::scalar_string(std::string& value) {
  if (level_ == Level::Columns) {
    columns_.push_back(process_field(value));
    return true;
  }
  if (level_ == Level::Row) field_ = next_column();
  if (level_ != Level::Top && level_ != Level::Process && level_ != Level::Row &&
      level_ != Level::Retry) {
    return false;
  }
  switch (field_) {
    case Field::Other:
      return true;
    case Field::Name:
      have_name_ = true;
      process().name = value;
      return true;
    case Field::Group:
      have_group_ = true;
      process().group = value;
      return true;
    case Field::State:
      have_state_ = true;
      process().state = value;
      return true;
    case Field::Description:
      process().description = value;
      return true;
    case Field::SpawnError:
      process().spawn_error = value;
      return true;
    case Field::ExitReason:
      process().exit_reason = value;
      return true;
    default:
      return false;  // a string where a number, boolean or structure belongs
  }
}

bool StatusHandler::scalar(Scalar kind) {
  if (level_ == Level::Row) field_ = next_column();
  if (level_ != Level::Top && level_ != Level::Process && level_ != Level::Row &&
      level_ != Level::Retry) {
    return false;
  }
  if (field_ == Field::Other) return true;
  const bool is_null = kind == Scalar::Null;
  const bool is_number = kind == Scalar::Number;
  const bool is_boolean = kind == Scalar::Boolean;
  // Each known member: which kinds it takes, and what it does with them.
  switch (field_) {
    case Field::Ok:
      if (!is_boolean) return false;
      ok_ = boolean_;
      return true;
    case Field::Description:
    case Field::SpawnError:
    case Field::ExitReason:
    case Field::Retry:
      return is_null;  // these keep their default
    case Field::NeededSigkill:
      if (is_number) return false;
      if (is_boolean) process().needed_sigkill = boolean_;
      return true;
    case Field::CoreDumped:
      if (is_number) return false;
      if (is_boolean) process().core_dumped = boolean_;
      return true;
    case Field::Old:
      if (is_number) return false;
      if (is_boolean) process().old = boolean_;
      return true;
    case Field::Ready:
      if (is_number) return false;
      if (is_boolean) process().ready = boolean_;
      return true;
    case Field::Restart:
      if (is_number) return false;
      if (is_boolean) retry_.restart = boolean_;
      return true;
    default:
      break;
  }
  // The numeric members: null or a number.
  if (is_boolean) return false;
  const Number n = is_null ? Number{} : number_;
  const std::optional<double> value = is_null ? std::nullopt : std::optional<double>(n.value);
  switch (field_) {
    case Field::Pid:
      process().pid = n.as_int().value_or(0);
      return true;
    case Field::Restarts:
      process().restarts = n.as_int().value_or(0);
      return true;
    case Field::ExitCode:
      process().exit_code = n.as_int();
      return true;
    case Field::ExitSignal:
      process().exit_signal = n.as_int();
      return true;
    case Field::DroppedBytes:
      process().dropped_bytes = n.unsigned_.value_or(0);
      return true;
    case Field::Uptime:
      if (value) process().uptime = Seconds(*value);
      return true;
    case Field::StartedAt:
      if (value) process().started_at = UnixTime(Seconds(*value));
      return true;
    case Field::ExitedAt:
      if (value) process().exited_at = UnixTime(Seconds(*value));
      return true;
    case Field::StopDuration:
      if (value) process().stop_duration = Seconds(*value);
      return true;
    case Field::TreeProcesses:
      process().tree_processes = n.as_int();
      return true;
    case Field::TreeRssBytes:
      process().tree_rss_bytes = n.unsigned_;
      return true;
    case Field::TreeCpuSeconds:
      process().tree_cpu_seconds.reset();
      if (value) process().tree_cpu_seconds = Seconds(*value);
      return true;
    case Field::Attempt:
      retry_.attempt = n.as_int().value_or(0);
      return true;
    case Field::Of:
      retry_.of = n.as_int().value_or(0);
      return true;
    case Field::InSeconds:
      retry_.in = Seconds(value.value_or(0));
      return true;
    default:
      return false;  // Processes, Name, Group, State: not a scalar
  }
}

}  // namespace

std::optional<ByteRange> decode_status_line(LineSource& source, StatusSink& sink) {
  LineCursor cursor(source);
  StatusHandler handler(cursor, sink);
  const bool parsed = json::sax_parse(LineIterator(&cursor), LineIterator(), &handler);
  if (!parsed || !handler.complete()) return std::nullopt;
  const ByteRange range = handler.processes();
  // The brackets must be where the handler saw them (see LineCursor).
  const std::string_view line = source.received();
  if (range.begin >= range.end || range.end > cursor.offset() || line[range.begin] != '[' ||
      line[range.end - 1] != ']') {
    return std::nullopt;
  }
  return range;
}

std::optional<std::string_view> decode_status_line(std::string_view line, StatusSink& sink) {
  WholeLine whole(line);
  const std::optional<ByteRange> range = decode_status_line(whole, sink);
  // A '\n' ends a line: what follows one is not part of it, and a line
  // given whole has none.
  if (!range || line.find('\n') != std::string_view::npos) return std::nullopt;
  return line.substr(range->begin, range->end - range->begin);
}

std::optional<StatusLine> decode_status_line(std::string_view line) {
  /// Keeps every process, in order.
  class Keep final : public StatusSink {
   public:
    explicit Keep(std::vector<ProcessInfo>& processes) : processes_(processes) {}
    void restart() override { processes_.clear(); }
    void add(const ProcessInfo& process) override { processes_.push_back(process); }

   private:
    std::vector<ProcessInfo>& processes_;
  };
  StatusLine result;
  // Every process object that minisupd writes starts with `{"name":`; a
  // count that is wrong (another encoder) only costs a reallocation.
  std::size_t expected = 0;
  for (std::size_t at = line.find("{\"name\":"); at != std::string_view::npos;
       at = line.find("{\"name\":", at + 8)) {
    ++expected;
  }
  result.reply.processes.reserve(expected);
  Keep keep(result.reply.processes);
  std::optional<std::string_view> processes_json = decode_status_line(line, keep);
  if (!processes_json) return std::nullopt;
  result.processes_json = *processes_json;
  return result;
}

}  // namespace minisup::control
