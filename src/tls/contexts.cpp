// Builds asio::ssl::context objects from the active certificate (OpenSSL 3, no deprecated API).
// Must not: log or return key material; allow SSLv3/TLS 1.0/1.1; enable compression or
// client-initiated renegotiation.
#include "gatehouse/tls/contexts.hpp"

#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "key_access.hpp"

namespace gatehouse::tls {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Status harden(SSL_CTX* ctx, const ContextOptions& o) {
  int floor = o.min_protocol == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, floor) != 1) return make_error("tls.min_protocol: " + openssl_error());
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  const std::string& list = o.ciphers.empty() ? std::string(kDefaultCiphers) : o.ciphers;
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
    return make_error(fmt::format("tls.ciphers '{}': no usable cipher ({})", list, openssl_error()));
  return {};
}

}  // namespace

Contexts::Contexts() = default;
Contexts::~Contexts() = default;

Status Contexts::update(const std::optional<CertificateRecord>& active, const ContextOptions& opts) {
  std::string fp = active ? active->fingerprint_sha256 : std::string();
  {
    std::lock_guard lk(mu_);
    if (built_ && fp == fingerprint_ && opts.min_protocol == opts_.min_protocol && opts.ciphers == opts_.ciphers &&
        opts.ca_file == opts_.ca_file)
      return {};
  }
  std::shared_ptr<ssl::context> server;
  if (active) {
    server = std::make_shared<ssl::context>(ssl::context::tls_server);
    if (auto st = harden(server->native_handle(), opts); !st) return st;
    boost::system::error_code ec;
    server->use_certificate_chain(boost::asio::buffer(active->cert_pem + active->chain_pem), ec);
    if (ec) return make_error(fmt::format("certificate {}: cannot load: {}", active->id, ec.message()));
    const auto& key = detail::KeyAccess::key_pem(*active);
    server->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
    if (ec) return make_error(fmt::format("certificate {}: cannot load its private key: {}", active->id, ec.message()));
    if (SSL_CTX_check_private_key(server->native_handle()) != 1)
      return make_error(fmt::format("certificate {}: the private key does not match", active->id));
  }
  auto client = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (auto st = harden(client->native_handle(), opts); !st) return st;
  boost::system::error_code ec;
  if (opts.ca_file.empty()) client->set_default_verify_paths(ec);
  else client->load_verify_file(opts.ca_file, ec);
  // Verification is evaluated per connection by the caller (opportunistic TLS records the
  // result; policies that require an authenticated peer check it), so the handshake itself
  // does not abort on an untrusted certificate.
  client->set_verify_mode(ssl::verify_none);
  std::lock_guard lk(mu_);
  server_ = std::move(server);
  client_ = std::move(client);
  fingerprint_ = fp;
  opts_ = opts;
  built_ = true;
  return {};
}

std::shared_ptr<ssl::context> Contexts::server() const {
  std::lock_guard lk(mu_);
  return server_;
}

std::shared_ptr<ssl::context> Contexts::client() const {
  std::lock_guard lk(mu_);
  return client_;
}

std::string Contexts::active_fingerprint() const {
  std::lock_guard lk(mu_);
  return fingerprint_;
}

}  // namespace gatehouse::tls
