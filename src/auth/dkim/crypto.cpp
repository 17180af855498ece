// DKIM crypto on OpenSSL 3 EVP (no deprecated API, toolchain.md §4.7): SHA-256, public keys from
// key records (RSA SubjectPublicKeyInfo or bare RSAPublicKey DER; Ed25519 raw 32 bytes,
// RFC 8463 §4), RSASSA-PKCS1-v1_5 SHA-256 (RFC 6376 §3.3.1) and Ed25519 over the SHA-256 of
// the header data (RFC 8463 §3), private key loading, TXT record text, key generation.
// Must not: leak an OpenSSL object (every one is owned by a unique_ptr or freed on each path),
// leave errors on the thread's OpenSSL error queue after an expected failure, prompt for a
// passphrase, or sign/verify rsa-sha1 (RFC 8301: never implemented here).
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <fmt/format.h>

#include "internal.hpp"

namespace gatehouse::auth::dkim {

namespace detail {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// Refuses every passphrase prompt: encrypted keys fail to load instead of blocking on a tty.
int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::optional<std::string> sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

namespace {

// The usual DKIM RSA key, a SubjectPublicKeyInfo with the rsaEncryption algorithm, decoded without
// OpenSSL 3.0's generic decoder: d2i_PUBKEY sets up a decoder context per call (~150-200 us, six
// times the RSA-2048 verification itself; see docs/benchmarks.md), while the inner RSAPublicKey
// decodes in about a microsecond. The DER is walked with ASN1_get_object (OpenSSL's parser); any
// other shape (other algorithm identifiers, odd encodings) returns null and d2i_PUBKEY decides.
Pkey rsa_spki_fast(std::string_view der) {
  // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }, and without the NULL.
  static constexpr unsigned char kAlgWithNull[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                   0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
  static constexpr unsigned char kAlgNoParams[] = {0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48,
                                                   0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
  const unsigned char* p = bytes(der);
  const unsigned char* end = p + der.size();
  long len = 0;
  int tag = 0, cls = 0;
  int r = ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(der.size()));
  if ((r & 0x80) != 0 || r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL ||
      p + len != end)
    return nullptr;
  auto rest = static_cast<std::size_t>(end - p);
  if (rest >= sizeof kAlgWithNull && std::memcmp(p, kAlgWithNull, sizeof kAlgWithNull) == 0) p += sizeof kAlgWithNull;
  else if (rest >= sizeof kAlgNoParams && std::memcmp(p, kAlgNoParams, sizeof kAlgNoParams) == 0)
    p += sizeof kAlgNoParams;
  else return nullptr;
  r = ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(end - p));
  if ((r & 0x80) != 0 || r != 0 || tag != V_ASN1_BIT_STRING || cls != V_ASN1_UNIVERSAL || len < 2 ||
      p + len != end || *p != 0)  // no unused bits
    return nullptr;
  const unsigned char* inner = p + 1;
  Pkey key(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &inner, len - 1));
  if (key && inner != end) key.reset();
  if (!key) ERR_clear_error();
  return key;
}

}  // namespace

PublicKey load_public_key(KeyType type, std::string_view der) {
  PublicKey out;
  if (type == KeyType::ed25519) {
    if (der.size() != 32) {
      out.error = Reason::key_invalid;
      out.detail = fmt::format("an Ed25519 key is 32 bytes, p= holds {}", der.size());
      return out;
    }
    out.pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(der), der.size()));
    if (!out.pkey) {
      ERR_clear_error();
      out.error = Reason::key_invalid;
      out.detail = "p= is not an Ed25519 public key";
      return out;
    }
    out.bits = 256;
    return out;
  }
  if (der.size() > static_cast<std::size_t>(kMaxKeyRecord)) {
    out.error = Reason::key_invalid;
    out.detail = "p= too long";
    return out;
  }
  const auto len = static_cast<long>(der.size());
  const unsigned char* p = bytes(der);
  out.pkey = rsa_spki_fast(der);
  if (!out.pkey) {
    out.pkey.reset(d2i_PUBKEY(nullptr, &p, len));
    if (out.pkey && p != bytes(der) + der.size()) out.pkey.reset();  // trailing bytes
  }
  if (!out.pkey) {
    p = bytes(der);
    out.pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, len));  // bare RSAPublicKey (dkimpy)
    if (out.pkey && p != bytes(der) + der.size()) out.pkey.reset();
  }
  ERR_clear_error();
  if (!out.pkey) {
    out.error = Reason::key_invalid;
    out.detail = "p= is neither a SubjectPublicKeyInfo nor an RSAPublicKey";
    return out;
  }
  if (!EVP_PKEY_is_a(out.pkey.get(), "RSA")) {
    out.error = Reason::key_type_mismatch;
    out.detail = fmt::format("k=rsa but p= holds a {} key", EVP_PKEY_get0_type_name(out.pkey.get()));
    out.pkey.reset();
    return out;
  }
  out.bits = static_cast<unsigned>(EVP_PKEY_get_bits(out.pkey.get()));
  return out;
}

VerifyOutcome verify_data(EVP_PKEY* key, KeyType type, std::string_view data, std::string_view signature) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return VerifyOutcome::error;
  std::string digest;
  std::string_view input = data;
  const EVP_MD* md = EVP_sha256();
  if (type == KeyType::ed25519) {
    auto h = sha256(data);
    if (!h) return VerifyOutcome::error;
    digest = std::move(*h);
    input = digest;
    md = nullptr;  // PureEdDSA: the "message" is the SHA-256 of the header data (RFC 8463 §3)
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    ERR_clear_error();
    return VerifyOutcome::error;
  }
  int r = EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input), input.size());
  ERR_clear_error();
  return r == 1 ? VerifyOutcome::valid : VerifyOutcome::invalid;
}

std::optional<std::string> sign_data(EVP_PKEY* key, KeyType type, std::string_view data) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return std::nullopt;
  std::string digest;
  std::string_view input = data;
  const EVP_MD* md = EVP_sha256();
  if (type == KeyType::ed25519) {
    auto h = sha256(data);
    if (!h) return std::nullopt;
    digest = std::move(*h);
    input = digest;
    md = nullptr;
  }
  std::size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, bytes(input), input.size()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes(input), input.size()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  sig.resize(len);
  return sig;
}

Expected<Pkey> load_private_key(std::string_view text) {
  Pkey key;
  if (text.find("-----BEGIN") != std::string_view::npos) {
    if (text.size() > 64 * 1024) return make_error("private key: PEM text too long");
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return make_error("private key: out of memory");
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();
    if (!key) return make_error("private key: not an unencrypted PEM private key");
  } else {
    auto seed = base64_decode(text);
    if (!seed || seed->size() != 32)
      return make_error("private key: neither PEM nor the base64 of a 32-byte Ed25519 seed");
    key.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(*seed), seed->size()));
    ERR_clear_error();
    if (!key) return make_error("private key: not an Ed25519 seed");
  }
  if (!EVP_PKEY_is_a(key.get(), "RSA") && !EVP_PKEY_is_a(key.get(), "ED25519"))
    return make_error(fmt::format("private key: {} keys cannot sign DKIM (RSA or Ed25519 only)",
                                  EVP_PKEY_get0_type_name(key.get())));
  return key;
}

std::string public_record(EVP_PKEY* key, KeyType type) {
  std::string raw;
  if (type == KeyType::ed25519) {
    std::size_t len = 0;
    if (EVP_PKEY_get_raw_public_key(key, nullptr, &len) == 1) {
      raw.resize(len);
      if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1) raw.clear();
    }
  } else {
    int len = i2d_PUBKEY(key, nullptr);
    if (len > 0) {
      raw.resize(static_cast<std::size_t>(len));
      auto* p = reinterpret_cast<unsigned char*>(raw.data());
      if (i2d_PUBKEY(key, &p) != len) raw.clear();
    }
  }
  ERR_clear_error();
  return fmt::format("v=DKIM1; k={}; p={}", to_string(type), base64_encode(raw));
}

}  // namespace detail

std::vector<std::string> split_txt_strings(std::string_view record, std::size_t max) {
  std::vector<std::string> out;
  if (max == 0) max = 255;
  for (std::size_t pos = 0; pos < record.size(); pos += max) out.emplace_back(record.substr(pos, max));
  if (out.empty()) out.emplace_back();
  return out;
}

std::string quote_txt(std::string_view record) {
  std::string out;
  for (const auto& s : split_txt_strings(record)) {
    if (!out.empty()) out.push_back(' ');
    out.push_back('"');
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

Expected<GeneratedKey> generate_key(KeyType type, unsigned rsa_bits) {
  GeneratedKey out;
  out.type = type;
  detail::Pkey key;
  if (type == KeyType::rsa) {
    if (rsa_bits != 2048 && rsa_bits != 3072 && rsa_bits != 4096)
      return make_error(fmt::format("RSA key size {} is not 2048, 3072 or 4096", rsa_bits));
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits)));
    out.bits = rsa_bits;
  } else {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    out.bits = 256;
  }
  if (!key) {
    ERR_clear_error();
    return make_error("key generation failed");
  }
  detail::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return make_error("could not write the private key as PEM");
  }
  char* data = nullptr;
  long len = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  if (len <= 0 || !data) return make_error("could not write the private key as PEM");
  out.private_pem.assign(data, static_cast<std::size_t>(len));
  out.record = detail::public_record(key.get(), type);
  out.txt = quote_txt(out.record);
  return out;
}

}  // namespace gatehouse::auth::dkim
