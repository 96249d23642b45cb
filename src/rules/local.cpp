// Helpers every local rule shares (include/dalenet/local.hpp).
#include "dalenet/local.hpp"

#include "rules/sign_change.hpp"

namespace dalenet {

std::uint64_t count_sign_changes(const float* before, const float* after, Eigen::Index n) {
  // Sixteen float lanes so that the compiler vectorises it (Eigen's boolean counts do not);
  // the predicate is rules::sign_changed.
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  Eigen::Index i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += rules::sign_changed(before[i + l], after[i + l]) ? 1.0F : 0.0F;
  std::uint64_t count = 0;
  for (; i < n; ++i) count += rules::sign_changed(before[i], after[i]) ? 1U : 0U;
  for (const float c : lanes) count += static_cast<std::uint64_t>(c);
  return count;
}

}  // namespace dalenet
