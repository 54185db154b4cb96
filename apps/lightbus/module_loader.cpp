#include "module_loader.hpp"

#include <dlfcn.h>

#include <filesystem>

namespace lightbus::cli {

expected<void> load_module(const std::string& path, module& mod) {
  // dlopen() only searches the cwd for names with a slash.
  std::string where = path.find('/') == std::string::npos ? "./" + path : path;
  if (!std::filesystem::exists(where))
    return make_error(errc::module_error,
                      "bus module '" + path + "' does not exist (build it first, or check "
                        "--bus / LIGHTBUS_MODULE)");
  // Never dlclose()d: the APIs it registered point into it.
  void* handle = ::dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return make_error(errc::module_error,
                      "cannot load bus module '" + path + "': " + ::dlerror());
  auto abi = reinterpret_cast<int (*)()>(::dlsym(handle, "lightbus_module_abi"));
  auto init = reinterpret_cast<void (*)(module&)>(::dlsym(handle, "lightbus_module_init"));
  if (abi == nullptr || init == nullptr)
    return make_error(errc::module_error,
                      "'" + path + "' is not a lightbus bus module: it has no "
                        "LIGHTBUS_MODULE(...) { ... } entry point");
  if (abi() != module_abi_version)
    return make_error(errc::module_error,
                      "'" + path + "' was built for bus module ABI " + std::to_string(abi())
                        + ", this lightbus runs ABI " + std::to_string(module_abi_version)
                        + ": rebuild the module");
  try {
    init(mod);
  } catch (const std::exception& e) {
    return make_error(errc::module_error,
                      "bus module '" + path + "' failed to set up: " + e.what());
  }
  return {};
}

} // namespace lightbus::cli
