// DMARC (RFC 7489): the public API of the feature.
//  * parse_record(): the policy record (§6.3 tags, §6.4 ABNF). Pure.
//  * discover(): policy discovery over a dns::Resolver (§6.6.3): _dmarc.<From domain>, then
//    _dmarc.<organizational domain>. The organizational domain comes from an OrgDomainStrategy
//    (§3.2 PSL now; RFC 9989's DNS tree walk can be added as another strategy).
//  * evaluate(): identifier alignment (§3.1) and the DMARC result (§4.2, §6.6.2), the policy
//    that applies (p / sp, §6.3), pct sampling (§6.6.4), and the data that aggregate reports
//    need (Appendix C). Pure: the random number for pct is an input.
//  * apply_policy(): what the gateway does with a result (the seed product's rules,
//    DmarcOptions). remove_header_fields() strips the product header from incoming mail.
//  * from_domain(): the RFC5322.From domain (§3.1, §6.6.1), or why the message has none.
// Must not: throw for anything a record, a DNS answer or a header holds, read past the caps
// below, read the clock or use globals (the pct random number is passed in). Only discover()
// does IO, and only through the caller's resolver.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/auth/psl.hpp"
#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/error.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::auth::dmarc {

// ---------------------------------------------------------------------------------------------
// The policy record (§6.3, §6.4)

enum class Policy : std::uint8_t { none, quarantine, reject };
std::string_view to_string(Policy p);  // "none", "quarantine", "reject"

enum class AlignmentMode : std::uint8_t { relaxed, strict };  // adkim / aspf: "r" / "s"
std::string_view to_string(AlignmentMode m);                   // "r", "s"

struct ReportUri {
  std::string uri;                        // as written, e.g. "mailto:dmarc@example.com"
  std::optional<std::uint64_t> max_size;  // "!10m" -> 10485760 bytes; nullopt: no limit given
};

// fo (§6.3): when to send failure reports. The default is "0".
struct FailureOptions {
  bool all = true;    // "0": no mechanism produced an aligned pass
  bool any = false;   // "1": some mechanism failed to produce an aligned pass
  bool dkim = false;  // "d": a DKIM signature failed to verify
  bool spf = false;   // "s": SPF failed
};

struct Record {
  Policy p = Policy::none;
  std::optional<Policy> sp;          // absent: p applies to subdomains too
  unsigned pct = 100;                // 0..100
  AlignmentMode adkim = AlignmentMode::relaxed;
  AlignmentMode aspf = AlignmentMode::relaxed;
  std::vector<ReportUri> rua;        // syntactically valid URIs only
  std::vector<ReportUri> ruf;
  FailureOptions fo;
  std::vector<std::string> rf{"afrf"};  // lower case
  std::uint32_t ri = 86400;             // seconds; larger values are capped at 2^32-1
  // §6.6.3 step 6: p was missing or invalid, or sp was invalid, but rua holds a valid URI, so the
  // record is used as if it said p=none (sp is then dropped).
  bool p_defaulted = false;
  // Syntax errors in tags other than v (§6.3: "discarded in favor of default values"): each
  // names the tag and why. Unknown tags are ignored silently (§6.3: MUST be ignored).
  std::vector<std::string> problems;
};

inline constexpr std::size_t kMaxRecordLength = 4096;  // bytes of TXT text we parse
inline constexpr std::size_t kMaxReportUris = 16;       // per rua / ruf; more are dropped

// True if `txt` starts with the version tag "v=DMARC1" (WSP allowed around '=', "DMARC1"
// case-sensitive as in §6.4, then ';', WSP or the end). §6.6.3 steps 2 and 4 keep only these.
bool is_dmarc_record(std::string_view txt);

// Parses one record. An error means "no DMARC processing" (§6.3, §6.6.3): the text does not
// start with v=DMARC1, is longer than kMaxRecordLength, or has no valid p (or an invalid sp)
// and no valid rua URI. Tag names and keyword values are case-insensitive (ABNF literals).
Expected<Record> parse_record(std::string_view txt);

// ---------------------------------------------------------------------------------------------
// Organizational domains (§3.2) and policy discovery (§6.6.3)

// How the organizational domain of a name is found. Domains are in A-label form, lower case
// (psl::to_ascii); answers are too. nullopt: the name has none (it is a public suffix itself,
// or not a usable name). RFC 7489 mode uses PslStrategy. An RFC 9989 tree-walk strategy needs
// DNS: it would walk in its own coroutine first, then answer from what it found through this
// interface, so evaluate() stays pure.
class OrgDomainStrategy {
 public:
  virtual ~OrgDomainStrategy() = default;
  virtual std::string_view name() const = 0;
  virtual std::optional<std::string> organizational_domain(std::string_view domain) const = 0;
};

// RFC 7489 §3.2: the registrable domain under the Public Suffix List. Holds the list it was
// given (pin one list per message: PslStrategy(holder.get())); a null list acts as an empty one.
class PslStrategy final : public OrgDomainStrategy {
 public:
  explicit PslStrategy(std::shared_ptr<const psl::List> list, psl::LookupOptions options = {});
  std::string_view name() const override { return "psl"; }
  std::optional<std::string> organizational_domain(std::string_view domain) const override;

 private:
  std::shared_ptr<const psl::List> list_;
  psl::LookupOptions options_;
};

enum class DiscoveryStatus : std::uint8_t {
  found,      // one usable record (record holds it)
  none,       // no record, several records, or an unusable one: no DMARC processing
  temperror,  // a DNS query failed temporarily (SERVFAIL, timeout)
  permerror,  // a DNS query failed permanently (REFUSED, FORMERR) or the From domain is unusable
};
std::string_view to_string(DiscoveryStatus s);

struct Discovery {
  DiscoveryStatus status = DiscoveryStatus::none;
  std::optional<Record> record;  // status == found
  std::string from_domain;       // A-label form, lower case
  std::string org_domain;        // of from_domain; "" if it has none
  std::string policy_domain;     // where the record was found (no "_dmarc."); "" if none
  std::string record_text;       // the TXT text of the record used
  std::string problem;           // why none / temperror / permerror
  unsigned dns_queries = 0;
};

// §6.6.3: TXT at _dmarc.<from_domain>; records not starting with v=DMARC1 are discarded; if none
// are left and from_domain is not its own organizational domain, TXT at _dmarc.<org domain>.
// Several DMARC records at the name queried -> none (no fallback); an unusable record -> none.
// NXDOMAIN is "no records". `from_domain` may be UTF-8 (it is put into A-label form).
// `dns` and `org` must outlive the awaitable. No exception for DNS content; exceptions from the
// resolver itself (cancellation) propagate. Never co_awaits a capturing lambda (toolchain §4.1).
boost::asio::awaitable<Discovery> discover(dns::Resolver& dns, std::string from_domain,
                                           const OrgDomainStrategy& org);

// ---------------------------------------------------------------------------------------------
// Evaluation (§3.1, §4.2, §6.6.2, §6.6.4)

// The DKIM results DMARC looks at (Appendix C, DKIMResultType).
enum class DkimAuthResult : std::uint8_t { none, pass, fail, policy, neutral, temperror, permerror };
std::string_view to_string(DkimAuthResult r);

struct DkimAuth {
  std::string domain;    // the signature's d=
  std::string selector;  // s=, for aggregate reports
  DkimAuthResult result = DkimAuthResult::none;
};

enum class SpfScope : std::uint8_t { mfrom, helo };  // Appendix C, SPFDomainScope
std::string_view to_string(SpfScope s);

struct SpfAuth {
  std::string domain;  // the SPF-checked domain: MAIL FROM's, or HELO's for a null MAIL FROM
  SpfScope scope = SpfScope::mfrom;
  SpfResult result = SpfResult::none;
};

// The SPF identity DMARC uses (§3.1.2 and RFC 7208 §2.4): the domain of `mail_from` (the
// reverse-path without brackets; "" for the null path "<>"), or `helo` when it is null.
SpfAuth spf_auth(SpfResult result, std::string_view mail_from, std::string_view helo);

// §3.1.1 / §3.1.2: strict is equality of the two names; relaxed is equality of their
// organizational domains (a name without one stands for itself). Case-insensitive; UTF-8 and
// A-label forms compare equal. With no strategy, relaxed degrades to strict. Empty or unusable
// names never align.
bool aligned(std::string_view from_domain, std::string_view auth_domain, AlignmentMode mode,
             const OrgDomainStrategy* org);

enum class DmarcVerdict : std::uint8_t { none, pass, fail, temperror, permerror };  // §11.2
std::string_view to_string(DmarcVerdict v);

// Appendix C, PolicyOverrideType.
enum class PolicyOverride : std::uint8_t { forwarded, sampled_out, trusted_forwarder, mailing_list, local_policy, other };
std::string_view to_string(PolicyOverride o);

struct DmarcInput {
  std::string from_domain;  // the RFC5322.From domain (from_domain() below)
  SpfAuth spf;
  std::vector<DkimAuth> dkim;
  Discovery policy;                              // what discover() returned for from_domain
  const OrgDomainStrategy* org_domains = nullptr;  // for relaxed alignment; must be set in practice
  unsigned sample = 0;  // uniform random number in [0, 100) for pct (values >= 100 count as 99)
};

struct DkimAlignment {
  DkimAuth auth;         // domain in A-label form
  bool aligned = false;  // d= is aligned with the From domain (whatever the result)
};

struct DmarcResult {
  DmarcVerdict result = DmarcVerdict::none;
  std::string from_domain;    // header_from, A-label form
  std::string org_domain;     // its organizational domain ("" if none)
  std::string policy_domain;  // policy_published.domain ("" if no record)
  std::optional<Record> record;  // policy_published: p, sp, pct, adkim, aspf, fo, rua, ...

  Policy requested = Policy::none;  // p, or sp (else p) when the record is the org domain's
  bool subdomain_policy = false;    // the record came from the org domain for a subdomain
  bool sampled_in = true;           // pct selected this message (sample < pct)
  Policy disposition = Policy::none;  // what the policy asks for this message: none on pass;
                                      // after pct: reject -> quarantine, quarantine -> none
  std::vector<PolicyOverride> overrides;  // sampled_out when pct lowered the disposition

  // policy_evaluated: an aligned pass of each mechanism.
  bool spf_aligned_pass = false;
  bool dkim_aligned_pass = false;
  bool spf_domain_aligned = false;  // the SPF domain is aligned (whatever the result)
  bool aligned_temperror = false;   // an aligned identifier's SPF or DKIM check had a
                                    // temporary error (without an aligned pass: temperror)
  // auth_results and identifiers.
  SpfAuth spf;                       // domain in A-label form
  std::vector<DkimAlignment> dkim;   // in input order
  std::string problem;               // why none / temperror / permerror
};

// §4.2 / §6.6.2: pass if SPF passes for an aligned domain or any DKIM signature passes with an
// aligned d=. Otherwise, when a record was found: temperror if an aligned SPF or DKIM check had
// a temporary error (§6.6.2: the policy cannot be applied), else fail. No record -> none;
// discovery errors -> temperror / permerror; no usable From domain -> permerror. `requested` is
// filled in whenever a record was found; pct sampling and `disposition` only for fail.
DmarcResult evaluate(const DmarcInput& input);

// The Authentication-Results method result (§11.2 registers "dmarc" and header.from; RFC 8601
// §2.2 syntax; the p=/dis= comment is common practice):
// "dmarc=fail (p=reject dis=quarantine) header.from=example.com". `applied` is the disposition
// actually applied (Action::applied). header.from is left out if the domain is not a plain
// LDH name, so the text cannot carry anything that would break the header. No CRLF; the caller
// writes it through the header writer.
std::string authentication_results(const DmarcResult& r, Policy applied);

// ---------------------------------------------------------------------------------------------
// What the gateway does (the seed product's rules)

inline constexpr std::string_view kDefaultHeaderName = "X-SGDMARC-Fail-policy";

enum class InvalidFromAction : std::uint8_t { reject, mark };

struct DmarcOptions {
  bool honour_reject = false;  // "honour DMARC reject": off by default
  std::string header_name = std::string(kDefaultHeaderName);
  InvalidFromAction invalid_from = InvalidFromAction::reject;
};

// The header name must be a field-name (RFC 5322 §3.6.8: printable ASCII but ':', 1..76 bytes).
Status validate(const DmarcOptions& options);

struct Action {
  enum class Kind : std::uint8_t { accept, add_header, reject };
  Kind kind = Kind::accept;
  std::string header_name;   // add_header
  std::string header_value;  // add_header: "quarantine", "reject", "invalid-from"
  unsigned code = 0;         // reject: 550
  std::string enhanced;      // reject: "5.7.1"
  std::string text;          // reject: reply text (no code, no CRLF)
  Policy applied = Policy::none;  // the disposition applied: reject refuses, a header marks the
                                  // message (quarantine), accept is none
  std::optional<PolicyOverride> override_reason;  // local_policy when a reject was not honoured
};

// Only a DMARC fail acts, on result.disposition (after pct):
//   none       -> accept
//   quarantine -> add_header(<header_name>: quarantine)
//   reject     -> honour_reject ? reject(550 5.7.1) : add_header(<header_name>: reject)
// An invalid header_name falls back to kDefaultHeaderName.
Action apply_policy(const DmarcResult& result, const DmarcOptions& options);

// ---------------------------------------------------------------------------------------------
// Header fields

inline constexpr std::size_t kMaxHeaderSection = 1024 * 1024;  // bytes up to the blank line

struct HeaderRemoval {
  std::string headers;      // the input without the removed fields, otherwise byte for byte
  std::size_t removed = 0;  // fields removed
};

// Removes every field named `name` (case-insensitive; obsolete WSP before ':' allowed) with its
// folded continuation lines. The header section ends at the first empty line; that line and
// anything after it are copied unchanged. Lines may end in CRLF or LF. Error if the header
// section is longer than kMaxHeaderSection or `name` is empty.
Expected<HeaderRemoval> remove_header_fields(std::string_view header_block, std::string_view name);

enum class FromProblem : std::uint8_t {
  ok,
  missing,            // no From field
  several_fields,     // more than one From field (RFC 5322 §3.6 allows exactly one)
  several_addresses,  // a mailbox-list of more than one mailbox
  group,              // group syntax ("undisclosed-recipients:;")
  no_domain,          // a domain literal ("[192.0.2.1]") has no DNS domain
  unparseable,        // not a mailbox-list, or the domain is not a valid DNS name
  too_long,           // header section over kMaxHeaderSection, or the field over kMaxFromField
};
std::string_view to_string(FromProblem p);

inline constexpr std::size_t kMaxFromField = 16 * 1024;  // unfolded From field value

struct FromDomain {
  FromProblem problem = FromProblem::ok;
  std::string domain;  // problem == ok: the address's domain, ASCII lower-cased (UTF-8 kept)
  std::string detail;  // problem != ok: a sentence for logs and replies
  bool ok() const { return problem == FromProblem::ok; }
};

// The RFC5322.From domain (§3.1, §6.6.1): exactly one From field holding exactly one mailbox
// (RFC 5322 §3.4, §3.6.2, obsolete forms of §4.4 accepted; RFC 6532 UTF-8 allowed): display
// names, quoted strings, nested comments, angle addresses and source routes are handled.
FromDomain from_domain(std::string_view header_block);

// What to do with a message whose From field is not usable (options.invalid_from): reject
// (550 5.7.1 naming the reason) or mark (add_header(<header_name>: invalid-from)). `from.ok()`
// gives accept.
Action invalid_from_action(const FromDomain& from, const DmarcOptions& options);

}  // namespace gatehouse::auth::dmarc
