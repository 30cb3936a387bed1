// Certificates made at test time with OpenSSL's API: a CA and leaf certificates (P-256 keys)
// for given DNS names, valid now, expired or not yet valid, written as PEM files; and OCSP
// responses about them signed by the CA, written as DER (what `openssl ocsp -respout` writes).
#pragma once

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "streamgate/net/tls.hpp"

namespace streamgate::test {

class TestPki {
 public:
  // Makes a CA ("<name> CA") whose certificate is written to dir/<name>-ca.pem.
  explicit TestPki(std::filesystem::path dir, std::string name = "test")
      : dir_(std::move(dir)), name_(std::move(name)) {
    ca_key_.reset(NewKey());
    ca_cert_.reset(MakeCert(name_ + " CA", {}, ca_key_.get(), nullptr, nullptr, 0, 3650, true));
    ca_file_ = (dir_ / (name_ + "-ca.pem")).string();
    WriteCert(ca_cert_.get(), ca_file_);
  }

  [[nodiscard]] const std::string& ca_file() const { return ca_file_; }

  // A leaf for `dns_names` (the first is also the CN; an "IP:" prefix makes an IP entry),
  // signed by the CA, valid from now + valid_from_days for `days` days (negative days_from: in
  // the past, so valid_from_days = -10 and days = 5 makes an expired certificate).
  [[nodiscard]] net::TlsCertificateFiles Leaf(const std::string& stem,
                                              const std::vector<std::string>& dns_names,
                                              long valid_from_days = -1, long days = 30) {
    KeyPtr key(NewKey());
    X509Ptr cert(MakeCert(dns_names.empty() ? stem : dns_names.front(), dns_names, key.get(),
                          ca_cert_.get(), ca_key_.get(), valid_from_days, days, false));
    net::TlsCertificateFiles files{(dir_ / (stem + ".pem")).string(),
                                   (dir_ / (stem + ".key")).string()};
    WriteCert(cert.get(), files.cert);
    WriteKey(key.get(), files.key);
    return files;
  }

  // An OCSP response about `leaf` (a Leaf() of this CA), signed by the CA, status successful,
  // saying `cert_status` (V_OCSP_CERTSTATUS_GOOD, _REVOKED, _UNKNOWN), produced now and with its
  // nextUpdate `next_update_days` away (negative: already passed). Written to dir/<stem>.der;
  // returns the path.
  [[nodiscard]] std::string OcspStaple(const net::TlsCertificateFiles& leaf,
                                       const std::string& stem,
                                       int cert_status = V_OCSP_CERTSTATUS_GOOD,
                                       long next_update_days = 7) {
    std::FILE* f = std::fopen(leaf.cert.c_str(), "rb");
    if (f == nullptr) throw std::runtime_error("cannot read " + leaf.cert);
    X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!cert) throw std::runtime_error("no certificate in " + leaf.cert);
    OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert.get(), ca_cert_.get());
    OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
    ASN1_TIME* this_update = X509_gmtime_adj(nullptr, -3600);
    ASN1_TIME* next_update = X509_gmtime_adj(nullptr, next_update_days * 86400);
    ASN1_TIME* revoked_at = X509_gmtime_adj(nullptr, -86400);
    const bool added =
        OCSP_basic_add1_status(basic, id, cert_status, OCSP_REVOKED_STATUS_KEYCOMPROMISE,
                               cert_status == V_OCSP_CERTSTATUS_REVOKED ? revoked_at : nullptr,
                               this_update, next_update) != nullptr;
    const bool signed_ok = added && OCSP_basic_sign(basic, ca_cert_.get(), ca_key_.get(),
                                                    EVP_sha256(), nullptr, 0) == 1;
    OCSP_RESPONSE* response =
        signed_ok ? OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic) : nullptr;
    unsigned char* der = nullptr;
    const int length = response != nullptr ? i2d_OCSP_RESPONSE(response, &der) : -1;
    std::string bytes = length > 0 ? std::string(reinterpret_cast<char*>(der), length) : "";
    OPENSSL_free(der);
    OCSP_RESPONSE_free(response);
    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(revoked_at);
    OCSP_BASICRESP_free(basic);
    OCSP_CERTID_free(id);
    if (bytes.empty()) throw std::runtime_error("cannot make an OCSP response");
    const std::string path = (dir_ / (stem + ".der")).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // A fresh key pair's private key alone (for "key does not match" cases).
  [[nodiscard]] std::string OtherKey(const std::string& stem) {
    KeyPtr key(NewKey());
    const std::string path = (dir_ / (stem + ".key")).string();
    WriteKey(key.get(), path);
    return path;
  }

 private:
  struct X509Deleter {
    void operator()(X509* x) const { X509_free(x); }
  };
  struct KeyDeleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  using X509Ptr = std::unique_ptr<X509, X509Deleter>;
  using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

  static EVP_PKEY* NewKey() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) throw std::runtime_error("EVP_EC_gen failed");
    return key;
  }

  static void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) throw std::runtime_error("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  X509* MakeCert(const std::string& cn, const std::vector<std::string>& names, EVP_PKEY* key,
                 X509* issuer, EVP_PKEY* issuer_key, long valid_from_days, long days, bool ca) {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial_);
    X509_time_adj_ex(X509_getm_notBefore(cert), static_cast<int>(valid_from_days), 0, nullptr);
    X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(valid_from_days + days), 0,
                     nullptr);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : subject);
    X509* signer = issuer != nullptr ? issuer : cert;
    if (ca) {
      AddExtension(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
      AddExtension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      AddExtension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
      AddExtension(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
      std::string san;
      for (const std::string& name : names) {
        if (!san.empty()) san += ",";
        san += name.starts_with("IP:") ? name : "DNS:" + name;
      }
      if (!san.empty()) AddExtension(cert, signer, NID_subject_alt_name, san);
    }
    X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
    return cert;
  }

  static void WriteCert(X509* cert, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    PEM_write_X509(f, cert);
    std::fclose(f);
  }

  static void WriteKey(EVP_PKEY* key, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
  }

  std::filesystem::path dir_;
  std::string name_;
  KeyPtr ca_key_;
  X509Ptr ca_cert_;
  std::string ca_file_;
  long serial_ = 0;
};

}  // namespace streamgate::test
