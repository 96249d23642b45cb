#pragma once
// The forward pass from the first projection's drive (internal to the library).
#include <Eigen/Core>

#include "dalenet/backprop.hpp"
#include "dalenet/network.hpp"

namespace dalenet::detail {

// forward() for inputs whose first-projection drive Z = effective(W_0) X (without the bias,
// [first layer x B]) the caller already has: the first layer's bias, competition and f, then every
// later layer as forward() computes it. Equal to forward() within the rounding of how Z was
// summed. The cache serves no backward pass (act[0] is not filled).
void forward_from_first_drive(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& drive, ForwardCache& cache);

}  // namespace dalenet::detail
