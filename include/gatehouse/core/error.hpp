// Error values shared by every module: an Error carries a human sentence that names the field
// and the reason ("smtp.max_recipients: must be a whole number from 1 to 100000").
// Expected<T> is boost::system::result<T, Error>. Never throws on its own.
#pragma once
#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace gatehouse {

// Not constructible from a bare string, so Expected<std::string> stays unambiguous.
struct Error {
  struct Tag {};
  Error() = default;
  Error(Tag, std::string m) : message(std::move(m)) {}
  std::string message;
};

inline Error make_error(std::string msg) { return Error{Error::Tag{}, std::move(msg)}; }

// Called by result::value() when it holds an Error: a bug at the call site, so throw.
[[noreturn]] inline void throw_exception_from_error(Error const& e, boost::source_location const&) {
  throw std::runtime_error(e.message);
}

template <class T>
using Expected = boost::system::result<T, Error>;

using Status = Expected<void>;

}  // namespace gatehouse
