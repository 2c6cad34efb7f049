// Extra trust anchors for the fan-out's HTTPS connections: CA certificates from a PEM file
// (`[fanout] ca_file`, `flashwire fanout --ca-file`), added to the system's store — for a
// private push service or a test server. Certificates and host names are always verified.
//
// Ownership: the loaded certificates are immutable once made and shared (shared_ptr) by every
// sender thread. Thread safety: add_to() may be called from any thread at once.
// Errors: load_ca_file returns kNotFound (file unreadable) or kInvalid (no certificate in it).
#pragma once

#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"

using X509 = struct x509_st;
using SSL_CTX = struct ssl_ctx_st;

namespace flashwire::fanout {

class CaCertificates {
 public:
  ~CaCertificates();
  CaCertificates(const CaCertificates&) = delete;
  CaCertificates& operator=(const CaCertificates&) = delete;

  // Adds every certificate to the context's verification store (beside the system's).
  void add_to(SSL_CTX* context) const;
  std::size_t size() const { return certificates_.size(); }

 private:
  friend tl::expected<std::shared_ptr<const CaCertificates>, Error> load_ca_file(
      const std::string& path);
  CaCertificates() = default;
  std::vector<X509*> certificates_;
};

// Reads every PEM certificate in `path`; at least one is required.
tl::expected<std::shared_ptr<const CaCertificates>, Error> load_ca_file(const std::string& path);

}  // namespace flashwire::fanout
