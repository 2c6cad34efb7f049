// Raises this process's soft limit on open files to its hard limit. A server holds one
// descriptor per connection; the usual soft limit (1024) would turn clients away long before
// memory or CPU run out. Returns the limit now in force.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace flashwire {

inline std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace flashwire
