// StaticZone: an in-memory DNS zone behind the Resolver interface, for tests and for the admin
// command `check-message --dns-zone FILE` (format: docs/dns-zone-format.md).
// Answers like a recursive resolver would (RFC 1034 §4.3.2, RFC 2308, RFC 6604, RFC 8020):
// CNAME chains are followed for non-CNAME queries (at most kMaxCnameChain hops), a name with no
// records at all is NXDOMAIN, a name that has other types (or names below it) is NODATA
// (ok + empty), names are case-insensitive and a trailing dot is ignored. Names can be marked so
// that queries fail (TIMEOUT/SERVFAIL -> temp_failure, REFUSED -> perm_failure).
// Must not: touch the network, read the clock, or be filled while queries run (fill it first;
// only the query counter/log is synchronised). No wildcards, no DNSSEC, no TLSA data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::dns {

class StaticZone final : public Resolver {
 public:
  static constexpr std::uint32_t kDefaultTtl = 3600;
  static constexpr int kMaxCnameChain = 8;
  static constexpr std::size_t kMaxLineLength = 16384;        // zone-file parser caps
  static constexpr std::size_t kMaxZoneText = 16 * 1024 * 1024;

  // How a marked name fails. timeout/servfail -> Status::temp_failure, refused -> perm_failure.
  enum class Failure { timeout, servfail, refused };

  StaticZone();
  ~StaticZone() override;
  StaticZone(StaticZone&&) noexcept;
  StaticZone& operator=(StaticZone&&) noexcept;
  StaticZone(const StaticZone&) = delete;
  StaticZone& operator=(const StaticZone&) = delete;

  // Adders. Names and targets: case-insensitive, trailing dot optional, labels of letters,
  // digits, '-' and '_' (1..63 chars, name <= 253). They throw std::invalid_argument on a bad
  // name/address or a CNAME clash (a CNAME and other data at one name, RFC 1034 §3.6.2): a bug
  // in the test or caller. The zone-file parser reports the same problems as errors instead.
  void add_a(std::string_view name, std::string_view ipv4, std::uint32_t ttl = kDefaultTtl);
  void add_aaaa(std::string_view name, std::string_view ipv6, std::uint32_t ttl = kDefaultTtl);
  void add_address(std::string_view name, const core::IpAddress& ip, std::uint32_t ttl = kDefaultTtl);  // A or AAAA
  // exchange "." or "" is the null MX (RFC 7505).
  void add_mx(std::string_view name, std::uint16_t preference, std::string_view exchange,
              std::uint32_t ttl = kDefaultTtl);
  // One TXT record; its character-strings are concatenated in the answer (RFC 7208 §3.3).
  void add_txt(std::string_view name, std::string_view text, std::uint32_t ttl = kDefaultTtl);
  void add_txt(std::string_view name, std::initializer_list<std::string_view> strings,
               std::uint32_t ttl = kDefaultTtl);
  void add_txt(std::string_view name, const std::vector<std::string>& strings, std::uint32_t ttl = kDefaultTtl);
  void add_ptr(std::string_view name, std::string_view target, std::uint32_t ttl = kDefaultTtl);
  // PTR at reverse_name(ip).
  void add_reverse(const core::IpAddress& ip, std::string_view target, std::uint32_t ttl = kDefaultTtl);
  void add_cname(std::string_view name, std::string_view target, std::uint32_t ttl = kDefaultTtl);
  void add_ns(std::string_view name, std::string_view target, std::uint32_t ttl = kDefaultTtl);

  // Queries for `name` (of `type` only, or of every type) fail. Takes precedence over records.
  void set_failure(std::string_view name, Failure f, std::optional<RrType> type = std::nullopt);
  void set_timeout(std::string_view name, std::optional<RrType> type = std::nullopt) {
    set_failure(name, Failure::timeout, type);
  }
  void set_servfail(std::string_view name, std::optional<RrType> type = std::nullopt) {
    set_failure(name, Failure::servfail, type);
  }

  // Zone-file text (docs/dns-zone-format.md). Errors read "line N: ...".
  static Expected<StaticZone> parse(std::string_view text);
  // Reads FILE (at most kMaxZoneText bytes) and parses it; errors read "FILE: line N: ...".
  static Expected<StaticZone> load(const std::filesystem::path& file);

  boost::asio::awaitable<Answer> query(std::string name, RrType type) override;
  // The same answer synchronously (counted and logged like query()).
  Answer resolve(std::string_view name, RrType type) const;

  // Every query()/resolve() call, in order; for tests that check lookup limits (RFC 7208 §4.6.4).
  std::size_t query_count() const;
  std::vector<std::pair<std::string, RrType>> query_log() const;  // (normalised name, type)
  void reset_query_count();

  // Number of names that hold records or failure marks.
  std::size_t name_count() const;

 private:
  struct Data;
  std::unique_ptr<Data> d_;
};

std::string_view to_string(StaticZone::Failure f);

}  // namespace gatehouse::dns
