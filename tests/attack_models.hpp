#pragma once
// Small random networks and self-labelled inputs for the attack tests.
#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/network.hpp"
#include "dalenet/rng.hpp"

namespace dalenet::test {

// input -> ReLU(hidden...) -> identity, weights N(0, 1/fan_in), biases N(0, 0.1^2): about half the
// hidden units active on inputs in [0, 1]. No hidden layer: a linear classifier.
inline Network random_network(int dim, const std::vector<int>& hidden, int classes, std::uint64_t seed) {
  NetworkSpec spec;
  spec.input = dim;
  spec.hidden = hidden;
  spec.output = classes;
  spec.hidden_activation = Activation::relu;
  Network net = make_network(spec);
  Rng rng(seed);
  for (auto& p : net.projections) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(p.num_pre()));
    for (Eigen::Index i = 0; i < p.weight.size(); ++i) p.weight.data()[i] = static_cast<float>(scale * rng.normal());
    for (Eigen::Index i = 0; i < p.bias.size(); ++i) p.bias(i) = static_cast<float>(0.1 * rng.normal());
  }
  return net;
}

inline Eigen::MatrixXf uniform_batch(Eigen::Index dim, Eigen::Index n, Rng& rng) {
  Eigen::MatrixXf x(dim, n);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  return x;
}

struct Points {
  Eigen::MatrixXf X;
  std::vector<std::uint8_t> labels;
};
// n uniform inputs labelled by the model itself (clean accuracy 100 %), except that every
// `wrong_every`-th one (0: none) gets the next class, so that it starts misclassified.
inline Points labelled_by(const Network& net, int n, std::uint64_t seed, int wrong_every = 0) {
  Points p;
  Rng rng(seed);
  p.X = uniform_batch(net.input_size(), n, rng);
  const Eigen::MatrixXf z = predict_logits(net, p.X);
  for (Eigen::Index b = 0; b < n; ++b) {
    Eigen::Index arg = 0;
    z.col(b).maxCoeff(&arg);
    const bool wrong = wrong_every > 0 && b % wrong_every == wrong_every - 1;
    p.labels.push_back(static_cast<std::uint8_t>((arg + (wrong ? 1 : 0)) % net.output_size()));
  }
  return p;
}

// A linear classifier z = W x + b: one projection, identity output.
inline Network linear_model(int dim, int classes, std::uint64_t seed) {
  NetworkSpec spec;
  spec.input = dim;
  spec.hidden = {};
  spec.output = classes;
  Network net = make_network(spec);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < net.projections[0].weight.size(); ++i)
    net.projections[0].weight.data()[i] = static_cast<float>(rng.normal());
  for (Eigen::Index i = 0; i < net.projections[0].bias.size(); ++i)
    net.projections[0].bias(i) = static_cast<float>(0.5 * rng.normal());
  return net;
}

// Exact minimal L-inf radius that changes the linear model's decision away from y (inside
// the box [0, 1]): for each j != y, g_j(eps) = max over the box-clipped ball of z_j - z_y is
// piecewise linear and increasing in eps; bisection finds its root. +inf if none exists.
inline double minimal_linf(const Network& net, const Eigen::VectorXf& x, int y) {
  const auto& W = net.projections[0].weight;
  const auto& b = net.projections[0].bias;
  double best = std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < W.rows(); ++j) {
    if (j == y) continue;
    auto g = [&](double eps) {
      double v = static_cast<double>(b(j)) - b(y);
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double d = static_cast<double>(W(j, i)) - W(y, i);
        const double lo = std::max(-eps, -static_cast<double>(x(i)));
        const double hi = std::min(eps, 1.0 - static_cast<double>(x(i)));
        v += d * (static_cast<double>(x(i)) + (d > 0 ? hi : lo));
      }
      return v;
    };
    if (g(1.0) <= 0.0) continue;
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (g(mid) > 0.0 ? hi : lo) = mid;
    }
    best = std::min(best, hi);
  }
  return best;
}

}  // namespace dalenet::test
