// Small pure string helpers (ASCII only: SMTP keywords, domain names, setting keys).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::core {

char ascii_lower(char c);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep, bool skip_empty = true);
std::optional<std::uint64_t> parse_u64(std::string_view s);
// A value for a key=value log line: printable ASCII other than space, '"' and '=' is kept, any
// other byte (CR, LF, spaces, UTF-8) becomes '?', at most 255 bytes; "" becomes "-". Whatever a
// peer sent, the line stays one line of fields.
std::string log_value(std::string_view v);
// Formats seconds as e.g. "1.25"
std::string format_seconds(double s);

}  // namespace gatehouse::core
