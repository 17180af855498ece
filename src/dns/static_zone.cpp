// StaticZone: in-memory records answering like a recursive resolver (RFC 1034 §4.3.2 with CNAME
// chasing, RFC 2308 NXDOMAIN vs NODATA, RFC 6604 rcode of the last name in a chain, RFC 8020
// empty non-terminals exist), plus the zone-file parser documented in docs/dns-zone-format.md.
// Must not: touch the network or the clock; the parser never throws and never reads more than
// kMaxZoneText bytes or kMaxLineLength per line; errors carry the line number.
#include "gatehouse/dns/static_zone.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "gatehouse/core/strings.hpp"

namespace gatehouse::dns {

namespace {

struct Rr {
  RrType type;
  std::uint32_t ttl;
  core::IpAddress addr;       // A, AAAA
  std::uint16_t preference;   // MX
  std::string text;           // MX exchange, PTR/CNAME/NS target, TXT concatenation
};

using Done = Expected<void>;  // gatehouse::Status; inside dns, `Status` is the answer status

struct Node {
  std::vector<Rr> rrs;
  std::optional<StaticZone::Failure> fail_all;
  std::map<RrType, StaticZone::Failure> fail_type;
  bool has(RrType t) const {
    return std::any_of(rrs.begin(), rrs.end(), [t](const Rr& r) { return r.type == t; });
  }
};

// Query side: lower-case, one trailing dot dropped; no validation (an odd name is just absent).
std::string query_key(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return core::to_lower(name);
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Owner/target names: the strict form. `allow_root` lets "." (and "") through as "" (null MX).
Expected<std::string> checked_name(std::string_view s, bool allow_root = false) {
  if (allow_root && (s == "." || s.empty())) return std::string();
  if (s.empty()) return make_error("empty name");
  if (s == ".") return make_error("the root name '.' is not allowed here");
  std::string_view n = s;
  if (n.back() == '.') n.remove_suffix(1);
  if (n.size() > 253) return make_error(fmt::format("name '{}' is longer than 253 characters", s));
  std::size_t label = 0;
  for (std::size_t i = 0; i <= n.size(); ++i) {
    if (i == n.size() || n[i] == '.') {
      if (label == 0) return make_error(fmt::format("name '{}' has an empty label", s));
      if (label > 63) return make_error(fmt::format("name '{}' has a label longer than 63 characters", s));
      label = 0;
      continue;
    }
    if (n[i] == '*') return make_error(fmt::format("name '{}': wildcards are not supported", s));
    if (!is_name_char(n[i])) return make_error(fmt::format("name '{}' contains '{}'", s, n[i]));
    ++label;
  }
  return core::to_lower(n);
}

Status status_of(StaticZone::Failure f) {
  return f == StaticZone::Failure::refused ? Status::perm_failure : Status::temp_failure;
}

std::optional<RrType> parse_type(std::string_view s) {
  static constexpr RrType kAll[] = {RrType::A,   RrType::NS,  RrType::CNAME, RrType::PTR,
                                    RrType::MX,  RrType::TXT, RrType::AAAA,  RrType::TLSA};
  for (auto t : kAll)
    if (core::iequals(s, to_string(t))) return t;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(StaticZone::Failure f) {
  switch (f) {
    case StaticZone::Failure::timeout: return "TIMEOUT";
    case StaticZone::Failure::servfail: return "SERVFAIL";
    case StaticZone::Failure::refused: return "REFUSED";
  }
  return "?";
}

struct StaticZone::Data {
  std::unordered_map<std::string, Node> nodes;
  std::unordered_set<std::string> parents;  // ancestors of owner names (empty non-terminals)

  mutable std::mutex log_mu;
  mutable std::vector<std::pair<std::string, RrType>> log;

  Node& node_for(const std::string& key) {
    auto [it, fresh] = nodes.try_emplace(key);
    if (fresh) {
      for (auto dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
        parents.insert(key.substr(dot + 1));
    }
    return it->second;
  }

  Done add(std::string_view name, Rr rr) {
    auto key = checked_name(name);
    if (!key) return key.error();
    auto found = nodes.find(*key);
    if (found != nodes.end()) {
      const Node& n = found->second;
      if (rr.type == RrType::CNAME && n.has(RrType::CNAME))
        return make_error(fmt::format("'{}' already has a CNAME (a name has at most one)", *key));
      if (rr.type == RrType::CNAME && !n.rrs.empty())
        return make_error(fmt::format("'{}' has other records, so it cannot have a CNAME (RFC 1034 §3.6.2)", *key));
      if (rr.type != RrType::CNAME && n.has(RrType::CNAME))
        return make_error(fmt::format("'{}' has a CNAME, so it cannot have other records (RFC 1034 §3.6.2)", *key));
    }
    node_for(*key).rrs.push_back(std::move(rr));
    return {};
  }

  Done add_target(std::string_view name, RrType type, std::string_view target, std::uint32_t ttl,
                    std::uint16_t preference = 0) {
    auto t = checked_name(target, type == RrType::MX);
    if (!t) return make_error(fmt::format("target {}", t.error().message));
    return add(name, Rr{type, ttl, {}, preference, std::move(*t)});
  }

  Done add_ip(std::string_view name, RrType type, std::string_view ip, std::uint32_t ttl) {
    auto a = core::IpAddress::parse(ip);
    if (!a || a->v6 != (type == RrType::AAAA))
      return make_error(fmt::format("'{}' is not an {} address", ip, type == RrType::AAAA ? "IPv6" : "IPv4"));
    return add(name, Rr{type, ttl, *a, 0, {}});
  }

  Done fail(std::string_view name, Failure f, std::optional<RrType> type) {
    auto key = checked_name(name);
    if (!key) return key.error();
    Node& n = node_for(*key);
    if (type)
      n.fail_type[*type] = f;
    else
      n.fail_all = f;
    return {};
  }
};

namespace {
void or_throw(const Done& s) {
  if (!s) throw std::invalid_argument("StaticZone: " + s.error().message);
}
}  // namespace

StaticZone::StaticZone() : d_(std::make_unique<Data>()) {}
StaticZone::~StaticZone() = default;
StaticZone::StaticZone(StaticZone&&) noexcept = default;
StaticZone& StaticZone::operator=(StaticZone&&) noexcept = default;

void StaticZone::add_a(std::string_view name, std::string_view ipv4, std::uint32_t ttl) {
  or_throw(d_->add_ip(name, RrType::A, ipv4, ttl));
}
void StaticZone::add_aaaa(std::string_view name, std::string_view ipv6, std::uint32_t ttl) {
  or_throw(d_->add_ip(name, RrType::AAAA, ipv6, ttl));
}
void StaticZone::add_address(std::string_view name, const core::IpAddress& ip, std::uint32_t ttl) {
  or_throw(d_->add(name, Rr{ip.v6 ? RrType::AAAA : RrType::A, ttl, ip, 0, {}}));
}
void StaticZone::add_mx(std::string_view name, std::uint16_t preference, std::string_view exchange,
                        std::uint32_t ttl) {
  or_throw(d_->add_target(name, RrType::MX, exchange, ttl, preference));
}
void StaticZone::add_txt(std::string_view name, std::string_view text, std::uint32_t ttl) {
  or_throw(d_->add(name, Rr{RrType::TXT, ttl, {}, 0, std::string(text)}));
}
void StaticZone::add_txt(std::string_view name, std::initializer_list<std::string_view> strings,
                         std::uint32_t ttl) {
  std::string all;
  for (auto s : strings) all += s;
  or_throw(d_->add(name, Rr{RrType::TXT, ttl, {}, 0, std::move(all)}));
}
void StaticZone::add_txt(std::string_view name, const std::vector<std::string>& strings, std::uint32_t ttl) {
  std::string all;
  for (const auto& s : strings) all += s;
  or_throw(d_->add(name, Rr{RrType::TXT, ttl, {}, 0, std::move(all)}));
}
void StaticZone::add_ptr(std::string_view name, std::string_view target, std::uint32_t ttl) {
  or_throw(d_->add_target(name, RrType::PTR, target, ttl));
}
void StaticZone::add_reverse(const core::IpAddress& ip, std::string_view target, std::uint32_t ttl) {
  add_ptr(reverse_name(ip), target, ttl);
}
void StaticZone::add_cname(std::string_view name, std::string_view target, std::uint32_t ttl) {
  or_throw(d_->add_target(name, RrType::CNAME, target, ttl));
}
void StaticZone::add_ns(std::string_view name, std::string_view target, std::uint32_t ttl) {
  or_throw(d_->add_target(name, RrType::NS, target, ttl));
}
void StaticZone::set_failure(std::string_view name, Failure f, std::optional<RrType> type) {
  or_throw(d_->fail(name, f, type));
}

Answer StaticZone::resolve(std::string_view name, RrType type) const {
  std::string key = query_key(name);
  {
    std::lock_guard lock(d_->log_mu);
    d_->log.emplace_back(key, type);
  }
  Answer a;
  if (key.empty()) {
    a.status = Status::perm_failure;
    a.error = "empty query name";
    return a;
  }
  std::uint32_t chain_ttl = std::numeric_limits<std::uint32_t>::max();
  for (int hop = 0; hop <= kMaxCnameChain; ++hop) {
    auto it = d_->nodes.find(key);
    if (it == d_->nodes.end()) {
      if (d_->parents.count(key) == 0) a.status = Status::nxdomain;  // else NODATA: an empty non-terminal
      return a;
    }
    const Node& n = it->second;
    std::optional<Failure> f = n.fail_all;
    if (auto ft = n.fail_type.find(type); ft != n.fail_type.end()) f = ft->second;
    if (f) {
      a.status = status_of(*f);
      a.error = fmt::format("{} {} (static zone: {})", key, to_string(type), to_string(*f));
      return a;
    }
    std::uint32_t ttl = chain_ttl;
    bool found = false;
    for (const Rr& r : n.rrs) {
      if (r.type != type) continue;
      found = true;
      ttl = std::min(ttl, r.ttl);
      switch (r.type) {
        case RrType::A:
        case RrType::AAAA: a.addrs.push_back(r.addr); break;
        case RrType::MX: a.mx.push_back(MxRecord{r.preference, r.text}); break;
        case RrType::TXT: a.txt.push_back(r.text); break;
        case RrType::PTR:
        case RrType::CNAME:
        case RrType::NS: a.names.push_back(r.text); break;
        case RrType::TLSA: break;
      }
    }
    if (found) {
      a.ttl = ttl;
      return a;
    }
    auto cname = std::find_if(n.rrs.begin(), n.rrs.end(), [](const Rr& r) { return r.type == RrType::CNAME; });
    if (cname == n.rrs.end()) return a;  // NODATA
    chain_ttl = std::min(chain_ttl, cname->ttl);
    key = cname->text;
  }
  a.status = Status::temp_failure;  // what a recursive resolver reports for a loop: SERVFAIL
  a.error = fmt::format("{} {}: CNAME chain longer than {}", query_key(name), to_string(type), kMaxCnameChain);
  return a;
}

boost::asio::awaitable<Answer> StaticZone::query(std::string name, RrType type) {
  co_return resolve(name, type);
}

std::size_t StaticZone::query_count() const {
  std::lock_guard lock(d_->log_mu);
  return d_->log.size();
}

std::vector<std::pair<std::string, RrType>> StaticZone::query_log() const {
  std::lock_guard lock(d_->log_mu);
  return d_->log;
}

void StaticZone::reset_query_count() {
  std::lock_guard lock(d_->log_mu);
  d_->log.clear();
}

std::size_t StaticZone::name_count() const { return d_->nodes.size(); }

// ---------------------------------------------------------------------------------------------
// Zone-file parser (docs/dns-zone-format.md).

namespace {

struct Token {
  std::string text;
  bool quoted = false;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Splits one line into tokens; '#' outside quotes starts a comment. Quoted strings take the
// escapes \" \\ and \DDD (decimal byte, RFC 1035 §5.1); any other \X is X.
Expected<std::vector<Token>> tokenize(std::string_view line) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (c == '#') break;
    Token t;
    if (c == '"') {
      t.quoted = true;
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char q = line[i++];
        if (q == '"') {
          closed = true;
          break;
        }
        if (q != '\\') {
          t.text.push_back(q);
          continue;
        }
        if (i >= line.size()) break;
        if (i + 3 <= line.size() && std::all_of(line.begin() + static_cast<std::ptrdiff_t>(i),
                                                 line.begin() + static_cast<std::ptrdiff_t>(i + 3),
                                                 [](char d) { return d >= '0' && d <= '9'; })) {
          int v = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
          if (v > 255) return make_error(fmt::format("bad escape \\{} (more than 255)", line.substr(i, 3)));
          t.text.push_back(static_cast<char>(v));
          i += 3;
          continue;
        }
        t.text.push_back(line[i++]);
      }
      if (!closed) return make_error("unterminated quoted string");
      if (i < line.size() && !is_space(line[i]) && line[i] != '#')
        return make_error("a quoted string must be followed by a space");
    } else {
      while (i < line.size() && !is_space(line[i])) {
        if (line[i] == '"') return make_error(fmt::format("unexpected '\"' inside '{}'", t.text));
        t.text.push_back(line[i++]);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::optional<std::uint32_t> parse_ttl(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  auto v = core::parse_u64(s);
  if (!v || *v > 2147483647u) return std::nullopt;  // RFC 2181 §8
  return static_cast<std::uint32_t>(*v);
}

// One record line (tokens without the comment). Returns an error without the line prefix.
Done parse_line(StaticZone& zone, const std::vector<Token>& tok) {
  std::size_t i = 0;
  if (tok[0].quoted) return make_error("the owner name must not be quoted");
  const std::string& name = tok[i++].text;
  std::uint32_t ttl = StaticZone::kDefaultTtl;
  if (i < tok.size() && !tok[i].quoted && !tok[i].text.empty() &&
      std::all_of(tok[i].text.begin(), tok[i].text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto t = parse_ttl(tok[i].text);
    if (!t) return make_error(fmt::format("TTL '{}' is not a number from 0 to 2147483647", tok[i].text));
    ttl = *t;
    ++i;
  }
  if (i >= tok.size()) return make_error(fmt::format("'{}': expected a record type after the name", name));
  if (tok[i].quoted) return make_error(fmt::format("expected a record type, got a quoted string"));
  std::string type = core::to_lower(tok[i].text);
  ++i;
  std::size_t nargs = tok.size() - i;
  auto arg = [&](std::size_t k) -> const std::string& { return tok[i + k].text; };
  auto usage = [&](std::string_view u) { return make_error(fmt::format("expected '{}'", u)); };
  auto unquoted = [&]() {
    for (std::size_t k = i; k < tok.size(); ++k)
      if (tok[k].quoted) return false;
    return true;
  };

  // Syntax is checked here first for precise messages; the adders then throw
  // std::invalid_argument only for zone conflicts (a CNAME next to other data), which become
  // errors like any other.
  try {
    if (type == "a" || type == "aaaa") {
      bool v6 = type == "aaaa";
      if (nargs != 1 || !unquoted()) return usage(v6 ? "name AAAA <ipv6-address>" : "name A <ipv4-address>");
      auto ip = core::IpAddress::parse(arg(0));
      if (!ip || ip->v6 != v6)
        return make_error(fmt::format("'{}' is not an {} address", arg(0), v6 ? "IPv6" : "IPv4"));
      if (auto n = checked_name(name); !n) return n.error();
      zone.add_address(name, *ip, ttl);
    } else if (type == "mx") {
      if (nargs != 2 || !unquoted()) return usage("name MX <preference> <exchange>");
      auto pref = parse_ttl(arg(0));
      if (!pref || *pref > 65535) return make_error(fmt::format("MX preference '{}' is not a number from 0 to 65535", arg(0)));
      if (auto n = checked_name(name); !n) return n.error();
      if (auto n = checked_name(arg(1), true); !n) return make_error(fmt::format("exchange {}", n.error().message));
      zone.add_mx(name, static_cast<std::uint16_t>(*pref), arg(1), ttl);
    } else if (type == "txt") {
      if (nargs == 0) return usage("name TXT \"text\" [\"more text\" ...]");
      std::vector<std::string> strings;
      for (std::size_t k = 0; k < nargs; ++k) strings.push_back(arg(k));
      if (auto n = checked_name(name); !n) return n.error();
      zone.add_txt(name, strings, ttl);
    } else if (type == "ptr" || type == "cname" || type == "ns") {
      if (nargs != 1 || !unquoted())
        return usage(fmt::format("name {} <target-name>", to_string(*parse_type(type))));
      if (auto n = checked_name(name); !n) return n.error();
      if (auto n = checked_name(arg(0)); !n) return make_error(fmt::format("target {}", n.error().message));
      if (type == "ptr") zone.add_ptr(name, arg(0), ttl);
      if (type == "ns") zone.add_ns(name, arg(0), ttl);
      if (type == "cname") zone.add_cname(name, arg(0), ttl);
    } else if (type == "timeout" || type == "servfail" || type == "refused") {
      auto f = type == "timeout"    ? StaticZone::Failure::timeout
               : type == "servfail" ? StaticZone::Failure::servfail
                                    : StaticZone::Failure::refused;
      if (nargs > 1 || !unquoted()) return usage(fmt::format("name {} [record-type]", to_string(f)));
      std::optional<RrType> only;
      if (nargs == 1) {
        only = parse_type(arg(0));
        if (!only) return make_error(fmt::format("unknown record type '{}'", arg(0)));
      }
      if (auto n = checked_name(name); !n) return n.error();
      zone.set_failure(name, f, only);
    } else {
      return make_error(fmt::format(
          "unknown record type '{}' (expected A, AAAA, MX, TXT, PTR, CNAME, NS, TIMEOUT, SERVFAIL or REFUSED)",
          tok[i - 1].text));
    }
  } catch (const std::invalid_argument& e) {
    std::string_view m = e.what();
    constexpr std::string_view kPrefix = "StaticZone: ";
    if (m.substr(0, kPrefix.size()) == kPrefix) m.remove_prefix(kPrefix.size());
    return make_error(std::string(m));
  }
  return {};
}

}  // namespace

Expected<StaticZone> StaticZone::parse(std::string_view text) {
  if (text.size() > kMaxZoneText)
    return make_error(fmt::format("zone text is larger than {} bytes", kMaxZoneText));
  StaticZone zone;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.size() > kMaxLineLength)
      return make_error(fmt::format("line {}: longer than {} bytes", line_no, kMaxLineLength));
    auto tok = tokenize(line);
    if (!tok) return make_error(fmt::format("line {}: {}", line_no, tok.error().message));
    if (tok->empty()) continue;
    if (auto s = parse_line(zone, *tok); !s) return make_error(fmt::format("line {}: {}", line_no, s.error().message));
  }
  return zone;
}

Expected<StaticZone> StaticZone::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open", file.string()));
  std::string text;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxZoneText)
      return make_error(fmt::format("{}: larger than {} bytes", file.string(), kMaxZoneText));
  }
  if (in.bad()) return make_error(fmt::format("{}: read error", file.string()));
  auto z = parse(text);
  if (!z) return make_error(fmt::format("{}: {}", file.string(), z.error().message));
  return z;
}

}  // namespace gatehouse::dns
