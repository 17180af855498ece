// Test helpers for the DMARC tests: a coroutine runner on a private io_context, and an
// OrgDomainStrategy over a small Public Suffix List with the rules the tests rely on.
// Must not: touch the network or files.
#pragma once
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "gatehouse/auth/dmarc.hpp"

namespace gatehouse::auth::dmarc::test {

// Runs `aw` to completion; rethrows its exception.
template <class T>
T run(boost::asio::awaitable<T> aw) {
  boost::asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr error;
  auto done = [&out, &error](std::exception_ptr e, T v) {
    if (e) error = e;
    else out = std::move(v);
  };
  boost::asio::co_spawn(ioc, std::move(aw), done);
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(out).value();
}

inline std::shared_ptr<const psl::List> small_psl() {
  auto l = psl::List::parse(
      "// ===BEGIN ICANN DOMAINS===\ncom\nnet\norg\nuk\nco.uk\ncn\n公司.cn\n// ===END ICANN DOMAINS===\n"
      "// ===BEGIN PRIVATE DOMAINS===\nblogspot.com\n// ===END PRIVATE DOMAINS===\n");
  return std::make_shared<const psl::List>(l ? std::move(*l) : psl::List{});
}

}  // namespace gatehouse::auth::dmarc::test
