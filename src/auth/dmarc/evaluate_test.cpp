// Tests for DMARC evaluation (RFC 7489 §3.1 alignment, §4.2 result, §6.3 p/sp, §6.6.4 pct) and
// the Authentication-Results text: relaxed and strict alignment for SPF and DKIM with
// subdomains and public suffixes, the HELO identity for a null MAIL FROM, DKIM results other
// than pass, sp for subdomains only when the record is the organizational domain's, pct=0/50/100
// with given random numbers, and the none/temperror/permerror paths.
// Must not: touch the network; evaluate() is pure and gets every input here.
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dmarc.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dmarc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const PslStrategy& org() {
  static const PslStrategy s(test::small_psl());
  return s;
}

Discovery found(std::string_view record, std::string policy_domain, std::string from = "") {
  Discovery d;
  d.status = DiscoveryStatus::found;
  auto r = parse_record(record);
  EXPECT_TRUE(r.has_value()) << record;
  if (r) d.record = *r;
  d.policy_domain = std::move(policy_domain);
  d.from_domain = from;
  return d;
}

DmarcInput input(std::string from, Discovery policy) {
  DmarcInput in;
  in.from_domain = std::move(from);
  in.policy = std::move(policy);
  in.org_domains = &org();
  return in;
}

SpfAuth spf(std::string domain, SpfResult r = SpfResult::pass) { return SpfAuth{std::move(domain), SpfScope::mfrom, r}; }
DkimAuth dkim(std::string d, DkimAuthResult r = DkimAuthResult::pass) { return DkimAuth{std::move(d), "sel", r}; }

TEST(DmarcAlignment, StrictAndRelaxed) {
  const auto* o = &org();
  EXPECT_TRUE(aligned("example.com", "example.com", AlignmentMode::strict, o));
  EXPECT_TRUE(aligned("Example.COM", "example.com.", AlignmentMode::strict, o));
  EXPECT_FALSE(aligned("example.com", "mail.example.com", AlignmentMode::strict, o));
  EXPECT_TRUE(aligned("example.com", "mail.example.com", AlignmentMode::relaxed, o));
  EXPECT_TRUE(aligned("news.example.com", "bounce.example.com", AlignmentMode::relaxed, o));
  EXPECT_TRUE(aligned("a.b.example.co.uk", "example.co.uk", AlignmentMode::relaxed, o));
  EXPECT_FALSE(aligned("example.co.uk", "other.co.uk", AlignmentMode::relaxed, o));
  EXPECT_FALSE(aligned("example.co.uk", "co.uk", AlignmentMode::relaxed, o));  // a public suffix
  EXPECT_FALSE(aligned("example.com", "example.net", AlignmentMode::relaxed, o));
  EXPECT_FALSE(aligned("example.com", "notexample.com", AlignmentMode::relaxed, o));
  // Private-section suffixes are organizational boundaries too.
  EXPECT_FALSE(aligned("alice.blogspot.com", "bob.blogspot.com", AlignmentMode::relaxed, o));
  EXPECT_TRUE(aligned("www.alice.blogspot.com", "alice.blogspot.com", AlignmentMode::relaxed, o));
  // UTF-8 and A-label forms are the same name.
  EXPECT_TRUE(aligned("食狮.公司.cn", "xn--85x722f.xn--55qx5d.cn", AlignmentMode::strict, o));
  EXPECT_TRUE(aligned("www.食狮.公司.cn", "mail.xn--85x722f.xn--55qx5d.cn", AlignmentMode::relaxed, o));
  // Empty or unusable names never align; no strategy makes relaxed strict.
  EXPECT_FALSE(aligned("", "", AlignmentMode::strict, o));
  EXPECT_FALSE(aligned("example.com", "", AlignmentMode::relaxed, o));
  EXPECT_FALSE(aligned("bad..com", "bad..com", AlignmentMode::strict, o));
  EXPECT_FALSE(aligned("example.com", "mail.example.com", AlignmentMode::relaxed, nullptr));
  EXPECT_TRUE(aligned("example.com", "EXAMPLE.com", AlignmentMode::relaxed, nullptr));
}

TEST(DmarcSpfIdentity, MailFromOrHelo) {
  SpfAuth a = spf_auth(SpfResult::pass, "bounce@mail.example.com", "mx.example.net");
  EXPECT_EQ(a.domain, "mail.example.com");
  EXPECT_EQ(a.scope, SpfScope::mfrom);
  EXPECT_EQ(a.result, SpfResult::pass);
  SpfAuth n = spf_auth(SpfResult::fail, "", "mx.example.net");  // null reverse-path
  EXPECT_EQ(n.domain, "mx.example.net");
  EXPECT_EQ(n.scope, SpfScope::helo);
  EXPECT_EQ(spf_auth(SpfResult::pass, "<>", "mx.example.net").scope, SpfScope::helo);
  EXPECT_EQ(spf_auth(SpfResult::pass, "<a@b.example>", "h").domain, "b.example");
  EXPECT_EQ(spf_auth(SpfResult::pass, "example.org", "h").domain, "example.org");
  EXPECT_EQ(to_string(SpfScope::helo), "helo");
  EXPECT_EQ(to_string(SpfScope::mfrom), "mfrom");
}

TEST(DmarcEvaluate, SpfRelaxedAndStrict) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  in.spf = spf("bounce.example.com");
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::pass);
  EXPECT_TRUE(r.spf_aligned_pass);
  EXPECT_TRUE(r.spf_domain_aligned);
  EXPECT_FALSE(r.dkim_aligned_pass);
  EXPECT_EQ(r.disposition, Policy::none);

  in.policy = found("v=DMARC1; p=reject; aspf=s", "example.com");
  r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::fail);
  EXPECT_FALSE(r.spf_domain_aligned);
  EXPECT_EQ(r.requested, Policy::reject);
  EXPECT_EQ(r.disposition, Policy::reject);

  in.spf = spf("example.com");  // strict needs the exact name
  EXPECT_EQ(evaluate(in).result, DmarcVerdict::pass);
}

TEST(DmarcEvaluate, SpfMustPass) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=quarantine", "example.com"));
  for (SpfResult res : {SpfResult::fail, SpfResult::softfail, SpfResult::neutral, SpfResult::none,
                        SpfResult::permerror, SpfResult::temperror}) {
    in.spf = spf("example.com", res);
    DmarcResult r = evaluate(in);
    EXPECT_EQ(r.result, res == SpfResult::temperror ? DmarcVerdict::temperror : DmarcVerdict::fail) << to_string(res);
    EXPECT_TRUE(r.spf_domain_aligned);
    EXPECT_FALSE(r.spf_aligned_pass);
    EXPECT_EQ(r.aligned_temperror, res == SpfResult::temperror) << to_string(res);
  }
}

TEST(DmarcEvaluate, SpfUnalignedPassFails) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  in.spf = spf("esp.example.net");
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::fail);
  EXPECT_FALSE(r.spf_domain_aligned);
}

TEST(DmarcEvaluate, NullMailFromUsesHelo) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  in.spf = spf_auth(SpfResult::pass, "", "mx1.example.com");
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::pass);
  EXPECT_EQ(r.spf.domain, "mx1.example.com");
  EXPECT_EQ(r.spf.scope, SpfScope::helo);
}

TEST(DmarcEvaluate, DkimRelaxedAndStrict) {
  DmarcInput in = input("news.example.com", found("v=DMARC1; p=reject", "news.example.com"));
  in.dkim = {dkim("example.com")};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::pass);
  EXPECT_TRUE(r.dkim_aligned_pass);
  ASSERT_EQ(r.dkim.size(), 1u);
  EXPECT_TRUE(r.dkim[0].aligned);
  EXPECT_EQ(r.dkim[0].auth.selector, "sel");

  in.policy = found("v=DMARC1; p=reject; adkim=s", "news.example.com");
  r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::fail);
  EXPECT_FALSE(r.dkim[0].aligned);

  in.dkim = {dkim("NEWS.example.com")};
  EXPECT_EQ(evaluate(in).result, DmarcVerdict::pass);
}

TEST(DmarcEvaluate, AnyPassingAlignedSignatureIsEnough) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  in.dkim = {dkim("esp.example.net"), dkim("example.com", DkimAuthResult::fail), dkim("mail.example.com")};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::pass);
  ASSERT_EQ(r.dkim.size(), 3u);
  EXPECT_FALSE(r.dkim[0].aligned);
  EXPECT_TRUE(r.dkim[1].aligned);
  EXPECT_TRUE(r.dkim[2].aligned);
}

TEST(DmarcEvaluate, DkimResultsOtherThanPassDoNotCount) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  for (DkimAuthResult res : {DkimAuthResult::none, DkimAuthResult::fail, DkimAuthResult::policy,
                             DkimAuthResult::neutral, DkimAuthResult::temperror, DkimAuthResult::permerror}) {
    in.dkim = {dkim("example.com", res)};
    DmarcResult r = evaluate(in);
    EXPECT_EQ(r.result, res == DkimAuthResult::temperror ? DmarcVerdict::temperror : DmarcVerdict::fail)
        << to_string(res);
    EXPECT_EQ(r.aligned_temperror, res == DkimAuthResult::temperror) << to_string(res);
  }
  in.dkim = {dkim("example.net", DkimAuthResult::temperror)};  // not aligned: cannot matter
  DmarcResult r = evaluate(in);
  EXPECT_FALSE(r.aligned_temperror);
  EXPECT_EQ(r.result, DmarcVerdict::fail);
}

TEST(DmarcEvaluate, AlignedTemporaryErrorIsTemperrorUnlessSomethingPasses) {
  // §6.6.2: "If neither passes and one or both of them fail due to a temporary error, the
  // Receiver ... cannot apply the advertised DMARC policy."
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  in.spf = spf("example.com", SpfResult::temperror);
  in.dkim = {dkim("example.com", DkimAuthResult::fail)};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::temperror);
  EXPECT_EQ(r.requested, Policy::reject);
  EXPECT_EQ(r.disposition, Policy::none);
  EXPECT_THAT(r.problem, HasSubstr("temporary error"));
  DmarcOptions honour;
  honour.honour_reject = true;
  EXPECT_EQ(apply_policy(r, honour).kind, Action::Kind::accept);
  EXPECT_EQ(authentication_results(r, Policy::none), "dmarc=temperror header.from=example.com");
  // An aligned DKIM pass wins over the SPF temperror.
  in.dkim = {dkim("example.com", DkimAuthResult::temperror), dkim("mail.example.com")};
  EXPECT_EQ(evaluate(in).result, DmarcVerdict::pass);
}

TEST(DmarcEvaluate, DkimSignatureOfAPublicSuffixDoesNotAlign) {
  DmarcInput in = input("example.co.uk", found("v=DMARC1; p=reject", "example.co.uk"));
  in.dkim = {dkim("co.uk")};
  EXPECT_EQ(evaluate(in).result, DmarcVerdict::fail);
}

TEST(DmarcEvaluate, SubdomainPolicy) {
  const auto rec = "v=DMARC1; p=reject; sp=quarantine";
  // A subdomain whose policy came from the organizational domain: sp.
  DmarcResult r = evaluate(input("mail.example.com", found(rec, "example.com")));
  EXPECT_EQ(r.result, DmarcVerdict::fail);
  EXPECT_TRUE(r.subdomain_policy);
  EXPECT_EQ(r.requested, Policy::quarantine);
  EXPECT_EQ(r.disposition, Policy::quarantine);
  EXPECT_EQ(r.policy_domain, "example.com");
  EXPECT_EQ(r.org_domain, "example.com");
  // The organizational domain itself: p.
  r = evaluate(input("example.com", found(rec, "example.com")));
  EXPECT_FALSE(r.subdomain_policy);
  EXPECT_EQ(r.requested, Policy::reject);
  // A subdomain with its own record: p of that record, its sp is ignored.
  r = evaluate(input("mail.example.com", found(rec, "mail.example.com")));
  EXPECT_FALSE(r.subdomain_policy);
  EXPECT_EQ(r.requested, Policy::reject);
  // No sp: p applies to subdomains.
  r = evaluate(input("a.b.example.com", found("v=DMARC1; p=reject", "example.com")));
  EXPECT_TRUE(r.subdomain_policy);
  EXPECT_EQ(r.requested, Policy::reject);
  // sp=none relaxes subdomains.
  r = evaluate(input("a.example.com", found("v=DMARC1; p=reject; sp=none", "example.com")));
  EXPECT_EQ(r.requested, Policy::none);
  EXPECT_EQ(r.disposition, Policy::none);
}

TEST(DmarcEvaluate, PctSampling) {
  struct Case {
    unsigned pct;
    unsigned sample;
    Policy p;
    bool sampled_in;
    Policy disposition;
  };
  const Case cases[] = {
      {100, 0, Policy::reject, true, Policy::reject},
      {100, 99, Policy::reject, true, Policy::reject},
      {0, 0, Policy::reject, false, Policy::quarantine},  // §6.6.4: reject -> quarantine
      {0, 99, Policy::reject, false, Policy::quarantine},
      {0, 0, Policy::quarantine, false, Policy::none},  // quarantine -> none
      {50, 0, Policy::reject, true, Policy::reject},
      {50, 49, Policy::reject, true, Policy::reject},
      {50, 50, Policy::reject, false, Policy::quarantine},
      {50, 99, Policy::quarantine, false, Policy::none},
      {50, 10, Policy::quarantine, true, Policy::quarantine},
      {50, 500, Policy::reject, false, Policy::quarantine},  // out of range: counts as 99
      {0, 0, Policy::none, false, Policy::none},
  };
  for (const auto& c : cases) {
    const std::string rec = fmt::format("v=DMARC1; p={}; pct={}", to_string(c.p), c.pct);
    DmarcInput in = input("example.com", found(rec, "example.com"));
    in.sample = c.sample;
    DmarcResult r = evaluate(in);
    SCOPED_TRACE(rec + " sample=" + std::to_string(c.sample));
    EXPECT_EQ(r.result, DmarcVerdict::fail);
    EXPECT_EQ(r.requested, c.p);
    EXPECT_EQ(r.sampled_in, c.sampled_in);
    EXPECT_EQ(r.disposition, c.disposition);
    if (c.disposition != c.p) {
      EXPECT_THAT(r.overrides, ElementsAre(PolicyOverride::sampled_out));
    } else {
      EXPECT_THAT(r.overrides, IsEmpty());
    }
  }
  // A pass is never sampled down.
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject; pct=0", "example.com"));
  in.dkim = {dkim("example.com")};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::pass);
  EXPECT_EQ(r.disposition, Policy::none);
  EXPECT_THAT(r.overrides, IsEmpty());
}

TEST(DmarcEvaluate, NoPolicyAndErrors) {
  Discovery none;
  none.status = DiscoveryStatus::none;
  none.problem = "no DMARC record for example.com";
  DmarcInput in = input("example.com", none);
  in.dkim = {dkim("example.com")};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::none);
  EXPECT_EQ(r.problem, "no DMARC record for example.com");
  EXPECT_FALSE(r.record);
  EXPECT_TRUE(r.dkim_aligned_pass);  // alignment is still reported
  EXPECT_EQ(r.disposition, Policy::none);

  Discovery temp;
  temp.status = DiscoveryStatus::temperror;
  temp.problem = "TXT _dmarc.example.com: timeout";
  r = evaluate(input("example.com", temp));
  EXPECT_EQ(r.result, DmarcVerdict::temperror);
  EXPECT_THAT(r.problem, HasSubstr("timeout"));

  Discovery perm;
  perm.status = DiscoveryStatus::permerror;
  r = evaluate(input("example.com", perm));
  EXPECT_EQ(r.result, DmarcVerdict::permerror);

  r = evaluate(input("", found("v=DMARC1; p=reject", "example.com")));
  EXPECT_EQ(r.result, DmarcVerdict::permerror);
  EXPECT_THAT(r.problem, HasSubstr("no RFC5322.From domain"));

  Discovery broken;  // "found" without a record
  broken.status = DiscoveryStatus::found;
  EXPECT_EQ(evaluate(input("example.com", broken)).result, DmarcVerdict::none);
}

TEST(DmarcEvaluate, ReportData) {
  DmarcInput in = input("Mail.Example.com", found("v=DMARC1; p=reject; sp=quarantine; pct=100; "
                                                  "rua=mailto:agg@example.com; fo=1", "example.com"));
  in.spf = spf_auth(SpfResult::softfail, "bounce@esp.example.net", "mx.example.net");
  in.dkim = {dkim("esp.example.net"), dkim("example.com", DkimAuthResult::fail)};
  DmarcResult r = evaluate(in);
  EXPECT_EQ(r.result, DmarcVerdict::fail);
  EXPECT_EQ(r.from_domain, "mail.example.com");  // header_from
  EXPECT_EQ(r.policy_domain, "example.com");      // policy_published.domain
  ASSERT_TRUE(r.record);
  EXPECT_EQ(r.record->sp, Policy::quarantine);
  EXPECT_EQ(r.record->rua.size(), 1u);
  EXPECT_TRUE(r.record->fo.any);
  EXPECT_EQ(r.disposition, Policy::quarantine);
  EXPECT_FALSE(r.spf_aligned_pass);
  EXPECT_FALSE(r.dkim_aligned_pass);
  EXPECT_EQ(r.spf.domain, "esp.example.net");
  EXPECT_EQ(r.spf.result, SpfResult::softfail);
  ASSERT_EQ(r.dkim.size(), 2u);
  EXPECT_EQ(r.dkim[1].auth.result, DkimAuthResult::fail);
  EXPECT_EQ(to_string(r.dkim[1].auth.result), "fail");
}

TEST(DmarcAuthenticationResults, Text) {
  DmarcInput in = input("example.com", found("v=DMARC1; p=reject", "example.com"));
  DmarcResult r = evaluate(in);
  EXPECT_EQ(authentication_results(r, Policy::none), "dmarc=fail (p=reject dis=none) header.from=example.com");
  EXPECT_EQ(authentication_results(r, Policy::quarantine),
            "dmarc=fail (p=reject dis=quarantine) header.from=example.com");
  in.dkim = {dkim("example.com")};
  EXPECT_EQ(authentication_results(evaluate(in), Policy::none),
            "dmarc=pass (p=reject dis=none) header.from=example.com");
  Discovery none;
  EXPECT_EQ(authentication_results(evaluate(input("example.com", none)), Policy::none),
            "dmarc=none header.from=example.com");
  Discovery temp;
  temp.status = DiscoveryStatus::temperror;
  EXPECT_EQ(authentication_results(evaluate(input("example.com", temp)), Policy::none),
            "dmarc=temperror header.from=example.com");
  // A From domain that is not a plain name is left out.
  DmarcResult odd;
  odd.result = DmarcVerdict::permerror;
  odd.from_domain = "example.com\r\nX-Injected: 1";
  EXPECT_EQ(authentication_results(odd, Policy::none), "dmarc=permerror");
  EXPECT_EQ(to_string(DmarcVerdict::fail), "fail");
  EXPECT_EQ(to_string(PolicyOverride::sampled_out), "sampled_out");
  EXPECT_EQ(to_string(PolicyOverride::local_policy), "local_policy");
}

}  // namespace
}  // namespace gatehouse::auth::dmarc
