// Pure routing, retry and dot-stuffing helpers for delivery. No sockets, no clock reads.
#include "gatehouse/delivery/routing.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "gatehouse/core/host.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::delivery {

std::string Route::key() const {
  if (kind == Kind::relay_host)
    return fmt::format("relay|{}|{}|{}|{}", server.to_string(), bind_ip, helo, tls_enforced ? "tls" : "");
  return fmt::format("mx|{}|{}|{}|{}|{}", domain, port, bind_ip, helo, tls_enforced ? "tls" : "");
}

std::string Route::describe() const {
  if (kind == Kind::relay_host) return server.to_string();
  return fmt::format("MX of {}", domain);
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return core::to_lower(address.substr(at + 1));
}

Route route_for(const config::Settings& s, const std::string& rcpt_domain, const std::string& sender_domain) {
  Route r;
  if (const auto* d = s.find_domain(rcpt_domain)) {
    r.kind = Route::Kind::relay_host;
    r.server = d->mail_server;
    r.bind_ip = d->bind_ip;
    r.helo = core::effective_hostname(d->smtp_hostname.empty() ? s.smtp_hostname : d->smtp_hostname);
    return r;
  }
  r.kind = Route::Kind::mx;
  r.domain = rcpt_domain;
  r.port = static_cast<std::uint16_t>(s.delivery_mx_port);
  r.helo = core::effective_hostname(s.smtp_hostname);
  if (const auto* from = s.find_domain(sender_domain)) {
    r.bind_ip = from->bind_ip;
    if (!from->smtp_hostname.empty()) r.helo = from->smtp_hostname;
  }
  return r;
}

MxPlan plan_mx(const std::string& domain, const dns::Answer& a, std::mt19937& rng) {
  MxPlan p;
  switch (a.status) {
    case dns::Status::nxdomain:
      p.kind = MxPlan::Kind::no_domain;
      p.reason = fmt::format("domain {} does not exist (DNS NXDOMAIN)", domain);
      return p;
    case dns::Status::temp_failure:
      p.kind = MxPlan::Kind::temp_failure;
      p.reason = fmt::format("MX lookup for {} failed temporarily: {}", domain, a.error.empty() ? "DNS error" : a.error);
      return p;
    case dns::Status::perm_failure:
      p.kind = MxPlan::Kind::perm_failure;
      p.reason = fmt::format("MX lookup for {} failed: {}", domain, a.error.empty() ? "DNS error" : a.error);
      return p;
    case dns::Status::ok:
      break;
  }
  if (a.mx.empty()) {
    p.kind = MxPlan::Kind::implicit;
    p.hosts.push_back({0, domain});
    return p;
  }
  bool only_null = std::all_of(a.mx.begin(), a.mx.end(), [](const dns::MxRecord& m) { return m.exchange.empty(); });
  if (only_null) {
    p.kind = MxPlan::Kind::null_mx;
    p.reason = fmt::format("{} does not accept email (null MX, RFC 7505)", domain);
    return p;
  }
  for (const auto& m : a.mx)
    if (!m.exchange.empty()) p.hosts.push_back({m.preference, m.exchange});
  std::shuffle(p.hosts.begin(), p.hosts.end(), rng);
  std::stable_sort(p.hosts.begin(), p.hosts.end(),
                   [](const MxHost& x, const MxHost& y) { return x.preference < y.preference; });
  return p;
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
