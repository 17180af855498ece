// Internal OpenSSL helpers for the tls module: unique_ptr owners for every OpenSSL object we
// create, memory BIOs from/to strings, and the OpenSSL error queue as one line of text.
// Must not: prompt on a terminal (password callbacks never fall back to PEM_def_callback), or
// use deprecated API (OPENSSL_NO_DEPRECATED is defined for the whole build).
#pragma once
#include <limits>
#include <memory>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::tls::ossl {

template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Free<ASN1_OCTET_STRING_free>>;
using Asn1BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, Free<ASN1_BIT_STRING_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Free<ASN1_STRING_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Free<ASN1_TIME_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Free<BASIC_CONSTRAINTS_free>>;
using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, Free<EXTENDED_KEY_USAGE_free>>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, Free<PKCS12_free>>;

inline void free_x509_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Free<free_x509_stack>>;

inline void openssl_free(void* p) { OPENSSL_free(p); }
template <class T>
using OsslMem = std::unique_ptr<T, Free<openssl_free>>;

// A read-only memory BIO over `data` (which must outlive it); nullptr if too large.
inline BioPtr mem_reader(std::string_view data) {
  if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

inline BioPtr mem_writer() { return BioPtr(BIO_new(BIO_s_mem())); }

// Contents of a memory BIO (BIO_get_mem_data without its C-style cast).
inline std::string mem_contents(BIO* b) {
  char* p = nullptr;
  long n = BIO_ctrl(b, BIO_CTRL_INFO, 0, &p);
  if (n <= 0 || p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(n));
}

// Drains the thread's OpenSSL error queue; returns the reason of the earliest error ("bad
// decrypt"), or "" when the queue was empty.
inline std::string take_error() {
  std::string first;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    if (!first.empty()) continue;
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) {
      first = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      first = buf;
    }
  }
  return first;
}

// " (reason)" from the error queue, or "" (for appending to a message).
inline std::string error_suffix() {
  auto r = take_error();
  return r.empty() ? std::string() : " (" + r + ")";
}

// PEM password callback: the password in `u` (a const std::optional<std::string_view>*), or
// failure when there is none. Never prompts.
inline int password_cb(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* pw = static_cast<const std::optional<std::string_view>*>(u);
  if (pw == nullptr || !pw->has_value()) return -1;
  const auto& s = **pw;
  if (size < 0 || s.size() > static_cast<std::size_t>(size)) return -1;
  s.copy(buf, s.size());
  return static_cast<int>(s.size());
}

}  // namespace gatehouse::tls::ossl
