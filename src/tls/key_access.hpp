// The one door to a CertificateRecord's private key, internal to the tls module (not installed:
// no other module can include it). CertStore stores and loads keys through it; the TLS context
// builder will read them through it. Must not be included outside src/tls.
#pragma once
#include <string>

#include "gatehouse/tls/certificate.hpp"

namespace gatehouse::tls::detail {

struct KeyAccess {
  static const std::string& key_pem(const CertificateRecord& r) { return r.key_pem_; }
  static void set_key_pem(CertificateRecord& r, std::string pem) { r.key_pem_ = std::move(pem); }
};

}  // namespace gatehouse::tls::detail
