// The SMTP server state machine: RFC 5321 §3-§4 (commands, replies, transaction state, §4.1.1.4
// DATA and §4.5.2 dot-unstuffing, §2.3.8 bare CR/LF refused), RFC 1870 SIZE, RFC 6152 8BITMIME,
// RFC 3030 CHUNKING/BDAT (BINARYMIME accepted as a BODY value), RFC 2920 PIPELINING, RFC 2034
// enhanced codes, RFC 6531 SMTPUTF8, RFC 3461 DSN parameters, RFC 3207 STARTTLS (input purge),
// RFC 4954 AUTH (+ MAIL AUTH=) with the SASL exchanges of PLAIN (RFC 4616), LOGIN and CRAM-MD5
// (RFC 2195); the driver verifies the credentials.
// Pure: no sockets, no clock, no random numbers, no globals, no exceptions. Bytes in, replies and
// events out; the driver (inbound) owns IO, timers and policy. It must not interpret bytes after
// STARTTLS, after a malformed BDAT or after close: those are dropped, never parsed as commands.
// It must never echo a SASL response, user name or password in a reply: AUTH replies are fixed
// texts, and credentials leave only through Event::auth (wiped here once handed out).
//
// Choices where the RFCs leave room (documented in tests/data/smtp/server/README.md too):
// - 452 4.5.3 "too many recipients" does not count as an error (Postfix's recipient overshoot):
//   a client that pipelines more RCPTs than our limit is legitimate and must retry the rest.
// - A malformed BDAT command cannot be skipped (its length is unknown): 501 5.5.4, then
//   421 4.5.0 and close, so the chunk bytes are never read as commands.
// - A BDAT chunk that pushes the message over the size limit is answered 552 5.3.4 at once
//   (RFC 3030 §2 lets the transaction fail); further pipelined BDAT chunks of that failed
//   transaction are read, discarded and answered 552 without counting as errors.
// - A 421 answer from the driver to any ask_* event closes the session (RFC 5321 §3.8).
// - timeout()/shutdown() while an ask_commit is pending emit no abort_body: the driver owns the
//   commit in flight and decides.
// - Body octets are accumulated across feed() calls and handed out when body_chunk is full and
//   at the end of the message (DATA end or BDAT LAST): memory in DATA is bounded by body_chunk,
//   an idle session holds no body buffer, and the spool gets large records.
// - AUTH: requires EHLO (it is an extension); is refused during a transaction and after success
//   (503 5.5.1); a "*" response cancels with 501 5.7.0 (RFC 4954 §6); undecodable base64 gets
//   501 5.5.2; a decoded message that is malformed (PLAIN without its two NULs, an empty user or
//   password, a control character in the user name, a PLAIN authzid other than the user, a
//   CRAM-MD5 answer without a 32-hex digest) gets 535 5.7.8 without an ask_auth, since no password
//   was tried. The line after a 334 is always the SASL response, never a command, whatever it
//   says: a pipelined command there gets 501 5.5.2 (not base64) and ends the exchange; the lines
//   after it are commands again. Authentication survives RSET and EHLO, not STARTTLS.
#include "gatehouse/smtp/server_session.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "address.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::smtp {
namespace {

using core::iequals;
using core::istarts_with;

constexpr std::size_t kKeepInputCapacity = 512;  // larger idle input buffers are released
constexpr std::size_t kKeepEventCapacity = 4;    // larger drained event vectors are released
constexpr std::size_t kMaxEnvid = 100;           // RFC 3461 §4.4
constexpr std::size_t kMaxOrcpt = 500;           // RFC 3461 §4.2
constexpr std::size_t kMaxAuthParam = 500;       // MAIL AUTH= (a mailbox, xtext-encoded)
constexpr std::size_t kMaxSaslField = 255;       // RFC 4616 §2: authcid, authzid, passwd
constexpr std::size_t kMaxNonce = 128;           // CRAM-MD5 nonce from the driver

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::string_view kBareNewline =
    "Message refused: bare CR or LF in message data (RFC 5321 section 2.3.8)";
constexpr std::string_view kTooBig = "Message size exceeds fixed maximum message size";

std::string_view trim_spaces_left(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// "ddd[ x.y.z][ text]\r\n" with control octets in the text replaced (no reply-line injection).
void append_reply(std::string& out, int code, EnhancedCode e, std::string_view text) {
  append_uint(out, static_cast<std::uint64_t>(code));
  if (!e.empty()) {
    out.push_back(' ');
    out += e.to_string();
  }
  if (!text.empty()) {
    out.push_back(' ');
    for (char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      out.push_back((c < 0x20 && c != '\t') || c == 0x7f ? ' ' : ch);
    }
  }
  out += "\r\n";
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

// Overwrites a secret before its memory is released (best effort: copies made by std::string
// growth are out of reach).
void wipe(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict RFC 4648 §4 base64: whole quads, padding only at the end, no whitespace, and the unused
// bits of the last quad zero (so every text has one decoding). False on any violation.
bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int a = b64_value(in[i]), b = b64_value(in[i + 1]);
    if (a < 0 || b < 0) return false;
    const unsigned hi = static_cast<unsigned>(a << 18 | b << 12);
    if (last && in[i + 2] == '=') {
      if (in[i + 3] != '=' || (b & 15) != 0) return false;
      out += static_cast<char>(hi >> 16);
      break;
    }
    const int c = b64_value(in[i + 2]);
    if (c < 0) return false;
    if (last && in[i + 3] == '=') {
      if ((c & 3) != 0) return false;
      const unsigned v = hi | static_cast<unsigned>(c << 6);
      out += static_cast<char>(v >> 16);
      out += static_cast<char>((v >> 8) & 0xff);
      break;
    }
    const int d = b64_value(in[i + 3]);
    if (d < 0) return false;
    const unsigned v = hi | static_cast<unsigned>(c << 6 | d);
    out += static_cast<char>(v >> 16);
    out += static_cast<char>((v >> 8) & 0xff);
    out += static_cast<char>(v & 0xff);
  }
  return true;
}

// A SASL user name (authcid/authzid) we hand to the driver: 1..255 octets, no control octets.
bool valid_sasl_name(std::string_view s) { return !s.empty() && s.size() <= kMaxSaslField && !has_control(s); }

bool valid_nonce(std::string_view s) {
  if (s.empty() || s.size() > kMaxNonce) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '@';
  });
}

// Upper-cased, known, de-duplicated; CRAM-MD5 only when a nonce source exists.
std::vector<std::string> normalise_mechanisms(const std::vector<std::string>& given, bool have_nonce) {
  std::vector<std::string> out;
  for (const auto& m : given) {
    std::string u;
    for (char c : m) u += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    const bool known = u == "PLAIN" || u == "LOGIN" || (u == "CRAM-MD5" && have_nonce);
    if (known && std::find(out.begin(), out.end(), u) == out.end()) out.push_back(std::move(u));
  }
  return out;
}

// Splits "KEY[=VALUE] KEY[=VALUE]..." (one or more spaces between) and calls f(key, value,
// has_value) for each; stops and returns false as soon as f does.
template <class F>
bool for_each_param(std::string_view rest, F&& f) {
  while (true) {
    rest = trim_spaces_left(rest);
    if (rest.empty()) return true;
    const auto sp = rest.find(' ');
    const std::string_view tok = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp);
    const auto eq = tok.find('=');
    const bool has_value = eq != std::string_view::npos;
    if (!f(tok.substr(0, eq), has_value ? tok.substr(eq + 1) : std::string_view{}, has_value))
      return false;
  }
}

}  // namespace

struct ServerSession::Impl {
  enum class Mode : std::uint8_t { command, data, bdat, auth, tls_wait, closed };
  enum class Ask : std::uint8_t { none, mail, rcpt, commit, auth };
  // Which SASL response the session waits for in Mode::auth.
  enum class Sasl : std::uint8_t { none, plain, login_user, login_password, cram };
  // DATA scanner state: where we are relative to the last line break.
  enum class Scan : std::uint8_t { line_start, mid, cr, dot, dot_cr };
  enum class Chunk : std::uint8_t { accept, need_mail, need_rcpt, failed };

  explicit Impl(ServerOptions o) : opts(std::move(o)) {
    if (opts.limits.body_chunk == 0) opts.limits.body_chunk = 1;
    opts.auth_mechanisms = normalise_mechanisms(opts.auth_mechanisms, static_cast<bool>(opts.cram_nonce));
  }

  ServerOptions opts;
  Mode mode = Mode::command;
  Ask ask = Ask::none;
  Scan scan = Scan::line_start;
  Chunk chunk = Chunk::accept;
  bool started = false;
  bool have_helo = false;
  bool esmtp = false;
  bool tls_active = false;
  bool discarding_line = false;  // inside a command line that is already too long
  bool discarding_auth = false;  // ... and that line is an AUTH command or a SASL response
  Sasl sasl = Sasl::none;
  std::string auth_user;         // authenticated user, "" = not authenticated
  AuthRequest auth_req;          // the exchange in progress (LOGIN user name, CRAM challenge)
  bool mail_active = false;      // MAIL accepted: a transaction is open
  bool bdat_seen = false;        // a BDAT chunk was accepted in this transaction
  bool bdat_failed = false;      // the BDAT transaction failed early; discard pipelined chunks
  bool chunk_last = false;
  bool body_emitted = false;     // body events were sent for the current transaction
  bool bad_newline = false;      // bare CR or LF seen in this message
  bool oversize = false;         // message exceeds max_message_size
  bool pending_cr = false;       // BDAT: the last octet so far was CR
  unsigned errors = 0;
  std::uint64_t msg_size = 0;    // un-stuffed octets so far
  std::uint64_t chunk_size = 0;
  std::uint64_t chunk_left = 0;
  std::string helo;
  Transaction tx;
  Recipient pending_rcpt;
  std::string in;                // unprocessed input (partial line, or everything while paused)
  std::size_t in_pos = 0;
  std::string out;               // replies not yet handed out as a send event
  std::string body;              // un-stuffed body octets not yet handed out
  std::vector<Event> events;
  std::size_t ev_head = 0;

  // ---------------------------------------------------------------- output and events

  bool paused() const { return ask != Ask::none; }

  void reply(int code, EnhancedCode e, std::string_view text) { append_reply(out, code, e, text); }

  // A 4xx/5xx reply to a command: counts towards max_errors.
  void fail(int code, EnhancedCode e, std::string_view text) {
    reply(code, e, text);
    count_error();
  }

  void count_error() {
    if (mode == Mode::closed) return;
    if (++errors > opts.limits.max_errors) {
      reply(421, {4, 7, 0}, opts.hostname + " Error: too many errors");
      close_session();
    }
  }

  static Event make_event(EventKind k, std::string text) {
    Event e{k, std::move(text), {}, false, {}};
    return e;
  }

  void flush_send() {
    if (out.empty()) return;
    events.push_back(make_event(EventKind::send, std::move(out)));
    out.clear();
  }

  // Every non-send event is preceded by the replies queued before it, so order is kept.
  void push(EventKind k, std::string text = {}) {
    flush_send();
    events.push_back(make_event(k, std::move(text)));
  }

  void emit_body() {
    flush_send();
    events.push_back(make_event(EventKind::body, std::move(body)));
    body.clear();
    body_emitted = true;
  }

  void flush_body() {
    if (!body.empty() && !bad_newline && !oversize) emit_body();
  }

  void mark_bad() {
    bad_newline = true;
    body = std::string();
  }

  // Ends the transaction (RSET, EHLO, refusal, commit answer, close).
  void reset_tx() {
    if (body_emitted && ask != Ask::commit) push(EventKind::abort_body);
    body_emitted = false;
    tx = Transaction{};
    pending_rcpt = Recipient{};
    mail_active = false;
    bdat_seen = false;
    bdat_failed = false;
    bad_newline = false;
    oversize = false;
    pending_cr = false;
    msg_size = 0;
    body = std::string();
  }

  // Input is not touched here: run() may be reading from `in`; finish() releases it.
  void close_session() {
    reset_tx();
    end_sasl();
    push(EventKind::close);
    mode = Mode::closed;
    ask = Ask::none;
  }

  // End of every public entry point: hand out pending replies, trim the input buffer. Body octets
  // are kept until body_chunk is full or the message ends, so a message read in many small reads
  // still reaches the driver (and the spool) in few, large events.
  void finish() {
    if (mode == Mode::closed || mode == Mode::tls_wait) {
      in = std::string();
      in_pos = 0;
    } else if (in_pos >= in.size()) {
      in_pos = 0;
      if (in.capacity() > kKeepInputCapacity) in = std::string();
      else in.clear();
    } else if (!paused() && in_pos > 0) {
      in.erase(0, in_pos);
      in_pos = 0;
    }
    flush_send();
  }

  // ---------------------------------------------------------------- input

  void feed(std::string_view bytes) {
    if (mode == Mode::closed || mode == Mode::tls_wait || bytes.empty()) return;
    if (paused() || in_pos < in.size()) {
      if (in_pos > 0) {
        in.erase(0, in_pos);
        in_pos = 0;
      }
      in.append(bytes);
      drain();
    } else {
      // Fast path: nothing buffered, parse straight from the caller's bytes.
      in.clear();
      in_pos = 0;
      const std::size_t used = run(bytes.data(), bytes.size());
      if (used < bytes.size() && reading()) in.append(bytes.substr(used));
    }
    finish();
  }

  bool reading() const {
    return mode == Mode::command || mode == Mode::data || mode == Mode::bdat || mode == Mode::auth;
  }

  void drain() {
    if (paused() || in_pos >= in.size()) return;
    in_pos += run(in.data() + in_pos, in.size() - in_pos);
  }

  // Processes as much of [p, p+n) as possible; returns the octets consumed.
  std::size_t run(const char* p, std::size_t n) {
    std::size_t pos = 0;
    while (pos < n && !paused()) {
      switch (mode) {
        case Mode::auth:
        case Mode::command: {
          const std::size_t used = take_command(p + pos, n - pos);
          if (used == 0) return pos;  // incomplete line: wait for more
          pos += used;
          if (mode == Mode::tls_wait) {
            // RFC 3207 §4 / CVE-2011-0411: nothing sent before the handshake may be used.
            std::string text = "discarded=";
            append_uint(text, n - pos);
            push(EventKind::start_tls, std::move(text));
            return n;
          }
          break;
        }
        case Mode::data:
          pos += consume_data(p + pos, n - pos);
          break;
        case Mode::bdat:
          pos += consume_bdat(p + pos, n - pos);
          break;
        case Mode::tls_wait:
        case Mode::closed:
          return n;
      }
    }
    return pos;
  }

  // A line over its limit: 500 5.5.6 for AUTH lines (RFC 4954 §4, which also ends a SASL
  // exchange), 500 5.5.2 for other commands.
  void line_too_long(bool auth_line) {
    if (!auth_line) return fail(500, {5, 5, 2}, "Error: line too long");
    if (mode == Mode::auth) end_sasl();
    fail(500, {5, 5, 6}, "Authentication Exchange line is too long");
  }

  // One command line (CRLF or bare LF) or nothing. Returns octets consumed (0: need more).
  // In Mode::auth the line is a SASL response instead of a command.
  std::size_t take_command(const char* p, std::size_t n) {
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', n));
    if (discarding_line) {
      if (lf == nullptr) return n;
      discarding_line = false;
      line_too_long(discarding_auth);
      return static_cast<std::size_t>(lf - p) + 1;
    }
    // AUTH lines may be longer than other commands (RFC 4954 §4: 12288 octets).
    const bool auth_line = mode == Mode::auth ||
                           (!opts.auth_mechanisms.empty() && n >= 5 && istarts_with(std::string_view(p, 5), "AUTH "));
    const std::size_t limit =
        auth_line ? std::max(opts.limits.max_command_line, opts.limits.max_auth_line) : opts.limits.max_command_line;
    if (lf == nullptr) {
      if (n >= limit) {  // with its line end it can only be longer
        discarding_line = true;
        discarding_auth = auth_line;
        return n;
      }
      return 0;
    }
    const std::size_t len = static_cast<std::size_t>(lf - p) + 1;
    if (len > limit) {
      line_too_long(auth_line);
      return len;
    }
    std::string_view line(p, len - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (mode == Mode::auth) sasl_response(line);
    else command(line);
    return len;
  }

  // ---------------------------------------------------------------- DATA (RFC 5321 §4.1.1.4)

  // Appends un-stuffed message octets, enforcing the size cap and the body_chunk split.
  void body_append(const char* p, std::size_t len) {
    if (len == 0 || bad_newline || oversize) return;
    const std::uint64_t max = opts.limits.max_message_size;
    if (max != 0 && len > max - msg_size) {
      oversize = true;
      body = std::string();
      return;
    }
    msg_size += len;
    const std::size_t cap = opts.limits.body_chunk;
    while (len > 0) {
      const std::size_t take = std::min(cap - body.size(), len);
      // Grow geometrically but never past body_chunk: a small message costs its own size,
      // a large one one body_chunk buffer per event.
      if (body.capacity() < body.size() + take)
        body.reserve(std::min(cap, std::max(2 * body.capacity(), body.size() + take)));
      body.append(p, take);
      p += take;
      len -= take;
      if (body.size() >= cap) emit_body();
    }
  }

  // Scans DATA content. End of data is CR LF "." CR LF only, where the first CR LF may be the
  // one that ended the DATA command. A bare CR or LF anywhere marks the message bad but never
  // ends it. Returns the octets consumed (through the final LF if the end was found).
  std::size_t consume_data(const char* const begin, std::size_t n) {
    const char* p = begin;
    const char* const end = begin + n;
    const char* run_start = p;  // octets [run_start, p) are content not yet appended
    while (p < end) {
      switch (scan) {
        case Scan::mid: {
          const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
          const char* stop = lf ? lf : end;
          const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(stop - p)));
          if (lf == nullptr) {
            if (cr == nullptr) {
              p = end;
            } else if (cr + 1 == end) {
              p = end;
              scan = Scan::cr;
            } else {
              mark_bad();  // bare CR
              p = cr + 1;
            }
          } else if (cr == nullptr) {
            mark_bad();  // bare LF
            p = lf + 1;
          } else if (cr + 1 == lf) {
            p = lf + 1;
            scan = Scan::line_start;
          } else {
            mark_bad();  // bare CR before the next LF
            p = cr + 1;
          }
          break;
        }
        case Scan::line_start:
          if (*p == '.') {  // either the end marker or a stuffed dot: never content
            body_append(run_start, static_cast<std::size_t>(p - run_start));
            ++p;
            run_start = p;
            scan = Scan::dot;
          } else {
            scan = Scan::mid;
          }
          break;
        case Scan::cr:
          if (*p == '\n') {
            ++p;
            scan = Scan::line_start;
          } else {
            mark_bad();  // the CR ending the previous input was bare
            scan = Scan::mid;
          }
          break;
        case Scan::dot:
          if (*p == '\r') {
            body_append(run_start, static_cast<std::size_t>(p - run_start));
            ++p;
            run_start = p;
            scan = Scan::dot_cr;
          } else {
            scan = Scan::mid;  // "..x" -> ".x": the first dot was dropped above
          }
          break;
        case Scan::dot_cr:
          if (*p == '\n') {
            ++p;
            end_of_data();
            return static_cast<std::size_t>(p - begin);
          }
          mark_bad();  // ".\r" then not LF: bare CR, not an end marker
          scan = Scan::mid;
          break;
      }
    }
    body_append(run_start, static_cast<std::size_t>(end - run_start));
    return n;
  }

  void end_of_data() {
    mode = Mode::command;
    scan = Scan::line_start;
    if (bad_newline || oversize) {
      const bool bare = bad_newline;
      reset_tx();
      reply(bare ? 550 : 552, bare ? EnhancedCode{5, 5, 2} : EnhancedCode{5, 3, 4},
            bare ? kBareNewline : kTooBig);
      return;
    }
    flush_body();
    ask = Ask::commit;
    push(EventKind::ask_commit);
  }

  // ---------------------------------------------------------------- BDAT (RFC 3030)

  // Bare CR / bare LF check across chunk boundaries, memchr-driven.
  void check_bare(const char* p, std::size_t n) {
    const char* const end = p + n;
    while (p < end) {
      if (pending_cr) {
        if (*p != '\n') return mark_bad();
        pending_cr = false;
        ++p;
        continue;
      }
      const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = lf ? lf : end;
      const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(stop - p)));
      if (cr == nullptr) {
        if (lf != nullptr) return mark_bad();
        return;
      }
      if (cr + 1 == lf) {
        p = lf + 1;
      } else if (cr + 1 == end) {
        pending_cr = true;
        return;
      } else {
        return mark_bad();
      }
    }
  }

  std::size_t consume_bdat(const char* p, std::size_t n) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_left));
    if (chunk == Chunk::accept) {
      if (!bad_newline) check_bare(p, take);
      body_append(p, take);
    }
    chunk_left -= take;
    if (chunk_left == 0) finish_chunk();
    return take;
  }

  void finish_chunk() {
    mode = Mode::command;
    switch (chunk) {
      case Chunk::need_mail:
        return fail(503, {5, 5, 1}, "Error: need MAIL command");
      case Chunk::need_rcpt:
        return fail(554, {5, 5, 1}, "Error: no valid recipients");
      case Chunk::failed:
        if (chunk_last) bdat_failed = false;
        return reply(552, {5, 3, 4}, kTooBig);
      case Chunk::accept:
        break;
    }
    if (oversize) {
      reset_tx();
      bdat_failed = !chunk_last;
      return reply(552, {5, 3, 4}, kTooBig);
    }
    if (chunk_last) {
      if (pending_cr) mark_bad();
      if (bad_newline) {
        reset_tx();
        return reply(550, {5, 5, 2}, kBareNewline);
      }
      flush_body();
      ask = Ask::commit;
      return push(EventKind::ask_commit);
    }
    std::string text;
    append_uint(text, chunk_size);
    text += " octets received";
    reply(250, {2, 0, 0}, text);
  }

  // ---------------------------------------------------------------- commands

  void command(std::string_view line) {
    line = trim_right(line);
    const auto sp = line.find(' ');
    const std::string_view verb = line.substr(0, sp);
    const std::string_view arg =
        sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (verb.size() == 4) {
      if (iequals(verb, "BDAT")) return cmd_bdat(arg);
      bdat_failed = false;  // any other command ends the discard of a failed BDAT transaction
      if (iequals(verb, "MAIL")) return cmd_mail(arg);
      if (iequals(verb, "RCPT")) return cmd_rcpt(arg);
      if (iequals(verb, "DATA")) return cmd_data(arg);
      if (iequals(verb, "EHLO")) return cmd_helo(arg, true);
      if (iequals(verb, "HELO")) return cmd_helo(arg, false);
      if (iequals(verb, "RSET")) return cmd_rset(arg);
      if (iequals(verb, "NOOP")) return reply(250, {2, 0, 0}, "Ok");
      if (iequals(verb, "QUIT")) return cmd_quit();
      if (iequals(verb, "VRFY")) return cmd_vrfy(arg);
      if (iequals(verb, "EXPN")) return fail(502, {5, 5, 1}, "Error: command not implemented");
      if (iequals(verb, "HELP")) return cmd_help();
      if (iequals(verb, "AUTH")) return cmd_auth(arg);
    }
    bdat_failed = false;
    if (iequals(verb, "STARTTLS")) return cmd_starttls(arg);
    fail(500, {5, 5, 2}, "Error: command not recognized");
  }

  void cmd_helo(std::string_view arg, bool extended) {
    arg = core::trim(arg);
    if (arg.empty())
      return fail(501, {5, 5, 4}, extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
    reset_tx();  // RFC 5321 §4.1.4: HELO/EHLO mid-session is an implicit RSET
    helo.assign(arg);
    have_helo = true;
    esmtp = extended;
    if (!extended) {
      reply(250, {}, opts.hostname);
    } else {
      auto line = [this](std::string_view s) {
        out += "250-";
        out += s;
        out += "\r\n";
      };
      out += "250-";
      const std::size_t at = out.size();
      out += opts.hostname;
      for (std::size_t i = at; i < out.size(); ++i)  // the hostname comes from settings; still
        if (static_cast<unsigned char>(out[i]) < 0x20) out[i] = ' ';  // keep it on one line
      out += "\r\n";
      line("PIPELINING");
      out += "250-SIZE ";
      append_uint(out, opts.limits.max_message_size);
      out += "\r\n";
      line("8BITMIME");
      line("ENHANCEDSTATUSCODES");
      line("SMTPUTF8");
      line("DSN");
      line("CHUNKING");
      if (!opts.auth_mechanisms.empty()) {
        out += "250-AUTH";
        for (const auto& m : opts.auth_mechanisms) {
          out += ' ';
          out += m;
        }
        out += "\r\n";
      }
      if (opts.offer_starttls && !tls_active) line("STARTTLS");
      out += "250 HELP\r\n";
    }
    flush_send();
    Event e = make_event(EventKind::helo, helo);
    e.esmtp = extended;
    events.push_back(std::move(e));
  }

  bool parse_mail_params(std::string_view rest, MailParams& p) {
    bool seen_size = false, seen_body = false, seen_utf8 = false, seen_ret = false,
         seen_envid = false, seen_auth = false;
    return for_each_param(rest, [&](std::string_view key, std::string_view value, bool has_value) {
      if (!detail::is_esmtp_keyword(key) || (has_value && !detail::is_esmtp_value(value))) {
        fail(501, {5, 5, 4}, "Bad MAIL parameter syntax");
        return false;
      }
      auto dup = [&](bool& seen) {  // true (after replying) if the keyword was given before
        if (!seen) {
          seen = true;
          return false;
        }
        fail(501, {5, 5, 4}, "Duplicate " + core::to_lower(key) + " parameter");
        return true;
      };
      if (iequals(key, "SIZE")) {
        if (dup(seen_size)) return false;
        auto v = has_value ? core::parse_u64(value) : std::nullopt;
        if (!v) return fail(501, {5, 5, 4}, "Bad message size syntax"), false;
        p.size = *v;
      } else if (iequals(key, "BODY")) {
        if (dup(seen_body)) return false;
        if (iequals(value, "7BIT")) p.body = BodyType::seven_bit;
        else if (iequals(value, "8BITMIME")) p.body = BodyType::eight_bit_mime;
        else if (iequals(value, "BINARYMIME")) p.body = BodyType::binary_mime;
        else return fail(501, {5, 5, 4}, "Bad BODY parameter syntax"), false;
      } else if (iequals(key, "SMTPUTF8")) {
        if (dup(seen_utf8)) return false;
        if (has_value) return fail(501, {5, 5, 4}, "Bad SMTPUTF8 parameter syntax"), false;
        p.smtputf8 = true;
      } else if (iequals(key, "RET")) {
        if (dup(seen_ret)) return false;
        if (iequals(value, "FULL")) p.ret = "FULL";
        else if (iequals(value, "HDRS")) p.ret = "HDRS";
        else return fail(501, {5, 5, 4}, "Bad RET parameter syntax"), false;
      } else if (iequals(key, "ENVID")) {
        if (dup(seen_envid)) return false;
        auto v = has_value && value.size() <= kMaxEnvid ? detail::decode_xtext(value) : std::nullopt;
        if (!v || v->empty() || has_control(*v))
          return fail(501, {5, 5, 4}, "Bad ENVID parameter syntax"), false;
        p.envid = std::move(*v);
      } else if (iequals(key, "AUTH") && !opts.auth_mechanisms.empty()) {
        // RFC 4954 §5: AUTH=<> or AUTH=xtext(mailbox). Kept for the driver, never trusted here.
        if (dup(seen_auth)) return false;
        if (value == "<>") {
          p.auth = "<>";
        } else {
          auto v = has_value && value.size() <= kMaxAuthParam ? detail::decode_xtext(value) : std::nullopt;
          if (!v || v->empty() || has_control(*v))
            return fail(501, {5, 5, 4}, "Bad AUTH parameter syntax"), false;
          p.auth = std::move(*v);
        }
      } else {
        fail(555, {5, 5, 4}, "Unsupported option: " + std::string(key));
        return false;
      }
      return true;
    });
  }

  bool parse_rcpt_params(std::string_view rest, Recipient& r) {
    bool seen_notify = false, seen_orcpt = false;
    return for_each_param(rest, [&](std::string_view key, std::string_view value, bool has_value) {
      if (!detail::is_esmtp_keyword(key) || (has_value && !detail::is_esmtp_value(value))) {
        fail(501, {5, 5, 4}, "Bad RCPT parameter syntax");
        return false;
      }
      if (iequals(key, "NOTIFY")) {
        if (seen_notify) return fail(501, {5, 5, 4}, "Duplicate notify parameter"), false;
        seen_notify = true;
        unsigned flags = kNotifyNone;
        bool ok = has_value;
        std::string_view v = value;
        while (ok) {
          const auto comma = v.find(',');
          const std::string_view item = v.substr(0, comma);
          if (iequals(item, "NEVER")) flags |= kNotifyNever;
          else if (iequals(item, "SUCCESS")) flags |= kNotifySuccess;
          else if (iequals(item, "FAILURE")) flags |= kNotifyFailure;
          else if (iequals(item, "DELAY")) flags |= kNotifyDelay;
          else ok = false;
          if (comma == std::string_view::npos) break;
          v.remove_prefix(comma + 1);
        }
        if (!ok || ((flags & kNotifyNever) && flags != kNotifyNever))  // NEVER is exclusive
          return fail(501, {5, 5, 4}, "Bad NOTIFY parameter syntax"), false;
        r.notify = flags;
      } else if (iequals(key, "ORCPT")) {
        if (seen_orcpt) return fail(501, {5, 5, 4}, "Duplicate orcpt parameter"), false;
        seen_orcpt = true;
        // ORCPT = addr-type ";" xtext; addr-type is an atom (RFC 3461 §4.2)
        const auto semi = value.find(';');
        bool ok = has_value && value.size() <= kMaxOrcpt && semi != std::string_view::npos &&
                  semi > 0 && semi + 1 < value.size() &&
                  detail::is_esmtp_keyword(value.substr(0, semi));
        std::optional<std::string> addr;
        if (ok) addr = detail::decode_xtext(value.substr(semi + 1));
        if (!addr || addr->empty() || has_control(*addr))
          return fail(501, {5, 5, 4}, "Bad ORCPT parameter syntax"), false;
        r.orcpt.assign(value.substr(0, semi + 1));
        r.orcpt += *addr;
      } else {
        fail(555, {5, 5, 4}, "Unsupported option: " + std::string(key));
        return false;
      }
      return true;
    });
  }

  void cmd_mail(std::string_view arg) {
    if (!have_helo) return fail(503, {5, 5, 1}, "Error: send HELO/EHLO first");
    if (mail_active) return fail(503, {5, 5, 1}, "Error: nested MAIL command");
    std::string_view a = trim_spaces_left(arg);
    if (!istarts_with(a, "FROM:")) return fail(501, {5, 5, 4}, "Syntax: MAIL FROM:<address>");
    a = trim_spaces_left(a.substr(5));
    detail::Path path;
    const auto used = detail::parse_path(a, detail::PathKind::reverse, path);
    if (!used || (*used < a.size() && a[*used] != ' '))
      return fail(501, {5, 1, 7}, "Bad sender address syntax");
    MailParams params;
    if (!parse_mail_params(a.substr(*used), params)) return;
    if (path.non_ascii) {
      if (!params.smtputf8)
        return fail(553, {5, 6, 7}, "Must declare SMTPUTF8 to send unicode address");
      if (!detail::is_valid_utf8(path.address))
        return fail(501, {5, 1, 7}, "Bad sender address syntax");
    }
    const std::uint64_t max = opts.limits.max_message_size;
    if (params.size && max != 0 && *params.size > max) return fail(552, {5, 3, 4}, kTooBig);
    tx = Transaction{};
    tx.mail_from.assign(path.address);
    tx.params = std::move(params);
    ask = Ask::mail;
    push(EventKind::ask_mail, tx.mail_from);
  }

  void cmd_rcpt(std::string_view arg) {
    if (!mail_active) return fail(503, {5, 5, 1}, "Error: need MAIL command");
    if (bdat_seen) return fail(503, {5, 5, 1}, "Error: RCPT after BDAT");
    std::string_view a = trim_spaces_left(arg);
    if (!istarts_with(a, "TO:")) return fail(501, {5, 5, 4}, "Syntax: RCPT TO:<address>");
    a = trim_spaces_left(a.substr(3));
    detail::Path path;
    const auto used = detail::parse_path(a, detail::PathKind::forward, path);
    if (!used || (*used < a.size() && a[*used] != ' '))
      return fail(501, {5, 1, 3}, "Bad recipient address syntax");
    Recipient r;
    if (!parse_rcpt_params(a.substr(*used), r)) return;
    if (path.non_ascii) {
      if (!tx.params.smtputf8)
        return fail(553, {5, 6, 7}, "Must declare SMTPUTF8 to send unicode address");
      if (!detail::is_valid_utf8(path.address))
        return fail(501, {5, 1, 3}, "Bad recipient address syntax");
    }
    if (tx.rcpts.size() >= opts.limits.max_recipients)
      return reply(452, {4, 5, 3}, "Too many recipients");  // not an error: see header
    r.address.assign(path.address);
    r.domain = core::to_lower(path.domain);
    pending_rcpt = r;
    ask = Ask::rcpt;
    flush_send();
    Event e = make_event(EventKind::ask_rcpt, r.address);
    e.rcpt = std::move(r);
    events.push_back(std::move(e));
  }

  void cmd_data(std::string_view arg) {
    if (!arg.empty()) return fail(501, {5, 5, 4}, "Syntax: DATA");
    if (!mail_active) return fail(503, {5, 5, 1}, "Error: need MAIL command");
    if (bdat_seen) return fail(503, {5, 5, 1}, "Error: DATA after BDAT");
    if (tx.params.body == BodyType::binary_mime)
      return fail(503, {5, 5, 1}, "Error: BODY=BINARYMIME requires BDAT");
    if (tx.rcpts.empty()) return fail(554, {5, 5, 1}, "Error: no valid recipients");
    reply(354, {}, "End data with <CR><LF>.<CR><LF>");
    mode = Mode::data;
    scan = Scan::line_start;  // the CR LF ending "DATA" counts as the first CR LF
    msg_size = 0;
    bad_newline = false;
    oversize = false;
  }

  void cmd_bdat(std::string_view arg) {
    // BDAT SP chunk-size [SP end-marker]
    std::string_view a = arg;
    const auto sp = a.find(' ');
    const std::string_view size_text = a.substr(0, sp);
    const std::string_view tail = sp == std::string_view::npos ? std::string_view{}
                                                               : trim_spaces_left(a.substr(sp));
    const auto size = core::parse_u64(size_text);
    const bool last = iequals(tail, "LAST");
    if (!size || (!tail.empty() && !last)) {
      // The chunk length is unknown, so the octets that follow cannot be skipped; reading them
      // as commands would let message content act as SMTP. Refuse and hang up.
      fail(501, {5, 5, 4}, "Syntax: BDAT count [LAST]");
      if (mode == Mode::closed) return;
      reply(421, {4, 5, 0}, opts.hostname + " Error: BDAT synchronization lost, closing connection");
      return close_session();
    }
    chunk_size = *size;
    chunk_left = *size;
    chunk_last = last;
    if (bdat_failed) {
      chunk = Chunk::failed;
    } else if (!mail_active) {
      chunk = Chunk::need_mail;
    } else if (tx.rcpts.empty()) {
      chunk = Chunk::need_rcpt;
    } else {
      chunk = Chunk::accept;
      if (!bdat_seen) {
        bdat_seen = true;
        msg_size = 0;
        bad_newline = false;
        oversize = false;
        pending_cr = false;
      }
    }
    mode = Mode::bdat;
    if (chunk_left == 0) finish_chunk();
  }

  void cmd_rset(std::string_view arg) {
    if (!arg.empty()) return fail(501, {5, 5, 4}, "Syntax: RSET");
    reset_tx();
    reply(250, {2, 0, 0}, "Ok");
  }

  void cmd_quit() {
    reply(221, {2, 0, 0}, "Bye");
    close_session();
  }

  void cmd_vrfy(std::string_view arg) {
    if (core::trim(arg).empty()) return fail(501, {5, 5, 4}, "Syntax: VRFY address");
    reply(252, {2, 5, 2}, "Cannot VRFY user, but will accept message and attempt delivery");
  }

  void cmd_help() {
    std::string text = "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP";
    if (opts.offer_starttls && !tls_active) text += " STARTTLS";
    if (!opts.auth_mechanisms.empty()) text += " AUTH";
    reply(214, {2, 0, 0}, text);
  }

  void cmd_starttls(std::string_view arg) {
    if (tls_active) return fail(502, {5, 5, 1}, "Error: TLS already active");
    if (!opts.offer_starttls) return fail(502, {5, 5, 1}, "Error: command not implemented");
    if (!arg.empty()) return fail(501, {5, 5, 4}, "Syntax: STARTTLS");
    if (mail_active) return fail(503, {5, 5, 1}, "Error: MAIL transaction in progress");
    reply(220, {2, 0, 0}, "Ready to start TLS");
    mode = Mode::tls_wait;  // run() emits start_tls with the count of discarded octets
  }

  // ---------------------------------------------------------------- AUTH (RFC 4954)

  // "334 <base64>" (RFC 4954 §4: a ready response always has the space, even when empty).
  void challenge(std::string_view data) {
    out += "334 ";
    out += base64_encode(data);
    out += "\r\n";
  }

  // Leaves the SASL exchange (back to commands) and forgets what it collected.
  void end_sasl() {
    if (mode == Mode::auth) mode = Mode::command;
    sasl = Sasl::none;
    wipe(auth_req.password);
    wipe(auth_req.digest);
    auth_req = AuthRequest{};
  }

  // The decoded message is not a valid answer for the mechanism: no password was tried, so the
  // driver is not asked; the reply is the same as for wrong credentials.
  void sasl_malformed() {
    end_sasl();
    fail(535, {5, 7, 8}, "Authentication credentials invalid");
  }

  void cmd_auth(std::string_view arg) {
    if (opts.auth_mechanisms.empty()) return fail(503, {5, 5, 1}, "Error: authentication not enabled");
    if (!have_helo || !esmtp) return fail(503, {5, 5, 1}, "Error: send EHLO first");
    if (!auth_user.empty()) return fail(503, {5, 5, 1}, "Already authenticated");
    if (mail_active) return fail(503, {5, 5, 1}, "Error: MAIL transaction in progress");
    std::string_view a = trim_spaces_left(arg);
    const auto sp = a.find(' ');
    const std::string_view mech = a.substr(0, sp);
    const std::string_view initial =
        sp == std::string_view::npos ? std::string_view{} : trim_spaces_left(a.substr(sp));
    if (mech.empty() || mech.size() > 20 || initial.find(' ') != std::string_view::npos)
      return fail(501, {5, 5, 4}, "Syntax: AUTH mechanism [initial-response]");
    const auto it = std::find_if(opts.auth_mechanisms.begin(), opts.auth_mechanisms.end(),
                                 [&](const std::string& m) { return iequals(m, mech); });
    if (it == opts.auth_mechanisms.end()) return fail(504, {5, 5, 4}, "Unrecognized authentication type");
    auth_req = AuthRequest{};
    auth_req.mechanism = *it;
    const bool have_initial = !initial.empty();
    std::string decoded;
    if (have_initial && initial != "=" && !base64_decode(initial, decoded)) {  // "=": empty response
      wipe(decoded);
      auth_req = AuthRequest{};
      return fail(501, {5, 5, 2}, "Cannot decode response");
    }
    if (auth_req.mechanism == "PLAIN") {
      if (have_initial) return sasl_plain(decoded);
      sasl = Sasl::plain;
      challenge("");
    } else if (auth_req.mechanism == "LOGIN") {
      if (have_initial) {  // some clients send the user name as an initial response
        auth_req.username = std::move(decoded);
        sasl = Sasl::login_password;
        challenge("Password:");
      } else {
        sasl = Sasl::login_user;
        challenge("Username:");
      }
    } else {  // CRAM-MD5: the server speaks first (RFC 4954 §4: an initial response is a 501)
      if (have_initial) {
        wipe(decoded);
        auth_req = AuthRequest{};
        return fail(501, {5, 5, 4}, "Error: CRAM-MD5 takes no initial response");
      }
      std::string nonce = opts.cram_nonce ? opts.cram_nonce() : std::string();
      if (!valid_nonce(nonce)) {
        auth_req = AuthRequest{};
        return fail(454, {4, 7, 0}, "Temporary authentication failure");
      }
      auth_req.challenge = "<" + nonce + "@" + opts.hostname + ">";
      sasl = Sasl::cram;
      challenge(auth_req.challenge);
    }
    mode = Mode::auth;
    wipe(decoded);
  }

  // One client response line of the exchange (RFC 4954 §4).
  void sasl_response(std::string_view line) {
    line = trim_right(line);
    if (line == "*") {
      end_sasl();
      return fail(501, {5, 7, 0}, "Authentication aborted");
    }
    std::string decoded;
    if (!base64_decode(line, decoded)) {
      wipe(decoded);
      end_sasl();
      return fail(501, {5, 5, 2}, "Cannot decode response");
    }
    switch (sasl) {
      case Sasl::plain:
        sasl_plain(decoded);
        break;
      case Sasl::login_user:
        auth_req.username = std::move(decoded);
        sasl = Sasl::login_password;
        challenge("Password:");
        break;
      case Sasl::login_password:
        auth_req.password = std::move(decoded);
        // Checked only now, so a bad user name still takes the password line out of the input.
        if (!valid_sasl_name(auth_req.username) || auth_req.password.empty() ||
            auth_req.password.size() > kMaxSaslField || auth_req.password.find('\0') != std::string::npos)
          return sasl_malformed();
        ask_auth();
        break;
      case Sasl::cram:
        sasl_cram(decoded);
        break;
      case Sasl::none:
        end_sasl();
        break;
    }
    wipe(decoded);
  }

  // RFC 4616 §2: message = [authzid] NUL authcid NUL passwd.
  void sasl_plain(std::string& m) {
    const auto a = m.find('\0');
    const auto b = a == std::string::npos ? a : m.find('\0', a + 1);
    if (b == std::string::npos || m.find('\0', b + 1) != std::string::npos) return wipe(m), sasl_malformed();
    auth_req.authzid = m.substr(0, a);
    auth_req.username = m.substr(a + 1, b - a - 1);
    auth_req.password = m.substr(b + 1);
    wipe(m);
    // We let an identity act only as itself: an authzid must be empty or the user name.
    if (!valid_sasl_name(auth_req.username) ||
        (!auth_req.authzid.empty() && auth_req.authzid != auth_req.username) ||
        auth_req.password.empty() || auth_req.password.size() > kMaxSaslField)
      return sasl_malformed();
    ask_auth();
  }

  // RFC 2195 §2: the response is "user SP digest", the digest 32 hex digits (split at the last
  // space: RFC 2195 does not forbid spaces in the user name).
  void sasl_cram(const std::string& m) {
    const auto sp = m.rfind(' ');
    if (sp == std::string::npos || m.size() - sp - 1 != 32) return sasl_malformed();
    std::string digest = m.substr(sp + 1);
    for (auto& c : digest) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return wipe(digest), sasl_malformed();
    }
    auth_req.username = m.substr(0, sp);
    auth_req.digest = std::move(digest);
    if (!valid_sasl_name(auth_req.username)) return sasl_malformed();
    ask_auth();
  }

  // Hands the collected credentials to the driver (moved out: the session keeps no secret).
  void ask_auth() {
    mode = Mode::command;
    sasl = Sasl::none;
    ask = Ask::auth;
    flush_send();
    Event e = make_event(EventKind::ask_auth, auth_req.mechanism);
    e.auth = std::move(auth_req);
    auth_req = AuthRequest{};             // moved-from strings are unspecified: start clean
    auth_req.username = e.auth.username;  // kept for authenticated_user() on success
    events.push_back(std::move(e));
  }

  // ---------------------------------------------------------------- driver calls

  void answer(const Reply& given) {
    if (ask == Ask::none || mode == Mode::closed) return;
    const bool valid = (given.code >= 200 && given.code <= 299) ||
                       (given.code >= 400 && given.code <= 599);
    std::optional<Reply> fallback;
    if (!valid) fallback.emplace(451, EnhancedCode{4, 3, 0}, "Error: internal error");
    const Reply& r = valid ? given : *fallback;
    const bool accepted = r.code < 400;
    const Ask a = ask;
    switch (a) {
      case Ask::mail:
        if (accepted) mail_active = true;
        else tx = Transaction{};
        break;
      case Ask::rcpt:
        if (accepted) tx.rcpts.push_back(std::move(pending_rcpt));
        pending_rcpt = Recipient{};
        break;
      case Ask::commit:
        body_emitted = false;  // the driver owns the body now, whatever the answer
        break;
      case Ask::auth:
        if (accepted) auth_user = std::move(auth_req.username);
        auth_req = AuthRequest{};
        break;
      case Ask::none:
        break;
    }
    ask = Ask::none;
    if (a == Ask::commit) reset_tx();
    out += r.to_wire();
    if (r.code == 421) close_session();
    else if (!accepted && a != Ask::commit) count_error();
    drain();
    finish();
  }

  void terminate(EnhancedCode e, std::string_view why) {
    if (mode == Mode::closed) return;
    std::string text = opts.hostname;
    text += why;
    reply(421, e, text);
    close_session();
    finish();
  }

  void tls_started() {
    if (mode == Mode::closed) return;
    ask = Ask::none;
    reset_tx();
    tls_active = true;
    end_sasl();
    auth_user.clear();  // RFC 3207 §4.2: discard what the client said before TLS
    mode = Mode::command;
    scan = Scan::line_start;
    have_helo = false;
    esmtp = false;
    helo.clear();
    discarding_line = false;
    discarding_auth = false;
    in = std::string();
    in_pos = 0;
    finish();
  }

  std::optional<Event> next_event() {
    if (ev_head >= events.size()) return std::nullopt;
    std::optional<Event> e{std::move(events[ev_head++])};
    if (ev_head == events.size()) {
      events.clear();
      ev_head = 0;
      if (events.capacity() > kKeepEventCapacity) events.shrink_to_fit();
    }
    return e;
  }
};

ServerSession::ServerSession(ServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
ServerSession::~ServerSession() = default;
ServerSession::ServerSession(ServerSession&&) noexcept = default;
ServerSession& ServerSession::operator=(ServerSession&&) noexcept = default;

void ServerSession::start() {
  Impl& s = *impl_;
  if (s.started || s.mode == Impl::Mode::closed) return;
  s.started = true;
  s.reply(220, {}, s.opts.hostname + " ESMTP Gatehouse");
  s.flush_send();
}

void ServerSession::feed(std::string_view bytes) { impl_->feed(bytes); }
std::optional<Event> ServerSession::next_event() { return impl_->next_event(); }
void ServerSession::answer(const Reply& reply) { impl_->answer(reply); }
void ServerSession::timeout() { impl_->terminate({4, 4, 2}, " Error: timeout exceeded"); }
void ServerSession::shutdown() { impl_->terminate({4, 3, 2}, " Service shutting down"); }
void ServerSession::tls_started() { impl_->tls_started(); }

bool ServerSession::awaiting_answer() const { return impl_->ask != Impl::Ask::none; }
bool ServerSession::closed() const { return impl_->mode == Impl::Mode::closed; }
bool ServerSession::in_data() const {
  return impl_->mode == Impl::Mode::data || impl_->mode == Impl::Mode::bdat;
}
bool ServerSession::wants_input() const {
  const Impl& s = *impl_;
  return s.reading() && !s.paused() && s.in.size() - s.in_pos <= s.opts.limits.max_buffered_input;
}
const Transaction& ServerSession::transaction() const { return impl_->tx; }
const std::string& ServerSession::helo_name() const { return impl_->helo; }
bool ServerSession::esmtp() const { return impl_->esmtp; }
const std::string& ServerSession::authenticated_user() const { return impl_->auth_user; }
const std::vector<std::string>& ServerSession::auth_mechanisms() const { return impl_->opts.auth_mechanisms; }
void ServerSession::set_auth_mechanisms(std::vector<std::string> mechanisms) {
  Impl& s = *impl_;
  s.opts.auth_mechanisms = normalise_mechanisms(mechanisms, static_cast<bool>(s.opts.cram_nonce));
}

}  // namespace gatehouse::smtp
