// Delivery driver (RFC 5321 client side, RFC 2920 pipelining). Everything here runs on one
// strand: the scheduler loop, the per-destination job queues and every SMTP client coroutine,
// so the bookkeeping needs no locks. Strategies (after Postfix qmgr): a bounded active set,
// per-destination job queues with a connection limit, connection reuse for several messages,
// exponential backoff with jitter, a dead destination fails its whole queue at once.
// Must not: lose a recipient's result (every job ends in exactly one queue update), log bodies.
#include "gatehouse/delivery/delivery.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <array>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <spdlog/spdlog.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/core/host.hpp"
#include "gatehouse/delivery/dsn.hpp"
#include "gatehouse/delivery/routing.hpp"
#include "gatehouse/dns/resolver.hpp"
#include "gatehouse/net/timed_socket.hpp"
#include "gatehouse/queue/queue.hpp"
#include "gatehouse/smtp/reply.hpp"
#include "gatehouse/smtp/server_session.hpp"
#include "gatehouse/tls/contexts.hpp"
#include "gatehouse/tlspolicy/fallback.hpp"
#include "gatehouse/tlspolicy/lists.hpp"
#include "gatehouse/tlspolicy/policy.hpp"

namespace gatehouse::delivery {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using asio::awaitable;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Strand = asio::strand<asio::io_context::executor_type>;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct MsgCtx {
  queue::Envelope env;
  config::SettingsPtr snap;
  std::string body;
  bool body_loaded = false;
  std::string body_error;
  std::vector<queue::RecipientUpdate> updates;
  std::map<std::size_t, std::string> remote_mta;  // recipient index -> host that answered
  int pending_jobs = 0;
};

struct Job {
  std::shared_ptr<MsgCtx> msg;
  std::vector<std::size_t> idx;  // recipient indexes into msg->env.rcpts
};

struct Dest {
  Route route;
  std::deque<Job> jobs;
  unsigned workers = 0;
};

struct Caps {
  bool esmtp = false, pipelining = false, eightbit = false, smtputf8 = false, dsn = false, starttls = false;
  std::uint64_t size = 0;
};

// An SMTP client connection with line-based reply reading.
struct Client {
  explicit Client(const Strand& st) : io(std::make_shared<net::TimedSocket>(st)) {}
  std::shared_ptr<net::TimedSocket> io;
  std::string rbuf;
  smtp::ReplyParser parser;
  std::string peer;  // "host[ip]:port" for logs
  Caps caps;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;  // set once STARTTLS succeeded
  unsigned tls_bits = 0;
  std::string tls_summary;  // "TLSv1.3 TLS_AES_256_GCM_SHA384 256 bits" for logs

  awaitable<std::optional<smtp::Reply>> read_reply(std::chrono::seconds t) {
    std::array<char, 4096> tmp;
    for (;;) {
      auto nl = rbuf.find('\n');
      while (nl != std::string::npos) {
        std::string_view line(rbuf.data(), nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto r = parser.feed_line(line);
        rbuf.erase(0, nl + 1);
        if (r) co_return r;
        nl = rbuf.find('\n');
      }
      if (rbuf.size() > 64 * 1024) co_return std::nullopt;
      io->arm(t);
      boost::system::error_code ec;
      std::size_t n = 0;
      if (tls) std::tie(ec, n) = co_await tls->async_read_some(asio::buffer(tmp), kTuple);
      else std::tie(ec, n) = co_await io->sock.async_read_some(asio::buffer(tmp), kTuple);
      if (ec) co_return std::nullopt;
      rbuf.append(tmp.data(), n);
    }
  }

  awaitable<bool> write(const std::string& data, std::chrono::seconds t) {
    io->arm(t);
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls) std::tie(ec, n) = co_await asio::async_write(*tls, asio::buffer(data), kTuple);
    else std::tie(ec, n) = co_await asio::async_write(io->sock, asio::buffer(data), kTuple);
    (void)n;
    co_return !ec;
  }

  void reset_protocol() {
    tls.reset();
    tls_bits = 0;
    tls_summary.clear();
    rbuf.clear();
    parser = smtp::ReplyParser{};
    caps = Caps{};
  }
};

smtp::Reply local_reply(int code, smtp::EnhancedCode e, std::string text) { return smtp::Reply{code, e, std::move(text)}; }

std::string xtext(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '+' || c == '=') out += fmt::format("+{:02X}", c);
    else out.push_back(static_cast<char>(c));
  }
  return out;
}

}  // namespace

struct Delivery::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, config::Publisher& p, queue::Queue& qq, dns::Resolver& r, tls::Contexts& c)
      : ioc(i), pub(p), q(qq), resolver(r), contexts(c), st(asio::make_strand(i)), wake(st),
        log(core::log::get("delivery")), rng(std::random_device{}()), fallback(core::system_clock()) {}

  asio::io_context& ioc;
  config::Publisher& pub;
  queue::Queue& q;
  dns::Resolver& resolver;
  tls::Contexts& contexts;
  Strand st;
  asio::steady_timer wake;
  std::shared_ptr<spdlog::logger> log;
  std::mt19937 rng;
  tlspolicy::PlainFallbackList fallback;  // hosts whose TLS handshake failed: plain text for an hour
  std::shared_ptr<const tlspolicy::TlsLists> lists;  // parsed from the snapshot `lists_gen`
  std::uint64_t lists_gen = ~std::uint64_t{0};
  std::map<std::string, std::shared_ptr<Dest>> dests;
  std::set<std::shared_ptr<net::TimedSocket>> live;
  std::size_t active_msgs = 0;
  static constexpr std::size_t kMaxActive = 20000;
  std::set<core::QueueId> bounce_requested;
  bool pending_wake = false;
  bool stopping = false;
  bool scheduler_running = false;
  unsigned workers_total = 0;
  std::function<void()> on_stopped;

  // --- scheduler ---------------------------------------------------------------------------
  static awaitable<void> scheduler(std::shared_ptr<Impl> self) {
    self->scheduler_running = true;
    while (!self->stopping) {
      self->pending_wake = false;
      auto snap = self->pub.current();
      auto now = unix_now();
      std::size_t taken = 0;
      if (self->active_msgs < kMaxActive) {
        auto due = self->q.take_due(now, std::min<std::size_t>(512, kMaxActive - self->active_msgs));
        taken = due.size();
        for (auto& env : due) self->dispatch(snap, std::move(env), now);
      }
      if (taken == 512) {
        co_await asio::post(self->st, asio::use_awaitable);  // let workers run, then take more
        continue;
      }
      if (self->pending_wake) continue;
      auto wait = std::chrono::seconds(5);
      if (auto nd = self->q.next_due()) wait = std::chrono::seconds(std::clamp<std::int64_t>(*nd - now, 0, 5));
      if (wait.count() == 0) wait = std::chrono::seconds(1);  // due but active set full: poll
      self->wake.expires_after(wait);
      co_await self->wake.async_wait(kTuple);
    }
    self->scheduler_running = false;
    self->maybe_stopped();
  }

  void poke() {
    asio::post(st, [self = shared_from_this()] {
      self->pending_wake = true;
      self->wake.cancel();
    });
  }

  void dispatch(const config::SettingsPtr& snap, queue::Envelope env, std::int64_t now) {
    auto msg = std::make_shared<MsgCtx>();
    msg->env = std::move(env);
    msg->snap = snap;
    ++active_msgs;
    auto& e = msg->env;
    auto id = e.id.hex();
    if (expired(*snap, e.arrival, now)) {
      for (std::size_t i = 0; i < e.rcpts.size(); ++i) {
        if (e.rcpts[i].status != queue::RcptStatus::pending) continue;
        auto why = fmt::format("4.4.7 message expired after {} s in the queue; last error: {}", now - e.arrival,
                               e.rcpts[i].last_reply.empty() ? "none" : e.rcpts[i].last_reply);
        log->warn("{}: expired to=<{}> reason=\"{}\"", id, e.rcpts[i].address, why);
        msg->updates.push_back({i, queue::RcptStatus::expired, 0, why, false});
      }
      finish(msg);
      return;
    }
    if (bounce_requested.erase(e.id)) {
      for (std::size_t i = 0; i < e.rcpts.size(); ++i) {
        if (e.rcpts[i].status != queue::RcptStatus::pending) continue;
        log->warn("{}: failed to=<{}> reason=\"bounced by the administrator\"", id, e.rcpts[i].address);
        msg->updates.push_back({i, queue::RcptStatus::failed, 0, "550 5.0.0 message bounced by the administrator", false});
      }
      finish(msg);
      return;
    }
    std::map<std::string, std::pair<Route, std::vector<std::size_t>>> groups;
    auto sender_domain = domain_of(e.mail_from);
    for (std::size_t i = 0; i < e.rcpts.size(); ++i) {
      const auto& r = e.rcpts[i];
      if (r.status != queue::RcptStatus::pending || r.next_attempt > now) continue;
      auto route = route_for(*snap, r.domain, sender_domain);
      // Recipients in TLS-enforced domains travel on their own connections (they may never
      // fall back to plain text, while others may).
      route.tls_enforced = tls_lists(*snap).enforced_for(r.address);
      auto key = route.key();
      auto& g = groups[key];
      g.first = route;
      g.second.push_back(i);
    }
    for (auto& [key, g] : groups) {
      auto& d = dests[key];
      if (!d) {
        d = std::make_shared<Dest>();
        d->route = g.first;
      }
      d->jobs.push_back(Job{msg, std::move(g.second)});
      ++msg->pending_jobs;
      spawn_workers(d, *snap);
    }
    if (msg->pending_jobs == 0) finish(msg);
  }

  const tlspolicy::TlsLists& tls_lists(const config::Settings& snap) {
    if (!lists || lists_gen != snap.generation) {
      lists = std::make_shared<const tlspolicy::TlsLists>(tlspolicy::TlsLists::from_settings(snap));
      lists_gen = snap.generation;
    }
    return *lists;
  }

  double jitter() { return std::uniform_real_distribution<double>(0.9, 1.1)(rng); }

  // Ends one attempt on a message: decides the delivery status notifications it owes (RFC 3461:
  // failures and expiry by default, one delay warning per recipient after
  // delivery.delay_warning_after, success only on NOTIFY=SUCCESS; never for a null sender),
  // commits the DSN first and only then records the recipients' new states, so a crash can
  // repeat a DSN but never lose one.
  void finish(const std::shared_ptr<MsgCtx>& msg) {
    auto now = unix_now();
    auto& e = msg->env;
    const auto& snap = *msg->snap;
    DsnReport rep;
    auto warn_after = snap.delivery_delay_warning_after.count();
    for (auto& u : msg->updates) {
      const auto& rc = e.rcpts[u.index];
      std::optional<DsnEvent> ev;
      if (u.status == queue::RcptStatus::failed) ev = DsnEvent::failure;
      else if (u.status == queue::RcptStatus::expired) ev = DsnEvent::expiry;
      else if (u.status == queue::RcptStatus::delivered && (rc.notify & smtp::kNotifySuccess)) ev = DsnEvent::success;
      else if (u.status == queue::RcptStatus::pending && warn_after > 0 && !rc.delay_warned &&
               now - e.arrival >= warn_after) {
        ev = DsnEvent::delay;
        u.delay_warned = true;
      }
      if (!ev || !should_notify(rc.notify, *ev)) continue;
      DsnRecipient d;
      d.final_recipient = rc.address;
      d.original_recipient = rc.orcpt;
      d.action = action_for(*ev);
      d.status = status_of(u.reply, *ev);
      if (auto it = msg->remote_mta.find(u.index); it != msg->remote_mta.end()) d.remote_mta = it->second;
      d.diagnostic_code = u.reply;
      d.last_attempt = now;
      if (*ev == DsnEvent::delay) d.will_retry_until = e.arrival + snap.delivery_max_queue_lifetime.count();
      rep.recipients.push_back(std::move(d));
    }
    if (rep.recipients.empty() || !should_bounce(e.mail_from)) {
      apply(msg);
      return;
    }
    if (!msg->body_loaded) {
      auto b = q.read_body(e.id);
      if (b) msg->body = std::move(*b);
      else log->error("{}: dsn-without-original error=\"{}\"", e.id.hex(), b.error().message);
      msg->body_loaded = true;
    }
    rep.reporting_mta = core::effective_hostname(snap.smtp_hostname);
    rep.envid = e.envid;
    rep.arrival = e.arrival;
    rep.sender = e.mail_from;
    rep.ret = parse_ret(e.ret);
    rep.original = e.prepend + msg->body;
    rep.now = now;
    rep.smtputf8 = e.smtputf8;
    auto dsn_id = q.new_id();
    rep.token = dsn_id.hex();
    auto text = build_dsn(rep);
    auto transport = dsn_transport(text, e.smtputf8);
    queue::Envelope d;
    d.id = dsn_id;
    d.mail_from = "";
    queue::RecipientState to;
    to.address = e.mail_from;
    to.domain = domain_of(e.mail_from);
    to.notify = smtp::kNotifyNever;
    d.rcpts.push_back(std::move(to));
    d.smtputf8 = transport.smtputf8;
    d.eightbit = transport.eightbit;
    d.arrival = now;
    d.body_size = text.size();
    q.append_body(dsn_id, std::move(text));
    auto self = shared_from_this();
    auto nrcpt = rep.recipients.size();
    q.commit(std::move(d), [self, msg, dsn_id, nrcpt](Status committed) {
      asio::post(self->st, [self, msg, dsn_id, nrcpt, committed] {
        if (committed)
          self->log->info("{}: dsn queued_as={} to=<{}> recipients={}", msg->env.id.hex(), dsn_id.hex(),
                          msg->env.mail_from, nrcpt);
        else
          self->keep_for_dsn_retry(*msg, committed.error().message);
        self->apply(msg);
      });
    });
  }

  // "550 5.1.1 text" -> "5.1.1"; else the event's default status. Expiry is always 4.4.7
  // (RFC 3463) whatever the last reply was.
  static std::string status_of(const std::string& reply, DsnEvent ev) {
    if (ev == DsnEvent::expiry) return std::string(default_status(ev));
    auto words = core::split(reply, ' ');
    if (words.size() >= 2)
      if (auto ec = smtp::EnhancedCode::parse(words[1])) return ec->to_string();
    return std::string(default_status(ev));
  }

  // The DSN could not be queued (spool write failed): do not record the final states it was
  // reporting, so the bounce is not lost. The recipients stay pending and the next attempt
  // reaches the same outcome and tries the DSN again.
  void keep_for_dsn_retry(MsgCtx& msg, const std::string& error) {
    auto retry_at = unix_now() + msg.snap->delivery_retry_min.count();
    for (auto& u : msg.updates) {
      if (u.status == queue::RcptStatus::failed || u.status == queue::RcptStatus::expired) {
        u.status = queue::RcptStatus::pending;
        u.next_attempt = retry_at;
        u.count_attempt = false;
      }
      u.delay_warned = false;
    }
    log->error("{}: dsn-queue-failed to=<{}> error=\"{}\" (recipients kept in the queue; the DSN is tried again "
               "at the next attempt)",
               msg.env.id.hex(), msg.env.mail_from, error);
  }

  void apply(const std::shared_ptr<MsgCtx>& msg) {
    q.update(msg->env.id, msg->updates);  // also releases the message from the active set
    --active_msgs;
  }

  void spawn_workers(const std::shared_ptr<Dest>& d, const config::Settings& snap) {
    while (!stopping && d->workers < snap.delivery_max_connections_per_destination && d->workers < d->jobs.size()) {
      ++d->workers;
      ++workers_total;
      asio::co_spawn(st, worker(shared_from_this(), d), [self = shared_from_this(), d](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            self->log->error("worker-crashed destination={} error=\"{}\"", d->route.server.to_string(), ex.what());
          }
        }
        --d->workers;
        --self->workers_total;
        if (self->stopping) {
          self->maybe_stopped();
          return;
        }
        if (!d->jobs.empty()) self->spawn_workers(d, *self->pub.current());
        else if (d->workers == 0) self->dests.erase(d->route.key());
      });
    }
  }

  // Records one recipient's outcome from a reply.
  void record(const std::shared_ptr<MsgCtx>& msg, std::size_t i, const smtp::Reply& r, const std::string& peer) {
    auto& rc = msg->env.rcpts[i];
    auto id = msg->env.id.hex();
    auto now = unix_now();
    auto text = fmt::format("{} {} {}", r.code, r.enhanced.empty() ? std::string() : r.enhanced.to_string(), r.text());
    auto delay = now - msg->env.arrival;
    if (auto br = peer.find('['); br != std::string::npos) msg->remote_mta[i] = peer.substr(0, br);
    if (r.positive()) {
      log->info("{}: delivered to=<{}> relay={} delay={} dsn={} reply=\"{}\"", id, rc.address, peer, delay,
                r.enhanced.empty() ? "2.0.0" : r.enhanced.to_string(), text);
      msg->updates.push_back({i, queue::RcptStatus::delivered, 0, text, true});
    } else if (r.transient()) {
      auto wait = retry_delay(*msg->snap, rc.attempts + 1, jitter());
      log->info("{}: deferred to=<{}> relay={} delay={} retry_in={} reply=\"{}\"", id, rc.address, peer, delay, wait,
                text);
      msg->updates.push_back({i, queue::RcptStatus::pending, now + wait, text, true});
    } else {
      log->warn("{}: failed to=<{}> relay={} delay={} reply=\"{}\"", id, rc.address, peer, delay, text);
      msg->updates.push_back({i, queue::RcptStatus::failed, 0, text, true});
    }
  }

  void job_done(const Job& job) {
    if (--job.msg->pending_jobs == 0) finish(job.msg);
  }

  void fail_job(const Job& job, const smtp::Reply& r, const std::string& peer) {
    for (auto i : job.idx) record(job.msg, i, r, peer);
    job_done(job);
  }

  // --- SMTP client worker --------------------------------------------------------------------
  static awaitable<void> worker(std::shared_ptr<Impl> self, std::shared_ptr<Dest> d) {
    auto snap = self->pub.current();
    Client c(self->st);
    self->live.insert(c.io);
    std::vector<std::string> sample;
    if (!d->jobs.empty())
      for (auto i : d->jobs.front().idx) sample.push_back(d->jobs.front().msg->env.rcpts[i].address);
    auto failure = co_await self->open(c, d->route, *snap, std::move(sample));
    if (failure) {
      // Dead destination: everything queued for it now gets the same result (a DNS or connection
      // failure defers; a null MX or a non-existent domain fails permanently).
      while (!d->jobs.empty()) {
        auto job = std::move(d->jobs.front());
        d->jobs.pop_front();
        self->fail_job(job, *failure, d->route.describe());
      }
      c.io->close();
      self->live.erase(c.io);
      co_return;
    }
    bool healthy = true;
    while (healthy && !self->stopping && !d->jobs.empty()) {
      auto job = std::move(d->jobs.front());
      d->jobs.pop_front();
      healthy = co_await self->send_message(c, job, *snap);
    }
    if (healthy && !self->stopping) {
      co_await c.write("QUIT\r\n", std::chrono::seconds(10));
      co_await c.read_reply(std::chrono::seconds(10));
    }
    c.io->close();
    self->live.erase(c.io);
  }

  struct Target {
    std::string host;
    core::IpAddress ip;
  };

  // Addresses of one host name: IPv6 first, then IPv4 (RFC 6724 default preference).
  awaitable<std::pair<std::vector<core::IpAddress>, bool>> addresses_of(const std::string& host) {
    std::vector<core::IpAddress> out;
    if (auto lit = core::IpAddress::parse(host)) {
      out.push_back(*lit);
      co_return std::make_pair(out, false);
    }
    bool temp = false;
    static constexpr std::array<dns::RrType, 2> kTypes{dns::RrType::AAAA, dns::RrType::A};
    for (auto type : kTypes) {
      auto a = co_await resolver.query(host, type);
      if (a.status == dns::Status::temp_failure) temp = true;
      for (auto& ip : a.addrs) out.push_back(ip);
    }
    co_return std::make_pair(out, temp);
  }

  // Where to connect for a route, in order; or the reply that explains why there is nowhere.
  awaitable<std::pair<std::vector<Target>, std::optional<smtp::Reply>>> targets_for(const Route& route) {
    std::vector<Target> out;
    if (route.kind == Route::Kind::relay_host) {
      auto [ips, temp] = co_await addresses_of(route.server.host);
      for (auto& ip : ips) out.push_back({route.server.host, ip});
      if (out.empty())
        co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(
                                          451, {4, 4, 3}, fmt::format("cannot resolve mail server {}{}", route.server.host,
                                                                      temp ? " (temporary DNS failure)" : ""))));
      co_return std::make_pair(out, std::optional<smtp::Reply>());
    }
    auto mx = co_await resolver.query(route.domain, dns::RrType::MX);
    auto plan = plan_mx(route.domain, mx, rng);
    switch (plan.kind) {
      case MxPlan::Kind::null_mx:
        co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(556, {5, 1, 10}, plan.reason)));
      case MxPlan::Kind::no_domain:
        co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(550, {5, 1, 2}, plan.reason)));
      case MxPlan::Kind::temp_failure:
      case MxPlan::Kind::perm_failure:
        co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(451, {4, 4, 3}, plan.reason)));
      case MxPlan::Kind::hosts:
      case MxPlan::Kind::implicit:
        break;
    }
    bool any_temp = false;
    for (auto& h : plan.hosts) {
      auto [ips, temp] = co_await addresses_of(h.host);
      any_temp = any_temp || temp;
      for (auto& ip : ips) out.push_back({h.host, ip});
    }
    if (out.empty()) {
      if (any_temp)
        co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(
                                          451, {4, 4, 3}, fmt::format("address lookup for the MX hosts of {} failed "
                                                                      "temporarily", route.domain))));
      auto why = plan.kind == MxPlan::Kind::implicit
                     ? fmt::format("{} has no MX and no address record", route.domain)
                     : fmt::format("no MX host of {} has an address record", route.domain);
      co_return std::make_pair(out, std::optional<smtp::Reply>(local_reply(550, {5, 4, 4}, why)));
    }
    co_return std::make_pair(out, std::optional<smtp::Reply>());
  }

  // EHLO (HELO fallback) on a fresh or freshly encrypted connection; fills c.caps.
  awaitable<std::string> greet_ehlo(Client& c, const Route& route, const config::Settings& snap) {
    if (!co_await c.write("EHLO " + route.helo + "\r\n", snap.delivery_command_timeout))
      co_return fmt::format("{}: connection lost before EHLO", c.peer);
    auto ehlo = co_await c.read_reply(snap.delivery_command_timeout);
    if (!ehlo) co_return fmt::format("{}: no reply to EHLO", c.peer);
    c.caps = Caps{};
    if (ehlo->code == 250) {
      c.caps.esmtp = true;
      for (std::size_t i = 1; i < ehlo->lines.size(); ++i) {
        auto words = core::split(ehlo->lines[i], ' ');
        if (words.empty()) continue;
        auto kw = core::to_lower(words[0]);
        if (kw == "pipelining") c.caps.pipelining = true;
        else if (kw == "8bitmime") c.caps.eightbit = true;
        else if (kw == "smtputf8") c.caps.smtputf8 = true;
        else if (kw == "dsn") c.caps.dsn = true;
        else if (kw == "starttls") c.caps.starttls = true;
        else if (kw == "size" && words.size() > 1) c.caps.size = core::parse_u64(words[1]).value_or(0);
      }
      co_return std::string();
    }
    if (!co_await c.write("HELO " + route.helo + "\r\n", snap.delivery_command_timeout))
      co_return fmt::format("{}: connection lost after EHLO", c.peer);
    auto helo = co_await c.read_reply(snap.delivery_command_timeout);
    if (!helo || helo->code != 250)
      co_return fmt::format("{}: HELO refused: {}", c.peer, helo ? helo->text() : std::string("no reply"));
    co_return std::string();
  }

  // STARTTLS on an open connection (RFC 3207). Returns "" on success, else why it failed.
  awaitable<std::string> start_tls(Client& c, const std::string& sni, const config::Settings& snap) {
    auto ctx = contexts.client();
    if (!ctx) co_return "no TLS client context";
    if (!co_await c.write("STARTTLS\r\n", snap.delivery_command_timeout)) co_return "connection lost";
    auto r = co_await c.read_reply(snap.delivery_command_timeout);
    if (!r) co_return "no reply to STARTTLS";
    if (r->code != 220) co_return fmt::format("STARTTLS refused: {} {}", r->code, r->text());
    if (!c.rbuf.empty()) co_return "the server sent data after its STARTTLS reply";  // injection
    c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.io->sock, *ctx);
    auto* h = c.tls->native_handle();
    if (core::IpAddress::parse(sni) == std::nullopt) SSL_set_tlsext_host_name(h, sni.c_str());
    c.io->arm(snap.delivery_command_timeout);
    auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::client, kTuple);
    if (ec) {
      auto why = c.io->timed_out ? std::string("timed out") : ec.message();
      c.tls.reset();
      co_return why;
    }
    c.tls_bits = static_cast<unsigned>(SSL_get_cipher_bits(h, nullptr));
    std::string subject = "-";
    if (X509* cert = SSL_get1_peer_certificate(h)) {
      char buf[512] = {};
      X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf - 1);
      subject = buf;
      X509_free(cert);
    }
    long vr = SSL_get_verify_result(h);
    bool name_ok = false;
    if (X509* cert = SSL_get1_peer_certificate(h)) {
      name_ok = X509_check_host(cert, sni.c_str(), sni.size(), 0, nullptr) == 1;
      X509_free(cert);
    }
    c.tls_summary = fmt::format("{} {} {} bits", SSL_get_version(h), SSL_get_cipher_name(h), c.tls_bits);
    log->info("tls-established peer={} version={} cipher={} bits={} subject=\"{}\" verify=\"{}\" name_match={}",
              c.peer, SSL_get_version(h), SSL_get_cipher_name(h), c.tls_bits, subject,
              vr == X509_V_OK ? std::string("ok") : X509_verify_cert_error_string(vr), name_ok ? "yes" : "no");
    co_return std::string();
  }

  // Connects to the first target that answers (next MX on refusal, timeout or a refused
  // greeting/EHLO), applies the TLS policy (STARTTLS when decided, one-hour plain fallback after
  // a failed handshake where allowed, required TLS otherwise), and leaves the connection ready
  // for MAIL. Returns nothing on success, else the reply every job of this destination gets.
  awaitable<std::optional<smtp::Reply>> open(Client& c, const Route& route, const config::Settings& snap,
                                             std::vector<std::string> sample_rcpts) {
    auto [targets, failure] = co_await targets_for(route);
    if (failure) co_return failure;
    auto port = route.kind == Route::Kind::relay_host ? route.server.port : route.port;
    const auto& policy_lists = tls_lists(snap);
    auto opts = tlspolicy::OutboundOptions::from_settings(snap);
    std::string last_error = "no address";
    std::optional<smtp::Reply> policy_failure;
    for (std::size_t ti = 0; ti < targets.size(); ++ti) {
      const auto& t = targets[ti];
      boost::system::error_code oc;
      auto addr = asio::ip::make_address(t.ip.to_string(), oc);
      if (oc) continue;
      tcp::endpoint ep(addr, port);
      c.reset_protocol();
      c.io->sock.close(oc);
      c.io->sock.open(ep.protocol(), oc);
      if (!route.bind_ip.empty()) {
        auto bind_addr = asio::ip::make_address(route.bind_ip, oc);
        if (!oc) c.io->sock.bind(tcp::endpoint(bind_addr, 0), oc);
        if (oc) {
          last_error = fmt::format("cannot bind source address {}: {}", route.bind_ip, oc.message());
          continue;
        }
      }
      c.io->arm(snap.delivery_connect_timeout);
      auto [cec] = co_await c.io->sock.async_connect(ep, kTuple);
      c.peer = fmt::format("{}[{}]:{}", t.host, t.ip.to_string(), port);
      if (cec) {
        last_error = fmt::format("connect to {} failed: {}", c.peer, c.io->timed_out ? std::string("timed out") : cec.message());
        log->info("connect-failed destination=\"{}\" peer={} error=\"{}\"", route.describe(), c.peer,
                  c.io->timed_out ? std::string("timed out") : cec.message());
        continue;
      }
      auto greet = co_await c.read_reply(snap.delivery_command_timeout);
      if (!greet || greet->code != 220) {
        last_error = greet ? fmt::format("{} refused the connection: {} {}", c.peer, greet->code, greet->text())
                           : fmt::format("{}: no greeting", c.peer);
        continue;
      }
      if (auto err = co_await greet_ehlo(c, route, snap); !err.empty()) {
        last_error = err;
        continue;
      }
      tlspolicy::Peer peer{t.host, t.ip, fallback.contains(t.host) || fallback.contains(t.ip.to_string())};
      auto decision = tlspolicy::decide_outbound(policy_lists, opts, peer, sample_rcpts);
      std::optional<tlspolicy::Failure> miss;
      if (decision.mode != tlspolicy::OutboundTlsDecision::none) {
        if (!c.caps.starttls) {
          miss = tlspolicy::check_reached(decision, false, 0, tlspolicy::kStarttlsNotOffered);
          if (!miss) log->info("tls-not-offered peer={} decision=\"{}\" (continuing in plain text)", c.peer, decision.why);
        } else {
          auto err = co_await start_tls(c, t.host, snap);
          if (!err.empty()) {
            log->warn("tls-handshake-failed peer={} error=\"{}\" decision=\"{}\"", c.peer, err, decision.why);
            if (decision.allow_plain_fallback) {
              // "SSL negotiation failures will retry without SSL for up to one hour".
              fallback.add(t.host);
              fallback.add(t.ip.to_string());
              log->warn("tls-fallback peer={} plain text to this host for {} s", c.peer, fallback.interval().count());
              --ti;  // the same target again, now without STARTTLS
              continue;
            }
            miss = tlspolicy::check_reached(decision, false, 0, tlspolicy::handshake_failed(err));
          } else {
            if (auto e = co_await greet_ehlo(c, route, snap); !e.empty()) {
              last_error = e;
              continue;
            }
            miss = tlspolicy::check_reached(decision, true, c.tls_bits);
          }
        }
      }
      if (miss) {
        auto ec = smtp::EnhancedCode::parse(miss->enhanced)
                      .value_or(smtp::EnhancedCode{miss->permanent ? 5 : 4, 7, 0});
        log->warn("tls-policy-failed peer={} reply=\"{}\" decision=\"{}\"", c.peer, miss->to_string(), decision.why);
        policy_failure = local_reply(miss->code, ec, miss->text);
        if (miss->permanent) co_return policy_failure;  // enforced domain: bounce at once, no other host in clear
        last_error = miss->to_string();
        continue;  // required list: another MX may do TLS; else deferred
      }
      co_return std::nullopt;
    }
    c.peer.clear();
    if (policy_failure) co_return policy_failure;
    co_return local_reply(451, {4, 4, 1}, last_error);
  }

  // One transaction on an open connection. Returns false when the connection is unusable.
  awaitable<bool> send_message(Client& c, const Job& job, const config::Settings& snap) {
    auto& msg = *job.msg;
    auto& e = msg.env;
    auto t = snap.delivery_command_timeout;
    if (!msg.body_loaded) {
      auto b = q.read_body(e.id);
      if (b) msg.body = std::move(*b);
      else msg.body_error = b.error().message;
      msg.body_loaded = true;
    }
    if (!msg.body_error.empty()) {
      log->error("{}: queue-read-failed error=\"{}\"", e.id.hex(), msg.body_error);
      fail_job(job, local_reply(451, {4, 3, 0}, "cannot read queued message: " + msg.body_error), c.peer);
      co_return true;
    }
    std::uint64_t size = e.prepend.size() + msg.body.size();
    if (c.caps.size && size > c.caps.size) {
      fail_job(job,
               local_reply(552, {5, 3, 4},
                           fmt::format("message size {} exceeds the limit {} of {}", size, c.caps.size, c.peer)),
               c.peer);
      co_return true;
    }
    if (e.smtputf8 && !c.caps.smtputf8) {
      fail_job(job, local_reply(553, {5, 6, 7}, fmt::format("{} does not support SMTPUTF8, which this message needs", c.peer)),
               c.peer);
      co_return true;
    }
    std::string mail = fmt::format("MAIL FROM:<{}>", e.mail_from);
    if (c.caps.size) mail += fmt::format(" SIZE={}", size);
    if (e.eightbit && c.caps.eightbit) mail += " BODY=8BITMIME";
    if (e.smtputf8) mail += " SMTPUTF8";
    if (c.caps.dsn) {
      if (!e.ret.empty()) mail += " RET=" + e.ret;
      if (!e.envid.empty()) mail += " ENVID=" + xtext(e.envid);
    }
    mail += "\r\n";
    std::vector<std::string> rcpt_cmds;
    for (auto i : job.idx) {
      const auto& r = e.rcpts[i];
      std::string cmd = fmt::format("RCPT TO:<{}>", r.address);
      if (c.caps.dsn && r.notify != 0) {
        if (r.notify & smtp::kNotifyNever) cmd += " NOTIFY=NEVER";
        else {
          std::vector<std::string> parts;
          if (r.notify & smtp::kNotifySuccess) parts.push_back("SUCCESS");
          if (r.notify & smtp::kNotifyFailure) parts.push_back("FAILURE");
          if (r.notify & smtp::kNotifyDelay) parts.push_back("DELAY");
          cmd += " NOTIFY=" + fmt::format("{}", fmt::join(parts, ","));
        }
      }
      if (c.caps.dsn && !r.orcpt.empty()) {
        auto semi = r.orcpt.find(';');
        if (semi != std::string::npos) cmd += " ORCPT=" + r.orcpt.substr(0, semi + 1) + xtext(r.orcpt.substr(semi + 1));
      }
      rcpt_cmds.push_back(cmd + "\r\n");
    }

    std::optional<smtp::Reply> mail_reply;
    std::vector<std::optional<smtp::Reply>> rcpt_replies;
    std::optional<smtp::Reply> data_reply;
    if (c.caps.pipelining) {
      std::string batch = mail;
      for (auto& rc : rcpt_cmds) batch += rc;
      batch += "DATA\r\n";
      if (!co_await c.write(batch, t)) co_return lost(c, job);
      mail_reply = co_await c.read_reply(t);
      if (!mail_reply) co_return lost(c, job);
      for (std::size_t k = 0; k < rcpt_cmds.size(); ++k) {
        rcpt_replies.push_back(co_await c.read_reply(t));
        if (!rcpt_replies.back()) co_return lost(c, job);
      }
      data_reply = co_await c.read_reply(t);
      if (!data_reply) co_return lost(c, job);
    } else {
      if (!co_await c.write(mail, t)) co_return lost(c, job);
      mail_reply = co_await c.read_reply(t);
      if (!mail_reply) co_return lost(c, job);
      if (mail_reply->positive()) {
        bool any = false;
        for (auto& rc : rcpt_cmds) {
          if (!co_await c.write(rc, t)) co_return lost(c, job);
          rcpt_replies.push_back(co_await c.read_reply(t));
          if (!rcpt_replies.back()) co_return lost(c, job);
          any = any || rcpt_replies.back()->positive();
        }
        if (any) {
          if (!co_await c.write("DATA\r\n", t)) co_return lost(c, job);
          data_reply = co_await c.read_reply(t);
          if (!data_reply) co_return lost(c, job);
        }
      }
    }

    if (!mail_reply->positive()) {
      // Every recipient shares the MAIL FROM refusal.
      fail_job(job, *mail_reply, c.peer);
      if (data_reply && data_reply->code == 354) {
        if (!co_await c.write(".\r\n", t) || !co_await c.read_reply(t)) co_return false;
      }
      co_return co_await rset(c, t);
    }
    std::vector<std::size_t> accepted;
    for (std::size_t k = 0; k < job.idx.size(); ++k) {
      if (rcpt_replies[k]->positive()) accepted.push_back(job.idx[k]);
      else record(job.msg, job.idx[k], *rcpt_replies[k], c.peer);
    }
    if (accepted.empty()) {
      if (data_reply && data_reply->code == 354) {
        // RFC 2920 §3.1: the server took DATA although no recipient was accepted; end it empty.
        if (!co_await c.write(".\r\n", t) || !co_await c.read_reply(t)) {
          job_done(job);
          co_return false;
        }
      }
      job_done(job);
      co_return co_await rset(c, t);
    }
    if (!data_reply || data_reply->code != 354) {
      smtp::Reply r = data_reply ? *data_reply : local_reply(451, {4, 5, 0}, "no reply to DATA");
      for (auto i : accepted) record(job.msg, i, r, c.peer);
      job_done(job);
      co_return co_await rset(c, t);
    }
    std::string payload;
    payload.reserve(e.prepend.size() + msg.body.size() + 64);
    payload += e.prepend;
    append_dot_stuffed(payload, msg.body);
    if (!co_await c.write(payload, snap.delivery_command_timeout)) {
      lost_some(c, job, accepted);
      co_return false;
    }
    auto final_reply = co_await c.read_reply(snap.delivery_command_timeout);
    if (!final_reply) {
      lost_some(c, job, accepted);
      co_return false;
    }
    for (auto i : accepted) record(job.msg, i, *final_reply, c.peer);
    job_done(job);
    co_return true;
  }

  awaitable<bool> rset(Client& c, std::chrono::seconds t) {
    if (!co_await c.write("RSET\r\n", t)) co_return false;
    auto r = co_await c.read_reply(t);
    co_return r && r->positive();
  }

  bool lost(Client& c, const Job& job) {
    fail_job(job, local_reply(451, {4, 4, 2}, fmt::format("connection to {} lost or timed out", c.peer)), c.peer);
    return false;
  }

  void lost_some(Client& c, const Job& job, const std::vector<std::size_t>& idx) {
    auto r = local_reply(451, {4, 4, 2}, fmt::format("connection to {} lost or timed out during DATA", c.peer));
    for (auto i : idx) record(job.msg, i, r, c.peer);
    job_done(job);
  }

  void maybe_stopped() {
    if (stopping && workers_total == 0 && !scheduler_running && on_stopped) std::exchange(on_stopped, nullptr)();
  }
};

Delivery::Delivery(asio::io_context& ioc, config::Publisher& settings, queue::Queue& queue, dns::Resolver& resolver,
                   tls::Contexts& contexts)
    : impl_(std::make_shared<Impl>(ioc, settings, queue, resolver, contexts)) {}

Delivery::~Delivery() = default;

void Delivery::start() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->q.set_on_ready([weak] {
    if (auto self = weak.lock()) self->poke();
  });
  asio::co_spawn(impl_->st, Impl::scheduler(impl_), asio::detached);
}

void Delivery::stop(std::function<void()> done) {
  auto self = impl_;
  asio::post(self->st, [self, done = std::move(done)]() mutable {
    self->stopping = true;
    self->on_stopped = std::move(done);
    self->wake.cancel();
    for (auto& s : self->live) s->close();
    self->dests.clear();
    self->maybe_stopped();
  });
}

Status Delivery::bounce(core::QueueId id) {
  auto self = impl_;
  asio::post(self->st, [self, id] {
    self->bounce_requested.insert(id);
    (void)self->q.retry(id, unix_now());
    self->pending_wake = true;
    self->wake.cancel();
  });
  return {};
}

}  // namespace gatehouse::delivery
