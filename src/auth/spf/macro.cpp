// SPF macro-strings (RFC 7208 §7): parse (§7.1 grammar, per context), the macro variables
// (§7.2), expansion with transformers and delimiters (§7.3), domain-spec post-processing
// (trailing dot, 253-character truncation, §7.3) and the domain-name checks of §4.3.
// Pure: no DNS, no clock, no globals. Must not: throw, or build more than kMaxExpansion bytes.
//
// Two choices the RFC leaves open, both made to match the RFC 7208 test suite (pyspf):
//  * %{i} of an IPv6 address uses upper-case nibbles ("...E.B.A.B.E.F.A.C"); DNS names are
//    case-insensitive, so only exp text can tell (suite case v-macro-ip6; the RFC's §7.4 example
//    happens to print lower case).
//  * URL escapes use upper-case hex ("%3D"), as RFC 3986 §2.1 recommends (suite: upper-macro).
#include <algorithm>
#include <array>
#include <fmt/format.h>

#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth {

namespace {

constexpr std::string_view kDomainLetters = "slodiphv";
constexpr std::string_view kAllLetters = "slodiphvcrt";
constexpr std::string_view kDelimiters = ".-+,/_=";
constexpr unsigned kMaxKeep = 9999;  // DIGIT transformer saturates here (more parts never exist)

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

// macro-literal = %x21-24 / %x26-7E (visible characters except "%").
bool is_macro_literal(char c) { return c >= 0x21 && c <= 0x7e && c != '%'; }

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) out.push_back(c);
    else out += fmt::format("\\x{:02X}", u);
  }
  if (s.size() > 80) out += "...";
  return out;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  bool alpha = false, dash = false;
  for (char c : s) {
    if (c == '-') dash = true;
    else if (is_alpha(c)) alpha = true;
    else if (!is_digit(c)) return false;
  }
  return alpha || dash;
}

// domain-end = ( "." toplabel [ "." ] ) / macro-expand
bool has_domain_end(const MacroString& m) {
  if (m.tokens.empty()) return false;
  const auto& last = m.tokens.back();
  if (last.kind != MacroToken::Kind::literal) return true;  // "%{..}", "%%", "%_", "%-"
  std::string_view lit = last.text;
  if (!lit.empty() && lit.back() == '.') lit.remove_suffix(1);
  auto dot = lit.rfind('.');
  if (dot == std::string_view::npos) return false;
  return is_toplabel(lit.substr(dot + 1));
}

void url_escape_into(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
}

const std::string* variable(const MacroVars& v, char letter) {
  switch (letter) {
    case 's': return &v.sender;
    case 'l': return &v.local_part;
    case 'o': return &v.sender_domain;
    case 'd': return &v.domain;
    case 'i': return &v.ip;
    case 'p': return &v.validated;
    case 'v': return &v.ip_version;
    case 'h': return &v.helo;
    case 'c': return &v.client_ip;
    case 'r': return &v.receiver;
    case 't': return &v.timestamp;
    default: return nullptr;
  }
}

// §7.3: split on delimiters, optionally reverse, keep the right-most `keep` parts, join with ".".
std::string transform(std::string_view value, const MacroToken& t) {
  if (t.keep == 0 && !t.reverse && (t.delimiters.empty() || t.delimiters == ".")) return std::string(value);
  std::string_view delims = t.delimiters.empty() ? std::string_view(".") : std::string_view(t.delimiters);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delims.find(value[i]) != std::string_view::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (t.reverse) std::reverse(parts.begin(), parts.end());
  std::size_t first = 0;
  if (t.keep != 0 && t.keep < parts.size()) first = parts.size() - t.keep;
  std::string out;
  for (std::size_t i = first; i < parts.size(); ++i) {
    if (i != first) out.push_back('.');
    out += parts[i];
  }
  return out;
}

}  // namespace

std::string_view to_string(SpfResult r) {
  switch (r) {
    case SpfResult::none: return "none";
    case SpfResult::neutral: return "neutral";
    case SpfResult::pass: return "pass";
    case SpfResult::fail: return "fail";
    case SpfResult::softfail: return "softfail";
    case SpfResult::temperror: return "temperror";
    case SpfResult::permerror: return "permerror";
  }
  return "?";
}

bool MacroString::uses(char letter) const {
  return std::any_of(tokens.begin(), tokens.end(), [letter](const MacroToken& t) {
    return t.kind == MacroToken::Kind::macro && t.letter == letter;
  });
}

Expected<MacroString> parse_macro_string(std::string_view text, MacroContext ctx) {
  MacroString m;
  m.source = std::string(text);
  auto add_literal = [&m](char c) {
    if (m.tokens.empty() || m.tokens.back().kind != MacroToken::Kind::literal) m.tokens.emplace_back();
    m.tokens.back().text.push_back(c);
  };
  const std::string_view letters = ctx == MacroContext::domain_spec ? kDomainLetters : kAllLetters;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '%') {
      if (is_macro_literal(c) || (c == ' ' && ctx == MacroContext::explain_string)) {
        add_literal(c);
        ++i;
        continue;
      }
      return make_error(fmt::format("character '{}' is not allowed in a macro-string ({})",
                                    printable(text.substr(i, 1)), printable(text)));
    }
    // '%' must be followed by '{', '%', '_' or '-' (§7.1).
    if (i + 1 >= text.size())
      return make_error(fmt::format("'%' at the end of '{}' (write '%%' for a literal '%')", printable(text)));
    char n = text[i + 1];
    if (n == '%' || n == '_' || n == '-') {
      MacroToken t;
      t.kind = MacroToken::Kind::escape;
      t.text = n == '%' ? "%" : n == '_' ? " " : "%20";
      m.tokens.push_back(std::move(t));
      i += 2;
      continue;
    }
    if (n != '{')
      return make_error(fmt::format("'%{}' in '{}': '%' must be followed by '{{', '%', '_' or '-'",
                                    printable(text.substr(i + 1, 1)), printable(text)));
    std::size_t j = i + 2;
    if (j >= text.size()) return make_error(fmt::format("unterminated macro in '{}'", printable(text)));
    MacroToken t;
    t.kind = MacroToken::Kind::macro;
    char letter = text[j];
    char lower = core::ascii_lower(letter);
    if (!is_alpha(letter) || kAllLetters.find(lower) == std::string_view::npos)
      return make_error(fmt::format("unknown macro letter '{}' in '{}'", printable(text.substr(j, 1)), printable(text)));
    if (letters.find(lower) == std::string_view::npos)
      return make_error(fmt::format("macro letter '{}' is allowed only in exp= text (§7.1), in '{}'", letter,
                                    printable(text)));
    t.letter = lower;
    t.url_escape = letter != lower;
    ++j;
    // transformers = *DIGIT [ "r" ]; a DIGIT value must be nonzero (§7.3).
    bool digits = false;
    unsigned keep = 0;
    while (j < text.size() && is_digit(text[j])) {
      digits = true;
      keep = std::min(kMaxKeep, keep * 10 + static_cast<unsigned>(text[j] - '0'));
      ++j;
    }
    if (digits && keep == 0)
      return make_error(fmt::format("macro digit transformer must be nonzero in '{}'", printable(text)));
    t.keep = keep;
    if (j < text.size() && (text[j] == 'r' || text[j] == 'R')) {
      t.reverse = true;
      ++j;
    }
    while (j < text.size() && kDelimiters.find(text[j]) != std::string_view::npos) {
      if (t.delimiters.find(text[j]) == std::string::npos) t.delimiters.push_back(text[j]);
      ++j;
    }
    if (j >= text.size() || text[j] != '}')
      return make_error(fmt::format("malformed macro in '{}' (expected '}}')", printable(text)));
    m.tokens.push_back(std::move(t));
    i = j + 1;
  }
  if (ctx == MacroContext::domain_spec) {
    if (m.tokens.empty()) return make_error("empty domain-spec");
    if (!has_domain_end(m))
      return make_error(fmt::format("'{}' is not a valid domain-spec: it must end in a macro or in '.' and "
                                    "a top-level label that is not all-numeric (§7.1)",
                                    printable(text)));
  }
  return m;
}

MacroVars make_macro_vars(const core::IpAddress& ip0, std::string_view sender, std::string_view helo,
                          std::string_view receiver, std::int64_t now) {
  MacroVars v;
  const auto ip = ip0.unmapped();
  v.sender = std::string(sender);
  auto at = sender.rfind('@');
  if (at == std::string_view::npos) {
    v.local_part = "postmaster";
    v.sender_domain = std::string(sender);
  } else {
    v.local_part = at == 0 ? std::string("postmaster") : std::string(sender.substr(0, at));
    v.sender_domain = std::string(sender.substr(at + 1));
  }
  if (ip.v6) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t k = 0; k < 16; ++k) {
      if (k) v.ip.push_back('.');
      v.ip.push_back(kHex[ip.bytes[k] >> 4]);
      v.ip.push_back('.');
      v.ip.push_back(kHex[ip.bytes[k] & 0xf]);
    }
    v.ip_version = "ip6";
  } else {
    v.ip = ip.to_string();
    v.ip_version = "in-addr";
  }
  v.client_ip = ip.to_string();
  v.validated = "unknown";
  v.helo = std::string(helo);
  v.receiver = receiver.empty() ? std::string("unknown") : std::string(receiver);
  v.timestamp = std::to_string(now);
  return v;
}

Expected<std::string> expand_macros(const MacroString& m, const MacroVars& vars) {
  std::string out;
  auto too_long = [&m]() {
    return make_error(fmt::format("macro expansion of '{}' is longer than {} bytes", printable(m.source),
                                  kMaxExpansion));
  };
  for (const auto& t : m.tokens) {
    if (t.kind != MacroToken::Kind::macro) {
      if (out.size() + t.text.size() > kMaxExpansion) return too_long();
      out += t.text;
      continue;
    }
    const std::string* value = variable(vars, t.letter);
    if (!value) return make_error(fmt::format("unknown macro letter '{}'", t.letter));
    std::string part = transform(*value, t);
    if (out.size() + part.size() * (t.url_escape ? 3 : 1) > kMaxExpansion) return too_long();
    if (t.url_escape) url_escape_into(out, part);
    else out += part;
  }
  return out;
}

Expected<std::string> expand_domain_spec(const MacroString& m, const MacroVars& vars) {
  auto e = expand_macros(m, vars);
  if (!e) return e;
  std::string name = std::move(*e);
  if (!name.empty() && name.back() == '.') name.pop_back();
  // §7.3: remove labels from the left until the name fits in 253 characters.
  while (name.size() > 253) {
    auto dot = name.find('.');
    if (dot == std::string::npos) break;  // one huge label: left as is, is_query_name() rejects it
    name.erase(0, dot + 1);
  }
  return name;
}

bool is_query_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label != 0;
}

bool is_spf_domain(std::string_view name) {
  if (!is_query_name(name)) return false;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.front() == '[' || name.find('.') == std::string_view::npos) return false;
  if (core::IpAddress::parse(name)) return false;
  return true;
}

}  // namespace gatehouse::auth
