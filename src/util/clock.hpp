#pragma once
// The clock of progress displays and unit timings (internal): monotonic, so that an ETA or a
// unit's time does not jump when the wall clock is set.
#include <chrono>

namespace dalenet {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace dalenet
