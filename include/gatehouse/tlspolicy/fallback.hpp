// The one-hour "retry without TLS" list (issue "TLS everywhere" item 4): hosts whose outbound
// TLS handshake failed recently. While a host is on it, opportunistic deliveries to it go in
// clear (policy.hpp, Peer::on_fallback_list); never where TLS is required.
// Each entry expires `interval` (default 3600 s) after it was added; adding a host that is
// already listed does not extend it, so no host stays longer than one interval per failure.
// In memory only: a restart empties it, which only means one more TLS attempt per host.
// Thread-safe (one mutex, never held across anything slow). Must not read the system clock
// directly: time comes from the core::Clock passed in.
#pragma once
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gatehouse/core/clock.hpp"

namespace gatehouse::tlspolicy {

class PlainFallbackList {
 public:
  static constexpr std::chrono::seconds kDefaultInterval{3600};
  // At most this many hosts; when full, the oldest entry (the next to expire) is dropped.
  static constexpr std::size_t kMaxEntries = 65'536;

  explicit PlainFallbackList(const core::Clock& clock, std::chrono::seconds interval = kDefaultInterval);

  // `host_or_ip`: a host name (case-insensitive, trailing dot ignored) or an IP address (any
  // spelling: "2001:DB8::1" and "2001:db8::1" are one entry). Empty strings are ignored.
  void add(std::string_view host_or_ip);
  bool contains(std::string_view host_or_ip) const;
  void clear();
  std::size_t size() const;  // entries not yet expired
  std::chrono::seconds interval() const { return interval_; }

 private:
  struct Item {
    core::SysTime added;
    std::string key;
  };
  void purge_locked(core::SysTime now) const;
  bool expired(core::SysTime added, core::SysTime now) const;

  const core::Clock& clock_;
  const std::chrono::seconds interval_;
  mutable std::mutex mu_;
  mutable std::deque<Item> order_;                               // by time added (= expiry order)
  mutable std::unordered_map<std::string, core::SysTime> added_;  // key -> time added
};

}  // namespace gatehouse::tlspolicy
