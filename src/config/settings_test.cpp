// Unit tests for the setting registry, value validation/normalization, name rules and the
// snapshot lookups. Pure: no database, no files, no clock.
#include <gtest/gtest.h>

#include <set>

#include "detail.hpp"
#include "gatehouse/config/settings.hpp"

using namespace gatehouse;
using namespace gatehouse::config;

namespace {

std::string error_of(const Status& s) { return s ? std::string() : s.error().message; }

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST(Registry, KeysInDisplayOrderAndUnique) {
  std::vector<std::string_view> keys;
  for (const auto& d : setting_defs()) keys.push_back(d.key);
  const std::vector<std::string_view> expected = {
      "smtp.listen", "smtp.hostname", "smtp.max_message_size", "smtp.max_recipients",
      "smtp.max_line_length", "smtp.max_errors", "smtp.command_timeout", "smtp.data_timeout",
      "smtp.max_connections", "smtp.max_connections_per_ip", "smtp.shutdown_grace", "dns.servers",
      "delivery.mx_port", "delivery.max_connections_per_destination", "delivery.retry_min",
      "delivery.retry_max", "delivery.max_queue_lifetime", "delivery.delay_warning_after",
      "delivery.connect_timeout",
      "delivery.command_timeout",
      "tls.enabled", "tls.outbound_starttls", "tls.fallback_to_plain", "tls.min_protocol", "tls.ciphers",
      "tls.min_cipher_bits", "auth.cram_md5", "auth.allow_plaintext", "auth.max_failures", "auth.failure_window",
      "auth.spf", "auth.dkim_verify", "auth.dmarc", "auth.dmarc_honour_reject",
      "auth.spf_reject", "auth.dmarc_header", "auth.dmarc_invalid_from", "auth.dmarc_log",
      "auth.dmarc_results_keep", "auth.dkim_sign", "psl.url",
      "log.level"};
  EXPECT_EQ(keys, expected);
  for (const auto& d : setting_defs()) {
    EXPECT_FALSE(d.description.empty()) << d.key;
    EXPECT_EQ(d.description.find('\n'), std::string_view::npos) << d.key;
    EXPECT_EQ(find_setting(d.key), &d) << d.key;
    if (d.type == SettingType::uint || d.type == SettingType::seconds) {
      EXPECT_LE(d.min, d.max) << d.key;
    }
  }
  EXPECT_EQ(find_setting("smtp.foo"), nullptr);
}

TEST(Registry, DefaultsValidateAndAreCanonical) {
  for (const auto& d : setting_defs()) {
    EXPECT_TRUE(validate_setting(d.key, d.default_value)) << d.key;
    auto canon = detail::normalize_setting(d.key, d.default_value);
    ASSERT_TRUE(canon) << d.key;
    EXPECT_EQ(*canon, d.default_value) << d.key;
  }
}

TEST(Registry, DefaultsMatchStructInitializers) {
  const Settings& d = detail::default_settings();
  const Settings s;  // in-class initializers
  ASSERT_EQ(d.smtp_listen.size(), 2u);
  EXPECT_EQ(d.smtp_listen[0].to_string(), "0.0.0.0:25");
  EXPECT_EQ(d.smtp_listen[1].to_string(), "[::]:25");
  EXPECT_EQ(d.smtp_hostname, s.smtp_hostname);
  EXPECT_EQ(d.smtp_max_message_size, s.smtp_max_message_size);
  EXPECT_EQ(d.smtp_max_recipients, s.smtp_max_recipients);
  EXPECT_EQ(d.smtp_max_line_length, s.smtp_max_line_length);
  EXPECT_EQ(d.smtp_max_errors, s.smtp_max_errors);
  EXPECT_EQ(d.smtp_command_timeout, s.smtp_command_timeout);
  EXPECT_EQ(d.smtp_data_timeout, s.smtp_data_timeout);
  EXPECT_EQ(d.smtp_max_connections, s.smtp_max_connections);
  EXPECT_EQ(d.smtp_max_connections_per_ip, s.smtp_max_connections_per_ip);
  EXPECT_EQ(d.smtp_shutdown_grace, s.smtp_shutdown_grace);
  EXPECT_EQ(d.dns_servers, s.dns_servers);
  EXPECT_EQ(d.delivery_mx_port, s.delivery_mx_port);
  EXPECT_EQ(d.delivery_max_connections_per_destination, s.delivery_max_connections_per_destination);
  EXPECT_EQ(d.delivery_retry_min, s.delivery_retry_min);
  EXPECT_EQ(d.delivery_retry_max, s.delivery_retry_max);
  EXPECT_EQ(d.delivery_max_queue_lifetime, s.delivery_max_queue_lifetime);
  EXPECT_EQ(d.delivery_delay_warning_after, s.delivery_delay_warning_after);
  EXPECT_EQ(d.delivery_connect_timeout, s.delivery_connect_timeout);
  EXPECT_EQ(d.delivery_command_timeout, s.delivery_command_timeout);
  EXPECT_EQ(d.tls_enabled, s.tls_enabled);
  EXPECT_EQ(d.tls_outbound_starttls, s.tls_outbound_starttls);
  EXPECT_EQ(d.tls_fallback_to_plain, s.tls_fallback_to_plain);
  EXPECT_EQ(d.tls_min_protocol, s.tls_min_protocol);
  EXPECT_EQ(d.tls_ciphers, s.tls_ciphers);
  EXPECT_EQ(d.tls_min_cipher_bits, s.tls_min_cipher_bits);
  EXPECT_EQ(d.auth_cram_md5, s.auth_cram_md5);
  EXPECT_EQ(d.auth_allow_plaintext, s.auth_allow_plaintext);
  EXPECT_EQ(d.auth_max_failures, s.auth_max_failures);
  EXPECT_EQ(d.auth_failure_window, s.auth_failure_window);
  EXPECT_EQ(d.auth_spf, s.auth_spf);
  EXPECT_EQ(d.auth_dkim_verify, s.auth_dkim_verify);
  EXPECT_EQ(d.auth_dmarc, s.auth_dmarc);
  EXPECT_EQ(d.auth_dmarc_honour_reject, s.auth_dmarc_honour_reject);
  EXPECT_EQ(d.auth_spf_reject, s.auth_spf_reject);
  EXPECT_EQ(d.auth_dmarc_header, s.auth_dmarc_header);
  EXPECT_EQ(d.auth_dmarc_invalid_from, s.auth_dmarc_invalid_from);
  EXPECT_EQ(d.auth_dmarc_log, s.auth_dmarc_log);
  EXPECT_EQ(d.auth_dmarc_results_keep, s.auth_dmarc_results_keep);
  EXPECT_EQ(d.auth_dkim_sign, s.auth_dkim_sign);
  EXPECT_EQ(d.psl_url, s.psl_url);
  // Issue "Email authentication": honouring DMARC reject and rejecting on SPF fail are off by
  // default; the policy header keeps the product's name so mail-client rules keep working.
  EXPECT_FALSE(d.auth_dmarc_honour_reject);
  EXPECT_FALSE(d.auth_spf_reject);
  EXPECT_EQ(d.auth_dmarc_header, "X-SGDMARC-Fail-policy");
  EXPECT_TRUE(d.dkim_keys.empty());
  // The documented defaults (issue "TLS everywhere"), so a changed initializer is noticed.
  EXPECT_FALSE(d.tls_enabled);
  EXPECT_FALSE(d.tls_outbound_starttls);
  EXPECT_TRUE(d.tls_fallback_to_plain);
  EXPECT_EQ(d.tls_min_protocol, "TLSv1.2");
  EXPECT_EQ(d.tls_min_cipher_bits, 112u);
  EXPECT_FALSE(d.auth_cram_md5);
  EXPECT_FALSE(d.auth_allow_plaintext);
  EXPECT_EQ(d.auth_max_failures, 5u);
  EXPECT_EQ(d.auth_failure_window, std::chrono::seconds(300));
  EXPECT_TRUE(d.tls_starttls_whitelist.empty());
  EXPECT_TRUE(d.tls_starttls_required.empty());
  EXPECT_TRUE(d.tls_enforced_domains.empty());
  EXPECT_EQ(d.log_level, s.log_level);
  EXPECT_TRUE(detail::check_consistency(d));
}

TEST(Validate, UnknownKey) {
  EXPECT_EQ(error_of(validate_setting("smtp.foo", "1")), "unknown setting 'smtp.foo'");
  Settings s;
  EXPECT_EQ(error_of(apply_setting(s, "smtp.foo", "1")), "unknown setting 'smtp.foo'");
}

TEST(Validate, NumbersNameKeyRangeAndValue) {
  EXPECT_EQ(error_of(validate_setting("smtp.max_recipients", "abc")),
            "smtp.max_recipients: must be a whole number from 1 to 100000, got 'abc'");
  EXPECT_EQ(error_of(validate_setting("smtp.max_recipients", "0")),
            "smtp.max_recipients: must be a whole number from 1 to 100000, got '0'");
  EXPECT_EQ(error_of(validate_setting("smtp.max_recipients", "100001")),
            "smtp.max_recipients: must be a whole number from 1 to 100000, got '100001'");
  EXPECT_EQ(error_of(validate_setting("smtp.command_timeout", "5m")),
            "smtp.command_timeout: must be a whole number of seconds from 1 to 3600, got '5m'");
  for (auto bad : {"-1", "+5", "1.5", "", " ", "1e3", "99999999999999999999999"})
    EXPECT_TRUE(contains(error_of(validate_setting("smtp.max_errors", bad)), "smtp.max_errors: ")) << bad;
  EXPECT_TRUE(validate_setting("smtp.max_message_size", "2147483648"));
  EXPECT_FALSE(validate_setting("smtp.max_message_size", "2147483649"));
  EXPECT_FALSE(validate_setting("smtp.max_message_size", "1023"));
  EXPECT_FALSE(validate_setting("delivery.mx_port", "65536"));
  EXPECT_TRUE(validate_setting("smtp.shutdown_grace", "0"));
  EXPECT_EQ(*detail::normalize_setting("smtp.max_recipients", " 0100 "), "100");
  // A value with a newline is quoted on one line.
  auto nl = error_of(validate_setting("smtp.max_recipients", "1\n2"));
  EXPECT_EQ(nl.find('\n'), std::string::npos);
  EXPECT_TRUE(contains(nl, "'1\\x0a2'")) << nl;
}

TEST(Validate, ListenList) {
  EXPECT_EQ(*detail::normalize_setting("smtp.listen", " 127.0.0.1:2525 , [0:0::0]:25 "), "127.0.0.1:2525,[::]:25");
  for (auto bad : {"localhost:25", "0.0.0.0", "0.0.0.0:0", "0.0.0.0:99999", "::1:25", "", ",", "1.2.3.4:25,x"}) {
    auto e = error_of(validate_setting("smtp.listen", bad));
    EXPECT_TRUE(e.starts_with("smtp.listen: ")) << bad << " -> " << e;
  }
  EXPECT_EQ(error_of(validate_setting("smtp.listen", "localhost:25")),
            "smtp.listen: entry 'localhost:25' must be an IP address with a port, like 0.0.0.0:25 or [::]:25");
  EXPECT_EQ(error_of(validate_setting("smtp.listen", "1.2.3.4:25,1.2.3.4:25")), "smtp.listen: 1.2.3.4:25 is listed twice");
  Settings s;
  ASSERT_TRUE(apply_setting(s, "smtp.listen", "[::1]:2525,192.0.2.1:25"));
  ASSERT_EQ(s.smtp_listen.size(), 2u);
  EXPECT_EQ(s.smtp_listen[0].host, "::1");
  EXPECT_EQ(s.smtp_listen[0].port, 2525);
  EXPECT_EQ(s.smtp_listen[1].host, "192.0.2.1");
}

TEST(Validate, DnsServers) {
  EXPECT_EQ(*detail::normalize_setting("dns.servers", ""), "");
  EXPECT_EQ(*detail::normalize_setting("dns.servers", "192.0.2.53, 192.0.2.54:5353,2001:db8::53,[2001:DB8::54]:53"),
            "192.0.2.53,192.0.2.54:5353,2001:db8::53,[2001:db8::54]:53");
  for (auto bad : {"dns.example", "dns.example:53", "192.0.2.1:0", "[192.0.2.300]:53", "1.1.1.1,1.1.1.1"}) {
    auto e = error_of(validate_setting("dns.servers", bad));
    EXPECT_TRUE(e.starts_with("dns.servers: ")) << bad << " -> " << e;
  }
  Settings s;
  ASSERT_TRUE(apply_setting(s, "dns.servers", "192.0.2.53,[2001:db8::1]:53"));
  EXPECT_EQ(s.dns_servers, (std::vector<std::string>{"192.0.2.53", "[2001:db8::1]:53"}));
}

TEST(Validate, LogLevelAndHostname) {
  EXPECT_EQ(error_of(validate_setting("log.level", "loud")),
            "log.level: must be one of trace, debug, info, warn, error, critical, off, got 'loud'");
  EXPECT_EQ(*detail::normalize_setting("log.level", "DEBUG"), "debug");
  EXPECT_TRUE(validate_setting("smtp.hostname", ""));
  EXPECT_EQ(*detail::normalize_setting("smtp.hostname", "Gate.Example.COM."), "gate.example.com");
  EXPECT_TRUE(validate_setting("smtp.hostname", "gate"));
  auto e = error_of(validate_setting("smtp.hostname", "ex ample"));
  EXPECT_TRUE(e.starts_with("smtp.hostname: 'ex ample': not a valid host name")) << e;
  EXPECT_TRUE(contains(error_of(validate_setting("smtp.hostname", "192.0.2.1")), "IP address")) ;
  EXPECT_FALSE(validate_setting("smtp.hostname", "-bad.example"));
  EXPECT_FALSE(validate_setting("smtp.hostname", "under_score.example"));
}

TEST(Validate, Booleans) {
  for (auto on : {"on", "ON", "true", "Yes", "1", " on "})
    EXPECT_EQ(*detail::normalize_setting("tls.enabled", on), "on") << on;
  for (auto off : {"off", "False", "no", "0"})
    EXPECT_EQ(*detail::normalize_setting("auth.cram_md5", off), "off") << off;
  EXPECT_EQ(error_of(validate_setting("tls.outbound_starttls", "maybe")),
            "tls.outbound_starttls: must be on or off, got 'maybe'");
  EXPECT_FALSE(validate_setting("tls.fallback_to_plain", ""));
  Settings s;
  ASSERT_TRUE(apply_setting(s, "tls.enabled", "yes"));
  ASSERT_TRUE(apply_setting(s, "tls.fallback_to_plain", "off"));
  ASSERT_TRUE(apply_setting(s, "auth.allow_plaintext", "true"));
  EXPECT_TRUE(s.tls_enabled);
  EXPECT_FALSE(s.tls_fallback_to_plain);
  EXPECT_TRUE(s.auth_allow_plaintext);
}

TEST(Validate, TlsProtocolCiphersAndNumbers) {
  EXPECT_EQ(*detail::normalize_setting("tls.min_protocol", "tlsv1.3"), "TLSv1.3");
  EXPECT_EQ(*detail::normalize_setting("tls.min_protocol", "1.2"), "TLSv1.2");
  EXPECT_EQ(error_of(validate_setting("tls.min_protocol", "TLSv1.1")),
            "tls.min_protocol: must be TLSv1.2 or TLSv1.3, got 'TLSv1.1'");
  EXPECT_FALSE(validate_setting("tls.min_protocol", "SSLv3"));

  EXPECT_EQ(*detail::normalize_setting("tls.ciphers", " HIGH:!aNULL, !MD5 @STRENGTH "), "HIGH:!aNULL:!MD5:@STRENGTH");
  EXPECT_TRUE(validate_setting("tls.ciphers", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE+AESGCM:-RSA:+AES256:@SECLEVEL=2"));
  EXPECT_TRUE(contains(error_of(validate_setting("tls.ciphers", "")), "must not be empty"));
  EXPECT_TRUE(error_of(validate_setting("tls.ciphers", "HIGH:!")).starts_with("tls.ciphers: '!' is not a cipher"));
  EXPECT_FALSE(validate_setting("tls.ciphers", "HIGH;rm -rf"));
  EXPECT_FALSE(validate_setting("tls.ciphers", "HIGH:valid!"));
  EXPECT_FALSE(validate_setting("tls.ciphers", std::string(1025, 'A')));

  EXPECT_TRUE(validate_setting("tls.min_cipher_bits", "256"));
  EXPECT_FALSE(validate_setting("tls.min_cipher_bits", "0"));
  EXPECT_FALSE(validate_setting("tls.min_cipher_bits", "257"));
  EXPECT_FALSE(validate_setting("auth.max_failures", "0"));
  EXPECT_TRUE(validate_setting("auth.max_failures", "1000"));
  EXPECT_EQ(error_of(validate_setting("auth.failure_window", "5m")),
            "auth.failure_window: must be a whole number of seconds from 1 to 86400, got '5m'");
}

// Every new key: value -> canonical text -> applied field, and the canonical text applies again.
TEST(Validate, TlsAndAuthRoundTrip) {
  Settings s;
  const std::vector<std::pair<std::string_view, std::string_view>> values = {
      {"tls.enabled", "on"},          {"tls.outbound_starttls", "on"},  {"tls.fallback_to_plain", "off"},
      {"tls.min_protocol", "TLSv1.3"}, {"tls.ciphers", "HIGH:!aNULL"},  {"tls.min_cipher_bits", "128"},
      {"auth.cram_md5", "on"},        {"auth.allow_plaintext", "on"},   {"auth.max_failures", "3"},
      {"auth.failure_window", "600"}};
  for (auto [key, value] : values) {
    auto canon = detail::normalize_setting(key, value);
    ASSERT_TRUE(canon) << key;
    EXPECT_EQ(*canon, value) << key;
    ASSERT_TRUE(apply_setting(s, key, *canon)) << key;
  }
  EXPECT_TRUE(s.tls_enabled);
  EXPECT_TRUE(s.tls_outbound_starttls);
  EXPECT_FALSE(s.tls_fallback_to_plain);
  EXPECT_EQ(s.tls_min_protocol, "TLSv1.3");
  EXPECT_EQ(s.tls_ciphers, "HIGH:!aNULL");
  EXPECT_EQ(s.tls_min_cipher_bits, 128u);
  EXPECT_TRUE(s.auth_cram_md5);
  EXPECT_TRUE(s.auth_allow_plaintext);
  EXPECT_EQ(s.auth_max_failures, 3u);
  EXPECT_EQ(s.auth_failure_window, std::chrono::seconds(600));
}

TEST(Validate, EveryKeyRejectsGarbageNamingTheKey) {
  for (const auto& d : setting_defs()) {
    if (d.type == SettingType::server_list) continue;  // checked above; "" is valid there
    auto e = error_of(validate_setting(d.key, "not valid!"));
    EXPECT_TRUE(e.starts_with(std::string(d.key) + ": ")) << d.key << " -> " << e;
  }
  EXPECT_TRUE(error_of(validate_setting("dns.servers", "not valid!")).starts_with("dns.servers: "));
}

TEST(Names, DomainRules) {
  EXPECT_EQ(*detail::normalize_domain_name(" Example.COM. "), "example.com");
  EXPECT_EQ(*detail::normalize_domain_name("xn--bcher-kva.example"), "xn--bcher-kva.example");
  auto e = detail::normalize_domain_name("ex ample");
  ASSERT_FALSE(e);
  EXPECT_TRUE(e.error().message.starts_with("domain name 'ex ample': not a valid domain name")) << e.error().message;
  for (auto bad : {"localhost", "", ".", "a..b", "-a.example", "a-.example", "192.0.2.1", "10.0.0", "::1",
                   "under_score.example", "bücher.example", "example.123"})
    EXPECT_FALSE(detail::normalize_domain_name(bad)) << bad;
  EXPECT_FALSE(detail::normalize_domain_name(std::string(64, 'a') + ".example"));
  EXPECT_TRUE(detail::normalize_domain_name(std::string(63, 'a') + ".example"));
}

TEST(Snapshot, FindDomainAndRelay) {
  Settings s;
  s.domains.push_back({"b.example", *core::HostPort::parse("mx.b.example:25"), "", ""});
  s.domains.push_back({"a.example", *core::HostPort::parse("10.0.0.5:25"), "", ""});
  ASSERT_NE(s.find_domain("a.example"), nullptr);
  EXPECT_EQ(s.find_domain("a.example")->mail_server.host, "10.0.0.5");
  EXPECT_NE(s.find_domain("b.example"), nullptr);
  EXPECT_EQ(s.find_domain("sub.a.example"), nullptr);
  EXPECT_EQ(s.find_domain("example"), nullptr);

  EXPECT_FALSE(s.relay_allowed(*core::IpAddress::parse("10.1.2.3")));
  s.relay_networks.push_back(*core::Cidr::parse("10.0.0.0/8"));
  s.relay_networks.push_back(*core::Cidr::parse("2001:db8::/32"));
  EXPECT_TRUE(s.relay_allowed(*core::IpAddress::parse("10.1.2.3")));
  EXPECT_TRUE(s.relay_allowed(*core::IpAddress::parse("::ffff:10.1.2.3")));
  EXPECT_TRUE(s.relay_allowed(*core::IpAddress::parse("2001:db8:1::1")));
  EXPECT_FALSE(s.relay_allowed(*core::IpAddress::parse("192.0.2.1")));
  EXPECT_FALSE(s.relay_allowed(*core::IpAddress::parse("2001:db9::1")));
}

TEST(Consistency, DmarcNeedsSpfOrDkim) {
  Settings s;
  s.auth_dmarc = true;
  auto st = detail::check_consistency(s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("auth.dmarc"), std::string::npos);
  s.auth_spf = true;
  EXPECT_TRUE(detail::check_consistency(s));
}

TEST(Validate, DmarcHeaderName) {
  EXPECT_TRUE(validate_setting("auth.dmarc_header", "X-Our-DMARC"));
  EXPECT_EQ(*detail::normalize_setting("auth.dmarc_header", " X-Our-DMARC "), "X-Our-DMARC");
  auto space = error_of(validate_setting("auth.dmarc_header", "X Our"));
  EXPECT_TRUE(contains(space, "auth.dmarc_header")) << space;
  EXPECT_TRUE(contains(space, "not a header name")) << space;
  EXPECT_FALSE(validate_setting("auth.dmarc_header", "X-A:b"));
  EXPECT_FALSE(validate_setting("auth.dmarc_header", ""));
  EXPECT_FALSE(validate_setting("auth.dmarc_header", std::string(77, 'X')));
  EXPECT_FALSE(validate_setting("auth.dmarc_header", "X-\xc3\xa9"));
  // Standard fields are refused: the gateway removes this header from incoming mail.
  for (const char* name : {"From", "subject", "Received", "DKIM-Signature", "Authentication-Results",
                           "Content-Type", "Resent-From", "ARC-Seal"}) {
    auto e = error_of(validate_setting("auth.dmarc_header", name));
    EXPECT_TRUE(contains(e, "standard header field")) << name << ": " << e;
  }
}

TEST(Validate, ChoiceAndUrl) {
  EXPECT_EQ(*detail::normalize_setting("auth.dmarc_invalid_from", "MARK"), "mark");
  EXPECT_EQ(*detail::normalize_setting("auth.dmarc_invalid_from", "reject"), "reject");
  auto e = error_of(validate_setting("auth.dmarc_invalid_from", "drop"));
  EXPECT_EQ(e, "auth.dmarc_invalid_from: must be one of reject,mark, got 'drop'");
  EXPECT_TRUE(validate_setting("psl.url", "https://mirror.example/psl.dat"));
  EXPECT_FALSE(validate_setting("psl.url", "http://publicsuffix.org/list/public_suffix_list.dat"));
  EXPECT_FALSE(validate_setting("psl.url", "https:///nohost"));
  EXPECT_FALSE(validate_setting("psl.url", "https://a b/"));
  Settings s;
  EXPECT_TRUE(apply_setting(s, "auth.dmarc_invalid_from", "mark"));
  EXPECT_EQ(s.auth_dmarc_invalid_from, "mark");
  EXPECT_TRUE(apply_setting(s, "auth.dmarc_header", "X-Policy"));
  EXPECT_EQ(s.auth_dmarc_header, "X-Policy");
}

TEST(Snapshot, SigningKeyExactThenParentDomainEnabledOnly) {
  Settings s;
  s.dkim_keys.push_back({"example.com", "sel", "pem", true});
  s.dkim_keys.push_back({"off.example.net", "sel", "pem", false});
  s.dkim_keys.push_back({"example.net", "net", "pem", true});
  ASSERT_NE(s.signing_key("example.com"), nullptr);
  EXPECT_EQ(s.signing_key("Mail.Example.COM")->domain, "example.com");
  EXPECT_EQ(s.signing_key("off.example.net")->selector, "net");  // disabled: the parent's key
  EXPECT_EQ(s.signing_key("example.org"), nullptr);
  EXPECT_EQ(s.signing_key("com"), nullptr);
  EXPECT_EQ(s.signing_key(""), nullptr);
}
