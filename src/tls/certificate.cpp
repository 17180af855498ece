// Certificates as values (certificate.hpp): self-signed creation (RFC 5280 §4.1 and §4.2.1 for
// the fields and extensions we write), PEM (RFC 7468) and PKCS#12 (RFC 7292) import with key
// matching and chain ordering, description, public export, expiry warnings.
// Must not: prompt for a password (every PEM read gets ossl::password_cb), leave an OpenSSL object
// unowned (all live in ossl.hpp unique_ptrs), use deprecated OpenSSL API, or put key material in
// an error message.
#include "gatehouse/tls/certificate.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "certificate_internal.hpp"
#include "gatehouse/core/ipnet.hpp"
#include "gatehouse/core/strings.hpp"
#include "key_access.hpp"
#include "names.hpp"
#include "ossl.hpp"

namespace gatehouse::tls {

using namespace ossl;

namespace {

constexpr std::size_t kMaxInput = 1024 * 1024;  // PEM text or PFX bytes
constexpr std::size_t kMaxBlocks = 32;          // PEM blocks in one import
constexpr std::size_t kMaxCertificates = 16;    // leaf + chain
constexpr std::size_t kMaxAltNames = 100;
constexpr std::size_t kMaxCommonName = 64;  // ub-common-name (RFC 5280 appendix A)
constexpr std::size_t kMaxOrganisation = 64;  // ub-organization-name

Error fail(std::string m) { return make_error(std::move(m)); }

// ---- time ----

std::optional<std::int64_t> to_unix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                           day{static_cast<unsigned>(tm.tm_mday)}};
  const std::int64_t days_since_epoch = sys_days{ymd}.time_since_epoch().count();
  return days_since_epoch * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

// ---- reading certificates ----

std::string name_text(const X509_NAME* name) {
  auto bio = mem_writer();
  if (!bio || name == nullptr) return {};
  // RFC 2253 order and escaping (control characters escaped), but UTF-8 printed as such.
  constexpr unsigned long kFlags = XN_FLAG_RFC2253 & ~static_cast<unsigned long>(ASN1_STRFLGS_ESC_MSB);
  if (X509_NAME_print_ex(bio.get(), name, 0, kFlags) < 0) return {};
  return mem_contents(bio.get());
}

// Printable text of an IA5String or similar from a certificate: control and non-ASCII bytes
// escaped, so a hostile certificate cannot put terminal escapes into our output.
std::string safe_text(const ASN1_STRING* s) {
  std::string out;
  const unsigned char* p = ASN1_STRING_get0_data(s);
  const int n = ASN1_STRING_length(s);
  for (int i = 0; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x20 || c >= 0x7f || c == '\\') out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string common_name_of(const X509_NAME* name) {
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return {};
  OsslMem<unsigned char> owner(utf8);
  std::string out;
  for (int k = 0; k < n; ++k) {
    const unsigned char c = utf8[k];
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string hex_colons(const unsigned char* p, unsigned n) {
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += fmt::format("{:02X}", p[i]);
  }
  return out;
}

}  // namespace

namespace detail {

std::string key_type_text(const EVP_PKEY* k) {
  if (k == nullptr) return "unknown";
  switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
      return fmt::format("RSA {}", EVP_PKEY_get_bits(k));
    case EVP_PKEY_RSA_PSS:
      return fmt::format("RSA-PSS {}", EVP_PKEY_get_bits(k));
    case EVP_PKEY_EC: {
      char group[80] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1) return "EC";
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return fmt::format("EC {}", nist != nullptr ? nist : group);
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    case EVP_PKEY_ED448:
      return "Ed448";
    default: {
      const char* name = EVP_PKEY_get0_type_name(k);
      return fmt::format("{} {}", name != nullptr ? name : "unknown", EVP_PKEY_get_bits(k));
    }
  }
}

Description describe_x509(X509* x) {
  Description d;
  d.subject = name_text(X509_get_subject_name(x));
  d.issuer = name_text(X509_get_issuer_name(x));
  d.common_name = common_name_of(X509_get_subject_name(x));

  GeneralNamesPtr gens(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens.get()); ++i) {
    int type = 0;
    void* value = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens.get(), i), &type);
    if (type == GEN_DNS) {
      d.dns_names.push_back(safe_text(static_cast<const ASN1_STRING*>(value)));
    } else if (type == GEN_IPADD) {
      const auto* s = static_cast<const ASN1_STRING*>(value);
      const int n = ASN1_STRING_length(s);
      if (n == 4 || n == 16) {
        core::IpAddress a;
        a.v6 = n == 16;
        std::copy_n(ASN1_STRING_get0_data(s), n, a.bytes.begin());
        d.ip_addresses.push_back(a.to_string());
      }
    }
  }

  d.not_before = to_unix(X509_get0_notBefore(x)).value_or(0);
  d.not_after = to_unix(X509_get0_notAfter(x)).value_or(0);

  if (BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)); bn) {
    OsslMem<char> hex(BN_bn2hex(bn.get()));
    if (hex) d.serial = hex.get();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (X509_digest(x, EVP_sha256(), md, &md_len) == 1) d.fingerprint_sha256 = hex_colons(md, md_len);
  d.key_type = key_type_text(X509_get0_pubkey(x));
  d.self_signed = X509_self_signed(x, 1) == 1;
  ERR_clear_error();  // X509_self_signed leaves errors behind for a certificate that is not
  return d;
}

Expected<X509Ptr> parse_certificate(std::string_view pem) {
  if (pem.size() > kMaxInput) return fail("the certificate PEM is larger than 1 MiB");
  ERR_clear_error();
  auto bio = mem_reader(pem);
  std::optional<std::string_view> no_password;
  X509Ptr x(bio ? PEM_read_bio_X509(bio.get(), nullptr, password_cb, &no_password) : nullptr);
  if (!x) return fail("not a PEM certificate" + error_suffix());
  return x;
}

Expected<std::vector<X509Ptr>> parse_certificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  if (core::trim(pem).empty()) return out;
  if (pem.size() > kMaxInput) return fail("the certificate PEM is larger than 1 MiB");
  ERR_clear_error();
  auto bio = mem_reader(pem);
  if (!bio) return fail("out of memory");
  std::optional<std::string_view> no_password;
  for (;;) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, password_cb, &no_password));
    if (!x) break;
    if (out.size() == kMaxCertificates) return fail("more than 16 certificates");
    out.push_back(std::move(x));
  }
  const unsigned long e = ERR_peek_last_error();
  if (out.empty() || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) return fail("not PEM certificates" + error_suffix());
  ERR_clear_error();
  return out;
}

Expected<PkeyPtr> parse_private_key(std::string_view pem) {
  if (pem.size() > kMaxInput) return fail("the key PEM is larger than 1 MiB");
  ERR_clear_error();
  auto bio = mem_reader(pem);
  std::optional<std::string_view> no_password;
  PkeyPtr k(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, password_cb, &no_password) : nullptr);
  if (!k) return fail("not an unencrypted PEM private key" + error_suffix());
  return k;
}

std::string pem_of(X509* x) {
  auto bio = mem_writer();
  if (!bio || PEM_write_bio_X509(bio.get(), x) != 1) return {};
  return mem_contents(bio.get());
}

Status check_key_pair(std::string_view cert_pem, std::string_view chain_pem, std::string_view key_pem) {
  auto cert = parse_certificate(cert_pem);
  if (!cert) return fail("certificate: " + cert.error().message);
  auto chain = parse_certificates(chain_pem);
  if (!chain) return fail("chain: " + chain.error().message);
  auto key = parse_private_key(key_pem);
  if (!key) return fail("private key: " + key.error().message);
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1) {
    ERR_clear_error();
    return fail("the private key does not match the certificate");
  }
  return {};
}

}  // namespace detail

namespace {

using detail::describe_x509;
using detail::pem_of;

std::string subject_of(X509* x) {
  auto s = name_text(X509_get_subject_name(x));
  return s.empty() ? "(empty subject)" : s;
}

// RSA at least 2048 bits, EC on a NIST curve TLS uses, or EdDSA.
Status check_key_strength(const EVP_PKEY* k) {
  const int id = EVP_PKEY_get_base_id(k);
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
    if (EVP_PKEY_get_bits(k) < 2048)
      return fail(fmt::format("the {} key is too weak: RSA keys need at least 2048 bits", detail::key_type_text(k)));
    return {};
  }
  if (id == EVP_PKEY_EC) {
    const auto t = detail::key_type_text(k);
    if (t == "EC P-256" || t == "EC P-384" || t == "EC P-521") return {};
    return fail(fmt::format("the {} key is not supported: EC keys must use P-256, P-384 or P-521", t));
  }
  if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) return {};
  return fail(fmt::format("the {} key is not supported for TLS certificates (use RSA or EC)", detail::key_type_text(k)));
}

// True when `issuer` issued `child`: names (and key identifiers) link and the signature verifies.
bool issued_by(X509* child, X509* issuer) {
  const bool ok = X509_check_issued(issuer, child) == X509_V_OK &&
                  X509_verify(child, X509_get0_pubkey(issuer)) == 1;
  ERR_clear_error();
  return ok;
}

// Builds the record from a key and the certificates that came with it: picks the leaf (the one
// whose public key is the key's), orders the others leaf -> issuer, refuses what does not link.
Expected<CertificateRecord> assemble(PkeyPtr key, std::vector<X509Ptr> certs) {
  if (certs.empty()) return fail("no certificate found (expected a -----BEGIN CERTIFICATE----- block)");
  if (certs.size() > kMaxCertificates) return fail("more than 16 certificates");
  // Drop exact duplicates (a chain file concatenated twice, a PFX listing the leaf again).
  std::vector<X509Ptr> unique;
  for (auto& c : certs)
    if (std::none_of(unique.begin(), unique.end(), [&](const X509Ptr& u) { return X509_cmp(u.get(), c.get()) == 0; }))
      unique.push_back(std::move(c));

  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < unique.size(); ++i)
    if (EVP_PKEY_eq(X509_get0_pubkey(unique[i].get()), key.get()) == 1) matches.push_back(i);
  ERR_clear_error();
  if (matches.empty()) {
    if (unique.size() == 1)
      return fail(fmt::format("the private key does not match the certificate {}", names::quote(subject_of(unique[0].get()))));
    return fail(fmt::format("the private key matches none of the {} certificates", unique.size()));
  }
  if (matches.size() > 1)
    return fail(fmt::format("{} certificates match the private key ({} and {}); give only the one to use",
                            matches.size(), names::quote(subject_of(unique[matches[0]].get())),
                            names::quote(subject_of(unique[matches[1]].get()))));
  if (auto st = check_key_strength(key.get()); !st) return st.error();

  X509Ptr leaf = std::move(unique[matches[0]]);
  unique.erase(unique.begin() + static_cast<std::ptrdiff_t>(matches[0]));
  std::vector<X509Ptr> chain;
  X509* current = leaf.get();
  while (!unique.empty()) {
    auto it = std::find_if(unique.begin(), unique.end(), [&](const X509Ptr& c) { return issued_by(current, c.get()); });
    if (it == unique.end()) break;
    chain.push_back(std::move(*it));
    unique.erase(it);
    current = chain.back().get();
  }
  if (!unique.empty())
    return fail(fmt::format(
        "the chain does not link: certificate {} did not issue {} (checked by issuer name and signature), nor "
        "any other certificate given; remove it or add the missing intermediate",
        names::quote(subject_of(unique.front().get())), names::quote(subject_of(current))));

  CertificateRecord rec;
  static_cast<Description&>(rec) = describe_x509(leaf.get());
  rec.cert_pem = pem_of(leaf.get());
  for (auto& c : chain) rec.chain_pem += pem_of(c.get());
  auto bio = mem_writer();
  // No cipher: PKCS#8 "PRIVATE KEY", stored in the 0700 data directory (docs/encryption.md).
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail("cannot encode the private key" + error_suffix());
  detail::KeyAccess::set_key_pem(rec, mem_contents(bio.get()));
  if (rec.cert_pem.empty()) return fail("cannot encode the certificate" + error_suffix());
  return rec;
}

// ---- PEM import ----

struct PemBlock {
  std::string name;
  std::string header;
  std::string data;  // DER
};

Expected<std::vector<PemBlock>> read_pem_blocks(std::string_view text) {
  ERR_clear_error();
  auto bio = mem_reader(text);
  if (!bio) return fail("out of memory");
  std::vector<PemBlock> out;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    const int ok = PEM_read_bio(bio.get(), &name, &header, &data, &len);
    OsslMem<char> n(name), h(header);
    OsslMem<unsigned char> d(data);
    if (ok != 1) {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      return fail(fmt::format("PEM block {} is damaged{}", out.size() + 1, error_suffix()));
    }
    if (out.size() == kMaxBlocks) return fail("more than 32 PEM blocks");
    out.push_back({name, header, std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len))});
  }
  if (out.empty())
    return fail("no PEM data found (expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks)");
  return out;
}

Expected<PkeyPtr> decode_key_block(const PemBlock& b, std::optional<std::string_view> password) {
  const bool encrypted = b.name == "ENCRYPTED PRIVATE KEY" || b.header.find("ENCRYPTED") != std::string::npos;
  if (encrypted && !password)
    return fail("the private key is encrypted: give its password (--password-file FILE), or decrypt it first");
  // Re-encode the one block and let OpenSSL's decoders handle every key format and encryption.
  auto out = mem_writer();
  if (!out || PEM_write_bio(out.get(), b.name.c_str(), b.header.c_str(),
                            reinterpret_cast<const unsigned char*>(b.data.data()), static_cast<long>(b.data.size())) <= 0)
    return fail("out of memory");
  const std::string pem = mem_contents(out.get());
  auto in = mem_reader(pem);
  ERR_clear_error();
  PkeyPtr k(PEM_read_bio_PrivateKey(in.get(), nullptr, password_cb, &password));
  if (!k) {
    if (encrypted) {
      ERR_clear_error();
      return fail("the private key could not be decrypted: wrong password?");
    }
    return fail("the private key could not be read" + error_suffix());
  }
  return k;
}

// ---- create ----

struct KeySpec {
  bool ec = false;
  unsigned bits = 0;
};

std::optional<KeySpec> parse_key_spec(std::string_view s) {
  const auto v = core::to_lower(core::trim(s));
  if (v == "rsa:2048") return KeySpec{false, 2048};
  if (v == "rsa:3072") return KeySpec{false, 3072};
  if (v == "rsa:4096") return KeySpec{false, 4096};
  if (v == "ec:p256" || v == "ec:p-256") return KeySpec{true, 256};
  return std::nullopt;
}

// Number of code points, or nullopt when `s` is not valid UTF-8 or holds control characters.
std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) n = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1Fu;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0Fu;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07u;
    else return std::nullopt;
    if (i + n > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;  // overlong, surrogate
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return std::nullopt;                         // C0, DEL, C1
    i += n;
    ++count;
  }
  return count;
}

struct SanList {
  std::vector<std::string> dns;
  std::vector<core::IpAddress> ips;
  std::size_t size() const { return dns.size() + ips.size(); }
  void add(const std::string& d) {
    if (std::find(dns.begin(), dns.end(), d) == dns.end()) dns.push_back(d);
  }
  void add(const core::IpAddress& a) {
    if (std::find(ips.begin(), ips.end(), a) == ips.end()) ips.push_back(a);
  }
};

Status add_ext(X509* x, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
    return fail(fmt::format("cannot add the {} extension{}", OBJ_nid2sn(nid), error_suffix()));
  return {};
}

Status add_san(X509* x, const SanList& sans) {
  GeneralNamesPtr gens(GENERAL_NAMES_new());
  if (!gens) return fail("out of memory");
  auto push = [&](int type, const unsigned char* p, std::size_t n) -> bool {
    Asn1StringPtr s(type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new());
    GeneralNamePtr gn(GENERAL_NAME_new());
    if (!s || !gn || ASN1_STRING_set(s.get(), p, static_cast<int>(n)) != 1) return false;
    GENERAL_NAME_set0_value(gn.get(), type, s.release());
    if (sk_GENERAL_NAME_push(gens.get(), gn.get()) <= 0) return false;
    gn.release();
    return true;
  };
  for (const auto& d : sans.dns)
    if (!push(GEN_DNS, reinterpret_cast<const unsigned char*>(d.data()), d.size())) return fail("out of memory");
  for (const auto& a : sans.ips)
    if (!push(GEN_IPADD, a.bytes.data(), a.v6 ? 16 : 4)) return fail("out of memory");
  return add_ext(x, NID_subject_alt_name, gens.get(), false);
}

Status add_name_entry(X509_NAME* name, int nid, int type, const std::string& value) {
  if (X509_NAME_add_entry_by_NID(name, nid, type, reinterpret_cast<const unsigned char*>(value.c_str()),
                                 static_cast<int>(value.size()), -1, 0) != 1)
    return fail(fmt::format("cannot set the subject {}{}", OBJ_nid2sn(nid), error_suffix()));
  return {};
}

}  // namespace

// ---- public API ----

std::string iso8601_utc(std::int64_t s) {
  using namespace std::chrono;
  std::int64_t days_since_epoch = s / 86400, rem = s % 86400;
  if (rem < 0) rem += 86400, --days_since_epoch;
  const year_month_day ymd{sys_days{days{days_since_epoch}}};
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), rem / 3600,
                     rem / 60 % 60, rem % 60);
}

Expected<Description> describe(std::string_view cert_pem) {
  auto x = detail::parse_certificate(cert_pem);
  if (!x) return x.error();
  return describe_x509(x->get());
}

std::string export_public_pem(const CertificateInfo& cert) {
  std::string out = cert.cert_pem;
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += cert.chain_pem;
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

Expected<CertificateRecord> create_self_signed(const CreateRequest& req) {
  // --host
  SanList sans;
  std::string cn;
  const auto host = core::trim(req.host);
  if (host.empty()) return fail("--host: a host name is required (the name clients connect to)");
  if (auto ip = names::parse_ip_literal(host)) {
    cn = ip->to_string();
    sans.add(*ip);
  } else {
    auto h = names::normalize_dns_name(host, true);
    if (!h) return fail(fmt::format("--host {}: {}", names::quote(host), h.error().message));
    cn = *h;
    sans.add(*h);
  }
  if (cn.size() > kMaxCommonName)
    return fail(fmt::format("--host {}: longer than 64 characters, the most a certificate's common name can hold "
                            "(use a shorter --host and put this name in --alt)", names::quote(host)));
  // --org
  const auto org = std::string(core::trim(req.organisation));
  if (org.empty()) return fail("--org: an organisation name is required");
  auto org_len = utf8_length(org);
  if (!org_len) return fail(fmt::format("--org {}: not valid UTF-8 text, or contains control characters", names::quote(org)));
  if (*org_len > kMaxOrganisation)
    return fail(fmt::format("--org {}: longer than 64 characters, the most a certificate allows", names::quote(org)));
  // --alt
  for (const auto& item : core::split(req.alt_names, ',')) {
    if (auto ip = names::parse_ip_literal(item)) {
      sans.add(*ip);
    } else {
      auto d = names::normalize_dns_name(item, true);
      if (!d) return fail(fmt::format("--alt {}: {}", names::quote(item), d.error().message));
      sans.add(*d);
    }
    if (sans.size() > kMaxAltNames) return fail("--alt: more than 100 names");
  }
  // --key
  const auto spec = parse_key_spec(req.key);
  if (!spec) return fail(fmt::format("--key {}: expected rsa:2048, rsa:3072, rsa:4096 or ec:p256", names::quote(req.key)));
  // --country
  std::string country;
  if (!core::trim(req.country).empty()) {
    auto c = names::normalize_country(req.country);
    if (!c) return fail(fmt::format("--country {}: {}", names::quote(req.country), c.error().message));
    country = *c;
  }
  // --days
  if (req.validity_days < 1 || req.validity_days > kMaxValidityDays)
    return fail(fmt::format("--days {}: must be a whole number of days from 1 to {}", req.validity_days, kMaxValidityDays));

  ERR_clear_error();
  PkeyPtr key(spec->ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(spec->bits)));
  if (!key) return fail("cannot generate the key" + error_suffix());

  X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) return fail("out of memory");

  // Serial: 128 random bits with the top bit cleared, so the INTEGER is positive (RFC 5280
  // §4.1.2.2: at most 20 octets; CA/B Forum: at least 64 bits from a CSPRNG).
  unsigned char serial[16];
  BnPtr bn;
  do {
    if (RAND_bytes(serial, sizeof serial) != 1) return fail("cannot generate a serial number" + error_suffix());
    serial[0] &= 0x7F;
    bn.reset(BN_bin2bn(serial, sizeof serial, nullptr));
    if (!bn) return fail("out of memory");
  } while (BN_is_zero(bn.get()));
  if (BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) == nullptr) return fail("out of memory");

  std::time_t start = static_cast<std::time_t>(
      core::to_unix(req.not_before ? *req.not_before : core::SysTime(std::chrono::system_clock::now())));
  if (X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, 0, &start) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(x.get()), req.validity_days, 0, &start) == nullptr)
    return fail("cannot set the validity period" + error_suffix());

  X509_NAME* name = X509_get_subject_name(x.get());
  if (!country.empty())
    if (auto st = add_name_entry(name, NID_countryName, MBSTRING_ASC, country); !st) return st.error();
  if (auto st = add_name_entry(name, NID_organizationName, MBSTRING_UTF8, org); !st) return st.error();
  if (auto st = add_name_entry(name, NID_commonName, MBSTRING_ASC, cn); !st) return st.error();
  if (X509_set_issuer_name(x.get(), name) != 1 || X509_set_pubkey(x.get(), key.get()) != 1)
    return fail("cannot build the certificate" + error_suffix());

  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return fail("out of memory");
  bc->ca = 0;
  if (auto st = add_ext(x.get(), NID_basic_constraints, bc.get(), true); !st) return st.error();

  Asn1BitStringPtr ku(ASN1_BIT_STRING_new());
  if (!ku || ASN1_BIT_STRING_set_bit(ku.get(), 0, 1) != 1) return fail("out of memory");  // digitalSignature
  if (!spec->ec && ASN1_BIT_STRING_set_bit(ku.get(), 2, 1) != 1) return fail("out of memory");  // keyEncipherment
  if (auto st = add_ext(x.get(), NID_key_usage, ku.get(), true); !st) return st.error();

  EkuPtr eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return fail("out of memory");
  for (int nid : {NID_server_auth, NID_client_auth})
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid)) <= 0) return fail("out of memory");
  if (auto st = add_ext(x.get(), NID_ext_key_usage, eku.get(), false); !st) return st.error();

  // subjectKeyIdentifier, RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits.
  unsigned char ski[EVP_MAX_MD_SIZE];
  unsigned ski_len = 0;
  Asn1OctetStringPtr ski_oct(ASN1_OCTET_STRING_new());
  if (!ski_oct || X509_pubkey_digest(x.get(), EVP_sha1(), ski, &ski_len) != 1 ||
      ASN1_OCTET_STRING_set(ski_oct.get(), ski, static_cast<int>(ski_len)) != 1)
    return fail("cannot compute the subject key identifier" + error_suffix());
  if (auto st = add_ext(x.get(), NID_subject_key_identifier, ski_oct.get(), false); !st) return st.error();

  if (auto st = add_san(x.get(), sans); !st) return st.error();

  if (X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) return fail("cannot sign the certificate" + error_suffix());

  std::vector<X509Ptr> certs;
  certs.push_back(std::move(x));
  return assemble(std::move(key), std::move(certs));
}

Expected<CertificateRecord> import_pem(std::string_view pem, std::optional<std::string_view> password) {
  if (pem.size() > kMaxInput) return fail("the PEM input is larger than 1 MiB");
  auto blocks = read_pem_blocks(pem);
  if (!blocks) return blocks.error();
  std::vector<X509Ptr> certs;
  std::optional<PkeyPtr> key;
  for (const auto& b : *blocks) {
    if (b.name == "CERTIFICATE" || b.name == "X509 CERTIFICATE" || b.name == "TRUSTED CERTIFICATE") {
      const auto* p = reinterpret_cast<const unsigned char*>(b.data.data());
      const long len = static_cast<long>(b.data.size());
      X509Ptr x(b.name == "TRUSTED CERTIFICATE" ? d2i_X509_AUX(nullptr, &p, len) : d2i_X509(nullptr, &p, len));
      if (!x) return fail(fmt::format("certificate {} cannot be read{}", certs.size() + 1, error_suffix()));
      certs.push_back(std::move(x));
    } else if (b.name == "PRIVATE KEY" || b.name == "ENCRYPTED PRIVATE KEY" || b.name == "RSA PRIVATE KEY" ||
               b.name == "EC PRIVATE KEY") {
      if (key) return fail("more than one private key found; give only the certificate's key");
      auto k = decode_key_block(b, password);
      if (!k) return k.error();
      key = std::move(*k);
    } else if (b.name == "EC PARAMETERS") {
      continue;  // written by `openssl ecparam -genkey` before the key; the key names its curve
    } else {
      return fail(fmt::format("unexpected PEM block {} (expected CERTIFICATE blocks and one PRIVATE KEY)",
                              names::quote(b.name)));
    }
  }
  if (!key) return fail("no private key found: put the certificate's key in the same PEM input (-----BEGIN PRIVATE KEY-----)");
  return assemble(std::move(*key), std::move(certs));
}

Expected<CertificateRecord> import_pfx(std::string_view der, std::string_view password) {
  if (der.size() > kMaxInput) return fail("the PKCS#12 file is larger than 1 MiB");
  ERR_clear_error();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (!p12) {
    ERR_clear_error();
    return fail("not a PKCS#12 (PFX) file");
  }
  const std::string pw(password);
  const char* pass = pw.c_str();
  if (PKCS12_mac_present(p12.get()) == 1) {
    if (PKCS12_verify_mac(p12.get(), pw.c_str(), static_cast<int>(pw.size())) != 1) {
      const auto why = take_error();  // empty: the MAC did not match; else it could not be computed
      if (pw.empty() && PKCS12_verify_mac(p12.get(), nullptr, 0) == 1) {
        pass = nullptr;  // the "no password" encoding
      } else if (why.empty()) {
        ERR_clear_error();
        return fail("wrong password for the PKCS#12 file");
      } else {
        ERR_clear_error();
        return fail(fmt::format("cannot check the PKCS#12 file's integrity ({})", why));
      }
    }
  }
  EVP_PKEY* raw_key = nullptr;
  X509* raw_cert = nullptr;
  STACK_OF(X509)* raw_ca = nullptr;
  const int ok = PKCS12_parse(p12.get(), pass, &raw_key, &raw_cert, &raw_ca);
  PkeyPtr key(raw_key);
  X509Ptr cert(raw_cert);
  X509StackPtr ca(raw_ca);
  if (ok != 1) {
    const auto why = take_error();
    if (why.find("unsupported") != std::string::npos)
      return fail(
          "the PKCS#12 file uses an algorithm OpenSSL 3 does not load by default (such as RC2-40 from older "
          "Windows exports); re-export it with AES, or convert it: openssl pkcs12 -legacy -in FILE -nodes | "
          "gatehouse cert import --pem -");
    if (PKCS12_mac_present(p12.get()) != 1) return fail("cannot decrypt the PKCS#12 file: wrong password?");
    return fail(fmt::format("cannot read the PKCS#12 file ({})", why.empty() ? "no details" : why));
  }
  if (!key) return fail("the PKCS#12 file holds no private key");
  std::vector<X509Ptr> certs;
  if (cert) certs.push_back(std::move(cert));
  while (ca && sk_X509_num(ca.get()) > 0) certs.emplace_back(sk_X509_shift(ca.get()));
  return assemble(std::move(key), std::move(certs));
}

std::optional<std::string> expiry_warning(const CertificateInfo& cert, core::SysTime now) {
  const std::int64_t left = cert.not_after - core::to_unix(now);
  const std::int64_t days_left = left / 86400;
  if (left > std::int64_t{kExpiryWarnDays} * 86400) return std::nullopt;
  std::string label = !cert.dns_names.empty() ? cert.dns_names.front()
                      : !cert.common_name.empty() ? cert.common_name
                                                  : cert.subject;
  const std::string who = fmt::format("{}certificate {} ({})", cert.active ? "the active " : "", cert.id, label);
  const std::string when = iso8601_utc(cert.not_after);
  if (left <= 0)
    return fmt::format("{} expired on {}: clients that check certificates will refuse it; create or import a new one "
                       "and activate it", who, when);
  const std::string in = days_left == 0   ? std::string("less than a day")
                         : days_left == 1 ? std::string("1 day")
                                          : fmt::format("{} days", days_left);
  if (left <= std::int64_t{kExpiryUrgentDays} * 86400)
    return fmt::format("{} expires in {}, on {}: renew it now", who, in, when);
  return fmt::format("{} expires in {}, on {}: renew it soon", who, in, when);
}

}  // namespace gatehouse::tls
