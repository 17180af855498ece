// Tests for the whole inbound check (auth/check.hpp) over a StaticZone: the Authentication-Results
// field (RFC 8601) with spf, each dkim signature and dmarc with the requested policy in a comment;
// a precomputed SPF result is used as is; the DMARC options (header name, invalid From) reach the
// action; authserv-id parsing (§2.2) and decide_inbound(): incoming Authentication-Results that
// claim our authserv-id are removed (§5), those of other ADMDs stay, a forged policy header is
// removed, the header to add follows the action.
// Must not: touch the network or read the clock (now is fixed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dmarc/test_util.hpp"
#include "gatehouse/auth/check.hpp"
#include "gatehouse/dns/static_zone.hpp"

namespace gatehouse::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kNow = 1'700'000'000;

dns::StaticZone zone() {
  dns::StaticZone z;
  z.add_txt("example.org", "v=spf1 ip4:192.0.2.1 -all");
  z.add_txt("_dmarc.example.org", "v=DMARC1; p=reject; rua=mailto:agg@example.org");
  z.add_txt("quar.example", "v=spf1 -all");
  z.add_txt("_dmarc.quar.example", "v=DMARC1; p=quarantine");
  return z;
}

CheckRequest request(std::string ip, std::string mail_from, std::string message) {
  CheckRequest r;
  r.ip = *core::IpAddress::parse(ip);
  r.helo = "mail.sender.test";
  r.mail_from = std::move(mail_from);
  r.message = std::move(message);
  r.authserv_id = "gw.test";
  r.now = kNow;
  r.psl = dmarc::test::small_psl();
  return r;
}

CheckResult check(CheckRequest r) {
  auto z = zone();
  return dmarc::test::run(check_message(z, std::move(r)));
}

TEST(CheckMessage, SpfFailWithRejectPolicyIsMarkedByDefault) {
  auto r = check(request("198.51.100.7", "alice@example.org", "From: alice@example.org\r\nSubject: x\r\n\r\nbody\r\n"));
  EXPECT_EQ(r.spf.result, SpfResult::fail);
  EXPECT_EQ(r.dmarc.result, dmarc::DmarcVerdict::fail);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::add_header);
  EXPECT_EQ(r.action.header_name, "X-SGDMARC-Fail-policy");
  EXPECT_EQ(r.action.header_value, "reject");
  EXPECT_EQ(r.authentication_results,
            "Authentication-Results: gw.test;\r\n"
            "\tspf=fail smtp.mailfrom=alice@example.org;\r\n"
            "\tdkim=none;\r\n"
            "\tdmarc=fail (p=reject dis=quarantine) header.from=example.org\r\n");
}

TEST(CheckMessage, HonouredRejectAndOwnHeaderName) {
  auto req = request("198.51.100.7", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n");
  req.dmarc_options.honour_reject = true;
  auto r = check(req);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::reject);
  EXPECT_EQ(r.action.code, 550u);
  EXPECT_EQ(r.action.enhanced, "5.7.1");

  req = request("198.51.100.7", "bob@quar.example", "From: bob@quar.example\r\n\r\nbody\r\n");
  req.dmarc_options.header_name = "X-Our-Policy";
  r = check(req);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::add_header);
  EXPECT_EQ(r.action.header_name, "X-Our-Policy");
  EXPECT_EQ(r.action.header_value, "quarantine");
}

TEST(CheckMessage, PrecomputedSpfIsUsedAndNotLookedUpAgain) {
  auto req = request("192.0.2.1", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n");
  SpfOutcome pre;
  pre.result = SpfResult::pass;
  pre.domain = "example.org";
  req.spf_result = pre;
  auto z = zone();
  auto r = dmarc::test::run(check_message(z, req));
  EXPECT_EQ(r.spf.result, SpfResult::pass);
  EXPECT_EQ(r.dmarc.result, dmarc::DmarcVerdict::pass);
  for (const auto& [name, type] : z.query_log())
    EXPECT_FALSE(name == "example.org" && type == dns::RrType::TXT) << "SPF record fetched again";
}

TEST(CheckMessage, InvalidFromRejectedOrMarked) {
  const std::string two_froms = "From: a@example.org\r\nFrom: b@example.org\r\n\r\nbody\r\n";
  auto r = check(request("192.0.2.1", "alice@example.org", two_froms));
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::reject);
  EXPECT_THAT(r.action.text, HasSubstr("exactly one From"));
  EXPECT_THAT(r.authentication_results, HasSubstr("dmarc=permerror"));

  auto req = request("192.0.2.1", "alice@example.org", "Subject: no from\r\n\r\nbody\r\n");
  req.dmarc_options.invalid_from = dmarc::InvalidFromAction::mark;
  r = check(req);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::add_header);
  EXPECT_EQ(r.action.header_value, "invalid-from");

  // With DMARC off the From field is not judged at all.
  req = request("192.0.2.1", "alice@example.org", two_froms);
  req.dmarc = false;
  r = check(req);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::accept);
  EXPECT_THAT(r.authentication_results, Not(HasSubstr("dmarc=")));
}

TEST(AuthservId, Parsing) {
  EXPECT_EQ(authserv_id_of(" gw.test; spf=pass"), "gw.test");
  EXPECT_EQ(authserv_id_of("gw.test 1; none"), "gw.test");
  EXPECT_EQ(authserv_id_of(" (comment (nested)) gw.test;"), "gw.test");
  EXPECT_EQ(authserv_id_of("\r\n\tGW.Test;"), "GW.Test");
  EXPECT_EQ(authserv_id_of(" \"gw.test\"; spf=pass"), "gw.test");
  EXPECT_EQ(authserv_id_of("gw.test"), "gw.test");
  EXPECT_FALSE(authserv_id_of(""));
  EXPECT_FALSE(authserv_id_of(" ; spf=pass"));
  EXPECT_FALSE(authserv_id_of(" (unclosed gw.test;"));
  EXPECT_FALSE(authserv_id_of("gw.test=x;"));
}

TEST(DecideInbound, RemovesOurAuthResultsAndForgedPolicyHeaderKeepsOthers) {
  auto r = check(request("192.0.2.1", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n"));
  ASSERT_EQ(r.action.kind, dmarc::Action::Kind::accept);
  const std::string headers =
      "Authentication-Results: gw.test; spf=pass smtp.mailfrom=forged@example.org\r\n"
      "Authentication-Results: mx.other.example;\r\n spf=pass\r\n"
      "authentication-results: (ours) GW.TEST 1;\r\n\tdkim=pass\r\n"
      "X-SGDMARC-Fail-policy: none\r\n"
      "From: alice@example.org\r\n"
      "\r\n";
  auto d = decide_inbound(r, headers, {"gw.test", "gw2.test"}, {"X-SGDMARC-Fail-policy"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->removed_authentication_results, 2u);
  EXPECT_EQ(d->removed_policy_headers, 1u);
  EXPECT_EQ(d->headers, "Authentication-Results: mx.other.example;\r\n spf=pass\r\nFrom: alice@example.org\r\n\r\n");
  EXPECT_EQ(d->prepend, r.authentication_results);
}

TEST(DecideInbound, PolicyHeaderAddedAfterAuthResults) {
  auto r = check(request("198.51.100.7", "bob@quar.example", "From: bob@quar.example\r\n\r\nbody\r\n"));
  auto d = decide_inbound(r, "From: bob@quar.example\r\nX-Our: forged\r\nX-SGDMARC-Fail-policy: old\r\n\r\n",
                          {"gw.test"}, {"X-Our", "X-SGDMARC-Fail-policy"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->removed_policy_headers, 2u);
  EXPECT_EQ(d->prepend, r.authentication_results + "X-SGDMARC-Fail-policy: quarantine\r\n");
  EXPECT_EQ(d->headers, "From: bob@quar.example\r\n\r\n");
}

TEST(DecideInbound, RefusedMessageKeepsNothing) {
  auto req = request("198.51.100.7", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n");
  req.dmarc_options.honour_reject = true;
  auto r = check(req);
  auto d = decide_inbound(r, "From: alice@example.org\r\n\r\n", {"gw.test"}, {"X-SGDMARC-Fail-policy"});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->action.kind, dmarc::Action::Kind::reject);
  EXPECT_TRUE(d->headers.empty());
  EXPECT_TRUE(d->prepend.empty());
}

TEST(RemoveForgedFields, OnlyOursAndThePolicyNamesLeave) {
  const std::string headers =
      "Received: from x\r\n"
      "Authentication-Results: GW.test; dkim=pass\r\n"
      "Authentication-Results: other.example; dkim=pass\r\n"
      "x-sgdmarc-fail-policy: none\r\n"
      "Subject: Authentication-Results: gw.test; spf=pass\r\n"
      "\r\n";
  auto r = remove_forged_fields(headers, {"gw.test"}, {"X-SGDMARC-Fail-policy"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->removed_authentication_results, 1u);
  EXPECT_EQ(r->removed_policy_headers, 1u);
  EXPECT_EQ(r->headers,
            "Received: from x\r\nAuthentication-Results: other.example; dkim=pass\r\n"
            "Subject: Authentication-Results: gw.test; spf=pass\r\n\r\n");
  EXPECT_FALSE(remove_forged_fields(std::string(dmarc::kMaxHeaderSection + 10, 'a'), {}, {}));
}

}  // namespace
}  // namespace gatehouse::auth
