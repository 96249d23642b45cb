#pragma once
// The one definition of a sign flip (internal to the library): count_sign_changes
// (dalenet/local.hpp) and the in-place H3 kernel (row_kernels.hpp) both count with it.

namespace dalenet::rules {

// Whether a weight changed sign from `before` to `after`. Zero counts as no sign, so a weight that
// becomes 0 (or leaves 0) has not flipped; signs are compared, not multiplied, so tiny weights
// cannot underflow to "no flip".
constexpr bool sign_changed(float before, float after) {
  return (before > 0.0F && after < 0.0F) || (before < 0.0F && after > 0.0F);
}

}  // namespace dalenet::rules
