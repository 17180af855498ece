// The SMTP server session as a pure state machine (RFC 5321, RFC 1870 SIZE, RFC 6152 8BITMIME,
// RFC 2920 PIPELINING, RFC 2034 ENHANCEDSTATUSCODES, RFC 6531 SMTPUTF8, RFC 3461 DSN,
// RFC 3030 CHUNKING/BDAT, RFC 4954 AUTH with the SASL mechanisms PLAIN (RFC 4616), LOGIN
// (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195)). Bytes go in; replies to write and events
// to act on come out. No sockets, no clock, no random numbers, no globals: the driver (inbound)
// owns IO, timers, policy and credential checks. It must never put credentials into a send event
// or an error text: passwords and digests travel only in Event::auth of an ask_auth event.
//
// Driving it:
//   ServerSession s(opts);            s.start();  -> Event::send (the 220 greeting)
//   s.feed(bytes);                    processes every complete command it can
//   while (auto ev = s.next_event()) { ... }
// Events of kind ask_* pause the session: it processes no more input until the driver calls
// answer(reply) (accept: a 2xx reply; refuse: 4xx/5xx). Input fed while paused is buffered.
// Pipelined commands are answered in order; replies are batched into as few send events as
// possible (RFC 2920 §3.2: the server may buffer replies until its input is drained).
//
// DATA: end of data is "<CRLF>.<CRLF>" only. Dot-stuffing is removed. A bare LF or bare CR in the
// data (or in BDAT chunks) never ends the message: the whole message is read to its real end and
// refused with 550 5.5.2 (SMTP smuggling class, CVE-2023-51764). The size cap is enforced on the
// un-stuffed bytes; an oversize message is read to its end and refused with 552 5.3.4.
//
// AUTH (RFC 4954): offered only when ServerOptions::auth_mechanisms is not empty (the driver picks
// them from the TLS state and the settings; after tls_started() it calls set_auth_mechanisms()
// with the list for the encrypted connection). The session runs the 334 challenge/response
// exchange itself, decodes the SASL messages and then emits ask_auth with the mechanism, the user
// name and the credentials (Event::auth). The driver verifies them and answers:
//   235 2.7.0 Authentication successful   -> authenticated_user() is the user from now on
//   535 5.7.8 Authentication credentials invalid   (counts as an error, like any 4xx/5xx)
//   454 4.7.0 Temporary authentication failure     (e.g. the user database is unavailable)
//   421 4.7.0 <host> ...                            closes the session (e.g. login throttling)
// Any 2xx answer authenticates; any 4xx/5xx does not. See tests/data/smtp/server/README.md.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/smtp/reply.hpp"

namespace gatehouse::smtp {

struct ServerLimits {
  std::size_t max_command_line = 2048;           // bytes incl. CRLF; longer: 500 5.5.2
  std::uint64_t max_message_size = 26'214'400;   // SIZE; over it: 552 5.3.4
  std::size_t max_recipients = 100;              // over it: 452 4.5.3
  unsigned max_errors = 10;                      // then 421 4.7.0 and close
  std::size_t body_chunk = 64 * 1024;            // body events carry at most this much
  std::size_t max_buffered_input = 1024 * 1024;  // driver stops reading above this
  std::size_t max_auth_line = 12288;             // AUTH command and SASL response lines (RFC 4954
                                                 // §4), incl. CRLF; longer: 500 5.5.6
};

struct ServerOptions {
  std::string hostname = "localhost";  // greeting and EHLO reply
  ServerLimits limits;
  bool offer_starttls = false;         // STARTTLS advertised (issue "TLS everywhere")
  // SASL mechanisms to advertise ("AUTH PLAIN LOGIN") and accept, in this order. Known names only
  // (PLAIN, LOGIN, CRAM-MD5, any case); others are dropped. Empty: AUTH is not offered and the
  // AUTH command gets 503 5.5.1. The driver decides, e.g. PLAIN LOGIN only once TLS is active.
  std::vector<std::string> auth_mechanisms;
  // The random part of each CRAM-MD5 challenge "<nonce@hostname>" (RFC 2195 §2), called once per
  // challenge, e.g. "<random digits>.<unix time>" (sasl::cram_nonce()). Must be 1..128 printable
  // ASCII octets without '<', '>', '@' or space; anything else answers 454 4.7.0. Without this
  // callback CRAM-MD5 is neither advertised nor accepted.
  std::function<std::string()> cram_nonce;
};

// RFC 3461 NOTIFY bits.
enum NotifyFlags : unsigned {
  kNotifyNone = 0,  // not given: default behaviour (failure + delay)
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

enum class BodyType { unspecified, seven_bit, eight_bit_mime, binary_mime };

struct MailParams {
  std::optional<std::uint64_t> size;
  BodyType body = BodyType::unspecified;
  bool smtputf8 = false;
  std::string ret;    // "FULL", "HDRS" or "" (not given)
  std::string envid;  // xtext-decoded ENVID, "" if not given
  std::string auth;   // RFC 4954 §5 AUTH=: xtext-decoded mailbox, "<>", or "" if not given
                      // (accepted only while AUTH is offered; the driver must not trust it
                      // from an unauthenticated client, and never passes it on)
};

struct Recipient {
  std::string address;  // local@domain as given (no angle brackets)
  std::string domain;   // lower-cased domain part
  unsigned notify = kNotifyNone;
  std::string orcpt;    // "rfc822;addr" as given (xtext-decoded), "" if not given
};

struct Transaction {
  std::string mail_from;  // "" for the null reverse-path <>
  MailParams params;
  std::vector<Recipient> rcpts;  // accepted recipients only
};

enum class EventKind {
  send,         // write `text` to the peer
  helo,         // HELO/EHLO accepted: `text` is the client's name, `esmtp` tells which
  ask_mail,     // MAIL FROM parsed (transaction().mail_from/params): answer() accept/refuse
  ask_rcpt,     // RCPT TO parsed (`rcpt`): answer() accept (recipient is added) or refuse
  body,         // `text` holds the next un-stuffed message bytes of the current transaction
  ask_commit,   // message complete (all body events sent): answer() with 250 queued / 4xx / 5xx
  abort_body,   // body events were sent but the message is refused or reset: discard them
  start_tls,    // 220 was sent for STARTTLS: discard buffered input, handshake, then tls_started()
  close,        // close the connection after writing everything sent so far
  ask_auth,     // SASL exchange complete (`text` = mechanism, `auth` = credentials): answer() 235
                // (authenticated), 535 / 454 (not), or 421 (close). See the header comment.
};

// The credentials of an ask_auth event. Secret fields must never be logged or sent.
struct AuthRequest {
  std::string mechanism;  // "PLAIN", "LOGIN" or "CRAM-MD5"
  std::string username;   // authentication identity: 1..255 octets, no control characters
  std::string authzid;    // PLAIN authorization identity: "" or equal to username (others are
                          // refused by the session with 535 5.7.8 before any ask_auth)
  std::string password;   // PLAIN, LOGIN: the password (1..255 octets, no NUL). SECRET
  std::string challenge;  // CRAM-MD5: the challenge we sent, "<nonce@hostname>"
  std::string digest;     // CRAM-MD5: the client's HMAC-MD5 digest, 32 lower-case hex. SECRET
};

struct Event {
  EventKind kind;
  std::string text;
  Recipient rcpt;      // ask_rcpt
  bool esmtp = false;  // helo
  AuthRequest auth;    // ask_auth
};

class ServerSession {
 public:
  explicit ServerSession(ServerOptions opts);
  ~ServerSession();
  ServerSession(ServerSession&&) noexcept;
  ServerSession& operator=(ServerSession&&) noexcept;

  void start();                        // queues the 220 greeting
  void feed(std::string_view bytes);   // client bytes, any split
  std::optional<Event> next_event();   // pops the next event, if any
  void answer(const Reply& reply);     // answers the pending ask_* event
  void timeout();                      // 421 4.4.2 and close
  void shutdown();                     // 421 4.3.2 and close (server stopping)
  void tls_started();                  // RFC 3207 §4.2: back to the initial state, STARTTLS gone,
                                       // not authenticated (RFC 4954 §4)
  // Replaces ServerOptions::auth_mechanisms (same rules); takes effect at the next EHLO/AUTH.
  // Typically called right after tls_started() with the mechanisms allowed under TLS.
  void set_auth_mechanisms(std::vector<std::string> mechanisms);

  bool awaiting_answer() const;
  bool closed() const;                 // close event emitted
  bool in_data() const;                // reading DATA/BDAT payload (driver: data timeout)
  bool wants_input() const;            // not paused, not closed, buffer below the cap
  const Transaction& transaction() const;
  const std::string& helo_name() const;
  bool esmtp() const;
  const std::string& authenticated_user() const;  // "" until an ask_auth was answered 2xx
  const std::vector<std::string>& auth_mechanisms() const;  // offered now (normalised)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::smtp
