#pragma once
// Evaluation of a network on a data set: accuracy, loss, confusion matrix, logits.
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "dalenet/data.hpp"
#include "dalenet/network.hpp"

namespace dalenet {

struct EvalResult {
  std::size_t n = 0;
  std::size_t correct = 0;
  double accuracy = 0.0;                             // correct / n
  double mean_loss = 0.0;                            // mean softmax cross-entropy
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
  nlohmann::json to_json() const;
};

// Evaluates on the first `limit` examples (0: all), in batches of `batch`. Throws InputError if
// the data's image size does not match the network's input.
EvalResult evaluate(const Network& net, const Dataset& data, std::size_t batch = 1000, std::size_t limit = 0);

// Logits [output x N] for images given as uint8 pixels (N images of net.input_size() bytes).
Eigen::MatrixXf logits_for(const Network& net, const Dataset& data, std::size_t batch = 1000);

}  // namespace dalenet
