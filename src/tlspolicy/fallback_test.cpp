// Unit tests for PlainFallbackList: expiry one interval after each add (ManualClock), no
// extension on re-add, normalised keys, clear, the size cap, a clock moving backwards, and
// concurrent use. Must not sleep: time moves only through the ManualClock.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "gatehouse/tlspolicy/fallback.hpp"

using namespace gatehouse;
using namespace gatehouse::tlspolicy;
using namespace std::chrono_literals;

TEST(PlainFallback, EntriesExpireAfterOneHour) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  EXPECT_EQ(list.interval(), 3600s);
  EXPECT_FALSE(list.contains("mx.example.net"));
  list.add("mx.example.net");
  EXPECT_TRUE(list.contains("mx.example.net"));
  EXPECT_EQ(list.size(), 1u);
  clock.advance(30min);
  list.add("192.0.2.7");
  clock.advance(29min + 59s);
  EXPECT_TRUE(list.contains("mx.example.net"));
  clock.advance(1s);  // exactly one hour after the add
  EXPECT_FALSE(list.contains("mx.example.net"));
  EXPECT_TRUE(list.contains("192.0.2.7"));
  EXPECT_EQ(list.size(), 1u);
  clock.advance(30min);
  EXPECT_FALSE(list.contains("192.0.2.7"));
  EXPECT_EQ(list.size(), 0u);
}

TEST(PlainFallback, ReAddDoesNotExtendButWorksAfterExpiry) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  list.add("mx.example.net");
  clock.advance(50min);
  list.add("MX.example.net.");
  clock.advance(10min);
  EXPECT_FALSE(list.contains("mx.example.net"));
  list.add("mx.example.net");
  EXPECT_TRUE(list.contains("mx.example.net"));
  clock.advance(59min);
  EXPECT_TRUE(list.contains("mx.example.net"));
}

TEST(PlainFallback, ConfigurableIntervalAndKeys) {
  core::ManualClock clock;
  PlainFallbackList list(clock, 60s);
  list.add("MX.Example.NET.");
  list.add("2001:DB8::1");
  list.add("[192.0.2.9]");
  list.add("");
  EXPECT_EQ(list.size(), 3u);
  EXPECT_TRUE(list.contains("mx.example.net"));
  EXPECT_TRUE(list.contains("2001:db8:0::1"));
  EXPECT_TRUE(list.contains("[IPv6:2001:db8::1]"));
  EXPECT_TRUE(list.contains("192.0.2.9"));
  EXPECT_TRUE(list.contains("::ffff:192.0.2.9"));
  EXPECT_FALSE(list.contains(""));
  EXPECT_FALSE(list.contains("example.net"));
  clock.advance(60s);
  EXPECT_EQ(list.size(), 0u);
}

TEST(PlainFallback, Clear) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  list.add("a.example");
  list.add("b.example");
  list.clear();
  EXPECT_EQ(list.size(), 0u);
  EXPECT_FALSE(list.contains("a.example"));
  list.add("a.example");
  EXPECT_TRUE(list.contains("a.example"));
}

TEST(PlainFallback, ClockMovingBackwardsExpiresEntries) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  list.add("old.example");
  clock.advance(10min);
  list.add("new.example");
  clock.advance(-5min);
  EXPECT_TRUE(list.contains("old.example"));
  EXPECT_FALSE(list.contains("new.example"));
  EXPECT_EQ(list.size(), 1u);
  list.add("new.example");
  EXPECT_TRUE(list.contains("new.example"));
}

TEST(PlainFallback, CapDropsTheOldest) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  for (std::size_t i = 0; i < PlainFallbackList::kMaxEntries + 2; ++i) list.add("h" + std::to_string(i) + ".example");
  EXPECT_EQ(list.size(), PlainFallbackList::kMaxEntries);
  EXPECT_FALSE(list.contains("h0.example"));
  EXPECT_FALSE(list.contains("h1.example"));
  EXPECT_TRUE(list.contains("h2.example"));
  EXPECT_TRUE(list.contains("h" + std::to_string(PlainFallbackList::kMaxEntries + 1) + ".example"));
}

TEST(PlainFallback, ConcurrentUse) {
  core::ManualClock clock;
  PlainFallbackList list(clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&list, t] {
      for (int i = 0; i < 2000; ++i) {
        list.add("h" + std::to_string(i % 500) + ".t" + std::to_string(t) + ".example");
        (void)list.contains("h1.t0.example");
        if (i % 100 == 0) (void)list.size();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(list.size(), 2000u);
}
