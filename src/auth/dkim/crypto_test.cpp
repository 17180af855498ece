// Unit tests for the DKIM crypto helpers: key generation (RSA 2048/3072/4096, Ed25519) and the
// TXT record text (RFC 6376 §3.6.1, quoted strings of <= 255 chars, RFC 1035 §3.3), private key
// formats (PKCS#1, PKCS#8, base64 Ed25519 seed; encrypted and EC keys refused without a prompt),
// public key formats in p= (SubjectPublicKeyInfo and bare RSAPublicKey for RSA, raw 32 bytes for
// Ed25519, RFC 8463 §4) and sign/verify of raw data.
// Must not: touch the network or read the clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "gatehouse/auth/dkim.hpp"
#include "internal.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dkim {
namespace {

std::string record_p(const std::string& record) {
  auto k = parse_key_record(record);
  EXPECT_TRUE(k.ok()) << k.detail;
  return k.key.public_key;
}

TEST(DkimKeygen, Rsa2048AndEd25519) {
  auto rsa = generate_key(KeyType::rsa);
  ASSERT_TRUE(rsa.has_value()) << rsa.error().message;
  EXPECT_EQ(rsa->bits, 2048u);
  EXPECT_THAT(rsa->private_pem, ::testing::StartsWith("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(rsa->record, ::testing::StartsWith("v=DKIM1; k=rsa; p=MIIBIjAN"));
  auto pk = detail::load_public_key(KeyType::rsa, record_p(rsa->record));
  ASSERT_TRUE(pk.pkey);
  EXPECT_EQ(pk.bits, 2048u);
  // 2048-bit record is ~410 chars: two quoted strings.
  EXPECT_EQ(rsa->txt, quote_txt(rsa->record));
  EXPECT_THAT(rsa->txt, ::testing::MatchesRegex("\"[^\"]{255}\" \"[^\"]+\""));

  auto ed = generate_key(KeyType::ed25519);
  ASSERT_TRUE(ed.has_value()) << ed.error().message;
  EXPECT_EQ(ed->bits, 256u);
  EXPECT_THAT(ed->record, ::testing::StartsWith("v=DKIM1; k=ed25519; p="));
  EXPECT_EQ(record_p(ed->record).size(), 32u);
  EXPECT_EQ(ed->txt, "\"" + ed->record + "\"");

  auto signer = Signer::load(ed->private_pem);
  ASSERT_TRUE(signer.has_value());
  EXPECT_EQ(signer->type(), KeyType::ed25519);
  EXPECT_EQ(signer->public_record(), ed->record);
}

TEST(DkimKeygen, Rsa3072And4096AndRefusedSizes) {
  for (unsigned bits : {3072u, 4096u}) {
    auto k = generate_key(KeyType::rsa, bits);
    ASSERT_TRUE(k.has_value()) << k.error().message;
    auto signer = Signer::load(k->private_pem);
    ASSERT_TRUE(signer.has_value());
    EXPECT_EQ(signer->bits(), bits);
    EXPECT_EQ(signer->public_record(), k->record);
    for (const auto& s : split_txt_strings(k->record)) EXPECT_LE(s.size(), 255u);
  }
  EXPECT_FALSE(generate_key(KeyType::rsa, 1024).has_value());
  EXPECT_FALSE(generate_key(KeyType::rsa, 2047).has_value());
}

TEST(DkimTxt, SplitAndQuote) {
  EXPECT_THAT(split_txt_strings("abcdef", 4), ::testing::ElementsAre("abcd", "ef"));
  EXPECT_THAT(split_txt_strings(""), ::testing::ElementsAre(""));
  EXPECT_EQ(quote_txt("a\"b\\c"), "\"a\\\"b\\\\c\"");
  std::string r(600, 'x');
  auto parts = split_txt_strings(r);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 255u);
  EXPECT_EQ(parts[2].size(), 90u);
}

TEST(DkimPrivateKey, Formats) {
  auto pkcs1 = Signer::load(test::read_data("rfc8463/rsa.secret.pem"));  // "BEGIN RSA PRIVATE KEY"
  ASSERT_TRUE(pkcs1.has_value()) << pkcs1.error().message;
  EXPECT_EQ(pkcs1->type(), KeyType::rsa);
  EXPECT_EQ(pkcs1->bits(), 1024u);
  auto seed = Signer::load(test::read_data("rfc8463/ed25519.secret.b64"));
  ASSERT_TRUE(seed.has_value()) << seed.error().message;
  EXPECT_EQ(seed->type(), KeyType::ed25519);
  // The public key of RFC 8463 A.1 derives from the seed.
  std::string pub = test::read_data("rfc8463/ed25519.public.b64");
  EXPECT_EQ(seed->public_record(), "v=DKIM1; k=ed25519; p=" + pub.substr(0, pub.find('\n')));
  // And the RSA p= of A.2 is the SubjectPublicKeyInfo of the A.1 secret key.
  EXPECT_THAT(pkcs1->public_record(), ::testing::HasSubstr("p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6"));

  EXPECT_FALSE(Signer::load("").has_value());
  EXPECT_FALSE(Signer::load("not a key").has_value());
  EXPECT_FALSE(Signer::load("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").has_value());
}

TEST(DkimPrivateKey, EncryptedAndEcKeysAreRefusedWithoutPrompt) {
  detail::Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
  ASSERT_TRUE(rsa);
  BIO* bio = BIO_new(BIO_s_mem());
  char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, rsa.get(), EVP_aes_128_cbc(), nullptr, 0, nullptr, pass), 1);
  char* data = nullptr;
  long len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string encrypted(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  auto s = Signer::load(encrypted);
  EXPECT_FALSE(s.has_value());

  detail::Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ASSERT_TRUE(ec);
  bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, ec.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string ec_pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  auto e = Signer::load(ec_pem);
  ASSERT_FALSE(e.has_value());
  EXPECT_THAT(e.error().message, ::testing::HasSubstr("RSA or Ed25519"));
}

TEST(DkimPublicKey, RsaSpkiAndBareRsaPublicKey) {
  detail::Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
  ASSERT_TRUE(rsa);
  auto der = [&](bool spki) {
    int n = spki ? i2d_PUBKEY(rsa.get(), nullptr) : i2d_PublicKey(rsa.get(), nullptr);
    std::string out(static_cast<std::size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    if (spki) i2d_PUBKEY(rsa.get(), &p);
    else i2d_PublicKey(rsa.get(), &p);
    return out;
  };
  const std::string data = "header data";
  auto sig = detail::sign_data(rsa.get(), KeyType::rsa, data);
  ASSERT_TRUE(sig);
  for (bool spki : {true, false}) {
    auto pk = detail::load_public_key(KeyType::rsa, der(spki));
    ASSERT_TRUE(pk.pkey) << pk.detail;
    EXPECT_EQ(pk.bits, 2048u);
    EXPECT_EQ(detail::verify_data(pk.pkey.get(), KeyType::rsa, data, *sig), detail::VerifyOutcome::valid);
    EXPECT_EQ(detail::verify_data(pk.pkey.get(), KeyType::rsa, "other", *sig), detail::VerifyOutcome::invalid);
  }
  // The same key with the rsaEncryption AlgorithmIdentifier written without its NULL parameter
  // (RFC 4055 allows both): 2 bytes shorter, same key.
  std::string with_null = der(true);
  ASSERT_EQ(with_null.substr(0, 2), std::string("\x30\x82", 2));
  ASSERT_EQ(with_null.substr(4, 2), std::string("\x30\x0d", 2));
  const std::size_t outer = (static_cast<unsigned char>(with_null[2]) << 8) | static_cast<unsigned char>(with_null[3]);
  std::string no_null = std::string("\x30\x82", 2);
  no_null += static_cast<char>(((outer - 2) >> 8) & 0xff);
  no_null += static_cast<char>((outer - 2) & 0xff);
  no_null += std::string("\x30\x0b", 2) + with_null.substr(6, 11) + with_null.substr(19);
  auto pk = detail::load_public_key(KeyType::rsa, no_null);
  ASSERT_TRUE(pk.pkey) << pk.detail;
  EXPECT_EQ(detail::verify_data(pk.pkey.get(), KeyType::rsa, data, *sig), detail::VerifyOutcome::valid);

  std::string truncated = der(true);
  truncated.pop_back();
  EXPECT_EQ(detail::load_public_key(KeyType::rsa, truncated).error, Reason::key_invalid);
  EXPECT_EQ(detail::load_public_key(KeyType::rsa, der(true) + "x").error, Reason::key_invalid);  // trailing bytes
  EXPECT_EQ(detail::load_public_key(KeyType::rsa, "").error, Reason::key_invalid);
}

TEST(DkimPublicKey, Ed25519RawOnly) {
  detail::Pkey ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_TRUE(ed);
  std::string raw(32, '\0');
  std::size_t n = 32;
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(ed.get(), reinterpret_cast<unsigned char*>(raw.data()), &n), 1);
  auto pk = detail::load_public_key(KeyType::ed25519, raw);
  ASSERT_TRUE(pk.pkey);
  auto sig = detail::sign_data(ed.get(), KeyType::ed25519, "data");
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_EQ(detail::verify_data(pk.pkey.get(), KeyType::ed25519, "data", *sig), detail::VerifyOutcome::valid);
  EXPECT_EQ(detail::verify_data(pk.pkey.get(), KeyType::ed25519, "datA", *sig), detail::VerifyOutcome::invalid);
  EXPECT_EQ(detail::load_public_key(KeyType::ed25519, raw.substr(1)).error, Reason::key_invalid);
  // An Ed25519 SubjectPublicKeyInfo in a k=rsa record is a type mismatch.
  int len = i2d_PUBKEY(ed.get(), nullptr);
  std::string spki(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(spki.data());
  i2d_PUBKEY(ed.get(), &p);
  EXPECT_EQ(detail::load_public_key(KeyType::rsa, spki).error, Reason::key_type_mismatch);
}

}  // namespace
}  // namespace gatehouse::auth::dkim
