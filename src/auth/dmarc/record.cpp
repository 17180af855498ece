// DMARC policy record parser (RFC 7489 §6.3 tags, §6.4 ABNF, §6.6.3 step 6 for an invalid p/sp).
// v=DMARC1 must come first and is exact; the other tags may come in any order, their names and
// keyword values are case-insensitive (ABNF literals), unknown tags are ignored, and a bad value
// is replaced by the tag's default with a note in Record::problems. A tag given twice keeps its
// first value.
// Pure: text in, value out. Must not: throw, or look at more than kMaxRecordLength bytes.
#include <fmt/format.h>

#include <limits>
#include <string>
#include <vector>

#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth::dmarc {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on `sep`, trimming WSP around each part (empty parts kept).
std::vector<std::string_view> split_wsp(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    const auto end = pos == std::string_view::npos ? s.size() : pos;
    out.push_back(trim_wsp(s.substr(start, end - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// RFC 6376 §3.2 tag-name: ALPHA *ALNUMPUNC ("_" included).
bool valid_tag_name(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
  return true;
}

std::optional<Policy> parse_policy(std::string_view v) {
  if (core::iequals(v, "none")) return Policy::none;
  if (core::iequals(v, "quarantine")) return Policy::quarantine;
  if (core::iequals(v, "reject")) return Policy::reject;
  return std::nullopt;
}

std::optional<AlignmentMode> parse_alignment(std::string_view v) {
  if (core::iequals(v, "r")) return AlignmentMode::relaxed;
  if (core::iequals(v, "s")) return AlignmentMode::strict;
  return std::nullopt;
}

// RFC 3986 absolute-URI, loosely: scheme ":" then one or more URI characters, where '%' must
// start a pct-encoded octet. §6.2: commas and '!' inside a URI are %-encoded, so a literal '!'
// only starts the size limit.
bool valid_uri(std::string_view u) {
  const auto colon = u.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == u.size()) return false;
  if (!is_alpha(u.front())) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = u[i];
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  static constexpr std::string_view kAllowed = "-._~:/?#[]@$&'()*+;=";  // unreserved + reserved,
  for (std::size_t i = colon + 1; i < u.size(); ++i) {                   // minus ',' and '!'
    const char c = u[i];
    if (c == '%') {
      if (i + 2 >= u.size() || !is_hex(u[i + 1]) || !is_hex(u[i + 2])) return false;
      i += 2;
      continue;
    }
    if (is_alpha(c) || is_digit(c) || kAllowed.find(c) != std::string_view::npos) continue;
    return false;
  }
  return true;
}

// "10", "10k", "10m", "10g", "10t" (§6.4 dmarc-uri): bytes, or nullopt on bad syntax / overflow.
std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::uint64_t mult = 1;
  if (!s.empty() && !is_digit(s.back())) {
    switch (core::ascii_lower(s.back())) {
      case 'k': mult = 1ULL << 10; break;
      case 'm': mult = 1ULL << 20; break;
      case 'g': mult = 1ULL << 30; break;
      case 't': mult = 1ULL << 40; break;
      default: return std::nullopt;
    }
    s.remove_suffix(1);
  }
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (!is_digit(c)) return std::nullopt;
  auto n = core::parse_u64(s);
  if (!n || *n > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
  return *n * mult;
}

// rua / ruf: dmarc-uri *(*WSP "," *WSP dmarc-uri). Invalid URIs are dropped with a note.
std::vector<ReportUri> parse_uris(std::string_view tag, std::string_view value, std::vector<std::string>& problems) {
  std::vector<ReportUri> out;
  for (auto part : split_wsp(value, ',')) {
    if (part.empty()) {
      problems.push_back(fmt::format("{}: empty URI", tag));
      continue;
    }
    ReportUri r;
    std::string_view uri = part;
    if (const auto bang = part.find('!'); bang != std::string_view::npos) {
      uri = part.substr(0, bang);
      auto size = parse_size(part.substr(bang + 1));
      if (!size) {
        problems.push_back(fmt::format("{}: bad size limit in '{}'", tag, part));
        continue;
      }
      r.max_size = size;
    }
    if (!valid_uri(uri)) {
      problems.push_back(fmt::format("{}: '{}' is not a URI", tag, part));
      continue;
    }
    if (out.size() == kMaxReportUris) {
      problems.push_back(fmt::format("{}: more than {} URIs, the rest are ignored", tag, kMaxReportUris));
      break;
    }
    r.uri = std::string(uri);
    out.push_back(std::move(r));
  }
  return out;
}

// "v" *WSP "=" *WSP "DMARC1" at the start of `s` (after leading WSP); returns the rest.
std::optional<std::string_view> strip_version(std::string_view s) {
  s = trim_wsp(s);
  if (s.empty() || (s.front() != 'v' && s.front() != 'V')) return std::nullopt;
  s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  if (s.empty() || s.front() != '=') return std::nullopt;
  s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  if (s.substr(0, 6) != "DMARC1") return std::nullopt;
  s.remove_prefix(6);
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  if (!s.empty() && s.front() != ';') return std::nullopt;
  return s;
}

}  // namespace

std::string_view to_string(Policy p) {
  switch (p) {
    case Policy::none: return "none";
    case Policy::quarantine: return "quarantine";
    case Policy::reject: return "reject";
  }
  return "?";
}

std::string_view to_string(AlignmentMode m) { return m == AlignmentMode::strict ? "s" : "r"; }

bool is_dmarc_record(std::string_view txt) { return strip_version(txt).has_value(); }

Expected<Record> parse_record(std::string_view txt) {
  if (txt.size() > kMaxRecordLength)
    return make_error(fmt::format("DMARC record longer than {} bytes", kMaxRecordLength));
  auto rest = strip_version(txt);
  if (!rest) return make_error("not a DMARC record: it must start with v=DMARC1");

  Record r;
  auto& problems = r.problems;
  std::vector<std::string> seen;
  bool have_p = false;
  bool p_valid = false;
  bool sp_invalid = false;
  for (auto spec : split_wsp(*rest, ';')) {
    if (spec.empty()) continue;  // ";;" or the trailing separator
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos) {
      problems.push_back(fmt::format("'{}' is not a tag=value pair", spec));
      continue;
    }
    const auto name_raw = trim_wsp(spec.substr(0, eq));
    const auto value = trim_wsp(spec.substr(eq + 1));
    if (!valid_tag_name(name_raw)) {
      problems.push_back(fmt::format("'{}' is not a valid tag name", name_raw));
      continue;
    }
    const std::string name = core::to_lower(name_raw);
    bool dup = false;
    for (const auto& s : seen) dup = dup || s == name;
    if (dup) {
      problems.push_back(fmt::format("{}: given more than once, the first value is used", name));
      continue;
    }
    seen.push_back(name);

    if (name == "v") {
      problems.push_back("v: given more than once, the first value is used");
    } else if (name == "p") {
      have_p = true;
      if (auto p = parse_policy(value)) {
        r.p = *p;
        p_valid = true;
      } else {
        problems.push_back(fmt::format("p: '{}' is not none, quarantine or reject", value));
      }
    } else if (name == "sp") {
      if (auto p = parse_policy(value)) {
        r.sp = *p;
      } else {
        sp_invalid = true;
        problems.push_back(fmt::format("sp: '{}' is not none, quarantine or reject", value));
      }
    } else if (name == "adkim" || name == "aspf") {
      if (auto m = parse_alignment(value)) {
        (name == "adkim" ? r.adkim : r.aspf) = *m;
      } else {
        problems.push_back(fmt::format("{}: '{}' is not r or s, using r", name, value));
      }
    } else if (name == "pct") {
      bool digits = !value.empty() && value.size() <= 3;
      for (char c : value) digits = digits && is_digit(c);
      auto n = digits ? core::parse_u64(value) : std::nullopt;
      if (n && *n <= 100) {
        r.pct = static_cast<unsigned>(*n);
      } else {
        problems.push_back(fmt::format("pct: '{}' is not a number from 0 to 100, using 100", value));
      }
    } else if (name == "ri") {
      bool digits = !value.empty() && value.size() <= 32;
      for (char c : value) digits = digits && is_digit(c);
      if (digits) {
        auto n = value.size() <= 19 ? core::parse_u64(value) : std::nullopt;
        const std::uint64_t max = std::numeric_limits<std::uint32_t>::max();
        r.ri = static_cast<std::uint32_t>(n && *n < max ? *n : max);
      } else {
        problems.push_back(fmt::format("ri: '{}' is not a number of seconds, using 86400", value));
      }
    } else if (name == "fo") {
      FailureOptions fo{false, false, false, false};
      bool ok = !value.empty();
      for (auto opt : split_wsp(value, ':')) {
        if (opt == "0") fo.all = true;
        else if (opt == "1") fo.any = true;
        else if (core::iequals(opt, "d")) fo.dkim = true;
        else if (core::iequals(opt, "s")) fo.spf = true;
        else ok = false;
      }
      if (ok) r.fo = fo;
      else problems.push_back(fmt::format("fo: '{}' is not a list of 0, 1, d, s; using 0", value));
    } else if (name == "rf") {
      std::vector<std::string> formats;
      bool ok = !value.empty();
      for (auto f : split_wsp(value, ':')) {  // RFC 5321 Keyword (Ldh-str)
        bool kw = !f.empty() && (is_alpha(f.front()) || is_digit(f.front())) && f.back() != '-';
        for (char c : f) kw = kw && (is_alpha(c) || is_digit(c) || c == '-');
        if (!kw) ok = false;
        else formats.push_back(core::to_lower(f));
      }
      if (ok) r.rf = std::move(formats);
      else problems.push_back(fmt::format("rf: '{}' is not a list of report formats, using afrf", value));
    } else if (name == "rua" || name == "ruf") {
      (name == "rua" ? r.rua : r.ruf) = parse_uris(name, value, problems);
    }
    // Any other tag: ignored (§6.3).
  }

  if (!have_p) problems.push_back("p: missing");
  if (!p_valid || sp_invalid) {
    // §6.6.3 step 6.
    if (r.rua.empty())
      return make_error(!p_valid ? "DMARC record without a valid p tag (and no valid rua)"
                                 : "DMARC record with an invalid sp tag (and no valid rua)");
    r.p = Policy::none;
    r.sp.reset();
    r.p_defaulted = true;
  }
  return r;
}

}  // namespace gatehouse::auth::dmarc
