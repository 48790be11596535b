// Request lines of the control protocol (see protocol.h): parse_request()
// and encode_request(). Requests are parsed with nlohmann-json (they are
// small).
#include <fmt/format.h>
#include <signal.h>

#include <cctype>
#include <climits>
#include <cmath>

#include "supervisor/config/signal_names.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/protocol_json_writer.h"

namespace minisup::control {

namespace {

using nlohmann::json;
using namespace detail;

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
      if (const json* fields = field(o, "fields"))
        c.fields = string_array(*fields, "fields", false);
      if (const json* tree = field(o, "tree")) {
        if (!tree->is_boolean()) reject("tree: expected true or false");
        c.tree = tree->get<bool>();
      }
      if (const json* rows = field(o, "rows")) {
        if (!rows->is_boolean()) reject("rows: expected true or false");
        c.rows = rows->get<bool>();
      }
      return c;
    }
    case CommandKind::Start:
      return StartCommand{required_names(o)};
    case CommandKind::Stop:
      return StopCommand{required_names(o)};
    case CommandKind::Restart: {
      RestartCommand c{required_names(o)};
      if (const json* rolling = field(o, "rolling")) {
        if (!rolling->is_boolean()) reject("rolling: expected true or false");
        c.rolling = rolling->get<bool>();
      }
      return c;
    }
    case CommandKind::Signal: {
      SignalCommand c;
      const json* sig = field(o, "signal");
      if (!sig) reject("signal: required (a name like \"TERM\" or a number)");
      std::optional<int> number;
      if (sig->is_string()) {
        number = config::parse_signal(sig->get_ref<const std::string&>());
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

}  // namespace

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
          if constexpr (std::is_same_v<T, StatusCommand>) {
            if (!c.fields.empty()) w.key("fields").value(c.fields);
            if (c.tree) w.key("tree").value(true);
            if (c.rows) w.key("rows").value(true);
          }
          if constexpr (std::is_same_v<T, RestartCommand>) {
            if (c.rolling) w.key("rolling").value(true);
          }
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

}  // namespace minisup::control
