// Unit tests for the TLS policy decisions: precedence of enforced domains, the required list,
// the whitelist, tls.outbound_starttls and the fallback list; merging and partitioning
// recipients; the failure replies of check_reached(); the inbound STARTTLS offer.
// Pure: no database, no sockets, no clock.
#include <gtest/gtest.h>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/tlspolicy/policy.hpp"

using namespace gatehouse;
using namespace gatehouse::tlspolicy;

namespace {

using D = OutboundTlsDecision;

Peer peer(std::string host, std::string_view ip_text = "", bool on_fallback = false) {
  Peer p;
  p.host_name = std::move(host);
  if (!ip_text.empty()) p.ip = core::IpAddress::parse(ip_text);
  p.on_fallback_list = on_fallback;
  return p;
}

OutboundOptions opts(bool outbound_starttls, bool fallback = true, unsigned bits = 112) {
  OutboundOptions o;
  o.outbound_starttls = outbound_starttls;
  o.fallback_to_plain = fallback;
  o.min_cipher_bits = bits;
  return o;
}

const TlsLists& lists() {
  static const TlsLists l = TlsLists::from_entries(
      {"mx.plain.example", "*.legacy.example", "192.0.2.0/24", "whitelisted.example"},
      {"mx.bank.example", "198.51.100.9", "mx.both.example"},
      {"partner.example", "Jane@other.example", "legacy.example", "both.example"});
  return l;
}

}  // namespace

TEST(Options, FromSettings) {
  config::Settings s;
  auto o = OutboundOptions::from_settings(s);
  EXPECT_FALSE(o.outbound_starttls);
  EXPECT_TRUE(o.fallback_to_plain);
  EXPECT_EQ(o.min_cipher_bits, 112u);
  s.tls_outbound_starttls = true;
  s.tls_fallback_to_plain = false;
  s.tls_min_cipher_bits = 128;
  o = OutboundOptions::from_settings(s);
  EXPECT_TRUE(o.outbound_starttls);
  EXPECT_FALSE(o.fallback_to_plain);
  EXPECT_EQ(o.min_cipher_bits, 128u);
}

TEST(Decide, OutboundStarttlsOffMeansNoTls) {
  auto d = decide_recipient(lists(), opts(false), peer("mx.example.net", "203.0.113.5"), "a@example.net");
  EXPECT_EQ(d.mode, D::none);
  EXPECT_FALSE(d.allow_plain_fallback);
  EXPECT_EQ(d.min_bits, 0u);
  EXPECT_FALSE(d.enforced);
  EXPECT_EQ(d.host, "mx.example.net");
  EXPECT_EQ(d.why, "tls.outbound_starttls is off: STARTTLS is not used");
}

TEST(Decide, OpportunisticWithAndWithoutFallback) {
  auto d = decide_recipient(lists(), opts(true), peer("mx.example.net"), "a@example.net");
  EXPECT_EQ(d.mode, D::opportunistic);
  EXPECT_TRUE(d.allow_plain_fallback);
  EXPECT_EQ(d.min_bits, 0u);
  d = decide_recipient(lists(), opts(true, false), peer("mx.example.net"), "a@example.net");
  EXPECT_EQ(d.mode, D::opportunistic);
  EXPECT_FALSE(d.allow_plain_fallback);
  EXPECT_TRUE(d.why.find("tls.fallback_to_plain is off") != std::string::npos) << d.why;
  EXPECT_EQ(D::Mode::opportunistic, D::opportunistic);  // both spellings work
}

TEST(Decide, HostOnFallbackListGoesPlainOnlyWhenAllowed) {
  auto d = decide_recipient(lists(), opts(true), peer("mx.example.net", "", true), "a@example.net");
  EXPECT_EQ(d.mode, D::none);
  EXPECT_TRUE(d.why.find("plain-text fallback list") != std::string::npos) << d.why;
  // Fallback switched off since the host was listed: try TLS again, no fallback.
  d = decide_recipient(lists(), opts(true, false), peer("mx.example.net", "", true), "a@example.net");
  EXPECT_EQ(d.mode, D::opportunistic);
  EXPECT_FALSE(d.allow_plain_fallback);
}

TEST(Decide, WhitelistBeatsOutboundStarttls) {
  for (const auto& p : {peer("mx.plain.example"), peer("a.b.legacy.example"), peer("mx.x.example", "192.0.2.77")}) {
    auto d = decide_recipient(lists(), opts(true), p, "a@example.net");
    EXPECT_EQ(d.mode, D::none) << p.host_name;
    EXPECT_FALSE(d.allow_plain_fallback);
    EXPECT_TRUE(d.why.find("matches starttls-whitelist entry") != std::string::npos) << d.why;
  }
  // The recipient's domain on the whitelist counts too.
  auto d = decide_recipient(lists(), opts(true), peer("mx.hoster.example"), "a@Whitelisted.Example");
  EXPECT_EQ(d.mode, D::none);
  EXPECT_EQ(d.why,
            "recipient domain whitelisted.example matches starttls-whitelist entry 'whitelisted.example': STARTTLS is "
            "not used");
}

TEST(Decide, RequiredListForbidsFallback) {
  for (bool outbound : {false, true})
    for (bool fallback : {false, true})
      for (bool listed : {false, true}) {
        auto d = decide_recipient(lists(), opts(outbound, fallback), peer("MX.Bank.Example", "", listed), "a@bank.example");
        EXPECT_EQ(d.mode, D::required);
        EXPECT_FALSE(d.allow_plain_fallback);
        EXPECT_FALSE(d.enforced);
        EXPECT_EQ(d.min_bits, 0u);
        EXPECT_EQ(d.why, "MX.Bank.Example matches starttls-required entry 'mx.bank.example': STARTTLS is required");
      }
  auto d = decide_recipient(lists(), opts(false), peer("", "198.51.100.9"), "a@example.net");
  EXPECT_EQ(d.mode, D::required);
  EXPECT_EQ(d.host, "198.51.100.9");
}

TEST(Decide, EnforcedDomainIsRequiredWithMinBitsAndNoFallback) {
  for (bool outbound : {false, true})
    for (bool listed : {false, true}) {
      auto d = decide_recipient(lists(), opts(outbound, true, 112), peer("mx.partner.example", "", listed),
                                "bob@eu.partner.example");
      EXPECT_EQ(d.mode, D::required);
      EXPECT_FALSE(d.allow_plain_fallback);
      EXPECT_TRUE(d.enforced);
      EXPECT_EQ(d.min_bits, 112u);
      EXPECT_EQ(d.why,
                "recipient bob@eu.partner.example matches tls-domains entry 'partner.example': TLS with at least "
                "112-bit ciphers is required");
    }
  EXPECT_EQ(decide_recipient(lists(), opts(true, true, 128), peer("mx"), "Jane@other.example").min_bits, 128u);
  EXPECT_EQ(decide_recipient(lists(), opts(true), peer("mx"), "jane@other.example").mode, D::opportunistic);
}

TEST(Decide, RequirementsBeatTheWhitelist) {
  // A whitelisted host serving an enforced domain must still use TLS.
  auto d = decide_recipient(lists(), opts(true), peer("mx.legacy.example"), "a@legacy.example");
  EXPECT_EQ(d.mode, D::required);
  EXPECT_TRUE(d.enforced);
  // Enforced beats the required list (permanent failure rather than deferral).
  d = decide_recipient(lists(), opts(true), peer("mx.both.example"), "a@both.example");
  EXPECT_TRUE(d.enforced);
  // A host on both host lists: required.
  auto both = TlsLists::from_entries({"mx.x.example"}, {"mx.x.example"}, {});
  d = decide_recipient(both, opts(true), peer("mx.x.example"), "a@x.example");
  EXPECT_EQ(d.mode, D::required);
}

TEST(Decide, BlankTlsDomainsEntryEnforcesEveryone) {
  auto all = TlsLists::from_entries({"mx.plain.example"}, {}, {""});
  auto d = decide_recipient(all, opts(false), peer("mx.plain.example"), "anyone@example.org");
  EXPECT_EQ(d.mode, D::required);
  EXPECT_TRUE(d.enforced);
  EXPECT_EQ(d.min_bits, 112u);
  EXPECT_TRUE(d.why.starts_with("tls-domains has the empty entry")) << d.why;
}

TEST(Decide, ManyRecipientsTakeTheStrictest) {
  const std::vector<std::string> rcpts = {"a@example.net", "b@partner.example", "c@example.org"};
  auto d = decide_outbound(lists(), opts(true), peer("mx.shared.example"), rcpts);
  EXPECT_EQ(d.mode, D::required);
  EXPECT_TRUE(d.enforced);
  EXPECT_FALSE(d.allow_plain_fallback);
  EXPECT_EQ(d.min_bits, 112u);
  EXPECT_TRUE(d.why.find("b@partner.example") != std::string::npos) << d.why;
  // Whitelisted recipient domain + ordinary one: opportunistic with fallback.
  d = decide_outbound(lists(), opts(true), peer("mx.shared.example"), {"a@whitelisted.example", "b@example.net"});
  EXPECT_EQ(d.mode, D::opportunistic);
  EXPECT_TRUE(d.allow_plain_fallback);
  // No recipients: the host-only decision.
  d = decide_outbound(lists(), opts(true), peer("mx.bank.example"), {});
  EXPECT_EQ(d.mode, D::required);
  EXPECT_EQ(decide_outbound(lists(), opts(true), peer("mx.example.net"), {"x@example.net"}),
            decide_recipient(lists(), opts(true), peer("mx.example.net"), "x@example.net"));
}

TEST(Partition, GroupsRecipientsByLevel) {
  const std::vector<std::string> rcpts = {"a@example.net", "b@partner.example", "c@example.org",
                                          "d@whitelisted.example", "Jane@other.example"};
  auto groups = partition_recipients(lists(), opts(true), peer("mx.shared.example"), rcpts);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].decision.mode, D::opportunistic);
  EXPECT_EQ(groups[0].recipients, (std::vector<std::string>{"a@example.net", "c@example.org"}));
  EXPECT_EQ(groups[0].indices, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(groups[1].decision.mode, D::required);
  EXPECT_TRUE(groups[1].decision.enforced);
  EXPECT_EQ(groups[1].recipients, (std::vector<std::string>{"b@partner.example", "Jane@other.example"}));
  EXPECT_EQ(groups[1].indices, (std::vector<std::size_t>{1, 4}));
  EXPECT_EQ(groups[2].decision.mode, D::none);
  EXPECT_EQ(groups[2].recipients, (std::vector<std::string>{"d@whitelisted.example"}));
  // All alike: one group.
  groups = partition_recipients(lists(), opts(true), peer("mx.shared.example"), {"a@example.net", "b@example.org"});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].recipients.size(), 2u);
  EXPECT_TRUE(partition_recipients(lists(), opts(true), peer("mx"), {}).empty());
}

TEST(CheckReached, EnforcedDomainFailsPermanentlyWithTheExactText) {
  auto d = decide_recipient(lists(), opts(true), peer("mx.partner.example"), "bob@partner.example");
  auto f = check_reached(d, false, 0, kStarttlsNotOffered);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "503 5.7.0 encryption too weak 0 less than 112");
  EXPECT_EQ(f->code, 503);
  EXPECT_EQ(f->enhanced, "5.7.0");
  EXPECT_EQ(f->text, "encryption too weak 0 less than 112");
  EXPECT_TRUE(f->permanent);
  // Handshake failed: the same, N = 0 whatever the caller passes as bits.
  f = check_reached(d, false, 256, handshake_failed("wrong version number"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "503 5.7.0 encryption too weak 0 less than 112");
  // Too weak.
  f = check_reached(d, true, 56);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "503 5.7.0 encryption too weak 56 less than 112");
  // Enough, and exactly enough.
  EXPECT_FALSE(check_reached(d, true, 128));
  EXPECT_FALSE(check_reached(d, true, 112));
  // A configured minimum.
  d = decide_recipient(lists(), opts(true, true, 256), peer("mx"), "bob@partner.example");
  f = check_reached(d, true, 128);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "503 5.7.0 encryption too weak 128 less than 256");
}

TEST(CheckReached, RequiredListDefers) {
  auto d = decide_recipient(lists(), opts(true), peer("mx.bank.example"), "a@bank.example");
  auto f = check_reached(d, false, 0, kStarttlsNotOffered);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "451 4.7.4 TLS is required for mx.bank.example but the server did not offer STARTTLS");
  EXPECT_FALSE(f->permanent);
  f = check_reached(d, false, 0, handshake_failed("certificate\r\nunknown"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->text, "TLS is required for mx.bank.example but the TLS handshake failed (certificate  unknown)");
  f = check_reached(d, false, 0);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->text, "TLS is required for mx.bank.example but no TLS session was established");
  EXPECT_FALSE(check_reached(d, true, 128));
  EXPECT_FALSE(check_reached(d, true, 40));  // no strength rule on the required list (min_bits 0)
  // With a strength rule (a driver-set minimum): transient 4.7.5.
  d.min_bits = 128;
  f = check_reached(d, true, 112);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->to_string(), "451 4.7.5 TLS is required for mx.bank.example but the cipher strength 112 bits is less than 128");
  EXPECT_FALSE(f->permanent);
}

TEST(CheckReached, NoneAndOpportunisticNeverFail) {
  auto none = decide_recipient(lists(), opts(false), peer("mx.example.net"), "a@example.net");
  auto opp = decide_recipient(lists(), opts(true), peer("mx.example.net"), "a@example.net");
  for (const auto& d : {none, opp}) {
    EXPECT_FALSE(check_reached(d, false, 0, kStarttlsNotOffered));
    EXPECT_FALSE(check_reached(d, true, 40));
    EXPECT_FALSE(check_reached(d, true, 256));
  }
}

TEST(Inbound, AdvertiseStarttls) {
  auto client = core::IpAddress::parse("203.0.113.5");
  EXPECT_TRUE(advertise_starttls(lists(), true, true, client, "client.example.net"));
  EXPECT_FALSE(advertise_starttls(lists(), false, true, client, "client.example.net"));  // tls.enabled off
  EXPECT_FALSE(advertise_starttls(lists(), true, false, client, "client.example.net"));  // no certificate
  EXPECT_FALSE(advertise_starttls(lists(), true, true, core::IpAddress::parse("192.0.2.200"), "client.example.net"));
  EXPECT_FALSE(advertise_starttls(lists(), true, true, client, "mx.plain.example"));
  EXPECT_FALSE(advertise_starttls(lists(), true, true, client, "old.legacy.example"));
  EXPECT_FALSE(advertise_starttls(lists(), true, true, std::nullopt, "[192.0.2.1]"));
  EXPECT_TRUE(advertise_starttls(lists(), true, true, std::nullopt, ""));
  // The required list and tls-domains do not affect what we offer.
  EXPECT_TRUE(advertise_starttls(lists(), true, true, client, "mx.bank.example"));
}
