// The setting registry (every key with its type, default, range and one-line description), value
// validation and normalization, applying values to a Settings under construction, and the
// snapshot's lookups (find_domain, relay_allowed).
// Pure: must not open SQLite, read files or the clock, or log. Errors are one line that names the
// key (or the name being checked) and the reason.
#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <set>
#include <variant>

#include "detail.hpp"
#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::config {
namespace {

using UintField = std::uint64_t Settings::*;
using SecondsField = std::chrono::seconds Settings::*;
using StringField = std::string Settings::*;
using ListenField = std::vector<core::HostPort> Settings::*;
using StringListField = std::vector<std::string> Settings::*;
using BoolField = bool Settings::*;
using Field = std::variant<UintField, SecondsField, StringField, ListenField, StringListField, BoolField>;

struct Entry {
  SettingDef def;
  Field field;
};

constexpr std::uint64_t kDay = 86'400;

// Display order is the order of this table. Defaults must match the in-class initializers of
// Settings (settings_test checks that they do).
const std::vector<Entry>& entries() {
  using T = SettingType;
  static const std::vector<Entry> table = {
      {{"smtp.listen", T::listen_list, "0.0.0.0:25,[::]:25",
        "Addresses and ports that accept SMTP connections (comma-separated ip:port, [v6]:port)"},
       &Settings::smtp_listen},
      {{"smtp.hostname", T::string, "",
        "Host name in the SMTP greeting and EHLO reply; empty = the system host name"},
       &Settings::smtp_hostname},
      {{"smtp.max_message_size", T::uint, "26214400",
        "Largest message accepted, in bytes (advertised with SIZE)", 1024, 2'147'483'648ULL},
       &Settings::smtp_max_message_size},
      {{"smtp.max_recipients", T::uint, "100", "Most recipients accepted for one message", 1, 100'000},
       &Settings::smtp_max_recipients},
      {{"smtp.max_line_length", T::uint, "2048", "Longest command or message line accepted, in bytes",
        512, 65'536},
       &Settings::smtp_max_line_length},
      {{"smtp.max_errors", T::uint, "10", "Protocol errors allowed in one session before it is closed",
        1, 1000},
       &Settings::smtp_max_errors},
      {{"smtp.command_timeout", T::seconds, "300", "Seconds to wait for the client's next command", 1,
        3600},
       &Settings::smtp_command_timeout},
      {{"smtp.data_timeout", T::seconds, "180", "Seconds to wait for more message data during DATA/BDAT",
        1, 3600},
       &Settings::smtp_data_timeout},
      {{"smtp.max_connections", T::uint, "2000", "Most simultaneous inbound SMTP connections", 1,
        1'000'000},
       &Settings::smtp_max_connections},
      {{"smtp.max_connections_per_ip", T::uint, "50",
        "Most simultaneous inbound SMTP connections from one client address", 1, 1'000'000},
       &Settings::smtp_max_connections_per_ip},
      {{"smtp.shutdown_grace", T::seconds, "10",
        "Seconds open sessions get to finish their current command when the server stops", 0, 3600},
       &Settings::smtp_shutdown_grace},
      {{"dns.servers", T::server_list, "",
        "DNS resolvers (comma-separated ip, ip:port or [v6]:port); empty = the system resolvers"},
       &Settings::dns_servers},
      {{"delivery.mx_port", T::uint, "25", "TCP port used to deliver to remote mail exchangers", 1,
        65'535},
       &Settings::delivery_mx_port},
      {{"delivery.max_connections_per_destination", T::uint, "20",
        "Most simultaneous outbound connections to one destination", 1, 1000},
       &Settings::delivery_max_connections_per_destination},
      {{"delivery.retry_min", T::seconds, "60", "Shortest delay before retrying a deferred message", 1,
        kDay},
       &Settings::delivery_retry_min},
      {{"delivery.retry_max", T::seconds, "3600", "Longest delay between retries of a deferred message",
        1, kDay},
       &Settings::delivery_retry_max},
      {{"delivery.max_queue_lifetime", T::seconds, "432000",
        "Seconds a message may stay queued before it is returned to the sender (432000 = 5 days)", 1,
        30 * kDay},
       &Settings::delivery_max_queue_lifetime},
      {{"delivery.delay_warning_after", T::seconds, "14400",
        "Seconds after which the sender of a still-queued message gets one delay warning DSN (0 = never)",
        0, 30 * kDay},
       &Settings::delivery_delay_warning_after},
      {{"delivery.connect_timeout", T::seconds, "30", "Seconds to wait for an outbound TCP connection",
        1, 3600},
       &Settings::delivery_connect_timeout},
      {{"delivery.command_timeout", T::seconds, "300",
        "Seconds to wait for each reply from a remote SMTP server", 1, 3600},
       &Settings::delivery_command_timeout},
      {{"tls.enabled", T::boolean, "off",
        "Enable SSL and STARTTLS support for SMTP and HTTPS (needs an active certificate)"},
       &Settings::tls_enabled},
      {{"tls.outbound_starttls", T::boolean, "off",
        "Send messages with STARTTLS whenever the receiving server offers it"},
       &Settings::tls_outbound_starttls},
      {{"tls.fallback_to_plain", T::boolean, "on",
        "After a failed TLS handshake, retry at once without TLS and keep doing so for that host for an hour"},
       &Settings::tls_fallback_to_plain},
      {{"tls.min_protocol", T::tls_protocol, "TLSv1.2", "Oldest TLS version accepted and offered: TLSv1.2 or TLSv1.3"},
       &Settings::tls_min_protocol},
      {{"tls.ciphers", T::cipher_list,
        "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SHA1",
        "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always the strong defaults)"},
       &Settings::tls_ciphers},
      {{"tls.min_cipher_bits", T::uint, "112",
        "Least cipher strength, in bits, for mail to TLS-enforced recipient domains (tls-domains)", 1, 256},
       &Settings::tls_min_cipher_bits},
      {{"auth.cram_md5", T::boolean, "off", "Offer the CRAM-MD5 SMTP AUTH mechanism"},
       &Settings::auth_cram_md5},
      {{"auth.allow_plaintext", T::boolean, "off",
        "Allow AUTH PLAIN and AUTH LOGIN on connections without TLS"},
       &Settings::auth_allow_plaintext},
      {{"auth.max_failures", T::uint, "5",
        "Failed SMTP AUTH attempts from one client IP, within auth.failure_window, before AUTH is refused",
        1, 1000},
       &Settings::auth_max_failures},
      {{"auth.failure_window", T::seconds, "300",
        "Seconds over which failed SMTP AUTH attempts from one client IP are counted", 1, kDay},
       &Settings::auth_failure_window},
      {{"auth.spf", T::boolean, "off", "Check SPF (RFC 7208) of inbound mail and report it in Authentication-Results"},
       &Settings::auth_spf},
      {{"auth.dkim_verify", T::boolean, "off", "Verify DKIM signatures (RFC 6376) of inbound mail"},
       &Settings::auth_dkim_verify},
      {{"auth.dmarc", T::boolean, "off",
        "Apply DMARC (RFC 7489) to inbound mail; needs auth.spf or auth.dkim_verify"},
       &Settings::auth_dmarc},
      {{"auth.dmarc_honour_reject", T::boolean, "off",
        "Refuse (550 5.7.1) mail whose domain publishes p=reject and fails DMARC; off = accept and mark it"},
       &Settings::auth_dmarc_honour_reject},
      {{"auth.spf_reject", T::boolean, "off",
        "Refuse MAIL FROM (550 5.7.23) when SPF fails (-all matched); off = accept and report spf=fail"},
       &Settings::auth_spf_reject},
      {{"auth.dmarc_header", T::field_name, "X-SGDMARC-Fail-policy",
        "Name of the header added to mail that fails DMARC (value quarantine, reject or invalid-from)"},
       &Settings::auth_dmarc_header},
      {{"auth.dmarc_invalid_from", T::choice, "reject",
        "Mail without exactly one valid From address when DMARC is on: reject (550 5.7.1) or mark (header)",
        0, 0, "reject|mark"},
       &Settings::auth_dmarc_invalid_from},
      {{"auth.dmarc_log", T::boolean, "on", "Write one line per DMARC-checked message to log/dmarc.log"},
       &Settings::auth_dmarc_log},
      {{"auth.dmarc_results_keep", T::seconds, "2592000",
        "Seconds per-message DMARC results are kept in reports.db for reports (2592000 = 30 days; 0 = none kept)",
        0, 366 * kDay},
       &Settings::auth_dmarc_results_keep},
      {{"auth.dkim_sign", T::boolean, "on",
        "DKIM-sign mail from relay-allowed or authenticated clients whose From domain has an enabled key"},
       &Settings::auth_dkim_sign},
      {{"psl.url", T::https_url, "https://publicsuffix.org/list/public_suffix_list.dat",
        "Where the Public Suffix List comes from, for the automatic refresh of a later release (today: replace the file, then drop PUBLICSUFFIX.SEM)"},
       &Settings::psl_url},
      {{"log.level", T::log_level, "info",
        "Log detail: trace, debug, info, warn, error, critical or off"},
       &Settings::log_level},
  };
  return table;
}

const Entry* find_entry(std::string_view key) {
  for (const auto& e : entries())
    if (e.def.key == key) return &e;
  return nullptr;
}

Error unknown_key(std::string_view key) {
  return make_error(fmt::format("unknown setting {}", detail::quote(key)));
}

// A value after validation: the canonical text plus the typed form apply() needs.
struct Parsed {
  std::string text;
  std::uint64_t number = 0;
  bool flag = false;
  std::vector<core::HostPort> listen;
  std::vector<std::string> servers;
};

Expected<Parsed> parse_number(const SettingDef& def, std::string_view v) {
  auto n = core::parse_u64(v);
  if (!n || *n < def.min || *n > def.max) {
    const char* unit = def.type == SettingType::seconds ? " of seconds" : "";
    return make_error(fmt::format("{}: must be a whole number{} from {} to {}, got {}", def.key, unit,
                                  def.min, def.max, detail::quote(v)));
  }
  Parsed p;
  p.number = *n;
  p.text = std::to_string(*n);
  return p;
}

Expected<Parsed> parse_listen(const SettingDef& def, std::string_view v) {
  Parsed p;
  std::set<std::string> seen;
  for (const auto& item : core::split(v, ',')) {
    auto hp = core::HostPort::parse(item);
    auto ip = hp ? core::IpAddress::parse(hp->host) : std::nullopt;
    if (!hp || !ip)
      return make_error(fmt::format("{}: entry {} must be an IP address with a port, like 0.0.0.0:25 or [::]:25",
                                    def.key, detail::quote(item)));
    hp->host = ip->to_string();
    auto canon = hp->to_string();
    if (!seen.insert(canon).second)
      return make_error(fmt::format("{}: {} is listed twice", def.key, canon));
    p.listen.push_back(*hp);
    if (!p.text.empty()) p.text += ',';
    p.text += canon;
  }
  if (p.listen.empty())
    return make_error(fmt::format("{}: must list at least one ip:port, got {}", def.key, detail::quote(v)));
  return p;
}

// One resolver: "ip", "v4:port" or "[v6]:port". A bare IPv6 address never carries a port
// ("2001:db8::1:53" is the address 2001:db8::1:53); use brackets for that.
std::optional<std::string> parse_server(std::string_view item) {
  if (auto ip = core::IpAddress::parse(item)) return ip->to_string();
  auto hp = core::HostPort::parse(item);
  if (!hp) return std::nullopt;
  auto ip = core::IpAddress::parse(hp->host);
  if (!ip) return std::nullopt;
  hp->host = ip->to_string();
  return hp->to_string();
}

Expected<Parsed> parse_servers(const SettingDef& def, std::string_view v) {
  Parsed p;
  std::set<std::string> seen;
  for (const auto& item : core::split(v, ',')) {
    auto canon = parse_server(item);
    if (!canon)
      return make_error(fmt::format(
          "{}: entry {} must be an IP address with an optional port, like 192.0.2.53, 192.0.2.53:53 "
          "or [2001:db8::53]:53",
          def.key, detail::quote(item)));
    if (!seen.insert(*canon).second)
      return make_error(fmt::format("{}: {} is listed twice", def.key, *canon));
    p.servers.push_back(*canon);
    if (!p.text.empty()) p.text += ',';
    p.text += *canon;
  }
  return p;
}

Expected<Parsed> parse_boolean(const SettingDef& def, std::string_view v) {
  const std::string b = core::to_lower(v);
  Parsed p;
  if (b == "on" || b == "true" || b == "yes" || b == "1") p.flag = true;
  else if (b == "off" || b == "false" || b == "no" || b == "0") p.flag = false;
  else return make_error(fmt::format("{}: must be on or off, got {}", def.key, detail::quote(v)));
  p.text = p.flag ? "on" : "off";
  return p;
}

Expected<Parsed> parse_tls_protocol(const SettingDef& def, std::string_view v) {
  const std::string b = core::to_lower(v);
  Parsed p;
  if (b == "tlsv1.2" || b == "tls1.2" || b == "1.2") p.text = "TLSv1.2";
  else if (b == "tlsv1.3" || b == "tls1.3" || b == "1.3") p.text = "TLSv1.3";
  else return make_error(fmt::format("{}: must be TLSv1.2 or TLSv1.3, got {}", def.key, detail::quote(v)));
  return p;
}

// OpenSSL cipher-list syntax: elements separated by ':', ',' or ' ', each an optional '!', '-'
// or '+' and then cipher names, aliases or @STRENGTH/@SECLEVEL=n joined by '+'. Whether the list
// leaves any usable cipher only OpenSSL knows: tls checks that when it builds its contexts.
Expected<Parsed> parse_cipher_list(const SettingDef& def, std::string_view v) {
  constexpr std::size_t kMax = 1024;
  if (v.empty())
    return make_error(fmt::format("{}: must not be empty (unset it to go back to the default list)", def.key));
  if (v.size() > kMax) return make_error(fmt::format("{}: longer than {} characters", def.key, kMax));
  auto name_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '+' || c == '=' || c == '@';
  };
  std::string canon;
  std::size_t start = 0;
  while (start <= v.size()) {
    auto end = v.find_first_of(": ,", start);
    auto item = v.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? v.size() + 1 : end + 1;
    if (item.empty()) continue;
    auto body = item;
    if (body.front() == '!' || body.front() == '-' || body.front() == '+') body.remove_prefix(1);
    if (body.empty() || !std::all_of(body.begin(), body.end(), name_char))
      return make_error(fmt::format("{}: {} is not a cipher name or rule (expected names like ECDHE+AESGCM or "
                                    "!aNULL, separated by ':'), in {}",
                                    def.key, detail::quote(item), detail::quote(v)));
    if (!canon.empty()) canon += ':';
    canon += item;
  }
  Parsed p;
  p.text = std::move(canon);
  return p;
}

// Header field names the gateway must never remove or write on its own account: the
// RFC 5322/2045 fields, trace and authentication fields. The DMARC policy header is removed from
// incoming mail, so naming it "From" would strip every From field.
bool reserved_field_name(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to", "references",
      "subject", "comments", "keywords", "date", "received", "return-path", "mime-version",
      "dkim-signature", "authentication-results", "received-spf", "list-id", "list-unsubscribe"};
  const std::string lower = core::to_lower(name);
  for (auto r : kReserved)
    if (lower == r) return true;
  return lower.starts_with("resent-") || lower.starts_with("content-") || lower.starts_with("arc-");
}

// RFC 5322 §3.6.8 field-name: printable US-ASCII but ':', here at most 76 characters so that
// "name: value" fits a 78-character line.
Expected<Parsed> parse_field_name(const SettingDef& def, std::string_view v) {
  if (v.empty() || v.size() > 76)
    return make_error(fmt::format("{}: a header name has 1 to 76 characters, got {}", def.key, detail::quote(v)));
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == ':')
      return make_error(fmt::format("{}: {} is not a header name (printable ASCII without spaces or ':')", def.key,
                                    detail::quote(v)));
  }
  if (reserved_field_name(v))
    return make_error(fmt::format("{}: {} is a standard header field; choose a name of your own, like "
                                  "X-SGDMARC-Fail-policy",
                                  def.key, detail::quote(v)));
  Parsed p;
  p.text = std::string(v);
  return p;
}

Expected<Parsed> parse_choice(const SettingDef& def, std::string_view v) {
  const std::string lower = core::to_lower(v);
  for (const auto& c : core::split(def.choices, '|')) {
    if (lower == c) {
      Parsed p;
      p.text = lower;
      return p;
    }
  }
  std::string list = std::string(def.choices);
  std::replace(list.begin(), list.end(), '|', ',');
  return make_error(fmt::format("{}: must be one of {}, got {}", def.key, list, detail::quote(v)));
}

Expected<Parsed> parse_https_url(const SettingDef& def, std::string_view v) {
  constexpr std::string_view kScheme = "https://";
  bool ok = v.size() > kScheme.size() && v.size() <= 2048 && core::to_lower(v.substr(0, kScheme.size())) == kScheme;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) ok = false;
  }
  if (ok) {
    auto host_end = v.find_first_of("/?#", kScheme.size());
    ok = host_end != kScheme.size();
  }
  if (!ok)
    return make_error(fmt::format("{}: must be an https:// URL without spaces, got {}", def.key, detail::quote(v)));
  Parsed p;
  p.text = std::string(v);
  return p;
}

Expected<Parsed> parse_value(const SettingDef& def, std::string_view raw) {
  auto v = core::trim(raw);
  switch (def.type) {
    case SettingType::uint:
    case SettingType::seconds:
      return parse_number(def, v);
    case SettingType::listen_list:
      return parse_listen(def, v);
    case SettingType::server_list:
      return parse_servers(def, v);
    case SettingType::boolean:
      return parse_boolean(def, v);
    case SettingType::tls_protocol:
      return parse_tls_protocol(def, v);
    case SettingType::cipher_list:
      return parse_cipher_list(def, v);
    case SettingType::field_name:
      return parse_field_name(def, v);
    case SettingType::choice:
      return parse_choice(def, v);
    case SettingType::https_url:
      return parse_https_url(def, v);
    case SettingType::log_level: {
      std::string level = core::to_lower(v);
      if (!core::log::is_valid_level(level))
        return make_error(fmt::format(
            "{}: must be one of trace, debug, info, warn, error, critical, off, got {}", def.key,
            detail::quote(v)));
      Parsed p;
      p.text = std::move(level);
      return p;
    }
    case SettingType::string: {
      // The only string setting is smtp.hostname: empty, or a host name.
      Parsed p;
      if (v.empty()) return p;
      auto name = detail::normalize_host_name(v);
      if (!name) return make_error(fmt::format("{}: {}: {}", def.key, detail::quote(v), name.error().message));
      p.text = std::move(*name);
      return p;
    }
  }
  return make_error(fmt::format("{}: unsupported setting type", def.key));
}

void apply_parsed(Settings& s, const Entry& e, Parsed&& p) {
  std::visit(
      [&](auto field) {
        using F = decltype(field);
        if constexpr (std::is_same_v<F, UintField>) s.*field = p.number;
        else if constexpr (std::is_same_v<F, SecondsField>) s.*field = std::chrono::seconds(p.number);
        else if constexpr (std::is_same_v<F, StringField>) s.*field = std::move(p.text);
        else if constexpr (std::is_same_v<F, ListenField>) s.*field = std::move(p.listen);
        else if constexpr (std::is_same_v<F, BoolField>) s.*field = p.flag;
        else s.*field = std::move(p.servers);
      },
      e.field);
}

// Splits on '.' without trimming (core::split trims, which would hide spaces inside a name).
std::vector<std::string_view> labels_of(std::string_view n) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto dot = n.find('.', start);
    out.push_back(n.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// Trims, lower-cases and drops one trailing dot; returns the reason the name is bad, or "".
std::string check_name(std::string_view raw, bool need_two_labels, std::string& out) {
  out = core::to_lower(core::trim(raw));
  if (!out.empty() && out.back() == '.') out.pop_back();
  if (out.empty()) return "it is empty";
  if (core::IpAddress::parse(out)) return "an IP address is not a name";
  if (out.size() > 253) return "longer than 253 characters";
  auto labels = labels_of(out);
  for (auto label : labels) {
    if (label.empty()) return "empty label";
    if (label.size() > 63) return "a label is longer than 63 characters";
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80) return "write internationalized names in xn-- form";
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return "only letters, digits, '-' and '.' are allowed";
    }
    if (label.front() == '-' || label.back() == '-') return "a label cannot start or end with '-'";
  }
  if (need_two_labels && labels.size() < 2) return "needs at least two labels, like example.com";
  const auto last = labels.back();
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "the last label cannot be all digits";
  return {};
}

}  // namespace

namespace detail {

std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 200;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  out += '\'';
  return out;
}

std::string one_line(std::string_view message) {
  std::string out;
  for (char ch : message) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += ch;
  }
  return out;
}

Expected<std::string> normalize_setting(std::string_view key, std::string_view value) {
  const Entry* e = find_entry(key);
  if (!e) return unknown_key(key);
  auto p = parse_value(e->def, value);
  if (!p) return p.error();
  return std::move(p->text);
}

Expected<std::string> normalize_domain_name(std::string_view name) {
  std::string out;
  auto why = check_name(name, true, out);
  if (!why.empty())
    return make_error(fmt::format("domain name {}: not a valid domain name ({})", quote(core::trim(name)), why));
  return out;
}

Expected<std::string> normalize_host_name(std::string_view name) {
  std::string out;
  auto why = check_name(name, false, out);
  if (!why.empty()) return make_error(fmt::format("not a valid host name ({})", why));
  return out;
}

Status check_consistency(const Settings& s) {
  if (s.delivery_retry_min > s.delivery_retry_max)
    return make_error(fmt::format("delivery.retry_min ({}) must not be greater than delivery.retry_max ({})",
                                  s.delivery_retry_min.count(), s.delivery_retry_max.count()));
  if (s.auth_dmarc && !s.auth_spf && !s.auth_dkim_verify)
    return make_error("auth.dmarc needs auth.spf or auth.dkim_verify on: DMARC is computed from their results");
  return {};
}

const Settings& default_settings() {
  static const Settings defaults = [] {
    Settings s;
    for (const auto& e : entries()) {
      auto p = parse_value(e.def, e.def.default_value);
      if (!p) std::abort();  // a registry default that fails its own check is a bug
      apply_parsed(s, e, std::move(*p));
    }
    return s;
  }();
  return defaults;
}

}  // namespace detail

const std::vector<SettingDef>& setting_defs() {
  static const std::vector<SettingDef> defs = [] {
    std::vector<SettingDef> v;
    for (const auto& e : entries()) v.push_back(e.def);
    return v;
  }();
  return defs;
}

// Points into setting_defs(), so callers may compare addresses with its elements.
const SettingDef* find_setting(std::string_view key) {
  for (const auto& d : setting_defs())
    if (d.key == key) return &d;
  return nullptr;
}

Status validate_setting(std::string_view key, std::string_view value) {
  auto r = detail::normalize_setting(key, value);
  if (!r) return r.error();
  return {};
}

Status apply_setting(Settings& s, std::string_view key, std::string_view value) {
  const Entry* e = find_entry(key);
  if (!e) return unknown_key(key);
  auto p = parse_value(e->def, value);
  if (!p) return p.error();
  apply_parsed(s, *e, std::move(*p));
  return {};
}

// Linear scan: works on any Settings (tests build them by hand, unsorted), and the domain list
// is short compared with the cost of the SMTP transaction that asks.
const LocalDomain* Settings::find_domain(std::string_view domain) const {
  for (const auto& d : domains)
    if (core::iequals(d.name, domain)) return &d;
  return nullptr;
}

const DkimKey* Settings::signing_key(std::string_view domain) const {
  std::string_view d = domain;
  while (!d.empty()) {
    for (const auto& k : dkim_keys)
      if (k.enabled && core::iequals(k.domain, d)) return &k;
    auto dot = d.find('.');
    if (dot == std::string_view::npos) break;
    d.remove_prefix(dot + 1);
  }
  return nullptr;
}

bool Settings::relay_allowed(const core::IpAddress& client) const {
  return std::any_of(relay_networks.begin(), relay_networks.end(),
                     [&](const core::Cidr& c) { return c.contains(client); });
}

}  // namespace gatehouse::config
