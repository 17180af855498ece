// `gatehouse cert ...`: the certificate subcommands, for app's main() to dispatch to with one
// line. Prints results on stdout; errors as one line "gatehouse: error: ..." on stderr.
// Must not print or log private keys or passwords.
#pragma once
#include <string>
#include <vector>

namespace gatehouse::config {
class Store;
}

namespace gatehouse::tls {

// `args` are the words after "cert", e.g. {"create", "--host", "mail.example.com", "--org", "X"}.
//   create --host H --org O [--alt LIST] [--key rsa:2048|rsa:3072|rsa:4096|ec:p256]
//          [--country CC] [--days N]          prints a description, then the id on its own line
//   import --pem FILE [--password-file FILE] | --pfx FILE [--password-file FILE]   same output
//   list                                      one line per certificate (tab-separated)
//   show ID | export ID | activate ID | delete ID
// FILE may be "-" for standard input (not for both at once).
// Returns the exit code: 0 success, 1 refused or failed, 2 usage error.
int run_cert_command(config::Store& store, const std::vector<std::string>& args);

}  // namespace gatehouse::tls
