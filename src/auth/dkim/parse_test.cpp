// Unit tests for the pure DKIM parsers: tag-list (RFC 6376 §3.2: duplicates, empty specs,
// trailing ';', FWS), base64 with FWS, DKIM-Signature tags (§3.5: required tags, v a c d h i l q
// s t x z, unknown tags ignored, caps), key records (§3.6.1: v h k n p s t, revocation), the
// message splitter and LF->CRLF.
// Must not: touch the network or read the clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dkim.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {
namespace {

const std::string kBase = "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=AAAA; b=AAAA";

TEST(DkimTagList, ParsesFwsAndTrailingSemicolon) {
  auto tl = detail::parse_tag_list(" v = 1 ;\r\n\ta=rsa-sha256;  b= ab\r\n cd ;");
  ASSERT_EQ(tl.error, Reason::none) << tl.detail;
  ASSERT_EQ(tl.tags.size(), 3u);
  EXPECT_EQ(tl.tags[0].name, "v");
  EXPECT_EQ(tl.tags[0].value, "1");
  EXPECT_EQ(tl.tags[2].value, "ab\r\n cd");
  EXPECT_EQ(detail::strip_fws(tl.tags[2].value), "abcd");
}

TEST(DkimTagList, DuplicateTagIsAnError) {
  auto tl = detail::parse_tag_list("v=1; a=x; v=1");
  EXPECT_EQ(tl.error, Reason::duplicate_tag);
}

TEST(DkimTagList, SyntaxErrors) {
  EXPECT_EQ(detail::parse_tag_list("v=1;; a=2").error, Reason::syntax);  // empty spec in the middle
  EXPECT_EQ(detail::parse_tag_list("v=1; novalue").error, Reason::syntax);
  EXPECT_EQ(detail::parse_tag_list("1v=1").error, Reason::syntax);       // tag-name starts with ALPHA
  EXPECT_EQ(detail::parse_tag_list("v=a\x01z").error, Reason::syntax);  // control character
  EXPECT_EQ(detail::parse_tag_list("").error, Reason::none);
  EXPECT_EQ(detail::parse_tag_list("  ;").error, Reason::none);
  EXPECT_EQ(detail::parse_tag_list("a_1=x").error, Reason::none);
  EXPECT_EQ(detail::parse_tag_list("a=").tags.at(0).value, "");  // empty value is fine
}

TEST(DkimBase64, DecodesWithFwsAndRejectsGarbage) {
  EXPECT_EQ(detail::base64_decode("aGVs\r\n bG8="), "hello");
  EXPECT_EQ(detail::base64_decode("aGVsbG8"), "hello");  // unpadded (as some signers write)
  EXPECT_FALSE(detail::base64_decode("aGVs*G8="));
  EXPECT_FALSE(detail::base64_decode("aG=Vs"));  // data after padding
  EXPECT_FALSE(detail::base64_decode("a"));
  EXPECT_EQ(detail::base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(detail::base64_encode(""), "");
  EXPECT_EQ(detail::base64_decode(detail::base64_encode(std::string("\0\xff\x10", 3))), std::string("\0\xff\x10", 3));
}

TEST(DkimSignatureParse, MinimalSignatureAndDefaults) {
  auto p = parse_signature(kBase);
  ASSERT_TRUE(p.ok()) << p.detail;
  const Signature& s = p.signature;
  EXPECT_EQ(s.algorithm, Algorithm::rsa_sha256);
  EXPECT_EQ(s.header_canon, Canon::simple);  // c= default simple/simple
  EXPECT_EQ(s.body_canon, Canon::simple);
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.selector, "sel");
  EXPECT_EQ(s.identity, "@example.com");  // i= default
  EXPECT_THAT(s.signed_headers, ::testing::ElementsAre("from", "to"));
  EXPECT_FALSE(s.body_length);
  EXPECT_FALSE(s.timestamp);
  EXPECT_FALSE(s.expiration);
}

TEST(DkimSignatureParse, AllTags) {
  auto p = parse_signature(
      " v=1; a=ed25519-sha256; c=relaxed; d=Example.COM; s=Sel.2024; h=From : Subject\r\n :to;"
      " i=user@mail.example.com; l=120; q=dns/txt; t=1000; x=2000; z=From:a@b|To:c@d;"
      " bh=AAAA; b=AA\r\n AA; future=ignored\r\n");
  ASSERT_TRUE(p.ok()) << p.detail;
  const Signature& s = p.signature;
  EXPECT_EQ(s.algorithm, Algorithm::ed25519_sha256);
  EXPECT_EQ(s.header_canon, Canon::relaxed);
  EXPECT_EQ(s.body_canon, Canon::simple);  // "c=relaxed" means relaxed/simple
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.selector, "sel.2024");
  EXPECT_THAT(s.signed_headers, ::testing::ElementsAre("from", "subject", "to"));
  EXPECT_EQ(s.identity, "user@mail.example.com");
  EXPECT_EQ(s.body_length, 120u);
  EXPECT_EQ(s.timestamp, 1000);
  EXPECT_EQ(s.expiration, 2000);
  EXPECT_EQ(s.copied_headers, "From:a@b|To:c@d");
  EXPECT_EQ(s.b_text, "AAAA");
}

TEST(DkimSignatureParse, Failures) {
  auto err = [](const std::string& v) { return parse_signature(v).error; };
  EXPECT_EQ(err(kBase + "; d=example.org"), Reason::duplicate_tag);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA"), Reason::missing_tag);  // b=
  EXPECT_EQ(err("a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA"), Reason::missing_tag);  // v=
  EXPECT_EQ(err("v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA"), Reason::unsupported_version);
  EXPECT_EQ(err("v=1; a=rsa-md5; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA"), Reason::unsupported_algorithm);
  EXPECT_EQ(err("v=1; a=rsa-sha256; c=fancy/simple; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA"),
            Reason::unsupported_canonicalization);
  EXPECT_EQ(err(kBase + "; q=http/well-known"), Reason::unsupported_query_method);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; bh=AAAA; b=AAAA"), Reason::from_not_signed);
  EXPECT_EQ(err(kBase + "; i=@example.org"), Reason::identity_mismatch);
  EXPECT_EQ(err(kBase + "; i=@notexample.com"), Reason::identity_mismatch);  // suffix, not a subdomain
  EXPECT_EQ(err(kBase + "; i=nobody"), Reason::syntax);
  EXPECT_EQ(err(kBase + "; l=12x"), Reason::syntax);
  EXPECT_EQ(err(kBase + "; t=100; x=100"), Reason::expiry_before_timestamp);
  EXPECT_EQ(err(kBase + "; t=200; x=100"), Reason::expiry_before_timestamp);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=exa mple.com; s=sel; h=from; bh=AAAA; b=AAAA"), Reason::syntax);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=!!!"), Reason::syntax);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b="), Reason::syntax);
  EXPECT_EQ(err("v=1; a=rsa-sha256; d=example.com; s=sel; h=from::to; bh=AAAA; b=AAAA"), Reason::syntax);
  EXPECT_EQ(err(std::string(kMaxSignatureField + 1, 'a')), Reason::syntax);
}

TEST(DkimSignatureParse, Rsa1IsRecognisedForTheVerifierToRefuse) {
  auto p = parse_signature("v=1; a=rsa-sha1; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.signature.algorithm, Algorithm::rsa_sha1);
}

TEST(DkimSignatureParse, ReportFieldsSurviveErrors) {
  auto p = parse_signature("v=1; a=rsa-sha256; d=Example.com; s=sel; i=@example.com; h=to; bh=AAAA; b=QUJDREVGR0hJSg==");
  EXPECT_EQ(p.error, Reason::from_not_signed);
  EXPECT_EQ(p.signature.domain, "example.com");
  EXPECT_EQ(p.signature.selector, "sel");
  EXPECT_EQ(p.signature.identity, "@example.com");
  EXPECT_EQ(p.signature.b_text, "QUJDREVGR0hJSg==");
}

TEST(DkimSignatureParse, TimeValuesLongerThan12DigitsAreInfinite) {
  auto p = parse_signature(kBase + "; x=99999999999999999999999");
  ASSERT_TRUE(p.ok()) << p.detail;
  EXPECT_EQ(p.signature.expiration, std::numeric_limits<std::int64_t>::max());
  auto l = parse_signature(kBase + "; l=999999999999999999999999999");  // saturates, no overflow
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l.signature.body_length, std::numeric_limits<std::uint64_t>::max());
}

TEST(DkimKeyRecord, Defaults) {
  auto k = parse_key_record("p=AAAA");
  ASSERT_TRUE(k.ok()) << k.detail;
  EXPECT_EQ(k.key.type, KeyType::rsa);  // k= default
  EXPECT_TRUE(k.key.hashes.empty());
  EXPECT_THAT(k.key.services, ::testing::ElementsAre("*"));
  EXPECT_FALSE(k.key.testing);
  EXPECT_FALSE(k.key.strict);
  EXPECT_EQ(k.key.public_key.size(), 3u);
}

TEST(DkimKeyRecord, AllTags) {
  auto k = parse_key_record("v=DKIM1; h=sha1:sha256; k=ed25519; n=notes here; s=email:tlsrpt; t=y:s:x; p=AA AA");
  ASSERT_TRUE(k.ok()) << k.detail;
  EXPECT_EQ(k.key.type, KeyType::ed25519);
  EXPECT_THAT(k.key.hashes, ::testing::ElementsAre("sha1", "sha256"));
  EXPECT_EQ(k.key.notes, "notes here");
  EXPECT_THAT(k.key.services, ::testing::ElementsAre("email", "tlsrpt"));
  EXPECT_TRUE(k.key.testing);
  EXPECT_TRUE(k.key.strict);
}

TEST(DkimKeyRecord, Failures) {
  EXPECT_EQ(parse_key_record("v=DKIM1; p=").error, Reason::key_revoked);
  EXPECT_EQ(parse_key_record("v=DKIM1; k=rsa; p= ").error, Reason::key_revoked);
  EXPECT_EQ(parse_key_record("v=DKIM2; p=AAAA").error, Reason::key_syntax);
  EXPECT_EQ(parse_key_record("v=DKIM1: g=*; k=rsa; p=AAAA").error, Reason::key_syntax);  // dkimpy badversion
  EXPECT_EQ(parse_key_record("v=DKIM1; k=rsa").error, Reason::key_syntax);              // no p=
  EXPECT_EQ(parse_key_record("v=DKIM1; p=AAAA; p=AAAA").error, Reason::key_syntax);      // duplicate
  EXPECT_EQ(parse_key_record("k=ed25519-sha256; p=AAAA").error, Reason::key_type_unknown);
  EXPECT_EQ(parse_key_record("k=dsa; p=AAAA").error, Reason::key_type_unknown);
  EXPECT_EQ(parse_key_record("s=tlsrpt; p=AAAA").error, Reason::key_service_not_email);
  EXPECT_EQ(parse_key_record("p=A*AA").error, Reason::key_invalid);
  EXPECT_EQ(parse_key_record(std::string(kMaxKeyRecord + 1, 'a')).error, Reason::key_syntax);
}

TEST(DkimMessage, LfToCrlf) {
  EXPECT_EQ(lf_to_crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
  EXPECT_EQ(lf_to_crlf("\n"), "\r\n");
  EXPECT_EQ(lf_to_crlf(""), "");
}

TEST(DkimMessage, SplitsHeadersAndBody) {
  auto m = split_message("From: a@example.com\r\nSubject: one\r\n two\r\nX-Obs : v\r\n\r\nbody\r\n");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_EQ(m->headers.size(), 3u);
  EXPECT_EQ(m->headers[0].name, "From");
  EXPECT_EQ(m->headers[1].raw, "Subject: one\r\n two\r\n");
  EXPECT_EQ(m->headers[2].name, "X-Obs");
  EXPECT_EQ(m->body, "body\r\n");
}

TEST(DkimMessage, SplitEdgeCases) {
  auto no_body = split_message("From: a@example.com\r\n");
  ASSERT_TRUE(no_body.has_value());
  EXPECT_EQ(no_body->body, "");
  auto mbox = split_message("From someone Mon Jan  1 00:00:00 2024\r\nFrom: a@example.com\r\n\r\nx");
  ASSERT_TRUE(mbox.has_value());
  EXPECT_EQ(mbox->headers.size(), 1u);
  EXPECT_FALSE(split_message(" continuation first\r\n\r\n").has_value());
  EXPECT_FALSE(split_message("no colon here\r\n\r\n").has_value());
  std::string many;
  for (std::size_t i = 0; i <= kMaxHeaderFields; ++i) many += "X: y\r\n";
  EXPECT_FALSE(split_message(many + "\r\n").has_value());
  EXPECT_FALSE(split_message("X: " + std::string(kMaxHeaderBlock + 10, 'a')).has_value());
}

TEST(DkimNames, ToString) {
  EXPECT_EQ(to_string(Result::pass), "pass");
  EXPECT_EQ(to_string(Result::permerror), "permerror");
  EXPECT_EQ(to_string(Result::policy), "policy");
  EXPECT_EQ(to_string(Algorithm::ed25519_sha256), "ed25519-sha256");
  EXPECT_EQ(to_string(Canon::relaxed), "relaxed");
  EXPECT_EQ(to_string(Reason::body_hash_mismatch), "body hash mismatch");
  EXPECT_EQ(to_string(KeyType::ed25519), "ed25519");
}

}  // namespace
}  // namespace gatehouse::auth::dkim
