// Internal to the tls module: certificate helpers on OpenSSL types that CertStore (and later the
// TLS context builder) share with certificate.cpp. Must not be included outside src/tls, and
// nothing here puts key material into an error message.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/tls/certificate.hpp"
#include "ossl.hpp"

namespace gatehouse::tls::detail {

// "RSA 2048", "EC P-256", "Ed25519".
std::string key_type_text(const EVP_PKEY* k);
Description describe_x509(X509* x);
// The first certificate of a PEM text.
Expected<ossl::X509Ptr> parse_certificate(std::string_view pem);
// Every certificate of a PEM text ("" -> none).
Expected<std::vector<ossl::X509Ptr>> parse_certificates(std::string_view pem);
// An unencrypted PEM private key (as stored).
Expected<ossl::PkeyPtr> parse_private_key(std::string_view pem);
std::string pem_of(X509* x);
// A stored row still holds a usable certificate, chain and matching key.
Status check_key_pair(std::string_view cert_pem, std::string_view chain_pem, std::string_view key_pem);

}  // namespace gatehouse::tls::detail
