#include <gtest/gtest.h>

#include "gatehouse/delivery/routing.hpp"

#include <set>

using namespace gatehouse;

TEST(Routing, LocalDomainGoesToItsServer) {
  config::Settings s;
  s.smtp_hostname = "gw.example.com";
  config::LocalDomain d;
  d.name = "example.com";
  d.mail_server = *core::HostPort::parse("10.0.0.5:25");
  d.bind_ip = "192.0.2.10";
  s.domains.push_back(d);
  auto r = delivery::route_for(s, "example.com", "");
  EXPECT_EQ(r.kind, delivery::Route::Kind::relay_host);
  EXPECT_EQ(r.server.to_string(), "10.0.0.5:25");
  EXPECT_EQ(r.bind_ip, "192.0.2.10");
  EXPECT_EQ(r.helo, "gw.example.com");
  s.domains[0].smtp_hostname = "mx.example.com";
  EXPECT_EQ(delivery::route_for(s, "example.com", "").helo, "mx.example.com");
}

TEST(Routing, OtherDomainsGoToMxWithTheSenderDomainsIdentity) {
  config::Settings s;
  s.smtp_hostname = "gw.example.com";
  s.delivery_mx_port = 2525;
  config::LocalDomain d;
  d.name = "example.com";
  d.mail_server = *core::HostPort::parse("10.0.0.5:25");
  d.bind_ip = "192.0.2.10";
  d.smtp_hostname = "out.example.com";
  s.domains.push_back(d);
  auto r = delivery::route_for(s, "other.net", "example.com");
  EXPECT_EQ(r.kind, delivery::Route::Kind::mx);
  EXPECT_EQ(r.domain, "other.net");
  EXPECT_EQ(r.port, 2525);
  EXPECT_EQ(r.bind_ip, "192.0.2.10");
  EXPECT_EQ(r.helo, "out.example.com");
  auto anon = delivery::route_for(s, "other.net", "stranger.org");
  EXPECT_EQ(anon.bind_ip, "");
  EXPECT_EQ(anon.helo, "gw.example.com");
  EXPECT_NE(r.key(), anon.key());
  EXPECT_EQ(delivery::domain_of("A@Example.COM"), "example.com");
  EXPECT_EQ(delivery::domain_of(""), "");
}

namespace {
dns::Answer mx_answer(std::vector<std::pair<int, std::string>> recs) {
  dns::Answer a;
  for (auto& [p, h] : recs) a.mx.push_back({static_cast<std::uint16_t>(p), h});
  return a;
}
}  // namespace

TEST(MxPlan, SortedByPreferenceEqualOnesShuffled) {
  std::mt19937 rng(42);
  std::set<std::string> firsts;
  for (int i = 0; i < 50; ++i) {
    auto p = delivery::plan_mx("d.test", mx_answer({{20, "c"}, {10, "a"}, {10, "b"}, {30, "d"}}), rng);
    ASSERT_EQ(p.kind, delivery::MxPlan::Kind::hosts);
    ASSERT_EQ(p.hosts.size(), 4u);
    EXPECT_EQ(p.hosts[2].host, "c");
    EXPECT_EQ(p.hosts[3].host, "d");
    firsts.insert(p.hosts[0].host);
  }
  EXPECT_EQ(firsts, (std::set<std::string>{"a", "b"}));  // both equal-preference hosts lead sometimes
}

TEST(MxPlan, NullMxNoMxNxdomainAndTempFailure) {
  std::mt19937 rng(1);
  EXPECT_EQ(delivery::plan_mx("d.test", mx_answer({{0, ""}}), rng).kind, delivery::MxPlan::Kind::null_mx);
  auto implicit = delivery::plan_mx("d.test", dns::Answer{}, rng);
  EXPECT_EQ(implicit.kind, delivery::MxPlan::Kind::implicit);
  ASSERT_EQ(implicit.hosts.size(), 1u);
  EXPECT_EQ(implicit.hosts[0].host, "d.test");
  dns::Answer nx;
  nx.status = dns::Status::nxdomain;
  EXPECT_EQ(delivery::plan_mx("d.test", nx, rng).kind, delivery::MxPlan::Kind::no_domain);
  dns::Answer tf;
  tf.status = dns::Status::temp_failure;
  tf.error = "timeout";
  auto t = delivery::plan_mx("d.test", tf, rng);
  EXPECT_EQ(t.kind, delivery::MxPlan::Kind::temp_failure);
  EXPECT_NE(t.reason.find("timeout"), std::string::npos);
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
