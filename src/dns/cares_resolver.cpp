// CaresResolver: c-ares 1.18.1 driven by Asio (toolchain.md §4.10). One ares channel lives on one
// strand; c-ares tells us which sockets it wants watched through sock_state_cb, each becomes a
// posix::stream_descriptor with async_wait(read/write) -> ares_process_fd, and one steady_timer
// follows ares_timeout() for retransmits and timeouts. Answers are parsed with the ares_parse_*
// functions (RFC 1035 §3.3/§3.4, RFC 3596 AAAA, RFC 7505 null MX, RFC 7208 §3.3 TXT
// concatenation); TTLs and CNAME targets come from a small bounded walk of the answer section
// (RFC 1035 §4.1, TTLs with the top bit set read as 0 per RFC 2181 §8).
// Must not: close a c-ares descriptor (release() only), call c-ares off the strand, block, or
// resume a caller anywhere but on the executor associated with its completion handler.
#include "gatehouse/dns/cares_resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "gatehouse/core/strings.hpp"

namespace asio = boost::asio;

namespace gatehouse::dns {

namespace {

constexpr int kMaxAddrs = 256;  // addresses taken from one A/AAAA answer

// ---- configuration -------------------------------------------------------------------------

struct Server {
  core::IpAddress ip;
  std::uint16_t port = 53;
};

Expected<Server> parse_server(std::string_view s) {
  s = core::trim(s);
  if (auto ip = core::IpAddress::parse(s)) return Server{*ip, 53};
  auto hp = core::HostPort::parse(s);
  if (!hp) return make_error(fmt::format("DNS server {}", hp.error().message));
  auto ip = core::IpAddress::parse(hp->host);
  if (!ip) return make_error(fmt::format("DNS server '{}': not an IP address", s));
  return Server{*ip, hp->port};
}

void library_init() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (status != ARES_SUCCESS)
    throw std::runtime_error(fmt::format("c-ares initialisation failed: {}", ares_strerror(status)));
}

// ---- answers -------------------------------------------------------------------------------

std::string host_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return core::to_lower(s);
}

struct RawRr {
  std::uint16_t type;
  std::uint32_t ttl;
  std::size_t rdata;
  std::size_t rdlen;
};

// The answer-section records of a DNS message (RFC 1035 §4.1), or nothing when it is malformed.
// Bounded by the message length; compression pointers are skipped, never followed.
std::optional<std::vector<RawRr>> answer_records(const unsigned char* m, std::size_t len) {
  if (m == nullptr || len < 12) return std::nullopt;
  auto u16 = [m](std::size_t o) { return static_cast<std::uint16_t>((m[o] << 8) | m[o + 1]); };
  auto skip_name = [&](std::size_t& p) {
    for (int labels = 0; labels < 128; ++labels) {
      if (p >= len) return false;
      unsigned l = m[p];
      if ((l & 0xC0) == 0xC0) {
        p += 2;
        return p <= len;
      }
      if ((l & 0xC0) != 0) return false;
      p += 1 + l;
      if (l == 0) return p <= len;
    }
    return false;
  };
  std::size_t qd = u16(4), an = u16(6), p = 12;
  for (std::size_t i = 0; i < qd; ++i) {
    if (!skip_name(p) || p + 4 > len) return std::nullopt;
    p += 4;
  }
  std::vector<RawRr> out;
  for (std::size_t i = 0; i < an; ++i) {
    if (!skip_name(p) || p + 10 > len) return std::nullopt;
    RawRr rr;
    rr.type = u16(p);
    std::uint32_t ttl = (std::uint32_t{u16(p + 4)} << 16) | u16(p + 6);
    rr.ttl = ttl > 0x7fffffffu ? 0 : ttl;
    rr.rdlen = u16(p + 8);
    rr.rdata = p + 10;
    p = rr.rdata + rr.rdlen;
    if (p > len) return std::nullopt;
    out.push_back(rr);
  }
  return out;
}

Status status_for(int code) {
  switch (code) {
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
    case ARES_EREFUSED:
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
    case ARES_EBADSTR:
    case ARES_EBADFLAGS:
      return Status::perm_failure;
    default:  // ETIMEOUT, ESERVFAIL, ECONNREFUSED, EBADRESP, EOF, ENOMEM, EDESTRUCTION, ECANCELLED...
      return Status::temp_failure;
  }
}

std::string error_text(int code) {
  switch (code) {
    case ARES_ETIMEOUT: return "timeout (no answer from the DNS servers)";
    case ARES_ESERVFAIL: return "SERVFAIL from the DNS server";
    case ARES_ECONNREFUSED: return "DNS server refused the connection";
    case ARES_EREFUSED: return "REFUSED by the DNS server";
    case ARES_EFORMERR: return "FORMERR from the DNS server";
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED: return "resolver shut down";
    default: return ares_strerror(code);
  }
}

struct HostentFree {
  void operator()(hostent* h) const { ares_free_hostent(h); }
};
struct DataFree {
  void operator()(void* p) const { ares_free_data(p); }
};

// Every name of a hostent from ares_parse_ptr_reply / ares_parse_ns_reply, once each, in order.
void hostent_names(const hostent* h, bool with_h_name, std::vector<std::string>& out) {
  auto add = [&out](const char* s) {
    std::string n = host_name(s);
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(std::move(n));
  };
  if (h->h_aliases != nullptr)
    for (char** a = h->h_aliases; *a != nullptr; ++a) add(*a);
  if (with_h_name && out.empty() && h->h_name != nullptr) add(h->h_name);
}

Answer make_answer(const std::string& name, RrType type, int code, const unsigned char* abuf, int alen) {
  Answer a;
  auto fail = [&](Status s, std::string_view why) {
    a.status = s;
    a.error = fmt::format("{} {}: {}", name, to_string(type), why);
    return a;
  };
  switch (code) {
    case ARES_SUCCESS: break;
    case ARES_ENODATA: return a;  // NOERROR with no answer: NODATA
    case ARES_ENOTFOUND: a.status = Status::nxdomain; return a;
    default: return fail(status_for(code), error_text(code));
  }
  auto rrs = answer_records(abuf, static_cast<std::size_t>(alen));
  if (!rrs) return fail(Status::temp_failure, "malformed DNS response");
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  for (const auto& rr : *rrs) ttl = std::min(ttl, rr.ttl);
  a.ttl = rrs->empty() ? 0 : ttl;

  int r = ARES_SUCCESS;
  switch (type) {
    case RrType::A: {
      std::vector<ares_addrttl> v(kMaxAddrs);
      int n = kMaxAddrs;
      r = ares_parse_a_reply(abuf, alen, nullptr, v.data(), &n);
      for (int i = 0; r == ARES_SUCCESS && i < n; ++i) {
        core::IpAddress ip;
        std::memcpy(ip.bytes.data(), &v[static_cast<std::size_t>(i)].ipaddr, 4);
        a.addrs.push_back(ip);
        a.ttl = std::min(a.ttl, static_cast<std::uint32_t>(std::max(v[static_cast<std::size_t>(i)].ttl, 0)));
      }
      break;
    }
    case RrType::AAAA: {
      std::vector<ares_addr6ttl> v(kMaxAddrs);
      int n = kMaxAddrs;
      r = ares_parse_aaaa_reply(abuf, alen, nullptr, v.data(), &n);
      for (int i = 0; r == ARES_SUCCESS && i < n; ++i) {
        core::IpAddress ip;
        ip.v6 = true;
        std::memcpy(ip.bytes.data(), &v[static_cast<std::size_t>(i)].ip6addr, 16);
        a.addrs.push_back(ip);
        a.ttl = std::min(a.ttl, static_cast<std::uint32_t>(std::max(v[static_cast<std::size_t>(i)].ttl, 0)));
      }
      break;
    }
    case RrType::MX: {
      ares_mx_reply* mx = nullptr;
      r = ares_parse_mx_reply(abuf, alen, &mx);
      std::unique_ptr<ares_mx_reply, DataFree> owner(mx);
      for (auto* p = mx; r == ARES_SUCCESS && p != nullptr; p = p->next)
        a.mx.push_back(MxRecord{p->priority, host_name(p->host != nullptr ? p->host : "")});
      break;
    }
    case RrType::TXT: {
      ares_txt_ext* txt = nullptr;
      r = ares_parse_txt_reply_ext(abuf, alen, &txt);
      std::unique_ptr<ares_txt_ext, DataFree> owner(txt);
      for (auto* p = txt; r == ARES_SUCCESS && p != nullptr; p = p->next) {
        if (p->record_start || a.txt.empty()) a.txt.emplace_back();
        if (p->txt != nullptr) a.txt.back().append(reinterpret_cast<const char*>(p->txt), p->length);
      }
      break;
    }
    case RrType::PTR: {
      // The address only fills hostent->h_addr_list; the answer does not depend on it.
      static constexpr unsigned char kAny[16] = {};
      hostent* h = nullptr;
      r = ares_parse_ptr_reply(abuf, alen, kAny, sizeof kAny, AF_INET6, &h);
      std::unique_ptr<hostent, HostentFree> owner(h);
      if (r == ARES_SUCCESS && h != nullptr) hostent_names(h, true, a.names);
      break;
    }
    case RrType::NS: {
      hostent* h = nullptr;
      r = ares_parse_ns_reply(abuf, alen, &h);
      std::unique_ptr<hostent, HostentFree> owner(h);
      if (r == ARES_SUCCESS && h != nullptr) hostent_names(h, false, a.names);
      break;
    }
    case RrType::CNAME: {
      for (const auto& rr : *rrs) {
        if (rr.type != ns_t_cname) continue;
        char* target = nullptr;
        long enclen = 0;
        r = ares_expand_name(abuf + rr.rdata, abuf, alen, &target, &enclen);
        if (r != ARES_SUCCESS) break;
        a.names.push_back(host_name(target));
        ares_free_string(target);
      }
      break;
    }
    case RrType::TLSA:
      return fail(Status::perm_failure, "TLSA answers are not supported by this resolver yet");
  }
  if (r == ARES_ENODATA) {  // only other types (e.g. a CNAME to a name without this type)
    a.addrs.clear();
    a.mx.clear();
    a.txt.clear();
    a.names.clear();
    return a;
  }
  if (r != ARES_SUCCESS) {
    Answer bad;
    bad.status = Status::temp_failure;
    bad.error = fmt::format("{} {}: cannot parse the answer: {}", name, to_string(type), ares_strerror(r));
    return bad;
  }
  return a;
}

// ---- pending queries -----------------------------------------------------------------------

struct Pending {
  virtual ~Pending() = default;
  virtual void complete(Answer a) = 0;
  std::string name;
  RrType type = RrType::A;
};

// Holds the caller's completion handler and keeps its executor busy until the answer is posted
// back to it (so the caller resumes on its own executor, never on the resolver's strand).
template <class Handler, class Executor>
struct PendingOp final : Pending {
  PendingOp(Handler h, const Executor& ex) : handler(std::move(h)), work(ex) {}
  void complete(Answer a) override {
    auto ex = work.get_executor();
    auto fn = [h = std::move(handler), a = std::move(a), w = std::move(work)]() mutable {
      std::move(h)(std::move(a));
    };
    asio::post(ex, std::move(fn));
  }
  Handler handler;
  asio::executor_work_guard<Executor> work;
};

}  // namespace

// ---- the channel on its strand -------------------------------------------------------------

struct CaresResolver::Impl : std::enable_shared_from_this<CaresResolver::Impl> {
  using Strand = asio::strand<asio::io_context::executor_type>;

  struct Watch {
    Watch(const Strand& s, int f) : sd(s), fd(f) {}
    ~Watch() {
      if (sd.is_open()) (void)sd.release();  // never close: the fd belongs to c-ares
    }
    asio::posix::stream_descriptor sd;
    int fd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool live = true;
  };

  explicit Impl(asio::io_context& ioc) : strand(asio::make_strand(ioc)), timer(strand) {}

  Strand strand;
  asio::steady_timer timer;
  ares_channel channel = nullptr;
  bool closed = false;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;

  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
    auto* self = static_cast<Impl*>(data);
    try {
      self->on_sock_state(fd, readable != 0, writable != 0);
    } catch (...) {
      // Only bad_alloc can get here; the query then ends by its c-ares timeout.
    }
  }

  void on_sock_state(int fd, bool readable, bool writable) {
    if (!readable && !writable) {
      if (auto it = watches.find(fd); it != watches.end()) {
        it->second->live = false;
        (void)it->second->sd.release();  // cancels its waits; c-ares closes the fd itself
        watches.erase(it);
      }
      return;
    }
    auto& w = watches[fd];
    if (!w) {
      w = std::make_shared<Watch>(strand, fd);
      boost::system::error_code ec;
      w->sd.assign(fd, ec);
      if (ec) {  // cannot watch it: c-ares times the query out and retries elsewhere
        watches.erase(fd);
        return;
      }
    }
    w->want_read = readable;
    w->want_write = writable;
    arm(w);
  }

  void arm(const std::shared_ptr<Watch>& w) {
    if (closed || !w->live) return;
    if (w->want_read && !w->reading) {
      w->reading = true;
      auto on_read = [self = shared_from_this(), w](const boost::system::error_code& ec) {
        w->reading = false;
        if (!ec) self->process(w, true);
      };
      w->sd.async_wait(asio::posix::stream_descriptor::wait_read, std::move(on_read));
      // Asio's epoll reactor is edge-triggered and a wait is never tried speculatively: a packet
      // that arrived after c-ares drained the socket but before this wait was queued may have
      // been noticed by another io thread with nobody waiting. Look once, cheaply.
      pollfd p{w->fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        auto again = [self = shared_from_this(), w] { self->process(w, true); };
        asio::post(strand, std::move(again));
      }
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      auto on_write = [self = shared_from_this(), w](const boost::system::error_code& ec) {
        w->writing = false;
        if (!ec) self->process(w, false);
      };
      w->sd.async_wait(asio::posix::stream_descriptor::wait_write, std::move(on_write));
    }
  }

  void process(const std::shared_ptr<Watch>& w, bool read) {
    if (closed || !w->live) return;
    if (read)
      ares_process_fd(channel, w->fd, ARES_SOCKET_BAD);
    else
      ares_process_fd(channel, ARES_SOCKET_BAD, w->fd);
    if (w->live) arm(w);  // sock_state may have changed or dropped it meanwhile
    update_timer();
  }

  void update_timer() {
    if (closed) return;
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds{tv.tv_sec} + std::chrono::microseconds{tv.tv_usec});
    auto on_timer = [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed) return;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->update_timer();
    };
    timer.async_wait(std::move(on_timer));
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) noexcept {
    std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
    try {
      Answer a;
      try {
        a = make_answer(p->name, p->type, status, abuf, alen);
      } catch (const std::exception& e) {
        a = Answer{};
        a.status = Status::temp_failure;
        a.error = fmt::format("{} {}: {}", p->name, to_string(p->type), e.what());
      }
      p->complete(std::move(a));
    } catch (...) {
      // bad_alloc while posting: the handler is destroyed without being called.
    }
  }

  void start(std::unique_ptr<Pending> p) {
    if (closed) {
      Answer a;
      a.status = Status::temp_failure;
      a.error = fmt::format("{} {}: resolver shut down", p->name, to_string(p->type));
      p->complete(std::move(a));
      return;
    }
    Pending* raw = p.release();  // owned by c-ares until on_answer
    ares_query(channel, raw->name.c_str(), ns_c_in, static_cast<int>(raw->type), &Impl::on_answer, raw);
    update_timer();
  }

  // async_initiate's initiation: wraps the handler, then starts the query on the strand.
  struct Initiate {
    template <class Handler>
    void operator()(Handler&& handler, std::shared_ptr<Impl> impl, std::string name, RrType type) const {
      using H = std::decay_t<Handler>;
      auto ex = asio::get_associated_executor(handler, impl->strand);
      std::unique_ptr<Pending> p = std::make_unique<PendingOp<H, decltype(ex)>>(std::forward<Handler>(handler), ex);
      p->name = std::move(name);
      p->type = type;
      auto fn = [impl, p = std::move(p)]() mutable { impl->start(std::move(p)); };
      asio::post(impl->strand, std::move(fn));
    }
  };

  // Synchronous; only while no thread runs the strand (see the destructor's contract).
  void shutdown() {
    if (closed) return;
    closed = true;
    timer.cancel();
    if (channel != nullptr) {
      ares_destroy(channel);  // pending queries complete with ARES_EDESTRUCTION
      channel = nullptr;
    }
    for (auto& [fd, w] : watches) {
      w->live = false;
      (void)w->sd.release();
    }
    watches.clear();
  }
};

CaresResolver::CaresResolver(asio::io_context& ioc) : CaresResolver(ioc, CaresOptions{}) {}

CaresResolver::CaresResolver(asio::io_context& ioc, CaresOptions options) : impl_(std::make_shared<Impl>(ioc)) {
  if (options.tries < 1) throw std::invalid_argument("CaresResolver: tries must be at least 1");
  if (options.timeout.count() < 1) throw std::invalid_argument("CaresResolver: timeout must be at least 1 ms");
  std::vector<Server> servers;
  for (const auto& s : options.servers) {
    auto srv = parse_server(s);
    if (!srv) throw std::invalid_argument(srv.error().message);
    servers.push_back(*srv);
  }
  library_init();

  ares_options o{};
  o.flags = ARES_FLAG_NOSEARCH;
  o.timeout = static_cast<int>(std::min<std::chrono::milliseconds::rep>(options.timeout.count(), 3'600'000));
  o.tries = options.tries;
  o.sock_state_cb = &Impl::sock_state;
  o.sock_state_cb_data = impl_.get();
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  if (int r = ares_init_options(&impl_->channel, &o, mask); r != ARES_SUCCESS)
    throw std::runtime_error(fmt::format("c-ares channel initialisation failed: {}", ares_strerror(r)));

  if (!servers.empty()) {
    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto& n = nodes[i];
      n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
      n.family = servers[i].ip.v6 ? AF_INET6 : AF_INET;
      if (servers[i].ip.v6)
        std::memcpy(&n.addr.addr6, servers[i].ip.bytes.data(), 16);
      else
        std::memcpy(&n.addr.addr4, servers[i].ip.bytes.data(), 4);
      n.udp_port = servers[i].port;
      n.tcp_port = servers[i].port;
    }
    if (int r = ares_set_servers_ports(impl_->channel, nodes.data()); r != ARES_SUCCESS) {
      ares_destroy(impl_->channel);
      impl_->channel = nullptr;
      throw std::runtime_error(fmt::format("c-ares: cannot set the DNS servers: {}", ares_strerror(r)));
    }
  }
}

CaresResolver::~CaresResolver() { impl_->shutdown(); }

Expected<void> CaresResolver::check_server(std::string_view entry) {
  auto s = parse_server(entry);
  if (!s) return s.error();
  return {};
}

boost::asio::awaitable<Answer> CaresResolver::query(std::string name, RrType type) {
  name = host_name(name);
  if (name.empty()) {
    Answer a;
    a.status = Status::perm_failure;
    a.error = "empty query name";
    co_return a;
  }
  // Named first, then awaited in its own statement (toolchain.md §4.1, GCC 12 coroutine bug).
  asio::use_awaitable_t<> token;
  auto op = asio::async_initiate<asio::use_awaitable_t<>, void(Answer)>(Impl::Initiate{}, token, impl_, std::move(name), type);
  co_return co_await std::move(op);
}

}  // namespace gatehouse::dns
