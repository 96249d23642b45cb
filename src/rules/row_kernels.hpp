#pragma once
// Row kernels of the bio rule's hidden plasticity (internal to the library; src/rules/bio_rule.cpp).
#include <Eigen/Core>
#include <cstdint>

#include "util/simd.hpp"

namespace dalenet::rules::kernels {

// One of Eigen's SIMD packets of floats (16 with AVX-512, 8 with AVX2): the unit of the row kernels.
constexpr Eigen::Index kRowPacket = detail::kFloatPacket;

// H3's multiplicative step on one neuron's row of n input weights, in place:
// w_i <- (w_i * inv) * exp(k * (g_i - one)); returns the number of sign changes (as
// count_sign_changes counts them, dalenet/local.hpp). Every value is bit-identical to evaluating
// the expression row-wise into an aligned buffer (what H3 did): Eigen's vectorised exp on packets
// of kRowPacket floats at offsets 0, kRowPacket, ..., std::exp on the last
// n % kRowPacket entries. A packet whose g is all zero (no example the neuron fired for had input
// there: most of an MNIST row) takes one shared factor, exp(k * (0 - one)), from the same
// vectorised exp, instead of one exponential per weight.
std::uint64_t scale_exp_in_place(float* w, const float* g, Eigen::Index n, float inv, float k, float one);

// H3's per-example sweeps, a few examples at a time (the examples one neuron fired for): each
// packet of the neuron's row (dot products) or of its statistics g (updates) is loaded once for
// up to kExampleGroup examples, and the examples' dot products run as independent chains. The
// values are those of the sweeps example by example. Packets of kRowPacket floats at offsets 0,
// kRowPacket, ... of the row.
constexpr int kExampleGroup = 4;

// out[f] = w . x[f] for f < count (count <= kExampleGroup), summed as Eigen's reduction sums
// Map<const VectorXf>(w, n).dot(Map<const VectorXf>(x[f], n)) (Redux.h, LinearVectorizedTraversal;
// an expression without direct access starts its packets at 0): even and odd packets in two
// accumulators, merged, the odd last packet, the horizontal sum; each a + w * x is Eigen's pmadd
// (a fused multiply-add on CPUs with FMA). GCC contracts Eigen's padd(acc, pmul(w, x)) into the
// same instruction in the Release build, where H3's models compare equal with `cmp` against the
// example-by-example loop over Eigen's dot; a build that does not contract (the sanitizer build)
// differs from Eigen's loop in the last bits. Where n is not a multiple of the packet size it is
// Eigen's dot itself, example by example. Row.GroupedSweepsMatchTheExampleByExampleSweeps checks
// both kernels.
void dot_group(const float* w, const float* const* x, int count, Eigen::Index n, float* out);

// g += s[f] * x[f] for f = 0, 1, ..., count - 1 in that order, per element g + s * x as one pmadd
// (as GCC contracts Eigen's `g += s * x.array()` in the Release build). An unaligned g, or n not a
// multiple of the packet size, goes through Eigen's expression itself.
void axpy_group(float* g, const float* s, const float* const* x, int count, Eigen::Index n);

}  // namespace dalenet::rules::kernels
