// The one SQLite configuration database (WAL mode), its ordered schema migrations and one
// repository per table (settings, domains, relay_networks). Only `config` opens SQLite.
// A Store is one connection: use it from one thread at a time. The CLI and the running server
// each open their own; the server notices the CLI's commits through PRAGMA data_version.
#pragma once
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/error.hpp"

struct sqlite3;

namespace gatehouse::config {

struct SettingRow {
  std::string key;
  std::string value;  // effective value (stored or default)
  bool is_default = true;
};

class Store {
 public:
  // Opens (creating if missing) `db_path`, sets WAL + busy timeout, applies pending migrations.
  static Expected<std::unique_ptr<Store>> open(const std::filesystem::path& db_path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const;
  static int latest_schema_version();

  // settings
  Expected<std::string> get(std::string_view key);  // unknown key: error naming it
  Status set(std::string_view key, std::string_view value);  // validates first
  Status unset(std::string_view key);                          // back to the default
  Expected<std::vector<SettingRow>> list();

  // domains
  Status add_domain(const LocalDomain& d);  // validates name, server, bind ip, hostname; refuses duplicates
  Status remove_domain(std::string_view name);  // error if unknown
  Expected<std::vector<LocalDomain>> list_domains();

  // relay networks
  Status relay_allow(std::string_view cidr);   // validates; refuses duplicates
  Status relay_remove(std::string_view cidr);  // error if not present
  Expected<std::vector<core::Cidr>> relay_list();

  // Builds a complete snapshot from the rows (generation supplied by the caller).
  Expected<SettingsPtr> load_settings(std::uint64_t generation);
  // PRAGMA data_version: changes when another connection commits.
  Expected<std::int64_t> data_version();

  // The open connection, for a module that owns a table created by the migrations above and
  // writes it itself (tls::CertStore and `certificates`; architecture.md §2 "Table ownership").
  // Same rules as the Store: one thread at a time, no statement or transaction left open across
  // calls, never closed by the caller, and no access to another module's tables.
  sqlite3* db() { return db_; }

 private:
  explicit Store(sqlite3* db);
  sqlite3* db_;
  int schema_version_ = 0;
};

// Holds the current snapshot; publish() swaps it in one step and calls subscribers.
class Publisher {
 public:
  explicit Publisher(SettingsPtr initial);
  SettingsPtr current() const;
  void publish(SettingsPtr next);
  // Called (on the publishing thread) with each new snapshot. Subscribers must not block.
  void subscribe(std::function<void(const SettingsPtr&)> fn);

 private:
  std::atomic<SettingsPtr> current_;
  mutable std::mutex mu_;
  std::vector<std::function<void(const SettingsPtr&)>> subs_;
};

// Background thread: polls data_version every `interval` and republishes on change;
// reload_now() (SIGHUP) forces a rebuild. A snapshot that fails to build is logged and the
// current one stays.
class Watcher {
 public:
  Watcher(std::filesystem::path db_path, Publisher& pub,
          std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  ~Watcher();  // stops the thread
  void reload_now();

 private:
  void run();
  std::filesystem::path db_path_;
  Publisher& pub_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, reload_ = false;
  std::thread thread_;
};

}  // namespace gatehouse::config
