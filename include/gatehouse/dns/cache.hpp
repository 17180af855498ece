// CachingResolver: a TTL-respecting answer cache in front of another Resolver.
// Positive answers are kept for min(TTL, max_ttl) (RFC 1035 §3.2.1, RFC 2181 §8; TTL 0 is not
// cached); NXDOMAIN and NODATA are cached for `negative_ttl` (RFC 2308 §5, without the SOA
// minimum, which the Resolver interface does not carry); temporary and permanent failures are
// never cached. Hits return the remaining TTL. Bounded: least recently used entries are evicted.
// Thread-safe: one mutex, never held across co_await. Time comes from a core::Clock.
// Must not: cache failures, serve an entry past its expiry (or after the clock stepped back
// before its insertion), or coalesce concurrent misses (two callers may both ask upstream).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::dns {

struct CacheOptions {
  std::size_t max_entries = 10'000;  // (name, type) pairs; 0 disables caching
  std::chrono::seconds max_ttl{std::chrono::hours{1}};   // cap for positive answers
  std::chrono::seconds negative_ttl{std::chrono::seconds{60}};  // NXDOMAIN / NODATA
};

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;  // dropped by the size bound (not by expiry)
};

class CachingResolver final : public Resolver {
 public:
  using Options = CacheOptions;

  // `upstream` and `clock` must outlive this object.
  CachingResolver(Resolver& upstream, const core::Clock& clock, CacheOptions options = {});
  ~CachingResolver() override;
  CachingResolver(const CachingResolver&) = delete;
  CachingResolver& operator=(const CachingResolver&) = delete;

  boost::asio::awaitable<Answer> query(std::string name, RrType type) override;

  std::size_t size() const;  // entries held, expired ones included until touched or evicted
  CacheStats stats() const;
  void clear();

 private:
  struct State;
  Resolver& upstream_;
  const core::Clock& clock_;
  std::unique_ptr<State> state_;
};

}  // namespace gatehouse::dns
