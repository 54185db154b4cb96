# lightbus_target_defaults(target): C++17, warnings and sanitizers, set per target.
# LIGHTBUS_SANITIZERS (e.g. `address,undefined` or `thread`) instruments our code only: CAF,
# hiredis, spdlog and GoogleTest come from Debian uninstrumented (docs/reliability.md,
# "Sanitizers"; scripts/test-sanitizers builds and runs both kinds).
#
# Test programs (targets defined under tests/) differ in two ways, both to keep CI's builds
# short (docs/reliability.md, "Sanitizers"; measured on tests/integration/worker_test.cpp):
# - outside Debug builds they compile at -O1 -g1 (line tables) instead of the build type's
#   -O2 -g: 14 s instead of 24 s per file; the library code they test keeps the build's flags.
#   Under sanitizers at -O0 -g1: ASan's instrumentation costs most at -O1 (worker_test.cpp,
#   2026-12-05: 15.4 s CPU at -O1, 9.9 s at -O0 with ASan; 9.6 s at -O1 without it), and a test
#   driver's speed does not matter; the code under test stays at -O1.
# - UBSan instruments the code under test, not the test drivers: `undefined` is left out of
#   their compile flags (ASan alone: 26 s per file, ASan+UBSan: 47 s). They still link the UBSan
#   runtime, which the instrumented libraries they link need.
function(lightbus_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(LIGHTBUS_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  get_target_property(source_dir ${target} SOURCE_DIR)
  string(FIND "${source_dir}/" "${PROJECT_SOURCE_DIR}/tests/" tests_at)
  set(is_test_code FALSE)
  if(tests_at EQUAL 0)
    set(is_test_code TRUE)
  endif()
  if(is_test_code AND LIGHTBUS_SANITIZERS)
    target_compile_options(${target} PRIVATE -O0 -g1)
  elseif(is_test_code AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    target_compile_options(${target} PRIVATE -O1 -g1)
  endif()
  if(LIGHTBUS_SANITIZERS)
    set(compile_sanitizers ${LIGHTBUS_SANITIZERS})
    if(is_test_code)
      string(REPLACE "," ";" sanitizer_list "${LIGHTBUS_SANITIZERS}")
      list(REMOVE_ITEM sanitizer_list undefined)
      list(JOIN sanitizer_list "," compile_sanitizers)
    endif()
    if(compile_sanitizers)
      target_compile_options(${target} PRIVATE -fsanitize=${compile_sanitizers} -fno-omit-frame-pointer)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=${LIGHTBUS_SANITIZERS})
  endif()
endfunction()

# lightbus_precompile_headers(target HEADER...): third-party headers most of a target's files
# include, parsed once per target instead of once per file (LIGHTBUS_PRECOMPILE_HEADERS, ON by
# default). CI builds everything twice (plain and ASan) within its 45 minutes. Used only where it
# measured a gain: building the header costs about 9 s, so a target needs many files that
# include it. Cold plain builds, -j2, 2026-12-06, seconds of compile per target without / with:
# lightbus_integration_tests 384 / 339, lightbus_actors 339 / 292, lightbus_core_tests 121 / 112;
# it cost time for the CLI (123 / 139), lightbus-bench, the fault, testkit and actors tests.
# Only third-party headers go in: ours change too often, and every file still includes what it
# uses (the compile.* checks build some alone).
function(lightbus_precompile_headers target)
  if(LIGHTBUS_PRECOMPILE_HEADERS)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()
