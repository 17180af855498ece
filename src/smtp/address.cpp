// RFC 5321 §4.1.2 path parsing (source routes, quoted local parts, address literals §4.1.3),
// RFC 3461 §4 xtext decoding, esmtp-keyword/value syntax and UTF-8 validation (RFC 6531 §3.3).
// Pure: string views in, views into the same input out. Never throws, never reads past the view.
// It does not decide policy (SMTPUTF8 required or not, which domains are ours): the session does.
#include "address.hpp"

#include "gatehouse/core/strings.hpp"

namespace gatehouse::smtp::detail {
namespace {

constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxDomain = 255;

bool is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
int hex_value(unsigned char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return c - 'a' + 10;
}

// RFC 5322 atext, plus UTF8-non-ascii (RFC 6531 §3.3).
bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c) || c >= 0x80) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

// qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF8-non-ascii.
bool is_qtext(unsigned char c) {
  return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) || c >= 0x80;
}

bool is_ldh(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '-' || c >= 0x80; }

bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && i - start < 3) {
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    if (i == start || v > 255) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

}  // namespace

bool is_valid_domain(std::string_view d) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto c = static_cast<unsigned char>(d[i]);
    if (c == '.') {
      if (label == 0 || d[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!is_ldh(c)) return false;
    if (label == 0 && c == '-') return false;
    if (++label > kMaxLabel) return false;
  }
  return label != 0 && d.back() != '-';
}

bool is_valid_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  std::string_view in = s.substr(1, s.size() - 2);
  for (char ch : in) {  // dcontent = %d33-90 / %d94-126
    const auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || (c >= 91 && c <= 93)) return false;
  }
  if (core::istarts_with(in, "IPv6:")) {
    std::string_view a = in.substr(5);
    if (a.empty()) return false;
    for (char ch : a)
      if (!is_hex(static_cast<unsigned char>(ch)) && ch != ':' && ch != '.') return false;
    return true;
  }
  if (auto colon = in.find(':'); colon != std::string_view::npos) {
    // General-address-literal = Standardized-tag ":" 1*dcontent; the tag is an Ldh-str.
    std::string_view tag = in.substr(0, colon);
    if (tag.empty() || colon + 1 == in.size() || tag.back() == '-') return false;
    for (char ch : tag) {
      const auto c = static_cast<unsigned char>(ch);
      if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
    }
    return true;
  }
  return is_ipv4(in);
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    unsigned cp;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1Fu; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0Fu; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07u; min = 0x10000; }
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool is_esmtp_keyword(std::string_view s) {
  if (s.empty()) return false;
  const auto c0 = static_cast<unsigned char>(s[0]);
  if (!is_alpha(c0) && !is_digit(c0)) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
  }
  return true;
}

bool is_esmtp_value(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return true;
}

std::optional<std::string> decode_xtext(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size()) return std::nullopt;
      const auto h = static_cast<unsigned char>(s[i + 1]);
      const auto l = static_cast<unsigned char>(s[i + 2]);
      if (!is_hex(h) || !is_hex(l)) return std::nullopt;
      out.push_back(static_cast<char>(hex_value(h) * 16 + hex_value(l)));
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out.push_back(static_cast<char>(c));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<std::size_t> parse_path(std::string_view s, PathKind kind, Path& out) {
  out = Path{};
  const std::size_t n = s.size();
  if (n < 2 || s[0] != '<') return std::nullopt;
  std::size_t i = 1;
  if (s[i] == '>') {
    if (kind != PathKind::reverse) return std::nullopt;
    out.null = true;
    return 2;
  }
  // A-d-l = At-domain *( "," At-domain ) ":"   — accepted and ignored (RFC 5321 §4.1.2, C.)
  if (s[i] == '@') {
    while (true) {
      ++i;  // '@'
      const std::size_t start = i;
      while (i < n && s[i] != ',' && s[i] != ':' && s[i] != '>') ++i;
      if (i >= n || !is_valid_domain(s.substr(start, i - start))) return std::nullopt;
      if (s[i] == ',') {
        ++i;
        if (i >= n || s[i] != '@') return std::nullopt;
        continue;
      }
      if (s[i] != ':') return std::nullopt;
      ++i;
      break;
    }
  }
  const std::size_t mailbox = i;
  bool quoted = false;
  if (i < n && s[i] == '"') {  // Quoted-string
    quoted = true;
    ++i;
    while (true) {
      if (i >= n) return std::nullopt;
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        break;
      }
      if (c == '\\') {  // quoted-pairSMTP = %d92 %d32-126
        if (i + 1 >= n) return std::nullopt;
        const auto d = static_cast<unsigned char>(s[i + 1]);
        if (d < 32 || d > 126) return std::nullopt;
        i += 2;
        continue;
      }
      if (!is_qtext(c)) return std::nullopt;
      ++i;
    }
  } else {  // Dot-string = Atom *("." Atom)
    std::size_t atom = 0;
    while (i < n) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (is_atext(c)) {
        ++atom;
      } else if (c == '.') {
        if (atom == 0) return std::nullopt;
        atom = 0;
      } else {
        break;
      }
      ++i;
    }
    if (atom == 0) return std::nullopt;  // empty local part or trailing dot
  }
  const std::string_view local = s.substr(mailbox, i - mailbox);
  if (i < n && s[i] == '@') {
    ++i;
    const std::size_t start = i;
    if (i < n && s[i] == '[') {
      while (i < n && s[i] != ']') ++i;
      if (i >= n) return std::nullopt;
      ++i;
      out.domain = s.substr(start, i - start);
      if (!is_valid_address_literal(out.domain)) return std::nullopt;
    } else {
      while (i < n && s[i] != '>') ++i;
      out.domain = s.substr(start, i - start);
      if (!is_valid_domain(out.domain)) return std::nullopt;
    }
  } else if (kind == PathKind::forward && !quoted && core::iequals(local, "postmaster")) {
    out.domain = {};  // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain
  } else {
    return std::nullopt;
  }
  if (i >= n || s[i] != '>') return std::nullopt;
  out.address = s.substr(mailbox, i - mailbox);
  for (char ch : out.address) {
    if (static_cast<unsigned char>(ch) >= 0x80) {
      out.non_ascii = true;
      break;
    }
  }
  return i + 1;
}

}  // namespace gatehouse::smtp::detail
