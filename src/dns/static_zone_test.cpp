// Tests for dns::StaticZone: record types, NXDOMAIN vs NODATA (RFC 2308, RFC 8020), CNAME
// chasing and its bound (RFC 1034 §4.3.2), failure marks, the query counter, and the zone-file
// parser (docs/dns-zone-format.md) including its errors and their line numbers.
// Must not: touch the network or depend on timing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "gatehouse/dns/static_zone.hpp"
#include "test_util.hpp"


namespace gatehouse::dns {

namespace {

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

std::string error_of(const Expected<StaticZone>& z) { return z ? std::string("(parsed)") : z.error().message; }

// The example of docs/dns-zone-format.md, verbatim.
constexpr std::string_view kDocExample = R"(# Records of example.com, as they would be published.
example.com            MX    10 mx1.example.com
example.com            MX    20 mx2.example.com
example.com            TXT   "v=spf1 ip4:192.0.2.0/24 -all"
mx1.example.com        A     192.0.2.1
mx2.example.com  300   AAAA  2001:db8::25
www.example.com        CNAME example.com
_dmarc.example.com     TXT   "v=DMARC1; p=reject; " "rua=mailto:dmarc@example.com"
sel._domainkey.example.com TXT "v=DKIM1; k=rsa; " "p=MIIBIjANBgkqh..."
1.2.0.192.in-addr.arpa PTR   mx1.example.com
example.com            NS    ns1.example.net

nomail.example         MX    0 .          # null MX (RFC 7505): accepts no mail
slow.example           TIMEOUT            # every query for this name times out
flaky.example          SERVFAIL MX        # only MX queries fail; other types answer normally
)";

}  // namespace

TEST(StaticZone, AnswersEachRecordType) {
  StaticZone z;
  z.add_a("mx1.example.com", "192.0.2.1", 600);
  z.add_a("mx1.example.com", "192.0.2.2", 300);
  z.add_aaaa("mx1.example.com", "2001:db8::1");
  z.add_mx("example.com", 10, "mx1.example.com");
  z.add_mx("example.com", 20, "MX2.Example.Com.");
  z.add_txt("example.com", "v=spf1 -all");
  z.add_ptr("1.2.0.192.in-addr.arpa", "mx1.example.com");
  z.add_ns("example.com", "ns1.example.net");
  z.add_cname("www.example.com", "example.com");

  auto a = z.resolve("mx1.example.com", RrType::A);
  EXPECT_EQ(a.status, Status::ok);
  ASSERT_EQ(a.addrs.size(), 2u);
  EXPECT_EQ(a.addrs[0], ip("192.0.2.1"));
  EXPECT_EQ(a.addrs[1], ip("192.0.2.2"));
  EXPECT_EQ(a.ttl, 300u);  // the smallest TTL of the answer

  auto aaaa = z.resolve("mx1.example.com", RrType::AAAA);
  ASSERT_EQ(aaaa.addrs.size(), 1u);
  EXPECT_EQ(aaaa.addrs[0], ip("2001:db8::1"));
  EXPECT_EQ(aaaa.ttl, StaticZone::kDefaultTtl);

  auto mx = z.resolve("example.com", RrType::MX);
  ASSERT_EQ(mx.mx.size(), 2u);
  EXPECT_EQ(mx.mx[0].preference, 10);
  EXPECT_EQ(mx.mx[0].exchange, "mx1.example.com");
  EXPECT_EQ(mx.mx[1].preference, 20);
  EXPECT_EQ(mx.mx[1].exchange, "mx2.example.com");  // lower-case, no trailing dot

  EXPECT_EQ(z.resolve("example.com", RrType::TXT).txt, std::vector<std::string>{"v=spf1 -all"});
  EXPECT_EQ(z.resolve("1.2.0.192.in-addr.arpa", RrType::PTR).names, std::vector<std::string>{"mx1.example.com"});
  EXPECT_EQ(z.resolve("example.com", RrType::NS).names, std::vector<std::string>{"ns1.example.net"});
  EXPECT_EQ(z.resolve("www.example.com", RrType::CNAME).names, std::vector<std::string>{"example.com"});
}

TEST(StaticZone, NamesAreCaseInsensitiveAndTrailingDotsIgnored) {
  StaticZone z;
  z.add_a("Mail.Example.COM.", "192.0.2.7");
  for (auto q : {"mail.example.com", "MAIL.EXAMPLE.COM", "mail.example.com.", "mAiL.eXaMpLe.CoM."}) {
    auto a = z.resolve(q, RrType::A);
    EXPECT_EQ(a.status, Status::ok) << q;
    EXPECT_EQ(a.addrs.size(), 1u) << q;
  }
}

TEST(StaticZone, NxdomainVersusNodata) {
  StaticZone z;
  z.add_a("host.example.com", "192.0.2.1");
  z.add_txt("sel._domainkey.example.org", "v=DKIM1; p=");

  auto nx = z.resolve("nothere.example.com", RrType::A);
  EXPECT_EQ(nx.status, Status::nxdomain);
  EXPECT_TRUE(nx.empty());

  auto nodata = z.resolve("host.example.com", RrType::MX);
  EXPECT_EQ(nodata.status, Status::ok);
  EXPECT_TRUE(nodata.empty());

  // Empty non-terminals exist (RFC 8020): NODATA, not NXDOMAIN.
  EXPECT_EQ(z.resolve("_domainkey.example.org", RrType::TXT).status, Status::ok);
  EXPECT_EQ(z.resolve("example.org", RrType::TXT).status, Status::ok);
  EXPECT_EQ(z.resolve("other._domainkey.example.org", RrType::TXT).status, Status::nxdomain);

  // No TLSA data can be stored: an existing name answers NODATA.
  auto tlsa = z.resolve("host.example.com", RrType::TLSA);
  EXPECT_EQ(tlsa.status, Status::ok);
  EXPECT_TRUE(tlsa.empty());

  auto empty = z.resolve("", RrType::A);
  EXPECT_EQ(empty.status, Status::perm_failure);
}

TEST(StaticZone, NullMx) {
  StaticZone z;
  z.add_mx("nomail.example", 0, ".");
  z.add_mx("nomail2.example", 0, "");
  for (auto n : {"nomail.example", "nomail2.example"}) {
    auto a = z.resolve(n, RrType::MX);
    ASSERT_EQ(a.mx.size(), 1u) << n;
    EXPECT_EQ(a.mx[0].preference, 0);
    EXPECT_EQ(a.mx[0].exchange, "");
  }
}

TEST(StaticZone, TxtStringsOfOneRecordAreConcatenated) {
  StaticZone z;
  z.add_txt("example.com", {"v=spf1 ", "ip4:192.0.2.0/24 ", "-all"});
  z.add_txt("example.com", "second record", 60);
  z.add_txt("example.net", std::vector<std::string>{"a", "b", "c"});
  auto a = z.resolve("example.com", RrType::TXT);
  EXPECT_EQ(a.txt, (std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all", "second record"}));
  EXPECT_EQ(a.ttl, 60u);
  EXPECT_EQ(z.resolve("example.net", RrType::TXT).txt, std::vector<std::string>{"abc"});
}

TEST(StaticZone, FollowsCnameChainsForOtherTypes) {
  StaticZone z;
  z.add_cname("a.example", "b.example", 100);
  z.add_cname("b.example", "c.example", 50);
  z.add_a("c.example", "192.0.2.3", 200);
  z.add_mx("c.example", 5, "mx.c.example");

  auto a = z.resolve("a.example", RrType::A);
  EXPECT_EQ(a.status, Status::ok);
  ASSERT_EQ(a.addrs.size(), 1u);
  EXPECT_EQ(a.addrs[0], ip("192.0.2.3"));
  EXPECT_EQ(a.ttl, 50u);  // the smallest TTL along the chain
  EXPECT_EQ(z.resolve("a.example", RrType::MX).mx.size(), 1u);

  // A CNAME query is answered with the CNAME itself, not chased.
  EXPECT_EQ(z.resolve("a.example", RrType::CNAME).names, std::vector<std::string>{"b.example"});

  // Chain to a name without that type: NODATA. Chain to nothing: NXDOMAIN (RFC 6604).
  auto nodata = z.resolve("a.example", RrType::TXT);
  EXPECT_EQ(nodata.status, Status::ok);
  EXPECT_TRUE(nodata.empty());
  z.add_cname("dangling.example", "gone.example");
  EXPECT_EQ(z.resolve("dangling.example", RrType::A).status, Status::nxdomain);
}

TEST(StaticZone, CnameChainsAreBounded) {
  StaticZone z;
  z.add_cname("loop1.example", "loop2.example");
  z.add_cname("loop2.example", "loop1.example");
  auto loop = z.resolve("loop1.example", RrType::A);
  EXPECT_EQ(loop.status, Status::temp_failure);
  EXPECT_NE(loop.error.find("CNAME chain"), std::string::npos) << loop.error;

  // Exactly kMaxCnameChain hops still resolve; one more does not.
  StaticZone y;
  for (int i = 0; i < StaticZone::kMaxCnameChain; ++i)
    y.add_cname("n" + std::to_string(i) + ".example", "n" + std::to_string(i + 1) + ".example");
  y.add_a("n" + std::to_string(StaticZone::kMaxCnameChain) + ".example", "192.0.2.8");
  EXPECT_EQ(y.resolve("n0.example", RrType::A).addrs.size(), 1u);
  y.add_cname("m.example", "n0.example");
  EXPECT_EQ(y.resolve("m.example", RrType::A).status, Status::temp_failure);
}

TEST(StaticZone, FailureMarks) {
  StaticZone z;
  z.add_a("slow.example", "192.0.2.1");
  z.set_timeout("slow.example");
  z.set_servfail("broken.example");
  z.set_failure("nope.example", StaticZone::Failure::refused);
  z.add_a("flaky.example", "192.0.2.2");
  z.set_servfail("flaky.example", RrType::MX);

  auto t = z.resolve("slow.example", RrType::A);  // the mark wins over the record
  EXPECT_EQ(t.status, Status::temp_failure);
  EXPECT_NE(t.error.find("TIMEOUT"), std::string::npos) << t.error;
  EXPECT_EQ(z.resolve("SLOW.example.", RrType::TXT).status, Status::temp_failure);

  auto s = z.resolve("broken.example", RrType::MX);
  EXPECT_EQ(s.status, Status::temp_failure);
  EXPECT_NE(s.error.find("SERVFAIL"), std::string::npos) << s.error;
  EXPECT_EQ(z.resolve("nope.example", RrType::A).status, Status::perm_failure);

  EXPECT_EQ(z.resolve("flaky.example", RrType::MX).status, Status::temp_failure);
  EXPECT_EQ(z.resolve("flaky.example", RrType::A).addrs.size(), 1u);

  // A mark on a CNAME target is reached through the chain.
  z.add_cname("via.example", "slow.example");
  EXPECT_EQ(z.resolve("via.example", RrType::A).status, Status::temp_failure);
}

TEST(StaticZone, CountsAndLogsQueries) {
  StaticZone z;
  z.add_a("a.example", "192.0.2.1");
  EXPECT_EQ(z.query_count(), 0u);
  z.resolve("A.example.", RrType::A);
  z.resolve("b.example", RrType::MX);

  boost::asio::io_context ioc;
  auto a = test::run_bounded(ioc, z.query("a.example", RrType::A));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->addrs.size(), 1u);

  EXPECT_EQ(z.query_count(), 3u);
  auto log = z.query_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], std::make_pair(std::string("a.example"), RrType::A));
  EXPECT_EQ(log[1], std::make_pair(std::string("b.example"), RrType::MX));
  z.reset_query_count();
  EXPECT_EQ(z.query_count(), 0u);
}

TEST(StaticZone, ReverseNames) {
  StaticZone z;
  z.add_reverse(ip("192.0.2.1"), "mx1.example.com");
  z.add_reverse(ip("2001:db8::1"), "v6.example.com");
  EXPECT_EQ(z.resolve("1.2.0.192.in-addr.arpa", RrType::PTR).names, std::vector<std::string>{"mx1.example.com"});
  auto v6 = z.resolve(reverse_name(ip("2001:db8::1")), RrType::PTR);
  EXPECT_EQ(v6.names, std::vector<std::string>{"v6.example.com"});
}

TEST(StaticZone, AddersRejectBadInput) {
  StaticZone z;
  EXPECT_THROW(z.add_a("a.example", "2001:db8::1"), std::invalid_argument);
  EXPECT_THROW(z.add_aaaa("a.example", "192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(z.add_a("bad name.example", "192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(z.add_a("a..example", "192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(z.add_a("*.example", "192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(z.add_a(std::string(64, 'x') + ".example", "192.0.2.1"), std::invalid_argument);
  EXPECT_NO_THROW(z.add_mx("a.example", 0, "."));  // the null MX
  z.add_cname("c.example", "a.example");
  EXPECT_THROW(z.add_a("c.example", "192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(z.add_cname("c.example", "b.example"), std::invalid_argument);
  z.add_a("d.example", "192.0.2.1");
  EXPECT_THROW(z.add_cname("d.example", "a.example"), std::invalid_argument);
  EXPECT_THROW(z.add_ptr("p.example", "."), std::invalid_argument);
}

TEST(StaticZoneParse, DocumentedExample) {
  auto z = StaticZone::parse(kDocExample);
  ASSERT_TRUE(z) << error_of(z);

  auto mx = z->resolve("example.com", RrType::MX);
  ASSERT_EQ(mx.mx.size(), 2u);
  EXPECT_EQ(mx.mx[0].exchange, "mx1.example.com");
  EXPECT_EQ(mx.mx[1].preference, 20);
  EXPECT_EQ(z->resolve("example.com", RrType::TXT).txt, std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 -all"});
  EXPECT_EQ(z->resolve("mx1.example.com", RrType::A).addrs, std::vector<core::IpAddress>{ip("192.0.2.1")});
  auto aaaa = z->resolve("mx2.example.com", RrType::AAAA);
  EXPECT_EQ(aaaa.addrs, std::vector<core::IpAddress>{ip("2001:db8::25")});
  EXPECT_EQ(aaaa.ttl, 300u);
  EXPECT_EQ(z->resolve("www.example.com", RrType::MX).mx.size(), 2u);  // through the CNAME
  EXPECT_EQ(z->resolve("_dmarc.example.com", RrType::TXT).txt,
            std::vector<std::string>{"v=DMARC1; p=reject; rua=mailto:dmarc@example.com"});
  EXPECT_EQ(z->resolve("sel._domainkey.example.com", RrType::TXT).txt,
            std::vector<std::string>{"v=DKIM1; k=rsa; p=MIIBIjANBgkqh..."});
  EXPECT_EQ(z->resolve("1.2.0.192.in-addr.arpa", RrType::PTR).names, std::vector<std::string>{"mx1.example.com"});
  EXPECT_EQ(z->resolve("example.com", RrType::NS).names, std::vector<std::string>{"ns1.example.net"});
  auto nullmx = z->resolve("nomail.example", RrType::MX);
  ASSERT_EQ(nullmx.mx.size(), 1u);
  EXPECT_EQ(nullmx.mx[0].exchange, "");
  EXPECT_EQ(z->resolve("slow.example", RrType::A).status, Status::temp_failure);
  EXPECT_EQ(z->resolve("flaky.example", RrType::MX).status, Status::temp_failure);
  EXPECT_EQ(z->resolve("flaky.example", RrType::A).status, Status::ok);  // exists (marked), no A: NODATA
  EXPECT_EQ(z->resolve("unknown.example", RrType::A).status, Status::nxdomain);
}

TEST(StaticZoneParse, QuotingCommentsAndWhitespace) {
  auto z = StaticZone::parse(
      "  # indented comment\r\n"
      "\r\n"
      "q.example\tTXT\t\"has # hash\" \"and \\\"quotes\\\" and \\\\ and \\065\"  # trailing\r\n"
      "u.example txt bare-word\n"
      "e.example TXT \"\"\n"
      "Up.Example. 60 a 192.0.2.1\n"
      "last.example A 192.0.2.9");  // no final newline
  ASSERT_TRUE(z) << error_of(z);
  EXPECT_EQ(z->resolve("q.example", RrType::TXT).txt,
            std::vector<std::string>{"has # hashand \"quotes\" and \\ and A"});
  EXPECT_EQ(z->resolve("u.example", RrType::TXT).txt, std::vector<std::string>{"bare-word"});
  EXPECT_EQ(z->resolve("e.example", RrType::TXT).txt, std::vector<std::string>{""});
  auto up = z->resolve("up.example", RrType::A);
  EXPECT_EQ(up.addrs.size(), 1u);
  EXPECT_EQ(up.ttl, 60u);
  EXPECT_EQ(z->resolve("last.example", RrType::A).addrs.size(), 1u);
  EXPECT_EQ(z->name_count(), 5u);
}

TEST(StaticZoneParse, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string expected;  // the whole message
  };
  const Case cases[] = {
      {"ok.example A 192.0.2.1\nbad.example A 300.1.1.1\n", "line 2: '300.1.1.1' is not an IPv4 address"},
      {"a.example AAAA 192.0.2.1", "line 1: '192.0.2.1' is not an IPv6 address"},
      {"\n\na.example MX ten mx.example", "line 3: MX preference 'ten' is not a number from 0 to 65535"},
      {"a.example MX 70000 mx.example", "line 1: MX preference '70000' is not a number from 0 to 65535"},
      {"a.example MX 10", "line 1: expected 'name MX <preference> <exchange>'"},
      {"a.example SRV 0 0 25 mx.example",
       "line 1: unknown record type 'SRV' (expected A, AAAA, MX, TXT, PTR, CNAME, NS, TIMEOUT, SERVFAIL or "
       "REFUSED)"},
      {"# c\na.example TXT \"open", "line 2: unterminated quoted string"},
      {"a.example TXT \"x\"y", "line 1: a quoted string must be followed by a space"},
      {"a.example TXT", "line 1: expected 'name TXT \"text\" [\"more text\" ...]'"},
      {"a.example", "line 1: 'a.example': expected a record type after the name"},
      {"a.example 300", "line 1: 'a.example': expected a record type after the name"},
      {"a.example 99999999999 A 192.0.2.1", "line 1: TTL '99999999999' is not a number from 0 to 2147483647"},
      {"a..example A 192.0.2.1", "line 1: name 'a..example' has an empty label"},
      {"*.example A 192.0.2.1", "line 1: name '*.example': wildcards are not supported"},
      {"a.example CNAME b..example", "line 1: target name 'b..example' has an empty label"},
      {"a.example CNAME b.example\na.example A 192.0.2.1",
       "line 2: 'a.example' has a CNAME, so it cannot have other records (RFC 1034 §3.6.2)"},
      {"a.example A 192.0.2.1\na.example CNAME b.example",
       "line 2: 'a.example' has other records, so it cannot have a CNAME (RFC 1034 §3.6.2)"},
      {"a.example A 192.0.2.1 192.0.2.2", "line 1: expected 'name A <ipv4-address>'"},
      {"a.example PTR", "line 1: expected 'name PTR <target-name>'"},
      {"a.example TIMEOUT SRV", "line 1: unknown record type 'SRV'"},
      {"a.example SERVFAIL MX A", "line 1: expected 'name SERVFAIL [record-type]'"},
      {"\"a.example\" A 192.0.2.1", "line 1: the owner name must not be quoted"},
      {"a.example TXT x\"y", "line 1: unexpected '\"' inside 'x'"},
      {"a.example TXT \"\\300\"", "line 1: bad escape \\300 (more than 255)"},
  };
  for (const auto& c : cases) {
    auto z = StaticZone::parse(c.text);
    EXPECT_EQ(error_of(z), c.expected) << c.text;
  }
}

TEST(StaticZoneParse, Caps) {
  std::string long_line = "a.example TXT \"" + std::string(StaticZone::kMaxLineLength, 'x') + "\"";
  EXPECT_EQ(error_of(StaticZone::parse("a.example A 192.0.2.1\n" + long_line)),
            "line 2: longer than 16384 bytes");
  // Strings longer than 255 bytes are accepted (documented); the line cap still holds.
  auto z = StaticZone::parse("a.example TXT \"" + std::string(1000, 'k') + "\"");
  ASSERT_TRUE(z) << error_of(z);
  EXPECT_EQ(z->resolve("a.example", RrType::TXT).txt.at(0).size(), 1000u);
}

TEST(StaticZoneParse, LoadFromFile) {
  auto dir = std::filesystem::temp_directory_path() / ("gh-dns-zone-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "zone.txt";
  {
    std::ofstream out(file);
    out << "mx.example A 192.0.2.1\nmx.example MX x y\n";
  }
  auto bad = StaticZone::load(file);
  EXPECT_EQ(error_of(bad), file.string() + ": line 2: MX preference 'x' is not a number from 0 to 65535");
  {
    std::ofstream out(file, std::ios::trunc);
    out << kDocExample;
  }
  auto good = StaticZone::load(file);
  ASSERT_TRUE(good) << error_of(good);
  EXPECT_EQ(good->resolve("example.com", RrType::MX).mx.size(), 2u);
  EXPECT_EQ(error_of(StaticZone::load(dir / "missing.txt")), (dir / "missing.txt").string() + ": cannot open");
  std::filesystem::remove_all(dir);
}

TEST(StaticZoneParse, MovedZoneKeepsRecords) {
  auto z = StaticZone::parse("a.example A 192.0.2.1");
  ASSERT_TRUE(z);
  StaticZone moved = std::move(*z);
  EXPECT_EQ(moved.resolve("a.example", RrType::A).addrs.size(), 1u);
  StaticZone other;
  other = std::move(moved);
  EXPECT_EQ(other.resolve("a.example", RrType::A).addrs.size(), 1u);
}

}  // namespace gatehouse::dns
