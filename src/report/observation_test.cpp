// DMARC observations built from real check results (check_message over a StaticZone) and the
// DMARC log line: the fields aggregate reports need, the action taken, and one line of safe
// key=value text even when the HELO name holds spaces or quotes.
// Must not: touch the network.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "gatehouse/dns/static_zone.hpp"
#include "gatehouse/report/observation.hpp"

namespace gatehouse::report {
namespace {

using ::testing::HasSubstr;

auth::CheckResult run_check(const auth::CheckRequest& req) {
  dns::StaticZone z;
  z.add_txt("example.org", "v=spf1 ip4:192.0.2.1 -all");
  z.add_txt("_dmarc.example.org", "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@example.org,mailto:b@example.org");
  boost::asio::io_context ioc;
  std::optional<auth::CheckResult> out;
  boost::asio::co_spawn(ioc, auth::check_message(z, req), [&](std::exception_ptr, auth::CheckResult r) { out = std::move(r); });
  ioc.run();
  return std::move(out).value();
}

auth::CheckRequest request(std::string ip, std::string helo) {
  auth::CheckRequest r;
  r.ip = *core::IpAddress::parse(ip);
  r.helo = std::move(helo);
  r.mail_from = "alice@example.org";
  r.message = "From: Alice <alice@example.org>\r\nSubject: x\r\n\r\nbody\r\n";
  r.authserv_id = "gw.test";
  r.now = 1'700'000'000;
  auto psl = auth::psl::List::parse("org\n");
  r.psl = std::make_shared<const auth::psl::List>(std::move(*psl));
  return r;
}

TEST(Observation, FailingMessageMarked) {
  auto req = request("198.51.100.7", "mail.sender.test");
  req.sample = 10;  // inside pct=50
  auto res = run_check(req);
  auto o = observe(res, req, "0123456789abcdef");
  EXPECT_EQ(o.time, 1'700'000'000);
  EXPECT_EQ(o.queue_id, "0123456789abcdef");
  EXPECT_EQ(o.source_ip, "198.51.100.7");
  EXPECT_EQ(o.envelope_from, "example.org");
  EXPECT_EQ(o.header_from, "example.org");
  EXPECT_EQ(o.spf_domain, "example.org");
  EXPECT_EQ(o.spf_scope, "mfrom");
  EXPECT_EQ(o.spf_result, "fail");
  EXPECT_FALSE(o.spf_aligned);
  EXPECT_TRUE(o.dkim.empty());
  EXPECT_EQ(o.dmarc_result, "fail");
  EXPECT_EQ(o.policy_domain, "example.org");
  EXPECT_EQ(o.p, "reject");
  EXPECT_EQ(o.sp, "quarantine");
  EXPECT_EQ(o.pct, 50u);
  EXPECT_EQ(o.rua, "mailto:a@example.org,mailto:b@example.org");
  EXPECT_EQ(o.requested, "reject");
  EXPECT_EQ(o.disposition, "reject");
  EXPECT_EQ(o.action, "marked");
  EXPECT_EQ(o.override_reason, "local_policy");  // reject not honoured (the default)
  auto line = log_line(o);
  EXPECT_THAT(line, HasSubstr("0123456789abcdef dmarc=fail header_from=example.org policy=reject disposition=reject"));
  EXPECT_THAT(line, HasSubstr("action=marked override=local_policy spf=fail spf_domain=example.org spf_aligned=no"));
  EXPECT_THAT(line, HasSubstr("client=198.51.100.7"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Observation, PassingAndSampledOutAndHostileHelo) {
  auto req = request("192.0.2.1", "evil \"helo\"=x\r\nInjected: yes");
  auto res = run_check(req);
  auto o = observe(res, req, "");
  EXPECT_EQ(o.dmarc_result, "pass");
  EXPECT_TRUE(o.spf_aligned);
  EXPECT_EQ(o.action, "accepted");
  auto line = log_line(o);
  EXPECT_TRUE(line.starts_with("- dmarc=pass")) << line;
  EXPECT_THAT(line, HasSubstr("helo=evil??helo??x??Injected:?yes"));
  EXPECT_EQ(line.find('\r'), std::string::npos);

  req = request("198.51.100.7", "h");
  req.sample = 90;  // outside pct=50: reject becomes quarantine (RFC 7489 §6.6.4)
  o = observe(run_check(req), req, "q");
  EXPECT_EQ(o.disposition, "quarantine");
  EXPECT_EQ(o.override_reason, "sampled_out");
}

}  // namespace
}  // namespace gatehouse::report
