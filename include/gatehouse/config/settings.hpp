// The immutable Settings snapshot the engine reads, and the typed registry of setting keys
// (dotted names, each with a type, a documented default and a validator).
// A snapshot is built from the database rows in one step and published atomically
// (architecture.md §4 "Settings reach code as a snapshot").
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::config {

struct LocalDomain {
  std::string name;              // lower-case, no trailing dot
  core::HostPort mail_server;    // downstream server that receives this domain's mail
  std::string bind_ip;           // "" = any
  std::string smtp_hostname;     // "" = the global smtp.hostname
};

// A domain's DKIM signing key (table dkim_keys, written only by service::DkimKeys). The private
// key stays in the snapshot only so that inbound can build its signers; no API returns it.
struct DkimKey {
  std::string domain;       // lower-case
  std::string selector;
  std::string private_pem;  // PKCS#8 PEM
  bool enabled = false;     // sign with it (the admin enables it once the DNS record is published)
};

struct Settings {
  std::uint64_t generation = 0;

  // smtp.*
  std::vector<core::HostPort> smtp_listen;  // smtp.listen
  std::string smtp_hostname;                // smtp.hostname ("" = system host name)
  std::uint64_t smtp_max_message_size = 26'214'400;
  std::uint64_t smtp_max_recipients = 100;
  std::uint64_t smtp_max_line_length = 2048;
  std::uint64_t smtp_max_errors = 10;
  std::chrono::seconds smtp_command_timeout{300};
  std::chrono::seconds smtp_data_timeout{180};
  std::uint64_t smtp_max_connections = 2000;
  std::uint64_t smtp_max_connections_per_ip = 50;
  std::chrono::seconds smtp_shutdown_grace{10};

  // dns.*
  std::vector<std::string> dns_servers;  // "ip[:port]"; empty = system resolvers

  // delivery.*
  std::uint64_t delivery_mx_port = 25;
  std::uint64_t delivery_max_connections_per_destination = 20;
  std::chrono::seconds delivery_retry_min{60};
  std::chrono::seconds delivery_retry_max{3600};
  std::chrono::seconds delivery_max_queue_lifetime{5 * 24 * 3600};
  std::chrono::seconds delivery_delay_warning_after{4 * 3600};  // 0 = no delay warnings
  std::chrono::seconds delivery_connect_timeout{30};
  std::chrono::seconds delivery_command_timeout{300};

  // tls.* (issue "TLS everywhere"; docs/encryption.md)
  bool tls_enabled = false;                // tls.enabled: offer STARTTLS (SMTP) and HTTPS
  bool tls_outbound_starttls = false;      // tls.outbound_starttls: STARTTLS whenever offered
  bool tls_fallback_to_plain = true;       // tls.fallback_to_plain: one-hour retry without TLS
  std::string tls_min_protocol = "TLSv1.2";  // tls.min_protocol: "TLSv1.2" or "TLSv1.3"
  std::string tls_ciphers =                // tls.ciphers: OpenSSL cipher list for TLS 1.2
      "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SHA1";
  std::uint64_t tls_min_cipher_bits = 112;  // tls.min_cipher_bits: for tls-domains recipients

  // auth.* (SMTP AUTH policy)
  bool auth_cram_md5 = false;               // auth.cram_md5: offer CRAM-MD5
  bool auth_allow_plaintext = false;        // auth.allow_plaintext: AUTH PLAIN/LOGIN without TLS
  std::uint64_t auth_max_failures = 5;      // auth.max_failures: per client IP within the window
  std::chrono::seconds auth_failure_window{300};  // auth.failure_window
  bool auth_spf = false;                 // auth.spf
  bool auth_dkim_verify = false;         // auth.dkim_verify
  bool auth_dmarc = false;               // auth.dmarc (needs auth.spf or auth.dkim_verify)
  bool auth_dmarc_honour_reject = false; // auth.dmarc_honour_reject
  bool auth_spf_reject = false;          // auth.spf_reject: refuse MAIL FROM when SPF fails
  std::string auth_dmarc_header = "X-SGDMARC-Fail-policy";  // auth.dmarc_header: the policy header's name
  std::string auth_dmarc_invalid_from = "reject";           // auth.dmarc_invalid_from: reject | mark
  bool auth_dmarc_log = true;            // auth.dmarc_log: one line per message in log/dmarc.log
  std::chrono::seconds auth_dmarc_results_keep{30 * 86400};  // auth.dmarc_results_keep (0 = keep none)
  bool auth_dkim_sign = true;            // auth.dkim_sign: sign outbound mail (domains with an enabled key)

  // psl.*
  std::string psl_url = "https://publicsuffix.org/list/public_suffix_list.dat";  // psl.url

  // log.*
  std::string log_level = "info";

  // tables
  std::vector<LocalDomain> domains;       // sorted by name
  std::vector<core::Cidr> relay_networks;
  // TLS policy lists (table tls_lists, written only by tlspolicy::ListStore): the stored entry
  // texts, sorted, not parsed here; tlspolicy::TlsLists::from_settings() parses and matches them.
  std::vector<std::string> tls_starttls_whitelist;  // list starttls-whitelist
  std::vector<std::string> tls_starttls_required;   // list starttls-required
  std::vector<std::string> tls_enforced_domains;    // list tls-domains ("" = every recipient)
  std::vector<DkimKey> dkim_keys;                   // sorted by domain

  // The enabled DKIM key for mail from `domain` (lower-case): the key of that domain, else of
  // its nearest parent domain that has one (relaxed alignment, RFC 7489 §3.1.1); nullptr if none.
  const DkimKey* signing_key(std::string_view domain) const;

  // The local domain that `domain` (lower-case) belongs to, exact match; nullptr if none.
  const LocalDomain* find_domain(std::string_view domain) const;
  bool relay_allowed(const core::IpAddress& client) const;
};

using SettingsPtr = std::shared_ptr<const Settings>;

enum class SettingType {
  string, uint, seconds, listen_list, server_list, log_level,
  boolean,       // on|off (also true/false, yes/no, 1/0 on input); shown as "on"/"off"
  tls_protocol,  // TLSv1.2 | TLSv1.3
  cipher_list,   // an OpenSSL cipher list (syntax checked here; OpenSSL checks it when tls builds contexts)
  field_name,    // an RFC 5322 header field name that is not one of the standard ones
  choice,        // one of the words listed in SettingDef::choices
  https_url,     // an https:// URL
};

struct SettingDef {
  std::string_view key;
  SettingType type;
  std::string_view default_value;  // as text, the way `config get` prints it
  std::string_view description;    // one line, for `config list --help` and docs
  std::uint64_t min = 0, max = 0;  // for uint/seconds
  std::string_view choices = {};   // for choice: the allowed words, separated by '|'
};

// Every known key, in display order.
const std::vector<SettingDef>& setting_defs();
const SettingDef* find_setting(std::string_view key);
// Checks a value for a key; the error names the key and the reason.
Status validate_setting(std::string_view key, std::string_view value);
// Applies a validated value to a Settings object under construction.
Status apply_setting(Settings& s, std::string_view key, std::string_view value);

}  // namespace gatehouse::config
