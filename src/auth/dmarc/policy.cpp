// What the gateway does with a DMARC result: the seed product's rules (apply_policy), the action
// for a message without a usable From field (invalid_from_action), and the removal of the product
// header from incoming mail (remove_header_fields). RFC 7489 §6.6.4 and §10.3 leave the
// disposition to the receiver. The product's rules are: none -> nothing, quarantine -> mark with
// a header, reject -> refuse with 550 5.7.1 only when "honour DMARC reject" is on (off by
// default), otherwise mark.
// Pure. Must not: throw, put CR/LF or non-printable bytes into a header name or reply text, or
// look past kMaxHeaderSection bytes of header section.
#include <fmt/format.h>

#include <utility>

#include "gatehouse/auth/dmarc.hpp"
#include "gatehouse/core/strings.hpp"
#include "header_fields.hpp"

namespace gatehouse::auth::dmarc {

namespace {

constexpr std::size_t kMaxFieldName = 76;  // RFC 5322 §2.1.1: 78 per line, minus ": "

bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxFieldName) return false;
  for (char c : name)
    if (c < 33 || c > 126 || c == ':') return false;
  return true;
}

std::string header_name_of(const DmarcOptions& o) {
  return valid_field_name(o.header_name) ? o.header_name : std::string(kDefaultHeaderName);
}

// Letters, digits, '-', '_' and dots only: safe in an SMTP reply line.
bool plain_name(std::string_view d) {
  if (d.empty()) return false;
  for (char c : d) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Action mark(const DmarcOptions& o, std::string value, Policy applied) {
  Action a;
  a.kind = Action::Kind::add_header;
  a.header_name = header_name_of(o);
  a.header_value = std::move(value);
  a.applied = applied;
  return a;
}

Action refuse(std::string text) {
  Action a;
  a.kind = Action::Kind::reject;
  a.code = 550;
  a.enhanced = "5.7.1";
  a.text = std::move(text);
  a.applied = Policy::reject;
  return a;
}

}  // namespace

Status validate(const DmarcOptions& options) {
  if (!valid_field_name(options.header_name))
    return make_error(fmt::format(
        "dmarc.header_name: must be 1 to {} printable ASCII characters without ':' or spaces", kMaxFieldName));
  return {};
}

Action apply_policy(const DmarcResult& result, const DmarcOptions& options) {
  if (result.result != DmarcVerdict::fail) return Action{};
  switch (result.disposition) {
    case Policy::none: return Action{};
    case Policy::quarantine: return mark(options, "quarantine", Policy::quarantine);
    case Policy::reject:
      if (options.honour_reject) {
        const std::string domain = plain_name(result.from_domain) ? result.from_domain : "the sender";
        return refuse(fmt::format("Message rejected: DMARC policy of {} requires rejection", domain));
      } else {
        Action a = mark(options, "reject", Policy::quarantine);
        a.override_reason = PolicyOverride::local_policy;
        return a;
      }
  }
  return Action{};
}

Action invalid_from_action(const FromDomain& from, const DmarcOptions& options) {
  if (from.ok()) return Action{};
  if (options.invalid_from == InvalidFromAction::mark) return mark(options, "invalid-from", Policy::none);
  return refuse(fmt::format("Message rejected: it must have exactly one From address ({})", to_string(from.problem)));
}

Expected<HeaderRemoval> remove_header_fields(std::string_view header_block, std::string_view name) {
  if (name.empty()) return make_error("remove_header_fields: empty field name");
  HeaderRemoval out;
  auto kept = detail::without_fields(header_block, kMaxHeaderSection, [&](const detail::Field& f) {
    bool drop = !f.name.empty() && core::iequals(f.name, name);
    if (drop) ++out.removed;
    return drop;
  });
  if (!kept) return make_error(fmt::format("header section longer than {} bytes", kMaxHeaderSection));
  out.headers = std::move(*kept);
  return out;
}

}  // namespace gatehouse::auth::dmarc
