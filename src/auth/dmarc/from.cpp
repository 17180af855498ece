// The RFC5322.From domain for DMARC (RFC 7489 §3.1, §6.6.1): exactly one From field (RFC 5322
// §3.6, §3.6.2) holding a mailbox-list of exactly one mailbox (§3.4). Grammar: mailbox =
// name-addr / addr-spec; display names are phrases (atoms, quoted strings, and '.' as in
// obs-phrase §4.1); CFWS with nested comments anywhere tokens may be separated (§3.2.2); the
// obsolete forms of §4.4 (obs-mbox-list empty elements, obs-local-part, obs-domain, obs-route)
// are accepted; RFC 6532 UTF-8 counts as atext. Group syntax (§3.4 group) is refused, because a
// From field holds mailboxes only. The domain must be a DNS name (letters, digits, '-', UTF-8
// labels; labels 1..63 bytes in A-label form, 253 in all); a domain literal has no DMARC domain.
// Pure. Must not: throw, read past kMaxHeaderSection / kMaxFromField, or nest comments deeper
// than kMaxCommentDepth.
#include <fmt/format.h>

#include <utility>
#include <vector>

#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/core/strings.hpp"
#include "header_fields.hpp"

namespace gatehouse::auth::dmarc {

namespace {

constexpr int kMaxCommentDepth = 32;

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6532 §3.2).
bool is_atext(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

struct Failure {
  FromProblem problem = FromProblem::unparseable;
  std::string detail;
};

// Recursive descent over one unfolded field value. Every loop advances `i_` or stops.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  // mailbox-list; on success the number of mailboxes and the first one's domain.
  bool mailbox_list(std::size_t& count, std::string& domain) {
    count = 0;
    while (true) {
      if (!cfws()) return false;
      if (at_end()) break;
      if (peek() == ',') {  // obs-mbox-list: empty element
        ++i_;
        continue;
      }
      std::string d;
      if (!mailbox(d)) return false;
      if (count == 0) domain = std::move(d);
      ++count;
      if (!cfws()) return false;
      if (at_end()) break;
      if (peek() != ',') return fail(FromProblem::unparseable, "expected ',' or the end after an address");
      ++i_;
    }
    return true;
  }

  Failure failure() const { return failure_; }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }

  bool fail(FromProblem p, std::string detail) {
    failure_ = Failure{p, fmt::format("{} (at byte {})", detail, i_)};
    return false;
  }

  // CFWS (§3.2.2): whitespace and nested comments.
  bool cfws() {
    while (!at_end()) {
      if (is_wsp(peek())) {
        ++i_;
      } else if (peek() == '(') {
        if (!comment()) return false;
      } else {
        break;
      }
    }
    return true;
  }

  bool comment() {
    int depth = 0;
    while (!at_end()) {
      const char c = peek();
      if (c == '\\') {
        i_ += 2;  // quoted-pair
        continue;
      }
      ++i_;
      if (c == '(') {
        if (++depth > kMaxCommentDepth) return fail(FromProblem::unparseable, "comments nested too deeply");
      } else if (c == ')') {
        if (--depth == 0) return true;
      }
    }
    i_ = s_.size();
    return fail(FromProblem::unparseable, "unterminated comment");
  }

  bool quoted_string() {  // at '"'
    ++i_;
    while (!at_end()) {
      const char c = peek();
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      ++i_;
      if (c == '"') return true;
    }
    i_ = s_.size();
    return fail(FromProblem::unparseable, "unterminated quoted string");
  }

  struct Token {
    enum class Kind { atom, quoted, dot } kind;
    std::string_view text;
  };

  // A run of words and dots, with CFWS between them (phrase, obs-local-part, obs-domain).
  bool words(std::vector<Token>& out) {
    while (true) {
      if (!cfws()) return false;
      if (at_end()) return true;
      const char c = peek();
      const std::size_t start = i_;
      if (c == '"') {
        if (!quoted_string()) return false;
        out.push_back({Token::Kind::quoted, s_.substr(start, i_ - start)});
      } else if (c == '.') {
        ++i_;
        out.push_back({Token::Kind::dot, s_.substr(start, 1)});
      } else if (is_atext(c)) {
        while (!at_end() && is_atext(peek())) ++i_;
        out.push_back({Token::Kind::atom, s_.substr(start, i_ - start)});
      } else {
        return true;
      }
    }
  }

  // word *("." word): no leading, trailing or doubled dot.
  static bool dotted(const std::vector<Token>& t, bool atoms_only) {
    if (t.empty() || t.size() % 2 == 0) return false;
    for (std::size_t k = 0; k < t.size(); ++k) {
      const bool want_word = k % 2 == 0;
      if (want_word == (t[k].kind == Token::Kind::dot)) return false;
      if (atoms_only && t[k].kind == Token::Kind::quoted) return false;
    }
    return true;
  }

  bool mailbox(std::string& domain) {
    std::vector<Token> phrase;
    if (!words(phrase)) return false;
    if (at_end()) return fail(FromProblem::unparseable, "no '@' in the address");
    const char c = peek();
    if (c == '<') {  // name-addr: the words were the display name
      ++i_;
      return angle_addr(domain);
    }
    if (c == '@') {  // addr-spec: the words were the local-part
      if (!dotted(phrase, false)) return fail(FromProblem::unparseable, "bad local-part");
      ++i_;
      return domain_part(domain);
    }
    if (c == ':') return fail(FromProblem::group, "group syntax");
    return fail(FromProblem::unparseable, fmt::format("unexpected character 0x{:02x}", static_cast<unsigned char>(c)));
  }

  bool angle_addr(std::string& domain) {  // after '<'
    if (!cfws()) return false;
    if (!at_end() && peek() == '@') {  // obs-route: 1*("@" domain / ",") ":"
      while (!at_end() && peek() != ':') {
        if (peek() == '>') return fail(FromProblem::unparseable, "bad source route");
        ++i_;
      }
      if (at_end()) return fail(FromProblem::unparseable, "unterminated source route");
      ++i_;
    }
    std::vector<Token> local;
    if (!words(local)) return false;
    if (at_end() || peek() != '@') {
      if (local.empty() && !at_end() && peek() == '>') return fail(FromProblem::unparseable, "empty address <>");
      return fail(FromProblem::unparseable, "no '@' in the address");
    }
    if (!dotted(local, false)) return fail(FromProblem::unparseable, "bad local-part");
    ++i_;
    if (!domain_part(domain)) return false;
    if (at_end() || peek() != '>') return fail(FromProblem::unparseable, "expected '>'");
    ++i_;
    return true;
  }

  bool domain_part(std::string& domain) {  // after '@'
    if (!cfws()) return false;
    if (!at_end() && peek() == '[') return fail(FromProblem::no_domain, "domain literal");
    std::vector<Token> t;
    if (!words(t)) return false;
    if (!dotted(t, true)) return fail(FromProblem::unparseable, "bad domain");
    std::string d;
    for (const auto& tok : t) d += tok.text;
    if (!valid_dns_name(d)) return fail(FromProblem::unparseable, "the domain is not a valid DNS name");
    domain = core::to_lower(d);
    return true;
  }

  static bool valid_dns_name(std::string_view d) {
    for (char c : d) {
      const auto u = static_cast<unsigned char>(c);
      const bool ok = u >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.';
      if (!ok) return false;
    }
    auto ascii = psl::to_ascii(d);
    if (!ascii || ascii->size() > 253) return false;
    std::size_t label = 0;
    for (char c : *ascii) {
      if (c == '.') label = 0;
      else if (++label > 63) return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  Failure failure_;
};

FromDomain problem(FromProblem p, std::string detail) {
  FromDomain f;
  f.problem = p;
  f.detail = std::move(detail);
  return f;
}

}  // namespace

std::string_view to_string(FromProblem p) {
  switch (p) {
    case FromProblem::ok: return "ok";
    case FromProblem::missing: return "no From field";
    case FromProblem::several_fields: return "several From fields";
    case FromProblem::several_addresses: return "several addresses in From";
    case FromProblem::group: return "group syntax in From";
    case FromProblem::no_domain: return "no domain name in From";
    case FromProblem::unparseable: return "unparseable From field";
    case FromProblem::too_long: return "From field too long";
  }
  return "?";
}

FromDomain from_domain(std::string_view header_block) {
  auto section = detail::scan_header_section(header_block, kMaxHeaderSection);
  if (section.over_cap)
    return problem(FromProblem::too_long, fmt::format("header section longer than {} bytes", kMaxHeaderSection));
  const detail::Field* from = nullptr;
  std::size_t count = 0;
  for (const auto& f : section.fields) {
    if (f.name.empty() || !core::iequals(f.name, "From")) continue;
    ++count;
    if (!from) from = &f;
  }
  if (count == 0) return problem(FromProblem::missing, "no From field");
  if (count > 1) return problem(FromProblem::several_fields, fmt::format("{} From fields", count));
  if (from->value.size() > kMaxFromField)
    return problem(FromProblem::too_long, fmt::format("From field longer than {} bytes", kMaxFromField));

  const std::string value = detail::unfold(from->value);
  Parser parser(value);
  std::size_t mailboxes = 0;
  std::string domain;
  if (!parser.mailbox_list(mailboxes, domain)) {
    auto f = parser.failure();
    return problem(f.problem, std::move(f.detail));
  }
  if (mailboxes == 0) return problem(FromProblem::unparseable, "the From field holds no address");
  if (mailboxes > 1)
    return problem(FromProblem::several_addresses, fmt::format("the From field holds {} addresses", mailboxes));
  FromDomain out;
  out.domain = std::move(domain);
  return out;
}

}  // namespace gatehouse::auth::dmarc
