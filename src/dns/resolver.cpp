// Resolver helpers shared by every implementation: names of enums, reverse-lookup names.
#include "gatehouse/dns/resolver.hpp"

#include <fmt/format.h>

namespace gatehouse::dns {

std::string_view to_string(RrType t) {
  switch (t) {
    case RrType::A: return "A";
    case RrType::NS: return "NS";
    case RrType::CNAME: return "CNAME";
    case RrType::PTR: return "PTR";
    case RrType::MX: return "MX";
    case RrType::TXT: return "TXT";
    case RrType::AAAA: return "AAAA";
    case RrType::TLSA: return "TLSA";
  }
  return "?";
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::nxdomain: return "nxdomain";
    case Status::temp_failure: return "temp_failure";
    case Status::perm_failure: return "perm_failure";
  }
  return "?";
}

std::string reverse_name(const core::IpAddress& a0) {
  auto a = a0.unmapped();
  if (!a.v6) return fmt::format("{}.{}.{}.{}.in-addr.arpa", a.bytes[3], a.bytes[2], a.bytes[1], a.bytes[0]);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    auto b = a.bytes[static_cast<std::size_t>(i)];
    out.push_back(kHex[b & 0xf]);
    out.push_back('.');
    out.push_back(kHex[b >> 4]);
    out.push_back('.');
  }
  return out + "ip6.arpa";
}

}  // namespace gatehouse::dns
