#include "dalenet/eval.hpp"

#include <algorithm>

#include "dalenet/backprop.hpp"
#include "dalenet/error.hpp"

namespace dalenet {

namespace {
void check_input(const Network& net, const Dataset& data) {
  if (data.dim() != net.input_size())
    throw InputError(data.name + " has images of " + std::to_string(data.rows) + "x" + std::to_string(data.cols) +
                     " = " + std::to_string(data.dim()) + " pixels, the network expects " +
                     std::to_string(net.input_size()));
  if (data.num_classes > net.output_size())
    throw InputError(data.name + " has " + std::to_string(data.num_classes) + " classes, the network has " +
                     std::to_string(net.output_size()) + " outputs");
}
}  // namespace

nlohmann::json EvalResult::to_json() const {
  return {{"n", n}, {"correct", correct}, {"accuracy", accuracy}, {"loss", mean_loss}, {"confusion", confusion}};
}

EvalResult evaluate(const Network& net, const Dataset& data, std::size_t batch, std::size_t limit) {
  check_input(net, data);
  const std::size_t n = limit == 0 ? data.size() : std::min(limit, data.size());
  EvalResult r;
  r.n = n;
  const auto C = static_cast<std::size_t>(net.output_size());
  r.confusion.assign(C, std::vector<std::int64_t>(C, 0));
  ForwardCache cache;
  cache.weights_fixed = true;  // the network is const here
  Eigen::MatrixXf X;
  double loss_sum = 0.0;
  for (std::size_t b = 0; b < n; b += batch) {
    const std::size_t e = std::min(n, b + batch);
    fill_batch_range(data, b, e, X);
    forward(net, X, cache);
    const std::span<const std::uint8_t> labels(data.labels.data() + b, e - b);
    loss_sum += softmax_cross_entropy(cache.logits(), labels, Reduction::sum, nullptr);
    for (std::size_t i = 0; i < e - b; ++i) {
      Eigen::Index arg = 0;
      cache.logits().col(static_cast<Eigen::Index>(i)).maxCoeff(&arg);
      r.confusion[labels[i]][static_cast<std::size_t>(arg)]++;
      if (static_cast<std::size_t>(arg) == labels[i]) ++r.correct;
    }
  }
  r.accuracy = n > 0 ? static_cast<double>(r.correct) / static_cast<double>(n) : 0.0;
  r.mean_loss = n > 0 ? loss_sum / static_cast<double>(n) : 0.0;
  return r;
}

Eigen::MatrixXf logits_for(const Network& net, const Dataset& data, std::size_t batch) {
  if (data.dim() != net.input_size())
    throw InputError(data.name + " has images of " + std::to_string(data.dim()) + " pixels, the network expects " +
                     std::to_string(net.input_size()));
  Eigen::MatrixXf out(net.output_size(), static_cast<Eigen::Index>(data.size()));
  ForwardCache cache;
  cache.weights_fixed = true;  // the network is const here
  Eigen::MatrixXf X;
  for (std::size_t b = 0; b < data.size(); b += batch) {
    const std::size_t e = std::min(data.size(), b + batch);
    fill_batch_range(data, b, e, X);
    forward(net, X, cache);
    out.middleCols(static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(e - b)) = cache.logits();
  }
  return out;
}

}  // namespace dalenet
