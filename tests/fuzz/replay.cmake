# Builds without libFuzzer (LIGHTBUS_FUZZ=OFF, any compiler): each fuzz target of this directory
# linked with replay_main.cpp as bin/fuzz_replay_<name>, and a ctest `fuzz.replay.<name>` (label
# `unit`) that feeds it the seed corpus tests/fuzz/corpus/<name>/ and the saved crash inputs
# tests/fuzz/regressions/<name>/. Included from tests/CMakeLists.txt. Not json_writer: it reads
# its input through clang's <fuzzer/FuzzedDataProvider.h>, which GCC does not have (it has no
# saved crash input; the JSON writer's cases are unit tests in tests/unit/core).

set(lightbus_fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)

# lightbus_fuzz_replay(name [libs...])
function(lightbus_fuzz_replay name)
  add_executable(fuzz_replay_${name} ${lightbus_fuzz_dir}/fuzz_${name}.cpp
                                     ${lightbus_fuzz_dir}/replay_main.cpp)
  target_link_libraries(fuzz_replay_${name} PRIVATE lightbus::core ${ARGN})
  lightbus_target_defaults(fuzz_replay_${name})
  set(inputs ${lightbus_fuzz_dir}/corpus/${name})
  if(EXISTS ${lightbus_fuzz_dir}/regressions/${name})
    list(APPEND inputs ${lightbus_fuzz_dir}/regressions/${name})
  endif()
  add_test(NAME fuzz.replay.${name} COMMAND fuzz_replay_${name} ${inputs})
  set_tests_properties(fuzz.replay.${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

lightbus_fuzz_replay(rpc_blob)
lightbus_fuzz_replay(event_fields)
lightbus_fuzz_replay(config)
lightbus_fuzz_replay(redis_reply lightbus::redis hiredis::hiredis)
target_include_directories(fuzz_replay_redis_reply PRIVATE ${PROJECT_SOURCE_DIR}/libs/redis/src)
