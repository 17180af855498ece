// Test helper for the dns tests: run one awaitable on an io_context with a time bound.
// Must not: leave a completion handler pointing at stack memory (the state is shared).
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>

namespace gatehouse::dns::test {

// Spawns `aw` on `ioc`, runs the context until it completes or `limit` passes, and returns its
// value (nothing on timeout). Exceptions from the coroutine are rethrown here.
template <class T>
std::optional<T> run_bounded(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
                             std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  struct State {
    std::optional<T> value;
    std::exception_ptr error;
  };
  auto st = std::make_shared<State>();
  auto on_done = [st, &ioc](std::exception_ptr e, T v) {
    if (e)
      st->error = e;
    else
      st->value = std::move(v);
    ioc.stop();
  };
  boost::asio::co_spawn(ioc, std::move(aw), on_done);
  ioc.restart();
  ioc.run_for(limit);
  ioc.restart();
  if (st->error) std::rethrow_exception(st->error);
  return std::move(st->value);
}

}  // namespace gatehouse::dns::test
