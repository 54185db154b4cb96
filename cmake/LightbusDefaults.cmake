# lightbus_target_defaults(target): C++17, warnings and sanitizers, set per target.
# LIGHTBUS_SANITIZERS (e.g. `address,undefined` or `thread`) instruments our code only: CAF,
# hiredis, spdlog and GoogleTest come from Debian uninstrumented (docs/reliability.md,
# "Sanitizers"; scripts/test-sanitizers builds and runs both kinds).
function(lightbus_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(LIGHTBUS_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(LIGHTBUS_SANITIZERS)
    target_compile_options(${target} PRIVATE -fsanitize=${LIGHTBUS_SANITIZERS} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${LIGHTBUS_SANITIZERS})
  endif()
endfunction()
