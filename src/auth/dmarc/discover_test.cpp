// Tests for DMARC policy discovery (RFC 7489 §6.6.3) against dns::StaticZone: the record at the
// From domain, fallback to the organizational domain (and no fallback when the From domain is
// the organizational domain), non-DMARC TXT records, several records, no record, unusable
// records, DNS failures (timeout/SERVFAIL -> temperror, REFUSED -> permerror), UTF-8 From
// domains, and exactly which names are queried. Also PslStrategy.
// Must not: touch the network (StaticZone is in memory).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/dns/static_zone.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dmarc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DmarcDiscover : public ::testing::Test {
 protected:
  Discovery discover_for(std::string from) { return test::run(discover(zone_, std::move(from), org_)); }
  std::vector<std::string> queried() const {
    std::vector<std::string> out;
    for (const auto& [name, type] : zone_.query_log()) {
      EXPECT_EQ(type, dns::RrType::TXT);
      out.push_back(name);
    }
    return out;
  }

  dns::StaticZone zone_;
  PslStrategy org_{test::small_psl()};
};

TEST_F(DmarcDiscover, RecordAtTheFromDomain) {
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:d@example.com");
  zone_.add_txt("_dmarc.example.com", "some other text");
  Discovery d = discover_for("Example.COM");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  ASSERT_TRUE(d.record);
  EXPECT_EQ(d.record->p, Policy::reject);
  EXPECT_EQ(d.from_domain, "example.com");
  EXPECT_EQ(d.org_domain, "example.com");
  EXPECT_EQ(d.policy_domain, "example.com");
  EXPECT_EQ(d.record_text, "v=DMARC1; p=reject; rua=mailto:d@example.com");
  EXPECT_EQ(d.dns_queries, 1u);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.example.com"));
  EXPECT_EQ(to_string(d.status), "found");
}

TEST_F(DmarcDiscover, SubdomainWithItsOwnRecord) {
  zone_.add_txt("_dmarc.mail.example.com", "v=DMARC1; p=quarantine");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_EQ(d.record->p, Policy::quarantine);
  EXPECT_EQ(d.policy_domain, "mail.example.com");
  EXPECT_EQ(d.org_domain, "example.com");
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com"));
}

TEST_F(DmarcDiscover, FallbackToTheOrganizationalDomain) {
  zone_.add_txt("_dmarc.example.co.uk", "v=DMARC1; p=reject; sp=quarantine");
  zone_.add_a("a.b.example.co.uk", "192.0.2.1");
  Discovery d = discover_for("a.b.example.co.uk");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_EQ(d.policy_domain, "example.co.uk");
  EXPECT_EQ(d.org_domain, "example.co.uk");
  EXPECT_EQ(d.record->sp, Policy::quarantine);
  EXPECT_EQ(d.dns_queries, 2u);
  // Straight to the organizational domain: no walk through b.example.co.uk.
  EXPECT_THAT(queried(), ElementsAre("_dmarc.a.b.example.co.uk", "_dmarc.example.co.uk"));
}

TEST_F(DmarcDiscover, FallbackIgnoresNonDmarcRecordsAtTheFromDomain) {
  zone_.add_txt("_dmarc.mail.example.com", "v=spf1 -all");
  zone_.add_txt("_dmarc.mail.example.com", "v=DMARC2; p=none");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=quarantine");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_EQ(d.policy_domain, "example.com");
  EXPECT_EQ(d.dns_queries, 2u);
}

TEST_F(DmarcDiscover, NoRecordAnywhere) {
  zone_.add_a("mail.example.com", "192.0.2.1");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_FALSE(d.record);
  EXPECT_THAT(d.problem, HasSubstr("no DMARC record for mail.example.com"));
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com", "_dmarc.example.com"));
}

TEST_F(DmarcDiscover, OrganizationalDomainItselfIsQueriedOnce) {
  Discovery d = discover_for("example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.example.com"));
}

TEST_F(DmarcDiscover, PublicSuffixHasNoOrganizationalDomain) {
  Discovery d = discover_for("co.uk");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_EQ(d.org_domain, "");
  EXPECT_THAT(queried(), ElementsAre("_dmarc.co.uk"));
}

TEST_F(DmarcDiscover, SeveralRecordsMeanNone) {
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=none");
  Discovery d = discover_for("example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_THAT(d.problem, HasSubstr("2 DMARC records at _dmarc.example.com"));
}

TEST_F(DmarcDiscover, SeveralRecordsAtTheFromDomainDoNotFallBack) {
  zone_.add_txt("_dmarc.mail.example.com", "v=DMARC1; p=reject");
  zone_.add_txt("_dmarc.mail.example.com", "v=DMARC1; p=none");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com"));
}

TEST_F(DmarcDiscover, SeveralRecordsAtTheOrganizationalDomain) {
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=quarantine");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_THAT(d.problem, HasSubstr("at _dmarc.example.com"));
}

TEST_F(DmarcDiscover, UnusableRecordMeansNoneWithoutFallback) {
  zone_.add_txt("_dmarc.mail.example.com", "v=DMARC1; p=bogus");
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::none);
  EXPECT_THAT(d.problem, HasSubstr("without a valid p tag"));
  EXPECT_EQ(d.record_text, "v=DMARC1; p=bogus");
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com"));
}

TEST_F(DmarcDiscover, InvalidPolicyWithRuaActsAsNone) {
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=bogus; rua=mailto:agg@example.com");
  Discovery d = discover_for("example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_TRUE(d.record->p_defaulted);
  EXPECT_EQ(d.record->p, Policy::none);
}

TEST_F(DmarcDiscover, SplitTxtStringsAreJoined) {
  zone_.add_txt("_dmarc.example.com", {"v=DMARC1; p=rej", "ect; pct=50"});
  Discovery d = discover_for("example.com");
  ASSERT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_EQ(d.record->p, Policy::reject);
  EXPECT_EQ(d.record->pct, 50u);
}

TEST_F(DmarcDiscover, TimeoutIsTemperror) {
  zone_.set_timeout("_dmarc.example.com");
  Discovery d = discover_for("example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::temperror);
  EXPECT_THAT(d.problem, HasSubstr("_dmarc.example.com"));
  EXPECT_EQ(to_string(d.status), "temperror");
}

TEST_F(DmarcDiscover, TimeoutAtTheFromDomainDoesNotFallBack) {
  zone_.set_timeout("_dmarc.mail.example.com", dns::RrType::TXT);
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::temperror);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com"));
}

TEST_F(DmarcDiscover, TimeoutAtTheOrganizationalDomain) {
  zone_.set_servfail("_dmarc.example.com");
  Discovery d = discover_for("mail.example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::temperror);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.mail.example.com", "_dmarc.example.com"));
}

TEST_F(DmarcDiscover, RefusedIsPermerror) {
  zone_.set_failure("_dmarc.example.com", dns::StaticZone::Failure::refused);
  Discovery d = discover_for("example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::permerror);
}

TEST_F(DmarcDiscover, UnusableFromDomain) {
  Discovery d = discover_for("bad..example.com");
  EXPECT_EQ(d.status, DiscoveryStatus::permerror);
  EXPECT_EQ(d.dns_queries, 0u);
  EXPECT_TRUE(queried().empty());
}

TEST_F(DmarcDiscover, Utf8FromDomainIsQueriedAsALabels) {
  zone_.add_txt("_dmarc.xn--85x722f.xn--55qx5d.cn", "v=DMARC1; p=reject");
  Discovery d = discover_for("www.食狮.公司.cn");
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_EQ(d.from_domain, "www.xn--85x722f.xn--55qx5d.cn");
  EXPECT_EQ(d.org_domain, "xn--85x722f.xn--55qx5d.cn");
  EXPECT_THAT(queried(), ElementsAre("_dmarc.www.xn--85x722f.xn--55qx5d.cn", "_dmarc.xn--85x722f.xn--55qx5d.cn"));
}

TEST_F(DmarcDiscover, OverlongNameIsNotQueried) {
  std::string from;
  for (int i = 0; i < 4; ++i) from += std::string(60, 'a') + ".";
  from += "example.com";  // 255 bytes: "_dmarc." + it is too long, its org domain is fine
  zone_.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  Discovery d = discover_for(from);
  EXPECT_EQ(d.status, DiscoveryStatus::found);
  EXPECT_THAT(queried(), ElementsAre("_dmarc.example.com"));
}

TEST(DmarcPslStrategy, OrganizationalDomains) {
  PslStrategy s(test::small_psl());
  EXPECT_EQ(s.name(), "psl");
  EXPECT_EQ(s.organizational_domain("a.b.example.co.uk"), "example.co.uk");
  EXPECT_EQ(s.organizational_domain("example.com"), "example.com");
  EXPECT_EQ(s.organizational_domain("foo.blogspot.com"), "foo.blogspot.com");
  EXPECT_EQ(s.organizational_domain("co.uk"), std::nullopt);
  EXPECT_EQ(s.organizational_domain("www.食狮.公司.cn"), "xn--85x722f.xn--55qx5d.cn");
  EXPECT_EQ(s.organizational_domain(""), std::nullopt);

  PslStrategy icann_only(test::small_psl(), psl::LookupOptions{false});
  EXPECT_EQ(icann_only.organizational_domain("foo.blogspot.com"), "blogspot.com");

  PslStrategy empty(nullptr);  // the implicit rule only
  EXPECT_EQ(empty.organizational_domain("a.b.example.co.uk"), "co.uk");
}

TEST(DmarcPslStrategy, PinsTheListItWasGiven) {
  psl::Holder holder(*psl::List::parse("com\n"));
  PslStrategy s(holder.get());
  holder.set(*psl::List::parse("example.com\n"));
  EXPECT_EQ(s.organizational_domain("a.example.com"), "example.com");
  EXPECT_EQ(PslStrategy(holder.get()).organizational_domain("b.a.example.com"), "a.example.com");
}

}  // namespace
}  // namespace gatehouse::auth::dmarc
