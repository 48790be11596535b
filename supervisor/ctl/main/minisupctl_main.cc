// minisupctl: the command-line client of minisupd.
//
// Model: parse the command line (CLI11), find the socket (-s, else the
// config of -c, else MINISUP_SOCKET, else the config found in ./ or /etc),
// send one request (protocol.h), read the reply or the stream of replies,
// print it (ctl/render.h, or the JSON itself with --json) and exit with
// the LSB code render.h decides. Startup is kept cheap: the config is only
// read when no socket was named, and then only its [supervisor] part
// (config::find_socket), not the programs.
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/config/load_config.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/control/protocol.h"
#include "supervisor/ctl/client.h"
#include "supervisor/ctl/main/convert_command.h"
#include "supervisor/ctl/render.h"
#include "supervisor/ctl/unknown_command.h"
#include "supervisor/version.h"

namespace minisup::ctl {
namespace {

using control::CommandKind;
using nlohmann::json;
using namespace std::chrono_literals;

/// Commands that should answer at once get this long.
constexpr std::chrono::milliseconds kInstantTimeout = 10s;
/// Extra time granted on top of `wait --timeout`, which minisupd enforces.
constexpr std::chrono::milliseconds kWaitMargin = 2s;
/// With --timeout, how often a connection to a minisupd that is not (yet)
/// listening is tried again.
constexpr std::chrono::milliseconds kConnectRetryInterval = 25ms;

/// Everything the command line said.
struct Options {
  std::string config;
  std::string socket;
  bool json = false;
  bool tree = false;  // status --tree
  CommandKind kind = CommandKind::Status;
  std::vector<std::string> names;
  std::string name;  // pid, tail
  std::string signal;
  std::string stream = "stdout";
  int lines = control::kDefaultTailLines;
  bool follow = false;
  bool require_graceful = false;
  bool rolling = false;
  bool require_clean = false;
  std::string state = "RUNNING";
  std::optional<double> timeout;
  std::optional<std::uint64_t> since;
};

/// A usage problem found after CLI11 accepted the syntax: exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Stops minisupctl with `code` after printing `message` to stderr.
struct Exit {
  int code;
};

void print(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void print_error(std::string_view text) {
  std::fflush(stdout);
  std::fputs(fmt::format("minisupctl: {}\n", text).c_str(), stderr);
}

/// The reply as --json prints it: the object without the request id.
void print_json(json body) {
  body.erase("id");
  print(body.dump(-1, ' ', false, json::error_handler_t::replace));
  print("\n");
}

bool use_color() {
  if (!::isatty(STDOUT_FILENO)) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

// ---------------------------------------------------------------------------
// Finding the socket
// ---------------------------------------------------------------------------

std::filesystem::path socket_from_config(
    const std::optional<std::filesystem::path>& explicit_file) {
  std::optional<std::filesystem::path> file = config::find_config_file(explicit_file);
  if (!file) {
    print_error(
        "no config file found (looked for ./minisup.toml and /etc/minisup/minisup.toml); "
        "use -c FILE or -s SOCKET");
    throw Exit{kExitBadArguments};
  }
  // Only what decides the socket is read, not the programs (load_config.h).
  config::SocketLookup found = config::find_socket(*file, config::process_environment());
  if (!found.errors.empty()) {
    std::string text = fmt::format("cannot read the socket path from {}:", file->string());
    for (const auto& error : found.errors) text += "\n  " + error.to_string();
    for (const auto& hint : found.hints) text += "\nhint: " + hint;
    print_error(text);
    throw Exit{kExitBadArguments};
  }
  return found.socket;
}

std::filesystem::path find_socket(const Options& options) {
  if (!options.socket.empty()) return options.socket;
  if (!options.config.empty()) return socket_from_config(std::filesystem::path(options.config));
  if (const char* env = std::getenv("MINISUP_SOCKET"); env != nullptr && env[0] != '\0') return env;
  return socket_from_config(std::nullopt);
}

// ---------------------------------------------------------------------------
// Building the request
// ---------------------------------------------------------------------------

control::Request build_request(const Options& o) {
  control::Request request;
  request.id = 1;
  switch (o.kind) {
    case CommandKind::Status: {
      // The table needs five members (three more with --tree), as rows
      // (half the bytes of objects); --json prints every one, as objects.
      std::vector<std::string> fields;
      if (!o.json) {
        fields = kStatusTableFields;
        if (o.tree) fields.insert(fields.end(), kStatusTreeFields.begin(), kStatusTreeFields.end());
      }
      request.command = control::StatusCommand{o.names, std::move(fields), o.tree, !o.json};
      break;
    }
    case CommandKind::Start:
      request.command = control::StartCommand{o.names};
      break;
    case CommandKind::Stop:
      request.command = control::StopCommand{o.names};
      break;
    case CommandKind::Restart:
      request.command = control::RestartCommand{o.names, o.rolling};
      break;
    case CommandKind::Signal: {
      std::optional<int> number = config::parse_signal(o.signal);
      if (!number) throw UsageError(fmt::format("unknown signal: {}", o.signal));
      request.command = control::SignalCommand{*number, o.names};
      break;
    }
    case CommandKind::Pid:
      request.command =
          control::PidCommand{o.name.empty() ? std::nullopt : std::optional<std::string>(o.name)};
      break;
    case CommandKind::Tail:
      request.command = control::TailCommand{
          o.name, o.stream == "stderr" ? control::Stream::Stderr : control::Stream::Stdout, o.lines,
          o.follow};
      break;
    case CommandKind::Clear:
      request.command = control::ClearCommand{o.names};
      break;
    case CommandKind::Reread:
      request.command = control::RereadCommand{};
      break;
    case CommandKind::Update:
      request.command = control::UpdateCommand{};
      break;
    case CommandKind::Wait: {
      std::optional<std::string> state = control::normalize_state_name(o.state);
      if (!state)
        throw UsageError(fmt::format(
            "unknown state: {} (expected RUNNING, STOPPED, EXITED, FATAL, ...)", o.state));
      std::optional<control::Seconds> timeout;
      if (o.timeout) timeout = control::Seconds(*o.timeout);
      request.command = control::WaitCommand{o.names, *state, timeout};
      break;
    }
    case CommandKind::Shutdown:
      request.command = control::ShutdownCommand{};
      break;
    case CommandKind::Version:
      request.command = control::VersionCommand{};
      break;
    case CommandKind::Events:
      request.command = control::EventsCommand{o.since};
      break;
  }
  return request;
}

// ---------------------------------------------------------------------------
// Reading and printing replies
// ---------------------------------------------------------------------------

/// How long to wait for the (first) reply of `options`' command.
std::optional<std::chrono::milliseconds> reply_timeout(const Options& o) {
  switch (o.kind) {
    case CommandKind::Start:
    case CommandKind::Stop:
    case CommandKind::Restart:
    case CommandKind::Update:
    case CommandKind::Shutdown:
      return std::nullopt;  // as long as the processes take
    case CommandKind::Wait:
      if (!o.timeout) return std::nullopt;
      return std::chrono::duration_cast<std::chrono::milliseconds>(control::Seconds(*o.timeout)) +
             kWaitMargin;
    case CommandKind::Status:
    case CommandKind::Signal:
    case CommandKind::Pid:
    case CommandKind::Tail:
    case CommandKind::Clear:
    case CommandKind::Reread:
    case CommandKind::Version:
    case CommandKind::Events:
      return kInstantTimeout;
  }
  return kInstantTimeout;
}

/// Reads one raw reply line; nullopt when minisupd closed the connection.
/// The view is valid until the next read from `connection`.
std::optional<std::string_view> read_line(
    Connection& connection, const Options& o, std::optional<std::chrono::milliseconds> timeout,
    std::optional<std::chrono::milliseconds> whole_timeout = {}) {
  try {
    return connection.read_line_view(timeout);
  } catch (const ReadTimeout&) {
    if (whole_timeout) timeout = whole_timeout;  // (the message names the whole wait)
    if (o.kind == CommandKind::Wait) {
      print_error(
          fmt::format("wait: no answer from minisupd within {:.1f} s", o.timeout.value_or(0)));
      throw Exit{kExitWaitTimeout};
    }
    print_error(fmt::format("no reply from minisupd within {} s", timeout->count() / 1000));
    throw Exit{exit_code_unreachable(o.kind)};
  }
}

/// Parses a reply line; exits 1 when it is not one.
control::ReplyLine parse_or_fail(std::string_view line) {
  std::optional<control::ReplyLine> reply = control::parse_reply(line);
  if (!reply) {
    print_error(fmt::format("unexpected reply from minisupd: {}", line.substr(0, 200)));
    throw Exit{kExitFailure};
  }
  return std::move(*reply);
}

/// Reads one reply line; nullopt when minisupd closed the connection.
std::optional<control::ReplyLine> read_reply(Connection& connection, const Options& o,
                                             std::optional<std::chrono::milliseconds> timeout) {
  std::optional<std::string_view> line = read_line(connection, o, timeout);
  if (!line) return std::nullopt;
  return parse_or_fail(*line);
}

[[noreturn]] void bad_reply(const control::ReplyLine& reply) {
  print_error(fmt::format("unexpected reply from minisupd: {}", reply.body.dump().substr(0, 200)));
  throw Exit{kExitFailure};
}

/// Prints an error reply the generic way and returns the exit code.
int report_error(const Options& o, const control::ReplyLine& reply) {
  if (o.json) {
    print_json(reply.body);
  } else if (reply.error_code == "no_such_program" && reply.body.contains("names") &&
             reply.body["names"].is_array()) {
    std::vector<std::string> names;
    for (const auto& n : reply.body["names"]) {
      if (n.is_string()) names.push_back(n.get<std::string>());
    }
    print(render_no_such_program(names));
  } else {
    std::string text = reply.error_message;
    if (auto it = reply.body.find("errors"); it != reply.body.end() && it->is_array()) {
      for (const auto& e : *it) {
        if (e.is_string()) text += "\n  " + e.get<std::string>();
      }
    }
    print_error(text);
  }
  return exit_code_for_error(o.kind, reply.error_code);
}

template <typename T>
T decode_or_fail(const control::ReplyLine& reply, std::optional<T> (*decode)(const json&)) {
  std::optional<T> value = decode(reply.body);
  if (!value) bad_reply(reply);
  return std::move(*value);
}

/// Follows a stream (tail -f, events) until minisupd closes it.
template <typename OnLine>
int follow_stream(Connection& connection, const Options& o, OnLine on_line) {
  for (;;) {
    std::optional<control::ReplyLine> reply = read_reply(connection, o, std::nullopt);
    if (!reply) return kExitSuccess;  // minisupd went away: the stream ended
    if (!reply->ok) return report_error(o, *reply);
    on_line(*reply);
    std::fflush(stdout);
  }
}

int run(const Options& o, Connection& connection) {
  const control::Request request = build_request(o);
  std::string send_error;
  try {
    connection.send_line(control::encode_request(request));
  } catch (const std::runtime_error& e) {
    // minisupd may have refused us with an error line (too_many_clients)
    // and closed: read it before reporting the broken write.
    send_error = e.what();
  }

  // A status of 10,000 processes is ~0.5 MB as a table, ~5 MB with --json.
  std::optional<std::string_view> first_line;  // (valid until the next read)
  if (o.kind == CommandKind::Status) {
    connection.expect_reply_bytes(std::size_t{8} << 20);
    // The big one: decoded as it arrives (minisupd sends it in parts),
    // without a DOM, a process at a time into what the table needs.
    const std::optional<std::chrono::milliseconds> timeout = reply_timeout(o);
    const auto started = std::chrono::steady_clock::now();
    StatusTable table;
    std::optional<control::ByteRange> processes;
    try {
      ArrivingLine arriving(connection, timeout ? std::optional(started + *timeout) : std::nullopt);
      processes = control::decode_status_line(arriving, table);
    } catch (const ReadTimeout&) {
      // (read_line() below times out at once and says so)
    }
    // The whole line: its bytes are in the connection already, or the rest
    // of an error reply is still to come.
    std::optional<std::chrono::milliseconds> left;
    if (timeout) {
      left = std::max(std::chrono::milliseconds(0),
                      *timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started));
    }
    first_line = read_line(connection, o, left, timeout);
    if (processes && first_line && processes->end <= first_line->size()) {
      if (o.json) {
        print(first_line->substr(processes->begin, processes->end - processes->begin));
        print("\n");
      } else {
        render_status(table, use_color(), o.tree, print);
      }
      return exit_code_for_status(table);
    }
  } else {
    first_line = read_line(connection, o, reply_timeout(o));
  }
  if (!first_line && !send_error.empty()) {
    print_error(send_error);
    return exit_code_unreachable(o.kind);
  }
  std::optional<control::ReplyLine> first;
  if (first_line) first = parse_or_fail(*first_line);
  if (!first) {
    if (o.kind == CommandKind::Shutdown) {
      if (!o.json) print("Shut down\n");
      return kExitSuccess;
    }
    print_error("minisupd closed the connection without replying");
    return exit_code_unreachable(o.kind);
  }
  const control::ReplyLine& reply = *first;
  if (!reply.ok) {
    if (o.kind == CommandKind::Wait && !o.json && reply.body.contains("results")) {
      if (auto current = control::decode_wait_reply(reply.body)) print(render_wait(*current));
    }
    return report_error(o, reply);
  }

  switch (o.kind) {
    case CommandKind::Status:
      bad_reply(reply);  // an ok reply that decode_status_line could not read
    case CommandKind::Start: {
      auto r = decode_or_fail(reply, control::decode_start_reply);
      o.json ? print_json(reply.body) : print(render_start(r));
      return exit_code_for_start(r);
    }
    case CommandKind::Stop: {
      auto r = decode_or_fail(reply, control::decode_stop_reply);
      o.json ? print_json(reply.body) : print(render_stop(r));
      const int code = exit_code_for_stop(r, o.require_graceful, o.require_clean);
      if (code != kExitSuccess) {
        std::string problems = render_stop_problems(r, o.require_graceful, o.require_clean);
        if (!problems.empty()) problems.pop_back();
        print_error(problems);
      }
      return code;
    }
    case CommandKind::Restart: {
      auto r = decode_or_fail(reply, control::decode_restart_reply);
      o.json ? print_json(reply.body) : print(render_restart(r));
      return exit_code_for_restart(r, o.rolling);
    }
    case CommandKind::Signal: {
      auto r = decode_or_fail(reply, control::decode_signal_reply);
      o.json ? print_json(reply.body) : print(render_signal(r));
      return exit_code_for_signal(r, o.names);
    }
    case CommandKind::Pid: {
      auto it = reply.body.find("pid");
      if (it == reply.body.end() || !it->is_number_integer()) bad_reply(reply);
      o.json ? print_json(reply.body) : print(fmt::format("{}\n", it->get<long long>()));
      return exit_code_for_pid(it->get<long long>(), !o.name.empty());
    }
    case CommandKind::Tail: {
      auto print_chunk = [&](const control::ReplyLine& chunk) {
        if (o.json) {
          print_json(chunk.body);
          return;
        }
        auto it = chunk.body.find("data");
        if (it == chunk.body.end() || !it->is_string()) bad_reply(chunk);
        print(it->get_ref<const std::string&>());
      };
      print_chunk(reply);
      std::fflush(stdout);
      if (!o.follow) return kExitSuccess;
      return follow_stream(connection, o, print_chunk);
    }
    case CommandKind::Clear: {
      auto r = decode_or_fail(reply, control::decode_clear_reply);
      o.json ? print_json(reply.body) : print(render_clear(r));
      return kExitSuccess;
    }
    case CommandKind::Reread:
    case CommandKind::Update: {
      auto r = decode_or_fail(reply, control::decode_config_changes);
      if (o.json) {
        print_json(reply.body);
      } else {
        print(o.kind == CommandKind::Reread ? render_reread(r) : render_update(r));
      }
      return kExitSuccess;
    }
    case CommandKind::Wait: {
      auto r = decode_or_fail(reply, control::decode_wait_reply);
      o.json ? print_json(reply.body) : print(render_wait(r));
      return kExitSuccess;
    }
    case CommandKind::Shutdown: {
      o.json ? print_json(reply.body) : print("Shut down\n");
      std::fflush(stdout);
      // minisupd closes the connection when it exits: wait for that.
      while (connection.read_line_view(std::nullopt)) {
      }
      return kExitSuccess;
    }
    case CommandKind::Version: {
      auto r = decode_or_fail(reply, control::decode_version_reply);
      o.json ? print_json(reply.body) : print(r.version + "\n");
      return kExitSuccess;
    }
    case CommandKind::Events: {
      if (o.json) print_json(reply.body);
      std::fflush(stdout);
      return follow_stream(connection, o, [&](const control::ReplyLine& line) {
        if (o.json) {
          print_json(line.body);
          return;
        }
        auto event = control::decode_event(line.body);
        if (!event) return;  // a kind of line newer than this client
        if (auto* state = std::get_if<control::StateEvent>(&*event)) {
          print(render_event(*state));
        } else if (auto* gap = std::get_if<control::GapEvent>(&*event)) {
          print(render_gap(*gap));
        } else {
          print(render_processes_changed());
        }
      });
    }
  }
  return kExitFailure;
}

/// Connects to minisupd. Without --timeout, once (ConnectError when it is
/// not there). With --timeout, a minisupd that is not listening yet (no
/// socket file, connection refused: it is starting) is tried again every
/// kConnectRetryInterval until the timeout; the time spent is taken off
/// `o.timeout`, so the whole command keeps to it. Exits 7 when minisupd
/// never answered.
Connection connect(const std::filesystem::path& socket, Options& o) {
  if (!o.timeout) return Connection::open(socket);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    control::Seconds(*o.timeout));
  for (;;) {
    try {
      Connection connection = Connection::open(socket);
      const control::Seconds spent = std::chrono::steady_clock::now() - start;
      o.timeout = std::max(0.0, *o.timeout - spent.count());
      return connection;
    } catch (const ConnectError& e) {
      const auto now = std::chrono::steady_clock::now();
      if (!e.unreachable() || now >= deadline) {
        if (e.unreachable()) {
          print_error(fmt::format("{}: minisupd did not answer within {:.1f} s ({})",
                                  control::to_string(o.kind),
                                  control::Seconds(deadline - start).count(), e.what()));
          throw Exit{exit_code_unreachable(o.kind)};
        }
        throw;
      }
      const auto pause =
          std::min<std::chrono::steady_clock::duration>(kConnectRetryInterval, deadline - now);
      ::usleep(static_cast<useconds_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(pause).count()));
    }
  }
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

int main_impl(int argc, char** argv) {
  Options o;
  CLI::App app{"minisupctl: control minisupd, the minisup process supervisor.", "minisupctl"};
  app.set_version_flag("--version", "minisupctl " + std::string(kVersion));
  auto* config_opt = app.add_option("-c,--config", o.config, "config file, to find the socket in");
  auto* socket_opt =
      app.add_option("-s,--socket", o.socket, "control socket path (also: MINISUP_SOCKET)");
  config_opt->excludes(socket_opt);
  app.add_flag("--json", o.json, "machine-readable JSON output");
  app.require_subcommand(1);
  app.footer(
      "NAME is a process (web, web:0), a program (all its processes), group:*, group:N or all\n"
      "(for wait: every process minisupd starts by itself, i.e. of autostart programs).\n"
      "With --timeout, minisupctl also waits for minisupd to listen, so\n"
      "`minisupd -c x.toml & minisupctl -c x.toml wait all --timeout 10` works.\n"
      "Exit codes: 0 ok, 1 failure (stop --require-graceful/--require-clean not met),\n"
      "2 usage (an unknown command too), 3 not running / wait reached a bad state, 4 status:\n"
      "no such process or minisupd unreachable, 7 start failed / signal or pid NAME: not\n"
      "running / minisupd unreachable (with --timeout: did not answer within it), 99 wait\n"
      "timeout. minisupctl(1) has the whole table.\n");

  struct Sub {
    CLI::App* app;
    CommandKind kind;
  };
  std::vector<Sub> subs;
  auto add = [&](CommandKind kind, const char* help) {
    CLI::App* sub = app.add_subcommand(std::string(control::to_string(kind)), help);
    sub->add_flag("--json", o.json, "machine-readable JSON output");
    subs.push_back({sub, kind});
    return sub;
  };

  CLI::App* status = add(CommandKind::Status, "show processes: NAME STATE DESCRIPTION");
  status->add_option("names", o.names, "processes");
  status->add_flag("--tree", o.tree,
                   "also each process's whole tree (its process group and descendants, or its "
                   "cgroup): PROCS, RSS, CPU columns; with --json the tree_processes, "
                   "tree_rss_bytes and tree_cpu_seconds keys (null without --tree or when not "
                   "running)");
  add(CommandKind::Start, "start processes and wait until they run or fail")
      ->add_option("names", o.names, "processes, or all")
      ->required();
  CLI::App* stop = add(CommandKind::Stop, "stop processes and wait until they are gone");
  stop->add_option("names", o.names, "processes, or all")->required();
  stop->add_flag("--require-graceful", o.require_graceful, "exit 1 when a process needed SIGKILL");
  stop->add_flag("--require-clean", o.require_clean,
                 "exit 1 unless every process exited by itself with a code in its exitcodes "
                 "(killed by a signal, its stop signal included, is not clean)");
  CLI::App* restart = add(CommandKind::Restart, "stop then start processes");
  restart->add_option("names", o.names, "processes, or all")->required();
  restart->add_flag("--rolling", o.rolling,
                    "replace the processes one at a time: each new one is started and ready "
                    "before its old one gets its stop signal (no fewer ready than before); stop "
                    "at the first that fails, the old ones serving (exit 1)");
  CLI::App* signal = add(CommandKind::Signal, "send a signal to processes");
  signal->add_option("signal", o.signal, "TERM, SIGHUP, 10 ...")->required();
  signal->add_option("names", o.names, "processes, or all")->required();
  add(CommandKind::Pid, "minisupd's pid, or a process's (0 when not running)")
      ->add_option("name", o.name, "process");
  CLI::App* tail = add(CommandKind::Tail, "show the end of a process's output");
  tail->add_flag("-f,--follow", o.follow, "keep writing output as it arrives");
  tail->add_option("-n,--lines", o.lines, "lines to show (default 10)")
      ->check(CLI::NonNegativeNumber);
  tail->add_option("name", o.name, "process")->required();
  tail->add_option("stream", o.stream, "stdout (default) or stderr")
      ->check(CLI::IsMember({"stdout", "stderr"}));
  add(CommandKind::Clear, "truncate processes' log files")
      ->add_option("names", o.names, "processes, or all")
      ->required();
  add(CommandKind::Reread, "show what changed in the config");
  add(CommandKind::Update, "apply config changes (only changed programs are touched)");
  CLI::App* wait = add(CommandKind::Wait, "wait until processes reach a state");
  wait->add_option("names", o.names, "processes, or all (every autostart process)")->required();
  wait->add_option("--state", o.state, "RUNNING (default), STOPPED, EXITED, FATAL, ...");
  wait->add_option("--timeout", o.timeout,
                   "give up after this many seconds (fractions allowed); until then, also wait "
                   "for minisupd to be listening (exit 7 if it never answered)")
      ->check(CLI::NonNegativeNumber);
  add(CommandKind::Shutdown, "stop every process and minisupd; wait until it has exited");
  add(CommandKind::Version, "minisupd's version");
  add(CommandKind::Events, "print state changes as they happen")
      ->add_option("--since", o.since, "first replay the buffered events after this seq");
  // convert: no minisupd involved (ctl/main/convert_command.h).
  std::string convert_input, convert_output;
  CLI::App* convert = app.add_subcommand(
      "convert", "convert a supervisord config (INI, with its [include] files) to minisup.toml");
  convert->add_option("file", convert_input, "supervisord.conf")->required();
  convert->add_option("-o,--output", convert_output, "write to this file instead of stdout");

  // An unknown command: say so (CLI11 would say a command is required).
  if (std::optional<std::string> word = command_word(argc, argv)) {
    std::vector<std::string> commands;
    bool known = false;
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      commands.push_back(sub->get_name());
      known = known || sub->check_name(*word);
    }
    if (!known) {
      print_error(unknown_command_message(*word, commands));
      return kExitBadArguments;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitSuccess : kExitBadArguments;
  }
  if (convert->parsed()) return run_convert_command(convert_input, convert_output);
  for (const Sub& sub : subs) {
    if (sub.app->parsed()) o.kind = sub.kind;
  }
  if (o.timeout && !std::isfinite(*o.timeout)) {
    print_error("--timeout: expected a number of seconds");
    return kExitBadArguments;
  }

  try {
    const std::filesystem::path socket = find_socket(o);
    build_request(o);  // usage errors before connecting
    Connection connection = connect(socket, o);
    const int code = run(o, connection);
    std::fflush(stdout);
    return code;
  } catch (const Exit& e) {
    return e.code;
  } catch (const UsageError& e) {
    print_error(e.what());
    return kExitBadArguments;
  } catch (const ConnectError& e) {
    print_error(e.what());
    return exit_code_unreachable(o.kind);
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitFailure;
  }
}

}  // namespace
}  // namespace minisup::ctl

int main(int argc, char** argv) { return minisup::ctl::main_impl(argc, argv); }
