// `gatehouse user ...`: the SMTP AUTH user subcommands, for app's main() to dispatch to with one
// line. Prints results on stdout; errors as one line "gatehouse: error: ..." on stderr.
// Must not print or log passwords, hashes or secrets, read a password from the command line or
// prompt on a terminal: passwords come from --password-file only.
#pragma once
#include <string>
#include <vector>

namespace gatehouse::config {
class Store;
}

namespace gatehouse::sasl {

// `args` are the words after "user", e.g. {"add", "tim", "--password-file", "/root/tim.pass"}.
//   add NAME --password-file FILE       add a user (FILE "-" = standard input)
//   passwd NAME --password-file FILE    set a new password
//   remove NAME                         delete a user
//   list                                one line per user: name TAB added (UTC) TAB cram-md5|-
// The password is the file's content without one trailing line end (LF or CRLF); an empty one
// is refused. `cram_enabled` is the setting auth.cram_md5: when on, add and passwd also store
// the CRAM-MD5 secret (see docs/encryption.md "SMTP AUTH").
// Returns the exit code: 0 success, 1 refused or failed, 2 usage error.
int run_user_command(config::Store& store, const std::vector<std::string>& args, bool cram_enabled);

}  // namespace gatehouse::sasl
