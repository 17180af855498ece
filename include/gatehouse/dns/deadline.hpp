// DeadlineResolver: bounds a whole evaluation that makes many queries (SPF: RFC 7208 §4.6.4,
// "SHOULD ... at least 20 seconds" then temperror; DKIM key and DMARC record look-ups at the end
// of DATA). Once the deadline has passed, every further query answers temp_failure at once
// instead of asking upstream, so the evaluation ends with a temporary error. Queries already in
// flight finish on their own (the upstream resolver's per-query timeouts bound them).
// One object per evaluation. Must not: cancel or touch queries in flight.
#pragma once
#include <atomic>
#include <chrono>
#include <string>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::dns {

class DeadlineResolver final : public Resolver {
 public:
  // `upstream` and `clock` must outlive this object. `what` names the evaluation in the error
  // text ("SPF evaluation").
  DeadlineResolver(Resolver& upstream, const core::Clock& clock, std::chrono::seconds limit, std::string what);
  boost::asio::awaitable<Answer> query(std::string name, RrType type) override;
  bool expired() const { return expired_.load(); }  // some query was refused for the deadline

 private:
  Resolver& upstream_;
  const core::Clock& clock_;
  core::SysTime deadline_;
  std::chrono::seconds limit_;
  std::string what_;
  std::atomic<bool> expired_{false};
};

}  // namespace gatehouse::dns
