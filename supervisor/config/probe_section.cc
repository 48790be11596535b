// `ready` and `health` of a [program.NAME] (Loader::read_probe, loader.h):
// an inline table with exactly one probe kind (ready: tcp, http, exec, log,
// notify; health: tcp, http, exec) plus `timeout`, `interval` and (health)
// `failures`. A tcp/http host is resolved here, once per host and load,
// into a numeric address, so that the probes never block the loop on a name
// lookup and a host that does not resolve is a config error at its key. An
// exec probe's words are kept unexpanded: expand_programs.cc expands them
// per process, like `command`. A `log` pattern is compiled here only to
// report a bad one at its position; the runtime compiles its own.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <regex>
#include <string_view>
#include <tuple>
#include <utility>

#include "supervisor/config/loader.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

using namespace std::chrono_literals;

constexpr std::array<std::string_view, 7> kReadyKeys{
    "tcp", "http", "exec", "log", "notify", "timeout", "interval",
};
constexpr std::array<std::string_view, 6> kHealthKeys{
    "tcp", "http", "exec", "timeout", "interval", "failures",
};

/// A HOST:PORT split: the host without brackets and the port text ("" when
/// there is none). `problem` is set when the text cannot be split.
struct HostPort {
  std::string host;
  std::string port;
  bool has_port = false;
  std::string problem;
};

/// Splits "HOST:PORT", "[V6]:PORT", and (without a port) "HOST", "[V6]".
HostPort split_host_port(std::string_view text) {
  HostPort out;
  std::string_view rest;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      out.problem = "has an unterminated [";
      return out;
    }
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      out.problem = "has text after ]";
      return out;
    }
  } else {
    const std::size_t colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
    if (out.host.find(':') != std::string::npos) {
      out.problem = "has an IPv6 address without brackets (write [::1]:PORT)";
      return out;
    }
  }
  if (out.host.empty()) {
    out.problem = "has no host";
    return out;
  }
  if (!rest.empty()) {
    out.has_port = true;
    out.port = std::string(rest.substr(1));
  }
  return out;
}

bool has_blank(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

std::optional<std::string> Loader::resolve_host(const std::string& host, std::string& address) {
  auto [it, inserted] = host_checks_.try_emplace(host);
  if (inserted) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &results);
    if (rc != 0) {
      it->second.second = rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : ::gai_strerror(rc);
    } else {
      // Prefer an IPv4 address: "localhost" is often ::1 first, while most
      // servers listen on 127.0.0.1 (and a dual-stack one accepts both).
      const addrinfo* chosen = results;
      for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
          chosen = ai;
          break;
        }
      }
      char text[NI_MAXHOST] = {};
      const int nrc = ::getnameinfo(chosen->ai_addr, chosen->ai_addrlen, text, sizeof text, nullptr,
                                    0, NI_NUMERICHOST);
      if (nrc != 0) {
        it->second.second = ::gai_strerror(nrc);
      } else {
        it->second.first = text;
      }
      ::freeaddrinfo(results);
    }
  }
  address = it->second.first;
  return it->second.second;
}

std::optional<Probe> Loader::read_probe(const Field& f, bool is_health, const SourceFile& file,
                                        std::vector<Located>& exec_words) {
  const std::string_view name = is_health ? "health" : "ready";
  const auto* table = f.node.as_table();
  if (table == nullptr) {
    error(f.where, fmt::format("{} must be a table like {{ {} = \"127.0.0.1:5432\" }}, got {}",
                               name, "tcp", describe(f.node)));
    return std::nullopt;
  }
  Probe probe;
  if (is_health) {
    probe.timeout = 2s;
    probe.interval = 10s;
    probe.failures = 3;
  } else {
    probe.timeout = 60s;
    probe.interval = 200ms;
  }
  bool ok = true;
  bool reported_key = false;  // an unknown or misplaced key: "needs one probe" would repeat it
  std::vector<std::pair<std::string, Pos>> kinds;  // the kind keys, by position

  // tcp and http: the host resolved now.
  auto resolve = [&](const Field& kf, const std::string& host) {
    std::string address;
    if (auto problem = resolve_host(host, address)) {
      error(kf.where, fmt::format("{}: cannot resolve host {}: {}", kf.key, quote(host), *problem));
      ok = false;
      return;
    }
    probe.host = host;
    probe.address = address;
  };
  // timeout and interval: fractions allowed, more than 0.
  auto positive_seconds = [&](const Field& kf) -> std::optional<Duration> {
    auto d = as_seconds(kf);
    if (!d) return std::nullopt;
    if (*d <= Duration::zero()) {
      error(kf.where, fmt::format("{} must be greater than 0, got {}", kf.key, describe(kf.node)));
      return std::nullopt;
    }
    return d;
  };

  for (auto&& [k, value] : *table) {
    const std::string key(k.str());
    const Field kf{fmt::format("{}.{}", name, key), value, location(file, value.source())};
    const Pos key_where = location(file, k.source());
    const bool is_kind =
        key == "tcp" || key == "http" || key == "exec" || key == "log" || key == "notify";
    if (is_kind && is_health && (key == "log" || key == "notify")) {
      error(key_where, fmt::format("health cannot use {}; a health check is tcp, http or exec "
                                   "({} works for ready only)",
                                   key, key));
      ok = false;
      reported_key = true;
      continue;
    }
    if (is_kind) kinds.emplace_back(key, key_where);

    if (key == "tcp") {
      probe.kind = Probe::Kind::Tcp;
      auto text = as_string(kf);
      if (!text) {
        ok = false;
        continue;
      }
      HostPort hp = split_host_port(*text);
      if (hp.problem.empty() && !hp.has_port) hp.problem = "has no port";
      if (!hp.problem.empty()) {
        error(kf.where, fmt::format("{} must be \"HOST:PORT\" like \"127.0.0.1:5432\"; {} {}",
                                    kf.key, quote(*text), hp.problem));
        ok = false;
        continue;
      }
      auto port = parse_listen_port(hp.port);
      if (!port) {
        error(kf.where,
              fmt::format("{} port must be between 1 and 65535, got {}", kf.key, quote(hp.port)));
        ok = false;
        continue;
      }
      probe.port = *port;
      resolve(kf, hp.host);
    } else if (key == "http") {
      probe.kind = Probe::Kind::Http;
      auto text = as_string(kf);
      if (!text) {
        ok = false;
        continue;
      }
      constexpr std::string_view kScheme = "http://";
      const std::string_view url = *text;
      if (url.size() < kScheme.size() || !iequals(url.substr(0, kScheme.size()), kScheme)) {
        const bool is_https = url.size() >= 8 && iequals(url.substr(0, 8), "https://");
        error(kf.where,
              fmt::format("{} must be a plain-HTTP URL like \"http://127.0.0.1:8080/healthz\"{}, "
                          "got {}",
                          kf.key, is_https ? " (https is not supported)" : "", quote(*text)));
        ok = false;
        continue;
      }
      const std::string_view after = url.substr(kScheme.size());
      const std::size_t path_at = after.find_first_of("/?#");
      const std::string_view authority = after.substr(0, path_at);
      std::string path =
          path_at == std::string_view::npos ? "/" : std::string(after.substr(path_at));
      if (const std::size_t hash = path.find('#'); hash != std::string::npos) path.erase(hash);
      if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
      if (authority.find('@') != std::string_view::npos || has_blank(*text)) {
        error(kf.where, fmt::format("{} must be a URL like \"http://HOST[:PORT]/PATH\" without "
                                    "user info or blanks, got {}",
                                    kf.key, quote(*text)));
        ok = false;
        continue;
      }
      HostPort hp = split_host_port(authority);
      if (!hp.problem.empty()) {
        error(kf.where, fmt::format("{} must be a URL like \"http://HOST[:PORT]/PATH\"; {} {}",
                                    kf.key, quote(*text), hp.problem));
        ok = false;
        continue;
      }
      std::optional<int> port = hp.has_port ? parse_listen_port(hp.port) : std::optional<int>(80);
      if (!port) {
        error(kf.where,
              fmt::format("{} port must be between 1 and 65535, got {}", kf.key, quote(hp.port)));
        ok = false;
        continue;
      }
      probe.port = *port;
      probe.path = path;
      probe.url = *text;
      resolve(kf, hp.host);
    } else if (key == "exec") {
      probe.kind = Probe::Kind::Exec;
      if (auto words = read_argv(kf, file)) {
        exec_words = std::move(*words);
      } else {
        ok = false;
      }
    } else if (key == "log") {
      probe.kind = Probe::Kind::Log;
      auto text = as_string(kf);
      if (!text) {
        ok = false;
        continue;
      }
      try {
        const std::regex compiled(*text, std::regex::ECMAScript);
        (void)compiled;
        probe.pattern = *text;
      } catch (const std::regex_error& e) {
        error(kf.where, fmt::format("{} is not a valid regular expression (ECMAScript): {}: {}",
                                    kf.key, quote(*text), e.what()));
        ok = false;
      }
    } else if (key == "notify") {
      probe.kind = Probe::Kind::Notify;
      auto b = as_bool(kf);
      if (b && !*b) {
        error(kf.where, fmt::format("{} must be true (leave ready out to go by startsecs), got "
                                    "false",
                                    kf.key));
      }
      if (!b || !*b) ok = false;
    } else if (key == "timeout") {
      if (auto d = positive_seconds(kf)) {
        probe.timeout = *d;
      } else {
        ok = false;
      }
    } else if (key == "interval") {
      if (auto d = positive_seconds(kf)) {
        probe.interval = *d;
      } else {
        ok = false;
      }
    } else if (key == "failures" && is_health) {
      if (auto n = as_int(kf, 1, std::numeric_limits<int>::max())) {
        probe.failures = static_cast<int>(*n);
      } else {
        ok = false;
      }
    } else {
      if (is_health) {
        unknown_key(k, file, name, kHealthKeys);
      } else {
        unknown_key(k, file, name, kReadyKeys);
      }
      ok = false;
      reported_key = true;
    }
  }

  if (kinds.empty()) {
    if (reported_key) return std::nullopt;
    error(f.where, is_health ? "health needs one check: tcp, http or exec"
                             : "ready needs one probe: tcp, http, exec, log or notify");
    return std::nullopt;
  }
  if (kinds.size() > 1) {
    std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.line, a.second.column) < std::tie(b.second.line, b.second.column);
    });
    std::string names;
    for (const auto& [kind, where] : kinds) names += (names.empty() ? "" : ", ") + kind;
    error(kinds[1].second,
          fmt::format("{} has more than one probe kind ({}); give exactly one", name, names));
    return std::nullopt;
  }
  if (!ok) return std::nullopt;
  return probe;
}

}  // namespace minisup::config::detail
