// `gatehouse list ...`: the TLS policy list subcommands, for app's main() to dispatch to with one
// line. Results on stdout; errors as one line "gatehouse: error: ..." on stderr.
// Must not write the database except through tlspolicy::ListStore.
#pragma once
#include <string>
#include <vector>

namespace gatehouse::config {
class Store;
}

namespace gatehouse::tlspolicy {

// `args` are the words after "list":
//   add    starttls-whitelist|starttls-required|tls-domains ENTRY   (ENTRY may be "" for tls-domains)
//   remove starttls-whitelist|starttls-required|tls-domains ENTRY
//   show   starttls-whitelist|starttls-required|tls-domains         one entry per line, sorted; the
//                                                                   empty tls-domains entry prints as ""
// add prints nothing on success, except a note on stderr when the entry was stored in another
// form ("gatehouse: stored as '*.example.com'").
// Returns the exit code: 0 success, 1 refused or failed, 2 usage error.
int run_list_command(config::Store& store, const std::vector<std::string>& args);

}  // namespace gatehouse::tlspolicy
