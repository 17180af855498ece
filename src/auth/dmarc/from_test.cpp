// Tests for from_domain() (RFC 7489 §3.1, §6.6.1 over RFC 5322 §3.4, §3.6.2 and §4.4): one well-
// formed From field with one mailbox gives its domain; every other shape gives the reason
// (missing, several fields, several addresses, group, domain literal, unparseable, too long).
// Covers display names, quoted strings, nested comments, angle addresses, source routes,
// folding, case, UTF-8, and look-alike fields (Resent-From, Sender, body text).
// Must not: touch the network or files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc {
namespace {

std::string headers(std::string_view from_line) {
  return "Received: from x by y\r\nSubject: test\r\n" + std::string(from_line) + "\r\nTo: b@example.net\r\n\r\nbody\r\n";
}

TEST(DmarcFrom, WellFormedSingleMailbox) {
  struct Case {
    const char* field;
    const char* domain;
  };
  const Case cases[] = {
      {"From: alice@example.com", "example.com"},
      {"From: Alice <alice@example.com>", "example.com"},
      {"From: \"Alice Example\" <alice@example.com>", "example.com"},
      {"From: \"Doe, John\" <john@example.com>", "example.com"},          // comma in a quoted string
      {"From: \"a \\\"quoted\\\" name\" <x@example.com>", "example.com"},  // quoted-pair
      {"From: <alice@EXAMPLE.Com>", "example.com"},                       // lower-cased
      {"FROM: alice@example.com", "example.com"},                          // field name case
      {"from:alice@example.com", "example.com"},
      {"From : alice@example.com", "example.com"},  // obsolete WSP before ':'
      {"From: alice@example.com (Alice)", "example.com"},
      {"From: (comment (nested (deeply))) Alice <alice@example.com> (trailing)", "example.com"},
      {"From: Alice (x) <alice (y) @ (z) mail.example.com (w)>", "mail.example.com"},  // CFWS everywhere
      {"From: \"quoted local\"@example.com", "example.com"},
      {"From: first.last@sub.example.co.uk", "sub.example.co.uk"},
      {"From: John Q. Public <jqp@example.com>", "example.com"},  // obs-phrase with '.'
      {"From: =?utf-8?q?Andr=C3=A9?= <andre@example.fr>", "example.fr"},
      {"From: André <andré@bücher.example>", "bücher.example"},  // RFC 6532 UTF-8
      {"From: <@relay1.example,@relay2.example:user@example.org>", "example.org"},  // obs-route
      {"From: a@example.com,", "example.com"},   // obs-mbox-list: empty element
      {"From: , a@example.com", "example.com"},
      {"From: alice @ example . com", "example.com"},  // obs-local-part / obs-domain spacing
      {"From: Alice\r\n <alice@example.com>", "example.com"},  // folded
      {"From:\r\n\talice@example.com", "example.com"},
      {"From: user+tag@xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"From: localhost-user@localhost", "localhost"},
  };
  for (const auto& c : cases) {
    FromDomain f = from_domain(headers(c.field));
    EXPECT_TRUE(f.ok()) << c.field << ": " << to_string(f.problem) << ": " << f.detail;
    EXPECT_EQ(f.domain, c.domain) << c.field;
  }
}

TEST(DmarcFrom, Problems) {
  struct Case {
    const char* field;
    FromProblem problem;
  };
  const Case cases[] = {
      {"X-Nothing: here", FromProblem::missing},
      {"Resent-From: a@example.com", FromProblem::missing},
      {"Sender: a@example.com", FromProblem::missing},
      {"From: a@example.com\r\nFrom: b@example.com", FromProblem::several_fields},
      {"From: a@example.com\r\nfrom: a@example.com", FromProblem::several_fields},
      {"From: a@example.com, b@example.org", FromProblem::several_addresses},
      {"From: A <a@example.com>, B <b@example.com>", FromProblem::several_addresses},
      {"From: a@example.com, a@example.com", FromProblem::several_addresses},
      {"From: undisclosed-recipients:;", FromProblem::group},
      {"From: Friends: a@example.com;", FromProblem::group},
      {"From: a@[192.0.2.1]", FromProblem::no_domain},
      {"From: <a@[IPv6:2001:db8::1]>", FromProblem::no_domain},
      {"From:", FromProblem::unparseable},
      {"From:   (just a comment)", FromProblem::unparseable},
      {"From: alice", FromProblem::unparseable},
      {"From: Alice <alice>", FromProblem::unparseable},
      {"From: <>", FromProblem::unparseable},
      {"From: alice@", FromProblem::unparseable},
      {"From: @example.com", FromProblem::unparseable},
      {"From: a@@example.com", FromProblem::unparseable},
      {"From: a@example..com", FromProblem::unparseable},
      {"From: a@example.com.", FromProblem::unparseable},
      {"From: a@.example.com", FromProblem::unparseable},
      {"From: a@exa_mple.com", FromProblem::unparseable},
      {"From: a@exa!mple.com", FromProblem::unparseable},
      {"From: a@\"example\".com", FromProblem::unparseable},
      {"From: a.@example.com", FromProblem::unparseable},
      {"From: a..b@example.com", FromProblem::unparseable},
      {"From: John Smith@example.com", FromProblem::unparseable},
      {"From: Alice <alice@example.com", FromProblem::unparseable},
      {"From: Alice alice@example.com>", FromProblem::unparseable},
      {"From: \"unterminated <a@example.com>", FromProblem::unparseable},
      {"From: (unterminated a@example.com", FromProblem::unparseable},
      {"From: a@example.com; b", FromProblem::unparseable},
      {"From: <a@example.com> trailing", FromProblem::unparseable},
      {"From: a@bad\xC3.example", FromProblem::unparseable},
      {"From: a@" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", FromProblem::unparseable},
  };
  for (const auto& c : cases) {
    FromDomain f = from_domain(headers(c.field));
    EXPECT_EQ(f.problem, c.problem) << c.field << " -> " << to_string(f.problem) << ": " << f.detail;
    EXPECT_FALSE(f.ok()) << c.field;
    EXPECT_TRUE(f.domain.empty()) << c.field;
    EXPECT_FALSE(f.detail.empty()) << c.field;
  }
}

TEST(DmarcFrom, OnlyTheHeaderSectionCounts) {
  EXPECT_EQ(from_domain("Subject: x\r\n\r\nFrom: a@example.com\r\n").problem, FromProblem::missing);
  FromDomain f = from_domain("From: a@example.com\r\n\r\nFrom: b@example.org\r\n");
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(f.domain, "example.com");
  // An mbox "From " line is not a field.
  f = from_domain("From alice@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.com\n\n");
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(f.domain, "example.com");
  // Header block without body or blank line, LF only.
  f = from_domain("From: a@example.com");
  EXPECT_EQ(f.domain, "example.com");
  EXPECT_EQ(from_domain("").problem, FromProblem::missing);
}

TEST(DmarcFrom, Caps) {
  std::string deep = "From: ";
  for (int i = 0; i < 40; ++i) deep += "(";
  for (int i = 0; i < 40; ++i) deep += ")";
  deep += " a@example.com";
  FromDomain f = from_domain(headers(deep));
  EXPECT_EQ(f.problem, FromProblem::unparseable);
  EXPECT_THAT(f.detail, ::testing::HasSubstr("nested too deeply"));

  std::string long_field = "From: \"" + std::string(kMaxFromField, 'x') + "\" <a@example.com>";
  EXPECT_EQ(from_domain(headers(long_field)).problem, FromProblem::too_long);

  std::string big = "X-Filler: " + std::string(kMaxHeaderSection, 'x') + "\r\nFrom: a@example.com\r\n";
  EXPECT_EQ(from_domain(big).problem, FromProblem::too_long);

  std::string long_domain = "From: a@";
  for (int i = 0; i < 5; ++i) long_domain += std::string(60, 'a') + ".";
  long_domain += "com";  // 308 bytes: over 253
  EXPECT_EQ(from_domain(headers(long_domain)).problem, FromProblem::unparseable);
}

TEST(DmarcFrom, ProblemNames) {
  EXPECT_EQ(to_string(FromProblem::missing), "no From field");
  EXPECT_EQ(to_string(FromProblem::several_fields), "several From fields");
  EXPECT_EQ(to_string(FromProblem::several_addresses), "several addresses in From");
  EXPECT_EQ(to_string(FromProblem::group), "group syntax in From");
  EXPECT_EQ(to_string(FromProblem::no_domain), "no domain name in From");
  EXPECT_EQ(to_string(FromProblem::unparseable), "unparseable From field");
  EXPECT_EQ(to_string(FromProblem::too_long), "From field too long");
}

}  // namespace
}  // namespace gatehouse::auth::dmarc
