// Unit tests: RFC 5321 §4.1.2 path parsing, domains, address literals, xtext, UTF-8.
#include <gtest/gtest.h>

#include "address.hpp"

using namespace gatehouse::smtp::detail;

namespace {

struct Parsed {
  bool ok = false;
  std::size_t used = 0;
  Path path;
};

Parsed parse(std::string_view s, PathKind k = PathKind::forward) {
  Parsed p;
  auto r = parse_path(s, k, p.path);
  p.ok = r.has_value();
  p.used = r.value_or(0);
  return p;
}

}  // namespace

TEST(Path, Simple) {
  auto p = parse("<user@example.com> SIZE=1");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.used, 18u);
  EXPECT_EQ(p.path.address, "user@example.com");
  EXPECT_EQ(p.path.domain, "example.com");
  EXPECT_FALSE(p.path.null);
  EXPECT_FALSE(p.path.non_ascii);
}

TEST(Path, NullOnlyForReversePath) {
  auto p = parse("<>", PathKind::reverse);
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.path.null);
  EXPECT_EQ(p.path.address, "");
  EXPECT_FALSE(parse("<>", PathKind::forward).ok);
}

TEST(Path, PostmasterOnlyForForwardPath) {
  auto p = parse("<PostMaster>");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.path.address, "PostMaster");
  EXPECT_EQ(p.path.domain, "");
  EXPECT_FALSE(parse("<postmaster>", PathKind::reverse).ok);
  EXPECT_FALSE(parse("<\"postmaster\">").ok);
  EXPECT_FALSE(parse("<webmaster>").ok);
}

TEST(Path, SourceRouteIsStripped) {
  auto p = parse("<@a.example,@b.example:joe@c.example>");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.path.address, "joe@c.example");
  EXPECT_EQ(p.path.domain, "c.example");
  EXPECT_FALSE(parse("<@a.example joe@c.example>").ok);
  EXPECT_FALSE(parse("<@a.example,b.example:joe@c.example>").ok);
  EXPECT_FALSE(parse("<@:joe@c.example>").ok);
  EXPECT_FALSE(parse("<@a.example:>").ok);
}

TEST(Path, QuotedLocalPart) {
  auto p = parse(R"(<"a b\"c@d"@example.com>)");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.path.address, R"("a b\"c@d"@example.com)");
  EXPECT_EQ(p.path.domain, "example.com");
  EXPECT_TRUE(parse(R"(<""@example.com>)").ok);
  EXPECT_FALSE(parse(R"(<"a@example.com>)").ok);
  EXPECT_FALSE(parse("<\"a\x01\"@example.com>").ok);
  EXPECT_FALSE(parse("<\"a\\\x01\"@example.com>").ok);
}

TEST(Path, DotStringRules) {
  EXPECT_TRUE(parse("<a.b.c@example.com>").ok);
  EXPECT_TRUE(parse("<a+tag!#$%&'*/=?^_`{|}~-@example.com>").ok);
  EXPECT_FALSE(parse("<.a@example.com>").ok);
  EXPECT_FALSE(parse("<a.@example.com>").ok);
  EXPECT_FALSE(parse("<a..b@example.com>").ok);
  EXPECT_FALSE(parse("<a(b)@example.com>").ok);
  EXPECT_FALSE(parse("<@example.com>").ok);
}

TEST(Path, DomainsAndLiterals) {
  EXPECT_TRUE(parse("<a@[192.0.2.1]>").ok);
  EXPECT_EQ(parse("<a@[192.0.2.1]>").path.domain, "[192.0.2.1]");
  EXPECT_TRUE(parse("<a@[IPv6:::1]>").ok);
  EXPECT_TRUE(parse("<a@[x-tag:stuff]>").ok);
  EXPECT_FALSE(parse("<a@[300.0.0.1]>").ok);
  EXPECT_FALSE(parse("<a@[192.0.2]>").ok);
  EXPECT_FALSE(parse("<a@[]>").ok);
  EXPECT_FALSE(parse("<a@[192.0.2.1>").ok);
  EXPECT_FALSE(parse("<a@example.com.>").ok);
  EXPECT_FALSE(parse("<a@exa_mple.com>").ok);
  EXPECT_FALSE(parse("<a@example.com").ok);
  EXPECT_FALSE(parse("a@example.com").ok);
  EXPECT_FALSE(parse("").ok);
  EXPECT_FALSE(parse("<").ok);
}

TEST(Path, NonAsciiIsFlagged) {
  auto p = parse("<j\xC3\xB6rg@example.com>");
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.path.non_ascii);
  auto q = parse("<jorg@b\xC3\xBC" "cher.example>");
  ASSERT_TRUE(q.ok);
  EXPECT_TRUE(q.path.non_ascii);
}

TEST(Domain, Rules) {
  EXPECT_TRUE(is_valid_domain("example.com"));
  EXPECT_TRUE(is_valid_domain("a-b.c0m"));
  EXPECT_TRUE(is_valid_domain("localhost"));
  EXPECT_FALSE(is_valid_domain(""));
  EXPECT_FALSE(is_valid_domain("-a.com"));
  EXPECT_FALSE(is_valid_domain("a-.com"));
  EXPECT_FALSE(is_valid_domain("a..com"));
  EXPECT_FALSE(is_valid_domain(".com"));
  EXPECT_TRUE(is_valid_domain(std::string(63, 'a') + ".com"));
  EXPECT_FALSE(is_valid_domain(std::string(64, 'a') + ".com"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "com";
  EXPECT_FALSE(is_valid_domain(long_name));  // 259 octets
}

TEST(AddressLiteral, Forms) {
  EXPECT_TRUE(is_valid_address_literal("[0.0.0.0]"));
  EXPECT_TRUE(is_valid_address_literal("[255.255.255.255]"));
  EXPECT_FALSE(is_valid_address_literal("[1.2.3.4.5]"));
  EXPECT_FALSE(is_valid_address_literal("[1.2.3.1234]"));
  EXPECT_TRUE(is_valid_address_literal("[IPv6:2001:db8::1]"));
  EXPECT_FALSE(is_valid_address_literal("[IPv6:]"));
  EXPECT_FALSE(is_valid_address_literal("[IPv6:zz]"));
  EXPECT_FALSE(is_valid_address_literal("[tag-:x]"));
  EXPECT_FALSE(is_valid_address_literal("[a b]"));
}

TEST(Utf8, Validity) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xB6"));
  EXPECT_TRUE(is_valid_utf8("\xE4\xBE\x8B"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3(x"));
}

TEST(Xtext, Decode) {
  EXPECT_EQ(decode_xtext("abc"), "abc");
  EXPECT_EQ(decode_xtext("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(decode_xtext("a+2bb"), "a+b");  // lower-case hex tolerated
  EXPECT_EQ(decode_xtext(""), "");
  EXPECT_FALSE(decode_xtext("a+2"));
  EXPECT_FALSE(decode_xtext("a+"));
  EXPECT_FALSE(decode_xtext("a+ZZ"));
  EXPECT_FALSE(decode_xtext("a=b"));
  EXPECT_FALSE(decode_xtext("a b"));
  EXPECT_FALSE(decode_xtext("a\xC3\xB6"));
}

TEST(Esmtp, KeywordAndValue) {
  EXPECT_TRUE(is_esmtp_keyword("SIZE"));
  EXPECT_TRUE(is_esmtp_keyword("X-FOO1"));
  EXPECT_FALSE(is_esmtp_keyword("-X"));
  EXPECT_FALSE(is_esmtp_keyword(""));
  EXPECT_FALSE(is_esmtp_keyword("A_B"));
  EXPECT_TRUE(is_esmtp_value("rfc822;a@b"));
  EXPECT_FALSE(is_esmtp_value(""));
  EXPECT_FALSE(is_esmtp_value("a=b"));
  EXPECT_FALSE(is_esmtp_value("a\x7f"));
}
