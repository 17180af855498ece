// CachingResolver: LRU + TTL cache of Answers keyed by (lower-case name without trailing dot,
// type). RFC 1035 §3.2.1 / RFC 2181 §8 (TTL), RFC 2308 §5 (negative caching, fixed time).
// Must not: hold the mutex across co_await, cache temp/perm failures, or grow past max_entries.
#include "gatehouse/dns/cache.hpp"

#include <algorithm>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "gatehouse/core/strings.hpp"

namespace gatehouse::dns {

namespace {

std::string cache_key(std::string_view name, RrType type) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string k = core::to_lower(name);
  k.push_back('/');
  k += to_string(type);
  return k;
}

}  // namespace

struct CachingResolver::State {
  struct Entry {
    std::string key;
    Answer answer;
    core::SysTime stored;
    core::SysTime expires;
  };
  CacheOptions options;
  mutable std::mutex mu;
  std::list<Entry> lru;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  CacheStats stats;

  // A copy of a live entry (with its remaining TTL), or nothing; drops a dead one.
  std::optional<Answer> get(const std::string& key, core::SysTime now) {
    std::lock_guard lock(mu);
    auto it = index.find(key);
    if (it == index.end()) {
      ++stats.misses;
      return std::nullopt;
    }
    Entry& e = *it->second;
    if (now >= e.expires || now < e.stored) {
      lru.erase(it->second);
      index.erase(it);
      ++stats.misses;
      return std::nullopt;
    }
    lru.splice(lru.begin(), lru, it->second);
    ++stats.hits;
    Answer a = e.answer;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(e.expires - now).count();
    a.ttl = static_cast<std::uint32_t>(std::max<std::int64_t>(left, 0));
    return a;
  }

  void put(std::string key, const Answer& a, std::chrono::seconds keep, core::SysTime now) {
    std::lock_guard lock(mu);
    if (options.max_entries == 0) return;
    if (auto it = index.find(key); it != index.end()) {
      lru.erase(it->second);
      index.erase(it);
    }
    while (lru.size() >= options.max_entries) {
      index.erase(lru.back().key);
      lru.pop_back();
      ++stats.evictions;
    }
    lru.push_front(Entry{key, a, now, now + keep});
    index.emplace(std::move(key), lru.begin());
  }
};

CachingResolver::CachingResolver(Resolver& upstream, const core::Clock& clock, CacheOptions options)
    : upstream_(upstream), clock_(clock), state_(std::make_unique<State>()) {
  state_->options = options;
}

CachingResolver::~CachingResolver() = default;

boost::asio::awaitable<Answer> CachingResolver::query(std::string name, RrType type) {
  std::string key = cache_key(name, type);
  if (auto hit = state_->get(key, clock_.now())) co_return std::move(*hit);

  Answer a = co_await upstream_.query(std::move(name), type);

  std::chrono::seconds keep{0};
  switch (a.status) {
    case Status::ok:
      if (a.empty())
        keep = state_->options.negative_ttl;  // NODATA
      else
        keep = std::min(std::chrono::seconds{a.ttl}, state_->options.max_ttl);
      break;
    case Status::nxdomain: keep = state_->options.negative_ttl; break;
    case Status::temp_failure:
    case Status::perm_failure: break;
  }
  if (keep.count() > 0) state_->put(std::move(key), a, keep, clock_.now());
  co_return a;
}

std::size_t CachingResolver::size() const {
  std::lock_guard lock(state_->mu);
  return state_->lru.size();
}

CacheStats CachingResolver::stats() const {
  std::lock_guard lock(state_->mu);
  return state_->stats;
}

void CachingResolver::clear() {
  std::lock_guard lock(state_->mu);
  state_->lru.clear();
  state_->index.clear();
}

}  // namespace gatehouse::dns
