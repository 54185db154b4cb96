#include "tls_support.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "support.hpp"

namespace lightbus::test {

namespace {

void run_or_fail(std::vector<std::string> argv) {
  auto r = run_command(argv, 30s);
  if (r.exit_code != 0) {
    std::string cmd;
    for (auto& a : argv)
      cmd += a + " ";
    throw std::runtime_error(cmd + "failed: " + r.err);
  }
}

} // namespace

certificates::certificates() : dir(make_temp_dir("lightbus-it-tls.")) {
  auto ext = dir + "/ext.cnf";
  std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n";
  auto key = [&](const std::string& name) {
    run_or_fail({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-out", dir + "/" + name + ".key"});
  };
  for (auto ca : {"ca", "other-ca"}) {
    key(ca);
    run_or_fail({"openssl", "req", "-x509", "-new", "-key", dir + "/" + ca + ".key", "-days", "2",
                 "-subj", std::string("/CN=lightbus test ") + ca, "-out",
                 dir + "/" + ca + ".pem"});
  }
  for (auto leaf : {"server", "client"}) {
    key(leaf);
    run_or_fail({"openssl", "req", "-new", "-key", dir + "/" + leaf + ".key", "-subj",
                 std::string("/CN=") + (std::string(leaf) == "server" ? "localhost" : "client"),
                 "-out", dir + "/" + leaf + ".csr"});
    run_or_fail({"openssl", "x509", "-req", "-in", dir + "/" + leaf + ".csr", "-CA",
                 dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2",
                 "-extfile", ext, "-out", dir + "/" + leaf + ".pem"});
  }
}

certificates::~certificates() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

} // namespace lightbus::test
