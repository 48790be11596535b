// See request.h.
#include "supervisor/http/request.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

namespace minisup::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decodes `text` ('+' is a space in a query); nullopt on a bad
/// escape or a NUL.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// "HOST[:PORT]" (HOST may be "[v6]") -> {host (lower case, unbracketed),
/// port or -1 when absent}; nullopt when malformed.
std::optional<std::pair<std::string, int>> split_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    in6_addr binary{};
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &binary) != 1) return std::nullopt;
  } else {
    const std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (host.empty()) return std::nullopt;
  int port_number = -1;
  if (!port.empty()) {
    auto count = parse_count(port, 65535);
    if (!count || *count == 0) return std::nullopt;
    port_number = *count;
  }
  return std::pair{lower(host), port_number};
}

/// The canonical text of an IP literal, or nullopt for a name.
std::optional<std::string> canonical_ip(const std::string& host) {
  unsigned char binary[sizeof(in6_addr)] = {};
  char out[INET6_ADDRSTRLEN] = {};
  for (int family : {AF_INET, AF_INET6}) {
    if (::inet_pton(family, host.c_str(), binary) == 1 &&
        ::inet_ntop(family, binary, out, sizeof out) != nullptr) {
      return std::string(out);
    }
  }
  return std::nullopt;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding only at the end, at most two.
      if (i + 2 < text.size()) return std::nullopt;
      ++padding;
      continue;
    }
    if (padding != 0) return std::nullopt;
    const std::size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::optional<Target> parse_target(std::string_view raw) {
  if (raw.empty() || raw.front() != '/' || raw.size() > kMaxTargetBytes) return std::nullopt;
  Target target;
  std::string_view path = raw;
  std::string_view query;
  if (const std::size_t mark = raw.find('?'); mark != std::string_view::npos) {
    path = raw.substr(0, mark);
    query = raw.substr(mark + 1);
  }
  if (const std::size_t hash = query.find('#'); hash != std::string_view::npos) {
    query = query.substr(0, hash);
  }
  path.remove_prefix(1);
  if (path.starts_with('/')) return std::nullopt;                  // "//...": an empty segment
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);  // "/api/v1/programs/"
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view raw_segment = path.substr(0, slash);
    auto segment = percent_decode(raw_segment, /*plus_is_space=*/false);
    if (!segment || segment->empty() || *segment == "." || *segment == "..") return std::nullopt;
    target.path.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) return std::nullopt;  // "a//" after the trailing "/" was dropped
  }
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!key || !value) return std::nullopt;
      target.query.emplace(std::move(*key), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return target;
}

bool Route::changes() const {
  switch (kind) {
    case RouteKind::Action:
    case RouteKind::Signal:
    case RouteKind::Reread:
    case RouteKind::Update:
      return true;
    default:
      return false;
  }
}

Route route(std::string_view method, const Target& target) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  const auto& p = target.path;
  Route r;
  auto want = [&](RouteKind kind, bool is_post) {
    r.kind = kind;
    if ((is_post && post) || (!is_post && get)) {
      r.status = Route::Status::Ok;
    } else {
      r.status = Route::Status::MethodNotAllowed;
      r.allow = is_post ? "POST" : "GET, HEAD";
    }
    return r;
  };
  if (p.empty()) return want(RouteKind::Dashboard, false);
  if (p.size() == 1 && p[0] == "healthz") return want(RouteKind::Healthz, false);
  if (p.size() == 1 && p[0] == "metrics") return want(RouteKind::Metrics, false);
  if (p.size() < 3 || p[0] != "api" || p[1] != "v1") return r;
  const std::string& what = p[2];
  if (p.size() == 3) {
    if (what == "info") return want(RouteKind::Info, false);
    if (what == "login") return want(RouteKind::Login, true);
    if (what == "logout") return want(RouteKind::Logout, true);
    if (what == "programs") return want(RouteKind::Programs, false);
    if (what == "events") return want(RouteKind::Events, false);
    if (what == "reread") return want(RouteKind::Reread, true);
    if (what == "update") return want(RouteKind::Update, true);
    return r;
  }
  if (what != "programs" || p.size() > 5 || p[3].size() > kMaxNameBytes) return r;
  r.name = p[3];
  if (p.size() == 4) return want(RouteKind::Program, false);
  const std::string& verb = p[4];
  if (verb == "start" || verb == "stop" || verb == "restart") {
    r.action = verb;
    return want(RouteKind::Action, true);
  }
  if (verb == "signal") return want(RouteKind::Signal, true);
  if (verb == "log") return want(RouteKind::Log, false);
  r.name.clear();
  return r;
}

std::optional<bool> query_flag(const Target& target, const std::string& key, bool absent) {
  auto it = target.query.find(key);
  if (it == target.query.end()) return absent;
  const std::string value = lower(it->second);
  if (value.empty() || value == "1" || value == "true" || value == "yes") return true;
  if (value == "0" || value == "false" || value == "no") return false;
  return std::nullopt;
}

std::optional<int> parse_count(std::string_view text, int max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return static_cast<int>(value);
}

bool host_allowed(std::string_view host, const HostPolicy& policy) {
  auto parts = split_host_port(trim(host));
  if (!parts) return false;
  const auto& [name, port] = *parts;
  if (port != -1 && port != policy.port) return false;
  if (auto ip = canonical_ip(name)) {
    if (policy.address == "0.0.0.0") return ip->find(':') == std::string::npos;
    if (policy.address == "::") return true;
    return *ip == policy.address;
  }
  if (name == "localhost") return true;
  return std::find(policy.names.begin(), policy.names.end(), name) != policy.names.end();
}

bool origin_matches(std::string_view origin, std::string_view host) {
  constexpr std::string_view kScheme = "http://";
  origin = trim(origin);
  if (!origin.starts_with(kScheme)) return false;
  auto a = split_host_port(origin.substr(kScheme.size()));
  auto b = split_host_port(trim(host));
  if (!a || !b) return false;
  const int port_a = a->second == -1 ? 80 : a->second;
  const int port_b = b->second == -1 ? 80 : b->second;
  return a->first == b->first && port_a == port_b;
}

std::optional<std::string> bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.size() < 7 || lower(authorization.substr(0, 7)) != "bearer ") {
    return std::nullopt;
  }
  std::string_view token = trim(authorization.substr(7));
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

std::optional<std::pair<std::string, std::string>> basic_credentials(
    std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.size() < 6 || lower(authorization.substr(0, 6)) != "basic ") {
    return std::nullopt;
  }
  auto decoded = base64_decode(trim(authorization.substr(6)));
  if (!decoded) return std::nullopt;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name) {
  while (!cookie_header.empty()) {
    const std::size_t semi = cookie_header.find(';');
    const std::string_view pair = trim(cookie_header.substr(0, semi));
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    if (semi == std::string_view::npos) break;
    cookie_header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer one is looked at whatever matches: the time
  // tells the lengths, never how much of a secret was right.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::string event_id(std::string_view instance, std::uint64_t seq) {
  return fmt::format("{}-{}", instance, seq);
}

std::optional<std::uint64_t> parse_event_id(std::string_view last_event_id,
                                            std::string_view instance) {
  last_event_id = trim(last_event_id);
  if (last_event_id.size() <= instance.size() + 1 || !last_event_id.starts_with(instance) ||
      last_event_id[instance.size()] != '-') {
    return std::nullopt;
  }
  const std::string_view digits = last_event_id.substr(instance.size() + 1);
  std::uint64_t seq = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

std::string sse_event(std::string_view id, std::string_view event, std::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + event.size() + 32);
  if (!id.empty()) out.append("id: ").append(id).push_back('\n');
  if (!event.empty()) out.append("event: ").append(event).push_back('\n');
  // Every line of data on a data: field of its own; CR, LF and CRLF all end
  // a line in SSE, so none may pass through unsplit.
  std::size_t start = 0;
  for (std::size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n' || data[i] == '\r') {
      out.append("data: ").append(data.substr(start, i - start)).push_back('\n');
      if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  out.push_back('\n');
  return out;
}

std::optional<std::string> signal_from_body(std::string_view body) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  auto it = parsed.find("signal");
  if (it == parsed.end() || !(it->is_string() || it->is_number_integer())) return std::nullopt;
  return it->dump();
}

std::string error_body(std::string_view code, std::string_view message) {
  nlohmann::json body = {{"error", code}, {"message", message}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace minisup::http
