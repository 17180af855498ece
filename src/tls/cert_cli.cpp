// `gatehouse cert create|import|list|show|export|activate|delete` (cert_cli.hpp): parses the
// words after "cert", reads the named files, calls create/import and tls::CertStore, and prints.
// Results go to stdout, errors to stderr as one line "gatehouse: error: ..." (exit 1), usage
// errors like app's main() (exit 2). Must not print or log a private key or a password, and must
// not prompt (passwords come from --password-file only).
#include "gatehouse/tls/cert_cli.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/cli.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/tls/cert_store.hpp"
#include "gatehouse/tls/certificate.hpp"

namespace gatehouse::tls {
namespace {

using core::cli::fail;
using core::cli::note;
using core::cli::one_line;
using core::cli::usage_error;

constexpr std::size_t kMaxFile = 1024 * 1024;
constexpr std::size_t kMaxPasswordFile = 4096;

void out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// Reads a whole file (or standard input for "-"), at most `cap` bytes.
Expected<std::string> read_file(const std::string& option, const std::string& path, std::size_t cap) {
  std::string data;
  auto read_from = [&](std::istream& in) {
    data.resize(cap + 1);
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
  };
  if (path == "-") {
    read_from(std::cin);
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error(fmt::format("{} '{}': cannot open: {}", option, path, std::strerror(errno)));
    read_from(f);
    if (f.bad()) return make_error(fmt::format("{} '{}': cannot read: {}", option, path, std::strerror(errno)));
  }
  if (data.size() > cap)
    return make_error(fmt::format("{} '{}': larger than {} KiB, which no {} is", option, path, cap / 1024,
                                  option == "--password-file" ? "password file" : "certificate file"));
  return data;
}

// The password in a file: its content without one trailing line end.
Expected<std::string> read_password(const std::string& path) {
  auto pw = read_file("--password-file", path, kMaxPasswordFile);
  if (!pw) return pw;
  if (!pw->empty() && pw->back() == '\n') pw->pop_back();
  if (!pw->empty() && pw->back() == '\r') pw->pop_back();
  return pw;
}

// Parses "--name value" pairs after the verb. Every option takes a value.
struct Options {
  std::map<std::string, std::string> values;
  std::optional<std::string> error;
};

Options parse_options(const std::vector<std::string>& a, std::size_t from, std::initializer_list<const char*> allowed,
                      const std::string& cmd) {
  Options o;
  for (std::size_t i = from; i < a.size(); ++i) {
    const auto& opt = a[i];
    bool known = false;
    for (const char* k : allowed) known = known || opt == k;
    if (!known) {
      o.error = opt.starts_with("--") ? fmt::format("{}: unknown option '{}'", cmd, opt)
                                      : fmt::format("{}: unexpected argument '{}'", cmd, opt);
      return o;
    }
    if (i + 1 >= a.size()) {
      o.error = fmt::format("{}: {} needs a value", cmd, opt);
      return o;
    }
    if (o.values.count(opt) != 0) {
      o.error = fmt::format("{}: {} given twice", cmd, opt);
      return o;
    }
    o.values[opt] = a[++i];
  }
  return o;
}

std::optional<std::int64_t> parse_id(const std::string& s) {
  auto v = core::parse_u64(s);
  if (!v || *v == 0 || *v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

std::vector<std::string> alt_names_of(const CertificateInfo& c) {
  std::vector<std::string> all = c.dns_names;
  all.insert(all.end(), c.ip_addresses.begin(), c.ip_addresses.end());
  return all;
}

std::string describe_block(const CertificateInfo& c) {
  std::string s;
  if (c.id != 0) s += fmt::format("id:          {}\nactive:      {}\n", c.id, c.active ? "yes" : "no");
  s += fmt::format("subject:     {}\n", c.subject);
  s += fmt::format("issuer:      {}{}\n", c.issuer, c.self_signed ? "  (self-signed)" : "");
  const auto alts = alt_names_of(c);
  s += fmt::format("alt names:   {}\n", alts.empty() ? "-" : join(alts, ", "));
  s += fmt::format("not before:  {}\n", iso8601_utc(c.not_before));
  s += fmt::format("not after:   {}\n", iso8601_utc(c.not_after));
  s += fmt::format("key:         {}\n", c.key_type);
  s += fmt::format("serial:      {}\n", c.serial);
  s += fmt::format("sha256:      {}\n", c.fingerprint_sha256);
  if (c.chain_pem.empty()) {
    s += "chain:       -\n";
  } else {
    constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
    std::size_t n = 0;
    std::string subjects;
    std::string_view rest = c.chain_pem;
    for (auto end = rest.find(kEnd); end != std::string_view::npos; end = rest.find(kEnd)) {
      const auto cut = end + kEnd.size();
      auto d = describe(rest.substr(0, cut));
      subjects += fmt::format("\n             {}", d ? d->subject : "(unreadable)");
      ++n;
      rest.remove_prefix(cut);
    }
    s += fmt::format("chain:       {} certificate{}{}\n", n, n == 1 ? "" : "s", subjects);
  }
  if (c.created != 0) s += fmt::format("added:       {}\n", iso8601_utc(c.created));
  return s;
}

void warn_expiry(const CertificateInfo& c) {
  if (auto w = expiry_warning(c, core::system_clock().now())) note("warning: " + *w);
}

// Stores a new record and prints its description, then its id on its own last line.
int store_and_print(CertStore& certs, const CertificateRecord& rec) {
  auto id = certs.add(rec);
  if (!id) return fail(id.error().message);
  auto info = certs.get_info(*id);
  if (!info) return fail(info.error().message);
  out(describe_block(*info));
  out(fmt::format("{}\n", *id));
  std::fflush(stdout);
  warn_expiry(*info);
  if (!info->active)
    note(fmt::format("certificate {} is not active; to use it: gatehouse cert activate {}", *id, *id));
  return 0;
}

int cmd_create(CertStore& certs, const std::vector<std::string>& a) {
  auto o = parse_options(a, 1, {"--host", "--org", "--alt", "--key", "--country", "--days"}, "cert create");
  if (o.error) return usage_error(*o.error);
  if (o.values.count("--host") == 0) return usage_error("cert create: --host HOST is required");
  if (o.values.count("--org") == 0) return usage_error("cert create: --org ORGANISATION is required");
  CreateRequest req;
  req.host = o.values["--host"];
  req.organisation = o.values["--org"];
  if (auto it = o.values.find("--alt"); it != o.values.end()) req.alt_names = it->second;
  if (auto it = o.values.find("--key"); it != o.values.end()) req.key = it->second;
  if (auto it = o.values.find("--country"); it != o.values.end()) req.country = it->second;
  if (auto it = o.values.find("--days"); it != o.values.end()) {
    auto d = core::parse_u64(core::trim(it->second));
    if (!d || *d < 1 || *d > static_cast<std::uint64_t>(kMaxValidityDays))
      return fail(fmt::format("--days '{}': must be a whole number of days from 1 to {}", it->second, kMaxValidityDays));
    req.validity_days = static_cast<int>(*d);
  }
  auto rec = create_self_signed(req);
  if (!rec) return fail(rec.error().message);
  return store_and_print(certs, *rec);
}

int cmd_import(CertStore& certs, const std::vector<std::string>& a) {
  auto o = parse_options(a, 1, {"--pem", "--pfx", "--password-file"}, "cert import");
  if (o.error) return usage_error(*o.error);
  const bool pem = o.values.count("--pem") != 0, pfx = o.values.count("--pfx") != 0;
  if (pem == pfx) return usage_error("cert import: give either --pem FILE or --pfx FILE");
  std::optional<std::string> password;
  if (auto it = o.values.find("--password-file"); it != o.values.end()) {
    if (it->second == "-" && o.values[pem ? "--pem" : "--pfx"] == "-")
      return usage_error("cert import: standard input cannot hold both the file and the password");
    auto pw = read_password(it->second);
    if (!pw) return fail(pw.error().message);
    password = std::move(*pw);
  }
  const std::string option = pem ? "--pem" : "--pfx";
  const std::string path = o.values[option];
  auto data = read_file(option, path, kMaxFile);
  if (!data) return fail(data.error().message);
  auto rec = pem ? import_pem(*data, password ? std::optional<std::string_view>(*password) : std::nullopt)
                 : import_pfx(*data, password ? std::string_view(*password) : std::string_view());
  if (!rec) return fail(fmt::format("{} '{}': {}", option, path, rec.error().message));
  return store_and_print(certs, *rec);
}

int cmd_list(CertStore& certs) {
  auto all = certs.list();
  if (!all) return fail(all.error().message);
  for (const auto& c : *all) {
    const auto alts = alt_names_of(c);
    out(fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", c.id, c.active ? "*" : "-", c.subject,
                    alts.empty() ? "-" : join(alts, ","), iso8601_utc(c.not_after), c.fingerprint_sha256));
  }
  return 0;
}

}  // namespace

int run_cert_command(config::Store& store, const std::vector<std::string>& args) {
  CertStore certs(store);
  const std::string verb = args.empty() ? std::string() : args[0];
  int rc;
  if (verb == "create") {
    rc = cmd_create(certs, args);
  } else if (verb == "import") {
    rc = cmd_import(certs, args);
  } else if (verb == "list") {
    rc = args.size() == 1 ? cmd_list(certs) : usage_error("cert list: takes no arguments");
  } else if (verb == "show" || verb == "export" || verb == "activate" || verb == "delete") {
    if (args.size() != 2) return usage_error(fmt::format("cert {}: expected one certificate id", verb));
    auto id = parse_id(args[1]);
    if (!id) return usage_error(fmt::format("cert {}: '{}' is not a certificate id (see 'gatehouse cert list')", verb, args[1]));
    if (verb == "show" || verb == "export") {
      auto info = certs.get_info(*id);
      if (!info) return fail(info.error().message);
      out(verb == "show" ? describe_block(*info) : export_public_pem(*info));
      std::fflush(stdout);
      if (verb == "show") warn_expiry(*info);
      rc = 0;
    } else if (verb == "activate") {
      auto st = certs.activate(*id);
      if (!st) return fail(st.error().message);
      if (auto info = certs.get_info(*id)) warn_expiry(*info);
      rc = 0;
    } else {
      auto st = certs.remove(*id);
      rc = st ? 0 : fail(st.error().message);
    }
  } else {
    rc = usage_error(
        "cert: expected 'create --host H --org O ...', 'import --pem FILE | --pfx FILE ...', 'list', 'show ID', "
        "'export ID', 'activate ID' or 'delete ID'");
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace gatehouse::tls
