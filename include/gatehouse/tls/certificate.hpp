// Server certificates as values: create a self-signed one, import PEM or PKCS#12 (PFX), describe
// a certificate, export its public part, and the expiry warning the app logs daily. OpenSSL
// work on bytes and values: no files, no database, no logging; the one clock read is the
// default not-before of create_self_signed() (tests pass CreateRequest::not_before instead).
// Must not: expose a private key outside the tls module (CertificateRecord keeps it private; only
// tls code reads it, through src/tls/key_access.hpp), prompt for a password on a terminal, or
// use deprecated OpenSSL API.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/core/error.hpp"

namespace gatehouse::tls {

namespace detail {
struct KeyAccess;  // src/tls/key_access.hpp: the only way to read or set a record's key
}

// What `gatehouse cert create` asks for. Field errors name the CLI option ("--country 'UK': ...").
struct CreateRequest {
  std::string host;          // --host: subject CN and first subjectAltName (DNS name or IP literal)
  std::string organisation;  // --org: subject O (UTF-8, 1..64 characters)
  std::string alt_names;     // --alt: comma-separated DNS names ("*." only as the whole left-most
                             //        label) and IP literals; the host is always included
  std::string key = "rsa:2048";  // --key: rsa:2048 | rsa:3072 | rsa:4096 | ec:p256
  std::string country;       // --country: ISO 3166-1 alpha-2 (any case; stored upper-case); "" = none
  int validity_days = 825;   // --days: 1..3650
  std::optional<core::SysTime> not_before;  // start of validity; nullopt = the current time
};

inline constexpr int kDefaultValidityDays = 825;
inline constexpr int kMaxValidityDays = 3650;

// What describe() reads from a certificate.
struct Description {
  std::string subject;  // RFC 2253 order, most specific first: "CN=mail.example.com,O=Example,C=GB"
  std::string issuer;
  std::string common_name;                // "" when the subject has no CN
  std::vector<std::string> dns_names;     // subjectAltName dNSName entries, in certificate order
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress entries, as text
  std::int64_t not_before = 0;  // Unix seconds, UTC (not core::SysTime: a "9999-12-31" notAfter
  std::int64_t not_after = 0;   // does not fit its nanosecond range)
  std::string serial;              // upper-case hex
  std::string fingerprint_sha256;  // "AB:CD:..." (32 bytes, upper-case hex with colons)
  std::string key_type;            // "RSA 2048", "EC P-256", "Ed25519"
  bool self_signed = false;        // issuer == subject and its own key verifies the signature
};

// A stored (or about to be stored) certificate without key material: what list/show/export and
// every other module see.
struct CertificateInfo : Description {
  std::int64_t id = 0;       // 0 until stored
  bool active = false;       // the certificate the server presents
  std::int64_t created = 0;  // Unix seconds when stored; 0 until stored
  std::string cert_pem;      // the leaf certificate
  std::string chain_pem;     // intermediates, the leaf's issuer first; "" = none
};

// A certificate together with its private key. The key is private: code outside the tls module
// can hold and pass a record (CertStore::add, the TLS context builder) but cannot read the key.
// This is a guard against accidental leaks (a log line, a JSON field), not a security boundary.
class CertificateRecord : public CertificateInfo {
 public:
  CertificateRecord() = default;
  // The public view (slicing drops the key).
  const CertificateInfo& info() const { return *this; }

 private:
  friend struct detail::KeyAccess;
  std::string key_pem_;  // unencrypted PKCS#8 PEM
};

// Creates a key of the requested type and a self-signed certificate: X.509 v3, random positive
// 128-bit serial, SHA-256 signature, subject C/O/CN, subjectAltName (host first, then --alt),
// basicConstraints CA:FALSE (critical), keyUsage digitalSignature (+ keyEncipherment for RSA;
// critical), extendedKeyUsage serverAuth+clientAuth, subjectKeyIdentifier.
Expected<CertificateRecord> create_self_signed(const CreateRequest& req);

// Imports PEM text holding one or more certificates and exactly one private key (PKCS#8,
// traditional "RSA/EC PRIVATE KEY", or encrypted when `password` is given). The certificate
// whose public key matches the key (EVP_PKEY_eq) is the leaf; the others must form its chain,
// which is reordered leaf -> issuer (issuer/subject names and signature checked) and refused
// if any certificate does not link. RSA keys under 2048 bits are refused.
Expected<CertificateRecord> import_pem(std::string_view pem,
                                       std::optional<std::string_view> password = std::nullopt);

// Imports a PKCS#12 (PFX) file (DER bytes) with the same checks. A wrong password is refused
// with "wrong password for the PKCS#12 file"; an empty password also tries the "no password"
// encoding.
Expected<CertificateRecord> import_pfx(std::string_view der, std::string_view password);

// Reads the first certificate of `cert_pem`.
Expected<Description> describe(std::string_view cert_pem);

// Certificate then chain, as PEM. Never the key (CertificateInfo has none).
std::string export_public_pem(const CertificateInfo& cert);

// Unix seconds as ISO 8601 UTC: "2026-11-23T11:45:03Z".
std::string iso8601_utc(std::int64_t unix_seconds);

// Thresholds for expiry_warning().
inline constexpr int kExpiryWarnDays = 30;
inline constexpr int kExpiryUrgentDays = 7;

// The warning to log for `cert` at `now`: within kExpiryWarnDays of not_after ("renew it
// soon"), within kExpiryUrgentDays ("renew it now"), or expired. nullopt when none is due.
std::optional<std::string> expiry_warning(const CertificateInfo& cert, core::SysTime now);

}  // namespace gatehouse::tls
