// The three TLS policy lists (issue "TLS everywhere" items 5-7) as values: entry parsing,
// validation and normalisation per list, and the immutable TlsLists with its matchers.
//   starttls-whitelist  never use STARTTLS towards, and never offer it to, a matching host
//   starttls-required   outbound STARTTLS is mandatory towards a matching host
//   tls-domains         recipients whose mail must travel over TLS of at least tls.min_cipher_bits
// Pure: no SQLite, no sockets, no clock, no logging. Errors name the list and the reason.
// Storage is tlspolicy::ListStore (list_store.hpp); decisions are in policy.hpp.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::config {
struct Settings;
}

namespace gatehouse::tlspolicy {

enum class ListKind { starttls_whitelist, starttls_required, tls_domains };

inline constexpr std::array<ListKind, 3> kAllLists = {ListKind::starttls_whitelist, ListKind::starttls_required,
                                                      ListKind::tls_domains};

// "starttls-whitelist", "starttls-required", "tls-domains" (the CLI words and the `list` column).
std::string_view list_name(ListKind list);
std::optional<ListKind> parse_list_name(std::string_view name);

// One validated, normalised entry.
//
// What each list accepts (input -> stored text):
//   starttls-whitelist, starttls-required:
//     IPv4/IPv6 address        "192.0.2.7", "2001:DB8::7" -> "2001:db8::7", "::ffff:192.0.2.7" -> "192.0.2.7"
//     CIDR range               "192.0.2.0/24", "2001:db8::/32" (host bits must be zero; /32 and /128
//                              are stored as the bare address)
//     host name                "MX1.Example.COM." -> "mx1.example.com" (LDH labels; one label allowed)
//     wildcard                 "*.example.com" or ".example.com" -> "*.example.com": every name below
//                              example.com, at any depth, but not example.com itself. Only as the
//                              whole left-most label, with at least two labels after it.
//   tls-domains:
//     domain                   "Partner.Example" -> "partner.example": the domain and all its sub-domains
//     address                  "Jane.Doe@Partner.Example" -> "Jane.Doe@partner.example": that one
//                              recipient; the domain is case-insensitive, the local part is kept and
//                              compared exactly as given (dot-atom or quoted string, at most 64 bytes)
//     empty                    "" -> "": every recipient
// Names are ASCII; internationalized names must be written in their xn-- form.
struct Entry {
  enum class Kind { ip, cidr, host, wildcard, domain, address, everyone };
  Kind kind = Kind::everyone;
  std::string text;  // normalised, as stored and shown
  core::Cidr net;    // ip (full-length prefix) and cidr
  std::string name;  // host: the name; wildcard: the suffix after "*."; domain and address: the domain
  std::string local; // address: the local part, as given
  // Same normalised text means same entry (the other fields are derived from it).
  friend bool operator==(const Entry& a, const Entry& b) { return a.text == b.text; }
};

// Validates and normalises one entry for `list`. Error example:
//   "starttls-whitelist: 'ex ample': not an IP address, CIDR range, host name or *.domain
//    (only letters, digits, '-' and '.' are allowed in a name)"
Expected<Entry> parse_entry(ListKind list, std::string_view raw);

// The three lists, parsed once (per settings snapshot) and then only read: safe to share
// between threads. Matchers return the first matching entry (entries are kept sorted by text).
class TlsLists {
 public:
  TlsLists() = default;  // all lists empty

  // From entry texts (normally the normalised rows of tls_lists). Entries that do not parse
  // (hand edits) and repeats are left out; each one left out is reported in `skipped` when given,
  // as an Error naming the list and the reason, for the caller to log.
  static TlsLists from_entries(const std::vector<std::string>& starttls_whitelist,
                               const std::vector<std::string>& starttls_required,
                               const std::vector<std::string>& tls_domains, std::vector<Error>* skipped = nullptr);
  // From the snapshot's copies of the lists (Settings::tls_starttls_whitelist, ...). Parsing
  // costs O(entries): build it once per snapshot generation, not per message, where it matters.
  static TlsLists from_settings(const config::Settings& s, std::vector<Error>* skipped = nullptr);

  const std::vector<Entry>& entries(ListKind list) const;
  bool empty() const;

  // Host matchers: `host_name` is the peer's name (MX or relay name outbound; rDNS or HELO name
  // inbound), compared case-insensitively without a trailing dot; "" = unknown. A host_name that
  // is an IP literal ("192.0.2.7", "[192.0.2.7]", "[IPv6:2001:db8::7]") is matched as an address.
  // `ip` is the peer's address when known; IPv4-mapped IPv6 addresses match IPv4 entries.
  bool whitelisted(std::string_view host_name, const std::optional<core::IpAddress>& ip) const;
  bool required(std::string_view host_name, const std::optional<core::IpAddress>& ip) const;
  const Entry* whitelist_match(std::string_view host_name, const std::optional<core::IpAddress>& ip) const;
  const Entry* required_match(std::string_view host_name, const std::optional<core::IpAddress>& ip) const;

  // `recipient` is an envelope address "local@domain" (surrounding <> are ignored). True when
  // tls-domains has the empty entry, the recipient's domain or one of its parent domains, or
  // the exact address (domain case-insensitive, local part exact).
  bool enforced_for(std::string_view recipient) const;
  const Entry* enforced_match(std::string_view recipient) const;

 private:
  std::array<std::vector<Entry>, 3> lists_;
};

// The domain of an envelope address, lower-case, without a trailing dot ("" without '@').
std::string recipient_domain(std::string_view recipient);

}  // namespace gatehouse::tlspolicy
