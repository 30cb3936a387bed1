// The proxy's access log (config `log.access_log`, issue 7): one line per proxied request, as
// Apache/nginx "combined" text plus extras, or as one JSON object per line.
//
// Write() runs on proxy threads and never blocks on disk: each thread formats into its own
// buffer (a per-thread mutex, contended only for the swap), and a background thread writes the
// buffers out every `flush_interval`. A thread whose buffer is full drops the line and counts it
// (dropped()); the request is never slowed down by a slow disk. Lines are only ever written whole.
//
// Text (nginx's escape=default: `"`, `\`, bytes below 0x20 and from 0x7f as \xHH, so a hostile
// target or User-Agent cannot forge a line or a field; in the unquoted extras a space too):
//   10.0.0.1 - - [28/Nov/2026:17:35:24 +0000] "GET /a HTTP/1.1" 200 1024 "-" "curl/7.88"
//   0.001200 backend=us-1 cache=MISS attempts=1 host=example.com listener=public   (one line)
// The number after the User-Agent is the duration in seconds (microsecond resolution); an empty
// field is "-". Status 0: the client went away before a status was sent.
//
// JSON (keys in this order; strings escaped per RFC 8259, invalid UTF-8 replaced by U+FFFD):
//   {"time":"2026-11-28T17:35:24.123Z","client":"10.0.0.1","listener":"public","method":"GET",
//    "target":"/a","protocol":"HTTP/1.1","host":"example.com","status":200,"bytes_sent":1024,
//    "duration_us":1200,"backend":"us-1","cache":"MISS","user_agent":"curl/7.88","referer":"",
//    "attempts":1}
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::proxy {

// One proxied request, as the proxy knows it when the response is complete (or the client went
// away). Views only: Write() copies what it needs before returning.
struct AccessLogEntry {
  WallTime time{};            // when the request header was read (wall clock)
  std::string_view client;    // client IP (after trusted X-Forwarded-For), e.g. "10.0.0.1"
  std::string_view listener;  // listener name
  std::string_view method;
  std::string_view target;                // request-target as sent
  unsigned version = 11;                  // 10 or 11
  std::string_view host;                  // Host header
  unsigned status = 0;                    // status sent to the client; 0 if none was sent
  std::uint64_t bytes_sent = 0;           // response body bytes sent to the client
  std::chrono::microseconds duration{0};  // header read -> response complete
  std::string_view backend;               // backend id; "" when answered by the proxy or the cache
  std::string_view cache;                 // "HIT", "MISS", "STALE", "REVALIDATED" or ""
  std::string_view user_agent;
  std::string_view referer;
  std::uint32_t attempts = 0;  // upstream attempts (retries + 1), 0 if none
};

enum class AccessLogFormat { kText, kJson };

// Formats entries into lines (with the trailing '\n'). Keeps the last formatted second, so
// consecutive entries in the same second cost no calendar arithmetic. One per thread.
class AccessLogFormatter {
 public:
  explicit AccessLogFormatter(AccessLogFormat format) : format_(format) {}
  void Append(const AccessLogEntry& entry, std::string& out);

 private:
  void UpdateSecond(std::int64_t second);

  AccessLogFormat format_;
  std::int64_t cached_second_ = INT64_MIN;
  char text_time_[32] = {};  // "28/Nov/2026:17:35:24 +0000"
  char json_time_[24] = {};  // "2026-11-28T17:35:24"
  std::size_t text_time_size_ = 0;
  std::size_t json_time_size_ = 0;
};

struct AccessLogOptions {
  // How often the background thread writes the buffers out. A thread whose buffer passes a
  // quarter of `max_buffer_bytes` wakes it early.
  std::chrono::milliseconds flush_interval{100};
  // Per writing thread; a line that would not fit is dropped and counted.
  std::size_t max_buffer_bytes = 1 << 20;
};

class AccessLog {
 public:
  // target: "stdout" or a file path (appended, created 0640); format: "text" or "json".
  // Errors: invalid_argument for an empty target or an unknown format; io naming the path when
  // the file cannot be opened.
  [[nodiscard]] static Result<std::shared_ptr<AccessLog>> Open(const std::string& target,
                                                               const std::string& format);
  [[nodiscard]] static Result<std::shared_ptr<AccessLog>> Open(const std::string& target,
                                                               const std::string& format,
                                                               AccessLogOptions options);
  // Writes out what is buffered, then closes the file (stdout stays open).
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Called on proxy threads per request: formats into this thread's buffer; never blocks on disk
  // and takes no lock shared between proxy threads.
  void Write(const AccessLogEntry& entry);
  // For tests and shutdown: everything written so far (by any thread) reaches the target.
  void Flush();
  // Reopens the file at the path (log rotation: after logrotate moved it), used on SIGHUP/reload.
  // Buffered lines go to the old file first. On error the old file stays in use. No-op for stdout.
  [[nodiscard]] Status Reopen();
  // Lines lost because a thread's buffer was full or the target refused a write.
  [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  [[nodiscard]] const std::string& target() const { return target_; }
  [[nodiscard]] AccessLogFormat format() const { return format_; }

  struct ThreadBuffer;  // one per writing thread (access_log.cpp)

 private:
  AccessLog(std::string target, AccessLogFormat format, AccessLogOptions options, int fd);

  ThreadBuffer& BufferForThisThread();
  void FlusherLoop();
  void DrainLocked();  // with flush_mu_ held: swap every buffer out and write it
  void WriteOut(const std::string& data);

  const std::string target_;
  const AccessLogFormat format_;
  const AccessLogOptions options_;
  const std::uint64_t id_;  // never reused: keys this log in the threads' buffer caches
  std::atomic<std::uint64_t> dropped_{0};

  std::mutex registry_mu_;  // taken once per writing thread (registration) and by the flusher
  std::vector<std::shared_ptr<ThreadBuffer>> buffers_;

  std::mutex flush_mu_;  // one drain at a time; guards fd_ and spare_
  int fd_;
  std::string spare_;
  bool write_error_logged_ = false;

  std::mutex wake_mu_;  // guards stopping_ and nudged_
  std::condition_variable wake_cv_;
  bool stopping_ = false;
  bool nudged_ = false;  // a buffer passed a quarter full: drain now
  std::thread flusher_;
};

}  // namespace streamgate::proxy
