// sasl::UserStore: the SMTP AUTH users in table `users` (schema migration 4), which only this
// store writes, on behalf of service and the CLI, through config's connection
// (config::Store::db(), architecture.md §2 "Table ownership"). User names are case-insensitive
// (stored in lower case): 1..128 characters from letters, digits and ". - _ @ +", starting with a
// letter or digit. Passwords are 8..255 octets (255 is the SASL PLAIN limit, RFC 4616 §2) without
// NUL, CR or LF; they are stored only as scrypt hashes (password.hpp), plus the CRAM-MD5 secret
// when CRAM-MD5 is enabled at the time the password is set.
// Must not: return or log a hash, secret or password from any method; keep a statement or
// transaction open across calls; touch another module's tables. One thread at a time, like the
// config::Store it wraps; verify() is slow (one scrypt, about 0.1 s): run it off the io threads.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/core/error.hpp"

namespace gatehouse::config {
class Store;
}

namespace gatehouse::sasl {

struct UserInfo {
  std::string name;          // lower case
  std::int64_t created = 0;  // unix seconds
  bool cram_md5 = false;     // a CRAM-MD5 secret is stored
};

// The outcome of a login check. Only `ok` authenticates; the driver answers every other one with
// 535 5.7.8 (never telling the client which) and counts it in the LoginThrottle. The distinction
// is for the log.
enum class AuthResult { ok, bad_credentials, unknown_user, no_cram_secret };
const char* to_string(AuthResult r);  // "ok", "bad-credentials", "unknown-user", "no-cram-secret"

// "user name 'A B': only letters, digits and . - _ @ + are allowed" etc.; the lower-cased name.
Expected<std::string> normalise_user_name(std::string_view name);
// "password for user 'tim': shorter than 8 characters" etc.
Status check_password(std::string_view user, std::string_view password);

class UserStore {
 public:
  // `clock` stamps the `created` column.
  explicit UserStore(config::Store& store, const core::Clock& clock = core::system_clock());

  // Adds a user; refuses an existing name ("user 'tim' already exists"). With `cram_md5` on (the
  // setting auth.cram_md5), the CRAM-MD5 secret is stored too.
  Status add(std::string_view name, std::string_view password, bool cram_md5);
  // Sets a new password (and stores or clears the CRAM-MD5 secret per `cram_md5`).
  // "user 'tim' does not exist" when absent.
  Status passwd(std::string_view name, std::string_view password, bool cram_md5);
  // "user 'tim' does not exist" when absent.
  Status remove(std::string_view name);
  // Every user, by name, without hashes or secrets.
  Expected<std::vector<UserInfo>> list();

  // PLAIN / LOGIN. An unknown user costs the same scrypt time as a known one (no user
  // enumeration by timing). An error only for database failures and a stored hash that does not
  // parse (the driver answers those 454 4.7.0).
  Expected<AuthResult> verify(std::string_view name, std::string_view password);
  // CRAM-MD5 (RFC 2195): `challenge` as sent ("<nonce@host>"), `digest_hex` as received.
  Expected<AuthResult> verify_cram(std::string_view name, std::string_view challenge, std::string_view digest_hex);

 private:
  config::Store& store_;
  const core::Clock& clock_;
};

}  // namespace gatehouse::sasl
