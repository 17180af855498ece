// dkim.* operations and `gatehouse dkim`: key generation through auth::dkim::generate_key (OpenSSL),
// the dkim_keys table (this file is its only writer), JSON results and the CLI's text output.
// Must not: put private_pem in any result, message or log line; let a replacement key sign before
// the admin enables it (its record is not published yet).
#include "gatehouse/service/dkim_ops.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/config/sqlite.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/core/cli.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/tls/certificate.hpp"
#include "with_store.hpp"

namespace gatehouse::service {

namespace {

using Result = Expected<boost::json::value>;

std::string lower_trimmed(std::string_view s) {
  std::string out = core::to_lower(core::trim(s));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

Expected<std::string> local_domain(config::Store& store, std::string_view name) {
  auto d = lower_trimmed(name);
  if (d.empty()) return make_error("domain: a domain name is required");
  auto domains = store.list_domains();
  if (!domains) return domains.error();
  for (const auto& ld : *domains)
    if (ld.name == d) return d;
  return make_error(fmt::format("domain '{}': not a local domain (add it first with 'gatehouse domain add')", d));
}

struct KeySpec {
  auth::dkim::KeyType type = auth::dkim::KeyType::rsa;
  unsigned bits = 2048;
};

Expected<KeySpec> parse_key_spec(std::string_view text) {
  auto t = core::to_lower(core::trim(text));
  if (t == "ed25519") return KeySpec{auth::dkim::KeyType::ed25519, 256};
  if (t == "rsa" || t == "rsa:2048") return KeySpec{auth::dkim::KeyType::rsa, 2048};
  if (t == "rsa:3072") return KeySpec{auth::dkim::KeyType::rsa, 3072};
  if (t == "rsa:4096") return KeySpec{auth::dkim::KeyType::rsa, 4096};
  return make_error(fmt::format("key: '{}' is not one of rsa:2048, rsa:3072, rsa:4096, ed25519", t));
}

std::string default_selector(std::int64_t now) {
  auto tt = static_cast<std::time_t>(now);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  return fmt::format("gh{:04d}{:02d}{:02d}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

DkimKeyInfo row_info(const config::sql::Stmt& st) {
  DkimKeyInfo k;
  k.domain = st.text(0);
  k.selector = st.text(1);
  k.key_type = st.text(2);
  k.bits = static_cast<unsigned>(st.int64(3));
  k.enabled = st.int64(4) != 0;
  k.created = st.int64(5);
  k.record = st.text(6);
  return k;
}

constexpr const char* kColumns = "domain, selector, key_type, bits, enabled, created, record";

boost::json::object info_json(const DkimKeyInfo& k) {
  return {{"domain", k.domain},
          {"selector", k.selector},
          {"key_type", k.key_type},
          {"bits", k.bits},
          {"enabled", k.enabled},
          {"created", tls::iso8601_utc(k.created)},
          {"dns_name", k.dns_name()},
          {"record", k.record},
          {"txt", auth::dkim::quote_txt(k.record)}};
}

// Runs `fn(keys)` on a freshly opened configuration database.
template <class Fn>
Result with_keys(const std::filesystem::path& db, Fn fn) {
  return detail::with_store(db, [&](config::Store& s) {
    DkimKeys keys(s);
    return fn(keys);
  });
}

}  // namespace

Expected<std::string> normalize_selector(std::string_view selector) {
  auto s = lower_trimmed(selector);
  if (s.empty()) return make_error("selector: must not be empty");
  if (s.size() > 63) return make_error(fmt::format("selector '{}': longer than 63 characters", s));
  for (const auto& label : core::split(s, '.', false)) {
    if (label.empty()) return make_error(fmt::format("selector '{}': empty label", s));
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return make_error(fmt::format("selector '{}': only letters, digits, '-' and '.' are allowed", s));
    }
    if (label.front() == '-' || label.back() == '-')
      return make_error(fmt::format("selector '{}': a label cannot start or end with '-'", s));
  }
  return s;
}

Expected<DkimKeyInfo> DkimKeys::generate(const DkimGenerateRequest& req) {
  auto domain = local_domain(store_, req.domain);
  if (!domain) return domain.error();
  auto spec = parse_key_spec(req.key);
  if (!spec) return spec.error();
  auto selector = normalize_selector(req.selector.empty() ? default_selector(req.now) : req.selector);
  if (!selector) return selector.error();
  // Made before the transaction (RSA 4096 takes seconds); checked and written in one.
  auto key = auth::dkim::generate_key(spec->type, spec->bits);
  if (!key) return key.error();
  auto* db = store_.db();
  config::sql::Txn txn(db);
  if (auto r = txn.begin(true); !r) return r.error();
  auto existing = find(*domain);
  if (!existing) return existing.error();
  if (*existing) {
    if (!req.replace)
      return make_error(fmt::format("domain '{}': already has a key (selector {}); use --replace to make a new one",
                                    *domain, (*existing)->selector));
    if ((*existing)->selector == *selector)
      return make_error(fmt::format(
          "selector '{}': the new key needs a new selector, because the old record must stay published "
          "while mail signed with the old key is on its way; pass --selector",
          *selector));
  }
  config::sql::Stmt st(db, *existing ? "UPDATE dkim_keys SET selector = ?2, key_type = ?3, bits = ?4, private_pem = ?5, "
                                       "record = ?6, enabled = 0, created = ?7 WHERE domain = ?1"
                                     : "INSERT INTO dkim_keys(domain, selector, key_type, bits, private_pem, record, "
                                       "enabled, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)");
  if (!st.prepared()) return config::sql::db_error(db, "storing the DKIM key");
  const std::string type(auth::dkim::to_string(key->type));
  st.bind(1, *domain);
  st.bind(2, *selector);
  st.bind(3, type);
  st.bind(4, static_cast<std::int64_t>(key->bits));
  st.bind(5, key->private_pem);
  st.bind(6, key->record);
  st.bind(7, req.now);
  if (st.step() != SQLITE_DONE) return config::sql::db_error(db, "storing the DKIM key");
  if (auto r = txn.commit(); !r) return r.error();
  return get(*domain);
}

Expected<std::optional<DkimKeyInfo>> DkimKeys::find(std::string_view domain) {
  auto d = lower_trimmed(domain);
  auto* db = store_.db();
  config::sql::Stmt st(db, fmt::format("SELECT {} FROM dkim_keys WHERE domain = ?1", kColumns).c_str());
  if (!st.prepared()) return config::sql::db_error(db, "reading the DKIM key");
  st.bind(1, d);
  int rc = st.step();
  if (rc == SQLITE_ROW) return std::optional<DkimKeyInfo>(row_info(st));
  if (rc != SQLITE_DONE) return config::sql::db_error(db, "reading the DKIM key");
  return std::optional<DkimKeyInfo>();
}

Expected<DkimKeyInfo> DkimKeys::get(std::string_view domain) {
  auto k = find(domain);
  if (!k) return k.error();
  if (!*k) {
    auto d = lower_trimmed(domain);
    return make_error(fmt::format("domain '{}': has no DKIM key (create one with 'gatehouse dkim generate {}')", d, d));
  }
  return std::move(**k);
}

Expected<std::vector<DkimKeyInfo>> DkimKeys::list() {
  auto* db = store_.db();
  config::sql::Stmt st(db, fmt::format("SELECT {} FROM dkim_keys ORDER BY domain", kColumns).c_str());
  if (!st.prepared()) return config::sql::db_error(db, "reading the DKIM keys");
  std::vector<DkimKeyInfo> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(row_info(st));
  if (rc != SQLITE_DONE) return config::sql::db_error(db, "reading the DKIM keys");
  return out;
}

Status DkimKeys::set_enabled(std::string_view domain, bool enabled) {
  return change(domain, enabled ? "UPDATE dkim_keys SET enabled = 1 WHERE domain = ?1"
                                : "UPDATE dkim_keys SET enabled = 0 WHERE domain = ?1",
                "updating the DKIM key");
}

Status DkimKeys::remove(std::string_view domain) {
  return change(domain, "DELETE FROM dkim_keys WHERE domain = ?1", "deleting the DKIM key");
}

Status DkimKeys::change(std::string_view domain, const char* statement, std::string_view what) {
  auto key = get(domain);
  if (!key) return key.error();
  auto* db = store_.db();
  config::sql::Stmt st(db, statement);
  if (!st.prepared()) return config::sql::db_error(db, what);
  st.bind(1, key->domain);
  if (st.step() != SQLITE_DONE) return config::sql::db_error(db, what);
  return {};
}

void register_dkim_ops(Registry& r, std::filesystem::path db) {
  r.add("dkim.generate",
        "new DKIM key for a local domain (domain, [selector], [key: rsa:2048|rsa:3072|rsa:4096|ed25519], "
        "[replace]); starts disabled; returns the record to publish",
        [db](const Params& p) {
          return with_keys(db, [&](DkimKeys& keys) -> Result {
            DkimGenerateRequest req;
            auto domain = get_string(p, "domain");
            if (!domain) return domain.error();
            req.domain = *domain;
            req.selector = get_optional_string(p, "selector").value_or("");
            req.key = get_optional_string(p, "key").value_or("rsa:2048");
            req.replace = get_bool(p, "replace");
            req.now = static_cast<std::int64_t>(std::time(nullptr));
            auto k = keys.generate(req);
            if (!k) return k.error();
            return boost::json::value(info_json(*k));
          });
        });
  r.add("dkim.show", "a domain's DKIM key: selector, type, state and the TXT record to publish (domain)",
        [db](const Params& p) {
          return with_keys(db, [&](DkimKeys& keys) -> Result {
            auto domain = get_string(p, "domain");
            if (!domain) return domain.error();
            auto k = keys.get(*domain);
            if (!k) return k.error();
            return boost::json::value(info_json(*k));
          });
        });
  r.add("dkim.list", "every DKIM key (public data only)", [db](const Params&) {
    return with_keys(db, [&](DkimKeys& keys) -> Result {
      auto list = keys.list();
      if (!list) return list.error();
      boost::json::array out;
      for (auto& k : *list) out.emplace_back(info_json(k));
      return boost::json::value(std::move(out));
    });
  });
  for (const char* verb : {"enable", "disable", "delete"}) {
    std::string v = verb;
    std::string help = v == "enable"    ? "sign outbound mail from the domain with its key (domain)"
                       : v == "disable" ? "stop signing outbound mail from the domain (domain)"
                                        : "delete the domain's DKIM key (domain)";
    r.add("dkim." + v, help, [db, v](const Params& p) {
      return with_keys(db, [&](DkimKeys& keys) -> Result {
        auto domain = get_string(p, "domain");
        if (!domain) return domain.error();
        auto st = v == "delete" ? keys.remove(*domain) : keys.set_enabled(*domain, v == "enable");
        if (!st) return st.error();
        return boost::json::value(true);
      });
    });
  }
}

// --- CLI -------------------------------------------------------------------------------------

namespace {

std::string jtext(const boost::json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (v == nullptr) return "";
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_bool()) return v->as_bool() ? "yes" : "no";
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  return "";
}

void print_key(const boost::json::object& o) {
  bool on = jtext(o, "enabled") == "yes";
  std::string key = jtext(o, "key_type") == "rsa" ? "rsa-" + jtext(o, "bits") : jtext(o, "key_type");
  std::printf("domain:   %s\nselector: %s\nkey:      %s\nsigning:  %s\ncreated:  %s\n\n", jtext(o, "domain").c_str(),
              jtext(o, "selector").c_str(), key.c_str(),
              on ? "on" : fmt::format("off (publish the record below, then: gatehouse dkim enable {})",
                                      jtext(o, "domain"))
                          .c_str(),
              jtext(o, "created").c_str());
  std::printf("Publish this TXT record in the DNS zone of %s:\n%s. IN TXT ( %s )\n", jtext(o, "domain").c_str(),
              jtext(o, "dns_name").c_str(), jtext(o, "txt").c_str());
}

}  // namespace

int run_dkim_command(const Registry& r, const std::vector<std::string>& a) {
  using core::cli::fail;
  using core::cli::usage_error;
  constexpr const char* kUsage =
      "dkim: expected 'generate DOMAIN [--selector S] [--key rsa:2048|rsa:3072|rsa:4096|ed25519] [--replace]', "
      "'show DOMAIN', 'enable DOMAIN', 'disable DOMAIN', 'delete DOMAIN' or 'list'";
  if (a.empty()) return usage_error(kUsage);
  const auto& verb = a[0];
  Params p;
  if (verb == "list" && a.size() == 1) {
    auto res = r.call("dkim.list", p);
    if (!res) return fail(res.error().message);
    const auto& arr = res->as_array();
    if (arr.empty()) std::puts("no DKIM keys");
    for (const auto& v : arr) {
      const auto& o = v.as_object();
      std::printf("%s selector=%s key=%s%s signing=%s created=%s\n", jtext(o, "domain").c_str(),
                  jtext(o, "selector").c_str(), jtext(o, "key_type").c_str(),
                  jtext(o, "key_type") == "rsa" ? ("-" + jtext(o, "bits")).c_str() : "",
                  jtext(o, "enabled") == "yes" ? "on" : "off", jtext(o, "created").c_str());
    }
    return 0;
  }
  if (a.size() < 2 || a[1].starts_with("--")) return usage_error(kUsage);
  p["domain"] = a[1];
  if (verb == "generate") {
    for (std::size_t i = 2; i < a.size(); ++i) {
      if (a[i] == "--replace") {
        p["replace"] = true;
      } else if (a[i] == "--selector" || a[i] == "--key") {
        if (i + 1 >= a.size()) return usage_error(fmt::format("dkim generate: {} needs a value", a[i]));
        p[a[i].substr(2)] = a[i + 1];
        ++i;
      } else {
        return usage_error(fmt::format("dkim generate: unknown option '{}'", a[i]));
      }
    }
    auto res = r.call("dkim.generate", p);
    if (!res) return fail(res.error().message);
    print_key(res->as_object());
    return 0;
  }
  if (a.size() != 2) return usage_error(kUsage);
  if (verb == "show") {
    auto res = r.call("dkim.show", p);
    if (!res) return fail(res.error().message);
    print_key(res->as_object());
    return 0;
  }
  if (verb == "enable" || verb == "disable" || verb == "delete") {
    auto res = r.call("dkim." + verb, p);
    if (!res) return fail(res.error().message);
    if (verb == "enable") std::printf("DKIM signing for %s is on\n", a[1].c_str());
    else if (verb == "disable") std::printf("DKIM signing for %s is off\n", a[1].c_str());
    else std::printf("DKIM key of %s deleted\n", a[1].c_str());
    return 0;
  }
  return usage_error(kUsage);
}

}  // namespace gatehouse::service
