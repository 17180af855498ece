// Per-message DMARC results (issue "Email authentication" item 4): what the aggregate (RFC 7489
// Appendix C) and failure reports of a later issue are built from, and the line written to the
// separate DMARC log file. Pure: built from an auth::CheckResult and the SMTP context.
// Must not: keep message content (only domains, selectors, results, the client's address and
// HELO name, and the queue id).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gatehouse/auth/check.hpp"

namespace gatehouse::report {

struct DkimObservation {
  std::string domain;
  std::string selector;
  std::string result;  // RFC 8601 spelling: pass, fail, neutral, policy, temperror, permerror
  bool aligned = false;
};

struct DmarcObservation {
  std::int64_t time = 0;        // Unix seconds
  std::string queue_id;         // "" when the message was refused
  std::string source_ip;
  std::string helo;
  std::string envelope_from;    // MAIL FROM domain ("" for the null reverse-path)
  std::string header_from;      // RFC5322.From domain ("" when there is none)
  std::string from_problem;     // why the From field is unusable ("" when it is fine)
  std::string spf_domain;
  std::string spf_scope;        // mfrom | helo
  std::string spf_result;
  bool spf_aligned = false;     // aligned pass
  std::vector<DkimObservation> dkim;
  bool dkim_aligned = false;    // aligned pass
  std::string dmarc_result;     // none | pass | fail | temperror | permerror
  std::string policy_domain;    // where the record was found ("" if none)
  std::string p, sp;            // p and sp as published ("" if none / absent)
  unsigned pct = 100;
  std::string adkim, aspf;      // "r" | "s"
  std::string rua, ruf;         // URIs, comma-separated
  std::string requested;        // the policy that applied to this message (p, or sp for a subdomain)
  std::string disposition;      // what the policy asked for after pct: none | quarantine | reject
  std::string applied;          // what the gateway did: none | quarantine (marked) | reject (refused)
  std::string override_reason;  // local_policy (a reject that was not honoured), sampled_out, ...
  std::string action;           // accepted | marked | rejected
};

// Fills an observation from a check result. `queue_id` is "" for a refused message.
DmarcObservation observe(const auth::CheckResult& result, const auth::CheckRequest& request,
                         std::string queue_id);

// The DMARC log line (no time stamp: the logger adds it), key=value fields, values that could
// hold spaces quoted:
// "<queue-id|-> dmarc=fail header_from=example.org policy=reject disposition=reject applied=none
//  action=marked override=local_policy spf=fail spf_domain=example.org spf_aligned=no dkim=none
//  dkim_aligned=no client=192.0.2.1 policy_domain=example.org"
std::string log_line(const DmarcObservation& o);

}  // namespace gatehouse::report
