// DeadlineResolver (deadline.hpp). Must not: read the clock other than through core::Clock.
#include "gatehouse/dns/deadline.hpp"

#include <fmt/format.h>

namespace gatehouse::dns {

DeadlineResolver::DeadlineResolver(Resolver& upstream, const core::Clock& clock, std::chrono::seconds limit,
                                   std::string what)
    : upstream_(upstream), clock_(clock), deadline_(clock.now() + limit), limit_(limit), what_(std::move(what)) {}

boost::asio::awaitable<Answer> DeadlineResolver::query(std::string name, RrType type) {
  if (clock_.now() >= deadline_) {
    expired_ = true;
    Answer a;
    a.status = Status::temp_failure;
    a.error = fmt::format("{} took longer than {} seconds; {} was not asked", what_, limit_.count(), name);
    co_return a;
  }
  co_return co_await upstream_.query(std::move(name), type);
}

}  // namespace gatehouse::dns
