// The validated, immutable configuration model of minisup.
//
// load_config() (load_config.h) turns minisup.toml and its includes into a
// Config. Everything here is already checked, defaulted and expanded:
// paths are absolute, `${VAR}` references are replaced, sizes are bytes,
// durations are std::chrono types and signals are numbers. Field names are
// the TOML keys verbatim, so one grep finds the docs, the parser, the struct
// and the tests.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace minisup::config {

/// Durations in the config: fractions of a second are allowed.
using Duration = std::chrono::nanoseconds;

/// Where a value came from in a config file (1-based line and column).
struct SourceLocation {
  std::string file;  ///< the file as given or found by an include glob
  int line = 0;
  int column = 0;
  bool operator==(const SourceLocation&) const = default;
};

/// `autorestart`: restart a process after it exits from RUNNING.
enum class AutoRestart {
  Never,       ///< false
  Always,      ///< true
  Unexpected,  ///< "unexpected": only if the exit code is not in exitcodes
};

/// Where one output stream (stdout or stderr) of a process goes.
struct LogTarget {
  enum class Kind {
    File,     ///< a file at `path` (AUTO resolves to a File under childlogdir)
    None,     ///< "NONE": discarded
    Console,  ///< "console": minisupd's stdout, lines prefixed `NAME | `
    /// Not a TOML value: minisupd's own stdout (for stdout) or stderr (for
    /// stderr), unprefixed; `minisupd --run NAME` gives NAME this.
    Passthrough,
  };
  Kind kind = Kind::File;
  std::string path;  ///< absolute; empty unless kind == File
  bool operator==(const LogTarget&) const = default;
};

/// The settings of one output stream: `stdout_logfile`,
/// `stdout_logfile_maxbytes`, `stdout_logfile_backups` (or stderr_*).
struct LogSettings {
  /// Rotate before a write would take the file past this many bytes; 0 = never.
  std::uint64_t maxbytes = 50ull * 1024 * 1024;
  /// Rotated files kept (`.1` ... `.N`); 0 = none kept (the file is truncated).
  int backups = 10;
  bool operator==(const LogSettings&) const = default;
};

/// A check of a program: `ready` (STARTING -> RUNNING when it first
/// succeeds) or `health` (a liveness check while RUNNING). DESIGN.md,
/// "Readiness, dependencies and harness mode".
struct Probe {
  enum class Kind {
    Tcp,     ///< a TCP connect to address:port succeeds
    Http,    ///< a plain-HTTP GET of path on address:port answers 2xx
    Exec,    ///< `exec` exits 0
    Log,     ///< a line of stdout/stderr matches `pattern` (ready only)
    Notify,  ///< the process sends READY=1 to $NOTIFY_SOCKET (ready only)
  };
  Kind kind = Kind::Tcp;
  /// tcp/http: the host as written ("127.0.0.1", "localhost", "db"; an
  /// IPv6 address without its brackets) and its address resolved when the
  /// config was loaded (numeric, "127.0.0.1" or "::1"; an IPv4 address is
  /// preferred when a name has both), and the port (1..65535; http: 80 when
  /// the URL has none).
  std::string host;
  std::string address;
  int port = 0;
  /// http: the request target ("/healthz"; "/" when the URL has none) and
  /// the URL as written (for messages).
  std::string path;
  std::string url;
  /// exec: argv (string form split like `command`; `${VAR}` expanded; a
  /// first word without `/` looked up in PATH when run). With numprocs > 1
  /// this is process 0's; each process's own is ProcessConfig::ready_exec
  /// or health_exec.
  std::vector<std::string> exec;
  /// log: the ECMAScript regular expression, as written.
  std::string pattern;
  /// ready: the start has failed when not ready this long after the spawn
  /// (default 60 s). health: each check's own bound (default 2 s).
  Duration timeout = std::chrono::seconds(60);
  /// Between two attempts: ready 0.2 s, health 10 s by default.
  Duration interval = std::chrono::milliseconds(200);
  /// health: failures in a row that make the process unhealthy (default 3).
  int failures = 3;
  bool operator==(const Probe&) const = default;
};

/// A `depends_on` condition.
enum class DependencyCondition {
  Started,    ///< the dependency was spawned
  Ready,      ///< the dependency is RUNNING (the default)
  Completed,  ///< the dependency exited with a code in its exitcodes
};

/// One entry of `depends_on`.
struct Dependency {
  std::string program;
  DependencyCondition condition = DependencyCondition::Ready;
  bool operator==(const Dependency&) const = default;
};

/// `shutdown_on`: when this program's own end shuts minisupd down.
enum class ShutdownOn {
  None,     ///< never (the default)
  Exit,     ///< any exit on its own
  Failure,  ///< an unexpected exit (code not in exitcodes, or a signal)
  Fatal,    ///< it went FATAL
};

/// One `[socket.NAME]` table: a listening socket minisupd binds before any
/// program starts and holds for its whole life, handed to the processes of
/// the programs that name it in `sockets` as descriptors 3, 4, ... (DESIGN.md,
/// "Held sockets and zero-downtime restarts").
struct SocketConfig {
  enum class Kind {
    Tcp,   ///< "tcp://ADDRESS:PORT" (IPv4, or IPv6 in brackets)
    Unix,  ///< "unix:PATH" (a stream socket file)
  };
  std::string name;    ///< the table key
  std::string listen;  ///< as written (`${VAR}` expanded), for messages
  Kind kind = Kind::Tcp;
  /// tcp: the numeric address in its canonical form ("0.0.0.0", "::",
  /// "127.0.0.1"; an IPv6 address without brackets), whether it is IPv6,
  /// and the port (1..65535).
  std::string address;
  bool ipv6 = false;
  int port = 0;
  /// unix: the socket file (absolute).
  std::string path;
  /// `backlog`: the listen() queue (1..65535; the kernel caps it at
  /// net.core.somaxconn). Connections that arrive while no process accepts
  /// (a restart) wait there.
  int backlog = 4096;
  /// unix: `mode` of the socket file (default 0666, as systemd's
  /// SocketMode) and `owner` ("user" or "user:group"), resolved when the
  /// config is loaded; nullopt = minisupd's own.
  mode_t mode = 0666;
  std::string owner;
  std::optional<uid_t> owner_uid;
  std::optional<gid_t> owner_gid;
  /// Where the `[socket.NAME]` header is (not part of the definition:
  /// ProgramConfig::equals_definition ignores it).
  SourceLocation where;

  /// The same address (tcp: address and port; unix: path): the socket
  /// bound for one can serve the other.
  bool same_address(const SocketConfig& other) const {
    return kind == other.kind && address == other.address && port == other.port &&
           path == other.path;
  }
  /// "tcp://0.0.0.0:3000", "tcp://[::]:3000", "unix:/run/app.sock": the
  /// canonical form of the address.
  std::string address_text() const;
  bool operator==(const SocketConfig&) const = default;
};

/// One process of a program: the program itself when numprocs = 1, else
/// `NAME:N`. Values that may mention `${MINISUP_PROCESS_NUM}` (and
/// `${MINISUP_PROCESS_NAME}`, `${MINISUP_PROGRAM}`) are expanded per process.
struct ProcessConfig {
  std::string name;  ///< "web", or "web:3" when numprocs > 1
  /// numprocs_start ... numprocs_start + numprocs - 1 (MINISUP_PROCESS_NUM;
  /// `NAME:N` and the AUTO log `NAME_N` use it).
  int process_num = 0;
  /// argv: split like a shell (string form) and expanded; never empty.
  std::vector<std::string> command;
  /// Working directory (absolute); nullopt = inherit minisupd's.
  std::optional<std::string> directory;
  /// The program's extra environment, values expanded. The child's full
  /// environment is minisupd's + [supervisor].environment + this + MINISUP_*.
  std::map<std::string, std::string> environment;
  LogTarget stdout_logfile;
  LogTarget stderr_logfile;  ///< ignored when the program has redirect_stderr
  /// The argv of this process's `ready` / `health` exec probe, `${VAR}`
  /// expanded for this process (like `command`); empty unless that probe
  /// is an exec probe. The program's Probe::exec is process 0's.
  std::vector<std::string> ready_exec;
  std::vector<std::string> health_exec;
  bool operator==(const ProcessConfig&) const = default;
};

/// One `[program.NAME]` table, with defaults applied.
struct ProgramConfig {
  std::string name;                 ///< the table key: letters, digits, `_`, `.`, `-`
  std::optional<std::string> user;  ///< run as this user (needs root)
  std::optional<mode_t> umask;      ///< nullopt = inherit
  bool autostart = true;            ///< start when minisupd starts (and when added by update)
  AutoRestart autorestart = AutoRestart::Unexpected;  ///< restart after an exit from RUNNING
  std::vector<int> exitcodes{0};                      ///< expected exit codes, sorted, unique
  Duration startsecs = std::chrono::seconds(1);       ///< up this long => RUNNING; 0 = at once
  int startretries = 3;                               ///< failed retries in a row before FATAL
  int stopsignal = 15;                                ///< signal number 1..64 (SIGTERM)
  Duration stopwaitsecs = std::chrono::seconds(10);   ///< then SIGKILL; 0 = at once
  bool stopasgroup = false;             ///< stop signal to the group; implies killasgroup
  bool killasgroup = false;             ///< SIGKILL to the process group
  int priority = 999;                   ///< lower starts first and stops last
  int numprocs = 1;                     ///< 1..10000 processes; see `processes`
  int numprocs_start = 0;               ///< the first process number (0..1000000)
  LogSettings stdout_logfile_settings;  ///< stdout_logfile_maxbytes/_backups
  LogSettings stderr_logfile_settings;  ///< stderr_logfile_maxbytes/_backups
  bool redirect_stderr = false;         ///< stderr into the stdout log (stderr_logfile unused)
  std::optional<Probe> ready;           ///< readiness probe; startsecs unused when set
  std::optional<Probe> health;          ///< liveness probe (tcp, http or exec)
  /// `depends_on`, sorted by program name, each name once.
  std::vector<Dependency> depends_on;
  ShutdownOn shutdown_on = ShutdownOn::None;
  /// `rlimit_nofile`, `rlimit_nproc`, `rlimit_core`, `rlimit_as`: set in the
  /// child before exec as both its soft and its hard limit (RLIM_INFINITY
  /// for "unlimited"); nullopt = minisupd's (rlimits.h). At load, each is
  /// within what minisupd can grant.
  std::optional<rlim_t> rlimit_nofile;
  std::optional<rlim_t> rlimit_nproc;
  std::optional<rlim_t> rlimit_core;
  std::optional<rlim_t> rlimit_as;
  /// `sockets`: the held sockets its processes get as descriptors 3, 4, ...
  /// in this order (the [socket.NAME] definitions they name, copied, so that
  /// a changed socket makes the program changed for `reread`/`update`).
  std::vector<SocketConfig> sockets;
  /// A job (not a TOML key): named by another program's `completed`
  /// condition, or by `minisupd --run`. It is RUNNING at its spawn
  /// (startsecs 0), never restarted after an exit, and an exit with a code
  /// in exitcodes is its success.
  bool job = false;
  /// One entry per process, in process_num order (size == numprocs).
  std::vector<ProcessConfig> processes;

  /// Where the `[program.NAME]` header is (not part of the definition's
  /// identity: excluded from equals_definition()).
  SourceLocation where;

  /// True when every key of the two definitions is the same after defaults
  /// and expansion (what `reread` calls unchanged). `where` is ignored.
  bool equals_definition(const ProgramConfig& other) const;

  /// Exact equality, `where` included (use equals_definition() to compare
  /// definitions).
  bool operator==(const ProgramConfig&) const = default;
};

/// One `[group.NAME]` table: a name that selects every process of its
/// programs (`NAME:*`, and `NAME:PROCESS` for one of them) in minisupctl,
/// as supervisord's `[group:NAME]`. A group and a program never share a
/// name, and a program belongs to at most one group.
struct GroupConfig {
  std::string name;  ///< the table key: letters, digits, `_`, `.`, `-`
  /// `programs`: the member programs as written (each a defined program,
  /// each once), in the order written.
  std::vector<std::string> programs;
  /// `priority`: the priority of the member programs that set none of
  /// their own; nullopt = not set.
  std::optional<int> priority;
  /// Where the `[group.NAME]` header is.
  SourceLocation where;
  bool operator==(const GroupConfig&) const = default;
};

/// Log levels of minisupd's own log (`loglevel`).
enum class LogLevel { Trace, Debug, Info, Warn, Error };

/// `process_tree`: how a program's whole process tree is kept (DESIGN.md,
/// "Whole process trees"): a cgroup v2 per process where one is writable
/// (Auto), always (Cgroup: minisupd refuses to start without), or process
/// groups only (Group).
enum class ProcessTree { Auto, Cgroup, Group };

/// The `[supervisor]` table of the main config file.
struct SupervisorConfig {
  std::filesystem::path socket;  ///< absolute; default `minisup.sock` next to the config
  mode_t socket_mode = 0700;
  std::string logfile = "-";  ///< "-" = stderr, else an absolute path
  LogLevel loglevel = LogLevel::Info;
  std::filesystem::path childlogdir;               ///< absolute; default `logs` next to the config
  std::optional<std::filesystem::path> pidfile;    ///< written only when set
  std::vector<std::string> include;                ///< the globs as written
  std::map<std::string, std::string> environment;  ///< added to every program
  /// `socket_uids`: users allowed on the control socket besides root and
  /// minisupd's own user, as uids (names resolved when the config is loaded).
  std::vector<uid_t> socket_uids;
  /// `socket_group`: a group allowed on the control socket (and the socket
  /// file's group), as a gid resolved when the config is loaded.
  std::optional<gid_t> socket_group;
  /// The users of socket_group, resolved when the config is loaded: its
  /// member list plus the users whose primary group it is (not a TOML key).
  std::vector<uid_t> socket_group_members;
  /// `shutdown_timeout`: the whole graceful shutdown ends within this long
  /// (no SIGKILL later than its start + this); nullopt = unbounded.
  std::optional<Duration> shutdown_timeout;
  ProcessTree process_tree = ProcessTree::Auto;
};

/// A whole, valid configuration.
/// `[http]`: the dashboard, JSON API and metrics listener (DESIGN.md,
/// "HTTP: dashboard, JSON API, metrics"). Read once, at start: changes
/// apply at the next start of minisupd.
struct HttpConfig {
  std::string listen;  ///< as written: "127.0.0.1:9001", "[::1]:9001", "unix:PATH"
  bool is_unix = false;
  /// tcp: the numeric address (canonical, IPv6 without brackets) and port.
  std::string address;
  bool ipv6 = false;
  int port = 0;
  std::string path;  ///< unix: the socket file (absolute)
  /// `token_file`: the file (absolute) and the token it holds (surrounding
  /// whitespace dropped), read when the config is loaded.
  std::optional<std::filesystem::path> token_file;
  std::string token;
  /// `username` + `password_sha256` (64 lower-case hex digits): Basic auth.
  std::string username;
  std::string password_sha256;
  bool read_only = false;          ///< `read_only`: no changes for anyone
  std::vector<std::string> hosts;  ///< `hosts`: extra names allowed in Host
  SourceLocation where;            ///< the [http] header
  /// Credentials are configured (a token, or a user and password).
  bool has_credentials() const { return !token.empty() || !username.empty(); }
  /// The address is a loopback one (127.0.0.0/8, ::1) or a unix socket.
  bool loopback_only() const;
  bool operator==(const HttpConfig&) const = default;
};

struct Config {
  std::filesystem::path file;  ///< the main config file (absolute)
  SupervisorConfig supervisor;
  /// `[http]`, when the listener is configured.
  std::optional<HttpConfig> http;
  /// Every program, sorted by (priority, name). The start order, which
  /// also honours depends_on, is start_order() / start_steps()
  /// (load_config.h).
  std::vector<ProgramConfig> programs;
  /// Every `[socket.NAME]`, sorted by name.
  std::vector<SocketConfig> sockets;
  /// Every `[group.NAME]`, sorted by name.
  std::vector<GroupConfig> groups;
  /// Non-fatal findings, e.g. `conf.d/*.toml: include matches no file`.
  std::vector<std::string> warnings;

  /// The program called `name`, or nullptr.
  const ProgramConfig* find_program(const std::string& name) const;
  /// The group called `name`, or nullptr.
  const GroupConfig* find_group(const std::string& name) const;
};

/// The most sockets one program may name in `sockets`.
inline constexpr std::size_t kMaxProgramSockets = 64;

}  // namespace minisup::config
