// DNS look-ups behind one small interface (architecture.md §2, module `dns`): the engine uses
// the c-ares implementation (CaresResolver), tests and `check-message --dns-zone` use a
// StaticZone. Results are values: NXDOMAIN and "no records" are normal answers; SERVFAIL and
// timeouts are temporary failures that callers turn into 4xx/retry/temperror.
//
// The interface is a coroutine returning boost::asio::awaitable: only <boost/asio/awaitable.hpp>
// is included here (light); sockets and c-ares stay in the .cpp files.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::dns {

enum class RrType : std::uint16_t { A = 1, NS = 2, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28, TLSA = 52 };
std::string_view to_string(RrType t);

enum class Status {
  ok,            // NOERROR; records may be empty (NODATA)
  nxdomain,      // the name does not exist
  temp_failure,  // SERVFAIL, timeout, network error: try again later
  perm_failure,  // FORMERR, REFUSED, malformed name: retrying will not help
};
std::string_view to_string(Status s);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // lower-case, no trailing dot; "" for the null MX "."
};

struct Answer {
  Status status = Status::ok;
  std::string error;                    // human text for temp/perm failures
  std::uint32_t ttl = 0;                // smallest TTL of the answer records (0 if none)
  std::vector<core::IpAddress> addrs;   // A / AAAA
  std::vector<MxRecord> mx;             // MX, in answer order
  std::vector<std::string> txt;         // TXT: each record's character-strings concatenated
  std::vector<std::string> names;       // PTR / CNAME / NS targets, lower-case, no trailing dot
  bool empty() const { return addrs.empty() && mx.empty() && txt.empty() && names.empty(); }
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // `name` without trailing dot; case-insensitive.
  virtual boost::asio::awaitable<Answer> query(std::string name, RrType type) = 0;
};

// Reverse-lookup name for an address: "4.3.2.1.in-addr.arpa" / nibble form under ip6.arpa.
std::string reverse_name(const core::IpAddress& a);

}  // namespace gatehouse::dns
