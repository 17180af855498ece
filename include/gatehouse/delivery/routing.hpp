// Routing and retry decisions for delivery (pure): where a recipient's mail goes, and when a
// deferred recipient is tried again (exponential backoff with jitter, capped; expiry).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::delivery {

struct Route {
  core::HostPort server;   // host:port to connect to
  std::string bind_ip;     // source address, "" = any
  std::string helo;        // our EHLO name
  std::string key() const; // destination key: connections and limits are per key
};

// Local domain -> its downstream server. Other domains -> nullopt (MX delivery: issue
// "Outbound delivery").
std::optional<Route> route_for(const config::Settings& s, const std::string& rcpt_domain);

// Seconds to wait after the `attempts`-th failed attempt (1-based): retry_min * 2^(attempts-1),
// capped at retry_max, then scaled by `jitter` in [0.9, 1.1] (the caller passes a random value).
std::int64_t retry_delay(const config::Settings& s, std::uint32_t attempts, double jitter);

// True once a message that arrived at `arrival` has outlived delivery.max_queue_lifetime.
bool expired(const config::Settings& s, std::int64_t arrival, std::int64_t now);

// Dot-stuffs `body` (CRLF lines) for DATA and appends the terminating ".\r\n" (RFC 5321 §4.5.2).
void append_dot_stuffed(std::string& out, std::string_view body);

}  // namespace gatehouse::delivery
