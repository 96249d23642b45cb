#include "dalenet/threads.hpp"

#include <omp.h>

#include <Eigen/Core>
#include <thread>

namespace dalenet {
int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
int set_threads(int n) {
  if (n <= 0) n = hardware_threads();
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
  return n;
}
int current_threads() {
  return Eigen::nbThreads();
}
}  // namespace dalenet
