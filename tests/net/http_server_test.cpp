#include "net/http_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

#include "support/http_client.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;
using testing::HttpConnection;
using testing::HttpGet;
using testing::HttpRequestBlocking;

constexpr const char* kHost = "127.0.0.1";

// Echoes what it saw so tests can check how requests are parsed.
HttpResponse Echo(const HttpRequest& request) {
  if (request.path == "/throw") throw std::runtime_error("handler failure");
  HttpResponse response;
  response.content_type = "text/plain";
  response.body =
      request.method + " " + request.path + " ?" + request.query + " body=" + request.body;
  response.headers.emplace_back("X-Remote", request.remote_address);
  if (auto value = request.Header("x-test")) {
    response.headers.emplace_back("X-Test-Echo", std::string(*value));
  }
  if (request.path == "/slow") response.delay = 300ms;
  if (request.path == "/no-content") {
    response.status = 204;
    response.body = "dropped";
  }
  return response;
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {},
                                        HttpHandler handler = Echo) {
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.has_value()) << server.error().ToString();
  return server ? std::move(*server) : nullptr;
}

TEST(HttpServerTest, AnswersGetWithBodyAndStandardHeaders) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);

  auto response = HttpGet(kHost, server->port(), "/hello?x=1");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /hello ?x=1 body=");
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->Header("Content-Type"), "text/plain");
  EXPECT_EQ(response->Header("Server"), "streamgate");
  EXPECT_TRUE(response->Header("Date").has_value());
  EXPECT_EQ(response->Header("X-Remote"), "127.0.0.1");
}

TEST(HttpServerTest, PassesMethodHeadersAndBodyToHandler) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto response =
      HttpRequestBlocking("POST", kHost, server->port(), "/submit", "payload", {{"X-Test", "abc"}});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /submit ? body=payload");
  EXPECT_EQ(response->Header("x-test-echo"), "abc");
}

TEST(HttpServerTest, UsesConfiguredServerName) {
  HttpServerOptions options;
  options.server_name = "custom/1.0";
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto response = HttpGet(kHost, server->port(), "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("Server"), "custom/1.0");
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value()) << connection.error().ToString();

  auto first = connection->Request("GET", "/one");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->body, "GET /one ? body=");
  EXPECT_TRUE(first->keep_alive);
  auto second = connection->Request("POST", "/two", "data");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->body, "POST /two ? body=data");
  EXPECT_TRUE(second->keep_alive);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection
                  ->WriteRaw("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
                  .has_value());
  auto a = connection->ReadResponse();
  auto b = connection->ReadResponse();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->body, "GET /a ? body=");
  EXPECT_EQ(b->body, "GET /b ? body=");
}

TEST(HttpServerTest, ConnectionCloseRequestIsHonoured) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/", "", {{"Connection", "close"}});
  ASSERT_TRUE(response.has_value());
  EXPECT_FALSE(response->keep_alive);
  EXPECT_TRUE(connection->WaitForClose());
}

TEST(HttpServerTest, Http10WithoutKeepAliveIsClosedAfterResponse) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("GET /old HTTP/1.0\r\n\r\n").has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->body, "GET /old ? body=");
  EXPECT_TRUE(connection->WaitForClose());
}

TEST(HttpServerTest, MalformedRequestGets400ThenClose) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("THIS IS NOT HTTP\r\n\r\n").has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 400);
  EXPECT_FALSE(response->keep_alive);
  EXPECT_TRUE(connection->WaitForClose());
}

TEST(HttpServerTest, BadContentLengthGets400) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
                  .has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(connection->WaitForClose());
}

TEST(HttpServerTest, ExpectContinueGetsInterimResponse) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection
                  ->WriteRaw("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             "Expect: 100-continue\r\n\r\n")
                  .has_value());
  auto interim = connection->ReadResponse();
  ASSERT_TRUE(interim.has_value()) << interim.error().ToString();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection->WriteRaw("hello").has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /up ? body=hello");
}

TEST(HttpServerTest, OversizedHeaderGets431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto response = HttpRequestBlocking("GET", kHost, server->port(), "/", "",
                                      {{"X-Big", std::string(4000, 'a')}});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 431);

  // A header within the limit still works.
  auto small = HttpRequestBlocking("GET", kHost, server->port(), "/", "",
                                   {{"X-Big", std::string(100, 'a')}});
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->status, 200);
}

TEST(HttpServerTest, OversizedBodyGets413AndConnectionCloses) {
  HttpServerOptions options;
  options.max_body_bytes = 100;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("POST", "/upload", std::string(100'000, 'b'));
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 413);
  EXPECT_FALSE(response->keep_alive);
  EXPECT_TRUE(connection->WaitForClose());

  auto fits = HttpRequestBlocking("POST", kHost, server->port(), "/upload", std::string(100, 'b'));
  ASSERT_TRUE(fits.has_value());
  EXPECT_EQ(fits->status, 200);
}

TEST(HttpServerTest, HandlerExceptionBecomes500) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/throw");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  // The connection survives a failing handler.
  auto next = connection->Request("GET", "/fine");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
}

TEST(HttpServerTest, HeadAnswersWithoutBodyButWithLength) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  auto head = connection->Request("HEAD", "/x");
  ASSERT_TRUE(head.has_value()) << head.error().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->Header("Content-Length"), std::to_string(std::string("HEAD /x ? body=").size()));
  // The connection is still in sync afterwards.
  auto get = connection->Request("GET", "/y");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->body, "GET /y ? body=");
}

TEST(HttpServerTest, NoContentResponseHasNoBody) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto response = HttpGet(kHost, server->port(), "/no-content");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 204);
  EXPECT_EQ(response->body, "");
}

TEST(HttpServerTest, InvalidStatusFromHandlerBecomes500) {
  auto server = StartServer({}, [](const HttpRequest&) {
    HttpResponse response;
    response.status = 42;
    return response;
  });
  ASSERT_NE(server, nullptr);
  auto response = HttpGet(kHost, server->port(), "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
}

TEST(HttpServerTest, DelayPostponesTheResponse) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto response = HttpGet(kHost, server->port(), "/slow");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_GE(elapsed, 300ms);
}

TEST(HttpServerTest, IdleConnectionIsClosedAfterTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 200ms;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->Request("GET", "/").has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(connection->WaitForClose());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpServerTest, StopClosesOpenConnections) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto idle = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(idle.has_value());
  ASSERT_TRUE(idle->Request("GET", "/").has_value());
  auto fresh = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(fresh.has_value());

  server->Stop();
  EXPECT_TRUE(idle->WaitForClose());
  EXPECT_TRUE(fresh->WaitForClose());
  server->Stop();  // idempotent
}

TEST(HttpServerTest, StopWhileResponseIsDelayedClosesConnection) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto connection = HttpConnection::Connect(kHost, server->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").has_value());
  server->Stop();
  EXPECT_TRUE(connection->WaitForClose());
}

TEST(HttpServerTest, RestartOnSamePortAfterStop) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  const std::uint16_t port = first->port();
  // Server-side closes leave TIME_WAIT entries on the port; SO_REUSEADDR must cope.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HttpGet(kHost, port, "/").has_value());
  first->Stop();
  EXPECT_FALSE(HttpGet(kHost, port, "/").has_value());

  HttpServerOptions options;
  options.port = port;
  auto second = StartServer(options);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->port(), port);
  auto response = HttpGet(kHost, port, "/again");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "GET /again ? body=");
}

TEST(HttpServerTest, StartFailsWhenPortIsTaken) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  HttpServerOptions options;
  options.port = first->port();
  auto second = HttpServer::Start(options, Echo);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kIo);
}

TEST(HttpServerTest, StartRejectsMissingHandler) {
  EXPECT_FALSE(HttpServer::Start({}, HttpHandler()).has_value());
}

TEST(HttpServerTest, DestructorStopsServer) {
  std::uint16_t port = 0;
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    port = server->port();
    ASSERT_TRUE(HttpGet(kHost, port, "/").has_value());
  }
  EXPECT_FALSE(HttpGet(kHost, port, "/").has_value());
}

}  // namespace
}  // namespace streamgate::net
