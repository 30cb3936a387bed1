// Shared fixtures for the proxy tests: origins (DemoOrigin, an echoing HttpServer, a raw-socket
// origin scripted per connection), a dead port, a balancer over them, and a proxy in front.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "net/demo_origin.hpp"
#include "net/http_server.hpp"
#include "proxy/proxy_server.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "support/fake_prober.hpp"
#include "support/http_client.hpp"

namespace streamgate::proxy::test {

using namespace std::chrono_literals;

inline constexpr const char* kHost = "127.0.0.1";

// Sanitizer builds run several times slower on small CI machines, and ASan's quarantine makes
// the resident set grow with every free; large-body tests scale down there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline std::unique_ptr<net::DemoOrigin> StartDemoOrigin(const std::string& id,
                                                        std::size_t threads = 1) {
  net::DemoOriginOptions options;
  options.id = id;
  options.threads = threads;
  auto origin = net::DemoOrigin::Start(options);
  EXPECT_TRUE(origin.has_value()) << origin.error().ToString();
  return origin ? std::move(*origin) : nullptr;
}

// Answers every request with what it received: "METHOD target\n", one "name: value" line per
// header, then "body-bytes: N". /status/N answers with status N; X-Origin-Id tags the answer.
inline std::unique_ptr<net::HttpServer> StartEchoOrigin(const std::string& id = "echo") {
  net::HttpServerOptions options;
  options.max_body_bytes = 64 * 1024 * 1024;
  auto server = net::HttpServer::Start(options, [id](const net::HttpRequest& request) {
    net::HttpResponse response;
    response.content_type = "text/plain";
    response.headers.emplace_back("X-Origin-Id", id);
    if (request.path.starts_with("/status/")) {
      response.status = std::stoi(request.path.substr(8));
      response.body = "status";
      return response;
    }
    std::string& body = response.body;
    body = request.method + " " + request.target + "\n";
    for (const auto& [name, value] : request.headers) body += name + ": " + value + "\n";
    body += "body-bytes: " + std::to_string(request.body.size()) + "\n";
    std::size_t ys = 0;
    for (char c : request.body) ys += c == 'y' ? 1 : 0;
    body += "body-y: " + std::to_string(ys) + "\n";
    return response;
  });
  EXPECT_TRUE(server.has_value()) << server.error().ToString();
  return server ? std::move(*server) : nullptr;
}

// A port on 127.0.0.1 where nothing listens: connects are refused. The socket stays bound (never
// listening) for the rest of the test process, so no other test's server can take the port
// meanwhile, as it could after a bind-and-release.
inline std::uint16_t DeadPort() {
  static std::mutex mu;
  static boost::asio::io_context ioc;
  static std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> reserved;
  auto socket = std::make_unique<boost::asio::ip::tcp::socket>(ioc);
  socket->open(boost::asio::ip::tcp::v4());
  socket->bind(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(kHost), 0));
  const std::uint16_t port = socket->local_endpoint().port();
  std::lock_guard lock(mu);
  reserved.push_back(std::move(socket));
  return port;
}

// A TCP origin whose every connection runs `script` on its own thread with a blocking socket.
class RawOrigin {
 public:
  using Script = std::function<void(boost::asio::ip::tcp::socket&)>;

  explicit RawOrigin(Script script)
      : script_(std::move(script)),
        acceptor_(ioc_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(kHost), 0)) {
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~RawOrigin() { Stop(); }
  RawOrigin(const RawOrigin&) = delete;
  RawOrigin& operator=(const RawOrigin&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] int connections() const { return connections_.load(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mu_);
      // Unblocks scripts still reading; the sockets stay open (so their descriptors cannot be
      // reused by someone else) until the scripts are joined.
      for (const auto& socket : sockets_) ::shutdown(socket->native_handle(), SHUT_RDWR);
      workers.swap(workers_);
    }
    for (std::thread& worker : workers) worker.join();
  }

  // Reads up to and including the blank line that ends a request header; "" on EOF/error.
  static std::string ReadHeader(boost::asio::ip::tcp::socket& socket, std::string& leftover) {
    boost::system::error_code ec;
    while (leftover.find("\r\n\r\n") == std::string::npos) {
      char buf[4096];
      const std::size_t n = socket.read_some(boost::asio::buffer(buf), ec);
      if (ec) return {};
      leftover.append(buf, n);
    }
    const std::size_t end = leftover.find("\r\n\r\n") + 4;
    std::string header = leftover.substr(0, end);
    leftover.erase(0, end);
    return header;
  }

  static bool Write(boost::asio::ip::tcp::socket& socket, std::string_view bytes) {
    boost::system::error_code ec;
    boost::asio::write(socket, boost::asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

 private:
  void Accept() {
    acceptor_.async_accept(
        [this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
          if (ec) return;
          connections_.fetch_add(1);
          boost::system::error_code option_ec;
          socket.set_option(boost::asio::ip::tcp::no_delay(true), option_ec);
          auto shared = std::make_shared<boost::asio::ip::tcp::socket>(std::move(socket));
          std::lock_guard lock(mu_);
          sockets_.push_back(shared);
          workers_.emplace_back([this, shared] {
            script_(*shared);
            boost::system::error_code ignored;
            shared->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
          });
          Accept();
        });
  }

  Script script_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopped_{false};
};

struct BackendSpec {
  std::string id;
  std::uint16_t port = 0;
};

inline std::unique_ptr<scaling::GlobalLoadBalancer> MakeBalancer(
    scaling::LoadBalancingStrategy strategy, const std::vector<BackendSpec>& backends,
    std::uint32_t consecutive_failures = 3) {
  scaling::LoadBalancerOptions options;
  options.outlier_detection.consecutive_failures = consecutive_failures;
  scaling::LoadBalancerDependencies deps;
  // Health checks are not driven in these tests; the fake keeps them off the network anyway.
  deps.prober = std::make_shared<testing::FakeProber>();
  deps.random = MakeSeededRandom(42);
  auto balancer =
      std::make_unique<scaling::GlobalLoadBalancer>(strategy, std::move(options), std::move(deps));
  for (const BackendSpec& spec : backends) {
    scaling::Backend backend;
    backend.id = spec.id;
    backend.address = kHost;
    backend.port = spec.port;
    backend.region = "local";
    const Status registered = balancer->RegisterBackend(backend);
    EXPECT_TRUE(registered.has_value()) << registered.error().ToString();
  }
  return balancer;
}

inline ProxyOptions DefaultProxyOptions(std::size_t threads = 2) {
  ProxyOptions options;
  options.listeners.push_back(ListenerOptions{});
  options.threads = threads;
  return options;
}

inline std::unique_ptr<ProxyServer> StartProxy(scaling::GlobalLoadBalancer& balancer,
                                               ProxyOptions options = DefaultProxyOptions()) {
  auto proxy = ProxyServer::Start(std::move(options), balancer);
  EXPECT_TRUE(proxy.has_value()) << proxy.error().ToString();
  return proxy ? std::move(*proxy) : nullptr;
}

[[nodiscard]] inline scaling::BackendMetrics Metrics(const scaling::GlobalLoadBalancer& balancer,
                                                     std::string_view id) {
  auto metrics = balancer.GetBackendMetrics(id);
  EXPECT_TRUE(metrics.has_value());
  return metrics ? *metrics : scaling::BackendMetrics{};
}

// The value of "name: value" in an echo body, or "<absent>".
[[nodiscard]] inline std::string EchoedHeader(std::string_view body, std::string_view name) {
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t end = body.find('\n', pos);
    const std::string_view line = body.substr(pos, end - pos);
    if (line.size() > name.size() + 1 && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string(line.substr(name.size() + 2));
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return "<absent>";
}

}  // namespace streamgate::proxy::test
