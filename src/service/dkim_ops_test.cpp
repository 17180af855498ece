// dkim.* operations on a temporary configuration database: generation for local domains only,
// keys start disabled, replacement needs a new selector and turns signing off, results never
// carry the private key, and the snapshot the gateway reads gets the key and its state.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <unistd.h>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/service/dkim_ops.hpp"

using namespace gatehouse;

namespace {

class DkimOps : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("gh_dkimops_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto store = config::Store::open(db());
    ASSERT_TRUE(store);
    config::LocalDomain d;
    d.name = "example.com";
    d.mail_server = *core::HostPort::parse("127.0.0.1:2526");
    ASSERT_TRUE((*store)->add_domain(d));
    service::register_dkim_ops(reg, db());
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path db() const { return dir / "gatehouse.db"; }
  config::SettingsPtr snapshot() {
    auto store = config::Store::open(db());
    EXPECT_TRUE(store);
    auto s = (*store)->load_settings(1);
    EXPECT_TRUE(s);
    return *s;
  }
  std::string error_of(std::string_view method, const service::Params& p) {
    auto r = reg.call(method, p);
    return r ? std::string("(no error)") : r.error().message;
  }
  std::filesystem::path dir;
  service::Registry reg;
};

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

TEST_F(DkimOps, GenerateShowEnableDisableWithoutEverReturningTheKey) {
  auto gen = reg.call("dkim.generate", {{"domain", "Example.COM"}, {"selector", "Sel1"}});
  ASSERT_TRUE(gen) << gen.error().message;
  auto& o = gen->as_object();
  EXPECT_EQ(o.at("domain").as_string(), "example.com");
  EXPECT_EQ(o.at("selector").as_string(), "sel1");
  EXPECT_EQ(o.at("key_type").as_string(), "rsa");
  EXPECT_EQ(o.at("bits").to_number<unsigned>(), 2048u);
  EXPECT_FALSE(o.at("enabled").as_bool());
  EXPECT_EQ(o.at("dns_name").as_string(), "sel1._domainkey.example.com");
  std::string record(o.at("record").as_string());
  EXPECT_TRUE(record.starts_with("v=DKIM1; k=rsa; p=MII")) << record;
  auto text = boost::json::serialize(*gen);
  EXPECT_FALSE(contains(text, "PRIVATE")) << text;

  // The record parses as a DKIM key record (what a verifier will fetch).
  auto parsed = auth::dkim::parse_key_record(record);
  EXPECT_TRUE(parsed.ok()) << parsed.detail;

  // Disabled keys are in the snapshot but not used for signing.
  auto s = snapshot();
  ASSERT_EQ(s->dkim_keys.size(), 1u);
  EXPECT_FALSE(s->dkim_keys[0].enabled);
  EXPECT_TRUE(s->dkim_keys[0].private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
  EXPECT_EQ(s->signing_key("example.com"), nullptr);

  ASSERT_TRUE(reg.call("dkim.enable", {{"domain", "example.com"}}));
  s = snapshot();
  ASSERT_NE(s->signing_key("example.com"), nullptr);
  // The snapshot's key and the published record belong together.
  auto signer = auth::dkim::Signer::load(s->signing_key("example.com")->private_pem);
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->public_record(), record);

  auto show = reg.call("dkim.show", {{"domain", "example.com"}});
  ASSERT_TRUE(show);
  EXPECT_TRUE(show->as_object().at("enabled").as_bool());
  EXPECT_FALSE(contains(boost::json::serialize(*show), "PRIVATE"));
  auto list = reg.call("dkim.list", {});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->as_array().size(), 1u);
  EXPECT_FALSE(contains(boost::json::serialize(*list), "PRIVATE"));

  ASSERT_TRUE(reg.call("dkim.disable", {{"domain", "example.com"}}));
  EXPECT_EQ(snapshot()->signing_key("example.com"), nullptr);
}

TEST_F(DkimOps, Ed25519AndDefaultSelector) {
  auto gen = reg.call("dkim.generate", {{"domain", "example.com"}, {"key", "ed25519"}});
  ASSERT_TRUE(gen) << gen.error().message;
  auto& o = gen->as_object();
  EXPECT_EQ(o.at("key_type").as_string(), "ed25519");
  std::string sel(o.at("selector").as_string());
  EXPECT_EQ(sel.size(), 10u) << sel;  // gh + YYYYMMDD
  EXPECT_TRUE(sel.starts_with("gh")) << sel;
  EXPECT_TRUE(std::string(o.at("record").as_string()).starts_with("v=DKIM1; k=ed25519; p="));
}

TEST_F(DkimOps, RefusalsNameTheField) {
  EXPECT_TRUE(contains(error_of("dkim.generate", {{"domain", "other.example"}}), "not a local domain"));
  EXPECT_TRUE(contains(error_of("dkim.generate", {}), "'domain'"));
  EXPECT_TRUE(contains(error_of("dkim.generate", {{"domain", "example.com"}, {"key", "rsa:1024"}}), "key: 'rsa:1024'"));
  EXPECT_TRUE(contains(error_of("dkim.generate", {{"domain", "example.com"}, {"selector", "a_b"}}), "selector 'a_b'"));
  EXPECT_TRUE(contains(error_of("dkim.enable", {{"domain", "example.com"}}), "has no DKIM key"));
  EXPECT_TRUE(contains(error_of("dkim.show", {{"domain", "example.com"}}), "has no DKIM key"));

  ASSERT_TRUE(reg.call("dkim.generate", {{"domain", "example.com"}, {"selector", "one"}}));
  ASSERT_TRUE(reg.call("dkim.enable", {{"domain", "example.com"}}));
  EXPECT_TRUE(contains(error_of("dkim.generate", {{"domain", "example.com"}, {"selector", "two"}}), "--replace"));
  EXPECT_TRUE(contains(
      error_of("dkim.generate", {{"domain", "example.com"}, {"selector", "one"}, {"replace", true}}), "new selector"));

  // A replacement starts disabled: its record is not published yet.
  auto rep = reg.call("dkim.generate", {{"domain", "example.com"}, {"selector", "two"}, {"replace", true}});
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_FALSE(rep->as_object().at("enabled").as_bool());
  EXPECT_EQ(snapshot()->signing_key("example.com"), nullptr);

  ASSERT_TRUE(reg.call("dkim.delete", {{"domain", "example.com"}}));
  EXPECT_TRUE(snapshot()->dkim_keys.empty());
}

TEST(Selector, Syntax) {
  EXPECT_EQ(*service::normalize_selector(" Mail.2026 "), "mail.2026");
  EXPECT_FALSE(service::normalize_selector(""));
  EXPECT_FALSE(service::normalize_selector("a..b"));
  EXPECT_FALSE(service::normalize_selector("-a"));
  EXPECT_FALSE(service::normalize_selector(std::string(64, 'a')));
}

}  // namespace
