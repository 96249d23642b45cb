#include "dalenet/backprop.hpp"

#include <cmath>
#include <string>

#include "dalenet/error.hpp"

namespace dalenet {

namespace {
void apply_activation(Activation a, const Eigen::MatrixXf& pre, Eigen::MatrixXf& out) {
  switch (a) {
    case Activation::identity:
      out = pre;
      return;
    case Activation::relu:
      out = pre.cwiseMax(0.0F);
      return;
    case Activation::sigmoid:
      out = (1.0F + (-pre.array()).exp()).inverse().matrix();
      return;
    case Activation::sigmoid2:
      out = (2.0F * (1.0F + (-pre.array()).exp()).inverse() - 1.0F).matrix();
      return;
    case Activation::tanh:
      out = pre.array().tanh().matrix();
      return;
  }
}

// delta (in: dL/dy, out: dL/dpre), elementwise by the activation's derivative.
void times_derivative(Activation a, const Eigen::MatrixXf& pre, const Eigen::MatrixXf& y, Eigen::MatrixXf& delta) {
  switch (a) {
    case Activation::identity:
      return;
    case Activation::relu:
      delta = (pre.array() > 0.0F).select(delta, 0.0F);
      return;
    case Activation::sigmoid:
      delta.array() *= y.array() * (1.0F - y.array());
      return;
    case Activation::sigmoid2:
      delta.array() *= 0.5F * (1.0F - y.array().square());
      return;
    case Activation::tanh:
      delta.array() *= 1.0F - y.array().square();
      return;
  }
}
// Public entry points that take floats from outside (API, Python, attacks) reject NaN/Inf
// with the position of the first offending value.
void check_finite_input(const Eigen::Ref<const Eigen::MatrixXf>& X) {
  if (X.allFinite()) return;
  for (Eigen::Index b = 0; b < X.cols(); ++b)
    for (Eigen::Index i = 0; i < X.rows(); ++i)
      if (!std::isfinite(X(i, b)))
        throw InputError("input holds a non-finite value (" + std::to_string(X(i, b)) + ") at example " +
                         std::to_string(b) + ", feature " + std::to_string(i));
}
}  // namespace

void forward(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X, ForwardCache& cache) {
  if (X.rows() != net.input_size())
    throw InputError("input has " + std::to_string(X.rows()) + " features per example, network expects " +
                     std::to_string(net.input_size()));
  const std::size_t L = net.layers.size();
  cache.pre.resize(L);
  cache.act.resize(L);
  cache.act[0] = X;
  for (std::size_t l = 0; l + 1 < L; ++l) {
    const auto& p = net.projections[l];
    auto& z = cache.pre[l + 1];
    z.resize(p.num_post(), X.cols());
    z.noalias() = p.weight * cache.act[l];
    z.colwise() += p.bias;
    apply_activation(net.layers[l + 1].activation, z, cache.act[l + 1]);
  }
}

Eigen::MatrixXf predict_logits(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X) {
  check_finite_input(X);
  ForwardCache cache;
  forward(net, X, cache);
  return cache.logits();
}

double softmax_cross_entropy(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels,
                             Reduction reduction, Eigen::MatrixXf* dlogits) {
  const Eigen::Index C = logits.rows(), B = logits.cols();
  if (static_cast<std::size_t>(B) != labels.size())
    throw InputError("logits have " + std::to_string(B) + " columns but " + std::to_string(labels.size()) +
                     " labels were given");
  if (dlogits != nullptr) dlogits->resize(C, B);
  const double scale = reduction == Reduction::mean && B > 0 ? 1.0 / static_cast<double>(B) : 1.0;
  double total = 0.0;
  for (Eigen::Index b = 0; b < B; ++b) {
    const int y = labels[static_cast<std::size_t>(b)];
    if (y >= C) throw InputError("label " + std::to_string(y) + " >= number of outputs " + std::to_string(C));
    const auto col = logits.col(b);
    const float m = col.maxCoeff();
    double sum = 0.0;
    for (Eigen::Index c = 0; c < C; ++c) sum += std::exp(static_cast<double>(col(c) - m));
    const double lse = static_cast<double>(m) + std::log(sum);
    total += lse - static_cast<double>(col(y));
    if (dlogits != nullptr) {
      for (Eigen::Index c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(col(c)) - lse);
        (*dlogits)(c, b) = static_cast<float>(scale * (p - (c == y ? 1.0 : 0.0)));
      }
    }
  }
  return total * scale;
}

std::size_t count_correct(const Eigen::Ref<const Eigen::MatrixXf>& logits, std::span<const std::uint8_t> labels) {
  std::size_t correct = 0;
  for (Eigen::Index b = 0; b < logits.cols(); ++b) {
    Eigen::Index arg = 0;
    logits.col(b).maxCoeff(&arg);
    if (arg == labels[static_cast<std::size_t>(b)]) ++correct;
  }
  return correct;
}

void Gradients::resize_like(const Network& net) {
  weight.resize(net.projections.size());
  bias.resize(net.projections.size());
  for (std::size_t l = 0; l < net.projections.size(); ++l) {
    weight[l].resize(net.projections[l].weight.rows(), net.projections[l].weight.cols());
    bias[l].resize(net.projections[l].bias.size());
  }
}

void backward(const Network& net, const ForwardCache& cache, const Eigen::Ref<const Eigen::MatrixXf>& dlogits,
              Gradients* grads, Eigen::MatrixXf* input_grad, BackwardScratch& scratch) {
  const std::size_t L = net.layers.size();
  if (cache.act.size() != L) throw InputError("backward() called without a matching forward()");
  if (dlogits.rows() != net.output_size() || dlogits.cols() != cache.act.back().cols())
    throw InputError("dlogits shape does not match the last forward pass");
  if (grads != nullptr) grads->resize_like(net);
  scratch.delta.resize(L);
  // delta[l] = dL/dpre[l] for l >= 1; delta[0] = dL/dX.
  scratch.delta[L - 1] = dlogits;
  times_derivative(net.layers[L - 1].activation, cache.pre[L - 1], cache.act[L - 1], scratch.delta[L - 1]);
  for (std::size_t l = L - 1; l >= 1; --l) {
    const auto& p = net.projections[l - 1];
    const Eigen::MatrixXf& d = scratch.delta[l];
    if (grads != nullptr) {
      grads->weight[l - 1].noalias() = d * cache.act[l - 1].transpose();
      grads->bias[l - 1].noalias() = d.rowwise().sum();
      if (p.has_mask()) grads->weight[l - 1].array() *= p.mask.cast<float>().array();
    }
    const bool need_below = l > 1 || input_grad != nullptr;
    if (!need_below) break;
    auto& below = scratch.delta[l - 1];
    below.resize(p.num_pre(), d.cols());
    below.noalias() = p.weight.transpose() * d;
    if (l > 1) times_derivative(net.layers[l - 1].activation, cache.pre[l - 1], cache.act[l - 1], below);
  }
  if (input_grad != nullptr) *input_grad = scratch.delta[0];
}

Eigen::MatrixXf input_gradient(const Network& net, const Eigen::Ref<const Eigen::MatrixXf>& X,
                               std::span<const std::uint8_t> labels) {
  check_finite_input(X);
  ForwardCache cache;
  forward(net, X, cache);
  Eigen::MatrixXf dlogits;
  softmax_cross_entropy(cache.logits(), labels, Reduction::sum, &dlogits);
  BackwardScratch scratch;
  Eigen::MatrixXf gx;
  backward(net, cache, dlogits, nullptr, &gx, scratch);
  return gx;
}

}  // namespace dalenet
