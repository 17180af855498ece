// IP addresses and CIDR networks without Asio (pure): parse, format, match.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 networks.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/core/error.hpp"

namespace gatehouse::core {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
  static std::optional<IpAddress> parse(std::string_view s);
  std::string to_string() const;
  // An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
  IpAddress unmapped() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress network;
  unsigned prefix = 0;
  // Accepts "a.b.c.d/n", "x::y/n", or a bare address (host route). Host bits must be zero.
  static Expected<Cidr> parse(std::string_view s);
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// "host:port", "[v6]:port", "v4:port". Port required (1..65535).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  static Expected<HostPort> parse(std::string_view s);
  std::string to_string() const;
};

// True for a syntactically valid DNS host name (LDH labels, 1..253 chars) or IP literal.
bool is_valid_hostname(std::string_view s);

}  // namespace gatehouse::core
