// sasl::LoginThrottle (throttle.hpp): a map from client address (IPv6 by /64) to the times of its
// most recent failed logins (at most max_failures, oldest first). Sliding window: a failure
// counts while it is younger than `window`; max_failures counted failures refuse the address
// until the oldest of them ages out. When the map is full, addresses without a counted failure
// are dropped first, then the one whose newest failure is oldest.
// Must not: read the system clock (only the injected Clock), block, or hold the mutex beyond
// the map operations.
#include "gatehouse/sasl/throttle.hpp"

#include <algorithm>

#include "gatehouse/core/ipnet.hpp"

namespace gatehouse::sasl {
namespace {
constexpr std::size_t kMaxTimes = std::size_t{1} << 20;  // failure times held in all
}

LoginThrottle::LoginThrottle(const core::Clock& clock, unsigned max_failures, std::chrono::seconds window,
                             std::size_t max_tracked)
    : clock_(clock), max_failures_(max_failures), window_(window), max_tracked_(max_tracked == 0 ? 1 : max_tracked) {}

void LoginThrottle::set_limits(unsigned max_failures, std::chrono::seconds window) {
  std::lock_guard lock(mu_);
  max_failures_ = max_failures;
  window_ = window;
}

std::string LoginThrottle::key_of(std::string_view client_ip) {
  auto ip = core::IpAddress::parse(client_ip);
  if (!ip) return std::string(client_ip);
  core::IpAddress a = ip->unmapped();
  if (a.v6) {
    for (std::size_t i = 8; i < 16; ++i) a.bytes[i] = 0;
    return a.to_string() + "/64";
  }
  return a.to_string();
}

std::size_t LoginThrottle::live(const Times& t, core::SysTime now) const {
  const auto cutoff = now - window_;  // a failure at or before this has aged out
  return static_cast<std::size_t>(t.end() - std::upper_bound(t.begin(), t.end(), cutoff));
}

std::size_t LoginThrottle::capacity() const {
  const std::size_t per = std::max<std::size_t>(1, max_failures_);
  return std::max<std::size_t>(1, std::min(max_tracked_, kMaxTimes / per));
}

bool LoginThrottle::blocked(std::string_view client_ip) const { return retry_after(client_ip).count() > 0; }

std::chrono::seconds LoginThrottle::retry_after(std::string_view client_ip) const {
  const std::string key = key_of(client_ip);
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  if (max_failures_ == 0 || window_.count() <= 0) return std::chrono::seconds{0};
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::chrono::seconds{0};
  const Times& t = it->second;
  const std::size_t n = live(t, now);
  if (n < max_failures_) return std::chrono::seconds{0};
  // Refused until the (n - max_failures + 1)-th oldest counted failure ages out.
  const auto until = t[t.size() - max_failures_] + window_;
  const auto left = until - now;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
  if (secs < left) ++secs;
  return secs;
}

bool LoginThrottle::record_failure(std::string_view client_ip) {
  const std::string key = key_of(client_ip);
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  if (max_failures_ == 0 || window_.count() <= 0) return false;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity()) make_room(now);
    it = entries_.emplace(key, Times{}).first;
  }
  Times& t = it->second;
  t.erase(t.begin(), t.end() - static_cast<std::ptrdiff_t>(live(t, now)));  // aged out
  if (t.size() >= max_failures_) {  // refused already: not a new failure
    t.erase(t.begin(), t.end() - static_cast<std::ptrdiff_t>(max_failures_));
    return true;
  }
  t.push_back(now);
  return t.size() >= max_failures_;
}

std::size_t LoginThrottle::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

// Called with mu_ held and the map full.
void LoginThrottle::make_room(core::SysTime now) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = live(it->second, now) == 0 ? entries_.erase(it) : std::next(it);
  while (entries_.size() >= capacity() && !entries_.empty()) {
    auto victim = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.back() < victim->second.back()) victim = it;
    entries_.erase(victim);
  }
}

}  // namespace gatehouse::sasl
