// DMARC observations from check results, and the DMARC log line. Pure.
// Must not: copy header text into the line except validated domain names, selectors and
// keyword results (the From domain is validated by dmarc::from_domain; HELO names are sanitised).
#include "gatehouse/report/observation.hpp"

#include <fmt/format.h>

#include "gatehouse/core/strings.hpp"

namespace gatehouse::report {

namespace {

std::string join_uris(const std::vector<auth::dmarc::ReportUri>& uris) {
  std::string out;
  for (const auto& u : uris) {
    if (!out.empty()) out += ',';
    out += u.uri;
  }
  return out;
}

std::string safe(std::string_view v) { return core::log_value(v); }

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
}

}  // namespace

DmarcObservation observe(const auth::CheckResult& r, const auth::CheckRequest& req, std::string queue_id) {
  namespace dm = auth::dmarc;
  DmarcObservation o;
  o.time = req.now;
  o.queue_id = std::move(queue_id);
  o.source_ip = req.ip.to_string();
  o.helo = req.helo;
  o.envelope_from = domain_of(req.mail_from);
  o.header_from = r.from.ok() ? r.from.domain : std::string();
  o.from_problem = r.from.ok() ? std::string() : std::string(dm::to_string(r.from.problem));
  const auto& d = r.dmarc;
  if (!d.spf.domain.empty()) {
    o.spf_domain = d.spf.domain;
    o.spf_scope = std::string(dm::to_string(d.spf.scope));
  } else {
    o.spf_domain = o.envelope_from.empty() ? req.helo : o.envelope_from;
    o.spf_scope = o.envelope_from.empty() ? "helo" : "mfrom";
  }
  o.spf_result = std::string(auth::to_string(r.spf.result));
  o.spf_aligned = d.spf_aligned_pass;
  o.dkim_aligned = d.dkim_aligned_pass;
  for (std::size_t i = 0; i < r.dkim.size(); ++i) {
    DkimObservation k;
    k.domain = r.dkim[i].domain;
    k.selector = r.dkim[i].selector;
    k.result = std::string(auth::dkim::to_string(r.dkim[i].result));
    if (i < d.dkim.size()) k.aligned = d.dkim[i].aligned;
    o.dkim.push_back(std::move(k));
  }
  o.dmarc_result = std::string(dm::to_string(d.result));
  if (!r.from.ok()) o.dmarc_result = "permerror";
  o.policy_domain = d.policy_domain;
  if (d.record) {
    const auto& rec = *d.record;
    o.p = std::string(dm::to_string(rec.p));
    o.sp = rec.sp ? std::string(dm::to_string(*rec.sp)) : std::string();
    o.pct = rec.pct;
    o.adkim = std::string(dm::to_string(rec.adkim));
    o.aspf = std::string(dm::to_string(rec.aspf));
    o.rua = join_uris(rec.rua);
    o.ruf = join_uris(rec.ruf);
    o.requested = std::string(dm::to_string(d.requested));
  }
  o.disposition = std::string(dm::to_string(d.disposition));
  o.applied = std::string(dm::to_string(r.action.applied));
  if (r.action.override_reason) o.override_reason = std::string(dm::to_string(*r.action.override_reason));
  else if (!d.overrides.empty()) o.override_reason = std::string(dm::to_string(d.overrides.front()));
  switch (r.action.kind) {
    case dm::Action::Kind::accept: o.action = "accepted"; break;
    case dm::Action::Kind::add_header: o.action = "marked"; break;
    case dm::Action::Kind::reject: o.action = "rejected"; break;
  }
  return o;
}

std::string log_line(const DmarcObservation& o) {
  std::string dkim;
  for (const auto& k : o.dkim) {
    if (!dkim.empty()) dkim += ',';
    dkim += fmt::format("{}:{}:{}", safe(k.result), safe(k.domain), safe(k.selector));
  }
  std::string line = fmt::format(
      "{} dmarc={} header_from={} policy={} disposition={} applied={} action={}", safe(o.queue_id), safe(o.dmarc_result),
      safe(o.header_from), safe(o.requested), safe(o.disposition), safe(o.applied), safe(o.action));
  if (!o.override_reason.empty()) line += fmt::format(" override={}", safe(o.override_reason));
  if (!o.from_problem.empty()) line += fmt::format(" from_problem={}", safe(o.from_problem));
  line += fmt::format(" spf={} spf_domain={} spf_aligned={} dkim={} dkim_aligned={} client={} helo={} policy_domain={}",
                      safe(o.spf_result), safe(o.spf_domain), o.spf_aligned ? "yes" : "no",
                      dkim.empty() ? std::string("none") : dkim, o.dkim_aligned ? "yes" : "no", safe(o.source_ip),
                      safe(o.helo), safe(o.policy_domain));
  if (!o.p.empty()) line += fmt::format(" p={} sp={} pct={}", safe(o.p), safe(o.sp), o.pct);
  return line;
}

}  // namespace gatehouse::report
