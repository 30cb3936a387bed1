#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace streamgate::proxy {

struct AccessLog::ThreadBuffer {
  explicit ThreadBuffer(AccessLogFormat format) : formatter(format) {}

  std::mutex mu;  // the owning thread (Write) and the drain (swap) only
  std::string data;
  AccessLogFormatter formatter;
  bool nudge_sent = false;            // guarded by mu: woke the flusher since the last drain
  std::atomic<bool> orphaned{false};  // the log is gone: the thread's cache may drop it
};

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Per byte: kQuoted when a quoted text field escapes it, kUnquoted when an unquoted one does,
// kJson when a JSON string cannot copy it as is (escapes and bytes of multi-byte UTF-8).
enum : std::uint8_t { kQuoted = 1, kUnquoted = 2, kJson = 4 };
constexpr auto kByteClass = [] {
  std::array<std::uint8_t, 256> table{};
  for (unsigned c = 0; c < 256; ++c) {
    const bool special = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
    if (special) table[c] = kQuoted | kUnquoted | kJson;
  }
  table[' '] = kUnquoted;
  return table;
}();

// nginx's escape=default: `"`, `\`, bytes below 0x20 and from 0x7f become \xHH. With
// `escape_space` a space too (for the unquoted key=value extras). "" becomes "-".
void AppendTextField(std::string_view value, bool escape_space, std::string& out) {
  if (value.empty()) {
    out.push_back('-');
    return;
  }
  const char* run = value.data();
  const char* const end = value.data() + value.size();
  const std::uint8_t mask = escape_space ? kUnquoted : kQuoted;
  for (const char* p = run; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if ((kByteClass[c] & mask) == 0) continue;
    out.append(run, p);
    const char seq[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
    out.append(seq, 4);
    run = p + 1;
  }
  out.append(run, end);
}

// Length of the valid UTF-8 sequence starting at p (p < end, *p >= 0x80), or 0 when invalid
// (stray continuation, overlong form, surrogate, above U+10FFFF, truncated).
std::size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = *p;
  const auto left = static_cast<std::size_t>(end - p);
  auto cont = [&](std::size_t i) { return i < left && (p[i] & 0xc0) == 0x80; };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;   // overlong
    if (c == 0xed && p[1] >= 0xa0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0;   // overlong
    if (c == 0xf4 && p[1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// A JSON string (RFC 8259) with its quotes. Control bytes and DEL as \uXXXX (the common ones as
// \n, \t, ...), invalid UTF-8 as U+FFFD, so the line stays one valid UTF-8 JSON text.
void AppendJsonString(std::string_view value, std::string& out) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  const auto* const end = p + value.size();
  const auto* run = p;
  auto flush_run = [&](const unsigned char* to) {
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(to - run));
  };
  while (p != end) {
    const unsigned char c = *p;
    if ((kByteClass[c] & kJson) == 0) {
      ++p;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t n = Utf8SequenceLength(p, end);
      if (n != 0) {
        p += n;
        continue;
      }
      flush_run(p);
      out.append("\\ufffd");
      run = ++p;
      continue;
    }
    flush_run(p);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char seq[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(seq, 6);
      }
    }
    run = ++p;
  }
  flush_run(p);
  out.push_back('"');
}

void AppendUnsigned(std::uint64_t value, std::string& out) {
  const fmt::format_int text(value);
  out.append(text.data(), text.size());
}

void AppendProtocol(unsigned version, std::string& out) {
  out.append("HTTP/");
  AppendUnsigned(version / 10, out);
  out.push_back('.');
  AppendUnsigned(version % 10, out);
}

// Writes all of `data`, retrying on EINTR and short writes. Returns the bytes written.
std::size_t WriteAll(int fd, const char* data, std::size_t size, int& error) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      return done;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::uint64_t NextLogId() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

struct CachedBuffer {
  std::uint64_t log_id;
  std::shared_ptr<AccessLog::ThreadBuffer> buffer;
};
// This thread's buffers, one per access log it wrote to (normally one).
thread_local std::vector<CachedBuffer> tls_buffers;

}  // namespace

// --- AccessLogFormatter ---------------------------------------------------------------------

void AccessLogFormatter::UpdateSecond(std::int64_t second) {
  using namespace std::chrono;
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_seconds t{seconds(second)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  const int y = static_cast<int>(ymd.year());
  const unsigned mo = static_cast<unsigned>(ymd.month());
  const unsigned d = static_cast<unsigned>(ymd.day());
  const auto h = hms.hours().count();
  const auto mi = hms.minutes().count();
  const auto s = hms.seconds().count();
  auto text =
      fmt::format_to_n(text_time_, sizeof(text_time_) - 1, "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
                       d, kMonths[mo - 1], y, h, mi, s);
  text_time_size_ = std::min(text.size, sizeof(text_time_) - 1);
  auto json = fmt::format_to_n(json_time_, sizeof(json_time_) - 1,
                               "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, mo, d, h, mi, s);
  json_time_size_ = std::min(json.size, sizeof(json_time_) - 1);
  cached_second_ = second;
}

void AccessLogFormatter::Append(const AccessLogEntry& e, std::string& out) {
  using namespace std::chrono;
  const auto since_epoch = duration_cast<milliseconds>(e.time.time_since_epoch());
  const auto second = floor<seconds>(since_epoch);
  if (second.count() != cached_second_) UpdateSecond(second.count());
  const std::uint64_t duration_us =
      e.duration.count() > 0 ? static_cast<std::uint64_t>(e.duration.count()) : 0;

  if (format_ == AccessLogFormat::kText) {
    AppendTextField(e.client, true, out);
    out.append(" - - [");
    out.append(text_time_, text_time_size_);
    out.append("] \"");
    if (e.method.empty() && e.target.empty()) {
      out.push_back('-');
    } else {
      AppendTextField(e.method, false, out);
      out.push_back(' ');
      AppendTextField(e.target, false, out);
      out.push_back(' ');
      AppendProtocol(e.version, out);
    }
    out.append("\" ");
    AppendUnsigned(e.status, out);
    out.push_back(' ');
    AppendUnsigned(e.bytes_sent, out);
    out.append(" \"");
    AppendTextField(e.referer, false, out);
    out.append("\" \"");
    AppendTextField(e.user_agent, false, out);
    out.append("\" ");
    AppendUnsigned(duration_us / 1'000'000, out);
    out.push_back('.');
    const fmt::format_int micros(duration_us % 1'000'000 + 1'000'000);  // zero-padded to 6
    out.append(micros.data() + 1, 6);
    out.append(" backend=");
    AppendTextField(e.backend, true, out);
    out.append(" cache=");
    AppendTextField(e.cache, true, out);
    out.append(" attempts=");
    AppendUnsigned(e.attempts, out);
    out.append(" host=");
    AppendTextField(e.host, true, out);
    out.append(" listener=");
    AppendTextField(e.listener, true, out);
    out.push_back('\n');
    return;
  }

  const auto millis = static_cast<unsigned>((since_epoch - second).count());
  out.append("{\"time\":\"");
  out.append(json_time_, json_time_size_);
  const char frac[6] = {'.',
                        static_cast<char>('0' + millis / 100),
                        static_cast<char>('0' + millis / 10 % 10),
                        static_cast<char>('0' + millis % 10),
                        'Z',
                        '"'};
  out.append(frac, 6);
  out.append(",\"client\":");
  AppendJsonString(e.client, out);
  out.append(",\"listener\":");
  AppendJsonString(e.listener, out);
  out.append(",\"method\":");
  AppendJsonString(e.method, out);
  out.append(",\"target\":");
  AppendJsonString(e.target, out);
  out.append(",\"protocol\":\"");
  AppendProtocol(e.version, out);
  out.append("\",\"host\":");
  AppendJsonString(e.host, out);
  out.append(",\"status\":");
  AppendUnsigned(e.status, out);
  out.append(",\"bytes_sent\":");
  AppendUnsigned(e.bytes_sent, out);
  out.append(",\"duration_us\":");
  AppendUnsigned(duration_us, out);
  out.append(",\"backend\":");
  AppendJsonString(e.backend, out);
  out.append(",\"cache\":");
  AppendJsonString(e.cache, out);
  out.append(",\"user_agent\":");
  AppendJsonString(e.user_agent, out);
  out.append(",\"referer\":");
  AppendJsonString(e.referer, out);
  out.append(",\"attempts\":");
  AppendUnsigned(e.attempts, out);
  out.append("}\n");
}

// --- AccessLog ------------------------------------------------------------------------------

Result<std::shared_ptr<AccessLog>> AccessLog::Open(const std::string& target,
                                                   const std::string& format) {
  return Open(target, format, AccessLogOptions{});
}

Result<std::shared_ptr<AccessLog>> AccessLog::Open(const std::string& target,
                                                   const std::string& format,
                                                   AccessLogOptions options) {
  if (target.empty()) {
    return InvalidArgument("access log target is empty (\"stdout\" or a file path)");
  }
  AccessLogFormat parsed;
  if (format == "text") {
    parsed = AccessLogFormat::kText;
  } else if (format == "json") {
    parsed = AccessLogFormat::kJson;
  } else {
    return InvalidArgument(fmt::format("unknown access log format '{}' (text or json)", format));
  }
  if (options.flush_interval <= std::chrono::milliseconds::zero()) {
    return InvalidArgument("access log flush interval must be positive");
  }
  if (options.max_buffer_bytes < 4096) {
    return InvalidArgument(fmt::format("access log buffer of {} bytes is below the 4096 minimum",
                                       options.max_buffer_bytes));
  }
  int fd = STDOUT_FILENO;
  if (target != "stdout") {
    fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      const int error = errno;
      return MakeError(ErrorCode::kIo, fmt::format("cannot open access log '{}': {}", target,
                                                   std::strerror(error)));
    }
  }
  try {
    return std::shared_ptr<AccessLog>(new AccessLog(target, parsed, options, fd));
  } catch (const std::system_error& e) {  // the flusher thread could not start
    if (fd != STDOUT_FILENO) ::close(fd);
    return MakeError(ErrorCode::kInternal,
                     fmt::format("access log '{}': cannot start its writer: {}", target, e.what()));
  }
}

AccessLog::AccessLog(std::string target, AccessLogFormat format, AccessLogOptions options, int fd)
    : target_(std::move(target)),
      format_(format),
      options_(options),
      id_(NextLogId()),
      fd_(fd),
      flusher_([this] { FlusherLoop(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_one();
  flusher_.join();
  std::lock_guard lock(flush_mu_);
  DrainLocked();
  std::lock_guard registry(registry_mu_);
  for (const auto& buffer : buffers_) buffer->orphaned.store(true, std::memory_order_relaxed);
  if (fd_ != STDOUT_FILENO) ::close(fd_);
}

AccessLog::ThreadBuffer& AccessLog::BufferForThisThread() {
  for (const auto& cached : tls_buffers) {
    if (cached.log_id == id_) return *cached.buffer;
  }
  // First write of this thread to this log: forget buffers of logs that are gone, register.
  std::erase_if(tls_buffers, [](const CachedBuffer& cached) {
    return cached.buffer->orphaned.load(std::memory_order_relaxed);
  });
  auto buffer = std::make_shared<ThreadBuffer>(format_);
  {
    std::lock_guard lock(registry_mu_);
    buffers_.push_back(buffer);
  }
  tls_buffers.push_back({id_, buffer});
  return *buffer;
}

void AccessLog::Write(const AccessLogEntry& entry) {
  ThreadBuffer& buffer = BufferForThisThread();
  bool wake = false;
  {
    std::lock_guard lock(buffer.mu);
    const std::size_t before = buffer.data.size();
    buffer.formatter.Append(entry, buffer.data);
    if (buffer.data.size() > options_.max_buffer_bytes) {
      buffer.data.resize(before);
      dropped_.fetch_add(1, std::memory_order_relaxed);
    } else if (!buffer.nudge_sent && buffer.data.size() >= options_.max_buffer_bytes / 4) {
      buffer.nudge_sent = true;
      wake = true;
    }
  }
  if (wake) {
    // Once per quarter buffer, so the mutex shared with other threads stays off the per-line path.
    {
      std::lock_guard lock(wake_mu_);
      nudged_ = true;
    }
    wake_cv_.notify_one();
  }
}

void AccessLog::Flush() {
  std::lock_guard lock(flush_mu_);
  DrainLocked();
}

Status AccessLog::Reopen() {
  if (target_ == "stdout") {
    Flush();
    return {};
  }
  std::lock_guard lock(flush_mu_);
  DrainLocked();
  const int fd = ::open(target_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    const int error = errno;
    return MakeError(
        ErrorCode::kIo,
        fmt::format("cannot reopen access log '{}': {} (still writing to the old file)", target_,
                    std::strerror(error)));
  }
  ::close(fd_);
  fd_ = fd;
  write_error_logged_ = false;
  return {};
}

void AccessLog::FlusherLoop() {
  std::unique_lock lock(wake_mu_);
  while (!stopping_) {
    wake_cv_.wait_for(lock, options_.flush_interval, [this] { return stopping_ || nudged_; });
    if (stopping_) break;
    nudged_ = false;
    lock.unlock();
    {
      std::lock_guard flush(flush_mu_);
      DrainLocked();
    }
    lock.lock();
  }
}

void AccessLog::DrainLocked() {
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  {
    std::lock_guard lock(registry_mu_);
    // Buffers of threads that ended (only the registry holds them) go once written out.
    std::erase_if(buffers_, [](const std::shared_ptr<ThreadBuffer>& buffer) {
      if (buffer.use_count() != 1) return false;
      std::lock_guard buffer_lock(buffer->mu);
      return buffer->data.empty();
    });
    buffers = buffers_;
  }
  for (const auto& buffer : buffers) {
    {
      std::lock_guard lock(buffer->mu);
      if (buffer->data.empty()) continue;
      buffer->data.swap(spare_);
      buffer->nudge_sent = false;
    }
    WriteOut(spare_);
    spare_.clear();
  }
}

void AccessLog::WriteOut(const std::string& data) {
  const char* p = data.data();
  const char* const end = p + data.size();
  int error = 0;
  while (p != end && error == 0) {
    // To stdout (often a pipe shared with the daemon's own log) in whole lines of at most
    // PIPE_BUF bytes, which a pipe writes atomically; a file takes everything at once.
    std::size_t chunk = static_cast<std::size_t>(end - p);
    if (fd_ == STDOUT_FILENO && chunk > PIPE_BUF) {
      const std::string_view window(p, PIPE_BUF);
      const std::size_t last_newline = window.rfind('\n');
      if (last_newline != std::string_view::npos) {
        chunk = last_newline + 1;
      } else {  // one line longer than PIPE_BUF: on its own
        const void* newline = std::memchr(p, '\n', chunk);
        if (newline != nullptr)
          chunk = static_cast<std::size_t>(static_cast<const char*>(newline) - p) + 1;
      }
    }
    p += WriteAll(fd_, p, chunk, error);
  }
  if (error == 0) {
    write_error_logged_ = false;
    return;
  }
  // The lines not (fully) written are lost; count them.
  const auto lost = static_cast<std::uint64_t>(std::count(p, end, '\n'));
  dropped_.fetch_add(lost, std::memory_order_relaxed);
  if (!write_error_logged_) {
    write_error_logged_ = true;
    spdlog::warn(
        "access log '{}': write failed: {}; {} line(s) lost (further failures are "
        "counted in dropped lines, not logged, until a write succeeds)",
        target_, std::strerror(error), lost);
  }
}

}  // namespace streamgate::proxy
