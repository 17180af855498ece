#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "gatehouse/core/fs.hpp"
#include "gatehouse/core/ids.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/core/strings.hpp"

using namespace gatehouse::core;

TEST(Ids, StrictlyIncreasingAndHexRoundTrip) {
  IdGenerator g;
  auto a = g.next(1000);
  auto b = g.next(1000);
  auto c = g.next(999);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a.hex(), "00000000000003e8");
  EXPECT_EQ(Id64::parse(b.hex()), b);
  EXPECT_FALSE(Id64::parse("xyz").has_value());
}

TEST(IpNet, CidrV4AndV6) {
  auto n = Cidr::parse("192.0.2.0/24");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains(*IpAddress::parse("192.0.2.77")));
  EXPECT_FALSE(n->contains(*IpAddress::parse("192.0.3.1")));
  EXPECT_TRUE(n->contains(*IpAddress::parse("::ffff:192.0.2.9")));
  auto n6 = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(n6);
  EXPECT_TRUE(n6->contains(*IpAddress::parse("2001:db8:1::5")));
  EXPECT_FALSE(n6->contains(*IpAddress::parse("192.0.2.1")));
  EXPECT_EQ(Cidr::parse("10.0.0.1")->to_string(), "10.0.0.1/32");
}

TEST(IpNet, CidrErrorsNameTheProblem) {
  auto bad = Cidr::parse("192.0.2.1/24");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("host bits"), std::string::npos);
  EXPECT_FALSE(Cidr::parse("300.1.1.1/8"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("example.com"));
}

TEST(IpNet, HostPort) {
  auto a = HostPort::parse("mail.example.com:2525");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "mail.example.com");
  EXPECT_EQ(a->port, 2525);
  auto b = HostPort::parse("[::1]:25");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->to_string(), "[::1]:25");
  EXPECT_FALSE(HostPort::parse("mail.example.com"));
  EXPECT_FALSE(HostPort::parse("host:0"));
  EXPECT_FALSE(HostPort::parse("bad host:25"));
}

TEST(Strings, SplitTrimLower) {
  auto v = split(" a, b ,,c ", ',');
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1], "b");
  EXPECT_TRUE(iequals("EHLO", "ehlo"));
  EXPECT_EQ(parse_u64("123"), 123u);
  EXPECT_FALSE(parse_u64("12x"));
}

TEST(Fs, DurableWriteAndRead) {
  auto dir = std::filesystem::temp_directory_path() / ("gh_core_test_" + std::to_string(::getpid()));
  ASSERT_TRUE(fs::ensure_dir(dir));
  ASSERT_TRUE(fs::write_file_durable(dir / "f", "hello"));
  auto r = fs::read_file(dir / "f");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "hello");
  std::filesystem::remove_all(dir);
}

TEST(Strings, LogValueKeepsOneLineOfFields) {
  EXPECT_EQ(log_value(""), "-");
  EXPECT_EQ(log_value("example.org"), "example.org");
  EXPECT_EQ(log_value("x dmarc=pass\r\nfrom=\"a\""), "x?dmarc?pass??from??a?");
  EXPECT_EQ(log_value(std::string(300, 'a')).size(), 255u);
}
