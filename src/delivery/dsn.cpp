// Delivery status notifications (RFC 3464, RFC 6522 multipart/report, RFC 3461 NOTIFY and RET,
// RFC 6533 for SMTPUTF8 mail, RFC 3834 Auto-Submitted, RFC 3463 status codes): the decision
// helpers, the builder and a small parser.
//
// Pure: no sockets, files, clock or globals. Text from the network (replies, addresses, ENVID,
// ORCPT, host names) goes through clean_text()/clean_token() before it reaches a header or a
// status field: CR, LF and controls cannot start a new header, field or MIME part. Header lines
// are folded at spaces only (never inside a word) at 78 octets where the words allow. The MIME
// boundary is checked against every part and re-derived when the content contains it.
// Must not: throw from the parser, read past its caps, or depend on inbound (own date code here).
#include "gatehouse/delivery/dsn.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "gatehouse/core/strings.hpp"
#include "gatehouse/smtp/server_session.hpp"

namespace gatehouse::delivery {

namespace {

constexpr std::size_t kFoldWidth = 78;       // RFC 5322 §2.1.1 SHOULD
constexpr std::size_t kMaxWord = 900;        // longest unbroken word we write (line limit 998)
constexpr std::size_t kMaxFieldText = 4096;  // longest value taken from the network
constexpr std::size_t kMaxReplyLines = 50;   // reply lines shown in the human-readable part
constexpr std::size_t kTextWidth = 76;       // human-readable part wrap width
constexpr std::size_t kMaxTokenLength = 60;  // Message-ID left part / boundary base

constexpr std::size_t kMaxParts = 64;
constexpr std::size_t kMaxFields = 1000;
constexpr std::size_t kMaxRecipientBlocks = 10000;
constexpr std::size_t kMaxFieldValue = 64 * 1024;

// ---- UTF-8 -------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, <= 10FFFF),
// or 0 when the bytes there are not one. Stores the code point in *cp when given.
std::size_t utf8_seq(std::string_view s, std::size_t i, char32_t* cp = nullptr) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    if (cp) *cp = c;
    return 1;
  }
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t v = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (cp) *cp = v;
  return n;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// ---- sanitising --------------------------------------------------------------------------

// One line of text, safe for a header value or a line of the human-readable part: every run of
// white space (CR and LF included) becomes one space, other controls are dropped, bytes >= 0x80
// are kept only as valid UTF-8 when `utf8` (else '?'), words longer than kMaxWord are cut, and
// the result is at most `max_len` octets, trimmed. Never splits a UTF-8 sequence.
std::string clean_text(std::string_view in, bool utf8, std::size_t max_len = kMaxFieldText) {
  std::string out;
  std::size_t word = 0;
  bool space = false, cut = false;
  for (std::size_t i = 0; i < in.size();) {
    char c = in[i];
    if (is_ws(c)) {
      space = !out.empty();
      word = 0;
      cut = false;
      ++i;
      continue;
    }
    auto uc = static_cast<unsigned char>(c);
    std::string piece;
    if (uc < 0x20 || uc == 0x7F) {
      ++i;
      continue;
    } else if (uc < 0x80) {
      piece.assign(1, c);
      ++i;
    } else if (std::size_t n = utf8_seq(in, i); utf8 && n) {
      piece.assign(in.substr(i, n));
      i += n;
    } else {
      piece.assign(1, '?');
      i += n ? n : 1;
    }
    if (cut) continue;
    if (word + piece.size() > kMaxWord) {
      cut = true;
      continue;
    }
    std::size_t need = piece.size() + (space ? 1 : 0);
    if (out.size() + need > max_len) break;
    if (space) out += ' ';
    space = false;
    out += piece;
    word += piece.size();
  }
  return out;
}

// ASCII letters and digits plus `extra`; everything else dropped.
std::string clean_token(std::string_view in, std::string_view extra, std::size_t max_len) {
  std::string out;
  for (char c : in) {
    if (out.size() >= max_len) break;
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || extra.find(c) != std::string_view::npos) out += c;
  }
  return out;
}

std::string clean_host(std::string_view in) { return clean_token(in, ".-_:[]", 255); }

// Splits text into lines at CR and/or LF, each cleaned; empty lines dropped; at most `max`.
std::vector<std::string> clean_lines(std::string_view in, bool utf8, std::size_t max) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size() && out.size() < max; ++i) {
    if (i == in.size() || in[i] == '\r' || in[i] == '\n') {
      auto line = clean_text(in.substr(start, i - start), utf8, kMaxWord);
      if (!line.empty()) out.push_back(std::move(line));
      start = i + 1;
    }
  }
  return out;
}

// ---- writing -----------------------------------------------------------------------------

// "Name: value" + CRLF, folded before a space when the line would pass kFoldWidth. `value` must
// be clean (single spaces, no controls): a fold only inserts CRLF before an existing space, so
// unfolding (RFC 5322 §2.2.3) gives back exactly `value`.
void put_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ':';
  std::size_t len = name.size() + 1;
  std::size_t i = 0;
  bool first = true;
  while (i < value.size()) {
    std::size_t sp = value.find(' ', i);
    if (sp == std::string_view::npos) sp = value.size();
    std::string_view w = value.substr(i, sp - i);
    if (!first && len + 1 + w.size() > kFoldWidth) {
      out += "\r\n";
      len = 0;
    }
    out += ' ';
    out += w;
    len += 1 + w.size();
    first = false;
    i = sp + 1;
  }
  out += "\r\n";
}

// Word-wraps one paragraph (already clean) to kTextWidth with the given indents.
void put_wrapped(std::vector<std::string>& lines, std::string_view text, std::size_t indent,
                 std::size_t indent_rest) {
  std::string cur(indent, ' ');
  bool empty = true;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t sp = text.find(' ', i);
    if (sp == std::string_view::npos) sp = text.size();
    std::string_view w = text.substr(i, sp - i);
    i = sp + 1;
    if (w.empty()) continue;
    if (!empty && cur.size() + 1 + w.size() > kTextWidth) {
      lines.push_back(std::move(cur));
      cur.assign(indent_rest, ' ');
      empty = true;
    }
    if (!empty) cur += ' ';
    cur += w;
    empty = false;
  }
  if (!empty) lines.push_back(std::move(cur));
}

const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string two(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }

// ---- addresses (RFC 3464 §2.3.1-2, RFC 6533 §3) ------------------------------------------

bool is_qchar(char32_t cp) { return cp >= 0x21 && cp <= 0x7E && cp != '+' && cp != '=' && cp != '\\'; }

// utf-8-addr-xtext (RFC 6533 §3): ASCII except '+', '=', '\' and controls as is, every other
// code point as \x{HEX}. Used in message/delivery-status, which must stay ASCII.
std::string utf8_addr_xtext(std::string_view addr) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < addr.size() && out.size() < kMaxWord;) {
    char32_t cp = 0;
    std::size_t n = utf8_seq(addr, i, &cp);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    i += n;
    if (cp < 0x20 || cp == 0x7F) continue;
    if (is_qchar(cp)) {
      out += static_cast<char>(cp);
      continue;
    }
    std::string hex;
    for (char32_t v = cp; v; v >>= 4) hex.insert(hex.begin(), kHex[v & 0xF]);
    out += "\\x{" + hex + "}";
  }
  return out;
}

// Decodes the \x{HEX} escapes of utf-8-addr-xtext / utf-8-addr-unitext into raw UTF-8 (for
// message/global-delivery-status, which uses the utf-8-address form).
std::string utf8_addr_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, 3) == "\\x{") {
      std::size_t close = s.find('}', i + 3);
      if (close != std::string_view::npos && close > i + 3 && close - i - 3 <= 6) {
        char32_t cp = 0;
        bool ok = true;
        for (std::size_t k = i + 3; k < close; ++k) {
          char h = core::ascii_lower(s[k]);
          int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : -1;
          if (d < 0) ok = false;
          cp = cp * 16 + static_cast<char32_t>(d < 0 ? 0 : d);
        }
        if (ok && cp >= 0x20 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
          append_utf8(out, cp);
          i = close + 1;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

// Final-Recipient value: "rfc822; addr" for ASCII addresses, else "utf-8; addr" (raw UTF-8 in a
// global report, \x{..} escapes in a plain one).
std::string final_recipient_field(std::string_view addr, bool global) {
  std::string a = clean_text(addr, true, kMaxWord);
  if (!has_8bit(a)) return "rfc822; " + a;
  return "utf-8; " + (global ? a : utf8_addr_xtext(a));
}

// Original-Recipient value: the ORCPT as the client gave it ("type;addr"), cleaned. Non-ASCII
// addresses are written with the utf-8 type (RFC 6533 §3), in the form the part type requires.
std::string original_recipient_field(std::string_view orcpt, bool global) {
  std::string_view type = "rfc822", addr = orcpt;
  if (auto semi = orcpt.find(';'); semi != std::string_view::npos) {
    type = core::trim(orcpt.substr(0, semi));
    addr = core::trim(orcpt.substr(semi + 1));
  }
  std::string t = clean_token(type, "-", 64);
  if (t.empty()) t = "rfc822";
  bool utf8_type = core::iequals(t, "utf-8");
  std::string a = clean_text(utf8_type && global ? utf8_addr_unescape(addr) : std::string(addr), true, kMaxWord);
  if (!has_8bit(a)) return t + ";" + a;
  return "utf-8;" + (global ? a : utf8_addr_xtext(a));
}

// The address part of an ORCPT value, for the human-readable text.
std::string_view orcpt_address(std::string_view orcpt) {
  auto semi = orcpt.find(';');
  return core::trim(semi == std::string_view::npos ? orcpt : orcpt.substr(semi + 1));
}

// ---- status and diagnostic ---------------------------------------------------------------

bool valid_status(std::string_view s, DsnAction a) {
  auto parts = core::split(s, '.', false);
  if (parts.size() != 3) return false;
  for (std::size_t k = 0; k < 3; ++k) {
    const auto& p = parts[k];
    if (p.empty() || p.size() > (k == 0 ? 1u : 3u)) return false;
    if (!std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  }
  char klass = s[0];
  switch (a) {
    case DsnAction::failed: return klass == '4' || klass == '5';
    case DsnAction::delayed: return klass == '4';
    default: return klass == '2';
  }
}

std::string status_for(const DsnRecipient& rc) {
  std::string s(core::trim(rc.status));
  if (valid_status(s, rc.action)) return s;
  switch (rc.action) {
    case DsnAction::failed: return "5.0.0";
    case DsnAction::delayed: return "4.0.0";
    default: return "2.0.0";
  }
}

struct Diagnostic {
  std::string type;  // "smtp", "X-Gatehouse", ...; "" = no diagnostic
  std::string text;  // raw (not yet cleaned)
};

Diagnostic split_diagnostic(std::string_view d) {
  d = core::trim(d);
  if (d.empty()) return {};
  std::size_t i = 0;
  while (i < d.size() && (std::isalnum(static_cast<unsigned char>(d[i])) || d[i] == '-')) ++i;
  std::size_t j = i;
  while (j < d.size() && (d[j] == ' ' || d[j] == '\t')) ++j;
  if (i > 0 && j < d.size() && d[j] == ';')
    return {std::string(d.substr(0, i)), std::string(core::trim(d.substr(j + 1)))};
  bool reply = d.size() >= 3 && d[0] >= '2' && d[0] <= '5' && std::isdigit(static_cast<unsigned char>(d[1])) &&
               std::isdigit(static_cast<unsigned char>(d[2])) && (d.size() == 3 || d[3] == ' ' || d[3] == '-');
  return {reply ? "smtp" : "X-Gatehouse", std::string(d)};
}

// ---- the report --------------------------------------------------------------------------

enum class Kind { failure, delay, success };

Kind kind_of(const DsnReport& r) {
  bool delayed = false;
  for (const auto& rc : r.recipients) {
    if (rc.action == DsnAction::failed) return Kind::failure;
    if (rc.action == DsnAction::delayed) delayed = true;
  }
  return delayed ? Kind::delay : Kind::success;
}

std::string_view subject_for(Kind k) {
  switch (k) {
    case Kind::failure: return "Undelivered Mail Returned to Sender";
    case Kind::delay: return "Delayed Mail (still being retried)";
    default: return "Successful Mail Delivery Report";
  }
}

// The header section of a message: up to and including the CRLF that ends the last field (the
// empty line is not included). A message without a body is all header section.
std::string_view header_section(std::string_view msg) {
  if (msg.substr(0, 2) == "\r\n") return {};
  if (msg.substr(0, 1) == "\n") return {};
  std::size_t p = msg.find("\r\n\r\n");
  std::size_t q = msg.find("\n\n");
  if (p != std::string_view::npos && (q == std::string_view::npos || p < q)) return msg.substr(0, p + 2);
  if (q != std::string_view::npos) return msg.substr(0, q + 1);
  return msg;
}

struct OriginalPart {
  std::string content_type;  // "" = no third part
  std::string description;
  std::string content;
  bool truncated_full = false;  // RET=FULL asked for but the message was over the limit
  bool headers_cut = false;     // even the header section was over the limit
};

OriginalPart plan_original(const DsnReport& r, Kind kind) {
  OriginalPart o;
  if (r.original.empty()) return o;
  bool want_full = r.ret == DsnRet::full && kind == Kind::failure;
  if (want_full && r.original.size() <= r.max_original) {
    o.content = r.original;
    o.content_type = r.smtputf8 && has_8bit(header_section(r.original)) ? "message/global" : "message/rfc822";
    o.description = "Original message";
    return o;
  }
  o.truncated_full = want_full;
  std::string_view h = header_section(r.original);
  if (h.size() > r.max_original) {
    std::size_t cut = h.rfind('\n', r.max_original ? r.max_original - 1 : 0);
    h = cut == std::string_view::npos ? std::string_view{} : h.substr(0, cut + 1);
    o.headers_cut = true;
  }
  o.content.assign(h);
  if (!o.content.empty() && o.content.back() != '\n') o.content += "\r\n";
  o.content_type = r.smtputf8 && has_8bit(o.content) ? "message/global-headers" : "text/rfc822-headers";
  o.description = "Original message headers";
  return o;
}

bool status_needs_utf8(const DsnReport& r) {
  if (!r.smtputf8) return false;
  if (has_8bit(r.envid)) return true;
  for (const auto& rc : r.recipients) {
    if (has_8bit(rc.final_recipient) || has_8bit(rc.diagnostic_code)) return true;
    if (has_8bit(rc.original_recipient)) return true;
    if (core::istarts_with(core::trim(rc.original_recipient), "utf-8") &&
        rc.original_recipient.find("\\x{") != std::string::npos)
      return true;
  }
  return false;
}

std::string build_status(const DsnReport& r, bool global, const std::string& host) {
  std::string out;
  put_header(out, "Reporting-MTA", "dns; " + host);
  if (auto envid = clean_text(r.envid, global, kMaxWord); !envid.empty()) put_header(out, "Original-Envelope-Id", envid);
  if (r.arrival) put_header(out, "Arrival-Date", format_rfc5322_date(r.arrival));
  for (const auto& rc : r.recipients) {
    out += "\r\n";
    if (!core::trim(rc.original_recipient).empty())
      put_header(out, "Original-Recipient", original_recipient_field(rc.original_recipient, global));
    put_header(out, "Final-Recipient", final_recipient_field(rc.final_recipient, global));
    put_header(out, "Action", to_string(rc.action));
    put_header(out, "Status", status_for(rc));
    if (auto mta = clean_host(rc.remote_mta); !mta.empty()) put_header(out, "Remote-MTA", "dns; " + mta);
    if (auto d = split_diagnostic(rc.diagnostic_code); !d.type.empty()) {
      auto text = clean_text(d.text, global);
      put_header(out, "Diagnostic-Code", clean_token(d.type, "-", 64) + "; " + text);
    }
    if (rc.last_attempt) put_header(out, "Last-Attempt-Date", format_rfc5322_date(rc.last_attempt));
    if (rc.action == DsnAction::delayed && rc.will_retry_until)
      put_header(out, "Will-Retry-Until", format_rfc5322_date(rc.will_retry_until));
  }
  return out;
}

// One recipient's entry in the human-readable part.
void describe(std::vector<std::string>& lines, const DsnRecipient& rc, bool utf8, const std::string& status) {
  lines.push_back("  <" + clean_text(rc.final_recipient, utf8, kMaxWord) + ">");
  auto orig = clean_text(orcpt_address(rc.original_recipient), utf8, kMaxWord);
  if (!orig.empty() && !core::iequals(orig, clean_text(rc.final_recipient, utf8, kMaxWord)))
    put_wrapped(lines, "(you sent it to " + orig + ")", 4, 4);
  auto mta = clean_host(rc.remote_mta);
  auto diag = split_diagnostic(rc.diagnostic_code);
  auto reply = clean_lines(diag.text, utf8, kMaxReplyLines);
  std::string server = mta.empty() ? std::string() : "the server " + mta;
  std::string text;
  switch (rc.action) {
    case DsnAction::failed:
      if (status[0] == '4') {
        text = "The mail system kept trying to deliver the message";
        if (rc.last_attempt) text += " until " + format_rfc5322_date(rc.last_attempt);
        text += " without success, and has now given up.";
        if (!reply.empty()) text += server.empty() ? " The last error was:" : " The last reply, from " + server + ", was:";
      } else if (!reply.empty()) {
        text = server.empty() ? "The message could not be delivered:" : "The message was rejected by " + server + ", which replied:";
      } else {
        text = "The message could not be delivered (status " + status + ").";
      }
      break;
    case DsnAction::delayed:
      text = "The message has not been delivered yet.";
      if (!reply.empty()) {
        text += " The last attempt";
        if (rc.last_attempt) text += ", on " + format_rfc5322_date(rc.last_attempt) + ",";
        text += server.empty() ? " failed with:" : " got this reply from " + server + ":";
      }
      break;
    case DsnAction::delivered:
      text = server.empty() ? "The message was delivered." : "The message was delivered to " + server + ".";
      if (!reply.empty()) text += " It replied:";
      break;
    case DsnAction::relayed:
      text = "The message was passed on to " + (server.empty() ? std::string("another mail system") : server) +
             ", which does not send delivery reports. You will not be told whether it reaches the recipient.";
      break;
    case DsnAction::expanded:
      text = "The message was delivered to a mailing list or alias, which passed it on to its members.";
      break;
  }
  put_wrapped(lines, text, 4, 4);
  if (rc.action != DsnAction::relayed && rc.action != DsnAction::expanded)
    for (const auto& l : reply) put_wrapped(lines, l, 6, 8);
  if (rc.action == DsnAction::delayed) {
    std::string t = rc.will_retry_until
                        ? "The mail system will keep trying until " + format_rfc5322_date(rc.will_retry_until) +
                              ". If the message still cannot be delivered by then, you will get another report."
                        : "The mail system will keep trying. If it has to give up, you will get another report.";
    put_wrapped(lines, t, 4, 4);
  }
  lines.emplace_back();
}

std::string build_human(const DsnReport& r, Kind kind, const std::string& host, const OriginalPart& orig) {
  const bool utf8 = r.smtputf8;
  std::vector<std::string> lines;
  lines.push_back("This is the mail delivery system at " + host + ".");
  lines.emplace_back();
  switch (kind) {
    case Kind::failure:
      put_wrapped(lines,
                  "Your message could not be delivered to one or more of its recipients. The mail system has "
                  "given up on the recipients listed under \"Not delivered\" and will not try them again.",
                  0, 0);
      break;
    case Kind::delay:
      lines.push_back("THIS IS A WARNING ONLY. YOU DO NOT NEED TO SEND YOUR MESSAGE AGAIN.");
      lines.emplace_back();
      put_wrapped(lines,
                  "Your message has not been delivered yet to one or more of its recipients. The mail "
                  "system is still trying; the recipients and the reasons are listed below.",
                  0, 0);
      break;
    case Kind::success:
      put_wrapped(lines, "This is the delivery report you asked for.", 0, 0);
      break;
  }
  if (r.arrival) {
    lines.emplace_back();
    put_wrapped(lines, "The message was received on " + format_rfc5322_date(r.arrival) + ".", 0, 0);
  }
  lines.emplace_back();

  struct Section {
    const char* title;
    bool (*match)(DsnAction);
  };
  static constexpr Section kSections[] = {
      {"Not delivered:", [](DsnAction a) { return a == DsnAction::failed; }},
      {"Not delivered yet (still being retried):", [](DsnAction a) { return a == DsnAction::delayed; }},
      {"Delivered:", [](DsnAction a) {
         return a == DsnAction::delivered || a == DsnAction::relayed || a == DsnAction::expanded;
       }},
  };
  for (const auto& sec : kSections) {
    bool any = false;
    for (const auto& rc : r.recipients) {
      if (!sec.match(rc.action)) continue;
      if (!any) {
        lines.emplace_back(sec.title);
        lines.emplace_back();
        any = true;
      }
      describe(lines, rc, utf8, status_for(rc));
    }
  }

  if (orig.truncated_full) {
    put_wrapped(lines,
                "Your message was too large to return in full (" + std::to_string(r.original.size()) +
                    " bytes; the limit is " + std::to_string(r.max_original) +
                    " bytes), so only its header section is attached below.",
                0, 0);
  } else if (orig.content_type == "message/rfc822" || orig.content_type == "message/global") {
    put_wrapped(lines, "Your message is attached below.", 0, 0);
  } else if (!orig.content_type.empty()) {
    put_wrapped(lines, "The header section of your message is attached below.", 0, 0);
  }
  if (orig.headers_cut) put_wrapped(lines, "(The header section was cut short: it is too large.)", 0, 0);
  if (kind == Kind::failure) {
    lines.emplace_back();
    put_wrapped(lines, "If you need help, forward this report to your mail administrator.", 0, 0);
  }
  std::string out;
  for (const auto& l : lines) out += l + "\r\n";
  return out;
}

// A boundary that occurs in none of the parts (RFC 2046 §5.1.1). The base is tried first; if the
// content contains it anywhere, "<base>_<n>_" is used with the smallest n whose exact string is
// not in the content. Every occurrence of a candidate is an occurrence of the base, so one scan
// for the base finds every blocked n; the trailing '_' keeps "_1_" from matching "_10_".
std::string choose_boundary(const std::string& base, const std::vector<const std::string*>& parts) {
  bool seen = false;
  std::set<std::string> blocked;
  for (const auto* p : parts) {
    for (std::size_t pos = p->find(base); pos != std::string::npos; pos = p->find(base, pos + 1)) {
      seen = true;
      std::size_t i = pos + base.size();
      if (i < p->size() && (*p)[i] == '_') {
        std::size_t j = i + 1;
        while (j < p->size() && j - i <= 20 && (*p)[j] >= '0' && (*p)[j] <= '9') ++j;
        if (j > i + 1 && j < p->size() && (*p)[j] == '_') blocked.insert(p->substr(i + 1, j - i - 1));
      }
    }
  }
  if (!seen) return base;
  std::size_t n = 1;
  while (blocked.count(std::to_string(n))) ++n;
  return base + "_" + std::to_string(n) + "_";
}

// ---- parsing helpers ---------------------------------------------------------------------

struct LineView {
  std::string_view text;  // without CR LF / LF
  std::size_t next;       // offset after the line end
};

LineView line_at(std::string_view s, std::size_t pos) {
  std::size_t nl = s.find('\n', pos);
  std::size_t end = nl == std::string_view::npos ? s.size() : nl;
  std::size_t next = nl == std::string_view::npos ? s.size() : nl + 1;
  if (end > pos && s[end - 1] == '\r') --end;
  return {s.substr(pos, end - pos), next};
}

std::string where(std::size_t pos) { return "offset " + std::to_string(pos) + ": "; }

// Reads header fields from `pos` up to and including the empty line that ends them (or the end).
Status parse_fields(std::string_view s, std::size_t& pos, DsnFields& out) {
  while (pos < s.size()) {
    auto l = line_at(s, pos);
    if (l.text.empty()) {
      pos = l.next;
      return {};
    }
    if (l.text[0] == ' ' || l.text[0] == '\t') {
      if (out.list.empty()) return make_error(where(pos) + "continuation line before any field");
      auto& v = out.list.back().second;
      if (v.size() + l.text.size() > kMaxFieldValue) return make_error(where(pos) + "field too long");
      v += l.text;
    } else {
      auto colon = l.text.find(':');
      if (colon == std::string_view::npos || colon == 0) return make_error(where(pos) + "not a header field");
      auto name = l.text.substr(0, colon);
      for (char c : name)
        if (c <= 32 || c >= 127) return make_error(where(pos) + "bad character in field name");
      if (out.list.size() >= kMaxFields) return make_error(where(pos) + "too many fields");
      if (l.text.size() > kMaxFieldValue) return make_error(where(pos) + "field too long");
      out.list.emplace_back(std::string(name), std::string(l.text.substr(colon + 1)));
    }
    pos = l.next;
  }
  return {};
}

void trim_values(DsnFields& f) {
  for (auto& [name, value] : f.list) value = std::string(core::trim(value));
}

struct ContentType {
  std::string type;  // lower-case
  std::vector<std::pair<std::string, std::string>> params;  // names lower-case
  std::string param(std::string_view name) const {
    for (const auto& [n, v] : params)
      if (n == name) return v;
    return {};
  }
};

void skip_cfws(std::string_view v, std::size_t& i) {
  while (i < v.size()) {
    if (is_ws(v[i])) {
      ++i;
    } else if (v[i] == '(') {
      int depth = 0;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
        } else if (v[i] == '(') {
          ++depth;
        } else if (v[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      break;
    }
  }
}

bool is_tspecial(char c) { return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos; }

std::string read_token(std::string_view v, std::size_t& i) {
  std::size_t start = i;
  while (i < v.size() && !is_ws(v[i]) && !is_tspecial(v[i]) && static_cast<unsigned char>(v[i]) > 32) ++i;
  return std::string(v.substr(start, i - start));
}

// RFC 2045 §5.1 Content-Type, leniently: type/subtype and parameters (token or quoted-string).
ContentType parse_content_type(std::string_view v) {
  ContentType ct;
  std::size_t i = 0;
  skip_cfws(v, i);
  std::string type = read_token(v, i);
  skip_cfws(v, i);
  if (i < v.size() && v[i] == '/') {
    ++i;
    skip_cfws(v, i);
    ct.type = core::to_lower(type + "/" + read_token(v, i));
  }
  while (i < v.size()) {
    skip_cfws(v, i);
    if (i >= v.size() || v[i] != ';') break;
    ++i;
    skip_cfws(v, i);
    std::string name = core::to_lower(read_token(v, i));
    skip_cfws(v, i);
    if (name.empty() || i >= v.size() || v[i] != '=') break;
    ++i;
    skip_cfws(v, i);
    std::string value;
    if (i < v.size() && v[i] == '"') {
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        value += v[i];
      }
      if (i < v.size()) ++i;
    } else {
      value = read_token(v, i);
    }
    ct.params.emplace_back(std::move(name), std::move(value));
  }
  return ct;
}

// A delimiter line "--boundary" at `pos` (start of a line): returns 1 for a delimiter, 2 for the
// close delimiter "--boundary--", 0 when the line is something else.
int delimiter_kind(std::string_view line, std::string_view boundary) {
  if (line.size() < boundary.size() + 2 || line.substr(0, 2) != "--" || line.substr(2, boundary.size()) != boundary)
    return 0;
  auto rest = line.substr(boundary.size() + 2);
  int kind = 1;
  if (rest.substr(0, 2) == "--") {
    kind = 2;
    rest.remove_prefix(2);
  }
  for (char c : rest)
    if (c != ' ' && c != '\t') return 0;
  return kind;
}

}  // namespace

// ---- public ------------------------------------------------------------------------------

std::string_view to_string(DsnAction a) {
  switch (a) {
    case DsnAction::failed: return "failed";
    case DsnAction::delayed: return "delayed";
    case DsnAction::delivered: return "delivered";
    case DsnAction::relayed: return "relayed";
    case DsnAction::expanded: return "expanded";
  }
  return "failed";
}

DsnAction action_for(DsnEvent ev) {
  switch (ev) {
    case DsnEvent::delay: return DsnAction::delayed;
    case DsnEvent::success: return DsnAction::delivered;
    default: return DsnAction::failed;
  }
}

std::string_view default_status(DsnEvent ev) {
  switch (ev) {
    case DsnEvent::failure: return "5.0.0";
    case DsnEvent::delay: return "4.0.0";
    case DsnEvent::success: return "2.0.0";
    case DsnEvent::expiry: return "4.4.7";
  }
  return "5.0.0";
}

bool should_notify(unsigned notify_flags, DsnEvent ev) {
  if (notify_flags & smtp::kNotifyNever) return false;
  if (notify_flags == smtp::kNotifyNone) notify_flags = smtp::kNotifyFailure | smtp::kNotifyDelay;
  switch (ev) {
    case DsnEvent::failure:
    case DsnEvent::expiry: return (notify_flags & smtp::kNotifyFailure) != 0;
    case DsnEvent::delay: return (notify_flags & smtp::kNotifyDelay) != 0;
    case DsnEvent::success: return (notify_flags & smtp::kNotifySuccess) != 0;
  }
  return false;
}

bool should_bounce(const std::string& mail_from) {
  auto s = core::trim(mail_from);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = core::trim(s.substr(1, s.size() - 2));
  return !s.empty();
}

DsnRet parse_ret(std::string_view ret) {
  ret = core::trim(ret);
  if (core::iequals(ret, "FULL")) return DsnRet::full;
  if (core::iequals(ret, "HDRS")) return DsnRet::hdrs;
  return DsnRet::unspecified;
}

std::string format_rfc5322_date(std::int64_t t) {
  // Days since the epoch to the civil date (H. Hinnant's days_from_civil, inverted).
  std::int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  std::int64_t secs = t - days * 86400;
  int wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  std::int64_t z = days + 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  std::string out = kDays[wday];
  out += ", " + std::to_string(d) + " " + kMonths[m - 1] + " " + std::to_string(y) + " ";
  out += two(static_cast<int>(secs / 3600)) + ":" + two(static_cast<int>(secs / 60 % 60)) + ":" +
         two(static_cast<int>(secs % 60)) + " +0000";
  return out;
}

std::string build_dsn(const DsnReport& r) {
  const bool utf8 = r.smtputf8;
  std::string host = clean_host(r.reporting_mta);
  if (host.empty()) host = "localhost";
  std::string token = clean_token(r.token, "._-", kMaxTokenLength);
  if (token.empty()) token = "dsn." + std::to_string(r.now);
  const Kind kind = kind_of(r);
  const bool global = status_needs_utf8(r);

  OriginalPart orig = plan_original(r, kind);
  std::string human = build_human(r, kind, host, orig);
  std::string status = build_status(r, global, host);
  std::string boundary = choose_boundary("=_" + token, {&human, &status, &orig.content});

  std::string out;
  put_header(out, "From", "Mail Delivery System <MAILER-DAEMON@" + host + ">");
  put_header(out, "To", "<" + clean_text(r.sender, utf8, kMaxWord) + ">");
  put_header(out, "Subject", subject_for(kind));
  put_header(out, "Date", format_rfc5322_date(r.now));
  put_header(out, "Message-ID", "<" + token + "@" + host + ">");
  put_header(out, "Auto-Submitted", "auto-replied");
  put_header(out, "MIME-Version", "1.0");
  put_header(out, "Content-Type", "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  bool eight = has_8bit(human) || has_8bit(status) || has_8bit(orig.content);
  if (eight) put_header(out, "Content-Transfer-Encoding", "8bit");
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  out += "--" + boundary + "\r\n";
  put_header(out, "Content-Description", "Notification");
  put_header(out, "Content-Type", has_8bit(human) ? "text/plain; charset=utf-8" : "text/plain; charset=us-ascii");
  if (has_8bit(human)) put_header(out, "Content-Transfer-Encoding", "8bit");
  out += "\r\n" + human + "\r\n";

  out += "--" + boundary + "\r\n";
  put_header(out, "Content-Description", "Delivery report");
  put_header(out, "Content-Type", global ? "message/global-delivery-status" : "message/delivery-status");
  if (has_8bit(status)) put_header(out, "Content-Transfer-Encoding", "8bit");
  out += "\r\n" + status + "\r\n";

  if (!orig.content_type.empty()) {
    out += "--" + boundary + "\r\n";
    put_header(out, "Content-Description", orig.description);
    put_header(out, "Content-Type", orig.content_type);
    if (has_8bit(orig.content)) put_header(out, "Content-Transfer-Encoding", "8bit");
    out += "\r\n" + orig.content + "\r\n";
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

DsnTransport dsn_transport(std::string_view built, bool smtputf8) {
  DsnTransport t;
  t.eightbit = has_8bit(built);
  t.smtputf8 = smtputf8 && t.eightbit;
  return t;
}

const std::string* DsnFields::find(std::string_view name) const {
  for (const auto& [n, v] : list)
    if (core::iequals(n, name)) return &v;
  return nullptr;
}

std::string DsnFields::get(std::string_view name) const {
  const auto* v = find(name);
  return v ? *v : std::string();
}

std::size_t DsnFields::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(list.begin(), list.end(), [&](const auto& f) { return core::iequals(f.first, name); }));
}

Expected<DsnParsed> parse_dsn(std::string_view msg) {
  DsnParsed p;
  std::size_t pos = 0;
  if (auto st = parse_fields(msg, pos, p.headers); !st) return st.error();
  trim_values(p.headers);
  auto ct = parse_content_type(p.headers.get("Content-Type"));
  p.content_type = ct.type;
  p.report_type = core::to_lower(ct.param("report-type"));
  p.boundary = ct.param("boundary");
  if (p.content_type != "multipart/report") return make_error("not a multipart/report: \"" + p.content_type + "\"");
  if (p.boundary.empty() || p.boundary.size() > 70) return make_error("multipart/report without a usable boundary");

  // Walk the delimiter lines; each part runs from after its delimiter line to the line break
  // before the next delimiter (that break belongs to the delimiter, RFC 2046 §5.1.1).
  bool in_part = false, closed = false;
  std::size_t part_start = 0;
  while (pos < msg.size()) {
    auto l = line_at(msg, pos);
    int k = delimiter_kind(l.text, p.boundary);
    if (k) {
      if (in_part) {
        std::size_t end = pos;
        if (end > part_start && msg[end - 1] == '\n') --end;
        if (end > part_start && msg[end - 1] == '\r') --end;
        std::string_view raw = msg.substr(part_start, end - part_start);
        if (p.parts.size() >= kMaxParts) return make_error(where(pos) + "too many parts");
        DsnPart part;
        std::size_t ppos = 0;
        if (auto st = parse_fields(raw, ppos, part.headers); !st)
          return make_error(where(part_start) + "part " + std::to_string(p.parts.size() + 1) + ": " +
                            st.error().message);
        trim_values(part.headers);
        part.content_type = part.headers.has("Content-Type")
                                ? parse_content_type(part.headers.get("Content-Type")).type
                                : std::string("text/plain");
        part.body.assign(raw.substr(ppos));
        p.parts.push_back(std::move(part));
      }
      if (k == 2) {
        closed = true;
        break;
      }
      in_part = true;
      part_start = l.next;
    }
    pos = l.next;
  }
  if (!closed) return make_error("multipart/report without its close delimiter");

  const DsnPart* status = nullptr;
  for (const auto& part : p.parts)
    if (part.content_type == "message/delivery-status" || part.content_type == "message/global-delivery-status") {
      status = &part;
      break;
    }
  if (!status) return make_error("no message/delivery-status part");
  p.status_type = status->content_type;
  auto cte = core::to_lower(status->headers.get("Content-Transfer-Encoding"));
  if (cte == "base64" || cte == "quoted-printable")
    return make_error("delivery-status part uses " + cte + ", which this parser does not decode");
  if (p.parts.size() >= 3) p.original_type = p.parts[2].content_type;

  std::string_view body = status->body;
  std::size_t bpos = 0;
  bool first = true;
  while (bpos < body.size()) {
    auto l = line_at(body, bpos);
    if (l.text.empty() || core::trim(l.text).empty()) {
      bpos = l.next;
      continue;
    }
    DsnFields block;
    if (auto st = parse_fields(body, bpos, block); !st)
      return make_error("delivery-status: " + st.error().message);
    trim_values(block);
    if (first) {
      p.per_message = std::move(block);
      first = false;
    } else {
      if (p.per_recipient.size() >= kMaxRecipientBlocks) return make_error("delivery-status: too many recipients");
      p.per_recipient.push_back(std::move(block));
    }
  }
  if (first) return make_error("delivery-status part is empty");
  return p;
}

}  // namespace gatehouse::delivery
