# Runs the compiler on one translation unit and checks the outcome (tests/compile/CMakeLists.txt).
#   -DCXX=compiler -DFLAGS="a|b|c" -DSOURCE=file.cpp -DMODE=fail|closure -DEXPECT=regex
#   [-DMAX_ERRORS=n]
# MODE fail:    SOURCE must compile with -DLIGHTBUS_COMPILE_CONTROL (so the command line is
#               right), and fail without it, printing something that matches EXPECT.
# MODE closure: SOURCE must compile, and no header it includes (gcc -H) may match EXPECT.
string(REPLACE "|" ";" flags "${FLAGS}")
set(base ${CXX} -std=c++17 -fsyntax-only ${flags})

if(MODE STREQUAL "fail")
  execute_process(COMMAND ${base} -DLIGHTBUS_COMPILE_CONTROL "${SOURCE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the control build of ${SOURCE} (-DLIGHTBUS_COMPILE_CONTROL) must "
                        "compile but failed; the check below would prove nothing:\n${out}")
  endif()
  execute_process(COMMAND ${base} "${SOURCE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected at compile time")
  endif()
  if(NOT out MATCHES "${EXPECT}")
    message(FATAL_ERROR "${SOURCE} was rejected, but the compiler's output does not match "
                        "'${EXPECT}':\n${out}")
  endif()
  # The diagnostic the user sees first: the first line saying "error".
  string(REGEX MATCH "[^\n]*error:[^\n]*" first "${out}")
  string(REGEX MATCHALL "error:" errors "${out}")
  list(LENGTH errors n_errors)
  if(DEFINED MAX_ERRORS AND n_errors GREATER MAX_ERRORS)
    message(FATAL_ERROR "${SOURCE} was rejected with ${n_errors} errors, expected at most "
                        "${MAX_ERRORS}:\n${out}")
  endif()
  message(STATUS "rejected as expected; first error: ${first}")
elseif(MODE STREQUAL "closure")
  execute_process(COMMAND ${base} -H "${SOURCE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} does not compile:\n${err}")
  endif()
  # -H prints one line per header opened: dots (the depth), a space, the path.
  string(REGEX MATCHALL "(^|\n)\\.+ [^\n]*" headers "${err}")
  list(LENGTH headers n)
  if(n LESS 10)
    message(FATAL_ERROR "-H listed only ${n} headers for ${SOURCE}; is -H supported?\n${err}")
  endif()
  set(bad "")
  foreach(h IN LISTS headers)
    if(h MATCHES "${EXPECT}")
      string(STRIP "${h}" h)
      list(APPEND bad "${h}")
    endif()
  endforeach()
  if(bad)
    string(REPLACE ";" "\n" bad "${bad}")
    message(FATAL_ERROR "${SOURCE} includes headers matching '${EXPECT}':\n${bad}")
  endif()
  message(STATUS "${SOURCE}: ${n} headers opened, none matches '${EXPECT}'")
else()
  message(FATAL_ERROR "MODE must be fail or closure, not '${MODE}'")
endif()
