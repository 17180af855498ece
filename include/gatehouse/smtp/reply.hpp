// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463 / RFC 2034).
// Pure: formatting and parsing only.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::smtp {

struct EnhancedCode {
  int klass = 0, subject = 0, detail = 0;  // {0,0,0} = none
  bool empty() const { return klass == 0; }
  std::string to_string() const;  // "2.0.0"
  // "X.Y.Z" (RFC 3463: class 2/4/5, subject and detail 0..999); nullopt for anything else.
  static std::optional<EnhancedCode> parse(std::string_view s);
  friend bool operator==(const EnhancedCode&, const EnhancedCode&) = default;
};

struct Reply {
  int code = 0;                    // 250
  EnhancedCode enhanced;           // {2,0,0}
  std::vector<std::string> lines;  // human text, one entry per line (at least one)

  Reply() = default;
  Reply(int c, EnhancedCode e, std::string text) : code(c), enhanced(e), lines{std::move(text)} {}
  // "250-first\r\n250 2.0.0 last\r\n" — the enhanced code is put on every line (RFC 2034 §3).
  std::string to_wire() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  std::string text() const;  // lines joined with "; " — for logs and DSNs
};

// Incremental reply parser for the client side: feed lines (without CRLF); returns a Reply when
// the last line of a (possibly multi-line) reply has been seen. Malformed lines yield code 0.
class ReplyParser {
 public:
  std::optional<Reply> feed_line(std::string_view line);

 private:
  Reply cur_;
  bool in_progress_ = false;
};

}  // namespace gatehouse::smtp
