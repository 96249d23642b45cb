#pragma once
// Small random networks and self-labelled inputs for the attack tests.
#include <Eigen/Core>
#include <cmath>
#include <cstdint>
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

}  // namespace dalenet::test
