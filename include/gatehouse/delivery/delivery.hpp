// Delivery driver: takes due messages from the queue, groups their pending recipients by
// destination (a local domain's server, or the MX hosts of any other domain, RFC 5321 §5),
// and delivers them over SMTP (PIPELINING when offered) with a bounded number of
// connections per destination and connection reuse. Results go back to the queue per recipient:
// 2xx delivered; 4xx or connection failure deferred with backoff; 5xx failed (recorded and
// logged; the bounce message is issue "Outbound delivery").
#pragma once
#include <functional>
#include <memory>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ids.hpp"

namespace boost::asio { class io_context; }
namespace gatehouse::config { class Publisher; }
namespace gatehouse::queue { class Queue; }
namespace gatehouse::dns { class Resolver; }
namespace gatehouse::tls { class Contexts; }

namespace gatehouse::delivery {

class Delivery {
 public:
  Delivery(boost::asio::io_context& ioc, config::Publisher& settings, queue::Queue& queue, dns::Resolver& resolver,
           tls::Contexts& contexts);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void start();
  // Stops taking work and closes connections; in-flight attempts end as deferred (the queue
  // keeps them). `done` runs when every worker has ended.
  void stop(std::function<void()> done);
  // Admin "bounce": at its next attempt (made due now) every pending recipient fails with
  // 5.0.0 and the sender gets a DSN.
  Status bounce(core::QueueId id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gatehouse::delivery
