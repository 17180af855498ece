// UTF-8 decoding (RFC 3629 §3, §4), Punycode encoding (RFC 3492 §6.1-§6.3) and the A-label form
// used to compare Public Suffix List rules with domains (see include/gatehouse/auth/psl.hpp).
// Pure: no globals, no IO.
// Must not: throw (except bad_alloc), accept malformed UTF-8, or let the Punycode state overflow
// (RFC 3492 §6.4: the checks below keep every value within 32 bits).
#include "idna.hpp"

#include <cstdint>
#include <limits>

#include "gatehouse/auth/psl.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth::psl::detail {

namespace {

// RFC 3492 §5: parameter values for Punycode.
constexpr std::uint32_t kBase = 36;
constexpr std::uint32_t kTmin = 1;
constexpr std::uint32_t kTmax = 26;
constexpr std::uint32_t kSkew = 38;
constexpr std::uint32_t kDamp = 700;
constexpr std::uint32_t kInitialBias = 72;
constexpr std::uint32_t kInitialN = 128;
constexpr std::uint32_t kMaxInt = std::numeric_limits<std::uint32_t>::max();

char encode_digit(std::uint32_t d) {  // 0..25 -> a..z, 26..35 -> 0..9
  return d < 26 ? static_cast<char>('a' + d) : static_cast<char>('0' + (d - 26));
}

// RFC 3492 §6.1.
std::uint32_t adapt(std::uint32_t delta, std::uint32_t numpoints, bool first_time) {
  delta = first_time ? delta / kDamp : delta / 2;
  delta += delta / numpoints;
  std::uint32_t k = 0;
  while (delta > ((kBase - kTmin) * kTmax) / 2) {
    delta /= kBase - kTmin;
    k += kBase;
  }
  return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

}  // namespace

bool utf8_decode(std::string_view in, std::u32string& out) {
  out.clear();
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1Fu;
      min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0Fu;
      min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07u;
      min = 0x10000;
    } else {
      return false;  // continuation byte first, C0/C1 overlong lead, or > U+10FFFF lead
    }
    if (in.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    i += len;
  }
  return true;
}

std::optional<std::string> punycode_encode(std::u32string_view in) {
  std::string out;
  for (char32_t c : in)
    if (c < 0x80) out.push_back(static_cast<char>(c));
  const auto b = static_cast<std::uint32_t>(out.size());
  if (b > 0) out.push_back('-');
  if (in.size() >= kMaxInt) return std::nullopt;
  const auto total = static_cast<std::uint32_t>(in.size());

  std::uint32_t n = kInitialN;
  std::uint32_t delta = 0;
  std::uint32_t bias = kInitialBias;
  std::uint32_t h = b;
  while (h < total) {
    std::uint32_t m = kMaxInt;  // the smallest code point >= n in the input
    for (char32_t c : in)
      if (c >= n && c < m) m = c;
    if (m - n > (kMaxInt - delta) / (h + 1)) return std::nullopt;
    delta += (m - n) * (h + 1);
    n = m;
    for (char32_t c : in) {
      if (c < n) {
        if (delta == kMaxInt) return std::nullopt;
        ++delta;
      }
      if (c == n) {
        std::uint32_t q = delta;
        for (std::uint32_t k = kBase;; k += kBase) {
          const std::uint32_t t = k <= bias ? kTmin : (k >= bias + kTmax ? kTmax : k - bias);
          if (q < t) break;
          out.push_back(encode_digit(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        out.push_back(encode_digit(q));
        bias = adapt(delta, h + 1, h == b);
        delta = 0;
        ++h;
      }
    }
    if (delta == kMaxInt || n == kMaxInt) return std::nullopt;
    ++delta;
    ++n;
  }
  return out;
}

std::optional<std::string> label_to_ascii(std::string_view label) {
  bool ascii = true;
  for (char c : label)
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
  std::string lower = core::to_lower(label);
  if (ascii) return lower;
  std::u32string cps;
  if (!utf8_decode(lower, cps)) return std::nullopt;
  auto encoded = punycode_encode(cps);
  if (!encoded) return std::nullopt;
  return "xn--" + *encoded;
}

bool split_labels(std::string_view domain, std::size_t max_bytes, std::size_t max_labels,
                  std::vector<std::string_view>& labels) {
  labels.clear();
  if (domain.size() > max_bytes) return false;
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = domain.find('.', start);
    const auto end = dot == std::string_view::npos ? domain.size() : dot;
    if (end == start) return false;  // empty label
    if (labels.size() == max_labels) return false;
    labels.push_back(domain.substr(start, end - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace gatehouse::auth::psl::detail

namespace gatehouse::auth::psl {

std::optional<std::string> to_ascii(std::string_view domain) {
  std::vector<std::string_view> labels;
  if (!detail::split_labels(domain, List::kMaxDomainLength, List::kMaxLabels, labels)) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto a = detail::label_to_ascii(labels[i]);
    if (!a) return std::nullopt;
    if (i) out.push_back('.');
    out += *a;
  }
  return out;
}

}  // namespace gatehouse::auth::psl
