// TLS policy list entries: parsing, validation and normalisation per list (lists.hpp), and the
// TlsLists matchers (host name, wildcard, IP, CIDR; recipient domain, sub-domain, address).
// Pure: must not open SQLite, read the clock, or log; problems are returned as Errors that
// name the list, quote the entry on one line, and give the reason.
#include "gatehouse/tlspolicy/lists.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>

#include "gatehouse/config/settings.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::tlspolicy {
namespace {

constexpr std::size_t kMaxEntry = 512;  // longer than any address (254) or name (253)
constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 §4.5.3.1.1

std::size_t index_of(ListKind l) { return static_cast<std::size_t>(l); }

// 'value' with control bytes escaped as \xNN and long values cut, so an error stays one line.
std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 200;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  out += '\'';
  return out;
}

Error entry_error(ListKind list, std::string_view entry, std::string_view reason) {
  return make_error(fmt::format("{}: {}: {}", list_name(list), quote(entry), reason));
}

// Lower-case, without one trailing dot.
std::string canonical_name(std::string_view n) {
  std::string out = core::to_lower(core::trim(n));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// The reason `n` (lower-case, no trailing dot) is not a valid LDH name, or "".
std::string name_problem(std::string_view n, bool need_two_labels) {
  if (n.empty()) return "the name is empty";
  if (n.size() > 253) return "a name is at most 253 characters long";
  std::size_t labels = 0;
  std::string_view last;
  std::size_t start = 0;
  while (true) {
    auto dot = n.find('.', start);
    auto label = n.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    ++labels;
    last = label;
    if (label.empty()) return "a name cannot have an empty label (two dots in a row)";
    if (label.size() > 63) return "a label is longer than 63 characters";
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80) return "write internationalized names in their xn-- form";
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return "only letters, digits, '-' and '.' are allowed in a name";
    }
    if (label.front() == '-' || label.back() == '-') return "a label cannot start or end with '-'";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (need_two_labels && labels < 2) return "a domain needs at least two labels, like example.com";
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "the last label cannot be all digits (is it a mistyped IP address?)";
  return {};
}

// RFC 5322 atext, plus UTF-8 bytes for SMTPUTF8 local parts (RFC 6531).
bool is_atext(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (c >= 0x80) return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(ch) != std::string_view::npos;
}

// The reason `local` is not a dot-atom or quoted-string local part, or "".
std::string local_part_problem(std::string_view local) {
  if (local.empty()) return "the part before '@' is empty";
  if (local.size() > kMaxLocalPart) return "the part before '@' is longer than 64 characters";
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      auto c = static_cast<unsigned char>(local[i]);
      if (c < 0x20 || c == 0x7f) return "the part before '@' contains a control character";
      if (c == '\\') {
        if (i + 2 >= local.size()) return "the quoted part before '@' ends with a lone backslash";
        ++i;
      } else if (c == '"') {
        return "a quote inside the quoted part before '@' must be escaped with a backslash";
      }
    }
    return {};
  }
  if (local.front() == '.' || local.back() == '.') return "the part before '@' cannot start or end with '.'";
  if (local.find("..") != std::string_view::npos) return "the part before '@' cannot contain '..'";
  for (char c : local)
    if (c != '.' && !is_atext(c))
      return "the part before '@' may hold only letters, digits and !#$%&'*+-/=?^_`{|}~. (or be a quoted string)";
  return {};
}

Expected<Entry> parse_address(ListKind list, std::string_view v) {
  auto at = v.rfind('@');
  auto local = v.substr(0, at);
  auto domain_raw = v.substr(at + 1);
  if (auto why = local_part_problem(local); !why.empty()) return entry_error(list, v, why);
  if (!domain_raw.empty() && domain_raw.front() == '[')
    return entry_error(list, v, "address literals are not supported; use the recipient's domain");
  std::string domain = canonical_name(domain_raw);
  if (domain.empty()) return entry_error(list, v, "the part after '@' is empty");
  if (auto why = name_problem(domain, true); !why.empty())
    return entry_error(list, v, fmt::format("the part after '@' is not a valid domain ({})", why));
  Entry e;
  e.kind = Entry::Kind::address;
  e.local = std::string(local);
  e.name = std::move(domain);
  e.text = e.local + "@" + e.name;
  return e;
}

Expected<Entry> parse_domain(ListKind list, std::string_view v) {
  if (v.front() == '*' || v.front() == '.')
    return entry_error(list, v,
                       "write the domain without '*.' or a leading '.': a domain entry already covers its "
                       "sub-domains");
  if (core::IpAddress::parse(v) || (v.find('/') != std::string_view::npos && core::Cidr::parse(v)))
    return entry_error(list, v, "an IP address is not a domain (mail servers go on starttls-required)");
  std::string name = canonical_name(v);
  if (auto why = name_problem(name, true); !why.empty())
    return entry_error(list, v, fmt::format("not a domain or user@domain address ({})", why));
  Entry e;
  e.kind = Entry::Kind::domain;
  e.name = name;
  e.text = std::move(name);
  return e;
}

Expected<Entry> parse_host_entry(ListKind list, std::string_view v) {
  if (v.find('@') != std::string_view::npos)
    return entry_error(list, v, "e-mail addresses belong on tls-domains; this list takes hosts and IP addresses");
  if (auto ip = core::IpAddress::parse(v)) {
    Entry e;
    e.kind = Entry::Kind::ip;
    e.net = *core::Cidr::parse(ip->unmapped().to_string());
    e.text = e.net.network.to_string();
    return e;
  }
  if (v.find('/') != std::string_view::npos) {
    auto c = core::Cidr::parse(v);
    if (!c) return entry_error(list, v, fmt::format("not a valid CIDR range ({})", c.error().message));
    Entry e;
    e.net = *c;
    const unsigned full = c->network.v6 ? 128 : 32;
    e.kind = c->prefix == full ? Entry::Kind::ip : Entry::Kind::cidr;
    e.text = e.kind == Entry::Kind::ip ? c->network.to_string() : c->to_string();
    return e;
  }
  std::string_view rest = v;
  bool wildcard = false;
  if (rest.starts_with("*.")) {
    wildcard = true;
    rest.remove_prefix(2);
  } else if (rest.starts_with(".")) {
    wildcard = true;
    rest.remove_prefix(1);
  }
  if (rest.find('*') != std::string_view::npos)
    return entry_error(list, v, "a wildcard is allowed only as the whole left-most label, as in '*.example.com'");
  std::string name = canonical_name(rest);
  if (wildcard) {
    if (auto why = name_problem(name, true); !why.empty())
      return entry_error(list, v,
                         fmt::format("not a valid wildcard: the part after '*.' must be a domain with at least "
                                     "two labels, like *.example.com ({})",
                                     why));
    Entry e;
    e.kind = Entry::Kind::wildcard;
    e.name = name;
    e.text = "*." + name;
    return e;
  }
  if (auto why = name_problem(name, false); !why.empty())
    return entry_error(list, v, fmt::format("not an IP address, CIDR range, host name or *.domain ({})", why));
  Entry e;
  e.kind = Entry::Kind::host;
  e.name = name;
  e.text = std::move(name);
  return e;
}

// True when `name` is `suffix` or below it.
bool at_or_below(std::string_view name, std::string_view suffix) {
  if (name == suffix) return true;
  return name.size() > suffix.size() && name.ends_with(suffix) && name[name.size() - suffix.size() - 1] == '.';
}

// A peer name as matched: canonical, or an IP when it is an IP literal.
struct PeerName {
  std::string name;
  std::optional<core::IpAddress> ip;
};

PeerName peer_name(std::string_view raw) {
  PeerName p;
  auto t = core::trim(raw);
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
    auto inner = t.substr(1, t.size() - 2);
    if (core::istarts_with(inner, "IPv6:")) inner.remove_prefix(5);
    p.ip = core::IpAddress::parse(inner);
    return p;
  }
  if (auto ip = core::IpAddress::parse(t)) {
    p.ip = ip;
    return p;
  }
  p.name = canonical_name(t);
  return p;
}

const Entry* match_host(const std::vector<Entry>& list, std::string_view host_name,
                        const std::optional<core::IpAddress>& ip) {
  const PeerName peer = peer_name(host_name);
  for (const auto& e : list) {
    switch (e.kind) {
      case Entry::Kind::ip:
      case Entry::Kind::cidr:
        if ((ip && e.net.contains(*ip)) || (peer.ip && e.net.contains(*peer.ip))) return &e;
        break;
      case Entry::Kind::host:
        if (!peer.name.empty() && peer.name == e.name) return &e;
        break;
      case Entry::Kind::wildcard:
        if (peer.name.size() > e.name.size() && at_or_below(peer.name, e.name)) return &e;
        break;
      default:
        break;
    }
  }
  return nullptr;
}

}  // namespace

std::string_view list_name(ListKind list) {
  switch (list) {
    case ListKind::starttls_whitelist:
      return "starttls-whitelist";
    case ListKind::starttls_required:
      return "starttls-required";
    case ListKind::tls_domains:
      return "tls-domains";
  }
  return "unknown-list";
}

std::optional<ListKind> parse_list_name(std::string_view name) {
  for (auto l : kAllLists)
    if (list_name(l) == name) return l;
  return std::nullopt;
}

Expected<Entry> parse_entry(ListKind list, std::string_view raw) {
  auto v = core::trim(raw);
  if (v.size() > kMaxEntry) return entry_error(list, v, fmt::format("longer than {} characters", kMaxEntry));
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return entry_error(list, v, "contains a control character");
  }
  if (v.empty()) {
    if (list != ListKind::tls_domains)
      return entry_error(list, v, "the entry is empty (only tls-domains takes an empty entry, meaning every recipient)");
    return Entry{};  // everyone
  }
  if (list == ListKind::tls_domains) {
    if (v.find('@') != std::string_view::npos) return parse_address(list, v);
    return parse_domain(list, v);
  }
  return parse_host_entry(list, v);
}

TlsLists TlsLists::from_entries(const std::vector<std::string>& starttls_whitelist,
                                const std::vector<std::string>& starttls_required,
                                const std::vector<std::string>& tls_domains, std::vector<Error>* skipped) {
  TlsLists out;
  auto fill = [&](ListKind kind, const std::vector<std::string>& texts) {
    auto& list = out.lists_[index_of(kind)];
    std::set<std::string> seen;
    for (const auto& t : texts) {
      auto e = parse_entry(kind, t);
      if (!e) {
        if (skipped) skipped->push_back(e.error());
        continue;
      }
      if (!seen.insert(e->text).second) {
        if (skipped) skipped->push_back(entry_error(kind, e->text, "listed twice"));
        continue;
      }
      list.push_back(std::move(*e));
    }
    std::sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) { return a.text < b.text; });
  };
  fill(ListKind::starttls_whitelist, starttls_whitelist);
  fill(ListKind::starttls_required, starttls_required);
  fill(ListKind::tls_domains, tls_domains);
  return out;
}

TlsLists TlsLists::from_settings(const config::Settings& s, std::vector<Error>* skipped) {
  return from_entries(s.tls_starttls_whitelist, s.tls_starttls_required, s.tls_enforced_domains, skipped);
}

const std::vector<Entry>& TlsLists::entries(ListKind list) const { return lists_[index_of(list)]; }

bool TlsLists::empty() const {
  return std::all_of(lists_.begin(), lists_.end(), [](const auto& l) { return l.empty(); });
}

const Entry* TlsLists::whitelist_match(std::string_view host_name, const std::optional<core::IpAddress>& ip) const {
  return match_host(entries(ListKind::starttls_whitelist), host_name, ip);
}

const Entry* TlsLists::required_match(std::string_view host_name, const std::optional<core::IpAddress>& ip) const {
  return match_host(entries(ListKind::starttls_required), host_name, ip);
}

bool TlsLists::whitelisted(std::string_view host_name, const std::optional<core::IpAddress>& ip) const {
  return whitelist_match(host_name, ip) != nullptr;
}

bool TlsLists::required(std::string_view host_name, const std::optional<core::IpAddress>& ip) const {
  return required_match(host_name, ip) != nullptr;
}

std::string recipient_domain(std::string_view recipient) {
  auto r = core::trim(recipient);
  if (r.size() >= 2 && r.front() == '<' && r.back() == '>') r = r.substr(1, r.size() - 2);
  auto at = r.rfind('@');
  if (at == std::string_view::npos) return {};
  return canonical_name(r.substr(at + 1));
}

const Entry* TlsLists::enforced_match(std::string_view recipient) const {
  auto r = core::trim(recipient);
  if (r.size() >= 2 && r.front() == '<' && r.back() == '>') r = r.substr(1, r.size() - 2);
  const auto at = r.rfind('@');
  const std::string domain = at == std::string_view::npos ? std::string() : canonical_name(r.substr(at + 1));
  const std::string_view local = at == std::string_view::npos ? r : r.substr(0, at);
  for (const auto& e : entries(ListKind::tls_domains)) {
    switch (e.kind) {
      case Entry::Kind::everyone:
        return &e;
      case Entry::Kind::domain:
        if (!domain.empty() && at_or_below(domain, e.name)) return &e;
        break;
      case Entry::Kind::address:
        if (at != std::string_view::npos && domain == e.name && local == e.local) return &e;
        break;
      default:
        break;
    }
  }
  return nullptr;
}

bool TlsLists::enforced_for(std::string_view recipient) const { return enforced_match(recipient) != nullptr; }

}  // namespace gatehouse::tlspolicy
