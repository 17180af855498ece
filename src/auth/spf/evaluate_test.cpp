// Unit tests for check_host() (RFC 7208 §4-§6) beyond the conformance suite: the identity
// helpers (§2.3, §2.4), what is queried and how often (TXT only, exp= once and only on fail),
// the include result table (§5.2) for all seven results, limits and their configuration
// (§4.6.4), temperror on SERVFAIL/timeouts, %{p}/%{r}/%{t}, and the outcome fields.
// Must not: touch the network or read the clock (the test zone is in memory, time is passed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "gatehouse/auth/spf.hpp"
#include "test_zone.hpp"

namespace gatehouse::auth {

namespace {

using test::TestZone;

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

SpfOutcome run(TestZone& zone, const SpfRequest& req) {
  boost::asio::io_context ioc;
  auto out = test::run_bounded(ioc, check_host(zone, req));
  EXPECT_TRUE(out.has_value());
  return out.value_or(SpfOutcome{});
}

SpfOutcome run_mail(TestZone& zone, std::string_view client, std::string_view mail_from,
                    std::string_view helo = "mail.example.org") {
  return run(zone, spf_mail_from(ip(client), mail_from, helo, "mx.gatehouse.test", 1700000000));
}

std::size_t count_queries(const TestZone& zone, std::string_view name, dns::RrType type) {
  std::size_t n = 0;
  for (const auto& [q, t] : zone.log())
    if (TestZone::key(q) == TestZone::key(name) && t == type) ++n;
  return n;
}

TEST(SpfRequestHelpers, MailFromAndHelo) {
  auto r = spf_mail_from(ip("192.0.2.1"), "alice@example.com", "mx.example.net", "me.example", 7);
  EXPECT_EQ(r.domain, "example.com");
  EXPECT_EQ(r.sender, "alice@example.com");
  EXPECT_EQ(r.helo, "mx.example.net");
  EXPECT_EQ(r.receiver, "me.example");
  EXPECT_EQ(r.now, 7);
  EXPECT_EQ(r.identity, SpfIdentity::mail_from);

  auto null_sender = spf_mail_from(ip("192.0.2.1"), "", "mx.example.net", "", 0);  // §2.4
  EXPECT_EQ(null_sender.domain, "mx.example.net");
  EXPECT_EQ(null_sender.sender, "postmaster@mx.example.net");
  EXPECT_EQ(null_sender.identity, SpfIdentity::mail_from);

  auto no_local = spf_mail_from(ip("192.0.2.1"), "@example.net", "h.example", "", 0);  // §4.3
  EXPECT_EQ(no_local.domain, "example.net");
  EXPECT_EQ(no_local.sender, "postmaster@example.net");

  auto helo = spf_helo(ip("192.0.2.1"), "mx.example.net", "", 0);  // §2.3
  EXPECT_EQ(helo.domain, "mx.example.net");
  EXPECT_EQ(helo.sender, "postmaster@mx.example.net");
  EXPECT_EQ(helo.identity, SpfIdentity::helo);
}

TEST(SpfCheckHost, ResultsToString) {
  EXPECT_EQ(to_string(SpfResult::none), "none");
  EXPECT_EQ(to_string(SpfResult::neutral), "neutral");
  EXPECT_EQ(to_string(SpfResult::pass), "pass");
  EXPECT_EQ(to_string(SpfResult::fail), "fail");
  EXPECT_EQ(to_string(SpfResult::softfail), "softfail");
  EXPECT_EQ(to_string(SpfResult::temperror), "temperror");
  EXPECT_EQ(to_string(SpfResult::permerror), "permerror");
}

TEST(SpfCheckHost, PassWithOutcomeDetails) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 ip4:198.51.100.0/24 a:mail.example.com -all");
  z.add_txt("example.com", "google-site-verification=abc");
  z.add_a("mail.example.com", "192.0.2.10");
  auto out = run_mail(z, "192.0.2.10", "alice@example.com");
  EXPECT_EQ(out.result, SpfResult::pass);
  EXPECT_EQ(out.mechanism, "a:mail.example.com");
  EXPECT_EQ(out.domain, "example.com");
  EXPECT_EQ(out.explanation, "");
  EXPECT_EQ(out.problem, "");
  EXPECT_EQ(out.dns_lookups, 1u);
  EXPECT_EQ(out.dns_queries, 2u);
  EXPECT_EQ(z.queries(), 2u);
  // Only TXT is asked for the record; never the SPF RR type.
  EXPECT_EQ(count_queries(z, "example.com", dns::RrType::TXT), 1u);
}

TEST(SpfCheckHost, FailUsesExpOnceAndOnlyOnFail) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 ip4:192.0.2.1 ?ip4:192.0.2.2 -all exp=why.%{d}");
  z.add_txt("why.example.com", "%{i} is not allowed to send for %{d}; ask %{r} at %{t}");
  auto fail = run_mail(z, "192.0.2.99", "bob@example.com");
  EXPECT_EQ(fail.result, SpfResult::fail);
  EXPECT_EQ(fail.mechanism, "-all");
  EXPECT_EQ(fail.explanation, "192.0.2.99 is not allowed to send for example.com; ask mx.gatehouse.test at 1700000000");
  EXPECT_EQ(count_queries(z, "why.example.com", dns::RrType::TXT), 1u);
  EXPECT_EQ(fail.dns_lookups, 0u);  // exp= is not a counted term

  z.clear_log();
  auto neutral = run_mail(z, "192.0.2.2", "bob@example.com");
  EXPECT_EQ(neutral.result, SpfResult::neutral);
  EXPECT_EQ(neutral.explanation, "");
  EXPECT_EQ(count_queries(z, "why.example.com", dns::RrType::TXT), 0u);
}

TEST(SpfCheckHost, DefaultExplanationWhenExpUnusable) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 -all exp=why.example.com");
  z.add_timeout("why.example.com");
  auto req = spf_mail_from(ip("192.0.2.1"), "x@example.com", "h.example", "", 0);
  req.default_explanation = "see https://example.org/spf";
  auto out = run(z, req);
  EXPECT_EQ(out.result, SpfResult::fail);
  EXPECT_EQ(out.explanation, "see https://example.org/spf");
}

TEST(SpfCheckHost, RecordSelection) {
  TestZone z;
  z.add_txt("two.example", "v=spf1 -all");
  z.add_txt("two.example", "V=SPF1 +all");
  z.add_txt("none.example", "v=spf2.0/pra -all");
  z.add_a("nodata.example", "192.0.2.1");
  z.add_txt("bad.example", "v=spf1 -all bogus");
  auto two = run_mail(z, "192.0.2.1", "a@two.example");
  EXPECT_EQ(two.result, SpfResult::permerror);
  EXPECT_THAT(two.problem, ::testing::HasSubstr("2 SPF records"));
  EXPECT_EQ(run_mail(z, "192.0.2.1", "a@none.example").result, SpfResult::none);
  EXPECT_EQ(run_mail(z, "192.0.2.1", "a@nodata.example").result, SpfResult::none);
  EXPECT_EQ(run_mail(z, "192.0.2.1", "a@nxdomain.example").result, SpfResult::none);
  auto bad = run_mail(z, "192.0.2.1", "a@bad.example");
  EXPECT_EQ(bad.result, SpfResult::permerror);
  EXPECT_THAT(bad.problem, ::testing::HasSubstr("bogus"));
}

TEST(SpfCheckHost, InvalidDomainsAreNoneWithoutQueries) {
  TestZone z;
  for (std::string_view from : {"a@[192.0.2.1]", "a@nodots", "a@x..example.com", "a@192.0.2.1",
                                "a@" "a1234567890123456789012345678901234567890123456789012345678901234.example"}) {
    auto out = run_mail(z, "192.0.2.1", from);
    EXPECT_EQ(out.result, SpfResult::none) << from;
    EXPECT_FALSE(out.problem.empty()) << from;
  }
  auto helo = run(z, spf_helo(ip("192.0.2.1"), "[192.0.2.1]", "", 0));
  EXPECT_EQ(helo.result, SpfResult::none);
  EXPECT_EQ(z.queries(), 0u);
}

TEST(SpfCheckHost, TemperrorOnTimeouts) {
  TestZone z;
  z.add_timeout("slow.example");
  z.add_txt("a.example", "v=spf1 a:slow.example -all");
  z.add_txt("mx.example", "v=spf1 mx -all");
  z.add_mx("mx.example", 10, "slow.example");
  z.add_txt("ptr.example", "v=spf1 ptr -all");
  z.add_timeout("1.2.0.192.in-addr.arpa");
  auto top = run_mail(z, "192.0.2.1", "x@slow.example");
  EXPECT_EQ(top.result, SpfResult::temperror);
  EXPECT_THAT(top.problem, ::testing::HasSubstr("timeout"));
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@a.example").result, SpfResult::temperror);
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@mx.example").result, SpfResult::temperror);
  // §5.5: a failed PTR look-up is a no-match, not a temperror.
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@ptr.example").result, SpfResult::fail);
}

// §5.2 table: pass -> match; fail, softfail, neutral -> no match; temperror, permerror -> same;
// none -> permerror.
TEST(SpfCheckHost, IncludeResultTable) {
  TestZone z;
  z.add_txt("pass.example", "v=spf1 +all");
  z.add_txt("fail.example", "v=spf1 -all");
  z.add_txt("soft.example", "v=spf1 ~all");
  z.add_txt("neutral.example", "v=spf1 ?all");
  z.add_timeout("temp.example");
  z.add_txt("perm.example", "v=spf1 nonsense");
  z.add_a("none.example", "192.0.2.200");
  const std::pair<const char*, SpfResult> table[] = {
      {"pass", SpfResult::pass},           {"fail", SpfResult::softfail},       {"soft", SpfResult::softfail},
      {"neutral", SpfResult::softfail},    {"temp", SpfResult::temperror},      {"perm", SpfResult::permerror},
      {"none", SpfResult::permerror},      {"nxdomain", SpfResult::permerror},
  };
  for (const auto& [target, want] : table) {
    std::string top = std::string("top-") + target + ".example";
    z.add_txt(top, std::string("v=spf1 include:") + target + ".example ~all");
    auto out = run_mail(z, "192.0.2.1", "x@" + top);
    EXPECT_EQ(out.result, want) << target << ": " << out.problem;
    if (want == SpfResult::pass) {
      EXPECT_EQ(out.mechanism, "include:pass.example");
    }
  }
}

TEST(SpfCheckHost, RedirectUsesTargetExpAndDomain) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 exp=no.example.com redirect=_spf.example.net");
  z.add_txt("_spf.example.net", "v=spf1 a -all exp=why.%{d}");
  z.add_a("_spf.example.net", "192.0.2.5");
  z.add_txt("why._spf.example.net", "from %{d} for %{o}");
  z.add_txt("no.example.com", "not this one");
  auto out = run_mail(z, "192.0.2.6", "x@example.com");
  EXPECT_EQ(out.result, SpfResult::fail);
  EXPECT_EQ(out.domain, "_spf.example.net");
  EXPECT_EQ(out.explanation, "from _spf.example.net for example.com");
  EXPECT_EQ(count_queries(z, "no.example.com", dns::RrType::TXT), 0u);
  EXPECT_EQ(run_mail(z, "192.0.2.5", "x@example.com").result, SpfResult::pass);  // "a" uses the new <domain>

  z.add_txt("lost.example", "v=spf1 redirect=nowhere.example");
  auto lost = run_mail(z, "192.0.2.6", "x@lost.example");
  EXPECT_EQ(lost.result, SpfResult::permerror);  // §6.1
  EXPECT_THAT(lost.problem, ::testing::HasSubstr("redirect"));
}

TEST(SpfCheckHost, IpChecksAndMappedClients) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 ip6:2001:db8::/32 -ip4:192.0.2.0/24 a//64 ~all");
  z.add_a("example.com", "2001:db9:1::1");
  EXPECT_EQ(run_mail(z, "2001:db8::25", "x@example.com").result, SpfResult::pass);
  EXPECT_EQ(run_mail(z, "192.0.2.25", "x@example.com").result, SpfResult::fail);
  EXPECT_EQ(run_mail(z, "::ffff:192.0.2.25", "x@example.com").result, SpfResult::fail);  // mapped = IPv4
  EXPECT_EQ(run_mail(z, "2001:db9:1::99", "x@example.com").result, SpfResult::pass);   // a//64 over AAAA
  EXPECT_EQ(run_mail(z, "2001:dba::1", "x@example.com").result, SpfResult::softfail);
}

TEST(SpfCheckHost, LookupLimitCountsEvaluatedTermsOnly) {
  TestZone z;
  std::string rec = "v=spf1";
  for (int i = 0; i < 10; ++i) rec += " a";
  z.add_txt("ten.example", rec + " -all");
  z.add_a("ten.example", "192.0.2.200");
  z.add_txt("eleven.example", rec + " a -all");
  z.add_a("eleven.example", "192.0.2.200");
  z.add_txt("early.example", "v=spf1 ip4:192.0.2.1" + rec.substr(6) + " a a a");
  auto ten = run_mail(z, "192.0.2.1", "x@ten.example");
  EXPECT_EQ(ten.result, SpfResult::fail);
  EXPECT_EQ(ten.dns_lookups, 10u);
  auto eleven = run_mail(z, "192.0.2.1", "x@eleven.example");
  EXPECT_EQ(eleven.result, SpfResult::permerror);
  EXPECT_THAT(eleven.problem, ::testing::HasSubstr("§4.6.4"));
  EXPECT_EQ(eleven.dns_queries, 11u);  // the 11th term never reaches DNS
  auto early = run_mail(z, "192.0.2.1", "x@early.example");  // matched before the limit
  EXPECT_EQ(early.result, SpfResult::pass);
  EXPECT_EQ(early.dns_lookups, 0u);
}

TEST(SpfCheckHost, LimitsAreConfigurable) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 a:void1.example a:void2.example a:void3.example ?all");
  auto req = spf_mail_from(ip("192.0.2.1"), "x@example.com", "h.example", "", 0);
  EXPECT_EQ(run(z, req).result, SpfResult::permerror);  // third void look-up
  req.limits.void_lookups = 3;
  auto out = run(z, req);
  EXPECT_EQ(out.result, SpfResult::neutral);
  EXPECT_EQ(out.void_lookups, 3u);
  req.limits.dns_terms = 2;
  EXPECT_EQ(run(z, req).result, SpfResult::permerror);
}

TEST(SpfCheckHost, MxAndPtrNameLimits) {
  TestZone z;
  z.add_txt("many-mx.example", "v=spf1 mx -all");
  for (std::uint16_t i = 0; i < 11; ++i) z.add_mx("many-mx.example", i, "mx" + std::to_string(i) + ".example");
  z.add_a("mx0.example", "192.0.2.1");
  auto mx = run_mail(z, "192.0.2.1", "x@many-mx.example");
  EXPECT_EQ(mx.result, SpfResult::permerror);  // 11 MX hosts (§4.6.4)
  EXPECT_EQ(count_queries(z, "mx0.example", dns::RrType::A), 0u);

  z.add_txt("null-mx.example", "v=spf1 mx -all");
  z.add_mx("null-mx.example", 0, ".");
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@null-mx.example").result, SpfResult::fail);

  z.add_txt("ptr.example", "v=spf1 ptr -all");
  for (int i = 0; i < 10; ++i) z.add_ptr("1.2.0.192.in-addr.arpa", "other" + std::to_string(i) + ".ptr.example");
  z.add_ptr("1.2.0.192.in-addr.arpa", "host.ptr.example");  // the 11th name is ignored
  z.add_a("host.ptr.example", "192.0.2.1");
  for (int i = 0; i < 10; ++i) z.add_a("other" + std::to_string(i) + ".ptr.example", "192.0.2.77");
  z.clear_log();
  auto ptr = run_mail(z, "192.0.2.1", "x@ptr.example");
  EXPECT_EQ(ptr.result, SpfResult::fail);
  EXPECT_EQ(count_queries(z, "host.ptr.example", dns::RrType::A), 0u);
}

TEST(SpfCheckHost, PtrAndValidatedNameMacro) {
  TestZone z;
  z.add_ptr("1.2.0.192.in-addr.arpa", "mail.example.com.");
  z.add_ptr("1.2.0.192.in-addr.arpa", "liar.example.org");
  z.add_a("mail.example.com", "192.0.2.1");
  z.add_a("liar.example.org", "198.51.100.1");
  z.add_txt("example.com", "v=spf1 ptr -all");
  z.add_txt("example.org", "v=spf1 ptr -all exp=why.example.org");
  z.add_txt("why.example.org", "%{p} (%{v}) is not %{d}");
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@example.com").result, SpfResult::pass);
  auto org = run_mail(z, "192.0.2.1", "x@example.org");
  EXPECT_EQ(org.result, SpfResult::fail);  // liar.example.org does not resolve back
  EXPECT_EQ(org.explanation, "mail.example.com (in-addr) is not example.org");
  auto unknown = run_mail(z, "192.0.2.9", "x@example.org");
  EXPECT_EQ(unknown.explanation, "unknown (in-addr) is not example.org");
}

TEST(SpfCheckHost, CnameChasedByTheResolver) {
  TestZone z;
  z.add_cname("alias.example", "real.example");
  z.add_txt("real.example", "v=spf1 a -all");
  z.add_a("real.example", "192.0.2.1");
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@alias.example").result, SpfResult::pass);
  z.add_cname("loop1.example", "loop2.example");
  z.add_cname("loop2.example", "loop1.example");
  EXPECT_EQ(run_mail(z, "192.0.2.1", "x@loop1.example").result, SpfResult::temperror);
}

TEST(SpfCheckHost, MacroTargetsThatAreNotNamesDoNotMatch) {
  TestZone z;
  z.add_txt("example.com", "v=spf1 a:%{l}.example.com exists:%{l}.bl.example.com ~all");
  auto out = run_mail(z, "192.0.2.1", std::string(70, 'x') + "@example.com");  // 70-char label
  EXPECT_EQ(out.result, SpfResult::softfail);
  for (const auto& [name, type] : z.log()) EXPECT_TRUE(is_query_name(name)) << name;
}

}  // namespace

}  // namespace gatehouse::auth
