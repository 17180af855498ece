// Internal to service: the one way an operation reaches the configuration database. Each call
// opens it for its own short transaction, so the registry can serve any thread.
#pragma once
#include <boost/json/value.hpp>
#include <filesystem>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/error.hpp"

namespace gatehouse::service::detail {

// Runs `fn(store)` on a freshly opened configuration database.
template <class Fn>
Expected<boost::json::value> with_store(const std::filesystem::path& db, Fn fn) {
  auto st = config::Store::open(db);
  if (!st) return st.error();
  return fn(**st);
}

}  // namespace gatehouse::service::detail
