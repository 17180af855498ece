// Unit tests for password hashing (scrypt via EVP_KDF) and CRAM-MD5 (RFC 2195): round trip,
// wrong password, salt uniqueness, tampered hash strings refused, the RFC 2195 example, and the
// internal MD5 / precomputed HMAC-MD5 states checked against OpenSSL's own MD5 and HMAC-MD5.
// Uses cheap scrypt parameters except where the default cost itself is under test.
#include <gtest/gtest.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <regex>
#include <set>

#include "gatehouse/sasl/password.hpp"
#include "gatehouse/sasl/user_store.hpp"
#include "md5.hpp"

using namespace gatehouse;
using namespace gatehouse::sasl;

namespace {

const ScryptParams kFast{10, 8, 1};

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char k[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += k[p[i] >> 4];
    s += k[p[i] & 15];
  }
  return s;
}

std::string openssl_md5(std::string_view data) {
  unsigned char out[16];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr), 1);
  return hex(out, len);
}

// HMAC-MD5 through OpenSSL's EVP_MAC "HMAC" (the reference our precomputed states must match).
std::string openssl_hmac_md5(std::string_view key, std::string_view data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "MD5";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  unsigned char out[16];
  std::size_t len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  static const unsigned char kEmpty = 0;
  EXPECT_EQ(EVP_MAC_init(ctx, key.empty() ? &kEmpty : k, key.size(), params), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()), 1);
  EXPECT_EQ(EVP_MAC_final(ctx, out, &len, sizeof out), 1);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return hex(out, len);
}

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  if (n > 0) RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n));
  return s;
}

}  // namespace

TEST(PasswordHash, RoundTripWithTheDefaultCost) {
  auto h = hash_password("correct horse battery staple");
  ASSERT_TRUE(h) << h.error().message;
  // $scrypt$ln=15,r=8,p=1$<16-byte salt: 22 chars>$<32-byte key: 43 chars>
  EXPECT_TRUE(std::regex_match(*h, std::regex(R"(\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43})"))) << *h;
  auto ok = verify_password("correct horse battery staple", *h);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(*ok);
  auto bad = verify_password("correct horse battery stapl", *h);
  ASSERT_TRUE(bad);
  EXPECT_FALSE(*bad);
}

TEST(PasswordHash, WrongPasswordsAreRefused) {
  auto h = hash_password("tanstaaftanstaaf", kFast);
  ASSERT_TRUE(h);
  for (const char* wrong : {"", "tanstaaftanstaa", "tanstaaftanstaafx", "Tanstaaftanstaaf", "tanstaaf"}) {
    auto r = verify_password(wrong, *h);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << wrong;
  }
  // Note: scrypt keys HMAC-SHA256 with the password, and HMAC pads short keys with zeros, so
  // "pw" and "pw\0" give the same hash. That is why NUL is refused in stored passwords
  // (check_password) and in SASL passwords (the smtp session).
  auto r = verify_password(std::string("tanstaaftanstaaf\0", 17), *h);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_FALSE(check_password("tim", std::string("tanstaaftanstaaf\0", 17)));
}

TEST(PasswordHash, SaltsAreUnique) {
  std::set<std::string> hashes, salts;
  for (int i = 0; i < 20; ++i) {
    auto h = hash_password("same password", kFast);
    ASSERT_TRUE(h);
    hashes.insert(*h);
    salts.insert(h->substr(0, h->rfind('$')));
    auto ok = verify_password("same password", *h);
    ASSERT_TRUE(ok);
    EXPECT_TRUE(*ok);
  }
  EXPECT_EQ(hashes.size(), 20u);
  EXPECT_EQ(salts.size(), 20u);
}

TEST(PasswordHash, TamperedStringsAreErrorsNotMatches) {
  auto h = hash_password("tanstaaftanstaaf", kFast);
  ASSERT_TRUE(h);
  const std::string good = *h;  // $scrypt$ln=10,r=8,p=1$salt$key
  const auto salt_at = good.find('$', 8) + 1;
  const auto key_at = good.rfind('$') + 1;
  const std::string salt = good.substr(salt_at, key_at - 1 - salt_at), key = good.substr(key_at);
  const std::vector<std::string> tampered = {
      "",
      "tanstaaftanstaaf",                                    // a clear password
      "$2y$10$abcdefghijklmnopqrstuu5Kz6y3r1f9e0RjGm6xz5H9m2Z3E7d6K",  // bcrypt
      "$SCRYPT$ln=10,r=8,p=1$" + salt + "$" + key,
      "$scrypt$ln=10,r=8$" + salt + "$" + key,               // missing p
      "$scrypt$ln=10,r=8,p=1,x=2$" + salt + "$" + key,       // extra field
      "$scrypt$r=8,ln=10,p=1$" + salt + "$" + key,           // wrong order
      "$scrypt$ln=010,r=8,p=1$" + salt + "$" + key,          // leading zero
      "$scrypt$ln=30,r=8,p=1$" + salt + "$" + key,           // out of bounds (16 GiB)
      "$scrypt$ln=20,r=8,p=1$" + salt + "$" + key,           // over 128 MiB
      "$scrypt$ln=9,r=8,p=1$" + salt + "$" + key,            // too weak
      "$scrypt$ln=10,r=0,p=1$" + salt + "$" + key,
      "$scrypt$ln=10,r=8,p=17$" + salt + "$" + key,
      "$scrypt$ln=-1,r=8,p=1$" + salt + "$" + key,
      "$scrypt$ln=10,r=8,p=1$" + salt + "=$" + key,          // padding is not used
      "$scrypt$ln=10,r=8,p=1$" + salt.substr(0, 21) + "B$" + key,  // non-canonical last char
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "$",
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key.substr(0, 20),  // key too short
      "$scrypt$ln=10,r=8,p=1$AAAA$" + key,                   // salt too short
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "!",
      "$scrypt$ln=10,r=8,p=1$" + salt + "\n$" + key,
      good.substr(0, good.size() - 1),                        // truncated (length 42: not canonical)
  };
  for (const auto& t : tampered) {
    auto r = verify_password("tanstaaftanstaaf", t);
    EXPECT_FALSE(r) << "accepted: " << t;
    if (!r) {
      EXPECT_EQ(r.error().message, "the stored password hash is malformed");
      EXPECT_EQ(r.error().message.find("tanstaaf"), std::string::npos);
    }
  }
  // A well-formed string whose key was changed is a mismatch, not an error.
  std::string flipped = good;
  flipped[key_at + 5] = flipped[key_at + 5] == 'A' ? 'B' : 'A';
  auto r = verify_password("tanstaaftanstaaf", flipped);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  // Other parameters than the ones it was made with: a mismatch too.
  auto other = verify_password("tanstaaftanstaaf", "$scrypt$ln=11,r=8,p=1$" + salt + "$" + key);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
}

TEST(PasswordHash, ParametersOutOfBoundsAreRefused) {
  EXPECT_FALSE(hash_password("x", ScryptParams{9, 8, 1}));
  EXPECT_FALSE(hash_password("x", ScryptParams{21, 8, 1}));
  EXPECT_FALSE(hash_password("x", ScryptParams{15, 0, 1}));
  auto h = hash_password("x", ScryptParams{11, 4, 2});
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->starts_with("$scrypt$ln=11,r=4,p=2$"));
  auto ok = verify_password("x", *h);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);
}

TEST(Md5, Rfc1321TestSuiteAndOpenSsl) {
  using namespace gatehouse::sasl::detail;
  auto md5 = [](std::string_view s) {
    auto d = md5_finish(kMd5Initial, 0, s);
    return hex(d.data(), d.size());
  };
  EXPECT_EQ(md5(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5("a"), "0cc175b9c0f1b6a831c399e269772661");  // RFC 1321 §A.5
  EXPECT_EQ(md5("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
  for (std::size_t n = 0; n < 300; ++n) {  // every padding case, more than two blocks
    const std::string data = random_bytes(n);
    EXPECT_EQ(md5(data), openssl_md5(data)) << n;
  }
  // Continuing from a state that absorbed one block is MD5 of the whole.
  const std::string block = random_bytes(64), rest = random_bytes(100);
  Md5State s = kMd5Initial;
  md5_compress(s, reinterpret_cast<const unsigned char*>(block.data()));
  auto d = md5_finish(s, 64, rest);
  EXPECT_EQ(hex(d.data(), d.size()), openssl_md5(block + rest));
  const auto bytes = md5_state_bytes(s);
  EXPECT_EQ(md5_state_from_bytes(bytes.data()), s);
}

TEST(CramMd5, Rfc2195Example) {
  const std::string secret = cram_md5_secret("tanstaaftanstaaf");
  EXPECT_TRUE(std::regex_match(secret, std::regex(R"(\$cram-md5\$[0-9a-f]{64})"))) << secret;
  EXPECT_EQ(secret.find("tanstaaf"), std::string::npos);
  const std::string challenge = "<1896.697170952@postoffice.reston.mci.net>";
  auto ok = verify_cram_md5(secret, challenge, "b913a602c7eda7a495b4e6e7334d3890");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(*ok);
  auto upper = verify_cram_md5(secret, challenge, "B913A602C7EDA7A495B4E6E7334D3890");
  ASSERT_TRUE(upper);
  EXPECT_TRUE(*upper);
  EXPECT_EQ(openssl_hmac_md5("tanstaaftanstaaf", challenge), "b913a602c7eda7a495b4e6e7334d3890");
  for (const char* wrong : {"b913a602c7eda7a495b4e6e7334d3891", "00000000000000000000000000000000",
                            "b913a602c7eda7a495b4e6e7334d389", "b913a602c7eda7a495b4e6e7334d38900",
                            "g913a602c7eda7a495b4e6e7334d3890", ""}) {
    auto r = verify_cram_md5(secret, challenge, wrong);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << wrong;
  }
  auto other_challenge = verify_cram_md5(secret, "<1896.697170953@postoffice.reston.mci.net>",
                                         "b913a602c7eda7a495b4e6e7334d3890");
  ASSERT_TRUE(other_challenge);
  EXPECT_FALSE(*other_challenge);
  auto other_password = verify_cram_md5(cram_md5_secret("tanstaaftanstaag"), challenge,
                                        "b913a602c7eda7a495b4e6e7334d3890");
  ASSERT_TRUE(other_password);
  EXPECT_FALSE(*other_password);
}

TEST(CramMd5, MatchesOpenSslHmacMd5ForAnyKeyLength) {
  for (std::size_t klen : {0u, 1u, 8u, 63u, 64u, 65u, 100u, 255u}) {
    for (std::size_t clen : {0u, 10u, 55u, 56u, 64u, 200u}) {
      const std::string key = random_bytes(klen), challenge = random_bytes(clen);
      auto r = verify_cram_md5(cram_md5_secret(key), challenge, openssl_hmac_md5(key, challenge));
      ASSERT_TRUE(r);
      EXPECT_TRUE(*r) << "key " << klen << " challenge " << clen;
    }
  }
}

TEST(CramMd5, MalformedSecretsAreErrors) {
  const std::string good = cram_md5_secret("tanstaaftanstaaf");
  std::string upper = good;
  for (auto& c : upper)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  for (const std::string& s : {std::string(), std::string("tanstaaftanstaaf"), good.substr(0, good.size() - 1),
                               good + "0", "$cram-md5$" + std::string(64, 'x'), upper,
                               "$CRAM-MD5$" + good.substr(10)}) {
    auto r = verify_cram_md5(s, "<1@x>", "b913a602c7eda7a495b4e6e7334d3890");
    EXPECT_FALSE(r) << s;
  }
}

TEST(CramNonce, RandomDigitsAndTheClock) {
  core::ManualClock clock(core::from_unix(1'700'000'123));
  const std::string a = cram_nonce(clock), b = cram_nonce(clock);
  EXPECT_TRUE(std::regex_match(a, std::regex(R"([0-9]{20}\.1700000123)"))) << a;
  EXPECT_NE(a, b);
}
