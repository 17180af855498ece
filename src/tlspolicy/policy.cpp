// TLS policy decisions (policy.hpp): the outbound level per recipient and per transaction, the
// recipient partition, the check of the level reached, and the inbound STARTTLS offer.
// Pure: must not open sockets or SQLite, read the clock, or log. The precedence rules are
// listed in policy.hpp and must only ever be made stricter.
#include "gatehouse/tlspolicy/policy.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <tuple>

#include "gatehouse/config/settings.hpp"

namespace gatehouse::tlspolicy {
namespace {

constexpr std::size_t kMaxDetail = 200;

// One line, controls as spaces, cut: `why_not` and handshake details come from OpenSSL or the
// peer and end up in a DSN.
std::string clean(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (out.size() == kMaxDetail) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(ch);
    out += (c < 0x20 || c == 0x7f) ? ' ' : ch;
  }
  return out;
}

std::string peer_label(const Peer& p) {
  if (!p.host_name.empty()) return clean(p.host_name);
  if (p.ip) return p.ip->to_string();
  return "the server";
}

// Order for merging: a greater rank is stricter (mode, then enforced, then strength, then no fallback).
std::tuple<int, bool, unsigned, bool> rank(const OutboundTlsDecision& d) {
  return {static_cast<int>(d.mode), d.enforced, d.min_bits, !d.allow_plain_fallback};
}

bool same_level(const OutboundTlsDecision& a, const OutboundTlsDecision& b) {
  return a.mode == b.mode && a.allow_plain_fallback == b.allow_plain_fallback && a.min_bits == b.min_bits &&
         a.enforced == b.enforced;
}

}  // namespace

OutboundOptions OutboundOptions::from_settings(const config::Settings& s) {
  OutboundOptions o;
  o.outbound_starttls = s.tls_outbound_starttls;
  o.fallback_to_plain = s.tls_fallback_to_plain;
  o.min_cipher_bits = static_cast<unsigned>(s.tls_min_cipher_bits);
  return o;
}

OutboundTlsDecision decide_recipient(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                     std::string_view recipient) {
  OutboundTlsDecision d;
  d.host = peer_label(peer);
  // 1. Enforced partner domains.
  if (const Entry* e = lists.enforced_match(recipient)) {
    d.mode = OutboundTlsDecision::required;
    d.min_bits = opts.min_cipher_bits;
    d.enforced = true;
    d.why = e->kind == Entry::Kind::everyone
                ? fmt::format("tls-domains has the empty entry (every recipient): TLS with at least {}-bit "
                              "ciphers is required",
                              d.min_bits)
                : fmt::format("recipient {} matches tls-domains entry '{}': TLS with at least {}-bit ciphers is "
                              "required",
                              clean(recipient), e->text, d.min_bits);
    return d;
  }
  // 2. STARTTLS required list.
  if (const Entry* e = lists.required_match(peer.host_name, peer.ip)) {
    d.mode = OutboundTlsDecision::required;
    d.why = fmt::format("{} matches starttls-required entry '{}': STARTTLS is required", d.host, e->text);
    return d;
  }
  // 3. Whitelist: the host, its address, or the recipient's domain.
  const Entry* w = lists.whitelist_match(peer.host_name, peer.ip);
  std::string what = d.host;
  if (!w) {
    std::string domain = recipient_domain(recipient);
    if (!domain.empty() && (w = lists.whitelist_match(domain, std::nullopt)) != nullptr)
      what = "recipient domain " + domain;
  }
  if (w) {
    d.why = fmt::format("{} matches starttls-whitelist entry '{}': STARTTLS is not used", what, w->text);
    return d;
  }
  // 4. Opportunistic TLS switched off.
  if (!opts.outbound_starttls) {
    d.why = "tls.outbound_starttls is off: STARTTLS is not used";
    return d;
  }
  // 5. A recent handshake failure.
  if (peer.on_fallback_list && opts.fallback_to_plain) {
    d.why = fmt::format(
        "{} is on the plain-text fallback list (a TLS handshake with it failed within the last hour): STARTTLS is "
        "not used",
        d.host);
    return d;
  }
  // 6. Opportunistic.
  d.mode = OutboundTlsDecision::opportunistic;
  d.allow_plain_fallback = opts.fallback_to_plain;
  d.why = opts.fallback_to_plain
              ? "STARTTLS when offered; if the handshake fails, retry at once without TLS (tls.fallback_to_plain)"
              : "STARTTLS when offered; a failed handshake defers the message (tls.fallback_to_plain is off)";
  return d;
}

OutboundTlsDecision decide_outbound(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                    const std::vector<std::string>& recipients) {
  if (recipients.empty()) return decide_recipient(lists, opts, peer, "");
  OutboundTlsDecision strictest = decide_recipient(lists, opts, peer, recipients.front());
  unsigned min_bits = strictest.min_bits;
  bool enforced = strictest.enforced;
  bool fallback = strictest.mode != OutboundTlsDecision::opportunistic || strictest.allow_plain_fallback;
  for (std::size_t i = 1; i < recipients.size(); ++i) {
    OutboundTlsDecision d = decide_recipient(lists, opts, peer, recipients[i]);
    min_bits = std::max(min_bits, d.min_bits);
    enforced = enforced || d.enforced;
    if (d.mode == OutboundTlsDecision::opportunistic) fallback = fallback && d.allow_plain_fallback;
    if (rank(d) > rank(strictest)) strictest = std::move(d);
  }
  strictest.min_bits = min_bits;
  strictest.enforced = enforced;
  strictest.allow_plain_fallback = strictest.mode == OutboundTlsDecision::opportunistic && fallback;
  return strictest;
}

std::vector<RecipientGroup> partition_recipients(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                                 const std::vector<std::string>& recipients) {
  std::vector<RecipientGroup> groups;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    OutboundTlsDecision d = decide_recipient(lists, opts, peer, recipients[i]);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const RecipientGroup& g) { return same_level(g.decision, d); });
    if (it == groups.end()) {
      groups.push_back(RecipientGroup{std::move(d), {}, {}});
      it = groups.end() - 1;
    }
    it->recipients.push_back(recipients[i]);
    it->indices.push_back(i);
  }
  return groups;
}

std::string Failure::to_string() const { return fmt::format("{} {} {}", code, enhanced, text); }

std::string handshake_failed(std::string_view detail) {
  if (detail.empty()) return "the TLS handshake failed";
  return fmt::format("the TLS handshake failed ({})", clean(detail));
}

std::optional<Failure> check_reached(const OutboundTlsDecision& d, bool tls_established, unsigned cipher_bits,
                                     std::string_view why_not) {
  if (d.mode != OutboundTlsDecision::required) return std::nullopt;
  const unsigned bits = tls_established ? cipher_bits : 0;
  if (d.enforced) {
    if (tls_established && bits >= d.min_bits) return std::nullopt;
    return Failure{503, "5.7.0", fmt::format("encryption too weak {} less than {}", bits, d.min_bits), true};
  }
  const std::string host = d.host.empty() ? std::string("the server") : clean(d.host);
  if (!tls_established) {
    std::string reason = why_not.empty() ? std::string("no TLS session was established") : clean(why_not);
    return Failure{451, "4.7.4", fmt::format("TLS is required for {} but {}", host, reason), false};
  }
  if (d.min_bits > 0 && bits < d.min_bits)
    return Failure{451, "4.7.5",
                   fmt::format("TLS is required for {} but the cipher strength {} bits is less than {}", host, bits,
                               d.min_bits),
                   false};
  return std::nullopt;
}

bool advertise_starttls(const TlsLists& lists, bool tls_enabled, bool have_active_cert,
                        const std::optional<core::IpAddress>& client_ip, std::string_view client_helo_or_rdns) {
  if (!tls_enabled || !have_active_cert) return false;
  return !lists.whitelisted(client_helo_or_rdns, client_ip);
}

}  // namespace gatehouse::tlspolicy
