// Unit tests for psl::List beyond the official suite: the parser (comments, whitespace, CRLF,
// sections and their markers, wildcards, exceptions, UTF-8 rules, every error), lookups with
// the section flag and LookupOptions, input forms (case, trailing dot, UTF-8 vs A-label), the
// rule counts of the shipped list (tests/data/auth/psl/README.md), and psl::Holder.
// Must not: touch the network; the only file read is the shipped list.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "gatehouse/auth/psl.hpp"

namespace gatehouse::auth::psl {
namespace {

using ::testing::HasSubstr;

List parse_ok(std::string_view text) {
  auto l = List::parse(text);
  EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
  return l ? std::move(*l) : List{};
}

std::string parse_error(std::string_view text) {
  auto l = List::parse(text);
  EXPECT_FALSE(l.has_value());
  return l ? std::string() : l.error().message;
}

constexpr std::string_view kSmall =
    "// comment line\n"
    "// ===BEGIN ICANN DOMAINS===\n"
    "com\n"
    "uk\n"
    "co.uk\n"
    "   jp   trailing words are ignored\n"
    "*.kobe.jp\n"
    "!city.kobe.jp\n"
    "*.ck\n"
    "!www.ck\n"
    "公司.cn\n"
    "cn\n"
    "// ===END ICANN DOMAINS===\n"
    "\n"
    "// ===BEGIN PRIVATE DOMAINS===\n"
    "blogspot.com\n"
    "*.compute.example.com\n"
    "// ===END PRIVATE DOMAINS===\n";

TEST(PslList, SmallListRulesAndSections) {
  List l = parse_ok(kSmall);
  EXPECT_EQ(l.rule_count(), 12u);
  EXPECT_EQ(l.icann_rule_count(), 10u);
  EXPECT_EQ(l.private_rule_count(), 2u);
  EXPECT_EQ(l.wildcard_count(), 3u);
  EXPECT_EQ(l.exception_count(), 2u);

  auto m = l.lookup("www.example.co.uk");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "co.uk");
  EXPECT_EQ(m->registrable_domain, "example.co.uk");
  EXPECT_EQ(m->section, Section::icann);
  EXPECT_EQ(m->rule, "co.uk");

  m = l.lookup("foo.blogspot.com");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "blogspot.com");
  EXPECT_EQ(m->registrable_domain, "foo.blogspot.com");
  EXPECT_EQ(m->section, Section::private_domains);

  m = l.lookup("a.b.compute.example.com");  // private wildcard
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "b.compute.example.com");
  EXPECT_EQ(m->registrable_domain, "a.b.compute.example.com");
  EXPECT_EQ(m->rule, "*.compute.example.com");
  EXPECT_EQ(m->section, Section::private_domains);

  m = l.lookup("www.city.kobe.jp");  // exception beats the wildcard
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "kobe.jp");
  EXPECT_EQ(m->registrable_domain, "city.kobe.jp");
  EXPECT_EQ(m->rule, "!city.kobe.jp");
  EXPECT_EQ(m->section, Section::icann);

  m = l.lookup("www.example.test");  // implicit rule
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "test");
  EXPECT_EQ(m->registrable_domain, "example.test");
  EXPECT_EQ(m->section, Section::implicit);
  EXPECT_EQ(m->rule, "*");
  EXPECT_EQ(to_string(Section::implicit), "implicit");
  EXPECT_EQ(to_string(Section::private_domains), "private");
  EXPECT_EQ(to_string(Section::icann), "icann");
}

TEST(PslList, ExcludingPrivateRules) {
  List l = parse_ok(kSmall);
  LookupOptions icann_only{false};
  auto m = l.lookup("foo.blogspot.com", icann_only);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->public_suffix, "com");
  EXPECT_EQ(m->registrable_domain, "blogspot.com");
  EXPECT_EQ(m->section, Section::icann);
  m = l.lookup("a.b.compute.example.com", icann_only);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->registrable_domain, "example.com");
}

TEST(PslList, WildcardNeedsALabel) {
  List l = parse_ok(kSmall);
  EXPECT_EQ(l.public_suffix("ck"), "ck");  // "*.ck" does not match "ck" itself: implicit rule
  EXPECT_EQ(l.lookup("ck")->section, Section::implicit);
  EXPECT_EQ(l.registrable_domain("ck"), std::nullopt);
  EXPECT_EQ(l.public_suffix("test.ck"), "test.ck");
  EXPECT_EQ(l.registrable_domain("test.ck"), std::nullopt);
  EXPECT_EQ(l.registrable_domain("a.b.test.ck"), "b.test.ck");
  EXPECT_EQ(l.registrable_domain("www.www.ck"), "www.ck");
}

TEST(PslList, InputForms) {
  List l = parse_ok(kSmall);
  EXPECT_EQ(l.registrable_domain("WWW.Example.CO.UK"), "example.co.uk");
  EXPECT_EQ(l.registrable_domain("www.example.co.uk."), "example.co.uk");  // trailing dot
  // UTF-8 and A-label inputs match the same rule; answers keep the input's form.
  EXPECT_EQ(l.registrable_domain("www.食狮.公司.cn"), "食狮.公司.cn");
  EXPECT_EQ(l.registrable_domain("www.xn--85x722f.xn--55qx5d.cn"), "xn--85x722f.xn--55qx5d.cn");
  EXPECT_EQ(l.lookup("xn--55qx5d.cn")->rule, "xn--55qx5d.cn");
  EXPECT_EQ(l.registrable_domain("公司.cn"), std::nullopt);
  EXPECT_EQ(l.public_suffix("www.食狮.公司.cn"), "公司.cn");
  // Cannot be looked up.
  EXPECT_FALSE(l.lookup(""));
  EXPECT_FALSE(l.lookup(".com"));
  EXPECT_FALSE(l.lookup("example..com"));
  EXPECT_FALSE(l.lookup("bad\xC3.com"));
  EXPECT_EQ(l.public_suffix(".com"), "");
  EXPECT_EQ(l.registrable_domain(".example.com"), std::nullopt);
}

TEST(PslList, EmptyListIsTheImplicitRule) {
  List l;
  EXPECT_EQ(l.rule_count(), 0u);
  EXPECT_EQ(l.registrable_domain("a.b.example.co.uk"), "co.uk");
  EXPECT_EQ(l.public_suffix("example.com"), "com");
}

TEST(PslList, ParserDetails) {
  // CRLF line ends, leading whitespace, rules outside any section (ICANN), duplicates, "*".
  List l = parse_ok("com\r\n  net\r\n// x\r\n*\r\ncom\r\nCO.UK\r\n");
  EXPECT_EQ(l.rule_count(), 3u);
  EXPECT_EQ(l.icann_rule_count(), 3u);
  EXPECT_EQ(l.registrable_domain("a.b.co.uk"), "b.co.uk");  // rules are lower-cased
  EXPECT_EQ(l.lookup("x.net")->section, Section::icann);
  // A duplicate keeps its first section.
  List d = parse_ok("// ===BEGIN ICANN DOMAINS===\nfoo.com\n// ===END ICANN DOMAINS===\n"
                    "// ===BEGIN PRIVATE DOMAINS===\nfoo.com\n// ===END PRIVATE DOMAINS===\n");
  EXPECT_EQ(d.rule_count(), 1u);
  EXPECT_EQ(d.lookup("a.foo.com")->section, Section::icann);
  // No final newline; underscores allowed.
  List u = parse_ok("_tcp.example");
  EXPECT_EQ(u.registrable_domain("x._tcp.example"), "x._tcp.example");
}

TEST(PslList, ParserErrors) {
  EXPECT_THAT(parse_error(""), HasSubstr("no rules"));
  EXPECT_THAT(parse_error("// only comments\n\n"), HasSubstr("no rules"));
  EXPECT_THAT(parse_error("com\nfoo..com\n"), HasSubstr("line 2: rule 'foo..com' has an empty label"));
  EXPECT_THAT(parse_error(".com\n"), HasSubstr("empty label"));
  EXPECT_THAT(parse_error("foo.*.com\n"), HasSubstr("'*' is allowed only as the whole leftmost label"));
  EXPECT_THAT(parse_error("*foo.com\n"), HasSubstr("'*'"));
  EXPECT_THAT(parse_error("!*.com\n"), HasSubstr("'*'"));
  EXPECT_THAT(parse_error("!com\n"), HasSubstr("at least two labels"));
  EXPECT_THAT(parse_error("!\n"), HasSubstr("no labels"));
  EXPECT_THAT(parse_error("*.\n"), HasSubstr("no labels"));
  EXPECT_THAT(parse_error("a!b.com\n"), HasSubstr("'!'"));
  EXPECT_THAT(parse_error("<html>\n"), HasSubstr("character other than"));
  EXPECT_THAT(parse_error("ex\xC3.com\n"), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(parse_error(std::string(List::kMaxLineLength + 1, 'a')), HasSubstr("line 1: longer than"));
  EXPECT_THAT(parse_error(std::string(254, 'a')), HasSubstr("longer than 253"));
  // Section markers must pair up; a truncated file has no END.
  EXPECT_THAT(parse_error("// ===BEGIN ICANN DOMAINS===\ncom\n"), HasSubstr("no END marker"));
  EXPECT_THAT(parse_error("com\n// ===END ICANN DOMAINS===\n"), HasSubstr("without its BEGIN"));
  EXPECT_THAT(parse_error("// ===BEGIN ICANN DOMAINS===\n// ===BEGIN PRIVATE DOMAINS===\n"),
              HasSubstr("inside another section"));
  EXPECT_THAT(parse_error("// ===BEGIN ICANN DOMAINS===\n// ===END PRIVATE DOMAINS===\n"),
              HasSubstr("without its BEGIN"));
  EXPECT_THAT(parse_error("// ===BEGIN ICANN DOMAINS===\ncom\n// ===END ICANN DOMAINS===\n"
                          "// ===BEGIN ICANN DOMAINS===\nnet\n// ===END ICANN DOMAINS===\n"),
              HasSubstr("appears twice"));
  EXPECT_THAT(parse_error(std::string(List::kMaxListSize + 1, '\n')), HasSubstr("larger than"));
}

std::string shipped_list() {
  std::ifstream in(std::string(GATEHOUSE_TEST_DATA) + "/auth/psl/public_suffix_list.dat", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PslList, ShippedListCounts) {
  // tests/data/auth/psl/README.md: 6,949 ICANN and 3,299 private rules, 283 wildcards, 8 exceptions.
  List l = parse_ok(shipped_list());
  EXPECT_EQ(l.icann_rule_count(), 6949u);
  EXPECT_EQ(l.private_rule_count(), 3299u);
  EXPECT_EQ(l.wildcard_count(), 283u);
  EXPECT_EQ(l.exception_count(), 8u);
  auto m = l.lookup("foo.blogspot.com");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->section, Section::private_domains);
  EXPECT_EQ(m->registrable_domain, "foo.blogspot.com");
  EXPECT_EQ(l.lookup("foo.blogspot.com", LookupOptions{false})->registrable_domain, "blogspot.com");
  EXPECT_EQ(l.registrable_domain("mail.example.co.uk"), "example.co.uk");
}

TEST(PslList, ShippedListTruncatedFailsToParse) {
  const std::string text = shipped_list();
  EXPECT_THAT(parse_error(std::string_view(text).substr(0, text.size() / 2)), HasSubstr("no END marker"));
}

TEST(PslHolder, SwapsAndCounts) {
  Holder h;
  EXPECT_EQ(h.generation(), 0u);
  auto first = h.get();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->rule_count(), 0u);
  h.set(parse_ok("co.uk\n"));
  EXPECT_EQ(h.generation(), 1u);
  EXPECT_EQ(h.get()->registrable_domain("a.b.co.uk"), "b.co.uk");
  EXPECT_EQ(first->registrable_domain("a.b.co.uk"), "co.uk");  // the old list is unchanged
  h.set(std::shared_ptr<const List>());                        // ignored
  EXPECT_EQ(h.generation(), 1u);
  EXPECT_TRUE(h.get());

  Holder h2(parse_ok("com\n"));
  EXPECT_EQ(h2.get()->rule_count(), 1u);
}

TEST(PslHolder, ReadersDuringSwaps) {
  Holder h(parse_ok("co.uk\n"));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto l = h.get();
        auto r = l->registrable_domain("a.b.co.uk");
        if (r != "b.co.uk" && r != "co.uk") ++bad;
      }
    });
  }
  for (int i = 0; i < 200; ++i) h.set(parse_ok(i % 2 ? "co.uk\n" : "uk\n"));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(h.generation(), 200u);
}

}  // namespace
}  // namespace gatehouse::auth::psl
