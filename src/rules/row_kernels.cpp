#include "rules/row_kernels.hpp"

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "rules/sign_change.hpp"

namespace dalenet::rules::kernels {

std::uint64_t scale_exp_in_place(float* w, const float* g, Eigen::Index n, float inv, float k, float one) {
  // Eigen's packet size: the row expression this reproduces is evaluated in packets of that size
  // (16 floats with AVX-512, 8 with AVX2), its last n % kPacket entries one by one.
  constexpr Eigen::Index kPacket = kRowPacket;
  using Packet = Eigen::Array<float, 1, kPacket>;
  // exp(k * (g - one)) of the first all-zero g packet, shared by the others (every lane the same).
  Packet zero_g_factor;
  bool have_zero_g_factor = false;
  const Eigen::Index whole = n / kPacket * kPacket;
  Packet flips = Packet::Zero();  // per lane, as count_sign_changes counts (vectorises)
  for (Eigen::Index s = 0; s < whole; s += kPacket) {
    Eigen::Map<Packet> wp(w + s);
    const Eigen::Map<const Packet> gp(g + s);
    const Packet old = wp;
    Packet next;
    if (!(gp == 0.0F).all()) {
      next = old * inv * (k * (gp - one)).exp();
    } else {
      if (!have_zero_g_factor) {
        zero_g_factor = (k * (gp - one)).exp();
        have_zero_g_factor = true;
      }
      next = old * inv * zero_g_factor;
    }
    for (Eigen::Index l = 0; l < kPacket; ++l) flips(l) += sign_changed(old(l), next(l)) ? 1.0F : 0.0F;
    wp = next;
  }
  std::uint64_t count = 0;
  for (Eigen::Index i = whole; i < n; ++i) {
    const float next = w[i] * inv * std::exp(k * (g[i] - one));
    count += sign_changed(w[i], next) ? 1U : 0U;
    w[i] = next;
  }
  for (Eigen::Index l = 0; l < kPacket; ++l) count += static_cast<std::uint64_t>(flips(l));
  return count;
}

namespace {
namespace ei = Eigen::internal;
using Packet = detail::FloatPacket;

template <int G>
void dot_group_fixed(const float* w, const float* const* x, Eigen::Index n, float* out) {
  // Eigen's packets [0, paired) alternate between two accumulators per example; an odd last
  // packet is added after they are merged. An accumulator's first packet is w * x in Eigen:
  // fma(w, x, 0) is the same value.
  const Eigen::Index packets = n / kRowPacket, paired = packets / 2 * 2;
  Packet acc0[G], acc1[G];
  for (int f = 0; f < G; ++f) acc0[f] = acc1[f] = ei::pset1<Packet>(0.0F);
  for (Eigen::Index i0 = 0; i0 < paired * kRowPacket; i0 += 2 * kRowPacket) {
    const Eigen::Index i1 = i0 + kRowPacket;
    const Packet w0 = ei::ploadu<Packet>(w + i0), w1 = ei::ploadu<Packet>(w + i1);
    for (int f = 0; f < G; ++f) {
      acc0[f] = ei::pmadd(w0, ei::ploadu<Packet>(x[f] + i0), acc0[f]);
      acc1[f] = ei::pmadd(w1, ei::ploadu<Packet>(x[f] + i1), acc1[f]);
    }
  }
  for (int f = 0; f < G; ++f) {
    Packet total = ei::padd(acc0[f], acc1[f]);
    if (packets > paired) {
      const Eigen::Index i = paired * kRowPacket;
      total = ei::pmadd(ei::ploadu<Packet>(w + i), ei::ploadu<Packet>(x[f] + i), total);
    }
    out[f] = ei::predux(total);
  }
}

template <int G>
void axpy_group_fixed(float* g, const float* s, const float* const* x, Eigen::Index n) {
  Packet sp[G];
  for (int f = 0; f < G; ++f) sp[f] = ei::pset1<Packet>(s[f]);
  for (Eigen::Index i = 0; i < n; i += kRowPacket) {
    Packet acc = ei::pload<Packet>(g + i);
    for (int f = 0; f < G; ++f) acc = ei::pmadd(sp[f], ei::ploadu<Packet>(x[f] + i), acc);
    ei::pstore(g + i, acc);
  }
}

// Calls run(std::integral_constant<int, count>) for 1 <= count <= kExampleGroup.
template <typename Run>
void with_group_size(int count, Run&& run) {
  static_assert(kExampleGroup == 4, "one case per group size below");
  switch (count) {
    case 1:
      run(std::integral_constant<int, 1>{});
      break;
    case 2:
      run(std::integral_constant<int, 2>{});
      break;
    case 3:
      run(std::integral_constant<int, 3>{});
      break;
    case 4:
      run(std::integral_constant<int, 4>{});
      break;
    default:
      break;
  }
}
}  // namespace

void dot_group(const float* w, const float* const* x, int count, Eigen::Index n, float* out) {
  if (!detail::kFloatSimd || n % kRowPacket != 0 || n == 0) {  // a scalar tail: Eigen's own sum (see the header)
    for (int f = 0; f < count; ++f)
      out[f] = Eigen::Map<const Eigen::VectorXf>(w, n).dot(Eigen::Map<const Eigen::VectorXf>(x[f], n));
    return;
  }
  with_group_size(count, [&](auto group) { dot_group_fixed<group()>(w, x, n, out); });
}

void axpy_group(float* g, const float* s, const float* const* x, int count, Eigen::Index n) {
  if (!detail::kFloatSimd || n % kRowPacket != 0 ||
      reinterpret_cast<std::uintptr_t>(g) % (kRowPacket * sizeof(float)) != 0) {
    // Eigen's own expression, example by example (a scalar tail or an unaligned g: see the header).
    for (int f = 0; f < count; ++f)
      Eigen::Map<Eigen::ArrayXf>(g, n) += s[f] * Eigen::Map<const Eigen::ArrayXf>(x[f], n);
    return;
  }
  with_group_size(count, [&](auto group) { axpy_group_fixed<group()>(g, s, x, n); });
}

}  // namespace dalenet::rules::kernels
