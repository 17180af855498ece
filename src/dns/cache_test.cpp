// Tests for dns::CachingResolver over a StaticZone (whose query counter shows what reached the
// "network") with a core::ManualClock: hits and remaining TTL, expiry, the max_ttl cap,
// negative caching, no caching of failures or TTL 0, the LRU bound, and concurrent use.
// Must not: read the real clock for cache decisions; every io_context run is bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <thread>

#include "gatehouse/dns/cache.hpp"
#include "gatehouse/dns/static_zone.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace gatehouse::dns {

namespace {

struct CacheTest : ::testing::Test {
  StaticZone zone;
  core::ManualClock clock;
  boost::asio::io_context ioc;

  Answer ask(Resolver& r, std::string name, RrType type) {
    auto a = test::run_bounded(ioc, r.query(std::move(name), type), 5s);
    EXPECT_TRUE(a) << "query did not complete";
    return a.value_or(Answer{});
  }
};

}  // namespace

TEST_F(CacheTest, HitWithinTtlAndRemainingTtl) {
  zone.add_a("mx.example", "192.0.2.1", 300);
  CachingResolver cache(zone, clock);

  auto first = ask(cache, "mx.example", RrType::A);
  EXPECT_EQ(first.addrs.size(), 1u);
  EXPECT_EQ(first.ttl, 300u);
  clock.advance(100s);
  auto second = ask(cache, "MX.Example.", RrType::A);  // same key: case and trailing dot ignored
  EXPECT_EQ(second.addrs, first.addrs);
  EXPECT_EQ(second.ttl, 200u);
  EXPECT_EQ(zone.query_count(), 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);

  // Another type of the same name is another entry.
  ask(cache, "mx.example", RrType::AAAA);
  EXPECT_EQ(zone.query_count(), 2u);
}

TEST_F(CacheTest, ExpiresAfterTtl) {
  zone.add_txt("example.com", "v=spf1 -all", 60);
  CachingResolver cache(zone, clock);
  ask(cache, "example.com", RrType::TXT);
  clock.advance(59s);
  ask(cache, "example.com", RrType::TXT);
  EXPECT_EQ(zone.query_count(), 1u);
  clock.advance(1s);  // now == expiry: gone
  auto again = ask(cache, "example.com", RrType::TXT);
  EXPECT_EQ(again.txt, std::vector<std::string>{"v=spf1 -all"});
  EXPECT_EQ(zone.query_count(), 2u);
}

TEST_F(CacheTest, PositiveTtlIsCappedByMaxTtl) {
  zone.add_mx("example.com", 10, "mx.example.com", 86400);
  CacheOptions o;
  o.max_ttl = 60s;
  CachingResolver cache(zone, clock, o);
  ask(cache, "example.com", RrType::MX);
  clock.advance(30s);
  EXPECT_EQ(ask(cache, "example.com", RrType::MX).ttl, 30u);
  clock.advance(31s);
  ask(cache, "example.com", RrType::MX);
  EXPECT_EQ(zone.query_count(), 2u);
}

TEST_F(CacheTest, NxdomainAndNodataAreNegativelyCached) {
  zone.add_a("host.example", "192.0.2.1");
  CacheOptions o;
  o.negative_ttl = 10s;
  CachingResolver cache(zone, clock, o);

  EXPECT_EQ(ask(cache, "nothere.example", RrType::A).status, Status::nxdomain);
  auto nodata = ask(cache, "host.example", RrType::MX);
  EXPECT_EQ(nodata.status, Status::ok);
  EXPECT_TRUE(nodata.empty());
  clock.advance(9s);
  EXPECT_EQ(ask(cache, "nothere.example", RrType::A).status, Status::nxdomain);
  EXPECT_TRUE(ask(cache, "host.example", RrType::MX).empty());
  EXPECT_EQ(zone.query_count(), 2u);
  clock.advance(1s);
  ask(cache, "nothere.example", RrType::A);
  ask(cache, "host.example", RrType::MX);
  EXPECT_EQ(zone.query_count(), 4u);
}

TEST_F(CacheTest, FailuresAndZeroTtlAreNotCached) {
  zone.set_timeout("slow.example");
  zone.set_servfail("broken.example");
  zone.set_failure("refused.example", StaticZone::Failure::refused);
  zone.add_a("zero.example", "192.0.2.1", 0);
  CachingResolver cache(zone, clock);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(ask(cache, "slow.example", RrType::A).status, Status::temp_failure);
    EXPECT_EQ(ask(cache, "broken.example", RrType::MX).status, Status::temp_failure);
    EXPECT_EQ(ask(cache, "refused.example", RrType::MX).status, Status::perm_failure);
    EXPECT_EQ(ask(cache, "zero.example", RrType::A).addrs.size(), 1u);
  }
  EXPECT_EQ(zone.query_count(), 8u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(CacheTest, LeastRecentlyUsedIsEvicted) {
  for (auto n : {"a.example", "b.example", "c.example"}) zone.add_a(n, "192.0.2.1");
  CacheOptions o;
  o.max_entries = 2;
  CachingResolver cache(zone, clock, o);
  ask(cache, "a.example", RrType::A);
  ask(cache, "b.example", RrType::A);
  ask(cache, "a.example", RrType::A);  // hit: a is now the most recent
  ask(cache, "c.example", RrType::A);  // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  zone.reset_query_count();
  ask(cache, "a.example", RrType::A);
  ask(cache, "c.example", RrType::A);
  EXPECT_EQ(zone.query_count(), 0u);
  ask(cache, "b.example", RrType::A);
  EXPECT_EQ(zone.query_count(), 1u);
  EXPECT_LE(cache.size(), 2u);
}

TEST_F(CacheTest, ZeroEntriesDisablesCaching) {
  zone.add_a("a.example", "192.0.2.1");
  CacheOptions o;
  o.max_entries = 0;
  CachingResolver cache(zone, clock, o);
  ask(cache, "a.example", RrType::A);
  ask(cache, "a.example", RrType::A);
  EXPECT_EQ(zone.query_count(), 2u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(CacheTest, ClockSteppingBackDropsTheEntry) {
  zone.add_a("a.example", "192.0.2.1", 300);
  CachingResolver cache(zone, clock);
  ask(cache, "a.example", RrType::A);
  clock.advance(-10s);  // e.g. the system clock was stepped back
  ask(cache, "a.example", RrType::A);
  EXPECT_EQ(zone.query_count(), 2u);
}

TEST_F(CacheTest, Clear) {
  zone.add_a("a.example", "192.0.2.1");
  CachingResolver cache(zone, clock);
  ask(cache, "a.example", RrType::A);
  EXPECT_EQ(cache.size(), 1u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  ask(cache, "a.example", RrType::A);
  EXPECT_EQ(zone.query_count(), 2u);
}

TEST_F(CacheTest, ConcurrentUseFromSeveralThreads) {
  constexpr int kNames = 20, kQueries = 400;
  for (int i = 0; i < kNames; ++i) zone.add_a("n" + std::to_string(i) + ".example", "192.0.2.1");
  CacheOptions o;
  o.max_entries = 8;  // force evictions while other threads read
  CachingResolver cache(zone, clock, o);

  std::atomic<int> done{0}, good{0};
  for (int i = 0; i < kQueries; ++i) {
    auto one = [](CachingResolver& c, std::string name, std::atomic<int>& d,
                  std::atomic<int>& g) -> boost::asio::awaitable<void> {
      auto a = co_await c.query(std::move(name), RrType::A);
      if (a.status == Status::ok && a.addrs.size() == 1) ++g;
      ++d;
    };
    boost::asio::co_spawn(boost::asio::make_strand(ioc),
                          one(cache, "n" + std::to_string(i % kNames) + ".example", done, good),
                          boost::asio::detached);
  }
  std::thread t1([&] { ioc.run_for(10s); });
  std::thread t2([&] { ioc.run_for(10s); });
  t1.join();
  t2.join();
  EXPECT_EQ(done.load(), kQueries);
  EXPECT_EQ(good.load(), kQueries);
  auto s = cache.stats();
  EXPECT_EQ(s.hits + s.misses, static_cast<std::uint64_t>(kQueries));
  EXPECT_EQ(zone.query_count(), s.misses);
  EXPECT_LE(cache.size(), 8u);
}

}  // namespace gatehouse::dns
