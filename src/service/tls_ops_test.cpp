#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <unistd.h>

#include "gatehouse/service/tls_ops.hpp"

using namespace gatehouse;

class TlsOps : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("gh_tlsops_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    service::register_tls_ops(reg, dir / "gatehouse.db");
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  service::Registry reg;
};

TEST_F(TlsOps, CertificatesNeverCarryKeys) {
  auto id = reg.call("cert.create", {{"host", "mail.example.com"}, {"org", "Example"}, {"key", "ec:p256"}});
  ASSERT_TRUE(id) << id.error().message;
  auto list = reg.call("cert.list", {});
  ASSERT_TRUE(list);
  auto text = boost::json::serialize(*list);
  EXPECT_NE(text.find("mail.example.com"), std::string::npos);
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
  auto pem = reg.call("cert.export", {{"id", id->as_int64()}});
  ASSERT_TRUE(pem);
  EXPECT_NE(std::string(pem->as_string()).find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(std::string(pem->as_string()).find("PRIVATE"), std::string::npos);
  auto del = reg.call("cert.delete", {{"id", id->as_int64()}});
  ASSERT_FALSE(del);  // the active one
  EXPECT_NE(del.error().message.find("active"), std::string::npos);
  auto bad = reg.call("cert.create", {{"host", "mail.example.com"}, {"org", "X"}, {"country", "UK"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("country"), std::string::npos);
}

TEST_F(TlsOps, ListsAndUsers) {
  ASSERT_TRUE(reg.call("tls.list.add", {{"list", "tls-domains"}, {"entry", "Partner.Example"}}));
  auto show = reg.call("tls.list.show", {{"list", "tls-domains"}});
  ASSERT_TRUE(show);
  EXPECT_EQ(boost::json::serialize(*show), "[\"partner.example\"]");
  auto wrong = reg.call("tls.list.add", {{"list", "nope"}, {"entry", "x"}});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("'list'"), std::string::npos);
  ASSERT_TRUE(reg.call("user.add", {{"name", "alice"}, {"password", "correct horse"}}));
  auto users = reg.call("user.list", {});
  ASSERT_TRUE(users);
  auto text = boost::json::serialize(*users);
  EXPECT_NE(text.find("alice"), std::string::npos);
  EXPECT_EQ(text.find("scrypt"), std::string::npos);
  EXPECT_EQ(text.find("correct horse"), std::string::npos);
  ASSERT_TRUE(reg.call("user.remove", {{"name", "alice"}}));
  EXPECT_FALSE(reg.call("user.remove", {{"name", "alice"}}));
}
