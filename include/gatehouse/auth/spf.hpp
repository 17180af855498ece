// SPF (RFC 7208): the public API of the feature. check_host() (§4) evaluates the SPF policy of a
// domain for a client IP over a dns::Resolver the caller passes in (mail-auth style: parsing is
// pure, verifying does DNS through the caller's resolver). The pure pieces (results, record
// parser, macros) come from spf_record.hpp, included here.
// Identities: spf_mail_from() builds the MAIL FROM check (§2.4; a null reverse-path checks
// postmaster@<HELO>), spf_helo() the HELO check (§2.3).
// Must not: read the clock (the time for %{t} is passed in), open sockets itself, or throw for
// anything a DNS answer or record contains. Time limits (§4.6.4: SHOULD stop after ~20 s) are
// the caller's: cancel the awaitable (e.g. with a deadline timer) and treat that as temperror.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::auth {

// §4.6.4 processing limits. The defaults are the RFC's numbers.
struct SpfLimits {
  unsigned dns_terms = 10;    // include, a, mx, ptr, exists, redirect per check (MUST be <= 10)
  unsigned void_lookups = 2;  // terms whose DNS answer is NXDOMAIN or empty (SHOULD be 2)
  unsigned mx_names = 10;     // address look-ups per "mx" (more MX names: permerror)
  unsigned ptr_names = 10;    // PTR names checked per "ptr" / %{p} (the rest are ignored)
};

enum class SpfIdentity { mail_from, helo };

struct SpfRequest {
  core::IpAddress ip;            // <ip>: the SMTP client (IPv4-mapped IPv6 is treated as IPv4)
  std::string domain;            // <domain>: initial domain (MAIL FROM domain or HELO name)
  std::string sender;            // <sender>: MAIL FROM, or postmaster@<helo> for a null sender
  std::string helo;              // HELO/EHLO argument, for %{h}
  std::string receiver;          // our host name, for %{r} ("unknown" when empty)
  std::int64_t now = 0;          // seconds since the epoch, for %{t}
  SpfIdentity identity = SpfIdentity::mail_from;
  // Returned as the explanation of a "fail" when the record has no usable exp= (§6.2).
  std::string default_explanation = "the domain of the sender does not designate this host as a permitted sender";
  SpfLimits limits;
};

// MAIL FROM identity (§2.4). `mail_from` is the reverse-path without brackets; empty (the null
// reverse-path "<>") checks postmaster@<helo> instead. A mail_from without '@' is taken as a
// bare domain; an empty local-part becomes "postmaster" (§4.3).
SpfRequest spf_mail_from(const core::IpAddress& ip, std::string_view mail_from, std::string_view helo,
                         std::string_view receiver, std::int64_t now);
// HELO identity (§2.3): <domain> is the HELO name, <sender> is postmaster@<helo>.
SpfRequest spf_helo(const core::IpAddress& ip, std::string_view helo, std::string_view receiver,
                    std::int64_t now);

struct SpfOutcome {
  SpfResult result = SpfResult::none;
  std::string mechanism;    // the term that matched as written ("-all", "ip4:192.0.2.0/24"); "" if none did
  std::string domain;       // the domain whose record gave the result (after redirects)
  std::string explanation;  // fail only: the exp= text (§6.2), else request.default_explanation
  std::string problem;      // why: permerror/temperror details, or why the result is none
  unsigned dns_lookups = 0; // §4.6.4 terms counted (include, a, mx, ptr, exists, redirect)
  unsigned void_lookups = 0;
  unsigned dns_queries = 0; // every query sent to the resolver, for logs and tests
};

// check_host() (§4). The request is taken by value so that the coroutine owns it; `dns` must
// outlive the awaitable. DNS timeouts/SERVFAIL give temperror (§4.4, §5), never an exception;
// exceptions from the resolver itself (cancellation) propagate.
boost::asio::awaitable<SpfOutcome> check_host(dns::Resolver& dns, SpfRequest request);

}  // namespace gatehouse::auth
