// Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
// diverse parameter-free attacks", Algorithm 1): PGD with momentum whose step size starts at 2 eps
// and halves at checkpoints where the loss stalls, restarting from the best point found. Two
// entries of AutoAttack's standard suite:
//  - apgd_ce: the cross-entropy loss, one run from a random start;
//  - apgd_t:  the targeted DLR loss (their eq. 8), one run per target, the nine classes (all
//             wrong ones, if fewer) with the largest clean logits, in that order.
// The iteration count is AttackOptions::steps (100 in AutoAttack). Details follow the authors'
// reference code (github.com/fra31/auto-attack, autopgd_base.py) where the paper leaves them
// open; the two places where this differs are named at checkpoint_state below.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "../attack_internal.hpp"
#include "../sign_step.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "registry.hpp"

namespace dalenet::detail {

std::vector<int> apgd_checkpoints(int iterations) {
  // The reference code's integer schedule: the first interval is 22 % of the iterations, each
  // later one 3 % shorter, down to 6 %.
  const int first = std::max(static_cast<int>(0.22 * iterations), 1);
  const int shrink = std::max(static_cast<int>(0.03 * iterations), 1);
  const int shortest = std::max(static_cast<int>(0.06 * iterations), 1);
  std::vector<int> out;
  for (int at = first, len = first; at <= iterations; len = std::max(len - shrink, shortest), at += len)
    out.push_back(at);
  return out;
}

void cross_entropy_per_example(const Eigen::MatrixXf& z, std::span<const std::uint8_t> labels, Eigen::VectorXf& loss,
                               Eigen::MatrixXf& d) {
  // The gradient is the training loss's (softmax minus one-hot, subnormals flushed), as PGD-CE's;
  // only the per-example values, which APGD's checkpoints compare, are computed here.
  softmax_cross_entropy(z, labels, Reduction::sum, &d);
  loss.resize(z.cols());
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    const double top = z.col(b).maxCoeff();
    double sum = 0.0;
    for (Eigen::Index c = 0; c < z.rows(); ++c) sum += std::exp(static_cast<double>(z(c, b)) - top);
    loss(b) = static_cast<float>(top + std::log(sum) - z(labels[static_cast<std::size_t>(b)], b));
  }
}

void dlr_targeted_per_example(const Eigen::MatrixXf& z, std::span<const std::uint8_t> labels,
                              std::span<const std::uint8_t> targets, Eigen::VectorXf& loss, Eigen::MatrixXf& d) {
  if (z.rows() < 4) throw InputError("apgd_t: the targeted DLR loss needs at least 4 classes");  // checked before
  d.setZero(z.rows(), z.cols());
  loss.resize(z.cols());
  std::vector<Eigen::Index> order(static_cast<std::size_t>(z.rows()));
  for (Eigen::Index b = 0; b < z.cols(); ++b) {
    std::iota(order.begin(), order.end(), Eigen::Index{0});
    std::partial_sort(order.begin(), order.begin() + 4, order.end(), [&](Eigen::Index i, Eigen::Index j) {
      return z(i, b) > z(j, b) || (z(i, b) == z(j, b) && i < j);
    });
    const int y = labels[static_cast<std::size_t>(b)];
    const int t = targets[static_cast<std::size_t>(b)];
    // L = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12), pi sorting z in decreasing order:
    // invariant to shifting and scaling the logits, so a saturated softmax cannot flatten it.
    const double num = static_cast<double>(z(y, b)) - z(t, b);
    const double den =
        static_cast<double>(z(order[0], b)) - 0.5 * (static_cast<double>(z(order[2], b)) + z(order[3], b)) + 1e-12;
    loss(b) = static_cast<float>(-num / den);
    const double dden = num / (den * den);  // dL/d(den)
    d(y, b) += static_cast<float>(-1.0 / den);
    d(t, b) += static_cast<float>(1.0 / den);
    d(order[0], b) += static_cast<float>(dden);
    d(order[2], b) += static_cast<float>(-0.5 * dden);
    d(order[3], b) += static_cast<float>(-0.5 * dden);
  }
}

namespace {

enum class ApgdLoss { cross_entropy, dlr_targeted };

// The per-example state of one APGD run on a batch; every member has one column or entry per
// example of `batch`, and keep() compacts them all when fooled examples leave.
struct ApgdState {
  AttackBatch batch;
  std::vector<std::uint8_t> target;  // apgd_t: the target class of each example
  Eigen::MatrixXf previous;          // the iterate before x (the momentum term)
  Eigen::MatrixXf best, grad, best_grad;
  Eigen::VectorXf step;  // eta, per example
  Eigen::VectorXf loss, last_loss, best_loss, best_loss_at_check;
  std::vector<int> increases;                 // steps since the last checkpoint where the loss rose
  std::vector<std::uint8_t> halved_at_check;  // the step was halved at the last checkpoint

  void keep(const std::vector<Eigen::Index>& cols, const std::vector<std::uint8_t>& fooled) {
    batch.drop(fooled);
    for (auto* m : {&previous, &best, &grad, &best_grad}) *m = take_columns(*m, cols);
    for (auto* v : {&step, &loss, &last_loss, &best_loss, &best_loss_at_check}) *v = take_entries(*v, cols);
    increases = take_entries(increases, cols);
    halved_at_check = take_entries(halved_at_check, cols);
    if (!target.empty()) target = take_entries(target, cols);  // apgd_t only
  }
};

// The loss and its gradient at the batch's iterates; fills s.loss and s.grad, returns the logits.
void evaluate(Classifier& model, ApgdLoss kind, ApgdState& s, Eigen::MatrixXf& logits) {
  auto& b = s.batch;
  model.input_gradient(
      b.x,
      [&](const Eigen::MatrixXf& z, Eigen::MatrixXf& dz) {
        if (kind == ApgdLoss::cross_entropy) {
          cross_entropy_per_example(z, b.labels, s.loss, dz);
        } else {
          dlr_targeted_per_example(z, b.labels, s.target, s.loss, dz);
        }
      },
      logits, s.grad);
}

// Records the examples `logits` misclassifies (robust, adv) and drops them from the state.
// Returns false once the batch is empty.
bool drop_fooled(Classifier& model, const Eigen::MatrixXf& logits, ApgdState& s, std::vector<std::uint8_t>& robust,
                 Eigen::MatrixXf& adv) {
  std::vector<std::uint8_t> fooled;
  if (!record_fooled(logits, s.batch.x, s.batch, robust, adv, fooled)) return true;
  const std::vector<Eigen::Index> keep = surviving_columns(fooled);
  model.keep_columns(keep);
  s.keep(keep, fooled);
  return !s.batch.ids.empty();
}

// x <- P(x + a (P(x + eta sign(g)) - x) + (1 - a) (x - previous)), per column with its own eta
// (the unit gradient for L2); previous <- the old x.
void momentum_step(ThreatNorm norm, float eps, float a, ApgdState& s) {
  auto& b = s.batch;
  Eigen::MatrixXf z = b.x;
  for (Eigen::Index k = 0; k < z.cols(); ++k) {
    if (norm == ThreatNorm::linf) {
      add_scaled_sign(s.step(k), s.grad.col(k).data(), z.col(k).data(), z.rows());
    } else {
      const float n = s.grad.col(k).norm();
      if (n > 0.0F) z.col(k) += (s.step(k) / n) * s.grad.col(k);
    }
  }
  project(norm, eps, b.x0, z);
  Eigen::MatrixXf next = b.x + a * (z - b.x) + (1.0F - a) * (b.x - s.previous);
  project(norm, eps, b.x0, next);
  s.previous = std::move(b.x);
  b.x = std::move(next);
}

// A checkpoint: the step halves, and the run goes back to its best point, where the loss rose in
// at most 75 % of the steps since the last checkpoint (oscillation), or where the step was not
// halved last time and the best loss has not improved since. As in the reference code (their
// `<=` and the same two conditions); the steps are counted from the start point's loss, where the
// reference compares the first step with an unset entry.
void checkpoint_state(ApgdState& s, int interval) {
  for (Eigen::Index k = 0; k < s.step.size(); ++k) {
    const auto e = static_cast<std::size_t>(k);
    const bool oscillates = s.increases[e] <= 0.75 * interval;
    const bool stalled = s.halved_at_check[e] == 0 && s.best_loss_at_check(k) >= s.best_loss(k);
    const bool halve = oscillates || stalled;
    s.halved_at_check[e] = halve ? 1 : 0;
    s.best_loss_at_check(k) = s.best_loss(k);
    s.increases[e] = 0;
    if (!halve) continue;
    s.step(k) *= 0.5F;
    s.batch.x.col(k) = s.best.col(k);
    s.grad.col(k) = s.best_grad.col(k);
  }
}

struct ApgdRun {
  ThreatNorm norm;
  float eps;
  int iterations;
  ApgdLoss loss;
};

// One APGD run on the batch in `s` (its random start already drawn and projected).
void apgd_batch(Classifier& model, const ApgdRun& run, ApgdState& s, std::vector<std::uint8_t>& robust,
                Eigen::MatrixXf& adv) {
  Eigen::MatrixXf logits;
  evaluate(model, run.loss, s, logits);
  const auto m = static_cast<Eigen::Index>(s.batch.ids.size());
  s.previous = s.best = s.batch.x;
  s.best_grad = s.grad;
  s.best_loss = s.best_loss_at_check = s.last_loss = s.loss;
  s.step = Eigen::VectorXf::Constant(m, 2.0F * run.eps);
  s.increases.assign(static_cast<std::size_t>(m), 0);
  s.halved_at_check.assign(static_cast<std::size_t>(m), 0);
  if (!drop_fooled(model, logits, s, robust, adv)) return;
  const std::vector<int> checks = apgd_checkpoints(run.iterations);
  std::size_t next_check = 0;
  for (int i = 0; i < run.iterations; ++i) {
    momentum_step(run.norm, run.eps, i == 0 ? 1.0F : 0.75F, s);
    evaluate(model, run.loss, s, logits);
    if (!drop_fooled(model, logits, s, robust, adv)) return;
    for (Eigen::Index k = 0; k < s.loss.size(); ++k) {
      if (s.loss(k) > s.last_loss(k)) ++s.increases[static_cast<std::size_t>(k)];
      s.last_loss(k) = s.loss(k);
      if (s.loss(k) <= s.best_loss(k)) continue;
      s.best_loss(k) = s.loss(k);
      s.best.col(k) = s.batch.x.col(k);
      s.best_grad.col(k) = s.grad.col(k);
    }
    if (next_check < checks.size() && i + 1 == checks[next_check]) {
      const int interval = checks[next_check] - (next_check == 0 ? 0 : checks[next_check - 1]);
      checkpoint_state(s, interval);
      ++next_check;
    }
  }
}

// Per example, the classes other than its label by decreasing clean logit (ties: lower class).
std::vector<std::vector<std::uint8_t>> targets_by_clean_logit(Classifier& model, const Eigen::MatrixXf& X,
                                                              std::span<const std::uint8_t> labels, std::size_t batch) {
  std::vector<std::vector<std::uint8_t>> out(static_cast<std::size_t>(X.cols()));
  Eigen::MatrixXf z;
  for (Eigen::Index s = 0; s < X.cols(); s += static_cast<Eigen::Index>(batch)) {
    const Eigen::Index m = std::min<Eigen::Index>(static_cast<Eigen::Index>(batch), X.cols() - s);
    model.logits(X.middleCols(s, m), z);
    for (Eigen::Index b = 0; b < m; ++b) {
      auto& t = out[static_cast<std::size_t>(s + b)];
      for (Eigen::Index c = 0; c < z.rows(); ++c)
        if (c != labels[static_cast<std::size_t>(s + b)]) t.push_back(static_cast<std::uint8_t>(c));
      std::stable_sort(t.begin(), t.end(), [&](std::uint8_t i, std::uint8_t j) { return z(i, b) > z(j, b); });
    }
  }
  return out;
}

std::vector<std::uint8_t> apgd_attack(const AttackCall& c, ApgdLoss loss, Eigen::MatrixXf& adv) {
  adv = c.x0;
  std::vector<std::uint8_t> robust = clean_correct(c.model, c.x0, c.labels, c.opt.batch);
  std::vector<std::vector<std::uint8_t>> order;
  int runs = 1;
  if (loss == ApgdLoss::dlr_targeted && c.x0.cols() > 0) {
    order = targets_by_clean_logit(c.model, c.x0, c.labels, c.opt.batch);
    const auto wrong_classes = static_cast<int>(order.front().size());
    if (wrong_classes < 3) throw InputError("apgd_t: the targeted DLR loss needs at least 4 classes");
    runs = std::min(9, wrong_classes);
  }
  if (c.eps <= 0.0) return robust;  // the ball is the clean point
  const ApgdRun run{c.opt.norm, static_cast<float>(c.eps), c.opt.steps, loss};
  for (int r = 0; r < runs; ++r) {
    for (const auto& chunk : chunks(ids_where(robust), c.opt.batch)) {
      ApgdState s;
      s.batch = make_batch(c.x0, c.labels, chunk);
      for (std::size_t k = 0; k < chunk.size(); ++k) {
        if (!order.empty()) s.target.push_back(order[chunk[k]][static_cast<std::size_t>(r)]);
        // One stream per (run, example): results do not depend on the batch or its company.
        Rng rng(c.seed, (static_cast<std::uint64_t>(r) << 32) ^ stream_key(c.keys, chunk[k]) ^ (0xA9DULL << 44));
        random_start(c.opt.norm, run.eps, rng, s.batch.x.col(static_cast<Eigen::Index>(k)));
      }
      project(c.opt.norm, run.eps, s.batch.x0, s.batch.x);
      apgd_batch(c.model, run, s, robust, adv);
    }
  }
  return robust;
}

}  // namespace

AttackInfo apgd_ce_attack() {
  AttackInfo a;
  a.name = "apgd_ce";
  a.cost_rank = 2;
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    return apgd_attack(c, ApgdLoss::cross_entropy, adv);
  };
  return a;
}

AttackInfo apgd_t_attack() {
  AttackInfo a;
  a.name = "apgd_t";
  a.cost_rank = 3;
  a.white_box = a.iterative = a.in_default_ladder = true;
  a.applies = [](Classifier& model) {  // the DLR loss needs 4 classes
    Eigen::MatrixXf z;
    model.logits(Eigen::MatrixXf::Zero(model.input_size(), 1), z);
    return z.rows() >= 4;
  };
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    return apgd_attack(c, ApgdLoss::dlr_targeted, adv);
  };
  return a;
}

}  // namespace dalenet::detail
