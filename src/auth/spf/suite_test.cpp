// Runs the RFC 7208 conformance suite (tests/data/auth/spf/rfc7208-tests.yml, the openspf.org /
// pyspf suite, kept byte-identical to upstream) against check_host(): every case of every
// scenario is its own test, named after the case. The YAML is converted to JSON at build time
// (tests/tools/yaml2json.py, src/auth/CMakeLists.txt) and read here with Boost.JSON.
// Driver rules (as pyspf's test/testspf.py): the default explanation is "DEFAULT"; a null
// mailfrom checks the HELO identity (postmaster@helo); SPF records are served as TXT unless the
// name lists a TXT record of its own ("TXT: NONE" included); `result` lists are alternatives;
// `explanation`, when present, must match exactly. `strict` is ignored (one mode only).
// GATEHOUSE_SPF_SUITE_VERBOSE=1 prints every case's outcome (mechanism, problem, explanation).
// Must not: edit, filter or re-interpret the suite's expectations. A case we cannot meet stays
// a failing test (or an explicit GTEST_SKIP with the reason), never a silent pass.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "gatehouse/auth/spf.hpp"
#include "test_zone.hpp"

namespace gatehouse::auth {

namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1700000000;  // %{t}; no suite case depends on it

struct SuiteCase {
  std::string scenario;
  std::string name;
  std::string test_name;  // gtest-safe, unique
  std::string spec;
  std::string description;
  std::string host, mailfrom, helo;
  std::vector<std::string> results;
  std::optional<std::string> explanation;
  std::shared_ptr<const json::value> zonedata;
};

void PrintTo(const SuiteCase& c, std::ostream* os) { *os << c.name << " (" << c.scenario << ")"; }

std::string load_error;  // set when the JSON could not be read (reported by SpfSuiteFile.Loads)

std::string as_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_double()) {
    std::ostringstream os;
    os << v.as_double();
    return os.str();
  }
  if (v.is_int64()) return std::to_string(v.as_int64());
  return json::serialize(v);
}

// The suite writes non-ASCII bytes as YAML "\xNN" escapes, which arrive as code points U+0000 to
// U+00FF: turn those back into single bytes (what a DNS TXT record would hold).
std::string to_bytes(std::string_view utf8) {
  std::string out;
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
      if (cp <= 0xFF) out.push_back(static_cast<char>(cp));
      else out.append(utf8.substr(i, 2));
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
      ++i;
    }
  }
  return out;
}

std::string record_text(const json::value& v) {
  if (v.is_string()) return to_bytes(v.as_string());
  std::string out;
  if (v.is_array())
    for (const auto& part : v.as_array()) out += to_bytes(as_text(part));
  return out;
}

std::string gtest_name(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back((std::isalnum(static_cast<unsigned char>(c)) != 0) ? c : '_');
  return out.empty() ? std::string("unnamed") : out;
}

std::vector<SuiteCase> load_suite() {
  std::vector<SuiteCase> cases;
  std::ifstream in(GATEHOUSE_SPF_SUITE_JSON, std::ios::binary);
  if (!in) {
    load_error = "cannot open " GATEHOUSE_SPF_SUITE_JSON " (built from the YAML by yaml2json.py)";
    return cases;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  json::value root = json::parse(buf.str(), ec);
  if (ec || !root.is_array()) {
    load_error = "cannot parse " GATEHOUSE_SPF_SUITE_JSON ": " + ec.message();
    return cases;
  }
  std::set<std::string> names;
  for (const auto& doc : root.as_array()) {
    if (!doc.is_object()) continue;
    const auto& scen = doc.as_object();
    auto zone = std::make_shared<const json::value>(scen.contains("zonedata") ? scen.at("zonedata") : json::object());
    std::string scenario = scen.contains("description") ? as_text(scen.at("description")) : "";
    if (!scen.contains("tests") || !scen.at("tests").is_object()) continue;
    for (const auto& [key, val] : scen.at("tests").as_object()) {
      const auto& t = val.as_object();
      SuiteCase c;
      c.scenario = scenario;
      c.name = std::string(key);
      c.test_name = gtest_name(c.name);
      while (!names.insert(c.test_name).second) c.test_name += "_";
      c.spec = t.contains("spec") ? as_text(t.at("spec")) : "";
      c.description = t.contains("description") ? as_text(t.at("description")) : "";
      c.host = t.contains("host") ? as_text(t.at("host")) : "";
      c.mailfrom = t.contains("mailfrom") ? to_bytes(as_text(t.at("mailfrom"))) : "";
      c.helo = t.contains("helo") ? to_bytes(as_text(t.at("helo"))) : "";
      if (t.contains("result")) {
        const auto& r = t.at("result");
        if (r.is_array())
          for (const auto& x : r.as_array()) c.results.push_back(as_text(x));
        else
          c.results.push_back(as_text(r));
      }
      if (t.contains("explanation")) c.explanation = to_bytes(as_text(t.at("explanation")));
      c.zonedata = zone;
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

const std::vector<SuiteCase>& suite() {
  static const std::vector<SuiteCase> cases = load_suite();
  return cases;
}

// zonedata -> TestZone, with the suite's SPF-as-TXT rule.
void fill_zone(test::TestZone& zone, const json::value& zonedata) {
  if (!zonedata.is_object()) return;
  for (const auto& [key, items] : zonedata.as_object()) {
    std::string name = to_bytes(std::string_view(key.data(), key.size()));
    zone.add_name(name);
    bool lists_txt = false;
    std::vector<std::string> spf;
    if (!items.is_array()) continue;
    for (const auto& item : items.as_array()) {
      if (item.is_string() && item.as_string() == "TIMEOUT") {
        zone.add_timeout(name);
        continue;
      }
      if (!item.is_object()) continue;
      for (const auto& [type, v] : item.as_object()) {
        if (type == "A" || type == "AAAA") {
          zone.add_a(name, as_text(v));
        } else if (type == "MX" && v.is_array() && v.as_array().size() == 2) {
          const auto& mx = v.as_array();
          auto pref = mx[0].is_int64() ? mx[0].as_int64() : 0;
          zone.add_mx(name, static_cast<std::uint16_t>(pref), as_text(mx[1]));
        } else if (type == "PTR") {
          zone.add_ptr(name, as_text(v));
        } else if (type == "CNAME") {
          zone.add_cname(name, as_text(v));
        } else if (type == "TXT") {
          lists_txt = true;
          if (!(v.is_string() && v.as_string() == "NONE")) zone.add_txt(name, record_text(v));
        } else if (type == "SPF") {
          if (!(v.is_string() && v.as_string() == "NONE")) spf.push_back(record_text(v));
        } else {
          ADD_FAILURE() << "zonedata of " << name << ": unknown record type " << type;
        }
      }
    }
    // RFC 7208 dropped the SPF RR type (99); we never query it. Its records reach us as TXT,
    // after any TIMEOUT, unless the name has TXT records of its own.
    if (!lists_txt)
      for (const auto& s : spf) zone.add_txt(name, s);
  }
}

class SpfSuite : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(SpfSuite, Case) {
  const SuiteCase& c = GetParam();
  test::TestZone zone;
  fill_zone(zone, *c.zonedata);
  auto ip = core::IpAddress::parse(c.host);
  ASSERT_TRUE(ip.has_value()) << "bad host " << c.host;
  SpfRequest req = spf_mail_from(*ip, c.mailfrom, c.helo, "", kNow);
  req.default_explanation = "DEFAULT";
  boost::asio::io_context ioc;
  auto out = test::run_bounded(ioc, check_host(zone, req));
  ASSERT_TRUE(out.has_value()) << "check_host did not finish";

  const std::string got(to_string(out->result));
  std::string context = "case " + c.name + " (" + c.scenario + ", RFC 7208 " + c.spec + ")\n  " + c.description +
                        "\n  host=" + c.host + " mailfrom=" + c.mailfrom + " helo=" + c.helo + "\n  got " + got +
                        " mechanism='" + out->mechanism + "' problem='" + out->problem + "' explanation='" +
                        out->explanation + "'";
  if (std::getenv("GATEHOUSE_SPF_SUITE_VERBOSE") != nullptr) std::cout << context << "\n";
  EXPECT_THAT(c.results, ::testing::Contains(got)) << context;
  if (c.explanation) {
    EXPECT_EQ(out->explanation, *c.explanation) << context;
  }
  if (c.results.size() > 1 && got != c.results.front())
    std::cout << "NOTE: " << c.name << ": " << got << " accepted, " << c.results.front() << " preferred\n";

  // Resolver hygiene: only TXT/A/AAAA/MX/PTR are asked (never type SPF), only valid names, and
  // the processing limits bound the work.
  for (const auto& [name, type] : zone.log()) {
    EXPECT_TRUE(is_query_name(name)) << "queried a malformed name '" << name << "'\n" << context;
    EXPECT_TRUE(type == dns::RrType::TXT || type == dns::RrType::A || type == dns::RrType::AAAA ||
                type == dns::RrType::MX || type == dns::RrType::PTR)
        << "queried type " << dns::to_string(type) << "\n" << context;
  }
  EXPECT_EQ(out->dns_queries, zone.queries());
  EXPECT_LE(out->dns_lookups, req.limits.dns_terms + 1);
  EXPECT_LE(out->void_lookups, req.limits.void_lookups + 1);
  EXPECT_LE(zone.queries(), 1u + (req.limits.dns_terms + 1) * (1 + req.limits.mx_names) + 2 * 11u);
}

std::string case_name(const ::testing::TestParamInfo<SuiteCase>& p) { return p.param.test_name; }

INSTANTIATE_TEST_SUITE_P(rfc7208, SpfSuite, ::testing::ValuesIn(suite()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SpfSuite);

TEST(SpfSuiteFile, LoadsEveryScenarioAndCase) {
  EXPECT_EQ(load_error, "");
  EXPECT_EQ(suite().size(), 203u) << "the RFC 7208 suite has 16 scenarios and 203 cases";
  std::set<std::string> scenarios;
  for (const auto& c : suite()) scenarios.insert(c.scenario);
  EXPECT_EQ(scenarios.size(), 16u);
}

}  // namespace

}  // namespace gatehouse::auth
