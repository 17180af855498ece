// CaresResolver: the production Resolver, a stub resolver on c-ares 1.18 (RFC 1035 messages over
// UDP, TCP on truncation) driven by Asio: one ares channel owned by a strand, one
// stream_descriptor per c-ares socket (async_wait, then ares_process_fd), one steady_timer on
// ares_timeout(). No thread per query, no blocking getaddrinfo, no search domains (names are
// absolute). MX per RFC 5321 §5.1 / RFC 7505 (null MX -> exchange ""), TXT records concatenated
// (RFC 7208 §3.3). Asio and c-ares stay in the .cpp (pimpl); only io_context is named here.
// Must not: close a descriptor c-ares owns, call c-ares off its strand, or resume a caller
// anywhere but on the caller's own executor.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace boost::asio {
class io_context;
}

namespace gatehouse::dns {

struct CaresOptions {
  // The `dns.servers` setting: "ip", "ip:port", "[v6]:port" (a bare IPv6 address means port 53).
  // Empty: the system's resolvers from /etc/resolv.conf.
  std::vector<std::string> servers;
  std::chrono::milliseconds timeout{std::chrono::seconds{3}};  // per try (c-ares doubles it per round)
  int tries = 2;                                                // rounds over the server list
};

class CaresResolver final : public Resolver {
 public:
  using Options = CaresOptions;

  // Throws std::invalid_argument for a malformed server entry and std::runtime_error when
  // c-ares cannot be initialised (startup code; app turns it into an exit code).
  explicit CaresResolver(boost::asio::io_context& ioc);
  CaresResolver(boost::asio::io_context& ioc, CaresOptions options);
  // Fails every pending query with temp_failure ("resolver shut down"). Destroy it while no
  // thread runs the io_context (after run() returned), as for any Asio I/O object.
  ~CaresResolver() override;
  CaresResolver(const CaresResolver&) = delete;
  CaresResolver& operator=(const CaresResolver&) = delete;

  // Completes on the caller's executor. Never throws for DNS outcomes: failures are in the
  // Answer (status + error). Always completes within about timeout * tries * servers (no
  // cancellation support: c-ares 1.18 cannot cancel one query).
  boost::asio::awaitable<Answer> query(std::string name, RrType type) override;

  // Checks one `dns.servers` entry the way the constructor parses it.
  static Expected<void> check_server(std::string_view entry);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gatehouse::dns
