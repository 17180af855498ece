// Unit tests for certificate.hpp: self-signed creation read back field by field with plain
// OpenSSL, validation messages, PEM and PKCS#12 import (key matching, chain ordering), describe,
// export, expiry warnings, and the name/country checks.
// Must not depend on the network or on files outside a temporary directory.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <openssl/provider.h>
#include <openssl/x509_vfy.h>

#include "gatehouse/tls/certificate.hpp"
#include "names.hpp"
#include "test_support.hpp"

using namespace gatehouse;
using namespace gatehouse::tls;
using namespace gatehouse::tls::test;

namespace {

constexpr std::int64_t kStart = 1'800'000'000;  // 2027-01-15T08:00:00Z

std::string error_of(const Expected<CertificateRecord>& r) { return r ? std::string() : r.error().message; }

std::string entry(X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "<none>";
  EXPECT_EQ(X509_NAME_get_index_by_NID(name, nid, i), -1) << "attribute present twice";
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
}

int entry_type(X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  return i < 0 ? -1 : ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
}

bool critical(X509* x, int nid) {
  const int i = X509_get_ext_by_NID(x, nid, -1);
  EXPECT_GE(i, 0) << OBJ_nid2sn(nid) << " missing";
  return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

// Verifies `x` against itself as the only trust anchor, for TLS server use, optionally for a
// host name or IP address (OpenSSL's own name matching, wildcards included).
int verify_self(X509* x, const char* host, const char* ip) {
  std::unique_ptr<X509_STORE, Free<X509_STORE_free>> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), x);
  std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), x, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_time(param, kStart + 86400);
  if (host) X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : err;
}

struct Expect {
  std::string key;       // request
  int base_id;           // EVP_PKEY_RSA / EVP_PKEY_EC
  int bits;              // key size
  int signature_nid;     // sha256WithRSAEncryption / ecdsa-with-SHA256
  uint32_t key_usage;    // KU_* bits
  std::string key_type;  // Description::key_type
};

void check_created(const Expect& e) {
  SCOPED_TRACE(e.key);
  CreateRequest req;
  req.host = "Mail.Example.COM.";
  req.organisation = "Example Ltd";
  req.alt_names = "*.example.com, mx2.example.net ,192.0.2.10,2001:db8::25,mail.example.com";
  req.key = e.key;
  req.country = "gb";
  req.not_before = core::from_unix(kStart);
  auto rec = create_self_signed(req);
  ASSERT_TRUE(rec) << rec.error().message;

  auto x = read_cert(rec->cert_pem);
  ASSERT_TRUE(x);
  EXPECT_TRUE(rec->chain_pem.empty());
  EXPECT_EQ(X509_get_version(x.get()), X509_VERSION_3);

  // Subject and issuer: C, O, CN (in that order), identical.
  X509_NAME* subject = X509_get_subject_name(x.get());
  EXPECT_EQ(X509_NAME_entry_count(subject), 3);
  EXPECT_EQ(entry(subject, NID_commonName), "mail.example.com");
  EXPECT_EQ(entry(subject, NID_organizationName), "Example Ltd");
  EXPECT_EQ(entry(subject, NID_countryName), "GB");
  EXPECT_EQ(entry_type(subject, NID_countryName), V_ASN1_PRINTABLESTRING);
  EXPECT_EQ(entry_type(subject, NID_organizationName), V_ASN1_UTF8STRING);
  EXPECT_EQ(X509_NAME_cmp(subject, X509_get_issuer_name(x.get())), 0);

  // subjectAltName: host first, duplicates dropped, wildcard and IPs kept.
  GeneralNamesPtr gens(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_TRUE(gens);
  std::vector<std::string> dns, ips;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens.get()); ++i) {
    int type = 0;
    auto* v = static_cast<ASN1_STRING*>(GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens.get(), i), &type));
    std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)), static_cast<std::size_t>(ASN1_STRING_length(v)));
    if (type == GEN_DNS) dns.push_back(bytes);
    else if (type == GEN_IPADD) ips.push_back(bytes);
    else ADD_FAILURE() << "unexpected GENERAL_NAME type " << type;
  }
  EXPECT_EQ(dns, (std::vector<std::string>{"mail.example.com", "*.example.com", "mx2.example.net"}));
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(ips[0], std::string("\xc0\x00\x02\x0a", 4));
  EXPECT_EQ(ips[1], std::string("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x25", 16));
  EXPECT_FALSE(critical(x.get(), NID_subject_alt_name));

  // Key.
  EVP_PKEY* pub = X509_get0_pubkey(x.get());
  EXPECT_EQ(EVP_PKEY_get_base_id(pub), e.base_id);
  EXPECT_EQ(EVP_PKEY_get_bits(pub), e.bits);
  if (e.base_id == EVP_PKEY_EC) {
    char group[64] = {};
    std::size_t len = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(pub, group, sizeof group, &len), 1);
    EXPECT_STREQ(group, "prime256v1");
  }
  const auto& key_pem = key_of(*rec);
  EXPECT_TRUE(key_pem.starts_with("-----BEGIN PRIVATE KEY-----")) << "PKCS#8 expected";
  auto key = read_key(key_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_eq(pub, key.get()), 1);

  // Validity: exactly the requested start, 825 days.
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x.get()), static_cast<time_t>(kStart)), 0);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x.get()), X509_get0_notAfter(x.get())), 1);
  EXPECT_EQ(days, 825);
  EXPECT_EQ(secs, 0);

  // Signature and serial.
  EXPECT_EQ(X509_get_signature_nid(x.get()), e.signature_nid);
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x.get()), nullptr));
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_LE(BN_num_bits(serial.get()), 127);
  EXPECT_GT(BN_num_bits(serial.get()), 64);  // fails with probability 2^-63

  // Extensions: exactly these five.
  EXPECT_EQ(X509_get_ext_count(x.get()), 5);
  std::unique_ptr<BASIC_CONSTRAINTS, Free<BASIC_CONSTRAINTS_free>> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_EQ(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);
  EXPECT_TRUE(critical(x.get(), NID_basic_constraints));
  EXPECT_EQ(X509_get_key_usage(x.get()), e.key_usage);
  EXPECT_TRUE(critical(x.get(), NID_key_usage));
  EXPECT_EQ(X509_get_extended_key_usage(x.get()), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  std::unique_ptr<EXTENDED_KEY_USAGE, Free<EXTENDED_KEY_USAGE_free>> eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x.get(), NID_ext_key_usage, nullptr, nullptr)));
  ASSERT_TRUE(eku);
  ASSERT_EQ(sk_ASN1_OBJECT_num(eku.get()), 2);
  EXPECT_EQ(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), 0)), NID_server_auth);
  EXPECT_EQ(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), 1)), NID_client_auth);
  EXPECT_FALSE(critical(x.get(), NID_ext_key_usage));
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x.get());
  ASSERT_NE(ski, nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  ASSERT_EQ(X509_pubkey_digest(x.get(), EVP_sha1(), md, &md_len), 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)), static_cast<std::size_t>(ASN1_STRING_length(ski))),
            std::string(reinterpret_cast<const char*>(md), md_len));
  EXPECT_FALSE(critical(x.get(), NID_subject_key_identifier));

  // Self-signed: the signature verifies with its own key, and OpenSSL's chain verification
  // accepts it as a trust anchor for TLS servers under each of its names.
  EXPECT_EQ(X509_verify(x.get(), pub), 1);
  EXPECT_EQ(X509_self_signed(x.get(), 1), 1);
  EXPECT_EQ(verify_self(x.get(), "mail.example.com", nullptr), X509_V_OK);
  EXPECT_EQ(verify_self(x.get(), "anything.example.com", nullptr), X509_V_OK);
  EXPECT_EQ(verify_self(x.get(), "mx2.example.net", nullptr), X509_V_OK);
  EXPECT_EQ(verify_self(x.get(), nullptr, "192.0.2.10"), X509_V_OK);
  EXPECT_EQ(verify_self(x.get(), nullptr, "2001:db8::25"), X509_V_OK);
  EXPECT_EQ(verify_self(x.get(), "a.b.example.com", nullptr), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(verify_self(x.get(), "example.org", nullptr), X509_V_ERR_HOSTNAME_MISMATCH);

  // The record's description agrees.
  EXPECT_EQ(rec->subject, "CN=mail.example.com,O=Example Ltd,C=GB");
  EXPECT_EQ(rec->issuer, rec->subject);
  EXPECT_EQ(rec->common_name, "mail.example.com");
  EXPECT_EQ(rec->dns_names, (std::vector<std::string>{"mail.example.com", "*.example.com", "mx2.example.net"}));
  EXPECT_EQ(rec->ip_addresses, (std::vector<std::string>{"192.0.2.10", "2001:db8::25"}));
  EXPECT_EQ(rec->not_before, kStart);
  EXPECT_EQ(rec->not_after, kStart + 825 * 86400);
  EXPECT_EQ(rec->key_type, e.key_type);
  EXPECT_TRUE(rec->self_signed);
  unsigned char fp[EVP_MAX_MD_SIZE];
  unsigned fp_len = 0;
  ASSERT_EQ(X509_digest(x.get(), EVP_sha256(), fp, &fp_len), 1);
  ASSERT_EQ(rec->fingerprint_sha256.size(), 32u * 3 - 1);
  EXPECT_EQ(rec->fingerprint_sha256.substr(0, 5), fmt::format("{:02X}:{:02X}", fp[0], fp[1]));
  EXPECT_EQ(rec->id, 0);
  EXPECT_FALSE(rec->active);
}

TestCert weak_rsa_cert() { return make_cert("weak.example.com", nullptr, false, rsa_key(1024)); }

}  // namespace

// ---- create ----

TEST(CreateSelfSigned, Rsa2048) {
  check_created({"rsa:2048", EVP_PKEY_RSA, 2048, NID_sha256WithRSAEncryption,
                 KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, "RSA 2048"});
}
TEST(CreateSelfSigned, Rsa3072) {
  check_created({"rsa:3072", EVP_PKEY_RSA, 3072, NID_sha256WithRSAEncryption,
                 KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, "RSA 3072"});
}
TEST(CreateSelfSigned, Rsa4096) {
  check_created({"RSA:4096", EVP_PKEY_RSA, 4096, NID_sha256WithRSAEncryption,
                 KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, "RSA 4096"});
}
TEST(CreateSelfSigned, EcP256) {
  check_created({"ec:p256", EVP_PKEY_EC, 256, NID_ecdsa_with_SHA256, KU_DIGITAL_SIGNATURE, "EC P-256"});
}

TEST(CreateSelfSigned, DefaultsAndOptionalFields) {
  CreateRequest req;
  req.host = "gate";
  req.organisation = "Bücher & Söhne GmbH";
  req.key = "ec:p256";
  req.not_before = core::from_unix(kStart);
  EXPECT_EQ(req.validity_days, kDefaultValidityDays);
  auto rec = create_self_signed(req);
  ASSERT_TRUE(rec) << rec.error().message;
  auto x = read_cert(rec->cert_pem);
  X509_NAME* subject = X509_get_subject_name(x.get());
  EXPECT_EQ(entry(subject, NID_countryName), "<none>");  // no --country: no C attribute
  EXPECT_EQ(entry(subject, NID_organizationName), "Bücher & Söhne GmbH");
  EXPECT_EQ(rec->subject, "CN=gate,O=Bücher & Söhne GmbH");
  EXPECT_EQ(rec->dns_names, std::vector<std::string>{"gate"});
  EXPECT_TRUE(rec->ip_addresses.empty());
  EXPECT_EQ(rec->not_after - rec->not_before, 825 * 86400);
  EXPECT_EQ(CreateRequest{}.key, "rsa:2048");
}

TEST(CreateSelfSigned, IpHostAndCustomValidity) {
  CreateRequest req;
  req.host = "192.0.2.25";
  req.organisation = "Example";
  req.key = "ec:p256";
  req.validity_days = 30;
  req.not_before = core::from_unix(kStart);
  auto rec = create_self_signed(req);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->common_name, "192.0.2.25");
  EXPECT_TRUE(rec->dns_names.empty());
  EXPECT_EQ(rec->ip_addresses, std::vector<std::string>{"192.0.2.25"});
  EXPECT_EQ(rec->not_after, kStart + 30 * 86400);
  auto x = read_cert(rec->cert_pem);
  EXPECT_EQ(X509_check_ip_asc(x.get(), "192.0.2.25", 0), 1);
}

TEST(CreateSelfSigned, WithoutNotBeforeStartsNow) {
  CreateRequest req;
  req.host = "mail.example.com";
  req.organisation = "Example";
  req.key = "ec:p256";
  const auto before = core::to_unix(core::system_clock().now());
  auto rec = create_self_signed(req);
  const auto after = core::to_unix(core::system_clock().now());
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_GE(rec->not_before, before);
  EXPECT_LE(rec->not_before, after);
}

TEST(CreateSelfSigned, SerialsDiffer) {
  CreateRequest req;
  req.host = "mail.example.com";
  req.organisation = "Example";
  req.key = "ec:p256";
  auto a = create_self_signed(req), b = create_self_signed(req);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->serial, b->serial);
  EXPECT_NE(a->fingerprint_sha256, b->fingerprint_sha256);
  EXPECT_NE(key_of(*a), key_of(*b));
}

TEST(CreateSelfSigned, ValidationErrorsNameTheFieldAndReason) {
  auto err = [](auto edit) {
    CreateRequest req;
    req.host = "mail.example.com";
    req.organisation = "Example";
    req.key = "ec:p256";
    edit(req);
    return error_of(create_self_signed(req));
  };
  EXPECT_EQ(err([](CreateRequest& r) { r.country = "UK"; }),
            "--country 'UK': not an ISO 3166 two-letter code (did you mean GB?)");
  EXPECT_EQ(err([](CreateRequest& r) { r.country = "XX"; }),
            "--country 'XX': not an assigned ISO 3166 two-letter country code");
  EXPECT_EQ(err([](CreateRequest& r) { r.country = "DEU"; }),
            "--country 'DEU': not an ISO 3166 two-letter code (did you mean DE?)");
  EXPECT_EQ(err([](CreateRequest& r) { r.country = "germany"; }),
            "--country 'germany': not an ISO 3166 two-letter code (did you mean DE?)");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "a.*.example.com"; }),
            "--alt 'a.*.example.com': a wildcard is allowed only as the whole left-most label, as in '*.example.com'");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "ok.example.com,f*o.example.com"; }),
            "--alt 'f*o.example.com': a wildcard is allowed only as the whole left-most label, as in '*.example.com'");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "*.com"; }),
            "--alt '*.com': a wildcard needs at least two labels after '*.', as in '*.example.com'");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = ""; }),
            "--host: a host name is required (the name clients connect to)");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = "   "; }),
            "--host: a host name is required (the name clients connect to)");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = "mail_1.example.com"; }),
            "--host 'mail_1.example.com': not a valid DNS name ('_' is not allowed in a host name)");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = "mail example.com"; }),
            "--host 'mail example.com': not a valid DNS name (character ' ' is not allowed; use letters, digits, '-' and '.')");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = "-mail.example.com"; }),
            "--host '-mail.example.com': not a valid DNS name (label '-mail' starts or ends with '-')");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "bücher.example"; }),
            "--alt 'b\\xc3\\xbccher.example': not a valid DNS name (write an internationalized name in its xn-- form)");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "10.0.0"; }),
            "--alt '10.0.0': not a valid DNS name (the last label is all digits; IP addresses must be complete)");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = std::string(60, 'a') + ".example.com"; }),
            "--host '" + std::string(60, 'a') +
                ".example.com': longer than 64 characters, the most a certificate's common name can hold "
                "(use a shorter --host and put this name in --alt)");
  EXPECT_EQ(err([](CreateRequest& r) { r.organisation = ""; }), "--org: an organisation name is required");
  EXPECT_EQ(err([](CreateRequest& r) { r.organisation = "Bad\nOrg"; }),
            "--org 'Bad\\x0aOrg': not valid UTF-8 text, or contains control characters");
  EXPECT_EQ(err([](CreateRequest& r) { r.organisation = std::string(65, 'o'); }),
            "--org '" + std::string(65, 'o') + "': longer than 64 characters, the most a certificate allows");
  EXPECT_EQ(err([](CreateRequest& r) { r.key = "rsa:1024"; }),
            "--key 'rsa:1024': expected rsa:2048, rsa:3072, rsa:4096 or ec:p256");
  EXPECT_EQ(err([](CreateRequest& r) { r.validity_days = 0; }),
            "--days 0: must be a whole number of days from 1 to 3650");
  EXPECT_EQ(err([](CreateRequest& r) { r.validity_days = 3651; }),
            "--days 3651: must be a whole number of days from 1 to 3650");
  // Accepted edge cases.
  EXPECT_EQ(err([](CreateRequest& r) { r.host = "*.example.com"; }), "");
  EXPECT_EQ(err([](CreateRequest& r) { r.alt_names = "xn--bcher-kva.example,[2001:db8::1],,"; }), "");
  EXPECT_EQ(err([](CreateRequest& r) { r.host = std::string(52, 'a') + ".example.com"; }), "");  // 64 characters
}

// ---- names ----

TEST(Names, DnsNames) {
  EXPECT_EQ(*names::normalize_dns_name("Example.COM.", false), "example.com");
  EXPECT_EQ(*names::normalize_dns_name("*.Example.com", true), "*.example.com");
  EXPECT_EQ(names::normalize_dns_name("*.example.com", false).error().message, "a wildcard is not allowed here");
  EXPECT_FALSE(names::normalize_dns_name("a..example.com", true));
  EXPECT_FALSE(names::normalize_dns_name("*", true));
  EXPECT_FALSE(names::normalize_dns_name("*.*.example.com", true));
  EXPECT_FALSE(names::normalize_dns_name(std::string(64, 'a') + ".com", true));
  EXPECT_TRUE(names::normalize_dns_name(std::string(63, 'a') + ".com", true));
  const std::string l63(63, 'a');
  EXPECT_TRUE(names::normalize_dns_name(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'a'), true));  // 253
  EXPECT_EQ(names::normalize_dns_name(l63 + "." + l63 + "." + l63 + "." + std::string(62, 'a'), true).error().message,
            "not a valid DNS name (longer than 253 characters)");
  EXPECT_TRUE(names::parse_ip_literal("[::1]"));
  EXPECT_FALSE(names::parse_ip_literal("[192.0.2.1]"));
}

TEST(Names, Countries) {
  EXPECT_EQ(*names::normalize_country("gb"), "GB");
  EXPECT_EQ(*names::normalize_country(" de "), "DE");
  EXPECT_EQ(*names::normalize_country("AX"), "AX");  // Åland Islands
  EXPECT_EQ(names::normalize_country("EL").error().message, "not an ISO 3166 two-letter code (did you mean GR?)");
  EXPECT_EQ(names::normalize_country("usa").error().message, "not an ISO 3166 two-letter code (did you mean US?)");
  EXPECT_EQ(names::normalize_country("EU").error().message,
            "not an ISO 3166 two-letter code (EU is not a country; use the organisation's country)");
  EXPECT_EQ(names::normalize_country("AN").error().message,  // Netherlands Antilles: withdrawn
            "not an assigned ISO 3166 two-letter country code");
  EXPECT_EQ(names::normalize_country("G").error().message, "not an ISO 3166 two-letter code (for example GB, US, DE)");
}

// ---- PEM import ----

TEST(ImportPem, MatchingKeyInEitherOrder) {
  auto t = make_cert("mail.example.com", nullptr, false);
  for (const auto& text : {pem(t.cert.get()) + pkcs8_pem(t.key.get()), pkcs8_pem(t.key.get()) + pem(t.cert.get()),
                           "junk before\n" + pem(t.cert.get()) + "\njunk between\n" + traditional_pem(t.key.get())}) {
    auto rec = import_pem(text);
    ASSERT_TRUE(rec) << rec.error().message;
    EXPECT_EQ(rec->subject, "CN=mail.example.com");
    EXPECT_TRUE(rec->self_signed);
    EXPECT_TRUE(rec->chain_pem.empty());
    EXPECT_EQ(rec->cert_pem, pem(t.cert.get()));
    auto k = read_key(key_of(*rec));
    ASSERT_TRUE(k);
    EXPECT_EQ(EVP_PKEY_eq(k.get(), t.key.get()), 1);
  }
}

TEST(ImportPem, TraditionalRsaKey) {
  auto t = make_cert("rsa.example.com", nullptr, false, rsa_key(2048));
  const auto trad = traditional_pem(t.key.get());
  ASSERT_TRUE(trad.starts_with("-----BEGIN RSA PRIVATE KEY-----")) << trad.substr(0, 40);
  auto rec = import_pem(pem(t.cert.get()) + trad);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->key_type, "RSA 2048");
  EXPECT_TRUE(key_of(*rec).starts_with("-----BEGIN PRIVATE KEY-----"));  // stored as PKCS#8
}

TEST(ImportPem, EncryptedKeyNeedsItsPassword) {
  auto t = make_cert("mail.example.com", nullptr, false);
  const auto text = pem(t.cert.get()) + encrypted_pkcs8_pem(t.key.get(), "s3cret");
  EXPECT_EQ(error_of(import_pem(text)),
            "the private key is encrypted: give its password (--password-file FILE), or decrypt it first");
  EXPECT_EQ(error_of(import_pem(text, "wrong")), "the private key could not be decrypted: wrong password?");
  auto rec = import_pem(text, "s3cret");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(key_of(*rec).starts_with("-----BEGIN PRIVATE KEY-----"));  // stored decrypted
  auto k = read_key(key_of(*rec));
  ASSERT_TRUE(k);
  EXPECT_EQ(EVP_PKEY_eq(k.get(), t.key.get()), 1);

  // The traditional encrypted form, too.
  const auto trad = encrypted_traditional_pem(t.key.get(), "s3cret");
  ASSERT_NE(trad.find("Proc-Type: 4,ENCRYPTED"), std::string::npos) << trad;
  EXPECT_EQ(error_of(import_pem(pem(t.cert.get()) + trad)),
            "the private key is encrypted: give its password (--password-file FILE), or decrypt it first");
  EXPECT_EQ(error_of(import_pem(pem(t.cert.get()) + trad, "wrong")),
            "the private key could not be decrypted: wrong password?");
  auto rec2 = import_pem(pem(t.cert.get()) + trad, "s3cret");
  ASSERT_TRUE(rec2) << rec2.error().message;
  EXPECT_EQ(rec2->fingerprint_sha256, rec->fingerprint_sha256);
}

TEST(ImportPem, MismatchedKeyRefused) {
  auto a = make_cert("a.example.com", nullptr, false);
  auto b = make_cert("b.example.com", nullptr, false);
  EXPECT_EQ(error_of(import_pem(pem(a.cert.get()) + pkcs8_pem(b.key.get()))),
            "the private key does not match the certificate 'CN=a.example.com'");
  auto root = make_cert("Root CA", nullptr, true);
  EXPECT_EQ(error_of(import_pem(pem(a.cert.get()) + pem(root.cert.get()) + pkcs8_pem(b.key.get()))),
            "the private key matches none of the 2 certificates");
}

TEST(ImportPem, ChainOutOfOrderIsReordered) {
  auto root = make_cert("Root CA", nullptr, true);
  auto inter = make_cert("Intermediate CA", &root, true);
  auto leaf = make_cert("mail.example.com", &inter, false);
  // root, key, leaf, intermediate: leaf found by its key, chain ordered leaf -> issuer.
  const auto text = pem(root.cert.get()) + pkcs8_pem(leaf.key.get()) + pem(leaf.cert.get()) + pem(inter.cert.get());
  auto rec = import_pem(text);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(subjects(rec->cert_pem), std::vector<std::string>{"/CN=mail.example.com"});
  EXPECT_EQ(subjects(rec->chain_pem), (std::vector<std::string>{"/CN=Intermediate CA", "/CN=Root CA"}));
  EXPECT_EQ(rec->issuer, "CN=Intermediate CA");
  EXPECT_FALSE(rec->self_signed);
  // Without the root, and with the leaf listed twice.
  auto rec2 = import_pem(pem(inter.cert.get()) + pem(leaf.cert.get()) + pem(leaf.cert.get()) + pkcs8_pem(leaf.key.get()));
  ASSERT_TRUE(rec2) << rec2.error().message;
  EXPECT_EQ(subjects(rec2->chain_pem), std::vector<std::string>{"/CN=Intermediate CA"});
}

TEST(ImportPem, UnrelatedChainRefused) {
  auto root = make_cert("Root CA", nullptr, true);
  auto inter = make_cert("Intermediate CA", &root, true);
  auto leaf = make_cert("mail.example.com", &inter, false);
  auto other = make_cert("Other CA", nullptr, true);
  EXPECT_EQ(error_of(import_pem(pem(leaf.cert.get()) + pem(other.cert.get()) + pem(inter.cert.get()) +
                                pkcs8_pem(leaf.key.get()))),
            "the chain does not link: certificate 'CN=Other CA' did not issue 'CN=Intermediate CA' (checked by "
            "issuer name and signature), nor any other certificate given; remove it or add the missing intermediate");
  // Same name as the real intermediate, different key: the name links but the signature does not.
  auto impostor = make_cert("Intermediate CA", &other, true);
  auto r = import_pem(pem(leaf.cert.get()) + pem(impostor.cert.get()) + pkcs8_pem(leaf.key.get()));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("the chain does not link: certificate 'CN=Intermediate CA' did not issue "
                                            "'CN=mail.example.com'"))
      << r.error().message;
}

TEST(ImportPem, MalformedInputs) {
  auto t = make_cert("mail.example.com", nullptr, false);
  EXPECT_EQ(error_of(import_pem("")),
            "no PEM data found (expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks)");
  EXPECT_EQ(error_of(import_pem("hello\nworld\n")),
            "no PEM data found (expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks)");
  EXPECT_EQ(error_of(import_pem(pem(t.cert.get()))),
            "no private key found: put the certificate's key in the same PEM input (-----BEGIN PRIVATE KEY-----)");
  EXPECT_EQ(error_of(import_pem(pkcs8_pem(t.key.get()))),
            "no certificate found (expected a -----BEGIN CERTIFICATE----- block)");
  EXPECT_EQ(error_of(import_pem(pem(t.cert.get()) + pkcs8_pem(t.key.get()) + pkcs8_pem(t.key.get()))),
            "more than one private key found; give only the certificate's key");
  EXPECT_EQ(error_of(import_pem("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")),
            "unexpected PEM block 'CERTIFICATE REQUEST' (expected CERTIFICATE blocks and one PRIVATE KEY)");
  auto damaged = import_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(damaged);
  EXPECT_TRUE(damaged.error().message.starts_with("PEM block 1 is damaged")) << damaged.error().message;
  auto not_der = import_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + pkcs8_pem(t.key.get()));
  ASSERT_FALSE(not_der);
  EXPECT_TRUE(not_der.error().message.starts_with("certificate 1 cannot be read")) << not_der.error().message;
  EXPECT_EQ(error_of(import_pem(std::string(1024 * 1024 + 1, 'x'))), "the PEM input is larger than 1 MiB");
}

TEST(ImportPem, WeakRsaKeyRefused) {
  auto t = weak_rsa_cert();
  EXPECT_EQ(error_of(import_pem(pem(t.cert.get()) + pkcs8_pem(t.key.get()))),
            "the RSA 1024 key is too weak: RSA keys need at least 2048 bits");
}

// ---- PKCS#12 ----

TEST(ImportPfx, RightPasswordWrongPassword) {
  auto root = make_cert("Root CA", nullptr, true);
  auto inter = make_cert("Intermediate CA", &root, true);
  auto leaf = make_cert("mail.example.com", &inter, false);
  // CA certificates deliberately root first.
  const auto der = pfx("correct horse", leaf.key.get(), leaf.cert.get(), {root.cert.get(), inter.cert.get()});
  ASSERT_FALSE(der.empty());

  auto rec = import_pfx(der, "correct horse");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->subject, "CN=mail.example.com");
  EXPECT_EQ(rec->cert_pem, pem(leaf.cert.get()));
  EXPECT_EQ(subjects(rec->chain_pem), (std::vector<std::string>{"/CN=Intermediate CA", "/CN=Root CA"}));
  auto k = read_key(key_of(*rec));
  ASSERT_TRUE(k);
  EXPECT_EQ(EVP_PKEY_eq(k.get(), leaf.key.get()), 1);

  EXPECT_EQ(error_of(import_pfx(der, "wrong")), "wrong password for the PKCS#12 file");
  EXPECT_EQ(error_of(import_pfx(der, "")), "wrong password for the PKCS#12 file");
  EXPECT_EQ(error_of(import_pfx("not a pfx at all", "x")), "not a PKCS#12 (PFX) file");
  EXPECT_EQ(error_of(import_pfx(pem(leaf.cert.get()), "x")), "not a PKCS#12 (PFX) file");
}

TEST(ImportPfx, EmptyPasswordAndSameChecks) {
  auto t = make_cert("mail.example.com", nullptr, false);
  auto rec = import_pfx(pfx("", t.key.get(), t.cert.get(), {}), "");
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(rec->self_signed);
  // A PFX whose chain does not link is refused like PEM.
  auto other = make_cert("Other CA", nullptr, true);
  auto bad = import_pfx(pfx("pw", t.key.get(), t.cert.get(), {other.cert.get()}), "pw");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("the chain does not link: certificate 'CN=Other CA'")) << bad.error().message;
  auto weak = weak_rsa_cert();
  EXPECT_EQ(error_of(import_pfx(pfx("pw", weak.key.get(), weak.cert.get(), {}), "pw")),
            "the RSA 1024 key is too weak: RSA keys need at least 2048 bits");
}

TEST(ImportPfx, LegacyEncryptionGetsAHint) {
  // An RC2-40 PKCS#12 as older Windows versions export, built in a library context that has the
  // legacy provider; the import (default context, no legacy provider) must explain itself.
  std::unique_ptr<OSSL_LIB_CTX, Free<OSSL_LIB_CTX_free>> ctx(OSSL_LIB_CTX_new());
  OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(ctx.get(), "legacy");
  OSSL_PROVIDER* def = OSSL_PROVIDER_load(ctx.get(), "default");
  if (legacy == nullptr || def == nullptr) GTEST_SKIP() << "OpenSSL legacy provider not installed";
  auto t = make_cert("old.example.com", nullptr, false);
  std::string der;
  {
    Pkcs12Ptr p12(PKCS12_create_ex("pw", "old", t.key.get(), t.cert.get(), nullptr, NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                                   NID_pbe_WithSHA1And40BitRC2_CBC, 0, 0, 0, ctx.get(), nullptr));
    ASSERT_TRUE(p12);
    const int len = i2d_PKCS12(p12.get(), nullptr);
    der.resize(static_cast<std::size_t>(len));
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_PKCS12(p12.get(), &p);
  }
  OSSL_PROVIDER_unload(legacy);
  OSSL_PROVIDER_unload(def);
  auto r = import_pfx(der, "pw");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("the PKCS#12 file uses an algorithm OpenSSL 3 does not load by default"))
      << r.error().message;
  EXPECT_NE(r.error().message.find("re-export it with AES"), std::string::npos) << r.error().message;
}

// ---- describe, export, times, expiry ----

TEST(Describe, ReadsAnyCertificate) {
  auto root = make_cert("Root CA", nullptr, true);
  auto inter = make_cert("Intermediate CA", &root, true);
  auto d = describe(pem(inter.cert.get()));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->subject, "CN=Intermediate CA");
  EXPECT_EQ(d->issuer, "CN=Root CA");
  EXPECT_FALSE(d->self_signed);
  EXPECT_EQ(d->key_type, "EC P-256");
  EXPECT_TRUE(d->dns_names.empty());
  EXPECT_GT(d->not_after, d->not_before);
  EXPECT_FALSE(describe("nonsense"));
  EXPECT_TRUE(describe(pem(root.cert.get()))->self_signed);
}

TEST(Export, PublicPartsOnly) {
  auto root = make_cert("Root CA", nullptr, true);
  auto leaf = make_cert("mail.example.com", &root, false);
  auto rec = import_pem(pem(leaf.cert.get()) + pem(root.cert.get()) + pkcs8_pem(leaf.key.get()));
  ASSERT_TRUE(rec) << rec.error().message;
  const auto out = export_public_pem(*rec);
  EXPECT_EQ(out, pem(leaf.cert.get()) + pem(root.cert.get()));
  EXPECT_EQ(out.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(export_public_pem(rec->info()), out);
}

TEST(Times, Iso8601) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(iso8601_utc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(iso8601_utc(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(iso8601_utc(kStart), "2027-01-15T08:00:00Z");
  EXPECT_EQ(iso8601_utc(253402300799), "9999-12-31T23:59:59Z");
}

TEST(Expiry, WarningTiers) {
  CertificateInfo c;
  c.id = 3;
  c.dns_names = {"mail.example.com"};
  c.not_after = kStart;
  auto at = [&](std::int64_t seconds_before_expiry) { return expiry_warning(c, core::from_unix(kStart - seconds_before_expiry)); };
  EXPECT_FALSE(at(31 * 86400));
  EXPECT_FALSE(at(30 * 86400 + 1));
  EXPECT_EQ(*at(30 * 86400),
            "certificate 3 (mail.example.com) expires in 30 days, on 2027-01-15T08:00:00Z: renew it soon");
  EXPECT_EQ(*at(8 * 86400), "certificate 3 (mail.example.com) expires in 8 days, on 2027-01-15T08:00:00Z: renew it soon");
  EXPECT_EQ(*at(7 * 86400), "certificate 3 (mail.example.com) expires in 7 days, on 2027-01-15T08:00:00Z: renew it now");
  EXPECT_EQ(*at(86400 + 5), "certificate 3 (mail.example.com) expires in 1 day, on 2027-01-15T08:00:00Z: renew it now");
  EXPECT_EQ(*at(60), "certificate 3 (mail.example.com) expires in less than a day, on 2027-01-15T08:00:00Z: renew it now");
  c.active = true;
  EXPECT_EQ(*at(0),
            "the active certificate 3 (mail.example.com) expired on 2027-01-15T08:00:00Z: clients that check "
            "certificates will refuse it; create or import a new one and activate it");
  EXPECT_TRUE(at(-400 * 86400)->find("expired on") != std::string::npos);
  c.dns_names.clear();
  c.common_name = "gate";
  EXPECT_TRUE(at(86400 * 2)->starts_with("the active certificate 3 (gate) expires in 2 days"));
}
