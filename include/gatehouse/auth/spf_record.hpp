// SPF (RFC 7208), the pure half: results, the parsed record (§4.5, §4.6, §5, §6, ABNF of §12),
// macro-strings and their expansion (§7). No DNS, no Asio, no clock, no globals: text and values
// in, values out. The DNS-driven evaluator check_host() is declared in gatehouse/auth/spf.hpp,
// which includes this header; parsers include only this one (architecture.md §1.2).
// Must not: throw, or read past kMaxRecordLength / produce more than kMaxExpansion bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::auth {

// §2.6: the seven results of check_host().
enum class SpfResult { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view to_string(SpfResult r);  // "none", "neutral", "pass", ... (RFC spelling, lower case)

// ---------------------------------------------------------------------------------------------
// Macro-strings (§7.1). A macro-string is parsed once (syntax errors are permerror at record
// parse time, §4.6) and expanded per evaluation with the variables of MacroVars.

// Where a macro-string appears decides what it may contain (§7.1, §12 ABNF):
//  domain_spec     : mechanism/redirect/exp targets; letters s l o d i p h v; must end in a
//                    macro-expand or "." toplabel ["."] (domain-end)
//  explain_string  : the TXT text an exp= points at; also c r t, and spaces
//  modifier_value  : the value of an unknown modifier; any macro letter, never expanded
enum class MacroContext { domain_spec, explain_string, modifier_value };

struct MacroToken {
  enum class Kind : std::uint8_t {
    literal,  // text copied as is
    escape,   // "%%" -> "%", "%_" -> " ", "%-" -> "%20" (text holds the expansion)
    macro,    // "%{" letter transformers *delimiter "}"
  };
  Kind kind = Kind::literal;
  std::string text;         // literal / escape: the output text
  char letter = 0;          // macro: lower-case macro letter
  bool url_escape = false;  // macro: the letter was upper case (§7.3: URL-escape the value)
  unsigned keep = 0;        // macro: DIGIT transformer, right-hand parts to keep (0 = all)
  bool reverse = false;     // macro: "r" transformer
  std::string delimiters;   // macro: split characters; empty = "."
};

struct MacroString {
  std::vector<MacroToken> tokens;
  std::string source;  // the text as written in the record
  bool uses(char letter) const;  // true if a macro of this (lower-case) letter appears
};

// Parses `text` as a macro-string of the given context. Errors name the offending part.
Expected<MacroString> parse_macro_string(std::string_view text, MacroContext ctx);

// The macro variables of one evaluation (§7.2). make_macro_vars fills all but `domain` and
// `validated` (p), which the evaluator sets as it goes (p needs DNS, §7.3 / §5.5).
struct MacroVars {
  std::string sender;         // s  <sender>
  std::string local_part;     // l  local-part of <sender> ("postmaster" when empty, §4.3)
  std::string sender_domain;  // o  domain of <sender>
  std::string domain;         // d  <domain> (changes with include/redirect)
  std::string ip;             // i  dotted quad, or 32 dot-separated hex nibbles for IPv6
  std::string validated;      // p  validated domain name of <ip>, "unknown" if none
  std::string ip_version;     // v  "in-addr" / "ip6"
  std::string helo;           // h  HELO/EHLO domain
  std::string client_ip;      // c  readable <ip> (exp only)
  std::string receiver;       // r  receiving host (exp only), "unknown" when not given
  std::string timestamp;      // t  seconds since the epoch (exp only)
};

// `ip` is unmapped first (§5: an IPv4-mapped IPv6 address is an IPv4 address). `now` is
// passed in: nothing here reads a clock.
MacroVars make_macro_vars(const core::IpAddress& ip, std::string_view sender, std::string_view helo,
                          std::string_view receiver, std::int64_t now);

// Expansion caps: no expansion produces more than this many bytes (error instead).
inline constexpr std::size_t kMaxExpansion = 8192;

// §7.3 expansion: split on the delimiters, reverse, keep the right-hand parts, join with ".",
// URL-escape for upper-case letters (RFC 3986 unreserved set kept, upper-case hex digits).
// Fails only on an unknown letter (not possible for parsed strings) or past kMaxExpansion.
Expected<std::string> expand_macros(const MacroString& m, const MacroVars& vars);

// For a domain-spec: expand, drop one trailing ".", and if longer than 253 characters remove
// whole labels from the left until it fits (§7.3). The result may still be unusable as a
// query name (empty or over-long labels); see is_query_name().
Expected<std::string> expand_domain_spec(const MacroString& m, const MacroVars& vars);

// A name DNS can be asked about: 1..253 characters, labels 1..63 (one trailing dot allowed).
// Any other character is allowed (RFC 2181 §11): SPF targets may hold ':' '/' '%' ' '.
bool is_query_name(std::string_view name);

// §4.3 / §2.3 / §2.4: a usable <domain> for an initial check: a query name with at least two
// labels that is not an address literal ("[...]") or a bare IP address.
bool is_spf_domain(std::string_view name);

// ---------------------------------------------------------------------------------------------
// Records (§4.5, §4.6, §5, §6).

inline constexpr std::size_t kMaxRecordLength = 16384;  // longer records are a permerror

enum class SpfQualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };
SpfResult result_of(SpfQualifier q);

enum class SpfMechanism { all, include, a, mx, ptr, ip4, ip6, exists };
std::string_view to_string(SpfMechanism m);

struct SpfDirective {
  SpfQualifier qualifier = SpfQualifier::pass;
  SpfMechanism mechanism = SpfMechanism::all;
  std::optional<MacroString> target;  // include/exists: always; a/mx/ptr: when given
  core::IpAddress network;            // ip4/ip6
  unsigned cidr4 = 32;                // a/mx/ip4: ip4-cidr-length (default 32)
  unsigned cidr6 = 128;               // a/mx/ip6: ip6-cidr-length (default 128)
  std::string text;                   // the term as written, qualifier included
};

struct SpfModifier {
  std::string name;   // as written
  std::string value;  // raw macro-string, syntax-checked, never expanded
};

struct SpfRecord {
  std::vector<SpfDirective> directives;           // in record order
  std::optional<MacroString> redirect;            // redirect= (§6.1)
  std::optional<MacroString> exp;                 // exp= (§6.2)
  std::vector<SpfModifier> unknown_modifiers;     // ignored (§6), kept for diagnostics
  bool has_all() const;
};

// §4.5: a TXT string is an SPF record if it starts with "v=spf1" (any case) followed by a space
// or the end. Only such records take part in record selection.
bool is_spf_record(std::string_view txt);

// Parses a whole record ("v=spf1 ..."). Any syntax error anywhere is an error (§4.6: the
// caller returns permerror): unknown mechanisms, bad modifier names, malformed domain-specs,
// CIDR lengths, IP addresses, macro syntax, a repeated redirect= or exp=, characters outside
// printable US-ASCII (§3.1), or more than kMaxRecordLength bytes.
Expected<SpfRecord> parse_spf(std::string_view txt);

// Prefix match used by ip4/ip6/a/mx: `addr` is inside `network`/`prefix` (same family only;
// host bits of `network` are ignored, as in SPF records they may be set).
bool in_network(const core::IpAddress& addr, const core::IpAddress& network, unsigned prefix);

}  // namespace gatehouse::auth
