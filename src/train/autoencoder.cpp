// Autoencoder pre-training (include/dalenet/autoencoder.hpp): the ae_bp arm of few-shot regime C.
// It reuses the backprop graph (forward/backward of backprop.hpp) with a reconstruction loss in
// place of the softmax cross-entropy, and the optimiser of the gradient rules.
#include "dalenet/autoencoder.hpp"

#include <cmath>
#include <numeric>
#include <string>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"
#include "dalenet/rng.hpp"
#include "rules/optimizer.hpp"

namespace dalenet {
namespace {

// Mean squared error per pixel of the last forward pass against X, and (if d != nullptr) its
// gradient with respect to the reconstruction.
double squared_error(const Eigen::MatrixXf& reconstruction, const Eigen::MatrixXf& X, Eigen::MatrixXf* d) {
  const auto n = static_cast<double>(X.size());
  if (d != nullptr) *d = (reconstruction - X) * static_cast<float>(2.0 / n);
  return static_cast<double>((reconstruction - X).squaredNorm()) / n;
}

}  // namespace

Autoencoder train_autoencoder(const Dataset& images, const AutoencoderOptions& o) {
  if (images.size() == 0) throw InputError("train_autoencoder: " + images.name + " has no images");
  if (o.hidden < 1 || o.epochs < 1 || o.batch < 1 || !(o.lr > 0.0) || !std::isfinite(o.lr))
    throw InputError("train_autoencoder: hidden, epochs and batch must be >= 1 and lr a positive number");
  Autoencoder ae;
  NetworkSpec spec;
  spec.input = images.dim();
  spec.hidden = {o.hidden};
  spec.output = images.dim();
  spec.hidden_activation = Activation::relu;
  ae.net = make_network(spec);
  Rng init_rng(o.seed, rng_stream::init);
  init_weights(ae.net, InitSpec{}, init_rng);  // PyTorch nn.Linear's initialisation
  OptimizerConfig adam;
  adam.optimizer = OptimizerKind::adam;
  adam.lr = o.lr;
  rules::Optimizer optimizer(adam);
  optimizer.begin(ae.net);

  std::vector<std::uint32_t> order(images.size());
  std::iota(order.begin(), order.end(), 0U);
  Rng order_rng(o.seed, rng_stream::shuffle);
  ForwardCache cache;
  BackwardScratch scratch;
  Gradients grads;
  grads.resize_like(ae.net);
  Eigen::MatrixXf X, d_reconstruction;
  const auto B = static_cast<std::size_t>(o.batch);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    order_rng.shuffle(std::span<std::uint32_t>(order));
    double sum = 0.0;
    std::size_t batches = 0;
    for (std::size_t s = 0; s < order.size(); s += B) {
      fill_batch(images, std::span<const std::uint32_t>(order).subspan(s, std::min(B, order.size() - s)), X);
      forward(ae.net, X, cache);
      const double loss = squared_error(cache.logits(), X, &d_reconstruction);
      if (!std::isfinite(loss))
        throw DivergenceError("train_autoencoder: the reconstruction error became " + std::to_string(loss) +
                              " in epoch " + std::to_string(epoch));
      backward(ae.net, cache, d_reconstruction, &grads, nullptr, scratch);
      optimizer.step(ae.net, grads, 1.0);
      sum += loss;
      ++batches;
    }
    ae.epoch_loss.push_back(sum / static_cast<double>(batches));
    if (o.progress) o.progress(epoch, o.epochs, ae.epoch_loss.back());
  }
  return ae;
}

double reconstruction_error(const Network& autoencoder, const Dataset& images) {
  if (images.size() == 0) throw InputError("reconstruction_error: " + images.name + " has no images");
  if (autoencoder.output_size() != images.dim())
    throw InputError("reconstruction_error: the network's output is not the size of an image of " + images.name);
  ForwardCache cache;
  cache.weights_fixed = true;
  Eigen::MatrixXf X;
  double sum = 0.0;
  for (std::size_t s = 0; s < images.size(); s += 1000) {
    const std::size_t e = std::min(images.size(), s + 1000);
    fill_batch_range(images, s, e, X);
    forward(autoencoder, X, cache);
    sum += squared_error(cache.logits(), X, nullptr) * static_cast<double>(X.size());
  }
  return sum / (static_cast<double>(images.size()) * images.dim());
}

}  // namespace dalenet
