// SPF (MAIL FROM identity), every DKIM signature, then DMARC over both, and the
// Authentication-Results field (RFC 8601 §2.2: authserv-id; method=result ptype.property=value).
// Must not: read the clock, throw for message content, or copy header text into the result
// field (only validated domains, selectors and b= prefixes go in).
#include "gatehouse/auth/check.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "dmarc/header_fields.hpp"
#include "gatehouse/auth/psl.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::auth {

namespace {

dmarc::DkimAuthResult to_dmarc(dkim::Result r) {
  switch (r) {
    case dkim::Result::none: return dmarc::DkimAuthResult::none;
    case dkim::Result::pass: return dmarc::DkimAuthResult::pass;
    case dkim::Result::fail: return dmarc::DkimAuthResult::fail;
    case dkim::Result::neutral: return dmarc::DkimAuthResult::neutral;
    case dkim::Result::policy: return dmarc::DkimAuthResult::policy;
    case dkim::Result::temperror: return dmarc::DkimAuthResult::temperror;
    case dkim::Result::permerror: return dmarc::DkimAuthResult::permerror;
  }
  return dmarc::DkimAuthResult::none;
}

// Only LDH names, selectors and base64 prefixes reach the header: anything else is dropped.
bool safe_token(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == '+' || c == '/' || c == '=' || c == '@';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

MessageParts::MessageParts(std::string_view message) {
  auto m = dkim::split_message(message);
  if (!m) return;
  body = dkim::BodyHashes(m->headers, dkim::VerifyOptions{});
  body.update(m->body);  // empty for a header section
  m->body.clear();
  header = std::move(*m);
}

boost::asio::awaitable<CheckResult> check_message(dns::Resolver& dns, const CheckRequest& req) {
  MessageParts parts(req.message);
  parts.body.finish();
  co_return co_await check_message(dns, req, parts);
}

boost::asio::awaitable<CheckResult> check_message(dns::Resolver& dns, const CheckRequest& req,
                                                  const MessageParts& parts) {
  CheckResult out;
  if (req.spf && req.spf_result) out.spf = *req.spf_result;
  else if (req.spf)
    out.spf = co_await check_host(dns, spf_mail_from(req.ip, req.mail_from, req.helo, req.authserv_id, req.now));

  std::string header_block;
  if (parts.header) {
    for (auto& h : parts.header->headers) header_block += h.raw;
  }
  if (parts.header && req.dkim) {
    dkim::VerifyOptions vo;
    vo.now = req.now;
    out.dkim = co_await dkim::verify(dns, parts.header->headers, parts.body, vo);
  }
  out.from = dmarc::from_domain(header_block);

  std::unique_ptr<dmarc::PslStrategy> org;
  if (req.psl) org = std::make_unique<dmarc::PslStrategy>(req.psl);
  if (!req.dmarc) {
    // DMARC off: no policy, no action.
  } else if (out.from.ok() && org) {
    dmarc::DmarcInput in;
    in.from_domain = out.from.domain;
    in.spf = dmarc::spf_auth(out.spf.result, req.mail_from, req.helo);
    for (auto& d : out.dkim) in.dkim.push_back({d.domain, d.selector, to_dmarc(d.result)});
    in.policy = co_await dmarc::discover(dns, out.from.domain, *org);
    in.org_domains = org.get();
    in.sample = req.sample;
    out.dmarc = dmarc::evaluate(in);
    out.action = dmarc::apply_policy(out.dmarc, req.dmarc_options);
  } else if (!out.from.ok()) {
    out.action = dmarc::invalid_from_action(out.from, req.dmarc_options);
  }

  std::vector<std::string> results;
  if (req.spf) {
    std::string spf = fmt::format("spf={}", to_string(out.spf.result));
    std::string sender = req.mail_from.empty() ? "postmaster@" + req.helo : req.mail_from;
    if (safe_token(sender)) spf += fmt::format(" smtp.mailfrom={}", sender);
    results.push_back(spf);
  }
  if (req.dkim && out.dkim.empty()) results.push_back("dkim=none");
  for (auto& d : out.dkim) {
    std::string s = fmt::format("dkim={}", dkim::to_string(d.result));
    if (d.result != dkim::Result::pass && d.reason != dkim::Reason::none)
      s += fmt::format(" ({})", dkim::to_string(d.reason));
    if (safe_token(d.domain)) s += fmt::format(" header.d={}", d.domain);
    if (safe_token(d.selector)) s += fmt::format(" header.s={}", d.selector);
    if (safe_token(d.header_b)) s += fmt::format(" header.b={}", d.header_b);
    results.push_back(s);
  }
  if (!req.dmarc) {
  } else if (out.from.ok() && org) results.push_back(dmarc::authentication_results(out.dmarc, out.action.applied));
  else results.push_back(out.from.ok() ? "dmarc=none" : "dmarc=permerror (no single From address)");
  if (results.empty()) results.push_back("none");
  std::string id = safe_token(req.authserv_id) ? req.authserv_id : "localhost";
  std::string field = "Authentication-Results: " + id;
  for (auto& p : results) field += ";\r\n\t" + p;
  field += "\r\n";
  out.authentication_results = field;
  co_return out;
}

std::optional<std::string> authserv_id_of(std::string_view v) {
  std::size_t i = 0;
  // CFWS: whitespace, line breaks and (nested) comments.
  for (;;) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) ++i;
    if (i < v.size() && v[i] == '(') {
      int depth = 0;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
          continue;
        }
        if (v[i] == '(') ++depth;
        else if (v[i] == ')' && --depth == 0) break;
      }
      if (i >= v.size()) return std::nullopt;  // unclosed comment
      ++i;
      continue;
    }
    break;
  }
  std::string id;
  if (i < v.size() && v[i] == '"') {
    for (++i; i < v.size() && v[i] != '"'; ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      id.push_back(v[i]);
    }
    if (i >= v.size()) return std::nullopt;
  } else {
    // RFC 2045 token: printable ASCII except SP and tspecials.
    constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?=";
    for (; i < v.size(); ++i) {
      auto c = static_cast<unsigned char>(v[i]);
      if (c <= 32 || c >= 127 || kSpecials.find(v[i]) != std::string_view::npos) break;
      id.push_back(v[i]);
    }
    // The token is followed by CFWS, a version, or ';' — never glued to other characters.
    if (i < v.size() && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n' && v[i] != '(')
      return std::nullopt;
  }
  if (id.empty()) return std::nullopt;
  return id;
}

Expected<ForgedFieldRemoval> remove_forged_fields(std::string_view header_section,
                                                  const std::vector<std::string>& our_ids,
                                                  const std::vector<std::string>& policy_headers) {
  auto named = [](std::string_view name, const std::vector<std::string>& names) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return !n.empty() && core::iequals(name, n); });
  };
  ForgedFieldRemoval out;
  auto kept = dmarc::detail::without_fields(header_section, dmarc::kMaxHeaderSection, [&](const auto& f) {
    if (f.name.empty()) return false;
    if (named(f.name, policy_headers)) {
      ++out.removed_policy_headers;
      return true;
    }
    if (!core::iequals(f.name, "Authentication-Results")) return false;
    auto id = authserv_id_of(f.value);
    if (!id || !named(*id, our_ids)) return false;
    ++out.removed_authentication_results;
    return true;
  });
  if (!kept) return make_error(fmt::format("header section longer than {} bytes", dmarc::kMaxHeaderSection));
  out.headers = std::move(*kept);
  return out;
}

std::string fields_to_add(const CheckResult& result) {
  if (result.action.kind == dmarc::Action::Kind::reject) return {};
  std::string out = result.authentication_results;
  if (result.action.kind == dmarc::Action::Kind::add_header)
    out += fmt::format("{}: {}\r\n", result.action.header_name, result.action.header_value);
  return out;
}

}  // namespace gatehouse::auth
