// Unit tests for tls::run_cert_command (`gatehouse cert ...`): exit codes, the id on the last
// line of create/import, the list format, export without the key, one-line errors.
// Must not read from the terminal: every password comes from a file in a temporary directory.
#include <gtest/gtest.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/tls/cert_cli.hpp"
#include "test_support.hpp"

using namespace gatehouse;
using namespace gatehouse::tls;
using namespace gatehouse::tls::test;

namespace {

struct CliResult {
  int rc;
  std::string out, err;
};

class CertCliTest : public ::testing::Test {
 protected:
  // Only the command's own output on stderr: the store's info log lines (cert_added ...) go to
  // the same stream when no log file is set up.
  void SetUp() override {
    core::log::set_level("warn");
    auto s = config::Store::open(dir_.path() / "gatehouse.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override { core::log::set_level("info"); }

  CliResult run(std::vector<std::string> args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int rc = run_cert_command(*store_, args);
    CliResult r{rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
    return r;
  }

  static std::string last_line(const std::string& s) {
    auto lines = core::split(s, '\n');
    return lines.empty() ? std::string() : lines.back();
  }

  std::string create(const std::string& host) {
    auto r = run({"create", "--host", host, "--org", "Example Ltd", "--key", "ec:p256"});
    EXPECT_EQ(r.rc, 0) << r.err;
    return last_line(r.out);
  }

  TempDir dir_;
  std::unique_ptr<config::Store> store_;
};

}  // namespace

TEST_F(CertCliTest, CreatePrintsTheIdOnItsOwnLastLine) {
  auto r = run({"create", "--host", "mail.example.com", "--org", "Example Ltd", "--alt", "*.example.com,192.0.2.1",
                "--country", "GB"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "1");
  EXPECT_NE(r.out.find("subject:     CN=mail.example.com,O=Example Ltd,C=GB\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alt names:   mail.example.com, *.example.com, 192.0.2.1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key:         RSA 2048\n"), std::string::npos) << r.out;  // the default
  EXPECT_NE(r.out.find("active:      yes\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(self-signed)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(r.err, "");
  // The second one is not active, and the hint says how to activate it.
  auto r2 = run({"create", "--host", "mx2.example.com", "--org", "Example Ltd", "--key", "ec:p256", "--days", "90"});
  ASSERT_EQ(r2.rc, 0) << r2.err;
  EXPECT_EQ(last_line(r2.out), "2");
  EXPECT_EQ(r2.err, "gatehouse: certificate 2 is not active; to use it: gatehouse cert activate 2\n");
}

TEST_F(CertCliTest, UsageAndValidationErrors) {
  auto bad_country = run({"create", "--host", "mail.example.com", "--org", "X", "--country", "UK"});
  EXPECT_EQ(bad_country.rc, 1);
  EXPECT_EQ(bad_country.err, "gatehouse: error: --country 'UK': not an ISO 3166 two-letter code (did you mean GB?)\n");
  EXPECT_EQ(bad_country.out, "");
  auto bad_days = run({"create", "--host", "mail.example.com", "--org", "X", "--days", "ten"});
  EXPECT_EQ(bad_days.rc, 1);
  EXPECT_EQ(bad_days.err, "gatehouse: error: --days 'ten': must be a whole number of days from 1 to 3650\n");

  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"create", "--org", "X"},
           {"create", "--host", "h.example.com"},
           {"create", "--host", "h.example.com", "--org", "X", "--colour", "red"},
           {"create", "--host"},
           {"create", "--host", "a.example.com", "--host", "b.example.com", "--org", "X"},
           {"import"},
           {"import", "--pem", "a", "--pfx", "b"},
           {"list", "extra"},
           {"show"},
           {"show", "abc"},
           {"delete", "0"},
           {"activate", "1", "2"}}) {
    auto r = run(args);
    EXPECT_EQ(r.rc, 2) << (args.empty() ? "" : args[0]) << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("gatehouse: error: ")) << r.err;
    EXPECT_TRUE(r.err.ends_with("\n(run 'gatehouse --help' for usage)\n")) << r.err;
  }
  EXPECT_EQ(run({"show", "abc"}).err,
            "gatehouse: error: cert show: 'abc' is not a certificate id (see 'gatehouse cert list')\n"
            "(run 'gatehouse --help' for usage)\n");
  auto missing = run({"show", "9"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "gatehouse: error: certificate 9 does not exist\n");
}

TEST_F(CertCliTest, ListShowExportActivateDelete) {
  EXPECT_EQ(run({"list"}).out, "");
  const auto a = create("a.example.com");
  const auto b = create("b.example.com");
  ASSERT_EQ(a, "1");
  ASSERT_EQ(b, "2");

  auto list = run({"list"});
  ASSERT_EQ(list.rc, 0) << list.err;
  auto lines = core::split(list.out, '\n');
  ASSERT_EQ(lines.size(), 2u);
  auto f1 = core::split(lines[0], '\t', false), f2 = core::split(lines[1], '\t', false);
  ASSERT_EQ(f1.size(), 6u) << lines[0];
  EXPECT_EQ(f1[0], "1");
  EXPECT_EQ(f1[1], "*");
  EXPECT_EQ(f1[2], "CN=a.example.com,O=Example Ltd");
  EXPECT_EQ(f1[3], "a.example.com");
  EXPECT_EQ(f1[4].size(), 20u);  // 2027-01-15T08:00:00Z
  EXPECT_TRUE(f1[4].ends_with("Z"));
  EXPECT_EQ(f1[5].size(), 95u);  // 32 hex pairs with colons
  EXPECT_EQ(f2[0], "2");
  EXPECT_EQ(f2[1], "-");

  auto show = run({"show", "2"});
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_TRUE(show.out.starts_with("id:          2\nactive:      no\nsubject:     CN=b.example.com,O=Example Ltd\n"))
      << show.out;
  EXPECT_NE(show.out.find("sha256:      " + f2[5] + "\n"), std::string::npos);

  auto exported = run({"export", "1"});
  ASSERT_EQ(exported.rc, 0) << exported.err;
  EXPECT_TRUE(exported.out.starts_with("-----BEGIN CERTIFICATE-----\n"));
  EXPECT_EQ(exported.out.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(subjects(exported.out), std::vector<std::string>{"/O=Example Ltd/CN=a.example.com"});

  auto del_active = run({"delete", "1"});
  EXPECT_EQ(del_active.rc, 1);
  EXPECT_EQ(del_active.err, "gatehouse: error: certificate 1 is active; activate another one first\n");
  EXPECT_EQ(run({"activate", "2"}).rc, 0);
  auto del = run({"delete", "1"});
  EXPECT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out, "");
  lines = core::split(run({"list"}).out, '\n');
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("2\t*\t")) << lines[0];
}

TEST_F(CertCliTest, ImportPemAndPfx) {
  auto root = make_cert("Root CA", nullptr, true);
  auto leaf = make_cert("mail.example.com", &root, false);
  const auto pem_file =
      dir_.write("mail.pem", pem(root.cert.get()) + pem(leaf.cert.get()) + encrypted_pkcs8_pem(leaf.key.get(), "pw1"));
  const auto pw_file = dir_.write("pw.txt", "pw1\n");
  const auto wrong_file = dir_.write("wrong.txt", "nope\n");

  auto no_pw = run({"import", "--pem", pem_file});
  EXPECT_EQ(no_pw.rc, 1);
  EXPECT_EQ(no_pw.err, "gatehouse: error: --pem '" + pem_file +
                           "': the private key is encrypted: give its password (--password-file FILE), or decrypt "
                           "it first\n");
  auto ok = run({"import", "--pem", pem_file, "--password-file", pw_file});
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(last_line(ok.out), "1");
  EXPECT_NE(ok.out.find("chain:       1 certificate\n             CN=Root CA\n"), std::string::npos) << ok.out;
  auto again = run({"import", "--pem", pem_file, "--password-file", pw_file});
  EXPECT_EQ(again.rc, 1);
  EXPECT_EQ(again.err, "gatehouse: error: this certificate is already stored as certificate 1\n");

  auto other = make_cert("other.example.com", nullptr, false);
  const auto pfx_file = dir_.write("other.pfx", pfx("pw1", other.key.get(), other.cert.get(), {}));
  auto wrong = run({"import", "--pfx", pfx_file, "--password-file", wrong_file});
  EXPECT_EQ(wrong.rc, 1);
  EXPECT_EQ(wrong.err, "gatehouse: error: --pfx '" + pfx_file + "': wrong password for the PKCS#12 file\n");
  auto pfx_ok = run({"import", "--pfx", pfx_file, "--password-file", pw_file});
  ASSERT_EQ(pfx_ok.rc, 0) << pfx_ok.err;
  EXPECT_EQ(last_line(pfx_ok.out), "2");

  auto missing = run({"import", "--pem", (dir_.path() / "nope.pem").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err,
            "gatehouse: error: --pem '" + (dir_.path() / "nope.pem").string() + "': cannot open: No such file or directory\n");
}
