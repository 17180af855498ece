// ISO 3166-1 country table (internal to tls): alpha-2, alpha-3 and English short name of every
// assigned code. Pure lookups; no locale, no allocation. Must not list reserved codes.
#pragma once
#include <span>
#include <string_view>

namespace gatehouse::tls::iso3166 {

struct Country {
  std::string_view alpha2;  // "GB"
  std::string_view alpha3;  // "GBR"
  std::string_view name;    // "United Kingdom" (UTF-8)
};

std::span<const Country> all();
// The entry for an upper-case alpha-2 code, or nullptr.
const Country* find_alpha2(std::string_view upper);

}  // namespace gatehouse::tls::iso3166
