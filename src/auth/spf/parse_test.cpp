// Unit tests for the SPF record parser (RFC 7208 §4.5, §4.6.1, §5, §6, §12 ABNF): version and
// record selection, qualifiers, each mechanism's syntax, dual-cidr-length, modifiers (known,
// unknown, repeated), character restrictions, and the caps.
// Must not: do DNS.
#include <gtest/gtest.h>

#include <random>

#include "gatehouse/auth/spf_record.hpp"

namespace gatehouse::auth {

namespace {

SpfRecord ok(std::string_view txt) {
  auto r = parse_spf(txt);
  EXPECT_TRUE(r.has_value()) << txt << ": " << (r ? "" : r.error().message);
  return r ? *r : SpfRecord{};
}

std::string err(std::string_view txt) {
  auto r = parse_spf(txt);
  EXPECT_FALSE(r.has_value()) << txt << " parsed";
  return r ? std::string() : r.error().message;
}

TEST(SpfParse, RecordSelection) {
  EXPECT_TRUE(is_spf_record("v=spf1"));
  EXPECT_TRUE(is_spf_record("v=spf1 -all"));
  EXPECT_TRUE(is_spf_record("V=SpF1 ~all"));  // §4.5: case-insensitive
  EXPECT_FALSE(is_spf_record("v=spf10"));
  EXPECT_FALSE(is_spf_record("v=spf1mx"));
  EXPECT_FALSE(is_spf_record(" v=spf1 -all"));
  EXPECT_FALSE(is_spf_record("v=spf2.0/pra -all"));
  EXPECT_FALSE(is_spf_record(""));
  EXPECT_FALSE(is_spf_record("\x96"));
}

TEST(SpfParse, EmptyAndSpacing) {
  EXPECT_TRUE(ok("v=spf1").directives.empty());
  EXPECT_EQ(ok("v=spf1 a  -all").directives.size(), 2u);  // 1*SP between terms
  EXPECT_EQ(ok("v=spf1 a -all ").directives.size(), 2u);  // trailing SP
  err("v=spf1 a:ctrl.example.com\rptr -all");             // only SP separates terms
  err("v=spf1 ip4:192.0.2.5\n include:example.com ~all");
  err("v=spf1\ta");
}

TEST(SpfParse, QualifiersAndMechanisms) {
  auto r = ok("v=spf1 +a -mx ~ptr ?exists:%{i}.x.example.com ip4:192.0.2.0/24 ip6:2001:db8::/32 "
              "include:_spf.example.com ALL");
  ASSERT_EQ(r.directives.size(), 8u);
  EXPECT_EQ(r.directives[0].qualifier, SpfQualifier::pass);
  EXPECT_EQ(r.directives[0].mechanism, SpfMechanism::a);
  EXPECT_FALSE(r.directives[0].target.has_value());
  EXPECT_EQ(r.directives[1].qualifier, SpfQualifier::fail);
  EXPECT_EQ(r.directives[1].mechanism, SpfMechanism::mx);
  EXPECT_EQ(r.directives[2].qualifier, SpfQualifier::softfail);
  EXPECT_EQ(r.directives[2].mechanism, SpfMechanism::ptr);
  EXPECT_EQ(r.directives[3].qualifier, SpfQualifier::neutral);
  EXPECT_EQ(r.directives[3].mechanism, SpfMechanism::exists);
  ASSERT_TRUE(r.directives[3].target.has_value());
  EXPECT_TRUE(r.directives[3].target->uses('i'));
  EXPECT_EQ(r.directives[4].mechanism, SpfMechanism::ip4);
  EXPECT_EQ(r.directives[4].network, *core::IpAddress::parse("192.0.2.0"));
  EXPECT_EQ(r.directives[4].cidr4, 24u);
  EXPECT_EQ(r.directives[5].mechanism, SpfMechanism::ip6);
  EXPECT_EQ(r.directives[5].cidr6, 32u);
  EXPECT_EQ(r.directives[6].mechanism, SpfMechanism::include);
  EXPECT_EQ(r.directives[6].target->source, "_spf.example.com");
  EXPECT_EQ(r.directives[7].mechanism, SpfMechanism::all);  // names are case-insensitive
  EXPECT_EQ(r.directives[7].text, "ALL");
  EXPECT_EQ(r.directives[1].text, "-mx");
  EXPECT_TRUE(r.has_all());
  EXPECT_EQ(result_of(SpfQualifier::softfail), SpfResult::softfail);
}

TEST(SpfParse, All) {
  err("v=spf1 -all.");
  err("v=spf1 -all:foobar");
  err("v=spf1 -all/8");
  EXPECT_EQ(ok("v=spf1 all -all").directives.size(), 2u);
}

TEST(SpfParse, DualCidrLength) {
  auto r = ok("v=spf1 a/24//64 mx//0 a:foo.example.com/24 mx:foo.example.com//48 a:foo:bar/baz.example.com a/0");
  EXPECT_EQ(r.directives[0].cidr4, 24u);
  EXPECT_EQ(r.directives[0].cidr6, 64u);
  EXPECT_EQ(r.directives[1].cidr4, 32u);
  EXPECT_EQ(r.directives[1].cidr6, 0u);
  EXPECT_EQ(r.directives[2].target->source, "foo.example.com");
  EXPECT_EQ(r.directives[2].cidr4, 24u);
  EXPECT_EQ(r.directives[3].target->source, "foo.example.com");
  EXPECT_EQ(r.directives[3].cidr6, 48u);
  EXPECT_EQ(r.directives[4].target->source, "foo:bar/baz.example.com");  // not a CIDR length
  EXPECT_EQ(r.directives[4].cidr4, 32u);
  EXPECT_EQ(r.directives[5].cidr4, 0u);
  err("v=spf1 a/33");
  err("v=spf1 a//129");
  err("v=spf1 a/24/64");
  err("v=spf1 mx/33");
  err("v=spf1 a/024");
  err("v=spf1 a/");
  err("v=spf1 a//");
  err("v=spf1 a:");
  err("v=spf1 mx:");
  err("v=spf1 a:example.com:8080");
  err("v=spf1 ax");
}

TEST(SpfParse, IpMechanisms) {
  ok("v=spf1 ip4:1.1.1.1/0 ip4:1.2.3.4/32 ip4:0.0.0.0 ip4:255.255.255.255");
  auto r = ok("v=spf1 ip6:Cafe:Babe:8000::/33 ip6:::1.1.1.1/0 ip6:::FFFF:1.2.3.4");
  EXPECT_EQ(r.directives[0].cidr6, 33u);
  EXPECT_EQ(r.directives[1].cidr6, 0u);
  EXPECT_EQ(r.directives[2].cidr6, 128u);
  err("v=spf1 ip4");
  err("v=spf1 ip4:");
  err("v=spf1 ip4:1.2.3.4/33");
  err("v=spf1 ip4:1.2.3.4/032");
  err("v=spf1 ip4:1.2.3.4//32");
  err("v=spf1 ip4:1.2.3.4:8080");
  err("v=spf1 ip4:1.2.3");
  err("v=spf1 ip4:01.2.3.4");
  err("v=spf1 ip4:1.2.3.256");
  err("v=spf1 ip4:2001:db8::1");
  err("v=spf1 -all ip6");
  err("v=spf1 ip6::CAFE::BABE");
  err("v=spf1 ip6:::1.1.1.1/129");
  err("v=spf1 ip6:::1.1.1.1//33");
  err("v=spf1 ip6:1.2.3.4");
}

TEST(SpfParse, DomainSpecMechanisms) {
  err("v=spf1 include");
  err("v=spf1 include:");
  err("v=spf1 include:ip5.example.com/24");
  err("v=spf1 exists");
  err("v=spf1 exists:");
  err("v=spf1 exists:mail.example.com/24");
  err("v=spf1 ptr/0");
  err("v=spf1 ptr:");
  err("v=spf1 a:foo-bar");
  err("v=spf1 a:museum");
  err("v=spf1 a:museum.");
  err("v=spf1 a:111.222.33.44");
  err("v=spf1 a:abc.123");
  err("v=spf1 a:example.-com");
  err(std::string_view("v=spf1 a:foo.example.com\0", 25));
  ok("v=spf1 a:foo.example.xn--zckzah ptr:example.Com exists:%{l}.%{d} include:o.spf.example.com.");
  ok("v=spf1 a:mail.example...com");  // valid syntax; unusable as a query name (evaluation: no match)
}

TEST(SpfParse, Modifiers) {
  auto r = ok("v=spf1 -all exp=explain._spf.%{d} moo.cow-far_out=man:dog/cat default=+ x=");
  ASSERT_TRUE(r.exp.has_value());
  EXPECT_EQ(r.exp->source, "explain._spf.%{d}");
  EXPECT_FALSE(r.redirect.has_value());
  ASSERT_EQ(r.unknown_modifiers.size(), 3u);
  EXPECT_EQ(r.unknown_modifiers[0].name, "moo.cow-far_out");
  EXPECT_EQ(r.unknown_modifiers[0].value, "man:dog/cat");
  auto s = ok("v=spf1 REDIRECT=_spf.example.com");
  ASSERT_TRUE(s.redirect.has_value());
  EXPECT_EQ(s.redirect->source, "_spf.example.com");

  err("v=spf1 moo.cow/far_out=man:dog/cat");  // first of ":/=" is '/': an unknown mechanism
  err("v=spf1 moo.cow:far_out=man:dog/cat");
  err("v=spf1 1up=foo");                      // name must start with ALPHA
  err("v=spf1 =all");
  err("v=spf1 ip4:1.2.3.4 redirect:t2.example.com");  // redirect is a modifier
  err("v=spf1 exp= -all");
  err("v=spf1 exp=-all");
  err("v=spf1 redirect=-all ?all");
  err("v=spf1 ?all redirect=");
  err("v=spf1 -all foo=%abc");                // unknown modifiers need valid macro syntax
  err("v=spf1 exp=e13msg.example.com -all exp=e11msg.example.com");
  err("v=spf1 redirect=e12.example.com -all redirect=e12.example.com");
  err("v=spf1 -all exp=%{r}.example.com");    // c r t only in exp text
  err("v=spf1 -all exp=msg.%{c}.example.com");
  EXPECT_NE(err("v=spf1 exp=a.example.com exp=b.example.com").find("more than once"), std::string::npos);
}

TEST(SpfParse, ErrorsAnywhereAreErrors) {
  err("v=spf1 ip4:1.2.3.4 -all moo");
  err("v=spf1 a:example.net \x96" "all");
  err("v=spf1 \x80" "a:example.net -all");
  err("v=spf1 a:\xEF\xBB\xBFgarbage.example.net -all");
  EXPECT_NE(err("v=spf1 -all \x01").find("0x01"), std::string::npos);
}

TEST(SpfParse, Caps) {
  std::string big = "v=spf1";
  while (big.size() <= kMaxRecordLength) big += " ip4:192.0.2.1";
  EXPECT_NE(err(big).find("longer"), std::string::npos);
  err("-all");       // no version
  err("v=spf10 -all");
}

TEST(SpfParse, InNetwork) {
  auto ip = [](std::string_view s) { return *core::IpAddress::parse(s); };
  EXPECT_TRUE(in_network(ip("192.0.2.77"), ip("192.0.2.1"), 24));  // host bits of the network ignored
  EXPECT_FALSE(in_network(ip("192.0.3.1"), ip("192.0.2.0"), 24));
  EXPECT_TRUE(in_network(ip("1.2.3.4"), ip("9.9.9.9"), 0));
  EXPECT_TRUE(in_network(ip("::ffff:1.2.3.4"), ip("1.2.3.0"), 24));  // mapped client = IPv4
  EXPECT_FALSE(in_network(ip("1.2.3.4"), ip("::"), 0));               // families never mix
  EXPECT_FALSE(in_network(ip("::ffff:1.2.3.4"), ip("::ffff:1.2.3.4"), 128));
  EXPECT_TRUE(in_network(ip("cafe:babe:8000::1"), ip("cafe:babe:8000::"), 33));
  EXPECT_FALSE(in_network(ip("cafe:babe:0::1"), ip("cafe:babe:8000::"), 33));
  EXPECT_FALSE(in_network(ip("1.2.3.4"), ip("1.2.3.4"), 33));
}

// Robustness: random records built from SPF-ish pieces never crash, throw or trip the sanitizers,
// and whatever parses also expands.
TEST(SpfParse, RandomRecordsNeverCrash) {
  const std::string_view pieces[] = {" ", "a", "mx", "ptr", "all", "include", "exists", "ip4", "ip6", ":", "/", "//",
                                     "=", "%", "%{", "}", "%{d}", "%{ir}", "%{L2r-}", "%%", "%_", "%-", "1.2.3.4",
                                     "::", "cafe", ".", "-", "+", "~", "?", "32", "128", "0", "x.example.com",
                                     "redirect=", "exp=", "\x80", "\t", std::string_view("\0", 1)};
  std::mt19937 rng(7208);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1), len(0, 14);
  const auto vars = make_macro_vars(*core::IpAddress::parse("2001:db8::1"), "a-b@example.com", "h.example", "", 0);
  std::size_t parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = "v=spf1";
    for (std::size_t k = len(rng); k > 0; --k) s += pieces[pick(rng)];
    auto r = parse_spf(s);
    if (!r) continue;
    ++parsed;
    for (const auto& d : r->directives)
      if (d.target) (void)expand_domain_spec(*d.target, vars);
    if (r->redirect) (void)expand_domain_spec(*r->redirect, vars);
  }
  EXPECT_GT(parsed, 0u);
}

}  // namespace

}  // namespace gatehouse::auth
