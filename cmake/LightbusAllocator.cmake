# LIGHTBUS_JEMALLOC: link lightbus's own programs (the `lightbus` command, lightbus-bench and the
# examples) with jemalloc instead of glibc's malloc. A bus moves every message from the thread
# that makes it to the thread that frees it (a Redis reader to a handler, a handler to a writer),
# the pattern glibc's per-arena locks handle worst: with jemalloc lightbus-bench measured about
# 20 % more calls/s with 128 in flight and 15-25 % more events/s (docs/performance.md, "The
# allocator"). The libraries never choose an allocator for the program that links them: a
# service with a main() of its own links jemalloc itself (docs/performance.md says how).
# OFF under sanitizers (ASan and TSan replace malloc themselves) and for the fuzz build.
option(LIGHTBUS_JEMALLOC "Link lightbus's programs with jemalloc (libjemalloc-dev)" ON)

set(LIGHTBUS_USE_JEMALLOC OFF)
if(LIGHTBUS_JEMALLOC AND NOT LIGHTBUS_SANITIZERS AND NOT LIGHTBUS_FUZZ)
  find_library(LIGHTBUS_JEMALLOC_LIBRARY NAMES jemalloc)
  if(NOT LIGHTBUS_JEMALLOC_LIBRARY)
    message(FATAL_ERROR "jemalloc not found: install it (Debian: apt-get install libjemalloc-dev; "
                        "scripts/deps does) or configure with -DLIGHTBUS_JEMALLOC=OFF")
  endif()
  set(LIGHTBUS_USE_JEMALLOC ON)
  add_library(lightbus_jemalloc INTERFACE)
  # --no-as-needed: nothing calls jemalloc by name; it takes over malloc by being loaded.
  target_link_libraries(lightbus_jemalloc INTERFACE
    "-Wl,--push-state,--no-as-needed" ${LIGHTBUS_JEMALLOC_LIBRARY} "-Wl,--pop-state")
  add_library(lightbus::jemalloc ALIAS lightbus_jemalloc)
endif()
if(LIGHTBUS_USE_JEMALLOC)
  message(STATUS "lightbus programs link jemalloc (${LIGHTBUS_JEMALLOC_LIBRARY})")
else()
  message(STATUS "lightbus programs use the C library's malloc")
endif()

# lightbus_link_allocator(target): a program of ours links jemalloc when LIGHTBUS_USE_JEMALLOC.
function(lightbus_link_allocator target)
  if(LIGHTBUS_USE_JEMALLOC)
    target_link_libraries(${target} PRIVATE lightbus::jemalloc)
  endif()
endfunction()
