// DNS name, IP literal and country checks for certificates we create (see names.hpp).
// RFC 1123 §2.1 host names; wildcards as RFC 6125 §6.4.3 accepts them and the CA/Browser Forum
// Baseline Requirements require them (the whole left-most label only). Must not allocate more
// than the input's size or accept non-ASCII (an IDN must be given as xn-- A-labels).
#include "names.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <vector>

#include "gatehouse/core/strings.hpp"
#include "iso3166.hpp"

namespace gatehouse::tls::names {
namespace {

constexpr std::size_t kMaxName = 253;
constexpr std::size_t kMaxLabel = 63;

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Empty string when `label` (lower-case) is a valid LDH label, else the reason.
std::string label_problem(std::string_view label) {
  if (label.empty()) return "empty label";
  if (label.size() > kMaxLabel) return fmt::format("label '{}' is longer than 63 characters", label.substr(0, 20));
  for (char c : label)
    if (!is_alnum(c) && c != '-')
      return c == '*' ? "a wildcard is allowed only as the whole left-most label, as in '*.example.com'"
             : c == '_' ? "'_' is not allowed in a host name"
                        : fmt::format("character '{}' is not allowed; use letters, digits, '-' and '.'", c);
  if (label.front() == '-' || label.back() == '-') return fmt::format("label '{}' starts or ends with '-'", label);
  return {};
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace

std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (value.size() > kMax) out += "...";
  out += "'";
  return out;
}

Expected<std::string> normalize_dns_name(std::string_view in, bool allow_wildcard) {
  std::string name = core::to_lower(core::trim(in));
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return make_error("empty name");
  for (char c : name)
    if (static_cast<unsigned char>(c) >= 0x80)
      return make_error("not a valid DNS name (write an internationalized name in its xn-- form)");
  if (name.size() > kMaxName) return make_error("not a valid DNS name (longer than 253 characters)");
  std::vector<std::string_view> labels;  // not core::split: it trims, and spaces must be refused
  for (std::size_t start = 0;;) {
    auto dot = name.find('.', start);
    labels.push_back(std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::size_t first = 0;
  if (labels.front() == "*") {
    if (!allow_wildcard) return make_error("a wildcard is not allowed here");
    if (labels.size() < 3)
      return make_error("a wildcard needs at least two labels after '*.', as in '*.example.com'");
    first = 1;
  }
  for (std::size_t i = first; i < labels.size(); ++i)
    if (auto p = label_problem(labels[i]); !p.empty()) {
      if (p.starts_with("a wildcard")) {
        if (!allow_wildcard) return make_error("a wildcard is not allowed here");
        return make_error(p);
      }
      return make_error(fmt::format("not a valid DNS name ({})", p));
    }
  const auto& last = labels.back();
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return make_error("not a valid DNS name (the last label is all digits; IP addresses must be complete)");
  return name;
}

std::optional<core::IpAddress> parse_ip_literal(std::string_view s) {
  s = core::trim(s);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    auto a = core::IpAddress::parse(s.substr(1, s.size() - 2));
    if (a && a->v6) return a;
    return std::nullopt;
  }
  return core::IpAddress::parse(s);
}

Expected<std::string> normalize_country(std::string_view in) {
  auto code = core::trim(in);
  std::string up = upper(code);
  if (up.size() == 2 && iso3166::find_alpha2(up) != nullptr) return up;

  std::string suggestion;
  struct Alias {
    std::string_view from, to;
  };
  // Codes and names people often use that are not the ISO 3166-1 alpha-2 code of a country.
  static constexpr Alias kAliases[] = {{"UK", "GB"},          {"EL", "GR"},      {"GREAT BRITAIN", "GB"},
                                       {"BRITAIN", "GB"},     {"ENGLAND", "GB"}, {"SCOTLAND", "GB"},
                                       {"WALES", "GB"},       {"NORTHERN IRELAND", "GB"},
                                       {"UNITED STATES OF AMERICA", "US"},       {"AMERICA", "US"},
                                       {"HOLLAND", "NL"},     {"KOREA", "KR"},   {"TURKEY", "TR"}};
  for (const auto& a : kAliases)
    if (up == a.from) suggestion = a.to;
  if (suggestion.empty())
    for (const auto& c : iso3166::all())
      if (up == c.alpha3 || core::iequals(code, c.name)) suggestion = c.alpha2;

  if (!suggestion.empty())
    return make_error(fmt::format("not an ISO 3166 two-letter code (did you mean {}?)", suggestion));
  if (up == "EU")
    return make_error("not an ISO 3166 two-letter code (EU is not a country; use the organisation's country)");
  if (up.size() == 2)
    return make_error("not an assigned ISO 3166 two-letter country code");
  return make_error("not an ISO 3166 two-letter code (for example GB, US, DE)");
}

}  // namespace gatehouse::tls::names
