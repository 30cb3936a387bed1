// S3BlobStore: blobs as objects in an S3 bucket, through libcurl with its built-in SigV4 signing
// (CURLOPT_AWS_SIGV4). We set x-amz-content-sha256 ourselves (curl 7.88 does not, and Swift's
// s3api requires it), build canonical (sorted, encoded) query strings so curl signs them as
// sent, and keep a pool of easy handles so connections are reused across calls and threads.
//
// Large blobs go as multipart uploads (CreateMultipartUpload, parallel UploadPart, then
// CompleteMultipartUpload; AbortMultipartUpload on any failure, so no partial object is ever
// visible). Integrity: every single PUT and every part is checked against the MD5 ETag the
// server returns, and the completed object's ETag (MD5 of the parts' MD5s, "-<parts>") against
// the one we compute. A multipart object's ETag is not the MD5 of its bytes, so we record the
// part size in the object's metadata (x-amz-meta-sg-part-size) and Get recomputes the
// multipart ETag from the downloaded bytes; objects without it (written by another tool) are
// not checked here. Ranged reads are not checked by the store either way: the repository
// verifies every chunk it reads against its hash id, and packs against their names.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "backup/codec.hpp"
#include "streamgate/backup/blob_store.hpp"

namespace streamgate::backup {
namespace {

using detail::Corrupted;
using detail::IoError;

std::string Hex(const unsigned char* data, unsigned int size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string Digest(const EVP_MD* md, ByteView bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out, &size, md, nullptr) != 1) return {};
  return Hex(out, size);
}

constexpr std::uint64_t kMinPartSize = 5ULL * 1024 * 1024;         // S3: all parts but the last
constexpr std::uint64_t kMaxPartSize = 5ULL * 1024 * 1024 * 1024;  // S3: any part
constexpr std::uint64_t kMaxParts = 10000;

std::uint64_t PartCount(std::uint64_t size, std::uint64_t part_size) {
  return size == 0 ? 1 : (size + part_size - 1) / part_size;
}

// The ETag S3 gives a multipart object: MD5 of the concatenated binary part MD5s, "-<parts>".
std::string MultipartEtag(ByteView bytes, std::uint64_t part_size) {
  const std::uint64_t parts = PartCount(bytes.size(), part_size);
  std::vector<unsigned char> md5s;
  md5s.reserve(parts * 16);
  for (std::uint64_t i = 0; i < parts; ++i) {
    const std::uint64_t begin = i * part_size;
    const std::uint64_t len = std::min<std::uint64_t>(part_size, bytes.size() - begin);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(bytes.data() + begin, len, out, &size, EVP_md5(), nullptr);
    md5s.insert(md5s.end(), out, out + size);
  }
  return Digest(EVP_md5(), md5s) + "-" + std::to_string(parts);
}

// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, '/' stays in paths.
std::string UriEncode(std::string_view in, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kDigits[u >> 4];
      out += kDigits[u & 15];
    }
  }
  return out;
}

std::string XmlUnescape(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '&') {
      out += in[i];
      continue;
    }
    const std::size_t end = in.find(';', i);
    if (end == std::string_view::npos) {
      out += in.substr(i);
      break;
    }
    const std::string_view entity = in.substr(i + 1, end - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.starts_with("#x")) {
      out += static_cast<char>(std::strtol(std::string(entity.substr(2)).c_str(), nullptr, 16));
    } else if (entity.starts_with("#")) {
      out += static_cast<char>(std::strtol(std::string(entity.substr(1)).c_str(), nullptr, 10));
    } else {
      out += in.substr(i, end - i + 1);
    }
    i = end;
  }
  return out;
}

// The text of the first <tag>...</tag> in `xml` from `from`; npos-safe.
std::string_view XmlTag(std::string_view xml, std::string_view tag, std::size_t from = 0) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const std::size_t begin = xml.find(open, from);
  if (begin == std::string_view::npos) return {};
  const std::size_t end = xml.find(close, begin + open.size());
  if (end == std::string_view::npos) return {};
  return xml.substr(begin + open.size(), end - begin - open.size());
}

struct Response {
  long status = 0;
  std::string body;
  std::string etag;
  std::uint64_t content_length = 0;
  bool has_content_length = false;
  std::uint64_t part_size = 0;  // x-amz-meta-sg-part-size of a multipart object
};

std::size_t WriteBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::size_t ReadHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  std::string_view line(data, size * count);
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    if (name == "etag") {
      response->etag = std::string(value);
      std::erase(response->etag, '"');
    } else if (name == "content-length") {
      response->content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      response->has_content_length = true;
    } else if (name == "x-amz-meta-sg-part-size") {
      response->part_size = std::strtoull(std::string(value).c_str(), nullptr, 10);
    }
  }
  return size * count;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class S3BlobStore final : public BlobStore {
 public:
  explicit S3BlobStore(S3Options options) : options_(std::move(options)) {
    while (!options_.endpoint.empty() && options_.endpoint.back() == '/') {
      options_.endpoint.pop_back();
    }
    sigv4_ = "aws:amz:" + options_.region + ":s3";
    key_prefix_ = options_.prefix.empty() ? "" : options_.prefix + "/";
  }
  ~S3BlobStore() override {
    for (CURL* handle : handles_) curl_easy_cleanup(handle);
  }

  Status Put(std::string_view name, ByteView bytes) override {
    if (auto st = ValidateBlobName(name); !st) return st;
    if (bytes.size() > options_.multipart_threshold) return PutMultipart(name, bytes);
    auto response = Request("PUT", ObjectPath(name), "", bytes, {});
    if (response && response->status == 404 && S3Code(response->body) == "NoSuchBucket") {
      // First write into a fresh bucket: create it, then write again.
      if (auto st = CreateBucket(); !st) return st;
      response = Request("PUT", ObjectPath(name), "", bytes, {});
    }
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return Failure(*response, "put '" + std::string(name) + "'");
    // The ETag of a single PUT is the MD5 of what the server stored.
    const std::string md5 = Digest(EVP_md5(), bytes);
    if (!response->etag.empty() && response->etag != md5) {
      return Corrupted("put '" + std::string(name) +
                       "': the server stored a different body (ETag " + response->etag +
                       ", sent MD5 " + md5 + ")");
    }
    return {};
  }

  // HEAD then PUT: see the race documented next to S3Options.
  // S3 (and Swift) have no create-if-absent PUT, so writers first claim the name: each PUTs
  // its own "claims/<name>/<time>-<nonce>" and lists the claims; a writer that sees any other
  // live claim withdraws (kAlreadyExists). Two racing writers may both withdraw, never both win;
  // the winner writes the blob before dropping its claim, so a later writer finds the blob.
  // Claims of writers that died are ignored after kClaimLifetime.
  Status PutExclusive(std::string_view name, ByteView bytes) override {
    static constexpr auto kClaimLifetime = std::chrono::minutes(5);
    static constexpr int kAttempts = 6;
    const std::string claims = "claims/" + std::string(name) + "/";
    for (int attempt = 0;; ++attempt) {
      auto exists = Exists(name);
      if (!exists) return std::unexpected(exists.error());
      if (*exists) return AlreadyExists("blob '" + std::string(name) + "' exists");
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      const std::string claim = claims + std::to_string(now_ms) + "-" + detail::RandomHex(8);
      if (auto st = Put(claim, {}); !st) return st;
      auto listed = List(claims);
      if (!listed) {
        (void)Delete(claim);
        return std::unexpected(listed.error());
      }
      bool rival = false;
      for (const BlobInfo& other : *listed) {
        if (other.name == claim) continue;
        const std::size_t dash = other.name.find('-', claims.size());
        const long long when = std::atoll(other.name.substr(claims.size(), dash).c_str());
        if (now_ms - when > std::chrono::milliseconds(kClaimLifetime).count()) {
          (void)Delete(other.name);  // left by a writer that died
        } else {
          rival = true;
        }
      }
      if (!rival) {
        // A writer whose claim is already gone may have created the blob meanwhile.
        exists = Exists(name);
        Status put = !exists   ? Status(std::unexpected(exists.error()))
                     : *exists ? Status(AlreadyExists("blob '" + std::string(name) + "' exists"))
                               : Put(name, bytes);
        (void)Delete(claim);
        return put;
      }
      (void)Delete(claim);
      if (attempt + 1 == kAttempts) {
        return AlreadyExists("blob '" + std::string(name) + "' is being created by another writer");
      }
      // Rivals withdraw too: back off for a random while so that one of them goes first.
      thread_local std::minstd_rand jitter(std::random_device{}());
      const unsigned window_ms = 20U << std::min(attempt, 3);
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + jitter() % window_ms));
    }
  }

  Result<Bytes> Get(std::string_view name) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    auto response = Request("GET", ObjectPath(name), "", {}, {});
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return Failure(*response, "get '" + std::string(name) + "'");
    Bytes out(response->body.begin(), response->body.end());
    if (response->has_content_length && response->content_length != out.size()) {
      return Corrupted("get '" + std::string(name) + "': got " + std::to_string(out.size()) +
                       " of " + std::to_string(response->content_length) + " bytes");
    }
    // Verify the download against the ETag: a plain MD5, or a multipart ETag we can recompute
    // when the object says what part size it was uploaded with.
    if (response->etag.size() == 32 && Digest(EVP_md5(), out) != response->etag) {
      return Corrupted("get '" + std::string(name) + "': body does not match its ETag");
    }
    if (response->etag.size() > 33 && response->etag[32] == '-' && response->part_size > 0 &&
        MultipartEtag(out, response->part_size) != response->etag) {
      return Corrupted("get '" + std::string(name) + "': body does not match its multipart ETag " +
                       response->etag);
    }
    return out;
  }

  Result<Bytes> GetRange(std::string_view name, std::uint64_t offset,
                         std::uint64_t length) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    if (length == 0) {
      auto size = Size(name);
      if (!size) return std::unexpected(size.error());
      if (offset > *size) {
        return Corrupted("blob '" + std::string(name) + "' is shorter than expected");
      }
      return Bytes{};
    }
    const std::string range =
        "Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
    auto response = Request("GET", ObjectPath(name), "", {}, {range});
    if (!response) return std::unexpected(response.error());
    if (response->status == 416 ||
        ((response->status == 206 || response->status == 200) && response->body.size() < length)) {
      return Corrupted("blob '" + std::string(name) + "' is shorter than expected");
    }
    if (response->status == 200) {
      // A server that ignored the Range header sent the whole object.
      if (response->body.size() < offset + length) {
        return Corrupted("blob '" + std::string(name) + "' is shorter than expected");
      }
      const auto first = response->body.begin() + static_cast<std::ptrdiff_t>(offset);
      return Bytes(first, first + static_cast<std::ptrdiff_t>(length));
    }
    if (response->status != 206) {
      return Failure(*response, "get range of '" + std::string(name) + "'");
    }
    if (response->body.size() != length) {
      return Corrupted("get range of '" + std::string(name) + "': got " +
                       std::to_string(response->body.size()) + " bytes, wanted " +
                       std::to_string(length));
    }
    return Bytes(response->body.begin(), response->body.end());
  }

  Result<bool> Exists(std::string_view name) const override {
    auto size = Size(name);
    if (size) return true;
    if (size.error().code() == ErrorCode::kNotFound) return false;
    return std::unexpected(size.error());
  }

  Result<std::uint64_t> Size(std::string_view name) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    auto response = Request("HEAD", ObjectPath(name), "", {}, {});
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return Failure(*response, "head '" + std::string(name) + "'");
    return response->content_length;
  }

  Result<std::vector<BlobInfo>> List(std::string_view prefix) const override {
    std::vector<BlobInfo> out;
    const std::string full_prefix = key_prefix_ + std::string(prefix);
    std::string token;
    for (;;) {
      // Parameters in canonical (sorted, encoded) order so curl signs exactly what is sent.
      std::string query;
      if (!token.empty()) query += "continuation-token=" + UriEncode(token, false) + "&";
      query += "list-type=2&max-keys=" + std::to_string(options_.list_page_size);
      if (!full_prefix.empty()) query += "&prefix=" + UriEncode(full_prefix, false);
      auto response = Request("GET", BucketPath(), query, {}, {});
      if (!response) return std::unexpected(response.error());
      if (response->status == 404 && S3Code(response->body) == "NoSuchBucket") return out;
      if (response->status != 200) return Failure(*response, "list '" + full_prefix + "'");
      const std::string_view xml = response->body;
      std::size_t pos = 0;
      while ((pos = xml.find("<Contents>", pos)) != std::string_view::npos) {
        const std::size_t end = xml.find("</Contents>", pos);
        if (end == std::string_view::npos) break;
        const std::string_view item = xml.substr(pos, end - pos);
        std::string key = XmlUnescape(XmlTag(item, "Key"));
        const std::string size(XmlTag(item, "Size"));
        if (key.starts_with(full_prefix) && key.size() > key_prefix_.size()) {
          out.push_back({key.substr(key_prefix_.size()), std::strtoull(size.c_str(), nullptr, 10)});
        }
        pos = end;
      }
      if (XmlTag(xml, "IsTruncated") != "true") break;
      token = XmlUnescape(XmlTag(xml, "NextContinuationToken"));
      if (token.empty()) return IoError("list '" + full_prefix + "': truncated page without token");
    }
    std::sort(out.begin(), out.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.name < b.name; });
    return out;
  }

  Status Delete(std::string_view name) override {
    if (auto st = ValidateBlobName(name); !st) return st;
    auto response = Request("DELETE", ObjectPath(name), "", {}, {});
    if (!response) return std::unexpected(response.error());
    if (response->status == 204 || response->status == 200 || response->status == 404) return {};
    return Failure(*response, "delete '" + std::string(name) + "'");
  }

  std::string Location() const override {
    return "s3://" + options_.bucket + (options_.prefix.empty() ? "" : "/" + options_.prefix);
  }

  unsigned PreferredWriteConcurrency() const override { return options_.upload_concurrency; }
  // A request costs a round trip: restores read 4 MiB windows of a pack, not chunk by chunk.
  std::uint64_t PreferredReadSize() const override { return 4ULL << 20; }

 private:
  Status CreateBucket() {
    auto created = Request("PUT", BucketPath(), "", {}, {});
    if (!created) return std::unexpected(created.error());
    if (created->status != 200 && created->status != 409) {
      return Failure(*created, "create bucket '" + options_.bucket + "'");
    }
    return {};
  }

  // CreateMultipartUpload, the parts on up to upload_concurrency threads (each request retried
  // as usual), CompleteMultipartUpload; on any failure AbortMultipartUpload, so the object
  // never appears half written and an earlier version stays as it was.
  Status PutMultipart(std::string_view name, ByteView bytes) {
    const std::string what = "multipart put '" + std::string(name) + "'";
    const std::uint64_t part_size = options_.part_size;
    const std::uint64_t parts = PartCount(bytes.size(), part_size);
    if (parts > kMaxParts) {
      return InvalidArgument(what + ": " + std::to_string(bytes.size()) + " bytes need " +
                             std::to_string(parts) + " parts of " + std::to_string(part_size) +
                             " bytes; S3 allows " + std::to_string(kMaxParts));
    }
    const std::string path = ObjectPath(name);
    const std::vector<std::string> meta = {"Content-Type: application/octet-stream",
                                           "x-amz-meta-sg-part-size: " + std::to_string(part_size)};
    auto created = Request("POST", path, "uploads=", {}, meta);
    if (created && created->status == 404 && S3Code(created->body) == "NoSuchBucket") {
      if (auto st = CreateBucket(); !st) return st;
      created = Request("POST", path, "uploads=", {}, meta);
    }
    if (!created) return std::unexpected(created.error());
    if (created->status != 200) return Failure(*created, what + ": create upload");
    const std::string upload_id = XmlUnescape(XmlTag(created->body, "UploadId"));
    if (upload_id.empty()) return IoError(what + ": the server sent no UploadId");
    const std::string upload_query = "uploadId=" + UriEncode(upload_id, false);

    // The parts: workers take the next part number until all are sent or one fails.
    std::vector<std::string> etags(parts);
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::optional<Error> error;
    auto send_parts = [&] {
      for (std::uint64_t i = next++; i < parts && !failed; i = next++) {
        const std::uint64_t begin = i * part_size;
        const ByteView part =
            bytes.subspan(begin, std::min<std::uint64_t>(part_size, bytes.size() - begin));
        const std::string part_what =
            what + " part " + std::to_string(i + 1) + "/" + std::to_string(parts);
        Status st;
        auto response = Request(
            "PUT", path, "partNumber=" + std::to_string(i + 1) + "&" + upload_query, part, {});
        if (!response) {
          st = std::unexpected(
              Error(response.error().code(), part_what + ": " + response.error().message()));
        } else if (response->status != 200) {
          st = Failure(*response, part_what);
        } else if (const std::string md5 = Digest(EVP_md5(), part); response->etag != md5) {
          st = Corrupted(part_what + ": the server stored a different body (ETag " +
                         response->etag + ", sent MD5 " + md5 + ")");
        } else {
          etags[i] = md5;
        }
        if (!st) {
          std::lock_guard lock(error_mutex);
          if (!error) error = st.error();
          failed = true;
          return;
        }
      }
    };
    {
      std::vector<std::jthread> helpers;
      const std::uint64_t threads = std::min<std::uint64_t>(options_.upload_concurrency, parts);
      for (std::uint64_t t = 1; t < threads; ++t) helpers.emplace_back(send_parts);
      send_parts();
    }
    if (error) return Abort(path, upload_query, *error);

    std::string xml = "<CompleteMultipartUpload>";
    for (std::uint64_t i = 0; i < parts; ++i) {
      xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" + etags[i] +
             "\"</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    const std::string expected = MultipartEtag(bytes, part_size);
    auto completed =
        Request("POST", path, upload_query,
                ByteView(reinterpret_cast<const std::uint8_t*>(xml.data()), xml.size()),
                {"Content-Type: application/xml"});
    if (!completed) return Abort(path, upload_query, completed.error());
    if (completed->status == 404 && S3Code(completed->body) == "NoSuchUpload") {
      // A retried Complete whose first attempt did complete (the answer was lost): the upload
      // is gone and the object is there. Accept it only when it is ours.
      auto head = Request("HEAD", path, "", {}, {});
      if (head && head->status == 200 && head->etag == expected) return {};
    }
    // Complete can fail after a 200 status line (the server sends it before it is done).
    if (completed->status != 200 || completed->body.find("<Error>") != std::string::npos) {
      const auto failure = Failure(*completed, what + ": complete upload");
      return Abort(path, upload_query, failure.error());
    }
    const std::string etag = XmlUnescape(XmlTag(completed->body, "ETag"));
    std::string got = etag;
    std::erase(got, '"');
    if (!got.empty() && got != expected) {
      return Corrupted(what + ": the server assembled a different object (ETag " + got +
                       ", expected " + expected + ")");
    }
    return {};
  }

  // Best effort: a failed abort leaves invisible parts (a bucket lifecycle rule for incomplete
  // multipart uploads removes them); the caller's error says so.
  Status Abort(const std::string& path, const std::string& upload_query, const Error& cause) {
    auto aborted = Request("DELETE", path, upload_query, {}, {});
    if (aborted && (aborted->status == 204 || aborted->status == 200 || aborted->status == 404)) {
      return std::unexpected(cause);
    }
    const std::string why =
        aborted ? "HTTP " + std::to_string(aborted->status) : aborted.error().message();
    return std::unexpected(Error(cause.code(), cause.message() +
                                                   " (aborting the upload failed: " + why +
                                                   "; its parts stay invisible until "
                                                   "removed)"));
  }

  std::string BucketPath() const { return "/" + UriEncode(options_.bucket, false); }
  std::string ObjectPath(std::string_view name) const {
    return BucketPath() + "/" + UriEncode(key_prefix_ + std::string(name), true);
  }

  static std::string S3Code(std::string_view body) { return std::string(XmlTag(body, "Code")); }

  // Turns a non-success answer into an error that names the problem.
  std::unexpected<Error> Failure(const Response& response, const std::string& what) const {
    const std::string code = S3Code(response.body);
    const std::string where = " (" + Location() + " at " + options_.endpoint + ")";
    if (response.status == 404) {
      if (code == "NoSuchBucket")
        return NotFound(what + ": bucket '" + options_.bucket + "' does not exist" + where);
      return NotFound(what + ": no such blob" + where);
    }
    if (code == "SignatureDoesNotMatch") {
      return FailedPrecondition(
          what +
          ": the S3 server rejected our signature (SignatureDoesNotMatch): the secret "
          "access key does not belong to access key id '" +
          options_.access_key_id + "' (check AWS_SECRET_ACCESS_KEY), or the region '" +
          options_.region + "' is wrong" + where);
    }
    if (code == "InvalidAccessKeyId") {
      return FailedPrecondition(what + ": the S3 server does not know access key id '" +
                                options_.access_key_id + "' (InvalidAccessKeyId)" + where);
    }
    if (response.status == 403) {
      return FailedPrecondition(what + ": access denied (" + (code.empty() ? "403" : code) + ")" +
                                where);
    }
    if (response.status >= 500) {
      return MakeError(ErrorCode::kUnavailable,
                       what + ": server error " + std::to_string(response.status) + " " + code +
                           " after " + std::to_string(options_.max_attempts) + " attempts" + where);
    }
    const std::string_view message = XmlTag(response.body, "Message");
    return IoError(what + ": HTTP " + std::to_string(response.status) + " " + code + " " +
                   std::string(message) + where);
  }

  CURL* AcquireHandle() const {
    {
      std::lock_guard lock(mutex_);
      if (!handles_.empty()) {
        CURL* handle = handles_.back();
        handles_.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }
  void ReleaseHandle(CURL* handle) const {
    std::lock_guard lock(mutex_);
    if (handles_.size() < kMaxHandles) {
      handles_.push_back(handle);
    } else {
      curl_easy_cleanup(handle);
    }
  }

  // One signed request, retried with exponential backoff on 5xx and transport failures.
  Result<Response> Request(std::string_view method, const std::string& path,
                           const std::string& query, ByteView body,
                           const std::vector<std::string>& extra_headers) const {
    const std::string url = options_.endpoint + path + (query.empty() ? "" : "?" + query);
    const std::string hash_header = "x-amz-content-sha256: " + Digest(EVP_sha256(), body);
    auto backoff = options_.initial_backoff;
    std::string last_error;
    bool timed_out = false;
    for (int attempt = 1;; ++attempt) {
      CURL* handle = AcquireHandle();
      if (handle == nullptr) return MakeError(ErrorCode::kInternal, "curl_easy_init failed");
      Response response;
      curl_slist* headers = nullptr;
      headers = curl_slist_append(headers, hash_header.c_str());
      // No "Expect:" override: curl 7.88 signs a disabled header as if it were sent, and the
      // server then computes a different signature.
      const bool typed =
          std::any_of(extra_headers.begin(), extra_headers.end(),
                      [](const std::string& h) { return h.starts_with("Content-Type:"); });
      if ((method == "PUT" || method == "POST") && !typed) {
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      }
      for (const auto& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
      curl_easy_reset(handle);
      curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
      curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, sigv4_.c_str());
      curl_easy_setopt(handle, CURLOPT_USERNAME, options_.access_key_id.c_str());
      curl_easy_setopt(handle, CURLOPT_PASSWORD, options_.secret_access_key.c_str());
      curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
      if (!options_.ca_file.empty())
        curl_easy_setopt(handle, CURLOPT_CAINFO, options_.ca_file.c_str());
      curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
      curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(options_.timeout.count() * 1000));
      curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &WriteBody);
      curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response.body);
      curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &ReadHeader);
      curl_easy_setopt(handle, CURLOPT_HEADERDATA, &response);
      if (method == "HEAD") {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
      } else if (method == "PUT" || method == "POST") {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS,
                         body.empty() ? "" : reinterpret_cast<const char*>(body.data()));
      } else if (method != "GET") {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
      }
      const CURLcode rc = curl_easy_perform(handle);
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
      curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
      curl_slist_free_all(headers);
      ReleaseHandle(handle);
      const bool transport_failure = rc != CURLE_OK;
      if (!transport_failure && response.status < 500) return response;
      if (transport_failure) {
        last_error = curl_easy_strerror(rc);
        timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      }
      if (attempt >= options_.max_attempts) {
        if (!transport_failure) return response;  // the caller names the 5xx
        const std::string message = std::string(method) + " " + url + ": " + last_error +
                                    " after " + std::to_string(attempt) + " attempts";
        return MakeError(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable, message);
      }
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }

  static constexpr std::size_t kMaxHandles = 16;
  S3Options options_;
  std::string sigv4_;
  std::string key_prefix_;
  mutable std::mutex mutex_;
  mutable std::vector<CURL*> handles_;
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

void FillS3OptionsFromEnvironment(S3Options& options) {
  if (options.endpoint.empty()) options.endpoint = Env("AWS_ENDPOINT_URL");
  if (options.region.empty()) options.region = Env("AWS_REGION");
  if (options.region.empty()) options.region = Env("AWS_DEFAULT_REGION");
  if (options.access_key_id.empty()) options.access_key_id = Env("AWS_ACCESS_KEY_ID");
  if (options.secret_access_key.empty()) options.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  if (options.ca_file.empty()) options.ca_file = Env("AWS_CA_BUNDLE");
}

Result<std::shared_ptr<BlobStore>> MakeS3BlobStore(S3Options options) {
  if (options.bucket.empty())
    return InvalidArgument("S3 location needs a bucket (s3://bucket/prefix)");
  if (options.bucket.find('/') != std::string::npos) {
    return InvalidArgument("S3 bucket name '" + options.bucket + "' contains '/'");
  }
  while (!options.prefix.empty() && options.prefix.back() == '/') options.prefix.pop_back();
  if (!options.prefix.empty()) {
    if (auto st = ValidateBlobName(options.prefix); !st) {
      return InvalidArgument("S3 prefix '" + options.prefix + "' is not a clean relative path");
    }
  }
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return InvalidArgument("s3://" + options.bucket +
                           " needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (options.region.empty()) options.region = "us-east-1";
  if (options.region.find(':') != std::string::npos) {
    return InvalidArgument("S3 region '" + options.region + "' contains ':'");
  }
  if (options.endpoint.empty())
    options.endpoint = "https://s3." + options.region + ".amazonaws.com";
  if (!options.endpoint.starts_with("http://") && !options.endpoint.starts_with("https://")) {
    return InvalidArgument("S3 endpoint '" + options.endpoint +
                           "' must start with http:// or https://");
  }
  if (options.max_attempts < 1) return InvalidArgument("S3 max_attempts must be at least 1");
  if (options.list_page_size < 1 || options.list_page_size > 1000) {
    return InvalidArgument("S3 list_page_size must be in 1..1000");
  }
  if (options.initial_backoff.count() < 0 || options.timeout.count() <= 0) {
    return InvalidArgument("S3 backoff must be >= 0 and timeout > 0");
  }
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize) {
    return InvalidArgument("S3 part_size " + std::to_string(options.part_size) +
                           " is outside S3's limits (5 MiB to 5 GiB per part)");
  }
  if (options.multipart_threshold < kMinPartSize) {
    return InvalidArgument("S3 multipart_threshold " + std::to_string(options.multipart_threshold) +
                           " is below S3's 5 MiB minimum part size");
  }
  if (options.upload_concurrency < 1 || options.upload_concurrency > 64) {
    return InvalidArgument("S3 upload_concurrency must be in 1..64");
  }
  GlobalInit();
  return std::shared_ptr<BlobStore>(std::make_shared<S3BlobStore>(std::move(options)));
}

}  // namespace streamgate::backup
