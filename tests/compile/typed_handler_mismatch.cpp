// A typed handler whose signature differs from the procedure's rpc<Sig>
// declaration must not compile, and the error names the expected handler
// (compile.typed_handler_mismatch).

#include <memory>
#include <string>

#include <lightbus/lightbus.hpp>

namespace {

struct login_api : lightbus::api {
  login_api() : api("login") {}
  lightbus::procedure_ref<bool(std::string, int)> check
    = rpc<bool(std::string, int)>("check", {"user", "attempts"});
};

#ifdef LIGHTBUS_COMPILE_CONTROL
using handler = lightbus::rpc_handler<bool(std::string, int)>;
handler::behavior_type check(handler::pointer) {
  return {[](lightbus::call_atom, const std::string& user, int n) { return user == "a" && n < 3; }};
}
#else
// Takes the attempts as a string: not what rpc<bool(std::string, int)> declares.
using handler = lightbus::rpc_handler<bool(std::string, std::string)>;
handler::behavior_type check(handler::pointer) {
  return {[](lightbus::call_atom, const std::string& user, const std::string&) {
    return user == "a";
  }};
}
#endif

} // namespace

int main() {
  lightbus::module mod;
  auto def = std::make_shared<login_api>();
  mod.serve(def).handle(def->check, check);
  return 0;
}
