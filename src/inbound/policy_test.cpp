#include <gtest/gtest.h>

#include "gatehouse/inbound/policy.hpp"

using namespace gatehouse;

namespace {
config::Settings settings_with_domain() {
  config::Settings s;
  config::LocalDomain d;
  d.name = "example.com";
  d.mail_server = *core::HostPort::parse("127.0.0.1:2526");
  s.domains.push_back(d);
  s.relay_networks.push_back(*core::Cidr::parse("10.0.0.0/8"));
  s.relay_networks.push_back(*core::Cidr::parse("2001:db8::/32"));
  return s;
}
smtp::Recipient rcpt(std::string addr) {
  smtp::Recipient r;
  r.address = addr;
  r.domain = addr.substr(addr.find('@') + 1);
  return r;
}
inbound::RelayContext from(const char* ip) { return {*core::IpAddress::parse(ip), false}; }
}  // namespace

TEST(RelayPolicy, LocalDomainAcceptedFromAnyone) {
  auto s = settings_with_domain();
  auto r = inbound::check_recipient(s, from("203.0.113.5"), rcpt("bob@example.com"));
  EXPECT_EQ(r.code, 250);
}

TEST(RelayPolicy, ForeignDomainRefusedFromOutside) {
  auto s = settings_with_domain();
  auto r = inbound::check_recipient(s, from("203.0.113.5"), rcpt("victim@elsewhere.net"));
  EXPECT_EQ(r.code, 554);
  EXPECT_EQ(r.enhanced.to_string(), "5.7.1");
  EXPECT_NE(r.text().find("Relay access denied"), std::string::npos);
}

TEST(RelayPolicy, SubdomainOfLocalDomainIsNotLocal) {
  auto s = settings_with_domain();
  EXPECT_EQ(inbound::check_recipient(s, from("203.0.113.5"), rcpt("x@sub.example.com")).code, 554);
}

TEST(RelayPolicy, RelayAllowedNetworksMayRelay) {
  auto s = settings_with_domain();
  EXPECT_EQ(inbound::check_recipient(s, from("10.1.2.3"), rcpt("a@elsewhere.net")).code, 250);
  EXPECT_EQ(inbound::check_recipient(s, from("::ffff:10.1.2.3"), rcpt("a@elsewhere.net")).code, 250);
  EXPECT_EQ(inbound::check_recipient(s, from("2001:db8::1"), rcpt("a@elsewhere.net")).code, 250);
  EXPECT_EQ(inbound::check_recipient(s, from("2001:db9::1"), rcpt("a@elsewhere.net")).code, 554);
}

TEST(RelayPolicy, NoNetworkMayRelayByDefault) {
  config::Settings s;
  EXPECT_EQ(inbound::check_recipient(s, from("127.0.0.1"), rcpt("a@elsewhere.net")).code, 554);
}

TEST(RelayPolicy, AuthenticatedClientMayRelay) {
  config::Settings s;
  inbound::RelayContext ctx{*core::IpAddress::parse("203.0.113.5"), true};
  EXPECT_EQ(inbound::check_recipient(s, ctx, rcpt("a@elsewhere.net")).code, 250);
}

TEST(Received, HeaderIsFoldedAndSanitised) {
  inbound::ReceivedInfo i;
  i.helo = "evil\r\nX-Injected: yes";
  i.client_ip = "192.0.2.1";
  i.by_host = "gw.example.com";
  i.queue_id = "0123456789abcdef";
  i.protocol = "ESMTP";
  i.for_rcpt = "bob@example.com";
  i.when = std::chrono::system_clock::time_point{std::chrono::seconds{1'795'000'000}};
  auto h = inbound::received_header(i);
  EXPECT_EQ(h.rfind("Received: from evil??X-Injected:?yes ([192.0.2.1])\r\n\tby gw.example.com (Gatehouse) with ESMTP id "
                    "0123456789abcdef\r\n\tfor <bob@example.com>;\r\n\t",
                    0),
            0u)
      << h;
  EXPECT_EQ(h.find("\r\nX-Injected"), std::string::npos);
  EXPECT_TRUE(h.size() > 2 && h.substr(h.size() - 2) == "\r\n");
}

TEST(Received, Rfc5322Date) {
  EXPECT_EQ(inbound::rfc5322_date(std::chrono::system_clock::time_point{std::chrono::seconds{0}}),
            "Thu, 1 Jan 1970 00:00:00 +0000");
}

TEST(Greeting, BoundIpUsesAlphabeticallyFirstDomainHostName) {
  config::Settings s;
  s.smtp_hostname = "gw.example.net";
  auto add = [&](const char* name, const char* ip, const char* host) {
    config::LocalDomain d;
    d.name = name;
    d.mail_server = *core::HostPort::parse("127.0.0.1:25");
    d.bind_ip = ip;
    d.smtp_hostname = host;
    s.domains.push_back(d);
  };
  add("zeta.example", "192.0.2.10", "mx.zeta.example");
  add("alpha.example", "192.0.2.10", "mx.alpha.example");
  add("beta.example", "192.0.2.11", "mx.beta.example");
  EXPECT_EQ(inbound::greeting_hostname(s, *core::IpAddress::parse("192.0.2.10")), "mx.alpha.example");
  EXPECT_EQ(inbound::greeting_hostname(s, *core::IpAddress::parse("::ffff:192.0.2.11")), "mx.beta.example");
  EXPECT_EQ(inbound::greeting_hostname(s, *core::IpAddress::parse("192.0.2.99")), "gw.example.net");
}

namespace {

// The gate's cleaner in these tests: drops lines starting with "X-Forged:" and marks the call.
std::string drop_forged(std::string_view h, int& calls) {
  ++calls;
  std::string out;
  std::size_t pos = 0;
  while (pos < h.size()) {
    auto eol = h.find("\r\n", pos);
    auto line = h.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol + 2 - pos);
    if (!line.starts_with("X-Forged:")) out.append(line);
    pos += line.size();
  }
  return out;
}

}  // namespace

TEST(HeaderGate, HoldsTheHeaderSectionThenPassesTheBodyCutAnywhere) {
  const std::string msg = "From: a@example.com\r\nX-Forged: yes\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n";
  const std::string want = "From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n";
  for (std::size_t step : {1u, 2u, 3u, 5u, 40u, 1000u}) {
    int calls = 0;
    std::string body;
    inbound::HeaderGate gate(
        1024, [&](std::string_view h) { return drop_forged(h, calls); },
        [&](std::string_view b) { body.append(b); });
    std::string out;
    for (std::size_t i = 0; i < msg.size(); i += step) out += gate.feed(std::string_view(msg).substr(i, step));
    out += gate.finish();
    EXPECT_EQ(out, want) << "step " << step;
    EXPECT_EQ(body, "body\r\n\r\nmore\r\n") << "step " << step;
    EXPECT_EQ(calls, 1) << "step " << step;
    EXPECT_FALSE(gate.overflowed());
  }
}

TEST(HeaderGate, AllHeaderEmptyHeaderAndOverflow) {
  int calls = 0;
  inbound::HeaderGate all(1024, [&](std::string_view h) { return drop_forged(h, calls); });
  EXPECT_EQ(all.feed("Subject: x\r\nX-Forged: 1\r\n"), "");
  EXPECT_EQ(all.finish(), "Subject: x\r\n");

  inbound::HeaderGate empty(1024, [&](std::string_view h) { return drop_forged(h, calls); });
  EXPECT_EQ(empty.feed("\r\nX-Forged: body text, not a header\r\n"), "\r\nX-Forged: body text, not a header\r\n");

  inbound::HeaderGate big(64, [&](std::string_view h) { return drop_forged(h, calls); });
  EXPECT_EQ(big.feed(std::string(40, 'a') + "\r\n"), "");
  EXPECT_EQ(big.feed(std::string(40, 'b') + "\r\n\r\nbody"), "");
  EXPECT_TRUE(big.overflowed());
  EXPECT_EQ(big.feed("more body"), "");
  EXPECT_EQ(big.finish(), "");
}

// DKIM signing of a streamed message: the header section from the gate's Clean callback and the
// body from its Body callback give the same signature as the whole message, wherever the
// chunks are cut (what inbound's signing relies on).
TEST(HeaderGate, FeedsDkimSigningWhereverTheChunksAreCut) {
  using namespace auth::dkim;
  const std::string wire =
      "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: folded\r\n  subject line\r\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <2@example.com>\r\n\r\n"
      "Hi,\r\n  indented   line  \r\n\ttab\r\n\r\n\r\n";
  auto key = generate_key(KeyType::rsa);
  ASSERT_TRUE(key);
  auto whole_msg = split_message(wire);
  ASSERT_TRUE(whole_msg);
  SignRequest whole;
  whole.private_key = key->private_pem;
  whole.message = &*whole_msg;
  whole.domain = "example.com";
  whole.selector = "s";
  whole.now = 1'700'000'000;
  const std::string expected = sign(whole);
  ASSERT_FALSE(expected.empty());
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    std::string header;
    BodyHasher body(Canon::relaxed);
    inbound::HeaderGate gate(
        1024 * 1024,
        [&](std::string_view h) {
          header = std::string(h);
          return header;
        },
        [&](std::string_view b) { body.update(b); });
    for (std::size_t i = 0; i < wire.size(); i += step) gate.feed(std::string_view(wire).substr(i, step));
    gate.finish();
    auto fields = inbound::signing_header(header);
    ASSERT_TRUE(fields) << fields.error().message;
    EXPECT_EQ(fields->headers.size(), whole_msg->headers.size()) << "step " << step;
    EXPECT_TRUE(fields->body.empty());
    SignRequest r = whole;
    r.message = &*fields;
    r.body_digest = body.finish();
    EXPECT_EQ(sign(r), expected) << "step " << step;  // RSA PKCS#1 v1.5 is deterministic
  }
}

TEST(SigningHeader, AllHeaderMessageAndEmptyHeaderSection) {
  // A message that is all header (no empty line, no final CRLF) still gives complete fields.
  auto h = inbound::signing_header("From: a@example.com\r\nSubject: x");
  ASSERT_TRUE(h);
  ASSERT_EQ(h->headers.size(), 2u);
  EXPECT_EQ(h->headers[1].raw, "Subject: x\r\n");
  // An empty header section: no fields; the gate passes the rest as body.
  std::string header;
  auth::dkim::BodyHasher body(auth::dkim::Canon::relaxed);
  inbound::HeaderGate gate(
      1024,
      [&](std::string_view s) {
        header = std::string(s);
        return header;
      },
      [&](std::string_view b) { body.update(b); });
  gate.feed("\r");
  gate.feed("\nFrom: not a header\r\n");
  auto none = inbound::signing_header(header);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->headers.empty());
  EXPECT_EQ(body.finish().canonical_length, 20u);  // "From: not a header\r\n"
}

TEST(DmarcOptions, FromSettings) {
  config::Settings s;
  auto o = inbound::dmarc_options(s);
  EXPECT_FALSE(o.honour_reject);
  EXPECT_EQ(o.header_name, "X-SGDMARC-Fail-policy");
  EXPECT_EQ(o.invalid_from, auth::dmarc::InvalidFromAction::reject);
  s.auth_dmarc_honour_reject = true;
  s.auth_dmarc_header = "X-Policy";
  s.auth_dmarc_invalid_from = "mark";
  o = inbound::dmarc_options(s);
  EXPECT_TRUE(o.honour_reject);
  EXPECT_EQ(o.header_name, "X-Policy");
  EXPECT_EQ(o.invalid_from, auth::dmarc::InvalidFromAction::mark);
}
