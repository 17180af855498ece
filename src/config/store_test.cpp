// Unit tests for config::Store (migrations, repositories, snapshot building), Publisher and
// Watcher, each on a fresh database file in a temporary directory.
// Must not depend on fixed long sleeps: waits are bounded polling loops.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sqlite3.h>
#include <thread>
#include <unistd.h>

#include "gatehouse/config/store.hpp"

using namespace gatehouse;
using namespace gatehouse::config;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string error_of(const Status& s) { return s ? std::string() : s.error().message; }

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gatehouse_config_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "gatehouse.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> open() {
    auto s = Store::open(path_);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  // Runs SQL on a raw connection, as a hand edit (or a newer release) would.
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
  }

  std::string raw_query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  fs::path dir_, path_;
};

}  // namespace

// ---- migrations ----

TEST_F(StoreTest, FreshDatabaseIsMigratedToLatestWithoutDefaultRows) {
  ASSERT_FALSE(fs::exists(path_));
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_GE(Store::latest_schema_version(), 1);
  EXPECT_EQ(s->schema_version(), Store::latest_schema_version());
  EXPECT_EQ(raw_query("PRAGMA user_version"), std::to_string(Store::latest_schema_version()));
  EXPECT_EQ(raw_query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_query("SELECT count(*) FROM settings"), "0");
  EXPECT_EQ(raw_query("SELECT count(*) FROM domains"), "0");
  EXPECT_EQ(raw_query("SELECT count(*) FROM relay_networks"), "0");
  // Tables are STRICT.
  EXPECT_EQ(raw_query("SELECT strict FROM pragma_table_list WHERE name = 'settings'"), "1");
  EXPECT_EQ(raw_query("SELECT strict FROM pragma_table_list WHERE name = 'domains'"), "1");
  EXPECT_EQ(raw_query("SELECT strict FROM pragma_table_list WHERE name = 'relay_networks'"), "1");
}

TEST_F(StoreTest, ReopenIsIdempotentAndKeepsData) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->set("smtp.max_recipients", "42"));
  }
  for (int i = 0; i < 2; ++i) {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version(), Store::latest_schema_version());
    EXPECT_EQ(*s->get("smtp.max_recipients"), "42");
  }
  // Two connections at once (CLI + server) are fine too.
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
}

TEST_F(StoreTest, NewerDatabaseIsRefused) {
  { ASSERT_TRUE(open()); }
  raw_exec("PRAGMA user_version = " + std::to_string(Store::latest_schema_version() + 1));
  auto s = Store::open(path_);
  ASSERT_FALSE(s);
  const auto& msg = s.error().message;
  EXPECT_NE(msg.find("newer"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path_.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("version " + std::to_string(Store::latest_schema_version() + 1)), std::string::npos) << msg;
}

TEST_F(StoreTest, NotADatabaseIsAClearError) {
  {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(std::string(200, 'x').c_str(), f);  // not an SQLite header
    std::fclose(f);
  }
  auto s = Store::open(path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot open config database"), std::string::npos) << s.error().message;
  auto missing_dir = Store::open(dir_ / "no" / "such" / "dir" / "x.db");
  ASSERT_FALSE(missing_dir);
  EXPECT_NE(missing_dir.error().message.find("cannot open config database"), std::string::npos);
}

// ---- settings ----

TEST_F(StoreTest, EveryDefaultRoundTripsThroughList) {
  auto s = open();
  ASSERT_TRUE(s);
  auto rows = s->list();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), setting_defs().size());
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const auto& row = (*rows)[i];
    const auto& def = setting_defs()[i];
    EXPECT_EQ(row.key, def.key);
    EXPECT_EQ(row.value, def.default_value) << def.key;
    EXPECT_TRUE(row.is_default) << def.key;
    // Writing the default back explicitly stores a row with the same text.
    ASSERT_TRUE(s->set(row.key, row.value)) << def.key;
    EXPECT_EQ(*s->get(row.key), def.default_value) << def.key;
  }
  rows = s->list();
  ASSERT_TRUE(rows);
  for (const auto& row : *rows) EXPECT_FALSE(row.is_default) << row.key;
}

TEST_F(StoreTest, SetGetUnset) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->get("smtp.max_recipients"), "100");
  ASSERT_TRUE(s->set("smtp.max_recipients", " 0250 "));
  EXPECT_EQ(*s->get("smtp.max_recipients"), "250");
  EXPECT_EQ(raw_query("SELECT value FROM settings WHERE key = 'smtp.max_recipients'"), "250");
  ASSERT_TRUE(s->set("smtp.listen", "127.0.0.1:2525"));
  EXPECT_EQ(*s->get("smtp.listen"), "127.0.0.1:2525");
  ASSERT_TRUE(s->set("smtp.max_recipients", "300"));  // overwrite
  EXPECT_EQ(*s->get("smtp.max_recipients"), "300");
  ASSERT_TRUE(s->unset("smtp.max_recipients"));
  EXPECT_EQ(*s->get("smtp.max_recipients"), "100");
  EXPECT_TRUE(s->unset("smtp.max_recipients"));  // unsetting a default is not an error
  EXPECT_EQ(raw_query("SELECT count(*) FROM settings"), "1");
}

TEST_F(StoreTest, BadValuesAndUnknownKeys) {
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(error_of(s->set("smtp.foo", "1")), "unknown setting 'smtp.foo'");
  EXPECT_EQ(error_of(s->unset("smtp.foo")), "unknown setting 'smtp.foo'");
  auto g = s->get("smtp.foo");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().message, "unknown setting 'smtp.foo'");
  struct Case {
    const char* key;
    const char* value;
  };
  for (auto c : {Case{"smtp.max_recipients", "abc"}, Case{"smtp.command_timeout", "-5"},
                 Case{"smtp.listen", "mail.example:25"}, Case{"dns.servers", "resolver.example"},
                 Case{"log.level", "verbose"}, Case{"smtp.hostname", "bad host"},
                 Case{"delivery.mx_port", "0"}}) {
    auto e = error_of(s->set(c.key, c.value));
    EXPECT_TRUE(e.starts_with(std::string(c.key) + ": ")) << c.key << " -> " << e;
    EXPECT_NE(e.find(c.value), std::string::npos) << e;
  }
  EXPECT_EQ(error_of(s->set("smtp.max_recipients", "abc")),
            "smtp.max_recipients: must be a whole number from 1 to 100000, got 'abc'");
  EXPECT_EQ(raw_query("SELECT count(*) FROM settings"), "0");  // nothing was written
}

TEST_F(StoreTest, RetryMinMustNotExceedRetryMax) {
  auto s = open();
  ASSERT_TRUE(s);
  auto e = error_of(s->set("delivery.retry_min", "7200"));
  EXPECT_NE(e.find("delivery.retry_min"), std::string::npos) << e;
  EXPECT_NE(e.find("delivery.retry_max"), std::string::npos) << e;
  EXPECT_EQ(*s->get("delivery.retry_min"), "60");
  ASSERT_TRUE(s->set("delivery.retry_max", "10000"));
  ASSERT_TRUE(s->set("delivery.retry_min", "7200"));
  e = error_of(s->unset("delivery.retry_max"));  // would fall back to 3600 < 7200
  EXPECT_NE(e.find("delivery.retry_max"), std::string::npos) << e;
  ASSERT_TRUE(s->unset("delivery.retry_min"));
  ASSERT_TRUE(s->unset("delivery.retry_max"));

  // A hand edit that breaks the rule makes load_settings fail with both keys named.
  raw_exec("INSERT INTO settings VALUES('delivery.retry_min','5000')");
  auto snap = s->load_settings(1);
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().message.find("delivery.retry_min"), std::string::npos);
  EXPECT_NE(snap.error().message.find("delivery.retry_max"), std::string::npos);
  // ...and set/unset can still repair it.
  ASSERT_TRUE(s->unset("delivery.retry_min"));
  EXPECT_TRUE(s->load_settings(1));
}

// ---- domains ----

TEST_F(StoreTest, DomainsAddRemoveList) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->add_domain({"Example.COM.", *core::HostPort::parse("10.0.0.5:25"), "", ""}));
  ASSERT_TRUE(s->add_domain({"a.example", *core::HostPort::parse("[2001:db8::25]:2525"), " 192.0.2.10 ",
                             "Out.A.Example"}));
  auto list = s->list_domains();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a.example");  // sorted
  EXPECT_EQ((*list)[0].mail_server.host, "2001:db8::25");
  EXPECT_EQ((*list)[0].mail_server.port, 2525);
  EXPECT_EQ((*list)[0].bind_ip, "192.0.2.10");
  EXPECT_EQ((*list)[0].smtp_hostname, "out.a.example");
  EXPECT_EQ((*list)[1].name, "example.com");
  EXPECT_EQ((*list)[1].mail_server.to_string(), "10.0.0.5:25");
  EXPECT_EQ((*list)[1].bind_ip, "");

  EXPECT_EQ(error_of(s->add_domain({"example.com", *core::HostPort::parse("10.0.0.6:25"), "", ""})),
            "domain 'example.com' already exists");
  EXPECT_EQ(error_of(s->add_domain({"EXAMPLE.com.", *core::HostPort::parse("10.0.0.6:25"), "", ""})),
            "domain 'example.com' already exists");
  auto e = error_of(s->add_domain({"ex ample", *core::HostPort::parse("10.0.0.6:25"), "", ""}));
  EXPECT_TRUE(e.starts_with("domain name 'ex ample': not a valid domain name")) << e;
  e = error_of(s->add_domain({"localhost", *core::HostPort::parse("10.0.0.6:25"), "", ""}));
  EXPECT_TRUE(e.starts_with("domain name 'localhost'")) << e;
  e = error_of(s->add_domain({"b.example", core::HostPort{"mx.b.example", 0}, "", ""}));
  EXPECT_TRUE(e.starts_with("domain 'b.example': mail server")) << e;
  e = error_of(s->add_domain({"b.example", core::HostPort{"bad host", 25}, "", ""}));
  EXPECT_TRUE(e.starts_with("domain 'b.example': mail server")) << e;
  e = error_of(s->add_domain({"b.example", *core::HostPort::parse("mx.b.example:25"), "not-an-ip", ""}));
  EXPECT_EQ(e, "domain 'b.example': bind IP 'not-an-ip' is not an IPv4 or IPv6 address");
  e = error_of(s->add_domain({"b.example", *core::HostPort::parse("mx.b.example:25"), "", "bad_name!"}));
  EXPECT_TRUE(e.starts_with("domain 'b.example': SMTP host name 'bad_name!': not a valid host name")) << e;

  EXPECT_EQ(error_of(s->remove_domain("nope.example")), "domain 'nope.example' is not in the list");
  ASSERT_TRUE(s->remove_domain("EXAMPLE.COM."));
  list = s->list_domains();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "a.example");
}

// ---- relay networks ----

TEST_F(StoreTest, RelayAllowRemoveList) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->relay_allow("192.0.2.0/24"));
  ASSERT_TRUE(s->relay_allow("2001:DB8::/32"));
  ASSERT_TRUE(s->relay_allow("10.0.0.0/8"));
  ASSERT_TRUE(s->relay_allow("127.0.0.1"));
  auto list = s->relay_list();
  ASSERT_TRUE(list);
  std::vector<std::string> texts;
  for (const auto& c : *list) texts.push_back(c.to_string());
  EXPECT_EQ(texts, (std::vector<std::string>{"10.0.0.0/8", "127.0.0.1/32", "192.0.2.0/24", "2001:db8::/32"}));
  EXPECT_EQ(raw_query("SELECT cidr FROM relay_networks WHERE cidr LIKE '2001%'"), "2001:db8::/32");

  EXPECT_EQ(error_of(s->relay_allow("10.0.0.0/8")), "relay network 10.0.0.0/8 is already in the list");
  EXPECT_EQ(error_of(s->relay_allow("2001:db8:0::/32")), "relay network 2001:db8::/32 is already in the list");
  auto e = error_of(s->relay_allow("10.0.0.1/8"));
  EXPECT_NE(e.find("host bits"), std::string::npos) << e;
  EXPECT_TRUE(e.starts_with("relay network ")) << e;
  e = error_of(s->relay_allow("2001:db8::1/32"));
  EXPECT_NE(e.find("host bits"), std::string::npos) << e;
  e = error_of(s->relay_allow("not-a-network"));
  EXPECT_TRUE(e.starts_with("relay network 'not-a-network'")) << e;

  EXPECT_EQ(error_of(s->relay_remove("172.16.0.0/12")), "relay network 172.16.0.0/12 is not in the list");
  ASSERT_TRUE(s->relay_remove("2001:db8::/32"));
  ASSERT_TRUE(s->relay_remove("127.0.0.1/32"));
  list = s->relay_list();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
}

// ---- snapshot ----

TEST_F(StoreTest, LoadSettingsReflectsRowsAndSkipsBadOnes) {
  auto s = open();
  ASSERT_TRUE(s);
  auto snap = s->load_settings(1);
  ASSERT_TRUE(snap);
  EXPECT_EQ((*snap)->generation, 1u);
  EXPECT_EQ((*snap)->smtp_max_recipients, 100u);
  ASSERT_EQ((*snap)->smtp_listen.size(), 2u);
  EXPECT_TRUE((*snap)->domains.empty());

  ASSERT_TRUE(s->set("smtp.max_recipients", "7"));
  ASSERT_TRUE(s->set("smtp.command_timeout", "60"));
  ASSERT_TRUE(s->set("dns.servers", "192.0.2.53"));
  ASSERT_TRUE(s->set("log.level", "debug"));
  ASSERT_TRUE(s->add_domain({"example.com", *core::HostPort::parse("10.0.0.5:25"), "", ""}));
  ASSERT_TRUE(s->relay_allow("10.0.0.0/8"));
  // Rows from a newer release or a hand edit are skipped, not fatal.
  raw_exec("INSERT INTO settings VALUES('smtp.from_the_future','1'), ('smtp.max_errors','lots')");
  raw_exec("INSERT INTO domains(name, mail_server) VALUES('bad domain','10.0.0.9:25'), ('b.example','nohost')");
  raw_exec("INSERT INTO relay_networks VALUES('10.0.0.1/8')");

  snap = s->load_settings(9);
  ASSERT_TRUE(snap) << snap.error().message;
  const Settings& st = **snap;
  EXPECT_EQ(st.generation, 9u);
  EXPECT_EQ(st.smtp_max_recipients, 7u);
  EXPECT_EQ(st.smtp_command_timeout, 60s);
  EXPECT_EQ(st.smtp_max_errors, 10u);  // bad row -> default
  EXPECT_EQ(st.dns_servers, std::vector<std::string>{"192.0.2.53"});
  EXPECT_EQ(st.log_level, "debug");
  ASSERT_EQ(st.domains.size(), 1u);
  EXPECT_EQ(st.domains[0].name, "example.com");
  ASSERT_NE(st.find_domain("example.com"), nullptr);
  ASSERT_EQ(st.relay_networks.size(), 1u);
  EXPECT_TRUE(st.relay_allowed(*core::IpAddress::parse("10.9.9.9")));
  EXPECT_FALSE(st.relay_allowed(*core::IpAddress::parse("11.0.0.1")));

  // list() shows the effective value of a bad row: the default.
  auto rows = s->list();
  ASSERT_TRUE(rows);
  for (const auto& r : *rows)
    if (r.key == "smtp.max_errors") {
      EXPECT_EQ(r.value, "10");
    }
  EXPECT_EQ(*s->get("smtp.max_errors"), "10");
}

TEST_F(StoreTest, DataVersionChangesOnOtherConnectionsCommit) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  auto v1 = a->data_version();
  ASSERT_TRUE(v1);
  ASSERT_TRUE(b->set("smtp.max_errors", "5"));
  auto v2 = a->data_version();
  ASSERT_TRUE(v2);
  EXPECT_NE(*v1, *v2);
}

// ---- publisher and watcher ----

TEST(Publisher, SwapsAndCallsSubscribers) {
  auto first = std::make_shared<Settings>();
  first->generation = 1;
  Publisher pub(first);
  EXPECT_EQ(pub.current()->generation, 1u);
  std::vector<std::uint64_t> seen;
  pub.subscribe([&](const SettingsPtr& s) {
    seen.push_back(s->generation);
    EXPECT_EQ(pub.current(), s);  // already current when the subscriber runs
  });
  pub.subscribe([](const SettingsPtr&) { throw std::runtime_error("subscriber bug"); });
  auto second = std::make_shared<Settings>();
  second->generation = 2;
  pub.publish(second);
  EXPECT_EQ(pub.current()->generation, 2u);
  EXPECT_EQ(seen, std::vector<std::uint64_t>{2});
  pub.publish(nullptr);  // ignored
  EXPECT_EQ(pub.current()->generation, 2u);
}

namespace {
// Polls `pred` every 10 ms until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}
}  // namespace

TEST_F(StoreTest, WatcherRepublishesAfterAnotherConnectionCommits) {
  auto server = open();
  ASSERT_TRUE(server);
  auto initial = server->load_settings(1);
  ASSERT_TRUE(initial);
  Publisher pub(*initial);
  std::atomic<int> calls{0};
  pub.subscribe([&](const SettingsPtr&) { ++calls; });

  Watcher watcher(path_, pub);  // default 250 ms interval
  // reload_now() (SIGHUP) rebuilds even without a change; it also proves the thread has its
  // connection and baseline before the commit below.
  watcher.reload_now();
  ASSERT_TRUE(eventually([&] { return pub.current()->generation == 2; }));
  EXPECT_EQ(calls.load(), 1);

  auto cli = open();  // a second connection, as the CLI would open
  ASSERT_TRUE(cli);
  ASSERT_TRUE(cli->set("smtp.max_recipients", "33"));
  ASSERT_TRUE(cli->add_domain({"example.org", *core::HostPort::parse("10.0.0.7:25"), "", ""}));
  const auto committed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    auto cur = pub.current();
    return cur->smtp_max_recipients == 33 && cur->find_domain("example.org") != nullptr;
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - committed, 2s);
  EXPECT_GE(pub.current()->generation, 3u);

  // A change that fails to build leaves the current snapshot in place.
  const auto gen = pub.current()->generation;
  raw_exec("INSERT INTO settings VALUES('delivery.retry_min','9000')");
  std::this_thread::sleep_for(600ms);  // > 2 intervals: the watcher has seen it and refused it
  EXPECT_EQ(pub.current()->generation, gen);
  EXPECT_EQ(pub.current()->smtp_max_recipients, 33u);
}

TEST_F(StoreTest, WatcherStopsPromptly) {
  { ASSERT_TRUE(open()); }
  Publisher pub(std::make_shared<Settings>());
  const auto start = std::chrono::steady_clock::now();
  {
    Watcher watcher(path_, pub, std::chrono::milliseconds(60'000));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}
