// The one command table behind every control channel (architecture.md §1 item 4, after Kea's
// command manager): operations are registered by noun.verb name ("queue.list") and called with
// JSON parameters. The CLI (through the control socket), and later the web console's JSON API
// and XML-RPC, only carry requests to it. `system.listMethods` is built in.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"

namespace gatehouse::service {

using Params = boost::json::object;
using Handler = std::function<Expected<boost::json::value>(const Params&)>;

class Registry {
 public:
  Registry();
  void add(std::string name, std::string help, Handler h);
  // Unknown method or a handler's refusal: an Error naming the method or field.
  Expected<boost::json::value> call(std::string_view name, const Params& params) const;
  std::vector<std::pair<std::string, std::string>> methods() const;  // name, help

 private:
  struct Entry {
    std::string help;
    Handler fn;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

// Parameter helpers: errors name the parameter.
Expected<std::string> get_string(const Params& p, std::string_view key);
std::optional<std::string> get_optional_string(const Params& p, std::string_view key);
bool get_bool(const Params& p, std::string_view key);  // absent or not a boolean: false

}  // namespace gatehouse::service
