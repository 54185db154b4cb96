// <lightbus/client.hpp> must not reach any CAF header (compile.client_without_caf):
// programs that only call and fire build without CAF's headers.

#include <lightbus/client.hpp>

int main() {
  auto c = lightbus::client::create();
  auto ok = c.try_call("auth.check_password", {{"username", "admin"}, {"password", "x"}});
  c.close();
  return ok ? 0 : 1;
}
