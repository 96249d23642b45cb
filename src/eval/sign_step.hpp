#pragma once
// The L-inf attacks' ascent step (internal to the library; declared here for its test).
#include <Eigen/Core>

namespace dalenet::detail {

// x[i] += alpha * sign(g[i]) for i < n, with sign as Eigen's for real scalars (1, -1, 0 for +-0,
// NaN for NaN): bit for bit Eigen's `x.array() += alpha * g.array().sign()`, vectorised.
void add_scaled_sign(float alpha, const float* g, float* x, Eigen::Index n);

}  // namespace dalenet::detail
