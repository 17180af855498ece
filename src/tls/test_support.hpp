// Test-only helpers for the tls unit tests: a throw-away CA hierarchy built with plain OpenSSL
// (independent of the code under test), PEM/PKCS#12 encoders, temporary directories, and the
// internal key accessor. Must not be included by production code.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <string>
#include <unistd.h>

#include "gatehouse/tls/certificate.hpp"
#include "key_access.hpp"
#include "ossl.hpp"

namespace gatehouse::tls::test {

using namespace ossl;

struct TestCert {
  X509Ptr cert;
  PkeyPtr key;
};

inline PkeyPtr ec_key() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }
inline PkeyPtr rsa_key(unsigned bits) {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}

inline void add_ext_or_fail(X509* x, int nid, void* v, int crit) {
  ASSERT_EQ(X509_add1_ext_i2d(x, nid, v, crit, X509V3_ADD_DEFAULT), 1);
}

// A certificate "CN=<cn>" signed by `issuer` (self-signed when null). `ca` adds
// basicConstraints CA:TRUE and keyUsage keyCertSign+cRLSign.
inline TestCert make_cert(const std::string& cn, const TestCert* issuer, bool ca, PkeyPtr key = nullptr) {
  TestCert t;
  t.key = key ? std::move(key) : ec_key();
  t.cert.reset(X509_new());
  X509* x = t.cert.get();
  X509_set_version(x, X509_VERSION_3);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
  X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : X509_get_subject_name(x));
  X509_set_pubkey(x, t.key.get());
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  bc->ca = ca ? 1 : 0;
  add_ext_or_fail(x, NID_basic_constraints, bc.get(), 1);
  Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
  if (ca) {
    ASN1_BIT_STRING_set_bit(ku.get(), 5, 1);  // keyCertSign
    ASN1_BIT_STRING_set_bit(ku.get(), 6, 1);  // cRLSign
  } else {
    ASN1_BIT_STRING_set_bit(ku.get(), 0, 1);
  }
  add_ext_or_fail(x, NID_key_usage, ku.get(), 1);
  EXPECT_GT(X509_sign(x, issuer ? issuer->key.get() : t.key.get(), EVP_sha256()), 0);
  return t;
}

inline std::string pem(X509* x) {
  auto b = mem_writer();
  PEM_write_bio_X509(b.get(), x);
  return mem_contents(b.get());
}

inline std::string pkcs8_pem(EVP_PKEY* k) {
  auto b = mem_writer();
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return mem_contents(b.get());
}

inline std::string traditional_pem(EVP_PKEY* k) {
  auto b = mem_writer();
  PEM_write_bio_PrivateKey_traditional(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return mem_contents(b.get());
}

inline std::string encrypted_pkcs8_pem(EVP_PKEY* k, const std::string& pass) {
  auto b = mem_writer();
  PEM_write_bio_PKCS8PrivateKey(b.get(), k, EVP_aes_256_cbc(), pass.data(), static_cast<int>(pass.size()), nullptr,
                                nullptr);
  return mem_contents(b.get());
}

// Traditional PEM with a "Proc-Type: 4,ENCRYPTED" header (what `openssl rsa -aes128` writes).
inline std::string encrypted_traditional_pem(EVP_PKEY* k, const std::string& pass) {
  auto b = mem_writer();
  PEM_write_bio_PrivateKey_traditional(b.get(), k, EVP_aes_128_cbc(),
                                       reinterpret_cast<const unsigned char*>(pass.data()),
                                       static_cast<int>(pass.size()), nullptr, nullptr);
  return mem_contents(b.get());
}

// PKCS#12 with OpenSSL 3 defaults (AES-256-CBC, PBKDF2, SHA-256 MAC).
inline std::string pfx(const std::string& pass, EVP_PKEY* key, X509* cert, const std::vector<X509*>& ca) {
  X509StackPtr stack(sk_X509_new_null());
  for (X509* c : ca) {
    X509_up_ref(c);
    sk_X509_push(stack.get(), c);
  }
  Pkcs12Ptr p12(PKCS12_create(pass.c_str(), "gatehouse test", key, cert, stack.get(), 0, 0, 0, 0, 0));
  EXPECT_TRUE(p12);
  if (!p12) return {};
  const int len = i2d_PKCS12(p12.get(), nullptr);
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PKCS12(p12.get(), &p);
  return der;
}

inline X509Ptr read_cert(const std::string& text) {
  auto b = mem_reader(text);
  return X509Ptr(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
}

inline PkeyPtr read_key(const std::string& text) {
  auto b = mem_reader(text);
  std::optional<std::string_view> none;
  return PkeyPtr(PEM_read_bio_PrivateKey(b.get(), nullptr, password_cb, &none));
}

inline const std::string& key_of(const CertificateRecord& r) { return detail::KeyAccess::key_pem(r); }

// Subjects of every certificate in a PEM text, in order.
inline std::vector<std::string> subjects(const std::string& text) {
  std::vector<std::string> out;
  auto b = mem_reader(text);
  for (;;) {
    X509Ptr x(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(x.get()), buf, sizeof buf);
    out.emplace_back(buf);
  }
  ERR_clear_error();
  return out;
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("gatehouse_tls_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& data) const {
    auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << data;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace gatehouse::tls::test
