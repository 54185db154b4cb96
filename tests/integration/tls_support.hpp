#pragma once

// Certificates for the TLS tests, made by `openssl` in the test: a CA, a
// server certificate it signed for localhost / 127.0.0.1 (usable as a client
// certificate too, as Redis Cluster nodes use theirs), a client certificate,
// and a second CA that signed nothing of ours.

#include <string>

namespace lightbus::test {

struct certificates {
  /// Makes the files; throws `std::runtime_error` if openssl fails.
  certificates();
  ~certificates();

  certificates(const certificates&) = delete;
  certificates& operator=(const certificates&) = delete;

  /// Returns the path of `name` (ca.pem, other-ca.pem, server.pem,
  /// server.key, client.pem, client.key).
  std::string file(const std::string& name) const { return dir + "/" + name; }

  std::string dir;
};

} // namespace lightbus::test
