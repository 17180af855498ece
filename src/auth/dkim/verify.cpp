// DKIM verification (RFC 6376 §6): for each DKIM-Signature field, parse and check it (§6.1.1),
// fetch its key over the caller's dns::Resolver (§6.1.2, the only await), check the key record
// (§3.6.1: v k h s t p; RFC 8301 §3.2 key sizes; RFC 8463 Ed25519), compare the body hash
// (§6.1.3 step 1-3, l= §3.4.5) and verify the signature over the selected headers (§6.1.3 step
// 4-5). Results follow RFC 8601 §2.7.1 (mapping in dkim.hpp); header.b per RFC 6008.
// Must not: read the clock (options.now), throw for anything in a message or DNS answer, query
// DNS for a signature that is already decided, or verify rsa-sha1 (RFC 8301 §3.1).
// Coroutines here never co_await an expression holding a capturing lambda (toolchain.md §4.1).
#include <openssl/crypto.h>

#include <fmt/format.h>

#include <map>

#include "gatehouse/core/strings.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {

namespace {

using boost::asio::awaitable;

bool is_signature_field(const HeaderField& h) { return core::iequals(h.name, "DKIM-Signature"); }

// A signature after the checks that need no key.
struct Prepared {
  bool decided = false;
  SignatureResult result;
  Signature sig;
  detail::Tag b_tag;
  std::size_t value_offset = 0;
  std::string query_name;
};

SignatureResult& decide(Prepared& p, Result r, Reason why, std::string detail) {
  p.decided = true;
  p.result.result = r;
  p.result.reason = why;
  p.result.detail = std::move(detail);
  return p.result;
}

void report_fields(SignatureResult& r, const Signature& s) {
  r.domain = s.domain;
  r.selector = s.selector;
  r.identity = s.identity;
  r.algorithm = s.algorithm_name;
  r.header_b = s.b_text.substr(0, 8);
  r.body_length = s.body_length;
}

Prepared prepare(const std::vector<HeaderField>& headers, std::size_t index, const VerifyOptions& options) {
  Prepared p;
  p.result.field_index = index;
  const std::string& raw = headers[index].raw;
  if (raw.size() > kMaxSignatureField) {
    decide(p, Result::permerror, Reason::syntax, "DKIM-Signature field too long");
    return p;
  }
  p.value_offset = raw.find(':') + 1;  // the field name matched, so there is a colon
  std::string_view value = std::string_view(raw).substr(p.value_offset);
  SignatureParse parsed = parse_signature(value);
  p.sig = std::move(parsed.signature);
  report_fields(p.result, p.sig);
  if (!parsed.ok()) {
    decide(p, Result::permerror, parsed.error, std::move(parsed.detail));
    return p;
  }
  if (p.sig.algorithm == Algorithm::rsa_sha1) {
    decide(p, Result::permerror, Reason::rsa_sha1, "a=rsa-sha1: verifiers must not consider it valid (RFC 8301 §3.1)");
    return p;
  }
  if (p.sig.expiration && options.now > *p.sig.expiration) {
    decide(p, Result::permerror, Reason::expired,
           fmt::format("x={} is {} s before now", *p.sig.expiration, options.now - *p.sig.expiration));
    return p;
  }
  if (p.sig.timestamp && options.future_skew >= 0) {
    const std::int64_t now = options.now < 0 ? 0 : options.now;
    if (*p.sig.timestamp > now && *p.sig.timestamp - now > options.future_skew) {
      decide(p, Result::policy, Reason::timestamp_in_future,
             fmt::format("t={} is more than {} s after now", *p.sig.timestamp, options.future_skew));
      return p;
    }
  }
  p.query_name = key_query_name(p.sig);
  if (p.query_name.size() > 253) {
    decide(p, Result::permerror, Reason::syntax, "s= and d= make a key name longer than 253 characters");
    return p;
  }
  detail::TagList tags = detail::parse_tag_list(value);
  const detail::Tag* b = tags.find("b");
  if (!b) {  // parse_signature checked it; kept for safety
    decide(p, Result::permerror, Reason::missing_tag, "b= is missing");
    return p;
  }
  p.b_tag = *b;
  return p;
}

std::string identity_domain(const Signature& s) {
  std::size_t at = s.identity.rfind('@');
  return core::to_lower(at == std::string::npos ? std::string_view{} : std::string_view(s.identity).substr(at + 1));
}

SignatureResult with_key(Prepared p, const std::vector<HeaderField>& headers, const BodyHashes& body,
                         const dns::Answer& answer, const VerifyOptions& options) {
  const Signature& sig = p.sig;
  switch (answer.status) {
    case dns::Status::temp_failure:
      return decide(p, Result::temperror, Reason::key_dns_temporary,
                    fmt::format("{}: {}", p.query_name, answer.error.empty() ? "temporary DNS failure" : answer.error));
    case dns::Status::perm_failure:
      return decide(p, Result::permerror, Reason::key_unavailable,
                    fmt::format("{}: {}", p.query_name, answer.error.empty() ? "DNS error" : answer.error));
    case dns::Status::nxdomain:
      return decide(p, Result::permerror, Reason::key_not_found, fmt::format("{}: no such name", p.query_name));
    case dns::Status::ok: break;
  }
  if (answer.txt.empty())
    return decide(p, Result::permerror, Reason::key_not_found, fmt::format("{}: no TXT record", p.query_name));

  // Several records: the first one that parses (§3.6.2.2 leaves the choice to the verifier).
  std::optional<KeyRecord> key;
  KeyParse first_error;
  for (const auto& txt : answer.txt) {
    KeyParse kp = parse_key_record(txt);
    if (kp.ok()) {
      key = std::move(kp.key);
      break;
    }
    if (first_error.ok()) first_error = std::move(kp);
  }
  if (!key) return decide(p, Result::permerror, first_error.error, std::move(first_error.detail));
  p.result.testing = key->testing;

  auto finish = [&](Result r, Reason why, std::string detail) -> SignatureResult {
    decide(p, r, why, std::move(detail));
    if (p.result.testing && r != Result::pass) {  // §3.6.1 t=y: like unsigned mail, never a failure
      p.result.detail = fmt::format("{} ({}: {})", to_string(Reason::testing), to_string(r), p.result.detail);
      p.result.result = Result::neutral;
      p.result.reason = Reason::testing;
    }
    return p.result;
  };

  const KeyType want = sig.algorithm == Algorithm::ed25519_sha256 ? KeyType::ed25519 : KeyType::rsa;
  if (key->type != want)
    return finish(Result::permerror, Reason::key_type_mismatch,
                  fmt::format("a={} but the key record has k={}", sig.algorithm_name, to_string(key->type)));
  if (!key->hashes.empty() && std::find(key->hashes.begin(), key->hashes.end(), "sha256") == key->hashes.end())
    return finish(Result::permerror, Reason::key_hash_not_allowed, "key h= does not list sha256");
  if (key->strict && identity_domain(sig) != sig.domain)
    return finish(Result::permerror, Reason::strict_identity,
                  fmt::format("key has t=s but i= names {}", identity_domain(sig)));

  detail::PublicKey pk = detail::load_public_key(key->type, key->public_key);
  if (!pk.pkey) return finish(Result::permerror, pk.error, std::move(pk.detail));
  p.result.key_bits = pk.bits;
  if (key->type == KeyType::rsa && pk.bits < 1024)
    return finish(Result::permerror, Reason::key_too_small,
                  fmt::format("{}-bit RSA key; RFC 8301 §3.2 requires at least 1024", pk.bits));

  const BodyDigest* digest = body.find(sig.body_canon, sig.body_length);
  if (!digest || digest->sha256.empty())
    return finish(Result::temperror, Reason::internal, "the body hash was not computed");
  if (sig.body_length && *sig.body_length > digest->canonical_length)
    return finish(Result::permerror, Reason::body_length_exceeds,
                  fmt::format("l={} but the canonical body has {} bytes", *sig.body_length, digest->canonical_length));
  p.result.unsigned_body_bytes = digest->canonical_length - digest->hashed_length;
  if (digest->sha256.size() != sig.bh.size() ||
      CRYPTO_memcmp(digest->sha256.data(), sig.bh.data(), sig.bh.size()) != 0)
    return finish(Result::fail, Reason::body_hash_mismatch, "the body hash does not match bh=");

  const HeaderField& field = headers[p.result.field_index];
  std::vector<const HeaderField*> selected = select_headers(headers, sig.signed_headers);
  std::string data = detail::header_hash_input(selected, sig.header_canon, field.raw, p.value_offset, p.b_tag);
  switch (detail::verify_data(pk.pkey.get(), key->type, data, sig.b)) {
    case detail::VerifyOutcome::error: return finish(Result::temperror, Reason::internal, "OpenSSL could not verify");
    case detail::VerifyOutcome::invalid:
      return finish(Result::fail, Reason::signature_mismatch, "the signature does not match the signed header fields");
    case detail::VerifyOutcome::valid: break;
  }

  if (key->type == KeyType::rsa && pk.bits < options.min_rsa_bits)
    return finish(Result::policy, Reason::key_below_policy,
                  fmt::format("{}-bit RSA key; local policy wants {}", pk.bits, options.min_rsa_bits));
  if (p.result.unsigned_body_bytes > 0 && options.reject_partial_body)
    return finish(Result::policy, Reason::body_length_extra,
                  fmt::format("{} body bytes after l= are not signed", p.result.unsigned_body_bytes));
  std::string note = p.result.unsigned_body_bytes > 0
                         ? fmt::format("{} body bytes after l= are not signed", p.result.unsigned_body_bytes)
                         : std::string{};
  return finish(Result::pass, Reason::none, std::move(note));
}

SignatureResult not_evaluated(const std::vector<HeaderField>& headers, std::size_t index, std::string* b_text) {
  SignatureResult r;
  r.field_index = index;
  const std::string& raw = headers[index].raw;
  if (raw.size() <= kMaxSignatureField) {
    SignatureParse parsed = parse_signature(std::string_view(raw).substr(raw.find(':') + 1));
    report_fields(r, parsed.signature);
    *b_text = parsed.signature.b_text;
  }
  r.result = Result::neutral;
  r.reason = Reason::not_evaluated;
  r.detail = "more signatures than VerifyOptions::max_signatures";
  return r;
}

}  // namespace

std::string key_query_name(const Signature& sig) { return sig.selector + "._domainkey." + sig.domain; }

SignatureResult verify_signature(const std::vector<HeaderField>& headers, std::size_t field_index,
                                 const BodyHashes& body, const dns::Answer& key_answer, const VerifyOptions& options) {
  if (field_index >= headers.size() || !is_signature_field(headers[field_index])) {
    SignatureResult r;
    r.field_index = field_index;
    r.reason = Reason::syntax;
    r.detail = "not a DKIM-Signature field";
    return r;
  }
  Prepared p = prepare(headers, field_index, options);
  if (p.decided) return p.result;
  return with_key(std::move(p), headers, body, key_answer, options);
}

void assign_header_b(std::vector<SignatureResult>& results, const std::vector<std::string>& b_values) {
  for (std::size_t i = 0; i < results.size() && i < b_values.size(); ++i) {
    const std::string& b = b_values[i];
    std::size_t n = std::min<std::size_t>(8, b.size());
    auto clashes = [&](std::size_t len) {
      for (std::size_t j = 0; j < b_values.size(); ++j)
        if (j != i && b_values[j] != b && b_values[j].compare(0, len, b, 0, len) == 0) return true;
      return false;
    };
    while (n < b.size() && clashes(n)) ++n;
    results[i].header_b = b.substr(0, n);
  }
}

awaitable<std::vector<SignatureResult>> verify(dns::Resolver& dns, const std::vector<HeaderField>& headers,
                                               const BodyHashes& body, VerifyOptions options) {
  std::vector<SignatureResult> results;
  std::vector<std::string> b_values;
  std::map<std::string, dns::Answer> answers;  // one query per key name
  std::size_t count = 0;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (!is_signature_field(headers[i])) continue;
    if (count++ >= options.max_signatures) {
      b_values.emplace_back();
      results.push_back(not_evaluated(headers, i, &b_values.back()));
      continue;
    }
    Prepared p = prepare(headers, i, options);
    b_values.push_back(p.sig.b_text);
    if (p.decided) {
      results.push_back(std::move(p.result));
      continue;
    }
    auto it = answers.find(p.query_name);
    if (it == answers.end()) {
      dns::Answer answer = co_await dns.query(p.query_name, dns::RrType::TXT);
      it = answers.emplace(p.query_name, std::move(answer)).first;
    }
    results.push_back(with_key(std::move(p), headers, body, it->second, options));
  }
  assign_header_b(results, b_values);
  co_return results;
}

awaitable<std::vector<SignatureResult>> verify(dns::Resolver& dns, const Message& message, VerifyOptions options) {
  BodyHashes hashes(message.headers, options);
  hashes.update(message.body);
  hashes.finish();
  std::vector<SignatureResult> results = co_await verify(dns, message.headers, hashes, options);
  co_return results;
}

}  // namespace gatehouse::auth::dkim
