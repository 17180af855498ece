// Unit tests for sasl::LoginThrottle with a ManualClock: refusal at max_failures within the
// sliding window, failures ageing out one by one, refused attempts not counted, IPv6 /64 and
// IPv4-mapped keys, disabling and changing limits, bounded memory and concurrent use.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "gatehouse/sasl/throttle.hpp"

using namespace gatehouse;
using namespace gatehouse::sasl;
using namespace std::chrono_literals;

TEST(LoginThrottle, RefusesAtMaxFailuresUntilTheyAgeOut) {
  core::ManualClock clock;
  LoginThrottle t(clock, 3, 300s);
  EXPECT_FALSE(t.blocked("192.0.2.1"));
  EXPECT_FALSE(t.record_failure("192.0.2.1"));  // t=0
  clock.advance(10s);
  EXPECT_FALSE(t.record_failure("192.0.2.1"));  // t=10
  EXPECT_FALSE(t.blocked("192.0.2.1"));
  clock.advance(10s);
  EXPECT_TRUE(t.record_failure("192.0.2.1"));  // t=20: the third within 300 s
  EXPECT_TRUE(t.blocked("192.0.2.1"));
  EXPECT_EQ(t.retry_after("192.0.2.1"), 280s);  // until the failure at t=0 is 300 s old
  EXPECT_FALSE(t.blocked("192.0.2.2"));         // others are not affected
  clock.advance(279s);                          // t=299
  EXPECT_TRUE(t.blocked("192.0.2.1"));
  EXPECT_EQ(t.retry_after("192.0.2.1"), 1s);
  EXPECT_TRUE(t.record_failure("192.0.2.1"));  // refused: not counted, nothing extended
  clock.advance(500ms);
  EXPECT_EQ(t.retry_after("192.0.2.1"), 1s);  // rounded up
  clock.advance(500ms);                       // t=300: the first failure aged out
  EXPECT_FALSE(t.blocked("192.0.2.1"));
  EXPECT_EQ(t.retry_after("192.0.2.1"), 0s);
  // One more failure fills the window again: refused until the failure at t=10 ages out.
  EXPECT_TRUE(t.record_failure("192.0.2.1"));
  EXPECT_EQ(t.retry_after("192.0.2.1"), 10s);
  clock.advance(10s);
  EXPECT_FALSE(t.blocked("192.0.2.1"));
}

TEST(LoginThrottle, FailuresSpreadOverMoreThanTheWindowDoNotRefuse) {
  core::ManualClock clock;
  LoginThrottle t(clock, 3, 60s);
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(t.record_failure("198.51.100.7"));
    clock.advance(31s);  // at most two within any 60 s
    EXPECT_FALSE(t.blocked("198.51.100.7"));
  }
}

TEST(LoginThrottle, Ipv6CountsPerSlash64AndMappedIpv4AsIpv4) {
  core::ManualClock clock;
  LoginThrottle t(clock, 2, 60s);
  EXPECT_FALSE(t.record_failure("2001:db8:1:2::1"));
  EXPECT_TRUE(t.record_failure("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_TRUE(t.blocked("2001:db8:1:2::99"));
  EXPECT_FALSE(t.blocked("2001:db8:1:3::1"));
  EXPECT_FALSE(t.record_failure("::ffff:192.0.2.9"));
  EXPECT_TRUE(t.record_failure("192.0.2.9"));
  EXPECT_TRUE(t.blocked("::ffff:192.0.2.9"));
  EXPECT_FALSE(t.record_failure("not-an-ip"));  // counted as itself
  EXPECT_TRUE(t.record_failure("not-an-ip"));
}

TEST(LoginThrottle, ZeroDisablesAndLimitsCanChange) {
  core::ManualClock clock;
  LoginThrottle off(clock, 0, 60s);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.record_failure("192.0.2.1"));
  EXPECT_FALSE(off.blocked("192.0.2.1"));
  EXPECT_EQ(off.tracked(), 0u);
  LoginThrottle t(clock, 5, 0s);
  EXPECT_FALSE(t.record_failure("192.0.2.1"));
  t.set_limits(2, 60s);
  EXPECT_FALSE(t.record_failure("192.0.2.1"));
  EXPECT_TRUE(t.record_failure("192.0.2.1"));
  EXPECT_TRUE(t.blocked("192.0.2.1"));
  t.set_limits(3, 60s);  // a higher limit lets it try again
  EXPECT_FALSE(t.blocked("192.0.2.1"));
  t.set_limits(1, 60s);
  EXPECT_TRUE(t.blocked("192.0.2.1"));
}

TEST(LoginThrottle, MemoryIsBounded) {
  core::ManualClock clock;
  LoginThrottle t(clock, 2, 60s, 100);
  for (int i = 0; i < 1000; ++i) {
    t.record_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    EXPECT_LE(t.tracked(), 100u);
  }
  // Addresses whose failures all aged out are dropped first.
  LoginThrottle v(clock, 3, 60s, 5);
  for (int i = 0; i < 5; ++i) v.record_failure("10.2.0." + std::to_string(i));
  clock.advance(61s);
  EXPECT_EQ(v.tracked(), 5u);
  v.record_failure("10.3.0.1");
  EXPECT_EQ(v.tracked(), 1u);
  // When every address still counts, the one whose newest failure is oldest makes room.
  LoginThrottle w(clock, 2, 60s, 2);
  w.record_failure("192.0.2.1");
  clock.advance(1s);
  w.record_failure("192.0.2.2");
  w.record_failure("192.0.2.2");  // refused
  clock.advance(1s);
  w.record_failure("192.0.2.3");  // drops 192.0.2.1
  EXPECT_EQ(w.tracked(), 2u);
  EXPECT_TRUE(w.blocked("192.0.2.2"));
  // A large max_failures means fewer addresses (2^20 failure times in all).
  LoginThrottle big(clock, 1000, 60s);
  for (int i = 0; i < 1100; ++i) big.record_failure("10.4." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  EXPECT_LE(big.tracked(), 1048u);
}

TEST(LoginThrottle, ConcurrentUse) {
  core::ManualClock clock;
  LoginThrottle t(clock, 1000, 3600s);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&t, k] {
      for (int i = 0; i < 250; ++i) {
        t.record_failure("192.0.2.1");
        (void)t.blocked("192.0.2." + std::to_string(k));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_TRUE(t.blocked("192.0.2.1"));  // exactly 1000 failures
}
