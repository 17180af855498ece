// Thin RAII helpers over the SQLite C API (statement, transaction, error text) for config and
// for the modules that own a table and run statements on config::Store::db() (tls, tlspolicy,
// sasl: see "Table ownership" in architecture.md). Nothing here outlives its Store.
// Must not hide errors: every failure becomes an Error that says what was being done.
#pragma once
#include <cstdint>
#include <fmt/format.h>
#include <sqlite3.h>
#include <string>
#include <string_view>

#include "gatehouse/core/error.hpp"

namespace gatehouse::config::sql {

inline Error db_error(sqlite3* db, std::string_view what) {
  return make_error(fmt::format("config database: {}: {}", what, sqlite3_errmsg(db)));
}

inline Status exec(sqlite3* db, const char* sql, std::string_view what) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return make_error(fmt::format("config database: {}: {}", what, text));
  }
  return {};
}

// Opens (creating) a database file in WAL mode with a busy timeout, for config::Store and for a
// module that owns a database file of its own (report's reports.db). The caller closes it with
// sqlite3_close(). Also where a file that is not a database is refused ("file is not a database").
Expected<sqlite3*> open_wal(const std::string& path, int busy_timeout_ms = 5000);

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK && st_ != nullptr; }
  // Binds text (never NULL: an empty view binds ''). The text must outlive step().
  void bind(int index, std::string_view v) {
    sqlite3_bind_text(st_, index, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void bind(int index, std::int64_t v) { sqlite3_bind_int64(st_, index, v); }
  // Makes the statement ready to run again with new bindings.
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ = sqlite3_step(st_); }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(st_, col);
    if (!p) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, col)));
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_ = SQLITE_OK;
};

// BEGIN (deferred, for consistent reads) or BEGIN IMMEDIATE (read-check-write); rolls back in
// the destructor unless commit() succeeded.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {}
  ~Txn() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  Status begin(bool immediate) {
    auto r = exec(db_, immediate ? "BEGIN IMMEDIATE" : "BEGIN", "starting a transaction");
    open_ = r.has_value();
    return r;
  }
  Status commit() {
    auto r = exec(db_, "COMMIT", "committing");
    if (r) open_ = false;
    return r;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace gatehouse::config::sql
