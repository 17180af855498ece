// DKIM (RFC 6376, with RFC 8301 and RFC 8463): the public API of the feature. Verification of
// every DKIM-Signature of a message (§6), signing (§5), the pure pieces both use (tag-list and
// key-record parsers §3.2/§3.5/§3.6.1, header and body canonicalization §3.4, header selection
// §5.4.2) and key generation. mail-auth style: parsing, canonicalization and crypto are pure
// (bytes and values in, values out); only verify() awaits, to fetch keys over the caller's
// dns::Resolver.
// Streaming: the body hash runs on the same chunks as the spool write (architecture.md §3.6):
// build BodyHashes from the header block, feed it each chunk, finish(), then verify(headers,
// hashes). Signing takes a BodyDigest from a BodyHasher the same way.
// Must not: read the clock (`now` is passed in), throw for anything a message, signature or DNS
// answer contains, read past the caps below, or accept rsa-sha1 / RSA keys under 1024 bits as
// valid (RFC 8301). Key generation is the one non-pure function (it draws random numbers).
#pragma once
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/dns/resolver.hpp"

namespace gatehouse::auth::dkim {

// ---------------------------------------------------------------------------------------------
// Caps. Anything longer is refused (a permerror for signatures and key records), never read.
inline constexpr std::size_t kMaxSignatureField = 16 * 1024;  // one DKIM-Signature field, raw
inline constexpr std::size_t kMaxKeyRecord = 8 * 1024;        // one key TXT record
inline constexpr std::size_t kMaxSignedHeaders = 512;         // names in h=
inline constexpr std::size_t kMaxHeaderFields = 1000;         // split_message()
inline constexpr std::size_t kMaxHeaderBlock = 1024 * 1024;   // split_message(): bytes before the body

// ---------------------------------------------------------------------------------------------
// Messages. A header field keeps its raw bytes: simple canonicalization needs them unchanged.
struct HeaderField {
  std::string name;  // field name as written (case kept, without WSP before the colon)
  std::string raw;   // the whole field: name, colon, value, folds and its final CRLF
};

struct Message {
  std::vector<HeaderField> headers;  // top to bottom
  std::string body;                  // everything after the empty line, CRLF line ends
};

// LF-only text (test files, dkimpy's vectors) to CRLF: every LF not preceded by CR gets one.
std::string lf_to_crlf(std::string_view text);

// Splits a complete CRLF message into header fields and body (RFC 5322 §2.1, §2.2). A leading
// mbox "From " line is skipped (as dkimpy does). Errors: a line in the header block that is not a
// field ("line N: ..."), more than kMaxHeaderFields fields or kMaxHeaderBlock bytes of header.
// A message without an empty line is all header and has an empty body.
Expected<Message> split_message(std::string_view message);

// ---------------------------------------------------------------------------------------------
// Algorithms (§3.3, RFC 8463) and canonicalization (§3.4).
enum class Algorithm { rsa_sha256, ed25519_sha256, rsa_sha1 };  // rsa_sha1: recognised, never valid
enum class Canon { simple, relaxed };
enum class KeyType { rsa, ed25519 };
std::string_view to_string(Algorithm a);  // "rsa-sha256", "ed25519-sha256", "rsa-sha1"
std::string_view to_string(Canon c);      // "simple", "relaxed"
std::string_view to_string(KeyType k);    // "rsa", "ed25519"

// ---------------------------------------------------------------------------------------------
// Results (RFC 8601 §2.7.1) and why.
//  pass       the signature verified (see SignatureResult::unsigned_body_bytes for l=)
//  fail       the cryptographic check ran and failed: body hash or signature mismatch
//  neutral    not evaluated (more than max_signatures), or a non-pass from a key in testing
//             mode (t=y: §3.6.1 says treat it as unsigned mail)
//  policy     valid by RFC 6376 but refused by VerifyOptions: t= too far in the future, RSA key
//             below min_rsa_bits (but >= 1024), body bytes after l= when reject_partial_body
//  temperror  the key could not be fetched now (DNS timeout/SERVFAIL); internal crypto failure
//  permerror  every other §6.1 PERMFAIL: syntax, missing/duplicate tags, unsupported algorithm
//             (rsa-sha1 per RFC 8301), h= without From, i= outside d=, x= expired, no key,
//             revoked or unusable key, key under 1024 bits
// `none` is never produced per signature: a message without DKIM-Signature gives an empty
// vector, and Authentication-Results then says dkim=none.
enum class Result { none, pass, fail, neutral, policy, temperror, permerror };
std::string_view to_string(Result r);  // RFC 8601 spelling

enum class Reason {
  none,
  // fail
  body_hash_mismatch,
  signature_mismatch,
  // permerror: the signature
  syntax,                    // tag-list syntax, bad tag value, over-long field
  duplicate_tag,             // §3.2: a tag appears twice
  missing_tag,               // v a b bh d h s are required
  unsupported_version,       // v= is not 1
  unsupported_algorithm,     // a= unknown
  rsa_sha1,                  // a=rsa-sha1: RFC 8301 §3.1, verifiers must not consider it valid
  unsupported_canonicalization,
  unsupported_query_method,  // q= without dns/txt
  from_not_signed,           // §5.4: h= must include From
  identity_mismatch,         // §3.5 i=: not d= or a subdomain of it
  expired,                   // x= is before now
  expiry_before_timestamp,   // x= is not after t=
  body_length_exceeds,       // l= is larger than the canonical body
  // permerror: the key
  key_not_found,             // NXDOMAIN / no TXT record (§6.1.2 "no key for signature")
  key_unavailable,           // DNS answered with a permanent error (REFUSED, bad name)
  key_syntax,                // the record is not a tag-list, v= is not DKIM1, p= is missing
  key_revoked,               // p= is empty
  key_type_unknown,          // k= is not rsa or ed25519
  key_type_mismatch,         // k= (or the key in p=) does not match a=
  key_hash_not_allowed,      // key h= does not list sha256
  key_service_not_email,     // key s= lists neither email nor *
  key_invalid,               // p= does not decode to a key of its type
  key_too_small,             // RSA under 1024 bits (RFC 8301 §3.2)
  strict_identity,           // key t=s and i= names a subdomain of d=
  // temperror
  key_dns_temporary,         // DNS timeout / SERVFAIL
  internal,                  // an OpenSSL call failed (allocation)
  // policy
  timestamp_in_future,       // t= later than now + future_skew
  key_below_policy,          // RSA key below VerifyOptions::min_rsa_bits
  body_length_extra,         // l= leaves body bytes unsigned and reject_partial_body is set
  // neutral
  not_evaluated,             // beyond VerifyOptions::max_signatures
  testing,                   // key t=y turned a non-pass into neutral (detail says which)
};
std::string_view to_string(Reason r);  // short English text, "body hash mismatch"

// ---------------------------------------------------------------------------------------------
// A parsed DKIM-Signature (§3.5). Tag values are kept as written except where noted.
struct Signature {
  std::optional<Algorithm> algorithm;  // unset when a= is unknown
  std::string algorithm_name;          // a= as written
  std::string b;                       // b= decoded (raw signature bytes)
  std::string b_text;                  // b= base64 without FWS (for header.b)
  std::string bh;                      // bh= decoded
  Canon header_canon = Canon::simple;  // c= (default simple/simple)
  Canon body_canon = Canon::simple;
  std::string domain;                  // d=, lower-case
  std::vector<std::string> signed_headers;  // h=, lower-case, in order
  std::string identity;                // i= as written; "@" + d= when absent
  std::optional<std::uint64_t> body_length;  // l= (values over 2^64-1 are capped)
  std::string selector;                // s=, lower-case
  std::optional<std::int64_t> timestamp;   // t= (more than 12 digits: treated as "far future")
  std::optional<std::int64_t> expiration;  // x=
  std::string copied_headers;          // z= as written, not interpreted
};

struct SignatureParse {
  Signature signature;  // filled as far as parsing got (d=, s=, i=, a= for the report)
  Reason error = Reason::none;
  std::string detail;
  bool ok() const { return error == Reason::none; }
};
// `value` is the field value after "DKIM-Signature:" (folds kept, final CRLF optional).
// Checks everything that needs no key and no clock: required tags, versions, algorithms,
// canonicalization, q=, From in h=, i= within d=, x= after t=.
SignatureParse parse_signature(std::string_view value);

// A key record (§3.6.1).
struct KeyRecord {
  KeyType type = KeyType::rsa;            // k= (default rsa)
  std::vector<std::string> hashes;        // h= (empty: any)
  std::string public_key;                 // p= decoded: SubjectPublicKeyInfo / RSAPublicKey DER, or 32 raw bytes
  std::vector<std::string> services;      // s= (default "*")
  bool testing = false;                   // t=y
  bool strict = false;                    // t=s
  std::string notes;                      // n=
};

struct KeyParse {
  KeyRecord key;
  Reason error = Reason::none;  // key_syntax, key_revoked, key_type_unknown, key_service_not_email...
  std::string detail;
  bool ok() const { return error == Reason::none; }
};
KeyParse parse_key_record(std::string_view txt);

// ---------------------------------------------------------------------------------------------
// Canonicalization (§3.4) and header selection (§5.4.2).

// The header field as it enters the hash: relaxed gives "name:value\r\n" (§3.4.2), simple the
// raw bytes (§3.4.1).
std::string canonicalize_header(Canon c, std::string_view raw_field);

// For each name in `names` (in order) the last not yet used field of that name, bottom-up;
// names with no field left are skipped (§5.4.2). Pointers into `headers`.
std::vector<const HeaderField*> select_headers(const std::vector<HeaderField>& headers,
                                               const std::vector<std::string>& names);

// Receives canonical body bytes.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual void write(std::string_view bytes) = 0;
};

// Incremental body canonicalization (§3.4.3, §3.4.4): feed the body in chunks of any size, cut
// anywhere (even inside CRLF). Trailing empty lines and trailing whitespace are held back as
// counts, so memory stays constant; bytes are written to the sink as soon as they are final.
// A body that does not end in CRLF gets one; an empty body is CRLF (simple) or empty (relaxed).
class BodyCanonicalizer {
 public:
  explicit BodyCanonicalizer(Canon c) : canon_(c) {}
  void update(std::string_view chunk, BodySink& out);
  void finish(BodySink& out);

 private:
  void flush_pending(BodySink& out);
  Canon canon_;
  std::uint64_t pending_crlf_ = 0;  // line ends not yet written (maybe trailing empty lines)
  bool pending_cr_ = false;         // the last byte was CR
  bool pending_wsp_ = false;        // relaxed: whitespace run not yet written
  bool line_open_ = false;          // content written since the last line end
  bool any_content_ = false;        // any content byte at all
};

// The whole body at once (tests, small bodies).
std::string canonicalize_body(Canon c, std::string_view body);

// The hash of a canonical body.
struct BodyDigest {
  std::string sha256;                  // 32 raw bytes; empty if the digest failed (internal)
  std::uint64_t canonical_length = 0;  // the whole canonical body
  std::uint64_t hashed_length = 0;     // what was hashed (min(canonical_length, limit))
};

// Canonicalizer + SHA-256 over the first `limit` canonical bytes (l=), counting all of them.
class BodyHasher {
 public:
  explicit BodyHasher(Canon c, std::optional<std::uint64_t> limit = std::nullopt);
  ~BodyHasher();
  BodyHasher(BodyHasher&&) noexcept;
  BodyHasher& operator=(BodyHasher&&) noexcept;
  BodyHasher(const BodyHasher&) = delete;
  BodyHasher& operator=(const BodyHasher&) = delete;

  void update(std::string_view chunk);
  BodyDigest finish();  // once; later calls return the same digest

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct VerifyOptions;

// The body hashes the signatures of one message need: one hasher per distinct (c= body, l=)
// among the DKIM-Signature fields that parse (at most max_signatures of them).
class BodyHashes {
 public:
  BodyHashes();
  BodyHashes(const std::vector<HeaderField>& headers, const VerifyOptions& options);
  ~BodyHashes();
  BodyHashes(BodyHashes&&) noexcept;
  BodyHashes& operator=(BodyHashes&&) noexcept;

  void add(Canon c, std::optional<std::uint64_t> limit);  // idempotent
  void update(std::string_view chunk);
  void finish();
  // After finish(): the digest for (c, limit), or nullptr if it was not computed.
  const BodyDigest* find(Canon c, std::optional<std::uint64_t> limit) const;
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Verification (§6).
struct VerifyOptions {
  std::int64_t now = 0;             // seconds since the epoch, for x= and t=
  std::int64_t future_skew = 36000; // t= later than now + this: policy (dkimpy's 10 h); < 0: never
  unsigned min_rsa_bits = 1024;     // keys below 1024 are always permerror; 1024..this-1: policy
  bool reject_partial_body = false; // pass with bytes after l=: policy instead
  std::size_t max_signatures = 10;  // later signatures: neutral / not_evaluated, no DNS query
};

struct SignatureResult {
  Result result = Result::permerror;
  Reason reason = Reason::none;
  std::string detail;          // for logs: what exactly (never message content)
  std::string domain;          // header.d
  std::string selector;        // header.s
  std::string identity;        // header.i ("@" + d when i= is absent)
  std::string algorithm;       // header.a, as written
  std::string header_b;        // RFC 6008 header.b: shortest prefix of b= (>= 8 chars) unique in the message
  std::size_t field_index = 0; // index of the DKIM-Signature field in the header list
  unsigned key_bits = 0;       // 0 when no key was loaded
  bool testing = false;        // key t=y
  std::optional<std::uint64_t> body_length;  // l=
  std::uint64_t unsigned_body_bytes = 0;     // canonical body bytes after l= (not covered)
};

// Every DKIM-Signature field of the message, top to bottom, one result each (empty if none).
// `dns` and `message` must outlive the awaitable. DNS failures are results, never exceptions;
// exceptions from the resolver itself (cancellation) propagate. Keys are fetched one after the
// other; a key name used twice is queried once.
boost::asio::awaitable<std::vector<SignatureResult>> verify(dns::Resolver& dns, const Message& message,
                                                            VerifyOptions options);
// The streaming form: `body` was built from `headers` and has been fed and finished.
boost::asio::awaitable<std::vector<SignatureResult>> verify(dns::Resolver& dns,
                                                            const std::vector<HeaderField>& headers,
                                                            const BodyHashes& body, VerifyOptions options);

// The TXT name of the key: "<s>._domainkey.<d>".
std::string key_query_name(const Signature& sig);

// Pure core of verify() for one signature: the DKIM-Signature at headers[field_index], given the
// DNS answer for its key name. header_b is the first 8 characters of b=.
SignatureResult verify_signature(const std::vector<HeaderField>& headers, std::size_t field_index,
                                 const BodyHashes& body, const dns::Answer& key_answer,
                                 const VerifyOptions& options);

// RFC 6008 §3: for each result, the shortest prefix (at least 8 characters) of its b= that no
// other signature's b= in `results` starts with. Called by verify().
void assign_header_b(std::vector<SignatureResult>& results, const std::vector<std::string>& b_values);

// ---------------------------------------------------------------------------------------------
// Signing (§5).

// h= default: each field of the message whose name is in the usual set (from, to, cc, subject,
// date, message-id, reply-to, mime-version, content-type, content-transfer-encoding,
// in-reply-to, references, list-*), top to bottom, lower-case, then "from" once more
// (over-signing: nobody can add a second From without breaking the signature).
std::vector<std::string> default_signed_headers(const std::vector<HeaderField>& headers);

struct SignRequest {
  // PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY", RSA or Ed25519), or the base64 of a
  // raw 32-byte Ed25519 seed (RFC 8463 A.1, dkimpy's format). Unencrypted only.
  // The algorithm follows the key: RSA -> rsa-sha256, Ed25519 -> ed25519-sha256.
  std::string private_key;
  const Message* message = nullptr;      // must be set; must outlive the call
  std::optional<BodyDigest> body_digest; // streaming: from a BodyHasher(body_canon) without limit;
                                         // when set, message->body is not read
  std::string domain;                    // d=
  std::string selector;                  // s=
  Canon header_canon = Canon::relaxed;
  Canon body_canon = Canon::relaxed;
  std::vector<std::string> headers;      // explicit h= (in order, written as given); empty: default_signed_headers()
  std::string header_separator = ":";    // between h= names (dkimpy and RFC 8463 print " : ")
  std::string identity;                  // i=; empty: no i= tag (it defaults to "@" + d)
  bool query_method = false;             // q=dns/txt
  std::int64_t now = 0;                  // t=
  bool timestamp = true;                 // write t=
  std::optional<std::int64_t> expiration;  // x= (absolute, must be after now)
  bool body_length = false;              // l= (the canonical body length)
};

// A loaded private key (architecture.md §4: DKIM keys live only in Signer objects). Cheap to copy
// (shared, immutable).
class Signer {
 public:
  static Expected<Signer> load(std::string_view private_key);
  KeyType type() const { return type_; }
  unsigned bits() const { return bits_; }
  // The DKIM-Signature header field, folded at 78 columns, CRLF-terminated; request.private_key
  // is not used. Errors: no message/From, From not in h=, bad d=/s=/i=, x= not after t=.
  Expected<std::string> sign(const SignRequest& request) const;
  // "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" / "v=DKIM1; k=ed25519; p=<base64 raw key>".
  std::string public_record() const;

 private:
  struct Key;
  std::shared_ptr<const Key> key_;
  KeyType type_ = KeyType::rsa;
  unsigned bits_ = 0;
};

// Loads request.private_key and signs. try_sign says why it cannot; sign returns "" then.
Expected<std::string> try_sign(const SignRequest& request);
std::string sign(const SignRequest& request);

// ---------------------------------------------------------------------------------------------
// Key generation (not pure: random). RSA 2048/3072/4096 (other sizes refused) or Ed25519.
struct GeneratedKey {
  KeyType type = KeyType::rsa;
  unsigned bits = 0;
  std::string private_pem;  // PKCS#8 PEM, unencrypted
  std::string record;       // "v=DKIM1; k=rsa; p=..." in one piece
  std::string txt;          // the record as quoted strings of <= 255 chars, space-separated
};
Expected<GeneratedKey> generate_key(KeyType type, unsigned rsa_bits = 2048);

// A TXT record split into character-strings of at most `max` bytes (RFC 1035 §3.3: 255).
std::vector<std::string> split_txt_strings(std::string_view record, std::size_t max = 255);
// Those strings quoted for a zone file / DNS panel: "\"v=DKIM1; ...\" \"...\"".
std::string quote_txt(std::string_view record);

}  // namespace gatehouse::auth::dkim
