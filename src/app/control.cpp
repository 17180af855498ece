// Control socket server (Asio, local stream sockets) and its blocking POSIX client.
// Must not: accept from the network (Unix socket only), block an io thread on a slow client
// (every read/write has a deadline) or on a slow operation (registry calls run on a worker
// thread), or return secrets (the registry never exposes any).
#include "control.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatehouse/core/log.hpp"

namespace gatehouse::app {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

using CallOutcome = Expected<boost::json::value>;

// Runs one registry call on `pool` (operations open SQLite, generate keys or walk the spool:
// never on an io thread) and completes on the awaiting coroutine's executor.
template <class Token>
auto async_call(asio::thread_pool& pool, const service::Registry& reg, std::string method, service::Params params,
                Token&& token) {
  auto init = [&pool, &reg](auto handler, std::string m, service::Params p) {
    auto ex = asio::get_associated_executor(handler);
    auto work = asio::make_work_guard(ex);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(pool, [h, ex, work, &reg, m = std::move(m), p = std::move(p)]() mutable {
      // An exception must not reach the pool thread (Asio would call std::terminate): it fails
      // this one call, as it failed this one connection when calls ran in the coroutine.
      std::shared_ptr<CallOutcome> res;
      try {
        res = std::make_shared<CallOutcome>(reg.call(m, p));
      } catch (const std::exception& e) {
        res = std::make_shared<CallOutcome>(make_error(fmt::format("{}: internal error: {}", m, e.what())));
      } catch (...) {
        res = std::make_shared<CallOutcome>(make_error(fmt::format("{}: internal error", m)));
      }
      asio::post(ex, [h, res]() mutable { (*h)(std::move(*res)); });
      work.reset();
    });
  };
  return asio::async_initiate<Token, void(CallOutcome)>(init, token, std::move(method), std::move(params));
}

struct ControlServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, std::filesystem::path p, const service::Registry& r)
      : ioc(i), path(std::move(p)), reg(r), acceptor(asio::make_strand(i)) {}
  asio::io_context& ioc;
  std::filesystem::path path;
  const service::Registry& reg;
  local::acceptor acceptor;
  asio::thread_pool pool{1};

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    for (;;) {
      auto [ec, sock] = co_await self->acceptor.async_accept(asio::make_strand(self->ioc), kTuple);
      if (ec) {
        if (!self->acceptor.is_open()) co_return;
        continue;
      }
      asio::co_spawn(sock.get_executor(), serve(self, std::move(sock)), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, local::socket sock) {
    asio::steady_timer deadline(sock.get_executor(), std::chrono::seconds(30));
    deadline.async_wait([&sock](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        sock.close(ignored);
      }
    });
    std::string buf;
    auto [ec, n] = co_await asio::async_read_until(sock, asio::dynamic_buffer(buf, 1 << 20), '\n', kTuple);
    boost::json::object reply;
    if (ec) {
      deadline.cancel();
      co_return;
    }
    boost::system::error_code pec;
    auto req = boost::json::parse(std::string_view(buf.data(), n), pec);
    if (pec || !req.is_object() || !req.as_object().contains("method") ||
        !req.as_object().at("method").is_string()) {
      reply = {{"ok", false}, {"error", "request must be a JSON object with a string 'method'"}};
    } else {
      auto& o = req.as_object();
      service::Params params;
      if (auto* p = o.if_contains("params"); p && p->is_object()) params = p->as_object();
      std::string method(o.at("method").as_string());
      // Named first: GCC 12 mishandles temporaries built inside a co_await expression.
      auto op = async_call(self->pool, self->reg, method, std::move(params), asio::use_awaitable);
      auto res = co_await std::move(op);
      if (res) reply = {{"ok", true}, {"result", std::move(*res)}};
      else reply = {{"ok", false}, {"error", res.error().message}};
      core::log::get("control")->info("call method={} ok={}", method, res.has_value());
    }
    auto out = boost::json::serialize(reply) + "\n";
    co_await asio::async_write(sock, asio::buffer(out), kTuple);
    deadline.cancel();
    boost::system::error_code ignored;
    sock.close(ignored);
  }
};

ControlServer::ControlServer(asio::io_context& ioc, std::filesystem::path socket_path, const service::Registry& reg)
    : impl_(std::make_shared<Impl>(ioc, std::move(socket_path), reg)) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  // The spool lock guarantees a single gateway per data directory, so a leftover socket file
  // is stale and can be replaced.
  std::error_code fec;
  std::filesystem::remove(impl_->path, fec);
  boost::system::error_code ec;
  local::endpoint ep(impl_->path.string());
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) ::chmod(impl_->path.c_str(), 0600);
  if (!ec) impl_->acceptor.listen(16, ec);
  if (ec) return make_error(fmt::format("{}: cannot open the control socket: {}", impl_->path.string(), ec.message()));
  asio::co_spawn(impl_->acceptor.get_executor(), Impl::accept_loop(impl_), asio::detached);
  return {};
}

void ControlServer::join() { impl_->pool.join(); }

void ControlServer::stop() {
  auto self = impl_;
  asio::post(self->acceptor.get_executor(), [self] {
    boost::system::error_code ec;
    if (self->acceptor.is_open()) {
      self->acceptor.close(ec);
      std::error_code fec;
      std::filesystem::remove(self->path, fec);
    }
  });
}

CallResult control_call(const std::filesystem::path& socket_path, const std::string& method,
                        const service::Params& params) {
  CallResult out;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto p = socket_path.string();
  if (p.size() >= sizeof addr.sun_path) {
    out.failure = CallFailure::error;
    out.error = fmt::format("{}: path too long for a Unix socket", p);
    return out;
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.failure = CallFailure::error;
    out.error = std::strerror(errno);
    return out;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    out.failure = (err == ENOENT || err == ECONNREFUSED) ? CallFailure::not_running : CallFailure::error;
    out.error = fmt::format("{}: {}", p, std::strerror(err));
    return out;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto req = boost::json::serialize(boost::json::object{{"method", method}, {"params", params}}) + "\n";
  std::string_view rest = req;
  while (!rest.empty()) {
    auto n = ::write(fd, rest.data(), rest.size());
    if (n <= 0) {
      ::close(fd);
      out.failure = CallFailure::error;
      out.error = "control socket: write failed";
      return out;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string resp;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  boost::system::error_code ec;
  auto v = boost::json::parse(resp, ec);
  if (ec || !v.is_object()) {
    out.failure = CallFailure::error;
    out.error = "control socket: malformed reply from the gateway";
    return out;
  }
  auto& o = v.as_object();
  if (auto* ok = o.if_contains("ok"); ok && ok->is_bool() && ok->as_bool()) {
    if (auto* r = o.if_contains("result")) out.result = *r;
    return out;
  }
  out.failure = CallFailure::error;
  if (auto* e = o.if_contains("error"); e && e->is_string()) out.error = std::string(e->as_string());
  else out.error = "the gateway refused the request";
  return out;
}

}  // namespace gatehouse::app
