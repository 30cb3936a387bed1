#include "net/http_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/io_loop.hpp"
#include "net/tls_context.hpp"

namespace streamgate::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// After an error answer the peer may still be sending; reading (and dropping) its bytes for a
// moment before closing keeps the kernel from resetting the connection before it reads the answer.
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr std::size_t kLingerMaxBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
// How long a TLS connection waits for the peer's close_notify after sending its own.
constexpr std::chrono::seconds kTlsShutdownTimeout{1};

[[nodiscard]] bool IsSafeHeaderText(std::string_view text) {
  return text.find_first_of("\r\n") == std::string_view::npos;
}

[[nodiscard]] bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return beast::iequals(a, b);
}

[[nodiscard]] std::string_view ReasonText(int status) {
  return http::obsolete_reason(static_cast<http::status>(status));
}

[[nodiscard]] HttpResponse TextResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

// What Stop() needs of a connection, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Runs on the session's strand, or from Stop() once no server thread runs.
  virtual void CloseNow() = 0;
};

// State shared by the acceptor and every connection; outlives all sessions (see ServerImpl).
struct ServerShared {
  HttpServerOptions options;
  HttpHandler handler;

  // HTTPS: the context new connections are made from (null: plain HTTP). ReloadTls swaps it;
  // each connection holds the one it started with.
  std::mutex tls_mu;
  std::shared_ptr<TlsServerContext> tls;

  std::mutex sessions_mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;
  std::uint64_t next_session_id = 0;

  std::shared_ptr<TlsServerContext> CurrentTls() {
    std::lock_guard lock(tls_mu);
    return tls;
  }

  std::uint64_t Register(const std::shared_ptr<SessionBase>& session) {
    std::lock_guard lock(sessions_mu);
    const std::uint64_t id = next_session_id++;
    sessions.emplace(id, session);
    return id;
  }
  void Unregister(std::uint64_t id) {
    std::lock_guard lock(sessions_mu);
    sessions.erase(id);
  }
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection, over plain TCP or TLS. All its handlers run on the socket's strand, so its
// members need no lock.
template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // `tls`: the context of a TLS connection (kept alive as long as the connection); else null.
  Session(tcp::socket socket, ServerShared& shared, std::shared_ptr<TlsServerContext> tls)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        shared_(shared),
        delay_timer_(stream_.get_executor()) {
    error_code ec;
    const tcp::endpoint peer = Tcp().socket().remote_endpoint(ec);
    if (!ec) remote_address_ = peer.address().to_string();
  }
  ~Session() override {
    if (id_.has_value()) shared_.Unregister(*id_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    id_ = shared_.Register(this->shared_from_this());
    // Begin on the connection's strand like every later step, not on the acceptor's thread.
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadRequest();
      }
    });
  }

  void CloseNow() override {
    error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();  // also cancels the stream's expiry timer
  }

 private:
  static Stream MakeStream(tcp::socket socket, TlsServerContext* tls) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), tls->context());
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // TLS only: a failed or too slow handshake just closes the connection.
  void Handshake() {
    if constexpr (kTls) {
      Tcp().expires_after(shared_.options.idle_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->CloseNow();
                                self->ReadRequest();
                              });
    }
  }

  // TLS only: close_notify, then wait briefly for the peer's (clients otherwise see a
  // truncated stream and drop their session).
  void ShutdownTls() {
    if constexpr (kTls) {
      Tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->CloseNow(); });
    }
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(shared_.options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(static_cast<std::uint64_t>(shared_.options.max_body_bytes));
    Tcp().expires_after(shared_.options.idle_timeout);
    // Header first, so that a client waiting on `Expect: 100-continue` can be told to go on.
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    if (ec || parser_->is_done()) return OnRead(ec);
    const auto expect = parser_->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code write_ec, std::size_t) {
                          if (write_ec) return self->CloseNow();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        SendError(431);
      } else if (ec == http::error::body_limit) {
        SendError(413);
      } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        SendError(400);
      } else {
        // Peer closed, reset or went idle: nothing to answer.
        CloseNow();
      }
      return;
    }
    HandleRequest(parser_->release());
  }

  void HandleRequest(http::request<http::string_body> message) {
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const std::size_t question = request.target.find('?');
    if (question == std::string::npos) {
      request.path = request.target;
    } else {
      request.path = request.target.substr(0, question);
      request.query = request.target.substr(question + 1);
    }
    request.headers.reserve(
        static_cast<std::size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;

    HttpResponse response;
    try {
      response = shared_.handler(request);
    } catch (const std::exception& e) {
      spdlog::error("http handler threw for {} {}: {}", request.method, request.target, e.what());
      response = TextResponse(500, "Internal Server Error\n");
    } catch (...) {
      response = TextResponse(500, "Internal Server Error\n");
    }
    const bool keep_alive = message.keep_alive();
    const bool head = message.method() == http::verb::head;
    Respond(std::move(response), message.version(), keep_alive, head, /*linger=*/false);
  }

  void SendError(int status) {
    Respond(TextResponse(status, std::string(ReasonText(status)) + "\n"), 11, /*keep_alive=*/false,
            /*head=*/false, /*linger=*/true);
  }

  void Respond(HttpResponse response, unsigned version, bool keep_alive, bool head, bool linger) {
    const int status = (response.status >= 100 && response.status <= 999) ? response.status : 500;
    response_ = {};
    response_.version(version);
    response_.result(static_cast<unsigned>(status));
    response_.set(http::field::server, shared_.options.server_name);
    response_.set(http::field::date, HttpDate());
    if (!response.content_type.empty() && IsSafeHeaderText(response.content_type)) {
      response_.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      // The server owns framing; CR/LF would let a handler smuggle extra headers.
      if (name.empty() || !IsSafeHeaderText(name) || !IsSafeHeaderText(value) ||
          EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
          EqualsIgnoreCase(name, "connection")) {
        continue;
      }
      response_.insert(name, value);
    }
    const bool bodyless_status = status < 200 || status == 204 || status == 304;
    if (bodyless_status) response.body.clear();
    response_.body() = std::move(response.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    if (head) response_.body().clear();  // Content-Length still tells the size of the GET answer

    close_after_write_ = !keep_alive;
    linger_after_write_ = linger;
    if (response.delay > std::chrono::milliseconds::zero()) {
      delay_timer_.expires_after(response.delay);
      delay_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
        if (ec) return;  // cancelled: the server is stopping
        self->Write();
      });
    } else {
      Write();
    }
  }

  void Write() {
    Tcp().expires_after(shared_.options.idle_timeout);
    http::async_write(
        stream_, response_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(error_code ec) {
    if (ec) {
      CloseNow();
      return;
    }
    if (kTls && (linger_after_write_ || close_after_write_)) {
      ShutdownTls();
    } else if (linger_after_write_) {
      LingerClose();
    } else if (close_after_write_) {
      error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      CloseNow();
    } else {
      ReadRequest();
    }
  }

  void LingerClose() {
    error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(kLingerTimeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes) {
                                self->CloseNow();
                              } else {
                                self->Drain();
                              }
                            });
  }

  std::shared_ptr<TlsServerContext> tls_;  // before stream_, which is made from it
  Stream stream_;
  ServerShared& shared_;
  std::optional<std::uint64_t> id_;
  std::string remote_address_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  asio::steady_timer delay_timer_;
  bool close_after_write_ = false;
  bool linger_after_write_ = false;
  std::array<char, 4096> drain_buffer_{};
  std::size_t drained_ = 0;
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(HttpServerOptions options, HttpHandler handler, std::shared_ptr<TlsServerContext> tls)
      : ioc_(static_cast<int>(std::max<std::size_t>(options.threads, 1))),
        work_(asio::make_work_guard(ioc_)),
        acceptor_(ioc_),
        accept_retry_timer_(ioc_) {
    shared_.options = std::move(options);
    shared_.handler = std::move(handler);
    shared_.tls = std::move(tls);
  }
  ~ServerImpl() override { Stop(); }
  ServerImpl(const ServerImpl&) = delete;
  ServerImpl& operator=(const ServerImpl&) = delete;

  [[nodiscard]] Status Listen() {
    const HttpServerOptions& options = shared_.options;
    error_code ec;
    tcp::endpoint endpoint;
    const asio::ip::address address = asio::ip::make_address(options.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, options.port);
    } else {
      // A name such as "localhost": resolve synchronously once, before serving starts.
      tcp::resolver resolver(ioc_);
      const auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
      if (ec || results.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "cannot resolve listen host '" + options.host + "': " + ec.message());
      }
      endpoint = results.begin()->endpoint();
    }
    const std::string where = options.host + ":" + std::to_string(options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) {
      return MakeError(ErrorCode::kIo, "open " + where + ": " + ec.message());
    }
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) {
      return MakeError(ErrorCode::kIo, "SO_REUSEADDR " + where + ": " + ec.message());
    }
    acceptor_.bind(endpoint, ec);
    if (ec) {
      return MakeError(ErrorCode::kIo, "bind " + where + ": " + ec.message());
    }
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(ErrorCode::kIo, "listen " + where + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return MakeError(ErrorCode::kIo, "local_endpoint " + where + ": " + ec.message());
    return {};
  }

  void Run() {
    Accept();
    const std::size_t threads = std::max<std::size_t>(shared_.options.threads, 1);
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { RunIoLoop(ioc_, "http server"); });
    }
  }

  [[nodiscard]] std::uint16_t port() const override { return port_; }

  [[nodiscard]] Status ReloadTls(const TlsServerOptions& options) override {
    const std::shared_ptr<TlsServerContext> current = shared_.CurrentTls();
    if (!current) {
      return FailedPrecondition("this server was started without TLS; a reload cannot add it");
    }
    // Same ticket ring, so clients resume their sessions across the reload, unless the
    // rotation interval changed (a new ring then).
    std::shared_ptr<SessionTicketKeys> keys = current->ticket_keys();
    if (keys != nullptr && keys->rotation() != options.session_ticket_rotation) keys = nullptr;
    auto next = TlsServerContext::Create(options, std::move(keys));
    if (!next) return std::unexpected(next.error());
    std::lock_guard lock(shared_.tls_mu);
    shared_.tls = std::move(*next);
    return {};
  }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    ioc_.stop();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    // No server thread runs from here on, so closing sockets directly cannot race a handler.
    error_code ignored;
    acceptor_.close(ignored);
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard sessions_lock(shared_.sessions_mu);
      live.reserve(shared_.sessions.size());
      for (auto& [id, weak] : shared_.sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (const auto& session : live) session->CloseNow();
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept.
        spdlog::warn("http server accept on port {}: {}", port_, ec.message());
        accept_retry_timer_.expires_after(kAcceptRetryDelay);
        accept_retry_timer_.async_wait([this](error_code wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (std::shared_ptr<TlsServerContext> tls = shared_.CurrentTls()) {
        std::make_shared<Session<TlsStream>>(std::move(socket), shared_, std::move(tls))->Start();
      } else {
        std::make_shared<Session<PlainStream>>(std::move(socket), shared_, nullptr)->Start();
      }
      Accept();
    });
  }

  // Declaration order matters: sessions unregister from shared_ while ioc_ destroys their
  // handlers, so shared_ is declared (and therefore outlives) ioc_.
  ServerShared shared_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler) {
  if (!handler) return InvalidArgument("http server needs a handler");
  std::shared_ptr<TlsServerContext> tls;
  if (options.tls) {
    auto context = TlsServerContext::Create(*options.tls);
    if (!context) return std::unexpected(context.error());
    tls = std::move(*context);
  }
  try {
    auto server =
        std::make_unique<ServerImpl>(std::move(options), std::move(handler), std::move(tls));
    if (Status listening = server->Listen(); !listening) {
      return std::unexpected(listening.error());
    }
    server->Run();
    return std::unique_ptr<HttpServer>(std::move(server));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("http server start: ") + e.what());
  }
}

}  // namespace streamgate::net
