// Pure DKIM parsers: the tag-list (RFC 6376 §3.2), the DKIM-Signature field (§3.5, with the
// checks of §6.1.1 that need no key and no clock), the key record (§3.6.1), base64 (§2.4), and
// the to_string() names of the public enums (RFC 8601 §2.7.1 result names).
// Must not: throw, read past kMaxSignatureField / kMaxKeyRecord, or query DNS / read the clock.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

#include "gatehouse/core/strings.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::rsa_sha256: return "rsa-sha256";
    case Algorithm::ed25519_sha256: return "ed25519-sha256";
    case Algorithm::rsa_sha1: return "rsa-sha1";
  }
  return "?";
}

std::string_view to_string(Canon c) { return c == Canon::relaxed ? "relaxed" : "simple"; }

std::string_view to_string(KeyType k) { return k == KeyType::ed25519 ? "ed25519" : "rsa"; }

std::string_view to_string(Result r) {
  switch (r) {
    case Result::none: return "none";
    case Result::pass: return "pass";
    case Result::fail: return "fail";
    case Result::neutral: return "neutral";
    case Result::policy: return "policy";
    case Result::temperror: return "temperror";
    case Result::permerror: return "permerror";
  }
  return "?";
}

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::none: return "";
    case Reason::body_hash_mismatch: return "body hash mismatch";
    case Reason::signature_mismatch: return "signature did not verify";
    case Reason::syntax: return "signature syntax error";
    case Reason::duplicate_tag: return "duplicate tag";
    case Reason::missing_tag: return "missing required tag";
    case Reason::unsupported_version: return "unsupported version";
    case Reason::unsupported_algorithm: return "unsupported algorithm";
    case Reason::rsa_sha1: return "rsa-sha1 is not acceptable (RFC 8301)";
    case Reason::unsupported_canonicalization: return "unsupported canonicalization";
    case Reason::unsupported_query_method: return "unsupported query method";
    case Reason::from_not_signed: return "From field not signed";
    case Reason::identity_mismatch: return "i= is not within d=";
    case Reason::expired: return "signature expired";
    case Reason::expiry_before_timestamp: return "x= is not after t=";
    case Reason::body_length_exceeds: return "l= exceeds the body length";
    case Reason::key_not_found: return "no key for signature";
    case Reason::key_unavailable: return "key query failed";
    case Reason::key_syntax: return "key record syntax error";
    case Reason::key_revoked: return "key revoked";
    case Reason::key_type_unknown: return "unknown key type";
    case Reason::key_type_mismatch: return "key type does not match the algorithm";
    case Reason::key_hash_not_allowed: return "key does not allow the hash algorithm";
    case Reason::key_service_not_email: return "key is not for email";
    case Reason::key_invalid: return "key could not be decoded";
    case Reason::key_too_small: return "key too small (RFC 8301)";
    case Reason::strict_identity: return "key forbids a subdomain in i= (t=s)";
    case Reason::key_dns_temporary: return "key query timed out or failed temporarily";
    case Reason::internal: return "internal crypto error";
    case Reason::timestamp_in_future: return "signature timestamp in the future";
    case Reason::key_below_policy: return "key smaller than local policy";
    case Reason::body_length_extra: return "body has unsigned content after l=";
    case Reason::not_evaluated: return "too many signatures, not evaluated";
    case Reason::testing: return "key in testing mode";
  }
  return "?";
}

namespace detail {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim_fws(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
  return s;
}

std::string strip_fws(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (!is_fws(c)) out.push_back(c);
  return out;
}

const Tag* TagList::find(std::string_view name) const {
  for (const auto& t : tags)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool valid_tag_name(std::string_view n) {
  if (n.empty() || !is_alpha(n.front())) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

// VALCHAR (%x21-3A / %x3C-7E) and FWS inside; bytes >= 0x80 are let through (RFC 8616 UTF-8).
bool valid_tag_value(std::string_view v) {
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (is_fws(ch) || c >= 0x80) continue;
    if (c < 0x21 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

TagList parse_tag_list(std::string_view text) {
  TagList out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(';', pos);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    std::string_view spec = text.substr(pos, end - pos);
    if (trim_fws(spec).empty()) {
      if (!last && !trim_fws(text.substr(end + 1)).empty()) {
        out.error = Reason::syntax;
        out.detail = fmt::format("empty tag-spec at offset {}", pos);
        return out;
      }
      break;  // trailing ";" (or nothing at all)
    }
    std::size_t eq = spec.find('=');
    if (eq == std::string_view::npos) {
      out.error = Reason::syntax;
      out.detail = fmt::format("tag-spec without '=' at offset {}", pos);
      return out;
    }
    Tag t;
    t.name = trim_fws(spec.substr(0, eq));
    t.value = trim_fws(spec.substr(eq + 1));
    t.after_equals = pos + eq + 1;
    t.spec_end = end;
    if (!valid_tag_name(t.name)) {
      out.error = Reason::syntax;
      out.detail = fmt::format("invalid tag name at offset {}", pos);
      return out;
    }
    if (!valid_tag_value(t.value)) {
      out.error = Reason::syntax;
      out.detail = fmt::format("invalid character in the value of {}=", t.name);
      return out;
    }
    if (out.find(t.name)) {
      out.error = Reason::duplicate_tag;
      out.detail = fmt::format("tag {}= appears twice", t.name);
      return out;
    }
    out.tags.push_back(t);
    if (last) break;
    pos = end + 1;
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr auto table = [] {
    std::array<signed char, 256> t{};
    for (auto& v : t) v = -1;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  std::size_t chars = 0;
  for (char ch : text) {
    if (is_fws(ch)) continue;
    if (ch == '=') {
      ++pad;
      ++chars;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    ++chars;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2) return std::nullopt;
  if (pad && chars % 4 != 0) return std::nullopt;
  if (!pad && chars % 4 == 1) return std::nullopt;  // 6 bits cannot make a byte
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  if (bytes.size() - i == 1) {
    std::uint32_t v = byte(i) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out += "==";
  } else if (bytes.size() - i == 2) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

bool is_domain_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    char c = s[i];
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return false;
    ++label;
  }
  return true;
}

}  // namespace detail

namespace {

using detail::Tag;
using detail::TagList;

std::vector<std::string> split_colon_list(std::string_view v) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t end = v.find(':', pos);
    if (end == std::string_view::npos) end = v.size();
    out.emplace_back(detail::trim_fws(v.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

// 1*DIGIT, at most `max_digits`. Values beyond int64 saturate.
std::optional<std::uint64_t> parse_digits(std::string_view v, std::size_t max_digits) {
  if (v.empty() || v.size() > max_digits) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) n = std::numeric_limits<std::uint64_t>::max();
    else n = n * 10 + d;
  }
  return n;
}

// t= / x=: §3.5 lets values of more than 12 digits be treated as infinite.
std::optional<std::int64_t> parse_time(std::string_view v) {
  auto n = parse_digits(v, 76);
  if (!n) return std::nullopt;
  if (v.size() > 12 || *n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(*n);
}

bool valid_field_name(std::string_view n) {
  if (n.empty()) return false;
  for (char ch : n) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

SignatureParse sig_error(SignatureParse p, Reason r, std::string detail) {
  p.error = r;
  p.detail = std::move(detail);
  return p;
}

std::optional<Canon> canon_of(std::string_view s) {
  if (core::iequals(s, "simple")) return Canon::simple;
  if (core::iequals(s, "relaxed")) return Canon::relaxed;
  return std::nullopt;
}

}  // namespace

SignatureParse parse_signature(std::string_view value) {
  SignatureParse out;
  Signature& sig = out.signature;
  if (value.size() > kMaxSignatureField)
    return sig_error(std::move(out), Reason::syntax, "DKIM-Signature field too long");
  TagList tl = detail::parse_tag_list(value);

  // What the report needs, best effort, before anything can fail.
  // d= s= a= i= allow no FWS inside (§3.5 ABNF), so they are taken as written and validated.
  if (const Tag* t = tl.find("d")) sig.domain = core::to_lower(t->value);
  if (const Tag* t = tl.find("s")) sig.selector = core::to_lower(t->value);
  if (const Tag* t = tl.find("a")) sig.algorithm_name = std::string(t->value);
  if (const Tag* t = tl.find("b")) sig.b_text = detail::strip_fws(t->value);
  if (const Tag* t = tl.find("i")) sig.identity = std::string(t->value);
  else if (!sig.domain.empty()) sig.identity = "@" + sig.domain;
  if (tl.error != Reason::none) return sig_error(std::move(out), tl.error, tl.detail);

  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"})
    if (!tl.find(required)) return sig_error(std::move(out), Reason::missing_tag, fmt::format("{}= is missing", required));

  if (detail::strip_fws(tl.find("v")->value) != "1")
    return sig_error(std::move(out), Reason::unsupported_version, "v= is not 1");

  const std::string& a = sig.algorithm_name;
  if (core::iequals(a, "rsa-sha256")) sig.algorithm = Algorithm::rsa_sha256;
  else if (core::iequals(a, "ed25519-sha256")) sig.algorithm = Algorithm::ed25519_sha256;
  else if (core::iequals(a, "rsa-sha1")) sig.algorithm = Algorithm::rsa_sha1;
  else return sig_error(std::move(out), Reason::unsupported_algorithm, fmt::format("a={} is not supported", a));

  auto b = detail::base64_decode(tl.find("b")->value);
  if (!b || b->empty()) return sig_error(std::move(out), Reason::syntax, "b= is not base64 or empty");
  sig.b = std::move(*b);
  auto bh = detail::base64_decode(tl.find("bh")->value);
  if (!bh || bh->empty()) return sig_error(std::move(out), Reason::syntax, "bh= is not base64 or empty");
  sig.bh = std::move(*bh);

  if (const Tag* c = tl.find("c")) {
    std::string cv = detail::strip_fws(c->value);
    std::size_t slash = cv.find('/');
    auto hc = canon_of(std::string_view(cv).substr(0, slash));
    std::optional<Canon> bc = Canon::simple;
    if (slash != std::string::npos) bc = canon_of(std::string_view(cv).substr(slash + 1));
    if (!hc || !bc)
      return sig_error(std::move(out), Reason::unsupported_canonicalization, fmt::format("c={} is not supported", cv));
    sig.header_canon = *hc;
    sig.body_canon = *bc;
  }

  if (!detail::is_domain_name(sig.domain))
    return sig_error(std::move(out), Reason::syntax, "d= is not a domain name");
  if (!detail::is_domain_name(sig.selector))
    return sig_error(std::move(out), Reason::syntax, "s= is not a valid selector");

  for (auto& name : split_colon_list(tl.find("h")->value)) {
    if (!valid_field_name(name)) return sig_error(std::move(out), Reason::syntax, "h= holds an invalid field name");
    if (sig.signed_headers.size() >= kMaxSignedHeaders)
      return sig_error(std::move(out), Reason::syntax, "h= lists too many fields");
    sig.signed_headers.push_back(core::to_lower(name));
  }
  if (std::find(sig.signed_headers.begin(), sig.signed_headers.end(), "from") == sig.signed_headers.end())
    return sig_error(std::move(out), Reason::from_not_signed, "h= does not include From");

  if (tl.find("i")) {
    std::size_t at = sig.identity.rfind('@');
    if (at == std::string::npos) return sig_error(std::move(out), Reason::syntax, "i= has no '@'");
    if (std::any_of(sig.identity.begin(), sig.identity.end(), detail::is_fws))
      return sig_error(std::move(out), Reason::syntax, "i= contains whitespace");
    std::string idom = core::to_lower(std::string_view(sig.identity).substr(at + 1));
    bool within = idom == sig.domain ||
                  (idom.size() > sig.domain.size() &&
                   idom.compare(idom.size() - sig.domain.size(), sig.domain.size(), sig.domain) == 0 &&
                   idom[idom.size() - sig.domain.size() - 1] == '.');
    if (!within)
      return sig_error(std::move(out), Reason::identity_mismatch,
                       fmt::format("i= domain {} is not {} or below it", idom, sig.domain));
  }

  if (const Tag* l = tl.find("l")) {
    auto n = parse_digits(detail::strip_fws(l->value), 76);
    if (!n) return sig_error(std::move(out), Reason::syntax, "l= is not a number");
    sig.body_length = *n;
  }

  if (const Tag* q = tl.find("q")) {
    bool dns_txt = false;
    for (const auto& m : split_colon_list(q->value))
      if (core::iequals(m, "dns/txt")) dns_txt = true;
    if (!dns_txt) return sig_error(std::move(out), Reason::unsupported_query_method, "q= does not offer dns/txt");
  }

  if (const Tag* t = tl.find("t")) {
    sig.timestamp = parse_time(detail::strip_fws(t->value));
    if (!sig.timestamp) return sig_error(std::move(out), Reason::syntax, "t= is not a number");
  }
  if (const Tag* x = tl.find("x")) {
    sig.expiration = parse_time(detail::strip_fws(x->value));
    if (!sig.expiration) return sig_error(std::move(out), Reason::syntax, "x= is not a number");
    if (sig.timestamp && *sig.expiration <= *sig.timestamp)
      return sig_error(std::move(out), Reason::expiry_before_timestamp, "x= is not after t=");
  }
  if (const Tag* z = tl.find("z")) sig.copied_headers = std::string(z->value);
  return out;
}

namespace {

KeyParse key_error(KeyParse p, Reason r, std::string detail) {
  p.error = r;
  p.detail = std::move(detail);
  return p;
}

}  // namespace

KeyParse parse_key_record(std::string_view txt) {
  KeyParse out;
  KeyRecord& key = out.key;
  if (txt.size() > kMaxKeyRecord) return key_error(std::move(out), Reason::key_syntax, "key record too long");
  TagList tl = detail::parse_tag_list(txt);
  if (tl.error != Reason::none) return key_error(std::move(out), Reason::key_syntax, tl.detail);

  if (const Tag* v = tl.find("v"); v && v->value != "DKIM1")
    return key_error(std::move(out), Reason::key_syntax, "v= is not DKIM1");
  const Tag* p = tl.find("p");
  if (!p) return key_error(std::move(out), Reason::key_syntax, "p= is missing");

  if (const Tag* h = tl.find("h"))
    for (auto& name : split_colon_list(h->value)) key.hashes.push_back(core::to_lower(name));
  if (const Tag* s = tl.find("s")) {
    for (auto& name : split_colon_list(s->value)) key.services.push_back(core::to_lower(name));
  } else {
    key.services.push_back("*");
  }
  if (const Tag* t = tl.find("t")) {
    for (auto& flag : split_colon_list(t->value)) {
      if (core::iequals(flag, "y")) key.testing = true;
      if (core::iequals(flag, "s")) key.strict = true;
    }
  }
  if (const Tag* n = tl.find("n")) key.notes = std::string(n->value);

  std::string pv = detail::strip_fws(p->value);
  if (pv.empty()) return key_error(std::move(out), Reason::key_revoked, "p= is empty: the key is revoked");

  if (const Tag* k = tl.find("k")) {
    std::string kv = detail::strip_fws(k->value);
    if (core::iequals(kv, "rsa")) key.type = KeyType::rsa;
    else if (core::iequals(kv, "ed25519")) key.type = KeyType::ed25519;
    else return key_error(std::move(out), Reason::key_type_unknown, fmt::format("k={} is not supported", kv));
  }

  bool email = false;
  for (const auto& s : key.services)
    if (s == "*" || s == "email") email = true;
  if (!email) return key_error(std::move(out), Reason::key_service_not_email, "s= does not include email or *");

  auto der = detail::base64_decode(pv);
  if (!der) return key_error(std::move(out), Reason::key_invalid, "p= is not base64");
  key.public_key = std::move(*der);
  return out;
}

}  // namespace gatehouse::auth::dkim
