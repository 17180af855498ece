// A minimal message splitter for DKIM callers and tests: header fields with their raw bytes
// (RFC 5322 §2.2, folding kept, §3.4.1 simple canonicalization needs them unchanged) and the
// body (§2.1), plus LF -> CRLF conversion for LF-only test files (dkimpy's vectors use LF).
// This is not the mime module's parser: no decoding, no address parsing.
// Must not: throw, or read more than kMaxHeaderBlock bytes / kMaxHeaderFields fields of header.
#include <fmt/format.h>

#include <algorithm>

#include "gatehouse/auth/dkim.hpp"

namespace gatehouse::auth::dkim {

std::string lf_to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
    out.push_back(text[i]);
  }
  return out;
}

namespace {

// Field name (RFC 5322 ftext: %d33-57 / %d59-126), optionally followed by WSP before the colon
// (obs-optional, §4.5.3). Returns the name, or empty if the line is not a field.
std::string_view field_name(std::string_view line) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (name.empty()) return {};
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126) return {};
  }
  return name;
}

}  // namespace

Expected<Message> split_message(std::string_view message) {
  Message out;
  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos < message.size()) {
    // Never look further than the cap (plus the CRLF of the empty line).
    std::string_view window = message.substr(0, std::min(message.size(), kMaxHeaderBlock + 2));
    std::size_t eol = window.find("\r\n", pos);
    if (eol == std::string_view::npos && window.size() < message.size())
      return make_error(fmt::format("header longer than {} bytes", kMaxHeaderBlock));
    std::size_t next = eol == std::string_view::npos ? message.size() : eol + 2;
    std::string_view line = message.substr(pos, (eol == std::string_view::npos ? message.size() : eol) - pos);
    std::string_view with_crlf = message.substr(pos, next - pos);
    ++line_no;
    if (line.empty()) {  // the empty line: the body follows
      out.body = std::string(message.substr(next));
      return out;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (out.headers.empty()) return make_error(fmt::format("line {}: continuation line without a field", line_no));
      out.headers.back().raw.append(with_crlf);
    } else if (line_no == 1 && line.substr(0, 5) == "From ") {
      // mbox separator line: not part of the message
    } else {
      std::string_view name = field_name(line);
      if (name.empty()) return make_error(fmt::format("line {}: not a header field", line_no));
      if (out.headers.size() >= kMaxHeaderFields)
        return make_error(fmt::format("more than {} header fields", kMaxHeaderFields));
      out.headers.push_back(HeaderField{std::string(name), std::string(with_crlf)});
    }
    pos = next;
  }
  return out;  // no empty line: no body
}

}  // namespace gatehouse::auth::dkim
