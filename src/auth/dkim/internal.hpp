// DKIM internals shared by the files of src/auth/dkim and their tests (not installed): the
// tag-list parser (RFC 6376 §3.2), base64 (§2.4, FWS allowed inside), the header hash input
// (§3.7), OpenSSL handles that free themselves, and the few crypto calls (RSASSA-PKCS1-v1_5
// SHA-256, Ed25519 over SHA-256 per RFC 8463 §3).
// Must not: throw on input data, call deprecated OpenSSL API, or leave an OpenSSL error on the
// thread's queue after a failed parse.
#pragma once
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/auth/dkim.hpp"

namespace gatehouse::auth::dkim::detail {

// ---- tag-list (§3.2)
struct Tag {
  std::string_view name;
  std::string_view value;       // without surrounding FWS
  std::size_t after_equals = 0; // offset just after '=' in the parsed text
  std::size_t spec_end = 0;     // offset of the ';' ending the spec, or the text's size
};

struct TagList {
  std::vector<Tag> tags;
  Reason error = Reason::none;  // syntax or duplicate_tag
  std::string detail;
  const Tag* find(std::string_view name) const;
};

// Views into `text`, which must outlive the result.
TagList parse_tag_list(std::string_view text);

bool is_fws(char c);                          // SP, HTAB, CR, LF
std::string strip_fws(std::string_view s);    // removes every FWS character
std::string_view trim_fws(std::string_view s);

// ---- base64 (RFC 4648 §4, padding required when present; FWS ignored)
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// ---- names
bool is_domain_name(std::string_view s);  // LDH + '_' labels, 1..63 each, <= 253, no trailing dot

// ---- header hash input (§3.7): selected headers, then the signature field with the value of
// b= removed (§3.5 b=: "including all surrounding whitespace"), without its final CRLF.
// `value_offset` is the offset of the field value (after the colon) in `sig_raw`; `b_tag` the
// b= tag as parsed from that value.
std::string header_hash_input(const std::vector<const HeaderField*>& selected, Canon canon,
                              std::string_view sig_raw, std::size_t value_offset, const Tag& b_tag);
// The same for a signature field being built: `sig_raw` ends with "b=" (no value yet, no CRLF).
std::string header_hash_input_unsigned(const std::vector<const HeaderField*>& selected, Canon canon,
                                       std::string_view sig_raw);

// ---- OpenSSL handles
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::optional<std::string> sha256(std::string_view data);

struct PublicKey {
  Pkey pkey;
  unsigned bits = 0;
  Reason error = Reason::none;  // key_invalid, key_type_mismatch
  std::string detail;
};
// RSA: SubjectPublicKeyInfo DER, or a bare RSAPublicKey DER (dkimpy accepts both); the whole
// buffer must be consumed. Ed25519: exactly 32 raw bytes.
PublicKey load_public_key(KeyType type, std::string_view der);

enum class VerifyOutcome { valid, invalid, error };
// RSA: RSASSA-PKCS1-v1_5 with SHA-256 over `data`. Ed25519: PureEdDSA over SHA-256(data).
VerifyOutcome verify_data(EVP_PKEY* key, KeyType type, std::string_view data, std::string_view signature);
// The matching signing operation; nullopt if OpenSSL fails.
std::optional<std::string> sign_data(EVP_PKEY* key, KeyType type, std::string_view data);

// Private key from PEM or a base64 Ed25519 seed; error text on failure.
Expected<Pkey> load_private_key(std::string_view text);
// "v=DKIM1; k=...; p=..." for the public half of `key`.
std::string public_record(EVP_PKEY* key, KeyType type);

}  // namespace gatehouse::auth::dkim::detail
