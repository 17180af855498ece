// The official Public Suffix List tests, run unchanged against the list they were written for:
// tests/data/auth/psl/tests/test_psl.txt (checkPublicSuffix('input', 'expected') lines, where
// `expected` is the registrable domain or null) and its plain-text twin tests/tests.txt, both
// with tests/data/auth/psl/public_suffix_list.dat. Each line is its own test case; a count check
// keeps a broken loader from passing with nothing to run. `null` input is the empty string.
// Must not: edit or rewrite the data files.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gatehouse/auth/psl.hpp"

namespace gatehouse::auth::psl {
namespace {

const std::string kDir = std::string(GATEHOUSE_TEST_DATA) + "/auth/psl";

struct Case {
  std::string file;
  int line = 0;
  std::optional<std::string> input;     // nullopt: null
  std::optional<std::string> expected;  // nullopt: null
};

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// For gtest's parameter listing (instead of a raw byte dump).
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.file << ":" << c.line << " '" << c.input.value_or("null") << "' -> '" << c.expected.value_or("null") << "'";
}

// "'text'" -> text, "null" -> nullopt.
std::optional<std::string> literal(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s == "null") return std::nullopt;
  if (s.size() >= 2 && s.front() == '\'' && s.back() == '\'') return s.substr(1, s.size() - 2);
  return "<unparsed: " + s + ">";
}

std::vector<Case> load_test_psl() {
  std::vector<Case> out;
  std::istringstream in(read(kDir + "/tests/test_psl.txt"));
  std::string line;
  int n = 0;
  const std::string open = "checkPublicSuffix(";
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind(open, 0) != 0) continue;  // comments ("//checkPublicSuffix" too) and blanks
    const auto close = line.rfind(");");
    const auto args = line.substr(open.size(), close - open.size());
    std::size_t comma = std::string::npos;  // the first ',' outside quotes
    bool quoted = false;
    for (std::size_t i = 0; i < args.size() && comma == std::string::npos; ++i) {
      if (args[i] == '\'') quoted = !quoted;
      else if (args[i] == ',' && !quoted) comma = i;
    }
    if (comma == std::string::npos) comma = args.size();
    Case c{"test_psl.txt", n, literal(args.substr(0, comma)),
           literal(comma < args.size() ? args.substr(comma + 1) : std::string("<missing>"))};
    out.push_back(c);
  }
  return out;
}

std::vector<Case> load_tests_txt() {
  std::vector<Case> out;
  std::istringstream in(read(kDir + "/tests/tests.txt"));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line.rfind("//", 0) == 0) continue;
    const auto sp = line.find(' ');
    auto in_s = line.substr(0, sp);
    auto exp_s = sp == std::string::npos ? std::string("<missing>") : line.substr(sp + 1);
    Case c{"tests.txt", n, in_s == "null" ? std::nullopt : std::optional<std::string>(in_s),
           exp_s == "null" ? std::nullopt : std::optional<std::string>(exp_s)};
    out.push_back(c);
  }
  return out;
}

const List& official_list() {
  static const std::shared_ptr<const List> list = [] {
    auto l = List::parse(read(kDir + "/public_suffix_list.dat"));
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return std::make_shared<const List>(l ? std::move(*l) : List{});
  }();
  return *list;
}

class PslOfficialSuite : public ::testing::TestWithParam<Case> {};

TEST_P(PslOfficialSuite, RegistrableDomain) {
  const Case& c = GetParam();
  const auto got = official_list().registrable_domain(c.input.value_or(""));
  EXPECT_EQ(got, c.expected) << c.file << ":" << c.line << " input '" << c.input.value_or("null") << "'";
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return (info.param.file == "test_psl.txt" ? "test_psl_line" : "tests_txt_line") + std::to_string(info.param.line);
}

INSTANTIATE_TEST_SUITE_P(TestPslTxt, PslOfficialSuite, ::testing::ValuesIn(load_test_psl()), case_name);
INSTANTIATE_TEST_SUITE_P(TestsTxt, PslOfficialSuite, ::testing::ValuesIn(load_tests_txt()), case_name);

TEST(PslOfficialSuiteFiles, AllActiveLinesLoaded) {
  // tests/data/auth/psl/README.md: 78 active lines in each file (4 more commented out).
  const auto a = load_test_psl();
  const auto b = load_tests_txt();
  EXPECT_EQ(a.size(), 78u);
  EXPECT_EQ(b.size(), 78u);
  for (const auto& c : a) {
    EXPECT_EQ(c.input.value_or("").find("<unparsed"), std::string::npos) << c.line;
    EXPECT_EQ(c.expected.value_or("").find("<unparsed"), std::string::npos) << c.line;
  }
  // Both files hold the same cases in the same order.
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].input, b[i].input) << i;
    EXPECT_EQ(a[i].expected, b[i].expected) << i;
  }
}

}  // namespace
}  // namespace gatehouse::auth::psl
