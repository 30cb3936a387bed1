// A tiny HTTP/1.1 origin on 127.0.0.1 for the examples, so they run anywhere without network
// access: it answers GET for a few fixed paths (and /healthz), one connection at a time, with
// `Connection: close`. In a real deployment the regions, backends and CDN origins are your own
// servers; nothing else in the examples depends on this file.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace examples {

class LocalOrigin {
 public:
  // Serves `routes` (path -> body, with Cache-Control: max-age=3600) and /healthz on an
  // ephemeral port. Throws std::runtime_error when it cannot listen.
  explicit LocalOrigin(std::map<std::string, std::string> routes = {})
      : routes_(std::move(routes)) {
    routes_.emplace("/healthz", "ok\n");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (listen_fd_ >= 0) ::close(listen_fd_);
      throw std::runtime_error("local origin: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LocalOrigin() { Stop(); }
  LocalOrigin(const LocalOrigin&) = delete;
  LocalOrigin& operator=(const LocalOrigin&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  [[nodiscard]] std::string Url(std::string_view path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  // Takes the origin down: from now on connections are refused (an outage).
  void Stop() {
    if (stopping_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }

 private:
  void Serve() {
    while (!stopping_) {
      pollfd ready{listen_fd_, POLLIN, 0};
      if (::poll(&ready, 1, 20) <= 0) continue;
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      Answer(client);
      ::close(client);
    }
  }

  void Answer(int client) const {
    // Read the request head (bounded in size and time).
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 64 * 1024) {
      pollfd readable{client, POLLIN, 0};
      if (::poll(&readable, 1, 2000) <= 0) return;
      const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    // "GET /path HTTP/1.1"
    const std::size_t method_end = request.find(' ');
    const std::size_t path_end = request.find(' ', method_end + 1);
    if (method_end == std::string::npos || path_end == std::string::npos) return;
    const std::string method = request.substr(0, method_end);
    const std::string path = request.substr(method_end + 1, path_end - method_end - 1);

    std::string status = "200 OK";
    std::string body;
    if (method != "GET" && method != "HEAD") {
      status = "405 Method Not Allowed";
    } else if (auto route = routes_.find(path); route != routes_.end()) {
      body = route->second;
    } else {
      status = "404 Not Found";
      body = "not found\n";
    }
    std::string response = "HTTP/1.1 " + status +
                           "\r\nContent-Type: application/octet-stream"
                           "\r\nCache-Control: max-age=3600"
                           "\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (method != "HEAD") response += body;
    std::size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n =
          ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(client, SHUT_WR);
  }

  std::map<std::string, std::string> routes_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace examples
