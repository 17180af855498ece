// cert.*, tls.list.* and user.* operations over tls::CertStore, tlspolicy::ListStore and
// sasl::UserStore. Must not: put key material or password hashes in any result.
#include "gatehouse/service/tls_ops.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <fmt/format.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/sasl/user_store.hpp"
#include "gatehouse/tls/cert_store.hpp"
#include "gatehouse/tls/certificate.hpp"
#include "gatehouse/tlspolicy/list_store.hpp"
#include "with_store.hpp"

namespace gatehouse::service {

namespace {

using Result = Expected<boost::json::value>;

boost::json::object cert_json(const tls::CertificateInfo& c) {
  boost::json::array sans;
  for (auto& n : c.dns_names) sans.emplace_back(n);
  for (auto& n : c.ip_addresses) sans.emplace_back(n);
  return {{"id", c.id},
          {"active", c.active},
          {"subject", c.subject},
          {"issuer", c.issuer},
          {"alt_names", std::move(sans)},
          {"not_before", tls::iso8601_utc(c.not_before)},
          {"not_after", tls::iso8601_utc(c.not_after)},
          {"fingerprint_sha256", c.fingerprint_sha256},
          {"key_type", c.key_type},
          {"self_signed", c.self_signed}};
}

Expected<std::int64_t> get_id(const Params& p) {
  auto* v = p.if_contains("id");
  if (v == nullptr) return make_error("parameter 'id' is required");
  if (v->is_int64()) return v->as_int64();
  if (v->is_string()) {
    try {
      return std::stoll(std::string(v->as_string()));
    } catch (...) {
    }
  }
  return make_error("parameter 'id' must be a certificate id (a whole number)");
}

Expected<tlspolicy::ListKind> get_list(const Params& p) {
  auto name = get_string(p, "list");
  if (!name) return name.error();
  auto k = tlspolicy::parse_list_name(*name);
  if (!k) return make_error(fmt::format("parameter 'list': '{}' is not one of starttls-whitelist, starttls-required, tls-domains", *name));
  return *k;
}

using detail::with_store;

}  // namespace

void register_tls_ops(Registry& r, std::filesystem::path db) {
  r.add("cert.list", "certificates (public data only; never keys)", [db](const Params&) {
    return with_store(db, [](config::Store& s) -> Result {
      auto list = tls::CertStore(s).list();
      if (!list) return list.error();
      boost::json::array out;
      for (auto& c : *list) out.emplace_back(cert_json(c));
      return boost::json::value(std::move(out));
    });
  });
  r.add("cert.show", "one certificate (id)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto id = get_id(p);
      if (!id) return id.error();
      auto c = tls::CertStore(s).get_info(*id);
      if (!c) return c.error();
      return boost::json::value(cert_json(*c));
    });
  });
  r.add("cert.export", "certificate and chain as PEM, never the key (id)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto id = get_id(p);
      if (!id) return id.error();
      auto c = tls::CertStore(s).get_info(*id);
      if (!c) return c.error();
      return boost::json::value(tls::export_public_pem(*c));
    });
  });
  r.add("cert.create", "create a self-signed certificate (host, org, [alt], [key], [country]); returns its id",
        [db](const Params& p) {
          return with_store(db, [&](config::Store& s) -> Result {
            tls::CreateRequest req;
            auto host = get_string(p, "host");
            if (!host) return host.error();
            auto org = get_string(p, "org");
            if (!org) return org.error();
            req.host = *host;
            req.organisation = *org;
            req.alt_names = get_optional_string(p, "alt").value_or("");
            req.key = get_optional_string(p, "key").value_or("rsa:2048");
            req.country = get_optional_string(p, "country").value_or("");
            auto rec = tls::create_self_signed(req);
            if (!rec) return rec.error();
            auto id = tls::CertStore(s).add(*rec);
            if (!id) return id.error();
            return boost::json::value(*id);
          });
        });
  r.add("cert.import_pem", "import certificate, chain and key as PEM (pem, [password]); returns its id",
        [db](const Params& p) {
          return with_store(db, [&](config::Store& s) -> Result {
            auto pem = get_string(p, "pem");
            if (!pem) return pem.error();
            auto pw = get_optional_string(p, "password");
            auto rec = pw ? tls::import_pem(*pem, std::string_view(*pw)) : tls::import_pem(*pem);
            if (!rec) return rec.error();
            auto id = tls::CertStore(s).add(*rec);
            if (!id) return id.error();
            return boost::json::value(*id);
          });
        });
  r.add("cert.activate", "make a certificate the one the server presents (id)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto id = get_id(p);
      if (!id) return id.error();
      if (auto st = tls::CertStore(s).activate(*id); !st) return st.error();
      return boost::json::value(true);
    });
  });
  r.add("cert.delete", "delete a certificate that is not active (id)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto id = get_id(p);
      if (!id) return id.error();
      if (auto st = tls::CertStore(s).remove(*id); !st) return st.error();
      return boost::json::value(true);
    });
  });
  r.add("tls.list.show", "entries of a TLS policy list (list)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto k = get_list(p);
      if (!k) return k.error();
      auto entries = tlspolicy::ListStore(s).show(*k);
      if (!entries) return entries.error();
      boost::json::array out;
      for (auto& e : *entries) out.emplace_back(e);
      return boost::json::value(std::move(out));
    });
  });
  r.add("tls.list.add", "add an entry to a TLS policy list (list, entry); returns the stored form",
        [db](const Params& p) {
          return with_store(db, [&](config::Store& s) -> Result {
            auto k = get_list(p);
            if (!k) return k.error();
            auto e = get_string(p, "entry");
            if (!e) return e.error();
            auto added = tlspolicy::ListStore(s).add(*k, *e);
            if (!added) return added.error();
            return boost::json::value(added->text);
          });
        });
  r.add("tls.list.remove", "remove an entry from a TLS policy list (list, entry)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto k = get_list(p);
      if (!k) return k.error();
      auto e = get_string(p, "entry");
      if (!e) return e.error();
      if (auto st = tlspolicy::ListStore(s).remove(*k, *e); !st) return st.error();
      return boost::json::value(true);
    });
  });
  r.add("user.list", "SMTP AUTH users (names only; never hashes)", [db](const Params&) {
    return with_store(db, [](config::Store& s) -> Result {
      auto users = sasl::UserStore(s).list();
      if (!users) return users.error();
      boost::json::array out;
      for (auto& u : *users)
        out.emplace_back(boost::json::object{{"name", u.name}, {"created", u.created}, {"cram_md5", u.cram_md5}});
      return boost::json::value(std::move(out));
    });
  });
  for (const char* verb : {"add", "passwd"}) {
    std::string v = verb;
    r.add("user." + v, "SMTP AUTH user: " + v + " (name, password, [cram_md5])", [db, v](const Params& p) {
      return with_store(db, [&](config::Store& s) -> Result {
        auto name = get_string(p, "name");
        if (!name) return name.error();
        auto pw = get_string(p, "password");
        if (!pw) return pw.error();
        sasl::UserStore users(s);
        auto st = v == "add" ? users.add(*name, *pw, get_bool(p, "cram_md5"))
                             : users.passwd(*name, *pw, get_bool(p, "cram_md5"));
        if (!st) return st.error();
        return boost::json::value(true);
      });
    });
  }
  r.add("user.remove", "remove an SMTP AUTH user (name)", [db](const Params& p) {
    return with_store(db, [&](config::Store& s) -> Result {
      auto name = get_string(p, "name");
      if (!name) return name.error();
      if (auto st = sasl::UserStore(s).remove(*name); !st) return st.error();
      return boost::json::value(true);
    });
  });
}

}  // namespace gatehouse::service
