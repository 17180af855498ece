// The per-message DMARC results database, <data-dir>/reports.db (SQLite, WAL, table
// dmarc_results, written only by this class). Kept apart from the configuration database on
// purpose: every commit to gatehouse.db makes the running gateway rebuild and republish its
// settings snapshot (config::Watcher polls PRAGMA data_version), and a row per inbound message
// would do that per message. Migrations are this file's own (PRAGMA user_version of reports.db).
//
// add() never blocks a mail thread: rows go to a bounded in-memory queue that one writer thread
// commits in batches (one transaction per batch). When the queue is full, rows are dropped and
// counted (dropped()), because a report row is worth less than a stalled SMTP session.
// Must not: hold message content; be written by anyone else.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/report/observation.hpp"

struct sqlite3;

namespace gatehouse::report {

class ResultsStore {
 public:
  static constexpr std::size_t kMaxPending = 100'000;

  // Opens (creating and migrating) the database and starts the writer thread.
  static Expected<std::unique_ptr<ResultsStore>> open(const std::filesystem::path& db_path);
  ~ResultsStore();  // commits what is queued, then stops the writer
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  void add(DmarcObservation o);  // never blocks on the database
  // Asks the writer to delete rows older than `before` (Unix seconds).
  void prune(std::int64_t before);
  // Waits until everything added so far is committed (tests, shutdown).
  void flush();
  std::uint64_t dropped() const;

  // Reads (on the caller's thread, its own connection): newest first, at most `limit` rows,
  // only those for `header_from` when it is not empty.
  static Expected<std::vector<DmarcObservation>> recent(const std::filesystem::path& db_path, std::size_t limit,
                                                        std::string_view header_from = {});

 private:
  explicit ResultsStore(sqlite3* db);
  void run();
  Status write(const std::vector<DmarcObservation>& batch, std::optional<std::int64_t> prune_before);

  sqlite3* db_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<DmarcObservation> pending_;
  std::optional<std::int64_t> prune_before_;
  std::uint64_t dropped_ = 0;
  std::uint64_t added_ = 0, written_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gatehouse::report
