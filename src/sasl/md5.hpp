// Internal to sasl: the MD5 compression function (RFC 1321 §3.4) with an explicit chaining state,
// which OpenSSL's EVP interface does not expose. It exists only so CRAM-MD5 can keep the HMAC-MD5
// key as precomputed inner/outer states (RFC 2104 §4) instead of the password; every result is
// checked against OpenSSL's own HMAC-MD5 and MD5 in password_test.cpp.
// Must not be used for anything else: MD5 is broken as a hash; HMAC-MD5 is kept for RFC 2195 only.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace gatehouse::sasl::detail {

using Md5State = std::array<std::uint32_t, 4>;
using Md5Digest = std::array<unsigned char, 16>;

constexpr Md5State kMd5Initial = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};

// Absorbs one 64-octet block into `s`.
void md5_compress(Md5State& s, const unsigned char* block);

// Finishes an MD5 computation: `s` has absorbed `absorbed` octets (a multiple of 64), `data`
// follows. md5_finish(kMd5Initial, 0, x) is MD5(x).
Md5Digest md5_finish(Md5State s, std::uint64_t absorbed, std::string_view data);

// The state as 16 octets (little-endian words, RFC 1321 §3.5) and back.
Md5Digest md5_state_bytes(const Md5State& s);
Md5State md5_state_from_bytes(const unsigned char* b);

}  // namespace gatehouse::sasl::detail
