// TLS policy decisions (issue "TLS everywhere" items 4-7): what TLS an outbound delivery must
// use, whether a failed handshake may be retried in clear, whether the level reached after EHLO
// or the handshake is enough (and the failure to report if not), and whether to offer STARTTLS
// to a connecting client. This is maddy's MX/TLS level idea (framework/module/mxauth.go): the
// policy sets the level, the SMTP driver reaches what it can, and check_reached() judges it.
// Pure: no sockets, no SQLite, no clock, no logging; the driver passes every fact in.
// Must not: relax a requirement. Precedence, strictest first:
//   1. tls-domains (enforced recipient): required, >= tls.min_cipher_bits, no fallback, a miss
//      is a permanent failure "503 5.7.0 encryption too weak <N> less than <min>";
//   2. starttls-required (host or IP): required, no fallback, a miss is a deferral (451 4.7.4)
//      that the queue turns into a bounce only when the message expires;
//   3. starttls-whitelist (host, IP or the recipient's domain): no STARTTLS;
//   4. tls.outbound_starttls off: no STARTTLS;
//   5. host on the one-hour fallback list and tls.fallback_to_plain on: no STARTTLS;
//   6. otherwise opportunistic: STARTTLS when offered; a failed handshake is retried at once in
//      clear (and the host goes on the fallback list) when tls.fallback_to_plain is on.
// A requirement beats the whitelist: a host on both lists, or a whitelisted host serving an
// enforced domain, must use TLS. Later MTA-STS and REQUIRETLS add levels here, never below 1-2.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/tlspolicy/lists.hpp"

namespace gatehouse::config {
struct Settings;
}

namespace gatehouse::tlspolicy {

// The settings the outbound decision reads (copied from the snapshot by the driver).
struct OutboundOptions {
  bool outbound_starttls = false;  // tls.outbound_starttls
  bool fallback_to_plain = true;   // tls.fallback_to_plain
  unsigned min_cipher_bits = 112;  // tls.min_cipher_bits (enforced domains only)
  static OutboundOptions from_settings(const config::Settings& s);
};

// The server a delivery connects to.
struct Peer {
  std::string host_name;              // MX or relay host name as routed; "" when only an IP is known
  std::optional<core::IpAddress> ip;  // the address connected to, when known
  bool on_fallback_list = false;      // PlainFallbackList::contains(host_name) || contains(ip)
};

struct OutboundTlsDecision {
  // Unscoped so that both OutboundTlsDecision::required and OutboundTlsDecision::Mode::required work.
  enum Mode { none, opportunistic, required };
  Mode mode = none;
  // Only with `opportunistic`: after a failed handshake, put the host on the PlainFallbackList
  // and retry at once without STARTTLS. Never true when TLS is required.
  bool allow_plain_fallback = false;
  // Least cipher strength (bits) to accept once TLS is up; 0 = whatever the client context
  // negotiates (its cipher list and protocol floor already exclude weak suites).
  unsigned min_bits = 0;
  // Set by tls-domains: a miss fails the recipients permanently at once (503 5.7.0).
  bool enforced = false;
  std::string host;  // the peer as named in texts: host name, else IP, else "the server"
  std::string why;   // one line for logs: which rule decided, with the matching entry
  friend bool operator==(const OutboundTlsDecision&, const OutboundTlsDecision&) = default;
};

// The decision for one recipient of a delivery to `peer`.
OutboundTlsDecision decide_recipient(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                     std::string_view recipient);

// The decision for all `recipients` sent in one transaction: the strictest of their decisions
// (highest mode and min_bits, enforced if any is, fallback only if all allow it). When
// recipients differ, the strictest one sets the level for all, so a failure would also fail the
// others: split them with partition_recipients() first. No recipients: the host-only decision.
OutboundTlsDecision decide_outbound(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                    const std::vector<std::string>& recipients);

// Recipients of one message to one destination, grouped by decision (mode, fallback, min_bits,
// enforced): send each group in its own connection, since STARTTLS is per connection. Groups
// are in the order of their first recipient; recipients keep their order. Usually one group.
struct RecipientGroup {
  OutboundTlsDecision decision;        // `why` is that of the group's first recipient
  std::vector<std::string> recipients;
  std::vector<std::size_t> indices;    // positions of `recipients` in the input
};
std::vector<RecipientGroup> partition_recipients(const TlsLists& lists, const OutboundOptions& opts, const Peer& peer,
                                                 const std::vector<std::string>& recipients);

// A policy failure, for the recipients' state and the DSN's Diagnostic-Code.
struct Failure {
  int code = 0;          // 503 (enforced) or 451 (required list)
  std::string enhanced;  // "5.7.0", "4.7.4", "4.7.5"
  std::string text;      // "encryption too weak 0 less than 112"
  bool permanent = false;
  std::string to_string() const;  // "503 5.7.0 encryption too weak 0 less than 112"
  friend bool operator==(const Failure&, const Failure&) = default;
};

// Suggested `why_not` texts for check_reached().
inline constexpr std::string_view kStarttlsNotOffered = "the server did not offer STARTTLS";
std::string handshake_failed(std::string_view detail);  // "the TLS handshake failed (<detail>)"

// Call after EHLO when STARTTLS is not offered (tls_established = false, why_not =
// kStarttlsNotOffered), and after the handshake (true with the negotiated cipher bits, or false
// with handshake_failed(...)). nullopt = go on with the transaction. Otherwise, without sending
// MAIL FROM (QUIT the session):
//   enforced, no TLS or bits < min_bits: {503, "5.7.0", "encryption too weak <N> less than <min>",
//            permanent} with N = the negotiated bits, 0 without TLS: bounce the recipients now;
//   required, no TLS:  {451, "4.7.4", "TLS is required for <host> but <why_not>", transient};
//   required, bits < min_bits (only when min_bits > 0): {451, "4.7.5", "TLS is required for
//            <host> but the cipher strength <N> bits is less than <min>", transient}.
// Transient failures are retried on the normal schedule, never in clear, and bounce at expiry
// with this text as the last reason. `none` and `opportunistic` never fail here (an
// opportunistic handshake failure is handled through allow_plain_fallback by the driver).
std::optional<Failure> check_reached(const OutboundTlsDecision& decision, bool tls_established, unsigned cipher_bits,
                                     std::string_view why_not = {});

// Inbound: offer STARTTLS in the EHLO reply? Only when tls.enabled is on, a certificate is
// active, and neither the client's IP nor its name (verified rDNS name, else the HELO name; ""
// = unknown) is on starttls-whitelist. A client can only lose STARTTLS by claiming a
// whitelisted HELO name, never gain anything.
bool advertise_starttls(const TlsLists& lists, bool tls_enabled, bool have_active_cert,
                        const std::optional<core::IpAddress>& client_ip, std::string_view client_helo_or_rdns);

}  // namespace gatehouse::tlspolicy
