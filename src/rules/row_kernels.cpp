#include "rules/row_kernels.hpp"

#include <cmath>

#include "rules/sign_change.hpp"

namespace dalenet::rules::kernels {

std::uint64_t scale_exp_in_place(float* w, const float* g, Eigen::Index n, float inv, float k, float one) {
  constexpr Eigen::Index kPacket = 16;
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

}  // namespace dalenet::rules::kernels
