// Public Suffix List: parsing of Mozilla's effective_tld_names.dat and the formal algorithm of
// https://publicsuffix.org/list/ (longest matching rule wins, an exception rule wins over all
// others and drops its leftmost label, the implicit rule is "*"). Used for RFC 7489 §3.2
// organizational domains.
// Pure: text in, answers out; no IO, no globals, no clock.
// Must not: throw on list content or input domains (bad_alloc aside), or read past the caps of
// psl::List (list size, line length, rule count, domain length and label count).
#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

#include "gatehouse/auth/psl.hpp"
#include "idna.hpp"

namespace gatehouse::auth::psl {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// After label_to_ascii(): what a rule's label may hold.
bool valid_rule_label(std::string_view label) {
  if (label.empty()) return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

enum class Kind { exact, wildcard, exception };

struct ParsedRule {
  Kind kind = Kind::exact;
  std::string key;  // A-label form without "*." / "!"
};

Expected<ParsedRule> parse_rule(std::string_view rule) {
  ParsedRule out;
  std::string_view body = rule;
  if (body.front() == '!') {
    out.kind = Kind::exception;
    body.remove_prefix(1);
  } else if (body.size() >= 2 && body[0] == '*' && body[1] == '.') {
    out.kind = Kind::wildcard;
    body.remove_prefix(2);
  }
  if (body.empty()) return make_error(fmt::format("rule '{}' has no labels", rule));
  std::size_t labels = 0;
  std::size_t start = 0;
  while (true) {
    const auto dot = body.find('.', start);
    const auto end = dot == std::string_view::npos ? body.size() : dot;
    const auto label = body.substr(start, end - start);
    if (label.empty()) return make_error(fmt::format("rule '{}' has an empty label", rule));
    if (label.find('*') != std::string_view::npos)
      return make_error(fmt::format("rule '{}': '*' is allowed only as the whole leftmost label", rule));
    if (label.find('!') != std::string_view::npos)
      return make_error(fmt::format("rule '{}': '!' is allowed only at the start", rule));
    auto a = detail::label_to_ascii(label);
    if (!a) return make_error(fmt::format("rule '{}' is not valid UTF-8", rule));
    if (!valid_rule_label(*a))
      return make_error(fmt::format("rule '{}' holds a character other than a letter, digit, '-' or '_'", rule));
    if (!out.key.empty()) out.key.push_back('.');
    out.key += *a;
    if (out.key.size() > List::kMaxRuleLength)
      return make_error(fmt::format("rule '{}' is longer than {} bytes", rule, List::kMaxRuleLength));
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (out.kind == Kind::exception && labels < 2)
    return make_error(fmt::format("exception rule '{}' needs at least two labels", rule));
  return out;
}

// The comment text of a section marker line, e.g. "===BEGIN ICANN DOMAINS===".
std::string_view marker_text(std::string_view line) {
  line.remove_prefix(2);  // "//"
  while (!line.empty() && is_wsp(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_wsp(line.back())) line.remove_suffix(1);
  return line;
}

}  // namespace

std::string_view to_string(Section s) {
  switch (s) {
    case Section::icann: return "icann";
    case Section::private_domains: return "private";
    case Section::implicit: return "implicit";
  }
  return "?";
}

Expected<List> List::parse(std::string_view text) {
  if (text.size() > kMaxListSize)
    return make_error(fmt::format("the list is larger than {} bytes", kMaxListSize));
  List list;
  enum class Open { none, icann, private_domains };
  Open open = Open::none;
  bool seen_icann = false;
  bool seen_private = false;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLineLength)
      return make_error(fmt::format("line {}: longer than {} bytes", line_no, kMaxLineLength));
    while (!line.empty() && is_wsp(line.front())) line.remove_prefix(1);
    if (line.empty()) continue;
    if (line.size() >= 2 && line[0] == '/' && line[1] == '/') {
      const auto m = marker_text(line);
      if (m == "===BEGIN ICANN DOMAINS===" || m == "===BEGIN PRIVATE DOMAINS===") {
        const bool icann = m == "===BEGIN ICANN DOMAINS===";
        if (open != Open::none)
          return make_error(fmt::format("line {}: {} inside another section", line_no, m));
        if (icann ? seen_icann : seen_private)
          return make_error(fmt::format("line {}: {} appears twice", line_no, m));
        (icann ? seen_icann : seen_private) = true;
        open = icann ? Open::icann : Open::private_domains;
      } else if (m == "===END ICANN DOMAINS===" || m == "===END PRIVATE DOMAINS===") {
        const Open which = m == "===END ICANN DOMAINS===" ? Open::icann : Open::private_domains;
        if (open != which) return make_error(fmt::format("line {}: {} without its BEGIN", line_no, m));
        open = Open::none;
      }
      continue;
    }
    std::size_t end = 0;
    while (end < line.size() && !is_wsp(line[end])) ++end;
    const std::string_view rule = line.substr(0, end);  // read up to the first whitespace
    if (rule == "*") continue;                          // the implicit rule, spelled out
    auto parsed = parse_rule(rule);
    if (!parsed) return make_error(fmt::format("line {}: {}", line_no, parsed.error().message));
    const Section section = open == Open::private_domains ? Section::private_domains : Section::icann;
    auto& map = parsed->kind == Kind::exact      ? list.exact_
                : parsed->kind == Kind::wildcard ? list.wildcard_
                                                 : list.exception_;
    if (!map.emplace(std::move(parsed->key), section).second) continue;  // duplicate: first wins
    (section == Section::icann ? list.icann_rules_ : list.private_rules_) += 1;
    if (list.rule_count() > kMaxRules)
      return make_error(fmt::format("line {}: more than {} rules", line_no, kMaxRules));
  }
  if (open != Open::none)
    return make_error(fmt::format("the {} section has no END marker (truncated file?)",
                                  open == Open::icann ? "ICANN" : "PRIVATE"));
  if (list.rule_count() == 0) return make_error("the list holds no rules");
  return list;
}

std::optional<Match> List::lookup(std::string_view domain, LookupOptions options) const {
  std::vector<std::string_view> labels;
  if (!detail::split_labels(domain, kMaxDomainLength, kMaxLabels, labels)) return std::nullopt;
  const std::size_t n = labels.size();
  std::vector<std::string> keys;  // A-label form of each label
  keys.reserve(n);
  for (auto l : labels) {
    auto a = detail::label_to_ascii(l);
    if (!a) return std::nullopt;
    keys.push_back(std::move(*a));
  }
  auto usable = [&](Section s) { return options.include_private || s != Section::private_domains; };

  // suffix(k): the last k labels in A-label form, built right to left.
  std::vector<std::string> suffix(n + 1);
  for (std::size_t k = 1; k <= n; ++k)
    suffix[k] = k == 1 ? keys[n - 1] : keys[n - k] + "." + suffix[k - 1];

  std::size_t best = 0;  // labels of the longest matching normal or wildcard rule
  Section best_section = Section::implicit;
  std::string best_rule = "*";
  std::size_t exception = 0;  // labels of the longest matching exception rule
  Section exception_section = Section::implicit;
  for (std::size_t k = 1; k <= n; ++k) {
    if (auto it = exception_.find(suffix[k]); it != exception_.end() && usable(it->second)) {
      exception = k;
      exception_section = it->second;
    }
    if (auto it = exact_.find(suffix[k]); it != exact_.end() && usable(it->second) && k > best) {
      best = k;
      best_section = it->second;
      best_rule = suffix[k];
    }
    if (k >= 2) {
      if (auto it = wildcard_.find(suffix[k - 1]); it != wildcard_.end() && usable(it->second) && k > best) {
        best = k;
        best_section = it->second;
        best_rule = "*." + suffix[k - 1];
      }
    }
  }

  std::size_t ps_labels = 1;  // the implicit rule "*"
  Match m;
  if (exception > 0) {  // an exception rule prevails; drop its leftmost label
    ps_labels = exception - 1;
    m.section = exception_section;
    m.rule = "!" + suffix[exception];
  } else if (best > 0) {
    ps_labels = best;
    m.section = best_section;
    m.rule = std::move(best_rule);
  } else {
    m.section = Section::implicit;
    m.rule = "*";
  }
  auto join = [&](std::size_t count) {  // the last `count` labels in the input's form
    std::string out;
    for (std::size_t i = n - count; i < n; ++i) {
      if (i != n - count) out.push_back('.');
      for (char c : labels[i]) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return out;
  };
  m.public_suffix = join(ps_labels);
  if (n > ps_labels) m.registrable_domain = join(ps_labels + 1);
  return m;
}

std::string List::public_suffix(std::string_view domain) const {
  auto m = lookup(domain);
  return m ? std::move(m->public_suffix) : std::string();
}

std::optional<std::string> List::registrable_domain(std::string_view domain) const {
  auto m = lookup(domain);
  if (!m) return std::nullopt;
  return std::move(m->registrable_domain);
}

}  // namespace gatehouse::auth::psl
