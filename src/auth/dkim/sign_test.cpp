// Unit tests for signing (RFC 6376 §5): round trips sign -> verify for RSA-2048 and Ed25519 with
// every c= combination, folding (<= 78 columns, CRLF, only where FWS is allowed), the default
// h= set with From over-signed (§5.4, §5.4.2), the optional tags (i l q t x), the streaming body
// digest, and what the signer refuses.
// Must not: touch the network or read the clock.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "gatehouse/auth/dkim.hpp"
#include "internal.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dkim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::int64_t kNow = 1700000000;

const char* kText =
    "Received: from relay.example.com by mx.example.net; Tue, 14 Nov 2023 22:13:21 +0000\n"
    "From: Alice <alice@example.com>\n"
    "To: bob@example.net, carol@example.net\n"
    "Cc: dave@example.org\n"
    "Subject: A subject that is long enough to be folded somewhere in the middle of\n"
    " the line, as mail clients do\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Message-ID: <2@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 7bit\n"
    "List-Id: <team.example.com>\n"
    "List-Unsubscribe: <mailto:leave@example.com>\n"
    "X-Mailer: test\n"
    "\n"
    "Hi,\n"
    "  indented line with trailing spaces   \n"
    "\ttab line\n"
    "\n"
    "\n";

class DkimSign : public ::testing::Test {
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

  SignRequest request(const GeneratedKey& key) const {
    SignRequest r;
    r.private_key = key.private_pem;
    r.message = &msg_;
    r.domain = "example.com";
    r.selector = "s2023";
    r.now = kNow;
    return r;
  }

  std::vector<SignatureResult> verify_with(const GeneratedKey& key, const Message& m, std::int64_t now = kNow) {
    dns::StaticZone zone;
    zone.add_txt("s2023._domainkey.example.com", split_txt_strings(key.record));
    VerifyOptions o;
    o.now = now;
    return test::run_verify(zone, m, o);
  }

  static GeneratedKey* rsa_;
  static GeneratedKey* ed_;
  Message msg_;
};

GeneratedKey* DkimSign::rsa_ = nullptr;
GeneratedKey* DkimSign::ed_ = nullptr;

void expect_well_folded(const std::string& field) {
  ASSERT_THAT(field, ::testing::EndsWith("\r\n"));
  EXPECT_THAT(field, ::testing::StartsWith("DKIM-Signature: v=1; a="));
  std::size_t pos = 0;
  while (pos < field.size()) {
    std::size_t eol = field.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    EXPECT_LE(eol - pos, 78u) << field.substr(pos, eol - pos);
    if (pos > 0) {
      EXPECT_EQ(field[pos], ' ');  // every continuation line starts with WSP
    }
    pos = eol + 2;
  }
  EXPECT_EQ(field.find('\n'), field.find("\r\n") + 1);  // no bare LF
}

TEST_F(DkimSign, RoundTripsForEveryKeyAndCanonicalization) {
  for (const GeneratedKey* key : {rsa_, ed_}) {
    for (Canon hc : {Canon::simple, Canon::relaxed}) {
      for (Canon bc : {Canon::simple, Canon::relaxed}) {
        SignRequest r = request(*key);
        r.header_canon = hc;
        r.body_canon = bc;
        std::string field = sign(r);
        ASSERT_FALSE(field.empty());
        expect_well_folded(field);
        EXPECT_THAT(field, HasSubstr(fmt::format("c={}/{};", to_string(hc), to_string(bc))));
        auto res = verify_with(*key, test::prepend(msg_, field));
        ASSERT_EQ(res.size(), 1u);
        EXPECT_EQ(res[0].result, Result::pass)
            << to_string(key->type) << " " << to_string(hc) << "/" << to_string(bc) << ": " << res[0].detail;
      }
    }
  }
}

TEST_F(DkimSign, DefaultTagsAndHeaderList) {
  std::string field = sign(request(*rsa_));
  auto parsed = parse_signature(std::string_view(field).substr(field.find(':') + 1));
  ASSERT_TRUE(parsed.ok()) << parsed.detail;
  const Signature& s = parsed.signature;
  EXPECT_EQ(s.algorithm, Algorithm::rsa_sha256);
  EXPECT_EQ(s.header_canon, Canon::relaxed);
  EXPECT_EQ(s.body_canon, Canon::relaxed);
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.selector, "s2023");
  EXPECT_EQ(s.timestamp, kNow);
  EXPECT_FALSE(s.expiration);
  EXPECT_FALSE(s.body_length);
  EXPECT_EQ(field.find(" i="), std::string::npos);
  EXPECT_EQ(field.find("q="), std::string::npos);
  // Usual fields present in the message, top to bottom, then From once more; not Received/X-Mailer.
  EXPECT_THAT(s.signed_headers,
              ElementsAre("from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type",
                          "content-transfer-encoding", "list-id", "list-unsubscribe", "from"));
  EXPECT_EQ(s.bh.size(), 32u);
  EXPECT_EQ(s.b.size(), 256u);  // RSA-2048
}

TEST_F(DkimSign, DefaultHeaderListHelper) {
  std::vector<HeaderField> h = {{"From", ""}, {"Reply-To", ""}, {"In-Reply-To", ""}, {"References", ""},
                                {"List-Post", ""}, {"Received", ""}, {"From", ""}, {"Bcc", ""}};
  EXPECT_THAT(default_signed_headers(h),
              ElementsAre("from", "reply-to", "in-reply-to", "references", "list-post", "from", "from"));
}

TEST_F(DkimSign, OptionalTags) {
  SignRequest r = request(*ed_);
  r.identity = "alice@mail.example.com";
  r.query_method = true;
  r.expiration = kNow + 86400;
  r.body_length = true;
  r.headers = {"From", "Subject", "X-Missing"};
  r.header_separator = " : ";
  std::string field = sign(r);
  ASSERT_FALSE(field.empty());
  expect_well_folded(field);
  auto parsed = parse_signature(std::string_view(field).substr(field.find(':') + 1));
  ASSERT_TRUE(parsed.ok()) << parsed.detail;
  EXPECT_EQ(parsed.signature.identity, "alice@mail.example.com");
  EXPECT_EQ(parsed.signature.expiration, kNow + 86400);
  EXPECT_EQ(parsed.signature.body_length, canonicalize_body(Canon::relaxed, msg_.body).size());
  EXPECT_THAT(parsed.signature.signed_headers, ElementsAre("from", "subject", "x-missing"));
  EXPECT_THAT(detail::strip_fws(field), HasSubstr("h=From:Subject:X-Missing;"));
  EXPECT_THAT(field, HasSubstr("q=dns/txt;"));
  // Tag order as dkimpy and RFC 8463 print it.
  std::vector<std::size_t> at;
  for (const char* t : {"v=", "a=", "c=", "d=", "i=", "l=", "q=", "s=", "t=", "x=", "h=", "bh=", " b="})
    at.push_back(field.find(t));
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end())) << field;

  auto res = verify_with(*ed_, test::prepend(msg_, field), kNow + 100);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result, Result::pass) << res[0].detail;
  // The signed-but-absent X-Missing cannot be added afterwards.
  Message added = test::prepend(msg_, field);
  added.headers.push_back(HeaderField{"X-Missing", "X-Missing: now here\r\n"});
  EXPECT_EQ(verify_with(*ed_, added, kNow + 100)[0].reason, Reason::signature_mismatch);
}

TEST_F(DkimSign, LongHeaderListFoldsAfterColons) {
  SignRequest r = request(*rsa_);
  r.headers = default_signed_headers(msg_.headers);
  for (int i = 0; i < 10; ++i) r.headers.push_back("x-some-rather-long-header-name-" + std::to_string(i));
  std::string field = sign(r);
  expect_well_folded(field);
  EXPECT_EQ(verify_with(*rsa_, test::prepend(msg_, field))[0].result, Result::pass);
  r.header_canon = Canon::simple;
  field = sign(r);
  expect_well_folded(field);
  EXPECT_EQ(verify_with(*rsa_, test::prepend(msg_, field))[0].result, Result::pass);
}

TEST_F(DkimSign, Rsa4096SignatureFoldsAndVerifies) {
  auto big = generate_key(KeyType::rsa, 4096);
  ASSERT_TRUE(big.has_value());
  std::string field = sign(request(*big));
  expect_well_folded(field);
  auto res = verify_with(*big, test::prepend(msg_, field));
  EXPECT_EQ(res[0].result, Result::pass) << res[0].detail;
  EXPECT_EQ(res[0].key_bits, 4096u);
}

TEST_F(DkimSign, StreamingBodyDigestMatches) {
  SignRequest whole = request(*rsa_);
  SignRequest streamed = request(*rsa_);
  BodyHasher hasher(streamed.body_canon);
  for (std::size_t i = 0; i < msg_.body.size(); i += 5) hasher.update(std::string_view(msg_.body).substr(i, 5));
  streamed.body_digest = hasher.finish();
  Message headers_only = msg_;
  headers_only.body = "not read";
  streamed.message = &headers_only;
  std::string a = sign(whole);
  std::string b = sign(streamed);
  EXPECT_EQ(a, b);  // RSA PKCS#1 v1.5 is deterministic
}

TEST_F(DkimSign, Refusals) {
  auto refuse = [&](SignRequest r, const std::string& why) {
    auto s = try_sign(r);
    ASSERT_FALSE(s.has_value()) << why;
    EXPECT_THAT(s.error().message, HasSubstr(why));
    EXPECT_EQ(sign(r), "");
  };
  SignRequest r = request(*rsa_);
  r.headers = {"to", "subject"};
  refuse(r, "must include From");
  r = request(*rsa_);
  r.message = nullptr;
  refuse(r, "no message");
  r = request(*rsa_);
  r.domain = "exa mple.com";
  refuse(r, "is not a domain name");
  r = request(*rsa_);
  r.selector = "";
  refuse(r, "selector");
  r = request(*rsa_);
  r.identity = "alice@example.org";
  refuse(r, "is not within d=");
  r = request(*rsa_);
  r.identity = "alice";
  refuse(r, "'@'");
  r = request(*rsa_);
  r.expiration = kNow;
  refuse(r, "x= must be after t=");
  r = request(*rsa_);
  r.headers = {"from", "bad name"};
  refuse(r, "not a header field name");
  r = request(*rsa_);
  r.private_key = "garbage";
  refuse(r, "private key");
  r = request(*rsa_);
  r.header_separator = ";";
  refuse(r, "header_separator");

  Message no_from = test::load_message("dkimpy/test_nofrom.message");
  r = request(*rsa_);
  r.message = &no_from;
  refuse(r, "no From field");
}

}  // namespace
}  // namespace gatehouse::auth::dkim
