// Network Prober: every ProbeAll runs its probes as asynchronous state machines on a private
// io_context driven by the calling thread, so a sweep of thousands of targets needs no threads.

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/tls_context.hpp"
#include "streamgate/health/prober.hpp"
#include "streamgate/net/tls.hpp"

namespace streamgate {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::uint32_t kMaxResponseHeaderBytes = 64 * 1024;

[[nodiscard]] std::string HostHeader(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
  const std::uint16_t default_port = endpoint.scheme == EndpointScheme::kHttps ? 443 : 80;
  if (endpoint.port != default_port) host += ":" + std::to_string(endpoint.port);
  return host;
}

struct Sweep;

// One probe of one target. Handlers keep it alive via shared_from_this; the first verdict wins
// (the deadline timer and the I/O chain race for it) and later completions are ignored.
class ProbeOp : public std::enable_shared_from_this<ProbeOp> {
 public:
  ProbeOp(Sweep& sweep, std::size_t index);
  void Start();

 private:
  void Connect();
  void OnConnected();
  void Handshake();
  void HandshakeWith(const net::TlsClientContext& tls);
  void SendRequest();
  template <typename Stream>
  void WriteAndRead(Stream& stream);
  void OnResponseHeader();
  void Fail(std::string_view stage, const error_code& ec);
  void Finish(bool ok, int http_status, std::string detail);

  Sweep& sweep_;
  std::size_t index_;
  const Endpoint& endpoint_;
  MonoTime start_{};
  bool done_ = false;
  tcp::resolver resolver_;
  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer deadline_;
  std::string request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
};

// Bookkeeping for one ProbeAll call; only touched from the thread running `ioc`.
struct Sweep {
  asio::io_context& ioc;
  const Clock& clock;
  const ProbeOptions& options;
  std::span<const Endpoint> targets;
  ssl::context* tls_context;  // null when TLS could not be initialised
  // Per target: http endpoints of TLS backends, probed over TLS with the backend's settings.
  std::vector<const net::TlsClientContext*> backend_tls;
  std::vector<ProbeResult> results;
  std::size_t next = 0;
  std::size_t finished = 0;

  void LaunchNext() {
    if (next >= targets.size()) return;
    std::make_shared<ProbeOp>(*this, next++)->Start();
  }

  void OnVerdict(std::size_t index, ProbeResult result) {
    results[index] = std::move(result);
    if (++finished == targets.size()) {
      // Stop instead of draining: a resolver may still be blocked in getaddrinfo.
      ioc.stop();
      return;
    }
    LaunchNext();
  }
};

ProbeOp::ProbeOp(Sweep& sweep, std::size_t index)
    : sweep_(sweep),
      index_(index),
      endpoint_(sweep.targets[index]),
      resolver_(sweep.ioc),
      socket_(sweep.ioc),
      deadline_(sweep.ioc) {}

void ProbeOp::Start() {
  start_ = sweep_.clock.Now();
  deadline_.expires_after(sweep_.options.timeout);
  deadline_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->Finish(false, 0, "timeout");
  });

  error_code ec;
  const asio::ip::address address = asio::ip::make_address(endpoint_.host, ec);
  if (!ec) {
    // Numeric hosts skip the resolver (and its background thread) entirely.
    socket_.async_connect(tcp::endpoint(address, endpoint_.port),
                          [self = shared_from_this()](error_code connect_ec) {
                            if (self->done_) return;
                            if (connect_ec) return self->Fail("connect", connect_ec);
                            self->OnConnected();
                          });
    return;
  }
  Connect();
}

void ProbeOp::Connect() {
  resolver_.async_resolve(
      endpoint_.host, std::to_string(endpoint_.port),
      [self = shared_from_this()](error_code ec, const tcp::resolver::results_type& results) {
        if (self->done_) return;
        if (ec) return self->Fail("resolve", ec);
        asio::async_connect(self->socket_, results,
                            [self](error_code connect_ec, const tcp::endpoint&) {
                              if (self->done_) return;
                              if (connect_ec) return self->Fail("connect", connect_ec);
                              self->OnConnected();
                            });
      });
}

void ProbeOp::OnConnected() {
  switch (endpoint_.scheme) {
    case EndpointScheme::kTcp:
      Finish(true, 0, "connected");
      return;
    case EndpointScheme::kHttps:
      Handshake();
      return;
    case EndpointScheme::kHttp:
      if (!sweep_.backend_tls.empty() && sweep_.backend_tls[index_] != nullptr) {
        HandshakeWith(*sweep_.backend_tls[index_]);
        return;
      }
      SendRequest();
      return;
  }
}

void ProbeOp::Handshake() {
  if (sweep_.tls_context == nullptr) return Finish(false, 0, "tls: no TLS context");
  tls_.emplace(socket_, *sweep_.tls_context);
  // TODO(tls): certificate verification is off for now (verify_none on the context); enabling
  // it with a configurable CA bundle is tracked as a separate TLS issue.
  error_code address_ec;
  asio::ip::make_address(endpoint_.host, address_ec);
  if (address_ec) {
    // SNI carries names only; RFC 6066 forbids literal addresses.
    SSL_set_tlsext_host_name(tls_->native_handle(), endpoint_.host.c_str());
  }
  tls_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](error_code ec) {
    if (self->done_) return;
    if (ec) return self->Fail("tls", ec);
    self->SendRequest();
  });
}

// A TLS backend: verification, SNI and client certificate as the proxy uses them.
void ProbeOp::HandshakeWith(const net::TlsClientContext& tls) {
  tls_.emplace(socket_, tls.context());
  if (Status prepared = tls.Prepare(tls_->native_handle(), endpoint_.host); !prepared) {
    return Finish(false, 0, prepared.error().message());
  }
  tls_->async_handshake(ssl::stream_base::client, [self = shared_from_this()](error_code ec) {
    if (self->done_) return;
    if (ec) return self->Fail("tls", ec);
    self->SendRequest();
  });
}

void ProbeOp::SendRequest() {
  const std::string& path = endpoint_.path.empty() ? sweep_.options.http_path : endpoint_.path;
  request_.reserve(160 + path.size() + endpoint_.host.size());
  request_ += "GET ";
  request_ += path.empty() ? "/" : path;
  request_ += " HTTP/1.1\r\nHost: ";
  request_ += HostHeader(endpoint_);
  request_ += "\r\nUser-Agent: streamgate-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (tls_) {
    WriteAndRead(*tls_);
  } else {
    WriteAndRead(socket_);
  }
}

template <typename Stream>
void ProbeOp::WriteAndRead(Stream& stream) {
  asio::async_write(stream, asio::buffer(request_),
                    [self = shared_from_this(), &stream](error_code ec, std::size_t) {
                      if (self->done_) return;
                      if (ec) return self->Fail("write", ec);
                      self->parser_.emplace();
                      self->parser_->header_limit(kMaxResponseHeaderBytes);
                      // Only the status line matters, so the body size is never a reason to fail.
                      self->parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
                      http::async_read_header(stream, self->buffer_, *self->parser_,
                                              [self](error_code read_ec, std::size_t) {
                                                if (self->done_) return;
                                                if (read_ec) return self->Fail("read", read_ec);
                                                self->OnResponseHeader();
                                              });
                    });
}

void ProbeOp::OnResponseHeader() {
  const int status = static_cast<int>(parser_->get().result_int());
  Finish(status >= 200 && status < 400, status, "HTTP " + std::to_string(status));
}

void ProbeOp::Fail(std::string_view stage, const error_code& ec) {
  std::string detail(stage);
  detail += ": ";
  detail += ec.message();
  Finish(false, 0, std::move(detail));
}

void ProbeOp::Finish(bool ok, int http_status, std::string detail) {
  if (done_) return;
  done_ = true;
  const MonoTime end = sweep_.clock.Now();
  error_code ignored;
  deadline_.cancel();
  resolver_.cancel();
  socket_.close(ignored);  // also aborts a pending TLS or HTTP operation on it
  ProbeResult result;
  result.ok = ok;
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(end - start_);
  result.http_status = http_status;
  result.detail = std::move(detail);
  sweep_.OnVerdict(index_, std::move(result));
}

class NetworkProber final : public Prober {
 public:
  explicit NetworkProber(const Clock& clock) : clock_(clock) {}
  NetworkProber(const Clock& clock, std::vector<net::TlsProbeTarget> targets,
                std::vector<std::shared_ptr<net::TlsClientContext>> contexts)
      : clock_(clock), tls_targets_(std::move(targets)), tls_contexts_(std::move(contexts)) {}

  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions& options) override {
    if (targets.empty()) return {};
    try {
      asio::io_context ioc(1);
      Sweep sweep{.ioc = ioc,
                  .clock = clock_,
                  .options = options,
                  .targets = targets,
                  .tls_context = NeedsTls(targets) ? TlsContext() : nullptr,
                  .backend_tls = BackendTls(targets),
                  .results = std::vector<ProbeResult>(targets.size())};
      const std::size_t in_flight =
          std::min(std::max<std::size_t>(options.max_in_flight, 1), targets.size());
      for (std::size_t i = 0; i < in_flight; ++i) sweep.LaunchNext();
      RunUntilStopped(ioc);
      return std::move(sweep.results);
    } catch (const std::exception& e) {
      // Only resource exhaustion gets here (e.g. no file descriptors for a socket).
      return FailAll(targets, std::string("internal: ") + e.what());
    }
  }

 private:
  static bool NeedsTls(std::span<const Endpoint> targets) {
    return std::any_of(targets.begin(), targets.end(), [](const Endpoint& endpoint) {
      return endpoint.scheme == EndpointScheme::kHttps;
    });
  }

  // The TLS context of each http target that is a TLS backend (null for the others).
  std::vector<const net::TlsClientContext*> BackendTls(std::span<const Endpoint> targets) const {
    std::vector<const net::TlsClientContext*> out;
    if (tls_targets_.empty()) return out;  // plain prober: no per-target lookups
    out.assign(targets.size(), nullptr);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].scheme != EndpointScheme::kHttp) continue;
      for (std::size_t t = 0; t < tls_targets_.size(); ++t) {
        if (tls_targets_[t].host == targets[i].host && tls_targets_[t].port == targets[i].port) {
          out[i] = tls_contexts_[t].get();
          break;
        }
      }
    }
    return out;
  }

  // Built on first use; an SSL_CTX may be shared by concurrent sweeps.
  ssl::context* TlsContext() {
    std::lock_guard lock(tls_mu_);
    if (!tls_context_) {
      try {
        tls_context_.emplace(ssl::context::tls_client);
        tls_context_->set_verify_mode(ssl::verify_none);  // see TODO(tls) in Handshake()
      } catch (const std::exception& e) {
        spdlog::error("prober: cannot create TLS context: {}", e.what());
        tls_context_.reset();
        return nullptr;
      }
    }
    return &*tls_context_;
  }

  static void RunUntilStopped(asio::io_context& ioc) {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("prober: unexpected exception in probe handler: {}", e.what());
      }
    }
  }

  static std::vector<ProbeResult> FailAll(std::span<const Endpoint> targets,
                                          const std::string& detail) {
    std::vector<ProbeResult> results(targets.size());
    for (ProbeResult& result : results) result.detail = detail;
    return results;
  }

  const Clock& clock_;
  std::mutex tls_mu_;
  std::optional<ssl::context> tls_context_;
  std::vector<net::TlsProbeTarget> tls_targets_;
  std::vector<std::shared_ptr<net::TlsClientContext>> tls_contexts_;  // one per target
};

}  // namespace

std::shared_ptr<Prober> MakeNetworkProber(const Clock& clock) {
  return std::make_shared<NetworkProber>(clock);
}

namespace net {

Result<std::shared_ptr<Prober>> MakeTlsAwareProber(const Clock& clock,
                                                   std::vector<TlsProbeTarget> targets) {
  std::vector<std::shared_ptr<TlsClientContext>> contexts;
  for (const TlsProbeTarget& target : targets) {
    auto context = TlsClientContext::Create(target.tls);
    if (!context) return std::unexpected(context.error());
    contexts.push_back(std::move(*context));
  }
  return std::shared_ptr<Prober>(
      std::make_shared<NetworkProber>(clock, std::move(targets), std::move(contexts)));
}

}  // namespace net

}  // namespace streamgate
