// SPF record parser (RFC 7208 §4.5 version, §4.6.1 term syntax, §5 mechanisms, §6 modifiers,
// §12 ABNF): record text -> SpfRecord. The whole record is checked before anything is evaluated,
// so a syntax error anywhere is a permerror even after a matching mechanism (§4.6).
// Pure: no DNS, no clock. Must not: throw, or look at more than kMaxRecordLength bytes.
//
// Term classification (the erratum the suite follows): a term whose first ':' '/' '=' is '=' is
// a modifier; "redirect" and "exp" are never read as unknown modifiers, so their syntax errors
// are errors; anything else must be a mechanism, optionally qualified.
#include <fmt/format.h>

#include <algorithm>

#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
bool is_modifier_name(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
  });
}

// "/" ("0" / %x31-39 0*N DIGIT) with value <= max; `s` is the part after "/".
std::optional<unsigned> parse_cidr(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  if (s.size() > 1 && s.front() == '0') return std::nullopt;  // no leading zeros (ABNF)
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > max) return std::nullopt;
  return v;
}

// ip4-network = qnum "." qnum "." qnum "." qnum, qnum = 0..255 without leading zeros.
std::optional<core::IpAddress> parse_ip4_network(std::string_view s) {
  int dots = 0;
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (run == 0) return std::nullopt;
      ++dots;
      run = 0;
    } else if (is_digit(s[i])) {
      if (run == 1 && s[i - 1] == '0') return std::nullopt;  // leading zero
      if (++run > 3) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (dots != 3 || run == 0) return std::nullopt;
  auto ip = core::IpAddress::parse(s);  // checks each qnum <= 255
  if (!ip || ip->v6) return std::nullopt;
  return ip;
}

std::optional<core::IpAddress> parse_ip6_network(std::string_view s) {
  if (s.find(':') == std::string_view::npos) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), [](char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
      }))
    return std::nullopt;
  auto ip = core::IpAddress::parse(s);
  if (!ip || !ip->v6) return std::nullopt;
  return ip;
}

struct DualCidr {
  std::string_view rest;  // what precedes the CIDR part
  unsigned cidr4 = 32;
  unsigned cidr6 = 128;
};

// Splits a trailing dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ] off `s`.
// Only digit groups are taken as CIDR lengths ("a:foo:bar/baz.example.com" has none); a digit
// group out of range or with a leading zero is an error.
Expected<DualCidr> split_dual_cidr(std::string_view s, std::string_view term) {
  DualCidr d;
  d.rest = s;
  auto trailing_digits = [](std::string_view v) {
    std::size_t n = 0;
    while (n < v.size() && is_digit(v[v.size() - 1 - n])) ++n;
    return n;
  };
  auto bad = [&term]() { return make_error(fmt::format("invalid CIDR length in '{}'", term)); };
  // "//" ip6
  std::size_t n = trailing_digits(d.rest);
  if (n > 0 && d.rest.size() >= n + 2 && d.rest.substr(d.rest.size() - n - 2, 2) == "//") {
    auto v = parse_cidr(d.rest.substr(d.rest.size() - n), 128);
    if (!v) return bad();
    d.cidr6 = *v;
    d.rest.remove_suffix(n + 2);
    n = trailing_digits(d.rest);
  }
  if (n > 0 && d.rest.size() >= n + 1 && d.rest[d.rest.size() - n - 1] == '/') {
    auto v = parse_cidr(d.rest.substr(d.rest.size() - n), 32);
    if (!v) return bad();
    d.cidr4 = *v;
    d.rest.remove_suffix(n + 1);
  }
  return d;
}

Expected<MacroString> domain_spec(std::string_view s, std::string_view term) {
  if (s.empty()) return make_error(fmt::format("'{}': empty domain-spec", term));
  auto m = parse_macro_string(s, MacroContext::domain_spec);
  if (!m) return make_error(fmt::format("'{}': {}", term, m.error().message));
  return m;
}

Expected<SpfDirective> parse_directive(std::string_view term) {
  SpfDirective d;
  d.text = std::string(term);
  std::string_view s = term;
  switch (s.front()) {
    case '+': d.qualifier = SpfQualifier::pass; s.remove_prefix(1); break;
    case '-': d.qualifier = SpfQualifier::fail; s.remove_prefix(1); break;
    case '~': d.qualifier = SpfQualifier::softfail; s.remove_prefix(1); break;
    case '?': d.qualifier = SpfQualifier::neutral; s.remove_prefix(1); break;
    default: break;
  }
  auto end = s.find_first_of(":/");
  std::string_view name = s.substr(0, end);
  std::string_view args = end == std::string_view::npos ? std::string_view() : s.substr(end);
  if (core::iequals(name, "all")) {
    d.mechanism = SpfMechanism::all;
    if (!args.empty()) return make_error(fmt::format("'{}': \"all\" takes no argument", term));
  } else if (core::iequals(name, "include") || core::iequals(name, "exists")) {
    d.mechanism = core::iequals(name, "include") ? SpfMechanism::include : SpfMechanism::exists;
    if (args.empty() || args.front() != ':')
      return make_error(fmt::format("'{}': \"{}\" needs ':' and a domain", term, to_string(d.mechanism)));
    auto m = domain_spec(args.substr(1), term);
    if (!m) return m.error();
    d.target = std::move(*m);
  } else if (core::iequals(name, "a") || core::iequals(name, "mx")) {
    d.mechanism = core::iequals(name, "a") ? SpfMechanism::a : SpfMechanism::mx;
    if (!args.empty()) {
      bool has_domain = args.front() == ':';
      auto dc = split_dual_cidr(has_domain ? args.substr(1) : args, term);
      if (!dc) return dc.error();
      d.cidr4 = dc->cidr4;
      d.cidr6 = dc->cidr6;
      if (has_domain) {
        auto m = domain_spec(dc->rest, term);
        if (!m) return m.error();
        d.target = std::move(*m);
      } else if (!dc->rest.empty()) {
        return make_error(fmt::format("invalid CIDR length in '{}'", term));
      }
    }
  } else if (core::iequals(name, "ptr")) {
    d.mechanism = SpfMechanism::ptr;
    if (!args.empty()) {
      if (args.front() != ':') return make_error(fmt::format("'{}': \"ptr\" takes no CIDR length", term));
      auto m = domain_spec(args.substr(1), term);
      if (!m) return m.error();
      d.target = std::move(*m);
    }
  } else if (core::iequals(name, "ip4") || core::iequals(name, "ip6")) {
    bool v4 = core::iequals(name, "ip4");
    d.mechanism = v4 ? SpfMechanism::ip4 : SpfMechanism::ip6;
    if (args.empty() || args.front() != ':')
      return make_error(fmt::format("'{}': \"{}\" needs ':' and an address", term, name));
    std::string_view value = args.substr(1);
    auto slash = value.find('/');
    auto addr = value.substr(0, slash);
    auto ip = v4 ? parse_ip4_network(addr) : parse_ip6_network(addr);
    if (!ip) return make_error(fmt::format("'{}': invalid IPv{} address", term, v4 ? 4 : 6));
    d.network = *ip;
    if (slash != std::string_view::npos) {
      auto c = parse_cidr(value.substr(slash + 1), v4 ? 32 : 128);
      if (!c) return make_error(fmt::format("invalid CIDR length in '{}'", term));
      (v4 ? d.cidr4 : d.cidr6) = *c;
    }
  } else {
    return make_error(fmt::format("unknown mechanism '{}'", term));
  }
  return d;
}

}  // namespace

SpfResult result_of(SpfQualifier q) {
  switch (q) {
    case SpfQualifier::pass: return SpfResult::pass;
    case SpfQualifier::fail: return SpfResult::fail;
    case SpfQualifier::softfail: return SpfResult::softfail;
    case SpfQualifier::neutral: return SpfResult::neutral;
  }
  return SpfResult::neutral;
}

std::string_view to_string(SpfMechanism m) {
  switch (m) {
    case SpfMechanism::all: return "all";
    case SpfMechanism::include: return "include";
    case SpfMechanism::a: return "a";
    case SpfMechanism::mx: return "mx";
    case SpfMechanism::ptr: return "ptr";
    case SpfMechanism::ip4: return "ip4";
    case SpfMechanism::ip6: return "ip6";
    case SpfMechanism::exists: return "exists";
  }
  return "?";
}

bool SpfRecord::has_all() const {
  return std::any_of(directives.begin(), directives.end(),
                     [](const SpfDirective& d) { return d.mechanism == SpfMechanism::all; });
}

bool is_spf_record(std::string_view txt) {
  return txt.size() >= 6 && core::iequals(txt.substr(0, 6), "v=spf1") && (txt.size() == 6 || txt[6] == ' ');
}

bool in_network(const core::IpAddress& addr0, const core::IpAddress& net0, unsigned prefix) {
  // The client is compared as IPv4 when it is IPv4-mapped (§5); an ip6 network is never unmapped.
  const auto addr = addr0.unmapped();
  const auto& net = net0;
  if (addr.v6 != net.v6) return false;
  unsigned max = addr.v6 ? 128 : 32;
  if (prefix > max) return false;
  unsigned full = prefix / 8, rem = prefix % 8;
  for (unsigned i = 0; i < full; ++i)
    if (addr.bytes[i] != net.bytes[i]) return false;
  if (rem == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rem));
  return (addr.bytes[full] & mask) == (net.bytes[full] & mask);
}

Expected<SpfRecord> parse_spf(std::string_view txt) {
  if (txt.size() > kMaxRecordLength)
    return make_error(fmt::format("SPF record is longer than {} bytes", kMaxRecordLength));
  if (!is_spf_record(txt)) return make_error("not an SPF record (it must start with \"v=spf1\")");
  for (std::size_t i = 0; i < txt.size(); ++i) {
    auto u = static_cast<unsigned char>(txt[i]);
    if (u < 0x20 || u > 0x7e)
      return make_error(fmt::format("SPF record has a non-ASCII or control character (byte 0x{:02X} at offset {})",
                                    u, i));
  }
  SpfRecord rec;
  std::string_view rest = txt.substr(6);
  while (!rest.empty()) {
    // Terms are separated by one or more SP (§4.6.1); trailing spaces are allowed.
    auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    auto end = rest.find(' ');
    std::string_view term = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);

    auto sep = term.find_first_of(":/=");
    if (sep != std::string_view::npos && term[sep] == '=') {
      std::string_view name = term.substr(0, sep), value = term.substr(sep + 1);
      if (!is_modifier_name(name)) return make_error(fmt::format("'{}': invalid modifier name", term));
      if (core::iequals(name, "redirect") || core::iequals(name, "exp")) {
        bool redirect = core::iequals(name, "redirect");
        auto& slot = redirect ? rec.redirect : rec.exp;
        if (slot) return make_error(fmt::format("'{}' appears more than once (§6)", redirect ? "redirect" : "exp"));
        auto m = domain_spec(value, term);
        if (!m) return m.error();
        slot = std::move(*m);
      } else {
        auto m = parse_macro_string(value, MacroContext::modifier_value);
        if (!m) return make_error(fmt::format("'{}': {}", term, m.error().message));
        rec.unknown_modifiers.push_back(SpfModifier{std::string(name), std::string(value)});
      }
      continue;
    }
    auto d = parse_directive(term);
    if (!d) return d.error();
    rec.directives.push_back(std::move(*d));
  }
  return rec;
}

}  // namespace gatehouse::auth
