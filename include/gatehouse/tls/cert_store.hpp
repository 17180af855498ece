// tls::CertStore: the `certificates` table (schema migration 2), which only tls writes, on
// behalf of service, through config's connection (config::Store::db()). At most one
// certificate is active: the first one added becomes active, activate() switches in one
// transaction, and the active one cannot be removed.
// Must not: return or log key material from any method except active_with_key() (whose record
// keeps the key private to tls), keep a statement or transaction open across calls, or touch
// another module's tables. Use from one thread at a time, like the config::Store it wraps.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "gatehouse/core/clock.hpp"
#include "gatehouse/core/error.hpp"
#include "gatehouse/tls/certificate.hpp"

namespace gatehouse::config {
class Store;
}

namespace gatehouse::tls {

class CertStore {
 public:
  // `clock` stamps the `created` column.
  explicit CertStore(config::Store& store, const core::Clock& clock = core::system_clock());

  // Checks the record again (certificate and key parse, key matches, chain parses), refuses a
  // certificate already stored (same SHA-256 fingerprint), and stores it. The first certificate
  // (more exactly: any certificate added while none is active) becomes active. Returns the id.
  Expected<std::int64_t> add(const CertificateRecord& rec);

  // Every certificate, by id, without key material. Rows that no longer parse (hand edits) are
  // skipped with a warning on the "tls" logger; remove() still deletes them.
  Expected<std::vector<CertificateInfo>> list();
  // "certificate 7 does not exist" when absent.
  Expected<CertificateInfo> get_info(std::int64_t id);

  // Makes `id` the only active certificate (one IMMEDIATE transaction). Refuses a row whose
  // certificate or key no longer parses, or whose key does not match.
  Status activate(std::int64_t id);
  // Deletes `id`; refuses the active one ("certificate 3 is active; activate another one first").
  Status remove(std::int64_t id);

  // For the TLS context builder only: the active certificate with its key, nullopt when none.
  Expected<std::optional<CertificateRecord>> active_with_key();

 private:
  config::Store& store_;
  const core::Clock& clock_;
};

}  // namespace gatehouse::tls
