// Unit tests for tlspolicy::run_list_command (`gatehouse list ...`): exit codes (0, 1 refused,
// 2 usage), the show format, the "stored as" note, one-line errors. Each test uses a fresh
// database in its own temporary directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/tlspolicy/list_cli.hpp"

using namespace gatehouse;
using namespace gatehouse::tlspolicy;
namespace fs = std::filesystem;

namespace {

struct CliResult {
  int rc;
  std::string out, err;
};

class ListCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::log::set_level("warn");  // keep the store's info lines off the captured stderr
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("gatehouse_tlscli_" + std::to_string(::getpid()) + "_" + info->name());
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

  CliResult run(std::vector<std::string> args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int rc = run_list_command(*store_, args);
    CliResult r{rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
    return r;
  }

  fs::path dir_;
  std::unique_ptr<config::Store> store_;
};

}  // namespace

TEST_F(ListCliTest, AddShowRemove) {
  auto r = run({"add", "starttls-whitelist", "mx.plain.example"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  r = run({"add", "starttls-whitelist", ".Legacy.Example"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "gatehouse: stored as '*.legacy.example'\n");
  r = run({"add", "tls-domains", ""});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.err.find("every recipient") != std::string::npos) << r.err;
  EXPECT_EQ(run({"add", "tls-domains", "partner.example"}).rc, 0);

  r = run({"show", "starttls-whitelist"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "*.legacy.example\nmx.plain.example\n");
  r = run({"show", "tls-domains"});
  EXPECT_EQ(r.out, "\"\"\npartner.example\n");
  r = run({"show", "starttls-required"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "");

  EXPECT_EQ(run({"remove", "starttls-whitelist", "*.legacy.example"}).rc, 0);
  EXPECT_EQ(run({"remove", "tls-domains", ""}).rc, 0);
  EXPECT_EQ(run({"show", "starttls-whitelist"}).out, "mx.plain.example\n");
  EXPECT_EQ(run({"show", "tls-domains"}).out, "partner.example\n");
}

TEST_F(ListCliTest, RefusalsExitOneWithOneLine) {
  auto r = run({"add", "starttls-required", "bad host"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(r.err.starts_with("gatehouse: error: starttls-required: 'bad host': ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  ASSERT_EQ(run({"add", "starttls-required", "192.0.2.7"}).rc, 0);
  r = run({"add", "starttls-required", "192.0.2.7/32"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "gatehouse: error: starttls-required: '192.0.2.7' is already in the list\n");
  r = run({"remove", "starttls-whitelist", "192.0.2.7"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "gatehouse: error: starttls-whitelist: '192.0.2.7' is not in the list\n");
  r = run({"add", "tls-domains", "a\nb.example"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(ListCliTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"list"},
           {"add"},
           {"add", "whitelist", "x.example"},
           {"add", "starttls-whitelist"},
           {"add", "starttls-whitelist", "a.example", "b.example"},
           {"remove", "tls-domains"},
           {"show"},
           {"show", "tls-domains", "partner.example"},
           {"show", "nope"}}) {
    auto r = run(args);
    EXPECT_EQ(r.rc, 2) << ::testing::PrintToString(args);
    EXPECT_TRUE(r.err.starts_with("gatehouse: error: ")) << r.err;
    EXPECT_TRUE(r.err.find("(run 'gatehouse --help' for usage)") != std::string::npos) << r.err;
  }
  auto r = run({"add", "whitelist", "x.example"});
  EXPECT_TRUE(r.err.find("unknown list 'whitelist'; expected starttls-whitelist, starttls-required or tls-domains") !=
              std::string::npos)
      << r.err;
}
