// DMARC evaluation (RFC 7489): identifier alignment (§3.1.1 DKIM, §3.1.2 SPF, relaxed through the
// organizational domain of §3.2), the result (§4.2, §6.6.2), which policy applies (§6.3 p / sp,
// sp only for a record found at the organizational domain, §6.6.3), pct sampling (§6.6.4: an
// unselected reject becomes quarantine, an unselected quarantine becomes none), temperror when an
// aligned check failed temporarily and nothing passed (§6.6.2), and the Authentication-Results
// text (§11.2 result values). The SPF identity is MAIL FROM, or HELO for
// a null MAIL FROM (§3.1.2 with RFC 7208 §2.4).
// Pure: values in, values out; the pct random number is an input. Must not: throw, read the
// clock, or put anything into the Authentication-Results text that is not a plain domain name.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc {

namespace {

// A-label form, or "" for a name that cannot be used.
std::string canonical(std::string_view domain) { return psl::to_ascii(domain).value_or(std::string()); }

// Organizational domain of an A-label name, or the name itself when it has none.
std::string org_or_self(const std::string& domain, const OrgDomainStrategy& org) {
  return org.organizational_domain(domain).value_or(domain);
}

bool aligned_canonical(const std::string& from, const std::string& auth, AlignmentMode mode,
                       const OrgDomainStrategy* org) {
  if (from.empty() || auth.empty()) return false;
  if (from == auth) return true;
  if (mode == AlignmentMode::strict || org == nullptr) return false;
  return org_or_self(from, *org) == org_or_self(auth, *org);
}

Policy lower(Policy p) {  // §6.6.4
  switch (p) {
    case Policy::reject: return Policy::quarantine;
    case Policy::quarantine:
    case Policy::none: return Policy::none;
  }
  return Policy::none;
}

// Letters, digits, '-', '_' and dots: safe inside a header field value as a pvalue.
bool plain_domain(std::string_view d) {
  if (d.empty()) return false;
  for (char c : d) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(DkimAuthResult r) {
  switch (r) {
    case DkimAuthResult::none: return "none";
    case DkimAuthResult::pass: return "pass";
    case DkimAuthResult::fail: return "fail";
    case DkimAuthResult::policy: return "policy";
    case DkimAuthResult::neutral: return "neutral";
    case DkimAuthResult::temperror: return "temperror";
    case DkimAuthResult::permerror: return "permerror";
  }
  return "?";
}

std::string_view to_string(SpfScope s) { return s == SpfScope::helo ? "helo" : "mfrom"; }

std::string_view to_string(DmarcVerdict v) {
  switch (v) {
    case DmarcVerdict::none: return "none";
    case DmarcVerdict::pass: return "pass";
    case DmarcVerdict::fail: return "fail";
    case DmarcVerdict::temperror: return "temperror";
    case DmarcVerdict::permerror: return "permerror";
  }
  return "?";
}

std::string_view to_string(PolicyOverride o) {
  switch (o) {
    case PolicyOverride::forwarded: return "forwarded";
    case PolicyOverride::sampled_out: return "sampled_out";
    case PolicyOverride::trusted_forwarder: return "trusted_forwarder";
    case PolicyOverride::mailing_list: return "mailing_list";
    case PolicyOverride::local_policy: return "local_policy";
    case PolicyOverride::other: return "other";
  }
  return "?";
}

SpfAuth spf_auth(SpfResult result, std::string_view mail_from, std::string_view helo) {
  SpfAuth a;
  a.result = result;
  if (!mail_from.empty() && mail_from.front() == '<' && mail_from.back() == '>') {
    mail_from.remove_prefix(1);
    mail_from.remove_suffix(mail_from.empty() ? 0 : 1);
  }
  if (const auto at = mail_from.rfind('@'); at != std::string_view::npos) mail_from.remove_prefix(at + 1);
  if (mail_from.empty()) {
    a.domain = std::string(helo);
    a.scope = SpfScope::helo;
  } else {
    a.domain = std::string(mail_from);
    a.scope = SpfScope::mfrom;
  }
  return a;
}

bool aligned(std::string_view from_domain, std::string_view auth_domain, AlignmentMode mode,
             const OrgDomainStrategy* org) {
  return aligned_canonical(canonical(from_domain), canonical(auth_domain), mode, org);
}

DmarcResult evaluate(const DmarcInput& in) {
  DmarcResult r;
  r.from_domain = canonical(in.from_domain);
  r.spf = in.spf;
  r.spf.domain = canonical(in.spf.domain);
  const Record* rec = in.policy.status == DiscoveryStatus::found && in.policy.record ? &*in.policy.record : nullptr;
  const AlignmentMode aspf = rec ? rec->aspf : AlignmentMode::relaxed;
  const AlignmentMode adkim = rec ? rec->adkim : AlignmentMode::relaxed;
  const OrgDomainStrategy* org = in.org_domains;
  if (!r.from_domain.empty() && org) r.org_domain = org->organizational_domain(r.from_domain).value_or(std::string());

  // Alignment (§3.1), also when there is no record: the details go to logs and reports.
  r.spf_domain_aligned = aligned_canonical(r.from_domain, r.spf.domain, aspf, org);
  r.spf_aligned_pass = r.spf_domain_aligned && r.spf.result == SpfResult::pass;
  if (r.spf_domain_aligned && r.spf.result == SpfResult::temperror) r.aligned_temperror = true;
  r.dkim.reserve(in.dkim.size());
  for (const auto& sig : in.dkim) {
    DkimAlignment a;
    a.auth = sig;
    a.auth.domain = canonical(sig.domain);
    a.aligned = aligned_canonical(r.from_domain, a.auth.domain, adkim, org);
    if (a.aligned && a.auth.result == DkimAuthResult::pass) r.dkim_aligned_pass = true;
    if (a.aligned && a.auth.result == DkimAuthResult::temperror) r.aligned_temperror = true;
    r.dkim.push_back(std::move(a));
  }

  if (r.from_domain.empty()) {
    r.result = DmarcVerdict::permerror;
    r.problem = in.from_domain.empty() ? "no RFC5322.From domain"
                                       : fmt::format("'{}' is not a usable domain name", in.from_domain);
    return r;
  }
  switch (in.policy.status) {
    case DiscoveryStatus::temperror:
      r.result = DmarcVerdict::temperror;
      r.problem = in.policy.problem;
      return r;
    case DiscoveryStatus::permerror:
      r.result = DmarcVerdict::permerror;
      r.problem = in.policy.problem;
      return r;
    case DiscoveryStatus::none:
      r.result = DmarcVerdict::none;
      r.problem = in.policy.problem;
      return r;
    case DiscoveryStatus::found: break;
  }
  if (!rec) {  // "found" without a record: a caller bug, treated as no policy
    r.result = DmarcVerdict::none;
    r.problem = "discovery reported a record but holds none";
    return r;
  }
  r.record = *rec;
  r.policy_domain = in.policy.policy_domain;
  r.subdomain_policy = !r.policy_domain.empty() && r.policy_domain != r.from_domain;
  r.requested = r.subdomain_policy ? rec->sp.value_or(rec->p) : rec->p;

  if (r.spf_aligned_pass || r.dkim_aligned_pass) {
    r.result = DmarcVerdict::pass;
    return r;
  }
  if (r.aligned_temperror) {
    // §6.6.2: no aligned pass, and an aligned check failed temporarily: the receiver "cannot
    // apply the advertised DMARC policy". A retry may pass.
    r.result = DmarcVerdict::temperror;
    r.problem = "no aligned pass, and an aligned SPF or DKIM check had a temporary error";
    return r;
  }
  r.result = DmarcVerdict::fail;
  const unsigned sample = std::min(in.sample, 99u);
  r.sampled_in = sample < rec->pct;
  r.disposition = r.sampled_in ? r.requested : lower(r.requested);
  if (r.disposition != r.requested) r.overrides.push_back(PolicyOverride::sampled_out);
  return r;
}

std::string authentication_results(const DmarcResult& r, Policy applied) {
  std::string out = fmt::format("dmarc={}", to_string(r.result));
  if (r.result == DmarcVerdict::pass || r.result == DmarcVerdict::fail)
    out += fmt::format(" (p={} dis={})", to_string(r.requested), to_string(applied));
  if (plain_domain(r.from_domain)) out += fmt::format(" header.from={}", r.from_domain);
  return out;
}

}  // namespace gatehouse::auth::dmarc
