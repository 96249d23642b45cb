#pragma once
// Row kernels of the bio rule's hidden plasticity (internal to the library; src/rules/bio_rule.cpp).
#include <Eigen/Core>
#include <cstdint>

namespace dalenet::rules::kernels {

// H3's multiplicative step on one neuron's row of n input weights, in place:
// w_i <- (w_i * inv) * exp(k * (g_i - one)); returns the number of sign changes (as
// count_sign_changes counts them, dalenet/local.hpp). Every value is bit-identical to evaluating
// the expression row-wise into an aligned buffer (what H3 did): Eigen's vectorised exp on packets
// of 16 at offsets 0, 16, ..., std::exp on the last n % 16 entries. A packet whose g is all zero
// (no example the neuron fired for had input there: most of an MNIST row) takes one shared
// factor, exp(k * (0 - one)), from the same vectorised exp, instead of 16 exponentials.
std::uint64_t scale_exp_in_place(float* w, const float* g, Eigen::Index n, float inv, float k, float one);

}  // namespace dalenet::rules::kernels
