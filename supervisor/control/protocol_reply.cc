// Reply lines of the control protocol (see protocol.h): encode_reply(),
// encode_event(), encode_error() and the descriptions (describe(),
// format_uptime()) they carry.
#include <fmt/compile.h>
#include <fmt/format.h>
#include <time.h>

#include <chrono>

#include "supervisor/config/signal_names.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/protocol_json_writer.h"

namespace minisup::control {

namespace {

using nlohmann::json;
using namespace detail;

std::string exit_phrase(const ProcessInfo& info) {
  if (info.exit_signal)
    return "killed by " + config::signal_name(*info.exit_signal) +
           (info.core_dumped ? " (core dumped)" : "");
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
// Descriptions
// ---------------------------------------------------------------------------

namespace {

/// Appends format_uptime(uptime) to `out` (a fmt buffer: no allocation).
void append_uptime(fmt::memory_buffer& out, Seconds uptime) {
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
  if (days != 0) fmt::format_to(std::back_inserter(out), "{} day{}, ", days, days == 1 ? "" : "s");
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}:{:02}:{:02}"), total / 3600,
                 (total % 3600) / 60, total % 60);
}

/// describe() of a RUNNING process, appended to `out`: the description of
/// nearly every process in a status, written without an allocation.
void append_running(fmt::memory_buffer& out, const ProcessInfo& info) {
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("pid {}, uptime "), info.pid);
  append_uptime(out, info.uptime.value_or(Seconds(0)));
}

}  // namespace

std::string format_uptime(Seconds uptime) {
  fmt::memory_buffer out;
  append_uptime(out, uptime);
  return fmt::to_string(out);
}

std::string describe(const ProcessInfo& info) {
  const std::string& s = info.state;
  if (s == "RUNNING") {
    fmt::memory_buffer out;
    append_running(out, info);
    return fmt::to_string(out);
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

namespace {

/// describe(info) appended to `out`: the commonest, RUNNING, without an
/// allocation (a status of 10,000 processes describes each).
void append_description(fmt::memory_buffer& out, const ProcessInfo& info) {
  if (info.state == "RUNNING") {
    append_running(out, info);
    return;
  }
  const std::string text = describe(info);
  out.append(text.data(), text.data() + text.size());
}

}  // namespace

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

namespace {

/// The members of a process object, in the order they are written; a set of
/// them is a bit mask (1 << member).
enum Member : unsigned {
  kName,
  kGroup,
  kState,
  kPid,
  kUptime,
  kStartedAt,
  kExitCode,
  kExitSignal,
  kExitSignalName,
  kCoreDumped,
  kExitedAt,
  kNeededSigkill,
  kStopDuration,
  kDescription,
  kSpawnError,
  kRetry,
  kDroppedBytes,
  kExitReason,
  kTreeProcesses,
  kTreeRssBytes,
  kTreeCpuSeconds,
  kOld,
  kRestarts,
  kReady,
  kMemberCount
};
/// Their keys as written, quoted and with the colon.
constexpr std::string_view kMemberKeys[kMemberCount] = {"\"name\":",
                                                        "\"group\":",
                                                        "\"state\":",
                                                        "\"pid\":",
                                                        "\"uptime\":",
                                                        "\"started_at\":",
                                                        "\"exit_code\":",
                                                        "\"exit_signal\":",
                                                        "\"exit_signal_name\":",
                                                        "\"core_dumped\":",
                                                        "\"exited_at\":",
                                                        "\"needed_sigkill\":",
                                                        "\"stop_duration\":",
                                                        "\"description\":",
                                                        "\"spawn_error\":",
                                                        "\"retry\":",
                                                        "\"dropped_bytes\":",
                                                        "\"exit_reason\":",
                                                        "\"tree_processes\":",
                                                        "\"tree_rss_bytes\":",
                                                        "\"tree_cpu_seconds\":",
                                                        "\"old\":",
                                                        "\"restarts\":",
                                                        "\"ready\":"};
static_assert(kMemberCount < 32, "a set of members is an unsigned bit mask");
constexpr unsigned kAllMembers = (1u << kMemberCount) - 1;
constexpr unsigned kTreeMembers =
    (1u << kTreeProcesses) | (1u << kTreeRssBytes) | (1u << kTreeCpuSeconds);

/// The wire name of member `m` ("name"): its key without quotes and colon.
constexpr std::string_view member_name(unsigned m) {
  return kMemberKeys[m].substr(1, kMemberKeys[m].size() - 3);
}
static_assert(member_name(kTreeProcesses) == kTreeProcessesKey &&
              member_name(kTreeRssBytes) == kTreeRssBytesKey &&
              member_name(kTreeCpuSeconds) == kTreeCpuSecondsKey);

/// The members StatusReply::fields asks for: name and state always, unknown
/// names ignored; every member when `fields` is empty.
unsigned member_mask(const std::vector<std::string>& fields) {
  if (fields.empty()) return kAllMembers;
  unsigned mask = (1u << kName) | (1u << kState);
  for (const std::string& field : fields) {
    for (unsigned m = 0; m < kMemberCount; ++m) {
      if (member_name(m) == field) mask |= 1u << m;
    }
  }
  return mask;
}

/// Calls `member(m, write)` for each member of a process object, in the
/// order they are written (also the order of a rows reply's columns);
/// `write()` writes p's value of it to `w`.
template <typename Member>
void for_each_member(JsonWriter& w, const ProcessInfo& p, Member member) {
  member(kName, [&] { w.value(p.name); });
  member(kGroup, [&] { w.value(p.group); });
  member(kState, [&] { w.value(p.state); });
  member(kPid, [&] { w.value(p.pid); });
  member(kUptime, [&] { w.value(p.uptime); });
  member(kStartedAt, [&] { w.value(p.started_at); });
  member(kExitCode, [&] { w.value(p.exit_code); });
  member(kExitSignal, [&] { w.value(p.exit_signal); });
  member(kExitSignalName, [&] {
    if (p.exit_signal) {
      w.value(config::signal_name(*p.exit_signal));
    } else {
      w.null();
    }
  });
  member(kCoreDumped, [&] { w.value(p.core_dumped); });
  member(kExitedAt, [&] { w.value(p.exited_at); });
  member(kNeededSigkill, [&] { w.value(p.needed_sigkill); });
  member(kStopDuration, [&] { w.value(p.stop_duration); });
  member(kDescription, [&] {
    if (p.description.empty()) {
      fmt::memory_buffer description;
      append_description(description, p);
      w.value(std::string_view(description.data(), description.size()));
    } else {
      w.value(p.description);
    }
  });
  member(kSpawnError, [&] { w.value(p.spawn_error); });
  member(kRetry, [&] {
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
  });
  member(kDroppedBytes, [&] { w.value(p.dropped_bytes); });
  member(kOld, [&] { w.value(p.old); });
  member(kRestarts, [&] { w.value(p.restarts); });
  member(kReady, [&] { w.value(p.ready); });
  member(kExitReason, [&] { w.value(p.exit_reason); });
  member(kTreeProcesses, [&] { w.value(p.tree_processes); });
  member(kTreeRssBytes, [&] { w.value(p.tree_rss_bytes); });
  member(kTreeCpuSeconds, [&] { w.value(p.tree_cpu_seconds); });
}

/// One process: an object of the members in `mask`, or with `row` the
/// array of their values.
void write_process_info(JsonWriter& w, const ProcessInfo& p, unsigned mask, bool row = false) {
  row ? w.begin_array() : w.begin_object();
  for_each_member(w, p, [&](Member m, auto&& write) {
    if ((mask & (1u << m)) == 0) return;
    if (!row) w.quoted_key(kMemberKeys[m]);
    write();
  });
  row ? w.end_array() : w.end_object();
}

/// The "columns" of a rows reply: the names of the members in `mask`, in
/// the order each row holds their values.
void write_columns(JsonWriter& w, unsigned mask) {
  JsonWriter unused;
  const ProcessInfo none;
  w.key("columns").begin_array();
  for_each_member(unused, none, [&](Member m, auto&&) {
    if ((mask & (1u << m)) != 0) w.value(member_name(m));
  });
  w.end_array();
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

bool status_sends_tree(const std::vector<std::string>& fields) {
  return (member_mask(fields) & kTreeMembers) != 0;
}

StatusReplyWriter::StatusReplyWriter(const json& id, const std::vector<std::string>& fields,
                                     std::size_t expected, bool rows, std::size_t part_bytes)
    : writer_(std::make_unique<JsonWriter>(begin_reply(id, true))),
      mask_(member_mask(fields)),
      rows_(rows) {
  // ~480 bytes per process with every member (names of a dozen
  // characters), ~100 for minisupctl's table, ~50 as rows: reserved with
  // room to spare, since growing past the reservation copies the whole
  // reply into fresh memory (and pages never written are never faulted in).
  // A part: the part, and one process more (~0.5 KB; the buffer grows on
  // the rare one that is longer).
  writer_->reserve(part_bytes != 0 ? part_bytes + 4096
                                   : 256 + expected * (mask_ == kAllMembers ? 768 : 256));
  if (rows_) write_columns(*writer_, mask_);
  writer_->key(rows_ ? "rows" : "processes").begin_array();
}

StatusReplyWriter::~StatusReplyWriter() = default;

void StatusReplyWriter::add(const ProcessInfo& info) {
  write_process_info(*writer_, info, mask_, rows_);
}

std::string_view StatusReplyWriter::written() const { return writer_->text(); }

void StatusReplyWriter::forget_written() { writer_->forget_text(); }

std::string StatusReplyWriter::finish() {
  writer_->end_array();
  return control::finish(*writer_);
}

std::string encode_reply(const json& id, const StatusReply& reply) {
  StatusReplyWriter writer(id, reply.fields, reply.processes.size(), reply.rows);
  for (const auto& p : reply.processes) writer.add(p);
  return writer.finish();
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
    w.key("expected").value(r.expected);
    // Derived, for scripts (jq): graceful = no SIGKILL was needed.
    w.key("verdict");
    if (r.result == StopOutcome::NotRunning) {
      w.null();
    } else {
      w.value(r.needed_sigkill ? "killed" : "graceful");
    }
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
  if (!reply.notes.empty()) w.key("notes").value(reply.notes);
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

std::string encode_event(const json& id, const ProcessesChangedEvent&) {
  JsonWriter w = begin_reply(id, true);
  w.key("event").value("processes_changed");
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

}  // namespace minisup::control
