// The ordered schema migrations of the one configuration database (internal to config).
// Must not be edited in place once released: a shipped migration is history; add a new one.
#pragma once
#include <filesystem>
#include <sqlite3.h>

#include "gatehouse/core/error.hpp"

namespace gatehouse::config::schema {

// Number of migrations = the user_version of a fully migrated database.
int latest_version();
// Applies every pending migration, each in its own IMMEDIATE transaction, and returns the
// resulting version. Refuses a database whose user_version is newer than latest_version().
Expected<int> migrate(sqlite3* db, const std::filesystem::path& path);

}  // namespace gatehouse::config::schema
