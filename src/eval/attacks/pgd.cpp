// Projected gradient descent (Madry et al. 2018) with random restarts and a per-example worst
// case: the kernel that pgd_ce, pgd_margin, fgsm, transfer and the convergence and unbounded
// checks share, and the registry entries of pgd_ce and pgd_margin.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "../attack_internal.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/rng.hpp"
#include "registry.hpp"

namespace dalenet {

// ---- PGD ------------------------------------------------------------------------------------

std::vector<std::uint8_t> pgd_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                     std::span<const std::uint8_t> labels, const PgdOptions& opt, Eigen::MatrixXf& adv,
                                     PgdStats* stats) {
  return detail::pgd_attack_keyed(model, X, labels, opt, {}, adv, stats);
}

std::vector<std::uint8_t> detail::pgd_attack_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                                   std::span<const std::uint8_t> labels, const PgdOptions& opt,
                                                   std::span<const std::size_t> keys, Eigen::MatrixXf& adv,
                                                   PgdStats* stats, const Eigen::MatrixXf* first_start) {
  const auto n = static_cast<std::size_t>(X.cols());
  adv = X;
  std::vector<std::uint8_t> robust = clean_correct(model, X, labels, opt.batch);
  const auto eps = static_cast<float>(opt.eps);
  const auto alpha = static_cast<float>(opt.step_factor * opt.eps / std::max(1, opt.steps));
  if (stats != nullptr) *stats = PgdStats{};
  // At eps = 0 every step projects back onto the clean point: one step of one restart checks the
  // pipeline (eps = 0 must reproduce the clean accuracy) without paying for the rest.
  const int steps = eps > 0.0F ? opt.steps : 1;
  const int restarts = eps > 0.0F ? opt.restarts : 1;
  Eigen::MatrixXf logits, grad;
  for (int r = 0; r < restarts; ++r) {
    const std::vector<std::size_t> active = ids_where(robust);
    std::size_t fooled_by_half = 0, fooled_total = 0;
    for (const auto& chunk : chunks(active, opt.batch)) {
      AttackBatch b = make_batch(X, labels, chunk);
      if (r == 0 && first_start != nullptr && eps > 0.0F) {
        for (std::size_t k = 0; k < b.ids.size(); ++k)
          b.x.col(static_cast<Eigen::Index>(k)) = first_start->col(static_cast<Eigen::Index>(b.ids[k]));
        project(opt.norm, eps, b.x0, b.x);
      } else if (opt.random_start && eps > 0.0F) {
        for (std::size_t k = 0; k < b.ids.size(); ++k) {
          // One stream per (restart, example): results do not depend on the batch size.
          Rng rng(opt.seed, (static_cast<std::uint64_t>(r) << 32) ^ stream_key(keys, b.ids[k]));
          random_start(opt.norm, eps, rng, b.x.col(static_cast<Eigen::Index>(k)));
        }
        project(opt.norm, eps, b.x0, b.x);
      }
      for (int t = 0; t <= steps && !b.ids.empty(); ++t) {
        const bool last = t == steps;
        if (last) {
          model.logits(b.x, logits);
        } else {
          model.input_gradient(b.x, loss_gradient(opt.margin_loss, b.labels), logits, grad);
        }
        std::vector<std::uint8_t> fooled;
        const bool any = record_fooled(logits, b.x, b, robust, adv, fooled);
        const auto now = static_cast<std::size_t>(std::count(fooled.begin(), fooled.end(), std::uint8_t{1}));
        fooled_total += now;
        if (2 * t <= steps) fooled_by_half += now;
        if (last) break;
        if (any) {
          // Keep the gradient columns of the survivors aligned with the compacted batch.
          const std::vector<Eigen::Index> keep = surviving_columns(fooled);
          grad = take_columns(grad, keep);
          model.keep_columns(keep);
          b.drop(fooled);
          if (b.ids.empty()) break;
        }
        ascend(opt.norm, alpha, grad, b.x);
        project(opt.norm, eps, b.x0, b.x);
      }
    }
    if (stats != nullptr) {
      const double acc = fraction(robust, n);
      stats->accuracy_by_restart.push_back(acc);
      if (r == 0) {
        stats->first_restart_accuracy = acc;
        stats->first_restart_half_steps_accuracy =
            acc + static_cast<double>(fooled_total - fooled_by_half) / static_cast<double>(std::max<std::size_t>(n, 1));
      }
    }
    if (!opt.random_start) break;  // restarts from the same point would repeat themselves
  }
  return robust;
}

Eigen::MatrixXf pgd_final_iterate(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                  std::span<const std::uint8_t> labels, const PgdOptions& opt) {
  return detail::pgd_final_iterate_keyed(model, X, labels, opt, {});
}

Eigen::MatrixXf detail::pgd_final_iterate_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                                std::span<const std::uint8_t> labels, const PgdOptions& opt,
                                                std::span<const std::size_t> keys) {
  const auto eps = static_cast<float>(opt.eps);
  const auto alpha = static_cast<float>(opt.step_factor * opt.eps / std::max(1, opt.steps));
  Eigen::MatrixXf out = X;
  Eigen::MatrixXf logits, grad;
  std::vector<std::size_t> all(static_cast<std::size_t>(X.cols()));
  std::iota(all.begin(), all.end(), std::size_t{0});
  for (const auto& chunk : chunks(all, opt.batch)) {
    AttackBatch b = make_batch(X, labels, chunk);
    if (opt.random_start && eps > 0.0F) {
      for (std::size_t k = 0; k < b.ids.size(); ++k) {
        Rng rng(opt.seed, stream_key(keys, b.ids[k]));
        random_start(opt.norm, eps, rng, b.x.col(static_cast<Eigen::Index>(k)));
      }
      project(opt.norm, eps, b.x0, b.x);
    }
    for (int t = 0; t < opt.steps; ++t) {
      model.input_gradient(b.x, loss_gradient(opt.margin_loss, b.labels), logits, grad);
      ascend(opt.norm, alpha, grad, b.x);
      project(opt.norm, eps, b.x0, b.x);
    }
    for (std::size_t k = 0; k < b.ids.size(); ++k)
      out.col(static_cast<Eigen::Index>(b.ids[k])) = b.x.col(static_cast<Eigen::Index>(k));
  }
  return out;
}

namespace detail {

PgdOptions pgd_options(const AttackCall& c) {
  PgdOptions p;
  p.norm = c.opt.norm;
  p.eps = c.eps;
  p.batch = c.opt.batch;
  p.seed = c.seed;
  p.steps = c.opt.steps;
  p.restarts = c.opt.restarts;
  p.step_factor = c.opt.step_factor;
  return p;
}

namespace {

std::vector<std::uint8_t> run_pgd(const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& restarts, bool margin) {
  PgdOptions p = pgd_options(c);
  p.margin_loss = margin;
  return pgd_attack_keyed(c.model, c.x0, c.labels, p, c.keys, adv, &restarts);
}

}  // namespace

// PGD (Madry et al. 2018) on the cross-entropy, `steps` signed steps of step_factor * eps / steps
// from a random start, `restarts` times, the worst case kept per example.
AttackInfo pgd_ce_attack() {
  AttackInfo a;
  a.name = "pgd_ce";
  a.cost_rank = 0;
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& restarts) {
    return run_pgd(c, adv, restarts, false);
  };
  return a;
}

// The same on the margin (logit-difference) loss of Carlini & Wagner (2017).
AttackInfo pgd_margin_attack() {
  AttackInfo a;
  a.name = "pgd_margin";
  a.cost_rank = 1;
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& restarts) { return run_pgd(c, adv, restarts, true); };
  return a;
}

}  // namespace detail

}  // namespace dalenet
