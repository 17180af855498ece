// Unit tests for sasl::UserStore on a real configuration database in a temporary directory:
// add/passwd/remove/list with their refusals, name and password rules, what is stored (a salted
// scrypt hash, the CRAM-MD5 secret only when enabled, never the password), verify and
// verify_cram (RFC 2195 example) including a tampered hash row. Must not share a database.
#include <gtest/gtest.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/sasl/user_store.hpp"
#include "test_support.hpp"

using namespace gatehouse;
using namespace gatehouse::sasl;
using namespace gatehouse::sasl::test;

namespace {

constexpr const char* kChallenge = "<1896.697170952@postoffice.reston.mci.net>";
constexpr const char* kDigest = "b913a602c7eda7a495b4e6e7334d3890";

std::string error_of(const Status& s) { return s ? std::string() : s.error().message; }

class UserStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::log::set_level("warn");
    auto s = config::Store::open(db_path());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    users_ = std::make_unique<UserStore>(*store_, clock_);
  }
  void TearDown() override { core::log::set_level("info"); }

  std::filesystem::path db_path() const { return dir_.path() / "gatehouse.db"; }
  std::string column(const std::string& col, const std::string& name) {
    return raw_query(db_path(), "SELECT " + col + " FROM users WHERE name = '" + name + "'");
  }

  TempDir dir_;
  core::ManualClock clock_{core::from_unix(1'800'000'000)};
  std::unique_ptr<config::Store> store_;
  std::unique_ptr<UserStore> users_;
};

}  // namespace

TEST_F(UserStoreTest, AddListPasswdRemove) {
  ASSERT_TRUE(users_->add("Tim", "tanstaaftanstaaf", false));
  clock_.advance(std::chrono::seconds(60));
  ASSERT_TRUE(users_->add("alice@example.org", "alice-password", true));
  auto all = users_->list();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alice@example.org");
  EXPECT_EQ((*all)[0].created, 1'800'000'060);
  EXPECT_TRUE((*all)[0].cram_md5);
  EXPECT_EQ((*all)[1].name, "tim");  // lower case
  EXPECT_EQ((*all)[1].created, 1'800'000'000);
  EXPECT_FALSE((*all)[1].cram_md5);

  EXPECT_EQ(error_of(users_->add("TIM", "another-password", false)), "user 'tim' already exists");
  EXPECT_EQ(error_of(users_->passwd("bob", "another-password", false)), "user 'bob' does not exist");
  EXPECT_EQ(error_of(users_->remove("bob")), "user 'bob' does not exist");

  ASSERT_TRUE(users_->passwd("tim", "a-new-password", true));
  all = users_->list();
  ASSERT_TRUE(all);
  EXPECT_TRUE((*all)[1].cram_md5);
  EXPECT_EQ((*all)[1].created, 1'800'000'000);  // unchanged by passwd
  auto old_pw = users_->verify("tim", "tanstaaftanstaaf");
  ASSERT_TRUE(old_pw);
  EXPECT_EQ(*old_pw, AuthResult::bad_credentials);
  auto new_pw = users_->verify("tim", "a-new-password");
  ASSERT_TRUE(new_pw);
  EXPECT_EQ(*new_pw, AuthResult::ok);

  ASSERT_TRUE(users_->remove("TIM"));
  all = users_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(error_of(users_->remove("tim")), "user 'tim' does not exist");
  auto gone = users_->verify("tim", "a-new-password");
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, AuthResult::unknown_user);
}

TEST_F(UserStoreTest, NameAndPasswordRules) {
  EXPECT_EQ(error_of(users_->add("", "long-enough", false)), "user name is empty");
  EXPECT_EQ(error_of(users_->add("tim smith", "long-enough", false)),
            "user name 'tim smith': only letters, digits and . - _ @ + are allowed");
  EXPECT_EQ(error_of(users_->add("tim\nx", "long-enough", false)),
            "user name 'tim?x': only letters, digits and . - _ @ + are allowed");
  EXPECT_EQ(error_of(users_->add(".tim", "long-enough", false)), "user name '.tim': must start with a letter or digit");
  EXPECT_NE(error_of(users_->add(std::string(129, 'a'), "long-enough", false)).find("longer than 128 characters"),
            std::string::npos);
  EXPECT_TRUE(users_->add(std::string(128, 'a'), "long-enough", false));
  EXPECT_EQ(error_of(users_->add("tim", "", false)), "password for user 'tim': empty");
  EXPECT_EQ(error_of(users_->add("tim", "short", false)), "password for user 'tim': shorter than 8 characters");
  EXPECT_EQ(error_of(users_->add("tim", std::string(256, 'p'), false)),
            "password for user 'tim': longer than 255 bytes (the SASL PLAIN limit)");
  EXPECT_EQ(error_of(users_->add("tim", "line\nbreak", false)), "password for user 'tim': contains a NUL or line break");
  EXPECT_EQ(error_of(users_->add("tim", std::string("nul\0inside", 10), false)),
            "password for user 'tim': contains a NUL or line break");
  EXPECT_EQ(error_of(users_->passwd("tim", "short", false)), "password for user 'tim': shorter than 8 characters");
  EXPECT_TRUE(users_->add("t.i-m_1+x@example.org", std::string(255, 'p'), false));
  auto all = users_->list();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);  // nothing refused was stored
}

TEST_F(UserStoreTest, OnlySaltedHashesAreStored) {
  ASSERT_TRUE(users_->add("tim", "tanstaaftanstaaf", false));
  ASSERT_TRUE(users_->add("tom", "tanstaaftanstaaf", false));
  const std::string h1 = column("password_hash", "tim"), h2 = column("password_hash", "tom");
  EXPECT_TRUE(h1.starts_with("$scrypt$ln=15,r=8,p=1$")) << h1;
  EXPECT_NE(h1, h2);  // same password, different salt
  EXPECT_EQ(h1.find("tanstaaf"), std::string::npos);
  EXPECT_EQ(column("cram_secret", "tim"), "");  // CRAM-MD5 off: no secret
  ASSERT_TRUE(users_->passwd("tim", "tanstaaftanstaaf", true));
  EXPECT_TRUE(column("cram_secret", "tim").starts_with("$cram-md5$"));
  ASSERT_TRUE(users_->passwd("tim", "tanstaaftanstaaf", false));  // turned off again: removed
  EXPECT_EQ(column("cram_secret", "tim"), "");
}

TEST_F(UserStoreTest, Verify) {
  ASSERT_TRUE(users_->add("tim", "tanstaaftanstaaf", false));
  auto ok = users_->verify("tim", "tanstaaftanstaaf");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, AuthResult::ok);
  auto upper = users_->verify("TIM", "tanstaaftanstaaf");  // names are case-insensitive
  ASSERT_TRUE(upper);
  EXPECT_EQ(*upper, AuthResult::ok);
  auto wrong = users_->verify("tim", "tanstaaftanstaaF");  // passwords are not
  ASSERT_TRUE(wrong);
  EXPECT_EQ(*wrong, AuthResult::bad_credentials);
  for (const char* unknown : {"bob", "", "bad name", "tim\r\n"}) {
    auto r = users_->verify(unknown, "tanstaaftanstaaf");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, AuthResult::unknown_user) << unknown;
  }
  EXPECT_STREQ(to_string(AuthResult::bad_credentials), "bad-credentials");
}

TEST_F(UserStoreTest, VerifyCramRfc2195Example) {
  ASSERT_TRUE(users_->add("tim", "tanstaaftanstaaf", true));
  auto ok = users_->verify_cram("tim", kChallenge, kDigest);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, AuthResult::ok);
  auto wrong = users_->verify_cram("tim", kChallenge, "b913a602c7eda7a495b4e6e7334d3891");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(*wrong, AuthResult::bad_credentials);
  auto replay = users_->verify_cram("tim", "<1896.697170953@postoffice.reston.mci.net>", kDigest);
  ASSERT_TRUE(replay);
  EXPECT_EQ(*replay, AuthResult::bad_credentials);
  auto unknown = users_->verify_cram("bob", kChallenge, kDigest);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(*unknown, AuthResult::unknown_user);
  ASSERT_TRUE(users_->add("tom", "tanstaaftanstaaf", false));
  auto no_secret = users_->verify_cram("tom", kChallenge, kDigest);
  ASSERT_TRUE(no_secret);
  EXPECT_EQ(*no_secret, AuthResult::no_cram_secret);
}

TEST_F(UserStoreTest, TamperedRowsAreErrorsNamingTheUser) {
  ASSERT_TRUE(users_->add("tim", "tanstaaftanstaaf", true));
  ASSERT_EQ(raw_exec(db_path(), "UPDATE users SET password_hash = 'tanstaaftanstaaf', cram_secret = '$cram-md5$00' "
                                "WHERE name = 'tim'"),
            SQLITE_OK);
  auto r = users_->verify("tim", "tanstaaftanstaaf");  // a clear-text "hash" never matches
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "user 'tim': the stored password hash is malformed (set the password again: gatehouse user passwd tim "
            "--password-file FILE)");
  auto c = users_->verify_cram("tim", kChallenge, kDigest);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("user 'tim': the stored CRAM-MD5 secret is malformed"), std::string::npos);
}
