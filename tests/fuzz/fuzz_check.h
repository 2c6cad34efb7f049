// What every fuzz target uses to state a property: FUZZ_CHECK(condition, what) prints the
// property that failed and aborts, so libFuzzer records the input as a crash (it would ignore a
// wrong answer that does not crash).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                             \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__, \
                   what, #condition);                                                           \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
