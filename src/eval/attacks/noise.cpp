// Random-noise attacks: Gaussian noise inside the threat model (a sanity floor under the
// gradient attacks) and salt-and-pepper outside it.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "../attack_internal.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/rng.hpp"
#include "registry.hpp"

namespace dalenet {

namespace detail {

// Worst case over `draws` random perturbations per example (gaussian: clipped N(0, eps^2) per
// pixel for L-inf, a random direction of length eps for L2; salt_pepper: a fraction eps of the
// pixels set to 0 or 1).
std::vector<std::uint8_t> noise_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                       std::span<const std::uint8_t> labels, NoiseKind kind, ThreatNorm norm,
                                       double eps_d, int draws, std::uint64_t seed, std::size_t batch,
                                       std::span<const std::size_t> keys, Eigen::MatrixXf& adv) {
  adv = X;
  std::vector<std::uint8_t> robust = clean_correct(model, X, labels, batch);
  const auto eps = static_cast<float>(eps_d);
  Eigen::MatrixXf logits;
  for (int d = 0; d < draws; ++d) {
    for (const auto& chunk : chunks(ids_where(robust), batch)) {
      AttackBatch b = make_batch(X, labels, chunk);
      for (std::size_t k = 0; k < b.ids.size(); ++k) {
        Rng rng(seed, (static_cast<std::uint64_t>(d) << 32) ^ stream_key(keys, b.ids[k]) ^
                          (kind == NoiseKind::gaussian ? 0x6A0ULL << 40 : 0x5A1ULL << 40));
        auto x = b.x.col(static_cast<Eigen::Index>(k));
        if (kind == NoiseKind::salt_pepper) {
          for (Eigen::Index i = 0; i < x.size(); ++i)
            if (rng.uniform() < eps_d) x(i) = rng.uniform() < 0.5 ? 0.0F : 1.0F;
        } else if (norm == ThreatNorm::linf) {
          for (Eigen::Index i = 0; i < x.size(); ++i)
            x(i) += std::clamp(static_cast<float>(rng.normal()) * eps, -eps, eps);
        } else {
          Eigen::VectorXf g(x.size());
          for (Eigen::Index i = 0; i < g.size(); ++i) g(i) = static_cast<float>(rng.normal());
          x += g * (eps / std::max(g.norm(), 1e-30F));
        }
      }
      b.x = b.x.cwiseMax(0.0F).cwiseMin(1.0F);
      model.logits(b.x, logits);
      for (std::size_t k = 0; k < b.ids.size(); ++k)
        if (!classified_correctly(logits, static_cast<Eigen::Index>(k), b.labels[k])) {
          robust[b.ids[k]] = 0;
          adv.col(static_cast<Eigen::Index>(b.ids[k])) = b.x.col(static_cast<Eigen::Index>(k));
        }
    }
  }
  return robust;
}

}  // namespace detail

detail::AttackInfo detail::gaussian_attack() {
  AttackInfo a;
  a.name = "gaussian";
  a.cost_rank = 7;
  a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    return noise_attack(c.model, c.x0, c.labels, NoiseKind::gaussian, c.opt.norm, c.eps, c.opt.noise_draws, c.seed,
                        c.opt.batch, c.keys, adv);
  };
  return a;
}

// A corruption outside the threat model (a fraction eps of the pixels set to 0 or 1): reported
// beside the robust accuracy, never inside it, and run on every clean-correct example.
detail::AttackInfo detail::salt_pepper_attack() {
  AttackInfo a;
  a.name = "salt_pepper";
  a.cost_rank = 9;
  a.in_threat_model = false;
  a.linf_only = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    return noise_attack(c.model, c.x0, c.labels, NoiseKind::salt_pepper, c.opt.norm, c.eps, c.opt.noise_draws, c.seed,
                        c.opt.batch, c.keys, adv);
  };
  return a;
}

}  // namespace dalenet
