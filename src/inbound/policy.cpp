// Relay decision and Received: header (pure). Must not touch sockets or the database.
#include "gatehouse/inbound/policy.hpp"

#include <ctime>
#include <fmt/format.h>

#include "gatehouse/core/host.hpp"

namespace gatehouse::inbound {

smtp::Reply check_recipient(const config::Settings& s, const RelayContext& ctx, const smtp::Recipient& r) {
  if (r.domain.empty())
    return {550, {5, 1, 1}, fmt::format("<{}>: recipient address must include a domain", r.address)};
  if (s.find_domain(r.domain) != nullptr) return {250, {2, 1, 5}, "Ok"};
  if (ctx.authenticated || s.relay_allowed(ctx.client)) return {250, {2, 1, 5}, "Ok"};
  return {554, {5, 7, 1}, fmt::format("<{}>: Relay access denied", r.address)};
}

std::string greeting_hostname(const config::Settings& s, const core::IpAddress& local_ip) {
  const config::LocalDomain* best = nullptr;
  auto ip = local_ip.unmapped();
  for (const auto& d : s.domains) {
    if (d.bind_ip.empty() || d.smtp_hostname.empty()) continue;
    auto bound = core::IpAddress::parse(d.bind_ip);
    if (!bound || !(bound->unmapped() == ip)) continue;
    if (best == nullptr || d.name < best->name) best = &d;
  }
  return best != nullptr ? best->smtp_hostname : core::effective_hostname(s.smtp_hostname);
}

static std::string sanitize(std::string_view s, std::size_t max = 255, std::string_view extra = {}) {
  std::string out;
  for (char c : s.substr(0, max)) {
    bool ok = extra.find(c) != std::string_view::npos || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '@' || c == '+';
    out.push_back(ok ? c : '?');
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  return fmt::format("{}, {:d} {} {:04d} {:02d}:{:02d}:{:02d} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string received_header(const ReceivedInfo& i) {
  std::string h = fmt::format("Received: from {} ([{}])\r\n\tby {} (Gatehouse) with {} id {}",
                              i.helo.empty() ? std::string("unknown") : sanitize(i.helo), sanitize(i.client_ip),
                              sanitize(i.by_host), sanitize(i.protocol), sanitize(i.queue_id));
  if (!i.tls.empty()) h += fmt::format("\r\n\t({})", sanitize(i.tls, 200, " =/"));
  if (!i.for_rcpt.empty()) h += fmt::format("\r\n\tfor <{}>", sanitize(i.for_rcpt));
  h += fmt::format(";\r\n\t{}\r\n", rfc5322_date(i.when));
  return h;
}

std::string HeaderGate::feed(std::string_view chunk) {
  if (passing_) {
    if (body_) body_(chunk);
    return std::string(chunk);
  }
  if (overflowed_) return {};
  const std::size_t old = held_.size();
  held_.append(chunk);
  std::size_t end = std::string::npos;
  if (held_.starts_with("\r\n")) end = 0;  // an empty header section: the message starts with the empty line
  else if (auto e = held_.find("\r\n\r\n", old >= 3 ? old - 3 : 0); e != std::string::npos) end = e + 2;
  if (end == std::string::npos) {
    if (held_.size() > max_) {
      overflowed_ = true;
      held_.clear();
      held_.shrink_to_fit();
    }
    return {};
  }
  if (end + 2 > max_) {
    overflowed_ = true;
    held_.clear();
    held_.shrink_to_fit();
    return {};
  }
  passing_ = true;
  std::string out = clean_(std::string_view(held_).substr(0, end + 2));
  if (body_) body_(std::string_view(held_).substr(end + 2));
  out.append(held_, end + 2);
  held_.clear();
  held_.shrink_to_fit();
  return out;
}

std::string HeaderGate::finish() {
  if (passing_ || overflowed_ || held_.empty()) return {};
  passing_ = true;
  std::string out = clean_(held_);
  held_.clear();
  return out;
}

auth::dmarc::DmarcOptions dmarc_options(const config::Settings& s) {
  auth::dmarc::DmarcOptions o;
  o.honour_reject = s.auth_dmarc_honour_reject;
  o.header_name = s.auth_dmarc_header;
  o.invalid_from =
      s.auth_dmarc_invalid_from == "mark" ? auth::dmarc::InvalidFromAction::mark : auth::dmarc::InvalidFromAction::reject;
  return o;
}

Expected<auth::dkim::Message> signing_header(std::string_view header_section) {
  if (header_section.empty() || header_section.ends_with("\r\n")) return auth::dkim::split_message(header_section);
  return auth::dkim::split_message(std::string(header_section) + "\r\n");
}

}  // namespace gatehouse::inbound
