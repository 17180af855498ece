// Unit tests for tls::CertStore on a real configuration database in a temporary directory:
// first-is-active, activate, remove rules, no key material in list/get_info, the key kept for
// active_with_key(), and schema migration 2 applied to an existing version-1 database.
// Must not share a database between tests.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/tls/cert_store.hpp"
#include "test_support.hpp"

using namespace gatehouse;
using namespace gatehouse::tls;
using namespace gatehouse::tls::test;

namespace {

// Migration 1 exactly as released (src/config/schema.cpp), to build a version-1 database.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE settings(          -- writer: config (config::Store::set/unset, on behalf of service)
  key   TEXT PRIMARY KEY,       -- a registry key, e.g. smtp.max_recipients
  value TEXT NOT NULL           -- canonical text; absent row = registry default
) STRICT;
CREATE TABLE domains(           -- writer: config (config::Store::add_domain/remove_domain, on behalf of service)
  name          TEXT PRIMARY KEY,           -- lower-case, no trailing dot
  mail_server   TEXT NOT NULL,              -- host:port or [v6]:port of the downstream server
  bind_ip       TEXT NOT NULL DEFAULT '',   -- source IP for deliveries to it; '' = any
  smtp_hostname TEXT NOT NULL DEFAULT ''    -- HELO name towards it; '' = smtp.hostname
) STRICT;
CREATE TABLE relay_networks(    -- writer: config (config::Store::relay_allow/relay_remove, on behalf of service)
  cidr TEXT PRIMARY KEY         -- normalized network/prefix, host bits zero
) STRICT;
PRAGMA user_version = 1;
)sql";

CertificateRecord ec_record(const std::string& host) {
  CreateRequest req;
  req.host = host;
  req.organisation = "Example";
  req.key = "ec:p256";
  auto r = create_self_signed(req);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : CertificateRecord{};
}

std::string error_of(const Status& s) { return s ? std::string() : s.error().message; }

class CertStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    auto s = config::Store::open(db_path());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    certs_ = std::make_unique<CertStore>(*store_, clock_);
  }

  std::filesystem::path db_path() const { return dir_.path() / "gatehouse.db"; }

  std::string raw_query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  int raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc;
  }

  std::int64_t add(const CertificateRecord& r) {
    auto id = certs_->add(r);
    EXPECT_TRUE(id) << (id ? "" : id.error().message);
    return id ? *id : -1;
  }

  TempDir dir_;
  core::ManualClock clock_{core::from_unix(1'800'000'000)};
  std::unique_ptr<config::Store> store_;
  std::unique_ptr<CertStore> certs_;
};

}  // namespace

TEST_F(CertStoreTest, FirstAddedIsActiveOthersNot) {
  EXPECT_EQ(raw_query("SELECT strict FROM pragma_table_list WHERE name = 'certificates'"), "1");
  auto none = certs_->active_with_key();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  const auto a = ec_record("a.example.com"), b = ec_record("b.example.com");
  const auto id_a = add(a);
  const auto id_b = add(b);
  EXPECT_EQ(id_a, 1);
  EXPECT_EQ(id_b, 2);
  auto list = certs_->list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE((*list)[0].active);
  EXPECT_FALSE((*list)[1].active);
  EXPECT_EQ((*list)[0].subject, "CN=a.example.com,O=Example");
  EXPECT_EQ((*list)[0].fingerprint_sha256, a.fingerprint_sha256);
  EXPECT_EQ((*list)[0].created, 1'800'000'000);
  EXPECT_EQ((*list)[1].id, id_b);
}

TEST_F(CertStoreTest, ActivateSwitchesInOneStep) {
  const auto id_a = add(ec_record("a.example.com"));
  const auto id_b = add(ec_record("b.example.com"));
  ASSERT_TRUE(certs_->activate(id_b)) << error_of(certs_->activate(id_b));
  EXPECT_FALSE(certs_->get_info(id_a)->active);
  EXPECT_TRUE(certs_->get_info(id_b)->active);
  EXPECT_EQ(raw_query("SELECT count(*) FROM certificates WHERE active = 1"), "1");
  EXPECT_TRUE(certs_->activate(id_b));  // already active: no change, no error
  EXPECT_EQ(raw_query("SELECT id FROM certificates WHERE active = 1"), std::to_string(id_b));
  ASSERT_TRUE(certs_->activate(id_a));
  EXPECT_EQ(raw_query("SELECT id FROM certificates WHERE active = 1"), std::to_string(id_a));
  EXPECT_EQ(error_of(certs_->activate(42)), "certificate 42 does not exist");
  // The database itself refuses a second active row (the partial unique index).
  EXPECT_NE(raw_exec("UPDATE certificates SET active = 1 WHERE id = " + std::to_string(id_b)), SQLITE_OK);
  EXPECT_NE(raw_exec("UPDATE certificates SET active = 2 WHERE id = " + std::to_string(id_b)), SQLITE_OK);
}

TEST_F(CertStoreTest, RemoveRefusesTheActiveOne) {
  const auto id_a = add(ec_record("a.example.com"));
  const auto id_b = add(ec_record("b.example.com"));
  const auto id_c = add(ec_record("c.example.com"));
  EXPECT_EQ(error_of(certs_->remove(id_a)), "certificate 1 is active; activate another one first");
  ASSERT_TRUE(certs_->remove(id_b));
  EXPECT_EQ(error_of(certs_->remove(id_b)), "certificate 2 does not exist");
  EXPECT_EQ(certs_->get_info(id_b).error().message, "certificate 2 does not exist");
  ASSERT_TRUE(certs_->activate(id_c));
  ASSERT_TRUE(certs_->remove(id_a));
  auto list = certs_->list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, id_c);
  EXPECT_TRUE((*list)[0].active);
}

TEST_F(CertStoreTest, ListAndInfoNeverCarryTheKey) {
  const auto rec = ec_record("a.example.com");
  const auto id = add(rec);
  add(ec_record("b.example.com"));
  // The key is in the database...
  EXPECT_EQ(raw_query("SELECT key_pem FROM certificates WHERE id = " + std::to_string(id)), key_of(rec));
  // ...but nothing that list()/get_info() return holds it, nor any private key.
  auto check = [&](const CertificateInfo& c) {
    for (const std::string* s : {&c.cert_pem, &c.chain_pem, &c.subject, &c.issuer, &c.common_name, &c.serial,
                                 &c.fingerprint_sha256, &c.key_type}) {
      EXPECT_EQ(s->find("PRIVATE KEY"), std::string::npos);
      EXPECT_EQ(s->find(key_of(rec).substr(30, 40)), std::string::npos);
    }
    EXPECT_EQ(export_public_pem(c).find("PRIVATE KEY"), std::string::npos);
  };
  auto list = certs_->list();
  ASSERT_TRUE(list);
  for (const auto& c : *list) check(c);
  check(*certs_->get_info(id));
  // A record is the public view plus exactly one string, the key.
  static_assert(sizeof(CertificateRecord) == sizeof(CertificateInfo) + sizeof(std::string));
}

TEST_F(CertStoreTest, ActiveWithKeyReturnsTheMatchingKey) {
  const auto rec = ec_record("a.example.com");
  const auto id = add(rec);
  auto active = certs_->active_with_key();
  ASSERT_TRUE(active) << active.error().message;
  ASSERT_TRUE(active->has_value());
  EXPECT_EQ((*active)->id, id);
  EXPECT_TRUE((*active)->active);
  EXPECT_EQ(key_of(**active), key_of(rec));
  auto k = read_key(key_of(**active));
  auto x = read_cert((*active)->cert_pem);
  ASSERT_TRUE(k && x);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x.get()), k.get()), 1);
}

TEST_F(CertStoreTest, AddChecksTheRecordAndRefusesDuplicates) {
  const auto a = ec_record("a.example.com");
  add(a);
  auto dup = certs_->add(a);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "this certificate is already stored as certificate 1");

  auto b = ec_record("b.example.com");
  detail::KeyAccess::set_key_pem(b, key_of(a));  // someone else's key
  auto bad = certs_->add(b);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "cannot store the certificate: the private key does not match the certificate");

  CertificateRecord empty;
  auto e = certs_->add(empty);
  ASSERT_FALSE(e);
  EXPECT_TRUE(e.error().message.starts_with("cannot store the certificate: certificate: not a PEM certificate"))
      << e.error().message;
  EXPECT_EQ(raw_query("SELECT count(*) FROM certificates"), "1");
}

TEST_F(CertStoreTest, ChainIsStoredAndReturned) {
  auto root = make_cert("Root CA", nullptr, true);
  auto leaf = make_cert("mail.example.com", &root, false);
  auto rec = import_pem(pem(leaf.cert.get()) + pem(root.cert.get()) + pkcs8_pem(leaf.key.get()));
  ASSERT_TRUE(rec) << rec.error().message;
  const auto id = add(*rec);
  auto info = certs_->get_info(id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->chain_pem, pem(root.cert.get()));
  EXPECT_EQ(info->issuer, "CN=Root CA");
}

TEST_F(CertStoreTest, UnreadableRowIsSkippedButRemovable) {
  add(ec_record("a.example.com"));
  ASSERT_EQ(raw_exec("INSERT INTO certificates(cert_pem, key_pem, created) VALUES('garbage', 'garbage', 0)"), SQLITE_OK);
  auto list = certs_->list();
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 1u);
  auto info = certs_->get_info(2);
  ASSERT_FALSE(info);
  EXPECT_TRUE(info.error().message.starts_with("certificate 2 cannot be read: not a PEM certificate"))
      << info.error().message;
  auto act = certs_->activate(2);
  ASSERT_FALSE(act);
  EXPECT_TRUE(act.error().message.starts_with("certificate 2 cannot be activated: certificate: not a PEM certificate"))
      << act.error().message;
  EXPECT_TRUE(certs_->remove(2));
}

TEST(CertStoreMigration, AppliesOnAnExistingVersion1Database) {
  TempDir dir;
  const auto path = dir.path() / "gatehouse.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, kSchemaV1, nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "INSERT INTO settings VALUES('smtp.max_recipients', '42')", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = config::Store::open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_GE(config::Store::latest_schema_version(), 2);
  EXPECT_EQ((*store)->schema_version(), config::Store::latest_schema_version());
  EXPECT_EQ(*(*store)->get("smtp.max_recipients"), "42");  // version-1 data kept
  CertStore certs(**store);
  auto list = certs.list();
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_TRUE(list->empty());
  auto id = certs.add(ec_record("mail.example.com"));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_TRUE(certs.get_info(*id)->active);
  // Reopening does not migrate again.
  store->reset();
  auto again = config::Store::open(path);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(CertStore(**again).list()->size(), 1u);
}
