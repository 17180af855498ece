// Tests for the file side of auth/psl: load_file() (caps and errors), ensure_installed() (first
// start copies the bundled list, later starts keep the installed one) and check_reload() (the
// PUBLICSUFFIX.SEM semaphore: reload, delete the semaphore, keep the old list on errors), each
// in its own temporary data directory. Also checks that GATEHOUSE_BUNDLED_PSL names the shipped
// list and that it is byte-identical to tests/data/auth/psl/public_suffix_list.dat.
// Must not: touch anything outside the temporary directories it creates (and removes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gatehouse/auth/psl.hpp"

namespace gatehouse::auth::psl {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gatehouse-psl-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kListA = "// ===BEGIN ICANN DOMAINS===\nco.uk\n// ===END ICANN DOMAINS===\n";
const std::string kListB = "// ===BEGIN ICANN DOMAINS===\nexample.co.uk\nco.uk\n// ===END ICANN DOMAINS===\n";

TEST(PslLoadFile, ReadsAndNamesTheFile) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  write(d.path() / "ok.dat", kListA);
  auto l = load_file(d.path() / "ok.dat");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->rule_count(), 1u);

  auto missing = load_file(d.path() / "missing.dat");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("missing.dat"));

  write(d.path() / "bad.dat", "com\nfoo..com\n");
  auto bad = load_file(d.path() / "bad.dat");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("bad.dat: line 2:"));

  {
    std::ofstream big(d.path() / "big.dat", std::ios::binary);
    big.seekp(static_cast<std::streamoff>(List::kMaxListSize));  // a sparse file one byte over the cap
    big.put('\n');
  }
  auto too_big = load_file(d.path() / "big.dat");
  ASSERT_FALSE(too_big);
  EXPECT_THAT(too_big.error().message, HasSubstr("larger than"));
}

TEST(PslEnsureInstalled, CopiesOnceThenKeepsTheInstalledList) {
  TempDir d;
  write(d.path() / "bundled.dat", kListA);
  fs::create_directory(d.path() / "data");
  const auto data = d.path() / "data";

  auto first = ensure_installed(data, d.path() / "bundled.dat");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_EQ(read(data / "effective_tld_names.dat"), kListA);

  write(data / "effective_tld_names.dat", kListB);  // the admin installed a newer list
  auto second = ensure_installed(data, d.path() / "bundled.dat");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(*second);
  EXPECT_EQ(read(data / "effective_tld_names.dat"), kListB);
}

TEST(PslEnsureInstalled, Errors) {
  TempDir d;
  auto no_bundle = ensure_installed(d.path(), d.path() / "none.dat");
  ASSERT_FALSE(no_bundle);
  EXPECT_THAT(no_bundle.error().message, HasSubstr("none.dat"));
  EXPECT_FALSE(fs::exists(d.path() / "effective_tld_names.dat"));

  write(d.path() / "bad.dat", "// ===BEGIN ICANN DOMAINS===\ncom\n");  // truncated
  auto bad = ensure_installed(d.path(), d.path() / "bad.dat");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("no END marker"));
  EXPECT_FALSE(fs::exists(d.path() / "effective_tld_names.dat"));

  auto no_dir = ensure_installed(d.path() / "nope", d.path() / "bad.dat");
  ASSERT_FALSE(no_dir);
  EXPECT_THAT(no_dir.error().message, HasSubstr("not a directory"));
}

TEST(PslCheckReload, NoSemaphoreNoReload) {
  TempDir d;
  write(d.path() / "effective_tld_names.dat", kListB);
  Holder h;
  EXPECT_FALSE(check_reload(d.path(), h).has_value());
  EXPECT_EQ(h.generation(), 0u);
}

TEST(PslCheckReload, ReloadsAndDeletesTheSemaphore) {
  TempDir d;
  write(d.path() / "effective_tld_names.dat", kListA);
  Holder h;
  ASSERT_TRUE(ensure_installed(d.path(), d.path() / "effective_tld_names.dat"));  // already there
  h.set(*load_file(d.path() / "effective_tld_names.dat"));
  EXPECT_EQ(h.get()->registrable_domain("www.example.co.uk"), "example.co.uk");

  write(d.path() / "effective_tld_names.dat", kListB);
  write(d.path() / "PUBLICSUFFIX.SEM", "");
  auto st = check_reload(d.path(), h);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(*st) << st->error().message;
  EXPECT_FALSE(fs::exists(d.path() / "PUBLICSUFFIX.SEM"));
  EXPECT_EQ(h.generation(), 2u);
  EXPECT_EQ(h.get()->registrable_domain("www.example.co.uk"), "www.example.co.uk");

  EXPECT_FALSE(check_reload(d.path(), h).has_value());  // once only
}

TEST(PslCheckReload, LowerCaseSemaphoreName) {
  TempDir d;
  write(d.path() / "effective_tld_names.dat", kListB);
  write(d.path() / "publicsuffix.sem", "");
  Holder h;
  auto st = check_reload(d.path(), h);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(*st);
  EXPECT_FALSE(fs::exists(d.path() / "publicsuffix.sem"));
  EXPECT_EQ(h.generation(), 1u);
}

TEST(PslCheckReload, BadListKeepsTheOldOneAndDeletesTheSemaphore) {
  TempDir d;
  Holder h(List::parse(kListA).value());
  write(d.path() / "effective_tld_names.dat", kListB.substr(0, kListB.size() - 30));  // truncated
  write(d.path() / "PUBLICSUFFIX.SEM", "");
  auto st = check_reload(d.path(), h);
  ASSERT_TRUE(st.has_value());
  ASSERT_FALSE(*st);
  EXPECT_THAT(st->error().message, HasSubstr("not reloaded, the current list stays"));
  EXPECT_THAT(st->error().message, HasSubstr("effective_tld_names.dat"));
  EXPECT_FALSE(fs::exists(d.path() / "PUBLICSUFFIX.SEM"));
  EXPECT_EQ(h.generation(), 0u);
  EXPECT_EQ(h.get()->registrable_domain("www.example.co.uk"), "example.co.uk");

  // A missing list file is an error too.
  fs::remove(d.path() / "effective_tld_names.dat");
  write(d.path() / "PUBLICSUFFIX.SEM", "");
  st = check_reload(d.path(), h);
  ASSERT_TRUE(st.has_value());
  EXPECT_FALSE(*st);
  EXPECT_FALSE(fs::exists(d.path() / "PUBLICSUFFIX.SEM"));
  EXPECT_EQ(h.generation(), 0u);
}

TEST(PslLoadInstalled, TheDataDirectoryListElseTheBundledOneWithTheReason) {
  TempDir d;
  auto missing = load_installed(d.path());
  EXPECT_THAT(missing.fallback, HasSubstr("does not exist"));
  EXPECT_GT(missing.list.rule_count(), 10000u);  // the bundled list

  write(d.path() / "effective_tld_names.dat", kListB);
  auto ok = load_installed(d.path());
  EXPECT_EQ(ok.fallback, "");
  EXPECT_LT(ok.list.rule_count(), 100u);

  write(d.path() / "effective_tld_names.dat", "// ===BEGIN ICANN DOMAINS===\ncom\n");  // truncated
  auto broken = load_installed(d.path());
  EXPECT_THAT(broken.fallback, HasSubstr("no END marker"));
  EXPECT_GT(broken.list.rule_count(), 10000u);
}

TEST(PslBundled, TheShippedListIsCompiledIn) {
  const std::string shipped(bundled_list());
  EXPECT_EQ(shipped, read(fs::path(GATEHOUSE_TEST_DATA) / "auth/psl/public_suffix_list.dat"));
  auto l = List::parse(shipped);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_GT(l->rule_count(), 10000u);

  TempDir d;
  auto installed = ensure_installed(d.path(), bundled_list());
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_TRUE(*installed);
  EXPECT_EQ(read(d.path() / "effective_tld_names.dat"), shipped);
  auto again = ensure_installed(d.path(), bundled_list());
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto bad = ensure_installed(d.path() / "sub", std::string_view("// ===BEGIN ICANN DOMAINS===\ncom\n"));
  ASSERT_FALSE(bad);
}

}  // namespace
}  // namespace gatehouse::auth::psl
