// What every attack shares (docs/EVALUATION.md, "Robustness"): the model as an attack sees it
// (NetworkClassifier), the losses, the projection onto the threat model, the batches of examples
// under attack, and the results' JSON. The attacks themselves are in src/eval/attacks/, one file
// each, listed in attacks/registry.cpp.
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

NetworkClassifier::NetworkClassifier(const Network& net, bool incremental, float competition_leak)
    : net_(net), incremental_candidates_(incremental) {
  if (!(competition_leak >= 0.0F && competition_leak <= 1.0F))
    throw InputError("attack: the competition leak must lie in [0, 1]");
  cache_.weights_fixed = true;
  scratch_.competition_leak = competition_leak;
  // ReluIterates computes the exact gradient only (and applies to networks without competition).
  if (incremental && competition_leak == 0.0F && detail::ReluIterates::applies(net))
    iterates_ = std::make_unique<detail::ReluIterates>(net);
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

Eigen::VectorXf take_entries(const Eigen::VectorXf& v, const std::vector<Eigen::Index>& keep) {
  Eigen::VectorXf out(static_cast<Eigen::Index>(keep.size()));
  for (std::size_t k = 0; k < keep.size(); ++k) out(static_cast<Eigen::Index>(k)) = v(keep[k]);
  return out;
}

std::vector<Eigen::Index> surviving_columns(const std::vector<std::uint8_t>& fooled) {
  std::vector<Eigen::Index> keep;
  for (std::size_t k = 0; k < fooled.size(); ++k)
    if (fooled[k] == 0) keep.push_back(static_cast<Eigen::Index>(k));
  return keep;
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
                        {"strongest_attack", e.strongest_attack},
                        {"black_box_only", e.black_box_only},
                        {"black_box_only_fraction", e.black_box_only_fraction}};
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
