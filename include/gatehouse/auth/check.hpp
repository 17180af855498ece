// The whole inbound authentication of one message (SPF, DKIM, DMARC) and the
// Authentication-Results header field it produces (RFC 8601). Used by `gatehouse check-message`
// now and by inbound's end-of-data checks next. Only DNS look-ups await.
// Must not: read the clock (`now` is passed in) or put unchecked text into the header.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/auth/spf.hpp"
#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::dns { class Resolver; }

namespace gatehouse::auth {

struct CheckRequest {
  core::IpAddress ip;
  std::string helo;
  std::string mail_from;   // "" = null reverse-path
  std::string message;     // the complete message, CRLF line ends
  std::string authserv_id; // our host name
  std::int64_t now = 0;
  unsigned sample = 0;     // DMARC pct random number in [0, 100)
  dmarc::DmarcOptions dmarc_options;
  std::shared_ptr<const psl::List> psl;  // for organizational domains
  bool spf = true, dkim = true, dmarc = true;  // which checks run (auth.spf, auth.dkim_verify, auth.dmarc)
  // The SPF result when the caller already has it (inbound checks SPF at MAIL FROM, so that
  // auth.spf_reject can refuse before the data is sent); check_host() is then not called again.
  std::optional<SpfOutcome> spf_result;
};

struct CheckResult {
  SpfOutcome spf;
  std::vector<dkim::SignatureResult> dkim;
  dmarc::FromDomain from;
  dmarc::DmarcResult dmarc;
  dmarc::Action action;
  std::string authentication_results;  // the complete header field, folded, CRLF-terminated
};

// `dns` and `req` must outlive the awaitable (the message is not copied: it can be large).
boost::asio::awaitable<CheckResult> check_message(dns::Resolver& dns, const CheckRequest& req);

// The streaming form (inbound: the body goes to the spool as it arrives and is never held).
// A message reduced to what the checks read: its header section split into fields, and the DKIM
// body hashes those fields ask for.
struct MessageParts {
  std::optional<dkim::Message> header;  // the fields (body empty); nullopt: the section does not split
  dkim::BodyHashes body;                // fed with the body, then finish()ed before checking

  MessageParts() = default;
  // From the complete header section (fields and the empty line that ends it; then feed the
  // body), or from a whole message (its body is hashed at once): splits the fields and sets up
  // the body hashes their signatures need.
  explicit MessageParts(std::string_view message);
};
// `dns`, `req` and `parts` must outlive the awaitable; req.message is not read.
boost::asio::awaitable<CheckResult> check_message(dns::Resolver& dns, const CheckRequest& req,
                                                  const MessageParts& parts);

// RFC 8601 §2.2: the authserv-id at the start of an Authentication-Results field value (after
// CFWS; a token or a quoted-string), or nullopt if the value does not start with one.
std::optional<std::string> authserv_id_of(std::string_view field_value);

// RFC 8601 §5 and the product's policy header: what is left of a header section once every
// Authentication-Results field claiming one of `our_ids` (this gateway's authserv-ids, compared
// case-insensitively) and every field named in `policy_headers` are removed. Other ADMDs'
// results stay. Byte for byte otherwise. Error only for a header section over
// dmarc::kMaxHeaderSection. Used on every message that passes the gateway, checked or not.
struct ForgedFieldRemoval {
  std::string headers;
  std::size_t removed_policy_headers = 0;
  std::size_t removed_authentication_results = 0;
};
Expected<ForgedFieldRemoval> remove_forged_fields(std::string_view header_section,
                                                  const std::vector<std::string>& our_ids,
                                                  const std::vector<std::string>& policy_headers);

// The header fields inbound adds above a checked message it accepts: the Authentication-Results
// field, then the policy header when the action marks the message ("" for a refusal).
std::string fields_to_add(const CheckResult& result);

}  // namespace gatehouse::auth
