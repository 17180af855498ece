// Unit tests for TLS policy list entries (validation and normalisation per list) and the
// TlsLists matchers. Pure: no database, no files, no clock.
#include <gtest/gtest.h>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/tlspolicy/lists.hpp"

using namespace gatehouse;
using namespace gatehouse::tlspolicy;

namespace {

constexpr auto kWhite = ListKind::starttls_whitelist;
constexpr auto kReq = ListKind::starttls_required;
constexpr auto kDom = ListKind::tls_domains;

std::string norm(ListKind l, std::string_view raw) {
  auto e = parse_entry(l, raw);
  return e ? e->text : "ERROR: " + e.error().message;
}

std::string error_of(ListKind l, std::string_view raw) {
  auto e = parse_entry(l, raw);
  return e ? std::string() : e.error().message;
}

std::optional<core::IpAddress> ip(std::string_view s) {
  auto a = core::IpAddress::parse(s);
  EXPECT_TRUE(a) << s;
  return a;
}

}  // namespace

TEST(ListNames, RoundTrip) {
  for (auto l : kAllLists) EXPECT_EQ(parse_list_name(list_name(l)), l);
  EXPECT_EQ(list_name(kWhite), "starttls-whitelist");
  EXPECT_EQ(list_name(kReq), "starttls-required");
  EXPECT_EQ(list_name(kDom), "tls-domains");
  EXPECT_FALSE(parse_list_name("whitelist"));
  EXPECT_FALSE(parse_list_name("TLS-DOMAINS"));
}

TEST(Entries, HostListsAcceptIpCidrNamesAndWildcards) {
  for (auto l : {kWhite, kReq}) {
    EXPECT_EQ(norm(l, " 192.0.2.7 "), "192.0.2.7");
    EXPECT_EQ(norm(l, "2001:DB8:0::7"), "2001:db8::7");
    EXPECT_EQ(norm(l, "::ffff:192.0.2.7"), "192.0.2.7");
    EXPECT_EQ(norm(l, "192.0.2.0/24"), "192.0.2.0/24");
    EXPECT_EQ(norm(l, "192.0.2.7/32"), "192.0.2.7");
    EXPECT_EQ(norm(l, "2001:db8::/32"), "2001:db8::/32");
    EXPECT_EQ(norm(l, "2001:db8::1/128"), "2001:db8::1");
    EXPECT_EQ(norm(l, "MX1.Example.COM."), "mx1.example.com");
    EXPECT_EQ(norm(l, "mailhost"), "mailhost");  // one label: an internal host
    EXPECT_EQ(norm(l, "*.Example.com"), "*.example.com");
    EXPECT_EQ(norm(l, ".example.com"), "*.example.com");
    EXPECT_EQ(norm(l, "xn--bcher-kva.example"), "xn--bcher-kva.example");
    auto e = parse_entry(l, "192.0.2.0/24");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, Entry::Kind::cidr);
    EXPECT_EQ(parse_entry(l, "192.0.2.7/32")->kind, Entry::Kind::ip);
    EXPECT_EQ(parse_entry(l, "*.example.com")->kind, Entry::Kind::wildcard);
    EXPECT_EQ(parse_entry(l, "*.example.com")->name, "example.com");
    EXPECT_EQ(parse_entry(l, "mx.example.com")->kind, Entry::Kind::host);
  }
}

TEST(Entries, HostListsRefuseWithListAndReason) {
  EXPECT_EQ(error_of(kWhite, "ex ample.com"),
            "starttls-whitelist: 'ex ample.com': not an IP address, CIDR range, host name or *.domain (only letters, "
            "digits, '-' and '.' are allowed in a name)");
  EXPECT_EQ(error_of(kReq, ""),
            "starttls-required: '': the entry is empty (only tls-domains takes an empty entry, meaning every "
            "recipient)");
  EXPECT_EQ(error_of(kWhite, "a.*.example.com"),
            "starttls-whitelist: 'a.*.example.com': a wildcard is allowed only as the whole left-most label, as in "
            "'*.example.com'");
  EXPECT_TRUE(error_of(kWhite, "mail*.example.com").find("whole left-most label") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "*").find("whole left-most label") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "*.com").starts_with("starttls-whitelist: '*.com': not a valid wildcard"));
  EXPECT_TRUE(error_of(kReq, "192.0.2.1/24").find("host bits are set") != std::string::npos);
  EXPECT_TRUE(error_of(kReq, "192.0.2.0/33").starts_with("starttls-required: '192.0.2.0/33': not a valid CIDR"));
  EXPECT_TRUE(error_of(kReq, "2001:db8::/129").find("not a valid CIDR") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "192.0.2.300").find("mistyped IP address") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "user@example.com").find("belong on tls-domains") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "-bad.example").find("cannot start or end with '-'") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "under_score.example").find("only letters") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "bücher.example").find("xn--") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, "a..example").find("empty label") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, std::string(64, 'a') + ".example").find("63") != std::string::npos);
  EXPECT_TRUE(error_of(kWhite, std::string(600, 'a')).find("longer than 512") != std::string::npos);
  // Control characters stay escaped on one line.
  auto nl = error_of(kWhite, "a\nb.example");
  EXPECT_EQ(nl.find('\n'), std::string::npos);
  EXPECT_TRUE(nl.find("\\x0a") != std::string::npos) << nl;
}

TEST(Entries, TlsDomainsAcceptDomainsAddressesAndEmpty) {
  EXPECT_EQ(norm(kDom, "Partner.Example."), "partner.example");
  EXPECT_EQ(norm(kDom, "Jane.Doe@Partner.EXAMPLE"), "Jane.Doe@partner.example");
  EXPECT_EQ(norm(kDom, "\"jane doe\"@partner.example"), "\"jane doe\"@partner.example");
  EXPECT_EQ(norm(kDom, "a+tag@partner.example"), "a+tag@partner.example");
  EXPECT_EQ(norm(kDom, ""), "");
  EXPECT_EQ(norm(kDom, "   "), "");
  EXPECT_EQ(parse_entry(kDom, "")->kind, Entry::Kind::everyone);
  EXPECT_EQ(parse_entry(kDom, "partner.example")->kind, Entry::Kind::domain);
  auto a = parse_entry(kDom, "Jane@Partner.Example");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Entry::Kind::address);
  EXPECT_EQ(a->local, "Jane");
  EXPECT_EQ(a->name, "partner.example");
}

TEST(Entries, TlsDomainsRefuseWithListAndReason) {
  EXPECT_TRUE(error_of(kDom, "*.partner.example").starts_with("tls-domains: '*.partner.example': write the domain"));
  EXPECT_TRUE(error_of(kDom, ".partner.example").find("already covers its sub-domains") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "192.0.2.7").find("an IP address is not a domain") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "192.0.2.0/24").find("an IP address is not a domain") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "localhost").find("at least two labels") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "@partner.example").find("before '@' is empty") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "jane@").find("after '@' is empty") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "jane@[192.0.2.1]").find("address literals") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "jane@localhost").find("not a valid domain") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "ja ne@partner.example").find("before '@' may hold only") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, ".jane@partner.example").find("cannot start or end with '.'") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, "ja..ne@partner.example").find("'..'") != std::string::npos);
  EXPECT_TRUE(error_of(kDom, std::string(65, 'a') + "@partner.example").find("longer than 64") != std::string::npos);
  EXPECT_EQ(error_of(kDom, "partner .example"),
            "tls-domains: 'partner .example': not a domain or user@domain address (only letters, digits, '-' and "
            "'.' are allowed in a name)");
}

TEST(Matching, WhitelistByHostWildcardIpAndCidr) {
  auto lists = TlsLists::from_entries({"mx.plain.example", "*.legacy.example", "192.0.2.7", "198.51.100.0/24",
                                       "2001:db8:1::/48"},
                                      {}, {});
  EXPECT_TRUE(lists.whitelisted("mx.plain.example", std::nullopt));
  EXPECT_TRUE(lists.whitelisted("MX.Plain.Example.", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("mx2.plain.example", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("plain.example", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("a.mx.plain.example", std::nullopt));  // a host entry is exact
  // Wildcard: any depth below, not the domain itself, not a look-alike.
  EXPECT_TRUE(lists.whitelisted("mx.legacy.example", std::nullopt));
  EXPECT_TRUE(lists.whitelisted("a.b.legacy.example", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("legacy.example", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("notlegacy.example", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("legacy.example.evil", std::nullopt));
  // Addresses and ranges, whatever the name says.
  EXPECT_TRUE(lists.whitelisted("", ip("192.0.2.7")));
  EXPECT_TRUE(lists.whitelisted("mx.other.example", ip("::ffff:192.0.2.7")));
  EXPECT_FALSE(lists.whitelisted("", ip("192.0.2.8")));
  EXPECT_TRUE(lists.whitelisted("", ip("198.51.100.200")));
  EXPECT_FALSE(lists.whitelisted("", ip("198.51.101.1")));
  EXPECT_TRUE(lists.whitelisted("", ip("2001:db8:1:ffff::1")));
  EXPECT_FALSE(lists.whitelisted("", ip("2001:db8:2::1")));
  // IP literals given as the name (HELO [192.0.2.7], a relay configured by address).
  EXPECT_TRUE(lists.whitelisted("[192.0.2.7]", std::nullopt));
  EXPECT_TRUE(lists.whitelisted("192.0.2.7", std::nullopt));
  EXPECT_TRUE(lists.whitelisted("[IPv6:2001:db8:1::5]", std::nullopt));
  EXPECT_FALSE(lists.whitelisted("", std::nullopt));
  // The matching entry is reported.
  const Entry* e = lists.whitelist_match("x.legacy.example", std::nullopt);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->text, "*.legacy.example");
  // The lists are separate.
  EXPECT_FALSE(lists.required("mx.plain.example", ip("192.0.2.7")));
}

TEST(Matching, RequiredList) {
  auto lists = TlsLists::from_entries({}, {"smtp.bank.example", "*.secure.example", "203.0.113.0/28"}, {});
  EXPECT_TRUE(lists.required("SMTP.bank.example", std::nullopt));
  EXPECT_TRUE(lists.required("mx1.secure.example", std::nullopt));
  EXPECT_TRUE(lists.required("unknown.example", ip("203.0.113.15")));
  EXPECT_FALSE(lists.required("unknown.example", ip("203.0.113.16")));
  EXPECT_FALSE(lists.whitelisted("smtp.bank.example", std::nullopt));
}

TEST(Matching, TlsDomainsSubDomainsAndAddresses) {
  auto lists = TlsLists::from_entries({}, {}, {"partner.example", "Jane@Other.Example"});
  EXPECT_TRUE(lists.enforced_for("bob@partner.example"));
  EXPECT_TRUE(lists.enforced_for("bob@PARTNER.example."));
  EXPECT_TRUE(lists.enforced_for("bob@eu.mail.partner.example"));  // sub-domains too
  EXPECT_TRUE(lists.enforced_for("<bob@partner.example>"));
  EXPECT_FALSE(lists.enforced_for("bob@notpartner.example"));
  EXPECT_FALSE(lists.enforced_for("bob@partner.example.evil"));
  EXPECT_FALSE(lists.enforced_for("partner.example"));  // no '@': not an address
  // Single address: domain case-insensitive, local part exact.
  EXPECT_TRUE(lists.enforced_for("Jane@other.example"));
  EXPECT_TRUE(lists.enforced_for("Jane@OTHER.EXAMPLE"));
  EXPECT_FALSE(lists.enforced_for("jane@other.example"));
  EXPECT_FALSE(lists.enforced_for("bob@other.example"));
  EXPECT_FALSE(lists.enforced_for("Jane@sub.other.example"));
  ASSERT_NE(lists.enforced_match("x@a.partner.example"), nullptr);
  EXPECT_EQ(lists.enforced_match("x@a.partner.example")->text, "partner.example");
}

TEST(Matching, BlankTlsDomainsEntryMeansEveryone) {
  auto lists = TlsLists::from_entries({}, {}, {""});
  EXPECT_TRUE(lists.enforced_for("anyone@anywhere.example"));
  EXPECT_TRUE(lists.enforced_for("postmaster"));
  EXPECT_TRUE(lists.enforced_for(""));
  EXPECT_EQ(lists.enforced_match("a@b.example")->kind, Entry::Kind::everyone);
  EXPECT_FALSE(TlsLists().enforced_for("anyone@anywhere.example"));
}

TEST(Lists, FromEntriesSkipsBadAndRepeatedEntriesAndSorts) {
  std::vector<Error> skipped;
  auto lists = TlsLists::from_entries({"z.example", "bad entry", "A.example", "a.example"}, {"*.com"},
                                      {"partner.example", "192.0.2.1"}, &skipped);
  ASSERT_EQ(skipped.size(), 4u);
  EXPECT_TRUE(skipped[0].message.starts_with("starttls-whitelist: 'bad entry': ")) << skipped[0].message;
  EXPECT_EQ(skipped[1].message, "starttls-whitelist: 'a.example': listed twice");
  EXPECT_TRUE(skipped[2].message.starts_with("starttls-required: '*.com': ")) << skipped[2].message;
  EXPECT_TRUE(skipped[3].message.starts_with("tls-domains: '192.0.2.1': ")) << skipped[3].message;
  const auto& w = lists.entries(ListKind::starttls_whitelist);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].text, "a.example");
  EXPECT_EQ(w[1].text, "z.example");
  EXPECT_TRUE(lists.entries(ListKind::starttls_required).empty());
  EXPECT_EQ(lists.entries(ListKind::tls_domains).size(), 1u);
  EXPECT_FALSE(lists.empty());
  EXPECT_TRUE(TlsLists().empty());
}

TEST(Lists, FromSettings) {
  config::Settings s;
  s.tls_starttls_whitelist = {"192.0.2.0/24"};
  s.tls_starttls_required = {"mx.bank.example"};
  s.tls_enforced_domains = {"partner.example"};
  auto lists = TlsLists::from_settings(s);
  EXPECT_TRUE(lists.whitelisted("", ip("192.0.2.9")));
  EXPECT_TRUE(lists.required("mx.bank.example", std::nullopt));
  EXPECT_TRUE(lists.enforced_for("a@partner.example"));
  EXPECT_TRUE(TlsLists::from_settings(config::Settings{}).empty());
}

TEST(Lists, RecipientDomain) {
  EXPECT_EQ(recipient_domain("a@Example.COM."), "example.com");
  EXPECT_EQ(recipient_domain("<\"a@b\"@example.com>"), "example.com");
  EXPECT_EQ(recipient_domain("postmaster"), "");
}
