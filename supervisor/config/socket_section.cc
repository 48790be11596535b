// [socket.NAME] tables and a program's `sockets` (loader.h): the held
// sockets of DESIGN.md "Held sockets and zero-downtime restarts".
//
// A [socket.NAME] may be in the main file or an included one. `listen` is
// "tcp://ADDRESS:PORT" with a numeric address (IPv6 in brackets: binding
// never waits for a name lookup) or "unix:PATH" (relative to the file's
// directory, `${VAR}` expanded); `backlog` applies to both, `mode` and
// `owner` to unix sockets only. Across files (check_sockets): two sockets
// may not share an address (the same path, or the same port where one
// address covers the other: 0.0.0.0 covers every IPv4 address, :: every
// address); a program's `sockets` must name sockets that exist, each once;
// and a tcp/http `ready` or `health` probe may not aim at a held socket's
// address, since the kernel accepts connections there into the backlog
// whether or not any process is ready, and any process of the program may
// answer one (the probe cannot tell the new process from the old).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "supervisor/config/config_file.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/user_lookup.h"
#include "supervisor/config/value_parsers.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

constexpr std::array<std::string_view, 4> kSocketKeys{"listen", "backlog", "mode", "owner"};

/// Longest socket name (it becomes part of LISTEN_FDNAMES).
constexpr std::size_t kMaxSocketNameLength = 128;
constexpr std::int64_t kMaxBacklog = 65535;

constexpr std::string_view kListenForms =
    "listen must be \"tcp://ADDRESS:PORT\" (e.g. \"tcp://0.0.0.0:3000\", \"tcp://[::]:3000\") "
    "or \"unix:PATH\"";

bool is_valid_socket_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool is_wildcard(const SocketConfig& socket) {
  return socket.address == "0.0.0.0" || socket.address == "::";
}

/// Two sockets that cannot both be bound: the same file, or the same port
/// where one address covers the other (:: covers IPv4 too, as Linux binds
/// it dual-stack by default).
bool overlaps(const SocketConfig& a, const SocketConfig& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == SocketConfig::Kind::Unix) return a.path == b.path;
  if (a.port != b.port) return false;
  if (a.address == b.address) return true;
  if (a.address == "::" || b.address == "::") return true;
  if (a.ipv6 != b.ipv6) return false;
  return is_wildcard(a) || is_wildcard(b);
}

/// A tcp/http probe on `address`:`port` (numeric) reaches `socket`.
bool probe_reaches(const Probe& probe, const SocketConfig& socket) {
  if (socket.kind != SocketConfig::Kind::Tcp || probe.port != socket.port) return false;
  if (probe.address == socket.address || socket.address == "::") return true;
  const bool probe_ipv6 = probe.address.find(':') != std::string::npos;
  return socket.address == "0.0.0.0" && !probe_ipv6;
}

std::string at(const Pos& pos) {
  return fmt::format("{}:{}:{}", pos.file->shown.string(), pos.line, pos.column);
}

}  // namespace

/// A port 1..65535 from decimal digits; nullopt otherwise.
std::optional<int> parse_listen_port(std::string_view text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int port = 0;
  std::from_chars(text.data(), text.data() + text.size(), port);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

/// The canonical text of a numeric address, or nullopt when `text` is not
/// one of `family`.
std::optional<std::string> canonical_address(const std::string& text, int family) {
  unsigned char binary[sizeof(in6_addr)] = {};
  if (::inet_pton(family, text.c_str(), binary) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, binary, out, sizeof out) == nullptr) return std::nullopt;
  return std::string(out);
}

void Loader::read_sockets(const toml::node& node, const toml::key& key, const SourceFile& file) {
  const auto* sockets = node.as_table();
  if (sockets == nullptr) {
    error(location(file, key.source()),
          fmt::format("socket must hold [socket.NAME] tables, got {}", describe(node)));
    return;
  }
  // In file order, so that "defined twice" points at the later one.
  std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
  for (auto&& [name, value] : *sockets) ordered.emplace_back(&name, &value);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.second->source().begin;
    const auto& pb = b.second->source().begin;
    return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
  });
  for (const auto& [name, value] : ordered) read_socket(*name, *value, file);
}

void Loader::read_socket(const toml::key& key, const toml::node& node, const SourceFile& file) {
  const std::string name(key.str());
  const Pos header = location(file, node.source());
  const auto* table = node.as_table();
  if (table == nullptr) {
    error(location(file, key.source()),
          fmt::format("socket.{} must be a table, got {}", truncate(name), describe(node)));
    return;
  }
  bool name_ok = true;
  if (!is_valid_socket_name(name)) {
    error(location(file, key.source()),
          fmt::format("socket name {} may only contain letters, digits, \"_\", \".\" and \"-\"",
                      quote(name)));
    name_ok = false;
  } else if (name.size() > kMaxSocketNameLength) {
    error(location(file, key.source()), fmt::format("socket name {} is longer than {} characters",
                                                    quote(name), kMaxSocketNameLength));
    name_ok = false;
  }

  SocketDraft draft;
  SocketConfig& socket = draft.socket;
  socket.name = name;
  socket.where = to_location(header);
  draft.header = header;
  draft.listen = header;
  const std::string table_name = "[socket." + truncate(name) + "]";
  std::optional<Pos> mode_where;
  std::optional<Pos> owner_where;
  bool listen_ok = false;
  for (auto&& [k, value] : *table) {
    const std::string key_name(k.str());
    const Field f{key_name, value, location(file, value.source())};
    if (key_name == "listen") {
      draft.listen = f.where;
      const std::size_t errors_before = errors_.size();
      read_listen(f, socket, file);
      listen_ok = errors_.size() == errors_before;
    } else if (key_name == "backlog") {
      if (auto n = as_int(f, 1, kMaxBacklog)) socket.backlog = static_cast<int>(*n);
    } else if (key_name == "mode") {
      mode_where = f.where;
      if (auto mode = as_mode(f, "0660")) socket.mode = *mode;
    } else if (key_name == "owner") {
      owner_where = f.where;
      read_socket_owner(f, socket);
    } else {
      unknown_key(k, file, table_name, kSocketKeys);
    }
  }
  if (!table->contains("listen")) {
    error(header, fmt::format("{} has no listen; listen is required (\"tcp://0.0.0.0:3000\" or "
                              "\"unix:PATH\")",
                              table_name));
  } else if (listen_ok && socket.kind == SocketConfig::Kind::Tcp) {
    if (mode_where) error(*mode_where, "mode applies to unix sockets only (listen = \"unix:...\")");
    if (owner_where) {
      error(*owner_where, "owner applies to unix sockets only (listen = \"unix:...\")");
    }
  }
  if (!name_ok) return;
  if (auto it = socket_index_.find(name); it != socket_index_.end()) {
    error(header, fmt::format("socket {} is defined twice: at {} and at {}", quote(name),
                              at(sockets_[it->second].header), at(header)));
    return;
  }
  if (!listen_ok) return;  // reported; a socket without an address is no use below
  socket_index_.emplace(name, sockets_.size());
  sockets_.push_back(std::move(draft));
}

void Loader::read_listen(const Field& f, SocketConfig& socket, const SourceFile& file) {
  auto text = as_string(f);
  if (!text) return;
  auto expanded = expand({*text, f.where}, f.key, variable_lookup());
  if (!expanded) return;
  const std::string& value = *expanded;
  socket.listen = value;
  constexpr std::string_view kTcp = "tcp://";
  constexpr std::string_view kUnix = "unix:";
  if (value.starts_with(kUnix)) {
    std::string path = value.substr(kUnix.size());
    if (path.empty() || path.front() == '@') {
      error(f.where, fmt::format("{}; {} has {}", kListenForms, quote(value),
                                 path.empty() ? "no path" : "an abstract name (not supported)"));
      return;
    }
    socket.kind = SocketConfig::Kind::Unix;
    socket.path = resolve_path(file.directory, path).string();
    return;
  }
  if (!value.starts_with(kTcp)) {
    error(f.where, fmt::format("{}, got {}", kListenForms, quote(value)));
    return;
  }
  auto host_port =
      read_host_port(f, std::string_view(value).substr(kTcp.size()), value, kListenForms,
                     "tcp://[::]:3000", "\"tcp://127.0.0.1:PORT\" or \"tcp://0.0.0.0:PORT\"");
  if (!host_port) return;
  socket.kind = SocketConfig::Kind::Tcp;
  socket.address = std::move(host_port->address);
  socket.ipv6 = host_port->ipv6;
  socket.port = host_port->port;
}

std::optional<Loader::ListenAddress> Loader::read_host_port(const Field& f, std::string_view rest,
                                                            const std::string& value,
                                                            std::string_view forms,
                                                            std::string_view v6_example,
                                                            std::string_view name_example) {
  std::string host;
  std::string_view port_text;
  bool ipv6 = false;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
      error(f.where, fmt::format("{}; {} has no port after the IPv6 address", forms, quote(value)));
      return std::nullopt;
    }
    host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
    ipv6 = true;
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      error(f.where, fmt::format("{}; {} has no port", forms, quote(value)));
      return std::nullopt;
    }
    host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      error(f.where, fmt::format("{}; {} has an IPv6 address without brackets (write \"{}\")",
                                 forms, quote(value), v6_example));
      return std::nullopt;
    }
  }
  auto address = canonical_address(host, ipv6 ? AF_INET6 : AF_INET);
  if (!address) {
    error(f.where,
          fmt::format("{}; {} is not a numeric {} address (names are not resolved: write {})",
                      forms, quote(host), ipv6 ? "IPv6" : "IPv4", name_example));
    return std::nullopt;
  }
  auto port = parse_listen_port(port_text);
  if (!port) {
    error(f.where,
          fmt::format("listen port must be between 1 and 65535, got {}", quote(port_text)));
    return std::nullopt;
  }
  return ListenAddress{std::move(*address), ipv6, *port};
}

void Loader::read_socket_owner(const Field& f, SocketConfig& socket) {
  auto text = as_string(f);
  if (!text) return;
  const std::size_t colon = text->find(':');
  const std::string user = text->substr(0, colon);
  const std::string group = colon == std::string::npos ? "" : text->substr(colon + 1);
  if (user.empty() || (colon != std::string::npos && group.empty())) {
    error(f.where, fmt::format("owner must be \"USER\" or \"USER:GROUP\", got {}", quote(*text)));
    return;
  }
  socket.owner = *text;
  std::string problem;
  if (auto uid = lookup_uid(user, problem)) {
    socket.owner_uid = *uid;
  } else {
    error(f.where, fmt::format("owner: user {} {}", quote(user), problem));
  }
  if (!group.empty()) {
    std::vector<std::string> members;
    if (auto gid = lookup_gid(group, members, problem)) {
      socket.owner_gid = *gid;
    } else {
      error(f.where, fmt::format("owner: group {} {}", quote(group), problem));
    }
  }
}

void Loader::read_program_sockets(const Field& f, ProgramDraft& draft) {
  const auto* array = f.node.as_array();
  if (array == nullptr) {
    error(f.where, fmt::format("sockets must be an array of [socket.NAME] names like [\"http\"], "
                               "got {}",
                               describe(f.node)));
    return;
  }
  if (array->size() > kMaxProgramSockets) {
    error(f.where, fmt::format("sockets names {} sockets; at most {} are allowed", array->size(),
                               kMaxProgramSockets));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const Field e{fmt::format("sockets[{}]", i), element, location(*draft.file, element.source())};
    if (auto name = as_string(e)) draft.sockets.push_back(Located{*name, e.where});
  }
}

void Loader::check_sockets() {
  // Two sockets on one address: the later one (file order) is reported.
  for (std::size_t j = 0; j < sockets_.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const SocketConfig& a = sockets_[i].socket;
      const SocketConfig& b = sockets_[j].socket;
      if (!overlaps(a, b)) continue;
      error(sockets_[j].listen,
            fmt::format("listen {} of [socket.{}] overlaps [socket.{}] ({}, at {}): two "
                        "sockets cannot share an address",
                        quote(b.address_text()), b.name, a.name, a.address_text(),
                        at(sockets_[i].listen)));
      break;
    }
  }
  std::vector<std::string_view> known;
  for (const SocketDraft& draft : sockets_) known.push_back(draft.socket.name);

  for (ProgramDraft& draft : drafts_) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < draft.sockets.size(); ++i) {
      const Located& name = draft.sockets[i];
      const auto found = socket_index_.find(name.text);
      if (found == socket_index_.end()) {
        std::string message = fmt::format("sockets[{}] names {}, which is no [socket.NAME] table",
                                          i, quote(name.text));
        if (auto suggestion = closest_match(name.text, known)) {
          message += fmt::format("; did you mean {}?", quote(*suggestion));
        } else if (known.empty()) {
          message += "; define it with [socket." + truncate(name.text) + "] listen = \"...\"";
        }
        error(name.where, std::move(message));
        continue;
      }
      if (!seen.insert(name.text).second) {
        error(name.where, fmt::format("sockets[{}] names {} again; name each socket once", i,
                                      quote(name.text)));
        continue;
      }
      draft.program.sockets.push_back(sockets_[found->second].socket);
    }
    // A tcp/http probe aimed at a held socket: the kernel answers it.
    const std::array<
        std::tuple<const std::optional<Probe>*, const std::optional<Pos>*, std::string_view>, 2>
        probes{{{&draft.program.ready, &draft.ready_where, "ready"},
                {&draft.program.health, &draft.health_where, "health"}}};
    for (const auto& [probe, where, role] : probes) {
      if (!*probe || !*where) continue;
      if ((*probe)->kind != Probe::Kind::Tcp && (*probe)->kind != Probe::Kind::Http) continue;
      for (const SocketDraft& held : sockets_) {
        if (!probe_reaches(**probe, held.socket)) continue;
        const bool is_http = (*probe)->kind == Probe::Kind::Http;
        error(**where,
              fmt::format(
                  "{}.{} {} aims at the address of held socket [socket.{}] ({}): the kernel "
                  "accepts connections there for minisupd whether or not a process is ready, and "
                  "any process of a program holding it may answer, so the probe cannot tell the "
                  "new process from the old; use {}",
                  role, is_http ? "http" : "tcp",
                  quote(is_http ? (*probe)->url
                                : fmt::format("{}:{}", (*probe)->host, (*probe)->port)),
                  held.socket.name, held.socket.address_text(),
                  role == "ready" ? "ready = { notify = true }, { log = \"...\" }, { exec = [...] "
                                    "}, or an http probe on an address of the process's own"
                                  : "health = { exec = [...] } or an http probe on an address of "
                                    "the process's own"));
        break;
      }
    }
  }
}

}  // namespace minisup::config::detail
