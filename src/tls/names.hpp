// Internal checks for what goes into a certificate we create: DNS names (with the one wildcard
// form we allow), IP literals, ISO 3166-1 alpha-2 country codes. Pure functions over values.
// Errors are the reason only ("not a valid DNS name (...)"); callers prefix the field name.
// Must not accept anything OpenSSL would have to escape or reinterpret.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::tls::names {

// Lower-cases and removes one trailing dot. LDH labels of 1..63 characters (no leading or
// trailing hyphen), at most 253 characters, last label not all digits, ASCII only (IDNs in
// their xn-- form). With allow_wildcard, "*" may be the whole left-most label when at least two
// labels follow it ("*.example.com"); "a.*.example.com", "f*o.example.com" and "*.com" are refused.
Expected<std::string> normalize_dns_name(std::string_view name, bool allow_wildcard);

// An IPv4 or IPv6 literal ("192.0.2.1", "2001:db8::1"; brackets allowed around IPv6).
std::optional<core::IpAddress> parse_ip_literal(std::string_view s);

// An assigned ISO 3166-1 alpha-2 code, in any case; returns it upper-case. The error suggests
// the right code for common mistakes: "UK" (GB), "EL" (GR), alpha-3 codes ("DEU"), and English
// short names ("Germany").
Expected<std::string> normalize_country(std::string_view code);

// 'value' with control and non-ASCII bytes escaped as \xNN and long values cut, so an error
// message stays one line.
std::string quote(std::string_view value);

}  // namespace gatehouse::tls::names
