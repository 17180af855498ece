// PlainFallbackList (fallback.hpp): hosts whose TLS handshake failed, each kept for one interval.
// Entries are expired lazily on every call, from the front of an insertion-ordered deque (an
// entry is never refreshed, so insertion order is expiry order). A clock that moves backwards
// expires the entries it jumped over, which errs towards trying TLS again.
// Must not: read the system clock directly, block while holding the mutex, or grow past kMaxEntries.
#include "gatehouse/tlspolicy/fallback.hpp"

#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::tlspolicy {
namespace {

// One spelling per host: IPs in their canonical form (IPv4-mapped as IPv4), names lower-case
// without a trailing dot, "[ip]" literals as the ip.
std::string key_of(std::string_view raw) {
  auto t = core::trim(raw);
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
    auto inner = t.substr(1, t.size() - 2);
    if (core::istarts_with(inner, "IPv6:")) inner.remove_prefix(5);
    if (auto ip = core::IpAddress::parse(inner)) return ip->unmapped().to_string();
  }
  if (auto ip = core::IpAddress::parse(t)) return ip->unmapped().to_string();
  std::string k = core::to_lower(t);
  if (!k.empty() && k.back() == '.') k.pop_back();
  return k;
}

}  // namespace

PlainFallbackList::PlainFallbackList(const core::Clock& clock, std::chrono::seconds interval)
    : clock_(clock), interval_(interval) {}

bool PlainFallbackList::expired(core::SysTime added, core::SysTime now) const {
  return now < added || now - added >= interval_;
}

void PlainFallbackList::purge_locked(core::SysTime now) const {
  // The deque is sorted by time added: entries are appended with the current time, and after the
  // clock moves backwards the entries "from the future" are dropped here first.
  while (!order_.empty() && now < order_.back().added) {
    added_.erase(order_.back().key);
    order_.pop_back();
  }
  while (!order_.empty() && expired(order_.front().added, now)) {
    added_.erase(order_.front().key);
    order_.pop_front();
  }
}

void PlainFallbackList::add(std::string_view host_or_ip) {
  std::string key = key_of(host_or_ip);
  if (key.empty()) return;
  const auto now = clock_.now();
  std::lock_guard lk(mu_);
  purge_locked(now);
  if (added_.count(key) != 0) return;  // not extended: at most one interval per failure
  while (order_.size() >= kMaxEntries) {
    added_.erase(order_.front().key);
    order_.pop_front();
  }
  added_.emplace(key, now);
  order_.push_back(Item{now, std::move(key)});
}

bool PlainFallbackList::contains(std::string_view host_or_ip) const {
  std::string key = key_of(host_or_ip);
  if (key.empty()) return false;
  const auto now = clock_.now();
  std::lock_guard lk(mu_);
  auto it = added_.find(key);
  return it != added_.end() && !expired(it->second, now);
}

void PlainFallbackList::clear() {
  std::lock_guard lk(mu_);
  order_.clear();
  added_.clear();
}

std::size_t PlainFallbackList::size() const {
  const auto now = clock_.now();
  std::lock_guard lk(mu_);
  purge_locked(now);
  return order_.size();
}

}  // namespace gatehouse::tlspolicy
