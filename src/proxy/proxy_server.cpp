// Reverse proxy data plane. Layout:
//   Worker         one thread + io_context, an SO_REUSEPORT acceptor per listener, an upstream
//                  pool and its own counters; nothing on the request path is shared between
//                  workers except the balancer (lock-free Pick) and the read-only options.
//   ClientSession  one client connection: reads a request header, picks a backend, relays the
//                  request body and the response through one fixed buffer, then the next request.
//                  A template over the client stream: plain sockets, or TLS (docs/tls.md).
//   UpstreamPool   idle kept-alive upstream connections per backend, LIFO; probed before reuse
//                  unless idle under a second and the request replayable (a stale one is retried).
//                  A connection to a TLS backend carries its TLS layer with it.
//
// Hot path (a GET on kept-alive connections: two reads, two writes): Beast parses headers
// straight from the read buffers; headers are serialized by hand into one buffer; the response
// header leaves with the body bytes that came with it in one write, and the rest of a
// length-delimited body is read straight into the relay buffer. Beast's serializer is only used
// for bodies re-framed as chunks or requests with a body. One lazily checked timer per session.
//
// Retry rules (an "attempt" is one backend try; each gets Increment/Decrement/RecordRequest):
//   - connect failure: nothing was sent, so any method is retried on PickOther.
//   - reset/EOF before any response byte: retried when the method is idempotent and no request
//     body byte has been consumed from the client (the body cannot be replayed).
//   - a pooled connection closed by the backend before any response byte: not a backend
//     failure; retried once on a fresh connection to the same backend (same replay condition).
//   - response header timeout: 504, not retried (the backend may be working on it).
//   - once a response byte arrived, nothing is retried; a failure mid-body cuts the client
//     connection without completing the message.
#include "proxy/proxy_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/http_types.hpp"
#include "net/io_loop.hpp"
#include "net/tls_context.hpp"
#include "proxy/access_log.hpp"
#include "proxy/cache_policy.hpp"
#include "proxy/edge_cache.hpp"
#include "proxy/forwarding.hpp"

namespace streamgate::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;
using scaling::BackendHandle;
// The io_context's own executor type instead of any_io_executor: every handler of a socket
// operation would otherwise pay for type-erased executor copies and moves.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<SteadyClock, asio::wait_traits<SteadyClock>, Executor>;
// A TLS client connection. ClientSession is a template over the client stream, so the plain
// path keeps its own types and code (no TLS branch on it).
using TlsSocket = asio::ssl::stream<Socket>;

// The one buffer a connection's bodies pass through; fixed by design, so memory per connection
// does not depend on body sizes.
constexpr std::size_t kRelayBufferBytes = 32 * 1024;
// Upstream response headers are trusted more than client ones (Set-Cookie can be long).
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;
// Room for a typical response header next to a full relay piece in one upstream read.
constexpr std::size_t kUpstreamHeaderSlack = 4 * 1024;
// Backends commonly close idle keep-alive connections after 30-60 s; retire ours before that.
constexpr std::chrono::seconds kPooledMaxIdle{20};
constexpr std::chrono::seconds kPoolSweepInterval{5};
// After an error answer the client may still be sending; reading (and dropping) its bytes for a
// moment before closing keeps the kernel from resetting the connection before it reads the answer.
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr std::size_t kLingerMaxBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr std::size_t kIdleReadBytes = 4096;
constexpr std::string_view kForwardedFor = "X-Forwarded-For";
constexpr std::string_view kForwardedProto = "X-Forwarded-Proto";
// A pooled connection idle for less than this is reused without a liveness probe (a syscall)
// when the request can be replayed anyway: a backend closing it meanwhile is retried.
constexpr std::chrono::milliseconds kPooledTrustedIdle{1'000};
// Upper bound of one send of a cached response (see ServeEntry).
constexpr std::size_t kMaxCachedSendBytes = 8 * 1024 * 1024;
// Body bytes up to this join the response header in one write on TLS connections (one record).
constexpr std::size_t kTlsJoinBytes = 16 * 1024;

// Bump allocation for the header fields of one request and its response. Beast allocates every
// field (and the target) separately and the parsers are rebuilt per request, so a malloc and a
// free per header line are wasted work; Reset once both parsers are gone. Overflow goes to the
// heap, so a large header still works.
class HeaderArena {
 public:
  [[nodiscard]] void* Allocate(std::size_t bytes, std::size_t align) {
    const std::size_t offset = (used_ + align - 1) & ~(align - 1);
    if (align > alignof(std::max_align_t) || offset + bytes > sizeof(storage_)) {
      return ::operator new(bytes);
    }
    used_ = offset + bytes;
    return storage_ + offset;
  }
  void Deallocate(void* pointer) {
    const auto* p = static_cast<const char*>(pointer);
    if (p < storage_ || p >= storage_ + sizeof(storage_)) ::operator delete(pointer);
  }
  void Reset() { used_ = 0; }

 private:
  alignas(std::max_align_t) char storage_[4096];
  std::size_t used_ = 0;
};

template <typename T>
class ArenaAllocator {
 public:
  using value_type = T;
  ArenaAllocator() = default;  // no arena: the heap
  explicit ArenaAllocator(HeaderArena* arena) : arena_(arena) {}
  template <typename U>
  ArenaAllocator(const ArenaAllocator<U>& other) : arena_(other.arena()) {}  // NOLINT

  [[nodiscard]] T* allocate(std::size_t n) {
    if (arena_ == nullptr) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(arena_->Allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* pointer, std::size_t) {
    if (arena_ == nullptr) return ::operator delete(pointer);
    arena_->Deallocate(pointer);
  }
  [[nodiscard]] HeaderArena* arena() const { return arena_; }
  template <typename U>
  bool operator==(const ArenaAllocator<U>& other) const {
    return arena_ == other.arena();
  }

 private:
  HeaderArena* arena_ = nullptr;
};

using HeaderFields = http::basic_fields<ArenaAllocator<char>>;

// IsHopByHopHeader by Beast's field code, which the parser computed already: every hop-by-hop
// name is a known field, so no string comparison is needed per header.
[[nodiscard]] bool IsHopByHopField(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

// Written by one worker thread, read by stats() from any thread: relaxed atomics, own cache line.
struct alignas(64) WorkerCounters {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_closed{0};
  std::atomic<std::uint64_t> requests{0};
  std::array<std::atomic<std::uint64_t>, 5> responses{};  // 1xx..5xx
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> upstream_connects{0};
  std::atomic<std::uint64_t> upstream_connect_errors{0};
  std::atomic<std::uint64_t> pool_reuses{0};
  std::atomic<std::uint64_t> stale_pooled{0};
  std::atomic<std::uint64_t> upstream_failures{0};
  std::atomic<std::uint64_t> incomplete_responses{0};
  std::atomic<std::uint64_t> client_errors{0};
  std::atomic<std::uint64_t> status_502{0};
  std::atomic<std::uint64_t> status_503{0};
  std::atomic<std::uint64_t> status_504{0};
  std::atomic<std::uint64_t> cache_hits{0};
  std::atomic<std::uint64_t> cache_misses{0};
  std::atomic<std::uint64_t> cache_stale{0};
  std::atomic<std::uint64_t> cache_revalidated{0};
  std::atomic<std::uint64_t> cache_coalesced{0};
  std::atomic<std::uint64_t> cache_stores{0};
  std::atomic<std::uint64_t> tls_handshakes{0};
  std::atomic<std::uint64_t> tls_resumed{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> upstream_tls_failures{0};
};

// Only the owning worker writes, so a load and a store beat a locked read-modify-write.
void Bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

[[nodiscard]] std::uint64_t Read(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// The per-request settings Reconfigure can replace: immutable once built, shared by every worker
// through a shared_ptr that a session takes at the start of each request (so a request sees one
// set of settings from start to end, and a reload needs no lock on the request path).
struct Settings {
  Settings(
      ProxyOptions proxy_options, TrustedProxies trusted_proxies,
      std::vector<std::shared_ptr<net::TlsServerContext>> listener_tls_contexts,
      std::unordered_map<std::string, std::shared_ptr<net::TlsClientContext>> backend_tls_contexts)
      : options(std::move(proxy_options)),
        listener_tls(std::move(listener_tls_contexts)),
        backend_tls(std::move(backend_tls_contexts)),
        trusted(std::move(trusted_proxies)),
        timer_tick(
            std::min({options.connect_timeout, options.request_header_timeout, options.idle_timeout,
                      options.upstream_timeout, std::chrono::milliseconds(kLingerTimeout)})) {}
  ProxyOptions options;
  std::vector<std::shared_ptr<net::TlsServerContext>> listener_tls;  // per listener; null: plain
  std::unordered_map<std::string, std::shared_ptr<net::TlsClientContext>> backend_tls;  // by id
  TrustedProxies trusted;
  // A session's timer fires at most this long after it was armed (ClientSession, "Deadline").
  std::chrono::milliseconds timer_tick;

  // The TLS settings of `backend`, or null for plain HTTP. Asked per new connection only.
  [[nodiscard]] const std::shared_ptr<net::TlsClientContext>* BackendTls(
      const BackendHandle& backend) const {
    if (backend_tls.empty()) return nullptr;
    const auto it = backend_tls.find(backend.id());
    return it == backend_tls.end() ? nullptr : &it->second;
  }
};

// Fixed at Start; shared by every worker.
struct Shared {
  Shared(const ProxyOptions& options, scaling::GlobalLoadBalancer& lb)
      : balancer(lb),
        cache(options.cache_store != nullptr
                  ? std::make_unique<EdgeCache>(*options.cache_store, options.cache)
                  : nullptr),
        max_idle_upstream_per_backend(options.max_idle_upstream_per_backend) {}
  scaling::GlobalLoadBalancer& balancer;
  std::unique_ptr<EdgeCache> cache;  // null: no caching
  std::size_t max_idle_upstream_per_backend;
};

struct UpstreamConnection {
  explicit UpstreamConnection(asio::io_context& ioc) : socket(ioc) {
    // Beast reads at most the buffer's free capacity (min 512 bytes) per call and never grows
    // it by itself; without room reserved a large body would take one syscall per 512 bytes.
    // The slack keeps a response header from shrinking the first body piece (a 64 KiB body
    // then takes two reads, not three).
    buffer.reserve(kRelayBufferBytes + kUpstreamHeaderSlack);
  }
  Socket socket;
  std::shared_ptr<net::TlsClientContext> tls_context;  // what `tls` is made from, kept alive
  // Set once a TLS backend's handshake starts; then reads and writes go through it.
  std::optional<asio::ssl::stream<Socket&>> tls;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since{};

  // An AsyncStream over either, so Asio's and Beast's composed operations take the connection
  // itself: one well-predicted branch per operation on the plain path.
  using executor_type = Executor;
  executor_type get_executor() { return socket.get_executor(); }
  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls) {
      tls->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      socket.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls) {
      tls->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      socket.async_write_some(buffers, std::forward<Handler>(handler));
    }
  }
};

// True when the backend has not closed the connection and sent nothing unasked. One syscall;
// catches the common case of a backend that timed the idle connection out.
[[nodiscard]] bool LooksAlive(UpstreamConnection& connection) {
  if (!connection.socket.is_open()) return false;
  char byte = 0;
  const ssize_t n = ::recv(connection.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void CloseQuietly(UpstreamConnection& connection) {
  error_code ignored;
  connection.socket.shutdown(tcp::socket::shutdown_both, ignored);
  connection.socket.close(ignored);
}

// Idle upstream connections of one worker, per backend. Single-threaded by construction.
class UpstreamPool {
 public:
  UpstreamPool(std::size_t max_idle_per_backend, WorkerCounters& counters)
      : max_idle_(max_idle_per_backend), counters_(counters) {}

  // The most recently used live connection to `backend`, or null. `replayable`: the request can
  // be retried on a fresh connection, so a briefly idle one is taken without probing it.
  [[nodiscard]] std::unique_ptr<UpstreamConnection> Take(const void* backend, bool replayable) {
    auto it = idle_.find(backend);
    if (it == idle_.end()) return nullptr;
    auto& stack = it->second;
    const SteadyClock::time_point now = SteadyClock::now();
    while (!stack.empty()) {
      std::unique_ptr<UpstreamConnection> connection = std::move(stack.back());
      stack.pop_back();
      const auto idle = now - connection->idle_since;
      if (replayable && idle < kPooledTrustedIdle && connection->socket.is_open()) {
        return connection;
      }
      if (idle < kPooledMaxIdle && LooksAlive(*connection)) return connection;
      Bump(counters_.stale_pooled);
      CloseQuietly(*connection);
    }
    return nullptr;
  }

  void Put(const void* backend, std::unique_ptr<UpstreamConnection> connection) {
    auto& stack = idle_[backend];
    if (stack.size() >= max_idle_) {
      CloseQuietly(*connection);
      return;
    }
    connection->idle_since = SteadyClock::now();
    stack.push_back(std::move(connection));
  }

  // Closes every idle connection (new settings: backends or their TLS may have changed).
  void Clear() {
    for (auto& [backend, stack] : idle_) {
      for (auto& connection : stack) CloseQuietly(*connection);
    }
    idle_.clear();
  }

  // Drops connections idle too long or closed by their backend, so descriptors do not linger.
  void Sweep() {
    const SteadyClock::time_point now = SteadyClock::now();
    for (auto& [backend, stack] : idle_) {
      std::erase_if(stack, [&](std::unique_ptr<UpstreamConnection>& connection) {
        if (now - connection->idle_since < kPooledMaxIdle && LooksAlive(*connection)) return false;
        CloseQuietly(*connection);
        return true;
      });
    }
  }

 private:
  std::size_t max_idle_;
  WorkerCounters& counters_;
  std::unordered_map<const void*, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

class Worker;

// Everything a session needs from its worker.
struct WorkerContext {
  const Shared& shared;
  asio::io_context& ioc;
  UpstreamPool& pool;
  WorkerCounters& counters;
  // The worker's current settings (replaced by Reconfigure) and whether it is draining; both
  // written on the worker's thread only.
  const std::shared_ptr<const Settings>& settings;
  const bool& draining;
  std::size_t listener = 0;  // index of the listener the connection came in on
};

enum class Failure {
  kConnect,         // refused, unreachable, connect timeout
  kBeforeResponse,  // reset/EOF/write error before any response byte
  kTimeout,         // no response header within upstream_timeout
  kBadResponse,     // malformed response or unexpected 101
};

// Request and response header fields as (name, value) copies, for the edge cache.
template <typename Fields>
[[nodiscard]] cdn::HeaderFields CopyFields(const Fields& fields) {
  cdn::HeaderFields out;
  for (const auto& field : fields) out.emplace_back(field.name_string(), field.value());
  return out;
}

[[nodiscard]] std::string_view FindField(const cdn::HeaderFields& fields, std::string_view name) {
  for (const auto& [field, value] : fields) {
    if (beast::iequals(field, name)) return value;
  }
  return {};
}

// Refreshes one stale cache entry in the background (stale-while-revalidate): a conditional GET
// on a new connection to a backend the balancer picked, then a 304 refreshes the entry and a
// storable answer replaces it. Holds the key's fill so concurrent requests do not refresh too.
class BackgroundRefresh : public std::enable_shared_from_this<BackgroundRefresh> {
 public:
  BackgroundRefresh(const WorkerContext& ctx, std::shared_ptr<const Settings> settings,
                    BackendHandle backend, std::string key, cdn::EntryPtr stale,
                    cdn::HeaderFields request_headers, std::string host, std::string target)
      : ctx_(ctx),
        settings_(std::move(settings)),
        backend_(backend),
        key_(std::move(key)),
        stale_(std::move(stale)),
        request_headers_(std::move(request_headers)),
        host_(std::move(host)),
        target_(std::move(target)),
        socket_(ctx.ioc),
        timer_(ctx.ioc) {}

  ~BackgroundRefresh() {
    if (in_flight_) ctx_.shared.balancer.DecrementConnections(backend_);
    ctx_.shared.cache->FinishFill(key_);
  }
  BackgroundRefresh(const BackgroundRefresh&) = delete;
  BackgroundRefresh& operator=(const BackgroundRefresh&) = delete;

  void Start() {
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(backend_.address(), ec);
    if (ec) return;  // host-name backends are refreshed by the next request instead
    request_.method(http::verb::get);
    request_.target(target_);
    request_.version(11);
    request_.set(http::field::host, host_);
    request_.set(http::field::via, "1.1 streamgate");
    if (!stale_->etag.empty()) request_.set(http::field::if_none_match, stale_->etag);
    if (!stale_->last_modified.empty()) {
      request_.set(http::field::if_modified_since, stale_->last_modified);
    }
    parser_.body_limit(ctx_.shared.cache->max_object_bytes());
    parser_.header_limit(kUpstreamHeaderLimit);
    ctx_.shared.balancer.IncrementConnections(backend_);
    in_flight_ = true;
    start_ = SteadyClock::now();
    request_wall_ = ctx_.shared.cache->clock().WallNow();
    timer_.expires_after(settings_->options.upstream_timeout);
    timer_.async_wait([weak = weak_from_this()](error_code timer_ec) {
      if (timer_ec) return;
      if (auto self = weak.lock()) {
        error_code ignored;
        self->socket_.close(ignored);
      }
    });
    socket_.async_connect(tcp::endpoint(address, backend_.port()), [self = shared_from_this()](
                                                                       error_code connect_ec) {
      if (connect_ec) return self->Done(false);
      http::async_write(self->socket_, self->request_, [self](error_code write_ec, std::size_t) {
        if (write_ec) return self->Done(false);
        self->Read();
      });
    });
  }

 private:
  void Read() {
    http::async_read(socket_, buffer_, parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec) return self->Done(false);
                       self->OnResponse();
                     });
  }

  void OnResponse() {
    auto& response = parser_.get();
    const unsigned status = response.result_int();
    Done(!(settings_->options.fail_on_5xx && status >= 500));
    EdgeCache& cache = *ctx_.shared.cache;
    const WallTime now = cache.clock().WallNow();
    cdn::HeaderFields headers = CopyFields(response);
    std::erase_if(headers, [](const auto& field) { return IsHopByHopHeader(field.first); });
    if (status == 304) {
      (void)cache.Refresh(stale_, key_, headers, request_wall_, now);
      return;
    }
    if (status >= 500) return;  // keep serving the stale copy
    const bool authorized = !FindField(request_headers_, "authorization").empty();
    (void)cache.Store(
        host_, target_, RequestFacts{"GET", {}, authorized},
        [this](std::string_view name) { return FindField(request_headers_, name); },
        EdgeCache::Response{status, std::move(headers), std::move(response.body()), request_wall_,
                            now});
  }

  void Done(bool success) {
    timer_.cancel();
    if (!in_flight_) return;
    in_flight_ = false;
    auto& balancer = ctx_.shared.balancer;
    balancer.DecrementConnections(backend_);
    balancer.RecordRequest(
        backend_,
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start_),
        success);
  }

  WorkerContext ctx_;
  std::shared_ptr<const Settings> settings_;
  BackendHandle backend_;
  std::string key_;
  cdn::EntryPtr stale_;
  cdn::HeaderFields request_headers_;
  std::string host_;
  std::string target_;
  Socket socket_;
  Timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  http::response_parser<http::string_body> parser_;
  bool in_flight_ = false;
  SteadyClock::time_point start_{};
  WallTime request_wall_{};
};

// One client connection. Everything runs on the worker's single thread: no locks.
// ClientStream: Socket (plain HTTP) or TlsSocket (HTTPS, handshake first).
template <typename ClientStream>
class ClientSession : public std::enable_shared_from_this<ClientSession<ClientStream>> {
  static constexpr bool kTls = std::is_same_v<ClientStream, TlsSocket>;
  // What X-Forwarded-Proto says upstream.
  static constexpr std::string_view kForwardedScheme = kTls ? "https" : "http";

 public:
  // `stream_args` construct the client stream: a Socket, or a Socket and an ssl::context (which
  // `tls_context` owns and the session keeps alive, so a reload can replace it meanwhile).
  template <typename... StreamArgs>
  explicit ClientSession(WorkerContext context, std::shared_ptr<net::TlsServerContext> tls_context,
                         StreamArgs&&... stream_args)
      : ctx_(context),
        settings_(context.settings),
        tls_context_(std::move(tls_context)),
        client_(std::forward<StreamArgs>(stream_args)...),
        timer_(ctx_.ioc) {
    error_code ec;
    const tcp::endpoint peer = Lowest().remote_endpoint(ec);
    if (!ec) {
      asio::ip::address address = peer.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      }
      peer_ = address.to_string();
    }
    peer_trusted_ = settings_->trusted.Contains(peer_);
    Bump(ctx_.counters.connections_accepted);
  }

  ~ClientSession() {
    // Stopped mid-request: keep the balancer's connection count honest.
    if (in_flight_) ctx_.shared.balancer.DecrementConnections(backend_);
    EndFill();
    Bump(ctx_.counters.connections_closed);
  }

  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void Start() {
    idle_ = true;  // nothing of a request yet: draining may close it
    if constexpr (kTls) {
      // A handshake is bounded like a request header; a failed one gets no answer.
      SetDeadline(options().request_header_timeout);
      client_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) {
                                  Bump(self->ctx_.counters.tls_handshake_failures);
                                  return self->CloseClient();
                                }
                                Bump(self->ctx_.counters.tls_handshakes);
                                if (SSL_session_reused(self->client_.native_handle()) == 1) {
                                  Bump(self->ctx_.counters.tls_resumed);
                                }
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

 private:
  // The TCP socket under the client stream.
  [[nodiscard]] Socket& Lowest() {
    if constexpr (kTls) {
      return client_.next_layer();
    } else {
      return client_;
    }
  }

  // ---- Client request ----------------------------------------------------------------------

  void NextRequest() {
    res_sr_.reset();
    res_parser_.reset();
    req_sr_.reset();
    req_parser_.reset();
    // Draining: the answer said Connection: close; no further request on this connection.
    if (ctx_.draining) return CloseClientGracefully();
    // Pipelined bytes already here: parse them now; else wait idle for the next request.
    if (client_buffer_.size() > 0) return ReadHeader();
    SetDeadline(options().idle_timeout);
    idle_ = true;
    client_.async_read_some(client_buffer_.prepare(kIdleReadBytes),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              self->idle_ = false;
                              self->client_buffer_.commit(n);
                              if (ec) return self->CloseClient();
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    // A reload since the last request: this one runs on the new settings.
    if (settings_ != ctx_.settings) [[unlikely]] {
      settings_ = ctx_.settings;
      peer_trusted_ = settings_->trusted.Contains(peer_);
    }
    idle_ = client_buffer_.size() == 0;  // until the first byte of the request arrives
    client_version_ = 11;                // until this request's header says otherwise
    is_head_ = false;
    res_sr_.reset();
    res_parser_.reset();
    req_sr_.reset();
    req_parser_.reset();
    arena_.Reset();  // nothing allocated from it is alive now
    req_parser_.emplace(std::piecewise_construct, std::make_tuple(),
                        std::make_tuple(ArenaAllocator<char>(&arena_)));
    req_parser_->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(options().max_header_bytes, UINT32_MAX)));
    req_parser_->body_limit(boost::none);  // bodies stream through; no size limit here
    // A slow header gets a close, not a 408.
    SetDeadline(options().request_header_timeout);
    ParseRequestHeader();
  }

  // Parses what is buffered and reads more only when the header is incomplete: usually the
  // whole header came with the idle read, and no further operation (or handler) is needed.
  void ParseRequestHeader() {
    while (client_buffer_.size() > 0) {
      error_code ec;
      const std::size_t used = req_parser_->put(client_buffer_.data(), ec);
      client_buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec || req_parser_->is_header_done()) return OnHeader(ec);
      if (used == 0) break;
    }
    client_.async_read_some(client_buffer_.prepare(kIdleReadBytes),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              self->idle_ = false;
                              self->client_buffer_.commit(n);
                              // Closed, reset or timed out: nobody to answer.
                              if (ec) return self->CloseClient();
                              self->ParseRequestHeader();
                            });
  }

  void OnHeader(error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        BeginLog();
        return SendError(431, "Request Header Fields Too Large\n");
      }
      if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        BeginLog();
        return SendError(400, "Bad Request\n");
      }
      return CloseClient();  // closed, reset or timed out: nobody to answer
    }
    BeginLog();
    Bump(ctx_.counters.requests);
    auto& request = req_parser_->get();
    client_version_ = request.version();
    is_head_ = request.method() == http::verb::head;
    if (client_version_ != 10 && client_version_ != 11) {
      client_version_ = 11;
      return SendError(505, "HTTP Version Not Supported\n");
    }
    // The parser enforces the byte limit; the count is cheap to check once it is done.
    if (static_cast<std::size_t>(std::distance(request.begin(), request.end())) >
        options().max_header_count) {
      return SendError(431, "Request Header Fields Too Large\n");
    }
    if (request.method() == http::verb::connect) {
      return SendError(405, "Method Not Allowed\n");
    }
    const std::size_t hosts = request.count(http::field::host);
    if (client_version_ == 11 && hosts != 1) {
      return SendError(400, "Bad Request: exactly one Host header required\n");
    }
    if (!NormalizeTarget()) return SendError(400, "Bad Request: invalid request target\n");

    client_keep_alive_ = req_parser_->keep_alive();  // from the parse, no Connection lookup
    idempotent_ = IsIdempotentMethod(request.method_string());
    request_body_started_ = false;
    expect_continue_ = beast::iequals(request[http::field::expect], "100-continue");
    has_host_ = hosts > 0;
    retries_used_ = 0;
    stale_retry_used_ = false;

    RoutingAddress();
    PrepareUpstreamRequest();
    const std::string_view target = request.target();
    hash_key_ = target.substr(0, target.find('?'));

    ResetCacheState();
    // A request with a body is never answered from the cache: the body would stay unread.
    if (ctx_.shared.cache && req_parser_->is_done() && CacheFirst()) return;
    Forward();
  }

  void Forward() {
    auto picked = ctx_.shared.balancer.Pick(Context());
    if (!picked) return FailRequest(503, "Service Unavailable: no backend available\n");
    backend_ = *picked;
    StartAttempt(/*allow_pool=*/true);
  }

  // ---- Edge cache --------------------------------------------------------------------------
  // A cacheable request is answered from a fresh entry (HIT), from a stale one while a
  // background refresh runs (STALE), or goes to the origin: conditionally when a stale entry
  // has validators (a 304 gives REVALIDATED), as the one fetch for its key that concurrent
  // misses wait for, and teeing a storable response into the cache as it is relayed (MISS).
  // When the origin fails, a stale entry within stale-if-error answers instead (STALE).

  void ResetCacheState() {
    EndFill();
    cache_applies_ = false;
    coalesced_ = false;
    tee_ = false;
    origin_body_bytes_ = 0;
    stale_entry_.reset();
    cache_key_.clear();
  }

  [[nodiscard]] EdgeCache::HeaderLookup RequestHeaderLookup() {
    return [this](std::string_view name) -> std::string_view { return req_parser_->get()[name]; };
  }

  // True when the request was answered from the cache or now waits for another fetch.
  [[nodiscard]] bool CacheFirst() {
    auto& request = req_parser_->get();
    EdgeCache& cache = *ctx_.shared.cache;
    const std::string_view host = request[http::field::host];
    const std::string_view target = request.target();
    if (!cache.Applies(request.method_string(), host, target)) return false;
    cache_applies_ = true;
    request_cc_ = {};
    const auto [first, last] = request.equal_range(http::field::cache_control);
    for (auto it = first; it != last; ++it) ParseCacheControl(it->value(), request_cc_);
    CacheLookup found = cache.Lookup(host, target, request_cc_, RequestHeaderLookup(), cache_key_);
    if (found.entry) {
      if (found.use == CacheUse::kFresh) {
        Bump(ctx_.counters.cache_hits);
        ServeEntry(std::move(found.entry), "HIT");
        return true;
      }
      if (found.use == CacheUse::kStaleWhileRevalidate) {
        Bump(ctx_.counters.cache_stale);
        StartBackgroundRefresh(found.entry);
        ServeEntry(std::move(found.entry), "STALE");
        return true;
      }
      stale_entry_ = std::move(found.entry);
      stale_age_ = found.age;
      stale_freshness_ = found.freshness;
    }
    if (request_cc_.only_if_cached) {
      SendError(504, "Gateway Timeout: not in cache\n");
      return true;
    }
    if (coalesced_) return false;  // waited for one fetch already: fetch now
    const bool leader = cache.JoinFill(
        cache_key_, [weak = this->weak_from_this(), executor = ctx_.ioc.get_executor()] {
          asio::post(executor, [weak] {
            if (auto self = weak.lock()) self->OnFillDone();
          });
        });
    if (leader) {
      fill_leader_ = true;
      return false;
    }
    Bump(ctx_.counters.cache_coalesced);
    // The timer's handler keeps the session alive while it waits; the leader's notification
    // cancels it. At worst (a slow leader) the wait ends after upstream_timeout.
    if (!fill_timer_) fill_timer_.emplace(ctx_.ioc);
    waiting_fill_ = true;
    fill_timer_->expires_after(options().upstream_timeout);
    fill_timer_->async_wait([self = this->shared_from_this()](error_code) { self->OnFillDone(); });
    return true;
  }

  void OnFillDone() {
    if (!waiting_fill_) return;
    waiting_fill_ = false;
    fill_timer_->cancel();
    if (closed_) return;
    coalesced_ = true;
    stale_entry_.reset();
    if (CacheFirst()) return;
    Forward();
  }

  void EndFill() {
    if (!fill_leader_) return;
    fill_leader_ = false;
    ctx_.shared.cache->FinishFill(cache_key_);
  }

  void StartBackgroundRefresh(const cdn::EntryPtr& stale) {
    EdgeCache& cache = *ctx_.shared.cache;
    if (!cache.JoinFill(cache_key_, [] {})) return;  // a fetch for this key is under way
    auto picked = ctx_.shared.balancer.Pick(Context());
    if (!picked) return cache.FinishFill(cache_key_);
    // The background fetch speaks plain HTTP only: a TLS backend's entry is revalidated by a
    // later request in the foreground instead.
    if (settings_->BackendTls(*picked) != nullptr) return cache.FinishFill(cache_key_);
    const auto& request = req_parser_->get();
    std::make_shared<BackgroundRefresh>(
        ctx_, settings_, *picked, cache_key_, stale, CopyFields(request),
        std::string(request[http::field::host]), std::string(request.target()))
        ->Start();
  }

  // Starts teeing a storable response into the cache as it is relayed.
  void BeginTee(unsigned status) {
    auto& response = res_parser_->get();
    const auto& request = req_parser_->get();
    cdn::HeaderFields headers = CopyFields(response);
    const StoreDecision decision =
        ctx_.shared.cache->Storable(RequestFacts{request.method_string(), request_cc_,
                                                 request.count(http::field::authorization) > 0},
                                    status, headers, ContentLength());
    if (!decision.store) return;
    tee_ = true;
    tee_status_ = status;
    tee_headers_ = std::move(headers);
    tee_body_.clear();
    if (const auto length = ContentLength()) tee_body_.reserve(static_cast<std::size_t>(*length));
  }

  [[nodiscard]] std::optional<std::uint64_t> ContentLength() const {
    const auto length = res_parser_->content_length();
    return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
  }

  void Tee(const void* data, std::size_t n) {
    if (cache_applies_) origin_body_bytes_ += n;
    if (!tee_ || n == 0) return;
    if (tee_body_.size() + n > ctx_.shared.cache->max_object_bytes()) {
      tee_ = false;  // too large to admit after all (a body without Content-Length)
      std::string().swap(tee_body_);
      return;
    }
    tee_body_.append(static_cast<const char*>(data), n);
  }

  // The whole response was read: store what was teed, and let waiting requests look again.
  void FinishTee() {
    bool stored_body = false;
    if (tee_) {
      tee_ = false;
      const auto& request = req_parser_->get();
      EdgeCache& cache = *ctx_.shared.cache;
      auto stored = cache.Store(
          request[http::field::host], request.target(),
          RequestFacts{request.method_string(), request_cc_,
                       request.count(http::field::authorization) > 0},
          RequestHeaderLookup(),
          EdgeCache::Response{tee_status_, std::move(tee_headers_), std::move(tee_body_),
                              request_wall_, cache.clock().WallNow()});
      if (stored) Bump(ctx_.counters.cache_stores);
      stored_body = stored.has_value();
      tee_headers_.clear();
      tee_body_.clear();
    }
    // Bandwidth from the origin: a stored body is counted by the store itself.
    if (!stored_body && origin_body_bytes_ > 0) {
      ctx_.shared.cache->store().RecordOriginBytes(origin_body_bytes_);
    }
    origin_body_bytes_ = 0;
    EndFill();
  }

  // The origin answered 304 to our conditional request: refresh the entry and answer from it.
  void OnNotModified() {
    cdn::HeaderFields headers = CopyFields(res_parser_->get());
    UpstreamDone();
    EdgeCache& cache = *ctx_.shared.cache;
    auto refreshed =
        cache.Refresh(stale_entry_, cache_key_, headers, request_wall_, cache.clock().WallNow());
    Bump(ctx_.counters.cache_revalidated);
    ServeEntry(refreshed ? std::move(*refreshed) : stale_entry_, "REVALIDATED");
  }

  [[nodiscard]] bool MayServeStale() const {
    return stale_entry_ && MayServeStaleOnError(stale_freshness_, stale_age_);
  }

  // An error answer, unless a stale entry may stand in for the failed origin.
  void FailRequest(int status, std::string_view text) {
    if (MayServeStale()) {
      Bump(ctx_.counters.cache_stale);
      return ServeEntry(stale_entry_, "STALE");
    }
    SendError(status, text);
  }

  [[nodiscard]] static bool IfRangeAllows(std::string_view if_range, const cdn::CacheEntry& entry) {
    if (if_range.empty()) return true;
    if (if_range.starts_with('"')) return !entry.etag.empty() && if_range == entry.etag;
    if (if_range.starts_with("W/")) return false;  // weak validators never match If-Range
    return if_range == entry.last_modified;
  }

  [[nodiscard]] static bool AllowedIn304(std::string_view name) {
    return beast::iequals(name, "cache-control") || beast::iequals(name, "content-location") ||
           beast::iequals(name, "date") || beast::iequals(name, "etag") ||
           beast::iequals(name, "expires") || beast::iequals(name, "vary") ||
           beast::iequals(name, "last-modified");
  }

  // Answers from a stored response: 200 (or its stored status), 304 for a matching
  // conditional, 206/416 for a Range, headers only for HEAD; one write.
  void ServeEntry(cdn::EntryPtr entry, std::string_view x_cache) {
    EndFill();
    const auto& request = req_parser_->get();
    EdgeCache& cache = *ctx_.shared.cache;
    const std::uint64_t size = entry->body.size();
    unsigned status = static_cast<unsigned>(entry->status);
    ByteRange range;
    if (status == 200) {
      const std::string_view if_none_match = request[http::field::if_none_match];
      const std::string_view if_modified_since = request[http::field::if_modified_since];
      const std::string_view range_header = request[http::field::range];
      // The stored date is parsed only when a client asks by date, not on every hit.
      std::optional<WallTime> last_modified;
      if (if_none_match.empty() && !if_modified_since.empty() && !entry->last_modified.empty()) {
        last_modified = ParseHttpDate(entry->last_modified);
      }
      if ((!if_none_match.empty() || !if_modified_since.empty()) &&
          IsNotModified(if_none_match, if_modified_since, entry->etag, last_modified)) {
        status = 304;
      } else if (!range_header.empty() && IfRangeAllows(request[http::field::if_range], *entry)) {
        const RangeRequest ranged = ParseRange(range_header, size);
        if (ranged.kind == RangeKind::kSatisfiable) {
          status = 206;
          range = ranged.range;
        } else if (ranged.kind == RangeKind::kUnsatisfiable) {
          status = 416;
        }
      }
    }
    CountResponse(status);
    out_.clear();
    out_.append(client_version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    AppendStatus(status);
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out_.append(reason.data(), reason.size()).append("\r\n");
    for (const auto& [name, value] : entry->headers) {
      if (name == EdgeCache::kInitialAgeHeader) continue;
      if (status == 304 && !AllowedIn304(name)) continue;
      AppendField(name, value);
    }
    AppendField("Age", std::to_string(cache.AgeOf(*entry).count()));
    AppendField("X-Cache", x_cache);
    AppendField("Via", client_version_ == 10 ? "1.0 streamgate" : "1.1 streamgate");
    std::string_view body;
    if (status == 206) {
      AppendField("Content-Range", ContentRangeValue(range, size));
      AppendField("Content-Length", std::to_string(range.length()));
      body = std::string_view(entry->body)
                 .substr(static_cast<std::size_t>(range.first),
                         static_cast<std::size_t>(range.length()));
    } else if (status == 416) {
      AppendField("Content-Range", "bytes */" + std::to_string(size));
      AppendField("Content-Length", "0");
    } else if (status != 304 && status != 204) {
      AppendField("Content-Length", std::to_string(size));
      body = entry->body;
    }
    if (ctx_.draining) client_keep_alive_ = false;
    if (client_version_ == 11 && !client_keep_alive_) AppendField("Connection", "close");
    if (client_version_ == 10 && client_keep_alive_) AppendField("Connection", "keep-alive");
    out_.append("\r\n");
    if (is_head_) body = {};
    log_bytes_ = body.size();
    log_cache_ = x_cache;
    serving_ = std::move(entry);
    SetDeadline(options().idle_timeout);
    const asio::const_buffer body_buffer = JoinSmallPiece(asio::buffer(body.data(), body.size()));
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(out_), body_buffer};
    // Asio's default completion condition hands the kernel at most 64 KiB per send; a cached
    // body is all in memory, so let each send take as much as the socket buffer will.
    auto large_sends = [](const error_code& ec, std::size_t) -> std::size_t {
      return ec ? 0 : kMaxCachedSendBytes;
    };
    asio::async_write(client_, buffers, large_sends,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        self->serving_.reset();
                        if (ec) return self->CloseClient();
                        self->OnExchangeDone();
                      });
  }

  // Origin-form passes as is; absolute-form ("http://host/path") becomes origin-form with the
  // authority as Host (RFC 9112 section 3.2.2); "*" only for OPTIONS.
  [[nodiscard]] bool NormalizeTarget() {
    auto& request = req_parser_->get();
    const std::string_view target = request.target();
    if (target.starts_with('/')) return true;
    if (target == "*") return request.method() == http::verb::options;
    constexpr std::string_view kScheme = "http://";
    if (target.size() < kScheme.size() || !beast::iequals(target.substr(0, 7), kScheme)) {
      return false;
    }
    const std::string_view rest = target.substr(kScheme.size());
    const std::size_t slash = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
    std::string origin_form =
        slash == std::string_view::npos ? std::string("/") : std::string(rest.substr(slash));
    if (origin_form.starts_with('?')) origin_form.insert(0, 1, '/');
    request.set(http::field::host, authority);
    request.target(origin_form);
    return true;
  }

  void RoutingAddress() {
    const auto& request = req_parser_->get();
    std::string_view forwarded = {};
    if (peer_trusted_) forwarded = request[kForwardedFor];
    routing_address_.assign(RoutingClientAddress(peer_, forwarded, settings_->trusted));
  }

  [[nodiscard]] scaling::RequestContext Context() const {
    return scaling::RequestContext{.client_address = routing_address_, .hash_key = hash_key_};
  }

  // Hop-by-hop headers (and those named in Connection) are for this hop only.
  template <bool isRequest>
  void StripHopByHop(http::message<isRequest, http::buffer_body, HeaderFields>& message) {
    // Copied first: erasing a named field while walking the Connection range could invalidate
    // the range's end.
    scratch_.clear();
    const auto [first, last] = message.equal_range(http::field::connection);
    for (auto it = first; it != last; ++it) scratch_.append(it->value()).push_back(',');
    ForEachListToken(scratch_, [&](std::string_view token) {
      if (!IsHopByHopHeader(token)) message.erase(token);
    });
    for (auto it = message.begin(); it != message.end();) {
      if (IsHopByHopField(it->name())) {
        it = message.erase(it);
      } else {
        ++it;
      }
    }
  }

  // This hop appended to Via (RFC 9110 section 7.6.3), "<received version> streamgate", into
  // via_; the fast paths write it while serializing instead of inserting a field.
  template <bool isRequest>
  void ComputeVia(const http::message<isRequest, http::buffer_body, HeaderFields>& message,
                  unsigned received_version) {
    const std::string_view self = received_version == 10 ? "1.0 streamgate" : "1.1 streamgate";
    const std::string_view existing = message[http::field::via];
    via_.clear();
    if (!existing.empty()) via_.append(existing).append(", ");
    via_.append(self);
  }

  void PrepareUpstreamRequest() {
    auto& request = req_parser_->get();
    const bool chunked = req_parser_->chunked();
    StripHopByHop(request);
    request.erase(http::field::expect);  // 100-continue is answered here, not forwarded
    if (chunked) request.chunked(true);  // re-framed by the serializer
    request.version(11);

    // Several X-Forwarded-For lines form one list (RFC 9110 section 5.3).
    scratch_.clear();
    const auto [first, last] = request.equal_range(kForwardedFor);
    for (auto it = first; it != last; ++it) {
      if (!scratch_.empty()) scratch_.append(", ");
      scratch_.append(it->value());
    }
    forwarded_for_ = ForwardedForValue(scratch_, peer_, peer_trusted_);
    ComputeVia(request, client_version_);
  }

  // The headers this proxy adds, as fields, for Beast's serializer (requests with a body).
  void SetAddedRequestFields(http::request<http::buffer_body, HeaderFields>& request) {
    request.set(kForwardedFor, forwarded_for_);
    request.set(kForwardedProto, kForwardedScheme);
    request.set(http::field::via, via_);
  }

  // ---- Upstream attempt --------------------------------------------------------------------

  void StartAttempt(bool allow_pool) {
    ++log_attempts_;
    attempt_start_ = SteadyClock::now();
    if (cache_applies_) request_wall_ = ctx_.shared.cache->clock().WallNow();
    ctx_.shared.balancer.IncrementConnections(backend_);
    in_flight_ = true;
    response_started_ = false;
    upstream_success_ = false;
    request_sent_ = false;
    if (allow_pool) upstream_ = ctx_.pool.Take(backend_.entry, req_parser_->is_done());
    if (upstream_) {
      from_pool_ = true;
      Bump(ctx_.counters.pool_reuses);
      return SendRequestHeader();
    }
    from_pool_ = false;
    Connect();
  }

  void Connect() {
    upstream_ = std::make_unique<UpstreamConnection>(ctx_.ioc);
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(backend_.address(), ec);
    SetDeadline(options().connect_timeout);
    if (!ec) {
      upstream_->socket.async_connect(tcp::endpoint(address, backend_.port()),
                                      [self = this->shared_from_this()](error_code connect_ec) {
                                        self->OnConnect(connect_ec);
                                      });
      return;
    }
    // A host name: resolve per new connection (pooling makes that rare).
    if (!resolver_) resolver_.emplace(ctx_.ioc);
    resolver_->async_resolve(
        backend_.address(), std::to_string(backend_.port()),
        [self = this->shared_from_this()](error_code resolve_ec,
                                          tcp::resolver::results_type results) {
          if (resolve_ec) return self->OnConnect(resolve_ec);
          // The deadline cannot cancel a resolve; it is honoured here instead.
          if (self->timed_out_) return self->OnConnect(asio::error::timed_out);
          asio::async_connect(
              self->upstream_->socket, results,
              [self](error_code connect_ec, const tcp::endpoint&) { self->OnConnect(connect_ec); });
        });
  }

  void OnConnect(error_code ec) {
    if (ec) {
      Bump(ctx_.counters.upstream_connect_errors);
      return AttemptFailed(Failure::kConnect);
    }
    Bump(ctx_.counters.upstream_connects);
    error_code ignored;
    upstream_->socket.set_option(tcp::no_delay(true), ignored);
    if (const auto* tls = settings_->BackendTls(backend_)) return Handshake(*tls);
    SendRequestHeader();
  }

  // TLS to the backend, still within connect_timeout; a failure (verification included) is a
  // connect failure: nothing was sent, so another backend may be tried.
  void Handshake(const std::shared_ptr<net::TlsClientContext>& tls) {
    upstream_->tls_context = tls;
    upstream_->tls.emplace(upstream_->socket, tls->context());
    if (Status prepared = tls->Prepare(upstream_->tls->native_handle(), backend_.address());
        !prepared) {
      spdlog::warn("backend '{}': {}", backend_.id(), prepared.error().message());
      Bump(ctx_.counters.upstream_tls_failures);
      return AttemptFailed(Failure::kConnect);
    }
    upstream_->tls->async_handshake(
        asio::ssl::stream_base::client, [self = this->shared_from_this()](error_code ec) {
          if (ec) {
            spdlog::debug("backend '{}': TLS handshake: {}", self->backend_.id(), ec.message());
            Bump(self->ctx_.counters.upstream_tls_failures);
            Bump(self->ctx_.counters.upstream_connect_errors);
            return self->AttemptFailed(Failure::kConnect);
          }
          self->SendRequestHeader();
        });
  }

  void SendRequestHeader() {
    auto& request = req_parser_->get();
    if (!has_host_) request.set(http::field::host, HostOf(backend_));
    SetDeadline(options().upstream_timeout);
    if (req_parser_->is_done()) {
      // No body: the header is the whole request, serialized here into one buffer (Beast's
      // serializer costs several times more instructions for the same bytes).
      out_.clear();
      out_.append(request.method_string()).push_back(' ');
      out_.append(request.target()).append(" HTTP/1.1\r\n");
      // A fetch for the cache asks for the whole representation (conditional on the stale
      // entry's validators); the client's own conditionals and ranges are answered from it.
      const bool for_cache = cache_applies_ && !is_head_;
      for (const auto& field : request) {
        // Replaced by the values computed in PrepareUpstreamRequest, as set() would.
        if (field.name() == http::field::via) continue;
        if (for_cache && IsConditionalOrRange(field.name())) continue;
        if (field.name() == http::field::unknown &&
            (beast::iequals(field.name_string(), kForwardedFor) ||
             beast::iequals(field.name_string(), kForwardedProto))) {
          continue;
        }
        AppendField(field.name_string(), field.value());
      }
      AppendField(kForwardedFor, forwarded_for_);
      AppendField(kForwardedProto, kForwardedScheme);
      AppendField("Via", via_);
      if (for_cache && stale_entry_) {
        if (!stale_entry_->etag.empty()) AppendField("If-None-Match", stale_entry_->etag);
        if (!stale_entry_->last_modified.empty()) {
          AppendField("If-Modified-Since", stale_entry_->last_modified);
        }
      }
      out_.append("\r\n");
      asio::async_write(*upstream_, asio::buffer(out_),
                        [self = this->shared_from_this()](error_code ec, std::size_t) {
                          if (ec) return self->AttemptFailed(Failure::kBeforeResponse);
                          self->request_sent_ = true;
                          self->ReadResponseHeader();
                        });
      return;
    }
    SetAddedRequestFields(request);
    req_sr_.emplace(request);
    http::async_write_header(*upstream_, *req_sr_,
                             [self = this->shared_from_this()](error_code ec, std::size_t) {
                               if (ec) return self->AttemptFailed(Failure::kBeforeResponse);
                               self->StartRequestBody();
                             });
  }

  [[nodiscard]] static bool IsConditionalOrRange(http::field name) {
    return name == http::field::if_none_match || name == http::field::if_modified_since ||
           name == http::field::if_match || name == http::field::if_unmodified_since ||
           name == http::field::if_range || name == http::field::range;
  }

  [[nodiscard]] static std::string HostOf(const BackendHandle& backend) {
    const std::string& address = backend.address();
    const bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(backend.port());
  }

  void StartRequestBody() {
    if (expect_continue_) {
      // The client waits for this before sending its body; a backend is connected now.
      expect_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      SetDeadline(options().idle_timeout);
      asio::async_write(client_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code ec, std::size_t) {
                          if (ec) return self->AbortBoth(/*blame_backend=*/false);
                          self->ReadRequestBody();
                        });
      return;
    }
    ReadRequestBody();
  }

  void ReadRequestBody() {
    request_body_started_ = true;
    // See UpstreamConnection: room for large reads, reserved only once a body shows up.
    if (client_buffer_.capacity() < kRelayBufferBytes) client_buffer_.reserve(kRelayBufferBytes);
    auto& body = req_parser_->get().body();
    body.data = RelayBuffer();
    body.size = kRelayBufferBytes;
    SetDeadline(options().idle_timeout);
    http::async_read_some(client_, client_buffer_, *req_parser_,
                          [self = this->shared_from_this()](error_code ec, std::size_t) {
                            self->OnRequestBodyRead(ec);
                          });
  }

  void OnRequestBodyRead(error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The client broke its own request: the backend is not to blame.
      if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        EndAttempt(/*record=*/false, /*success=*/true);
        DropUpstream();
        return SendError(400, "Bad Request: malformed body\n");
      }
      return AbortBoth(/*blame_backend=*/false);
    }
    auto& body = req_parser_->get().body();
    const std::size_t n = kRelayBufferBytes - body.size;
    const bool done = req_parser_->is_done();
    if (n == 0 && !done) return ReadRequestBody();  // only framing was parsed
    body.data = n > 0 ? RelayBuffer() : nullptr;
    body.size = n;
    body.more = !done;
    SetDeadline(options().upstream_timeout);
    http::async_write(*upstream_, *req_sr_,
                      [self = this->shared_from_this()](error_code write_ec, std::size_t) {
                        if (write_ec == http::error::need_buffer) write_ec = {};
                        if (write_ec) return self->AttemptFailed(Failure::kBeforeResponse);
                        if (self->req_sr_->is_done()) {
                          self->request_sent_ = true;
                          return self->ReadResponseHeader();
                        }
                        self->ReadRequestBody();
                      });
  }

  void ReadResponseHeader() {
    res_sr_.reset();
    res_parser_.emplace(std::piecewise_construct, std::make_tuple(),
                        std::make_tuple(ArenaAllocator<char>(&arena_)));
    res_parser_->header_limit(kUpstreamHeaderLimit);
    res_parser_->body_limit(boost::none);
    res_parser_->skip(is_head_);  // the answer to HEAD has headers only
    SetDeadline(options().upstream_timeout);
    ParseResponseHeader();
  }

  // Like ParseRequestHeader: parse what is buffered (a 1xx may have brought the next header),
  // read only when more is needed.
  void ParseResponseHeader() {
    auto& buffer = upstream_->buffer;
    while (buffer.size() > 0) {
      error_code ec;
      const std::size_t used = res_parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec || res_parser_->is_header_done()) return OnResponseHeader(ec);
      if (used == 0) break;
    }
    upstream_->async_read_some(
        buffer.prepare(std::max<std::size_t>(512, buffer.capacity() - buffer.size())),
        [self = this->shared_from_this()](error_code ec, std::size_t n) {
          self->upstream_->buffer.commit(n);
          if (ec) return self->OnResponseHeader(ec);
          self->ParseResponseHeader();
        });
  }

  void OnResponseHeader(error_code ec) {
    if (ec) {
      if (timed_out_) return AttemptFailed(Failure::kTimeout);
      // EOF or reset with not a byte of answer: the request may be replayed elsewhere.
      const bool nothing_received = !res_parser_->got_some() && upstream_->buffer.size() == 0;
      return AttemptFailed(nothing_received ? Failure::kBeforeResponse : Failure::kBadResponse);
    }
    auto& response = res_parser_->get();
    const unsigned status = response.result_int();
    if (status >= 100 && status < 200) {
      // Interim answers (100 Continue, 103 Early Hints) are not relayed; 101 would switch
      // protocols, which cannot happen since Upgrade is stripped.
      if (status == 101) return AttemptFailed(Failure::kBadResponse);
      return ReadResponseHeader();
    }
    response_started_ = true;
    upstream_success_ = !(options().fail_on_5xx && status >= 500);
    upstream_reusable_ = res_parser_->keep_alive();
    if (cache_applies_ && !is_head_ && stale_entry_) {
      if (status == 304) return OnNotModified();
      if (status >= 500 && MayServeStale()) {
        // The body of the error is not wanted: the connection is dropped with it.
        EndAttempt(/*record=*/true, upstream_success_);
        DropUpstream();
        Bump(ctx_.counters.cache_stale);
        return ServeEntry(stale_entry_, "STALE");
      }
    }
    const bool bodyless = is_head_ || status == 204 || status == 304;
    const bool has_length = res_parser_->content_length().has_value();

    StripHopByHop(response);
    if (cache_applies_) {
      Bump(ctx_.counters.cache_misses);
      if (!is_head_) BeginTee(status);
    }
    ComputeVia(response, response.version());
    response.version(client_version_);
    bool keep_alive = client_keep_alive_ && !ctx_.draining;
    chunked_out_ = false;
    if (!bodyless && !has_length) {
      // Chunked or close-delimited upstream: HTTP/1.1 clients get chunks, HTTP/1.0 clients a
      // body delimited by closing the connection.
      if (client_version_ == 11) {
        chunked_out_ = true;
      } else {
        keep_alive = false;
      }
    }
    client_keep_alive_ = keep_alive;
    CountResponse(status);

    // Body bytes that came with the header leave in the same write as the header.
    std::size_t n = 0;
    bool done = bodyless || res_parser_->is_done();
    auto& body = response.body();
    const bool length_delimited = has_length && !res_parser_->chunked() && !chunked_out_;
    const std::uint64_t remaining = res_parser_->content_length_remaining().value_or(0);
    // The rest of a length-delimited body needs no parser: reads go straight into the relay
    // buffer instead of through upstream->buffer and a copy.
    direct_body_ = false;
    asio::const_buffer first_piece;
    std::size_t consume_after_write = 0;
    if (!done && length_delimited && remaining > upstream_->buffer.size()) {
      // More is to come, so the connection stays with this session through the write: the
      // buffered part goes out from upstream->buffer itself, without a copy.
      direct_body_ = true;
      first_piece = upstream_->buffer.data();
      consume_after_write = first_piece.size();
      body_remaining_ = remaining - first_piece.size();
    } else if (!done) {
      body.data = RelayBuffer();
      body.size = kRelayBufferBytes;
      if (!ParseBufferedBody()) return OnResponseBodyRead(parse_ec_);
      n = kRelayBufferBytes - body.size;
      done = res_parser_->is_done();
      first_piece = asio::const_buffer(n > 0 ? RelayBuffer() : nullptr, n);
    }
    Tee(first_piece.data(), first_piece.size());
    log_bytes_ = first_piece.size();
    if (cache_applies_) log_cache_ = "MISS";
    if (done) UpstreamDone();
    SetDeadline(options().idle_timeout);
    if (chunked_out_) {
      // Re-framed as chunks; rare enough for Beast's serializer.
      response.set(http::field::via, via_);
      if (cache_applies_) response.set("X-Cache", "MISS");
      response.chunked(true);
      response.keep_alive(keep_alive);
      body.data = n > 0 ? RelayBuffer() : nullptr;
      body.size = n;
      body.more = !done;
      res_sr_.emplace(response);
      return WriteSerializedBody();
    }
    out_.clear();
    out_.append(client_version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    AppendStatus(status);
    std::string_view reason = response.reason();
    if (reason.empty()) {
      const auto standard = http::obsolete_reason(response.result());
      reason = std::string_view(standard.data(), standard.size());
    }
    out_.append(reason);
    out_.append("\r\n");
    for (const auto& field : response) {
      if (field.name() != http::field::via) AppendField(field.name_string(), field.value());
    }
    AppendField("Via", via_);
    if (cache_applies_) AppendField("X-Cache", "MISS");
    // What keep_alive() would add; Connection itself was stripped as hop-by-hop.
    if (client_version_ == 11 && !keep_alive) AppendField("Connection", "close");
    if (client_version_ == 10 && keep_alive) AppendField("Connection", "keep-alive");
    out_.append("\r\n");
    const asio::const_buffer rest = JoinSmallPiece(first_piece);  // may grow out_: first
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(out_), rest};
    asio::async_write(client_, buffers,
                      [self = this->shared_from_this(), done, consume_after_write](
                          error_code write_ec, std::size_t) {
                        if (write_ec) return self->AbortBoth(/*blame_backend=*/false);
                        if (done) return self->OnExchangeDone();
                        if (consume_after_write > 0)
                          self->upstream_->buffer.consume(consume_after_write);
                        self->ReadResponseBody();
                      });
  }

  // Feeds body bytes already buffered from the upstream through the parser into the relay
  // buffer. False (with parse_ec_) when the body is malformed.
  [[nodiscard]] bool ParseBufferedBody() {
    auto& buffer = upstream_->buffer;
    while (buffer.size() > 0 && res_parser_->get().body().size > 0 && !res_parser_->is_done()) {
      error_code ec;
      const std::size_t used = res_parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) break;
      if (ec) {
        parse_ec_ = ec;
        return false;
      }
      if (used == 0) break;
    }
    return true;
  }

  void AppendStatus(unsigned status) {
    char digits[3] = {static_cast<char>('0' + status / 100 % 10),
                      static_cast<char>('0' + status / 10 % 10),
                      static_cast<char>('0' + status % 10)};
    out_.append(digits, sizeof(digits)).push_back(' ');
  }

  // One size check and plain copies instead of four appends: this runs for every header line.
  void AppendField(std::string_view name, std::string_view value) {
    const std::size_t at = out_.size();
    const std::size_t size = at + name.size() + value.size() + 4;
    if (out_.capacity() < size) out_.reserve(std::max(size, 2 * out_.capacity()));
    out_.resize_and_overwrite(size, [&](char* data, std::size_t) {
      char* p = data + at;
      // memcpy from an empty view's null data would be undefined.
      if (!name.empty()) std::memcpy(p, name.data(), name.size());
      p += name.size();
      *p++ = ':';
      *p++ = ' ';
      if (!value.empty()) std::memcpy(p, value.data(), value.size());
      p += value.size();
      *p++ = '\r';
      *p = '\n';
      return size;
    });
  }

  void ReadResponseBody() {
    if (direct_body_) {
      SetDeadline(options().upstream_timeout);
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kRelayBufferBytes, body_remaining_));
      upstream_->async_read_some(asio::buffer(RelayBuffer(), want),
                                 [self = this->shared_from_this()](error_code ec, std::size_t n) {
                                   self->OnDirectBodyRead(ec, n);
                                 });
      return;
    }
    auto& body = res_parser_->get().body();
    body.data = RelayBuffer();
    body.size = kRelayBufferBytes;
    SetDeadline(options().upstream_timeout);
    http::async_read_some(*upstream_, upstream_->buffer, *res_parser_,
                          [self = this->shared_from_this()](error_code ec, std::size_t) {
                            self->OnResponseBodyRead(ec);
                          });
  }

  void OnResponseBodyRead(error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The backend died mid-body. The client must not take a short body for a whole one:
      // cut its connection without the final chunk (or before Content-Length is met).
      Bump(ctx_.counters.incomplete_responses);
      Bump(ctx_.counters.upstream_failures);
      return AbortBoth(/*blame_backend=*/true);
    }
    auto& body = res_parser_->get().body();
    const std::size_t n = kRelayBufferBytes - body.size;
    const bool done = res_parser_->is_done();
    if (n == 0 && !done) return ReadResponseBody();
    Tee(RelayBuffer(), n);
    if (done) UpstreamDone();
    SetDeadline(options().idle_timeout);
    if (chunked_out_) {
      body.data = n > 0 ? RelayBuffer() : nullptr;
      body.size = n;
      body.more = !done;
      log_bytes_ += n;
      return WriteSerializedBody();
    }
    // Length- or close-delimited: the bytes go out as they came.
    if (n == 0) return OnExchangeDone();  // done: only the end of a close-delimited body
    WriteRawBody(n, done);
  }

  void OnDirectBodyRead(error_code ec, std::size_t n) {
    if (ec) {
      // EOF or reset before Content-Length was met: as in OnResponseBodyRead.
      Bump(ctx_.counters.incomplete_responses);
      Bump(ctx_.counters.upstream_failures);
      return AbortBoth(/*blame_backend=*/true);
    }
    body_remaining_ -= std::min<std::uint64_t>(n, body_remaining_);
    const bool done = body_remaining_ == 0;
    Tee(RelayBuffer(), n);
    if (done) UpstreamDone();
    SetDeadline(options().idle_timeout);
    WriteRawBody(n, done);
  }

  void WriteRawBody(std::size_t n, bool done) {
    log_bytes_ += n;
    asio::async_write(client_, asio::buffer(RelayBuffer(), n),
                      [self = this->shared_from_this(), done](error_code write_ec, std::size_t) {
                        if (write_ec) return self->AbortBoth(/*blame_backend=*/false);
                        if (done) return self->OnExchangeDone();
                        self->ReadResponseBody();
                      });
  }

  void WriteSerializedBody() {
    http::async_write(client_, *res_sr_,
                      [self = this->shared_from_this()](error_code write_ec, std::size_t) {
                        if (write_ec == http::error::need_buffer) write_ec = {};
                        if (write_ec) return self->AbortBoth(/*blame_backend=*/false);
                        if (self->res_sr_->is_done()) return self->OnExchangeDone();
                        self->ReadResponseBody();
                      });
  }

  // The whole response has been read: the backend's part is over before the client gets its
  // last bytes, so the balancer's counts are current by the time the client sees the answer.
  void UpstreamDone() {
    EndAttempt(/*record=*/true, upstream_success_);
    // A connection made under settings a reload has replaced (its backend's TLS may have
    // changed) is not pooled.
    const bool reusable = upstream_reusable_ && request_sent_ && upstream_->buffer.size() == 0 &&
                          settings_ == ctx_.settings;
    req_sr_.reset();
    if (reusable) {
      ctx_.pool.Put(backend_.entry, std::move(upstream_));
    } else {
      DropUpstream();
    }
    if (ctx_.shared.cache) FinishTee();
  }

  void OnExchangeDone() {
    LogRequest();
    if (!client_keep_alive_) return CloseClientGracefully();
    NextRequest();
  }

  // ---- Failures ----------------------------------------------------------------------------

  void EndAttempt(bool record, bool success) {
    if (!in_flight_) return;
    in_flight_ = false;
    auto& balancer = ctx_.shared.balancer;
    balancer.DecrementConnections(backend_);
    if (record) {
      const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
          SteadyClock::now() - attempt_start_);
      balancer.RecordRequest(backend_, latency, success);
    }
  }

  void AttemptFailed(Failure failure) {
    const bool stale = from_pool_ && failure == Failure::kBeforeResponse;
    const bool replayable = !request_body_started_;
    DropUpstream();
    if (stale) {
      // The backend closed an idle connection as we reused it: not its fault, and nothing was
      // processed. Try once more on a fresh connection to the same backend.
      Bump(ctx_.counters.stale_pooled);
      EndAttempt(/*record=*/false, /*success=*/false);
      if (replayable && !stale_retry_used_) {
        stale_retry_used_ = true;
        return StartAttempt(/*allow_pool=*/false);
      }
      return FailRequest(502, "Bad Gateway\n");
    }
    Bump(ctx_.counters.upstream_failures);
    EndAttempt(/*record=*/true, /*success=*/false);
    if (failure == Failure::kTimeout) return FailRequest(504, "Gateway Timeout\n");
    const bool retryable = replayable && (failure == Failure::kConnect ||
                                          (failure == Failure::kBeforeResponse && idempotent_));
    if (retryable && retries_used_ < options().retries) {
      auto next = ctx_.shared.balancer.PickOther(Context(), backend_);
      if (next) {
        ++retries_used_;
        Bump(ctx_.counters.retries);
        backend_ = *next;
        return StartAttempt(/*allow_pool=*/true);
      }
    }
    FailRequest(502, "Bad Gateway\n");
  }

  // Something broke after bytes flowed; neither side can be kept. The balancer hears of a
  // failure only when the backend is to blame; a client that went away says nothing about it.
  void AbortBoth(bool blame_backend) {
    tee_ = false;
    EndFill();
    if (blame_backend) {
      EndAttempt(/*record=*/true, /*success=*/false);
    } else {
      EndAttempt(/*record=*/response_started_, upstream_success_);
    }
    DropUpstream();
    CloseClient();
  }

  void DropUpstream() {
    req_sr_.reset();  // its progress belongs to the attempt on this connection
    if (upstream_) {
      CloseQuietly(*upstream_);
      upstream_.reset();
    }
  }

  void CountResponse(unsigned status) {
    log_status_ = status;
    const unsigned index = std::clamp(status / 100, 1u, 5u) - 1;
    Bump(ctx_.counters.responses[index]);
  }

  // Answers with a short text and closes: the rest of the request (a body, pipelined
  // requests) is not read, so the connection cannot be trusted to be in sync afterwards.
  void SendError(int status, std::string_view text) {
    tee_ = false;
    EndFill();
    res_sr_.reset();
    res_parser_.reset();
    req_sr_.reset();
    CountResponse(static_cast<unsigned>(status));
    if (status == 502) Bump(ctx_.counters.status_502);
    if (status == 503) Bump(ctx_.counters.status_503);
    if (status == 504) Bump(ctx_.counters.status_504);
    if (status < 500) Bump(ctx_.counters.client_errors);

    error_response_.emplace();
    auto& response = *error_response_;
    response.version(client_version_ == 10 ? 10 : 11);
    response.result(static_cast<unsigned>(status));
    response.set(http::field::server, "streamgate");
    response.set(http::field::date, net::HttpDate());
    response.set(http::field::content_type, "text/plain");
    response.body().assign(text);
    response.keep_alive(false);
    response.prepare_payload();
    if (is_head_) response.body().clear();  // Content-Length still tells the GET size
    SetDeadline(options().idle_timeout);
    log_bytes_ = response.body().size();
    http::async_write(client_, response,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        self->LogRequest();
                        if (ec) return self->CloseClient();
                        self->LingerClose();
                      });
  }

  void LingerClose() {
    if constexpr (kTls) return ShutdownTls();
    error_code ignored;
    Lowest().shutdown(tcp::socket::shutdown_send, ignored);
    SetDeadline(kLingerTimeout);
    Drain();
  }

  void Drain() {
    client_.async_read_some(asio::buffer(RelayBuffer(), kRelayBufferBytes),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes) {
                                return self->CloseClient();
                              }
                              self->Drain();
                            });
  }

  void CloseClientGracefully() {
    if constexpr (kTls) return ShutdownTls();
    error_code ignored;
    Lowest().shutdown(tcp::socket::shutdown_send, ignored);
    CloseClient();
  }

  // TLS: close_notify first. Without it OpenSSL-based clients take the close for a truncation
  // and drop the session (no resumption). Waits for the client's close_notify or EOF (bytes it
  // still sends are discarded), at most kLingerTimeout.
  void ShutdownTls() {
    SetDeadline(kLingerTimeout);
    client_.async_shutdown([self = this->shared_from_this()](error_code) { self->CloseClient(); });
  }

  void CloseClient() {
    LogRequest();  // a request cut short (status 0 when nothing was sent)
    closed_ = true;
    tee_ = false;
    EndFill();
    error_code ignored;
    Lowest().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close(ignored);
    DropUpstream();
  }

  // ---- Access log -------------------------------------------------------------------------
  // With an access log, one line per request whose header was read: written when the
  // response is complete, or when the connection ends first (status 0 if nothing was sent).

  void BeginLog() {
    log_pending_ = settings_->options.access_log != nullptr;
    if (!log_pending_) return;
    log_start_ = SteadyClock::now();
    log_wall_ = std::chrono::system_clock::now();
    log_status_ = 0;
    log_bytes_ = 0;
    log_attempts_ = 0;
    log_cache_ = {};
    routing_address_.clear();  // set by RoutingAddress; empty: the peer is the client
  }

  void LogRequest() {
    if (!log_pending_) return;
    log_pending_ = false;
    AccessLogEntry entry;
    entry.time = log_wall_;
    entry.client = routing_address_.empty() ? std::string_view(peer_) : routing_address_;
    entry.listener = options().listeners[ctx_.listener].name;
    if (req_parser_) {
      const auto& request = req_parser_->get();
      entry.method = request.method_string();
      entry.target = request.target();
      entry.host = request[http::field::host];
      entry.user_agent = request[http::field::user_agent];
      entry.referer = request[http::field::referer];
    }
    entry.version = client_version_;
    entry.status = log_status_;
    entry.bytes_sent = log_bytes_;
    entry.duration =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - log_start_);
    if (log_attempts_ > 0 && backend_.entry != nullptr) entry.backend = backend_.id();
    entry.cache = log_cache_;
    entry.attempts = log_attempts_;
    options().access_log->Write(entry);
  }

  // ---- Deadline ----------------------------------------------------------------------------
  // One timer per session, checked lazily: a new deadline costs a clock read, not a timer-queue
  // insert, a cancel and an extra handler per operation. The timer is armed at most timer_tick
  // ahead, and every timeout is at least that long, so a new deadline is never earlier than the
  // armed expiry and the timer never needs moving. Only one operation is pending at a time.

  void SetDeadline(SteadyClock::duration timeout) {
    timed_out_ = false;
    const SteadyClock::time_point now = SteadyClock::now();
    deadline_ = now + timeout;
    if (!timer_armed_) ArmTimer(now);
  }

  void ArmTimer(SteadyClock::time_point now) {
    timer_armed_ = true;
    timer_.expires_at(std::min(deadline_, now + settings_->timer_tick));
    // Weak: a closed session must not wait for its timer to go away.
    timer_.async_wait([weak = this->weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->OnTimer();
    });
  }

  void OnTimer() {
    timer_armed_ = false;
    if (closed_) return;
    const SteadyClock::time_point now = SteadyClock::now();
    // Draining closes idle keep-alive connections at the next tick instead of their deadline.
    if (now < deadline_ && !(idle_ && ctx_.draining)) return ArmTimer(now);
    // The pending operation completes with operation_aborted; timed_out_ tells why.
    timed_out_ = true;
    error_code ignored;
    Lowest().cancel(ignored);
    if (upstream_) upstream_->socket.cancel(ignored);
  }

  // Over TLS every buffer of a sequence becomes its own record and send: a small body piece
  // joins the header in out_ (a copy is cheap next to the encryption) so it leaves in one.
  [[nodiscard]] asio::const_buffer JoinSmallPiece(asio::const_buffer piece) {
    if constexpr (kTls) {
      if (piece.size() > 0 && piece.size() <= kTlsJoinBytes) {
        out_.append(static_cast<const char*>(piece.data()), piece.size());
        return {};
      }
    }
    return piece;
  }

  [[nodiscard]] char* RelayBuffer() {
    if (!relay_buffer_) relay_buffer_ = std::make_unique<char[]>(kRelayBufferBytes);
    return relay_buffer_.get();
  }

  [[nodiscard]] const ProxyOptions& options() const { return settings_->options; }

  WorkerContext ctx_;
  std::shared_ptr<const Settings> settings_;            // this request's; see ReadHeader
  std::shared_ptr<net::TlsServerContext> tls_context_;  // owns client_'s ssl::context (TLS only)
  ClientStream client_;
  beast::flat_buffer client_buffer_;
  Timer timer_;
  SteadyClock::time_point deadline_{};
  bool timer_armed_ = false;
  bool timed_out_ = false;
  bool closed_ = false;
  bool idle_ = false;  // waiting for the next request on a kept-alive connection
  // Access log, per request.
  bool log_pending_ = false;
  unsigned log_status_ = 0;
  std::uint32_t log_attempts_ = 0;
  std::uint64_t log_bytes_ = 0;
  std::string_view log_cache_;  // static text
  SteadyClock::time_point log_start_{};
  WallTime log_wall_{};
  std::string out_;            // a serialized header, reused
  std::string forwarded_for_;  // X-Forwarded-For to send upstream
  std::string via_;            // Via to send on (request or response)
  std::string peer_;
  bool peer_trusted_ = false;
  std::unique_ptr<char[]> relay_buffer_;  // kRelayBufferBytes, allocated on first body
  std::string scratch_;                   // reused for header values
  std::string routing_address_;
  std::string_view hash_key_;  // into the request target

  // Per request.
  HeaderArena arena_;  // before the parsers: their fields are freed into it
  std::optional<http::request_parser<http::buffer_body, ArenaAllocator<char>>> req_parser_;
  std::optional<http::request_serializer<http::buffer_body, HeaderFields>> req_sr_;
  std::optional<http::response_parser<http::buffer_body, ArenaAllocator<char>>> res_parser_;
  std::optional<http::response_serializer<http::buffer_body, HeaderFields>> res_sr_;
  std::optional<http::response<http::string_body>> error_response_;
  unsigned client_version_ = 11;
  bool client_keep_alive_ = false;
  bool is_head_ = false;
  bool idempotent_ = false;
  bool expect_continue_ = false;
  bool has_host_ = false;
  bool request_body_started_ = false;
  std::uint32_t retries_used_ = 0;
  bool stale_retry_used_ = false;
  std::size_t drained_ = 0;

  // Per attempt.
  BackendHandle backend_{};
  bool in_flight_ = false;
  SteadyClock::time_point attempt_start_{};
  std::unique_ptr<UpstreamConnection> upstream_;
  bool from_pool_ = false;
  bool response_started_ = false;
  bool upstream_success_ = false;
  bool upstream_reusable_ = false;
  bool request_sent_ = false;  // the whole request reached the upstream
  bool chunked_out_ = false;   // the response is re-framed as chunks for the client
  bool direct_body_ = false;   // the body is relayed without the parser, body_remaining_ left
  std::uint64_t body_remaining_ = 0;
  error_code parse_ec_;
  std::optional<tcp::resolver> resolver_;

  // Edge cache, per request.
  bool cache_applies_ = false;  // a GET/HEAD the cache answers or stores
  bool fill_leader_ = false;    // this request's fetch is the one others wait for
  bool waiting_fill_ = false;
  bool coalesced_ = false;  // waited once for another request's fetch
  bool tee_ = false;        // the response is being copied into tee_body_ for storing
  std::string cache_key_;
  CacheControl request_cc_;
  cdn::EntryPtr stale_entry_;  // a stale entry being revalidated (or standing by for errors)
  Seconds stale_age_{0};
  Freshness stale_freshness_;
  cdn::EntryPtr serving_;  // keeps the entry's bytes alive while they are written
  std::optional<Timer> fill_timer_;
  WallTime request_wall_{};
  unsigned tee_status_ = 0;
  std::uint64_t origin_body_bytes_ = 0;  // body bytes relayed from the origin for this request
  cdn::HeaderFields tee_headers_;
  std::string tee_body_;
};

// SO_REUSEPORT lets every worker own an acceptor on the same address; the kernel spreads
// incoming connections across them.
[[nodiscard]] error_code SetReusePort(tcp::acceptor& acceptor) {
  const int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return error_code(errno, boost::system::system_category());
  }
  return {};
}

class Worker {
 public:
  Worker(const Shared& shared, std::shared_ptr<const Settings> settings, WorkerCounters& counters)
      : shared_(shared),
        settings_(std::move(settings)),
        counters_(counters),
        // One thread per io_context and each socket used only by it: the reactor's per-descriptor
        // locking is pure cost. Stop() from another thread goes through the (locked) scheduler.
        ioc_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
        work_(asio::make_work_guard(ioc_)),
        accept_retry_timer_(ioc_),
        sweep_timer_(ioc_),
        pool_(shared.max_idle_upstream_per_backend, counters) {}
  ~Worker() { Join(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds `endpoint` (port 0 is only passed to the first worker) for listener `listener`;
  // returns the bound port.
  [[nodiscard]] Result<std::uint16_t> Listen(const tcp::endpoint& endpoint,
                                             const std::string& where, std::size_t listener) {
    acceptors_.emplace_back(ioc_);
    acceptor_listener_.push_back(listener);
    tcp::acceptor& acceptor = acceptors_.back();
    error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return MakeError(ErrorCode::kIo, "open " + where + ": " + ec.message());
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) ec = SetReusePort(acceptor);
    if (ec) return MakeError(ErrorCode::kIo, "socket options " + where + ": " + ec.message());
    acceptor.bind(endpoint, ec);
    if (ec) return MakeError(ErrorCode::kIo, "bind " + where + ": " + ec.message());
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return MakeError(ErrorCode::kIo, "listen " + where + ": " + ec.message());
    const std::uint16_t port = acceptor.local_endpoint(ec).port();
    if (ec) return MakeError(ErrorCode::kIo, "local_endpoint " + where + ": " + ec.message());
    return port;
  }

  void Run() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i)
      Accept(acceptors_[i], acceptor_listener_[i]);
    ScheduleSweep();
    thread_ = std::thread([this] { net::RunIoLoop(ioc_, "proxy"); });
  }

  // New settings for requests that start from now on, installed on the worker's thread; the
  // returned future is ready once they are. Idle upstream connections are closed: their
  // backend or its TLS settings may have changed.
  [[nodiscard]] std::future<void> Apply(std::shared_ptr<const Settings> settings) {
    auto applied = std::make_shared<std::promise<void>>();
    std::future<void> done = applied->get_future();
    asio::post(ioc_, [this, settings = std::move(settings), applied]() mutable {
      settings_ = std::move(settings);
      pool_.Clear();
      applied->set_value();
    });
    return done;
  }

  // Stops accepting; sessions close once their current exchange is done (see ClientSession).
  void BeginDrain() {
    asio::post(ioc_, [this] {
      draining_ = true;
      error_code ignored;
      for (tcp::acceptor& acceptor : acceptors_) acceptor.close(ignored);
      accept_retry_timer_.cancel();
      pool_.Clear();
    });
  }

  void Join() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Accept(tcp::acceptor& acceptor, std::size_t listener) {
    acceptor.async_accept(ioc_, [this, &acceptor, listener](error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept.
        spdlog::warn("proxy accept: {}", ec.message());
        accept_retry_timer_.expires_after(kAcceptRetryDelay);
        accept_retry_timer_.async_wait([this, &acceptor, listener](error_code wait_ec) {
          if (!wait_ec && acceptor.is_open()) Accept(acceptor, listener);
        });
        return;
      }
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const WorkerContext context{shared_, ioc_, pool_, counters_, settings_, draining_, listener};
      // Looked up per connection: a reload may have turned TLS on or replaced the certificates.
      const std::shared_ptr<net::TlsServerContext>& tls = settings_->listener_tls[listener];
      if (tls == nullptr) {
        std::make_shared<ClientSession<Socket>>(context, nullptr, std::move(socket))->Start();
      } else {
        std::make_shared<ClientSession<TlsSocket>>(context, tls, std::move(socket), tls->context())
            ->Start();
      }
      Accept(acceptor, listener);
    });
  }

  void ScheduleSweep() {
    sweep_timer_.expires_after(kPoolSweepInterval);
    sweep_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      pool_.Sweep();
      ScheduleSweep();
    });
  }

  const Shared& shared_;
  std::shared_ptr<const Settings> settings_;  // read and written on the worker's thread only
  bool draining_ = false;
  WorkerCounters& counters_;
  // Sessions live only in handlers queued on ioc_, so destroying ioc_ destroys them; their
  // destructors touch shared_ and counters_ (which outlive ioc_) but never pool_, which holds
  // sockets of ioc_ and therefore goes first.
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::deque<tcp::acceptor> acceptors_;         // stable addresses: handlers hold references
  std::vector<std::size_t> acceptor_listener_;  // per acceptor: index into the listeners
  asio::steady_timer accept_retry_timer_;
  asio::steady_timer sweep_timer_;
  UpstreamPool pool_;
  std::thread thread_;
};

// Builds the settings for `options`: parses the trusted proxies and loads every TLS file (a bad
// one is an error naming the listener or backend and the file). A listener that was TLS in
// `previous` keeps its session-ticket keys, so clients resume their sessions across a reload.
[[nodiscard]] Result<std::shared_ptr<const Settings>> BuildSettings(ProxyOptions options,
                                                                    const Settings* previous) {
  if (options.listeners.empty()) return InvalidArgument("proxy needs at least one listener");
  if (options.max_header_bytes == 0 || options.max_header_count == 0) {
    return InvalidArgument("proxy header limits must be positive");
  }
  auto trusted = TrustedProxies::Parse(options.trusted_proxies);
  if (!trusted) return std::unexpected(trusted.error());
  std::vector<std::shared_ptr<net::TlsServerContext>> listener_tls;
  for (std::size_t l = 0; l < options.listeners.size(); ++l) {
    const ListenerOptions& listener = options.listeners[l];
    if (!listener.tls) {
      listener_tls.push_back(nullptr);
      continue;
    }
    std::shared_ptr<net::SessionTicketKeys> keys;
    if (previous != nullptr && l < previous->listener_tls.size() &&
        previous->listener_tls[l] != nullptr) {
      keys = previous->listener_tls[l]->ticket_keys();
      // Another rotation interval takes a new ring (tickets issued so far stop resuming).
      if (keys != nullptr && keys->rotation() != listener.tls->session_ticket_rotation) {
        keys = nullptr;
      }
    }
    auto context = net::TlsServerContext::Create(*listener.tls, std::move(keys));
    if (!context) {
      return MakeError(context.error().code(),
                       "listener '" + listener.name + "': " + context.error().message());
    }
    listener_tls.push_back(std::move(*context));
  }
  std::unordered_map<std::string, std::shared_ptr<net::TlsClientContext>> backend_tls;
  for (const auto& [id, tls] : options.backend_tls) {
    if (!tls.enabled) continue;
    auto context = net::TlsClientContext::Create(tls);
    if (!context) {
      return MakeError(context.error().code(),
                       "backend '" + id + "': " + context.error().message());
    }
    backend_tls.emplace(id, std::move(*context));
  }
  return std::make_shared<const Settings>(std::move(options), std::move(*trusted),
                                          std::move(listener_tls), std::move(backend_tls));
}

class ProxyServerImpl final : public ProxyServer {
 public:
  ProxyServerImpl(std::shared_ptr<const Settings> settings, scaling::GlobalLoadBalancer& balancer)
      : shared_(settings->options, balancer), settings_(std::move(settings)) {}
  ~ProxyServerImpl() override { Stop(); }
  ProxyServerImpl(const ProxyServerImpl&) = delete;
  ProxyServerImpl& operator=(const ProxyServerImpl&) = delete;

  [[nodiscard]] Status Listen() {
    const ProxyOptions& options = settings_->options;
    std::size_t threads = options.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    counters_.reserve(threads);
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
      counters_.push_back(std::make_unique<WorkerCounters>());
      workers_.push_back(std::make_unique<Worker>(shared_, settings_, *counters_.back()));
    }
    for (std::size_t l = 0; l < options.listeners.size(); ++l) {
      const ListenerOptions& listener = options.listeners[l];
      error_code ec;
      const asio::ip::address address = asio::ip::make_address(listener.host, ec);
      if (ec) {
        return InvalidArgument("listener '" + listener.name + "': host '" + listener.host +
                               "' is not an IP address");
      }
      std::uint16_t port = listener.port;
      for (auto& worker : workers_) {
        const std::string where = listener.name + " " + listener.host + ":" + std::to_string(port);
        auto bound = worker->Listen(tcp::endpoint(address, port), where, l);
        if (!bound) return std::unexpected(bound.error());
        port = *bound;  // port 0: the first worker picked one; the others join it
      }
      ports_.push_back(port);
    }
    return {};
  }

  void Run() {
    for (auto& worker : workers_) worker->Run();
  }

  [[nodiscard]] std::uint16_t port(std::size_t listener_index) const override {
    return listener_index < ports_.size() ? ports_[listener_index] : 0;
  }

  Status Reconfigure(ProxyOptions options) override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return MakeError(ErrorCode::kFailedPrecondition, "the proxy has stopped");
    const std::vector<ListenerOptions>& running = settings_->options.listeners;
    if (options.listeners.size() != running.size()) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       fmt::format("the proxy has {} listeners and cannot add or remove any "
                                   "without a restart ({} given)",
                                   running.size(), options.listeners.size()));
    }
    // What a running proxy cannot change: kept as started.
    options.threads = settings_->options.threads;
    options.max_idle_upstream_per_backend = settings_->options.max_idle_upstream_per_backend;
    options.cache_store = settings_->options.cache_store;
    options.cache = settings_->options.cache;
    for (std::size_t l = 0; l < running.size(); ++l) {
      options.listeners[l].host = running[l].host;
      options.listeners[l].port = running[l].port;
    }
    auto settings = BuildSettings(std::move(options), settings_.get());
    if (!settings) return std::unexpected(settings.error());
    settings_ = *settings;
    std::vector<std::future<void>> applied;
    for (auto& worker : workers_) applied.push_back(worker->Apply(settings_));
    for (auto& done : applied) done.wait();  // workers never block, so this is short
    return {};
  }

  std::uint64_t Drain(std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lock(stop_mu_);
      if (stopped_) return 0;
      for (auto& worker : workers_) worker->BeginDrain();
    }
    // Real time: draining is about real clients, not the daemon's (possibly injected) clock.
    const auto deadline = SteadyClock::now() + timeout;
    std::uint64_t open = stats().connections_active;
    while (open > 0 && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      open = stats().connections_active;
    }
    Stop();
    return open;
  }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& worker : workers_) worker->Join();
    // Sessions destroyed below must not notify waiters on io_contexts destroyed before them.
    if (shared_.cache) shared_.cache->AbandonFills();
    // No worker thread runs now; destroying a worker closes its sockets and drops its sessions.
    workers_.clear();
  }

  [[nodiscard]] ProxyStats stats() const override {
    ProxyStats stats;
    std::uint64_t closed = 0;
    for (const auto& counters : counters_) {
      const WorkerCounters& c = *counters;
      stats.connections_accepted += Read(c.connections_accepted);
      closed += Read(c.connections_closed);
      stats.requests += Read(c.requests);
      stats.responses_1xx += Read(c.responses[0]);
      stats.responses_2xx += Read(c.responses[1]);
      stats.responses_3xx += Read(c.responses[2]);
      stats.responses_4xx += Read(c.responses[3]);
      stats.responses_5xx += Read(c.responses[4]);
      stats.retries += Read(c.retries);
      stats.upstream_connects += Read(c.upstream_connects);
      stats.upstream_connect_errors += Read(c.upstream_connect_errors);
      stats.pool_reuses += Read(c.pool_reuses);
      stats.stale_pooled += Read(c.stale_pooled);
      stats.upstream_failures += Read(c.upstream_failures);
      stats.incomplete_responses += Read(c.incomplete_responses);
      stats.client_errors += Read(c.client_errors);
      stats.status_502 += Read(c.status_502);
      stats.status_503 += Read(c.status_503);
      stats.status_504 += Read(c.status_504);
      stats.cache_hits += Read(c.cache_hits);
      stats.cache_misses += Read(c.cache_misses);
      stats.cache_stale += Read(c.cache_stale);
      stats.cache_revalidated += Read(c.cache_revalidated);
      stats.cache_coalesced += Read(c.cache_coalesced);
      stats.cache_stores += Read(c.cache_stores);
      stats.tls_handshakes += Read(c.tls_handshakes);
      stats.tls_resumed += Read(c.tls_resumed);
      stats.tls_handshake_failures += Read(c.tls_handshake_failures);
      stats.upstream_tls_failures += Read(c.upstream_tls_failures);
    }
    stats.connections_active =
        stats.connections_accepted > closed ? stats.connections_accepted - closed : 0;
    return stats;
  }

 private:
  Shared shared_;
  std::shared_ptr<const Settings> settings_;  // the latest; guarded by stop_mu_ after Start
  std::vector<std::unique_ptr<WorkerCounters>> counters_;  // outlive the workers
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::uint16_t> ports_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

ProxyServer::~ProxyServer() = default;

Result<std::unique_ptr<ProxyServer>> ProxyServer::Start(ProxyOptions options,
                                                        scaling::GlobalLoadBalancer& balancer) {
  // TLS files are loaded once here; a bad one fails the start with the file named.
  auto settings = BuildSettings(std::move(options), nullptr);
  if (!settings) return std::unexpected(settings.error());
  try {
    auto server = std::make_unique<ProxyServerImpl>(std::move(*settings), balancer);
    if (Status listening = server->Listen(); !listening) {
      return std::unexpected(listening.error());
    }
    server->Run();
    return std::unique_ptr<ProxyServer>(std::move(server));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("proxy start: ") + e.what());
  }
}

std::vector<ProxyMetricSample> ProxyMetricSamples(const ProxyStats& s) {
  constexpr std::string_view kResponses = "streamgate_proxy_responses_total";
  constexpr std::string_view kResponsesHelp = "Responses sent to clients, by status class.";
  constexpr std::string_view kErrors = "streamgate_proxy_errors_total";
  constexpr std::string_view kErrorsHelp = "Error responses generated by the proxy, by status.";
  constexpr std::string_view kCache = "streamgate_proxy_cache_responses_total";
  constexpr std::string_view kCacheHelp = "Responses to cacheable requests, by X-Cache result.";
  return {
      {"streamgate_proxy_connections_accepted_total", "Client connections accepted.", true, "", "",
       s.connections_accepted},
      {"streamgate_proxy_connections_active", "Client connections open now.", false, "", "",
       s.connections_active},
      {"streamgate_proxy_requests_total", "Client requests received.", true, "", "", s.requests},
      {kResponses, kResponsesHelp, true, "class", "1xx", s.responses_1xx},
      {kResponses, kResponsesHelp, true, "class", "2xx", s.responses_2xx},
      {kResponses, kResponsesHelp, true, "class", "3xx", s.responses_3xx},
      {kResponses, kResponsesHelp, true, "class", "4xx", s.responses_4xx},
      {kResponses, kResponsesHelp, true, "class", "5xx", s.responses_5xx},
      {kErrors, kErrorsHelp, true, "status", "502", s.status_502},
      {kErrors, kErrorsHelp, true, "status", "503", s.status_503},
      {kErrors, kErrorsHelp, true, "status", "504", s.status_504},
      {"streamgate_proxy_client_errors_total", "Malformed or over-limit client requests.", true, "",
       "", s.client_errors},
      {"streamgate_proxy_retries_total", "Requests retried on another backend.", true, "", "",
       s.retries},
      {"streamgate_proxy_upstream_connects_total", "Upstream connections established.", true, "",
       "", s.upstream_connects},
      {"streamgate_proxy_upstream_connect_errors_total", "Upstream connections that failed.", true,
       "", "", s.upstream_connect_errors},
      {"streamgate_proxy_upstream_pool_reuses_total",
       "Requests sent on a pooled upstream connection.", true, "", "", s.pool_reuses},
      {"streamgate_proxy_upstream_stale_total",
       "Pooled upstream connections found closed by the backend.", true, "", "", s.stale_pooled},
      {"streamgate_proxy_upstream_failures_total",
       "Upstream attempts that failed (connect, reset, timeout).", true, "", "",
       s.upstream_failures},
      {"streamgate_proxy_incomplete_responses_total",
       "Responses cut because the upstream failed mid-body.", true, "", "", s.incomplete_responses},
      {kCache, kCacheHelp, true, "result", "hit", s.cache_hits},
      {kCache, kCacheHelp, true, "result", "miss", s.cache_misses},
      {kCache, kCacheHelp, true, "result", "stale", s.cache_stale},
      {kCache, kCacheHelp, true, "result", "revalidated", s.cache_revalidated},
      {"streamgate_proxy_cache_coalesced_total",
       "Cache misses that waited for another request's origin fetch.", true, "", "",
       s.cache_coalesced},
      {"streamgate_proxy_cache_stores_total", "Origin responses stored in the edge cache.", true,
       "", "", s.cache_stores},
      {"streamgate_proxy_tls_handshakes_total", "Client TLS handshakes completed.", true, "", "",
       s.tls_handshakes},
      {"streamgate_proxy_tls_resumed_total", "Client TLS handshakes that resumed a session.", true,
       "", "", s.tls_resumed},
      {"streamgate_proxy_tls_handshake_failures_total", "Client TLS handshakes that failed.", true,
       "", "", s.tls_handshake_failures},
      {"streamgate_proxy_upstream_tls_failures_total",
       "Upstream TLS handshakes that failed (verification included).", true, "", "",
       s.upstream_tls_failures},
  };
}

}  // namespace streamgate::proxy
