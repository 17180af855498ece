// SMTP replies: wire formatting (RFC 5321 §4.2, multi-line replies §4.2.1) with enhanced status
// codes on every line (RFC 2034 §3, RFC 3463 §2), and the incremental client-side reply parser.
// Pure. to_wire() never lets CR, LF or other control octets from reply text reach the wire, so
// text that quotes client data cannot inject extra reply lines.
#include "gatehouse/smtp/reply.hpp"

#include <charconv>

namespace gatehouse::smtp {
namespace {

constexpr std::size_t kMaxReplyLines = 128;  // a parser cap: further lines are counted, not kept

void append_int(std::string& out, int v) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void append_sanitized(std::string& out, std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back((c < 0x20 && c != '\t') || c == 0x7f ? ' ' : ch);
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads "class.subject.detail" (class 1 digit, subject and detail 1-3 digits) at the start of
// `text`, followed by a space or the end. Returns the octets used (including the space) or 0.
std::size_t read_enhanced(std::string_view text, EnhancedCode& out) {
  std::size_t i = 0;
  int parts[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    const std::size_t start = i;
    int v = 0;
    while (i < text.size() && is_digit(text[i]) && i - start < 3) v = v * 10 + (text[i++] - '0');
    if (i == start || (k == 0 && i - start != 1)) return 0;
    parts[k] = v;
    if (k < 2) {
      if (i >= text.size() || text[i] != '.') return 0;
      ++i;
    }
  }
  if (i < text.size()) {
    if (text[i] != ' ') return 0;
    ++i;
  }
  out = EnhancedCode{parts[0], parts[1], parts[2]};
  return i;
}

}  // namespace

std::optional<EnhancedCode> EnhancedCode::parse(std::string_view s) {
  int parts[3] = {0, 0, 0};
  std::size_t n = 0, digits = 0;
  for (char c : s) {
    if (c == '.') {
      if (digits == 0 || ++n > 2) return std::nullopt;
      digits = 0;
    } else if (c >= '0' && c <= '9' && digits < 3) {
      parts[n] = parts[n] * 10 + (c - '0');
      ++digits;
    } else {
      return std::nullopt;
    }
  }
  if (n != 2 || digits == 0) return std::nullopt;
  if (parts[0] != 2 && parts[0] != 4 && parts[0] != 5) return std::nullopt;
  return EnhancedCode{parts[0], parts[1], parts[2]};
}

std::string EnhancedCode::to_string() const {
  std::string s;
  append_int(s, klass);
  s.push_back('.');
  append_int(s, subject);
  s.push_back('.');
  append_int(s, detail);
  return s;
}

std::string Reply::to_wire() const {
  std::string out;
  const std::size_t n = lines.empty() ? 1 : lines.size();
  out.reserve(n * 16);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view text = lines.empty() ? std::string_view{} : std::string_view{lines[i]};
    append_int(out, code);
    const bool last = i + 1 == n;
    if (!last) out.push_back('-');
    if (!enhanced.empty()) {
      if (last) out.push_back(' ');
      out += enhanced.to_string();
      if (!text.empty()) out.push_back(' ');
    } else if (last && !text.empty()) {
      out.push_back(' ');
    }
    append_sanitized(out, text);
    out += "\r\n";
  }
  return out;
}

std::string Reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "; ";
    out += lines[i];
  }
  return out;
}

std::optional<Reply> ReplyParser::feed_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const bool shape_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) &&
                        is_digit(line[2]) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
  const int code = shape_ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
  if (!shape_ok || (in_progress_ && code != cur_.code)) {
    Reply bad;
    bad.lines.emplace_back(line);
    cur_ = Reply{};
    in_progress_ = false;
    return bad;
  }
  const bool more = line.size() > 3 && line[3] == '-';
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  if (!in_progress_) {
    cur_ = Reply{};
    cur_.code = code;
    in_progress_ = true;
    EnhancedCode e;
    if (std::size_t used = read_enhanced(text, e); used && e.klass == code / 100) {
      cur_.enhanced = e;
      text.remove_prefix(used);
    }
  } else if (!cur_.enhanced.empty()) {
    EnhancedCode e;
    if (std::size_t used = read_enhanced(text, e); used && e.klass == code / 100)
      text.remove_prefix(used);
  }
  if (cur_.lines.size() < kMaxReplyLines) cur_.lines.emplace_back(text);
  if (more) return std::nullopt;
  in_progress_ = false;
  Reply done = std::move(cur_);
  cur_ = Reply{};
  return done;
}

}  // namespace gatehouse::smtp
