// Unit tests for the DMARC record parser (RFC 7489 §6.3, §6.4, §6.6.3 step 6): every tag, the
// defaults, case rules, WSP, unknown and repeated tags, bad values falling back to defaults with
// a note, the p / sp / rua rule, and records that are not DMARC at all.
// Must not: touch the network or files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Record ok(std::string_view txt) {
  auto r = parse_record(txt);
  EXPECT_TRUE(r.has_value()) << txt << ": " << (r ? "" : r.error().message);
  return r ? std::move(*r) : Record{};
}

std::string err(std::string_view txt) {
  auto r = parse_record(txt);
  EXPECT_FALSE(r.has_value()) << txt;
  return r ? std::string() : r.error().message;
}

std::string problems(const Record& r) {
  std::string out;
  for (const auto& p : r.problems) out += p + "\n";
  return out;
}

TEST(DmarcRecord, Defaults) {
  Record r = ok("v=DMARC1; p=none");
  EXPECT_EQ(r.p, Policy::none);
  EXPECT_EQ(r.sp, std::nullopt);
  EXPECT_EQ(r.pct, 100u);
  EXPECT_EQ(r.adkim, AlignmentMode::relaxed);
  EXPECT_EQ(r.aspf, AlignmentMode::relaxed);
  EXPECT_THAT(r.rua, IsEmpty());
  EXPECT_THAT(r.ruf, IsEmpty());
  EXPECT_TRUE(r.fo.all);
  EXPECT_FALSE(r.fo.any || r.fo.dkim || r.fo.spf);
  EXPECT_THAT(r.rf, ElementsAre("afrf"));
  EXPECT_EQ(r.ri, 86400u);
  EXPECT_FALSE(r.p_defaulted);
  EXPECT_THAT(r.problems, IsEmpty());
}

TEST(DmarcRecord, EveryTag) {
  Record r = ok(
      "v=DMARC1; p=reject; sp=quarantine; pct=25; adkim=s; aspf=s; "
      "rua=mailto:agg@example.com!10m, mailto:agg2@example.net; ruf=mailto:fail@example.com!512; "
      "fo=1:d:s; rf=afrf; ri=3600");
  EXPECT_EQ(r.p, Policy::reject);
  EXPECT_EQ(r.sp, Policy::quarantine);
  EXPECT_EQ(r.pct, 25u);
  EXPECT_EQ(r.adkim, AlignmentMode::strict);
  EXPECT_EQ(r.aspf, AlignmentMode::strict);
  ASSERT_EQ(r.rua.size(), 2u);
  EXPECT_EQ(r.rua[0].uri, "mailto:agg@example.com");
  EXPECT_EQ(r.rua[0].max_size, 10u * 1024 * 1024);
  EXPECT_EQ(r.rua[1].uri, "mailto:agg2@example.net");
  EXPECT_EQ(r.rua[1].max_size, std::nullopt);
  ASSERT_EQ(r.ruf.size(), 1u);
  EXPECT_EQ(r.ruf[0].max_size, 512u);
  EXPECT_FALSE(r.fo.all);
  EXPECT_TRUE(r.fo.any);
  EXPECT_TRUE(r.fo.dkim);
  EXPECT_TRUE(r.fo.spf);
  EXPECT_THAT(r.rf, ElementsAre("afrf"));
  EXPECT_EQ(r.ri, 3600u);
  EXPECT_THAT(r.problems, IsEmpty()) << problems(r);
}

TEST(DmarcRecord, PolicyValues) {
  EXPECT_EQ(ok("v=DMARC1; p=none").p, Policy::none);
  EXPECT_EQ(ok("v=DMARC1; p=quarantine").p, Policy::quarantine);
  EXPECT_EQ(ok("v=DMARC1; p=reject").p, Policy::reject);
  EXPECT_EQ(ok("v=DMARC1; p=REJECT").p, Policy::reject);  // ABNF literals are case-insensitive
  EXPECT_EQ(ok("v=DMARC1; P=Quarantine").p, Policy::quarantine);
  EXPECT_EQ(ok("v=DMARC1; p=none; sp=reject").sp, Policy::reject);
  EXPECT_EQ(to_string(Policy::quarantine), "quarantine");
  EXPECT_EQ(to_string(AlignmentMode::strict), "s");
  EXPECT_EQ(to_string(AlignmentMode::relaxed), "r");
}

TEST(DmarcRecord, WhitespaceAndSeparators) {
  Record r = ok("  v = DMARC1 ;\tp = reject ;pct= 50;  ;");
  EXPECT_EQ(r.p, Policy::reject);
  EXPECT_EQ(r.pct, 50u);
  EXPECT_THAT(r.problems, IsEmpty()) << problems(r);
  EXPECT_EQ(ok("v=DMARC1;p=reject").p, Policy::reject);
  EXPECT_EQ(ok("v=DMARC1; p=reject;").p, Policy::reject);
}

TEST(DmarcRecord, VersionMustComeFirstAndBeExact) {
  EXPECT_THAT(err("p=reject; v=DMARC1"), HasSubstr("must start with v=DMARC1"));
  EXPECT_THAT(err("v=DMARC2; p=reject"), HasSubstr("v=DMARC1"));
  EXPECT_THAT(err("v=dmarc1; p=reject"), HasSubstr("v=DMARC1"));  // %x44 %x4d...: exact
  EXPECT_THAT(err("v=DMARC1x; p=reject"), HasSubstr("v=DMARC1"));
  EXPECT_THAT(err("v=spf1 -all"), HasSubstr("v=DMARC1"));
  EXPECT_THAT(err(""), HasSubstr("v=DMARC1"));
  EXPECT_EQ(ok("V=DMARC1; p=none").p, Policy::none);  // the tag name "v" is an ABNF literal
  EXPECT_TRUE(is_dmarc_record("v=DMARC1; p=none"));
  EXPECT_TRUE(is_dmarc_record("v=DMARC1"));
  EXPECT_TRUE(is_dmarc_record("v = DMARC1 ; p=none"));
  EXPECT_FALSE(is_dmarc_record("v=DMARC10; p=none"));
  EXPECT_FALSE(is_dmarc_record("p=none; v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
  EXPECT_FALSE(is_dmarc_record("google-site-verification=abc"));
}

TEST(DmarcRecord, MissingOrInvalidPolicy) {
  // §6.6.3 step 6: without a valid p (or with an invalid sp), a valid rua makes it p=none.
  EXPECT_THAT(err("v=DMARC1"), HasSubstr("without a valid p tag"));
  EXPECT_THAT(err("v=DMARC1; pct=50"), HasSubstr("without a valid p tag"));
  EXPECT_THAT(err("v=DMARC1; p=block"), HasSubstr("without a valid p tag"));
  EXPECT_THAT(err("v=DMARC1; p="), HasSubstr("without a valid p tag"));
  EXPECT_THAT(err("v=DMARC1; p=reject; sp=maybe"), HasSubstr("invalid sp tag"));
  EXPECT_THAT(err("v=DMARC1; p=block; rua=not a uri"), HasSubstr("without a valid p tag"));

  Record r = ok("v=DMARC1; p=block; rua=mailto:agg@example.com");
  EXPECT_TRUE(r.p_defaulted);
  EXPECT_EQ(r.p, Policy::none);
  EXPECT_THAT(problems(r), HasSubstr("p: 'block' is not none, quarantine or reject"));

  Record no_p = ok("v=DMARC1; rua=mailto:agg@example.com");
  EXPECT_TRUE(no_p.p_defaulted);
  EXPECT_EQ(no_p.p, Policy::none);
  EXPECT_THAT(problems(no_p), HasSubstr("p: missing"));

  Record bad_sp = ok("v=DMARC1; p=reject; sp=maybe; rua=mailto:agg@example.com");
  EXPECT_TRUE(bad_sp.p_defaulted);
  EXPECT_EQ(bad_sp.p, Policy::none);
  EXPECT_EQ(bad_sp.sp, std::nullopt);
}

TEST(DmarcRecord, BadValuesFallBackToDefaults) {
  struct Case {
    const char* txt;
    const char* problem;
  };
  const Case cases[] = {
      {"v=DMARC1; p=none; pct=101", "pct: '101'"},
      {"v=DMARC1; p=none; pct=-1", "pct: '-1'"},
      {"v=DMARC1; p=none; pct=1000", "pct: '1000'"},
      {"v=DMARC1; p=none; pct=", "pct: ''"},
      {"v=DMARC1; p=none; pct=5x", "pct: '5x'"},
      {"v=DMARC1; p=none; adkim=x", "adkim: 'x'"},
      {"v=DMARC1; p=none; aspf=relaxed", "aspf: 'relaxed'"},
      {"v=DMARC1; p=none; fo=2", "fo: '2'"},
      {"v=DMARC1; p=none; fo=0:x", "fo: '0:x'"},
      {"v=DMARC1; p=none; fo=", "fo: ''"},
      {"v=DMARC1; p=none; rf=afrf:", "rf: 'afrf:'"},
      {"v=DMARC1; p=none; rf=a_b", "rf: 'a_b'"},
      {"v=DMARC1; p=none; ri=day", "ri: 'day'"},
      {"v=DMARC1; p=none; ri=-5", "ri: '-5'"},
      {"v=DMARC1; p=none; rua=agg@example.com", "rua: 'agg@example.com' is not a URI"},
      {"v=DMARC1; p=none; rua=mailto:a@example.com!10x", "rua: bad size limit"},
      {"v=DMARC1; p=none; rua=mailto:a@example.com!", "rua: bad size limit"},
      {"v=DMARC1; p=none; rua=mailto:a b@example.com", "is not a URI"},
      {"v=DMARC1; p=none; rua=mailto:a@example.com%zz", "is not a URI"},
      {"v=DMARC1; p=none; ruf=:nothing", "ruf: ':nothing' is not a URI"},
      {"v=DMARC1; p=none; rua=mailto:a@example.com,,", "rua: empty URI"},
      {"v=DMARC1; p=none; garbage", "'garbage' is not a tag=value pair"},
      {"v=DMARC1; p=none; 9x=1", "'9x' is not a valid tag name"},
      {"v=DMARC1; p=none; pct=10; pct=20", "pct: given more than once"},
      {"v=DMARC1; p=none; v=DMARC1", "v: given more than once"},
  };
  for (const auto& c : cases) {
    Record r = ok(c.txt);
    EXPECT_THAT(problems(r), HasSubstr(c.problem)) << c.txt;
    EXPECT_EQ(r.p, Policy::none) << c.txt;
  }
  EXPECT_EQ(ok("v=DMARC1; p=none; pct=101").pct, 100u);
  EXPECT_EQ(ok("v=DMARC1; p=none; pct=10; pct=20").pct, 10u);  // the first wins
  EXPECT_EQ(ok("v=DMARC1; p=none; adkim=x").adkim, AlignmentMode::relaxed);
  EXPECT_TRUE(ok("v=DMARC1; p=none; fo=0:x").fo.all);
  EXPECT_FALSE(ok("v=DMARC1; p=none; fo=0:x").fo.any);
  EXPECT_THAT(ok("v=DMARC1; p=none; rf=a_b").rf, ElementsAre("afrf"));
  EXPECT_EQ(ok("v=DMARC1; p=none; ri=day").ri, 86400u);
  // Bad URIs are dropped, good ones kept.
  Record mixed = ok("v=DMARC1; p=none; rua=bogus, mailto:ok@example.com");
  ASSERT_EQ(mixed.rua.size(), 1u);
  EXPECT_EQ(mixed.rua[0].uri, "mailto:ok@example.com");
}

TEST(DmarcRecord, ValueDetails) {
  EXPECT_EQ(ok("v=DMARC1; p=none; pct=0").pct, 0u);
  EXPECT_EQ(ok("v=DMARC1; p=none; pct=100").pct, 100u);
  EXPECT_EQ(ok("v=DMARC1; p=none; pct=007").pct, 7u);
  EXPECT_EQ(ok("v=DMARC1; p=none; ri=0").ri, 0u);
  EXPECT_EQ(ok("v=DMARC1; p=none; ri=99999999999999999999999").ri, 4294967295u);  // capped
  Record fo = ok("v=DMARC1; p=none; fo=0 : 1 : D : S");
  EXPECT_TRUE(fo.fo.all && fo.fo.any && fo.fo.dkim && fo.fo.spf);
  Record fo_d = ok("v=DMARC1; p=none; fo=d");
  EXPECT_FALSE(fo_d.fo.all);
  EXPECT_TRUE(fo_d.fo.dkim);
  EXPECT_THAT(ok("v=DMARC1; p=none; rf=AFRF:iodef").rf, ElementsAre("afrf", "iodef"));
  EXPECT_EQ(ok("v=DMARC1; p=none; adkim=S; aspf=R").adkim, AlignmentMode::strict);
  // Sizes: k, m, g, t, upper case, and no unit.
  Record sizes = ok(
      "v=DMARC1; p=none; rua=mailto:a@x.example!1k,mailto:b@x.example!2M,mailto:c@x.example!3g,"
      "mailto:d@x.example!1t,mailto:e@x.example!100");
  ASSERT_EQ(sizes.rua.size(), 5u);
  EXPECT_EQ(sizes.rua[0].max_size, 1024u);
  EXPECT_EQ(sizes.rua[1].max_size, 2u * 1024 * 1024);
  EXPECT_EQ(sizes.rua[2].max_size, 3ULL << 30);
  EXPECT_EQ(sizes.rua[3].max_size, 1ULL << 40);
  EXPECT_EQ(sizes.rua[4].max_size, 100u);
  EXPECT_THAT(problems(ok("v=DMARC1; p=none; rua=mailto:a@x.example!99999999999999999999t")),
              HasSubstr("bad size limit"));
  // Other schemes and %-encoding are fine.
  Record uris = ok("v=DMARC1; p=none; rua=https://reports.example.com/dmarc?x=1, mailto:a%2Cb@example.com");
  ASSERT_EQ(uris.rua.size(), 2u);
  EXPECT_EQ(uris.rua[1].uri, "mailto:a%2Cb@example.com");
}

TEST(DmarcRecord, UnknownTagsAreIgnored) {
  Record r = ok("v=DMARC1; p=reject; np=reject; psd=n; t=y; x_future=1");
  EXPECT_EQ(r.p, Policy::reject);
  EXPECT_THAT(r.problems, IsEmpty()) << problems(r);
}

TEST(DmarcRecord, Caps) {
  std::string long_txt = "v=DMARC1; p=none; x=" + std::string(kMaxRecordLength, 'a');
  EXPECT_THAT(err(long_txt), HasSubstr("longer than"));
  std::string many = "v=DMARC1; p=none; rua=";
  for (std::size_t i = 0; i < kMaxReportUris + 3; ++i) many += "mailto:r" + std::to_string(i) + "@example.com,";
  Record r = ok(many);
  EXPECT_EQ(r.rua.size(), kMaxReportUris);
  EXPECT_THAT(problems(r), HasSubstr("more than 16 URIs"));
}

}  // namespace
}  // namespace gatehouse::auth::dmarc
