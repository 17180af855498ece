// The whole inbound authentication of one message (SPF, DKIM, DMARC) and the
// Authentication-Results header field it produces (RFC 8601). Used by `gatehouse check-message`
// now and by inbound's end-of-data checks next. Only DNS look-ups await.
// Must not: read the clock (`now` is passed in) or put unchecked text into the header.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <memory>
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
};

struct CheckResult {
  SpfOutcome spf;
  std::vector<dkim::SignatureResult> dkim;
  dmarc::FromDomain from;
  dmarc::DmarcResult dmarc;
  dmarc::Action action;
  std::string authentication_results;  // the complete header field, folded, CRLF-terminated
};

boost::asio::awaitable<CheckResult> check_message(dns::Resolver& dns, CheckRequest req);

}  // namespace gatehouse::auth
