#include <gtest/gtest.h>

#include "gatehouse/delivery/routing.hpp"

using namespace gatehouse;

TEST(Routing, LocalDomainGoesToItsServer) {
  config::Settings s;
  s.smtp_hostname = "gw.example.com";
  config::LocalDomain d;
  d.name = "example.com";
  d.mail_server = *core::HostPort::parse("10.0.0.5:25");
  d.bind_ip = "192.0.2.10";
  s.domains.push_back(d);
  auto r = delivery::route_for(s, "example.com");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->server.to_string(), "10.0.0.5:25");
  EXPECT_EQ(r->bind_ip, "192.0.2.10");
  EXPECT_EQ(r->helo, "gw.example.com");
  EXPECT_FALSE(delivery::route_for(s, "other.net"));
  s.domains[0].smtp_hostname = "mx.example.com";
  EXPECT_EQ(delivery::route_for(s, "example.com")->helo, "mx.example.com");
}

TEST(Retry, ExponentialBackoffCapped) {
  config::Settings s;
  s.delivery_retry_min = std::chrono::seconds(60);
  s.delivery_retry_max = std::chrono::seconds(3600);
  EXPECT_EQ(delivery::retry_delay(s, 1, 1.0), 60);
  EXPECT_EQ(delivery::retry_delay(s, 2, 1.0), 120);
  EXPECT_EQ(delivery::retry_delay(s, 3, 1.0), 240);
  EXPECT_EQ(delivery::retry_delay(s, 20, 1.0), 3600);
  EXPECT_EQ(delivery::retry_delay(s, 1, 0.9), 54);
  EXPECT_EQ(delivery::retry_delay(s, 1, 5.0), 66);  // jitter clamped to 1.1
}

TEST(Retry, Expiry) {
  config::Settings s;
  s.delivery_max_queue_lifetime = std::chrono::seconds(100);
  EXPECT_FALSE(delivery::expired(s, 1000, 1099));
  EXPECT_TRUE(delivery::expired(s, 1000, 1100));
}

TEST(DotStuffing, StuffsLeadingDotsAndTerminates) {
  std::string out;
  delivery::append_dot_stuffed(out, ".a\r\nb\r\n.\r\n..c\r\n");
  EXPECT_EQ(out, "..a\r\nb\r\n..\r\n...c\r\n.\r\n");
  std::string empty;
  delivery::append_dot_stuffed(empty, "");
  EXPECT_EQ(empty, ".\r\n");
  std::string noeol;
  delivery::append_dot_stuffed(noeol, "x");
  EXPECT_EQ(noeol, "x\r\n.\r\n");
}
