// DKIM signing (RFC 6376 §5): choose the header fields (§5.4, §5.4.2 over-signing From), hash
// the canonical body (§5.3, §3.7), build the tag list (v a c d i l q s t x h bh b, §3.5), fold it
// at 78 columns (RFC 5322 §2.1.1) only where FWS is allowed, hash the header fields plus the
// field itself with an empty b= (§3.7), sign (RSASSA-PKCS1-v1_5 SHA-256 or Ed25519, RFC 8463),
// and place the base64 signature after "b=". The field text that was hashed is exactly the final
// field with the b= value removed, so simple and relaxed both verify.
// Must not: sign with rsa-sha1 or an RSA key under 1024 bits (RFC 8301), sign a message whose
// From is not signed (§5.4), read the clock (t= is request.now), or throw.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "gatehouse/core/strings.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {

struct Signer::Key {
  detail::Pkey pkey;
};

namespace {

constexpr std::size_t kWidth = 78;

// Greedy folding: words joined by a space that may become CRLF SP, or glued where FWS is allowed
// (after ':' in h=, inside base64).
class Folder {
 public:
  explicit Folder(std::string start) : out_(std::move(start)), col_(out_.size()) {}
  void word(std::string_view text, bool space) {
    const std::size_t need = text.size() + (space ? 1 : 0);
    if (col_ + need <= kWidth) {
      if (space) out_ += ' ';
      out_ += text;
      col_ += need;
      return;
    }
    out_ += "\r\n ";
    out_ += text;
    col_ = 1 + text.size();
  }
  void base64(std::string_view text) {
    while (!text.empty()) {
      if (col_ >= kWidth) {
        out_ += "\r\n ";
        col_ = 1;
      }
      std::string_view part = text.substr(0, kWidth - col_);
      out_ += part;
      col_ += part.size();
      text.remove_prefix(part.size());
    }
  }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::size_t col_;
};

// "h=a:b:c;" as words: a space in the separator is a fold point, so is the place after a ':'.
void fold_header_list(Folder& f, const std::string& h) {
  std::size_t start = 0;
  bool space = true;  // the tag itself follows "; "
  for (std::size_t i = 0; i <= h.size(); ++i) {
    if (i == h.size() || h[i] == ' ') {
      if (i > start) f.word(std::string_view(h).substr(start, i - start), space);
      space = true;
      start = i + 1;
    } else if (h[i] == ':' && i + 1 < h.size() && h[i + 1] != ' ') {
      f.word(std::string_view(h).substr(start, i + 1 - start), space);
      space = false;
      start = i + 1;
    }
  }
}

bool within_domain(std::string_view identity_domain, std::string_view d) {
  return identity_domain == d || (identity_domain.size() > d.size() &&
                                  identity_domain.substr(identity_domain.size() - d.size()) == d &&
                                  identity_domain[identity_domain.size() - d.size() - 1] == '.');
}

bool valid_name_for_h(std::string_view n) {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c >= 33 && c <= 126 && c != ':';
  });
}

}  // namespace

std::vector<std::string> default_signed_headers(const std::vector<HeaderField>& headers) {
  static constexpr std::array<std::string_view, 12> kUsual = {
      "from", "to", "cc", "subject", "date", "message-id", "reply-to", "mime-version", "content-type",
      "content-transfer-encoding", "in-reply-to", "references"};
  std::vector<std::string> out;
  for (const auto& h : headers) {
    std::string name = core::to_lower(h.name);
    if (std::find(kUsual.begin(), kUsual.end(), name) != kUsual.end() || core::istarts_with(name, "list-"))
      out.push_back(std::move(name));
  }
  out.emplace_back("from");  // over-signed: a From added later breaks the signature
  return out;
}

Expected<Signer> Signer::load(std::string_view private_key) {
  auto key = detail::load_private_key(private_key);
  if (!key) return key.error();
  Signer s;
  s.type_ = EVP_PKEY_is_a(key->get(), "ED25519") ? KeyType::ed25519 : KeyType::rsa;
  s.bits_ = s.type_ == KeyType::ed25519 ? 256u : static_cast<unsigned>(EVP_PKEY_get_bits(key->get()));
  if (s.type_ == KeyType::rsa && s.bits_ < 1024)
    return make_error(fmt::format("private key: {}-bit RSA; RFC 8301 §3.2 requires at least 1024 bits", s.bits_));
  auto k = std::make_shared<Key>();
  k->pkey = std::move(*key);
  s.key_ = std::move(k);
  return s;
}

std::string Signer::public_record() const {
  if (!key_) return {};
  return detail::public_record(key_->pkey.get(), type_);
}

Expected<std::string> Signer::sign(const SignRequest& req) const {
  if (!key_) return make_error("signer has no key");
  if (!req.message) return make_error("no message to sign");
  const Message& msg = *req.message;
  const std::string domain = core::to_lower(req.domain);
  const std::string selector = core::to_lower(req.selector);
  if (!detail::is_domain_name(domain)) return make_error(fmt::format("d={} is not a domain name", req.domain));
  if (!detail::is_domain_name(selector)) return make_error(fmt::format("s={} is not a valid selector", req.selector));
  if (!req.identity.empty()) {
    std::size_t at = req.identity.rfind('@');
    if (at == std::string::npos) return make_error("i= must contain '@'");
    if (!within_domain(core::to_lower(std::string_view(req.identity).substr(at + 1)), domain))
      return make_error(fmt::format("i={} is not within d={}", req.identity, domain));
    if (std::any_of(req.identity.begin(), req.identity.end(),
                    [](char c) { return c == ';' || detail::is_fws(c); }))
      return make_error("i= must not contain ';' or whitespace");
  }
  if (req.expiration && req.timestamp && *req.expiration <= req.now)
    return make_error("x= must be after t=");
  if (req.now < 0 || (req.expiration && *req.expiration < 0)) return make_error("t= and x= must not be negative");

  std::vector<std::string> names = req.headers.empty() ? default_signed_headers(msg.headers) : req.headers;
  bool signs_from = false;
  for (const auto& n : names) {
    if (!valid_name_for_h(n)) return make_error(fmt::format("'{}' is not a header field name", n));
    if (core::iequals(n, "from")) signs_from = true;
  }
  if (!signs_from) return make_error("h= must include From (RFC 6376 §5.4)");
  if (std::none_of(msg.headers.begin(), msg.headers.end(), [](const HeaderField& h) { return core::iequals(h.name, "from"); }))
    return make_error("the message has no From field");
  if (names.size() > kMaxSignedHeaders) return make_error("too many header fields to sign");
  if (req.header_separator.empty() ||
      std::any_of(req.header_separator.begin(), req.header_separator.end(), [](char c) { return c != ':' && c != ' '; }) ||
      std::count(req.header_separator.begin(), req.header_separator.end(), ':') != 1)
    return make_error("header_separator must be ':' with optional spaces");

  BodyDigest digest;
  if (req.body_digest) {
    digest = *req.body_digest;
  } else {
    BodyHasher hasher(req.body_canon);
    hasher.update(msg.body);
    digest = hasher.finish();
  }
  if (digest.sha256.size() != 32) return make_error("the body hash could not be computed");

  const KeyType type = type_;
  const Algorithm alg = type == KeyType::ed25519 ? Algorithm::ed25519_sha256 : Algorithm::rsa_sha256;
  std::vector<std::string> tags;
  tags.push_back("v=1");
  tags.push_back(fmt::format("a={}", to_string(alg)));
  tags.push_back(fmt::format("c={}/{}", to_string(req.header_canon), to_string(req.body_canon)));
  tags.push_back("d=" + domain);
  if (!req.identity.empty()) tags.push_back("i=" + req.identity);
  if (req.body_length) tags.push_back(fmt::format("l={}", digest.canonical_length));
  if (req.query_method) tags.push_back("q=dns/txt");
  tags.push_back("s=" + selector);
  if (req.timestamp) tags.push_back(fmt::format("t={}", req.now));
  if (req.expiration) tags.push_back(fmt::format("x={}", *req.expiration));

  Folder f("DKIM-Signature:");
  for (const auto& t : tags) f.word(t + ";", true);
  std::string h = "h=";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) h += req.header_separator;
    h += names[i];
  }
  h += ";";
  fold_header_list(f, h);
  const std::string bh = detail::base64_encode(digest.sha256) + ";";
  if (bh.size() + 3 + 1 <= kWidth) {
    f.word("bh=" + bh, true);
  } else {
    f.word("bh=", true);
    f.base64(bh);
  }
  f.word("b=", true);

  std::vector<const HeaderField*> selected = select_headers(msg.headers, names);
  std::string data = detail::header_hash_input_unsigned(selected, req.header_canon, f.text());
  auto sig = detail::sign_data(key_->pkey.get(), type, data);
  if (!sig) return make_error("OpenSSL could not sign");
  f.base64(detail::base64_encode(*sig));
  std::string field = f.text() + "\r\n";

  // Self-check: what we wrote must parse as what we meant (catches a bad i=, x= or h=).
  SignatureParse check = parse_signature(std::string_view(field).substr(field.find(':') + 1));
  if (!check.ok()) return make_error(fmt::format("internal: the signature does not parse: {}", check.detail));
  return field;
}

Expected<std::string> try_sign(const SignRequest& request) {
  auto signer = Signer::load(request.private_key);
  if (!signer) return signer.error();
  return signer->sign(request);
}

std::string sign(const SignRequest& request) {
  auto r = try_sign(request);
  return r ? std::move(*r) : std::string{};
}

}  // namespace gatehouse::auth::dkim
