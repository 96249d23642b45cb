// Gradient-based rules: plain backprop (SGD+momentum / Adam), sign-constrained backprop and
// exponentiated gradient. All three share the forward/backward pass of backprop.hpp.
#include <cmath>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "rules/bio_architecture.hpp"
#include "rules/gradient_rules.hpp"
#include "rules/optimizer.hpp"

namespace dalenet::rules {
namespace {

// Forward + cross-entropy + backward on one batch; fills grads, returns the batch statistics.
class GradientEngine {
 public:
  BatchStats compute(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                     std::span<const std::uint8_t> labels, Gradients& grads) {
    forward(net, X, cache_);
    BatchStats s;
    s.loss = softmax_cross_entropy(cache_.logits(), labels, Reduction::mean, &dlogits_);
    s.correct = count_correct(cache_.logits(), labels);
    backward(net, cache_, dlogits_, &grads, nullptr, scratch_);
    return s;
  }

 private:
  ForwardCache cache_;
  Eigen::MatrixXf dlogits_;
  BackwardScratch scratch_;
};

class Backprop : public LearningRule {
 public:
  explicit Backprop(const RuleConfig& cfg) : opt_(cfg.optim) {}
  std::string name() const override { return "bp"; }
  void begin(const Network& net) override { opt_.begin(net); }
  BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                         std::span<const std::uint8_t> labels) override {
    const BatchStats s = engine_.compute(net, X, labels, grads_);
    opt_.step(net, grads_, lr_scale());
    return s;
  }

 protected:
  GradientEngine engine_;
  Gradients grads_;
  Optimizer opt_;
};

// The architecture control (docs/EVALUATION.md, "Controls that attribute"): end-to-end backprop
// through the bio arm's forward pass (H1's log-normalised efficacy, H2's competition, the
// interneurons' fixed loop), set up by the same prepare_bio_architecture as the bio rule. It shares
// everything with the bio arm but the learning rule, so what the bio arm does better than it is
// the rule's doing. The weights are free: nothing keeps them non-negative, and the audit reports
// whatever sign structure backprop leaves.
class BackpropBioArchitecture : public Backprop {
 public:
  explicit BackpropBioArchitecture(const RuleConfig& cfg) : Backprop(cfg), bio_(cfg.bio) {
    check_bio_competition(bio_);
  }
  std::string name() const override { return "bp_arch"; }
  void prepare(Network& net, Rng& /*rng*/) override { prepare_bio_architecture(net, bio_, "bp_arch"); }

 private:
  BioConfig bio_;
};

// After every optimiser step, each weight is projected onto the sign of its presynaptic neuron
// (w <- s_j * max(0, s_j * w)). This is *explicit enforcement*: the projections are counted.
class SignConstrainedBackprop : public Backprop {
 public:
  using Backprop::Backprop;
  std::string name() const override { return "bp_sign"; }
  void begin(const Network& net) override {
    Backprop::begin(net);
    pre_sign_.clear();
    for (std::size_t l = 0; l < net.projections.size(); ++l) pre_sign_.push_back(net.layers[l].neuron_sign());
  }
  BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                         std::span<const std::uint8_t> labels) override {
    const BatchStats s = Backprop::train_batch(net, X, labels);
    for (std::size_t l = 0; l < net.projections.size(); ++l) {
      auto& W = net.projections[l].weight;
      const Eigen::VectorXf& sign = pre_sign_[l];
      for (Eigen::Index i = 0; i < W.rows(); ++i) {
        for (Eigen::Index j = 0; j < W.cols(); ++j) {
          float& w = W(i, j);
          if (w * sign(j) < 0.0F) {
            w = 0.0F;
            ++counters_.clip_events;
          }
        }
      }
    }
    return s;
  }
  RuleCounters counters() const override { return counters_; }

 private:
  std::vector<Eigen::VectorXf> pre_sign_;
  RuleCounters counters_;
};

// Exponentiated gradient (Cornford et al. 2024): w <- w * exp(-lr * sign(w) * dL/dw). The
// update multiplies each weight by a positive factor, so no weight can change sign or become
// exactly 0 (up to float underflow): sign constancy follows from the form of the update.
// Biases carry no sign and use plain SGD with the same learning rate.
class ExponentiatedGradient : public LearningRule {
 public:
  explicit ExponentiatedGradient(const RuleConfig& cfg) : cfg_(cfg.optim) {
    if (cfg_.l1 > 0.0)
      throw ConfigError("train.l1: rule 'eg' multiplies every weight by a positive factor; L1 is for bp and bp_sign");
    if (cfg_.optimizer != OptimizerKind::sgd)
      throw ConfigError(
          "train.optimizer: rule 'eg' is its own (multiplicative, momentum-free) "
          "optimiser; set train.optimizer = \"sgd\" or leave it unset");
  }
  std::string name() const override { return "eg"; }
  void begin(const Network&) override {}
  BatchStats train_batch(Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                         std::span<const std::uint8_t> labels) override {
    const BatchStats s = engine_.compute(net, X, labels, grads_);
    const auto lr = static_cast<float>(cfg_.lr * lr_scale());
    const auto wd = static_cast<float>(cfg_.weight_decay);
    for (std::size_t l = 0; l < net.projections.size(); ++l) {
      auto& p = net.projections[l];
      auto W = p.weight.array();
      const auto g = grads_.weight[l].array() + wd * W;
      const auto sgn = (W > 0.0F).cast<float>() - (W < 0.0F).cast<float>();
      const Eigen::ArrayXXf before_sign = sgn;
      W *= (-lr * sgn * g).exp();
      const auto after_sign = (W > 0.0F).cast<float>() - (W < 0.0F).cast<float>();
      counters_.sign_flips +=
          static_cast<std::uint64_t>(((before_sign != 0.0F) && (after_sign != before_sign)).count());
      p.bias -= lr * grads_.bias[l];
    }
    return s;
  }
  RuleCounters counters() const override { return counters_; }

 private:
  OptimizerConfig cfg_;
  GradientEngine engine_;
  Gradients grads_;
  RuleCounters counters_;
};

}  // namespace

std::unique_ptr<LearningRule> make_backprop(const RuleConfig& cfg) {
  return std::make_unique<Backprop>(cfg);
}
std::unique_ptr<LearningRule> make_backprop_bio_architecture(const RuleConfig& cfg) {
  return std::make_unique<BackpropBioArchitecture>(cfg);
}
std::unique_ptr<LearningRule> make_sign_constrained_backprop(const RuleConfig& cfg) {
  return std::make_unique<SignConstrainedBackprop>(cfg);
}
std::unique_ptr<LearningRule> make_exponentiated_gradient(const RuleConfig& cfg) {
  return std::make_unique<ExponentiatedGradient>(cfg);
}

}  // namespace dalenet::rules
