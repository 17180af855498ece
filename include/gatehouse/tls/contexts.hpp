// TLS contexts built from the certificate store, hot-swapped: the server context presents the
// active certificate (rebuilt when another one is activated — new connections use it, existing
// ones keep theirs); the client context is for outbound STARTTLS. Protocol floor TLS 1.2 by
// default (tls.min_protocol), TLS 1.2 cipher list from tls.ciphers, no compression, no
// renegotiation. This is the only place outside the store that touches private keys.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gatehouse/core/error.hpp"
#include "gatehouse/tls/certificate.hpp"

namespace boost::asio::ssl { class context; }

namespace gatehouse::tls {

struct ContextOptions {
  std::string min_protocol = "TLSv1.2";  // "TLSv1.2" or "TLSv1.3"
  std::string ciphers;                   // TLS 1.2 cipher list; "" = the built-in strong default
  std::string ca_file;                   // client verification trust store; "" = system default paths
};

// Strong TLS 1.2 ciphers: forward secrecy, AEAD, >= 128-bit.
inline constexpr const char* kDefaultCiphers =
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SHA1";

class Contexts {
 public:
  Contexts();
  ~Contexts();
  // Rebuilds both contexts when the active certificate's fingerprint or the options changed.
  // Returns an error (and keeps the previous contexts) when the certificate cannot be loaded.
  Status update(const std::optional<CertificateRecord>& active, const ContextOptions& opts);
  // The current server context, or nullptr when no certificate is active.
  std::shared_ptr<boost::asio::ssl::context> server() const;
  std::shared_ptr<boost::asio::ssl::context> client() const;
  std::string active_fingerprint() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> server_, client_;
  std::string fingerprint_;
  ContextOptions opts_;
  bool built_ = false;
};

}  // namespace gatehouse::tls
