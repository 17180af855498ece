// IP/CIDR parsing and matching on inet_pton/inet_ntop (no Asio).
#include "gatehouse/core/ipnet.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>

#include "gatehouse/core/strings.hpp"

namespace gatehouse::core {

std::optional<IpAddress> IpAddress::parse(std::string_view s) {
  std::string str(s);
  IpAddress a;
  if (str.find(':') == std::string::npos) {
    in_addr v4{};
    if (::inet_pton(AF_INET, str.c_str(), &v4) != 1) return std::nullopt;
    std::memcpy(a.bytes.data(), &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, str.c_str(), &v6) != 1) return std::nullopt;
  a.v6 = true;
  std::memcpy(a.bytes.data(), &v6, 16);
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::unmapped() const {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v6 || std::memcmp(bytes.data(), prefix, 12) != 0) return *this;
  IpAddress a;
  std::memcpy(a.bytes.data(), bytes.data() + 12, 4);
  return a;
}

static bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
  unsigned full = bits / 8, rem = bits % 8;
  if (std::memcmp(a, b, full) != 0) return false;
  if (rem == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rem));
  return (a[full] & mask) == (b[full] & mask);
}

Expected<Cidr> Cidr::parse(std::string_view s) {
  s = trim(s);
  auto slash = s.find('/');
  auto addr_part = s.substr(0, slash);
  auto ip = IpAddress::parse(addr_part);
  if (!ip) return make_error(fmt::format("'{}' is not an IPv4 or IPv6 address", addr_part));
  Cidr c;
  c.network = ip->unmapped();
  unsigned max = c.network.v6 ? 128 : 32;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    auto p = parse_u64(s.substr(slash + 1));
    if (!p || *p > max)
      return make_error(fmt::format("'{}': prefix length must be 0..{}", s, max));
    c.prefix = static_cast<unsigned>(*p);
  }
  // Host bits must be zero so the entry means what it says.
  IpAddress masked = c.network;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bit_start = i * 8;
    if (bit_start >= c.prefix) masked.bytes[i] = 0;
    else if (bit_start + 8 > c.prefix)
      masked.bytes[i] = static_cast<std::uint8_t>(masked.bytes[i] & (0xff << (8 - (c.prefix - bit_start))));
  }
  if (!(masked == c.network))
    return make_error(fmt::format("'{}': host bits are set; did you mean {}/{}?", s, masked.to_string(), c.prefix));
  return c;
}

bool Cidr::contains(const IpAddress& a0) const {
  IpAddress a = a0.unmapped();
  if (a.v6 != network.v6) return false;
  return prefix_equal(a.bytes.data(), network.bytes.data(), prefix);
}

std::string Cidr::to_string() const { return fmt::format("{}/{}", network.to_string(), prefix); }

Expected<HostPort> HostPort::parse(std::string_view s) {
  s = trim(s);
  HostPort hp;
  std::string_view port_part;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return make_error(fmt::format("'{}': expected [ipv6]:port", s));
    hp.host = std::string(s.substr(1, close - 1));
    if (!IpAddress::parse(hp.host)) return make_error(fmt::format("'{}': not an IPv6 address", hp.host));
    port_part = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return make_error(fmt::format("'{}': expected host:port", s));
    hp.host = std::string(s.substr(0, colon));
    if (hp.host.find(':') != std::string::npos)
      return make_error(fmt::format("'{}': write IPv6 addresses as [address]:port", s));
    port_part = s.substr(colon + 1);
    if (!is_valid_hostname(hp.host)) return make_error(fmt::format("'{}': not a valid host name or address", hp.host));
  }
  auto p = parse_u64(port_part);
  if (!p || *p == 0 || *p > 65535) return make_error(fmt::format("'{}': port must be 1..65535", s));
  hp.port = static_cast<std::uint16_t>(*p);
  return hp;
}

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

bool is_valid_hostname(std::string_view s) {
  if (IpAddress::parse(s)) return true;
  if (s.empty() || s.size() > 253) return false;
  if (s.back() == '.') s.remove_suffix(1);
  for (auto& label : split(s, '.', false)) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return false;
    }
  }
  return true;
}

}  // namespace gatehouse::core
