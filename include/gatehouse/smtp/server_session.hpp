// The SMTP server session as a pure state machine (RFC 5321, RFC 1870 SIZE, RFC 6152 8BITMIME,
// RFC 2920 PIPELINING, RFC 2034 ENHANCEDSTATUSCODES, RFC 6531 SMTPUTF8, RFC 3461 DSN,
// RFC 3030 CHUNKING/BDAT). Bytes go in; replies to write and events to act on come out.
// No sockets, no clock, no globals: the driver (inbound) owns IO, timers and policy.
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
#pragma once
#include <cstdint>
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
};

struct ServerOptions {
  std::string hostname = "localhost";  // greeting and EHLO reply
  ServerLimits limits;
  bool offer_starttls = false;         // STARTTLS advertised (issue "TLS everywhere")
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
};

struct Event {
  EventKind kind;
  std::string text;
  Recipient rcpt;      // ask_rcpt
  bool esmtp = false;  // helo
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
  void tls_started();                  // RFC 3207 §4.2: back to the initial state, STARTTLS gone

  bool awaiting_answer() const;
  bool closed() const;                 // close event emitted
  bool in_data() const;                // reading DATA/BDAT payload (driver: data timeout)
  bool wants_input() const;            // not paused, not closed, buffer below the cap
  const Transaction& transaction() const;
  const std::string& helo_name() const;
  bool esmtp() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::smtp
