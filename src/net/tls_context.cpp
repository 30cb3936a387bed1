// TLS contexts (OpenSSL 3 through Boost.Asio SSL) and the certificate checks of check-config.
// Nothing here implements TLS: it only configures OpenSSL.
#include "net/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <iterator>
#include <string_view>
#include <utility>

namespace streamgate::net {
namespace {

namespace ssl = boost::asio::ssl;

// Tickets and session ids of one listener belong to it only.
constexpr unsigned char kSessionIdContext[] = "streamgate";

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

Result<FilePtr> OpenFile(const std::string& path, std::string_view what) {
  if (path.empty()) return InvalidArgument(std::string(what) + " file is not set");
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return MakeError(ErrorCode::kIo, std::string(what) + " " + path + ": " +
                                         std::error_code(errno, std::generic_category()).message());
  }
  return file;
}

Result<X509Ptr> ReadLeaf(const std::string& path) {
  auto file = OpenFile(path, "certificate");
  if (!file) return std::unexpected(file.error());
  X509Ptr cert(PEM_read_X509(file->get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return InvalidArgument("certificate " + path + ": no PEM certificate (" + OpenSslErrors() +
                           ")");
  }
  return cert;
}

Result<KeyPtr> ReadKey(const std::string& path) {
  auto file = OpenFile(path, "key");
  if (!file) return std::unexpected(file.error());
  KeyPtr key(PEM_read_PrivateKey(file->get(), nullptr, nullptr, nullptr));
  if (!key) {
    return InvalidArgument("key " + path + ": no PEM private key (" + OpenSslErrors() + ")");
  }
  return key;
}

// subjectAltName DNS names, or the subject CN when there is no DNS name; lower case.
std::vector<std::string> NamesOf(X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(
          Lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<std::size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      names.push_back(
          Lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                 static_cast<std::size_t>(ASN1_STRING_length(cn)))));
    }
  }
  return names;
}

WallTime ToWallTime(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return WallTime{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// "*.example.com" matches "a.example.com" (one label), not "example.com" or "a.b.example.com".
bool WildcardMatches(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return false;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
  const std::string_view label = host.substr(0, host.size() - suffix.size());
  return label.find('.') == std::string_view::npos;
}

Status SetMinVersion(SSL_CTX* ctx, TlsVersion version) {
  const int v = version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, v) != 1) {
    return InvalidArgument("min_version: " + OpenSslErrors());
  }
  return {};
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  const auto* offered = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, offered->data(),
                            static_cast<unsigned int>(offered->size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN (HTTP/1.1)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// What the callbacks of one SSL_CTX need, owned by the SSL_CTX itself (ex_data freed with it):
// a connection holds its SSL_CTX alive, so this outlives any TlsServerContext it came from.
struct CtxData {
  std::shared_ptr<SessionTicketKeys> keys;
  std::vector<unsigned char> staple;  // DER OCSP response; empty: none
};

void FreeCtxData(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<CtxData*>(ptr);
}

int CtxDataIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeCtxData);
  return index;
}

const CtxData* DataOf(SSL* ssl) {
  return static_cast<const CtxData*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CtxDataIndex()));
}

int OnTicketKey(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                EVP_MAC_CTX* mac, int encrypt) {
  const CtxData* data = DataOf(ssl);
  if (data == nullptr || !data->keys) return encrypt != 0 ? -1 : 0;
  return data->keys->OnTicketKey(key_name, iv, cipher, mac, encrypt);
}

// Asked only when the client sent status_request, on the SSL_CTX the connection ended up on
// (after SNI), whose certificate the staple belongs to.
int OnStatusRequest(SSL* ssl, void*) {
  const CtxData* data = DataOf(ssl);
  if (data == nullptr || data->staple.empty()) return SSL_TLSEXT_ERR_NOACK;
  void* copy = OPENSSL_memdup(data->staple.data(), data->staple.size());
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  // OpenSSL takes ownership of the copy.
  SSL_set_tlsext_status_ocsp_resp(ssl, static_cast<unsigned char*>(copy),
                                  static_cast<long>(data->staple.size()));
  return SSL_TLSEXT_ERR_OK;
}

struct OcspResponseDeleter {
  void operator()(OCSP_RESPONSE* r) const { OCSP_RESPONSE_free(r); }
};
struct OcspBasicDeleter {
  void operator()(OCSP_BASICRESP* r) const { OCSP_BASICRESP_free(r); }
};

// A staple file's bytes, checked: a DER OCSP response, status successful, one single response,
// about the leaf of `cert`. `report` (optional) receives what check-config shows.
Result<std::vector<unsigned char>> ReadStaple(const std::string& path, const std::string& cert,
                                              WallTime now, OcspStapleReport* report) {
  if (path.empty()) return InvalidArgument("OCSP staple file is not set");
  const std::string what = "OCSP staple " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kIo,
                     what + ": " + std::error_code(errno, std::generic_category()).message());
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError(ErrorCode::kIo, what + ": read error");
  const unsigned char* cursor = bytes.data();
  std::unique_ptr<OCSP_RESPONSE, OcspResponseDeleter> response(
      d2i_OCSP_RESPONSE(nullptr, &cursor, static_cast<long>(bytes.size())));
  if (!response || cursor != bytes.data() + bytes.size()) {
    ERR_clear_error();
    return InvalidArgument(what + ": not a DER OCSP response");
  }
  const int status = OCSP_response_status(response.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return InvalidArgument(what + ": responder status is '" + OCSP_response_status_str(status) +
                           "', not successful");
  }
  std::unique_ptr<OCSP_BASICRESP, OcspBasicDeleter> basic(OCSP_response_get1_basic(response.get()));
  if (!basic || OCSP_resp_count(basic.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument(what + ": expected exactly one certificate status");
  }
  OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), 0);
  const ASN1_INTEGER* serial = nullptr;
  OCSP_id_get0_info(nullptr, nullptr, nullptr, const_cast<ASN1_INTEGER**>(&serial),
                    const_cast<OCSP_CERTID*>(OCSP_SINGLERESP_get0_id(single)));
  auto leaf = ReadLeaf(cert);
  if (!leaf) return std::unexpected(leaf.error());
  if (serial == nullptr || ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf->get())) != 0) {
    return InvalidArgument(what + ": is about another certificate than " + cert +
                           " (serial numbers differ)");
  }
  if (report != nullptr) {
    int reason = 0;
    ASN1_GENERALIZEDTIME* revoked_at = nullptr;
    ASN1_GENERALIZEDTIME* this_update = nullptr;
    ASN1_GENERALIZEDTIME* next_update = nullptr;
    const int cert_status =
        OCSP_single_get0_status(single, &reason, &revoked_at, &this_update, &next_update);
    report->cert_status = OCSP_cert_status_str(cert_status);
    if (this_update != nullptr) report->this_update = ToWallTime(this_update);
    if (next_update != nullptr) {
      report->next_update = ToWallTime(next_update);
      report->stale = *report->next_update < now;
    }
  }
  return bytes;
}

}  // namespace

// ---- session tickets ------------------------------------------------------------------------

SessionTicketKeys::Snapshot::~Snapshot() { OPENSSL_cleanse(keys.data(), sizeof(keys)); }

SessionTicketKeys::SessionTicketKeys(const Clock& clock, std::chrono::seconds rotation)
    : clock_(clock), rotation_(rotation), start_(clock.Now()) {}

SessionTicketKeys::~SessionTicketKeys() {
  for (auto& key : words_) {
    for (auto& word : key) word.store(0, std::memory_order_relaxed);
  }
}

bool SessionTicketKeys::NewKey(Key& key) {
  return RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) == 1 &&
         RAND_priv_bytes(key.aes.data(), static_cast<int>(key.aes.size())) == 1 &&
         RAND_priv_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) == 1;
}

namespace {
std::int64_t Nanos(MonoTime time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}
}  // namespace

std::shared_ptr<SessionTicketKeys> SessionTicketKeys::Create(const Clock& clock,
                                                             std::chrono::seconds rotation) {
  if (rotation <= std::chrono::seconds::zero()) return nullptr;
  std::shared_ptr<SessionTicketKeys> self(new SessionTicketKeys(clock, rotation));
  Snapshot first;
  first.next_rotation_ns = Nanos(self->start_ + rotation);
  first.count = 1;
  if (!NewKey(first.keys[0])) {
    ERR_clear_error();
    return nullptr;
  }
  std::lock_guard lock(self->rotate_mu_);
  self->Publish(first);
  return self;
}

// A sequence lock: copy, then check that no rotation wrote meanwhile (every shared word is an
// atomic, so a torn copy is only ever thrown away, never a data race).
SessionTicketKeys::Snapshot SessionTicketKeys::Read() const {
  Snapshot out;
  for (;;) {
    const std::uint64_t before = sequence_.load(std::memory_order_acquire);
    if ((before & 1) != 0) continue;  // a rotation is writing: a few stores, retry
    out.next_rotation_ns = next_rotation_ns_.load(std::memory_order_relaxed);
    out.count = std::min(count_.load(std::memory_order_relaxed), kKeys);
    for (std::size_t k = 0; k < out.count; ++k) {
      std::array<std::uint64_t, kWords> copy;
      for (std::size_t w = 0; w < kWords; ++w) {
        copy[w] = words_[k][w].load(std::memory_order_relaxed);
      }
      std::memcpy(&out.keys[k], copy.data(), sizeof(Key));
      OPENSSL_cleanse(copy.data(), sizeof(copy));
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) return out;
  }
}

void SessionTicketKeys::Publish(const Snapshot& snapshot) {
  const std::uint64_t sequence = sequence_.load(std::memory_order_relaxed);
  sequence_.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  next_rotation_ns_.store(snapshot.next_rotation_ns, std::memory_order_relaxed);
  count_.store(snapshot.count, std::memory_order_relaxed);
  for (std::size_t k = 0; k < snapshot.count; ++k) {
    std::array<std::uint64_t, kWords> copy;
    std::memcpy(copy.data(), &snapshot.keys[k], sizeof(Key));
    for (std::size_t w = 0; w < kWords; ++w) {
      words_[k][w].store(copy[w], std::memory_order_relaxed);
    }
    OPENSSL_cleanse(copy.data(), sizeof(copy));
  }
  sequence_.store(sequence + 2, std::memory_order_release);
}

SessionTicketKeys::Snapshot SessionTicketKeys::Current() {
  Snapshot current = Read();
  const MonoTime now = clock_.Now();
  if (Nanos(now) < current.next_rotation_ns) return current;
  std::lock_guard lock(rotate_mu_);
  current = Read();
  if (Nanos(now) < current.next_rotation_ns) return current;  // another thread rotated
  const std::int64_t generation = (now - start_) / rotation_;
  Snapshot next;
  next.next_rotation_ns = Nanos(start_ + rotation_ * (generation + 1));
  // Fresh keys for the generations that began (at most kKeys), then the old ones still in reach.
  const auto fresh = static_cast<std::size_t>(
      std::min<std::int64_t>(generation - generation_, static_cast<std::int64_t>(kKeys)));
  for (; next.count < fresh; ++next.count) {
    if (!NewKey(next.keys[next.count])) {
      ERR_clear_error();
      spdlog::error("tls: cannot make a session-ticket key; keeping the current ones");
      return current;  // retried at the next handshake
    }
  }
  for (std::size_t i = 0; i < current.count && next.count < kKeys; ++i) {
    next.keys[next.count++] = current.keys[i];
  }
  generation_ = generation;
  Publish(next);
  return next;
}

int SessionTicketKeys::OnTicketKey(unsigned char* key_name, unsigned char* iv,
                                   EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  const Snapshot ring = Current();
  const Key* key = nullptr;
  std::size_t index = 0;
  if (encrypt != 0) {
    key = &ring.keys[0];
    std::memcpy(key_name, key->name.data(), key->name.size());
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
  } else {
    for (; index < ring.count; ++index) {
      if (std::memcmp(key_name, ring.keys[index].name.data(), sizeof(Key::name)) == 0) {
        key = &ring.keys[index];
        break;
      }
    }
    if (key == nullptr) return 0;  // unknown or retired key: full handshake
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac.data()), key->hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  const int ok = encrypt != 0
                     ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv)
                     : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv);
  if (ok != 1) return -1;
  // An older key still decrypts; 2 asks OpenSSL to issue a new ticket under the newest.
  return encrypt != 0 || index == 0 ? 1 : 2;
}

std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<CertificateReport> InspectCertificate(const TlsCertificateFiles& files, WallTime now) {
  auto cert = ReadLeaf(files.cert);
  if (!cert) return std::unexpected(cert.error());
  auto key = ReadKey(files.key);
  if (!key) return std::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("key " + files.key + " does not match certificate " + files.cert);
  }
  CertificateReport report;
  report.names = NamesOf(cert->get());
  report.not_before = ToWallTime(X509_get0_notBefore(cert->get()));
  report.not_after = ToWallTime(X509_get0_notAfter(cert->get()));
  report.expired = report.not_after < now;
  report.not_yet_valid = report.not_before > now;
  return report;
}

Result<OcspStapleReport> InspectOcspStaple(const std::string& path, const std::string& cert,
                                           WallTime now) {
  OcspStapleReport report;
  auto bytes = ReadStaple(path, cert, now, &report);
  if (!bytes) return std::unexpected(bytes.error());
  return report;
}

Status CheckCaFile(const std::string& path) {
  auto file = OpenFile(path, "CA");
  if (!file) return std::unexpected(file.error());
  X509Ptr cert(PEM_read_X509(file->get(), nullptr, nullptr, nullptr));
  if (!cert)
    return InvalidArgument("CA " + path + ": no PEM certificate (" + OpenSslErrors() + ")");
  return {};
}

// ---- server ---------------------------------------------------------------------------------

TlsServerContext::~TlsServerContext() = default;

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    const TlsServerOptions& options, std::shared_ptr<SessionTicketKeys> keys) {
  if (options.certificates.empty()) return InvalidArgument("tls: no certificate given");
  if (options.session_lifetime <= std::chrono::seconds::zero()) {
    return InvalidArgument("tls.session_lifetime must be positive");
  }
  if (!keys) {
    keys = SessionTicketKeys::Create(RealClock(), options.session_ticket_rotation);
    if (!keys) {
      return InvalidArgument(
          "tls.session_ticket_rotation must be positive (or the random generator failed)");
    }
  }
  if (CtxDataIndex() < 0) return MakeError(ErrorCode::kInternal, "tls: no SSL_CTX ex_data index");
  std::shared_ptr<TlsServerContext> self(new TlsServerContext());
  self->keys_ = std::move(keys);
  for (const std::string& protocol : options.alpn) {
    if (protocol.empty() || protocol.size() > 255) {
      return InvalidArgument("tls.alpn: invalid protocol name '" + protocol + "'");
    }
    self->alpn_.push_back(static_cast<unsigned char>(protocol.size()));
    self->alpn_.insert(self->alpn_.end(), protocol.begin(), protocol.end());
  }
  try {
    for (const TlsCertificateFiles& files : options.certificates) {
      // Read first, for messages that name the file (OpenSSL's own say little).
      const WallTime now = std::chrono::system_clock::now();
      auto report = InspectCertificate(files, now);
      if (!report) return std::unexpected(report.error());
      auto data = std::make_unique<CtxData>();
      data->keys = self->keys_;
      if (!files.ocsp_staple.empty()) {
        auto staple = ReadStaple(files.ocsp_staple, files.cert, now, nullptr);
        if (!staple) return std::unexpected(staple.error());
        data->staple = std::move(*staple);
      }
      Entry entry;
      entry.context = std::make_unique<ssl::context>(ssl::context::tls_server);
      SSL_CTX* ctx = entry.context->native_handle();
      SSL_CTX_set_options(
          ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
      if (Status s = SetMinVersion(ctx, options.min_version); !s) return std::unexpected(s.error());
      if (SSL_CTX_set_cipher_list(ctx, options.ciphers.c_str()) != 1) {
        return InvalidArgument("tls.ciphers: no usable cipher in '" + options.ciphers + "'");
      }
      if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
        return InvalidArgument("certificate " + files.cert + ": " + OpenSslErrors());
      }
      if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(ctx) != 1) {
        return InvalidArgument("key " + files.key + ": " + OpenSslErrors());
      }
      SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
      SSL_CTX_set_timeout(ctx, static_cast<long>(options.session_lifetime.count()));
      const bool stapled = !data->staple.empty();
      if (SSL_CTX_set_ex_data(ctx, CtxDataIndex(), data.get()) != 1) {
        return MakeError(ErrorCode::kInternal, "tls: SSL_CTX_set_ex_data: " + OpenSslErrors());
      }
      data.release();  // owned by the SSL_CTX from here on (FreeCtxData)
      // OpenSSL asks the context a connection started on (the first); set on all the same.
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, OnTicketKey);
      if (stapled) SSL_CTX_set_tlsext_status_cb(ctx, OnStatusRequest);
      if (!self->alpn_.empty()) SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, &self->alpn_);
      if (!options.client_ca_file.empty()) {
        if (Status ca = CheckCaFile(options.client_ca_file); !ca) {
          return std::unexpected(ca.error());
        }
        if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1) {
          return InvalidArgument("CA " + options.client_ca_file + ": " + OpenSslErrors());
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
        if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      }
      entry.names = std::move(report->names);
      self->entries_.push_back(std::move(entry));
    }
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("tls context: ") + e.what());
  }
  // Only the context a connection starts on is asked; it may move the connection to another.
  SSL_CTX* first = self->entries_.front().context->native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, OnServerName);
  SSL_CTX_set_tlsext_servername_arg(first, self.get());
  return self;
}

std::size_t TlsServerContext::Select(std::string_view server_name) const {
  if (server_name.empty() || entries_.size() == 1) return 0;
  const std::string host = Lower(server_name);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    for (const std::string& name : entries_[i].names) {
      if (name == host) return i;
    }
  }
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    for (const std::string& name : entries_[i].names) {
      if (WildcardMatches(name, host)) return i;
    }
  }
  return 0;
}

int TlsServerContext::OnServerName(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  const std::size_t index = self->Select(name);
  if (index != 0) SSL_set_SSL_CTX(ssl, self->entries_[index].context->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

// ---- client ---------------------------------------------------------------------------------

Result<std::shared_ptr<TlsClientContext>> TlsClientContext::Create(
    const TlsClientOptions& options) {
  if (options.client_cert.empty() != options.client_key.empty()) {
    return InvalidArgument("tls: client_cert and client_key go together");
  }
  std::shared_ptr<TlsClientContext> self(new TlsClientContext());
  self->options_ = options;
  try {
    self->context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX* ctx = self->context_->native_handle();
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (Status s = SetMinVersion(ctx, TlsVersion::kTls12); !s) return std::unexpected(s.error());
    if (options.verify) {
      if (!options.ca_file.empty()) {
        if (Status ca = CheckCaFile(options.ca_file); !ca) return std::unexpected(ca.error());
        if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
          return InvalidArgument("CA " + options.ca_file + ": " + OpenSslErrors());
        }
      } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return InvalidArgument("tls: cannot load the system CA store: " + OpenSslErrors());
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!options.client_cert.empty()) {
      auto report = InspectCertificate({options.client_cert, options.client_key},
                                       std::chrono::system_clock::now());
      if (!report) return std::unexpected(report.error());
      if (SSL_CTX_use_certificate_chain_file(ctx, options.client_cert.c_str()) != 1) {
        return InvalidArgument("certificate " + options.client_cert + ": " + OpenSslErrors());
      }
      if (SSL_CTX_use_PrivateKey_file(ctx, options.client_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(ctx) != 1) {
        return InvalidArgument("key " + options.client_key + ": " + OpenSslErrors());
      }
    }
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kHttp11, sizeof(kHttp11));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("tls context: ") + e.what());
  }
  return self;
}

Status TlsClientContext::Prepare(SSL* ssl, const std::string& host) const {
  const std::string& name = options_.server_name.empty() ? host : options_.server_name;
  const bool ip = IsIpAddress(name);
  // SNI carries names only (RFC 6066).
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return InvalidArgument("tls: invalid server name '" + name + "'");
  }
  if (!options_.verify) return {};
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str())
                    : SSL_set1_host(ssl, name.c_str());
  if (ok != 1) return InvalidArgument("tls: cannot verify name '" + name + "'");
  return {};
}

}  // namespace streamgate::net
