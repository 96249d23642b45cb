#include <gtest/gtest.h>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rule.hpp"
#include "helpers.hpp"

using namespace dalenet;
using namespace dalenet::test;

namespace {
struct Fixture {
  Network net;
  Eigen::MatrixXf X;
  std::vector<std::uint8_t> y;
};

Fixture make_fixture(double inhibitory_fraction, SignInit sign, InitKind kind = InitKind::uniform_fan_in) {
  const auto t = make_synthetic_task(256, 4, 4, 4, 11);
  Fixture f;
  NetworkSpec spec;
  spec.input = 16;
  spec.hidden = {12};
  spec.output = 4;
  spec.inhibitory_fraction = inhibitory_fraction;
  f.net = make_network(spec);
  Rng rng(5);
  InitSpec init;
  init.kind = kind;
  init.sign = sign;
  init_weights(f.net, init, rng);
  f.X.resize(16, 256);
  for (Eigen::Index i = 0; i < f.X.size(); ++i) f.X.data()[i] = t.pixels[static_cast<std::size_t>(i)] / 255.0F;
  f.y = t.labels;
  return f;
}

Gradients grads_of(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y) {
  ForwardCache c;
  forward(net, X, c);
  Eigen::MatrixXf d;
  softmax_cross_entropy(c.logits(), y, Reduction::mean, &d);
  Gradients g;
  BackwardScratch s;
  backward(net, c, d, &g, nullptr, s);
  return g;
}

double train_accuracy(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y) {
  return static_cast<double>(count_correct(predict_logits(net, X), y)) / static_cast<double>(y.size());
}
}  // namespace

TEST(Optimizer, AdamFirstStepMovesEachWeightByLrAgainstItsGradient) {
  Fixture f = make_fixture(0.0, SignInit::free);
  RuleConfig cfg;
  cfg.optim.optimizer = OptimizerKind::adam;
  cfg.optim.lr = 1e-3;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  const Network before = f.net;
  const Gradients g = grads_of(f.net, f.X, f.y);
  rule->train_batch(f.net, f.X, f.y);
  for (std::size_t l = 0; l < before.projections.size(); ++l) {
    const WeightMatrix delta = f.net.projections[l].weight - before.projections[l].weight;
    for (Eigen::Index k = 0; k < delta.size(); ++k) {
      const float gk = g.weight[l].data()[k];
      if (std::abs(gk) < 1e-5F) continue;  // eps dominates
      EXPECT_NEAR(delta.data()[k], -1e-3F * (gk > 0 ? 1.0F : -1.0F), 2e-5F);
    }
  }
}

// Adam runs in chunks of 4096 parameters shared out over threads: on a projection of several chunks
// plus a ragged tail, three steps match the textbook update written over the whole arrays.
TEST(Optimizer, ChunkedAdamMatchesTheWholeArrayUpdate) {
  const auto t = make_synthetic_task(64, 15, 13, 4, 3);  // 195 pixels
  NetworkSpec spec;
  spec.input = 195;
  spec.hidden = {101};  // 195 x 101 = 19 695 weights: 4 whole chunks and a tail of 3311
  spec.output = 4;
  Network net = make_network(spec);
  Rng rng(7);
  init_weights(net, InitSpec{}, rng);
  Eigen::MatrixXf X(195, 64);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = t.pixels[static_cast<std::size_t>(i)] / 255.0F;
  RuleConfig cfg;
  cfg.optim.optimizer = OptimizerKind::adam;
  cfg.optim.lr = 1e-2;
  auto rule = make_rule(cfg);
  rule->begin(net);
  Network ref = net;
  std::vector<Eigen::ArrayXXf> m, v;
  for (const auto& p : ref.projections) {
    m.emplace_back(Eigen::ArrayXXf::Zero(p.weight.rows(), p.weight.cols()));
    v.emplace_back(Eigen::ArrayXXf::Zero(p.weight.rows(), p.weight.cols()));
  }
  for (int step = 1; step <= 3; ++step) {
    const Gradients g = grads_of(ref, X, t.labels);
    rule->train_batch(net, X, t.labels);
    const auto c1 = static_cast<float>(1.0 - std::pow(0.9, step)), c2 = static_cast<float>(1.0 - std::pow(0.999, step));
    for (std::size_t l = 0; l < ref.projections.size(); ++l) {
      const Eigen::ArrayXXf gl = g.weight[l].array();
      m[l] = 0.9F * m[l] + 0.1F * gl;
      v[l] = 0.999F * v[l] + 0.001F * gl.square();
      const Eigen::ArrayXXf delta = 1e-2F * (m[l] / c1) / ((v[l] / c2).sqrt() + 1e-8F);
      ref.projections[l].weight.array() -= delta;
      // Biases take the same update; not compared here (they are one chunk).
      ref.projections[l].bias = net.projections[l].bias;
    }
    for (std::size_t l = 0; l < ref.projections.size(); ++l)
      EXPECT_LT((net.projections[l].weight - ref.projections[l].weight).cwiseAbs().maxCoeff(), 1e-6F)
          << "projection " << l << ", step " << step;
  }
}

TEST(Optimizer, SgdMomentumMatchesHandComputation) {
  Fixture f = make_fixture(0.0, SignInit::free);
  RuleConfig cfg;
  cfg.optim.optimizer = OptimizerKind::sgd;
  cfg.optim.lr = 0.1;
  cfg.optim.momentum = 0.9;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  const Network w0 = f.net;
  const Gradients g1 = grads_of(w0, f.X, f.y);
  rule->train_batch(f.net, f.X, f.y);
  const Network w1 = f.net;
  const Gradients g2 = grads_of(w1, f.X, f.y);
  rule->train_batch(f.net, f.X, f.y);
  const WeightMatrix expected = w1.projections[0].weight - 0.1F * (0.9F * g1.weight[0] + g2.weight[0]);
  EXPECT_LT((f.net.projections[0].weight - expected).cwiseAbs().maxCoeff(), 1e-6F);
}

TEST(Optimizer, WeightDecayShrinksWeightsWithoutData) {
  // With lr*wd = 0.1 and no signal, SGD without momentum multiplies weights by 0.9 per step...
  Fixture f = make_fixture(0.0, SignInit::free);
  RuleConfig cfg;
  cfg.optim.optimizer = OptimizerKind::sgd;
  cfg.optim.lr = 0.1;
  cfg.optim.momentum = 0.0;
  cfg.optim.weight_decay = 1.0;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  const Network w0 = f.net;
  const Gradients g = grads_of(w0, f.X, f.y);
  rule->train_batch(f.net, f.X, f.y);
  // ... plus the data gradient step.
  const WeightMatrix expected = 0.9F * w0.projections[0].weight - 0.1F * g.weight[0];
  EXPECT_LT((f.net.projections[0].weight - expected).cwiseAbs().maxCoeff(), 1e-6F);
}

TEST(Optimizer, DecoupledL1IsTheSoftThresholdAfterTheStep) {
  // SGD without momentum, lr 0.1, l1 = 0.5: w <- S_{0.05}(w - 0.1 g), S_t(v) = sign(v) max(|v| - t, 0).
  Fixture f = make_fixture(0.0, SignInit::free);
  RuleConfig cfg;
  cfg.optim.optimizer = OptimizerKind::sgd;
  cfg.optim.lr = 0.1;
  cfg.optim.momentum = 0.0;
  cfg.optim.l1 = 0.5;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  const Network w0 = f.net;
  const Gradients g = grads_of(w0, f.X, f.y);
  rule->train_batch(f.net, f.X, f.y);
  const WeightMatrix v = w0.projections[0].weight - 0.1F * g.weight[0];
  std::int64_t zeros = 0;
  for (Eigen::Index k = 0; k < v.size(); ++k) {
    const float want = v.data()[k] > 0.05F ? v.data()[k] - 0.05F : v.data()[k] < -0.05F ? v.data()[k] + 0.05F : 0.0F;
    EXPECT_NEAR(f.net.projections[0].weight.data()[k], want, 1e-6F) << k;
    zeros += f.net.projections[0].weight.data()[k] == 0.0F ? 1 : 0;
  }
  EXPECT_GT(zeros, 0);  // exact zeros: functionally silent synapses
  // EG multiplies weights by positive factors: L1 has no place there.
  RuleConfig eg;
  eg.name = "eg";
  eg.optim.optimizer = OptimizerKind::sgd;
  eg.optim.l1 = 0.1;
  EXPECT_THROW(make_rule(eg), ConfigError);
}

TEST(SignConstrainedBackprop, KeepsEveryWeightOnItsPresynapticSignAndCountsProjections) {
  Fixture f = make_fixture(0.25, SignInit::per_neuron);
  RuleConfig cfg;
  cfg.name = "bp_sign";
  cfg.optim.lr = 0.01;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  for (int step = 0; step < 200; ++step) rule->train_batch(f.net, f.X, f.y);
  for (std::size_t l = 0; l < f.net.projections.size(); ++l) {
    const Eigen::VectorXf s = f.net.layers[l].neuron_sign();
    const auto& W = f.net.projections[l].weight;
    for (Eigen::Index i = 0; i < W.rows(); ++i)
      for (Eigen::Index j = 0; j < W.cols(); ++j) EXPECT_GE(W(i, j) * s(j), 0.0F);
  }
  EXPECT_GT(rule->counters().clip_events, 0u);  // the constraint is active, and counted
  EXPECT_GT(train_accuracy(f.net, f.X, f.y), 0.8);
}

TEST(ExponentiatedGradient, PreservesSignsByItsFormAndLearns) {
  Fixture f = make_fixture(0.25, SignInit::per_neuron, InitKind::lognormal);
  const Network before = f.net;
  RuleConfig cfg;
  cfg.name = "eg";
  cfg.optim.optimizer = OptimizerKind::sgd;
  cfg.optim.lr = 0.5;
  auto rule = make_rule(cfg);
  rule->begin(f.net);
  for (int step = 0; step < 300; ++step) rule->train_batch(f.net, f.X, f.y);
  for (std::size_t l = 0; l < f.net.projections.size(); ++l) {
    const auto& W = f.net.projections[l].weight;
    const auto& W0 = before.projections[l].weight;
    EXPECT_TRUE(((W.array() > 0) == (W0.array() > 0)).all());
    EXPECT_GT((W - W0).cwiseAbs().maxCoeff(), 1e-3F);  // it did learn something
  }
  EXPECT_EQ(rule->counters().sign_flips, 0u);
  EXPECT_EQ(rule->counters().clip_events, 0u);
  EXPECT_GT(train_accuracy(f.net, f.X, f.y), 0.8);
}

TEST(Registry, UnknownRuleIsAConfigError) {
  RuleConfig cfg;
  cfg.name = "nope";
  EXPECT_THROW(make_rule(cfg), ConfigError);
  cfg.name = "bp";
  cfg.optim.optimizer = OptimizerKind::by_rule;  // "auto" left unresolved
  EXPECT_THROW(make_rule(cfg), ConfigError);
}
