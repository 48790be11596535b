// A small HTTP/1.1 client for the integration tests of minisupd's HTTP
// listener: whole requests (Connection: close, Content-Length or chunked
// bodies) and streams read chunk by chunk (SSE, a followed log), over TCP
// or a unix socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace minisup::testing {

struct HttpResponse {
  int status = 0;                              ///< 0: no (complete) response
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// Where the listener is: 127.0.0.1:port, or a unix socket file.
struct HttpEndpoint {
  int port = 0;
  std::string unix_path;
  std::string host_header() const { return "127.0.0.1:" + std::to_string(port); }
};

class HttpConnection {
 public:
  explicit HttpConnection(const HttpEndpoint& endpoint) {
    if (!endpoint.unix_path.empty()) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", endpoint.unix_path.c_str());
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error("connect " + endpoint.unix_path);
      }
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(endpoint.port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect 127.0.0.1:" + std::to_string(endpoint.port));
    }
  }
  ~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads more bytes into the buffer; false on EOF, error or timeout.
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  /// The status line and headers; false when they did not come in time.
  bool read_head(HttpResponse& response, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(left(deadline))) return false;
    }
    const std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return false;
    response.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[name] = value;
    }
    chunked_ = response.header("transfer-encoding") == "chunked";
    return true;
  }

  /// Decodes what has arrived of a chunked body into `out`; waits up to
  /// `timeout` for more. False once the body ended (or the peer closed).
  bool read_body_some(std::string& out, std::chrono::milliseconds timeout) {
    if (!chunked_) {
      if (!raw_.empty()) {
        out += raw_;
        raw_.clear();
        return true;
      }
      if (!fill(timeout)) return !eof_;
      out += raw_;
      raw_.clear();
      return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::size_t line_end = raw_.find("\r\n");
      if (line_end != std::string::npos) {
        const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
        if (size == 0) return false;  // the last chunk
        if (raw_.size() >= line_end + 2 + size + 2) {
          out += raw_.substr(line_end + 2, size);
          raw_.erase(0, line_end + 2 + size + 2);
          return true;
        }
      }
      if (!fill(left(deadline))) return !eof_;
    }
  }

  int fd() const { return fd_; }

 private:
  static std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  }
  int fd_ = -1;
  std::string raw_;
  bool chunked_ = false;
  bool eof_ = false;
};

/// The request text: Host (unless given), Connection: close, Content-Length.
inline std::string http_request_text(const HttpEndpoint& endpoint, const std::string& method,
                                     const std::string& target,
                                     const std::vector<std::string>& headers,
                                     const std::string& body) {
  std::string text = method + " " + target + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& h : headers) {
    if (h.rfind("Host:", 0) == 0) has_host = true;
    text += h + "\r\n";
  }
  if (!has_host) text += "Host: " + endpoint.host_header() + "\r\n";
  text += "Connection: close\r\n";
  if (method == "POST" || !body.empty())
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  text += "\r\n" + body;
  return text;
}

/// One whole request and its response (status 0 when none came).
inline HttpResponse http(const HttpEndpoint& endpoint, const std::string& method,
                         const std::string& target, const std::vector<std::string>& headers = {},
                         const std::string& body = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  HttpResponse response;
  HttpConnection connection(endpoint);
  if (!connection.send_all(http_request_text(endpoint, method, target, headers, body))) {
    return response;
  }
  if (!connection.read_head(response, timeout)) return HttpResponse{};
  while (connection.read_body_some(response.body, timeout)) {
  }
  return response;
}

}  // namespace minisup::testing
