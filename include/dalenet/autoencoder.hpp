#pragma once
// Autoencoder pre-training: the backprop way to use unlabelled images (few-shot regime C's
// `ae_bp` arm, docs/EVALUATION.md). A network input -> hidden (ReLU) -> input (linear) learns to
// reconstruct its input under the mean squared error with Adam; its first projection then
// initialises a classifier's first layer.
#include <cstdint>
#include <functional>
#include <vector>

#include "dalenet/data.hpp"
#include "dalenet/network.hpp"

namespace dalenet {

struct AutoencoderOptions {
  int hidden = 1000;  // width of the code layer (= the classifier's first hidden layer)
  int epochs = 5;     // passes over the images
  int batch = 128;
  double lr = 1e-3;        // Adam, PyTorch's defaults otherwise
  std::uint64_t seed = 1;  // initialisation (PyTorch nn.Linear's) and batch order
  std::function<void(int epoch, int epochs, double loss)> progress;  // after each epoch; may be empty
};

struct Autoencoder {
  Network net;                     // projections[0]: the encoder, projections[1]: the decoder
  std::vector<double> epoch_loss;  // mean squared error per pixel, averaged over each epoch's batches
};

// Pixels are scaled to [0, 1] as everywhere (fill_batch). Throws InputError for an empty data set
// or options out of range, DivergenceError when the loss becomes NaN or infinite.
Autoencoder train_autoencoder(const Dataset& images, const AutoencoderOptions& options);
// Mean squared error per pixel of the autoencoder on `images` (the loss it minimises).
double reconstruction_error(const Network& autoencoder, const Dataset& images);

}  // namespace dalenet
