// gatehouse: the composition root and the command line.
//   gatehouse [--data-dir DIR] run
//   gatehouse [--data-dir DIR] config get KEY | set KEY VALUE | unset KEY | list
//   gatehouse [--data-dir DIR] domain add NAME --mail-server HOST:PORT [--bind-ip IP] [--smtp-hostname FQDN]
//   gatehouse [--data-dir DIR] domain remove NAME | list
//   gatehouse [--data-dir DIR] relay allow CIDR | remove CIDR | list
// --data-dir may also come from GATEHOUSE_DATA_DIR. Every command exits non-zero with a
// one-line reason on bad input. Configuration commands write the SQLite database directly; a
// running server notices the commit within a second (config::Watcher).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "gatehouse/auth/check.hpp"
#include "gatehouse/auth/psl.hpp"
#include "gatehouse/config/store.hpp"
#include "gatehouse/dns/static_zone.hpp"
#include "gatehouse/core/cli.hpp"
#include "gatehouse/core/clock.hpp"
#include "gatehouse/core/fs.hpp"
#include "gatehouse/core/host.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/delivery/delivery.hpp"
#include "gatehouse/dns/cache.hpp"
#include "gatehouse/dns/cares_resolver.hpp"
#include "gatehouse/inbound/policy.hpp"
#include "gatehouse/inbound/server.hpp"
#include "gatehouse/queue/queue.hpp"
#include "gatehouse/report/results_store.hpp"
#include "gatehouse/service/dkim_ops.hpp"
#include "gatehouse/service/queue_ops.hpp"
#include "gatehouse/service/tls_ops.hpp"
#include "gatehouse/tls/cert_cli.hpp"
#include "gatehouse/tls/cert_store.hpp"
#include "gatehouse/tls/contexts.hpp"
#include "gatehouse/tlspolicy/list_cli.hpp"
#include "gatehouse/sasl/user_cli.hpp"
#include "control.hpp"
#include "service_host.hpp"

namespace fsys = std::filesystem;
using namespace gatehouse;

namespace {

constexpr const char* kUsage = R"(usage: gatehouse [--data-dir DIR] COMMAND ...

commands:
  run                                   run the gateway in the foreground
  config get KEY | set KEY VALUE | unset KEY | list
  domain add NAME --mail-server HOST:PORT [--bind-ip IP] [--smtp-hostname FQDN]
  domain remove NAME | list
  relay allow CIDR | remove CIDR | list
  queue list | show ID | retry [ID] | delete ID | bounce ID
  cert create --host H --org O [--alt LIST] [--key rsa:2048|rsa:3072|rsa:4096|ec:p256] [--country CC] [--days N]
  cert import --pem FILE [--password-file FILE] | import --pfx FILE --password-file FILE
  cert list | show ID | export ID | activate ID | delete ID
  list add|remove starttls-whitelist|starttls-required|tls-domains ENTRY | list show LIST
  user add NAME --password-file FILE | passwd NAME --password-file FILE | remove NAME | list
  dkim generate DOMAIN [--selector S] [--key rsa:2048|rsa:3072|rsa:4096|ed25519] [--replace]
  dkim show DOMAIN | enable DOMAIN | disable DOMAIN | delete DOMAIN | list
  check-message --ip IP --helo NAME --mail-from ADDR [--dns-zone FILE] MESSAGE
  dmarc results [--domain D] [--limit N]
  service install | uninstall | run     (Windows service control)
  --version

The data directory defaults to $GATEHOUSE_DATA_DIR, else )"
#ifdef _WIN32
                                "%ProgramData%\\Gatehouse"
#else
                                "/var/lib/gatehouse"
#endif
                                R"(.
)";

using core::cli::fail;
using core::cli::usage_error;

fsys::path default_data_dir() {
  if (const char* env = std::getenv("GATEHOUSE_DATA_DIR"); env && *env) return env;
#ifdef _WIN32
  if (const char* pd = std::getenv("ProgramData"); pd && *pd) return fsys::path(pd) / "Gatehouse";
  return "C:\\ProgramData\\Gatehouse";
#else
  return "/var/lib/gatehouse";
#endif
}

Expected<std::unique_ptr<config::Store>> open_store(const fsys::path& data_dir) {
  if (auto st = core::fs::ensure_dir(data_dir); !st) return st.error();
  return config::Store::open(data_dir / "gatehouse.db");
}

int print_status(const Status& st) {
  if (!st) return fail(st.error().message);
  return 0;
}

// --- config / domain / relay ---------------------------------------------------------------

int cmd_config(config::Store& store, const std::vector<std::string>& a) {
  if (a.empty()) return usage_error("config: expected get, set, unset or list");
  const auto& verb = a[0];
  if (verb == "get" && a.size() == 2) {
    auto v = store.get(a[1]);
    if (!v) return fail(v.error().message);
    std::printf("%s\n", v->c_str());
    return 0;
  }
  if (verb == "set" && a.size() == 3) return print_status(store.set(a[1], a[2]));
  if (verb == "unset" && a.size() == 2) return print_status(store.unset(a[1]));
  if (verb == "list" && a.size() == 1) {
    auto rows = store.list();
    if (!rows) return fail(rows.error().message);
    for (auto& r : *rows)
      std::printf("%s = %s%s\n", r.key.c_str(), r.value.c_str(), r.is_default ? "  (default)" : "");
    return 0;
  }
  return usage_error("config: expected 'get KEY', 'set KEY VALUE', 'unset KEY' or 'list'");
}

int cmd_domain(config::Store& store, const std::vector<std::string>& a) {
  if (a.empty()) return usage_error("domain: expected add, remove or list");
  const auto& verb = a[0];
  if (verb == "add") {
    if (a.size() < 2 || a[1].rfind("--", 0) == 0) return usage_error("domain add: expected a domain name");
    config::LocalDomain d;
    d.name = a[1];
    std::optional<std::string> server;
    for (std::size_t i = 2; i < a.size(); ++i) {
      auto need = [&](const char* opt) -> std::optional<std::string> {
        if (i + 1 >= a.size()) return std::nullopt;
        (void)opt;
        return a[++i];
      };
      const auto& opt = a[i];
      std::optional<std::string> v;
      if (opt == "--mail-server" || opt == "--bind-ip" || opt == "--smtp-hostname") {
        v = need(opt.c_str());
        if (!v) return usage_error(fmt::format("domain add: {} needs a value", opt));
      } else {
        return usage_error(fmt::format("domain add: unknown option '{}'", opt));
      }
      if (opt == "--mail-server") server = *v;
      else if (opt == "--bind-ip") d.bind_ip = *v;
      else d.smtp_hostname = *v;
    }
    if (!server) return usage_error("domain add: --mail-server HOST:PORT is required");
    auto hp = core::HostPort::parse(*server);
    if (!hp) return fail(fmt::format("--mail-server '{}': {}", *server, hp.error().message));
    d.mail_server = *hp;
    return print_status(store.add_domain(d));
  }
  if (verb == "remove" && a.size() == 2) return print_status(store.remove_domain(a[1]));
  if (verb == "list" && a.size() == 1) {
    auto ds = store.list_domains();
    if (!ds) return fail(ds.error().message);
    for (auto& d : *ds)
      std::printf("%s mail-server=%s bind-ip=%s smtp-hostname=%s\n", d.name.c_str(),
                  d.mail_server.to_string().c_str(), d.bind_ip.empty() ? "-" : d.bind_ip.c_str(),
                  d.smtp_hostname.empty() ? "-" : d.smtp_hostname.c_str());
    return 0;
  }
  return usage_error("domain: expected 'add NAME --mail-server HOST:PORT ...', 'remove NAME' or 'list'");
}

int cmd_relay(config::Store& store, const std::vector<std::string>& a) {
  if (a.size() == 2 && a[0] == "allow") return print_status(store.relay_allow(a[1]));
  if (a.size() == 2 && a[0] == "remove") return print_status(store.relay_remove(a[1]));
  if (a.size() == 1 && a[0] == "list") {
    auto ns = store.relay_list();
    if (!ns) return fail(ns.error().message);
    for (auto& n : *ns) std::printf("%s\n", n.to_string().c_str());
    return 0;
  }
  return usage_error("relay: expected 'allow CIDR', 'remove CIDR' or 'list'");
}

// --- queue ---------------------------------------------------------------------------------

std::string iso_time(std::int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string jstr(const boost::json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (v == nullptr) return "";
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  if (v->is_bool()) return v->as_bool() ? "yes" : "no";
  return "";
}

std::int64_t jint(const boost::json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}

void print_queue_result(const std::string& method, const boost::json::value& v) {
  if (method == "queue.list") {
    const auto& a = v.as_array();
    if (a.empty()) {
      std::puts("queue is empty");
      return;
    }
    std::printf("%-16s  %-20s  %9s  %-9s  %s\n", "ID", "ARRIVAL", "SIZE", "PENDING", "FROM");
    for (auto& e : a) {
      auto& o = e.as_object();
      std::printf("%-16s  %-20s  %9s  %4s/%-4s  <%s>\n", jstr(o, "id").c_str(), iso_time(jint(o, "arrival")).c_str(),
                  jstr(o, "size").c_str(), jstr(o, "pending").c_str(), jstr(o, "recipients").c_str(),
                  jstr(o, "from").c_str());
    }
    std::printf("%zu message(s)\n", a.size());
  } else if (method == "queue.show") {
    auto& o = v.as_object();
    std::printf("id: %s\nfrom: <%s>\narrival: %s\nsize: %s\nclient: %s (helo %s)\n", jstr(o, "id").c_str(),
                jstr(o, "from").c_str(), iso_time(jint(o, "arrival")).c_str(), jstr(o, "size").c_str(),
                jstr(o, "client_ip").c_str(), jstr(o, "helo").c_str());
    if (!jstr(o, "envid").empty()) std::printf("envid: %s\n", jstr(o, "envid").c_str());
    for (auto& r : o.at("rcpts").as_array()) {
      auto& ro = r.as_object();
      std::printf("rcpt: <%s> status=%s attempts=%s next=%s last=\"%s\"\n", jstr(ro, "address").c_str(),
                  jstr(ro, "status").c_str(), jstr(ro, "attempts").c_str(), iso_time(jint(ro, "next_attempt")).c_str(),
                  jstr(ro, "last_reply").c_str());
    }
  } else {
    std::puts("ok");
  }
}

int cmd_queue(const fsys::path& data_dir, const std::vector<std::string>& a) {
  std::string method;
  service::Params params;
  if (a.size() == 1 && a[0] == "list") method = "queue.list";
  else if (a.size() == 2 && (a[0] == "show" || a[0] == "delete" || a[0] == "bounce" || a[0] == "retry")) {
    method = "queue." + a[0];
    params["id"] = a[1];
  } else if (a.size() == 1 && a[0] == "retry") method = "queue.retry";
  else return usage_error("queue: expected 'list', 'show ID', 'retry [ID]', 'delete ID' or 'bounce ID'");

  auto res = app::control_call(data_dir / "control.sock", method, params);
  if (res.failure == app::CallFailure::none) {
    print_queue_result(method, res.result);
    return 0;
  }
  if (res.failure == app::CallFailure::error) return fail(res.error);
  // The gateway is not running: operate on the spool directly (it is locked while running).
  queue::Options qo;
  qo.dir = data_dir / "spool";
  auto q = queue::Queue::open(qo);
  if (!q) return fail(q.error().message);
  service::Registry reg;
  service::register_queue_ops(reg, **q, nullptr);
  auto r = reg.call(method, params);
  if (!r) return fail(r.error().message);
  print_queue_result(method, *r);
  return 0;
}

// --- DNS for CLI commands ----------------------------------------------------------------------

// c-ares on the configured dns.servers, for a command that asks DNS once (run ioc afterwards).
Expected<std::unique_ptr<dns::Resolver>> cli_resolver(boost::asio::io_context& ioc, const config::Settings& s,
                                                      std::chrono::milliseconds timeout = std::chrono::seconds(3),
                                                      int tries = 2) {
  dns::CaresOptions o;
  o.servers = s.dns_servers;
  o.timeout = timeout;
  o.tries = tries;
  try {
    return std::unique_ptr<dns::Resolver>(std::make_unique<dns::CaresResolver>(ioc, o));
  } catch (const std::exception& e) {
    return make_error(fmt::format("dns.servers: {}", e.what()));
  }
}

// --- dkim --------------------------------------------------------------------------------------

// After `dkim show|enable`: is the key's record in DNS yet (asked through dns.servers)? A key
// signing before its record is published makes receivers fail the signature, so say so plainly.
void print_dkim_dns_check(const fsys::path& data_dir, const service::Registry& reg, const std::string& domain,
                          bool enabling) {
  auto info = reg.call("dkim.show", service::Params{{"domain", domain}});
  if (!info || !info->is_object()) return;
  const auto& o = info->as_object();
  const std::string name(o.at("dns_name").as_string());
  const std::string record(o.at("record").as_string());
  auto unchecked = [&](const std::string& why) {
    std::printf("dns:      could not be checked: %s\n", core::cli::one_line(why).c_str());
  };
  auto store = open_store(data_dir);
  if (!store) return unchecked(store.error().message);
  auto snap = (*store)->load_settings(1);
  if (!snap) return unchecked(snap.error().message);
  boost::asio::io_context ioc;
  auto resolver = cli_resolver(ioc, **snap, std::chrono::seconds(2), 1);
  if (!resolver) return unchecked(resolver.error().message);
  std::optional<dns::Answer> answer;
  auto q = (*resolver)->query(name, dns::RrType::TXT);
  boost::asio::co_spawn(ioc, std::move(q), [&](std::exception_ptr e, dns::Answer a) {
    if (!e) answer = std::move(a);
  });
  ioc.run();
  resolver->reset();
  auto squeeze = [](std::string_view t) {
    std::string out;
    for (char c : t)
      if (c != ' ' && c != '\t') out += c;
    return out;
  };
  std::string text;
  bool warn = true;
  if (!answer || answer->status == dns::Status::temp_failure || answer->status == dns::Status::perm_failure) {
    text = fmt::format("could not be checked: DNS did not answer for {} ({})", name,
                       answer ? answer->error : std::string("the query failed"));
  } else if (std::any_of(answer->txt.begin(), answer->txt.end(),
                         [&](const std::string& t) { return squeeze(t) == squeeze(record); })) {
    text = fmt::format("published: {} holds this key's record", name);
    warn = false;
  } else if (!answer->txt.empty()) {
    text = fmt::format("{} holds a different record: receivers will fail this key's signatures until the "
                       "record above is published there",
                       name);
  } else {
    text = fmt::format("{} has no TXT record yet: receivers will fail this key's signatures until the record "
                       "above is published",
                       name);
  }
  std::printf("dns:      %s\n", text.c_str());
  if (warn && enabling) core::cli::note("warning: signing is on, but " + text);
}

// --- check-message ---------------------------------------------------------------------------

// What the gateway would conclude about MESSAGE arriving from IP with HELO and MAIL FROM: SPF,
// DKIM, DMARC and the Authentication-Results field. DNS from --dns-zone (docs/dns-zone-format.md)
// or the configured resolvers.
int cmd_check_message(const fsys::path& data_dir, const std::vector<std::string>& a) {
  std::string ip_text, helo, mail_from, zone, file;
  bool have_from = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto val = [&](std::string& dst) {
      if (i + 1 >= a.size()) return false;
      dst = a[++i];
      return true;
    };
    if (a[i] == "--ip") { if (!val(ip_text)) return usage_error("--ip needs an address"); }
    else if (a[i] == "--helo") { if (!val(helo)) return usage_error("--helo needs a name"); }
    else if (a[i] == "--mail-from") { if (!val(mail_from)) return usage_error("--mail-from needs an address"); have_from = true; }
    else if (a[i] == "--dns-zone") { if (!val(zone)) return usage_error("--dns-zone needs a file"); }
    else if (a[i].rfind("--", 0) == 0) return usage_error(fmt::format("check-message: unknown option '{}'", a[i]));
    else if (file.empty()) file = a[i];
    else return usage_error("check-message: one MESSAGE file only");
  }
  if (ip_text.empty() || helo.empty() || !have_from || file.empty())
    return usage_error("check-message --ip IP --helo NAME --mail-from ADDR [--dns-zone FILE] MESSAGE");
  auto ip = core::IpAddress::parse(ip_text);
  if (!ip) return fail(fmt::format("--ip '{}': not an IPv4 or IPv6 address", ip_text));
  if (mail_from.size() >= 2 && mail_from.front() == '<' && mail_from.back() == '>')
    mail_from = mail_from.substr(1, mail_from.size() - 2);
  auto text = core::fs::read_file(file);
  if (!text) return fail(text.error().message);

  auto store = open_store(data_dir);
  if (!store) return fail(store.error().message);
  auto snap = (*store)->load_settings(1);
  if (!snap) return fail(snap.error().message);
  auto psl = auth::psl::load_installed(data_dir);
  if (!psl.fallback.empty() && fsys::exists(data_dir / std::string(auth::psl::kListFileName)))
    core::cli::note(fmt::format("warning: {} (using the bundled Public Suffix List)", psl.fallback));

  boost::asio::io_context ioc;
  std::unique_ptr<dns::Resolver> resolver;
  if (!zone.empty()) {
    auto z = dns::StaticZone::load(zone);
    if (!z) return fail(z.error().message);
    resolver = std::make_unique<dns::StaticZone>(std::move(*z));
  } else {
    auto r = cli_resolver(ioc, **snap);
    if (!r) return fail(r.error().message);
    resolver = std::move(*r);
  }
  auth::CheckRequest req;
  req.ip = *ip;
  req.helo = helo;
  req.mail_from = mail_from;
  req.message = auth::dkim::lf_to_crlf(*text);
  req.authserv_id = core::effective_hostname((*snap)->smtp_hostname);
  req.now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  req.psl = std::make_shared<const auth::psl::List>(std::move(psl.list));
  req.dmarc_options = inbound::dmarc_options(**snap);  // the rules the running gateway applies
  std::optional<auth::CheckResult> result;
  auto task = auth::check_message(*resolver, req);
  boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, auth::CheckResult r) {
    if (!e) result = std::move(r);
  });
  ioc.run();
  resolver.reset();
  if (!result) return fail("the check did not complete");
  const auto& r = *result;
  std::printf("spf: %s%s%s\n", std::string(auth::to_string(r.spf.result)).c_str(),
              r.spf.mechanism.empty() ? "" : (" (matched " + r.spf.mechanism + ")").c_str(),
              r.spf.problem.empty() ? "" : (" (" + r.spf.problem + ")").c_str());
  if (r.dkim.empty()) std::puts("dkim: none (no signature)");
  for (auto& d : r.dkim)
    std::printf("dkim: %s d=%s s=%s%s\n", std::string(auth::dkim::to_string(d.result)).c_str(), d.domain.c_str(),
                d.selector.c_str(), d.detail.empty() ? "" : (" (" + d.detail + ")").c_str());
  if (!r.from.ok()) std::printf("dmarc: not evaluated: %s\n", r.from.detail.c_str());
  else
    std::printf("dmarc: %s from=%s policy=%s\n", std::string(auth::dmarc::to_string(r.dmarc.result)).c_str(),
                r.from.domain.c_str(), std::string(auth::dmarc::to_string(r.dmarc.requested)).c_str());
  switch (r.action.kind) {
    case auth::dmarc::Action::Kind::accept: std::puts("action: accept"); break;
    case auth::dmarc::Action::Kind::add_header:
      std::printf("action: accept and add %s: %s\n", r.action.header_name.c_str(), r.action.header_value.c_str());
      break;
    case auth::dmarc::Action::Kind::reject:
      std::printf("action: reject %u %s %s\n", r.action.code, r.action.enhanced.c_str(), r.action.text.c_str());
      break;
  }
  std::fputs(r.authentication_results.c_str(), stdout);
  return 0;
}

// --- dmarc results ----------------------------------------------------------------------------

// `gatehouse dmarc results [--domain D] [--limit N]`: the newest per-message DMARC results kept
// in reports.db (what aggregate reports will be built from), one line each.
int cmd_dmarc(const fsys::path& data_dir, const std::vector<std::string>& a) {
  if (a.empty() || a[0] != "results") return usage_error("dmarc: expected 'results [--domain D] [--limit N]'");
  std::string domain;
  std::size_t limit = 50;
  for (std::size_t i = 1; i < a.size(); ++i) {
    if (a[i] == "--domain" && i + 1 < a.size()) {
      domain = core::to_lower(a[++i]);
    } else if (a[i] == "--limit" && i + 1 < a.size()) {
      auto n = core::parse_u64(a[++i]);
      if (!n || *n == 0 || *n > 100000) return usage_error(fmt::format("--limit '{}': a number from 1 to 100000", a[i]));
      limit = static_cast<std::size_t>(*n);
    } else {
      return usage_error(fmt::format("dmarc results: unknown or incomplete option '{}'", a[i]));
    }
  }
  auto rows = report::ResultsStore::recent(data_dir / "reports.db", limit, domain);
  if (!rows) return fail(rows.error().message);
  if (rows->empty()) std::puts("no DMARC results");
  for (const auto& o : *rows) std::printf("%s %s\n", iso_time(o.time).c_str(), report::log_line(o).c_str());
  return 0;
}

// --- run -----------------------------------------------------------------------------------

// The engine's resolver: c-ares on the configured dns.servers, swapped for a new one when the
// setting changes (no restart). Retired resolvers live until shutdown: c-ares objects must be
// destroyed while no thread runs the io_context.
class SwitchingResolver final : public dns::Resolver {
 public:
  SwitchingResolver(boost::asio::io_context& ioc, std::vector<std::string> servers) : ioc_(ioc) { set(servers); }
  void set(const std::vector<std::string>& servers) {
    std::lock_guard lk(mu_);
    if (current_ && servers == servers_) return;
    dns::CaresOptions o;
    o.servers = servers;
    auto r = std::make_shared<dns::CaresResolver>(ioc_, o);
    if (current_) retired_.push_back(current_);
    current_ = r;
    servers_ = servers;
  }
  boost::asio::awaitable<dns::Answer> query(std::string name, dns::RrType type) override {
    std::shared_ptr<dns::CaresResolver> r;
    {
      std::lock_guard lk(mu_);
      r = current_;
    }
    co_return co_await r->query(std::move(name), type);
  }

 private:
  boost::asio::io_context& ioc_;
  std::mutex mu_;
  std::shared_ptr<dns::CaresResolver> current_;
  std::vector<std::shared_ptr<dns::CaresResolver>> retired_;
  std::vector<std::string> servers_;
};

// The Public Suffix List for DMARC's organizational domains (RFC 7489 §3.2): the bundled list is
// copied into the data directory on first start (where the admin, or a later refresh, replaces
// it), then loaded. If that fails the bundled list is used as is.
void load_public_suffixes(const fsys::path& data_dir, auth::psl::Holder& holder, spdlog::logger& log) {
  if (auto r = auth::psl::ensure_installed(data_dir, auth::psl::bundled_list()); !r)
    log.error("psl-install-failed error=\"{}\"", r.error().message);
  else if (*r)
    log.info("psl-installed file={}", (data_dir / std::string(auth::psl::kListFileName)).string());
  auto loaded = auth::psl::load_installed(data_dir);
  if (!loaded.fallback.empty()) log.error("psl-load-failed error=\"{}\" (using the bundled list)", loaded.fallback);
  log.info("psl-loaded rules={}", loaded.list.rule_count());
  holder.set(std::move(loaded.list));
}

int cmd_run(const fsys::path& data_dir, app::StopSignal& host_stop) {
  if (auto st = core::fs::ensure_dir(data_dir / "log"); !st) return fail(st.error().message);
  core::log::Options lo;
  lo.file = data_dir / "log" / "gatehouse.log";
  core::log::init(lo);
  auto log = core::log::get("app");

  auto store = open_store(data_dir);
  if (!store) return fail(store.error().message);
  auto first = (*store)->load_settings(1);
  if (!first) return fail(first.error().message);
  store->reset();  // the Watcher keeps its own connection
  core::log::set_level((*first)->log_level);

  config::Publisher pub(*first);
  pub.subscribe([log](const config::SettingsPtr& s) {
    core::log::set_level(s->log_level);
    log->info("settings-published generation={}", s->generation);
  });
  config::Watcher watcher(data_dir / "gatehouse.db", pub);
  watcher.reload_now();  // closes the gap between load_settings(1) and the watcher's first poll

  queue::Options qo;
  qo.dir = data_dir / "spool";
  auto q = queue::Queue::open(qo);
  if (!q) return fail(q.error().message);

  // TLS contexts from the active certificate, rebuilt whenever settings are republished (a
  // `cert activate` commits to the database, which republishes): new connections use the new one.
  auto contexts = std::make_shared<tls::Contexts>();
  auto db_path = data_dir / "gatehouse.db";
  auto reload_tls = [contexts, db_path, log](const config::Settings& s) {
    auto st = config::Store::open(db_path);
    if (!st) {
      log->error("tls-reload-failed error=\"{}\"", st.error().message);
      return;
    }
    tls::CertStore certs(**st);
    auto active = certs.active_with_key();
    if (!active) {
      log->error("tls-reload-failed error=\"{}\"", active.error().message);
      return;
    }
    auto before = contexts->active_fingerprint();
    tls::ContextOptions o;
    o.min_protocol = s.tls_min_protocol;
    o.ciphers = s.tls_ciphers;
    if (auto r = contexts->update(*active, o); !r) {
      log->error("tls-reload-failed error=\"{}\"", r.error().message);
      return;
    }
    const auto& a = *active;
    if (a && a->fingerprint_sha256 != before)
      log->info("tls-certificate-active id={} subject=\"{}\" not_after={} fingerprint={}", a->id, a->subject,
                tls::iso8601_utc(a->not_after), a->fingerprint_sha256);
    if (!a && s.tls_enabled) log->warn("tls-no-certificate: tls.enabled is on but no certificate is active");
    if (a)
      if (auto w = tls::expiry_warning(*a, std::chrono::system_clock::now())) log->warn("tls-certificate-expiry {}", *w);
  };
  reload_tls(**first);
  pub.subscribe([reload_tls](const config::SettingsPtr& s) { reload_tls(*s); });

  boost::asio::io_context ioc;
  // The periodic timers share one strand: their handlers re-arm them while several threads run
  // the io_context, and the stop request cancels them on the same strand (a timer is not
  // thread-safe).
  auto timers = boost::asio::make_strand(ioc);
  bool timers_stopped = false;  // on the timers strand
  // Daily check of the active certificate's expiry (warnings at 30 and 7 days).
  boost::asio::steady_timer expiry_timer(timers);
  std::function<void()> arm_expiry = [&] {
    expiry_timer.expires_after(std::chrono::hours(24));
    expiry_timer.async_wait([&](boost::system::error_code ec) {
      if (ec || timers_stopped) return;
      reload_tls(*pub.current());
      arm_expiry();
    });
  };
  arm_expiry();
  std::shared_ptr<SwitchingResolver> cares;
  try {
    cares = std::make_shared<SwitchingResolver>(ioc, (*first)->dns_servers);
  } catch (const std::exception& e) {
    return fail(fmt::format("dns.servers: {}", e.what()));
  }
  dns::CachingResolver resolver(*cares, core::system_clock());
  pub.subscribe([weak = std::weak_ptr<SwitchingResolver>(cares), log](const config::SettingsPtr& s) {
    auto r = weak.lock();
    if (!r) return;
    try {
      r->set(s->dns_servers);
    } catch (const std::exception& e) {
      log->error("dns-servers-rejected error=\"{}\"", e.what());
    }
  });
  // Mail authentication services. File and database work runs on `background`, never on an io
  // thread: the PSL reload check every few seconds, the hourly prune of old DMARC results.
  boost::asio::thread_pool background(1);
  auth::psl::Holder psl;
  load_public_suffixes(data_dir, psl, *log);
  std::unique_ptr<report::ResultsStore> results;
  if (auto r = report::ResultsStore::open(data_dir / "reports.db"); r) results = std::move(*r);
  else log->error("dmarc-results-unavailable error=\"{}\" (DMARC results are not kept)", r.error().message);
  inbound::AuthServices auth_services;
  auth_services.psl = &psl;
  auth_services.results = results.get();
  auth_services.dmarc_log = core::log::file_logger("dmarc", data_dir / "log" / "dmarc.log");
  boost::asio::steady_timer psl_timer(timers);
  std::function<void()> arm_psl = [&] {
    psl_timer.expires_after(std::chrono::seconds(2));
    psl_timer.async_wait([&](boost::system::error_code ec) {
      if (ec || timers_stopped) return;
      boost::asio::post(background, [&] {
        if (auto st = auth::psl::check_reload(data_dir, psl)) {
          if (*st) log->info("psl-reloaded rules={} file={}", psl.get()->rule_count(),
                             (data_dir / std::string(auth::psl::kListFileName)).string());
          else log->error("psl-reload-failed error=\"{}\" (the previous list stays in use)", st->error().message);
        }
      });
      arm_psl();
    });
  };
  arm_psl();
  boost::asio::steady_timer prune_timer(timers);
  std::function<void()> prune_results = [&] {
    if (results) {
      auto keep = pub.current()->auth_dmarc_results_keep;
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
      results->prune((now - keep).count() + (keep.count() == 0 ? 1 : 0));
    }
    prune_timer.expires_after(std::chrono::hours(1));
    prune_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec && !timers_stopped) prune_results();
    });
  };
  prune_results();
  auto server = std::make_unique<inbound::Server>(ioc, pub, **q, *contexts, db_path, resolver, auth_services);
  auto errors = server->start();
  auto bound = server->listening();
  if (bound.empty()) {
    std::string why = errors.empty() ? "smtp.listen is empty" : errors.front();
    log->critical("start-failed reason=\"no SMTP listener could be opened: {}\"", why);
    return fail("no SMTP listener could be opened: " + why);
  }
  for (auto& b : bound) std::printf("gatehouse: listening for SMTP on %s\n", b.c_str());
  std::fflush(stdout);
  auto deliv = std::make_unique<delivery::Delivery>(ioc, pub, **q, resolver, *contexts);
  deliv->start();
  service::Registry registry;
  service::register_queue_ops(registry, **q, [&deliv](core::QueueId id) { return deliv->bounce(id); });
  service::register_tls_ops(registry, db_path);
  service::register_dkim_ops(registry, db_path);
  app::ControlServer control(ioc, data_dir / "control.sock", registry);
  if (auto st = control.start(); !st) log->error("control-socket-failed error=\"{}\"", st.error().message);
  log->info("started data_dir={} pid={}", data_dir.string(), ::getpid());

  bool stopping = false;
  auto begin_stop = [&] {
    if (stopping) {
      log->warn("second stop request: stopping now");
      ioc.stop();
      return;
    }
    stopping = true;
    auto grace = pub.current()->smtp_shutdown_grace;
    log->info("stopping grace={}s", grace.count());
    control.stop();
    boost::asio::post(timers, [&] {
      timers_stopped = true;
      expiry_timer.cancel();
      psl_timer.cancel();
      prune_timer.cancel();
    });
    server->shutdown(grace, [&] { deliv->stop([&] { ioc.stop(); }); });
  };
  host_stop.bind(ioc, begin_stop, [&] {
    log->info("reload requested (SIGHUP)");
    watcher.reload_now();
  });

  unsigned n = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  control.join();  // a registry call still running uses the queue and delivery below
  host_stop.unbind();
  deliv.reset();
  server.reset();
  background.join();
  results.reset();  // commits the DMARC results still queued
  q->reset();  // drains pending writes, syncs, closes the spool
  log->info("stopped");
  core::log::shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::optional<fsys::path> data_dir;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--data-dir") {
      if (i + 1 >= args.size()) return usage_error("--data-dir needs a directory");
      data_dir = args[++i];
    } else if (args[i].rfind("--data-dir=", 0) == 0) {
      data_dir = args[i].substr(11);
    } else if (args[i] == "--version") {
      std::puts("gatehouse 0.1.0");
      return 0;
    } else if (args[i] == "--help" || args[i] == "-h" || args[i] == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto dir = data_dir.value_or(default_data_dir());
  std::string cmd = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  try {
    if (cmd == "run") {
      if (!rest.empty()) return usage_error("run takes no arguments");
      app::ForegroundHost host;
      return host.run([&](app::StopSignal& stop) { return cmd_run(dir, stop); });
    }
    {
      core::log::Options quiet;  // CLI commands: warnings and errors only, on stderr
      quiet.level = "warn";
      core::log::init(quiet);
    }
    if (cmd == "queue") return cmd_queue(dir, rest);
    if (cmd == "check-message") return cmd_check_message(dir, rest);
    if (cmd == "dmarc") return cmd_dmarc(dir, rest);
    if (cmd == "dkim") {
      if (auto st = core::fs::ensure_dir(dir); !st) return fail(st.error().message);
      service::Registry reg;
      service::register_dkim_ops(reg, dir / "gatehouse.db");
      int rc = service::run_dkim_command(reg, rest);
      if (rc == 0 && rest.size() == 2 && (rest[0] == "show" || rest[0] == "enable"))
        print_dkim_dns_check(dir, reg, rest[1], rest[0] == "enable");
      return rc;
    }
    if (cmd == "service") return app::service_command(rest, [&](app::StopSignal& stop) { return cmd_run(dir, stop); });
    if (cmd == "config" || cmd == "domain" || cmd == "relay" || cmd == "cert" || cmd == "list" || cmd == "user") {
      auto store = open_store(dir);
      if (!store) return fail(store.error().message);
      if (cmd == "cert") return tls::run_cert_command(**store, rest);
      if (cmd == "list") return tlspolicy::run_list_command(**store, rest);
      if (cmd == "user") {
        auto cram = (*store)->get("auth.cram_md5");
        return sasl::run_user_command(**store, rest, cram && *cram == "on");
      }
      if (cmd == "config") return cmd_config(**store, rest);
      if (cmd == "domain") return cmd_domain(**store, rest);
      return cmd_relay(**store, rest);
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return usage_error(fmt::format("unknown command '{}'", cmd));
}
