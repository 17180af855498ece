// tlspolicy::ListStore: the `tls_lists` table (schema migration 3), which only tlspolicy writes,
// on behalf of service, through config's connection (config::Store::db(); architecture.md §2
// "Table ownership"). Entries are validated and normalised by parse_entry() before they are
// stored, so the table holds only canonical text. The running server reads the lists from the
// Settings snapshot (config::Store::load_settings), not from here.
// Must not: keep a statement or transaction open across calls, touch another module's tables,
// or be used from two threads at once (like the config::Store it wraps).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/tlspolicy/lists.hpp"

namespace gatehouse::config {
class Store;
}

namespace gatehouse::tlspolicy {

class ListStore {
 public:
  explicit ListStore(config::Store& store);

  // Validates and normalises `entry`, refuses a duplicate ("starttls-whitelist: '*.example.com'
  // is already in the list"), stores it and returns the stored form.
  Expected<Entry> add(ListKind list, std::string_view entry);
  // Removes the entry; the input is normalised first ("192.0.2.7/32" removes "192.0.2.7"), and
  // a row that no longer parses (hand edit) is removed by its exact text. Error when absent:
  // "starttls-required: 'mx.example.net' is not in the list".
  Status remove(ListKind list, std::string_view entry);
  // The stored entries of one list, sorted (byte order; "" first).
  Expected<std::vector<std::string>> show(ListKind list);
  // All three lists as one value. Rows that do not parse are skipped with a warning on the
  // "tlspolicy" logger.
  Expected<TlsLists> load_all();

 private:
  config::Store& store_;
};

}  // namespace gatehouse::tlspolicy
