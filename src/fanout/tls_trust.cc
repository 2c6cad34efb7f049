#include "fanout/tls_trust.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace flashwire::fanout {

CaCertificates::~CaCertificates() {
  for (X509* certificate : certificates_) X509_free(certificate);
}

void CaCertificates::add_to(SSL_CTX* context) const {
  X509_STORE* store = SSL_CTX_get_cert_store(context);
  for (X509* certificate : certificates_) {
    // Fails only for a certificate already in the store, which is what we want anyway.
    X509_STORE_add_cert(store, certificate);
  }
  ERR_clear_error();
}

tl::expected<std::shared_ptr<const CaCertificates>, Error> load_ca_file(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) {
    ERR_clear_error();
    return tl::unexpected(Error{ErrorCode::kNotFound, "CA file " + path + ": cannot be read"});
  }
  std::shared_ptr<CaCertificates> loaded(new CaCertificates());
  while (X509* certificate = PEM_read_bio_X509(file, nullptr, nullptr, nullptr)) {
    loaded->certificates_.push_back(certificate);
  }
  BIO_free(file);
  ERR_clear_error();  // the end of the file reads as an error
  if (loaded->certificates_.empty()) {
    return tl::unexpected(
        Error{ErrorCode::kInvalid, "CA file " + path + ": no PEM certificate in it"});
  }
  return loaded;
}

}  // namespace flashwire::fanout
