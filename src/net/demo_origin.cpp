#include "net/demo_origin.hpp"

#include <atomic>
#include <charconv>
#include <string_view>
#include <system_error>
#include <utility>

#include "net/http_server.hpp"
#include "streamgate/common/units.hpp"

namespace streamgate::net {
namespace {

// Digits only (no sign, no spaces); nullopt on anything else or overflow.
[[nodiscard]] std::optional<std::uint64_t> ParseUnsigned(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

[[nodiscard]] HttpResponse Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

}  // namespace

struct DemoOrigin::State {
  std::string id;
  std::optional<std::chrono::seconds> cache_max_age;
  std::atomic<std::int64_t> latency_ms{0};
  std::atomic<bool> healthy{true};

  HttpResponse Route(const HttpRequest& request) const {
    HttpResponse response;
    if (request.method != "GET" && request.method != "HEAD") {
      response = Text(405, "method not allowed\n");
      response.headers.emplace_back("Allow", "GET, HEAD");
    } else if (request.path == "/healthz") {
      response = healthy.load(std::memory_order_relaxed) ? Text(200, "ok") : Text(503, "unhealthy");
    } else if (request.path == "/id") {
      response = Text(200, id);
    } else if (request.path.starts_with("/bytes/")) {
      response = Bytes(std::string_view(request.path).substr(7));
    } else {
      response = Text(404, "not found\n");
    }

    response.headers.emplace_back("X-Origin-Id", id);
    std::optional<std::uint64_t> max_age;
    if (auto param = request.QueryParam("max_age")) {
      max_age = ParseUnsigned(*param);
    } else if (cache_max_age) {
      max_age = static_cast<std::uint64_t>(cache_max_age->count());
    }
    if (max_age) {
      response.headers.emplace_back("Cache-Control", "public, max-age=" + std::to_string(*max_age));
    }

    std::int64_t delay_ms = latency_ms.load(std::memory_order_relaxed);
    // Per-request overrides, capped at an hour so a typo cannot park a connection forever.
    if (auto param = request.QueryParam("latency")) {
      if (auto value = ParseDuration(*param); value && *value <= std::chrono::hours(1)) {
        delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*value).count();
      }
    } else if (auto param_ms = request.QueryParam("latency_ms")) {
      if (auto value = ParseUnsigned(*param_ms); value && *value <= 3'600'000) {
        delay_ms = static_cast<std::int64_t>(*value);
      }
    }
    response.delay = std::chrono::milliseconds(delay_ms);
    return response;
  }

  static HttpResponse Bytes(std::string_view count_text) {
    const std::optional<std::uint64_t> count = ParseUnsigned(count_text);
    if (!count) return Text(400, "bytes: N must be a non-negative integer\n");
    if (*count > kMaxBytes) return Text(400, "bytes: N must be at most 67108864\n");
    HttpResponse response;
    response.content_type = "application/octet-stream";
    // HttpResponse owns its body as a std::string, so a fill is the cheapest way to make it.
    response.body.assign(static_cast<std::size_t>(*count), 'x');
    return response;
  }
};

DemoOrigin::DemoOrigin(std::shared_ptr<State> state, std::unique_ptr<HttpServer> server)
    : state_(std::move(state)), server_(std::move(server)) {}

DemoOrigin::~DemoOrigin() { Stop(); }

Result<std::unique_ptr<DemoOrigin>> DemoOrigin::Start(DemoOriginOptions options) {
  auto state = std::make_shared<State>();
  state->id = options.id;
  state->cache_max_age = options.cache_max_age;
  state->latency_ms.store(options.latency.count());

  HttpServerOptions server_options;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.threads = options.threads;
  server_options.server_name = "streamgate-demo-origin";
  auto server = HttpServer::Start(std::move(server_options), [state](const HttpRequest& request) {
    return state->Route(request);
  });
  if (!server) return std::unexpected(server.error());
  return std::unique_ptr<DemoOrigin>(new DemoOrigin(std::move(state), std::move(*server)));
}

std::uint16_t DemoOrigin::port() const { return server_->port(); }

const std::string& DemoOrigin::id() const { return state_->id; }

void DemoOrigin::SetLatency(std::chrono::milliseconds latency) {
  state_->latency_ms.store(latency.count(), std::memory_order_relaxed);
}

void DemoOrigin::SetHealthy(bool healthy) {
  state_->healthy.store(healthy, std::memory_order_relaxed);
}

void DemoOrigin::Stop() { server_->Stop(); }

}  // namespace streamgate::net
