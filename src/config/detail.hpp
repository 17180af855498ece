// Internal helpers shared by the config module's sources (not installed, not part of the API):
// canonical value text for stored settings, domain/host name checks, the cross-field check.
// Must not open SQLite or log; these are pure functions over values.
#pragma once
#include <string>
#include <string_view>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/error.hpp"

namespace gatehouse::config::detail {

// 'value' with control bytes escaped as \xNN and long values cut, so an error stays one line.
std::string quote(std::string_view value);
// Escapes control bytes in a finished message (used around messages from core parsers).
std::string one_line(std::string_view message);

// Validates `value` for `key` and returns the canonical text to store ("0100" -> "100",
// " [0::0]:25 " -> "[::]:25"). Errors name the key and the reason.
Expected<std::string> normalize_setting(std::string_view key, std::string_view value);

// Domain names (local domains): trimmed, lower-cased, one trailing dot removed; LDH labels of
// 1..63 characters, at most 253 characters, at least two labels, last label not all digits,
// no IP literals, internationalized names only in A-label (xn--) form.
// Error: "domain name 'ex ample': not a valid domain name (...)".
Expected<std::string> normalize_domain_name(std::string_view name);

// Host names (smtp.hostname, a domain's smtp_hostname): same label rules as domain names but a
// single label ("gate") is allowed. IP literals are refused (EHLO needs a name). Returns the
// normalized name or the reason ("not a valid host name (...)") without any prefix.
Expected<std::string> normalize_host_name(std::string_view name);

// Checks that need more than one key (delivery.retry_min <= delivery.retry_max).
Status check_consistency(const Settings& s);

// A Settings with every registry default applied (smtp_listen filled, generation 0).
const Settings& default_settings();

}  // namespace gatehouse::config::detail
