// Delivery status notifications: when to send one (RFC 3461 §4.1 NOTIFY; RFC 5321 §4.5.5 null
// reverse-path), how to write one (RFC 3464 multipart/report; report-type=
// delivery-status, RFC 6522; RFC 6533 message/global-delivery-status, utf-8 address type and
// message/global(-headers) for SMTPUTF8 mail; RFC 3834 Auto-Submitted; RFC 3463 status codes),
// and a small parser for such messages (tests, and later the report module).
//
// Pure: no sockets, no files, no clock reads (every time is passed in), no globals. Values that
// come from the network (replies, addresses, ENVID, ORCPT, host names) never reach a header line
// unsanitised: CR, LF and other controls are removed, so they cannot start a header or a part.
// The parser never throws and never reads past its caps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/core/error.hpp"

namespace gatehouse::delivery {

// What happened to one recipient, as the NOTIFY parameter sees it (RFC 3461 §4.1).
enum class DsnEvent {
  failure,  // permanent failure (5xx, no route, admin bounce)
  delay,    // still queued after the delay-warning time
  success,  // delivered, relayed to a non-DSN server, or expanded
  expiry,   // given up after the queue lifetime: reported as a failure with 4.4.7
};

// The Action field (RFC 3464 §2.3.3).
enum class DsnAction { failed, delayed, delivered, relayed, expanded };
std::string_view to_string(DsnAction a);  // "failed", "delayed", ...

// Expiry maps to Action "failed" (RFC 3464 §2.3.3: "failed" includes giving up on a transient
// condition) with Status 4.4.7 "delivery time expired" (RFC 3463 §3.5).
DsnAction action_for(DsnEvent ev);
std::string_view default_status(DsnEvent ev);  // "5.0.0", "4.0.0", "2.0.0", "4.4.7"

// RFC 3461 §4.1: no NOTIFY (0) → failure and delay notices, no success notice; NOTIFY=NEVER →
// nothing (NEVER wins over any other bit); otherwise only the listed kinds. `notify_flags` is a
// combination of smtp::NotifyFlags. An expiry is a failure.
bool should_notify(unsigned notify_flags, DsnEvent ev);

// False for the null reverse-path ("" or "<>"): never send a DSN about a DSN (RFC 5321 §4.5.5).
bool should_bounce(const std::string& mail_from);

// RET (RFC 3461 §4.3). Only a report with at least one failed recipient returns the full message;
// delay and success reports carry the header section only.
enum class DsnRet { unspecified, hdrs, full };
DsnRet parse_ret(std::string_view ret);  // "FULL"/"HDRS" (any case) or unspecified

inline constexpr std::size_t kDefaultMaxOriginal = 10u << 20;  // 10 MiB

struct DsnRecipient {
  std::string final_recipient;     // address we delivered / tried to deliver to (no brackets)
  std::string original_recipient;  // ORCPT as stored: "rfc822;addr" (xtext-decoded); "" = none
  DsnAction action = DsnAction::failed;
  std::string status;              // "X.Y.Z" (RFC 3463); empty or malformed → the action's default
  std::string remote_mta;          // host that gave the reply; "" = none (no server reached)
  // "smtp; 550 5.1.1 No such user". Without a "type;" prefix the type is guessed: "smtp" when
  // the text starts with a reply code, "X-Gatehouse" otherwise (our own reasons). "" = none.
  std::string diagnostic_code;
  std::int64_t last_attempt = 0;      // unix seconds; 0 = no attempt (field omitted)
  std::int64_t will_retry_until = 0;  // unix seconds; written for Action delayed only; 0 = omit
};

struct DsnReport {
  std::string reporting_mta;  // our host name: Reporting-MTA, From, Message-ID
  std::string envid;          // ENVID (xtext-decoded); "" = none
  std::int64_t arrival = 0;   // unix seconds; 0 = unknown (Arrival-Date omitted)
  std::string sender;         // the original MAIL FROM: the DSN goes to it (To:)
  std::vector<DsnRecipient> recipients;
  DsnRet ret = DsnRet::unspecified;
  std::string original;       // the original message as sent: prepended headers + body, CRLF
  std::int64_t now = 0;       // unix seconds: Date
  std::string token;          // unique per DSN: Message-ID left part and MIME boundary
  bool smtputf8 = false;      // the original was sent with SMTPUTF8
  std::size_t max_original = kDefaultMaxOriginal;  // larger full messages fall back to headers
};

// The complete RFC 5322 message (CRLF line endings), ready to be queued with the null sender.
// Subject: "Undelivered Mail Returned to Sender" if any recipient failed, else "Delayed Mail
// (still being retried)" if any is delayed, else "Successful Mail Delivery Report".
std::string build_dsn(const DsnReport& r);

// What the DSN's own SMTP transaction must declare: BODY=8BITMIME when any byte >= 0x80, and
// SMTPUTF8 when the original used it and the DSN carries UTF-8.
struct DsnTransport {
  bool eightbit = false;
  bool smtputf8 = false;
};
DsnTransport dsn_transport(std::string_view built, bool smtputf8);

// RFC 5322 date-time in UTC: "Thu, 1 Jan 1970 00:00:00 +0000".
std::string format_rfc5322_date(std::int64_t unix_seconds);

// --- parsing ---

// Header fields in order; names as written; values unfolded (CRLF removed, RFC 5322 §2.2.3)
// with leading and trailing white space trimmed.
struct DsnFields {
  std::vector<std::pair<std::string, std::string>> list;
  const std::string* find(std::string_view name) const;  // first match, case-insensitive
  std::string get(std::string_view name) const;          // "" when absent
  std::size_t count(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
};

struct DsnPart {
  DsnFields headers;
  std::string content_type;  // lower-case "type/subtype"; "text/plain" when absent (RFC 2045)
  std::string body;          // raw bytes between the part's header section and the next delimiter
};

struct DsnParsed {
  DsnFields headers;          // top-level header section
  std::string content_type;   // lower-case, "multipart/report"
  std::string report_type;    // lower-case, "delivery-status"
  std::string boundary;
  std::vector<DsnPart> parts;
  DsnFields per_message;                 // from the (global-)delivery-status part
  std::vector<DsnFields> per_recipient;  // one per recipient block, in order
  std::string status_type;    // media type of that part
  std::string original_type;  // media type of the third part; "" when there is none
};

// Splits a multipart/report by its boundary, unfolds headers, and reads the delivery-status
// fields. No transfer decoding: a base64 or quoted-printable status part is an error.
// Caps: 64 parts, 1000 fields per header block, 10000 recipient blocks, 64 KiB per field.
Expected<DsnParsed> parse_dsn(std::string_view msg);

}  // namespace gatehouse::delivery
