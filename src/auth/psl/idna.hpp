// Internal to auth/psl: the small piece of IDNA that the Public Suffix List needs. A strict UTF-8
// decoder (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and the Punycode
// encoder of RFC 3492 §6.3, used to put non-ASCII labels into A-label form ("xn--" + Punycode).
// This is not IDNA2008 (RFC 5891) or UTS #46: no mapping, no normalisation, no check of which
// code points a label may hold. Only ASCII letters are lower-cased.
// Must not: throw, or produce an A-label from invalid UTF-8 or an overflowing label.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::auth::psl::detail {

// Decodes `in` into code points; false on any invalid sequence.
bool utf8_decode(std::string_view in, std::u32string& out);
// RFC 3492 §6.3 encoding of `in` (no "xn--" prefix); nullopt on overflow.
std::optional<std::string> punycode_encode(std::u32string_view in);
// One label in A-label form: ASCII lower-cased; a label with a byte >= 0x80 is decoded as UTF-8
// and becomes "xn--" + Punycode. nullopt for invalid UTF-8 or overflow. Empty stays empty.
std::optional<std::string> label_to_ascii(std::string_view label);
// Splits a domain name into labels after dropping one trailing dot. False when the name is empty,
// has an empty label (including a leading dot), or is over `max_bytes` / `max_labels`.
bool split_labels(std::string_view domain, std::size_t max_bytes, std::size_t max_labels,
                  std::vector<std::string_view>& labels);

}  // namespace gatehouse::auth::psl::detail
