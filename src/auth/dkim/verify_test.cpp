// Unit tests for verify() (RFC 6376 §6) over dns::StaticZone: every result and reason — pass
// with its report fields (RFC 8601 header.d/s/i/a/b, RFC 6008), body hash mismatch, signature
// mismatch, over-signed From, revoked key, t=y, t=s with a subdomain i=, h= without From,
// rsa-sha1 and 512-bit keys (RFC 8301), x= expired, t= in the future, l= with appended text,
// unknown algorithm, DNS timeout/SERVFAIL (temperror), NXDOMAIN/NODATA/REFUSED, key record
// problems, several signatures, the signature cap, streaming body hashes.
// Must not: touch the network or read the clock (`now` is a constant).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <functional>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/core/strings.hpp"
#include "internal.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dkim {
namespace {

using ::testing::HasSubstr;

constexpr std::int64_t kNow = 1700000000;
const char* kKeyName = "sel._domainkey.example.com";

const char* kText =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.net\n"
    "Subject: Lunch\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Message-ID: <1@example.com>\n"
    "\n"
    "Hello Bob,\n"
    "\n"
    "lunch at  noon?\n";

class DkimVerify : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new GeneratedKey(generate_key(KeyType::rsa).value());
    ed_ = new GeneratedKey(generate_key(KeyType::ed25519).value());
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ed_;
    rsa_ = ed_ = nullptr;
  }

  void SetUp() override { msg_ = test::parse_message(kText); }

  static VerifyOptions opts() {
    VerifyOptions o;
    o.now = kNow;
    return o;
  }

  std::string sign_with(const GeneratedKey& key, const Message& m, const std::function<void(SignRequest&)>& tweak = {}) {
    SignRequest r;
    r.private_key = key.private_pem;
    r.message = &m;
    r.domain = "example.com";
    r.selector = "sel";
    r.now = kNow;
    if (tweak) tweak(r);
    auto s = try_sign(r);
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return s ? *s : std::string{};
  }

  // A signature made without the signer (for what the signer refuses to make): the field is
  // "DKIM-Signature: <tags>; bh=<hash>; b=<sig>" over relaxed/relaxed, h=from:to:subject.
  std::string manual_sign(const Message& m, EVP_PKEY* key, const std::string& a, const EVP_MD* md,
                          const std::string& tags) {
    std::string body = canonicalize_body(Canon::relaxed, m.body);
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    EXPECT_EQ(EVP_Digest(body.data(), body.size(), h, &hl, md, nullptr), 1);
    std::string prefix = "DKIM-Signature: v=1; a=" + a + "; c=relaxed/relaxed; " + tags +
                         "; h=from:to:subject; bh=" +
                         detail::base64_encode(std::string(reinterpret_cast<char*>(h), hl)) + "; b=";
    std::string data = detail::header_hash_input_unsigned(select_headers(m.headers, {"from", "to", "subject"}),
                                                          Canon::relaxed, prefix);
    detail::MdCtx ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key), 1);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()), 1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()),
              1);
    sig.resize(len);
    return prefix + detail::base64_encode(sig) + "\r\n";
  }

  static Message replace_header(const Message& m, const std::string& name, const std::string& raw) {
    Message out = m;
    for (auto& h : out.headers)
      if (core::iequals(h.name, name)) h.raw = raw;
    return out;
  }

  SignatureResult verify_one(dns::StaticZone& zone, const Message& m, VerifyOptions o = opts()) {
    auto r = test::run_verify(zone, m, o);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? SignatureResult{} : r.front();
  }

  static GeneratedKey* rsa_;
  static GeneratedKey* ed_;
  Message msg_;
};

GeneratedKey* DkimVerify::rsa_ = nullptr;
GeneratedKey* DkimVerify::ed_ = nullptr;

#define EXPECT_RESULT(r, res, why)                                           \
  do {                                                                       \
    EXPECT_EQ((r).result, (res)) << to_string((r).result) << ": " << (r).detail; \
    EXPECT_EQ((r).reason, (why)) << to_string((r).reason) << ": " << (r).detail; \
  } while (0)

TEST_F(DkimVerify, NoSignatureGivesNoResult) {
  dns::StaticZone zone;
  EXPECT_TRUE(test::run_verify(zone, msg_, opts()).empty());
  EXPECT_EQ(zone.query_count(), 0u);
}

TEST_F(DkimVerify, PassRsaWithReportFields) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  auto r = verify_one(zone, signed_msg);
  EXPECT_RESULT(r, Result::pass, Reason::none);
  EXPECT_EQ(r.domain, "example.com");
  EXPECT_EQ(r.selector, "sel");
  EXPECT_EQ(r.identity, "@example.com");
  EXPECT_EQ(r.algorithm, "rsa-sha256");
  EXPECT_EQ(r.key_bits, 2048u);
  EXPECT_EQ(r.header_b.size(), 8u);
  EXPECT_EQ(r.field_index, 0u);
  EXPECT_FALSE(r.testing);
  EXPECT_EQ(r.unsigned_body_bytes, 0u);
  EXPECT_EQ(zone.query_count(), 1u);
  EXPECT_EQ(zone.query_log().front().second, dns::RrType::TXT);
}

TEST_F(DkimVerify, PassEd25519) {
  Message signed_msg = test::prepend(msg_, sign_with(*ed_, msg_, [](SignRequest& r) { r.identity = "alice@mail.example.com"; }));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, ed_->record);
  auto r = verify_one(zone, signed_msg);
  EXPECT_RESULT(r, Result::pass, Reason::none);
  EXPECT_EQ(r.algorithm, "ed25519-sha256");
  EXPECT_EQ(r.identity, "alice@mail.example.com");
  EXPECT_EQ(r.key_bits, 256u);
}

TEST_F(DkimVerify, TamperedBodyIsBodyHashMismatch) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  signed_msg.body = "Hello Bob,\r\n\r\nlunch at one?\r\n";
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  auto r = verify_one(zone, signed_msg);
  EXPECT_RESULT(r, Result::fail, Reason::body_hash_mismatch);
}

TEST_F(DkimVerify, TamperedHeaderIsSignatureMismatch) {
  Message signed_msg = test::prepend(msg_, sign_with(*ed_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, ed_->record);
  auto r = verify_one(zone, replace_header(signed_msg, "Subject", "Subject: Dinner\r\n"));
  EXPECT_RESULT(r, Result::fail, Reason::signature_mismatch);
  // Relaxed header canonicalization tolerates re-folding and case in names.
  auto ok = verify_one(zone, replace_header(signed_msg, "Subject", "SUBJECT:   Lunch\r\n \r\n"));
  EXPECT_RESULT(ok, Result::pass, Reason::none);
}

TEST_F(DkimVerify, SecondFromBreaksTheOverSignedSignature) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  signed_msg.headers.push_back(HeaderField{"From", "From: mallory@evil.example\r\n"});
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  EXPECT_RESULT(verify_one(zone, signed_msg), Result::fail, Reason::signature_mismatch);
}

TEST_F(DkimVerify, RevokedKey) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, "v=DKIM1; k=rsa; p=");
  EXPECT_RESULT(verify_one(zone, signed_msg), Result::permerror, Reason::key_revoked);
}

TEST_F(DkimVerify, TestingKeyPassesButNeverFails) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record + "; t=y");
  auto ok = verify_one(zone, signed_msg);
  EXPECT_RESULT(ok, Result::pass, Reason::none);
  EXPECT_TRUE(ok.testing);
  signed_msg.body = "changed\r\n";
  auto bad = verify_one(zone, signed_msg);
  EXPECT_RESULT(bad, Result::neutral, Reason::testing);
  EXPECT_TRUE(bad.testing);
  EXPECT_THAT(bad.detail, HasSubstr("body hash"));
}

TEST_F(DkimVerify, StrictKeyForbidsSubdomainIdentity) {
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record + "; t=s");
  Message sub = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) { r.identity = "alice@mail.example.com"; }));
  EXPECT_RESULT(verify_one(zone, sub), Result::permerror, Reason::strict_identity);
  Message exact = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) { r.identity = "alice@EXAMPLE.com"; }));
  EXPECT_RESULT(verify_one(zone, exact), Result::pass, Reason::none);
  Message none = test::prepend(msg_, sign_with(*rsa_, msg_));
  EXPECT_RESULT(verify_one(zone, none), Result::pass, Reason::none);
}

TEST_F(DkimVerify, HeaderListWithoutFromIsPermerrorWithoutDns) {
  std::string field = sign_with(*rsa_, msg_, [](SignRequest& r) { r.headers = {"from", "to"}; });
  field.replace(field.find("h=from:to"), 9, "h=to:to  ");  // same length, From gone
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  auto r = verify_one(zone, test::prepend(msg_, field));
  EXPECT_RESULT(r, Result::permerror, Reason::from_not_signed);
  EXPECT_EQ(r.domain, "example.com");
  EXPECT_EQ(zone.query_count(), 0u);
}

TEST_F(DkimVerify, RsaSha1IsNeverValid) {
  // A real, correct rsa-sha1 signature: RFC 8301 §3.1 still refuses it.
  detail::Pkey key(detail::load_private_key(rsa_->private_pem).value());
  std::string field = manual_sign(msg_, key.get(), "rsa-sha1", EVP_sha1(), "d=example.com; s=sel");
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  auto r = verify_one(zone, test::prepend(msg_, field));
  EXPECT_RESULT(r, Result::permerror, Reason::rsa_sha1);
  EXPECT_EQ(r.algorithm, "rsa-sha1");
  EXPECT_EQ(zone.query_count(), 0u);
  // The same construction with SHA-256 passes, so the helper itself is right.
  std::string good = manual_sign(msg_, key.get(), "rsa-sha256", EVP_sha256(), "d=example.com; s=sel");
  EXPECT_RESULT(verify_one(zone, test::prepend(msg_, good)), Result::pass, Reason::none);
}

TEST_F(DkimVerify, Rsa512BitKeyFails) {
  detail::Pkey weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(512)));
  ASSERT_TRUE(weak);
  std::string field = manual_sign(msg_, weak.get(), "rsa-sha256", EVP_sha256(), "d=example.com; s=weak");
  dns::StaticZone zone;
  zone.add_txt("weak._domainkey.example.com", detail::public_record(weak.get(), KeyType::rsa));
  auto r = verify_one(zone, test::prepend(msg_, field));
  EXPECT_RESULT(r, Result::permerror, Reason::key_too_small);
  EXPECT_EQ(r.key_bits, 512u);
  // The signer refuses such a key outright (RFC 8301 §3.2).
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, weak.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  auto loaded = Signer::load(pem);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_THAT(loaded.error().message, HasSubstr("512-bit"));
}

TEST_F(DkimVerify, KeyBelowLocalPolicyIsPolicy) {
  auto k1024 = Signer::load(test::read_data("rfc8463/rsa.secret.pem"));
  ASSERT_TRUE(k1024.has_value());
  SignRequest req;
  req.message = &msg_;
  req.domain = "example.com";
  req.selector = "sel";
  req.now = kNow;
  Message signed_msg = test::prepend(msg_, k1024->sign(req).value());
  dns::StaticZone zone;
  zone.add_txt(kKeyName, k1024->public_record());
  EXPECT_RESULT(verify_one(zone, signed_msg), Result::pass, Reason::none);  // 1024 is the RFC minimum
  VerifyOptions strict = opts();
  strict.min_rsa_bits = 2048;
  auto r = verify_one(zone, signed_msg, strict);
  EXPECT_RESULT(r, Result::policy, Reason::key_below_policy);
  EXPECT_EQ(r.key_bits, 1024u);
}

TEST_F(DkimVerify, ExpiredSignature) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) { r.expiration = kNow + 100; }));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  VerifyOptions o = opts();
  o.now = kNow + 50;
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::pass, Reason::none);
  o.now = kNow + 100;  // x= itself is still valid
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::pass, Reason::none);
  zone.reset_query_count();
  o.now = kNow + 101;
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::permerror, Reason::expired);
  EXPECT_EQ(zone.query_count(), 0u);
}

TEST_F(DkimVerify, TimestampInTheFuture) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  VerifyOptions o = opts();
  o.now = kNow - 600;  // a fast sender clock: tolerated
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::pass, Reason::none);
  o.now = kNow - 40000;
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::policy, Reason::timestamp_in_future);
  o.future_skew = -1;  // check off
  EXPECT_RESULT(verify_one(zone, signed_msg, o), Result::pass, Reason::none);
}

TEST_F(DkimVerify, BodyLengthWithAppendedText) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) { r.body_length = true; }));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  auto clean = verify_one(zone, signed_msg);
  EXPECT_RESULT(clean, Result::pass, Reason::none);
  ASSERT_TRUE(clean.body_length);
  EXPECT_EQ(clean.unsigned_body_bytes, 0u);

  signed_msg.body += "--\r\nUnsubscribe: https://list.example/u\r\n";
  auto extra = verify_one(zone, signed_msg);
  EXPECT_RESULT(extra, Result::pass, Reason::none);
  EXPECT_EQ(extra.unsigned_body_bytes, 41u);  // "--\r\n" + 35 + "\r\n"
  EXPECT_THAT(extra.detail, HasSubstr("41 body bytes after l= are not signed"));
  VerifyOptions strict = opts();
  strict.reject_partial_body = true;
  EXPECT_RESULT(verify_one(zone, signed_msg, strict), Result::policy, Reason::body_length_extra);

  signed_msg.body = "Hello\r\n";  // shorter than l=
  EXPECT_RESULT(verify_one(zone, signed_msg), Result::permerror, Reason::body_length_exceeds);
}

TEST_F(DkimVerify, UnknownAlgorithmAndSyntaxErrorsNeedNoDns) {
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  std::string field = sign_with(*rsa_, msg_);
  std::string unknown = field;
  unknown.replace(unknown.find("a=rsa-sha256"), 12, "a=rsa-sha512");
  EXPECT_RESULT(verify_one(zone, test::prepend(msg_, unknown)), Result::permerror, Reason::unsupported_algorithm);
  std::string dup = field;
  dup.insert(dup.find("v=1;") + 4, " d=example.org;");
  EXPECT_RESULT(verify_one(zone, test::prepend(msg_, dup)), Result::permerror, Reason::duplicate_tag);
  std::string broken = "DKIM-Signature: v=1; a=rsa-sha256;; nothing\r\n";
  EXPECT_RESULT(verify_one(zone, test::prepend(msg_, broken)), Result::permerror, Reason::syntax);
  std::string missing = "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; h=from; bh=AAAA; b=AAAA\r\n";
  EXPECT_RESULT(verify_one(zone, test::prepend(msg_, missing)), Result::permerror, Reason::missing_tag);
  EXPECT_EQ(zone.query_count(), 0u);
}

TEST_F(DkimVerify, DnsTimeoutAndServfailAreTemperror) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  zone.set_timeout(kKeyName);
  auto r = verify_one(zone, signed_msg);
  EXPECT_RESULT(r, Result::temperror, Reason::key_dns_temporary);
  EXPECT_THAT(r.detail, HasSubstr(kKeyName));
  dns::StaticZone servfail;
  servfail.set_servfail(kKeyName, dns::RrType::TXT);
  EXPECT_RESULT(verify_one(servfail, signed_msg), Result::temperror, Reason::key_dns_temporary);
}

TEST_F(DkimVerify, MissingKeyIsPermerror) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone nx;  // NXDOMAIN
  nx.add_txt("other._domainkey.example.org", rsa_->record);
  EXPECT_RESULT(verify_one(nx, signed_msg), Result::permerror, Reason::key_not_found);
  dns::StaticZone nodata;  // the name exists, without TXT
  nodata.add_a(kKeyName, "192.0.2.1");
  EXPECT_RESULT(verify_one(nodata, signed_msg), Result::permerror, Reason::key_not_found);
  dns::StaticZone refused;
  refused.set_failure(kKeyName, dns::StaticZone::Failure::refused);
  EXPECT_RESULT(verify_one(refused, signed_msg), Result::permerror, Reason::key_unavailable);
}

TEST_F(DkimVerify, KeyRecordProblems) {
  Message rsa_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  Message ed_msg = test::prepend(msg_, sign_with(*ed_, msg_));
  auto with_record = [&](const Message& m, const std::string& rec) {
    dns::StaticZone z;
    z.add_txt(kKeyName, rec);
    return verify_one(z, m);
  };
  const std::string rsa_p = rsa_->record.substr(rsa_->record.find("p="));
  const std::string ed_p = ed_->record.substr(ed_->record.find("p="));
  EXPECT_RESULT(with_record(ed_msg, "v=DKIM1; k=rsa; " + rsa_p), Result::permerror, Reason::key_type_mismatch);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; k=ed25519; " + ed_p), Result::permerror, Reason::key_type_mismatch);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; h=sha1; " + rsa_p), Result::permerror, Reason::key_hash_not_allowed);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; h=sha1:sha256; " + rsa_p), Result::pass, Reason::none);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; s=tlsrpt; " + rsa_p), Result::permerror, Reason::key_service_not_email);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; s=email; " + rsa_p), Result::pass, Reason::none);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"), Result::permerror,
                Reason::key_invalid);
  EXPECT_RESULT(with_record(rsa_msg, "v=spf1 -all"), Result::permerror, Reason::key_syntax);
  EXPECT_RESULT(with_record(rsa_msg, "v=DKIM1; k=dsa; p=AAAA"), Result::permerror, Reason::key_type_unknown);
  // Another signer's key under the same name.
  EXPECT_RESULT(with_record(rsa_msg, generate_key(KeyType::rsa).value().record), Result::fail,
                Reason::signature_mismatch);
}

TEST_F(DkimVerify, FirstUsableRecordOfSeveralIsUsed) {
  Message signed_msg = test::prepend(msg_, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, "not a key record");
  zone.add_txt(kKeyName, rsa_->record);
  EXPECT_RESULT(verify_one(zone, signed_msg), Result::pass, Reason::none);
}

TEST_F(DkimVerify, SeveralSignaturesEachWithItsOwnResult) {
  Message m = test::prepend(msg_, sign_with(*rsa_, msg_));
  m = test::prepend(m, sign_with(*ed_, msg_, [](SignRequest& r) { r.selector = "ed"; }));
  m = test::prepend(m, sign_with(*ed_, msg_, [](SignRequest& r) { r.domain = "other.example"; }));
  m = test::prepend(m, sign_with(*rsa_, msg_, [](SignRequest& r) { r.now = kNow + 1; }));  // same key name: one query
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  zone.add_txt("ed._domainkey.example.com", ed_->record);
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 4u);
  EXPECT_RESULT(r[0], Result::pass, Reason::none);
  EXPECT_EQ(r[0].field_index, 0u);
  EXPECT_EQ(r[1].domain, "other.example");
  EXPECT_RESULT(r[1], Result::permerror, Reason::key_not_found);
  EXPECT_RESULT(r[2], Result::pass, Reason::none);
  EXPECT_EQ(r[2].algorithm, "ed25519-sha256");
  EXPECT_RESULT(r[3], Result::pass, Reason::none);
  EXPECT_EQ(r[3].field_index, 3u);
  EXPECT_EQ(zone.query_count(), 3u);
  for (std::size_t i = 0; i < r.size(); ++i)
    for (std::size_t j = 0; j < r.size(); ++j)
      if (i != j) {
        EXPECT_NE(r[i].header_b, r[j].header_b);
      }
}

TEST_F(DkimVerify, HeaderBPrefixGrowsUntilUnique) {
  std::vector<SignatureResult> results(3);
  assign_header_b(results, {"abcdefghXYZ", "abcdefghXYQ", "zzzzzzzzzzzz"});
  EXPECT_EQ(results[0].header_b, "abcdefghXYZ");
  EXPECT_EQ(results[1].header_b, "abcdefghXYQ");
  EXPECT_EQ(results[2].header_b, "zzzzzzzz");
  std::vector<SignatureResult> shorter(2);
  assign_header_b(shorter, {"abc", "abcdefghijk"});
  EXPECT_EQ(shorter[0].header_b, "abc");
  EXPECT_EQ(shorter[1].header_b, "abcdefgh");
}

TEST_F(DkimVerify, SignatureCap) {
  Message m = msg_;
  for (int i = 0; i < 4; ++i) m = test::prepend(m, sign_with(*rsa_, msg_));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  VerifyOptions o = opts();
  o.max_signatures = 2;
  auto r = test::run_verify(zone, m, o);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_RESULT(r[1], Result::pass, Reason::none);
  EXPECT_RESULT(r[2], Result::neutral, Reason::not_evaluated);
  EXPECT_EQ(r[3].domain, "example.com");
  EXPECT_EQ(zone.query_count(), 1u);
}

TEST_F(DkimVerify, StreamingBodyHashesGiveTheSameResult) {
  Message m = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) { r.body_canon = Canon::simple; }));
  m = test::prepend(m, sign_with(*ed_, msg_, [](SignRequest& r) { r.selector = "ed"; }));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  zone.add_txt("ed._domainkey.example.com", ed_->record);
  VerifyOptions o = opts();
  BodyHashes hashes(m.headers, o);
  EXPECT_EQ(hashes.size(), 2u);
  for (std::size_t i = 0; i < m.body.size(); i += 3) hashes.update(std::string_view(m.body).substr(i, 3));
  hashes.finish();
  boost::asio::io_context ioc;
  auto r = test::run_bounded(ioc, verify(zone, m.headers, hashes, o));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_RESULT((*r)[0], Result::pass, Reason::none);
  EXPECT_RESULT((*r)[1], Result::pass, Reason::none);
}

TEST_F(DkimVerify, PureCoreTakesTheDnsAnswer) {
  Message m = test::prepend(msg_, sign_with(*ed_, msg_));
  BodyHashes hashes(m.headers, opts());
  hashes.update(m.body);
  hashes.finish();
  dns::Answer answer;
  answer.txt.push_back(ed_->record);
  EXPECT_RESULT(verify_signature(m.headers, 0, hashes, answer, opts()), Result::pass, Reason::none);
  dns::Answer timeout;
  timeout.status = dns::Status::temp_failure;
  EXPECT_RESULT(verify_signature(m.headers, 0, hashes, timeout, opts()), Result::temperror, Reason::key_dns_temporary);
  EXPECT_EQ(verify_signature(m.headers, 1, hashes, answer, opts()).reason, Reason::syntax);  // not a signature field
  BodyHashes unfinished(m.headers, opts());
  EXPECT_RESULT(verify_signature(m.headers, 0, unfinished, answer, opts()), Result::temperror, Reason::internal);
}

TEST_F(DkimVerify, SimpleCanonicalizationIsStrict) {
  Message m = test::prepend(msg_, sign_with(*rsa_, msg_, [](SignRequest& r) {
    r.header_canon = Canon::simple;
    r.body_canon = Canon::simple;
  }));
  dns::StaticZone zone;
  zone.add_txt(kKeyName, rsa_->record);
  EXPECT_RESULT(verify_one(zone, m), Result::pass, Reason::none);
  EXPECT_RESULT(verify_one(zone, replace_header(m, "Subject", "Subject:  Lunch\r\n")), Result::fail,
                Reason::signature_mismatch);
  Message body = m;
  body.body = "Hello Bob,\r\n\r\nlunch at noon?\r\n";  // one space fewer
  EXPECT_RESULT(verify_one(zone, body), Result::fail, Reason::body_hash_mismatch);
  Message trailing = m;
  trailing.body += "\r\n\r\n";  // trailing empty lines do not count
  EXPECT_RESULT(verify_one(zone, trailing), Result::pass, Reason::none);
}

}  // namespace
}  // namespace gatehouse::auth::dkim
