// Inbound SMTP server driver: listeners from the settings snapshot (re-bound when smtp.listen
// changes), one coroutine per connection on its own strand driving smtp::ServerSession,
// connection limits, STARTTLS (RFC 3207) with the current server context, relay policy,
// SPF at MAIL FROM and DKIM/DMARC at end of data for mail from the internet, DKIM signing of
// mail from relay-allowed or authenticated clients, hand-off to the queue with group commit.
// Asio stays in the .cpp; this header only forward-declares io_context.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio { class io_context; }

namespace gatehouse::config { class Publisher; }
namespace gatehouse::queue { class Queue; }
namespace gatehouse::tls { class Contexts; }
namespace gatehouse::dns { class Resolver; }
namespace gatehouse::auth::psl { class Holder; }
namespace gatehouse::report { class ResultsStore; }
namespace spdlog { class logger; }

namespace gatehouse::inbound {

// What the SPF/DKIM/DMARC checks and DKIM signing use besides the settings snapshot. Every member
// may be null: no list (then DMARC is not evaluated: it has no organizational domains), no
// results database, no DMARC log.
struct AuthServices {
  const auth::psl::Holder* psl = nullptr;           // the Public Suffix List, reloadable (PUBLICSUFFIX.SEM)
  report::ResultsStore* results = nullptr;          // per-message DMARC results (reports.db)
  std::shared_ptr<spdlog::logger> dmarc_log;        // log/dmarc.log
};

class Server {
 public:
  // `db_path`: the configuration database, read (off the io threads) to check SMTP AUTH users.
  // `resolver`: reverse DNS of clients when the STARTTLS whitelist holds host names.
  Server(boost::asio::io_context& ioc, config::Publisher& settings, queue::Queue& queue, tls::Contexts& contexts,
         std::filesystem::path db_path, dns::Resolver& resolver, AuthServices auth = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every smtp.listen address. Returns the addresses that failed (with reasons); the
  // caller decides whether that is fatal (it is at start-up when nothing could be bound).
  std::vector<std::string> start();
  std::vector<std::string> listening() const;  // "ip:port" of bound listeners
  // Stops accepting, tells idle sessions 421 4.3.2, lets busy sessions finish until `grace`,
  // then closes the rest. `done` runs when no session is left.
  void shutdown(std::chrono::seconds grace, std::function<void()> done);
  std::size_t sessions() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gatehouse::inbound
