// config::Store: opens the configuration database (WAL, synchronous=FULL, busy timeout 5 s,
// foreign keys on), runs the schema migrations, and implements one repository per table
// (settings, domains, relay_networks) plus load_settings(), which builds a complete snapshot
// (it also reads tls_lists, which only tlspolicy writes, into the snapshot as stored text, and
// dkim_keys, which only service writes).
// Only this module opens SQLite. Must not: write default rows (defaults come from the registry),
// keep a statement or transaction open across calls, or be used from two threads at once.
//
// Rows that do not validate (an unknown key or value written by a newer release, or a hand
// edit) are skipped with a warning on the "config" logger, and the registry default is used:
// a gateway that refuses to start over one odd row stops the mail, which is worse than running
// with one default. Rows are still checked on every write, so only outside edits get here.
// The one exception is the cross-field rule (retry_min <= retry_max): load_settings() fails,
// because no single row is "the wrong one"; the Watcher then keeps the current snapshot, and
// `config set`/`config unset` still work to repair it (they check the resulting state only).
#include "gatehouse/config/store.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <spdlog/spdlog.h>

#include "detail.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"
#include "schema.hpp"
#include "gatehouse/config/sqlite.hpp"

namespace gatehouse::config {
namespace {

constexpr int kBusyTimeoutMs = 5000;

using Rows = std::map<std::string, std::string, std::less<>>;

std::shared_ptr<spdlog::logger> logger() { return core::log::get("config"); }

Expected<Rows> read_setting_rows(sqlite3* db) {
  sql::Stmt st(db, "SELECT key, value FROM settings");
  if (!st.prepared()) return sql::db_error(db, "reading settings");
  Rows rows;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) rows.emplace(st.text(0), st.text(1));
  if (rc != SQLITE_DONE) return sql::db_error(db, "reading settings");
  return rows;
}

// Registry defaults, then every row that validates; bad rows are skipped (see header comment).
Settings settings_from_rows(const Rows& rows, bool warn) {
  Settings s = detail::default_settings();
  for (const auto& [key, value] : rows) {
    if (auto r = apply_setting(s, key, value); !r && warn)
      logger()->warn("setting_skipped key={} reason=\"{}\" (using the default)", detail::quote(key),
                     r.error().message);
  }
  return s;
}

Error unknown_key(std::string_view key) {
  return make_error(fmt::format("unknown setting {}", detail::quote(key)));
}

// Validates and normalizes every field of a domain; errors start with "domain ..." or
// "domain name ...".
Expected<LocalDomain> check_domain(const LocalDomain& in) {
  auto name = detail::normalize_domain_name(in.name);
  if (!name) return name.error();
  LocalDomain d;
  d.name = *name;
  auto server = core::HostPort::parse(in.mail_server.to_string());
  if (!server)
    return make_error(detail::one_line(fmt::format("domain '{}': mail server {}", d.name, server.error().message)));
  d.mail_server = *server;
  auto bind = core::trim(in.bind_ip);
  if (!bind.empty()) {
    auto ip = core::IpAddress::parse(bind);
    if (!ip)
      return make_error(fmt::format("domain '{}': bind IP {} is not an IPv4 or IPv6 address", d.name,
                                    detail::quote(bind)));
    d.bind_ip = ip->to_string();
  }
  auto helo = core::trim(in.smtp_hostname);
  if (!helo.empty()) {
    auto h = detail::normalize_host_name(helo);
    if (!h) return make_error(fmt::format("domain '{}': SMTP host name {}: {}", d.name, detail::quote(helo), h.error().message));
    d.smtp_hostname = *h;
  }
  return d;
}

// All domain rows that validate, sorted by name; bad rows are skipped with a warning.
Expected<std::vector<LocalDomain>> read_domains(sqlite3* db) {
  sql::Stmt st(db, "SELECT name, mail_server, bind_ip, smtp_hostname FROM domains ORDER BY name");
  if (!st.prepared()) return sql::db_error(db, "reading domains");
  std::vector<LocalDomain> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    std::string name = st.text(0), server = st.text(1);
    auto hp = core::HostPort::parse(server);
    if (!hp) {
      logger()->warn("domain_skipped name={} reason=\"mail server {}\"", detail::quote(name),
                     detail::one_line(hp.error().message));
      continue;
    }
    auto d = check_domain(LocalDomain{name, *hp, st.text(2), st.text(3)});
    if (!d) {
      logger()->warn("domain_skipped name={} reason=\"{}\"", detail::quote(name), d.error().message);
      continue;
    }
    out.push_back(std::move(*d));
  }
  if (rc != SQLITE_DONE) return sql::db_error(db, "reading domains");
  std::stable_sort(out.begin(), out.end(), [](const LocalDomain& a, const LocalDomain& b) { return a.name < b.name; });
  // Two hand-edited rows can normalize to one name ("Example.com", "example.com"): keep the first.
  auto dup = std::adjacent_find(out.begin(), out.end(),
                                [](const LocalDomain& a, const LocalDomain& b) { return a.name == b.name; });
  while (dup != out.end()) {
    logger()->warn("domain_skipped name={} reason=\"listed twice\"", detail::quote(dup->name));
    out.erase(dup + 1);
    dup = std::adjacent_find(out.begin(), out.end(),
                             [](const LocalDomain& a, const LocalDomain& b) { return a.name == b.name; });
  }
  return out;
}

struct RelayRow {
  std::string text;  // as stored
  core::Cidr cidr;
};

bool cidr_less(const core::Cidr& a, const core::Cidr& b) {
  if (a.network.v6 != b.network.v6) return !a.network.v6;  // IPv4 first
  if (a.network.bytes != b.network.bytes) return a.network.bytes < b.network.bytes;
  return a.prefix < b.prefix;
}

// All relay rows that parse, in address order; bad rows are skipped with a warning.
Expected<std::vector<RelayRow>> read_relays(sqlite3* db, bool warn) {
  sql::Stmt st(db, "SELECT cidr FROM relay_networks");
  if (!st.prepared()) return sql::db_error(db, "reading relay networks");
  std::vector<RelayRow> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto text = st.text(0);
    auto c = core::Cidr::parse(text);
    if (!c) {
      if (warn)
        logger()->warn("relay_network_skipped cidr={} reason=\"{}\"", detail::quote(text),
                       detail::one_line(c.error().message));
      continue;
    }
    out.push_back({std::move(text), *c});
  }
  if (rc != SQLITE_DONE) return sql::db_error(db, "reading relay networks");
  std::sort(out.begin(), out.end(), [](const RelayRow& a, const RelayRow& b) { return cidr_less(a.cidr, b.cidr); });
  return out;
}

// The TLS policy lists (table tls_lists, migration 3), as stored and sorted, for the snapshot.
// Read-only here: tlspolicy::ListStore writes the table and tlspolicy parses the entries (config
// does not know their syntax, and a bad row is skipped there with a warning).
struct TlsListRows {
  std::vector<std::string> whitelist, required, domains;
};

Expected<TlsListRows> read_tls_lists(sqlite3* db) {
  sql::Stmt st(db, "SELECT list, entry FROM tls_lists ORDER BY list, entry");
  if (!st.prepared()) return sql::db_error(db, "reading the TLS policy lists");
  TlsListRows out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto list = st.text(0);
    if (list == "starttls-whitelist") out.whitelist.push_back(st.text(1));
    else if (list == "starttls-required") out.required.push_back(st.text(1));
    else if (list == "tls-domains") out.domains.push_back(st.text(1));
  }
  if (rc != SQLITE_DONE) return sql::db_error(db, "reading the TLS policy lists");
  return out;
}

Expected<std::vector<DkimKey>> read_dkim_keys(sqlite3* db) {
  sql::Stmt st(db, "SELECT domain, selector, private_pem, enabled FROM dkim_keys ORDER BY domain");
  if (!st.prepared()) return sql::db_error(db, "reading the DKIM keys");
  std::vector<DkimKey> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back({st.text(0), st.text(1), st.text(2), st.int64(3) != 0});
  if (rc != SQLITE_DONE) return sql::db_error(db, "reading the DKIM keys");
  return out;
}

// run_change()'s result when the statement hit a UNIQUE/PRIMARY KEY constraint.
constexpr int kConstraint = -1;

// Runs one statement that changes rows; returns the number of rows changed or kConstraint.
Expected<int> run_change(sqlite3* db, const char* sql, std::initializer_list<std::string_view> args,
                         std::string_view what) {
  sql::Stmt st(db, sql);
  if (!st.prepared()) return sql::db_error(db, what);
  int i = 1;
  for (auto a : args) st.bind(i++, a);
  int rc = st.step();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return kConstraint;
  if (rc != SQLITE_DONE) return sql::db_error(db, what);
  return sqlite3_changes(db);
}

}  // namespace

Store::Store(sqlite3* db) : db_(db) {}

Store::~Store() { sqlite3_close_v2(db_); }

Expected<std::unique_ptr<Store>> Store::open(const std::filesystem::path& db_path) {
  const std::string path = db_path.string();
  auto db = sql::open_wal(path, kBusyTimeoutMs);
  if (!db) return make_error(fmt::format("cannot open config database '{}': {}", path, db.error().message));
  std::unique_ptr<Store> store(new Store(*db));
  auto failed = [&](const Error& e) {
    return make_error(fmt::format("cannot open config database '{}': {}", path, e.message));
  };
  if (auto r = sql::exec(*db, "PRAGMA foreign_keys = ON", "enabling foreign keys"); !r) return failed(r.error());
  // FULL rather than NORMAL: config writes are rare and an admin's committed change should
  // survive a power cut too.
  if (auto r = sql::exec(*db, "PRAGMA synchronous = FULL", "setting synchronous"); !r) return failed(r.error());
  auto version = schema::migrate(*db, db_path);
  if (!version) {
    // The "newer than this program" error already names the file.
    if (version.error().message.starts_with("config database '")) return version.error();
    return failed(version.error());
  }
  store->schema_version_ = *version;
  return store;
}

int Store::schema_version() const { return schema_version_; }

int Store::latest_schema_version() { return schema::latest_version(); }

// ---- settings ----

Expected<std::string> Store::get(std::string_view key) {
  const SettingDef* def = find_setting(key);
  if (!def) return unknown_key(key);
  sql::Stmt st(db_, "SELECT value FROM settings WHERE key = ?1");
  if (!st.prepared()) return sql::db_error(db_, "reading a setting");
  st.bind(1, key);
  int rc = st.step();
  if (rc == SQLITE_ROW) {
    auto stored = st.text(0);
    auto canon = detail::normalize_setting(key, stored);
    if (canon) return std::move(*canon);
    logger()->warn("setting_skipped key={} reason=\"{}\" (using the default)", detail::quote(key),
                   canon.error().message);
  } else if (rc != SQLITE_DONE) {
    return sql::db_error(db_, "reading a setting");
  }
  return std::string(def->default_value);
}

Status Store::set(std::string_view key, std::string_view value) {
  if (!find_setting(key)) return unknown_key(key);
  auto canon = detail::normalize_setting(key, value);
  if (!canon) return canon.error();
  sql::Txn txn(db_);
  if (auto r = txn.begin(true); !r) return r.error();
  auto rows = read_setting_rows(db_);
  if (!rows) return rows.error();
  (*rows)[std::string(key)] = *canon;
  if (auto r = detail::check_consistency(settings_from_rows(*rows, false)); !r) return r.error();
  auto n = run_change(db_,
                      "INSERT INTO settings(key, value) VALUES(?1, ?2) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                      {key, *canon}, "saving a setting");
  if (!n) return n.error();
  return txn.commit();
}

Status Store::unset(std::string_view key) {
  if (!find_setting(key)) return unknown_key(key);
  sql::Txn txn(db_);
  if (auto r = txn.begin(true); !r) return r.error();
  auto rows = read_setting_rows(db_);
  if (!rows) return rows.error();
  auto it = rows->find(key);
  if (it == rows->end()) return {};  // already the default
  rows->erase(it);
  if (auto r = detail::check_consistency(settings_from_rows(*rows, false)); !r) return r.error();
  auto n = run_change(db_, "DELETE FROM settings WHERE key = ?1", {key}, "removing a setting");
  if (!n) return n.error();
  return txn.commit();
}

Expected<std::vector<SettingRow>> Store::list() {
  auto rows = read_setting_rows(db_);
  if (!rows) return rows.error();
  std::vector<SettingRow> out;
  for (const auto& def : setting_defs()) {
    SettingRow row{std::string(def.key), std::string(def.default_value), true};
    if (auto it = rows->find(def.key); it != rows->end()) {
      if (auto canon = detail::normalize_setting(def.key, it->second)) {
        row.value = std::move(*canon);
        row.is_default = false;
      } else {
        logger()->warn("setting_skipped key={} reason=\"{}\" (using the default)", detail::quote(def.key),
                       canon.error().message);
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

// ---- domains ----

Status Store::add_domain(const LocalDomain& in) {
  auto d = check_domain(in);
  if (!d) return d.error();
  const std::string server = d->mail_server.to_string();
  auto n = run_change(db_, "INSERT INTO domains(name, mail_server, bind_ip, smtp_hostname) VALUES(?1, ?2, ?3, ?4)",
                      {d->name, server, d->bind_ip, d->smtp_hostname}, "adding a domain");
  if (!n) return n.error();
  if (*n == kConstraint) return make_error(fmt::format("domain '{}' already exists", d->name));
  return {};
}

Status Store::remove_domain(std::string_view name) {
  // Same normalization as add, without validation, so a hand-edited odd row can be removed.
  std::string n = core::to_lower(core::trim(name));
  if (!n.empty() && n.back() == '.') n.pop_back();
  auto changed = run_change(db_, "DELETE FROM domains WHERE name = ?1", {n}, "removing a domain");
  if (!changed) return changed.error();
  if (*changed <= 0) return make_error(fmt::format("domain {} is not in the list", detail::quote(n)));
  return {};
}

Expected<std::vector<LocalDomain>> Store::list_domains() { return read_domains(db_); }

// ---- relay networks ----

Status Store::relay_allow(std::string_view cidr) {
  auto c = core::Cidr::parse(cidr);
  if (!c) return make_error(detail::one_line("relay network " + c.error().message));
  const std::string text = c->to_string();
  sql::Txn txn(db_);
  if (auto r = txn.begin(true); !r) return r.error();
  // Compare parsed values, not text, so a hand-written "10.0.0.0/08" still counts as a duplicate.
  auto rows = read_relays(db_, false);
  if (!rows) return rows.error();
  for (const auto& row : *rows)
    if (row.cidr == *c) return make_error(fmt::format("relay network {} is already in the list", text));
  auto n = run_change(db_, "INSERT INTO relay_networks(cidr) VALUES(?1)", {text}, "adding a relay network");
  if (!n) return n.error();
  if (*n == kConstraint) return make_error(fmt::format("relay network {} is already in the list", text));
  return txn.commit();
}

Status Store::relay_remove(std::string_view cidr) {
  auto c = core::Cidr::parse(cidr);
  sql::Txn txn(db_);
  if (auto r = txn.begin(true); !r) return r.error();
  std::string stored;  // the row's text as stored
  if (c) {
    auto rows = read_relays(db_, false);
    if (!rows) return rows.error();
    for (const auto& row : *rows)
      if (row.cidr == *c) stored = row.text;
    if (stored.empty()) return make_error(fmt::format("relay network {} is not in the list", c->to_string()));
  } else {
    stored = std::string(core::trim(cidr));  // lets an unparsable hand-edited row be removed
  }
  auto n = run_change(db_, "DELETE FROM relay_networks WHERE cidr = ?1", {stored}, "removing a relay network");
  if (!n) return n.error();
  if (*n == 0) {
    if (c) return make_error(fmt::format("relay network {} is not in the list", c->to_string()));
    return make_error(detail::one_line("relay network " + c.error().message));
  }
  return txn.commit();
}

Expected<std::vector<core::Cidr>> Store::relay_list() {
  auto rows = read_relays(db_, true);
  if (!rows) return rows.error();
  std::vector<core::Cidr> out;
  for (auto& row : *rows) out.push_back(row.cidr);
  return out;
}

// ---- snapshot ----

Expected<SettingsPtr> Store::load_settings(std::uint64_t generation) {
  // One read transaction: settings, domains, relay networks and TLS lists come from the same commit.
  sql::Txn txn(db_);
  if (auto r = txn.begin(false); !r) return r.error();
  auto rows = read_setting_rows(db_);
  if (!rows) return rows.error();
  auto domains = read_domains(db_);
  if (!domains) return domains.error();
  auto relays = read_relays(db_, true);
  if (!relays) return relays.error();
  auto tls_lists = read_tls_lists(db_);
  if (!tls_lists) return tls_lists.error();
  auto dkim = read_dkim_keys(db_);
  if (!dkim) return dkim.error();
  if (auto r = txn.commit(); !r) return r.error();

  auto s = std::make_shared<Settings>(settings_from_rows(*rows, true));
  if (auto r = detail::check_consistency(*s); !r) return r.error();
  s->generation = generation;
  s->domains = std::move(*domains);
  for (auto& row : *relays) s->relay_networks.push_back(row.cidr);
  s->tls_starttls_whitelist = std::move(tls_lists->whitelist);
  s->tls_starttls_required = std::move(tls_lists->required);
  s->tls_enforced_domains = std::move(tls_lists->domains);
  s->dkim_keys = std::move(*dkim);
  return SettingsPtr(std::move(s));
}

Expected<std::int64_t> Store::data_version() {
  sql::Stmt st(db_, "PRAGMA data_version");
  if (!st.prepared() || st.step() != SQLITE_ROW) return sql::db_error(db_, "reading data_version");
  return st.int64(0);
}

namespace sql {

Expected<sqlite3*> open_wal(const std::string& path, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(msg);
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  // Changing to WAL is persistent; it needs the file to be a database, so this is also where a
  // random file is rejected.
  std::string mode;
  {
    Stmt st(db, "PRAGMA journal_mode = WAL");
    if (st.prepared() && st.step() == SQLITE_ROW) mode = core::to_lower(st.text(0));
    else mode = "error: " + std::string(sqlite3_errmsg(db));
  }
  if (mode != "wal") {
    auto msg = mode.starts_with("error: ") ? fmt::format("enabling WAL: {}", mode.substr(7))
                                           : fmt::format("could not enable WAL journal mode (still '{}')", mode);
    sqlite3_close(db);
    return make_error(msg);
  }
  return db;
}

}  // namespace sql

}  // namespace gatehouse::config
