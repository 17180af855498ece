// sasl::UserStore over the `users` table (schema migration 4), through the connection of a
// config::Store. Every change runs in one BEGIN IMMEDIATE transaction (read, check, write); the
// slow scrypt hash is computed before the transaction starts, so the database is never locked
// for the length of a hash. Names are checked and lower-cased here, passwords checked here.
// Must not: select password_hash or cram_secret except in verify()/verify_cram(), put a hash,
// secret or password into an error or log line, or keep a statement or transaction open.
#include "gatehouse/sasl/user_store.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "gatehouse/config/sqlite.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/sasl/password.hpp"

namespace gatehouse::sasl {
namespace {

constexpr std::size_t kMaxName = 128;
constexpr std::size_t kMinPassword = 8;
constexpr std::size_t kMaxPassword = 255;

std::shared_ptr<spdlog::logger> logger() { return core::log::get("sasl"); }


Error no_such_user(std::string_view name) { return make_error(fmt::format("user '{}' does not exist", name)); }

// For error texts: control characters never reach a terminal or log line.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out;
}

using config::sql::db_error;
using config::sql::Stmt;
using config::sql::Txn;

// Best-effort wipe of a secret held in a std::string.
void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// The hash an unknown user is "checked" against, so a miss costs as much time as a hit.
const std::string& dummy_hash() {
  static const std::string h = [] {
    unsigned char r[16];
    RAND_bytes(r, sizeof r);
    auto v = hash_password(std::string_view(reinterpret_cast<const char*>(r), sizeof r));
    return v ? *v : std::string();
  }();
  return h;
}

struct Secrets {
  std::string hash, cram;
  Secrets() = default;
  Secrets(Secrets&& o) noexcept : hash(std::move(o.hash)), cram(std::move(o.cram)) {}
  Secrets(const Secrets&) = delete;
  Secrets& operator=(const Secrets&) = delete;
  Secrets& operator=(Secrets&&) = delete;
  ~Secrets() {
    wipe(hash);
    wipe(cram);
  }
};

// Checks name and password, then computes the stored forms (slow: one scrypt).
Expected<Secrets> make_secrets(std::string_view name, std::string_view password, bool cram_md5) {
  if (auto st = check_password(name, password); !st) return st.error();
  Secrets s;
  auto h = hash_password(password);
  if (!h) return make_error(fmt::format("user '{}': {}", name, h.error().message));
  s.hash = std::move(*h);
  if (cram_md5) s.cram = cram_md5_secret(password);
  return s;
}

}  // namespace

const char* to_string(AuthResult r) {
  switch (r) {
    case AuthResult::ok: return "ok";
    case AuthResult::bad_credentials: return "bad-credentials";
    case AuthResult::unknown_user: return "unknown-user";
    case AuthResult::no_cram_secret: return "no-cram-secret";
  }
  return "?";
}

Expected<std::string> normalise_user_name(std::string_view name) {
  if (name.empty()) return make_error("user name is empty");
  if (name.size() > kMaxName)
    return make_error(fmt::format("user name '{}...': longer than {} characters", printable(name.substr(0, 32)), kMaxName));
  std::string out;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '.' && c != '-' && c != '_' && c != '@' && c != '+')
      return make_error(
          fmt::format("user name '{}': only letters, digits and . - _ @ + are allowed", printable(name)));
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (!((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= '0' && out[0] <= '9')))
    return make_error(fmt::format("user name '{}': must start with a letter or digit", printable(name)));
  return out;
}

Status check_password(std::string_view user, std::string_view password) {
  const auto who = printable(user);
  if (password.empty()) return make_error(fmt::format("password for user '{}': empty", who));
  if (password.size() < kMinPassword)
    return make_error(fmt::format("password for user '{}': shorter than {} characters", who, kMinPassword));
  if (password.size() > kMaxPassword)
    return make_error(
        fmt::format("password for user '{}': longer than {} bytes (the SASL PLAIN limit)", who, kMaxPassword));
  if (password.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
    return make_error(fmt::format("password for user '{}': contains a NUL or line break", who));
  return {};
}

UserStore::UserStore(config::Store& store, const core::Clock& clock) : store_(store), clock_(clock) {}

Status UserStore::add(std::string_view name_in, std::string_view password, bool cram_md5) {
  auto name = normalise_user_name(name_in);
  if (!name) return name.error();
  auto secrets = make_secrets(*name, password, cram_md5);
  if (!secrets) return secrets.error();
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  {
    Stmt st(db, "SELECT 1 FROM users WHERE name = ?1");
    if (!st.prepared()) return db_error(db, "reading users");
    st.bind(1, *name);
    const int rc = st.step();
    if (rc == SQLITE_ROW) return make_error(fmt::format("user '{}' already exists", *name));
    if (rc != SQLITE_DONE) return db_error(db, "reading users");
  }
  Stmt ins(db, "INSERT INTO users(name, password_hash, cram_secret, created) VALUES(?1, ?2, ?3, ?4)");
  if (!ins.prepared()) return db_error(db, "adding a user");
  ins.bind(1, *name);
  ins.bind(2, secrets->hash);
  ins.bind(3, secrets->cram);
  ins.bind(4, core::to_unix(clock_.now()));
  if (ins.step() != SQLITE_DONE) return db_error(db, fmt::format("adding user '{}'", *name));
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("user_added name={} cram_md5={}", *name, cram_md5 ? "yes" : "no");
  return {};
}

Status UserStore::passwd(std::string_view name_in, std::string_view password, bool cram_md5) {
  auto name = normalise_user_name(name_in);
  if (!name) return name.error();
  auto secrets = make_secrets(*name, password, cram_md5);
  if (!secrets) return secrets.error();
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  Stmt up(db, "UPDATE users SET password_hash = ?2, cram_secret = ?3 WHERE name = ?1");
  if (!up.prepared()) return db_error(db, "changing a password");
  up.bind(1, *name);
  up.bind(2, secrets->hash);
  up.bind(3, secrets->cram);
  if (up.step() != SQLITE_DONE) return db_error(db, fmt::format("changing the password of user '{}'", *name));
  if (sqlite3_changes(db) == 0) return no_such_user(*name);
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("user_password_changed name={} cram_md5={}", *name, cram_md5 ? "yes" : "no");
  return {};
}

Status UserStore::remove(std::string_view name_in) {
  auto name = normalise_user_name(name_in);
  if (!name) return name.error();
  sqlite3* db = store_.db();
  Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  Stmt del(db, "DELETE FROM users WHERE name = ?1");
  if (!del.prepared()) return db_error(db, "removing a user");
  del.bind(1, *name);
  if (del.step() != SQLITE_DONE) return db_error(db, fmt::format("removing user '{}'", *name));
  if (sqlite3_changes(db) == 0) return no_such_user(*name);
  if (auto r = txn.commit(); !r) return r.error();
  logger()->info("user_removed name={}", *name);
  return {};
}

Expected<std::vector<UserInfo>> UserStore::list() {
  sqlite3* db = store_.db();
  Stmt st(db, "SELECT name, created, cram_secret != '' FROM users ORDER BY name");
  if (!st.prepared()) return db_error(db, "reading users");
  std::vector<UserInfo> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(UserInfo{st.text(0), st.int64(1), st.int64(2) != 0});
  if (rc != SQLITE_DONE) return db_error(db, "reading users");
  return out;
}

Expected<AuthResult> UserStore::verify(std::string_view name_in, std::string_view password) {
  auto name = normalise_user_name(name_in);
  std::string hash;
  if (name) {
    sqlite3* db = store_.db();
    Stmt st(db, "SELECT password_hash FROM users WHERE name = ?1");
    if (!st.prepared()) return db_error(db, "reading users");
    st.bind(1, *name);
    const int rc = st.step();
    if (rc == SQLITE_ROW) hash = st.text(0);
    else if (rc != SQLITE_DONE) return db_error(db, "reading users");
  }
  if (hash.empty()) {
    (void)verify_password(password, dummy_hash());  // same time as a real check
    return AuthResult::unknown_user;
  }
  auto ok = verify_password(password, hash);
  wipe(hash);
  if (!ok)
    return make_error(fmt::format("user '{}': {} (set the password again: gatehouse user passwd {} --password-file FILE)",
                                  *name, ok.error().message, *name));
  return *ok ? AuthResult::ok : AuthResult::bad_credentials;
}

Expected<AuthResult> UserStore::verify_cram(std::string_view name_in, std::string_view challenge,
                                            std::string_view digest_hex) {
  auto name = normalise_user_name(name_in);
  if (!name) return AuthResult::unknown_user;
  sqlite3* db = store_.db();
  std::string secret;
  {
    Stmt st(db, "SELECT cram_secret FROM users WHERE name = ?1");
    if (!st.prepared()) return db_error(db, "reading users");
    st.bind(1, *name);
    const int rc = st.step();
    if (rc == SQLITE_DONE) return AuthResult::unknown_user;
    if (rc != SQLITE_ROW) return db_error(db, "reading users");
    secret = st.text(0);
  }
  if (secret.empty()) return AuthResult::no_cram_secret;
  auto ok = verify_cram_md5(secret, challenge, digest_hex);
  wipe(secret);
  if (!ok)
    return make_error(fmt::format("user '{}': {} (set the password again: gatehouse user passwd {} --password-file FILE)",
                                  *name, ok.error().message, *name));
  return *ok ? AuthResult::ok : AuthResult::bad_credentials;
}

}  // namespace gatehouse::sasl
