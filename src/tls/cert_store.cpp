// tls::CertStore over the `certificates` table (schema migration 2), through the connection of
// a config::Store. Every change runs in one BEGIN IMMEDIATE transaction (read, check, write), so
// two writers (the CLI and the service) cannot both make a certificate active; the partial
// unique index certificates_one_active enforces "at most one" in the database as well.
// Must not: select key_pem except in activate() (to check it) and active_with_key(), log or put
// key material in an error, or keep a statement or transaction open after returning.
#include "gatehouse/tls/cert_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "certificate_internal.hpp"
#include "gatehouse/config/sqlite.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "key_access.hpp"
#include "names.hpp"

namespace gatehouse::tls {
namespace {

std::shared_ptr<spdlog::logger> logger() { return core::log::get("tls"); }


Error not_found(std::int64_t id) { return make_error(fmt::format("certificate {} does not exist", id)); }

using config::sql::db_error;
using config::sql::Stmt;
using config::sql::Txn;

// Runs a statement that changes rows, binding int64 arguments.
Status change(sqlite3* db, const char* sql, std::initializer_list<std::int64_t> args, std::string_view what) {
  Stmt st(db, sql);
  if (!st.prepared()) return db_error(db, what);
  int i = 1;
  for (auto a : args) st.bind(i++, a);
  if (st.step() != SQLITE_DONE) return db_error(db, what);
  return {};
}

constexpr const char* kInfoColumns = "id, cert_pem, chain_pem, active, created";

// A CertificateInfo from the five kInfoColumns of the current row.
Expected<CertificateInfo> info_from_row(const Stmt& st) {
  CertificateInfo info;
  info.id = st.int64(0);
  info.cert_pem = st.text(1);
  info.chain_pem = st.text(2);
  info.active = st.int64(3) != 0;
  info.created = st.int64(4);
  auto d = describe(info.cert_pem);
  if (!d) return d.error();
  static_cast<Description&>(info) = std::move(*d);
  return info;
}

}  // namespace

CertStore::CertStore(config::Store& store, const core::Clock& clock) : store_(store), clock_(clock) {}

Expected<std::int64_t> CertStore::add(const CertificateRecord& rec) {
  sqlite3* db = store_.db();
  const std::string& key_pem = detail::KeyAccess::key_pem(rec);
  if (auto st = detail::check_key_pair(rec.cert_pem, rec.chain_pem, key_pem); !st)
    return make_error("cannot store the certificate: " + st.error().message);
  auto desc = describe(rec.cert_pem);  // the stored PEM is the truth, not the record's fields
  if (!desc) return make_error("cannot store the certificate: " + desc.error().message);

  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  {
    Stmt st(db, "SELECT id, cert_pem FROM certificates");
    if (!st.prepared()) return db_error(db, "reading certificates");
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      auto other = describe(st.text(1));
      if (other && other->fingerprint_sha256 == desc->fingerprint_sha256)
        return make_error(fmt::format("this certificate is already stored as certificate {}", st.int64(0)));
    }
    if (rc != SQLITE_DONE) return db_error(db, "reading certificates");
  }
  const std::int64_t created = core::to_unix(clock_.now());
  Stmt ins(db,
           "INSERT INTO certificates(cert_pem, chain_pem, key_pem, active, created) "
           "VALUES(?1, ?2, ?3, NOT EXISTS(SELECT 1 FROM certificates WHERE active = 1), ?4)");
  if (!ins.prepared()) return db_error(db, "adding a certificate");
  ins.bind(1, rec.cert_pem);
  ins.bind(2, rec.chain_pem);
  ins.bind(3, key_pem);
  ins.bind(4, created);
  if (ins.step() != SQLITE_DONE) return db_error(db, "adding a certificate");
  const std::int64_t id = sqlite3_last_insert_rowid(db);
  bool active = false;
  {
    Stmt st(db, "SELECT active FROM certificates WHERE id = ?1");
    st.bind(1, id);
    if (!st.prepared() || st.step() != SQLITE_ROW) return db_error(db, "reading the new certificate");
    active = st.int64(0) != 0;
  }
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("cert_added id={} subject={} not_after={} sha256={} active={}", id, names::quote(desc->subject),
                 iso8601_utc(desc->not_after), desc->fingerprint_sha256, active ? "yes" : "no");
  return id;
}

Expected<std::vector<CertificateInfo>> CertStore::list() {
  sqlite3* db = store_.db();
  Stmt st(db, fmt::format("SELECT {} FROM certificates ORDER BY id", kInfoColumns).c_str());
  if (!st.prepared()) return db_error(db, "reading certificates");
  std::vector<CertificateInfo> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto info = info_from_row(st);
    if (!info) {
      logger()->warn("cert_skipped id={} reason=\"{}\" (remove it with: gatehouse cert delete {})", st.int64(0),
                     info.error().message, st.int64(0));
      continue;
    }
    out.push_back(std::move(*info));
  }
  if (rc != SQLITE_DONE) return db_error(db, "reading certificates");
  return out;
}

Expected<CertificateInfo> CertStore::get_info(std::int64_t id) {
  sqlite3* db = store_.db();
  Stmt st(db, fmt::format("SELECT {} FROM certificates WHERE id = ?1", kInfoColumns).c_str());
  if (!st.prepared()) return db_error(db, "reading a certificate");
  st.bind(1, id);
  const int rc = st.step();
  if (rc == SQLITE_DONE) return not_found(id);
  if (rc != SQLITE_ROW) return db_error(db, "reading a certificate");
  auto info = info_from_row(st);
  if (!info) return make_error(fmt::format("certificate {} cannot be read: {}", id, info.error().message));
  return info;
}

Status CertStore::activate(std::int64_t id) {
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  {
    Stmt st(db, "SELECT cert_pem, chain_pem, key_pem, active FROM certificates WHERE id = ?1");
    if (!st.prepared()) return db_error(db, "reading a certificate");
    st.bind(1, id);
    const int rc = st.step();
    if (rc == SQLITE_DONE) return not_found(id);
    if (rc != SQLITE_ROW) return db_error(db, "reading a certificate");
    if (auto ok = detail::check_key_pair(st.text(0), st.text(1), st.text(2)); !ok)
      return make_error(fmt::format("certificate {} cannot be activated: {}", id, ok.error().message));
    if (st.int64(3) != 0) return {};  // already the active one
  }
  // Clear first, then set: the unique index is checked row by row.
  if (auto r = change(db, "UPDATE certificates SET active = 0 WHERE active = 1", {}, "activating a certificate"); !r)
    return r.error();
  if (auto r = change(db, "UPDATE certificates SET active = 1 WHERE id = ?1", {id}, "activating a certificate"); !r)
    return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("cert_activated id={}", id);
  return {};
}

Status CertStore::remove(std::int64_t id) {
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  {
    Stmt st(db, "SELECT active FROM certificates WHERE id = ?1");
    if (!st.prepared()) return db_error(db, "reading a certificate");
    st.bind(1, id);
    const int rc = st.step();
    if (rc == SQLITE_DONE) return not_found(id);
    if (rc != SQLITE_ROW) return db_error(db, "reading a certificate");
    if (st.int64(0) != 0)
      return make_error(fmt::format("certificate {} is active; activate another one first", id));
  }
  if (auto r = change(db, "DELETE FROM certificates WHERE id = ?1", {id}, "removing a certificate"); !r)
    return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("cert_removed id={}", id);
  return {};
}

Expected<std::optional<CertificateRecord>> CertStore::active_with_key() {
  sqlite3* db = store_.db();
  Stmt st(db, fmt::format("SELECT {}, key_pem FROM certificates WHERE active = 1", kInfoColumns).c_str());
  if (!st.prepared()) return db_error(db, "reading the active certificate");
  const int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<CertificateRecord>();
  if (rc != SQLITE_ROW) return db_error(db, "reading the active certificate");
  const std::int64_t id = st.int64(0);
  auto info = info_from_row(st);
  if (!info) return make_error(fmt::format("the active certificate {} cannot be read: {}", id, info.error().message));
  std::string key_pem = st.text(5);
  if (auto ok = detail::check_key_pair(info->cert_pem, info->chain_pem, key_pem); !ok)
    return make_error(fmt::format("the active certificate {} cannot be used: {}", id, ok.error().message));
  CertificateRecord rec;
  static_cast<CertificateInfo&>(rec) = std::move(*info);
  detail::KeyAccess::set_key_pem(rec, std::move(key_pem));
  return std::optional<CertificateRecord>(std::move(rec));
}

}  // namespace gatehouse::tls
