// Password hashes (scrypt, RFC 7914, via OpenSSL 3 EVP_KDF "SCRYPT") and CRAM-MD5 secrets
// (RFC 2195 over RFC 2104 HMAC-MD5 with precomputed inner/outer states). See password.hpp.
//
// Why scrypt with N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s here) rather than PBKDF2-SHA256:
// - scrypt is memory-hard: each guess needs 32 MiB of fast memory, which is what makes GPU and
//   ASIC cracking of a stolen gatehouse.db expensive; PBKDF2 needs almost none, so the attacker's
//   hardware advantage is far larger for the same cost to us.
// - The cost to us is paid on every SMTP AUTH, on a 2-core gateway that also has to move mail
//   and may face password-guessing bots: 0.1 s and 32 MiB per check is the most we want to spend
//   inline (OWASP's stronger 2^17 would be 128 MiB per concurrent login). LoginThrottle bounds
//   how many checks one address can trigger.
// - The string records ln, r and p, so the cost can be raised later; old hashes keep verifying.
// Verification accepts only ln 10..20, r 1..32, p 1..16 and at most 128 MiB, so a tampered
// database row cannot make a login allocate gigabytes.
// Must not: log or return secrets, use deprecated OpenSSL API, or compare secrets with memcmp.
#include "gatehouse/sasl/password.hpp"

#include <fmt/format.h>
#include <memory>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <vector>

#include "md5.hpp"

namespace gatehouse::sasl {
namespace {

constexpr std::string_view kScryptPrefix = "$scrypt$";
constexpr std::string_view kCramPrefix = "$cram-md5$";
constexpr std::size_t kSaltLen = 16;
constexpr std::size_t kKeyLen = 32;
constexpr std::uint64_t kMaxScryptMemory = std::uint64_t{128} << 20;  // 128 * r * N, bytes
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kHex = "0123456789abcdef";

struct KdfFree {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// Wipes a secret buffer when it goes out of scope.
struct SecretBytes {
  std::vector<unsigned char> b;
  explicit SecretBytes(std::size_t n) : b(n) {}
  ~SecretBytes() {
    if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
};

bool params_in_bounds(const ScryptParams& p) {
  if (p.log2_n < 10 || p.log2_n > 20 || p.r < 1 || p.r > 32 || p.p < 1 || p.p > 16) return false;
  return std::uint64_t{128} * p.r * (std::uint64_t{1} << p.log2_n) <= kMaxScryptMemory;
}

// RFC 4648 base64 without padding (PHC string format).
std::string b64_encode(const unsigned char* p, std::size_t n) {
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = static_cast<unsigned>(p[i]) << 16 | static_cast<unsigned>(p[i + 1]) << 8 | p[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kB64[(v >> s) & 63];
  }
  if (n - i == 1) {
    const unsigned v = static_cast<unsigned>(p[i]) << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
  } else if (n - i == 2) {
    const unsigned v = static_cast<unsigned>(p[i]) << 16 | static_cast<unsigned>(p[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
  }
  return out;
}

// Strict: only the alphabet, no padding, canonical (unused trailing bits zero).
bool b64_decode(std::string_view s, std::vector<unsigned char>& out) {
  out.clear();
  if (s.size() % 4 == 1) return false;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    const auto pos = kB64.find(c);
    if (pos == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return acc == 0;  // leftover bits must be zero
}

// A decimal number without sign or leading zeros.
bool parse_small(std::string_view s, unsigned& v) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

Status scrypt(std::string_view password, const unsigned char* salt, std::size_t salt_len, const ScryptParams& p,
              unsigned char* out, std::size_t out_len) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
  if (!kdf) return make_error("password hashing: OpenSSL has no SCRYPT key derivation");
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return make_error("password hashing: out of memory");
  std::uint64_t n = std::uint64_t{1} << p.log2_n;
  std::uint32_t r = p.r, par = p.p;
  std::uint64_t maxmem = kMaxScryptMemory + (std::uint64_t{1} << 20);  // + B (p * 128 * r) and slack
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt), salt_len),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out, out_len, params) != 1)
    return make_error("password hashing: scrypt failed (out of memory?)");
  return {};
}

struct ParsedHash {
  ScryptParams params;
  std::vector<unsigned char> salt, key;
};

Expected<ParsedHash> parse_hash(std::string_view s) {
  const auto bad = [] { return make_error("the stored password hash is malformed"); };
  if (!s.starts_with(kScryptPrefix)) return bad();
  s.remove_prefix(kScryptPrefix.size());
  const auto d1 = s.find('$');
  if (d1 == std::string_view::npos) return bad();
  const auto d2 = s.find('$', d1 + 1);
  if (d2 == std::string_view::npos || s.find('$', d2 + 1) != std::string_view::npos) return bad();
  const std::string_view ps = s.substr(0, d1), salt = s.substr(d1 + 1, d2 - d1 - 1), key = s.substr(d2 + 1);
  ParsedHash h;
  // exactly "ln=<d>,r=<d>,p=<d>"
  const auto c1 = ps.find(','), c2 = ps.rfind(',');
  if (c1 == std::string_view::npos || c1 == c2) return bad();
  const std::string_view a = ps.substr(0, c1), b = ps.substr(c1 + 1, c2 - c1 - 1), c = ps.substr(c2 + 1);
  if (!a.starts_with("ln=") || !b.starts_with("r=") || !c.starts_with("p=") ||
      !parse_small(a.substr(3), h.params.log2_n) || !parse_small(b.substr(2), h.params.r) ||
      !parse_small(c.substr(2), h.params.p) || !params_in_bounds(h.params))
    return bad();
  if (!b64_decode(salt, h.salt) || h.salt.size() < 8 || h.salt.size() > 64) return bad();
  // Every hash this code writes has a kKeyLen-byte key; any other length is a damaged or
  // foreign string (e.g. one truncated by a character that still decodes), not a mismatch.
  if (!b64_decode(key, h.key) || h.key.size() != kKeyLen) return bad();
  return h;
}

// RFC 2104 §2: keys longer than the block are hashed first; then K xor ipad / K xor opad, each
// absorbed as one block.
void hmac_md5_states(std::string_view password, detail::Md5State& inner, detail::Md5State& outer) {
  unsigned char k[64] = {};
  if (password.size() > 64) {
    const auto d = detail::md5_finish(detail::kMd5Initial, 0, password);
    std::copy(d.begin(), d.end(), k);
  } else {
    std::copy(password.begin(), password.end(), k);
  }
  unsigned char pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = static_cast<unsigned char>(k[i] ^ 0x36);
  inner = detail::kMd5Initial;
  detail::md5_compress(inner, pad);
  for (int i = 0; i < 64; ++i) pad[i] = static_cast<unsigned char>(k[i] ^ 0x5c);
  outer = detail::kMd5Initial;
  detail::md5_compress(outer, pad);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hex_decode(std::string_view s, unsigned char* out, std::size_t n, bool lower_only) {
  if (s.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const char hi = s[2 * i], lo = s[2 * i + 1];
    if (lower_only && ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F'))) return false;
    const int a = hex_value(hi), b = hex_value(lo);
    if (a < 0 || b < 0) return false;
    out[i] = static_cast<unsigned char>(a << 4 | b);
  }
  return true;
}

}  // namespace

Expected<std::string> hash_password(std::string_view password, const ScryptParams& params) {
  if (!params_in_bounds(params)) return make_error("password hashing: scrypt parameters out of bounds");
  unsigned char salt[kSaltLen];
  if (RAND_bytes(salt, sizeof salt) != 1) return make_error("password hashing: the random generator failed");
  SecretBytes key(kKeyLen);
  if (auto st = scrypt(password, salt, sizeof salt, params, key.b.data(), key.b.size()); !st) return st.error();
  return fmt::format("{}ln={},r={},p={}${}${}", kScryptPrefix, params.log2_n, params.r, params.p,
                     b64_encode(salt, sizeof salt), b64_encode(key.b.data(), key.b.size()));
}

Expected<bool> verify_password(std::string_view password, std::string_view encoded) {
  auto h = parse_hash(encoded);
  if (!h) return h.error();
  SecretBytes key(h->key.size());
  if (auto st = scrypt(password, h->salt.data(), h->salt.size(), h->params, key.b.data(), key.b.size()); !st)
    return st.error();
  return CRYPTO_memcmp(key.b.data(), h->key.data(), key.b.size()) == 0;
}

std::string cram_md5_secret(std::string_view password) {
  detail::Md5State inner, outer;
  hmac_md5_states(password, inner, outer);
  std::string out(kCramPrefix);
  for (const auto* st : {&inner, &outer})
    for (unsigned char c : detail::md5_state_bytes(*st)) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  inner.fill(0);
  outer.fill(0);
  return out;
}

Expected<bool> verify_cram_md5(std::string_view secret, std::string_view challenge, std::string_view digest_hex) {
  unsigned char states[32];
  if (!secret.starts_with(kCramPrefix) || !hex_decode(secret.substr(kCramPrefix.size()), states, 32, true))
    return make_error("the stored CRAM-MD5 secret is malformed");
  unsigned char given[16];
  if (!hex_decode(digest_hex, given, 16, false)) {
    OPENSSL_cleanse(states, sizeof states);
    return false;
  }
  const auto inner = detail::md5_state_from_bytes(states);
  const auto outer = detail::md5_state_from_bytes(states + 16);
  OPENSSL_cleanse(states, sizeof states);
  const auto inner_digest = detail::md5_finish(inner, 64, challenge);
  const auto mac = detail::md5_finish(
      outer, 64, std::string_view(reinterpret_cast<const char*>(inner_digest.data()), inner_digest.size()));
  return CRYPTO_memcmp(mac.data(), given, sizeof given) == 0;
}

std::string cram_nonce(const core::Clock& clock) {
  unsigned char r[8];
  if (RAND_bytes(r, sizeof r) != 1) return {};
  std::uint64_t v = 0;
  for (unsigned char c : r) v = v << 8 | c;
  return fmt::format("{:020}.{}", v, core::to_unix(clock.now()));
}

}  // namespace gatehouse::sasl
