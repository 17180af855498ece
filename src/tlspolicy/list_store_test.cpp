// Unit tests for tlspolicy::ListStore (add, remove, show, duplicates, hand-edited rows,
// load_all) and for the config side of the feature: the tls.* and auth.* settings and the
// three lists round-trip through config::Store into the Settings snapshot. Each test uses a
// fresh database in its own temporary directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <sqlite3.h>
#include <unistd.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/tlspolicy/list_store.hpp"
#include "gatehouse/tlspolicy/policy.hpp"

using namespace gatehouse;
using namespace gatehouse::tlspolicy;
namespace fs = std::filesystem;

namespace {

class ListStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::log::set_level("warn");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("gatehouse_tlspolicy_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto s = config::Store::open(dir_ / "gatehouse.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
    core::log::set_level("info");
  }

  // A hand edit on the store's own connection (the CHECK on `list` still applies).
  void raw_insert(std::string_view list, std::string_view entry) {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(store_->db(), "INSERT INTO tls_lists(list, entry) VALUES(?1, ?2)", -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, list.data(), static_cast<int>(list.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, entry.data(), static_cast<int>(entry.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
  }

  std::vector<std::string> show(ListKind l) {
    ListStore ls(*store_);
    auto v = ls.show(l);
    EXPECT_TRUE(v) << v.error().message;
    return v ? *v : std::vector<std::string>{};
  }

  fs::path dir_;
  std::unique_ptr<config::Store> store_;
};

std::string error_of(const Status& s) { return s ? std::string() : s.error().message; }

}  // namespace

TEST_F(ListStoreTest, AddNormalisesAndShowSorts) {
  ListStore ls(*store_);
  auto e = ls.add(ListKind::starttls_whitelist, " .Legacy.Example ");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->text, "*.legacy.example");
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "192.0.2.0/24"));
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "MX.Plain.Example"));
  ASSERT_TRUE(ls.add(ListKind::starttls_required, "2001:DB8::25"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, "Jane@Partner.Example"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, "partner.example"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, ""));
  EXPECT_EQ(show(ListKind::starttls_whitelist),
            (std::vector<std::string>{"*.legacy.example", "192.0.2.0/24", "mx.plain.example"}));
  EXPECT_EQ(show(ListKind::starttls_required), (std::vector<std::string>{"2001:db8::25"}));
  EXPECT_EQ(show(ListKind::tls_domains), (std::vector<std::string>{"", "Jane@partner.example", "partner.example"}));
}

TEST_F(ListStoreTest, AddRefusesInvalidEntriesAndDuplicates) {
  ListStore ls(*store_);
  auto bad = ls.add(ListKind::starttls_required, "not a host");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("starttls-required: 'not a host': ")) << bad.error().message;
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "192.0.2.7"));
  auto dup = ls.add(ListKind::starttls_whitelist, "192.0.2.7/32");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "starttls-whitelist: '192.0.2.7' is already in the list");
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "*.example.com"));
  EXPECT_FALSE(ls.add(ListKind::starttls_whitelist, ".EXAMPLE.com"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, ""));
  auto dup_empty = ls.add(ListKind::tls_domains, "  ");
  ASSERT_FALSE(dup_empty);
  EXPECT_EQ(dup_empty.error().message, "tls-domains: '' is already in the list");
  // The same text on another list is fine.
  EXPECT_TRUE(ls.add(ListKind::starttls_required, "192.0.2.7"));
  // A hand-edited row in another spelling still counts as a duplicate.
  raw_insert("tls-domains", "Partner.Example");
  auto dup_hand = ls.add(ListKind::tls_domains, "partner.example");
  ASSERT_FALSE(dup_hand);
  EXPECT_EQ(dup_hand.error().message, "tls-domains: 'partner.example' is already in the list");
}

TEST_F(ListStoreTest, RemoveNormalisesAndRefusesAbsentEntries) {
  ListStore ls(*store_);
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "192.0.2.7"));
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "*.example.com"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, ""));
  EXPECT_TRUE(ls.remove(ListKind::starttls_whitelist, "192.0.2.7/32"));
  EXPECT_TRUE(ls.remove(ListKind::starttls_whitelist, ".Example.COM"));
  EXPECT_TRUE(show(ListKind::starttls_whitelist).empty());
  EXPECT_EQ(error_of(ls.remove(ListKind::starttls_whitelist, "192.0.2.7")),
            "starttls-whitelist: '192.0.2.7' is not in the list");
  EXPECT_EQ(error_of(ls.remove(ListKind::starttls_required, "mx.example.net")),
            "starttls-required: 'mx.example.net' is not in the list");
  // Invalid and absent: the validation error says why.
  EXPECT_TRUE(error_of(ls.remove(ListKind::starttls_required, "bad host")).starts_with("starttls-required: 'bad host': "));
  EXPECT_TRUE(ls.remove(ListKind::tls_domains, ""));
  EXPECT_EQ(error_of(ls.remove(ListKind::tls_domains, "")), "tls-domains: '' is not in the list");
  // Hand-edited rows: an unparsable one by its exact text, an odd spelling by its meaning.
  raw_insert("starttls-required", "bad host");
  raw_insert("tls-domains", "Partner.Example.");
  EXPECT_TRUE(ls.remove(ListKind::starttls_required, "bad host"));
  EXPECT_TRUE(ls.remove(ListKind::tls_domains, "partner.example"));
  EXPECT_TRUE(show(ListKind::starttls_required).empty());
  EXPECT_TRUE(show(ListKind::tls_domains).empty());
}

TEST_F(ListStoreTest, LoadAllSkipsBadRows) {
  ListStore ls(*store_);
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "192.0.2.0/24"));
  ASSERT_TRUE(ls.add(ListKind::starttls_required, "mx.bank.example"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, "partner.example"));
  raw_insert("starttls-whitelist", "not a host");
  auto lists = ls.load_all();
  ASSERT_TRUE(lists) << lists.error().message;
  EXPECT_EQ(lists->entries(ListKind::starttls_whitelist).size(), 1u);
  EXPECT_TRUE(lists->whitelisted("", core::IpAddress::parse("192.0.2.1")));
  EXPECT_TRUE(lists->required("mx.bank.example", std::nullopt));
  EXPECT_TRUE(lists->enforced_for("a@partner.example"));
}

TEST_F(ListStoreTest, SnapshotCarriesTheLists) {
  ListStore ls(*store_);
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "mx.plain.example"));
  ASSERT_TRUE(ls.add(ListKind::starttls_whitelist, "192.0.2.0/24"));
  ASSERT_TRUE(ls.add(ListKind::starttls_required, "mx.bank.example"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, "partner.example"));
  ASSERT_TRUE(ls.add(ListKind::tls_domains, ""));
  auto snap = store_->load_settings(7);
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ((*snap)->tls_starttls_whitelist, (std::vector<std::string>{"192.0.2.0/24", "mx.plain.example"}));
  EXPECT_EQ((*snap)->tls_starttls_required, (std::vector<std::string>{"mx.bank.example"}));
  EXPECT_EQ((*snap)->tls_enforced_domains, (std::vector<std::string>{"", "partner.example"}));
  std::vector<Error> skipped;
  auto lists = TlsLists::from_settings(**snap, &skipped);
  EXPECT_TRUE(skipped.empty());
  EXPECT_TRUE(lists.whitelisted("MX.plain.example", std::nullopt));
  EXPECT_TRUE(lists.enforced_for("anyone@example.org"));
}

TEST_F(ListStoreTest, TlsAndAuthSettingsRoundTripThroughTheStore) {
  // Defaults first.
  auto snap = store_->load_settings(1);
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_FALSE((*snap)->tls_enabled);
  EXPECT_FALSE((*snap)->tls_outbound_starttls);
  EXPECT_TRUE((*snap)->tls_fallback_to_plain);
  EXPECT_EQ((*snap)->tls_min_protocol, "TLSv1.2");
  EXPECT_EQ((*snap)->tls_min_cipher_bits, 112u);
  EXPECT_EQ(*store_->get("tls.fallback_to_plain"), "on");
  EXPECT_EQ(*store_->get("auth.max_failures"), "5");

  const std::vector<std::pair<std::string, std::string>> set = {
      {"tls.enabled", "yes"},          {"tls.outbound_starttls", "true"},
      {"tls.fallback_to_plain", "0"},  {"tls.min_protocol", "tlsv1.3"},
      {"tls.ciphers", "HIGH, !aNULL"}, {"tls.min_cipher_bits", "128"},
      {"auth.cram_md5", "ON"},         {"auth.allow_plaintext", "on"},
      {"auth.max_failures", "10"},     {"auth.failure_window", "900"}};
  for (const auto& [k, v] : set) ASSERT_TRUE(store_->set(k, v)) << k;
  EXPECT_EQ(*store_->get("tls.enabled"), "on");
  EXPECT_EQ(*store_->get("tls.fallback_to_plain"), "off");
  EXPECT_EQ(*store_->get("tls.min_protocol"), "TLSv1.3");
  EXPECT_EQ(*store_->get("tls.ciphers"), "HIGH:!aNULL");
  EXPECT_FALSE(store_->set("tls.min_protocol", "TLSv1.0"));
  EXPECT_FALSE(store_->set("tls.enabled", "sometimes"));

  snap = store_->load_settings(2);
  ASSERT_TRUE(snap) << snap.error().message;
  const auto& s = **snap;
  EXPECT_TRUE(s.tls_enabled);
  EXPECT_TRUE(s.tls_outbound_starttls);
  EXPECT_FALSE(s.tls_fallback_to_plain);
  EXPECT_EQ(s.tls_min_protocol, "TLSv1.3");
  EXPECT_EQ(s.tls_ciphers, "HIGH:!aNULL");
  EXPECT_EQ(s.tls_min_cipher_bits, 128u);
  EXPECT_TRUE(s.auth_cram_md5);
  EXPECT_TRUE(s.auth_allow_plaintext);
  EXPECT_EQ(s.auth_max_failures, 10u);
  EXPECT_EQ(s.auth_failure_window, std::chrono::seconds(900));
  auto o = OutboundOptions::from_settings(s);
  EXPECT_TRUE(o.outbound_starttls);
  EXPECT_FALSE(o.fallback_to_plain);
  EXPECT_EQ(o.min_cipher_bits, 128u);

  ASSERT_TRUE(store_->unset("tls.fallback_to_plain"));
  snap = store_->load_settings(3);
  ASSERT_TRUE(snap);
  EXPECT_TRUE((*snap)->tls_fallback_to_plain);
}
