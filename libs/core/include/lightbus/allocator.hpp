#pragma once

#include <string>

namespace lightbus {

// The memory allocator this process's malloc() is, e.g. "jemalloc 5.3.0" or "glibc malloc".
// lightbus's own programs link jemalloc (cmake/LightbusAllocator.cmake); `lightbus version`,
// the worker's start-up banner and lightbus-bench say which one they run with.
std::string allocator_name();

} // namespace lightbus
