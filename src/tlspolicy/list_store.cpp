// tlspolicy::ListStore over the `tls_lists` table (schema migration 3), through the connection of
// a config::Store. add and remove run in one BEGIN IMMEDIATE transaction (read, compare, write),
// so a duplicate is refused even when an older hand-edited row spells it differently.
// Must not: write any other table, keep a statement or transaction open after returning, or
// store an entry that parse_entry() has not normalised.
#include "gatehouse/tlspolicy/list_store.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "gatehouse/config/sqlite.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::tlspolicy {
namespace {

std::shared_ptr<spdlog::logger> logger() { return core::log::get("tlspolicy"); }


using config::sql::db_error;
using config::sql::Stmt;
using config::sql::Txn;

// The rows of one list as stored, sorted.
Expected<std::vector<std::string>> read_list(sqlite3* db, ListKind list) {
  Stmt st(db, "SELECT entry FROM tls_lists WHERE list = ?1 ORDER BY entry");
  if (!st.prepared()) return db_error(db, "reading the TLS policy lists");
  const auto name = list_name(list);
  st.bind(1, name);
  std::vector<std::string> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(st.text(0));
  if (rc != SQLITE_DONE) return db_error(db, "reading the TLS policy lists");
  return out;
}

Status change(sqlite3* db, const char* sql, ListKind list, std::string_view entry, std::string_view what) {
  Stmt st(db, sql);
  if (!st.prepared()) return db_error(db, what);
  const auto name = list_name(list);
  st.bind(1, name);
  st.bind(2, entry);
  if (st.step() != SQLITE_DONE) return db_error(db, what);
  return {};
}

std::string shown(std::string_view entry) { return entry.empty() ? std::string("''") : fmt::format("'{}'", entry); }

}  // namespace

ListStore::ListStore(config::Store& store) : store_(store) {}

Expected<Entry> ListStore::add(ListKind list, std::string_view entry) {
  auto e = parse_entry(list, entry);
  if (!e) return e.error();
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  auto rows = read_list(db, list);
  if (!rows) return rows.error();
  for (const auto& row : *rows) {
    auto other = parse_entry(list, row);
    if (row == e->text || (other && other->text == e->text))
      return make_error(fmt::format("{}: {} is already in the list", list_name(list), shown(e->text)));
  }
  if (auto r = change(db, "INSERT INTO tls_lists(list, entry) VALUES(?1, ?2)", list, e->text,
                      "adding a TLS policy list entry");
      !r)
    return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("tls_list_added list={} entry={}", list_name(list), shown(e->text));
  return e;
}

Status ListStore::remove(ListKind list, std::string_view entry) {
  auto e = parse_entry(list, entry);
  const std::string raw(core::trim(entry));
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  auto rows = read_list(db, list);
  if (!rows) return rows.error();
  std::vector<std::string> doomed;  // rows as stored
  for (const auto& row : *rows) {
    bool hit = row == raw;
    if (!hit && e) {
      auto other = parse_entry(list, row);
      hit = row == e->text || (other && other->text == e->text);
    }
    if (hit) doomed.push_back(row);
  }
  if (doomed.empty()) {
    if (!e) return e.error();  // neither a stored row nor a valid entry: say what is wrong with it
    return make_error(fmt::format("{}: {} is not in the list", list_name(list), shown(e->text)));
  }
  for (const auto& row : doomed)
    if (auto r = change(db, "DELETE FROM tls_lists WHERE list = ?1 AND entry = ?2", list, row,
                        "removing a TLS policy list entry");
        !r)
      return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  for (const auto& row : doomed) logger()->info("tls_list_removed list={} entry={}", list_name(list), shown(row));
  return {};
}

Expected<std::vector<std::string>> ListStore::show(ListKind list) { return read_list(store_.db(), list); }

Expected<TlsLists> ListStore::load_all() {
  sqlite3* db = store_.db();
  Txn txn(db);  // one read transaction: the three lists come from the same commit
  if (auto r = txn.begin(false); !r) return r.error();
  std::array<std::vector<std::string>, 3> texts;
  for (auto l : kAllLists) {
    auto rows = read_list(db, l);
    if (!rows) return rows.error();
    texts[static_cast<std::size_t>(l)] = std::move(*rows);
  }
  if (auto r = txn.commit(); !r) return r.error();
  std::vector<Error> skipped;
  auto lists = TlsLists::from_entries(texts[0], texts[1], texts[2], &skipped);
  for (const auto& s : skipped) logger()->warn("tls_list_entry_skipped reason=\"{}\"", s.message);
  return lists;
}

}  // namespace gatehouse::tlspolicy
