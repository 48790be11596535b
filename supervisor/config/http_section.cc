// [http] (loader.h): the dashboard, JSON API and metrics listener of
// DESIGN.md "HTTP: dashboard, JSON API, metrics".
//
// `listen` is "ADDRESS:PORT" with a numeric address (IPv6 in brackets) or
// "unix:PATH". Credentials are a `token_file` (Bearer) and/or `username` +
// `password_sha256` (Basic). Without credentials a TCP listener serves
// read-only, and only on a loopback address: anyone who can reach a
// non-loopback port could read every program's logs.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "supervisor/config/config_file.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/value_text.h"

namespace minisup::config {

bool HttpConfig::loopback_only() const {
  if (is_unix) return true;
  if (ipv6) return address == "::1";
  in_addr binary{};
  if (::inet_pton(AF_INET, address.c_str(), &binary) != 1) return false;
  return (ntohl(binary.s_addr) >> 24) == 127;
}

namespace detail {
namespace {

constexpr std::array<std::string_view, 6> kHttpKeys{"listen",          "token_file", "username",
                                                    "password_sha256", "read_only",  "hosts"};

constexpr std::string_view kHttpListenForms =
    "listen must be \"ADDRESS:PORT\" (e.g. \"127.0.0.1:9001\", \"[::1]:9001\") or \"unix:PATH\"";

/// The largest token file read (a token is a line, not a document).
constexpr std::uintmax_t kMaxTokenFileBytes = 4096;

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string trim(std::string_view text) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

}  // namespace

void Loader::read_http(const toml::node& node, const toml::key& key, const SourceFile& file) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    error(location(file, key.source()),
          fmt::format("http must be a table ([http] with listen = \"127.0.0.1:9001\"), got {}",
                      describe(node)));
    return;
  }
  HttpConfig http;
  const Pos header = location(file, node.source());
  http.where = to_location(header);
  bool listen_ok = false;
  std::optional<Pos> username_where;
  std::optional<Pos> password_where;
  std::optional<Pos> listen_where;
  for (auto&& [k, value] : *table) {
    const std::string key_name(k.str());
    const Field f{key_name, value, location(file, value.source())};
    if (key_name == "listen") {
      listen_where = f.where;
      const std::size_t errors_before = errors_.size();
      read_http_listen(f, http, file);
      listen_ok = errors_.size() == errors_before;
    } else if (key_name == "token_file") {
      read_http_token_file(f, http, file);
    } else if (key_name == "username") {
      username_where = f.where;
      if (auto name = as_string(f)) {
        if (name->find(':') != std::string::npos) {
          error(f.where,
                "username may not contain \":\" (Basic auth separates it from the "
                "password with one)");
        } else {
          http.username = *name;
        }
      }
    } else if (key_name == "password_sha256") {
      password_where = f.where;
      if (auto digest = as_string(f)) {
        std::string lower = *digest;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower.size() != 64 || !is_lower_hex(lower)) {
          error(f.where, fmt::format("password_sha256 must be 64 hex digits (the SHA-256 of the "
                                     "password: `printf %s PASSWORD | sha256sum`), got {}",
                                     quote(truncate(*digest))));
        } else {
          http.password_sha256 = lower;
        }
      }
    } else if (key_name == "read_only") {
      if (auto flag = as_bool(f)) http.read_only = *flag;
    } else if (key_name == "hosts") {
      const auto* array = value.as_array();
      if (array == nullptr) {
        error(f.where,
              fmt::format("hosts must be an array of host names like [\"minisup.example\"], "
                          "got {}",
                          describe(value)));
        continue;
      }
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const Field e{fmt::format("hosts[{}]", i), element, location(file, element.source())};
        if (auto host = as_string(e)) {
          std::string lower = *host;
          std::transform(lower.begin(), lower.end(), lower.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          http.hosts.push_back(std::move(lower));
        }
      }
    } else {
      unknown_key(k, file, "[http]", kHttpKeys);
    }
  }
  if (!table->contains("listen")) {
    error(header, "[http] has no listen; listen is required (\"127.0.0.1:9001\" or \"unix:PATH\")");
    return;
  }
  if (username_where && !password_where) {
    error(*username_where, "username needs password_sha256 (the SHA-256 of the password)");
  } else if (password_where && !username_where) {
    error(*password_where, "password_sha256 needs a username");
  }
  if (listen_ok && !http.has_credentials() && !http.loopback_only() && !username_where) {
    error(*listen_where,
          fmt::format("listen {} is not a loopback address and [http] has no credentials: "
                      "anyone who reaches it could read every program's logs; set token_file "
                      "(or username and password_sha256), or listen on 127.0.0.1",
                      quote(http.listen)));
  }
  if (listen_ok) http_ = std::move(http);
}

void Loader::read_http_listen(const Field& f, HttpConfig& http, const SourceFile& file) {
  auto text = as_string(f);
  if (!text) return;
  auto expanded = expand({*text, f.where}, f.key, variable_lookup());
  if (!expanded) return;
  const std::string& value = *expanded;
  http.listen = value;
  constexpr std::string_view kUnix = "unix:";
  if (value.starts_with(kUnix)) {
    const std::string path = value.substr(kUnix.size());
    if (path.empty() || path.front() == '@') {
      error(f.where, fmt::format("{}; {} has {}", kHttpListenForms, quote(value),
                                 path.empty() ? "no path" : "an abstract name (not supported)"));
      return;
    }
    http.is_unix = true;
    http.path = resolve_path(file.directory, path).string();
    return;
  }
  std::string_view rest = value;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  auto host_port =
      read_host_port(f, rest, value, kHttpListenForms, "[::1]:9001", "\"127.0.0.1:9001\"");
  if (!host_port) return;
  http.address = std::move(host_port->address);
  http.ipv6 = host_port->ipv6;
  http.port = host_port->port;
}

void Loader::read_http_token_file(const Field& f, HttpConfig& http, const SourceFile& file) {
  auto path = as_path(f, file, variable_lookup());
  if (!path) return;
  std::string problem;
  bool not_regular = false;
  const std::string content = read_file_capped(*path, problem, not_regular);
  if (!problem.empty()) {
    error(f.where, fmt::format("token_file {}: {}", quote(path->string()), problem));
    return;
  }
  if (content.size() > kMaxTokenFileBytes) {
    error(f.where, fmt::format("token_file {} is {} bytes; a token file holds one token (at most "
                               "{} bytes)",
                               quote(path->string()), content.size(), kMaxTokenFileBytes));
    return;
  }
  std::string token = trim(content);
  if (token.size() < 16) {
    error(f.where, fmt::format("token_file {} holds {}; a token must have at least 16 "
                               "characters (e.g. `openssl rand -hex 32`)",
                               quote(path->string()),
                               token.empty() ? "nothing" : "a token shorter than that"));
    return;
  }
  if (std::any_of(token.begin(), token.end(),
                  [](unsigned char c) { return c < 0x21 || c > 0x7e; })) {
    error(f.where, fmt::format("token_file {}: the token may only hold printable ASCII without "
                               "spaces (it is sent in an Authorization header)",
                               quote(path->string())));
    return;
  }
  http.token_file = *path;
  http.token = std::move(token);
}

}  // namespace detail
}  // namespace minisup::config
