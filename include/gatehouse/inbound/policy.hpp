// Inbound accept policy (pure): who may send to which recipient (no open relay), and the
// Received: header we prepend (RFC 5321 §4.4, RFC 3848 "with" keywords).
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/smtp/reply.hpp"
#include "gatehouse/smtp/server_session.hpp"

namespace gatehouse::inbound {

// RCPT TO decision. A recipient in one of our local domains is accepted from anyone; any other
// recipient only from a relay-allowed network (or, later, an authenticated client); otherwise
// 554 5.7.1 relaying denied.
struct RelayContext {
  core::IpAddress client;
  bool authenticated = false;
};
smtp::Reply check_recipient(const config::Settings& s, const RelayContext& ctx, const smtp::Recipient& r);

// The host name to greet a client with when it connected to `local_ip`: the SMTP host name of
// the alphabetically first local domain bound to that IP (issue "Outbound delivery" item 7),
// else the global smtp.hostname (else the system host name).
std::string greeting_hostname(const config::Settings& s, const core::IpAddress& local_ip);

struct ReceivedInfo {
  std::string helo;        // client's HELO/EHLO argument
  std::string client_ip;
  std::string by_host;     // our host name
  std::string queue_id;
  std::string protocol;    // "SMTP", "ESMTP", "ESMTPS", "UTF8SMTP"...
  std::string for_rcpt;    // set when the message has exactly one recipient
  std::string tls;         // e.g. "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384"; "" without TLS
  std::chrono::system_clock::time_point when;
};
// The complete header field, folded, CRLF-terminated. Untrusted parts are sanitised so the
// client cannot inject header lines.
std::string received_header(const ReceivedInfo& info);
// The start of a streamed message (DATA/BDAT chunks cut anywhere) is held until its header
// section is complete, so that fields can be removed before anything reaches the spool (forged
// Authentication-Results and policy headers, RFC 8601 §5); the body then passes straight through.
// At most `max_header` bytes are held: a longer header section makes overflowed() true and
// everything after it is dropped (the message is then refused at the end of data).
class HeaderGate {
 public:
  // Gets the complete header section (its fields and the empty line that ends it, or the whole
  // message if it has none) and returns what to spool instead.
  using Clean = std::function<std::string(std::string_view header_section)>;
  // Sees every body byte once (after the header section), e.g. for DKIM body hashes.
  using Body = std::function<void(std::string_view body_bytes)>;

  HeaderGate(std::size_t max_header, Clean clean, Body body = {})
      : max_(max_header), clean_(std::move(clean)), body_(std::move(body)) {}
  // The bytes to spool now: nothing while the header section is incomplete, then the cleaned
  // header section and the rest of the chunk, then each chunk as it is.
  std::string feed(std::string_view chunk);
  // At the end of data: what is still held (a message that is all header), cleaned.
  std::string finish();
  bool overflowed() const { return overflowed_; }

 private:
  std::size_t max_;
  Clean clean_;
  Body body_;
  std::string held_;
  bool passing_ = false;
  bool overflowed_ = false;
};

// The DMARC rules the settings ask for (auth.dmarc_honour_reject, auth.dmarc_header,
// auth.dmarc_invalid_from): what inbound applies and `gatehouse check-message` shows.
auth::dmarc::DmarcOptions dmarc_options(const config::Settings& s);

// The fields to DKIM-sign, from the header section a HeaderGate passed to its Clean callback
// (with the empty line that ends it, or the whole message when it is all header, which may lack
// its final CRLF: one is added so every field is complete). The body is hashed from the gate's
// Body callback.
Expected<auth::dkim::Message> signing_header(std::string_view header_section);

// RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 11:12:41 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point t);

}  // namespace gatehouse::inbound
