// Test-only DNS for the SPF tests: a tiny dns::Resolver over in-memory records with the
// semantics the RFC 7208 suite's zonedata needs (tests/data/auth/spf/README.md), plus a bounded
// coroutine runner. Deliberately independent of dns::StaticZone.
//  * answers like a recursive resolver: CNAMEs are chased for other types (at most 8 hops; a
//    loop or a longer chain is SERVFAIL -> temp_failure); the status of the last name counts;
//  * NXDOMAIN for names with no entry and nothing below them, NODATA (ok, empty) otherwise;
//  * TIMEOUT entries: a query of type T times out if a TIMEOUT item comes before any item of
//    type T in the name's list (pyspf's rule: "TXT, TIMEOUT" answers TXT, times out the rest);
//  * names are case-insensitive, one trailing dot ignored; names with an empty or over-long
//    label are perm_failure (SPF code must never send them; the suite test checks that);
//  * every query is counted and logged.
// Must not: touch the network or the clock.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/auth/spf_record.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::auth::test {

class TestZone final : public dns::Resolver {
 public:
  struct Item {
    bool timeout = false;
    dns::RrType type = dns::RrType::A;
    std::string text;              // TXT text, MX exchange, PTR/CNAME target
    core::IpAddress addr;          // A/AAAA
    std::uint16_t preference = 0;  // MX
  };

  void add_a(const std::string& name, const std::string& ip) {
    Item it;
    auto a = core::IpAddress::parse(ip);
    it.type = a && a->v6 ? dns::RrType::AAAA : dns::RrType::A;
    it.addr = a.value_or(core::IpAddress{});
    zone_[key(name)].push_back(it);
  }
  void add_mx(const std::string& name, std::uint16_t pref, const std::string& exchange) {
    Item it;
    it.type = dns::RrType::MX;
    it.preference = pref;
    it.text = key(exchange);
    zone_[key(name)].push_back(it);
  }
  void add_txt(const std::string& name, const std::string& text) { add_text(name, dns::RrType::TXT, text); }
  void add_ptr(const std::string& name, const std::string& target) { add_text(name, dns::RrType::PTR, key(target)); }
  void add_cname(const std::string& name, const std::string& target) {
    add_text(name, dns::RrType::CNAME, key(target));
  }
  void add_timeout(const std::string& name) {
    Item it;
    it.timeout = true;
    zone_[key(name)].push_back(it);
  }
  // A name that exists with no records of any type (e.g. "TXT: NONE" alone).
  void add_name(const std::string& name) { zone_[key(name)]; }
  bool has_type(const std::string& name, dns::RrType t) const {
    auto it = zone_.find(key(name));
    if (it == zone_.end()) return false;
    for (const auto& i : it->second)
      if (!i.timeout && i.type == t) return true;
    return false;
  }

  boost::asio::awaitable<dns::Answer> query(std::string name, dns::RrType type) override {
    log_.emplace_back(name, type);
    co_return resolve(name, type);
  }

  dns::Answer resolve(const std::string& name0, dns::RrType type) const {
    dns::Answer ans;
    if (!is_query_name(name0)) {
      ans.status = dns::Status::perm_failure;
      ans.error = "malformed query name";
      return ans;
    }
    std::string name = key(name0);
    std::vector<std::string> seen;
    for (int hop = 0; hop <= 8; ++hop) {
      auto it = zone_.find(name);
      if (it == zone_.end()) {
        ans.status = has_descendant(name) ? dns::Status::ok : dns::Status::nxdomain;
        return ans;
      }
      const Item* cname = nullptr;
      bool seen_type = false;
      for (const auto& i : it->second) {
        if (i.timeout) {
          if (!seen_type && !cname) {
            ans.status = dns::Status::temp_failure;
            ans.error = "timeout";
            return ans;
          }
          continue;
        }
        if (i.type == type) seen_type = true;
        if (i.type == dns::RrType::CNAME && type != dns::RrType::CNAME && !cname) cname = &i;
      }
      if (cname) {
        seen.push_back(name);
        name = cname->text;
        for (const auto& s : seen) {
          if (s == name) {
            ans.status = dns::Status::temp_failure;
            ans.error = "CNAME loop";
            return ans;
          }
        }
        continue;
      }
      for (const auto& i : it->second) {
        if (i.timeout || i.type != type) continue;
        switch (type) {
          case dns::RrType::A:
          case dns::RrType::AAAA: ans.addrs.push_back(i.addr); break;
          case dns::RrType::MX: ans.mx.push_back(dns::MxRecord{i.preference, i.text}); break;
          case dns::RrType::TXT: ans.txt.push_back(i.text); break;
          default: ans.names.push_back(i.text); break;
        }
      }
      return ans;
    }
    ans.status = dns::Status::temp_failure;
    ans.error = "CNAME chain too long";
    return ans;
  }

  std::size_t queries() const { return log_.size(); }
  const std::vector<std::pair<std::string, dns::RrType>>& log() const { return log_; }
  void clear_log() { log_.clear(); }

  static std::string key(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    return core::to_lower(name);
  }

 private:
  void add_text(const std::string& name, dns::RrType type, std::string text) {
    Item it;
    it.type = type;
    it.text = std::move(text);
    zone_[key(name)].push_back(it);
  }
  bool has_descendant(const std::string& name) const {
    const std::string suffix = "." + name;
    for (const auto& [n, items] : zone_)
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
    return false;
  }

  std::map<std::string, std::vector<Item>> zone_;
  std::vector<std::pair<std::string, dns::RrType>> log_;
};

// Spawns `aw` on `ioc`, runs until it completes or `limit` passes; nothing on timeout.
// Exceptions from the coroutine are rethrown here.
template <class T>
std::optional<T> run_bounded(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
                             std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  struct State {
    std::optional<T> value;
    std::exception_ptr error;
  };
  auto st = std::make_shared<State>();
  auto on_done = [st, &ioc](std::exception_ptr e, T v) {
    if (e) st->error = e;
    else st->value = std::move(v);
    ioc.stop();
  };
  boost::asio::co_spawn(ioc, std::move(aw), on_done);
  ioc.restart();
  ioc.run_for(limit);
  ioc.restart();
  if (st->error) std::rethrow_exception(st->error);
  return std::move(st->value);
}

}  // namespace gatehouse::auth::test
