// The attack ladder (docs/EVALUATION.md, "Robustness"): FGSM, PGD (cross-entropy and margin
// losses, random restarts, per-example worst case), the Square attack (Andriushchenko et al.
// 2020), transfer from another model, and random noise; then the gradient-masking checks.
#include "dalenet/attack.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "attack_internal.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "patch_logits.hpp"
#include "relu_iterates.hpp"
#include "sign_step.hpp"
#include "util/simd.hpp"

namespace dalenet {

// ---- the model as an attack sees it ---------------------------------------------------------

NetworkClassifier::NetworkClassifier(const Network& net, bool incremental)
    : net_(net), incremental_candidates_(incremental) {
  cache_.weights_fixed = true;
  if (incremental && detail::ReluIterates::applies(net)) iterates_ = std::make_unique<detail::ReluIterates>(net);
}

NetworkClassifier::~NetworkClassifier() = default;

void NetworkClassifier::keep_columns(const std::vector<Eigen::Index>& keep) {
  if (iterates_) iterates_->keep_columns(keep);
}

void NetworkClassifier::logits(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& out) {
  forward(net_, X, cache_);
  out = cache_.logits();
}

void NetworkClassifier::input_gradient(const Eigen::Ref<const Eigen::MatrixXf>& X, const LossGradient& loss,
                                       Eigen::MatrixXf& logits, Eigen::MatrixXf& grad) {
  if (iterates_) {
    iterates_->input_gradient(X, loss, logits, grad);
    return;
  }
  forward(net_, X, cache_);
  logits = cache_.logits();
  loss(logits, dlogits_);
  backward(net_, cache_, dlogits_, nullptr, &grad, scratch_);
}

std::string to_string(ThreatNorm n) {
  return n == ThreatNorm::linf ? "linf" : "l2";
}
ThreatNorm threat_norm_from_string(const std::string& s) {
  if (s == "linf") return ThreatNorm::linf;
  if (s == "l2") return ThreatNorm::l2;
  throw ConfigError("unknown norm '" + s + "' (expected linf or l2)");
}

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = {"fgsm",     "pgd_ce",   "pgd_margin", "square",
                                                 "transfer", "gaussian", "salt_pepper"};
  return names;
}

std::vector<std::string> default_attacks(ThreatNorm norm) {
  if (norm == ThreatNorm::linf) return {"fgsm", "pgd_ce", "pgd_margin", "square", "gaussian", "salt_pepper"};
  return {"fgsm", "pgd_ce", "pgd_margin", "gaussian"};
}

std::vector<double> default_eps_grid(const std::string& dataset, ThreatNorm norm) {
  const bool fashion = dataset.rfind("fashion", 0) == 0;
  if (norm == ThreatNorm::linf) {
    if (fashion) return {0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2};
    return {0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3};
  }
  // L2 (images of 784 pixels in [0, 1]): the range of the MNIST L2 literature (eps = 2 is the
  // common headline); Fashion-MNIST's is about half.
  if (fashion) return {0.0, 0.25, 0.5, 0.75, 1.0, 1.5};
  return {0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0};
}

Eigen::VectorXf label_margins(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels) {
  Eigen::VectorXf m(logits.cols());
  for (Eigen::Index b = 0; b < logits.cols(); ++b) {
    const int y = labels[static_cast<std::size_t>(b)];
    float other = -std::numeric_limits<float>::infinity();
    for (Eigen::Index c = 0; c < logits.rows(); ++c)
      if (c != y) other = std::max(other, logits(c, b));
    m(b) = logits(y, b) - other;
  }
  return m;
}

// Eigen 3.4 has no packet sign for float, so its `.sign()` ran a scalar loop (6 % of PGD-100 on
// the BP model, perf). alpha * sign is exact, so the result is Eigen's bit for bit whether or not
// the compiler fuses the multiply and add.
void detail::add_scaled_sign(float alpha, const float* g, float* x, Eigen::Index n) {
  namespace ei = Eigen::internal;
  using detail::FloatPacket;
  constexpr Eigen::Index P = detail::kFloatPacket;
  Eigen::Index i = 0;
  if constexpr (detail::kFloatSimd) {
    const FloatPacket zero = ei::pset1<FloatPacket>(0.0F), one = ei::pset1<FloatPacket>(1.0F),
                      minus_one = ei::pset1<FloatPacket>(-1.0F), a = ei::pset1<FloatPacket>(alpha);
    for (; i + P <= n; i += P) {
      const FloatPacket v = ei::ploadu<FloatPacket>(g + i);
      FloatPacket sign = ei::por(ei::pand(ei::pcmp_lt(zero, v), one), ei::pand(ei::pcmp_lt(v, zero), minus_one));
      sign = ei::pselect(ei::pcmp_eq(v, v), sign, v);  // NaN stays NaN
      ei::pstoreu(x + i, ei::padd(ei::ploadu<FloatPacket>(x + i), ei::pmul(a, sign)));
    }
  }
  for (; i < n; ++i) {
    const float v = g[i];
    const float sign = std::isnan(v) ? v : static_cast<float>((v > 0.0F) - (v < 0.0F));
    x[i] += alpha * sign;
  }
}

namespace detail {

// The arg-max rule of evaluate(): the lowest index wins ties.
bool classified_correctly(const Eigen::MatrixXf& logits, Eigen::Index b, int label) {
  Eigen::Index arg = 0;
  logits.col(b).maxCoeff(&arg);
  return arg == label;
}

// Per-example loss gradients wrt the logits (L = sum over the batch).
void cross_entropy_gradient(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels, Eigen::MatrixXf& d) {
  softmax_cross_entropy(logits, labels, Reduction::sum, &d);
}
// Margin (logit-difference) loss max_{j != y} z_j - z_y: > 0 once the example is misclassified.
void margin_gradient(const Eigen::MatrixXf& logits, std::span<const std::uint8_t> labels, Eigen::MatrixXf& d) {
  d.setZero(logits.rows(), logits.cols());
  for (Eigen::Index b = 0; b < logits.cols(); ++b) {
    const int y = labels[static_cast<std::size_t>(b)];
    Eigen::Index best = -1;
    for (Eigen::Index c = 0; c < logits.rows(); ++c)
      if (c != y && (best < 0 || logits(c, b) > logits(best, b))) best = c;
    if (best < 0) continue;
    d(best, b) = 1.0F;
    d(y, b) = -1.0F;
  }
}

// The attack's loss as the Classifier callback: margin or cross-entropy, per-example labels.
Classifier::LossGradient loss_gradient(bool margin, std::span<const std::uint8_t> labels) {
  return [margin, labels](const Eigen::MatrixXf& z, Eigen::MatrixXf& d) {
    if (margin) {
      margin_gradient(z, labels, d);
    } else {
      cross_entropy_gradient(z, labels, d);
    }
  };
}

// x <- the point of the eps-ball around x0 (intersected with [0, 1]^D) per column. Columns are
// independent and each is done by one thread (elementwise, or its own norm): the result does not
// depend on the thread count. Threaded because a PGD step on a ReLU network costs little more
// than these passes (src/eval/relu_iterates.hpp).
void project(ThreatNorm norm, float eps, const Eigen::MatrixXf& x0, Eigen::MatrixXf& x) {
#pragma omp parallel for schedule(static) if (x.size() >= 65536)
  for (Eigen::Index b = 0; b < x.cols(); ++b) {
    auto col = x.col(b);
    if (norm == ThreatNorm::linf) {
      col = col.array().max(x0.col(b).array() - eps).min(x0.col(b).array() + eps).matrix();
    } else {
      auto delta = col - x0.col(b);
      const float n = delta.norm();
      if (n > eps) col = x0.col(b) + delta * (eps / n);
    }
    col = col.cwiseMax(0.0F).cwiseMin(1.0F);
  }
}

// One ascent step on the loss: sign of the gradient (L-inf) or the unit gradient (L2).
void ascend(ThreatNorm norm, float alpha, const Eigen::MatrixXf& g, Eigen::MatrixXf& x) {
#pragma omp parallel for schedule(static) if (x.size() >= 65536)
  for (Eigen::Index b = 0; b < x.cols(); ++b) {
    if (norm == ThreatNorm::linf) {
      detail::add_scaled_sign(alpha, g.col(b).data(), x.col(b).data(), x.rows());
    } else {
      const float n = g.col(b).norm();
      if (n > 0.0F) x.col(b) += (alpha / n) * g.col(b);
    }
  }
}

// A random point of the eps-ball around column x0 (uniform per coordinate for L-inf; a random
// direction at a uniform radius for L2).
void random_start(ThreatNorm norm, float eps, Rng& rng, Eigen::Ref<Eigen::VectorXf> x) {
  if (norm == ThreatNorm::linf) {
    for (Eigen::Index i = 0; i < x.size(); ++i) x(i) += static_cast<float>(rng.uniform(-eps, eps));
  } else {
    Eigen::VectorXf d(x.size());
    for (Eigen::Index i = 0; i < d.size(); ++i) d(i) = static_cast<float>(rng.normal());
    const float n = d.norm();
    if (n > 0.0F) x += d * (eps * static_cast<float>(rng.uniform()) / n);
  }
}

// Columns `keep` of m, in order.
Eigen::MatrixXf take_columns(const Eigen::MatrixXf& m, const std::vector<Eigen::Index>& keep) {
  Eigen::MatrixXf out(m.rows(), static_cast<Eigen::Index>(keep.size()));
  for (std::size_t k = 0; k < keep.size(); ++k) out.col(static_cast<Eigen::Index>(k)) = m.col(keep[k]);
  return out;
}

// Columns of the batch that `logits` misclassifies: marked not robust, their input `xs` kept as
// the adversarial example. Returns the mask (1 = fooled now) and whether any was.
bool record_fooled(const Eigen::MatrixXf& logits, const Eigen::MatrixXf& xs, const AttackBatch& b,
                   std::vector<std::uint8_t>& robust, Eigen::MatrixXf& adv, std::vector<std::uint8_t>& fooled) {
  fooled.assign(b.ids.size(), 0);
  bool any = false;
  for (std::size_t k = 0; k < b.ids.size(); ++k) {
    if (classified_correctly(logits, static_cast<Eigen::Index>(k), b.labels[k])) continue;
    fooled[k] = 1;
    any = true;
    robust[b.ids[k]] = 0;
    adv.col(static_cast<Eigen::Index>(b.ids[k])) = xs.col(static_cast<Eigen::Index>(k));
  }
  return any;
}

AttackBatch make_batch(const Eigen::Ref<const Eigen::MatrixXf>& X, std::span<const std::uint8_t> labels,
                       const std::vector<std::size_t>& ids) {
  AttackBatch b;
  b.x0.resize(X.rows(), static_cast<Eigen::Index>(ids.size()));
  for (std::size_t k = 0; k < ids.size(); ++k) {
    b.x0.col(static_cast<Eigen::Index>(k)) = X.col(static_cast<Eigen::Index>(ids[k]));
    b.labels.push_back(labels[ids[k]]);
  }
  b.x = b.x0;
  b.ids = ids;
  return b;
}

// Splits `ids` into chunks of at most `batch`.
std::vector<std::vector<std::size_t>> chunks(const std::vector<std::size_t>& ids, std::size_t batch) {
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t s = 0; s < ids.size(); s += batch)
    out.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(s),
                     ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), s + batch)));
  return out;
}

// Clean correctness of every column.
std::vector<std::uint8_t> clean_correct(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                        std::span<const std::uint8_t> labels, std::size_t batch) {
  std::vector<std::uint8_t> ok(static_cast<std::size_t>(X.cols()), 0);
  Eigen::MatrixXf logits;
  for (Eigen::Index s = 0; s < X.cols(); s += static_cast<Eigen::Index>(batch)) {
    const Eigen::Index m = std::min<Eigen::Index>(static_cast<Eigen::Index>(batch), X.cols() - s);
    model.logits(X.middleCols(s, m), logits);
    for (Eigen::Index b = 0; b < m; ++b)
      ok[static_cast<std::size_t>(s + b)] =
          classified_correctly(logits, b, labels[static_cast<std::size_t>(s + b)]) ? 1 : 0;
  }
  return ok;
}

std::vector<std::size_t> ids_where(const std::vector<std::uint8_t>& v) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] != 0) out.push_back(i);
  return out;
}

double fraction(const std::vector<std::uint8_t>& v, std::size_t n) {
  return n == 0 ? 0.0 : static_cast<double>(std::count(v.begin(), v.end(), std::uint8_t{1})) / static_cast<double>(n);
}

}  // namespace detail

// ---- PGD ------------------------------------------------------------------------------------

std::vector<std::uint8_t> pgd_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                     std::span<const std::uint8_t> labels, const PgdOptions& opt, Eigen::MatrixXf& adv,
                                     PgdStats* stats) {
  return detail::pgd_attack_keyed(model, X, labels, opt, {}, adv, stats);
}

std::vector<std::uint8_t> detail::pgd_attack_keyed(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                                   std::span<const std::uint8_t> labels, const PgdOptions& opt,
                                                   std::span<const std::size_t> keys, Eigen::MatrixXf& adv,
                                                   PgdStats* stats) {
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
      if (opt.random_start && eps > 0.0F) {
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
          std::vector<Eigen::Index> keep;
          for (std::size_t k = 0; k < fooled.size(); ++k)
            if (fooled[k] == 0) keep.push_back(static_cast<Eigen::Index>(k));
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

template <typename T>
std::vector<T> take_entries(const std::vector<T>& v, const std::vector<Eigen::Index>& keep) {
  std::vector<T> out;
  out.reserve(keep.size());
  for (const auto k : keep) out.push_back(v[static_cast<std::size_t>(k)]);
  return out;
}

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
      std::vector<Eigen::Index> keep;
      for (std::size_t k = 0; k < fooled.size(); ++k) {
        if (fooled[k] == 0) keep.push_back(static_cast<Eigen::Index>(k));
        if (fooled[k] != 0) fooled_here.push_back(b.ids[k]);
      }
      Eigen::VectorXf m2(static_cast<Eigen::Index>(keep.size()));
      for (std::size_t k = 0; k < keep.size(); ++k) m2(static_cast<Eigen::Index>(k)) = margin(keep[k]);
      margin = m2;
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

// ---- the evaluation -------------------------------------------------------------------------

nlohmann::json AttackRun::to_json() const {
  nlohmann::json j = {{"attack", attack},     {"eps", eps},           {"correct", correct},
                      {"accuracy", accuracy}, {"attacked", attacked}, {"newly_fooled", newly_fooled},
                      {"seconds", seconds}};
  if (!accuracy_by_restart.empty()) {
    j["accuracy_by_restart"] = accuracy_by_restart;
    j["first_restart_accuracy"] = first_restart_accuracy;
    j["first_restart_half_steps_accuracy"] = first_restart_half_steps_accuracy;
  }
  return j;
}

std::size_t RobustnessReport::flags_raised() const {
  return static_cast<std::size_t>(std::count_if(flags.begin(), flags.end(), [](const Flag& f) { return f.raised; }));
}

nlohmann::json RobustnessReport::to_json() const {
  nlohmann::json j;
  j["n"] = n;
  j["clean_correct"] = clean_correct;
  j["clean_accuracy"] = clean_accuracy;
  j["attacks"] = nlohmann::json::array();
  for (const auto& r : runs) j["attacks"].push_back(r.to_json());
  j["robust"] = nlohmann::json::array();
  for (const auto& e : by_eps) {
    nlohmann::json r = {{"eps", e.eps},
                        {"robust_correct", e.robust_correct},
                        {"robust_accuracy", e.robust_accuracy},
                        {"strongest_attack", e.strongest_attack}};
    if (e.at_eps_accuracy >= 0.0) {
      r["at_eps_correct"] = e.at_eps_correct;
      r["at_eps_accuracy"] = e.at_eps_accuracy;
    }
    j["robust"].push_back(r);
  }
  j["unbounded"] = {{"eps", unbounded_eps}, {"accuracy", unbounded_accuracy}};
  j["zero_gradient_fraction"] = {{"margin", zero_gradient_fraction_margin},
                                 {"cross_entropy", zero_gradient_fraction_ce}};
  j["flags"] = nlohmann::json::array();
  for (const auto& f : flags) j["flags"].push_back({{"name", f.name}, {"raised", f.raised}, {"detail", f.detail}});
  j["flags_raised"] = flags_raised();
  return j;
}

namespace detail {

bool in_threat_model(const std::string& attack) {
  return attack != "salt_pepper";
}
bool is_white_box(const std::string& attack) {
  return attack == "fgsm" || attack == "pgd_ce" || attack == "pgd_margin";
}

// Worst case over `draws` random perturbations per example (gaussian: clipped N(0, eps^2) per
// pixel for L-inf, a random direction of length eps for L2; salt_pepper: a fraction eps of the
// pixels set to 0 or 1).
std::vector<std::uint8_t> noise_attack(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                                       std::span<const std::uint8_t> labels, const std::string& kind, ThreatNorm norm,
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
                          (kind == "gaussian" ? 0x6A0ULL << 40 : 0x5A1ULL << 40));
        auto x = b.x.col(static_cast<Eigen::Index>(k));
        if (kind == "salt_pepper") {
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

double zero_gradient_fraction(Classifier& model, const Eigen::Ref<const Eigen::MatrixXf>& X,
                              std::span<const std::uint8_t> labels, const std::vector<std::size_t>& ids, bool margin,
                              std::size_t batch) {
  if (ids.empty()) return 0.0;
  std::size_t zero = 0;
  Eigen::MatrixXf logits, grad;
  for (const auto& chunk : chunks(ids, batch)) {
    AttackBatch b = make_batch(X, labels, chunk);
    model.input_gradient(b.x0, loss_gradient(margin, b.labels), logits, grad);
    for (Eigen::Index k = 0; k < grad.cols(); ++k)
      if (grad.col(k).cwiseAbs().maxCoeff() == 0.0F) ++zero;
  }
  return static_cast<double>(zero) / static_cast<double>(ids.size());
}

std::string pct(double a) {
  return fmt::format("{:.2f}%", 100.0 * a);
}

}  // namespace detail

}  // namespace dalenet
