#include "common/cores.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace flashwire {
namespace {

TEST(UsableCoresTest, CountsTheCpusThisThreadMayRunOn) {
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof original, &original), 0);
  EXPECT_EQ(usable_cores(), static_cast<unsigned>(CPU_COUNT(&original)));
  EXPECT_LE(usable_cores(), std::max(1u, std::thread::hardware_concurrency()));

  // Pinned to one CPU (the first one allowed), it is one core, however many the machine has.
  int first = 0;
  while (!CPU_ISSET(first, &original)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(usable_cores(), 1u);
  ASSERT_EQ(sched_setaffinity(0, sizeof original, &original), 0);
}

}  // namespace
}  // namespace flashwire
