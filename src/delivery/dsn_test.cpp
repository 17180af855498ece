// Tests for the DSN builder and parser (RFC 3464, RFC 3461 §4.1/§4.3, RFC 6533): every field is
// built and parsed back; header injection, folding, boundary collisions, the size limit and the
// SMTPUTF8 media types are checked. The optional interop test feeds a DSN to Python's `email`
// package (skipped when /usr/bin/python3 is missing). No network; the interop test writes two
// files under the gtest temp dir.
#include <gtest/gtest.h>

#include "gatehouse/delivery/dsn.hpp"
#include "gatehouse/smtp/server_session.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <set>

using namespace gatehouse;
using delivery::DsnAction;
using delivery::DsnEvent;
using delivery::DsnParsed;
using delivery::DsnRecipient;
using delivery::DsnReport;
using delivery::DsnRet;

namespace {

constexpr std::int64_t kArrival = 1709210096;         // Thu, 29 Feb 2024 12:34:56 +0000
constexpr std::int64_t kNow = kArrival + 3600;        // Thu, 29 Feb 2024 13:34:56 +0000
constexpr std::int64_t kAttempt = kArrival + 1800;    // Thu, 29 Feb 2024 13:04:56 +0000
constexpr std::int64_t kRetryUntil = kArrival + 5 * 86400;  // Tue, 5 Mar 2024 12:34:56 +0000
const char* const kNowText = "Thu, 29 Feb 2024 13:34:56 +0000";
const char* const kArrivalText = "Thu, 29 Feb 2024 12:34:56 +0000";
const char* const kAttemptText = "Thu, 29 Feb 2024 13:04:56 +0000";
const char* const kRetryUntilText = "Tue, 5 Mar 2024 12:34:56 +0000";

const std::string kHeaders =
    "Received: from client.example (client.example [192.0.2.9])\r\n"
    "\tby gw.example.com with ESMTP id 9f2c41d07a13e005\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: Hello\r\n"
    "Message-ID: <m1@example.com>\r\n";
const std::string kOriginal = kHeaders + "\r\nHello Bob,\r\nsee you at noon.\r\n";

DsnRecipient failed_bob() {
  DsnRecipient rc;
  rc.final_recipient = "bob@example.net";
  rc.original_recipient = "rfc822;bob@example.net";
  rc.action = DsnAction::failed;
  rc.status = "5.1.1";
  rc.remote_mta = "mx.example.net";
  rc.diagnostic_code = "smtp; 550 5.1.1 No such user";
  rc.last_attempt = kAttempt;
  return rc;
}

DsnRecipient delayed_carol() {
  DsnRecipient rc;
  rc.final_recipient = "carol@example.org";
  rc.action = DsnAction::delayed;
  rc.status = "4.7.1";
  rc.remote_mta = "mx.example.org";
  rc.diagnostic_code = "451 4.7.1 Greylisted, try again later";
  rc.last_attempt = kAttempt;
  rc.will_retry_until = kRetryUntil;
  return rc;
}

DsnRecipient delivered_dave() {
  DsnRecipient rc;
  rc.final_recipient = "dave@example.com";
  rc.original_recipient = "rfc822;Dave@Example.com";
  rc.action = DsnAction::delivered;
  rc.status = "2.0.0";
  rc.remote_mta = "mail.example.com";
  rc.diagnostic_code = "smtp; 250 2.0.0 Ok: queued as 4ABC";
  rc.last_attempt = kAttempt;
  rc.will_retry_until = kRetryUntil;  // must not be written for a success
  return rc;
}

DsnReport base_report() {
  DsnReport r;
  r.reporting_mta = "gw.example.com";
  r.sender = "alice@example.com";
  r.arrival = kArrival;
  r.now = kNow;
  r.token = "9f2c41d07a13e005.1";
  r.original = kOriginal;
  return r;
}

DsnParsed parse_ok(const std::string& msg) {
  auto p = delivery::parse_dsn(msg);
  EXPECT_TRUE(p.has_value()) << (p.has_value() ? "" : p.error().message) << "\n" << msg;
  return p.has_value() ? *p : DsnParsed{};
}

std::vector<std::string> names(const delivery::DsnFields& f) {
  std::vector<std::string> out;
  for (const auto& [n, v] : f.list) out.push_back(n);
  return out;
}

// CRLF only, no line over 998 octets, top-level header lines within 78 where they have spaces.
void expect_wire_format(const std::string& msg) {
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      ASSERT_TRUE(i > 0 && msg[i - 1] == '\r') << "bare LF at " << i;
    }
    if (msg[i] == '\r') {
      ASSERT_TRUE(i + 1 < msg.size() && msg[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  std::size_t pos = 0;
  bool in_header = true;
  while (pos < msg.size()) {
    std::size_t e = msg.find("\r\n", pos);
    ASSERT_NE(e, std::string::npos) << "message does not end with CRLF";
    std::string_view line(msg.data() + pos, e - pos);
    EXPECT_LE(line.size(), 998u);
    if (line.empty()) in_header = false;
    if (in_header && line.find(' ', 1) != std::string_view::npos && line.size() > 78) {
      // Only allowed when the line is one unbreakable word after its first space.
      auto rest = line.substr(line.find(' ') + 1);
      EXPECT_EQ(rest.find(' '), std::string_view::npos) << "unfolded long header line: " << line;
    }
    pos = e + 2;
  }
}

void expect_top_headers(const DsnParsed& p, std::string_view subject, std::string_view to = "<alice@example.com>") {
  EXPECT_EQ(p.headers.get("From"), "Mail Delivery System <MAILER-DAEMON@gw.example.com>");
  EXPECT_EQ(p.headers.get("To"), to);
  EXPECT_EQ(p.headers.get("Subject"), subject);
  EXPECT_EQ(p.headers.get("Date"), kNowText);
  EXPECT_EQ(p.headers.get("Message-ID"), "<9f2c41d07a13e005.1@gw.example.com>");
  EXPECT_EQ(p.headers.get("Auto-Submitted"), "auto-replied");
  EXPECT_EQ(p.headers.get("MIME-Version"), "1.0");
  EXPECT_EQ(p.content_type, "multipart/report");
  EXPECT_EQ(p.report_type, "delivery-status");
  EXPECT_EQ(p.boundary, "=_9f2c41d07a13e005.1");
  for (const char* h : {"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"})
    EXPECT_EQ(p.headers.count(h), 1u) << h;
}

void expect_per_message(const DsnParsed& p, std::string_view envid) {
  EXPECT_EQ(p.per_message.get("Reporting-MTA"), "dns; gw.example.com");
  EXPECT_EQ(p.per_message.get("Arrival-Date"), kArrivalText);
  if (envid.empty()) {
    EXPECT_FALSE(p.per_message.has("Original-Envelope-Id"));
    EXPECT_EQ(p.per_message.list.size(), 2u);
  } else {
    EXPECT_EQ(p.per_message.get("Original-Envelope-Id"), envid);
    EXPECT_EQ(p.per_message.list.size(), 3u);
  }
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// The human-readable text with line breaks and indentation collapsed to single spaces, so that
// phrases can be found wherever the wrapping put them.
std::string flat(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// ---- decisions ---------------------------------------------------------------------------

TEST(DsnNotify, Rfc3461TruthTable) {
  using namespace smtp;
  struct Row {
    unsigned flags;
    bool failure, delay, success;
  };
  const Row rows[] = {
      {kNotifyNone, true, true, false},  // no NOTIFY: failure + delay (RFC 3461 §4.1)
      {kNotifyNever, false, false, false},
      {kNotifySuccess, false, false, true},
      {kNotifyFailure, true, false, false},
      {kNotifyDelay, false, true, false},
      {kNotifySuccess | kNotifyFailure, true, false, true},
      {kNotifySuccess | kNotifyDelay, false, true, true},
      {kNotifyFailure | kNotifyDelay, true, true, false},
      {kNotifySuccess | kNotifyFailure | kNotifyDelay, true, true, true},
      {kNotifyNever | kNotifyFailure | kNotifySuccess, false, false, false},  // NEVER wins
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.flags);
    EXPECT_EQ(delivery::should_notify(row.flags, DsnEvent::failure), row.failure);
    EXPECT_EQ(delivery::should_notify(row.flags, DsnEvent::expiry), row.failure);  // expiry is a failure
    EXPECT_EQ(delivery::should_notify(row.flags, DsnEvent::delay), row.delay);
    EXPECT_EQ(delivery::should_notify(row.flags, DsnEvent::success), row.success);
  }
}

TEST(DsnNotify, NullSenderIsNeverBounced) {
  EXPECT_FALSE(delivery::should_bounce(""));
  EXPECT_FALSE(delivery::should_bounce("<>"));
  EXPECT_FALSE(delivery::should_bounce(" < > "));
  EXPECT_TRUE(delivery::should_bounce("alice@example.com"));
  EXPECT_TRUE(delivery::should_bounce("MAILER-DAEMON@example.com"));
}

TEST(DsnNotify, EventsActionsAndRet) {
  EXPECT_EQ(delivery::action_for(DsnEvent::failure), DsnAction::failed);
  EXPECT_EQ(delivery::action_for(DsnEvent::expiry), DsnAction::failed);
  EXPECT_EQ(delivery::action_for(DsnEvent::delay), DsnAction::delayed);
  EXPECT_EQ(delivery::action_for(DsnEvent::success), DsnAction::delivered);
  EXPECT_EQ(delivery::default_status(DsnEvent::failure), "5.0.0");
  EXPECT_EQ(delivery::default_status(DsnEvent::expiry), "4.4.7");
  EXPECT_EQ(delivery::default_status(DsnEvent::delay), "4.0.0");
  EXPECT_EQ(delivery::default_status(DsnEvent::success), "2.0.0");
  EXPECT_EQ(delivery::to_string(DsnAction::failed), "failed");
  EXPECT_EQ(delivery::to_string(DsnAction::delayed), "delayed");
  EXPECT_EQ(delivery::to_string(DsnAction::delivered), "delivered");
  EXPECT_EQ(delivery::to_string(DsnAction::relayed), "relayed");
  EXPECT_EQ(delivery::to_string(DsnAction::expanded), "expanded");
  EXPECT_EQ(delivery::parse_ret("FULL"), DsnRet::full);
  EXPECT_EQ(delivery::parse_ret("full"), DsnRet::full);
  EXPECT_EQ(delivery::parse_ret("HDRS"), DsnRet::hdrs);
  EXPECT_EQ(delivery::parse_ret(""), DsnRet::unspecified);
  EXPECT_EQ(delivery::parse_ret("BODY"), DsnRet::unspecified);
  EXPECT_EQ(DsnReport{}.max_original, 10u * 1024 * 1024);
}

TEST(DsnDate, Rfc5322Utc) {
  EXPECT_EQ(delivery::format_rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(delivery::format_rfc5322_date(kArrival), kArrivalText);
  EXPECT_EQ(delivery::format_rfc5322_date(kRetryUntil), kRetryUntilText);
  EXPECT_EQ(delivery::format_rfc5322_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
  EXPECT_EQ(delivery::format_rfc5322_date(951782400), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(delivery::format_rfc5322_date(4102444800), "Fri, 1 Jan 2100 00:00:00 +0000");
  EXPECT_EQ(delivery::format_rfc5322_date(-2208988800), "Mon, 1 Jan 1900 00:00:00 +0000");
}

// ---- building and parsing back -----------------------------------------------------------

TEST(DsnBuild, PermanentFailureWithOrcptEnvidAndHeadersOnly) {
  auto r = base_report();
  r.envid = "QQ314159";
  r.ret = DsnRet::hdrs;
  r.recipients = {failed_bob()};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);

  expect_top_headers(p, "Undelivered Mail Returned to Sender");
  EXPECT_EQ(p.headers.get("Content-Type"),
            "multipart/report; report-type=delivery-status; boundary=\"=_9f2c41d07a13e005.1\"");
  EXPECT_FALSE(p.headers.has("Content-Transfer-Encoding"));  // all 7-bit
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[0].content_type, "text/plain");
  EXPECT_EQ(p.parts[0].headers.get("Content-Type"), "text/plain; charset=us-ascii");
  EXPECT_EQ(p.parts[1].content_type, "message/delivery-status");
  EXPECT_EQ(p.status_type, "message/delivery-status");
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  EXPECT_EQ(p.parts[2].body, kHeaders);

  expect_per_message(p, "QQ314159");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  const auto& f = p.per_recipient[0];
  EXPECT_EQ(f.get("Original-Recipient"), "rfc822;bob@example.net");
  EXPECT_EQ(f.get("Final-Recipient"), "rfc822; bob@example.net");
  EXPECT_EQ(f.get("Action"), "failed");
  EXPECT_EQ(f.get("Status"), "5.1.1");
  EXPECT_EQ(f.get("Remote-MTA"), "dns; mx.example.net");
  EXPECT_EQ(f.get("Diagnostic-Code"), "smtp; 550 5.1.1 No such user");
  EXPECT_EQ(f.get("Last-Attempt-Date"), kAttemptText);
  EXPECT_FALSE(f.has("Will-Retry-Until"));
  EXPECT_EQ(names(f), (std::vector<std::string>{"Original-Recipient", "Final-Recipient", "Action", "Status",
                                                "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date"}));

  const auto& human = p.parts[0].body;
  EXPECT_TRUE(contains(flat(human), "mail delivery system at gw.example.com"));
  EXPECT_TRUE(contains(flat(human), "could not be delivered"));
  EXPECT_TRUE(contains(flat(human), "Not delivered:"));
  EXPECT_TRUE(contains(flat(human), "<bob@example.net>"));
  EXPECT_TRUE(contains(flat(human), "rejected by the server mx.example.net"));
  EXPECT_TRUE(contains(human, "      550 5.1.1 No such user"));
  EXPECT_TRUE(contains(flat(human), std::string("received on ") + kArrivalText));
  EXPECT_TRUE(contains(flat(human), "header section of your message is attached"));
  EXPECT_FALSE(contains(flat(human), "you sent it to"));  // ORCPT equals the final address
}

TEST(DsnBuild, DelayWarningSaysWhenItGivesUp) {
  auto r = base_report();
  r.ret = DsnRet::full;  // delay reports return headers only (RFC 3461 §4.3)
  r.recipients = {delayed_carol()};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  expect_top_headers(p, "Delayed Mail (still being retried)");
  expect_per_message(p, "");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  const auto& f = p.per_recipient[0];
  EXPECT_FALSE(f.has("Original-Recipient"));
  EXPECT_EQ(f.get("Final-Recipient"), "rfc822; carol@example.org");
  EXPECT_EQ(f.get("Action"), "delayed");
  EXPECT_EQ(f.get("Status"), "4.7.1");
  EXPECT_EQ(f.get("Remote-MTA"), "dns; mx.example.org");
  EXPECT_EQ(f.get("Diagnostic-Code"), "smtp; 451 4.7.1 Greylisted, try again later");
  EXPECT_EQ(f.get("Last-Attempt-Date"), kAttemptText);
  EXPECT_EQ(f.get("Will-Retry-Until"), kRetryUntilText);
  EXPECT_EQ(f.list.size(), 7u);
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  EXPECT_EQ(p.parts[2].body, kHeaders);
  const auto& human = p.parts[0].body;
  EXPECT_TRUE(contains(flat(human), "THIS IS A WARNING ONLY"));
  EXPECT_TRUE(contains(flat(human), "Not delivered yet"));
  EXPECT_TRUE(contains(human, "<carol@example.org>"));
  EXPECT_TRUE(contains(human, "      451 4.7.1 Greylisted, try again later"));
  EXPECT_TRUE(contains(flat(human), std::string("keep trying until ") + kRetryUntilText)) << human;
}

TEST(DsnBuild, SuccessReportHeadersOnlyAndNoRetryField) {
  auto r = base_report();
  r.ret = DsnRet::full;
  r.recipients = {delivered_dave()};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  expect_top_headers(p, "Successful Mail Delivery Report");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  const auto& f = p.per_recipient[0];
  EXPECT_EQ(f.get("Original-Recipient"), "rfc822;Dave@Example.com");
  EXPECT_EQ(f.get("Final-Recipient"), "rfc822; dave@example.com");
  EXPECT_EQ(f.get("Action"), "delivered");
  EXPECT_EQ(f.get("Status"), "2.0.0");
  EXPECT_EQ(f.get("Remote-MTA"), "dns; mail.example.com");
  EXPECT_EQ(f.get("Diagnostic-Code"), "smtp; 250 2.0.0 Ok: queued as 4ABC");
  EXPECT_EQ(f.get("Last-Attempt-Date"), kAttemptText);
  EXPECT_FALSE(f.has("Will-Retry-Until"));
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  const auto& human = p.parts[0].body;
  EXPECT_TRUE(contains(flat(human), "delivery report you asked for"));
  EXPECT_TRUE(contains(flat(human), "Delivered:"));
  EXPECT_TRUE(contains(flat(human), "delivered to the server mail.example.com"));
  EXPECT_FALSE(contains(flat(human), "WARNING"));
  EXPECT_FALSE(contains(flat(human), "Not delivered"));
}

TEST(DsnBuild, ExpiryIsFailedWith447) {
  auto r = base_report();
  DsnRecipient rc = delayed_carol();
  rc.action = delivery::action_for(DsnEvent::expiry);
  rc.status = std::string(delivery::default_status(DsnEvent::expiry));
  rc.will_retry_until = 0;
  r.recipients = {rc};
  auto p = parse_ok(delivery::build_dsn(r));
  expect_top_headers(p, "Undelivered Mail Returned to Sender");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  EXPECT_EQ(p.per_recipient[0].get("Action"), "failed");
  EXPECT_EQ(p.per_recipient[0].get("Status"), "4.4.7");
  EXPECT_EQ(p.per_recipient[0].get("Diagnostic-Code"), "smtp; 451 4.7.1 Greylisted, try again later");
  EXPECT_FALSE(p.per_recipient[0].has("Will-Retry-Until"));
  const auto& human = p.parts[0].body;
  EXPECT_TRUE(contains(flat(human), "has now given up"));
  EXPECT_TRUE(contains(flat(human), "The last reply, from the server mx.example.org, was:"));
  EXPECT_TRUE(contains(human, "      451 4.7.1 Greylisted"));
}

TEST(DsnBuild, RetFullReturnsTheWholeMessage) {
  auto r = base_report();
  r.ret = DsnRet::full;
  r.recipients = {failed_bob()};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.original_type, "message/rfc822");
  EXPECT_EQ(p.parts[2].body, kOriginal);
  EXPECT_TRUE(contains(flat(p.parts[0].body), "Your message is attached below."));
}

TEST(DsnBuild, RetUnspecifiedReturnsHeaders) {
  auto r = base_report();
  r.recipients = {failed_bob()};
  auto p = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  EXPECT_EQ(p.parts[2].body, kHeaders);
}

TEST(DsnBuild, TooLargeFullMessageFallsBackToHeaders) {
  auto r = base_report();
  r.ret = DsnRet::full;
  r.recipients = {failed_bob()};
  r.max_original = kOriginal.size() - 1;
  auto p = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  EXPECT_EQ(p.parts[2].body, kHeaders);
  EXPECT_TRUE(contains(flat(p.parts[0].body), "too large to return in full (" + std::to_string(kOriginal.size()) +
                                                   " bytes; the limit is " + std::to_string(r.max_original) + " bytes)"));
  EXPECT_TRUE(contains(flat(p.parts[0].body), "only its header section is attached"));

  // The default limit: 10 MiB.
  auto big = base_report();
  big.ret = DsnRet::full;
  big.recipients = {failed_bob()};
  std::string line(76, 'x');
  line += "\r\n";
  big.original = kHeaders + "\r\n";
  while (big.original.size() <= (10u << 20)) big.original += line;
  auto pb = parse_ok(delivery::build_dsn(big));
  EXPECT_EQ(pb.original_type, "text/rfc822-headers");
  EXPECT_EQ(pb.parts[2].body, kHeaders);
  big.original.resize(10u << 20);  // exactly at the limit: returned in full
  auto pf = parse_ok(delivery::build_dsn(big));
  EXPECT_EQ(pf.original_type, "message/rfc822");
  EXPECT_EQ(pf.parts[2].body.size(), 10u << 20);
}

TEST(DsnBuild, OversizedHeaderSectionIsCutAtALineEnd) {
  auto r = base_report();
  r.recipients = {failed_bob()};
  r.max_original = 100;
  auto p = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(p.original_type, "text/rfc822-headers");
  const auto& h = p.parts[2].body;
  EXPECT_LE(h.size(), 100u);
  EXPECT_EQ(kHeaders.compare(0, h.size(), h), 0);
  EXPECT_EQ(h.substr(h.size() - 2), "\r\n");
  EXPECT_TRUE(contains(flat(p.parts[0].body), "cut short"));
}

TEST(DsnBuild, OrcptAbsentOrWithoutType) {
  auto r = base_report();
  auto a = failed_bob();
  a.original_recipient.clear();
  auto b = failed_bob();
  b.final_recipient = "bob2@example.net";
  b.original_recipient = "bob.alias@example.net";  // no "type;" given
  r.recipients = {a, b};
  auto p = parse_ok(delivery::build_dsn(r));
  ASSERT_EQ(p.per_recipient.size(), 2u);
  EXPECT_FALSE(p.per_recipient[0].has("Original-Recipient"));
  EXPECT_EQ(p.per_recipient[0].list.size(), 6u);
  EXPECT_EQ(p.per_recipient[1].get("Original-Recipient"), "rfc822;bob.alias@example.net");
  EXPECT_TRUE(contains(flat(p.parts[0].body), "(you sent it to bob.alias@example.net)"));
}

TEST(DsnBuild, MixedRecipientsOneBlockEachInOrder) {
  auto r = base_report();
  r.envid = "ENV-42";
  auto expired = delayed_carol();
  expired.final_recipient = "erin@example.org";
  expired.action = DsnAction::failed;
  expired.status = "4.4.7";
  r.recipients = {failed_bob(), expired, delayed_carol(), delivered_dave()};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  expect_top_headers(p, "Undelivered Mail Returned to Sender");
  expect_per_message(p, "ENV-42");
  ASSERT_EQ(p.per_recipient.size(), 4u);
  const char* finals[] = {"rfc822; bob@example.net", "rfc822; erin@example.org", "rfc822; carol@example.org",
                          "rfc822; dave@example.com"};
  const char* actions[] = {"failed", "failed", "delayed", "delivered"};
  const char* statuses[] = {"5.1.1", "4.4.7", "4.7.1", "2.0.0"};
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(p.per_recipient[i].get("Final-Recipient"), finals[i]);
    EXPECT_EQ(p.per_recipient[i].get("Action"), actions[i]);
    EXPECT_EQ(p.per_recipient[i].get("Status"), statuses[i]);
    EXPECT_EQ(p.per_recipient[i].get("Last-Attempt-Date"), kAttemptText);
    EXPECT_EQ(p.per_recipient[i].has("Will-Retry-Until"), i == 2);
  }
  EXPECT_EQ(p.per_recipient[2].get("Will-Retry-Until"), kRetryUntilText);
  const auto& human = p.parts[0].body;
  auto a = human.find("Not delivered:"), b = human.find("Not delivered yet"), c = human.find("Delivered:");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(human.find("<bob@example.net>"), b);
  EXPECT_LT(human.find("<erin@example.org>"), b);
  EXPECT_GT(human.find("<carol@example.org>"), b);
  EXPECT_GT(human.find("<dave@example.com>"), c);
}

TEST(DsnBuild, RelayedAndExpandedAreSuccessReports) {
  auto r = base_report();
  auto relayed = delivered_dave();
  relayed.action = DsnAction::relayed;
  auto expanded = delivered_dave();
  expanded.final_recipient = "list@example.com";
  expanded.action = DsnAction::expanded;
  r.recipients = {relayed, expanded};
  auto p = parse_ok(delivery::build_dsn(r));
  expect_top_headers(p, "Successful Mail Delivery Report");
  ASSERT_EQ(p.per_recipient.size(), 2u);
  EXPECT_EQ(p.per_recipient[0].get("Action"), "relayed");
  EXPECT_EQ(p.per_recipient[1].get("Action"), "expanded");
  EXPECT_TRUE(contains(flat(p.parts[0].body), "does not send delivery reports"));
  EXPECT_TRUE(contains(flat(p.parts[0].body), "mailing list or alias"));
}

TEST(DsnBuild, MalformedOrMismatchedStatusUsesTheActionDefault) {
  auto r = base_report();
  auto a = failed_bob();
  a.status = "5.1";
  auto b = failed_bob();
  b.status = "2.0.0";
  auto c = delayed_carol();
  c.status = "5.1.1";
  auto d = delivered_dave();
  d.status = "";
  auto e = failed_bob();
  e.status = "5.1234.1";
  r.recipients = {a, b, c, d, e};
  auto p = parse_ok(delivery::build_dsn(r));
  ASSERT_EQ(p.per_recipient.size(), 5u);
  EXPECT_EQ(p.per_recipient[0].get("Status"), "5.0.0");
  EXPECT_EQ(p.per_recipient[1].get("Status"), "5.0.0");
  EXPECT_EQ(p.per_recipient[2].get("Status"), "4.0.0");
  EXPECT_EQ(p.per_recipient[3].get("Status"), "2.0.0");
  EXPECT_EQ(p.per_recipient[4].get("Status"), "5.0.0");
}

TEST(DsnBuild, DiagnosticTypeIsKeptOrGuessed) {
  auto r = base_report();
  auto a = failed_bob();
  a.diagnostic_code = "smtp;550 5.7.1 Denied";
  auto b = failed_bob();
  b.diagnostic_code = "550 5.1.10 Recipient address has null MX";
  auto c = failed_bob();
  c.remote_mta.clear();
  c.diagnostic_code = "no mail server accepts mail for example.net";
  auto d = failed_bob();
  d.diagnostic_code.clear();
  d.remote_mta.clear();
  r.recipients = {a, b, c, d};
  auto p = parse_ok(delivery::build_dsn(r));
  ASSERT_EQ(p.per_recipient.size(), 4u);
  EXPECT_EQ(p.per_recipient[0].get("Diagnostic-Code"), "smtp; 550 5.7.1 Denied");
  EXPECT_EQ(p.per_recipient[1].get("Diagnostic-Code"), "smtp; 550 5.1.10 Recipient address has null MX");
  EXPECT_EQ(p.per_recipient[2].get("Diagnostic-Code"), "X-Gatehouse; no mail server accepts mail for example.net");
  EXPECT_FALSE(p.per_recipient[2].has("Remote-MTA"));
  EXPECT_FALSE(p.per_recipient[3].has("Diagnostic-Code"));
  EXPECT_FALSE(p.per_recipient[3].has("Remote-MTA"));
  EXPECT_TRUE(contains(flat(p.parts[0].body), "could not be delivered (status 5.1.1)"));
}

TEST(DsnBuild, NoOriginalMeansTwoParts) {
  auto r = base_report();
  r.original.clear();
  r.recipients = {failed_bob()};
  auto p = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(p.parts.size(), 2u);
  EXPECT_EQ(p.original_type, "");
  EXPECT_FALSE(contains(flat(p.parts[0].body), "attached"));
}

// ---- SMTPUTF8 (RFC 6533) -----------------------------------------------------------------

TEST(DsnUtf8, Utf8AddressesUseTheGlobalTypes) {
  auto r = base_report();
  r.smtputf8 = true;
  r.sender = "ünsal@example.com";
  r.original = "From: =?utf-8?q?x?= <ünsal@example.com>\r\nSubject: Grüße\r\n\r\nHallo\r\n";
  DsnRecipient rc = failed_bob();
  rc.final_recipient = "δοκιμή@παράδειγμα.δοκιμή";
  rc.original_recipient = "utf-8;\\x{3B4}\\x{3BF}\\x{3BA}\\x{3B9}\\x{3BC}\\x{3AE}@παράδειγμα.δοκιμή";
  rc.diagnostic_code = "smtp; 550 5.1.1 Unbekannter Empfänger";
  r.recipients = {rc};

  r.ret = DsnRet::hdrs;
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  expect_top_headers(p, "Undelivered Mail Returned to Sender", "<ünsal@example.com>");
  EXPECT_EQ(p.headers.get("Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(p.status_type, "message/global-delivery-status");
  EXPECT_EQ(p.parts[1].headers.get("Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(p.parts[0].headers.get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(p.parts[0].headers.get("Content-Transfer-Encoding"), "8bit");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  EXPECT_EQ(p.per_recipient[0].get("Final-Recipient"), "utf-8; δοκιμή@παράδειγμα.δοκιμή");
  EXPECT_EQ(p.per_recipient[0].get("Original-Recipient"), "utf-8;δοκιμή@παράδειγμα.δοκιμή");
  EXPECT_EQ(p.per_recipient[0].get("Diagnostic-Code"), "smtp; 550 5.1.1 Unbekannter Empfänger");
  EXPECT_EQ(p.original_type, "message/global-headers");
  EXPECT_EQ(p.parts[2].body, "From: =?utf-8?q?x?= <ünsal@example.com>\r\nSubject: Grüße\r\n");
  EXPECT_TRUE(contains(p.parts[0].body, "<δοκιμή@παράδειγμα.δοκιμή>"));
  auto t = delivery::dsn_transport(msg, r.smtputf8);
  EXPECT_TRUE(t.eightbit);
  EXPECT_TRUE(t.smtputf8);

  r.ret = DsnRet::full;
  auto pf = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(pf.original_type, "message/global");
  EXPECT_EQ(pf.parts[2].body, r.original);
}

TEST(DsnUtf8, AsciiContentKeepsThePlainTypes) {
  auto r = base_report();
  r.smtputf8 = true;
  r.ret = DsnRet::full;
  r.recipients = {failed_bob()};
  auto msg = delivery::build_dsn(r);
  auto p = parse_ok(msg);
  EXPECT_EQ(p.status_type, "message/delivery-status");
  EXPECT_EQ(p.original_type, "message/rfc822");
  EXPECT_FALSE(delivery::dsn_transport(msg, true).smtputf8);
  r.ret = DsnRet::hdrs;
  EXPECT_EQ(parse_ok(delivery::build_dsn(r)).original_type, "text/rfc822-headers");
}

TEST(DsnUtf8, WithoutSmtputf8EverythingStaysAscii) {
  auto r = base_report();
  r.smtputf8 = false;
  DsnRecipient rc = failed_bob();
  rc.final_recipient = "jörg+x=y@example.de";
  rc.original_recipient = "rfc822;jörg@example.de";
  rc.diagnostic_code = "550 5.1.1 Empf\xe4nger unbekannt";  // raw Latin-1 from a remote server
  r.recipients = {rc};
  auto msg = delivery::build_dsn(r);
  auto t = delivery::dsn_transport(msg, false);
  EXPECT_FALSE(t.eightbit) << msg;
  EXPECT_FALSE(t.smtputf8);
  auto p = parse_ok(msg);
  EXPECT_EQ(p.status_type, "message/delivery-status");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  // RFC 6533 §3 utf-8-addr-xtext: non-ASCII, '+' and '=' as \x{HEX}.
  EXPECT_EQ(p.per_recipient[0].get("Final-Recipient"), "utf-8; j\\x{F6}rg\\x{2B}x\\x{3D}y@example.de");
  EXPECT_EQ(p.per_recipient[0].get("Original-Recipient"), "utf-8;j\\x{F6}rg@example.de");
  EXPECT_EQ(p.per_recipient[0].get("Diagnostic-Code"), "smtp; 550 5.1.1 Empf?nger unbekannt");
  EXPECT_TRUE(contains(p.parts[0].body, "<j?rg+x=y@example.de>"));
}

// ---- safety ------------------------------------------------------------------------------

TEST(DsnSafety, CrLfInRemoteTextCannotCreateHeadersOrFields) {
  auto r = base_report();
  r.reporting_mta = "gw.example.com\r\nX-Host-Injected: 1";
  r.sender = "alice@example.com>\r\nBcc: victim@example.org";
  r.envid = "QQ1\r\nX-Envid-Injected: 1";
  DsnRecipient rc = failed_bob();
  rc.remote_mta = "mx.example.net\r\nX-Mta-Injected: 1";
  rc.original_recipient = "rfc822;bob@example.net\r\nX-Orcpt-Injected: 1";
  rc.diagnostic_code =
      "smtp; 550 5.1.1 bad\r\nX-Injected: yes\r\n\r\nFinal-Recipient: rfc822; evil@example.org\r\n"
      "--=_9f2c41d07a13e005.1\r\nContent-Type: text/html\r\n\r\n<b>hi</b>";
  r.recipients = {rc};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);

  auto top_names = names(p.headers);
  std::set<std::string> top(top_names.begin(), top_names.end());
  EXPECT_EQ(top, (std::set<std::string>{"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                        "MIME-Version", "Content-Type"}));
  EXPECT_EQ(p.headers.get("To"), "<alice@example.com> Bcc: victim@example.org>");
  EXPECT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(names(p.per_message), (std::vector<std::string>{"Reporting-MTA", "Original-Envelope-Id", "Arrival-Date"}));
  EXPECT_EQ(p.per_message.get("Original-Envelope-Id"), "QQ1 X-Envid-Injected: 1");
  ASSERT_EQ(p.per_recipient.size(), 1u);
  const auto& f = p.per_recipient[0];
  EXPECT_EQ(names(f), (std::vector<std::string>{"Original-Recipient", "Final-Recipient", "Action", "Status",
                                                "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date"}));
  EXPECT_EQ(f.get("Final-Recipient"), "rfc822; bob@example.net");
  EXPECT_EQ(f.get("Remote-MTA").find(' ', 5), std::string::npos);  // "dns; <one token>"
  EXPECT_EQ(f.get("Diagnostic-Code"),
            "smtp; 550 5.1.1 bad X-Injected: yes Final-Recipient: rfc822; evil@example.org "
            "--=_9f2c41d07a13e005.1 Content-Type: text/html <b>hi</b>");
  // The reply text contains the boundary base, so the boundary was re-derived.
  EXPECT_EQ(p.boundary, "=_9f2c41d07a13e005.1_1_");
  EXPECT_EQ(p.headers.get("From"), "Mail Delivery System <MAILER-DAEMON@gw.example.comX-Host-Injected:1>");
  for (const auto& part : p.parts) EXPECT_FALSE(contains(part.body, "--" + p.boundary));
  // No line of the message starts with an injected name.
  for (const char* bad : {"\nX-", "\nBcc:", "\nFinal-Recipient: rfc822; evil"})
    EXPECT_FALSE(contains(msg, bad)) << bad;
}

TEST(DsnSafety, LongValuesAreFoldedAtSpacesOnly) {
  auto r = base_report();
  DsnRecipient rc = failed_bob();
  std::string words;
  for (int i = 0; i < 60; ++i) words += (i ? " " : "") + std::string("word") + std::to_string(i);
  rc.diagnostic_code = "smtp; 550 5.7.1 " + words;
  DsnRecipient huge = failed_bob();
  huge.diagnostic_code = "smtp; 550 5.7.1 " + std::string(5000, 'z') + " tail";
  r.recipients = {rc, huge};
  auto msg = delivery::build_dsn(r);
  expect_wire_format(msg);
  auto p = parse_ok(msg);
  ASSERT_EQ(p.per_recipient.size(), 2u);
  EXPECT_EQ(p.per_recipient[0].get("Diagnostic-Code"), "smtp; 550 5.7.1 " + words);
  // The field spans several lines, each within 78 octets.
  auto start = msg.find("Diagnostic-Code: smtp; 550 5.7.1 word0");
  ASSERT_NE(start, std::string::npos);
  std::size_t lines = 0;
  for (std::size_t pos = start;;) {
    auto e = msg.find("\r\n", pos);
    EXPECT_LE(e - pos, 78u);
    ++lines;
    pos = e + 2;
    if (msg[pos] != ' ') break;
  }
  EXPECT_GT(lines, 5u);
  // An unbreakable word is cut, not split: no line exceeds 998 octets, the tail survives.
  auto v = p.per_recipient[1].get("Diagnostic-Code");
  EXPECT_EQ(v, "smtp; 550 5.7.1 " + std::string(900, 'z') + " tail");
}

TEST(DsnSafety, BoundaryCollisionIsReDerived) {
  auto r = base_report();
  r.ret = DsnRet::full;
  r.recipients = {failed_bob()};
  const std::string base = "=_9f2c41d07a13e005.1";
  r.original = kHeaders + "\r\n--" + base + "\r\nquoted an old report\r\n--" + base + "_1_\r\n" + base + "_2_ also\r\n" +
               base + "_10_\r\n";
  auto msg = delivery::build_dsn(r);
  auto p = parse_ok(msg);
  EXPECT_EQ(p.boundary, base + "_3_");
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[2].body, r.original);
  ASSERT_EQ(p.per_recipient.size(), 1u);
  for (const auto& part : p.parts) EXPECT_FALSE(contains(part.body, p.boundary));

  // Without a collision the base is used as is.
  r.original = kOriginal;
  EXPECT_EQ(parse_ok(delivery::build_dsn(r)).boundary, base);
}

TEST(DsnSafety, TokenAndHostAreSanitised) {
  auto r = base_report();
  r.token = "a b<c>\"d\"@e";
  r.reporting_mta = "gw example.com";
  r.recipients = {failed_bob()};
  auto p = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(p.headers.get("Message-ID"), "<abcde@gwexample.com>");
  EXPECT_EQ(p.boundary, "=_abcde");
  r.token.clear();
  r.reporting_mta.clear();
  auto q = parse_ok(delivery::build_dsn(r));
  EXPECT_EQ(q.headers.get("Message-ID"), "<dsn." + std::to_string(kNow) + "@localhost>");
}

// ---- parser ------------------------------------------------------------------------------

TEST(DsnParse, RejectsWhatIsNotADsn) {
  EXPECT_FALSE(delivery::parse_dsn("Subject: hi\r\n\r\nbody\r\n").has_value());
  EXPECT_FALSE(delivery::parse_dsn("Content-Type: multipart/report; report-type=delivery-status\r\n\r\n").has_value());
  EXPECT_FALSE(delivery::parse_dsn("not a header\r\n\r\n").has_value());
  EXPECT_FALSE(delivery::parse_dsn(" continuation first\r\n\r\n").has_value());
  const std::string head = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n";
  EXPECT_FALSE(delivery::parse_dsn(head + "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n").has_value());  // no close
  EXPECT_FALSE(delivery::parse_dsn(head + "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n").has_value());
  auto b64 = delivery::parse_dsn(head +
                                 "--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                                 "UmVwb3J0aW5nLU1UQTogZG5zOyB4\r\n--b--\r\n");
  ASSERT_FALSE(b64.has_value());
  EXPECT_TRUE(contains(b64.error().message, "base64"));
  auto ok = delivery::parse_dsn(
      "Content-Type: multipart/report;\r\n report-type=\"Delivery-Status\"; (comment) boundary=\"b b\"\r\n\r\n"
      "preamble\r\n--b b\r\n\r\nhuman\r\n--b b \r\nContent-Type: message/delivery-status\r\n\r\n"
      "Reporting-MTA: dns;\r\n x.example\r\n\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed\r\n"
      "Status: 5.0.0\r\n--b b--\r\nepilogue");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->report_type, "delivery-status");
  EXPECT_EQ(ok->boundary, "b b");
  ASSERT_EQ(ok->parts.size(), 2u);
  EXPECT_EQ(ok->parts[0].content_type, "text/plain");
  EXPECT_EQ(ok->parts[0].body, "human");
  EXPECT_EQ(ok->per_message.get("reporting-mta"), "dns; x.example");
  ASSERT_EQ(ok->per_recipient.size(), 1u);
  EXPECT_EQ(ok->per_recipient[0].get("status"), "5.0.0");
  EXPECT_EQ(ok->original_type, "");
}

TEST(DsnParse, AcceptsLfOnlyLineEndings) {
  auto r = base_report();
  r.envid = "E1";
  r.recipients = {failed_bob(), delayed_carol()};
  auto msg = delivery::build_dsn(r);
  std::string lf;
  for (char c : msg)
    if (c != '\r') lf += c;
  auto a = parse_ok(msg);
  auto b = parse_ok(lf);
  EXPECT_EQ(a.per_message.list, b.per_message.list);
  ASSERT_EQ(a.per_recipient.size(), b.per_recipient.size());
  for (std::size_t i = 0; i < a.per_recipient.size(); ++i) EXPECT_EQ(a.per_recipient[i].list, b.per_recipient[i].list);
  EXPECT_EQ(a.original_type, b.original_type);
}

// ---- interop -----------------------------------------------------------------------------

TEST(DsnInterop, PythonEmailPackageReadsIt) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  auto r = base_report();
  r.envid = "QQ314159";
  r.ret = DsnRet::full;
  r.recipients = {failed_bob(), delayed_carol()};
  std::string words;
  for (int i = 0; i < 30; ++i) words += " word" + std::to_string(i);
  r.recipients[0].diagnostic_code += words;  // folded
  auto msg = delivery::build_dsn(r);

  std::string dir = ::testing::TempDir();
  std::string dsn_path = dir + "/gatehouse_dsn_" + std::to_string(::getpid()) + ".eml";
  std::string py_path = dir + "/gatehouse_dsn_" + std::to_string(::getpid()) + ".py";
  std::ofstream(dsn_path, std::ios::binary) << msg;
  std::ofstream(py_path) << R"PY(
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.compat32)
out = ['type=' + m.get_content_type(), 'report-type=' + str(m.get_param('report-type'))]
parts = m.get_payload()
out.append('parts=%d' % len(parts))
out += ['part=' + p.get_content_type() for p in parts]
for b in parts[1].get_payload():
    out.append('block')
    out += ['%s=%s' % (k, ' '.join(v.split())) for k, v in b.items()]
inner = parts[2].get_payload()[0]
out.append('inner-subject=' + str(inner['Subject']))
out.append('defects=%d' % sum(len(x.defects) for x in m.walk()))
print('\n'.join(out))
)PY";
  std::string cmd = "/usr/bin/python3 " + py_path + " " + dsn_path + " 2>&1";
  std::string got;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) got.append(buf.data(), n);
    ::pclose(f);
  }
  std::remove(dsn_path.c_str());
  std::remove(py_path.c_str());
  if (contains(got, "No module named 'email'")) GTEST_SKIP() << got;
  std::string want =
      "type=multipart/report\nreport-type=delivery-status\nparts=3\n"
      "part=text/plain\npart=message/delivery-status\npart=message/rfc822\n"
      "block\nReporting-MTA=dns; gw.example.com\nOriginal-Envelope-Id=QQ314159\n"
      "Arrival-Date=" + std::string(kArrivalText) + "\n"
      "block\nOriginal-Recipient=rfc822;bob@example.net\nFinal-Recipient=rfc822; bob@example.net\n"
      "Action=failed\nStatus=5.1.1\nRemote-MTA=dns; mx.example.net\n"
      "Diagnostic-Code=smtp; 550 5.1.1 No such user" + words + "\n"
      "Last-Attempt-Date=" + kAttemptText + "\n"
      "block\nFinal-Recipient=rfc822; carol@example.org\nAction=delayed\nStatus=4.7.1\n"
      "Remote-MTA=dns; mx.example.org\nDiagnostic-Code=smtp; 451 4.7.1 Greylisted, try again later\n"
      "Last-Attempt-Date=" + kAttemptText + "\nWill-Retry-Until=" + kRetryUntilText + "\n"
      "inner-subject=Hello\ndefects=0\n";
  EXPECT_EQ(got, want);
}
