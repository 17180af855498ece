// Tests for what the gateway does with a DMARC result (the seed product's rules): the
// apply_policy() table over result x disposition x "honour DMARC reject" x header name, the
// invalid-From action, option validation, and remove_header_fields() with folded lines, case,
// obsolete WSP before the colon, LF-only input, the body after the header section, and caps.
// Must not: touch the network or files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc {
namespace {

using ::testing::HasSubstr;
using Kind = Action::Kind;

DmarcResult result(DmarcVerdict v, Policy disposition, std::string from = "example.com") {
  DmarcResult r;
  r.result = v;
  r.requested = disposition;
  r.disposition = disposition;
  r.from_domain = std::move(from);
  return r;
}

TEST(DmarcApplyPolicy, Table) {
  struct Case {
    DmarcVerdict verdict;
    Policy disposition;
    bool honour;
    Kind kind;
    const char* header_value;
    Policy applied;
  };
  const Case cases[] = {
      {DmarcVerdict::fail, Policy::none, false, Kind::accept, "", Policy::none},
      {DmarcVerdict::fail, Policy::none, true, Kind::accept, "", Policy::none},
      {DmarcVerdict::fail, Policy::quarantine, false, Kind::add_header, "quarantine", Policy::quarantine},
      {DmarcVerdict::fail, Policy::quarantine, true, Kind::add_header, "quarantine", Policy::quarantine},
      {DmarcVerdict::fail, Policy::reject, false, Kind::add_header, "reject", Policy::quarantine},
      {DmarcVerdict::fail, Policy::reject, true, Kind::reject, "", Policy::reject},
      // Only a fail acts.
      {DmarcVerdict::pass, Policy::reject, true, Kind::accept, "", Policy::none},
      {DmarcVerdict::none, Policy::reject, true, Kind::accept, "", Policy::none},
      {DmarcVerdict::temperror, Policy::reject, true, Kind::accept, "", Policy::none},
      {DmarcVerdict::permerror, Policy::quarantine, true, Kind::accept, "", Policy::none},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.verdict)) + " " + std::string(to_string(c.disposition)) +
                 (c.honour ? " honour" : ""));
    DmarcOptions o;
    o.honour_reject = c.honour;
    Action a = apply_policy(result(c.verdict, c.disposition), o);
    EXPECT_EQ(a.kind, c.kind);
    EXPECT_EQ(a.applied, c.applied);
    if (c.kind == Kind::add_header) {
      EXPECT_EQ(a.header_name, "X-SGDMARC-Fail-policy");
      EXPECT_EQ(a.header_value, c.header_value);
    }
    if (c.kind == Kind::reject) {
      EXPECT_EQ(a.code, 550u);
      EXPECT_EQ(a.enhanced, "5.7.1");
      EXPECT_EQ(a.text, "Message rejected: DMARC policy of example.com requires rejection");
    }
    const bool local_policy = c.verdict == DmarcVerdict::fail && c.disposition == Policy::reject && !c.honour;
    EXPECT_EQ(a.override_reason.has_value(), local_policy);
    if (local_policy) {
      EXPECT_EQ(a.override_reason, PolicyOverride::local_policy);
    }
  }
}

TEST(DmarcApplyPolicy, HonourRejectIsOffByDefault) {
  DmarcOptions o;
  EXPECT_FALSE(o.honour_reject);
  EXPECT_EQ(o.header_name, "X-SGDMARC-Fail-policy");
  EXPECT_EQ(o.invalid_from, InvalidFromAction::reject);
  Action a = apply_policy(result(DmarcVerdict::fail, Policy::reject), o);
  EXPECT_EQ(a.kind, Kind::add_header);
  EXPECT_EQ(a.header_value, "reject");
}

TEST(DmarcApplyPolicy, CustomHeaderName) {
  DmarcOptions o;
  o.header_name = "X-Gatehouse-DMARC";
  EXPECT_TRUE(validate(o));
  Action a = apply_policy(result(DmarcVerdict::fail, Policy::quarantine), o);
  EXPECT_EQ(a.header_name, "X-Gatehouse-DMARC");
  EXPECT_EQ(a.header_value, "quarantine");
  a = apply_policy(result(DmarcVerdict::fail, Policy::reject), o);
  EXPECT_EQ(a.header_name, "X-Gatehouse-DMARC");
  EXPECT_EQ(a.header_value, "reject");
}

TEST(DmarcApplyPolicy, InvalidHeaderNameFallsBack) {
  for (const char* bad : {"", "X-Bad Name", "X-Bad:Name", "X-Bad\r\nInjected: 1", "X-\xC3\xA9"}) {
    DmarcOptions o;
    o.header_name = bad;
    auto st = validate(o);
    ASSERT_FALSE(st) << bad;
    EXPECT_THAT(st.error().message, HasSubstr("dmarc.header_name"));
    EXPECT_EQ(apply_policy(result(DmarcVerdict::fail, Policy::quarantine), o).header_name, "X-SGDMARC-Fail-policy");
  }
  DmarcOptions long_name;
  long_name.header_name = std::string(77, 'X');
  EXPECT_FALSE(validate(long_name));
  long_name.header_name = std::string(76, 'X');
  EXPECT_TRUE(validate(long_name));
}

TEST(DmarcApplyPolicy, RejectTextNeverCarriesOddBytes) {
  DmarcOptions o;
  o.honour_reject = true;
  Action a = apply_policy(result(DmarcVerdict::fail, Policy::reject, "exa\r\nmple.com"), o);
  EXPECT_EQ(a.kind, Kind::reject);
  EXPECT_EQ(a.text, "Message rejected: DMARC policy of the sender requires rejection");
}

TEST(DmarcInvalidFrom, RejectOrMark) {
  FromDomain bad;
  bad.problem = FromProblem::several_addresses;
  bad.detail = "the From field holds 2 addresses";
  DmarcOptions o;
  Action a = invalid_from_action(bad, o);
  EXPECT_EQ(a.kind, Kind::reject);
  EXPECT_EQ(a.code, 550u);
  EXPECT_EQ(a.enhanced, "5.7.1");
  EXPECT_EQ(a.text, "Message rejected: it must have exactly one From address (several addresses in From)");

  o.invalid_from = InvalidFromAction::mark;
  o.header_name = "X-Custom";
  a = invalid_from_action(bad, o);
  EXPECT_EQ(a.kind, Kind::add_header);
  EXPECT_EQ(a.header_name, "X-Custom");
  EXPECT_EQ(a.header_value, "invalid-from");

  FromDomain good;
  good.domain = "example.com";
  EXPECT_EQ(invalid_from_action(good, o).kind, Kind::accept);
}

std::string removed(std::string_view block, std::string_view name, std::size_t expect_count) {
  auto r = remove_header_fields(block, name);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r) return {};
  EXPECT_EQ(r->removed, expect_count);
  return r->headers;
}

TEST(DmarcRemoveHeader, PlainAndCaseInsensitive) {
  const std::string in =
      "Received: from a\r\n"
      "X-SGDMARC-Fail-policy: reject\r\n"
      "Subject: hi\r\n"
      "x-sgdmarc-fail-POLICY: quarantine\r\n"
      "From: a@example.com\r\n";
  EXPECT_EQ(removed(in, "X-SGDMARC-Fail-policy", 2),
            "Received: from a\r\n"
            "Subject: hi\r\n"
            "From: a@example.com\r\n");
}

TEST(DmarcRemoveHeader, FoldedContinuationLinesGoToo) {
  const std::string in =
      "X-SGDMARC-Fail-policy: reject;\r\n"
      "\tmore text\r\n"
      "  and more\r\n"
      "Subject: folded\r\n"
      " subject\r\n"
      "X-SGDMARC-Fail-policy:\r\n"
      " quarantine\r\n";
  EXPECT_EQ(removed(in, "X-SGDMARC-Fail-policy", 2), "Subject: folded\r\n subject\r\n");
}

TEST(DmarcRemoveHeader, ObsoleteSpaceBeforeColonAndSimilarNames) {
  const std::string in =
      "X-SGDMARC-Fail-policy : reject\r\n"
      "X-SGDMARC-Fail-policy-Extra: keep\r\n"
      "X-SGDMARC-Fail: keep\r\n"
      "Subject: X-SGDMARC-Fail-policy: keep\r\n";
  EXPECT_EQ(removed(in, "X-SGDMARC-Fail-policy", 1),
            "X-SGDMARC-Fail-policy-Extra: keep\r\n"
            "X-SGDMARC-Fail: keep\r\n"
            "Subject: X-SGDMARC-Fail-policy: keep\r\n");
}

TEST(DmarcRemoveHeader, BodyIsUntouched) {
  const std::string in =
      "Subject: s\r\n"
      "X-SGDMARC-Fail-policy: reject\r\n"
      "\r\n"
      "X-SGDMARC-Fail-policy: this is body text\r\n";
  EXPECT_EQ(removed(in, "x-sgdmarc-fail-policy", 1),
            "Subject: s\r\n"
            "\r\n"
            "X-SGDMARC-Fail-policy: this is body text\r\n");
}

TEST(DmarcRemoveHeader, LfOnlyAndNoFinalNewline) {
  EXPECT_EQ(removed("A: 1\nX-SGDMARC-Fail-policy: reject\n folded\nB: 2", "X-SGDMARC-Fail-policy", 1), "A: 1\nB: 2");
  EXPECT_EQ(removed("A: 1\nX-SGDMARC-Fail-policy: reject", "X-SGDMARC-Fail-policy", 1), "A: 1\n");
  EXPECT_EQ(removed("", "X-SGDMARC-Fail-policy", 0), "");
  // Nothing to remove: byte for byte, odd lines included.
  const std::string odd = " leading continuation\r\nnot a field\r\nA: 1\r\n";
  EXPECT_EQ(removed(odd, "X-SGDMARC-Fail-policy", 0), odd);
}

TEST(DmarcRemoveHeader, CustomName) {
  EXPECT_EQ(removed("X-Custom: 1\r\nX-SGDMARC-Fail-policy: reject\r\n", "x-custom", 1),
            "X-SGDMARC-Fail-policy: reject\r\n");
}

TEST(DmarcRemoveHeader, Errors) {
  EXPECT_FALSE(remove_header_fields("A: 1\r\n", ""));
  std::string big = "A: " + std::string(kMaxHeaderSection, 'x') + "\r\n";
  auto r = remove_header_fields(big, "X-SGDMARC-Fail-policy");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("longer than"));
  // A big body after a small header section is fine.
  std::string body = "A: 1\r\n\r\n" + std::string(kMaxHeaderSection * 2, 'b');
  auto ok = remove_header_fields(body, "A");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->removed, 1u);
  EXPECT_EQ(ok->headers.size(), body.size() - 6);
}

}  // namespace
}  // namespace gatehouse::auth::dmarc
