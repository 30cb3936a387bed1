#include "backup/codec.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <zstd.h>

#include <memory>
#include <stdexcept>

namespace streamgate::backup::detail {
namespace {

// libsodium must be initialised once before use; safe to call from many threads.
void InitSodium() {
  static const int ok = sodium_init();
  if (ok < 0) throw std::runtime_error("libsodium failed to initialise");
}

// Fetched once: EVP_sha256() would re-fetch the implementation on every digest.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

constexpr std::uint8_t kCompressed = 1;
constexpr std::uint8_t kSealed = 2;
constexpr char kObjectMagic[] = "SGO1";

}  // namespace

ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

ChunkId Blake2b256(ByteView data, const Key* key) {
  InitSodium();
  ChunkId out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(),
                     key != nullptr ? key->data() : nullptr, key != nullptr ? key->size() : 0);
  return out;
}

ChunkId Sha256(ByteView data, const Key* key) {
  ChunkId out;
  if (key != nullptr) {
    unsigned int len = 0;
    HMAC(Sha256Md(), key->data(), static_cast<int>(key->size()), data.data(), data.size(),
         out.data(), &len);
    return out;
  }
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, Sha256Md(), nullptr);
  return out;
}

Hasher::Hasher(HashAlgorithm algorithm, std::optional<Key> key) : algorithm_(algorithm), key_(key) {
  InitSodium();
}

ChunkId Hasher::Hash(ByteView data) const {
  const Key* key = key_ ? &*key_ : nullptr;
  return algorithm_ == HashAlgorithm::kSha256 ? Sha256(data, key) : Blake2b256(data, key);
}

ChunkId Hasher::HashPlain(ByteView data) const {
  return algorithm_ == HashAlgorithm::kSha256 ? Sha256(data, nullptr) : Blake2b256(data, nullptr);
}

std::optional<Bytes> Compress(ByteView data, int level) {
  struct CtxFree {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  };
  thread_local std::unique_ptr<ZSTD_CCtx, CtxFree> ctx(ZSTD_createCCtx());
  if (data.size() < 64) return std::nullopt;
  // Must shrink by at least 1/32 to be worth the decompression on restore.
  const std::size_t limit = data.size() - data.size() / 32;
  Bytes out(ZSTD_compressBound(data.size()));
  const std::size_t n =
      ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n) || n >= limit) return std::nullopt;
  out.resize(n);
  return out;
}

Result<Bytes> Decompress(ByteView data, std::size_t raw_size) {
  struct DctxFree {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };
  thread_local std::unique_ptr<ZSTD_DCtx, DctxFree> ctx(ZSTD_createDCtx());
  Bytes out(raw_size);
  const std::size_t n =
      ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) return Corrupted(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != raw_size) return Corrupted("zstd: decompressed size differs from the index");
  return out;
}

Bytes Sealer::Seal(ByteView plain, ByteView aad) const {
  if (!key_) return Bytes(plain.begin(), plain.end());
  InitSodium();
  Bytes out(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plain.size() +
            crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(out.data(), crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, plain.data(), plain.size(),
      aad.data(), aad.size(), nullptr, out.data(), key_->data());
  return out;
}

Result<Bytes> Sealer::Open(ByteView sealed, ByteView aad) const {
  if (!key_) return Bytes(sealed.begin(), sealed.end());
  if (sealed.size() < kOverhead) return Corrupted("sealed data too short");
  Bytes out(sealed.size() - kOverhead);
  unsigned long long mlen = 0;
  const std::uint8_t* nonce = sealed.data();
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &mlen, nullptr, sealed.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          sealed.size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, aad.data(), aad.size(),
          nonce, key_->data()) != 0) {
    return Corrupted("authentication failed (wrong key or damaged data)");
  }
  out.resize(mlen);
  return out;
}

Bytes EncodeObject(ByteView payload, std::string_view kind, const Sealer& sealer) {
  std::uint8_t flags = 0;
  auto compressed = Compress(payload, 3);
  if (compressed) flags |= kCompressed;
  if (sealer.enabled()) flags |= kSealed;
  std::string aad = std::string(kObjectMagic, 4) + static_cast<char>(flags) + std::string(kind);
  Bytes body = sealer.Seal(compressed ? ByteView(*compressed) : payload, AsBytes(aad));
  // magic | flags | raw size u64 (so decompression needs no frame header trust) | body
  const std::uint64_t raw = payload.size();
  Bytes out(13 + body.size());
  std::memcpy(out.data(), kObjectMagic, 4);
  out[4] = flags;
  std::memcpy(out.data() + 5, &raw, 8);
  if (!body.empty()) std::memcpy(out.data() + 13, body.data(), body.size());
  return out;
}

Result<Bytes> DecodeObject(ByteView object, std::string_view kind, const Sealer& sealer) {
  if (object.size() < 13 || std::memcmp(object.data(), kObjectMagic, 4) != 0) {
    return Corrupted(std::string(kind) + ": not a repository object");
  }
  const std::uint8_t flags = object[4];
  if ((flags & kSealed) != 0 && !sealer.enabled()) {
    return Corrupted(std::string(kind) + ": encrypted, but the repository has no key");
  }
  if ((flags & kSealed) == 0 && sealer.enabled()) {
    return Corrupted(std::string(kind) + ": not encrypted in an encrypted repository");
  }
  std::uint64_t raw = 0;
  std::memcpy(&raw, object.data() + 5, 8);
  if (raw > (1ULL << 34)) return Corrupted(std::string(kind) + ": implausible size");
  std::string aad = std::string(kObjectMagic, 4) + static_cast<char>(flags) + std::string(kind);
  auto body = sealer.Open(object.subspan(13), AsBytes(aad));
  if (!body) return Corrupted(std::string(kind) + ": " + body.error().message());
  if ((flags & kCompressed) == 0) {
    if (body->size() != raw) return Corrupted(std::string(kind) + ": size mismatch");
    return body;
  }
  auto plain = Decompress(*body, raw);
  if (!plain) return Corrupted(std::string(kind) + ": " + plain.error().message());
  return plain;
}

std::string RandomHex(std::size_t bytes) {
  InitSodium();
  Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  std::string out(bytes * 2, '0');
  sodium_bin2hex(out.data(), out.size() + 1, b.data(), b.size());
  return out;
}

Key RandomKey() {
  InitSodium();
  Key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

}  // namespace streamgate::backup::detail
