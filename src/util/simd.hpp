#pragma once
// Eigen's native SIMD packet of floats (internal to the library): the one definition that the
// hand-written kernels (the CSR product, the efficacy, H3's row kernels) build on.
#include <Eigen/Core>

namespace dalenet::detail {

using FloatPacket = Eigen::internal::packet_traits<float>::type;
// Floats per packet: 16 with AVX-512, 8 with AVX2, 4 with SSE2.
constexpr int kFloatPacket = Eigen::internal::packet_traits<float>::size;
// Whether Eigen vectorises float expressions at all (else every kernel takes its scalar path).
constexpr bool kFloatSimd = Eigen::internal::packet_traits<float>::Vectorizable && kFloatPacket > 1;

}  // namespace dalenet::detail
