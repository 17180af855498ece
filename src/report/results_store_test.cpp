// reports.db: rows written by the writer thread come back through recent() newest first and
// filtered by From domain, DKIM details survive the JSON column, prune() deletes old rows, and a
// reopened database keeps its rows (migrations run once).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "gatehouse/report/results_store.hpp"

namespace gatehouse::report {
namespace {

DmarcObservation obs(std::int64_t t, std::string from, std::string result) {
  DmarcObservation o;
  o.time = t;
  o.queue_id = "q" + std::to_string(t);
  o.source_ip = "192.0.2.1";
  o.header_from = std::move(from);
  o.dmarc_result = std::move(result);
  o.dkim.push_back({"example.org", "sel", "pass", true});
  o.action = "accepted";
  return o;
}

class Results : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("gh_results_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path db() const { return dir / "reports.db"; }
  std::filesystem::path dir;
};

TEST_F(Results, WriteReadFilterPrune) {
  {
    auto store = ResultsStore::open(db());
    ASSERT_TRUE(store) << store.error().message;
    for (int i = 1; i <= 5; ++i) (*store)->add(obs(100 * i, i % 2 ? "example.org" : "example.net", "pass"));
    (*store)->flush();
    auto all = ResultsStore::recent(db(), 10);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 5u);
    EXPECT_EQ(all->front().time, 500);
    EXPECT_EQ(all->front().queue_id, "q500");
    ASSERT_EQ(all->front().dkim.size(), 1u);
    EXPECT_EQ(all->front().dkim[0].selector, "sel");
    EXPECT_TRUE(all->front().dkim[0].aligned);
    auto org = ResultsStore::recent(db(), 10, "example.org");
    ASSERT_TRUE(org);
    EXPECT_EQ(org->size(), 3u);
    EXPECT_EQ(ResultsStore::recent(db(), 2)->size(), 2u);
    (*store)->prune(300);
    (*store)->flush();
    EXPECT_EQ(ResultsStore::recent(db(), 10)->size(), 3u);
    EXPECT_EQ((*store)->dropped(), 0u);
  }
  auto again = ResultsStore::open(db());
  ASSERT_TRUE(again);
  EXPECT_EQ(ResultsStore::recent(db(), 10)->size(), 3u);
}

TEST_F(Results, MissingDatabaseReadsAsEmpty) {
  auto none = ResultsStore::recent(dir / "absent.db", 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.db"));
}

}  // namespace
}  // namespace gatehouse::report
