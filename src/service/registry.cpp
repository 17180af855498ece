// Named operation registry. Must not: know about transports (socket, HTTP, XML-RPC).
#include "gatehouse/service/registry.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <fmt/format.h>

namespace gatehouse::service {

Registry::Registry() {
  add("system.listMethods", "list every method with a one-line description", [this](const Params&) {
    boost::json::array out;
    for (auto& [name, e] : entries_) out.emplace_back(boost::json::object{{"name", name}, {"help", e.help}});
    return Expected<boost::json::value>(boost::json::value(std::move(out)));
  });
}

void Registry::add(std::string name, std::string help, Handler h) {
  entries_[std::move(name)] = Entry{std::move(help), std::move(h)};
}

Expected<boost::json::value> Registry::call(std::string_view name, const Params& params) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return make_error(fmt::format("unknown method '{}'", name));
  return it->second.fn(params);
}

std::vector<std::pair<std::string, std::string>> Registry::methods() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, e] : entries_) out.emplace_back(name, e.help);
  return out;
}

Expected<std::string> get_string(const Params& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (v == nullptr) return make_error(fmt::format("parameter '{}' is required", key));
  if (!v->is_string()) return make_error(fmt::format("parameter '{}' must be a string", key));
  return std::string(v->as_string());
}

std::optional<std::string> get_optional_string(const Params& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

bool get_bool(const Params& p, std::string_view key) {
  auto* v = p.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

}  // namespace gatehouse::service
