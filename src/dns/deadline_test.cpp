// DeadlineResolver: passes queries through until the deadline, then answers temp_failure without
// asking upstream; measured on a ManualClock.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "gatehouse/dns/deadline.hpp"
#include "gatehouse/dns/static_zone.hpp"

using namespace gatehouse;

namespace {

dns::Answer ask(dns::Resolver& r, const std::string& name) {
  boost::asio::io_context ioc;
  dns::Answer out;
  boost::asio::co_spawn(ioc, r.query(name, dns::RrType::TXT), [&](std::exception_ptr, dns::Answer a) { out = a; });
  ioc.run();
  return out;
}

TEST(DeadlineResolver, RefusesQueriesAfterTheDeadline) {
  dns::StaticZone zone;
  zone.add_txt("example.org", "v=spf1 -all");
  core::ManualClock clock;
  dns::DeadlineResolver r(zone, clock, std::chrono::seconds(20), "SPF evaluation");
  auto a = ask(r, "example.org");
  EXPECT_EQ(a.status, dns::Status::ok);
  ASSERT_EQ(a.txt.size(), 1u);
  EXPECT_FALSE(r.expired());
  clock.advance(std::chrono::seconds(19));
  EXPECT_EQ(ask(r, "example.org").status, dns::Status::ok);
  clock.advance(std::chrono::seconds(1));
  zone.reset_query_count();
  auto late = ask(r, "example.org");
  EXPECT_EQ(late.status, dns::Status::temp_failure);
  EXPECT_EQ(late.error, "SPF evaluation took longer than 20 seconds; example.org was not asked");
  EXPECT_TRUE(r.expired());
  EXPECT_EQ(zone.query_count(), 0u);
}

}  // namespace
