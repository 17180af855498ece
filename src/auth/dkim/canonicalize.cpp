// DKIM canonicalization (RFC 6376 §3.4): header fields (simple §3.4.1, relaxed §3.4.2), the
// body as a stream (simple §3.4.3, relaxed §3.4.4, l= §3.4.5), header selection bottom-up
// (§5.4.2), the header hash input with the b= value removed (§3.5 b=, §3.7), and the body
// hashes one message needs (one SHA-256 per distinct c=/l=), fed with the spool's chunks.
// Must not: throw, keep more than a constant amount of state per hasher (trailing empty lines
// and whitespace are counted, not buffered), or read the clock.
#include <openssl/evp.h>

#include <algorithm>

#include "gatehouse/core/strings.hpp"
#include "internal.hpp"

namespace gatehouse::auth::dkim {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

class StringSink final : public BodySink {
 public:
  explicit StringSink(std::string& s) : s_(s) {}
  void write(std::string_view bytes) override { s_.append(bytes); }

 private:
  std::string& s_;
};

}  // namespace

std::string canonicalize_header(Canon c, std::string_view raw) {
  if (c == Canon::simple) return std::string(raw);
  std::size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  std::string out = core::to_lower(name);
  out.push_back(':');
  if (colon == std::string_view::npos) {
    out += "\r\n";
    return out;
  }
  std::string_view value = raw.substr(colon + 1);
  bool wsp = false;
  bool started = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char ch = value[i];
    if (ch == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {  // unfold
      ++i;
      continue;
    }
    if (is_wsp(ch)) {
      wsp = true;
      continue;
    }
    if (wsp && started) out.push_back(' ');
    wsp = false;
    started = true;
    out.push_back(ch);
  }
  out += "\r\n";
  return out;
}

std::vector<const HeaderField*> select_headers(const std::vector<HeaderField>& headers,
                                               const std::vector<std::string>& names) {
  std::vector<const HeaderField*> out;
  std::vector<std::pair<std::string, std::size_t>> next;  // name -> search below this index
  for (const auto& name : names) {
    auto it = std::find_if(next.begin(), next.end(), [&](const auto& p) { return core::iequals(p.first, name); });
    if (it == next.end()) {
      next.emplace_back(name, headers.size());
      it = std::prev(next.end());
    }
    std::size_t i = it->second;
    while (i > 0) {
      --i;
      if (core::iequals(headers[i].name, name)) {
        out.push_back(&headers[i]);
        break;
      }
    }
    it->second = i;  // found at i: search below it next time; not found: i is 0
  }
  return out;
}

// ---- body

void BodyCanonicalizer::flush_pending(BodySink& out) {
  static constexpr std::string_view kCrlfs =
      "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
      "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
  while (pending_crlf_ > 0) {
    std::uint64_t n = std::min<std::uint64_t>(pending_crlf_, kCrlfs.size() / 2);
    out.write(kCrlfs.substr(0, static_cast<std::size_t>(n * 2)));
    pending_crlf_ -= n;
  }
  if (pending_wsp_) out.write(" ");
  pending_wsp_ = false;
}

void BodyCanonicalizer::update(std::string_view chunk, BodySink& out) {
  const bool relaxed = canon_ == Canon::relaxed;
  std::size_t i = 0;
  const std::size_t n = chunk.size();
  while (i < n) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (chunk[i] == '\n') {  // a line end: trailing whitespace goes, the CRLF waits
        pending_wsp_ = false;
        ++pending_crlf_;
        line_open_ = false;
        ++i;
        continue;
      }
      flush_pending(out);  // a bare CR is content
      out.write("\r");
      any_content_ = line_open_ = true;
    }
    char c = chunk[i];
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (relaxed && is_wsp(c)) {
      pending_wsp_ = true;
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && chunk[j] != '\r' && !(relaxed && is_wsp(chunk[j]))) ++j;
    flush_pending(out);
    out.write(chunk.substr(i, j - i));
    any_content_ = line_open_ = true;
    i = j;
  }
}

void BodyCanonicalizer::finish(BodySink& out) {
  if (pending_cr_) {
    pending_cr_ = false;
    flush_pending(out);
    out.write("\r");
    any_content_ = line_open_ = true;
  }
  pending_wsp_ = false;  // whitespace at the very end is trailing whitespace
  if (!any_content_) {
    if (canon_ == Canon::simple) out.write("\r\n");  // empty body: CRLF (simple), nothing (relaxed)
  } else if (pending_crlf_ > 0 || line_open_) {
    out.write("\r\n");  // trailing empty lines collapse; a missing final CRLF is added
  }
  pending_crlf_ = 0;
  line_open_ = false;
}

std::string canonicalize_body(Canon c, std::string_view body) {
  std::string out;
  StringSink sink(out);
  BodyCanonicalizer canon(c);
  canon.update(body, sink);
  canon.finish(sink);
  return out;
}

struct BodyHasher::Impl final : BodySink {
  Impl(Canon c, std::optional<std::uint64_t> l) : canon(c), limit(l), ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) failed = true;
  }
  void write(std::string_view bytes) override {
    digest.canonical_length += bytes.size();
    std::size_t take = bytes.size();
    if (limit) take = static_cast<std::size_t>(std::min<std::uint64_t>(take, *limit - digest.hashed_length));
    if (take == 0 || failed) return;
    // The canonicalizer writes words and spaces one by one; hashing them in 16 KiB batches is
    // what makes a large body cost about what SHA-256 costs (docs/benchmarks.md).
    buffer.append(bytes.data(), take);
    if (buffer.size() >= kBatch) flush();
    digest.hashed_length += take;
  }
  void flush() {
    if (!buffer.empty() && !failed && EVP_DigestUpdate(ctx.get(), buffer.data(), buffer.size()) != 1) failed = true;
    buffer.clear();
  }
  static constexpr std::size_t kBatch = 16 * 1024;
  std::string buffer;
  BodyCanonicalizer canon;
  std::optional<std::uint64_t> limit;
  detail::MdCtx ctx;
  BodyDigest digest;
  bool failed = false;
  bool finished = false;
};

BodyHasher::BodyHasher(Canon c, std::optional<std::uint64_t> limit) : impl_(std::make_unique<Impl>(c, limit)) {}
BodyHasher::~BodyHasher() = default;
BodyHasher::BodyHasher(BodyHasher&&) noexcept = default;
BodyHasher& BodyHasher::operator=(BodyHasher&&) noexcept = default;

void BodyHasher::update(std::string_view chunk) {
  if (!impl_ || impl_->finished) return;
  impl_->canon.update(chunk, *impl_);
}

BodyDigest BodyHasher::finish() {
  if (!impl_) return {};
  if (!impl_->finished) {
    impl_->canon.finish(*impl_);
    impl_->flush();
    impl_->finished = true;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!impl_->failed && EVP_DigestFinal_ex(impl_->ctx.get(), md, &len) == 1)
      impl_->digest.sha256.assign(reinterpret_cast<const char*>(md), len);
    impl_->ctx.reset();
  }
  return impl_->digest;
}

struct BodyHashes::Impl {
  struct Entry {
    Canon canon;
    std::optional<std::uint64_t> limit;
    BodyHasher hasher;
    BodyDigest digest;
  };
  std::vector<Entry> entries;
  bool finished = false;
};

BodyHashes::BodyHashes() : impl_(std::make_unique<Impl>()) {}

BodyHashes::BodyHashes(const std::vector<HeaderField>& headers, const VerifyOptions& options)
    : impl_(std::make_unique<Impl>()) {
  std::size_t seen = 0;
  for (const auto& h : headers) {
    if (!core::iequals(h.name, "DKIM-Signature")) continue;
    if (seen++ >= options.max_signatures) break;
    std::size_t colon = h.raw.find(':');
    if (colon == std::string::npos) continue;
    SignatureParse p = parse_signature(std::string_view(h.raw).substr(colon + 1));
    if (!p.ok() || p.signature.algorithm == Algorithm::rsa_sha1) continue;
    add(p.signature.body_canon, p.signature.body_length);
  }
}

BodyHashes::~BodyHashes() = default;
BodyHashes::BodyHashes(BodyHashes&&) noexcept = default;
BodyHashes& BodyHashes::operator=(BodyHashes&&) noexcept = default;

void BodyHashes::add(Canon c, std::optional<std::uint64_t> limit) {
  if (impl_->finished) return;
  for (const auto& e : impl_->entries)
    if (e.canon == c && e.limit == limit) return;
  impl_->entries.push_back(Impl::Entry{c, limit, BodyHasher(c, limit), {}});
}

void BodyHashes::update(std::string_view chunk) {
  for (auto& e : impl_->entries) e.hasher.update(chunk);
}

void BodyHashes::finish() {
  if (impl_->finished) return;
  for (auto& e : impl_->entries) e.digest = e.hasher.finish();
  impl_->finished = true;
}

const BodyDigest* BodyHashes::find(Canon c, std::optional<std::uint64_t> limit) const {
  if (!impl_->finished) return nullptr;
  for (const auto& e : impl_->entries)
    if (e.canon == c && e.limit == limit) return &e.digest;
  return nullptr;
}

std::size_t BodyHashes::size() const { return impl_->entries.size(); }

namespace detail {

namespace {

void strip_final_crlf(std::string& s) {
  if (s.size() >= 2 && s.compare(s.size() - 2, 2, "\r\n") == 0) s.resize(s.size() - 2);
}

std::string selected_input(const std::vector<const HeaderField*>& selected, Canon canon) {
  std::string data;
  for (const HeaderField* h : selected) data += canonicalize_header(canon, h->raw);
  return data;
}

}  // namespace

std::string header_hash_input(const std::vector<const HeaderField*>& selected, Canon canon,
                              std::string_view sig_raw, std::size_t value_offset, const Tag& b_tag) {
  std::string data = selected_input(selected, canon);
  std::string without_b(sig_raw.substr(0, value_offset + b_tag.after_equals));
  without_b.append(sig_raw.substr(std::min(sig_raw.size(), value_offset + b_tag.spec_end)));
  std::string c = canonicalize_header(canon, without_b);
  strip_final_crlf(c);
  data += c;
  return data;
}

std::string header_hash_input_unsigned(const std::vector<const HeaderField*>& selected, Canon canon,
                                       std::string_view sig_raw) {
  std::string data = selected_input(selected, canon);
  std::string c = canonicalize_header(canon, sig_raw);
  strip_final_crlf(c);
  data += c;
  return data;
}

}  // namespace detail

}  // namespace gatehouse::auth::dkim
