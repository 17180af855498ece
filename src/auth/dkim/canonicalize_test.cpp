// Unit tests for canonicalization (RFC 6376 §3.4, with the §3.4.5 example), the incremental
// body canonicalizer fed in every possible split, body hashes with l= (§3.4.5), header
// selection bottom-up with over-signing (§5.4.2), and the b= removal of the hash input (§3.7).
// Must not: touch the network or read the clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "gatehouse/auth/dkim.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {
namespace {

class Collect final : public BodySink {
 public:
  void write(std::string_view b) override { s += b; }
  std::string s;
};

std::string feed_in_pieces(Canon c, std::string_view body, std::size_t piece) {
  Collect out;
  BodyCanonicalizer canon(c);
  for (std::size_t i = 0; i < body.size(); i += piece) canon.update(body.substr(i, piece), out);
  canon.finish(out);
  return out.s;
}

// RFC 6376 §3.4.6 example.
const std::string kExampleHeaders[] = {"A: X\r\n", "B : Y\t\r\n\tZ  \r\n"};
const std::string kExampleBody = " C \r\nD \t E\r\n\r\n\r\n";

TEST(DkimCanonHeader, RfcExample) {
  EXPECT_EQ(canonicalize_header(Canon::relaxed, kExampleHeaders[0]), "a:X\r\n");
  EXPECT_EQ(canonicalize_header(Canon::relaxed, kExampleHeaders[1]), "b:Y Z\r\n");
  EXPECT_EQ(canonicalize_header(Canon::simple, kExampleHeaders[1]), kExampleHeaders[1]);
}

TEST(DkimCanonHeader, RelaxedDetails) {
  EXPECT_EQ(canonicalize_header(Canon::relaxed, "SUBJECT:   hello   world  \r\n"), "subject:hello world\r\n");
  EXPECT_EQ(canonicalize_header(Canon::relaxed, "X-Empty:\r\n"), "x-empty:\r\n");
  EXPECT_EQ(canonicalize_header(Canon::relaxed, "X-Fold: a\r\n\r\n b\r\n"), "x-fold:a b\r\n");
  EXPECT_EQ(canonicalize_header(Canon::relaxed, "To: a,\r\n\tb"), "to:a, b\r\n");  // no final CRLF
}

TEST(DkimCanonBody, RfcExample) {
  EXPECT_EQ(canonicalize_body(Canon::relaxed, kExampleBody), " C\r\nD E\r\n");
  EXPECT_EQ(canonicalize_body(Canon::simple, kExampleBody), " C \r\nD \t E\r\n");
}

TEST(DkimCanonBody, EmptyAndDegenerateBodies) {
  EXPECT_EQ(canonicalize_body(Canon::simple, ""), "\r\n");  // §3.4.3
  EXPECT_EQ(canonicalize_body(Canon::relaxed, ""), "");     // §3.4.4
  EXPECT_EQ(canonicalize_body(Canon::simple, "\r\n\r\n\r\n"), "\r\n");
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "\r\n \r\n\t\r\n"), "");
  EXPECT_EQ(canonicalize_body(Canon::simple, "abc"), "abc\r\n");  // missing final CRLF added
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "abc  "), "abc\r\n");
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "\r\n\r\nabc\r\n"), "\r\n\r\nabc\r\n");  // leading lines kept
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "a\r\n  \r\nb\r\n"), "a\r\n\r\nb\r\n");
  EXPECT_EQ(canonicalize_body(Canon::simple, "a\rb\r\n"), "a\rb\r\n");  // bare CR is content
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "a \rb\r\n"), "a \rb\r\n");
  EXPECT_EQ(canonicalize_body(Canon::simple, "a\r"), "a\r\r\n");
  EXPECT_EQ(canonicalize_body(Canon::relaxed, "a\nb \n"), "a\nb \n\r\n");  // bare LF is content
}

TEST(DkimCanonBody, EverySplitGivesTheSameBytes) {
  const std::string bodies[] = {
      kExampleBody, "line one  \r\n\ttabbed\t\r\n\r\n\r\nlast", "\r\n\r\n \r\n", "x\r\r\n\r\n \t \r\n", "",
      std::string(1000, '\n') + "z\r\n\r\n"};
  for (const auto& body : bodies) {
    for (Canon c : {Canon::simple, Canon::relaxed}) {
      const std::string whole = canonicalize_body(c, body);
      for (std::size_t piece = 1; piece <= 7; ++piece)
        EXPECT_EQ(feed_in_pieces(c, body, piece), whole) << "piece " << piece << " canon " << to_string(c);
    }
  }
}

TEST(DkimCanonBody, RandomSplitsOfRandomBodies) {
  std::mt19937 rng(42);
  const char alphabet[] = {' ', '\t', '\r', '\n', 'a', 'b'};
  for (int round = 0; round < 300; ++round) {
    std::string body;
    std::size_t len = rng() % 60;
    for (std::size_t i = 0; i < len; ++i) body.push_back(alphabet[rng() % sizeof alphabet]);
    for (Canon c : {Canon::simple, Canon::relaxed}) {
      const std::string whole = canonicalize_body(c, body);
      Collect out;
      BodyCanonicalizer canon(c);
      std::size_t pos = 0;
      while (pos < body.size()) {
        std::size_t n = 1 + rng() % 5;
        canon.update(std::string_view(body).substr(pos, n), out);
        pos += n;
      }
      canon.finish(out);
      EXPECT_EQ(out.s, whole);
    }
  }
}

TEST(DkimCanonBody, ManyTrailingEmptyLinesAreCountedNotStored) {
  Collect out;
  BodyCanonicalizer canon(Canon::simple);
  canon.update("text\r\n", out);
  std::string crlfs;
  for (int i = 0; i < 1000; ++i) crlfs += "\r\n";
  for (int i = 0; i < 100; ++i) canon.update(crlfs, out);
  EXPECT_EQ(out.s, "text");  // nothing written for 100000 pending line ends
  canon.finish(out);
  EXPECT_EQ(out.s, "text\r\n");
}

TEST(DkimBodyHasher, HashAndLengthLimit) {
  BodyHasher full(Canon::relaxed);
  full.update("Hello  \r\n");
  full.update("World\r\n\r\n");
  BodyDigest d = full.finish();
  EXPECT_EQ(d.sha256, detail::sha256("Hello\r\nWorld\r\n"));
  EXPECT_EQ(d.canonical_length, 14u);
  EXPECT_EQ(d.hashed_length, 14u);

  BodyHasher limited(Canon::relaxed, 7);
  limited.update("Hello  \r\nWorld\r\n");
  BodyDigest l = limited.finish();
  EXPECT_EQ(l.sha256, detail::sha256("Hello\r\n"));
  EXPECT_EQ(l.canonical_length, 14u);
  EXPECT_EQ(l.hashed_length, 7u);

  BodyHasher zero(Canon::simple, 0);  // l=0: nothing of the body is signed
  zero.update("abc\r\n");
  EXPECT_EQ(zero.finish().sha256, detail::sha256(""));
}

TEST(DkimBodyHashes, OneHasherPerDistinctCanonAndLength) {
  std::vector<HeaderField> headers = {
      {"DKIM-Signature", "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=a.example; s=s; h=from; bh=AAAA; b=AAAA\r\n"},
      {"DKIM-Signature", "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/relaxed; d=b.example; s=s; h=from; bh=AAAA; b=AAAA\r\n"},
      {"DKIM-Signature", "DKIM-Signature: v=1; a=rsa-sha256; d=c.example; s=s; h=from; l=3; bh=AAAA; b=AAAA\r\n"},
      {"DKIM-Signature", "DKIM-Signature: v=1; a=rsa-sha1; d=c.example; s=s; h=from; bh=AAAA; b=AAAA\r\n"},
      {"DKIM-Signature", "DKIM-Signature: broken\r\n"},
      {"From", "From: a@a.example\r\n"}};
  BodyHashes hashes(headers, VerifyOptions{});
  EXPECT_EQ(hashes.size(), 2u);  // relaxed/no l=, simple/l=3; rsa-sha1 and broken need none
  EXPECT_EQ(hashes.find(Canon::relaxed, std::nullopt), nullptr);  // not finished yet
  hashes.update("abc\r\n");
  hashes.finish();
  ASSERT_NE(hashes.find(Canon::relaxed, std::nullopt), nullptr);
  ASSERT_NE(hashes.find(Canon::simple, 3), nullptr);
  EXPECT_EQ(hashes.find(Canon::simple, 3)->sha256, detail::sha256("abc"));
  EXPECT_EQ(hashes.find(Canon::simple, std::nullopt), nullptr);
}

TEST(DkimSelectHeaders, BottomUpAndOverSigning) {
  std::vector<HeaderField> h = {{"Received", "Received: 1\r\n"},
                                {"From", "From: first\r\n"},
                                {"Received", "Received: 2\r\n"},
                                {"subject", "subject: s\r\n"}};
  auto sel = select_headers(h, {"received", "from", "received", "received", "Subject", "to", "from"});
  ASSERT_EQ(sel.size(), 4u);  // third "received", "to" and the second "from" select nothing
  EXPECT_EQ(sel[0]->raw, "Received: 2\r\n");
  EXPECT_EQ(sel[1]->raw, "From: first\r\n");
  EXPECT_EQ(sel[2]->raw, "Received: 1\r\n");
  EXPECT_EQ(sel[3]->raw, "subject: s\r\n");
}

TEST(DkimHeaderHashInput, RemovesTheBValueWithItsWhitespace) {
  const std::string raw = "DKIM-Signature: v=1; b= abc\r\n def ; bh=xyz; d=a\r\n";
  const std::size_t off = raw.find(':') + 1;
  auto tl = detail::parse_tag_list(std::string_view(raw).substr(off));
  ASSERT_EQ(tl.error, Reason::none);
  std::vector<const HeaderField*> none;
  EXPECT_EQ(detail::header_hash_input(none, Canon::simple, raw, off, *tl.find("b")),
            "DKIM-Signature: v=1; b=; bh=xyz; d=a");
  EXPECT_EQ(detail::header_hash_input(none, Canon::relaxed, raw, off, *tl.find("b")),
            "dkim-signature:v=1; b=; bh=xyz; d=a");
  // b= last: everything after '=' goes, the final CRLF too.
  const std::string last = "DKIM-Signature: v=1; bh=x;\r\n b=ab\r\n cd\r\n";
  const std::size_t off2 = last.find(':') + 1;
  auto tl2 = detail::parse_tag_list(std::string_view(last).substr(off2));
  EXPECT_EQ(detail::header_hash_input(none, Canon::simple, last, off2, *tl2.find("b")),
            "DKIM-Signature: v=1; bh=x;\r\n b=");
  // bh= is not b=.
  EXPECT_EQ(tl2.find("b")->value, "ab\r\n cd");
}

}  // namespace
}  // namespace gatehouse::auth::dkim
