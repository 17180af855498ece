// Published test vectors (tests/data/auth/dkim/, byte copies, see its README.md):
//  * RFC 8463 Appendix A: signed.msg verifies (Ed25519 and RSA, relaxed/relaxed) against the
//    A.2 records, and signing unsigned.msg with the A.1 keys and the A.3 tags reproduces both
//    published DKIM-Signature fields exactly (modulo folding, which relaxed ignores);
//  * dkimpy's data: rfc6376.signed.msg (simple/simple, two signatures), Gmail's test2.message,
//    Exim's Ed25519 ed25519test2.msg; test.message signed with test.private against every record
//    variant (test, test2, badversion, badk, test_bad, test_tlsrpt); ed25519test.msg with
//    ed25519test.key/.dns; message.mbox (a foreign signature without key, then re-signed).
// The RFC-style dns.zone files are loaded with the test's own loader (test_util.hpp), because
// StaticZone's format differs and the data stays unmodified.
// Must not: touch the network or read the clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dkim.hpp"
#include "internal.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dkim {
namespace {

constexpr std::int64_t kNow = 1760000000;  // 2025-10, after every t= below

VerifyOptions opts() {
  VerifyOptions o;
  o.now = kNow;
  return o;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST(DkimVectors, Rfc8463SignedMessageVerifiesBothSignatures) {
  auto zone = test::load_rfc_zone("rfc8463/dns.zone");
  ASSERT_EQ(zone.name_count(), 2u);
  Message m = test::load_message("rfc8463/signed.msg");
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, Result::pass) << r[0].detail;
  EXPECT_EQ(r[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(r[0].selector, "brisbane");
  EXPECT_EQ(r[0].domain, "football.example.com");
  EXPECT_EQ(r[0].identity, "@football.example.com");
  EXPECT_EQ(r[0].header_b, "/gCrinpc");
  EXPECT_EQ(r[1].result, Result::pass) << r[1].detail;
  EXPECT_EQ(r[1].algorithm, "rsa-sha256");
  EXPECT_EQ(r[1].selector, "test");
  EXPECT_EQ(r[1].key_bits, 1024u);
  EXPECT_EQ(r[1].header_b, "F45dVWDf");
}

TEST(DkimVectors, Rfc8463TamperedCopyFails) {
  auto zone = test::load_rfc_zone("rfc8463/dns.zone");
  Message m = test::load_message("rfc8463/signed.msg");
  m.body = "Hi.\r\n\r\nWe won the game.\r\n";
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].reason, Reason::body_hash_mismatch);
  EXPECT_EQ(r[1].reason, Reason::body_hash_mismatch);
}

// The two A.3 fields, with the same tags as printed, made by our signer from unsigned.msg.
TEST(DkimVectors, Rfc8463SigningReproducesThePublishedSignatures) {
  Message unsigned_msg = test::load_message("rfc8463/unsigned.msg");
  Message published = test::load_message("rfc8463/signed.msg");
  ASSERT_GE(published.headers.size(), 2u);
  struct Case {
    const char* key_file;
    const char* selector;
    std::size_t published_index;
  };
  for (const Case& c : {Case{"rfc8463/ed25519.secret.b64", "brisbane", 0}, Case{"rfc8463/rsa.secret.pem", "test", 1}}) {
    SignRequest r;
    r.private_key = test::read_data(c.key_file);
    r.message = &unsigned_msg;
    r.domain = "football.example.com";
    r.selector = c.selector;
    r.identity = "@football.example.com";
    r.query_method = true;
    r.now = 1528637909;
    r.headers = {"from", "to", "subject", "date", "message-id", "from", "subject", "date"};
    r.header_separator = " : ";
    auto field = try_sign(r);
    ASSERT_TRUE(field.has_value()) << field.error().message;
    const std::string& want = published.headers[c.published_index].raw;
    // Byte-equal once folding is taken out: same tags, same bh=, same b=.
    EXPECT_EQ(detail::strip_fws(*field), detail::strip_fws(want)) << *field << "\nvs\n" << want;
    auto mine = parse_signature(std::string_view(*field).substr(field->find(':') + 1));
    auto theirs = parse_signature(std::string_view(want).substr(want.find(':') + 1));
    ASSERT_TRUE(mine.ok() && theirs.ok());
    EXPECT_EQ(mine.signature.b_text, theirs.signature.b_text);
    EXPECT_EQ(mine.signature.bh, theirs.signature.bh);
  }
}

TEST(DkimVectors, DkimpySimpleSimpleVersionOfTheExample) {
  auto zone = test::load_rfc_zone("dkimpy/dns.zone");
  Message m = test::load_message("dkimpy/rfc6376.signed.msg");
  // The header lines end in a space before each fold: kept byte for byte.
  EXPECT_THAT(m.headers[0].raw, ::testing::HasSubstr("c=simple/simple; \r\n d="));
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result, Result::pass) << r[0].detail;
  EXPECT_EQ(r[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(r[1].result, Result::pass) << r[1].detail;
  EXPECT_EQ(r[1].algorithm, "rsa-sha256");
}

TEST(DkimVectors, GmailDegenerateFolding) {
  auto zone = test::load_rfc_zone("dkimpy/dns.zone");
  Message m = test::load_message("dkimpy/test2.message");
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, Result::pass) << r[0].detail;
  EXPECT_EQ(r[0].domain, "gmail.com");
  EXPECT_EQ(r[0].key_bits, 2048u);
}

TEST(DkimVectors, EximEd25519) {
  auto zone = test::load_rfc_zone("dkimpy/dns.zone");
  Message m = test::load_message("dkimpy/ed25519test2.msg");
  auto r = test::run_verify(zone, m, opts());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, Result::pass) << r[0].detail;
  EXPECT_EQ(r[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(r[0].domain, "test.ex");
}

TEST(DkimVectors, DkimpyKeyRecordVariants) {
  Message m = test::load_message("dkimpy/test.message");
  SignRequest req;
  req.private_key = test::read_data("dkimpy/test.private");
  req.message = &m;
  req.domain = "example.com";
  req.selector = "test";
  req.now = kNow;
  auto field = try_sign(req);
  ASSERT_TRUE(field.has_value()) << field.error().message;
  Message signed_msg = test::prepend(m, *field);
  struct Case {
    const char* record;
    Result result;
    Reason reason;
  };
  for (const Case& c : {Case{"dkimpy/test.txt", Result::pass, Reason::none},
                        Case{"dkimpy/test2.txt", Result::pass, Reason::none},  // no k=: rsa
                        Case{"dkimpy/badversion.txt", Result::permerror, Reason::key_syntax},
                        Case{"dkimpy/badk.txt", Result::permerror, Reason::key_type_unknown},
                        Case{"dkimpy/test_bad.txt", Result::permerror, Reason::key_invalid},
                        Case{"dkimpy/test_tlsrpt.txt", Result::permerror, Reason::key_service_not_email}}) {
    dns::StaticZone zone;
    zone.add_txt("test._domainkey.example.com", first_line(test::read_data(c.record)));
    auto r = test::run_verify(zone, signed_msg, opts());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].result, c.result) << c.record << ": " << r[0].detail;
    EXPECT_EQ(r[0].reason, c.reason) << c.record << ": " << r[0].detail;
  }
}

TEST(DkimVectors, DkimpyEd25519Key) {
  Message m = test::load_message("dkimpy/ed25519test.msg");
  SignRequest req;
  req.private_key = test::read_data("dkimpy/ed25519test.key");
  req.message = &m;
  req.domain = "example.net";
  req.selector = "test";
  req.now = kNow;
  auto field = try_sign(req);
  ASSERT_TRUE(field.has_value()) << field.error().message;
  for (bool from_zone : {true, false}) {
    dns::StaticZone zone;
    if (from_zone) zone = test::load_rfc_zone("dkimpy/dns.zone");
    else zone.add_txt("test._domainkey.example.net", first_line(test::read_data("dkimpy/ed25519test.dns")));  // no v=
    auto r = test::run_verify(zone, test::prepend(m, *field), opts());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].result, Result::pass) << r[0].detail;
  }
}

TEST(DkimVectors, MboxWithForeignSignatureThenResigned) {
  Message m = test::load_message("dkimpy/message.mbox");
  auto zone = test::load_rfc_zone("dkimpy/dns.zone");  // has no key for kitterman.com
  auto before = test::run_verify(zone, m, opts());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].result, Result::permerror);
  EXPECT_EQ(before[0].reason, Reason::key_not_found);
  EXPECT_EQ(before[0].domain, "kitterman.com");

  SignRequest req;
  req.private_key = test::read_data("dkimpy/test.private");
  req.message = &m;
  req.domain = "example.com";
  req.selector = "test";
  req.now = kNow;
  req.header_canon = Canon::simple;
  req.body_canon = Canon::simple;
  auto field = try_sign(req);
  ASSERT_TRUE(field.has_value()) << field.error().message;
  auto after = test::run_verify(zone, test::prepend(m, *field), opts());
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].result, Result::pass) << after[0].detail;
  EXPECT_EQ(after[1].reason, Reason::key_not_found);
}

TEST(DkimVectors, UnsignedMessageBodyHashMatchesTheRfc) {
  Message m = test::load_message("rfc8463/unsigned.msg");
  BodyHasher h(Canon::relaxed);
  h.update(m.body);
  EXPECT_EQ(detail::base64_encode(h.finish().sha256), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

}  // namespace
}  // namespace gatehouse::auth::dkim
