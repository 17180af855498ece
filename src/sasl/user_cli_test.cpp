// Unit tests for sasl::run_user_command (`gatehouse user ...`): exit codes, the list format,
// passwords from a file or standard input with one trailing line end stripped, one-line errors,
// usage errors, and that no output ever contains the password.
// Must not read from the terminal: standard input is replaced by a string buffer where used.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/sasl/user_cli.hpp"
#include "gatehouse/sasl/user_store.hpp"
#include "test_support.hpp"

using namespace gatehouse;
using namespace gatehouse::sasl;
using namespace gatehouse::sasl::test;

namespace {

struct CliResult {
  int rc;
  std::string out, err;
};

constexpr const char* kPassword = "tanstaaftanstaaf";

class UserCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::log::set_level("warn");
    auto s = config::Store::open(dir_.path() / "gatehouse.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override { core::log::set_level("info"); }

  CliResult run(std::vector<std::string> args, bool cram = false, const std::string* stdin_text = nullptr) {
    std::istringstream in(stdin_text ? *stdin_text : std::string());
    auto* old = std::cin.rdbuf();
    if (stdin_text) std::cin.rdbuf(in.rdbuf());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int rc = run_user_command(*store_, args, cram);
    CliResult r{rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
    std::cin.rdbuf(old);
    std::cin.clear();
    for (const auto& s : {r.out, r.err}) EXPECT_EQ(s.find(kPassword), std::string::npos) << s;
    return r;
  }

  AuthResult verify(const std::string& name, const std::string& pw) {
    UserStore users(*store_);
    auto r = users.verify(name, pw);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : AuthResult::bad_credentials;
  }

  TempDir dir_;
  std::unique_ptr<config::Store> store_;
};

}  // namespace

TEST_F(UserCliTest, AddListPasswdRemove) {
  const auto file = dir_.write("tim.pass", std::string(kPassword) + "\n");
  auto add = run({"add", "tim", "--password-file", file});
  EXPECT_EQ(add.rc, 0) << add.err;
  EXPECT_EQ(add.out, "");
  EXPECT_EQ(add.err, "");
  EXPECT_EQ(verify("tim", kPassword), AuthResult::ok);  // the line end was stripped

  const auto crlf = dir_.write("alice.pass", "alice-password\r\n");
  auto add2 = run({"add", "Alice@Example.org", "--password-file", crlf}, true);
  EXPECT_EQ(add2.rc, 0) << add2.err;
  EXPECT_EQ(add2.err,
            "gatehouse: a CRAM-MD5 secret is stored for user 'Alice@Example.org' because auth.cram_md5 is on (see the "
            "SMTP AUTH section of docs/encryption.md)\n");
  EXPECT_EQ(verify("alice@example.org", "alice-password"), AuthResult::ok);

  auto list = run({"list"});
  EXPECT_EQ(list.rc, 0);
  const auto lines = list.out;
  EXPECT_TRUE(lines.starts_with("alice@example.org\t")) << lines;
  EXPECT_NE(lines.find("\tcram-md5\ntim\t"), std::string::npos) << lines;
  EXPECT_TRUE(lines.ends_with("Z\t-\n")) << lines;
  EXPECT_EQ(lines.find("$scrypt$"), std::string::npos);

  const auto pw2 = dir_.write("new.pass", "another-password");  // no line end at all
  auto passwd = run({"passwd", "tim", "--password-file", pw2});
  EXPECT_EQ(passwd.rc, 0) << passwd.err;
  EXPECT_EQ(verify("tim", "another-password"), AuthResult::ok);
  EXPECT_EQ(verify("tim", kPassword), AuthResult::bad_credentials);

  auto rm = run({"remove", "tim"});
  EXPECT_EQ(rm.rc, 0) << rm.err;
  auto rm2 = run({"remove", "tim"});
  EXPECT_EQ(rm2.rc, 1);
  EXPECT_EQ(rm2.err, "gatehouse: error: user 'tim' does not exist\n");
  auto list2 = run({"list"});
  EXPECT_EQ(std::count(list2.out.begin(), list2.out.end(), '\n'), 1);
}

TEST_F(UserCliTest, PasswordFromStandardInput) {
  const std::string text = std::string(kPassword) + "\n";
  auto add = run({"add", "tim", "--password-file", "-"}, false, &text);
  EXPECT_EQ(add.rc, 0) << add.err;
  EXPECT_EQ(verify("tim", kPassword), AuthResult::ok);
}

TEST_F(UserCliTest, RefusalsAreOneLineAndExitOne) {
  const auto file = dir_.write("tim.pass", std::string(kPassword) + "\n");
  ASSERT_EQ(run({"add", "tim", "--password-file", file}).rc, 0);
  auto dup = run({"add", "TIM", "--password-file", file});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err, "gatehouse: error: user 'tim' already exists\n");
  auto unknown = run({"passwd", "bob", "--password-file", file});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_EQ(unknown.err, "gatehouse: error: user 'bob' does not exist\n");
  const auto empty = dir_.write("empty.pass", "\n");
  auto e = run({"add", "bob", "--password-file", empty});
  EXPECT_EQ(e.rc, 1);
  EXPECT_EQ(e.err, "gatehouse: error: --password-file '" + empty + "': the password is empty\n");
  const auto two_lines = dir_.write("two.pass", "first-line\nsecond-line\n");
  auto t = run({"add", "bob", "--password-file", two_lines});
  EXPECT_EQ(t.rc, 1);
  EXPECT_EQ(t.err, "gatehouse: error: password for user 'bob': contains a NUL or line break\n");
  const auto short_pw = dir_.write("short.pass", "abc\n");
  auto s = run({"add", "bob", "--password-file", short_pw});
  EXPECT_EQ(s.rc, 1);
  EXPECT_EQ(s.err, "gatehouse: error: password for user 'bob': shorter than 8 characters\n");
  auto missing = run({"add", "bob", "--password-file", (dir_.path() / "nope").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_TRUE(missing.err.starts_with("gatehouse: error: --password-file '")) << missing.err;
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos);
  const auto big = dir_.write("big.pass", std::string(5000, 'x'));
  auto b = run({"add", "bob", "--password-file", big});
  EXPECT_EQ(b.rc, 1);
  EXPECT_NE(b.err.find("larger than 4 KiB"), std::string::npos) << b.err;
  auto bad_name = run({"add", "bob smith", "--password-file", file});
  EXPECT_EQ(bad_name.rc, 1);
  EXPECT_EQ(bad_name.err, "gatehouse: error: user name 'bob smith': only letters, digits and . - _ @ + are allowed\n");
  for (const auto& r : {dup, unknown, e, t, s, missing, b, bad_name})
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(UserCliTest, UsageErrorsExitTwoAndNeverEchoAPassword) {
  const auto file = dir_.write("tim.pass", std::string(kPassword) + "\n");
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"add"},
      {"add", "tim"},
      {"add", "--password-file", file},
      {"add", "tim", kPassword},  // a password on the command line is refused without echo
      {"add", "tim", "--password", kPassword},
      {"add", "tim", "--password-file"},
      {"add", "tim", "--password-file", file, "--password-file", file},
      {"passwd", "tim"},
      {"remove"},
      {"remove", "tim", "tom"},
      {"list", "all"},
  };
  for (const auto& args : cases) {
    auto r = run(args);
    EXPECT_EQ(r.rc, 2) << (args.empty() ? "" : args[0]) << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("gatehouse: error: ")) << r.err;
    EXPECT_TRUE(r.err.ends_with("(run 'gatehouse --help' for usage)\n")) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto list = run({"list"});
  EXPECT_EQ(list.out, "");  // nothing was added by any of them
}
