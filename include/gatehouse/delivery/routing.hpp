// Routing and retry decisions for delivery (pure): where a recipient's mail goes (RFC 5321 §5),
// MX ordering, and when a deferred recipient is tried again (exponential backoff with jitter,
// capped; expiry).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::delivery {

struct Route {
  enum class Kind { relay_host, mx };
  Kind kind = Kind::relay_host;
  core::HostPort server;   // relay_host: the local domain's downstream server
  std::string domain;      // mx: the recipient domain whose MX records are looked up
  std::uint16_t port = 25; // mx: delivery.mx_port
  std::string bind_ip;     // source address, "" = any
  std::string helo;        // our EHLO name
  bool tls_enforced = false;  // recipients in TLS-enforced domains get connections of their own
  std::string key() const; // destination key: connections and limits are per key
  std::string describe() const;  // for logs
};

// Local recipient domain -> its downstream server, with that domain's bind IP and host name.
// Any other domain -> its MX hosts; the source IP and EHLO name are those of the sender's
// domain when it is a local domain (issue "Outbound delivery" item 7), else the defaults.
Route route_for(const config::Settings& s, const std::string& rcpt_domain, const std::string& sender_domain);

struct MxHost {
  std::uint16_t preference = 0;
  std::string host;
};

// What the MX answer says about a domain.
struct MxPlan {
  enum class Kind { hosts, implicit, null_mx, no_domain, temp_failure, perm_failure };
  Kind kind = Kind::hosts;
  std::vector<MxHost> hosts;  // hosts: ordered; implicit: the domain itself
  std::string reason;         // for failures: the text that goes into logs and DSNs
};
// RFC 5321 §5.1 + RFC 7505: sort by preference, shuffle equal preferences with `rng`; no MX ->
// the domain itself (implicit MX); a null MX ("MX 0 .") -> null_mx; NXDOMAIN -> no_domain.
MxPlan plan_mx(const std::string& domain, const dns::Answer& mx_answer, std::mt19937& rng);

// Seconds to wait after the `attempts`-th failed attempt (1-based): retry_min * 2^(attempts-1),
// capped at retry_max, then scaled by `jitter` in [0.9, 1.1] (the caller passes a random value).
std::int64_t retry_delay(const config::Settings& s, std::uint32_t attempts, double jitter);

// True once a message that arrived at `arrival` has outlived delivery.max_queue_lifetime.
bool expired(const config::Settings& s, std::int64_t arrival, std::int64_t now);

// Dot-stuffs `body` (CRLF lines) for DATA and appends the terminating ".\r\n" (RFC 5321 §4.5.2).
void append_dot_stuffed(std::string& out, std::string_view body);

// The domain part of an address ("" for the null sender or a bare local part), lower-case.
std::string domain_of(std::string_view address);

}  // namespace gatehouse::delivery
