// Exact gradients checked against central finite differences, for parameters and inputs, for
// every activation, with and without a connectivity mask.
#include <gtest/gtest.h>

#include <cmath>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"

using namespace dalenet;

namespace {

struct Case {
  Activation act;
  bool masked;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << to_string(c.act) << (c.masked ? " (masked)" : "");
}

Network small_net(Activation act, bool masked, Rng& rng) {
  NetworkSpec spec;
  spec.input = 6;
  spec.hidden = {5, 4};
  spec.output = 3;
  spec.hidden_activation = act;
  Network net = make_network(spec);
  for (auto& p : net.projections) {
    if (masked) {
      p.mask.resize(p.weight.rows(), p.weight.cols());
      for (Eigen::Index i = 0; i < p.mask.size(); ++i) p.mask.data()[i] = rng.uniform() < 0.7 ? 1 : 0;
    }
  }
  InitSpec init;
  init.kind = InitKind::he_normal;
  init_weights(net, init, rng);
  for (auto& p : net.projections)
    for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(rng.uniform(-0.5, 0.5));
  return net;
}

double loss_of(const Network& net, const Eigen::MatrixXf& X, const std::vector<std::uint8_t>& y) {
  ForwardCache c;
  forward(net, X, c);
  return softmax_cross_entropy(c.logits(), y, Reduction::mean, nullptr);
}

// For ReLU: a finite difference across a kink is not a derivative; skip those coordinates.
bool same_relu_pattern(const Network& a, const Network& b, const Eigen::MatrixXf& Xa, const Eigen::MatrixXf& Xb) {
  ForwardCache ca, cb;
  forward(a, Xa, ca);
  forward(b, Xb, cb);
  for (std::size_t l = 1; l + 1 < ca.pre.size(); ++l)
    if (((ca.pre[l].array() > 0) != (cb.pre[l].array() > 0)).any()) return false;
  return true;
}

}  // namespace

class GradientCheck : public ::testing::TestWithParam<Case> {};

TEST_P(GradientCheck, ParametersAndInputsMatchFiniteDifferences) {
  const Case c = GetParam();
  Rng rng(42);
  Network net = small_net(c.act, c.masked, rng);
  const int B = 4;
  Eigen::MatrixXf X(6, B);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform(0.0, 1.0));
  const std::vector<std::uint8_t> y = {0, 2, 1, 2};

  ForwardCache cache;
  forward(net, X, cache);
  Eigen::MatrixXf dlogits;
  softmax_cross_entropy(cache.logits(), y, Reduction::mean, &dlogits);
  Gradients g;
  Eigen::MatrixXf gx;
  BackwardScratch scratch;
  backward(net, cache, dlogits, &g, &gx, scratch);

  // Float forward passes: h = 1e-2 balances truncation (O(h^2)) against rounding (O(eps/h)).
  // Criteria as mlpack's CheckGradient: ||a - n|| / ||a + n|| over all coordinates, plus a
  // per-coordinate absolute bound.
  const float h = 1e-2F;
  int checked = 0;
  double diff2 = 0.0, sum2 = 0.0, worst_abs = 0.0;
  auto compare = [&](double analytic, double numeric) {
    diff2 += (analytic - numeric) * (analytic - numeric);
    sum2 += (analytic + numeric) * (analytic + numeric);
    worst_abs = std::max(worst_abs, std::abs(analytic - numeric));
    ++checked;
  };
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    for (Eigen::Index k = 0; k < net.projections[l].weight.size(); ++k) {
      Network plus = net, minus = net;
      if (c.masked && net.projections[l].mask.data()[k] == 0) {
        EXPECT_EQ(g.weight[l].data()[k], 0.0F) << "masked synapse has a gradient";
        continue;
      }
      plus.projections[l].weight.data()[k] += h;
      minus.projections[l].weight.data()[k] -= h;
      if (c.act == Activation::relu && !same_relu_pattern(plus, minus, X, X)) continue;
      compare(g.weight[l].data()[k], (loss_of(plus, X, y) - loss_of(minus, X, y)) / (2.0 * h));
    }
    for (Eigen::Index k = 0; k < net.projections[l].bias.size(); ++k) {
      Network plus = net, minus = net;
      plus.projections[l].bias(k) += h;
      minus.projections[l].bias(k) -= h;
      if (c.act == Activation::relu && !same_relu_pattern(plus, minus, X, X)) continue;
      compare(g.bias[l](k), (loss_of(plus, X, y) - loss_of(minus, X, y)) / (2.0 * h));
    }
  }
  for (Eigen::Index k = 0; k < X.size(); ++k) {
    Eigen::MatrixXf Xp = X, Xm = X;
    Xp.data()[k] += h;
    Xm.data()[k] -= h;
    if (c.act == Activation::relu && !same_relu_pattern(net, net, Xp, Xm)) continue;
    compare(gx.data()[k], (loss_of(net, Xp, y) - loss_of(net, Xm, y)) / (2.0 * h));
  }
  EXPECT_GT(checked, 60);
  const double rel = std::sqrt(diff2) / std::sqrt(sum2);
  EXPECT_LT(rel, 2e-3) << "relative error " << rel << " for " << to_string(c.act);
  EXPECT_LT(worst_abs, 1e-3) << "worst absolute error " << worst_abs << " for " << to_string(c.act);
}

INSTANTIATE_TEST_SUITE_P(AllActivations, GradientCheck,
                         ::testing::Values(Case{Activation::identity, false}, Case{Activation::relu, false},
                                           Case{Activation::sigmoid, false}, Case{Activation::sigmoid2, false},
                                           Case{Activation::tanh, false}, Case{Activation::relu, true},
                                           Case{Activation::sigmoid2, true}),
                         [](const auto& p) { return to_string(p.param.act) + (p.param.masked ? "_masked" : ""); });

TEST(InputGradient, PerExampleColumnsAreIndependent) {
  // Column i of input_gradient must be the gradient of example i's own loss.
  Rng rng(3);
  Network net = small_net(Activation::tanh, false, rng);
  Eigen::MatrixXf X(6, 3);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.uniform());
  const std::vector<std::uint8_t> y = {1, 0, 2};
  const Eigen::MatrixXf g = input_gradient(net, X, y);
  for (int b = 0; b < 3; ++b) {
    const Eigen::MatrixXf gb = input_gradient(net, X.col(b), std::vector<std::uint8_t>{y[static_cast<std::size_t>(b)]});
    EXPECT_LT((g.col(b) - gb).norm(), 1e-6F * (1.0F + gb.norm()));
  }
}

TEST(Activations, Sigmoid2MapsNonNegativeDriveOntoUnitInterval) {
  EXPECT_FLOAT_EQ(activate(Activation::sigmoid2, 0.0F), 0.0F);
  EXPECT_NEAR(activate(Activation::sigmoid2, 30.0F), 1.0F, 1e-6);
  EXPECT_NEAR(activate(Activation::sigmoid2, 1.0F), 2.0 / (1.0 + std::exp(-1.0)) - 1.0, 1e-6);
  // Derivative via the output, against a finite difference.
  const float a = 0.7F, y = activate(Activation::sigmoid2, a);
  const double fd = (activate(Activation::sigmoid2, a + 1e-3F) - activate(Activation::sigmoid2, a - 1e-3F)) / 2e-3;
  EXPECT_NEAR(activate_derivative(Activation::sigmoid2, a, y), fd, 1e-3);
}

TEST(Loss, CrossEntropyIsStableForLargeLogits) {
  Eigen::MatrixXf logits(3, 1);
  logits << 1000.0F, 0.0F, -1000.0F;
  Eigen::MatrixXf d;
  const double l = softmax_cross_entropy(logits, std::vector<std::uint8_t>{1}, Reduction::mean, &d);
  EXPECT_NEAR(l, 1000.0, 1e-3);
  EXPECT_TRUE(d.allFinite());
  EXPECT_NEAR(d(0, 0), 1.0, 1e-6);
  EXPECT_NEAR(d(1, 0), -1.0, 1e-6);
}

TEST(Forward, RejectsWrongShapeAndNonFiniteInput) {
  Rng rng(1);
  Network net = small_net(Activation::relu, false, rng);
  EXPECT_THROW(predict_logits(net, Eigen::MatrixXf::Zero(5, 2)), InputError);
  Eigen::MatrixXf X = Eigen::MatrixXf::Zero(6, 2);
  X(3, 1) = std::nanf("");
  try {
    predict_logits(net, X);
    FAIL() << "NaN input accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("example 1"), std::string::npos) << e.what();
  }
  X(3, 1) = INFINITY;
  EXPECT_THROW(input_gradient(net, X, std::vector<std::uint8_t>{0, 1}), InputError);
}
