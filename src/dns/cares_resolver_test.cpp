// Tests for dns::CaresResolver against a real dnsmasq (/usr/sbin/dnsmasq, Debian dnsmasq-base)
// started on 127.0.0.1 and a free port: MX with two preferences, A, AAAA, TXT of two strings
// and two records, NXDOMAIN, NODATA, the null MX (RFC 7505, via --dns-rr), PTR, CNAME, NS; that
// callers resume on their own executor; concurrency on a 2-thread pool; and, without dnsmasq,
// a timeout against a silent UDP port, a refused port, shutdown with a query pending, and the
// server-list syntax. dnsmasq is killed (and reaped) in TearDownTestSuite and dies with this
// process (PR_SET_PDEATHSIG) even on a crash. Every wait is bounded.
// Must not: skip for any reason other than a missing /usr/sbin/dnsmasq.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "gatehouse/dns/cares_resolver.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace gatehouse::dns {

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

core::IpAddress ip(std::string_view s) { return *core::IpAddress::parse(s); }

// A socket bound to 127.0.0.1 on an ephemeral port (UDP or TCP); closed on destruction.
struct BoundSocket {
  int fd = -1;
  std::uint16_t port = 0;
  explicit BoundSocket(int type, std::uint16_t want = 0) {
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(want);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      ::close(fd);
      fd = -1;
      return;
    }
    port = ntohs(sa.sin_port);
  }
  ~BoundSocket() {
    if (fd >= 0) ::close(fd);
  }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
};

// A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both).
std::uint16_t free_port() {
  for (int i = 0; i < 50; ++i) {
    BoundSocket tcp(SOCK_STREAM);
    if (tcp.fd < 0) continue;
    BoundSocket udp(SOCK_DGRAM, tcp.port);
    if (udp.fd >= 0) return tcp.port;
  }
  throw std::runtime_error("no free port on 127.0.0.1");
}

bool tcp_connects(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// dnsmasq in the foreground with the given record options; stopped (SIGTERM, then SIGKILL) and
// reaped by stop(), which the destructor also calls.
class Dnsmasq {
 public:
  explicit Dnsmasq(std::vector<std::string> records) : records_(std::move(records)) {}
  ~Dnsmasq() { stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Empty on success, else why it did not come up (with dnsmasq's own output).
  std::string start() {
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
      try {
        why = try_start();
      } catch (const std::exception& e) {
        why = e.what();
      }
      if (why.empty()) return why;
      stop();
    }
    return why;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    bool reaped = false;
    for (int i = 0; i < 300 && !reaped; ++i) {  // up to 3 s
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) reaped = true;
      else std::this_thread::sleep_for(10ms);
    }
    if (!reaped) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);  // SIGKILL cannot be ignored: returns promptly
    }
    pid_ = -1;
    if (!log_.empty()) ::unlink(log_.c_str());
  }

  std::uint16_t port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string output() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string try_start() {
    port_ = free_port();
    log_ = "/tmp/gh-dns-test-dnsmasq-" + std::to_string(::getpid()) + ".log";
    std::vector<std::string> args = {kDnsmasq,
                                     "--keep-in-foreground",
                                     "--no-daemon",
                                     "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--conf-file=/dev/null",
                                     "--log-facility=-",
                                     "--pid-file"};  // no pid file
    if (::geteuid() == 0) {  // as root dnsmasq would switch to "nobody"; stay root, as the harness does
      args.push_back("--user=root");
      args.push_back("--group=root");
    }
    for (auto& r : records_) args.push_back(r);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int logfd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) return "cannot create " + log_;
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(logfd);
      return "fork failed";
    }
    if (pid_ == 0) {  // child: only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
      ::execv(kDnsmasq, argv.data());
      ::_exit(127);
    }
    ::close(logfd);
    for (int i = 0; i < 500; ++i) {  // up to 5 s
      if (int st = 0; ::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        std::string out = output();
        ::unlink(log_.c_str());
        return "dnsmasq exited at start: " + out;
      }
      if (tcp_connects(port_)) return {};
      std::this_thread::sleep_for(10ms);
    }
    return "dnsmasq did not listen within 5 s: " + output();  // stop() kills it and removes the log
  }

  std::vector<std::string> records_;
  std::string log_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// ns1.test in DNS wire format, for an NS record given to dnsmasq as raw data.
const char* kNsRdata = "036e7331047465737400";

class CaresDnsmasq : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(kDnsmasq, X_OK) != 0) {
      skip_reason_ = std::string(kDnsmasq) + " is missing (Debian package dnsmasq-base; scripts/install-deps --test)";
      return;
    }
    server_ = std::make_unique<Dnsmasq>(std::vector<std::string>{
        "--local=/test/",  // answer .test only from the records below: NXDOMAIN / NODATA otherwise
        "--local-ttl=300",
        "--mx-host=mail.test,mx1.mail.test,10",
        "--mx-host=mail.test,mx2.mail.test,20",
        "--host-record=mx1.mail.test,192.0.2.1",
        "--host-record=mx2.mail.test,192.0.2.2,2001:db8::2",
        "--host-record=v6.test,2001:db8::1",
        "--txt-record=mail.test,v=spf1 ,-all",  // one record of two strings (no quoting on the command line)
        "--txt-record=multi.test,one",                 // two records
        "--txt-record=multi.test,two",
        "--dns-rr=nullmx.test,15,000000",  // MX 0 "." (RFC 7505): no dnsmasq option for it
        "--ptr-record=9.2.0.192.in-addr.arpa,ptr.mail.test",
        "--ptr-record=10.2.0.192.in-addr.arpa,one.mail.test",  // two PTRs for one address
        "--ptr-record=10.2.0.192.in-addr.arpa,two.mail.test",
        "--cname=alias.test,mx1.mail.test",
        std::string("--dns-rr=zone.test,2,") + kNsRdata,
    });
    start_error_ = server_->start();
  }
  static void TearDownTestSuite() {
    if (server_) server_->stop();
    server_.reset();
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(start_error_.empty()) << start_error_;
  }

  CaresOptions options() const {
    CaresOptions o;
    o.servers = {server_->server()};
    o.timeout = 1000ms;
    o.tries = 2;
    return o;
  }

  Answer ask(std::string name, RrType type) {
    asio::io_context ioc;
    CaresResolver r(ioc, options());
    auto a = test::run_bounded(ioc, r.query(std::move(name), type), 10s);
    EXPECT_TRUE(a) << "query did not complete within 10 s";
    return a.value_or(Answer{});
  }

  static inline std::unique_ptr<Dnsmasq> server_;
  static inline std::string skip_reason_;
  static inline std::string start_error_;
};

}  // namespace

TEST_F(CaresDnsmasq, MxWithTwoPreferences) {
  auto a = ask("mail.test", RrType::MX);
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.mx.size(), 2u);
  auto mx = a.mx;
  std::sort(mx.begin(), mx.end(), [](auto& x, auto& y) { return x.preference < y.preference; });
  EXPECT_EQ(mx[0].preference, 10);
  EXPECT_EQ(mx[0].exchange, "mx1.mail.test");
  EXPECT_EQ(mx[1].preference, 20);
  EXPECT_EQ(mx[1].exchange, "mx2.mail.test");
  EXPECT_EQ(a.ttl, 300u);
  // Upper case and a trailing dot ask the same thing.
  EXPECT_EQ(ask("MAIL.Test.", RrType::MX).mx.size(), 2u);
}

TEST_F(CaresDnsmasq, AddressRecordsWithTtl) {
  auto a = ask("mx1.mail.test", RrType::A);
  ASSERT_EQ(a.status, Status::ok) << a.error;
  EXPECT_EQ(a.addrs, std::vector<core::IpAddress>{ip("192.0.2.1")});
  EXPECT_EQ(a.ttl, 300u);
  auto v6 = ask("v6.test", RrType::AAAA);
  ASSERT_EQ(v6.status, Status::ok) << v6.error;
  EXPECT_EQ(v6.addrs, std::vector<core::IpAddress>{ip("2001:db8::1")});
  EXPECT_EQ(v6.ttl, 300u);
  EXPECT_EQ(ask("mx2.mail.test", RrType::AAAA).addrs, std::vector<core::IpAddress>{ip("2001:db8::2")});
}

TEST_F(CaresDnsmasq, TxtStringsConcatenatedPerRecord) {
  auto a = ask("mail.test", RrType::TXT);
  ASSERT_EQ(a.status, Status::ok) << a.error;
  EXPECT_EQ(a.txt, std::vector<std::string>{"v=spf1 -all"});
  auto m = ask("multi.test", RrType::TXT);
  ASSERT_EQ(m.status, Status::ok) << m.error;
  auto txt = m.txt;
  std::sort(txt.begin(), txt.end());
  EXPECT_EQ(txt, (std::vector<std::string>{"one", "two"}));
}

TEST_F(CaresDnsmasq, NxdomainAndNodata) {
  auto nx = ask("nothere.test", RrType::A);
  EXPECT_EQ(nx.status, Status::nxdomain) << nx.error;
  EXPECT_TRUE(nx.empty());
  auto nodata = ask("mx1.mail.test", RrType::MX);
  EXPECT_EQ(nodata.status, Status::ok) << nodata.error;
  EXPECT_TRUE(nodata.empty());
  auto nodata6 = ask("mx1.mail.test", RrType::AAAA);
  EXPECT_EQ(nodata6.status, Status::ok) << nodata6.error;
  EXPECT_TRUE(nodata6.empty());
}

TEST_F(CaresDnsmasq, NullMxHasEmptyExchange) {
  auto a = ask("nullmx.test", RrType::MX);
  ASSERT_EQ(a.status, Status::ok) << a.error;
  ASSERT_EQ(a.mx.size(), 1u);
  EXPECT_EQ(a.mx[0].preference, 0);
  EXPECT_EQ(a.mx[0].exchange, "");
}

TEST_F(CaresDnsmasq, PtrCnameNs) {
  auto ptr = ask(reverse_name(ip("192.0.2.9")), RrType::PTR);
  ASSERT_EQ(ptr.status, Status::ok) << ptr.error;
  EXPECT_EQ(ptr.names, std::vector<std::string>{"ptr.mail.test"});
  auto two = ask(reverse_name(ip("192.0.2.10")), RrType::PTR);
  ASSERT_EQ(two.status, Status::ok) << two.error;
  auto names = two.names;
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"one.mail.test", "two.mail.test"}));

  auto cname = ask("alias.test", RrType::CNAME);
  ASSERT_EQ(cname.status, Status::ok) << cname.error;
  EXPECT_EQ(cname.names, std::vector<std::string>{"mx1.mail.test"});
  // Other types follow the CNAME (the recursive answer carries the chain).
  EXPECT_EQ(ask("alias.test", RrType::A).addrs, std::vector<core::IpAddress>{ip("192.0.2.1")});

  auto ns = ask("zone.test", RrType::NS);
  ASSERT_EQ(ns.status, Status::ok) << ns.error;
  EXPECT_EQ(ns.names, std::vector<std::string>{"ns1.test"});
}

TEST_F(CaresDnsmasq, TlsaWithoutRecordsIsNodata) {
  auto a = ask("mail.test", RrType::TLSA);
  // dnsmasq has no TLSA data here: NODATA, which needs no parsing.
  EXPECT_EQ(a.status, Status::ok) << a.error;
  EXPECT_TRUE(a.empty());
}

TEST_F(CaresDnsmasq, ResumesOnTheCallersStrand) {
  asio::io_context ioc;
  CaresResolver r(ioc, options());
  auto strand = asio::make_strand(ioc);
  std::atomic<int> on_strand{0}, answered{0};
  constexpr int kQueries = 40;
  for (int i = 0; i < kQueries; ++i) {
    auto one = [](CaresResolver& res, asio::strand<asio::io_context::executor_type> s, std::string name,
                  std::atomic<int>& ok_strand, std::atomic<int>& ok_answer) -> asio::awaitable<void> {
      auto a = co_await res.query(std::move(name), RrType::MX);
      if (s.running_in_this_thread()) ++ok_strand;
      if (a.status == Status::ok && a.mx.size() == 2) ++ok_answer;
    };
    asio::co_spawn(strand, one(r, strand, i % 2 ? "mail.test" : "MAIL.TEST", on_strand, answered),
                   asio::detached);
  }
  auto run = [&] {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (answered.load() < kQueries && std::chrono::steady_clock::now() < deadline) ioc.run_for(50ms);
  };
  std::thread t1(run), t2(run);
  t1.join();
  t2.join();
  EXPECT_EQ(answered.load(), kQueries);
  EXPECT_EQ(on_strand.load(), kQueries);
}

TEST_F(CaresDnsmasq, ResumesOnTheCallersIoContext) {
  // The resolver runs on its own io_context in another thread; the caller's coroutine must come
  // back on the caller's context (its thread), kept alive by the work guard meanwhile.
  asio::io_context resolver_ioc, caller_ioc;
  auto resolver_work = asio::make_work_guard(resolver_ioc);
  CaresResolver r(resolver_ioc, options());
  std::thread resolver_thread([&] { resolver_ioc.run_for(15s); });

  auto caller = [](CaresResolver& res) -> asio::awaitable<std::pair<Answer, std::thread::id>> {
    auto a = co_await res.query("mx1.mail.test", RrType::A);
    co_return std::make_pair(std::move(a), std::this_thread::get_id());
  };
  auto got = test::run_bounded(caller_ioc, caller(r), 10s);
  resolver_work.reset();
  resolver_ioc.stop();
  resolver_thread.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first.addrs, std::vector<core::IpAddress>{ip("192.0.2.1")});
  EXPECT_EQ(got->second, std::this_thread::get_id());  // run_bounded ran caller_ioc here
}

TEST_F(CaresDnsmasq, OneResolverManyQueriesInSequence) {
  asio::io_context ioc;
  CaresResolver r(ioc, options());
  auto many = [](CaresResolver& res) -> asio::awaitable<int> {
    int ok = 0;
    for (int i = 0; i < 20; ++i) {
      auto a = co_await res.query(i % 2 ? "mx1.mail.test" : "nothere.test", RrType::A);
      if (a.status == (i % 2 ? Status::ok : Status::nxdomain)) ++ok;
    }
    co_return ok;
  };
  auto n = test::run_bounded(ioc, many(r), 10s);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 20);
}

// ---- without dnsmasq ------------------------------------------------------------------------

TEST(CaresResolver, TimeoutAgainstASilentServer) {
  BoundSocket silent(SOCK_DGRAM);  // receives queries, never answers
  ASSERT_GE(silent.fd, 0);
  asio::io_context ioc;
  CaresOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(silent.port)};
  o.timeout = 200ms;
  o.tries = 1;
  CaresResolver r(ioc, o);
  auto t0 = std::chrono::steady_clock::now();
  auto a = test::run_bounded(ioc, r.query("example.test", RrType::A), 10s);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, Status::temp_failure);
  EXPECT_NE(a->error.find("timeout"), std::string::npos) << a->error;
  EXPECT_NE(a->error.find("example.test A"), std::string::npos) << a->error;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 5s);
}

TEST(CaresResolver, RefusedPortIsATemporaryFailure) {
  std::uint16_t port;
  {
    BoundSocket gone(SOCK_DGRAM);
    ASSERT_GE(gone.fd, 0);
    port = gone.port;
  }  // closed: the kernel answers ICMP port unreachable
  asio::io_context ioc;
  CaresOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(port)};
  o.timeout = 500ms;
  o.tries = 1;
  CaresResolver r(ioc, o);
  auto a = test::run_bounded(ioc, r.query("example.test", RrType::MX), 10s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, Status::temp_failure) << a->error;
  EXPECT_FALSE(a->error.empty());
}

TEST(CaresResolver, ShutdownFailsPendingQueries) {
  BoundSocket silent(SOCK_DGRAM);
  ASSERT_GE(silent.fd, 0);
  asio::io_context ioc;
  CaresOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(silent.port)};
  o.timeout = 5000ms;
  o.tries = 1;
  auto r = std::make_unique<CaresResolver>(ioc, o);
  std::optional<Answer> got;
  auto on_done = [&got](std::exception_ptr, Answer a) { got = std::move(a); };
  asio::co_spawn(ioc, r->query("example.test", RrType::A), on_done);
  ioc.run_for(100ms);  // the query is sent and waits
  EXPECT_FALSE(got);
  r.reset();  // while no thread runs ioc
  ioc.restart();
  for (int i = 0; i < 100 && !got; ++i) ioc.run_for(10ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Status::temp_failure);
  EXPECT_NE(got->error.find("shut down"), std::string::npos) << got->error;
}

TEST(CaresResolver, EmptyNameIsAPermanentFailure) {
  asio::io_context ioc;
  CaresOptions o;
  o.servers = {"127.0.0.1:9"};
  CaresResolver r(ioc, o);
  auto a = test::run_bounded(ioc, r.query(".", RrType::A), 5s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, Status::perm_failure);
}

TEST(CaresResolver, ServerListSyntax) {
  for (auto good : {"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "2001:db8::53", " 192.0.2.1 "})
    EXPECT_TRUE(CaresResolver::check_server(good)) << good;
  for (auto bad : {"dns.example", "dns.example:53", "192.0.2.1:0", "192.0.2.1:70000", "[192.0.2.300]:53",
                   "[2001:db8::1]", ""}) {
    auto r = CaresResolver::check_server(bad);
    EXPECT_FALSE(r) << bad;
  }
  asio::io_context ioc;
  CaresOptions o;
  o.servers = {"192.0.2.53", "not a server"};
  EXPECT_THROW((CaresResolver{ioc, o}), std::invalid_argument);
  o.servers = {"192.0.2.53", "[2001:db8::53]:5353"};
  EXPECT_NO_THROW((CaresResolver{ioc, o}));
  o.tries = 0;
  EXPECT_THROW((CaresResolver{ioc, o}), std::invalid_argument);
}

TEST(CaresResolver, SystemResolversWhenNoServersGiven) {
  // Construction reads /etc/resolv.conf (or c-ares' default) and must not fail or query.
  asio::io_context ioc;
  EXPECT_NO_THROW(CaresResolver r(ioc));
}

}  // namespace gatehouse::dns
