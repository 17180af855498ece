// DKIM signing keys of our domains (issue "Email authentication" item 3): the dkim_keys table
// (written only here), the dkim.* operations of the registry, and `gatehouse dkim ...`.
//   dkim.generate  {domain, [selector], [key: rsa:2048|rsa:3072|rsa:4096|ed25519], [replace]}
//   dkim.show      {domain}      the key's public data and the TXT record to publish
//   dkim.enable    {domain}      sign outbound mail from the domain with it
//   dkim.disable   {domain}
//   dkim.delete    {domain}
//   dkim.list
// A new key starts disabled: the admin publishes the record, then enables signing. Keys belong to
// local domains (`gatehouse domain add`). The running gateway picks every change up from the
// settings snapshot (no restart).
// Must not: return or print a private key (results carry the public record only).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/service/registry.hpp"

namespace gatehouse::config { class Store; }

namespace gatehouse::service {

struct DkimKeyInfo {
  std::string domain;
  std::string selector;
  std::string key_type;   // "rsa" | "ed25519"
  unsigned bits = 0;
  bool enabled = false;
  std::int64_t created = 0;
  std::string record;     // "v=DKIM1; k=rsa; p=..."
  std::string dns_name() const { return selector + "._domainkey." + domain; }
};

struct DkimGenerateRequest {
  std::string domain;
  std::string selector;        // "" = "gh" + the date (YYYYMMDD)
  std::string key = "rsa:2048";
  bool replace = false;        // replace an existing key (then signing is off until enabled again)
  std::int64_t now = 0;        // Unix seconds (created, default selector)
};

// The dkim_keys table on an open configuration database.
class DkimKeys {
 public:
  explicit DkimKeys(config::Store& store) : store_(store) {}
  Expected<DkimKeyInfo> generate(const DkimGenerateRequest& req);
  Expected<DkimKeyInfo> get(std::string_view domain);
  Expected<std::vector<DkimKeyInfo>> list();
  Status set_enabled(std::string_view domain, bool enabled);
  Status remove(std::string_view domain);

 private:
  Expected<std::optional<DkimKeyInfo>> find(std::string_view domain);  // nullopt: no key
  // Runs `statement` (one "?1" for the domain) on an existing key; error if there is none.
  Status change(std::string_view domain, const char* statement, std::string_view what);
  config::Store& store_;
};

// A DKIM selector (RFC 6376 §3.1: sub-domain syntax): lower-cased; error names the reason.
Expected<std::string> normalize_selector(std::string_view selector);

void register_dkim_ops(Registry& r, std::filesystem::path db_path);

// `gatehouse dkim generate DOMAIN [--selector S] [--key rsa:2048|rsa:3072|rsa:4096|ed25519]
// [--replace] | show DOMAIN | enable DOMAIN | disable DOMAIN | delete DOMAIN | list`, through the
// registry. Prints to stdout; errors as one line on stderr (exit 1), usage errors exit 2.
int run_dkim_command(const Registry& r, const std::vector<std::string>& args);

}  // namespace gatehouse::service
