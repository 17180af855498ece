// Internal to the smtp module: RFC 5321 §4.1.2 path syntax (Reverse-path / Forward-path), the
// §4.1.3 address literal, RFC 3461 §4 xtext, RFC 5321 esmtp-keyword/esmtp-value, and a UTF-8
// validity check for RFC 6531 (SMTPUTF8) addresses.
// Pure and allocation-free except decode_xtext; never reads past the view it is given.
// Not a public header: ServerSession (and its tests) are the only users.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::smtp::detail {

struct Path {
  std::string_view address;  // Mailbox as given (source route stripped); empty for "<>"
  std::string_view domain;   // domain or address literal as given; "" for <> and <postmaster>
  bool null = false;         // "<>"
  bool non_ascii = false;    // the mailbox holds octets >= 0x80 (needs SMTPUTF8)
};

enum class PathKind {
  reverse,  // MAIL FROM: "<>" allowed
  forward,  // RCPT TO: "<postmaster>" (no domain) allowed, "<>" refused
};

// Parses a Path that starts at s[0] == '<'. Accepts and strips an A-d-l source route
// ("<@a,@b:user@d>"), quoted local parts, address literals, and octets >= 0x80 in the local part
// and domain labels (the caller checks SMTPUTF8 and UTF-8 validity). Returns the number of octets
// consumed (through the closing '>'), or nullopt on a syntax error.
std::optional<std::size_t> parse_path(std::string_view s, PathKind kind, Path& out);

// RFC 5321 Domain: dot-separated labels of letters, digits and hyphens (no leading or trailing
// hyphen, 1..63 octets each, 255 in all); octets >= 0x80 are allowed as U-label content.
bool is_valid_domain(std::string_view d);
// RFC 5321 address-literal including the brackets: IPv4, "IPv6:..." or "tag:content".
bool is_valid_address_literal(std::string_view s);
// Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool is_esmtp_keyword(std::string_view s);
// esmtp-value = 1*(%d33-60 / %d62-126)
bool is_esmtp_value(std::string_view s);
// RFC 3461 §4: xtext = *( xchar / hexchar ); hexchar = "+" 2HEXDIG (lower-case hex tolerated).
std::optional<std::string> decode_xtext(std::string_view s);

}  // namespace gatehouse::smtp::detail
