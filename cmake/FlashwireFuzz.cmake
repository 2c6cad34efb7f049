# libFuzzer targets (tests/fuzz), enabled by -DFLASHWIRE_FUZZ=ON with clang.
#
# Every flashwire library is compiled with coverage instrumentation (-fsanitize=fuzzer-no-link)
# and ASan + UBSan (see _flashwire_common); each fuzz target links libFuzzer's driver. UBSan does
# not recover, so undefined behaviour aborts the run like a crash and libFuzzer saves the input.

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FLASHWIRE_FUZZ needs clang (libFuzzer): configure with "
                      "CC=clang-14 CXX=clang++-14 in its own build directory")
endif()

# RelWithDebInfo, the build type scripts/fuzz.sh uses, means something else here: assertions on
# (no NDEBUG: a failed assert is a finding), -O1 as libFuzzer recommends, and line tables only
# (enough for symbolized stack traces, and much cheaper to compile than full debug info).
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")

set(FLASHWIRE_FUZZ_LIBRARY_FLAGS -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
set(FLASHWIRE_FUZZ_TARGET_FLAGS -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer)

# flashwire_fuzz_sources(NAME name SRCS ... DEPS ...)
# A static library of some of src/'s files, for targets that need one parser of a library whose
# other files (servers, thread pools) would only add build time. Same flags as the libraries.
function(flashwire_fuzz_sources)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  list(TRANSFORM ARG_SRCS PREPEND ${PROJECT_SOURCE_DIR}/src/)
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
  _flashwire_common(${ARG_NAME})
endfunction()

# flashwire_fuzz_target(NAME name DEPS ...)
# tests/fuzz/<name>_fuzz.cc → executable <name>_fuzz; its seed corpus is tests/fuzz/corpus/<name>/.
# All targets hang off the custom target `fuzz_targets`.
function(flashwire_fuzz_target)
  cmake_parse_arguments(ARG "" "NAME" "DEPS" ${ARGN})
  set(target ${ARG_NAME}_fuzz)
  add_executable(${target} ${ARG_NAME}_fuzz.cc)
  target_link_libraries(${target} PRIVATE ${ARG_DEPS})
  target_compile_options(${target} PRIVATE ${FLASHWIRE_WARNINGS} ${FLASHWIRE_FUZZ_TARGET_FLAGS})
  target_link_options(${target} PRIVATE ${FLASHWIRE_FUZZ_TARGET_FLAGS})
  add_dependencies(fuzz_targets ${target})
endfunction()
