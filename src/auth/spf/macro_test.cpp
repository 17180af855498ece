// Unit tests for SPF macro-strings (RFC 7208 §7): the §7.4 example table, transformers and
// delimiters, URL escaping of upper-case letters, the exp-only letters c r t, %% %_ %-,
// domain-spec post-processing (trailing dot, 253-character truncation) and the domain checks.
// Must not: do DNS or read the clock.
#include <gtest/gtest.h>

#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth {

namespace {

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

// The §7.4 variables: <sender> strong-bad@email.example.com, <ip> 192.0.2.3, PTR name
// mx.example.org (the p value), <domain> email.example.com.
MacroVars rfc_vars(std::string_view addr = "192.0.2.3") {
  MacroVars v = make_macro_vars(ip(addr), "strong-bad@email.example.com", "mx.example.org", "mx.example.net", 1234567890);
  v.domain = "email.example.com";
  v.validated = "mx.example.org";
  return v;
}

std::string expand(std::string_view text, const MacroVars& v, MacroContext ctx = MacroContext::domain_spec) {
  auto m = parse_macro_string(text, ctx);
  EXPECT_TRUE(m.has_value()) << text << ": " << (m ? "" : m.error().message);
  if (!m) return "<parse error>";
  auto e = expand_macros(*m, v);
  EXPECT_TRUE(e.has_value()) << text;
  return e ? *e : "<expand error>";
}

std::string expand_domain(std::string_view text, const MacroVars& v) {
  auto m = parse_macro_string(text, MacroContext::domain_spec);
  EXPECT_TRUE(m.has_value()) << text << ": " << (m ? "" : m.error().message);
  if (!m) return "<parse error>";
  auto e = expand_domain_spec(*m, v);
  return e ? *e : "<expand error>";
}

TEST(SpfMacro, Rfc7208Section74SingleMacros) {
  const auto v = rfc_vars();
  const std::pair<const char*, const char*> table[] = {
      {"%{s}", "strong-bad@email.example.com"},
      {"%{o}", "email.example.com"},
      {"%{d}", "email.example.com"},
      {"%{d4}", "email.example.com"},
      {"%{d3}", "email.example.com"},
      {"%{d2}", "example.com"},
      {"%{d1}", "com"},
      {"%{dr}", "com.example.email"},
      {"%{d2r}", "example.email"},
      {"%{l}", "strong-bad"},
      {"%{l-}", "strong.bad"},
      {"%{lr}", "strong-bad"},
      {"%{lr-}", "bad.strong"},
      {"%{l1r-}", "strong"},
  };
  for (const auto& [in, want] : table) EXPECT_EQ(expand(in, v), want) << in;
}

TEST(SpfMacro, Rfc7208Section74MacroStrings) {
  const auto v = rfc_vars();
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", v), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}", v), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", v), "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", v), "3.2.0.192.in-addr.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{d2}.trusted-domains.example.net", v), "example.com.trusted-domains.example.net");
}

TEST(SpfMacro, Rfc7208Section74Ipv6) {
  const auto v = rfc_vars("2001:db8::cb01");
  // The RFC prints the nibbles in lower case; we emit upper case, as the RFC 7208 suite expects
  // in exp text (case v-macro-ip6). In a DNS name the two are the same name.
  const std::string rfc = "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com";
  const std::string got = expand("%{ir}.%{v}._spf.%{d2}", v);
  EXPECT_EQ(core::to_lower(got), rfc);
  EXPECT_EQ(got, "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
  EXPECT_EQ(expand("%{c}", v, MacroContext::explain_string), "2001:db8::cb01");
  EXPECT_EQ(expand("%{i}", v), "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1");
}

TEST(SpfMacro, ExplainStringLettersAndEscapes) {
  const auto v = rfc_vars();
  EXPECT_EQ(expand("%{c} is not one of %{d}'s designated mail servers.", v, MacroContext::explain_string),
            "192.0.2.3 is not one of email.example.com's designated mail servers.");
  EXPECT_EQ(expand("See http://%{d}/why.html?s=%{S}&i=%{I}", v, MacroContext::explain_string),
            "See http://email.example.com/why.html?s=strong-bad%40email.example.com&i=192.0.2.3");
  EXPECT_EQ(expand("%{r} at %{t}", v, MacroContext::explain_string), "mx.example.net at 1234567890");
  EXPECT_EQ(expand("%{p} %{h} %{v}", v, MacroContext::explain_string), "mx.example.org mx.example.org in-addr");
  EXPECT_EQ(expand("100%% %_ %-", v, MacroContext::explain_string), "100%   %20");
}

TEST(SpfMacro, UrlEscapingKeepsOnlyUnreserved) {
  auto v = rfc_vars();
  v.sender = "~jack&jill=up-a_b3.c@e8.example.com";
  v.local_part = "~jack&jill=up-a_b3.c";
  EXPECT_EQ(expand("%{L}", v), "~jack%26jill%3Dup-a_b3.c");
  EXPECT_EQ(expand("%{S}", v), "~jack%26jill%3Dup-a_b3.c%40e8.example.com");
  v.helo = "JUMPIN' JUPITER";
  EXPECT_EQ(expand("%{H}", v), "JUMPIN%27%20JUPITER");
  v.helo = "\xC3\xA9t\xC3\xA9";  // bytes escaped one by one
  EXPECT_EQ(expand("%{H}", v), "%C3%A9t%C3%A9");
}

TEST(SpfMacro, DelimitersAndTransformers) {
  auto v = rfc_vars();
  v.local_part = "philip-gladstone-test";
  EXPECT_EQ(expand("%{l2r-}", v), "gladstone.philip");
  v.local_part = "foo-bar+zip+quux";
  EXPECT_EQ(expand("%{l2r+-}", v), "bar.foo");
  EXPECT_EQ(expand("%{l-+}", v), "foo.bar.zip.quux");
  EXPECT_EQ(expand("%{l9999}", v), "foo-bar+zip+quux");
  EXPECT_EQ(expand("%{d99999999999999999999}", v), "email.example.com");  // saturates, no overflow
  v.local_part = "a..b";
  EXPECT_EQ(expand("%{lr}", v), "b..a");  // empty parts are kept
  EXPECT_EQ(expand("%{d=,/_}", v), "email.example.com");
}

TEST(SpfMacro, SyntaxErrors) {
  const std::string_view bad[] = {
      "%(ir).sbl.example.com",  // '%' not followed by { % _ -
      "foo%.sbl.example.com",   // ditto
      "foo%",                   // '%' at end
      "%{",                     // unterminated
      "%{d",                    // unterminated
      "%{x}.example.com",       // unknown letter
      "%{a}.example.com",       // unknown letter
      "%{d0}.example.com",      // zero digit transformer
      "%{d2x}.example.com",     // junk in transformers
      "%{dr2}.example.com",     // digits after r
      "a b.example.com",        // space outside explain-string
      "foo\x80.example.com",    // non-ASCII
      "foo\x01.example.com",    // control character
  };
  for (auto s : bad)
    EXPECT_FALSE(parse_macro_string(s, MacroContext::explain_string).has_value() &&
                 parse_macro_string(s, MacroContext::domain_spec).has_value())
        << s;
  EXPECT_FALSE(parse_macro_string("%{x}", MacroContext::explain_string).has_value());
  EXPECT_FALSE(parse_macro_string("a\tb", MacroContext::explain_string).has_value());
  EXPECT_TRUE(parse_macro_string("The %{l} files.", MacroContext::explain_string).has_value());
}

TEST(SpfMacro, ExpOnlyLettersRejectedInDomainSpecs) {
  for (auto s : {"%{c}.example.com", "%{r}.example.com", "%{t}.example.com", "%{C}.example.com"}) {
    auto m = parse_macro_string(s, MacroContext::domain_spec);
    ASSERT_FALSE(m.has_value()) << s;
    EXPECT_NE(m.error().message.find("exp"), std::string::npos) << m.error().message;
    EXPECT_TRUE(parse_macro_string(s, MacroContext::explain_string).has_value()) << s;
    EXPECT_TRUE(parse_macro_string(s, MacroContext::modifier_value).has_value()) << s;
  }
}

TEST(SpfMacro, DomainEnd) {
  // domain-end = ( "." toplabel [ "." ] ) / macro-expand
  for (auto s : {"example.com", "example.com.", "foo.example.xn--zckzah", "%{d}", "%{i}.%{d2}", "x.%{d}",
                 "foo:bar/baz.example.com", "mail.example...com", "macro%%percent%_%_space%-url-space.example.com",
                 "foo%%", ".com", "a.b-c", "a.123-4"})
    EXPECT_TRUE(parse_macro_string(s, MacroContext::domain_spec).has_value()) << s;
  for (auto s : {"", "museum", "museum.", "foo-bar", "example.com:8080", "111.222.33.44", "abc.123", "example.-com",
                 "example.com-", "ip5.example.com/24", "%{d}.", "example.com..", "a.b_c"})
    EXPECT_FALSE(parse_macro_string(s, MacroContext::domain_spec).has_value()) << s;
}

TEST(SpfMacro, DomainSpecTrailingDotAndTruncation) {
  auto v = rfc_vars();
  EXPECT_EQ(expand_domain("%{d}.d.spf.example.com.", v), "email.example.com.d.spf.example.com");
  v.sender_domain = "somewhat.long.exp.example.com";
  // 7 + 8 * 30 + 11 = 258 characters: "foobar." goes, 251 remain (RFC 7208 §7.3; suite case
  // domain-name-truncation).
  std::string spec = "foobar";
  for (int i = 0; i < 8; ++i) spec += ".%{o}";
  spec += ".example.com";
  std::string got = expand_domain(spec, v);
  EXPECT_EQ(got.size(), 251u);
  EXPECT_EQ(got.substr(0, 30), "somewhat.long.exp.example.com.");
  EXPECT_TRUE(is_query_name(got));
}

TEST(SpfMacro, ExpansionIsCapped) {
  auto v = rfc_vars();
  v.sender = std::string(4000, 'x');
  auto m = parse_macro_string("%{s}%{s}%{s}", MacroContext::explain_string);
  ASSERT_TRUE(m.has_value());
  auto e = expand_macros(*m, v);
  EXPECT_FALSE(e.has_value());
}

TEST(SpfMacro, MakeMacroVars) {
  auto v = make_macro_vars(ip("::ffff:192.0.2.7"), "@example.net", "helo.example", "", 42);
  EXPECT_EQ(v.ip, "192.0.2.7");  // IPv4-mapped is IPv4
  EXPECT_EQ(v.ip_version, "in-addr");
  EXPECT_EQ(v.client_ip, "192.0.2.7");
  EXPECT_EQ(v.local_part, "postmaster");  // §4.3: empty local-part
  EXPECT_EQ(v.sender_domain, "example.net");
  EXPECT_EQ(v.receiver, "unknown");
  EXPECT_EQ(v.timestamp, "42");
  EXPECT_EQ(v.validated, "unknown");
  auto w = make_macro_vars(ip("2001:db8::1"), "a@b@c.example", "h", "r", 0);
  EXPECT_EQ(w.local_part, "a@b");
  EXPECT_EQ(w.sender_domain, "c.example");
  EXPECT_EQ(w.ip_version, "ip6");
}

TEST(SpfMacro, DomainChecks) {
  EXPECT_TRUE(is_query_name("example.com"));
  EXPECT_TRUE(is_query_name("example.com."));
  EXPECT_TRUE(is_query_name("localhost"));
  EXPECT_TRUE(is_query_name("macro%percent  space.example.com"));
  EXPECT_FALSE(is_query_name(""));
  EXPECT_FALSE(is_query_name("."));
  EXPECT_FALSE(is_query_name("a..example.com"));
  EXPECT_FALSE(is_query_name(".example.com"));
  EXPECT_FALSE(is_query_name(std::string(64, 'a') + ".example.com"));
  EXPECT_TRUE(is_query_name(std::string(63, 'a') + ".example.com"));
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  EXPECT_FALSE(is_query_name(long_name + "com"));

  EXPECT_TRUE(is_spf_domain("mail.example.com"));
  EXPECT_FALSE(is_spf_domain("A2345678"));   // not multi-label
  EXPECT_FALSE(is_spf_domain("[1.2.3.5]"));  // address literal
  EXPECT_FALSE(is_spf_domain("1.2.3.5"));    // bare address
  EXPECT_FALSE(is_spf_domain("A...example.com"));
  EXPECT_FALSE(is_spf_domain(""));
}

}  // namespace

}  // namespace gatehouse::auth
