// The MD5 compression function and padding (RFC 1321 §3.1-§3.5), for the precomputed HMAC-MD5
// states of CRAM-MD5 only (md5.hpp). Straight from the RFC's reference description; checked
// against OpenSSL in password_test.cpp. Must not allocate, read past its inputs or be used for
// anything but RFC 2195.
#include "md5.hpp"

#include <cstring>

namespace gatehouse::sasl::detail {
namespace {

constexpr std::uint32_t kT[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

constexpr unsigned kS[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                             5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                             4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                             6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

inline std::uint32_t rotl(std::uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

inline std::uint32_t load_le(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

inline void store_le(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
  p[2] = static_cast<unsigned char>(v >> 16);
  p[3] = static_cast<unsigned char>(v >> 24);
}

}  // namespace

void md5_compress(Md5State& s, const unsigned char* block) {
  std::uint32_t x[16];
  for (int i = 0; i < 16; ++i) x[i] = load_le(block + 4 * i);
  std::uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
  for (unsigned i = 0; i < 64; ++i) {
    std::uint32_t f;
    unsigned g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const std::uint32_t t = d;
    d = c;
    c = b;
    b = b + rotl(a + f + kT[i] + x[g], kS[i]);
    a = t;
  }
  s[0] += a;
  s[1] += b;
  s[2] += c;
  s[3] += d;
}

Md5Digest md5_finish(Md5State s, std::uint64_t absorbed, std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  const std::uint64_t total_bits = (absorbed + n) * 8;
  while (n >= 64) {
    md5_compress(s, p);
    p += 64;
    n -= 64;
  }
  // RFC 1321 §3.1-§3.2: 0x80, zeros to 56 mod 64, then the length in bits (little-endian).
  unsigned char tail[128] = {};
  if (n > 0) std::memcpy(tail, p, n);
  tail[n] = 0x80;
  const std::size_t len = n < 56 ? 64 : 128;
  for (int i = 0; i < 8; ++i) tail[len - 8 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(total_bits >> (8 * i));
  md5_compress(s, tail);
  if (len == 128) md5_compress(s, tail + 64);
  return md5_state_bytes(s);
}

Md5Digest md5_state_bytes(const Md5State& s) {
  Md5Digest out{};
  for (int i = 0; i < 4; ++i) store_le(out.data() + 4 * i, s[static_cast<std::size_t>(i)]);
  return out;
}

Md5State md5_state_from_bytes(const unsigned char* b) {
  return {load_le(b), load_le(b + 4), load_le(b + 8), load_le(b + 12)};
}

}  // namespace gatehouse::sasl::detail
