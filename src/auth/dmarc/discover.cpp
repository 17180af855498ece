// DMARC policy discovery (RFC 7489 §6.6.3) over a dns::Resolver, and the PSL strategy for
// organizational domains (§3.2). Steps: TXT at _dmarc.<From domain>; keep records that start
// with v=DMARC1; if none is left and the From domain is not its own organizational domain, TXT at
// _dmarc.<organizational domain>; more than one record, or an unusable one (§6.6.3 step 6), ends
// discovery with "none". DNS handling, which §6.6.3 leaves to the receiver: NXDOMAIN and NODATA
// are "no records"; SERVFAIL/timeout give temperror, REFUSED/FORMERR permerror.
// Must not: throw for anything found in DNS, query a name longer than 253 bytes, or co_await an
// expression holding a capturing lambda (toolchain.md §4.1).
#include <fmt/format.h>

#include <utility>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc {

namespace {

using boost::asio::awaitable;

constexpr std::size_t kMaxDnsName = 253;

struct Fetch {
  DiscoveryStatus status = DiscoveryStatus::none;  // none = answered (records may be empty)
  std::vector<std::string> records;                // TXT texts starting with v=DMARC1
  std::string problem;
};

awaitable<Fetch> fetch(dns::Resolver& dns, std::string domain, unsigned& queries) {
  Fetch out;
  std::string name = "_dmarc." + domain;
  if (name.size() > kMaxDnsName) {
    out.problem = fmt::format("{} is longer than {} bytes, not queried", name, kMaxDnsName);
    co_return out;
  }
  ++queries;
  dns::Answer ans = co_await dns.query(name, dns::RrType::TXT);
  switch (ans.status) {
    case dns::Status::ok:
    case dns::Status::nxdomain: break;
    case dns::Status::temp_failure:
      out.status = DiscoveryStatus::temperror;
      out.problem = fmt::format("TXT {}: {}", name, ans.error.empty() ? "temporary DNS failure" : ans.error);
      co_return out;
    case dns::Status::perm_failure:
      out.status = DiscoveryStatus::permerror;
      out.problem = fmt::format("TXT {}: {}", name, ans.error.empty() ? "DNS failure" : ans.error);
      co_return out;
  }
  for (auto& t : ans.txt)
    if (is_dmarc_record(t)) out.records.push_back(std::move(t));
  co_return out;
}

}  // namespace

PslStrategy::PslStrategy(std::shared_ptr<const psl::List> list, psl::LookupOptions options)
    : list_(list ? std::move(list) : std::make_shared<const psl::List>()), options_(options) {}

std::optional<std::string> PslStrategy::organizational_domain(std::string_view domain) const {
  auto m = list_->lookup(domain, options_);
  if (!m || !m->registrable_domain) return std::nullopt;
  return psl::to_ascii(*m->registrable_domain);
}

std::string_view to_string(DiscoveryStatus s) {
  switch (s) {
    case DiscoveryStatus::found: return "found";
    case DiscoveryStatus::none: return "none";
    case DiscoveryStatus::temperror: return "temperror";
    case DiscoveryStatus::permerror: return "permerror";
  }
  return "?";
}

awaitable<Discovery> discover(dns::Resolver& dns, std::string from_domain, const OrgDomainStrategy& org) {
  Discovery d;
  auto ascii = psl::to_ascii(from_domain);
  if (!ascii) {
    d.status = DiscoveryStatus::permerror;
    d.problem = fmt::format("'{}' is not a usable domain name", from_domain);
    co_return d;
  }
  d.from_domain = std::move(*ascii);
  d.org_domain = org.organizational_domain(d.from_domain).value_or(std::string());

  // Steps 1-2: the From domain itself.
  Fetch f = co_await fetch(dns, d.from_domain, d.dns_queries);
  std::string where = d.from_domain;
  if (f.status == DiscoveryStatus::none && f.records.empty() && !d.org_domain.empty() &&
      d.org_domain != d.from_domain) {
    // Step 3: the organizational domain.
    f = co_await fetch(dns, d.org_domain, d.dns_queries);
    where = d.org_domain;
  }
  if (f.status != DiscoveryStatus::none) {
    d.status = f.status;
    d.problem = std::move(f.problem);
    co_return d;
  }
  // Step 5.
  if (f.records.empty()) {
    d.problem = f.problem.empty() ? fmt::format("no DMARC record for {}", d.from_domain) : std::move(f.problem);
    co_return d;
  }
  if (f.records.size() > 1) {
    d.problem = fmt::format("{} DMARC records at _dmarc.{}", f.records.size(), where);
    co_return d;
  }
  // Step 6 (inside parse_record).
  auto rec = parse_record(f.records.front());
  d.record_text = std::move(f.records.front());
  if (!rec) {
    d.problem = fmt::format("_dmarc.{}: {}", where, rec.error().message);
    co_return d;
  }
  d.status = DiscoveryStatus::found;
  d.record = std::move(*rec);
  d.policy_domain = std::move(where);
  co_return d;
}

}  // namespace gatehouse::auth::dmarc
