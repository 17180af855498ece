// A TCP socket with a watchdog timer, for the driver modules (inbound, delivery) only: arm()
// before each read or write; when the deadline passes the pending operation is cancelled (the
// socket stays open, so the caller can still send "421 timeout") and timed_out is set.
// Header-only Asio on purpose: only driver TUs include it (architecture.md: Asio behind a wall).
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace gatehouse::net {

struct TimedSocket : std::enable_shared_from_this<TimedSocket> {
  explicit TimedSocket(boost::asio::ip::tcp::socket s) : sock(std::move(s)), timer(sock.get_executor()) {}
  template <class Executor>
  explicit TimedSocket(const Executor& ex) : sock(ex), timer(ex) {}

  void arm(std::chrono::steady_clock::duration t) {
    timed_out = false;
    timer.expires_after(t);
    std::weak_ptr<TimedSocket> weak = weak_from_this();
    timer.async_wait([weak](boost::system::error_code ec) {
      if (ec) return;
      if (auto p = weak.lock()) {
        p->timed_out = true;
        boost::system::error_code ignored;
        p->sock.cancel(ignored);
      }
    });
  }

  void close() {
    boost::system::error_code ec;
    timer.cancel();
    sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }

  boost::asio::ip::tcp::socket sock;
  boost::asio::steady_timer timer;
  bool timed_out = false;
};

}  // namespace gatehouse::net
