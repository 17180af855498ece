// reports.db: migrations, the batching writer thread, pruning and the read used by
// `gatehouse dmarc results`. See the header for why this is not a table of gatehouse.db.
// Must not: block add() on SQLite, or keep a statement open across calls.
#include "gatehouse/report/results_store.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gatehouse/config/sqlite.hpp"
#include "gatehouse/core/log.hpp"

namespace gatehouse::report {

namespace sql = config::sql;

namespace {

constexpr const char* kMigrations[] = {
    // 1: one row per DMARC-checked inbound message.
    R"sql(
CREATE TABLE dmarc_results(     -- writer: report (report::ResultsStore)
  id             INTEGER PRIMARY KEY,
  time           INTEGER NOT NULL,  -- Unix seconds when the message was checked
  queue_id       TEXT NOT NULL,     -- '' when the message was refused
  source_ip      TEXT NOT NULL,
  helo           TEXT NOT NULL,
  envelope_from  TEXT NOT NULL,     -- MAIL FROM domain ('' = null reverse-path)
  header_from    TEXT NOT NULL,     -- RFC5322.From domain ('' = none usable)
  from_problem   TEXT NOT NULL,     -- why the From field is unusable ('' = fine)
  spf_domain     TEXT NOT NULL,
  spf_scope      TEXT NOT NULL,     -- mfrom | helo
  spf_result     TEXT NOT NULL,
  spf_aligned    INTEGER NOT NULL,  -- 1 = aligned pass
  dkim           TEXT NOT NULL,     -- JSON: [{"domain","selector","result","aligned"}]
  dkim_aligned   INTEGER NOT NULL,  -- 1 = some aligned pass
  dmarc_result   TEXT NOT NULL,     -- none | pass | fail | temperror | permerror
  policy_domain  TEXT NOT NULL,
  p              TEXT NOT NULL,
  sp             TEXT NOT NULL,
  pct            INTEGER NOT NULL,
  adkim          TEXT NOT NULL,
  aspf           TEXT NOT NULL,
  rua            TEXT NOT NULL,
  ruf            TEXT NOT NULL,
  requested      TEXT NOT NULL,     -- policy that applied (p or sp)
  disposition    TEXT NOT NULL,     -- what the policy asked for after pct
  applied        TEXT NOT NULL,     -- what the gateway did: none | quarantine | reject
  override       TEXT NOT NULL,     -- local_policy, sampled_out, ... ('' = none)
  action         TEXT NOT NULL      -- accepted | marked | rejected
) STRICT;
CREATE INDEX dmarc_results_time ON dmarc_results(time);
CREATE INDEX dmarc_results_policy ON dmarc_results(policy_domain, time);
)sql",
};

Status migrate(sqlite3* db) {
  sql::Stmt v(db, "PRAGMA user_version");
  if (!v.prepared() || v.step() != SQLITE_ROW) return sql::db_error(db, "reading the schema version");
  auto current = static_cast<int>(v.int64(0));
  const int latest = static_cast<int>(std::size(kMigrations));
  if (current > latest)
    return make_error(fmt::format("reports database has schema version {}, newer than this gatehouse knows ({})",
                                  current, latest));
  for (int next = current + 1; next <= latest; ++next) {
    sql::Txn txn(db);
    if (auto r = txn.begin(true); !r) return r;
    if (auto r = sql::exec(db, kMigrations[next - 1], fmt::format("applying reports migration {}", next)); !r) return r;
    if (auto r = sql::exec(db, fmt::format("PRAGMA user_version = {}", next).c_str(), "setting the schema version"); !r)
      return r;
    if (auto r = txn.commit(); !r) return r;
  }
  return {};
}

std::string dkim_json(const std::vector<DkimObservation>& dkim) {
  boost::json::array a;
  for (const auto& k : dkim)
    a.emplace_back(boost::json::object{
        {"domain", k.domain}, {"selector", k.selector}, {"result", k.result}, {"aligned", k.aligned}});
  return boost::json::serialize(a);
}

std::vector<DkimObservation> dkim_from_json(const std::string& text) {
  std::vector<DkimObservation> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& e : v.as_array()) {
    if (!e.is_object()) continue;
    const auto& o = e.as_object();
    DkimObservation k;
    auto str = [&](const char* key) {
      auto* x = o.if_contains(key);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    k.domain = str("domain");
    k.selector = str("selector");
    k.result = str("result");
    auto* al = o.if_contains("aligned");
    k.aligned = al && al->is_bool() && al->as_bool();
    out.push_back(std::move(k));
  }
  return out;
}

constexpr const char* kColumns =
    "time, queue_id, source_ip, helo, envelope_from, header_from, from_problem, spf_domain, spf_scope, spf_result, "
    "spf_aligned, dkim, dkim_aligned, dmarc_result, policy_domain, p, sp, pct, adkim, aspf, rua, ruf, "
    "requested, disposition, applied, override, action";

}  // namespace

Expected<std::unique_ptr<ResultsStore>> ResultsStore::open(const std::filesystem::path& db_path) {
  auto db = sql::open_wal(db_path.string());
  if (!db) return make_error(fmt::format("cannot open reports database '{}': {}", db_path.string(), db.error().message));
  // Results are not configuration: NORMAL (a power cut may lose the last few rows, never corrupt).
  if (auto r = sql::exec(*db, "PRAGMA synchronous = NORMAL", "setting synchronous"); !r) {
    sqlite3_close(*db);
    return r.error();
  }
  if (auto r = migrate(*db); !r) {
    sqlite3_close(*db);
    return make_error(fmt::format("reports database '{}': {}", db_path.string(), r.error().message));
  }
  return std::unique_ptr<ResultsStore>(new ResultsStore(*db));
}

ResultsStore::ResultsStore(sqlite3* db) : db_(db) { thread_ = std::thread([this] { run(); }); }

ResultsStore::~ResultsStore() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  sqlite3_close(db_);
}

void ResultsStore::add(DmarcObservation o) {
  {
    std::lock_guard lk(mu_);
    if (pending_.size() >= kMaxPending) {
      ++dropped_;
      ++added_;
      ++written_;  // counted as done, so flush() does not wait for it
      return;
    }
    pending_.push_back(std::move(o));
    ++added_;
  }
  cv_.notify_one();
}

void ResultsStore::prune(std::int64_t before) {
  {
    std::lock_guard lk(mu_);
    prune_before_ = before;
  }
  cv_.notify_one();
}

void ResultsStore::flush() {
  std::unique_lock lk(mu_);
  auto target = added_;
  idle_cv_.wait(lk, [&] { return written_ >= target && !prune_before_; });
}

std::uint64_t ResultsStore::dropped() const {
  std::lock_guard lk(mu_);
  return dropped_;
}

void ResultsStore::run() {
  auto log = core::log::get("report");
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !pending_.empty() || prune_before_; });
    if (pending_.empty() && !prune_before_ && stop_) return;
    std::vector<DmarcObservation> batch;
    while (!pending_.empty() && batch.size() < 1000) {
      batch.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    auto prune = std::exchange(prune_before_, std::nullopt);
    lk.unlock();
    if (auto r = write(batch, prune); !r) log->error("dmarc-results-write-failed rows={} error=\"{}\"", batch.size(),
                                                      r.error().message);
    lk.lock();
    written_ += batch.size();
    idle_cv_.notify_all();
  }
}

Status ResultsStore::write(const std::vector<DmarcObservation>& batch, std::optional<std::int64_t> prune_before) {
  sql::Txn txn(db_);
  if (auto r = txn.begin(true); !r) return r;
  if (!batch.empty()) {
    sql::Stmt st(db_, fmt::format("INSERT INTO dmarc_results({}) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                  "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, "
                                  "?27)",
                                  kColumns)
                          .c_str());
    if (!st.prepared()) return sql::db_error(db_, "preparing the results insert");
    for (const auto& o : batch) {
      const std::string dkim = dkim_json(o.dkim);
      st.reset();
      st.bind(1, o.time);
      st.bind(2, o.queue_id);
      st.bind(3, o.source_ip);
      st.bind(4, o.helo);
      st.bind(5, o.envelope_from);
      st.bind(6, o.header_from);
      st.bind(7, o.from_problem);
      st.bind(8, o.spf_domain);
      st.bind(9, o.spf_scope);
      st.bind(10, o.spf_result);
      st.bind(11, std::int64_t{o.spf_aligned ? 1 : 0});
      st.bind(12, dkim);
      st.bind(13, std::int64_t{o.dkim_aligned ? 1 : 0});
      st.bind(14, o.dmarc_result);
      st.bind(15, o.policy_domain);
      st.bind(16, o.p);
      st.bind(17, o.sp);
      st.bind(18, static_cast<std::int64_t>(o.pct));
      st.bind(19, o.adkim);
      st.bind(20, o.aspf);
      st.bind(21, o.rua);
      st.bind(22, o.ruf);
      st.bind(23, o.requested);
      st.bind(24, o.disposition);
      st.bind(25, o.applied);
      st.bind(26, o.override_reason);
      st.bind(27, o.action);
      if (st.step() != SQLITE_DONE) return sql::db_error(db_, "inserting a DMARC result");
    }
  }
  if (prune_before) {
    sql::Stmt del(db_, "DELETE FROM dmarc_results WHERE time < ?1");
    if (!del.prepared()) return sql::db_error(db_, "pruning DMARC results");
    del.bind(1, *prune_before);
    if (del.step() != SQLITE_DONE) return sql::db_error(db_, "pruning DMARC results");
  }
  return txn.commit();
}

Expected<std::vector<DmarcObservation>> ResultsStore::recent(const std::filesystem::path& db_path, std::size_t limit,
                                                             std::string_view header_from) {
  if (!std::filesystem::exists(db_path)) return std::vector<DmarcObservation>{};
  auto db = sql::open_wal(db_path.string());
  if (!db) return make_error(fmt::format("cannot open reports database '{}': {}", db_path.string(), db.error().message));
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> hold(*db, sqlite3_close);
  if (auto r = migrate(*db); !r) return r.error();
  sql::Stmt st(*db, fmt::format("SELECT {} FROM dmarc_results WHERE (?1 = '' OR header_from = ?1) "
                                "ORDER BY time DESC, id DESC LIMIT ?2",
                                kColumns)
                        .c_str());
  if (!st.prepared()) return sql::db_error(*db, "reading DMARC results");
  st.bind(1, header_from);
  st.bind(2, static_cast<std::int64_t>(limit));
  std::vector<DmarcObservation> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    DmarcObservation o;
    o.time = st.int64(0);
    o.queue_id = st.text(1);
    o.source_ip = st.text(2);
    o.helo = st.text(3);
    o.envelope_from = st.text(4);
    o.header_from = st.text(5);
    o.from_problem = st.text(6);
    o.spf_domain = st.text(7);
    o.spf_scope = st.text(8);
    o.spf_result = st.text(9);
    o.spf_aligned = st.int64(10) != 0;
    o.dkim = dkim_from_json(st.text(11));
    o.dkim_aligned = st.int64(12) != 0;
    o.dmarc_result = st.text(13);
    o.policy_domain = st.text(14);
    o.p = st.text(15);
    o.sp = st.text(16);
    o.pct = static_cast<unsigned>(st.int64(17));
    o.adkim = st.text(18);
    o.aspf = st.text(19);
    o.rua = st.text(20);
    o.ruf = st.text(21);
    o.requested = st.text(22);
    o.disposition = st.text(23);
    o.applied = st.text(24);
    o.override_reason = st.text(25);
    o.action = st.text(26);
    out.push_back(std::move(o));
  }
  if (rc != SQLITE_DONE) return sql::db_error(*db, "reading DMARC results");
  return out;
}

}  // namespace gatehouse::report
