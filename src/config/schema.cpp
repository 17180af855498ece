// Schema migrations for the configuration database, tracked with PRAGMA user_version.
// Migration N (1-based) is kMigrations[N-1]. Each runs in its own BEGIN IMMEDIATE transaction
// together with the user_version bump, so a crash leaves the database at N-1 or N, never between;
// two processes opening at once serialize on the write lock and the second one skips what the
// first applied. Must not: change a released migration, write default rows (defaults live in
// the registry in settings.cpp), or touch tables of another module except to create them.
//
// Table ownership (architecture.md §2): config runs the migrations for every table, but each
// table has exactly one writing module, named in a comment in its CREATE statement. The comment
// is kept by SQLite, so `.schema` in the sqlite3 shell shows it to whoever hand-edits the file.
#include "schema.hpp"

#include <fmt/format.h>
#include <iterator>
#include <spdlog/spdlog.h>

#include "gatehouse/core/log.hpp"
#include "gatehouse/config/sqlite.hpp"

namespace gatehouse::config::schema {
namespace {

constexpr const char* kMigrations[] = {
    // 1: settings, local domains, relay networks.
    R"sql(
CREATE TABLE settings(          -- writer: config (config::Store::set/unset, on behalf of service)
  key   TEXT PRIMARY KEY,       -- a registry key, e.g. smtp.max_recipients
  value TEXT NOT NULL           -- canonical text; absent row = registry default
) STRICT;
CREATE TABLE domains(           -- writer: config (config::Store::add_domain/remove_domain, on behalf of service)
  name          TEXT PRIMARY KEY,           -- lower-case, no trailing dot
  mail_server   TEXT NOT NULL,              -- host:port or [v6]:port of the downstream server
  bind_ip       TEXT NOT NULL DEFAULT '',   -- source IP for deliveries to it; '' = any
  smtp_hostname TEXT NOT NULL DEFAULT ''    -- HELO name towards it; '' = smtp.hostname
) STRICT;
CREATE TABLE relay_networks(    -- writer: config (config::Store::relay_allow/relay_remove, on behalf of service)
  cidr TEXT PRIMARY KEY         -- normalized network/prefix, host bits zero
) STRICT;
)sql",
    // 2: the TLS certificate store.
    R"sql(
CREATE TABLE certificates(      -- writer: tls (tls::CertStore::add/activate/remove, on behalf of service)
  id        INTEGER PRIMARY KEY,
  cert_pem  TEXT NOT NULL,                -- the leaf certificate, PEM
  chain_pem TEXT NOT NULL DEFAULT '',     -- intermediates as PEM, the leaf's issuer first; '' = none
  key_pem   TEXT NOT NULL,                -- the leaf's private key, unencrypted PKCS#8 PEM; read only by tls
  active    INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),  -- 1 = the one the server presents
  created   INTEGER NOT NULL              -- Unix seconds when it was added
) STRICT;
CREATE UNIQUE INDEX certificates_one_active  -- at most one certificate is active
  ON certificates(active) WHERE active = 1;
)sql",
    // 3: TLS policy lists (issue "TLS everywhere" items 5-7).
    R"sql(
CREATE TABLE tls_lists(         -- writer: tlspolicy (tlspolicy::ListStore, on behalf of service)
  list  TEXT NOT NULL CHECK (list IN ('starttls-whitelist', 'starttls-required', 'tls-domains')),
  entry TEXT NOT NULL,          -- normalised entry: IP, CIDR, host name, *.domain, domain or user@domain; '' = everyone (tls-domains)
  PRIMARY KEY (list, entry)
) STRICT;
)sql",
    // 4: SMTP AUTH users (issue "TLS everywhere" item 9).
    R"sql(
CREATE TABLE users(             -- writer: sasl (sasl::UserStore, on behalf of service)
  name          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,  -- "$scrypt$..."/"$pbkdf2-sha256$..." salted hash; never returned by any API
  cram_secret   TEXT NOT NULL DEFAULT '',  -- only when CRAM-MD5 needs it (see docs/encryption.md); '' = none
  created       INTEGER NOT NULL
) STRICT;
)sql",
    // 5: DKIM signing keys, one per domain (issue "Email authentication" item 3).
    R"sql(
CREATE TABLE dkim_keys(         -- writer: service (service::DkimKeys, for `gatehouse dkim` and the API)
  domain      TEXT PRIMARY KEY, -- lower-case signing domain (d=)
  selector    TEXT NOT NULL,    -- s=; the key record is at <selector>._domainkey.<domain>
  key_type    TEXT NOT NULL CHECK (key_type IN ('rsa', 'ed25519')),
  bits        INTEGER NOT NULL, -- RSA modulus size; 256 for Ed25519
  private_pem TEXT NOT NULL,    -- unencrypted PKCS#8 PEM; read only to build signers, never returned by any API
  record      TEXT NOT NULL,    -- the DNS TXT record to publish: "v=DKIM1; k=...; p=..."
  enabled     INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),  -- 1 = outbound mail is signed with it
  created     INTEGER NOT NULL  -- Unix seconds
) STRICT;
)sql",
};

Expected<int> user_version(sqlite3* db) {
  sql::Stmt st(db, "PRAGMA user_version");
  if (!st.prepared() || st.step() != SQLITE_ROW) return sql::db_error(db, "reading the schema version");
  return static_cast<int>(st.int64(0));
}

Error too_new(const std::filesystem::path& path, int version) {
  return make_error(fmt::format(
      "config database '{}' has schema version {}, but this gatehouse only knows up to version {}; "
      "it was written by a newer release (upgrade gatehouse or restore an older database)",
      path.string(), version, latest_version()));
}

}  // namespace

int latest_version() { return static_cast<int>(std::size(kMigrations)); }

Expected<int> migrate(sqlite3* db, const std::filesystem::path& path) {
  auto current = user_version(db);
  if (!current) return current.error();
  if (*current > latest_version()) return too_new(path, *current);
  while (*current < latest_version()) {
    sql::Txn txn(db);
    if (auto r = txn.begin(true); !r) return r.error();
    // Re-read under the write lock: another process may have migrated meanwhile.
    current = user_version(db);
    if (!current) return current.error();
    if (*current > latest_version()) return too_new(path, *current);
    if (*current == latest_version()) break;  // Txn rolls back the empty transaction
    const int next = *current + 1;
    if (auto r = sql::exec(db, kMigrations[next - 1], fmt::format("applying schema migration {}", next)); !r)
      return r.error();
    if (auto r = sql::exec(db, fmt::format("PRAGMA user_version = {}", next).c_str(), "setting the schema version"); !r)
      return r.error();
    if (auto r = txn.commit(); !r) return r.error();
    core::log::get("config")->info("schema_migrated db={} version={}", path.string(), next);
    current = next;
  }
  return *current;
}

}  // namespace gatehouse::config::schema
