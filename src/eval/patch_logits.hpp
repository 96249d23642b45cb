#pragma once
// Logits of inputs that differ from a current input in a few pixels: the candidates of the Square
// attack (docs/PERFORMANCE.md, "The Square attack's candidates").
//
// Every network's first projection is linear in the input: its drive is Z = E X with E the
// effective weights (the log-normalised efficacy or the weights themselves) [first layer x input].
// A Square candidate differs from the example's current input x in one s x s window W, so its
// drive is Z(x) + E[:, W] (x' - x)[W]: s^2 columns of E instead of all 784. This class keeps Z per
// example, updates it for the window, and runs the rest of the network from there
// (forward_from_first_drive). The result is forward()'s within float rounding; the running sums
// are recomputed from x every kRefreshAfterCalls calls, and the attack confirms every example it
// reports as fooled with the true forward pass.
//
// Not part of the public API: the Square attack uses it for NetworkClassifier models.
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "dalenet/backprop.hpp"
#include "dalenet/network.hpp"

namespace dalenet::detail {

class PatchLogits {
 public:
  // `net` must not change while this object is in use.
  explicit PatchLogits(const Network& net);
  // The current inputs become X (one column per example); returns their logits.
  void reset(const Eigen::Ref<const Eigen::MatrixXf>& X, Eigen::MatrixXf& logits);
  // Logits of `candidates`, whose column b equals the current input b except at the pixels
  // changed[b]. Throws InputError on a shape that does not match the current inputs.
  void evaluate(const Eigen::MatrixXf& candidates, const std::vector<std::vector<std::int32_t>>& changed,
                Eigen::MatrixXf& logits);
  // The columns of `candidates` (those of the last evaluate()) with take[b] != 0 become the
  // current inputs.
  void accept(const Eigen::MatrixXf& candidates, const std::vector<std::uint8_t>& take);
  // Keep only the listed columns (ascending) of the state: the attack dropped the others.
  void keep_columns(const std::vector<Eigen::Index>& keep);

  static constexpr int kRefreshAfterCalls = 250;

 private:
  void refresh();  // Z = E X, column by column (the same sums whatever the batch)

  const Network& net_;
  Eigen::MatrixXf effective_;        // E [first layer x input], column-major: a pixel's column is contiguous
  Eigen::MatrixXf x_, drive_;        // current inputs and their drives E x (no bias)
  Eigen::MatrixXf candidate_drive_;  // the last evaluate()'s drives
  ForwardCache cache_;
  int calls_since_refresh_ = 0;
};

}  // namespace dalenet::detail
