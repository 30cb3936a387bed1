// Blocking calls built from Beast's asynchronous operations plus io_context::run(): Beast's
// synchronous reads cannot time out, and a test must never hang on a misbehaving server.
#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <limits>
#include <utility>

namespace streamgate::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

[[nodiscard]] std::unexpected<Error> IoError(std::string_view what, const error_code& ec) {
  const bool timed_out = ec == beast::error::timeout;
  return MakeError(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                   std::string(what) + ": " + (timed_out ? "timeout" : ec.message()));
}

[[nodiscard]] bool HasHeader(const net::HeaderList& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (beast::iequals(header.first, name)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string_view> ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

struct HttpConnection::Impl {
  asio::io_context ioc{1};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::string host;
  std::uint16_t port = 0;
  std::chrono::milliseconds timeout{};

  // Starts `op` with a completion that records the error, then runs until it completes;
  // the stream's expiry closes the socket if the timeout passes first.
  template <typename StartOp>
  error_code Run(StartOp&& op) {
    error_code result;
    stream.expires_after(timeout);
    ioc.restart();
    std::forward<StartOp>(op)([&result](error_code ec, auto&&...) { result = ec; });
    ioc.run();
    return result;
  }

  Result<ClientResponse> Read(bool head_request) {
    http::response_parser<http::string_body> parser;
    parser.skip(head_request);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(1024 * 1024);
    const error_code ec =
        Run([&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
    if (ec) return IoError("read", ec);
    http::response<http::string_body> message = parser.release();
    ClientResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.keep_alive = message.keep_alive();
    response.body = std::move(message.body());
    return response;
  }
};

HttpConnection::HttpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpConnection::HttpConnection(HttpConnection&&) noexcept = default;
HttpConnection& HttpConnection::operator=(HttpConnection&&) noexcept = default;
HttpConnection::~HttpConnection() = default;

Result<HttpConnection> HttpConnection::Connect(const std::string& host, std::uint16_t port,
                                               std::chrono::milliseconds timeout) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->host = host;
    impl->port = port;
    impl->timeout = timeout;
    error_code ec;
    tcp::resolver resolver(impl->ioc);
    const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return IoError("resolve", ec);
    ec =
        impl->Run([&](auto handler) { impl->stream.async_connect(endpoints, std::move(handler)); });
    if (ec) return IoError("connect", ec);
    return HttpConnection(std::move(impl));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("connect: ") + e.what());
  }
}

Result<ClientResponse> HttpConnection::Request(std::string_view method, std::string_view target,
                                               std::string_view body,
                                               const net::HeaderList& headers) {
  try {
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    if (!HasHeader(headers, "host")) {
      request.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
    }
    for (const auto& [name, value] : headers) request.insert(name, value);
    request.body() = std::string(body);
    if (!HasHeader(headers, "content-length") && !HasHeader(headers, "transfer-encoding") &&
        (!body.empty() || method == "POST" || method == "PUT")) {
      request.content_length(body.size());
    }
    const error_code ec = impl_->Run(
        [&](auto handler) { http::async_write(impl_->stream, request, std::move(handler)); });
    if (ec) return IoError("write", ec);
    return impl_->Read(method == "HEAD");
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("request: ") + e.what());
  }
}

Status HttpConnection::WriteRaw(std::string_view bytes) {
  const error_code ec = impl_->Run([&](auto handler) {
    asio::async_write(impl_->stream, asio::buffer(bytes.data(), bytes.size()), std::move(handler));
  });
  if (ec) return IoError("write", ec);
  return {};
}

Result<ClientResponse> HttpConnection::ReadResponse(bool head_request) {
  try {
    return impl_->Read(head_request);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("read: ") + e.what());
  }
}

bool HttpConnection::WaitForClose() {
  if (impl_->buffer.size() > 0) return false;  // unread data is still pending
  char byte = 0;
  const error_code ec = impl_->Run([&](auto handler) {
    impl_->stream.async_read_some(asio::buffer(&byte, 1), std::move(handler));
  });
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe;
}

Result<ClientResponse> HttpRequestBlocking(std::string_view method, const std::string& host,
                                           std::uint16_t port, std::string_view target,
                                           std::string_view body, const net::HeaderList& headers,
                                           std::chrono::milliseconds timeout) {
  auto connection = HttpConnection::Connect(host, port, timeout);
  if (!connection) return std::unexpected(connection.error());
  net::HeaderList all_headers = headers;
  if (!HasHeader(all_headers, "connection")) all_headers.emplace_back("Connection", "close");
  return connection->Request(method, target, body, all_headers);
}

Result<ClientResponse> HttpGet(const std::string& host, std::uint16_t port,
                               std::string_view target) {
  return HttpRequestBlocking("GET", host, port, target);
}

}  // namespace streamgate::testing
