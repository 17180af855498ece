// Password hashing for SMTP AUTH users (issue "TLS everywhere" item 9) and the CRAM-MD5 secret
// (RFC 2195, HMAC-MD5 of RFC 2104). Hashes are scrypt (RFC 7914) through OpenSSL 3's EVP_KDF,
// salted from RAND_bytes and stored as a self-describing PHC-style string:
//     $scrypt$ln=15,r=8,p=1$<salt, base64 without padding>$<32-byte key, base64 without padding>
// Verification reads the parameters from the string (so stronger ones can be introduced later
// without breaking stored hashes) within fixed bounds, and compares with CRYPTO_memcmp.
// Must not: log, print or put a password or secret into an error text; use deprecated OpenSSL
// API; accept a hash string it cannot fully parse (a tampered string is an error, not a match).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/core/error.hpp"

namespace gatehouse::sasl {

// scrypt cost. The defaults are what hash_password() uses for stored users: N = 2^15, r = 8,
// p = 1 costs 32 MiB and about 0.1 s per hash on our reference machine (see password.cpp for why).
struct ScryptParams {
  unsigned log2_n = 15;  // N = 2^log2_n
  unsigned r = 8;
  unsigned p = 1;
};

// "$scrypt$..." with a fresh 16-byte salt. Errors only when OpenSSL fails (no entropy, out of
// memory) or the parameters are outside the bounds verify accepts.
Expected<std::string> hash_password(std::string_view password, const ScryptParams& params = {});

// True when `password` matches `encoded`; false when it does not. An error when `encoded` is not
// a well-formed "$scrypt$" string within bounds (tampered or foreign), or OpenSSL fails.
// Takes as long as one hash (about 0.1 s): call it off the io threads.
Expected<bool> verify_password(std::string_view password, std::string_view encoded);

// The CRAM-MD5 secret stored for a user when the setting auth.cram_md5 is on: the HMAC-MD5 inner
// and outer hash states after the key block (RFC 2104 §4 "precomputed" keys), as
// "$cram-md5$<64 hex>". It is not the password, but it is password-equivalent for CRAM-MD5
// (docs/encryption.md, "SMTP AUTH"), so it is stored only when that mechanism is enabled.
std::string cram_md5_secret(std::string_view password);

// RFC 2195: true when `digest_hex` (32 hex digits, any case) is HMAC-MD5(password, challenge)
// for the password the secret was made from. An error when the secret is malformed; false for a
// digest that is not 32 hex digits.
Expected<bool> verify_cram_md5(std::string_view secret, std::string_view challenge, std::string_view digest_hex);

// The random part of a CRAM-MD5 challenge for smtp::ServerOptions::cram_nonce:
// "<20 random decimal digits>.<unix seconds>" (RFC 2195 §2 suggests random digits and a
// timestamp). "" when the random generator fails (the session then answers 454 4.7.0).
std::string cram_nonce(const core::Clock& clock = core::system_clock());

}  // namespace gatehouse::sasl
