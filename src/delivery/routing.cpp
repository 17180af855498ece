// Pure routing, retry and dot-stuffing helpers for delivery. No sockets, no clock reads.
#include "gatehouse/delivery/routing.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "gatehouse/core/host.hpp"

namespace gatehouse::delivery {

std::string Route::key() const { return fmt::format("{}|{}|{}", server.to_string(), bind_ip, helo); }

std::optional<Route> route_for(const config::Settings& s, const std::string& rcpt_domain) {
  const auto* d = s.find_domain(rcpt_domain);
  if (d == nullptr) return std::nullopt;
  Route r;
  r.server = d->mail_server;
  r.bind_ip = d->bind_ip;
  r.helo = core::effective_hostname(d->smtp_hostname.empty() ? s.smtp_hostname : d->smtp_hostname);
  return r;
}

std::int64_t retry_delay(const config::Settings& s, std::uint32_t attempts, double jitter) {
  double min = static_cast<double>(s.delivery_retry_min.count());
  double max = static_cast<double>(s.delivery_retry_max.count());
  double exp = std::min<double>(attempts > 0 ? attempts - 1 : 0, 40);
  double d = std::min(max, min * std::pow(2.0, exp));
  d *= std::clamp(jitter, 0.9, 1.1);
  return std::max<std::int64_t>(1, std::llround(d));
}

bool expired(const config::Settings& s, std::int64_t arrival, std::int64_t now) {
  return now - arrival >= s.delivery_max_queue_lifetime.count();
}

void append_dot_stuffed(std::string& out, std::string_view body) {
  out.reserve(out.size() + body.size() + body.size() / 64 + 8);
  std::size_t pos = 0;
  if (!body.empty() && body[0] == '.') out.push_back('.');
  for (;;) {
    auto nl = body.find("\n.", pos);
    if (nl == std::string_view::npos) break;
    out.append(body.substr(pos, nl + 1 - pos));
    out.push_back('.');
    pos = nl + 1;
  }
  out.append(body.substr(pos));
  if (!body.empty() && body.back() != '\n') out.append("\r\n");
  out.append(".\r\n");
}

}  // namespace gatehouse::delivery
