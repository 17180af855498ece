// Tests for the whole inbound check (auth/check.hpp) over a StaticZone: the Authentication-Results
// field (RFC 8601) with spf, each dkim signature and dmarc with the requested policy in a comment;
// a precomputed SPF result is used as is; the DMARC options (header name, invalid From) reach the
// action; authserv-id parsing (§2.2) and remove_forged_fields(): incoming Authentication-Results
// that claim our authserv-id are removed (§5), those of other ADMDs stay, forged policy headers
// are removed; fields_to_add() follows the action; the streaming form (MessageParts) agrees with
// the whole-message form.
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

TEST(FieldsToAdd, AuthResultsThenPolicyHeaderNothingForARefusal) {
  auto r = check(request("192.0.2.1", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n"));
  ASSERT_EQ(r.action.kind, dmarc::Action::Kind::accept);
  EXPECT_EQ(fields_to_add(r), r.authentication_results);

  r = check(request("198.51.100.7", "bob@quar.example", "From: bob@quar.example\r\n\r\nbody\r\n"));
  EXPECT_EQ(fields_to_add(r), r.authentication_results + "X-SGDMARC-Fail-policy: quarantine\r\n");

  auto req = request("198.51.100.7", "alice@example.org", "From: alice@example.org\r\n\r\nbody\r\n");
  req.dmarc_options.honour_reject = true;
  r = check(req);
  EXPECT_EQ(r.action.kind, dmarc::Action::Kind::reject);
  EXPECT_EQ(fields_to_add(r), "");
}

TEST(CheckMessage, StreamedPartsGiveTheSameResultAsTheWholeMessage) {
  // A DKIM-signed message checked whole and as parts fed in small pieces.
  auto key = dkim::generate_key(dkim::KeyType::ed25519);
  ASSERT_TRUE(key);
  const std::string unsigned_msg = "From: alice@example.org\r\nSubject: s\r\n\r\nline one\r\n\r\n  two  \r\n";
  auto msg = dkim::split_message(unsigned_msg);
  ASSERT_TRUE(msg);
  dkim::SignRequest sr;
  sr.private_key = key->private_pem;
  sr.message = &*msg;
  sr.domain = "example.org";
  sr.selector = "s";
  sr.now = kNow;
  const std::string signed_msg = dkim::sign(sr) + unsigned_msg;
  auto z = zone();
  z.add_txt("s._domainkey.example.org", dkim::split_txt_strings(key->record));
  auto req = request("192.0.2.1", "alice@example.org", signed_msg);
  auto whole = dmarc::test::run(check_message(z, req));
  ASSERT_EQ(whole.dkim.size(), 1u);
  EXPECT_EQ(whole.dkim[0].result, dkim::Result::pass) << whole.dkim[0].detail;

  const auto end = signed_msg.find("\r\n\r\n") + 4;
  MessageParts parts(std::string_view(signed_msg).substr(0, end));
  ASSERT_TRUE(parts.header);
  for (std::size_t i = end; i < signed_msg.size(); i += 3) parts.body.update(std::string_view(signed_msg).substr(i, 3));
  parts.body.finish();
  CheckRequest no_text = req;
  no_text.message.clear();
  auto streamed = dmarc::test::run(check_message(z, no_text, parts));
  EXPECT_EQ(streamed.authentication_results, whole.authentication_results);
  ASSERT_EQ(streamed.dkim.size(), 1u);
  EXPECT_EQ(streamed.dkim[0].result, dkim::Result::pass);
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
