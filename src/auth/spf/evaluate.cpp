// check_host() (RFC 7208 §4) over a dns::Resolver: record lookup and selection (§4.4, §4.5),
// mechanism evaluation (§5: all, include, a, mx, ptr, ip4, ip6, exists), redirect= and exp=
// (§6), the include result table (§5.2), the %{p} validated name (§5.5, §7.3), and the
// processing limits (§4.6.4: 10 DNS-querying terms, 2 void lookups, 10 MX / PTR names).
// Only TXT is queried for records; the SPF RR type (99) never is (§3.1, §4.4).
// Must not: read the clock, throw on anything found in DNS, or query a name that is not a valid
// DNS name (such targets simply do not match, §4.3 by analogy; the suite accepts this).
// Coroutines here never co_await an expression holding a capturing lambda (toolchain.md §4.1).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "gatehouse/auth/spf.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth {

namespace {

using boost::asio::awaitable;

// What one record evaluation decided, and which record decided it (its exp= is the one used).
struct Verdict {
  SpfResult result = SpfResult::none;
  std::string mechanism;
  std::string problem;
  std::string domain;
  std::shared_ptr<const SpfRecord> record;
};

enum class Match { no, yes, error };

struct Step {
  Match match = Match::no;
  SpfResult error = SpfResult::permerror;
  std::string problem;
};

Step no_match() { return Step{}; }
Step matched() { return Step{Match::yes, SpfResult::permerror, {}}; }
Step failure(SpfResult r, std::string problem) { return Step{Match::error, r, std::move(problem)}; }

struct Target {
  bool ok = false;
  std::string name;
  std::string problem;
};

std::string strip_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return std::string(s);
}

// SERVFAIL, timeout, REFUSED, FORMERR...: RFC 7208 §4.4 and §5 turn any RCODE other than 0 and 3
// into temperror (where the mechanism does not say otherwise).
bool is_error(const dns::Answer& a) {
  return a.status == dns::Status::temp_failure || a.status == dns::Status::perm_failure;
}

bool is_void(const dns::Answer& a, dns::RrType t) {
  if (a.status == dns::Status::nxdomain) return true;
  switch (t) {
    case dns::RrType::A:
    case dns::RrType::AAAA: return a.addrs.empty();
    case dns::RrType::MX: return a.mx.empty();
    case dns::RrType::TXT: return a.txt.empty();
    default: return a.names.empty();
  }
}

std::string describe(const dns::Answer& a, dns::RrType t, std::string_view name) {
  return fmt::format("DNS {} look-up of '{}' failed: {}", dns::to_string(t), name,
                     a.error.empty() ? dns::to_string(a.status) : std::string_view(a.error));
}

// `name` equals `domain` or is a subdomain of it (ASCII case-insensitive, trailing dots ignored).
bool name_within(std::string_view name, std::string_view domain) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (name.size() < domain.size()) return false;
  if (!core::iequals(name.substr(name.size() - domain.size()), domain)) return false;
  return name.size() == domain.size() || name[name.size() - domain.size() - 1] == '.';
}

class Evaluator {
 public:
  Evaluator(dns::Resolver& dns, const SpfRequest& req)
      : dns_(dns),
        req_(req),
        ip_(req.ip.unmapped()),
        vars_(make_macro_vars(req.ip, req.sender, req.helo, req.receiver, req.now)) {}

  awaitable<SpfOutcome> run();

 private:
  awaitable<dns::Answer> query(std::string name, dns::RrType type);
  awaitable<Verdict> check(std::string domain);
  awaitable<Step> evaluate(const SpfDirective& d, const std::string& domain);
  awaitable<Step> match_address(const SpfDirective& d, const std::string& domain);  // a
  awaitable<Step> match_mx(const SpfDirective& d, const std::string& domain);
  awaitable<Step> match_ptr(const SpfDirective& d, const std::string& domain);
  awaitable<Step> match_exists(const SpfDirective& d, const std::string& domain);
  awaitable<Step> match_include(const SpfDirective& d, const std::string& domain);
  awaitable<Target> target_name(const std::optional<MacroString>& spec, const std::string& domain);
  awaitable<void> load_validated_names();
  std::string choose_validated(const std::string& domain) const;
  awaitable<std::optional<std::string>> explanation(const MacroString& exp, const std::string& domain);

  bool count_term(Step& s);
  bool count_void(Step& s);
  dns::RrType address_type() const { return ip_.v6 ? dns::RrType::AAAA : dns::RrType::A; }
  bool any_address_matches(const dns::Answer& a, const SpfDirective& d) const;

  dns::Resolver& dns_;
  const SpfRequest& req_;
  core::IpAddress ip_;  // unmapped: an IPv4-mapped IPv6 client is an IPv4 client (§5)
  MacroVars vars_;
  unsigned lookups_ = 0;
  unsigned voids_ = 0;
  unsigned queries_ = 0;
  bool ptr_loaded_ = false;
  std::vector<std::string> validated_;  // validated PTR names for %{p}
};

awaitable<dns::Answer> Evaluator::query(std::string name, dns::RrType type) {
  ++queries_;
  dns::Answer a = co_await dns_.query(std::move(name), type);
  co_return a;
}

bool Evaluator::count_term(Step& s) {
  if (++lookups_ <= req_.limits.dns_terms) return true;
  s = failure(SpfResult::permerror,
              fmt::format("more than {} DNS-querying terms (include, a, mx, ptr, exists, redirect; RFC 7208 §4.6.4)",
                          req_.limits.dns_terms));
  return false;
}

bool Evaluator::count_void(Step& s) {
  if (++voids_ <= req_.limits.void_lookups) return true;
  s = failure(SpfResult::permerror, fmt::format("more than {} void DNS look-ups (RFC 7208 §4.6.4)",
                                                req_.limits.void_lookups));
  return false;
}

bool Evaluator::any_address_matches(const dns::Answer& a, const SpfDirective& d) const {
  unsigned prefix = ip_.v6 ? d.cidr6 : d.cidr4;
  return std::any_of(a.addrs.begin(), a.addrs.end(),
                     [this, prefix](const core::IpAddress& x) { return in_network(ip_, x, prefix); });
}

awaitable<Target> Evaluator::target_name(const std::optional<MacroString>& spec, const std::string& domain) {
  Target t;
  if (!spec) {
    t.ok = true;
    t.name = domain;
    co_return t;
  }
  vars_.domain = domain;
  if (spec->uses('p')) {
    co_await load_validated_names();
    vars_.validated = choose_validated(domain);
  }
  auto e = expand_domain_spec(*spec, vars_);
  if (!e) {
    t.problem = e.error().message;
    co_return t;
  }
  t.ok = true;
  t.name = std::move(*e);
  co_return t;
}

// §5.5 steps, used by %{p}: PTR names of <ip> (at most ptr_names), each kept if one of its
// addresses is <ip>. DNS errors just leave names out.
awaitable<void> Evaluator::load_validated_names() {
  if (ptr_loaded_) co_return;
  ptr_loaded_ = true;
  dns::Answer ptr = co_await query(dns::reverse_name(ip_), dns::RrType::PTR);
  if (ptr.status != dns::Status::ok) co_return;
  std::size_t n = std::min<std::size_t>(ptr.names.size(), req_.limits.ptr_names);
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = strip_dot(ptr.names[i]);
    if (!is_query_name(name)) continue;
    dns::Answer a = co_await query(name, address_type());
    if (a.status != dns::Status::ok) continue;
    for (const auto& x : a.addrs) {
      if (in_network(ip_, x, ip_.v6 ? 128 : 32)) {
        validated_.push_back(name);
        break;
      }
    }
  }
}

// §7.3 "p": <domain> itself if validated, else a validated subdomain of it, else any validated
// name, else "unknown".
std::string Evaluator::choose_validated(const std::string& domain) const {
  if (validated_.empty()) return "unknown";
  for (const auto& n : validated_)
    if (core::iequals(strip_dot(n), strip_dot(domain))) return n;
  for (const auto& n : validated_)
    if (name_within(n, domain)) return n;
  return validated_.front();
}

awaitable<Step> Evaluator::evaluate(const SpfDirective& d, const std::string& domain) {
  switch (d.mechanism) {
    case SpfMechanism::all:
      co_return matched();
    case SpfMechanism::ip4:
      co_return (!ip_.v6 && in_network(ip_, d.network, d.cidr4)) ? matched() : no_match();
    case SpfMechanism::ip6:
      co_return (ip_.v6 && in_network(ip_, d.network, d.cidr6)) ? matched() : no_match();
    case SpfMechanism::a: {
      Step s = co_await match_address(d, domain);
      co_return s;
    }
    case SpfMechanism::mx: {
      Step s = co_await match_mx(d, domain);
      co_return s;
    }
    case SpfMechanism::ptr: {
      Step s = co_await match_ptr(d, domain);
      co_return s;
    }
    case SpfMechanism::exists: {
      Step s = co_await match_exists(d, domain);
      co_return s;
    }
    case SpfMechanism::include: {
      Step s = co_await match_include(d, domain);
      co_return s;
    }
  }
  co_return failure(SpfResult::permerror, "unknown mechanism");
}

// §5.3 "a": A (IPv4 client) or AAAA (IPv6 client) records of the target, compared with the CIDR
// length for the client's family.
awaitable<Step> Evaluator::match_address(const SpfDirective& d, const std::string& domain) {
  Step s;
  if (!count_term(s)) co_return s;
  Target t = co_await target_name(d.target, domain);
  if (!t.ok) co_return failure(SpfResult::permerror, fmt::format("'{}': {}", d.text, t.problem));
  if (!is_query_name(t.name)) co_return no_match();
  const auto type = address_type();
  dns::Answer a = co_await query(t.name, type);
  if (is_error(a)) co_return failure(SpfResult::temperror, describe(a, type, t.name));
  if (is_void(a, type)) {
    if (!count_void(s)) co_return s;
    co_return no_match();
  }
  co_return any_address_matches(a, d) ? matched() : no_match();
}

// §5.4 "mx": addresses of the target's MX hosts; no fallback to the target's own A records
// (§5.4); a null MX has no hosts; more than mx_names hosts is a permerror (§4.6.4).
awaitable<Step> Evaluator::match_mx(const SpfDirective& d, const std::string& domain) {
  Step s;
  if (!count_term(s)) co_return s;
  Target t = co_await target_name(d.target, domain);
  if (!t.ok) co_return failure(SpfResult::permerror, fmt::format("'{}': {}", d.text, t.problem));
  if (!is_query_name(t.name)) co_return no_match();
  dns::Answer mx = co_await query(t.name, dns::RrType::MX);
  if (is_error(mx)) co_return failure(SpfResult::temperror, describe(mx, dns::RrType::MX, t.name));
  if (is_void(mx, dns::RrType::MX)) {
    if (!count_void(s)) co_return s;
    co_return no_match();
  }
  std::vector<std::string> hosts;
  for (const auto& r : mx.mx)
    if (!r.exchange.empty() && r.exchange != ".") hosts.push_back(strip_dot(r.exchange));
  if (hosts.size() > req_.limits.mx_names)
    co_return failure(SpfResult::permerror, fmt::format("'{}': {} has {} MX hosts, more than {} (RFC 7208 §4.6.4)",
                                                        d.text, t.name, hosts.size(), req_.limits.mx_names));
  const auto type = address_type();
  for (const auto& host : hosts) {
    if (!is_query_name(host)) continue;
    dns::Answer a = co_await query(host, type);
    if (is_error(a)) co_return failure(SpfResult::temperror, describe(a, type, host));
    if (any_address_matches(a, d)) co_return matched();
  }
  co_return no_match();
}

// §5.5 "ptr": PTR names of <ip> (first ptr_names only) that are the target or below it and
// resolve back to <ip>. A failed PTR look-up is a no-match; failed address look-ups skip the
// name. Names outside the target are not validated: they could not match anyway.
awaitable<Step> Evaluator::match_ptr(const SpfDirective& d, const std::string& domain) {
  Step s;
  if (!count_term(s)) co_return s;
  Target t = co_await target_name(d.target, domain);
  if (!t.ok) co_return failure(SpfResult::permerror, fmt::format("'{}': {}", d.text, t.problem));
  if (!is_query_name(t.name)) co_return no_match();
  dns::Answer ptr = co_await query(dns::reverse_name(ip_), dns::RrType::PTR);
  if (is_error(ptr)) co_return no_match();
  if (is_void(ptr, dns::RrType::PTR)) {
    if (!count_void(s)) co_return s;
    co_return no_match();
  }
  const auto type = address_type();
  std::size_t n = std::min<std::size_t>(ptr.names.size(), req_.limits.ptr_names);
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = strip_dot(ptr.names[i]);
    if (!name_within(name, t.name) || !is_query_name(name)) continue;
    dns::Answer a = co_await query(name, type);
    if (a.status != dns::Status::ok) continue;
    for (const auto& x : a.addrs)
      if (in_network(ip_, x, ip_.v6 ? 128 : 32)) co_return matched();
  }
  co_return no_match();
}

// §5.7 "exists": any A record (always A, also for IPv6 clients).
awaitable<Step> Evaluator::match_exists(const SpfDirective& d, const std::string& domain) {
  Step s;
  if (!count_term(s)) co_return s;
  Target t = co_await target_name(d.target, domain);
  if (!t.ok) co_return failure(SpfResult::permerror, fmt::format("'{}': {}", d.text, t.problem));
  if (!is_query_name(t.name)) co_return no_match();
  dns::Answer a = co_await query(t.name, dns::RrType::A);
  if (is_error(a)) co_return failure(SpfResult::temperror, describe(a, dns::RrType::A, t.name));
  if (is_void(a, dns::RrType::A)) {
    if (!count_void(s)) co_return s;
    co_return no_match();
  }
  co_return matched();
}

// §5.2 "include": recursive check_host() on the target; pass matches, fail/softfail/neutral do
// not, temperror and permerror propagate, none is a permerror. The included record's exp= is
// never used (§6.2).
awaitable<Step> Evaluator::match_include(const SpfDirective& d, const std::string& domain) {
  Step s;
  if (!count_term(s)) co_return s;
  Target t = co_await target_name(d.target, domain);
  if (!t.ok) co_return failure(SpfResult::permerror, fmt::format("'{}': {}", d.text, t.problem));
  Verdict r = co_await check(t.name);
  // Errors from nested includes already name their include: keep the innermost context only.
  std::string problem = r.problem.rfind("'include:", 0) == 0 ? std::move(r.problem)
                                                              : fmt::format("'{}': {}", d.text, r.problem);
  switch (r.result) {
    case SpfResult::pass: co_return matched();
    case SpfResult::fail:
    case SpfResult::softfail:
    case SpfResult::neutral: co_return no_match();
    case SpfResult::temperror: co_return failure(SpfResult::temperror, std::move(problem));
    case SpfResult::permerror: co_return failure(SpfResult::permerror, std::move(problem));
    case SpfResult::none:
      co_return failure(SpfResult::permerror, fmt::format("'{}': {} (an include target must have an SPF record, "
                                                          "RFC 7208 §5.2)", d.text, r.problem));
  }
  co_return no_match();
}

// One check_host() level (§4.3 - §4.7): fetch and select the record, then evaluate it.
awaitable<Verdict> Evaluator::check(std::string domain) {
  Verdict v;
  domain = strip_dot(domain);
  v.domain = domain;
  if (!is_spf_domain(domain)) {
    v.problem = fmt::format("'{}' is not a usable domain name (RFC 7208 §4.3)", domain);
    co_return v;  // none
  }
  dns::Answer txt = co_await query(domain, dns::RrType::TXT);
  if (is_error(txt)) {
    v.result = SpfResult::temperror;
    v.problem = describe(txt, dns::RrType::TXT, domain);
    co_return v;
  }
  const std::string* text = nullptr;
  std::size_t count = 0;
  for (const auto& t : txt.txt) {
    if (is_spf_record(t)) {
      ++count;
      text = &t;
    }
  }
  if (count == 0) {
    v.problem = fmt::format("no SPF record at '{}'", domain);
    co_return v;  // none
  }
  if (count > 1) {
    v.result = SpfResult::permerror;
    v.problem = fmt::format("'{}' publishes {} SPF records; exactly one is allowed (RFC 7208 §4.5)", domain, count);
    co_return v;
  }
  auto parsed = parse_spf(*text);
  if (!parsed) {
    v.result = SpfResult::permerror;
    v.problem = fmt::format("SPF record of '{}': {}", domain, parsed.error().message);
    co_return v;
  }
  auto record = std::make_shared<const SpfRecord>(std::move(*parsed));
  v.record = record;
  for (const auto& d : record->directives) {
    Step s = co_await evaluate(d, domain);
    if (s.match == Match::error) {
      v.result = s.error;
      v.problem = std::move(s.problem);
      co_return v;
    }
    if (s.match == Match::yes) {
      v.result = result_of(d.qualifier);
      v.mechanism = d.text;
      co_return v;
    }
  }
  // §6.1: redirect= applies only when no mechanism matched (and is ignored when the record has
  // "all", which always matches).
  if (record->redirect && !record->has_all()) {
    Step s;
    if (!count_term(s)) {
      v.result = s.error;
      v.problem = std::move(s.problem);
      co_return v;
    }
    Target t = co_await target_name(record->redirect, domain);
    if (!t.ok || !is_spf_domain(t.name)) {
      v.result = SpfResult::permerror;
      v.problem = t.ok ? fmt::format("redirect={}: '{}' is not a usable domain name", record->redirect->source, t.name)
                       : fmt::format("redirect={}: {}", record->redirect->source, t.problem);
      co_return v;
    }
    Verdict r = co_await check(t.name);
    if (r.result == SpfResult::none) {
      r.result = SpfResult::permerror;  // §6.1: a redirect target without a record is a permerror
      r.problem = fmt::format("redirect={}: {}", record->redirect->source, r.problem);
    }
    co_return r;
  }
  v.result = SpfResult::neutral;  // §4.7 default
  co_return v;
}

// §6.2: the exp= text, or nothing when anything about it is wrong (then the default is used).
awaitable<std::optional<std::string>> Evaluator::explanation(const MacroString& exp, const std::string& domain) {
  std::optional<MacroString> spec = exp;
  Target t = co_await target_name(spec, domain);
  if (!t.ok || !is_query_name(t.name)) co_return std::nullopt;
  dns::Answer a = co_await query(t.name, dns::RrType::TXT);
  if (a.status != dns::Status::ok || a.txt.size() != 1 || a.txt.front().size() > kMaxRecordLength)
    co_return std::nullopt;
  auto m = parse_macro_string(a.txt.front(), MacroContext::explain_string);  // US-ASCII only
  if (!m) co_return std::nullopt;
  vars_.domain = domain;
  if (m->uses('p')) {
    co_await load_validated_names();
    vars_.validated = choose_validated(domain);
  }
  auto text = expand_macros(*m, vars_);
  if (!text) co_return std::nullopt;
  co_return std::move(*text);
}

awaitable<SpfOutcome> Evaluator::run() {
  SpfOutcome out;
  Verdict v = co_await check(req_.domain);
  out.result = v.result;
  out.mechanism = std::move(v.mechanism);
  out.problem = std::move(v.problem);
  out.domain = v.domain;
  if (v.result == SpfResult::fail) {
    out.explanation = req_.default_explanation;
    if (v.record && v.record->exp) {
      std::optional<std::string> e = co_await explanation(*v.record->exp, v.domain);
      if (e) out.explanation = std::move(*e);
    }
  }
  out.dns_lookups = lookups_;
  out.void_lookups = voids_;
  out.dns_queries = queries_;
  co_return out;
}

}  // namespace

SpfRequest spf_helo(const core::IpAddress& ip, std::string_view helo, std::string_view receiver, std::int64_t now) {
  SpfRequest r;
  r.ip = ip;
  r.domain = std::string(helo);
  r.sender = fmt::format("postmaster@{}", helo);
  r.helo = std::string(helo);
  r.receiver = std::string(receiver);
  r.now = now;
  r.identity = SpfIdentity::helo;
  return r;
}

SpfRequest spf_mail_from(const core::IpAddress& ip, std::string_view mail_from, std::string_view helo,
                         std::string_view receiver, std::int64_t now) {
  SpfRequest r = spf_helo(ip, helo, receiver, now);  // null reverse-path: postmaster@<helo> (§2.4)
  r.identity = SpfIdentity::mail_from;
  if (mail_from.empty()) return r;
  auto at = mail_from.rfind('@');
  std::string_view local = at == std::string_view::npos ? std::string_view() : mail_from.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? mail_from : mail_from.substr(at + 1);
  r.domain = std::string(domain);
  r.sender = local.empty() ? fmt::format("postmaster@{}", domain) : std::string(mail_from);  // §4.3
  return r;
}

awaitable<SpfOutcome> check_host(dns::Resolver& dns, SpfRequest request) {
  Evaluator ev(dns, request);
  SpfOutcome out = co_await ev.run();
  co_return out;
}

}  // namespace gatehouse::auth
