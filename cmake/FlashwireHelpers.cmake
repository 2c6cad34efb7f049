# One helper per target kind, so that every target gets the same warnings and sanitizer flags.
# Flags are set per target; nothing here touches global include directories.

set(FLASHWIRE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Werror=return-type)
set(FLASHWIRE_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)

function(_flashwire_common target)
  target_compile_options(${target} PRIVATE ${FLASHWIRE_WARNINGS})
  if(FLASHWIRE_SANITIZE)
    target_compile_options(${target} PRIVATE ${FLASHWIRE_SANITIZER_FLAGS})
    target_link_options(${target} PRIVATE ${FLASHWIRE_SANITIZER_FLAGS})
  endif()
  if(FLASHWIRE_FUZZ)
    # Coverage instrumentation without libFuzzer's main(): the fuzz targets link that.
    target_compile_options(${target} PRIVATE ${FLASHWIRE_FUZZ_LIBRARY_FLAGS})
  endif()
endfunction()

# flashwire_cc_library(NAME name SRCS ... DEPS ...)
# Creates flashwire_<name>, aliased flashwire::<name>. Headers are included as "<module>/<file>.h"
# relative to src/.
function(flashwire_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target flashwire_${ARG_NAME})
  if(ARG_SRCS)
    add_library(${target} STATIC ${ARG_SRCS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
    _flashwire_common(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
  add_library(flashwire::${ARG_NAME} ALIAS ${target})
endfunction()

# flashwire_cc_test(NAME name SRCS ... DEPS ... [LABELS ...])
# A GoogleTest binary registered with CTest; label "unit" unless LABELS says otherwise.
function(flashwire_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  _flashwire_common(${ARG_NAME})
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} --gtest_brief=1)
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
endfunction()

# flashwire_cc_benchmark(NAME name SRCS ... DEPS ...)
# A Google Benchmark binary; CTest runs it once, briefly, as a smoke test (label "bench-smoke").
# A benchmark that ends with state.SkipWithError (a failed operation) fails the smoke test.
function(flashwire_cc_benchmark)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  _flashwire_common(${ARG_NAME})
  if(FLASHWIRE_BUILD_TESTS)
    add_test(NAME ${ARG_NAME}_smoke COMMAND ${ARG_NAME} --benchmark_min_time=0.001)
    set_tests_properties(${ARG_NAME}_smoke PROPERTIES LABELS "bench-smoke" TIMEOUT 300
      FAIL_REGULAR_EXPRESSION "ERROR OCCURRED")
  endif()
endfunction()
