#include "lightbus/allocator.hpp"

#include <dlfcn.h>

#include <cstring>

namespace lightbus {

namespace {

// The file of the loaded object that defines `symbol`, or "" when none does.
std::string object_defining(const char* symbol) {
  void* at = dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (at == nullptr || dladdr(at, &info) == 0 || info.dli_fname == nullptr)
    return {};
  return info.dli_fname;
}

} // namespace

std::string allocator_name() {
  // jemalloc defines mallctl(); it is the allocator only if malloc() comes from the same object
  // (one dlopen()ed later by a module does not take malloc over).
  auto malloc_from = object_defining("malloc");
  auto mallctl_from = object_defining("mallctl");
  if (!mallctl_from.empty() && mallctl_from == malloc_from) {
    using mallctl_fn = int (*)(const char*, void*, size_t*, void*, size_t);
    auto mallctl = reinterpret_cast<mallctl_fn>(dlsym(RTLD_DEFAULT, "mallctl"));
    const char* version = nullptr;
    size_t size = sizeof version;
    if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr)
      return "jemalloc";
    // "5.3.0-0-g54eaed1d..." -> "5.3.0"
    return "jemalloc " + std::string(version, strcspn(version, "-"));
  }
  if (malloc_from.find("libc.so") != std::string::npos)
    return "glibc malloc";
  if (malloc_from.find("libasan") != std::string::npos)
    return "AddressSanitizer's malloc";
  if (malloc_from.find("libtsan") != std::string::npos)
    return "ThreadSanitizer's malloc";
  return malloc_from.empty() ? "unknown" : "malloc from " + malloc_from;
}

} // namespace lightbus
