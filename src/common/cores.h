// How many CPU cores this process may run on: the CPUs in its affinity mask (taskset, a
// container's cpuset), which can be fewer than the machine has. "One thread per core" settings
// use this, so a process pinned to one core does not run two busy threads on it.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

namespace flashwire {

inline unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace flashwire
