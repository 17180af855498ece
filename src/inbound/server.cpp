// Inbound SMTP server driver (RFC 5321 transport side). Listeners come from the settings
// snapshot and are re-bound when smtp.listen changes. Each accepted connection gets its own
// strand and one coroutine that feeds socket bytes into smtp::ServerSession and acts on its
// events: relay policy at RCPT, body chunks to the queue, group commit before "250 queued".
// Timeouts use one steady_timer per connection that cancels (never closes) the socket, so the
// session can still say 421 before closing.
// Mail authentication: a transaction from a client that may relay (relay_networks or SMTP AUTH)
// is ours going out: it is not SPF/DKIM/DMARC-checked, and it is DKIM-signed when its From
// domain has an enabled key. Any other transaction is checked (auth.spf at MAIL FROM, so that
// auth.spf_reject refuses before the data; DKIM and DMARC at end of data). Either way only the
// header section is held (at most 1 MiB, to remove forged fields); the body streams to the spool
// and is hashed on the way; a refused message's chunks are discarded, never committed.
// Must not: block an io thread, hold a lock across co_await, log message bodies.
#include "gatehouse/inbound/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <random>
#include <mutex>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/host.hpp"
#include "gatehouse/core/ids.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/auth/check.hpp"
#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/auth/psl.hpp"
#include "gatehouse/report/observation.hpp"
#include "gatehouse/report/results_store.hpp"
#include "gatehouse/dns/deadline.hpp"
#include "gatehouse/dns/resolver.hpp"
#include "gatehouse/inbound/policy.hpp"
#include "gatehouse/tlspolicy/policy.hpp"
#include "gatehouse/net/timed_socket.hpp"
#include "gatehouse/queue/queue.hpp"
#include "gatehouse/sasl/password.hpp"
#include "gatehouse/sasl/throttle.hpp"
#include "gatehouse/sasl/user_store.hpp"
#include "gatehouse/smtp/server_session.hpp"
#include "gatehouse/tls/contexts.hpp"
#include "gatehouse/tlspolicy/lists.hpp"

namespace gatehouse::inbound {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using asio::awaitable;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::chrono::seconds kSpfTimeLimit{20};     // RFC 7208 §4.6.4
constexpr std::chrono::seconds kChecksTimeLimit{30};  // DKIM keys + DMARC records at end of data

// One inbound connection: the socket with its watchdog, plus the idle flag shutdown reads.
struct Conn : net::TimedSocket {
  using net::TimedSocket::TimedSocket;
  bool idle = false;  // waiting for a command outside any transaction (strand-owned)
};

void arm(const std::shared_ptr<Conn>& c, std::chrono::seconds t) { c->arm(t); }

// A value derived from the settings (parsed lists, loaded keys), built once per settings
// generation instead of once per connection or message.
template <class T>
class PerGeneration {
 public:
  // Built outside the lock (it may load keys). A connection keeps its snapshot for its whole
  // life, so an older generation may still ask: it gets the newest value rather than a rebuild
  // (callers check what they take from it against their own snapshot).
  template <class Build>
  std::shared_ptr<const T> get(const config::Settings& s, std::mutex& mu, Build build) {
    {
      std::lock_guard lk(mu);
      if (value_ && generation_ >= s.generation) return value_;
    }
    auto fresh = std::make_shared<const T>(build());
    std::lock_guard lk(mu);
    if (!value_ || generation_ < s.generation) {
      value_ = std::move(fresh);
      generation_ = s.generation;
    }
    return value_;
  }

 private:
  std::shared_ptr<const T> value_;  // guarded by the caller's mutex
  std::uint64_t generation_ = 0;
};

// Awaitable wrapper around Queue::commit: the callback (writer thread) is posted back to the
// awaiting coroutine's executor. Returns "" on success, else the error text.
template <class Token>
auto async_commit(queue::Queue& q, queue::Envelope env, Token&& token) {
  auto init = [&q](auto handler, queue::Envelope e) {
    auto ex = asio::get_associated_executor(handler);
    auto work = asio::make_work_guard(ex);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    q.commit(std::move(e), [h, ex, work](Status st) mutable {
      std::string err = st ? std::string() : st.error().message;
      asio::post(ex, [h, err = std::move(err)]() mutable { (*h)(std::move(err)); });
      work.reset();
    });
  };
  return asio::async_initiate<Token, void(std::string)>(init, token, std::move(env));
}

// Checks SMTP AUTH credentials on the auth pool (scrypt costs ~0.1 s: never on an io thread),
// completing on the awaiting coroutine's executor. Result: "ok", "bad", or "error: ...".
template <class Token>
auto async_check_auth(asio::thread_pool& pool, std::filesystem::path db, smtp::AuthRequest req, Token&& token) {
  auto init = [&pool](auto handler, std::filesystem::path db_path, smtp::AuthRequest r) {
    auto ex = asio::get_associated_executor(handler);
    auto work = asio::make_work_guard(ex);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(pool, [h, ex, work, db_path = std::move(db_path), r = std::move(r)]() mutable {
      std::string out;
      auto store = config::Store::open(db_path);
      if (!store) {
        out = "error: " + store.error().message;
      } else {
        sasl::UserStore users(**store);
        auto res = r.mechanism == "CRAM-MD5" ? users.verify_cram(r.username, r.challenge, r.digest)
                                             : users.verify(r.username, r.password);
        if (!res) out = "error: " + res.error().message;
        else out = *res == sasl::AuthResult::ok ? "ok" : std::string("bad: ") + sasl::to_string(*res);
      }
      asio::post(ex, [h, out = std::move(out)]() mutable { (*h)(std::move(out)); });
      work.reset();
    });
  };
  return asio::async_initiate<Token, void(std::string)>(init, token, std::move(db), std::move(req));
}

// AUTH mechanisms to offer: PLAIN/LOGIN only over TLS unless auth.allow_plaintext; CRAM-MD5 only
// when auth.cram_md5 is on (RFC 4954 §4; issue "TLS everywhere" item 9).
std::vector<std::string> auth_mechanisms(const config::Settings& s, bool tls) {
  std::vector<std::string> m;
  if (tls || s.auth_allow_plaintext) {
    m.push_back("PLAIN");
    m.push_back("LOGIN");
  }
  if (s.auth_cram_md5) m.push_back("CRAM-MD5");
  return m;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
  return a.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, config::Publisher& p, queue::Queue& qq, tls::Contexts& c, std::filesystem::path db,
       dns::Resolver& r, AuthServices a)
      : ioc(i), pub(p), q(qq), contexts(c), resolver(r), db_path(std::move(db)), auth(std::move(a)),
        throttle(core::system_clock(), 5, std::chrono::seconds(300)), strand(asio::make_strand(i)), shutdown_timer(i), log(core::log::get("inbound")) {}

  asio::io_context& ioc;
  config::Publisher& pub;
  queue::Queue& q;
  tls::Contexts& contexts;
  dns::Resolver& resolver;
  std::filesystem::path db_path;
  AuthServices auth;
  sasl::LoginThrottle throttle;
  asio::thread_pool auth_pool{1};
  asio::strand<asio::io_context::executor_type> strand;  // owns `listeners`
  std::map<std::string, std::shared_ptr<tcp::acceptor>> listeners;
  std::vector<core::HostPort> applied_listen;
  asio::steady_timer shutdown_timer;
  std::shared_ptr<spdlog::logger> log;

  mutable std::mutex mu;  // guards the fields below
  std::unordered_map<std::string, std::size_t> per_ip;
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns;
  std::atomic<bool> stopping{false};
  std::function<void()> on_empty;

  // --- listeners -----------------------------------------------------------------------
  std::vector<std::string> apply_listen(const config::Settings& s) {
    std::vector<std::string> errors;
    std::map<std::string, core::HostPort> want;
    for (auto& hp : s.smtp_listen) want[hp.to_string()] = hp;
    for (auto it = listeners.begin(); it != listeners.end();) {
      if (!want.count(it->first)) {
        boost::system::error_code ec;
        it->second->close(ec);
        log->info("listener-closed address={}", it->first);
        it = listeners.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [name, hp] : want) {
      if (listeners.count(name)) continue;
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(hp.host, ec);
      if (ec) {
        errors.push_back(fmt::format("{}: not an IP address", name));
        continue;
      }
      tcp::endpoint ep(addr, hp.port);
      auto acc = std::make_shared<tcp::acceptor>(strand);
      acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        errors.push_back(fmt::format("{}: cannot listen: {}", name, ec.message()));
        continue;
      }
      auto bound = endpoint_text(acc->local_endpoint(ec));
      listeners[name] = acc;
      log->info("listening address={}", bound);
      asio::co_spawn(strand, accept_loop(shared_from_this(), acc), asio::detached);
    }
    for (auto& e : errors) log->error("listen-failed {}", e);
    applied_listen = s.smtp_listen;
    return errors;
  }

  static awaitable<void> accept_loop(std::shared_ptr<Impl> self, std::shared_ptr<tcp::acceptor> acc) {
    for (;;) {
      auto [ec, sock] = co_await acc->async_accept(asio::make_strand(self->ioc), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acc->is_open() || self->stopping) co_return;
        self->log->warn("accept-failed error=\"{}\"", ec.message());
        asio::steady_timer t(self->strand, std::chrono::milliseconds(50));  // EMFILE and friends
        co_await t.async_wait(kTuple);
        continue;
      }
      self->on_accept(std::move(sock));
    }
  }

  // --- connections ---------------------------------------------------------------------
  void on_accept(tcp::socket sock) {
    boost::system::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    if (ec) return;
    auto addr = remote.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    std::string ip = addr.to_string();
    auto snap = pub.current();
    auto conn = std::make_shared<Conn>(std::move(sock));
    bool over_total = false, over_ip = false;
    {
      std::lock_guard lk(mu);
      if (conns.size() >= snap->smtp_max_connections) over_total = true;
      else if (per_ip[ip] >= snap->smtp_max_connections_per_ip) over_ip = true;
      else {
        ++per_ip[ip];
        conns.emplace(conn.get(), conn);
      }
      if (over_total || over_ip) {
        if (per_ip[ip] == 0) per_ip.erase(ip);
      }
    }
    auto local = conn->sock.local_endpoint(ec);
    auto host = ec ? core::effective_hostname(snap->smtp_hostname)
                   : greeting_hostname(*snap, core::IpAddress::parse(local.address().to_string()).value_or(core::IpAddress{}));
    if (over_total || over_ip) {
      smtp::Reply r{421, {4, 7, 0},
                    fmt::format("{} Error: too many connections{}", host, over_ip ? " from your address" : "")};
      log->warn("connection-refused client={} reason={}", ip, over_ip ? "per-ip-limit" : "total-limit");
      asio::co_spawn(conn->sock.get_executor(), refuse(conn, r.to_wire()), asio::detached);
      return;
    }
    auto self = shared_from_this();
    asio::co_spawn(conn->sock.get_executor(), run_session(self, conn, ip, snap, host),
                   [self, conn, ip](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         self->log->error("session-crashed client={} error=\"{}\"", ip, ex.what());
                       }
                     }
                     self->release(conn.get(), ip);
                   });
  }

  static awaitable<void> refuse(std::shared_ptr<Conn> c, std::string text) {
    arm(c, std::chrono::seconds(5));
    co_await asio::async_write(c->sock, asio::buffer(text), kTuple);
    boost::system::error_code ec;
    c->sock.shutdown(tcp::socket::shutdown_both, ec);
    c->sock.close(ec);
    c->timer.cancel();
  }

  void release(Conn* c, const std::string& ip) {
    std::function<void()> done;
    {
      std::lock_guard lk(mu);
      conns.erase(c);
      auto it = per_ip.find(ip);
      if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
      if (stopping && conns.empty() && on_empty) done = std::exchange(on_empty, nullptr);
    }
    if (done) done();
  }

  // Everything a connection keeps across the STARTTLS switch of stream type.
  struct SessionState {
    SessionState(smtp::ServerOptions o, std::string ip_, config::SettingsPtr snap_, std::string host_)
        : s(std::move(o)), ip(std::move(ip_)), snap(std::move(snap_)), host(std::move(host_)) {}
    smtp::ServerSession s;
    std::string ip;
    config::SettingsPtr snap;
    std::string host;
    std::string sid = core::global_ids().next().hex();
    RelayContext ctx;
    std::string out;
    queue::QueueId qid{};
    bool have_qid = false;
    std::uint64_t body_size = 0;
    std::size_t messages = 0;
    std::string tls_info;  // "version=... cipher=... bits=N" once TLS is up
    std::string auth_user;
    // Every transaction's header section is held until it is complete (HeaderGate): forged
    // fields are removed, then the message streams to the spool. Checks read the header section
    // and DKIM body hashes computed on the way (never the whole message); signing likewise.
    // What DKIM signing keeps of a streamed message: its cleaned header section and body hash.
    struct Signing {
      std::string header;
      auth::dkim::BodyHasher body{auth::dkim::Canon::relaxed};
    };
    bool checks = false;     // run SPF/DKIM/DMARC on this transaction
    std::optional<auth::SpfOutcome> spf;  // checked at MAIL FROM
    std::string extra_prepend;  // Authentication-Results and the DMARC policy header, or DKIM-Signature
    std::optional<HeaderGate> gate;
    auth::MessageParts parts;  // checks: header fields and body hashes
    std::optional<Signing> signing;  // outgoing mail that may be signed
    std::optional<report::DmarcObservation> dmarc;  // recorded once the outcome is known

    void end_transaction() {
      extra_prepend.clear();
      spf.reset();
      gate.reset();
      parts = auth::MessageParts();
      signing.reset();
      dmarc.reset();
      checks = false;
    }
  };

  enum class Next { close, start_tls };

  // The list app loaded (and reloads on PUBLICSUFFIX.SEM). Null, so no DMARC evaluation, only if
  // none was given or it is empty (every "a.b" would be its own organization, co.uk included).
  std::shared_ptr<const auth::psl::List> public_suffixes() const {
    auto l = auth.psl ? auth.psl->get() : nullptr;
    return l && l->rule_count() > 0 ? l : nullptr;
  }

  // Which incoming fields are forged, per settings generation (not per message):
  //  - Authentication-Results claiming one of our authserv-ids: every host name the gateway greets
  //    with (smtp.hostname, else the system's, and each domain's --smtp-hostname; RFC 8601 §5);
  //  - the policy header, under its configured name and the product's default (mail-client rules
  //    written for the default must not be fooled after a rename).
  struct ForgedFields {
    std::vector<std::string> our_ids;
    std::vector<std::string> policy_names;
  };
  PerGeneration<ForgedFields> forged_fields_cache;
  std::shared_ptr<const ForgedFields> forged_fields(const config::Settings& s) {
    return forged_fields_cache.get(s, mu, [&] {
      ForgedFields f;
      f.our_ids.push_back(core::effective_hostname(s.smtp_hostname));
      for (const auto& d : s.domains)
        if (!d.smtp_hostname.empty()) f.our_ids.push_back(d.smtp_hostname);
      f.policy_names.push_back(s.auth_dmarc_header);
      if (!core::iequals(s.auth_dmarc_header, auth::dmarc::kDefaultHeaderName))
        f.policy_names.emplace_back(auth::dmarc::kDefaultHeaderName);
      return f;
    });
  }

  // The header section of a message without forged fields (HeaderGate).
  std::string clean_header(const SessionState& st, std::string_view header_section) {
    auto forged = forged_fields(*st.snap);
    auto r = auth::remove_forged_fields(header_section, forged->our_ids, forged->policy_names);
    if (!r) return std::string(header_section);  // over the cap: HeaderGate never passes one
    if (r->removed_policy_headers > 0)
      log->info("{}: removed-forged-header name={} count={}", st.sid, st.snap->auth_dmarc_header,
                r->removed_policy_headers);
    if (r->removed_authentication_results > 0)
      log->info("{}: removed-forged-header name=Authentication-Results count={}", st.sid,
                r->removed_authentication_results);
    return std::move(r->headers);
  }

  // Drops the current transaction: its spooled chunks (never committed) and its state.
  void discard(SessionState& st) {
    if (st.have_qid) q.abort(st.qid);
    st.have_qid = false;
    st.body_size = 0;
    st.end_transaction();
  }

  // Spools bytes of the current transaction.
  void spool(SessionState& st, std::string bytes) {
    if (bytes.empty()) return;
    if (!st.have_qid) {
      st.qid = q.new_id();
      st.have_qid = true;
    }
    st.body_size += bytes.size();
    q.append_body(st.qid, std::move(bytes));
  }

  // Decides, at MAIL FROM, what this transaction gets: checks (mail from outside) or signing
  // (mail that may relay), and checks SPF now so that auth.spf_reject can refuse the sender.
  static awaitable<smtp::Reply> on_mail(std::shared_ptr<Impl> self, SessionState& st) {
    const auto& snap = *st.snap;
    st.end_transaction();
    const bool outbound = st.ctx.authenticated || snap.relay_allowed(st.ctx.client);
    st.checks = !outbound && (snap.auth_spf || snap.auth_dkim_verify || snap.auth_dmarc);
    if (outbound && snap.auth_dkim_sign &&
        std::any_of(snap.dkim_keys.begin(), snap.dkim_keys.end(), [](const auto& k) { return k.enabled; }))
      st.signing.emplace();
    // One pass over the message feeds everything: the checks see the header section as received,
    // signing and the spool see it cleaned; both hash the body on its way to the spool.
    Impl* impl = self.get();
    SessionState* state = &st;
    st.gate.emplace(
        auth::dmarc::kMaxHeaderSection,
        [impl, state](std::string_view h) {
          if (state->checks) state->parts = auth::MessageParts(h);
          std::string cleaned = impl->clean_header(*state, h);
          if (state->signing) state->signing->header = cleaned;
          return cleaned;
        },
        [state](std::string_view b) {
          if (state->checks) state->parts.body.update(b);
          if (state->signing) state->signing->body.update(b);
        });
    if (outbound) co_return smtp::Reply{250, {2, 1, 0}, "Ok"};
    if (!snap.auth_spf) co_return smtp::Reply{250, {2, 1, 0}, "Ok"};
    const auto& from = st.s.transaction().mail_from;
    // RFC 7208 §4.6.4: the whole evaluation stops after 20 s with temperror.
    dns::DeadlineResolver limited(self->resolver, core::system_clock(), kSpfTimeLimit, "SPF evaluation");
    auto op = auth::check_host(limited, auth::spf_mail_from(st.ctx.client, from, st.s.helo_name(), st.host,
                                                            unix_now()));
    st.spf = co_await std::move(op);
    self->log->info("{}: spf result={} from=<{}> client={}{}{}", st.sid, auth::to_string(st.spf->result), from, st.ip,
                    st.spf->mechanism.empty() ? "" : " mechanism=", st.spf->mechanism);
    if (snap.auth_spf_reject && st.spf->result == auth::SpfResult::fail) {
      std::string domain = st.spf->domain.empty() ? st.s.helo_name() : st.spf->domain;
      self->log->warn("{}: reject MAIL from=<{}> client={} reason=spf-fail domain={}", st.sid, from, st.ip, domain);
      st.end_transaction();
      co_return smtp::Reply{550, {5, 7, 23},
                            fmt::format("SPF validation failed: {} does not allow {} to send its mail", domain, st.ip)};
    }
    co_return smtp::Reply{250, {2, 1, 0}, "Ok"};
  }

  static std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The DKIM signers of the current settings generation, by signing domain.
  struct Signer {
    std::string selector;
    auth::dkim::Signer signer;
  };
  struct Signers {
    std::unordered_map<std::string, Signer> by_domain;
  };
  PerGeneration<Signers> signers_cache;
  std::shared_ptr<const Signers> signers(const config::Settings& s) {
    return signers_cache.get(s, mu, [&] {
      Signers n;
      for (const auto& k : s.dkim_keys) {
        if (!k.enabled) continue;
        auto signer = auth::dkim::Signer::load(k.private_pem);
        if (signer) n.by_domain.emplace(k.domain, Signer{k.selector, std::move(*signer)});
        else log->error("dkim-key-unusable domain={} error=\"{}\"", k.domain, signer.error().message);
      }
      return n;
    });
  }

  // DKIM-signs an outbound message (RFC 6376 §5; relaxed/relaxed, From over-signed) when its
  // From domain, or a parent domain, has an enabled key. The body streamed to the spool and was
  // hashed on the way (st.signing); only the header section was kept. A message that cannot be
  // signed is sent unsigned, with a log line: refusing our own users' mail over a signature
  // would be worse.
  void sign_message(SessionState& st) {
    const auto& snap = *st.snap;
    auto msg = signing_header(st.signing->header);
    if (!msg) {
      log->warn("{}: dkim-not-signed reason=\"{}\"", st.sid, msg.error().message);
      return;
    }
    std::string header_block;
    for (const auto& h : msg->headers) header_block += h.raw;
    auto from = auth::dmarc::from_domain(header_block);
    if (!from.ok()) {
      log->info("{}: dkim-not-signed reason=\"{}\"", st.sid, from.detail);
      return;
    }
    const auto* key = snap.signing_key(from.domain);
    if (key == nullptr) return;
    auto set = signers(snap);
    auto it = set->by_domain.find(key->domain);
    std::optional<auth::dkim::Signer> own;  // this connection's snapshot has another key than the newest
    if (it == set->by_domain.end() || it->second.selector != key->selector) {
      auto loaded = auth::dkim::Signer::load(key->private_pem);
      if (!loaded) {
        log->warn("{}: dkim-not-signed domain={} reason=\"{}\"", st.sid, key->domain, loaded.error().message);
        return;
      }
      own = std::move(*loaded);
    }
    const auth::dkim::Signer& signer = own ? *own : it->second.signer;
    auth::dkim::SignRequest req;
    req.message = &*msg;
    req.body_digest = st.signing->body.finish();
    req.domain = key->domain;
    req.selector = key->selector;
    req.now = unix_now();
    auto sig = signer.sign(req);
    if (!sig) {
      log->warn("{}: dkim-not-signed domain={} reason=\"{}\"", st.sid, key->domain, sig.error().message);
      return;
    }
    st.extra_prepend = std::move(*sig);
    log->info("{}: dkim-signed d={} s={} a={}", st.sid, key->domain, key->selector,
              signer.type() == auth::dkim::KeyType::rsa ? "rsa-sha256" : "ed25519-sha256");
  }

  // DKIM and DMARC (and SPF, if MAIL FROM did not check it) on the message that streamed to the
  // spool (RFC 7208, 6376, 7489, 8601), from its header section and body hashes. Returns the
  // reply when the message is refused (its spooled chunks are then discarded); otherwise records
  // the fields to prepend. Every DMARC-checked message goes to the DMARC log and results.
  static awaitable<std::optional<smtp::Reply>> run_checks(std::shared_ptr<Impl> self, SessionState& st) {
    const auto& snap = *st.snap;
    auth::CheckRequest req;
    req.ip = st.ctx.client;
    req.helo = st.s.helo_name();
    req.mail_from = st.s.transaction().mail_from;
    req.authserv_id = st.host;
    req.now = unix_now();
    req.sample = static_cast<unsigned>(std::random_device{}() % 100);
    req.dmarc_options = dmarc_options(snap);
    req.psl = self->public_suffixes();
    req.spf = snap.auth_spf;
    req.dkim = snap.auth_dkim_verify;
    req.dmarc = snap.auth_dmarc;
    req.spf_result = st.spf;
    st.parts.body.finish();
    // DKIM key and DMARC record look-ups together end within kChecksTimeLimit (temperror after).
    dns::DeadlineResolver limited(self->resolver, core::system_clock(), kChecksTimeLimit, "DKIM/DMARC look-ups");
    auto op = auth::check_message(limited, req, st.parts);
    auto res = co_await std::move(op);
    std::string dkim_text;
    for (const auto& d : res.dkim)
      dkim_text += fmt::format("{}{}:{}", dkim_text.empty() ? "" : ",", auth::dkim::to_string(d.result),
                               core::log_value(d.domain));
    self->log->info("{}: auth-checks spf={} dkim={} dmarc={} from={}", st.sid, auth::to_string(res.spf.result),
                    dkim_text.empty() ? std::string("none") : dkim_text, auth::dmarc::to_string(res.dmarc.result),
                    core::log_value(res.from.ok() ? res.from.domain : std::string(auth::dmarc::to_string(res.from.problem))));
    bool refuse = snap.auth_dmarc && res.action.kind == auth::dmarc::Action::Kind::reject;
    if (!refuse) st.extra_prepend = auth::fields_to_add(res);
    // The DMARC log line and result are written once the outcome is known: now for a refusal,
    // after the commit otherwise (a failed commit is retried by the client: no double count).
    if (snap.auth_dmarc) st.dmarc = report::observe(res, req, std::string());
    if (refuse) {
      self->record_dmarc(st);
      auto ec = smtp::EnhancedCode::parse(res.action.enhanced).value_or(smtp::EnhancedCode{5, 7, 1});
      self->log->warn("{}: reject DATA from=<{}> client={} reason=\"{}\"", st.sid, req.mail_from, st.ip,
                      res.action.text);
      co_return smtp::Reply{static_cast<int>(res.action.code ? res.action.code : 550), ec, res.action.text};
    }
    co_return std::nullopt;
  }

  // The DMARC log line and the reports.db row of one checked message (st.dmarc), if any.
  void record_dmarc(SessionState& st, std::string queue_id = {}) {
    if (!st.dmarc) return;
    const auto& snap = *st.snap;
    st.dmarc->queue_id = std::move(queue_id);
    if (snap.auth_dmarc_log && auth.dmarc_log) auth.dmarc_log->info(report::log_line(*st.dmarc));
    if (auth.results && snap.auth_dmarc_results_keep.count() > 0) auth.results->add(std::move(*st.dmarc));
    st.dmarc.reset();
  }

  // The TLS lists parsed once per settings generation, not once per connection.
  struct ParsedLists {
    tlspolicy::TlsLists lists;
    bool has_names = false;  // the whitelist holds host-name/domain entries (rDNS needed)
  };
  PerGeneration<ParsedLists> parsed_lists;
  std::shared_ptr<const ParsedLists> tls_lists(const config::Settings& s) {
    return parsed_lists.get(s, mu, [&] {
      ParsedLists p;
      p.lists = tlspolicy::TlsLists::from_settings(s);
      for (const auto& e : s.tls_starttls_whitelist)
        if (!core::Cidr::parse(e)) p.has_names = true;
      return p;
    });
  }

  // The verified reverse DNS name of `ip`, or "" (no PTR, or no PTR name resolves back to it).
  static awaitable<std::string> forward_confirmed_name(dns::Resolver& resolver, std::optional<core::IpAddress> ip) {
    if (!ip) co_return std::string();
    auto ptr = co_await resolver.query(dns::reverse_name(*ip), dns::RrType::PTR);
    for (const auto& name : ptr.names) {
      auto fwd = co_await resolver.query(name, ip->unmapped().v6 ? dns::RrType::AAAA : dns::RrType::A);
      for (const auto& a : fwd.addrs)
        if (a.unmapped() == ip->unmapped()) co_return name;
    }
    co_return std::string();
  }

  static awaitable<void> run_session(std::shared_ptr<Impl> self, std::shared_ptr<Conn> conn, std::string ip,
                                     config::SettingsPtr snap, std::string host) {
    smtp::ServerOptions opts;
    opts.hostname = host;
    opts.limits.max_message_size = snap->smtp_max_message_size;
    opts.limits.max_recipients = snap->smtp_max_recipients;
    opts.limits.max_command_line = snap->smtp_max_line_length;
    opts.limits.max_errors = static_cast<unsigned>(snap->smtp_max_errors);
    auto server_ctx = self->contexts.server();
    auto client_ip = core::IpAddress::parse(ip);
    std::string rdns;
    auto lists = self->tls_lists(*snap);
    if (snap->tls_enabled && server_ctx != nullptr && lists->has_names) {
      // Host-name and domain entries of the STARTTLS whitelist need the client's name: its
      // forward-confirmed reverse DNS name (PTR, then A/AAAA of that name contains the IP).
      auto op = forward_confirmed_name(self->resolver, client_ip);
      rdns = co_await std::move(op);
    }
    opts.offer_starttls =
        tlspolicy::advertise_starttls(lists->lists, snap->tls_enabled, server_ctx != nullptr, client_ip, rdns);
    opts.auth_mechanisms = auth_mechanisms(*snap, false);
    opts.cram_nonce = [] { return sasl::cram_nonce(); };
    SessionState st(opts, ip, snap, host);
    // Whatever ends this session (close, error, an exception unwinding this frame), chunks of a
    // transaction that was never committed are dropped from the spool's index.
    struct AbortUncommitted {
      Impl* impl;
      SessionState* state;
      ~AbortUncommitted() {
        if (state->have_qid) impl->q.abort(state->qid);
        state->have_qid = false;
      }
    } abort_uncommitted{self.get(), &st};
    st.ctx.client = core::IpAddress::parse(ip).value_or(core::IpAddress{});
    self->log->info("{}: connect client={}", st.sid, ip);
    st.s.start();
    auto next = co_await serve(self, conn, st, conn->sock);
    if (next == Next::start_tls) {
      ssl::stream<tcp::socket&> tls(conn->sock, *server_ctx);
      arm(conn, snap->smtp_command_timeout);
      auto [hec] = co_await tls.async_handshake(ssl::stream_base::server, kTuple);
      if (hec) {
        self->log->info("{}: tls-handshake-failed client={} error=\"{}\"", st.sid, ip,
                        conn->timed_out ? std::string("timed out") : hec.message());
      } else {
        auto* h = tls.native_handle();
        st.tls_info = fmt::format("version={} cipher={} bits={}", SSL_get_version(h), SSL_get_cipher_name(h),
                                  SSL_get_cipher_bits(h, nullptr));
        self->log->info("{}: tls-established client={} {}", st.sid, ip, st.tls_info);
        st.s.tls_started();
        st.s.set_auth_mechanisms(auth_mechanisms(*snap, true));
        co_await serve(self, conn, st, tls);
      }
    }
    conn->close();
    self->log->info("{}: disconnect client={} messages={}", st.sid, ip, st.messages);
  }

  // The connection loop for one stream type (plain socket, then TLS after STARTTLS).
  template <class Stream>
  static awaitable<Next> serve(std::shared_ptr<Impl> self, std::shared_ptr<Conn> conn, SessionState& st,
                               Stream& stream) {
    auto& log = *self->log;
    auto& s = st.s;
    const auto& snap = st.snap;
    std::array<char, 4096> buf;
    for (;;) {
      bool start_tls = false;
      while (auto ev = s.next_event()) {
        switch (ev->kind) {
          case smtp::EventKind::send:
            st.out += ev->text;
            break;
          case smtp::EventKind::helo:
            break;
          case smtp::EventKind::ask_mail: {
            auto op = on_mail(self, st);
            s.answer(co_await std::move(op));
            break;
          }
          case smtp::EventKind::ask_rcpt: {
            auto r = check_recipient(*snap, st.ctx, ev->rcpt);
            if (!r.positive())
              log.info("{}: reject RCPT from=<{}> to=<{}> client={} reply=\"{} {} {}\"", st.sid,
                       s.transaction().mail_from, ev->rcpt.address, st.ip, r.code, r.enhanced.to_string(), r.text());
            s.answer(r);
            break;
          }
          case smtp::EventKind::body:
            if (st.gate) self->spool(st, st.gate->feed(ev->text));
            else self->spool(st, std::move(ev->text));
            break;
          case smtp::EventKind::ask_commit: {
            if (st.gate) {
              self->spool(st, st.gate->finish());
              if (st.gate->overflowed()) {
                log.warn("{}: reject DATA from=<{}> client={} reason=\"header section longer than {} bytes\"",
                         st.sid, s.transaction().mail_from, st.ip, auth::dmarc::kMaxHeaderSection);
                self->discard(st);
                s.answer(smtp::Reply{552, {5, 3, 4}, "Message header section too large"});
                break;
              }
            }
            if (st.checks) {
              auto op = run_checks(self, st);
              auto refusal = co_await std::move(op);
              if (refusal) {
                self->discard(st);
                s.answer(*refusal);
                break;
              }
            } else if (st.signing) {
              self->sign_message(st);
            }
            if (!st.have_qid) {
              st.qid = self->q.new_id();
              st.have_qid = true;
            }
            auto env = make_envelope(st);
            auto nrcpt = env.rcpts.size();
            auto from = env.mail_from;
            // Named first: GCC 12 mishandles temporaries built inside a co_await expression.
            auto op = async_commit(self->q, std::move(env), asio::use_awaitable);
            auto err = co_await std::move(op);
            if (err.empty()) {
              ++st.messages;
              log.info("{}: queued from=<{}> size={} nrcpt={} client={} session={}{}{}", st.qid.hex(), from,
                       st.body_size, nrcpt, st.ip, st.sid, st.tls_info.empty() ? "" : " tls=",
                       st.tls_info.empty() ? "" : "yes");
              self->record_dmarc(st, st.qid.hex());
              s.answer(smtp::Reply{250, {2, 0, 0}, "Ok: queued as " + st.qid.hex()});
            } else {
              log.error("{}: queue-write-failed error=\"{}\" session={}", st.qid.hex(), err, st.sid);
              s.answer(smtp::Reply{451, {4, 3, 0}, "Error: queue file write error, try again later"});
            }
            st.have_qid = false;
            st.body_size = 0;
            st.end_transaction();
            break;
          }
          case smtp::EventKind::abort_body:
            self->discard(st);
            break;
          case smtp::EventKind::start_tls:
            // The session discarded any bytes pipelined after STARTTLS (command injection).
            if (ev->text.find("discarded=0") == std::string::npos)
              log.warn("{}: starttls-pipelining client={} {}", st.sid, st.ip, ev->text);
            start_tls = true;
            break;
          case smtp::EventKind::ask_auth: {
            self->throttle.set_limits(static_cast<unsigned>(snap->auth_max_failures), snap->auth_failure_window);
            if (self->throttle.blocked(st.ip)) {
              log.warn("{}: auth-refused client={} reason=too-many-failures", st.sid, st.ip);
              s.answer(smtp::Reply{421, {4, 7, 0}, st.host + " Error: too many failed logins, try again later"});
              break;
            }
            auto user = ev->auth.username;
            auto mech = ev->auth.mechanism;
            auto op = async_check_auth(self->auth_pool, self->db_path, std::move(ev->auth), asio::use_awaitable);
            auto res = co_await std::move(op);
            if (res == "ok") {
              st.auth_user = user;
              st.ctx.authenticated = true;
              log.info("{}: auth-ok client={} user={} mechanism={}", st.sid, st.ip, user, mech);
              s.answer(smtp::Reply{235, {2, 7, 0}, "Authentication successful"});
            } else if (res.rfind("error", 0) == 0) {
              log.error("{}: auth-error client={} user={} {}", st.sid, st.ip, user, res);
              s.answer(smtp::Reply{454, {4, 7, 0}, "Temporary authentication failure"});
            } else {
              bool now_blocked = self->throttle.record_failure(st.ip);
              log.warn("{}: auth-failed client={} user={} mechanism={} reason={}{}", st.sid, st.ip, user, mech,
                       res.substr(5), now_blocked ? " now-throttled=yes" : "");
              s.answer(smtp::Reply{535, {5, 7, 8}, "Authentication credentials invalid"});
            }
            break;
          }
          case smtp::EventKind::close:
            break;
          default:
            break;
        }
      }
      if (!st.out.empty()) {
        arm(conn, snap->smtp_command_timeout);
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(st.out), kTuple);
        (void)n;
        st.out.clear();
        if (ec) co_return Next::close;
      }
      if (start_tls) co_return Next::start_tls;
      if (s.closed()) co_return Next::close;
      bool idle = !s.in_data() && !s.awaiting_answer() && s.transaction().rcpts.empty() &&
                  s.transaction().mail_from.empty();
      if (self->stopping && idle) {
        s.shutdown();
        continue;
      }
      conn->idle = idle;
      arm(conn, s.in_data() ? snap->smtp_data_timeout : snap->smtp_command_timeout);
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf), kTuple);
      conn->idle = false;
      if (ec) {
        if (conn->timed_out) {
          log.info("{}: timeout client={} in_data={}", st.sid, st.ip, s.in_data());
          s.timeout();
          continue;
        }
        if (ec == asio::error::operation_aborted && self->stopping) {
          s.shutdown();
          continue;
        }
        co_return Next::close;  // EOF, reset
      }
      s.feed(std::string_view(buf.data(), n));
    }
  }

  static queue::Envelope make_envelope(const SessionState& st) {
    const auto& s = st.s;
    const auto& qid = st.qid;
    const auto& ip = st.ip;
    const auto& host = st.host;
    auto body_size = st.body_size;
    const auto& tx = s.transaction();
    queue::Envelope env;
    env.id = qid;
    env.mail_from = tx.mail_from;
    for (const auto& r : tx.rcpts) {
      queue::RecipientState rs;
      rs.address = r.address;
      rs.domain = r.domain;
      rs.notify = r.notify;
      rs.orcpt = r.orcpt;
      env.rcpts.push_back(std::move(rs));
    }
    env.ret = tx.params.ret;
    env.envid = tx.params.envid;
    env.smtputf8 = tx.params.smtputf8;
    env.eightbit = tx.params.body == smtp::BodyType::eight_bit_mime || tx.params.body == smtp::BodyType::binary_mime;
    auto now = std::chrono::system_clock::now();
    env.arrival = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    env.client_ip = ip;
    env.helo = s.helo_name();
    env.body_size = body_size;
    ReceivedInfo ri;
    ri.helo = s.helo_name();
    ri.client_ip = ip;
    ri.by_host = host;
    ri.queue_id = qid.hex();
    // RFC 3848 / RFC 6531 "with" keywords.
    if (tx.params.smtputf8) ri.protocol = "UTF8SMTP";
    else ri.protocol = s.esmtp() ? "ESMTP" : "SMTP";
    if (!st.tls_info.empty()) ri.protocol += "S";
    if (!st.auth_user.empty()) ri.protocol += "A";
    ri.tls = st.tls_info;
    if (tx.rcpts.size() == 1) ri.for_rcpt = tx.rcpts.front().address;
    ri.when = now;
    env.prepend = received_header(ri) + st.extra_prepend;
    return env;
  }
};

Server::Server(asio::io_context& ioc, config::Publisher& settings, queue::Queue& queue, tls::Contexts& contexts,
               std::filesystem::path db_path, dns::Resolver& resolver, AuthServices auth)
    : impl_(std::make_shared<Impl>(ioc, settings, queue, contexts, std::move(db_path), resolver, std::move(auth))) {}

Server::~Server() = default;

std::vector<std::string> Server::start() {
  auto errors = impl_->apply_listen(*impl_->pub.current());
  std::weak_ptr<Impl> weak = impl_;
  impl_->pub.subscribe([weak](const config::SettingsPtr& s) {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand, [self, s] {
      if (self->stopping) return;
      bool same = self->applied_listen.size() == s->smtp_listen.size();
      for (std::size_t i = 0; same && i < s->smtp_listen.size(); ++i)
        same = self->applied_listen[i].to_string() == s->smtp_listen[i].to_string();
      if (!same) self->apply_listen(*s);
    });
  });
  return errors;
}

std::vector<std::string> Server::listening() const {
  std::vector<std::string> out;
  for (auto& [name, acc] : impl_->listeners) {
    boost::system::error_code ec;
    auto ep = acc->local_endpoint(ec);
    if (!ec) out.push_back(endpoint_text(ep));
  }
  return out;
}

void Server::shutdown(std::chrono::seconds grace, std::function<void()> done) {
  auto self = impl_;
  self->stopping = true;
  asio::post(self->strand, [self] {
    for (auto& [name, acc] : self->listeners) {
      boost::system::error_code ec;
      acc->close(ec);
    }
    self->listeners.clear();
  });
  std::vector<std::shared_ptr<Conn>> live;
  {
    std::lock_guard lk(self->mu);
    if (self->conns.empty()) {
      if (done) asio::post(self->strand, std::move(done));
      return;
    }
    self->on_empty = std::move(done);
    for (auto& [p, w] : self->conns)
      if (auto c = w.lock()) live.push_back(c);
  }
  for (auto& c : live) {
    asio::post(c->sock.get_executor(), [c] {
      if (c->idle) {
        boost::system::error_code ec;
        c->sock.cancel(ec);
      }
    });
  }
  self->shutdown_timer.expires_after(grace);
  self->shutdown_timer.async_wait([self](boost::system::error_code ec) {
    if (ec) return;
    std::vector<std::shared_ptr<Conn>> rest;
    {
      std::lock_guard lk(self->mu);
      for (auto& [p, w] : self->conns)
        if (auto c = w.lock()) rest.push_back(c);
    }
    if (!rest.empty()) self->log->warn("shutdown-grace-expired closing={}", rest.size());
    for (auto& c : rest)
      asio::post(c->sock.get_executor(), [c] {
        boost::system::error_code e;
        c->sock.close(e);
        c->timer.cancel();
      });
  });
}

std::size_t Server::sessions() const {
  std::lock_guard lk(impl_->mu);
  return impl_->conns.size();
}

}  // namespace gatehouse::inbound
