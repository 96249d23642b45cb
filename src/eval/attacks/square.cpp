// The Square attack (L-inf), Andriushchenko et al. 2020, Algorithm 1: random squares of +-eps
// accepted when they lower the margin, evaluated through the changed window only where the
// model allows (src/eval/patch_logits.hpp).
#include <algorithm>
#include <cmath>
#include <numeric>

#include <optional>

#include "../attack_internal.hpp"
#include "../patch_logits.hpp"
#include "dalenet/attack.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "registry.hpp"

namespace dalenet {

// ---- Square attack (L-inf), Andriushchenko et al. 2020, Algorithm 1 ---------------------------

namespace {
// The schedule of the fraction of pixels changed per query (their p_selection, with the
// iteration rescaled to a 10 000-query budget).
double square_fraction(double p_init, int it, int queries) {
  const int i = static_cast<int>(static_cast<double>(it) / queries * 10000.0);
  if (i <= 10) return p_init;
  if (i <= 50) return p_init / 2;
  if (i <= 200) return p_init / 4;
  if (i <= 500) return p_init / 8;
  if (i <= 1000) return p_init / 16;
  if (i <= 2000) return p_init / 32;
  if (i <= 4000) return p_init / 64;
  if (i <= 6000) return p_init / 128;
  if (i <= 8000) return p_init / 256;
  return p_init / 512;
}
}  // namespace

std::vector<std::uint8_t> square_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                        std::span<const std::uint8_t> labels, double eps_d, int queries, double p_init,
                                        int rows, int cols, std::uint64_t seed, std::size_t batch,
                                        Eigen::MatrixXf& adv) {
  return detail::square_attack_keyed(model, X, labels, {eps_d, queries, p_init, rows, cols, seed, batch}, {}, adv);
}

namespace {

// The candidate of one example for one Square query: a window of side s at (r0, c0) of the image
// set to x0 + sign (clipped to the box); the pixels it covers go into `changed`. If the drawn
// window would leave the current input unchanged, the other sign is the only new candidate.
void draw_square(Rng& rng, int s, float eps, int rows, int cols, const Eigen::Ref<const Eigen::VectorXf>& x0,
                 const Eigen::Ref<const Eigen::VectorXf>& x, Eigen::Ref<Eigen::VectorXf> cand,
                 std::vector<std::int32_t>& changed) {
  const int r0 = static_cast<int>(rng.below(static_cast<std::uint64_t>(rows) - static_cast<std::uint64_t>(s) + 1));
  const int c0 = static_cast<int>(rng.below(static_cast<std::uint64_t>(cols) - static_cast<std::uint64_t>(s) + 1));
  float sign = rng.uniform() < 0.5 ? -eps : eps;
  bool same = true;
  for (int r = r0; r < r0 + s && same; ++r)
    for (int c = c0; c < c0 + s; ++c) {
      const Eigen::Index i = r * cols + c;
      if (std::abs(std::clamp(x0(i) + sign, 0.0F, 1.0F) - x(i)) > 1e-7F) {
        same = false;
        break;
      }
    }
  if (same) sign = -sign;
  changed.clear();
  for (int r = r0; r < r0 + s; ++r)
    for (int c = c0; c < c0 + s; ++c) {
      const Eigen::Index i = r * cols + c;
      cand(i) = std::clamp(x0(i) + sign, 0.0F, 1.0F);
      changed.push_back(static_cast<std::int32_t>(i));
    }
}

// Logits of a batch of Square candidates: through PatchLogits (the window's columns of the first
// projection only) where the model is a NetworkClassifier, a full pass otherwise.
class SquareLogits {
 public:
  explicit SquareLogits(Classifier& model) : model_(model) {
    if (auto* net = dynamic_cast<NetworkClassifier*>(&model); net != nullptr && net->incremental_candidates())
      patch_.emplace(net->network());
  }
  void reset(const Eigen::MatrixXf& x, Eigen::MatrixXf& logits) {
    if (patch_) {
      patch_->reset(x, logits);
    } else {
      model_.logits(x, logits);
    }
  }
  void evaluate(const Eigen::MatrixXf& cand, const std::vector<std::vector<std::int32_t>>& changed,
                Eigen::MatrixXf& logits) {
    if (patch_) {
      patch_->evaluate(cand, changed, logits);
    } else {
      model_.logits(cand, logits);
    }
  }
  void accept(const Eigen::MatrixXf& cand, const std::vector<std::uint8_t>& take) {
    if (patch_) patch_->accept(cand, take);
  }
  void keep_columns(const std::vector<Eigen::Index>& keep) {
    if (patch_) patch_->keep_columns(keep);
  }
  bool approximate() const { return patch_.has_value(); }

 private:
  Classifier& model_;
  std::optional<detail::PatchLogits> patch_;
};

}  // namespace

std::vector<std::uint8_t> detail::square_attack_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                                      std::span<const std::uint8_t> labels, const SquareOptions& o,
                                                      std::span<const std::size_t> keys, Eigen::MatrixXf& adv) {
  const int rows = o.rows, cols = o.cols;
  if (static_cast<Eigen::Index>(rows) * cols != X.rows())
    throw InputError("square attack: images of " + std::to_string(rows) + "x" + std::to_string(cols) +
                     " do not match " + std::to_string(X.rows()) + " input features");
  adv = X;
  std::vector<std::uint8_t> robust = clean_correct(model, X, labels, o.batch);
  const auto eps = static_cast<float>(o.eps);
  SquareLogits square_logits(model);
  Eigen::MatrixXf logits;
  for (const auto& chunk : chunks(ids_where(robust), o.batch)) {
    AttackBatch b = make_batch(X, labels, chunk);
    std::vector<Rng> rngs;
    for (auto id : b.ids) rngs.emplace_back(o.seed, 0x5C0A7E00000000ULL ^ stream_key(keys, id));
    // Start: vertical stripes of +-eps (one sign per image column).
    for (std::size_t k = 0; k < b.ids.size(); ++k)
      for (int c = 0; c < cols; ++c) {
        const float s = rngs[k].uniform() < 0.5 ? -eps : eps;
        for (int r = 0; r < rows; ++r) b.x(r * cols + c, static_cast<Eigen::Index>(k)) += s;
      }
    b.x = b.x.cwiseMax(0.0F).cwiseMin(1.0F);
    square_logits.reset(b.x, logits);
    Eigen::VectorXf margin = label_margins(logits, b.labels);
    Eigen::MatrixXf cand = b.x;  // kept equal to b.x outside each query's windows
    std::vector<std::vector<std::int32_t>> changed(b.ids.size());
    std::vector<std::uint8_t> take;
    std::vector<std::size_t> fooled_here;
    // Marks the misclassified candidates fooled (their input the witness) and drops them from
    // every per-example state.
    auto record = [&](const Eigen::MatrixXf& z, const Eigen::MatrixXf& xs) {
      std::vector<std::uint8_t> fooled;
      if (!record_fooled(z, xs, b, robust, adv, fooled)) return;
      for (std::size_t k = 0; k < fooled.size(); ++k)
        if (fooled[k] != 0) fooled_here.push_back(b.ids[k]);
      const std::vector<Eigen::Index> keep = surviving_columns(fooled);
      margin = take_entries(margin, keep);
      rngs = take_entries(rngs, keep);
      changed = take_entries(changed, keep);
      if (!take.empty()) take = take_entries(take, keep);
      cand = take_columns(cand, keep);
      square_logits.keep_columns(keep);
      b.drop(fooled);
    };
    record(logits, b.x);
    for (int it = 1; it <= o.queries && !b.ids.empty() && eps > 0.0F; ++it) {  // eps 0: the start is x0
      const double p = square_fraction(o.p_init, it, o.queries);
      int s = static_cast<int>(std::lround(std::sqrt(p * rows * cols)));
      s = std::clamp(s, 1, std::max(1, std::min(rows, cols) - 1));
      for (std::size_t k = 0; k < b.ids.size(); ++k) {
        const auto col = static_cast<Eigen::Index>(k);
        draw_square(rngs[k], s, eps, rows, cols, b.x0.col(col), b.x.col(col), cand.col(col), changed[k]);
      }
      square_logits.evaluate(cand, changed, logits);
      const Eigen::VectorXf m = label_margins(logits, b.labels);
      take.assign(b.ids.size(), 0);
      for (Eigen::Index k = 0; k < m.size(); ++k)
        if (m(k) < margin(k)) {
          margin(k) = m(k);
          take[static_cast<std::size_t>(k)] = 1;
          for (const std::int32_t i : changed[static_cast<std::size_t>(k)]) b.x(i, k) = cand(i, k);
        }
      square_logits.accept(cand, take);
      record(logits, cand);
      for (std::size_t k = 0; k < b.ids.size(); ++k)  // the rejected windows back to the current input
        if (take[k] == 0)
          for (const std::int32_t i : changed[k])
            cand(i, static_cast<Eigen::Index>(k)) = b.x(i, static_cast<Eigen::Index>(k));
      take.clear();
    }
    // The incremental logits agree with the model's within rounding: a witness counts only if the
    // model's own forward pass misclassifies it.
    if (square_logits.approximate() && !fooled_here.empty()) {
      const AttackBatch f = make_batch(adv, labels, fooled_here);
      const std::vector<std::uint8_t> still = clean_correct(model, f.x0, f.labels, o.batch);
      for (std::size_t k = 0; k < fooled_here.size(); ++k)
        if (still[k] != 0) {
          robust[fooled_here[k]] = 1;
          adv.col(static_cast<Eigen::Index>(fooled_here[k])) = X.col(static_cast<Eigen::Index>(fooled_here[k]));
        }
    }
  }
  return robust;
}

// The Square attack (Andriushchenko et al. 2020): a score-based black-box search over squares of
// +-eps, run last in the carried ladder because it costs `square_queries` forward passes.
detail::AttackInfo detail::square_attack_info() {
  AttackInfo a;
  a.name = "square";
  a.cost_rank = 8;
  a.linf_only = a.in_default_ladder = true;
  a.run = [](const AttackCall& c, Eigen::MatrixXf& adv, PgdStats& /*restarts*/) {
    const AttackOptions& o = c.opt;
    return square_attack_keyed(c.model, c.x0, c.labels,
                               {c.eps, o.square_queries, o.square_p_init, o.image_rows, o.image_cols, c.seed, o.batch},
                               c.keys, adv);
  };
  return a;
}

}  // namespace dalenet
