// sasl::LoginThrottle: failed SMTP AUTH logins per client address (issue "TLS everywhere" item 9;
// the settings auth.max_failures and auth.failure_window feed it, docs/settings.md). A sliding
// window: an address with max_failures failed logins within the last `window` is refused until
// the oldest of its last max_failures failures is `window` old ("ages out"); then it may try
// again, and each further failure counts against the same sliding window. While refused, the driver does not check credentials
// at all (no scrypt cost) and answers
//     421 4.7.0 <host> Error: too many failed logins, try again later
// and closes the connection (docs/encryption.md "SMTP AUTH" says why 421 rather than 454).
// Refused attempts are not failures: they do not extend the lock-out.
// IPv6 clients are counted per /64 (one host usually owns the whole /64); IPv4-mapped IPv6
// addresses count as their IPv4 address; anything that is not an IP address counts as itself.
// Thread-safe (one mutex, never held across IO). Memory is bounded: at most max_tracked addresses
// and 2^20 failure times in all (so fewer addresses when max_failures is large).
// Must not: read the system clock directly (the Clock is injected), store credentials or names.
#pragma once
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/clock.hpp"

namespace gatehouse::sasl {

class LoginThrottle {
 public:
  static constexpr std::size_t kDefaultMaxTracked = 65536;

  // max_failures 0 (or a window of 0) turns throttling off.
  LoginThrottle(const core::Clock& clock, unsigned max_failures, std::chrono::seconds window,
                std::size_t max_tracked = kDefaultMaxTracked);

  // New limits (settings changed); failures already recorded count under the new limits.
  void set_limits(unsigned max_failures, std::chrono::seconds window);

  // True while `client_ip` is refused: check before checking credentials.
  bool blocked(std::string_view client_ip) const;
  // Time until it may try again, rounded up to whole seconds; 0 when not refused.
  std::chrono::seconds retry_after(std::string_view client_ip) const;
  // Records one failed login (bad credentials). Returns true when the address is refused from
  // now on (this failure reached the limit, or it was refused already: then nothing is recorded).
  // The failing attempt itself is still answered 535; the next one gets 421.
  bool record_failure(std::string_view client_ip);

  std::size_t tracked() const;  // addresses currently held (tests, metrics)

 private:
  // The newest failure times of one address, oldest first, at most max_failures of them.
  using Times = std::vector<core::SysTime>;
  static std::string key_of(std::string_view client_ip);
  std::size_t live(const Times& t, core::SysTime now) const;  // failures within the window
  std::size_t capacity() const;
  void make_room(core::SysTime now);

  const core::Clock& clock_;
  mutable std::mutex mu_;
  unsigned max_failures_;
  std::chrono::seconds window_;
  std::size_t max_tracked_;
  std::map<std::string, Times, std::less<>> entries_;
};

}  // namespace gatehouse::sasl
