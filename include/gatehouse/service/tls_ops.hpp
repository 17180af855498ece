// The Encryption page's operations for the registry (issue "TLS everywhere": one service API
// that the CLI, the web console and XML-RPC all use): cert.list/show/create/import_pem/export/
// activate/delete, tls.list.add/remove/show, user.add/passwd/remove/list. Each call opens the
// configuration database for its own short transaction, so the registry can serve any thread.
// Must not: return private keys or password hashes (only public certificate data, entry text,
// user names); accept a password anywhere but a parameter (never logged).
#pragma once
#include <filesystem>

#include "gatehouse/service/registry.hpp"

namespace gatehouse::service {

void register_tls_ops(Registry& r, std::filesystem::path db_path);

}  // namespace gatehouse::service
